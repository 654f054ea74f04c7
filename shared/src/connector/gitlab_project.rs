//! GitLab project metadata tools: labels (list, create), milestones, releases, the current user and
//! a group's projects.

use http::Method;
use serde_json::{json, Value};

use super::gitlab::{
    list_page, list_result, list_schema, paging, project_id_schema, project_ref, project_schema,
    Project, GITLAB,
};
use super::schema::{self, object};
use super::{encode, handler, opt, query, Args, ConnectorTool};
use crate::credential::Service;
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};
use crate::upstream::UpstreamReply;

fn label_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("name", json!({"type": "string"})),
            ("color", schema::nullable_string()),
            ("description", schema::nullable_string()),
            ("openIssuesCount", json!({"type": ["integer", "null"]})),
        ],
        &["id", "name"],
    )
}

fn milestone_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("iid", json!({"type": ["integer", "null"]})),
            ("title", json!({"type": "string"})),
            ("description", schema::nullable_string()),
            ("state", schema::nullable_string()),
            ("dueDate", schema::nullable_string()),
            ("startDate", schema::nullable_string()),
            ("expired", json!({"type": ["boolean", "null"]})),
            ("webUrl", schema::nullable_string()),
        ],
        &["id", "title"],
    )
}

fn release_schema() -> Value {
    object(
        &[
            ("tagName", json!({"type": "string"})),
            ("name", schema::nullable_string()),
            ("description", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
            ("releasedAt", schema::nullable_string()),
            ("author", schema::nullable_string()),
            ("commitId", schema::nullable_string()),
            ("webUrl", schema::nullable_string()),
        ],
        &["tagName"],
    )
}

fn user_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("username", json!({"type": "string"})),
            ("name", schema::nullable_string()),
            ("state", schema::nullable_string()),
            ("email", schema::nullable_string()),
            ("isAdmin", json!({"type": ["boolean", "null"]})),
            ("bot", json!({"type": ["boolean", "null"]})),
            ("webUrl", schema::nullable_string()),
        ],
        &["id", "username"],
    )
}

/// The project metadata tools.
pub fn tools() -> Vec<ConnectorTool> {
    let [page, per_page] = paging();
    let pid = ("projectId", project_id_schema());
    vec![
        ConnectorTool::new(
            "gitlab_get_current_user",
            "Who am I on GitLab",
            "Get the GitLab user the credentials belong to.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[], &[]),
            user_schema(),
            handler!(current_user),
        ),
        ConnectorTool::new(
            "gitlab_list_group_projects",
            "List a group's projects",
            "List the projects of a GitLab group (id or full path), optionally with its subgroups' projects.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("groupId", schema::id("Group id (number) or full path such as parent/group")),
                    ("includeSubgroups", json!({"type": "boolean", "description": "Include projects of subgroups (default false)"})),
                    ("search", schema::string("Filter by name or path")),
                    page.clone(),
                    per_page.clone(),
                ],
                &["groupId"],
            ),
            list_schema("projects", project_schema()),
            handler!(group_projects),
        ),
        ConnectorTool::new(
            "gitlab_list_labels",
            "List labels",
            "List the labels of a GitLab project (with open issue counts).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[pid.clone(), ("search", schema::string("Filter by name")), page.clone(), per_page.clone()], &["projectId"]),
            list_schema("labels", label_schema()),
            handler!(list_labels),
        ),
        ConnectorTool::new(
            "gitlab_create_label",
            "Create a label",
            "Create a label in a GitLab project.",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    pid.clone(),
                    ("name", schema::text("Label name")),
                    ("color", json!({"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$", "description": "Color as #RRGGBB"})),
                    ("description", schema::string("Description")),
                ],
                &["projectId", "name", "color"],
            ),
            label_schema(),
            handler!(create_label),
        ),
        ConnectorTool::new(
            "gitlab_list_milestones",
            "List milestones",
            "List the milestones of a GitLab project.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("state", json!({"type": "string", "enum": ["active", "closed"], "description": "Only active or closed milestones"})),
                    ("search", schema::string("Filter by title or description")),
                    page.clone(),
                    per_page.clone(),
                ],
                &["projectId"],
            ),
            list_schema("milestones", milestone_schema()),
            handler!(list_milestones),
        ),
        ConnectorTool::new(
            "gitlab_list_releases",
            "List releases",
            "List the releases of a GitLab project, newest first.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[pid, page, per_page], &["projectId"]),
            list_schema("releases", release_schema()),
            handler!(list_releases),
        ),
    ]
}

fn label(l: &Value) -> Value {
    json!({
        "id": l["id"].as_u64().unwrap_or_default(),
        "name": l["name"].as_str().unwrap_or_default(),
        "color": opt(l["color"].as_str()),
        "description": opt(l["description"].as_str()),
        "openIssuesCount": l["open_issues_count"].as_u64(),
    })
}

fn milestone(m: &Value) -> Value {
    json!({
        "id": m["id"].as_u64().unwrap_or_default(),
        "iid": m["iid"].as_u64(),
        "title": m["title"].as_str().unwrap_or_default(),
        "description": opt(m["description"].as_str()),
        "state": opt(m["state"].as_str()),
        "dueDate": opt(m["due_date"].as_str()),
        "startDate": opt(m["start_date"].as_str()),
        "expired": m["expired"].as_bool(),
        "webUrl": opt(m["web_url"].as_str()),
    })
}

fn release(r: &Value) -> Value {
    json!({
        "tagName": r["tag_name"].as_str().unwrap_or_default(),
        "name": opt(r["name"].as_str()),
        "description": opt(r["description"].as_str()),
        "createdAt": opt(r["created_at"].as_str()),
        "releasedAt": opt(r["released_at"].as_str()),
        "author": opt(r["author"]["username"].as_str()),
        "commitId": opt(r["commit"]["id"].as_str()),
        "webUrl": opt(r["_links"]["self"].as_str()),
    })
}

fn project(args: &Args) -> Result<String, ToolFailure> {
    Ok(project_ref(&args.id("projectId")?))
}

async fn current_user(ctx: &ToolContext<'_>, _args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let u = ctx
        .upstream
        .json(&ep, Method::GET, "/user", None)
        .await?
        .body;
    Ok(json!({
        "id": u["id"].as_u64().unwrap_or_default(),
        "username": u["username"].as_str().unwrap_or_default(),
        "name": opt(u["name"].as_str()),
        "state": opt(u["state"].as_str()),
        "email": opt(u["email"].as_str()),
        "isAdmin": u["is_admin"].as_bool(),
        "bot": u["bot"].as_bool(),
        "webUrl": opt(u["web_url"].as_str()),
    }))
}

async fn group_projects(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let group = encode(args.id("groupId")?.trim_matches('/'));
    let q = query(&[
        (
            "include_subgroups",
            args.opt_bool("includeSubgroups").map(|b| b.to_string()),
        ),
        ("search", args.opt_str("search").map(str::to_owned)),
        ("order_by", Some("id".into())),
        ("sort", Some("asc".into())),
        ("page", Some(args.opt_u64("page").unwrap_or(1).to_string())),
        (
            "per_page",
            Some(args.opt_u64("perPage").unwrap_or(20).to_string()),
        ),
    ]);
    let reply: UpstreamReply<Vec<Project>> = ctx
        .upstream
        .fetch(
            &ep,
            Method::GET,
            &format!("/groups/{group}/projects{q}"),
            None,
        )
        .await?;
    let projects = reply.body.iter().map(|p| json!(p)).collect();
    Ok(list_result(&reply, "projects", projects))
}

async fn list_labels(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("/projects/{}/labels", project(&args)?);
    let filters = [
        ("with_counts", Some("true".to_owned())),
        ("search", args.opt_str("search").map(str::to_owned)),
    ];
    list_page(ctx, &args, &path, &filters, "labels", label).await
}

async fn create_label(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let mut body = json!({"name": args.str("name")?, "color": args.str("color")?});
    if let Some(d) = args.opt_str("description") {
        body["description"] = json!(d);
    }
    let path = format!("/projects/{}/labels", project(&args)?);
    let reply = ctx
        .upstream
        .json(&ep, Method::POST, &path, Some(&body))
        .await?;
    Ok(label(&reply.body))
}

async fn list_milestones(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("/projects/{}/milestones", project(&args)?);
    let filters = [
        ("state", args.opt_str("state").map(str::to_owned)),
        ("search", args.opt_str("search").map(str::to_owned)),
    ];
    list_page(ctx, &args, &path, &filters, "milestones", milestone).await
}

async fn list_releases(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("/projects/{}/releases", project(&args)?);
    list_page(ctx, &args, &path, &[], "releases", release).await
}
