//! GitLab merge request review tools: discussions (list, start, reply, resolve), approve and
//! unapprove, merge (guarded by the head `sha` the caller reviewed), and diffs read page by page
//! under a byte budget, each page bounded before it is buffered.

use http::Method;
use serde_json::{json, Value};

use super::gitlab::{
    budget_diffs, change_schema, diff_page_cap, list_page, list_result, list_schema, note_schema,
    paging, project_id_schema, project_ref, DIFF_DEFAULT_BYTES, DIFF_MAX_BYTES, GITLAB,
};
use super::schema::{self, object};
use super::{handler, opt, query, Args, ConnectorTool};
use crate::credential::Service;
use crate::port::{BodyCap, Keep};
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};

fn mr_iid() -> (&'static str, Value) {
    (
        "mergeRequestIid",
        schema::int("Merge request IID (the !number)", 1, u32::MAX as u64),
    )
}

fn discussion_id() -> (&'static str, Value) {
    (
        "discussionId",
        json!({"type": "string", "pattern": "^[0-9a-f]{1,64}$", "description": "Discussion (thread) id, as listed by gitlab_list_merge_request_discussions"}),
    )
}

/// A line of the diff to comment on: GitLab's text position (doc/api/discussions.md, "Create a new
/// thread in the merge request diff"). An added line has only `newLine`, a removed one only
/// `oldLine`, an unchanged one both.
fn position_arg() -> (&'static str, Value) {
    let sha =
        |what: &str| json!({"type": "string", "pattern": "^[0-9a-f]{7,64}$", "description": what});
    let line = |what: &str| schema::int(what, 1, u32::MAX as u64);
    let mut position = schema::input(
        &[
            ("baseSha", sha("Base commit of the diff (diffRefs.baseSha)")),
            (
                "startSha",
                sha("Start commit of the diff in the target branch (diffRefs.startSha)"),
            ),
            (
                "headSha",
                sha("Head commit of the merge request (diffRefs.headSha)"),
            ),
            ("newPath", schema::text("File path after the change")),
            (
                "oldPath",
                schema::text("File path before the change (default: newPath)"),
            ),
            (
                "newLine",
                line("Line number after the change (added or unchanged lines)"),
            ),
            (
                "oldLine",
                line("Line number before the change (removed or unchanged lines)"),
            ),
        ],
        &["baseSha", "startSha", "headSha", "newPath"],
    );
    position["anyOf"] = json!([{"required": ["newLine"]}, {"required": ["oldLine"]}]);
    position["description"] =
        json!("Comment on one line of the diff instead of the whole merge request");
    ("position", position)
}

/// GitLab's `position` object for a text diff note, from the tool's `position` argument.
fn gitlab_position(p: &Value) -> Value {
    let new_path = p["newPath"].as_str().unwrap_or_default();
    let mut out = json!({
        "position_type": "text",
        "base_sha": p["baseSha"],
        "start_sha": p["startSha"],
        "head_sha": p["headSha"],
        "new_path": new_path,
        // GitLab wants both paths, equal when the file was not renamed (added files included).
        "old_path": p["oldPath"].as_str().unwrap_or(new_path),
    });
    for (from, to) in [("newLine", "new_line"), ("oldLine", "old_line")] {
        if let Some(n) = p[from].as_u64() {
            out[to] = json!(n);
        }
    }
    out
}

fn thread_note_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("body", json!({"type": "string"})),
            ("author", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
            ("system", json!({"type": ["boolean", "null"]})),
            ("resolvable", json!({"type": ["boolean", "null"]})),
            ("resolved", json!({"type": ["boolean", "null"]})),
            ("filePath", schema::nullable_string()),
            ("line", json!({"type": ["integer", "null"]})),
        ],
        &["id", "body"],
    )
}

fn discussion_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("individualNote", json!({"type": "boolean"})),
            (
                "resolved",
                json!({"type": ["boolean", "null"], "description": "Whether every resolvable note is resolved; null when none is resolvable"}),
            ),
            ("notes", schema::array_of(thread_note_schema())),
        ],
        &["id", "individualNote", "notes"],
    )
}

fn approvals_schema() -> Value {
    object(
        &[
            ("iid", json!({"type": "integer"})),
            ("approved", json!({"type": ["boolean", "null"]})),
            ("approvedBy", schema::strings("Usernames of the approvers")),
            ("approvalsRequired", json!({"type": ["integer", "null"]})),
            ("approvalsLeft", json!({"type": ["integer", "null"]})),
            ("userHasApproved", json!({"type": ["boolean", "null"]})),
        ],
        &["iid", "approvedBy"],
    )
}

fn merged_schema() -> Value {
    object(
        &[
            ("iid", json!({"type": "integer"})),
            ("state", json!({"type": "string"})),
            ("mergeCommitSha", schema::nullable_string()),
            ("squashCommitSha", schema::nullable_string()),
            ("mergedBy", schema::nullable_string()),
            ("mergedAt", schema::nullable_string()),
            ("webUrl", schema::nullable_string()),
        ],
        &["iid", "state"],
    )
}

fn diffs_schema() -> Value {
    let mut s = list_schema("changes", change_schema());
    s["properties"]["bytes"] =
        json!({"type": "integer", "description": "Bytes of diff text returned"});
    s["properties"]["maxBytes"] =
        json!({"type": "integer", "description": "The byte budget applied"});
    s["properties"]["truncated"] = json!({"type": "boolean", "description": "Whether diff text was cut or files were left out to keep within maxBytes"});
    s["required"] = json!([
        "changes",
        "page",
        "nextPage",
        "bytes",
        "maxBytes",
        "truncated"
    ]);
    s
}

/// The merge request review tools.
pub fn tools() -> Vec<ConnectorTool> {
    let [page, per_page] = paging();
    let pid = ("projectId", project_id_schema());
    let body = ("body", schema::text("Comment text (Markdown)"));
    vec![
        ConnectorTool::new(
            "gitlab_get_merge_request_diffs",
            "Get merge request diffs",
            "Read one page of a merge request's file diffs, under a byte budget (maxBytes); the result says what was cut.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    mr_iid(),
                    ("maxBytes", schema::int("Most bytes of diff text to return (default 262144, at most 2097152)", 1024, DIFF_MAX_BYTES)),
                    page.clone(),
                    per_page.clone(),
                ],
                &["projectId", "mergeRequestIid"],
            ),
            diffs_schema(),
            handler!(get_diffs),
        ),
        ConnectorTool::new(
            "gitlab_list_merge_request_discussions",
            "List merge request threads",
            "List the discussion threads (review comments and their replies) of a merge request.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[pid.clone(), mr_iid(), page.clone(), per_page.clone()], &["projectId", "mergeRequestIid"]),
            list_schema("discussions", discussion_schema()),
            handler!(list_discussions),
        ),
        ConnectorTool::new(
            "gitlab_create_merge_request_discussion",
            "Start a merge request thread",
            "Start a new discussion thread on a merge request; with position, a line comment on its diff (the shas are the merge request's diffRefs from gitlab_get_merge_request).",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(&[pid.clone(), mr_iid(), body.clone(), position_arg()], &["projectId", "mergeRequestIid", "body"]),
            discussion_schema(),
            handler!(create_discussion),
        ),
        ConnectorTool::new(
            "gitlab_reply_to_merge_request_discussion",
            "Reply in a merge request thread",
            "Add a reply to an existing discussion thread of a merge request.",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(&[pid.clone(), mr_iid(), discussion_id(), body], &["projectId", "mergeRequestIid", "discussionId", "body"]),
            note_schema(),
            handler!(reply_discussion),
        ),
        ConnectorTool::new(
            "gitlab_resolve_merge_request_discussion",
            "Resolve a merge request thread",
            "Resolve (or, with resolved=false, reopen) a discussion thread of a merge request.",
            GITLAB,
            ToolAnnotations::writes(true),
            schema::input(
                &[pid.clone(), mr_iid(), discussion_id(), ("resolved", json!({"type": "boolean", "description": "true resolves, false reopens (default true)"}))],
                &["projectId", "mergeRequestIid", "discussionId"],
            ),
            discussion_schema(),
            handler!(resolve_discussion),
        ),
        ConnectorTool::new(
            "gitlab_approve_merge_request",
            "Approve a merge request",
            "Approve a merge request as the current user; with sha, only if that is still its head commit.",
            GITLAB,
            ToolAnnotations::writes(true),
            schema::input(&[pid.clone(), mr_iid(), ("sha", schema::string("Head commit the approval is for; GitLab refuses (409) if the merge request has moved on"))], &["projectId", "mergeRequestIid"]),
            approvals_schema(),
            handler!(approve),
        ),
        ConnectorTool::new(
            "gitlab_unapprove_merge_request",
            "Withdraw a merge request approval",
            "Withdraw the current user's approval of a merge request.",
            GITLAB,
            ToolAnnotations::writes(true),
            schema::input(&[pid.clone(), mr_iid()], &["projectId", "mergeRequestIid"]),
            approvals_schema(),
            handler!(unapprove),
        ),
        ConnectorTool::new(
            "gitlab_merge_merge_request",
            "Merge a merge request",
            "Merge a merge request into its target branch. sha is required: GitLab refuses (409) if the source branch's head is no longer the commit that was reviewed.",
            GITLAB,
            ToolAnnotations::destructive(false),
            schema::input(
                &[
                    pid,
                    mr_iid(),
                    ("sha", json!({"type": "string", "pattern": "^[0-9a-f]{7,64}$", "description": "Head commit of the source branch that was reviewed (the merge request's sha)"})),
                    ("squash", json!({"type": "boolean", "description": "Squash the commits into one"})),
                    ("removeSourceBranch", json!({"type": "boolean", "description": "Delete the source branch after merging"})),
                    ("mergeCommitMessage", schema::string("Custom merge commit message")),
                ],
                &["projectId", "mergeRequestIid", "sha"],
            ),
            merged_schema(),
            handler!(merge),
        ),
    ]
}

fn mr_path(args: &Args) -> Result<String, ToolFailure> {
    let iid = args
        .opt_u64("mergeRequestIid")
        .ok_or_else(|| ToolFailure::new("missing required argument 'mergeRequestIid'"))?;
    Ok(format!(
        "/projects/{}/merge_requests/{iid}",
        project_ref(&args.id("projectId")?)
    ))
}

fn thread_note(n: &Value) -> Value {
    json!({
        "id": n["id"].as_u64().unwrap_or_default(),
        "body": n["body"].as_str().unwrap_or_default(),
        "author": opt(n["author"]["username"].as_str()),
        "createdAt": opt(n["created_at"].as_str()),
        "system": n["system"].as_bool(),
        "resolvable": n["resolvable"].as_bool(),
        "resolved": n["resolved"].as_bool(),
        "filePath": opt(n["position"]["new_path"].as_str().or(n["position"]["old_path"].as_str())),
        "line": n["position"]["new_line"].as_u64().or(n["position"]["old_line"].as_u64()),
    })
}

fn discussion(d: &Value) -> Value {
    let notes: Vec<Value> = d["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(thread_note)
        .collect();
    let resolvable: Vec<&Value> = d["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["resolvable"].as_bool() == Some(true))
        .collect();
    let resolved = (!resolvable.is_empty()).then(|| {
        resolvable
            .iter()
            .all(|n| n["resolved"].as_bool() == Some(true))
    });
    json!({
        "id": d["id"].as_str().unwrap_or_default(),
        "individualNote": d["individual_note"].as_bool().unwrap_or(false),
        "resolved": resolved,
        "notes": notes,
    })
}

fn approvals(a: &Value) -> Value {
    let by: Vec<Value> = a["approved_by"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["user"]["username"].as_str().map(|u| json!(u)))
        .collect();
    json!({
        "iid": a["iid"].as_u64().unwrap_or_default(),
        "approved": a["approved"].as_bool(),
        "approvedBy": by,
        "approvalsRequired": a["approvals_required"].as_u64(),
        "approvalsLeft": a["approvals_left"].as_u64(),
        "userHasApproved": a["user_has_approved"].as_bool(),
    })
}

async fn call(
    ctx: &ToolContext<'_>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    Ok(ctx.upstream.json(&ep, method, path, body).await?.body)
}

async fn list_discussions(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("{}/discussions", mr_path(&args)?);
    list_page(ctx, &args, &path, &[], "discussions", discussion).await
}

async fn create_discussion(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("{}/discussions", mr_path(&args)?);
    let mut body = json!({"body": args.str("body")?});
    if let Some(p) = args.0.get("position").filter(|p| p.is_object()) {
        body["position"] = gitlab_position(p);
    }
    Ok(discussion(
        &call(ctx, Method::POST, &path, Some(&body)).await?,
    ))
}

async fn reply_discussion(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "{}/discussions/{}/notes",
        mr_path(&args)?,
        args.str("discussionId")?
    );
    let body = json!({"body": args.str("body")?});
    Ok(super::gitlab::note(
        &call(ctx, Method::POST, &path, Some(&body)).await?,
    ))
}

async fn resolve_discussion(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "{}/discussions/{}",
        mr_path(&args)?,
        args.str("discussionId")?
    );
    let body = json!({"resolved": args.opt_bool("resolved").unwrap_or(true)});
    Ok(discussion(
        &call(ctx, Method::PUT, &path, Some(&body)).await?,
    ))
}

async fn approve(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("{}/approve", mr_path(&args)?);
    let body = args.opt_str("sha").map(|sha| json!({"sha": sha}));
    Ok(approvals(
        &call(ctx, Method::POST, &path, body.as_ref()).await?,
    ))
}

async fn unapprove(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("{}/unapprove", mr_path(&args)?);
    Ok(approvals(&call(ctx, Method::POST, &path, None).await?))
}

async fn merge(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("{}/merge", mr_path(&args)?);
    let mut body = json!({"sha": args.str("sha")?});
    if let Some(s) = args.opt_bool("squash") {
        body["squash"] = json!(s);
    }
    if let Some(r) = args.opt_bool("removeSourceBranch") {
        body["should_remove_source_branch"] = json!(r);
    }
    if let Some(m) = args.opt_str("mergeCommitMessage") {
        body["merge_commit_message"] = json!(m);
    }
    let m = call(ctx, Method::PUT, &path, Some(&body)).await?;
    Ok(json!({
        "iid": m["iid"].as_u64().unwrap_or_default(),
        "state": m["state"].as_str().unwrap_or_default(),
        "mergeCommitSha": opt(m["merge_commit_sha"].as_str()),
        "squashCommitSha": opt(m["squash_commit_sha"].as_str()),
        "mergedBy": opt(m["merge_user"]["username"].as_str().or(m["merged_by"]["username"].as_str())),
        "mergedAt": opt(m["merged_at"].as_str()),
        "webUrl": opt(m["web_url"].as_str()),
    }))
}

async fn get_diffs(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let max = args
        .opt_u64("maxBytes")
        .unwrap_or(DIFF_DEFAULT_BYTES)
        .min(DIFF_MAX_BYTES) as usize;
    let q = query(&[
        ("page", Some(args.opt_u64("page").unwrap_or(1).to_string())),
        (
            "per_page",
            Some(args.opt_u64("perPage").unwrap_or(20).to_string()),
        ),
    ]);
    let path = format!("{}/diffs{q}", mr_path(&args)?);
    // The page's JSON is bounded before it is buffered; a larger page cannot be parsed in part, so
    // it is refused with advice.
    let page_cap = diff_page_cap(max);
    let raw = ctx
        .upstream
        .text_json(
            &ep,
            &path,
            BodyCap {
                max_bytes: page_cap,
                keep: Keep::Head,
            },
        )
        .await?;
    let Some(reply) = raw else {
        return Err(ToolFailure::new(format!(
            "GitLab at {} sent a diff page larger than {page_cap} bytes; ask for fewer files per page (perPage) or a larger maxBytes",
            ep.host
        )));
    };
    let (changes, used, truncated) =
        budget_diffs(reply.body.as_array().map_or(&[][..], Vec::as_slice), max);
    let mut out = list_result(&reply, "changes", changes);
    out["bytes"] = json!(used);
    out["maxBytes"] = json!(max);
    out["truncated"] = json!(truncated);
    Ok(out)
}
