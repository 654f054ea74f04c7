//! GitLab REST v4 tools: projects, branches, merge requests (with their diffs), issues and notes,
//! files and search. Project ids accept numbers and `group/project` paths (URL-encoded on the
//! wire); lists use offset pagination and report GitLab's `x-next-page`.

use base64::Engine as _;
use http::Method;
use serde_json::{json, Value};

use super::schema::{self, object};
use super::{encode, handler, opt, query, Args, ConnectorTool};
use crate::credential::Service;
use crate::port::{BodyCap, Keep};
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};
use crate::upstream::{Endpoint, Upstream, UpstreamFailure, UpstreamReply};

pub(crate) const GITLAB: &[Service] = &[Service::GitLab];

/// Project id as sent on the wire: numeric ids as-is, paths URL-encoded (`group%2Fproject`).
pub fn project_ref(id: &str) -> String {
    encode(id.trim().trim_matches('/'))
}

pub(crate) fn project_id_schema() -> Value {
    schema::id("Project id (number) or full path such as group/project")
}

pub(crate) fn paging() -> [(&'static str, Value); 2] {
    [
        ("page", schema::int("Page number (default 1)", 1, 100_000)),
        (
            "perPage",
            schema::int("Items per page (1-100, default 20)", 1, 100),
        ),
    ]
}

pub(crate) fn list_schema(items: &str, item: Value) -> Value {
    object(
        &[
            (items, schema::array_of(item)),
            ("page", json!({"type": "integer"})),
            (
                "nextPage",
                json!({"type": ["integer", "null"], "description": "Next page number, null on the last page"}),
            ),
            ("total", json!({"type": ["integer", "null"]})),
        ],
        &[items, "page", "nextPage"],
    )
}

/// Output schema of a project.
pub(crate) fn project_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("name", json!({"type": "string"})),
            ("pathWithNamespace", json!({"type": "string"})),
            ("description", schema::nullable_string()),
            ("defaultBranch", schema::nullable_string()),
            ("visibility", schema::nullable_string()),
            ("webUrl", schema::nullable_string()),
            ("lastActivityAt", schema::nullable_string()),
        ],
        &["id", "name", "pathWithNamespace"],
    )
}

fn branch_schema() -> Value {
    object(
        &[
            ("name", json!({"type": "string"})),
            ("merged", json!({"type": ["boolean", "null"]})),
            ("protected", json!({"type": ["boolean", "null"]})),
            ("default", json!({"type": ["boolean", "null"]})),
            ("commit", schema::nullable_string()),
            ("commitTitle", schema::nullable_string()),
            ("webUrl", schema::nullable_string()),
        ],
        &["name"],
    )
}

/// Default bytes of diff text one call returns.
pub(crate) const DIFF_DEFAULT_BYTES: u64 = 256 * 1024;
/// Most bytes of diff text one call returns.
pub(crate) const DIFF_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Diff pages `gitlab_get_merge_request` follows at most (of [`MR_DIFF_PER_PAGE`] files each).
const MR_DIFF_PAGES: usize = 20;
/// Files per diff page `gitlab_get_merge_request` asks for: small pages keep each page's bound
/// (twice the budget left) from refusing a page of many small files.
const MR_DIFF_PER_PAGE: u32 = 20;

/// Output schema of one file diff under a budget.
pub(crate) fn change_schema() -> Value {
    object(
        &[
            ("oldPath", json!({"type": "string"})),
            ("newPath", json!({"type": "string"})),
            ("newFile", json!({"type": "boolean"})),
            ("renamedFile", json!({"type": "boolean"})),
            ("deletedFile", json!({"type": "boolean"})),
            ("diff", json!({"type": "string"})),
            ("diffTruncated", json!({"type": "boolean"})),
        ],
        &["oldPath", "newPath", "diff", "diffTruncated"],
    )
}

/// GitLab diff objects summarized within `max` bytes of diff text: a diff past the budget is cut
/// at a character boundary, files after the budget is spent are left out. Returns the changes, the
/// bytes used and whether anything was cut or left out.
pub(crate) fn budget_diffs(items: &[Value], max: usize) -> (Vec<Value>, usize, bool) {
    let mut used = 0usize;
    let mut truncated = false;
    let mut changes = Vec::new();
    for d in items {
        let text = d["diff"].as_str().unwrap_or_default();
        let room = max - used;
        if room == 0 {
            truncated = true;
            break;
        }
        let cut = text.len() > room;
        let mut end = text.len().min(room);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        used += end;
        truncated |= cut;
        changes.push(json!({
            "oldPath": d["old_path"].as_str().unwrap_or_default(),
            "newPath": d["new_path"].as_str().unwrap_or_default(),
            "newFile": d["new_file"].as_bool().unwrap_or(false),
            "renamedFile": d["renamed_file"].as_bool().unwrap_or(false),
            "deletedFile": d["deleted_file"].as_bool().unwrap_or(false),
            "diff": &text[..end],
            "diffTruncated": cut,
        }));
    }
    (changes, used, truncated)
}

/// Bytes a JSON page of diffs may have before it is buffered: twice the text budget (JSON
/// escaping) plus room for the per-file fields.
pub(crate) fn diff_page_cap(max: usize) -> usize {
    max * 2 + 64 * 1024
}

fn mr_schema(with_changes: bool) -> Value {
    let mut props = vec![
        ("iid", json!({"type": "integer"})),
        ("id", json!({"type": "integer"})),
        ("title", json!({"type": "string"})),
        ("state", schema::nullable_string()),
        ("sourceBranch", schema::nullable_string()),
        ("targetBranch", schema::nullable_string()),
        ("author", schema::nullable_string()),
        ("description", schema::nullable_string()),
        ("mergeStatus", schema::nullable_string()),
        (
            "sha",
            json!({"type": ["string", "null"], "description": "Head commit of the source branch (the sha gitlab_merge_merge_request needs)"}),
        ),
        (
            "diffRefs",
            json!({
                "type": ["object", "null"],
                "description": "The diff's commits (single merge requests only), the shas a line comment's position needs",
                "properties": {
                    "baseSha": {"type": ["string", "null"]},
                    "startSha": {"type": ["string", "null"]},
                    "headSha": {"type": ["string", "null"]},
                },
            }),
        ),
        ("webUrl", schema::nullable_string()),
        ("createdAt", schema::nullable_string()),
        ("updatedAt", schema::nullable_string()),
    ];
    if with_changes {
        props.extend([
            ("changes", schema::array_of(change_schema())),
            (
                "diffBytes",
                json!({"type": "integer", "description": "Bytes of diff text in changes"}),
            ),
            (
                "maxBytes",
                json!({"type": "integer", "description": "The byte budget applied to diff text"}),
            ),
            (
                "changesTruncated",
                json!({"type": "boolean", "description": "Whether diff text was cut or files were left out (past maxBytes or the page limit); gitlab_get_merge_request_diffs pages through every file"}),
            ),
        ]);
    }
    object(&props, &["iid", "id", "title"])
}

fn issue_schema() -> Value {
    object(
        &[
            ("iid", json!({"type": "integer"})),
            ("id", json!({"type": "integer"})),
            ("title", json!({"type": "string"})),
            ("state", schema::nullable_string()),
            ("labels", schema::strings("Labels")),
            ("author", schema::nullable_string()),
            ("description", schema::nullable_string()),
            ("webUrl", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
        ],
        &["iid", "id", "title"],
    )
}

/// Output schema of a created note.
pub(crate) fn note_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("body", json!({"type": "string"})),
            ("author", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
        ],
        &["id", "body"],
    )
}

/// The GitLab tools.
pub fn tools() -> Vec<ConnectorTool> {
    let [page, per_page] = paging();
    let pid = ("projectId", project_id_schema());
    vec![
        ConnectorTool::new(
            "gitlab_list_projects",
            "List GitLab projects",
            "List GitLab projects the credentials are a member of (or all visible ones with membership=false).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("search", schema::string("Filter by name or path")),
                    ("membership", json!({"type": "boolean", "description": "Only projects you are a member of (default true)"})),
                    page.clone(),
                    per_page.clone(),
                ],
                &[],
            ),
            list_schema("projects", project_schema()),
            handler!(list_projects),
        ),
        ConnectorTool::new(
            "gitlab_get_project",
            "Get a GitLab project",
            "Get one GitLab project by id or path.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(std::slice::from_ref(&pid), &["projectId"]),
            project_schema(),
            handler!(get_project),
        ),
        ConnectorTool::new(
            "gitlab_list_branches",
            "List branches",
            "List the branches of a GitLab project.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[pid.clone(), ("search", schema::string("Filter by name")), page.clone(), per_page.clone()], &["projectId"]),
            list_schema("branches", branch_schema()),
            handler!(list_branches),
        ),
        ConnectorTool::new(
            "gitlab_create_branch",
            "Create a branch",
            "Create a branch in a GitLab project from a ref (branch, tag or commit).",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(
                &[pid.clone(), ("branch", schema::text("New branch name")), ("ref", schema::text("Branch, tag or commit to start from"))],
                &["projectId", "branch", "ref"],
            ),
            branch_schema(),
            handler!(create_branch),
        ),
        ConnectorTool::new(
            "gitlab_list_merge_requests",
            "List merge requests",
            "List the merge requests of a GitLab project.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("state", json!({"type": "string", "enum": ["opened", "closed", "locked", "merged", "all"], "description": "Filter by state (default all)"})),
                    page.clone(),
                    per_page.clone(),
                ],
                &["projectId"],
            ),
            list_schema("mergeRequests", mr_schema(false)),
            handler!(list_merge_requests),
        ),
        ConnectorTool::new(
            "gitlab_get_merge_request",
            "Get a merge request",
            "Get one merge request with its changes (diffs, under a byte budget: maxBytes; the result says what was cut).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("mergeRequestIid", schema::int("Merge request IID (the !number)", 1, u32::MAX as u64)),
                    ("includeChanges", json!({"type": "boolean", "description": "Include diffs (default true)"})),
                    ("maxBytes", schema::int("Most bytes of diff text to include across all pages (default 262144, at most 2097152)", 1024, DIFF_MAX_BYTES)),
                ],
                &["projectId", "mergeRequestIid"],
            ),
            mr_schema(true),
            handler!(get_merge_request),
        ),
        ConnectorTool::new(
            "gitlab_create_merge_request",
            "Create a merge request",
            "Open a merge request from a source branch into a target branch.",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    pid.clone(),
                    ("sourceBranch", schema::text("Source branch")),
                    ("targetBranch", schema::text("Target branch")),
                    ("title", schema::text("Title")),
                    ("description", schema::string("Description (Markdown)")),
                ],
                &["projectId", "sourceBranch", "targetBranch", "title"],
            ),
            mr_schema(false),
            handler!(create_merge_request),
        ),
        ConnectorTool::new(
            "gitlab_list_issues",
            "List GitLab issues",
            "List the issues of a GitLab project.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("state", json!({"type": "string", "enum": ["opened", "closed", "all"], "description": "Filter by state (default all)"})),
                    ("labels", schema::strings("Only issues with all these labels")),
                    page.clone(),
                    per_page.clone(),
                ],
                &["projectId"],
            ),
            list_schema("issues", issue_schema()),
            handler!(list_issues),
        ),
        ConnectorTool::new(
            "gitlab_create_issue_note",
            "Comment on a GitLab issue",
            "Add a note (comment) to a GitLab issue.",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(
                &[pid.clone(), ("issueIid", schema::int("Issue IID (the #number)", 1, u32::MAX as u64)), ("body", schema::text("Note text (Markdown)"))],
                &["projectId", "issueIid", "body"],
            ),
            note_schema(),
            handler!(create_issue_note),
        ),
        ConnectorTool::new(
            "gitlab_get_file",
            "Get a repository file",
            "Read a file from a GitLab repository at a ref (default: the project's default branch).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[pid.clone(), ("filePath", schema::text("Path in the repository, e.g. src/main.rs")), ("ref", schema::string("Branch, tag or commit"))],
                &["projectId", "filePath"],
            ),
            file_schema(),
            handler!(get_file),
        ),
        ConnectorTool::new(
            "gitlab_search",
            "Search GitLab",
            "Search GitLab globally, or within one project when projectId is given (blobs search needs a project).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("search", schema::text("Search terms")),
                    ("scope", json!({"type": "string", "enum": ["projects", "issues", "merge_requests", "milestones", "blobs", "commits", "wiki_blobs", "notes"], "description": "What to search"})),
                    pid,
                    page,
                    per_page,
                ],
                &["search", "scope"],
            ),
            list_schema("results", json!({"type": "object"})),
            handler!(search),
        ),
    ]
}

/// Output schema of a file.
pub(crate) fn file_schema() -> Value {
    object(
        &[
            ("filePath", json!({"type": "string"})),
            ("ref", json!({"type": "string"})),
            ("size", json!({"type": ["integer", "null"]})),
            (
                "encoding",
                json!({"type": "string", "enum": ["text", "base64"]}),
            ),
            ("content", json!({"type": "string"})),
            ("blobId", schema::nullable_string()),
            ("lastCommitId", schema::nullable_string()),
        ],
        &["filePath", "ref", "encoding", "content"],
    )
}

fn paging_query(args: &Args) -> [(&'static str, Option<String>); 2] {
    [
        ("page", Some(args.opt_u64("page").unwrap_or(1).to_string())),
        (
            "per_page",
            Some(args.opt_u64("perPage").unwrap_or(20).to_string()),
        ),
    ]
}

/// `page`, `nextPage` (from `x-next-page`, empty on the last page) and `total` of a list reply.
pub(crate) fn page_info<T>(reply: &UpstreamReply<T>) -> (Value, Value, Value) {
    let num = |name: &str| {
        reply
            .header(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Value::Null, |n| json!(n))
    };
    let page = match num("x-page") {
        Value::Null => json!(1),
        p => p,
    };
    (page, num("x-next-page"), num("x-total"))
}

/// GETs one page of a GitLab list at `path`: `filters`, then `page`/`per_page` from the arguments;
/// each item mapped by `map` into `{key: [...], page, nextPage, total}`.
pub(crate) async fn list_page(
    ctx: &ToolContext<'_>,
    args: &Args,
    path: &str,
    filters: &[(&str, Option<String>)],
    key: &str,
    map: fn(&Value) -> Value,
) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let q = query(&[filters, &paging_query(args)].concat());
    let reply = ctx
        .upstream
        .json(&ep, Method::GET, &format!("{path}{q}"), None)
        .await?;
    Ok(list(&reply, key, map))
}

fn list(reply: &UpstreamReply, key: &str, map: fn(&Value) -> Value) -> Value {
    let items: Vec<Value> = reply
        .body
        .as_array()
        .map(|l| l.iter().map(map).collect())
        .unwrap_or_default();
    list_result(reply, key, items)
}

/// `{key: items, page, nextPage, total}`; the items are moved in, not copied.
pub(crate) fn list_result<T>(reply: &UpstreamReply<T>, key: &str, items: Vec<Value>) -> Value {
    let (page, next, total) = page_info(reply);
    let mut m = serde_json::Map::with_capacity(4);
    m.insert(key.into(), Value::Array(items));
    m.insert("page".into(), page);
    m.insert("nextPage".into(), next);
    m.insert("total".into(), total);
    Value::Object(m)
}

/// A project as GitLab sends it (`GET /projects/:id`), reduced to the fields the tools return;
/// serialized in the tools' camelCase output shape. Decoding skips every other field unbuilt.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all(serialize = "camelCase"), default)]
pub(crate) struct Project {
    id: u64,
    name: String,
    path_with_namespace: String,
    description: Option<String>,
    pub(crate) default_branch: Option<String>,
    visibility: Option<String>,
    web_url: Option<String>,
    last_activity_at: Option<String>,
}

/// Summarizes a branch.
pub(crate) fn branch(b: &Value) -> Value {
    json!({
        "name": b["name"].as_str().unwrap_or_default(),
        "merged": b["merged"].as_bool(),
        "protected": b["protected"].as_bool(),
        "default": b["default"].as_bool(),
        "commit": opt(b["commit"]["id"].as_str()),
        "commitTitle": opt(b["commit"]["title"].as_str()),
        "webUrl": opt(b["web_url"].as_str()),
    })
}

fn merge_request(m: &Value) -> Value {
    json!({
        "iid": m["iid"].as_u64().unwrap_or_default(),
        "id": m["id"].as_u64().unwrap_or_default(),
        "title": m["title"].as_str().unwrap_or_default(),
        "state": opt(m["state"].as_str()),
        "sourceBranch": opt(m["source_branch"].as_str()),
        "targetBranch": opt(m["target_branch"].as_str()),
        "author": opt(m["author"]["username"].as_str()),
        "description": opt(m["description"].as_str()),
        "mergeStatus": opt(m["detailed_merge_status"].as_str().or(m["merge_status"].as_str())),
        "sha": opt(m["sha"].as_str()),
        "diffRefs": m["diff_refs"].as_object().map_or(Value::Null, |r| json!({
            "baseSha": opt(r.get("base_sha").and_then(Value::as_str)),
            "startSha": opt(r.get("start_sha").and_then(Value::as_str)),
            "headSha": opt(r.get("head_sha").and_then(Value::as_str)),
        })),
        "webUrl": opt(m["web_url"].as_str()),
        "createdAt": opt(m["created_at"].as_str()),
        "updatedAt": opt(m["updated_at"].as_str()),
    })
}

fn issue(i: &Value) -> Value {
    json!({
        "iid": i["iid"].as_u64().unwrap_or_default(),
        "id": i["id"].as_u64().unwrap_or_default(),
        "title": i["title"].as_str().unwrap_or_default(),
        "state": opt(i["state"].as_str()),
        "labels": i["labels"].as_array().cloned().unwrap_or_default(),
        "author": opt(i["author"]["username"].as_str()),
        "description": opt(i["description"].as_str()),
        "webUrl": opt(i["web_url"].as_str()),
        "createdAt": opt(i["created_at"].as_str()),
    })
}

/// Summarizes a note.
pub(crate) fn note(n: &Value) -> Value {
    json!({
        "id": n["id"].as_u64().unwrap_or_default(),
        "body": n["body"].as_str().unwrap_or_default(),
        "author": opt(n["author"]["username"].as_str()),
        "createdAt": opt(n["created_at"].as_str()),
    })
}

async fn list_projects(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let [page, per_page] = paging_query(&args);
    let q = query(&[
        (
            "membership",
            Some(args.opt_bool("membership").unwrap_or(true).to_string()),
        ),
        ("search", args.opt_str("search").map(str::to_owned)),
        ("order_by", Some("id".into())),
        ("sort", Some("asc".into())),
        page,
        per_page,
    ]);
    let reply: UpstreamReply<Vec<Project>> = ctx
        .upstream
        .fetch(&ep, Method::GET, &format!("/projects{q}"), None)
        .await?;
    let projects = reply.body.iter().map(|p| json!(p)).collect();
    Ok(list_result(&reply, "projects", projects))
}

/// Fetches one project.
pub(crate) async fn fetch_project(
    up: &Upstream<'_>,
    ep: &Endpoint,
    id: &str,
) -> Result<Project, UpstreamFailure> {
    let reply = up
        .fetch(
            ep,
            Method::GET,
            &format!("/projects/{}", project_ref(id)),
            None,
        )
        .await?;
    Ok(reply.body)
}

async fn get_project(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    Ok(json!(
        fetch_project(ctx.upstream, &ep, &args.id("projectId")?).await?
    ))
}

async fn list_branches(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "/projects/{}/repository/branches",
        project_ref(&args.id("projectId")?)
    );
    let filters = [("search", args.opt_str("search").map(str::to_owned))];
    list_page(ctx, &args, &path, &filters, "branches", branch).await
}

/// Creates a branch; returns the summarized branch.
pub(crate) async fn new_branch(
    up: &Upstream<'_>,
    ep: &Endpoint,
    project_id: &str,
    name: &str,
    from: &str,
) -> Result<Value, UpstreamFailure> {
    // A JSON body, as GitLab's generated OpenAPI document declares it (`RequestBody_4b00ccc66329`);
    // Grape would also read the two from the query string that branches.md's curl example uses.
    let reply = up
        .json(
            ep,
            Method::POST,
            &format!("/projects/{}/repository/branches", project_ref(project_id)),
            Some(&json!({"branch": name, "ref": from})),
        )
        .await?;
    Ok(branch(&reply.body))
}

async fn create_branch(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    Ok(new_branch(
        ctx.upstream,
        &ep,
        &args.id("projectId")?,
        args.str("branch")?,
        args.str("ref")?,
    )
    .await?)
}

async fn list_merge_requests(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "/projects/{}/merge_requests",
        project_ref(&args.id("projectId")?)
    );
    let filters = [(
        "state",
        Some(args.opt_str("state").unwrap_or("all").to_owned()),
    )];
    list_page(ctx, &args, &path, &filters, "mergeRequests", merge_request).await
}

async fn get_merge_request(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let pid = project_ref(&args.id("projectId")?);
    let iid = args.opt_u64("mergeRequestIid").unwrap_or_default();
    let reply = ctx
        .upstream
        .json(
            &ep,
            Method::GET,
            &format!("/projects/{pid}/merge_requests/{iid}"),
            None,
        )
        .await?;
    let mut out = merge_request(&reply.body);
    if args.opt_bool("includeChanges").unwrap_or(true) {
        let max = args
            .opt_u64("maxBytes")
            .unwrap_or(DIFF_DEFAULT_BYTES)
            .min(DIFF_MAX_BYTES) as usize;
        let (mut changes, mut used, mut truncated) = (Vec::new(), 0usize, false);
        // Diffs are paginated: follow x-next-page for a bounded number of pages while budget is
        // left, each page bounded before it is buffered (twice what is left, plus per-file room).
        let mut page = Some(1u64);
        for _ in 0..MR_DIFF_PAGES {
            let Some(p) = page else { break };
            let room = max - used;
            if room == 0 {
                break;
            }
            let cap = BodyCap {
                max_bytes: diff_page_cap(room),
                keep: Keep::Head,
            };
            let path = format!(
                "/projects/{pid}/merge_requests/{iid}/diffs?page={p}&per_page={MR_DIFF_PER_PAGE}"
            );
            // A page over its bound cannot be parsed in part: stop there, stated as truncated.
            let Some(diffs) = ctx.upstream.text_json(&ep, &path, cap).await? else {
                break;
            };
            let items = diffs.body.as_array().map_or(&[][..], Vec::as_slice);
            let (more, n, cut) = budget_diffs(items, room);
            changes.extend(more);
            used += n;
            truncated |= cut;
            page = page_info(&diffs).1.as_u64();
        }
        truncated |= page.is_some();
        out["changes"] = json!(changes);
        out["diffBytes"] = json!(used);
        out["maxBytes"] = json!(max);
        out["changesTruncated"] = json!(truncated);
    }
    Ok(out)
}

async fn create_merge_request(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let mut body = json!({
        "source_branch": args.str("sourceBranch")?,
        "target_branch": args.str("targetBranch")?,
        "title": args.str("title")?,
    });
    if let Some(d) = args.opt_str("description") {
        body["description"] = json!(d);
    }
    let reply = ctx
        .upstream
        .json(
            &ep,
            Method::POST,
            &format!(
                "/projects/{}/merge_requests",
                project_ref(&args.id("projectId")?)
            ),
            Some(&body),
        )
        .await?;
    Ok(merge_request(&reply.body))
}

async fn list_issues(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("/projects/{}/issues", project_ref(&args.id("projectId")?));
    let labels = args.str_list("labels");
    let filters = [
        (
            "state",
            Some(args.opt_str("state").unwrap_or("all").to_owned()),
        ),
        ("labels", (!labels.is_empty()).then(|| labels.join(","))),
    ];
    list_page(ctx, &args, &path, &filters, "issues", issue).await
}

/// Adds a note to an issue.
pub(crate) async fn issue_note(
    up: &Upstream<'_>,
    ep: &Endpoint,
    project_id: &str,
    iid: u64,
    body: &str,
) -> Result<Value, UpstreamFailure> {
    let reply = up
        .json(
            ep,
            Method::POST,
            &format!("/projects/{}/issues/{iid}/notes", project_ref(project_id)),
            Some(&json!({"body": body})),
        )
        .await?;
    Ok(note(&reply.body))
}

async fn create_issue_note(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    Ok(issue_note(
        ctx.upstream,
        &ep,
        &args.id("projectId")?,
        args.opt_u64("issueIid").unwrap_or_default(),
        args.str("body")?,
    )
    .await?)
}

/// Reads a file; text content is decoded, binary content stays base64.
pub(crate) async fn read_file(
    up: &Upstream<'_>,
    ep: &Endpoint,
    project_id: &str,
    path: &str,
    git_ref: Option<&str>,
) -> Result<Value, UpstreamFailure> {
    let git_ref = match git_ref {
        Some(r) => r.to_owned(),
        None => fetch_project(up, ep, project_id)
            .await?
            .default_branch
            .unwrap_or_else(|| "HEAD".into()),
    };
    let reply = up
        .json(
            ep,
            Method::GET,
            &format!(
                "/projects/{}/repository/files/{}{}",
                project_ref(project_id),
                encode(path.trim_start_matches('/')),
                query(&[("ref", Some(git_ref.clone()))])
            ),
            None,
        )
        .await?;
    let b = &reply.body;
    let raw = b["content"].as_str().unwrap_or_default();
    let (encoding, content) = match b["encoding"].as_str() {
        Some("base64") => {
            let cleaned: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
            {
                Some(text) => ("text", text),
                None => ("base64", raw.to_owned()),
            }
        }
        _ => ("text", raw.to_owned()),
    };
    Ok(json!({
        "filePath": b["file_path"].as_str().unwrap_or(path),
        "ref": b["ref"].as_str().unwrap_or(&git_ref),
        "size": b["size"].as_u64(),
        "encoding": encoding,
        "content": content,
        "blobId": opt(b["blob_id"].as_str()),
        "lastCommitId": opt(b["last_commit_id"].as_str()),
    }))
}

async fn get_file(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    Ok(read_file(
        ctx.upstream,
        &ep,
        &args.id("projectId")?,
        args.str("filePath")?,
        args.opt_str("ref"),
    )
    .await?)
}

async fn search(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let scope = args.str("scope")?;
    let project = args
        .0
        .contains_key("projectId")
        .then(|| args.id("projectId"))
        .transpose()?;
    if scope == "blobs" && project.is_none() {
        return Err(ToolFailure::new(
            "blobs search needs projectId (global code search is not available on every GitLab)",
        ));
    }
    let filters = [
        ("scope", Some(scope.to_owned())),
        ("search", Some(args.str("search")?.to_owned())),
    ];
    let path = match project {
        Some(p) => format!("/projects/{}/search", project_ref(&p)),
        None => "/search".to_owned(),
    };
    list_page(ctx, &args, &path, &filters, "results", Value::clone).await
}
