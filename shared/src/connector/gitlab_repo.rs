//! GitLab repository tools: commits (list, get, diff), comparing refs, the repository tree, and
//! creating, updating or deleting files in one commit through the commits API. Diffs follow the
//! same byte budget as merge request diffs (bounded before buffering, cut stated in the result).

use http::Method;
use serde_json::{json, Value};

use super::gitlab::{
    budget_diffs, change_schema, diff_page_cap, list_page, list_result, list_schema, paging,
    project_id_schema, project_ref, DIFF_DEFAULT_BYTES, DIFF_MAX_BYTES, GITLAB,
};
use super::schema::{self, object};
use super::{encode, handler, opt, query, Args, ConnectorTool};
use crate::credential::Service;
use crate::port::{BodyCap, Keep};
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};

fn sha_arg(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255, "description": description})
}

fn max_bytes_arg() -> (&'static str, Value) {
    (
        "maxBytes",
        schema::int(
            "Most bytes of diff text to return (default 262144, at most 2097152)",
            1024,
            DIFF_MAX_BYTES,
        ),
    )
}

fn commit_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("shortId", schema::nullable_string()),
            ("title", json!({"type": "string"})),
            ("message", schema::nullable_string()),
            ("authorName", schema::nullable_string()),
            ("authoredDate", schema::nullable_string()),
            ("committedDate", schema::nullable_string()),
            ("parentIds", schema::strings("Parent commit ids")),
            ("additions", json!({"type": ["integer", "null"]})),
            ("deletions", json!({"type": ["integer", "null"]})),
            ("webUrl", schema::nullable_string()),
        ],
        &["id", "title", "parentIds"],
    )
}

fn budgeted(mut s: Value) -> Value {
    s["properties"]["bytes"] =
        json!({"type": "integer", "description": "Bytes of diff text returned"});
    s["properties"]["maxBytes"] =
        json!({"type": "integer", "description": "The byte budget applied"});
    s["properties"]["truncated"] = json!({"type": "boolean", "description": "Whether diff text was cut or files were left out to keep within maxBytes"});
    for k in ["bytes", "maxBytes", "truncated"] {
        if let Some(r) = s["required"].as_array_mut() {
            r.push(json!(k));
        }
    }
    s
}

fn tree_item_schema() -> Value {
    object(
        &[
            ("name", json!({"type": "string"})),
            ("path", json!({"type": "string"})),
            (
                "type",
                json!({"type": "string", "enum": ["tree", "blob", "commit"]}),
            ),
            ("id", schema::nullable_string()),
            ("mode", schema::nullable_string()),
        ],
        &["name", "path", "type"],
    )
}

/// The repository tools.
pub fn tools() -> Vec<ConnectorTool> {
    let [page, per_page] = paging();
    let pid = ("projectId", project_id_schema());
    let sha = ("sha", sha_arg("Commit sha, branch or tag"));
    vec![
        ConnectorTool::new(
            "gitlab_list_commits",
            "List commits",
            "List the commits of a branch or tag (default: the default branch), newest first; optionally only those touching a path.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("ref", schema::string("Branch, tag or commit to list from")),
                    ("path", schema::string("Only commits touching this file or directory")),
                    ("since", schema::string("Only commits after this ISO 8601 time")),
                    ("until", schema::string("Only commits before this ISO 8601 time")),
                    page.clone(),
                    per_page.clone(),
                ],
                &["projectId"],
            ),
            list_schema("commits", commit_schema()),
            handler!(list_commits),
        ),
        ConnectorTool::new(
            "gitlab_get_commit",
            "Get a commit",
            "Get one commit with its full message and line statistics.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[pid.clone(), sha.clone()], &["projectId", "sha"]),
            commit_schema(),
            handler!(get_commit),
        ),
        ConnectorTool::new(
            "gitlab_get_commit_diff",
            "Get a commit's diff",
            "Read one page of a commit's file diffs, under a byte budget (maxBytes); the result says what was cut.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[pid.clone(), sha, max_bytes_arg(), page, per_page], &["projectId", "sha"]),
            budgeted(list_schema("changes", change_schema())),
            handler!(get_commit_diff),
        ),
        ConnectorTool::new(
            "gitlab_compare",
            "Compare refs",
            "Compare two branches, tags or commits: the commits between them and the file diffs, under a byte budget (maxBytes).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("from", sha_arg("Base branch, tag or commit")),
                    ("to", sha_arg("Branch, tag or commit to compare with the base")),
                    ("straight", json!({"type": "boolean", "description": "Compare from..to directly instead of from the merge base (default false)"})),
                    max_bytes_arg(),
                ],
                &["projectId", "from", "to"],
            ),
            budgeted(object(
                &[
                    ("commits", schema::array_of(commit_schema())),
                    ("changes", schema::array_of(change_schema())),
                    ("compareSameRef", json!({"type": ["boolean", "null"]})),
                    ("compareTimeout", json!({"type": ["boolean", "null"]})),
                    ("webUrl", schema::nullable_string()),
                ],
                &["commits", "changes"],
            )),
            handler!(compare),
        ),
        ConnectorTool::new(
            "gitlab_list_repository_tree",
            "List repository files",
            "List the files and directories of a repository path at a ref (recursive on request).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("path", schema::string("Directory inside the repository (default: the root)")),
                    ("ref", schema::string("Branch, tag or commit (default: the default branch)")),
                    ("recursive", json!({"type": "boolean", "description": "Include subdirectories (default false)"})),
                    paging()[0].clone(),
                    paging()[1].clone(),
                ],
                &["projectId"],
            ),
            list_schema("items", tree_item_schema()),
            handler!(list_tree),
        ),
        ConnectorTool::new(
            "gitlab_commit_files",
            "Commit file changes",
            "Create, update, delete or move files on a branch in one commit (GitLab's commits API). Updates and deletions overwrite or remove content.",
            GITLAB,
            ToolAnnotations::destructive(false),
            schema::input(
                &[
                    pid,
                    ("branch", schema::text("Branch to commit to (created from startBranch when given)")),
                    ("commitMessage", schema::text("Commit message")),
                    ("startBranch", schema::string("Create branch from this branch first")),
                    (
                        "actions",
                        json!({
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 100,
                            "description": "File changes, applied in order",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "action": {"type": "string", "enum": ["create", "update", "delete", "move"]},
                                    "filePath": {"type": "string", "minLength": 1},
                                    "previousPath": {"type": "string", "minLength": 1, "description": "For move: the old path"},
                                    "content": {"type": "string", "description": "File content (text) for create and update"},
                                    "lastCommitId": {"type": "string", "description": "Refuse if the file changed since this commit"},
                                },
                                "required": ["action", "filePath"],
                                "additionalProperties": false,
                                // create/update carry content, move names its previous path.
                                "anyOf": [
                                    {"properties": {"action": {"const": "delete"}}},
                                    {"properties": {"action": {"enum": ["create", "update"]}}, "required": ["content"]},
                                    {"properties": {"action": {"const": "move"}}, "required": ["previousPath"]},
                                ],
                            },
                        }),
                    ),
                ],
                &["projectId", "branch", "commitMessage", "actions"],
            ),
            commit_schema(),
            handler!(commit_files),
        ),
    ]
}

/// Summarizes a commit.
pub(crate) fn commit(c: &Value) -> Value {
    json!({
        "id": c["id"].as_str().unwrap_or_default(),
        "shortId": opt(c["short_id"].as_str()),
        "title": c["title"].as_str().unwrap_or_default(),
        "message": opt(c["message"].as_str()),
        "authorName": opt(c["author_name"].as_str()),
        "authoredDate": opt(c["authored_date"].as_str()),
        "committedDate": opt(c["committed_date"].as_str()),
        "parentIds": c["parent_ids"].as_array().cloned().unwrap_or_default(),
        "additions": c["stats"]["additions"].as_u64(),
        "deletions": c["stats"]["deletions"].as_u64(),
        "webUrl": opt(c["web_url"].as_str()),
    })
}

fn repo(args: &Args) -> Result<String, ToolFailure> {
    Ok(format!(
        "/projects/{}/repository",
        project_ref(&args.id("projectId")?)
    ))
}

fn budget(args: &Args) -> usize {
    args.opt_u64("maxBytes")
        .unwrap_or(DIFF_DEFAULT_BYTES)
        .min(DIFF_MAX_BYTES) as usize
}

/// GETs a JSON body bounded at the diff page cap for `max`, refusing a larger one with advice.
async fn bounded(
    ctx: &ToolContext<'_>,
    path: &str,
    max: usize,
    advice: &str,
) -> Result<crate::upstream::UpstreamReply, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let cap = diff_page_cap(max);
    ctx.upstream
        .text_json(
            &ep,
            path,
            BodyCap {
                max_bytes: cap,
                keep: Keep::Head,
            },
        )
        .await?
        .ok_or_else(|| {
            ToolFailure::new(format!(
                "GitLab at {} sent a diff larger than {cap} bytes; {advice}",
                ep.host
            ))
        })
}

async fn list_commits(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("{}/commits", repo(&args)?);
    let filters = [
        ("ref_name", args.opt_str("ref").map(str::to_owned)),
        ("path", args.opt_str("path").map(str::to_owned)),
        ("since", args.opt_str("since").map(str::to_owned)),
        ("until", args.opt_str("until").map(str::to_owned)),
    ];
    list_page(ctx, &args, &path, &filters, "commits", commit).await
}

async fn get_commit(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let path = format!("{}/commits/{}", repo(&args)?, encode(args.str("sha")?));
    let reply = ctx.upstream.json(&ep, Method::GET, &path, None).await?;
    Ok(commit(&reply.body))
}

async fn get_commit_diff(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let max = budget(&args);
    let q = query(&[
        ("page", Some(args.opt_u64("page").unwrap_or(1).to_string())),
        (
            "per_page",
            Some(args.opt_u64("perPage").unwrap_or(20).to_string()),
        ),
    ]);
    let path = format!(
        "{}/commits/{}/diff{q}",
        repo(&args)?,
        encode(args.str("sha")?)
    );
    let reply = bounded(
        ctx,
        &path,
        max,
        "ask for fewer files per page (perPage) or a larger maxBytes",
    )
    .await?;
    let (changes, used, truncated) =
        budget_diffs(reply.body.as_array().map_or(&[][..], Vec::as_slice), max);
    let mut out = list_result(&reply, "changes", changes);
    out["bytes"] = json!(used);
    out["maxBytes"] = json!(max);
    out["truncated"] = json!(truncated);
    Ok(out)
}

async fn compare(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let max = budget(&args);
    let q = query(&[
        ("from", Some(args.str("from")?.to_owned())),
        ("to", Some(args.str("to")?.to_owned())),
        ("straight", args.opt_bool("straight").map(|b| b.to_string())),
    ]);
    let path = format!("{}/compare{q}", repo(&args)?);
    let reply = bounded(
        ctx,
        &path,
        max,
        "compare closer refs, or read the commits one by one with gitlab_get_commit_diff",
    )
    .await?;
    let b = &reply.body;
    let (changes, used, truncated) =
        budget_diffs(b["diffs"].as_array().map_or(&[][..], Vec::as_slice), max);
    let commits: Vec<Value> = b["commits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(commit)
        .collect();
    Ok(json!({
        "commits": commits,
        "changes": changes,
        "compareSameRef": b["compare_same_ref"].as_bool(),
        "compareTimeout": b["compare_timeout"].as_bool(),
        "webUrl": opt(b["web_url"].as_str()),
        "bytes": used,
        "maxBytes": max,
        "truncated": truncated,
    }))
}

fn tree_item(t: &Value) -> Value {
    json!({
        "name": t["name"].as_str().unwrap_or_default(),
        "path": t["path"].as_str().unwrap_or_default(),
        "type": t["type"].as_str().unwrap_or("blob"),
        "id": opt(t["id"].as_str()),
        "mode": opt(t["mode"].as_str()),
    })
}

async fn list_tree(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("{}/tree", repo(&args)?);
    let filters = [
        ("path", args.opt_str("path").map(str::to_owned)),
        ("ref", args.opt_str("ref").map(str::to_owned)),
        (
            "recursive",
            args.opt_bool("recursive").map(|b| b.to_string()),
        ),
    ];
    list_page(ctx, &args, &path, &filters, "items", tree_item).await
}

async fn commit_files(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let mut actions = Vec::new();
    for a in args
        .0
        .get("actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // inputSchema already demands content for create/update and previousPath for move.
        let kind = a["action"].as_str().unwrap_or_default();
        let mut out = json!({"action": kind, "file_path": a["filePath"]});
        for (from, to) in [
            ("previousPath", "previous_path"),
            ("content", "content"),
            ("lastCommitId", "last_commit_id"),
        ] {
            if let Some(v) = a.get(from) {
                out[to] = v.clone();
            }
        }
        actions.push(out);
    }
    let mut body = json!({
        "branch": args.str("branch")?,
        "commit_message": args.str("commitMessage")?,
        "actions": actions,
    });
    if let Some(s) = args.opt_str("startBranch") {
        body["start_branch"] = json!(s);
    }
    let path = format!("{}/commits", repo(&args)?);
    let reply = ctx
        .upstream
        .json(&ep, Method::POST, &path, Some(&body))
        .await?;
    Ok(commit(&reply.body))
}
