//! Jira Software (Agile) tools: boards, the sprints of a board, the issues of a sprint or an epic,
//! and moving issues into a sprint. Jira Software REST `/rest/agile/1.0/…` has the same paths and
//! shapes on Cloud and Server/Data Center (issue fields differ as in the platform API: rich text is
//! ADF on Cloud, wiki markup on Server/Data Center; [`summarize`] reads both).

use http::Method;
use serde_json::{json, Value};

use super::jira::{issue_key_schema, issue_schema, offset_page, summarize, Site, JIRA};
use super::jira_details::{offset_page_schema, page_args, paging};
use super::schema::{self, object};
use super::{encode, handler, opt, query, Args, ConnectorTool};
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};

/// Most issues one move takes (Jira Software's limit for `POST /sprint/{id}/issue`).
const MOVE_MAX: u64 = 50;

/// Issue fields the sprint and epic lists ask for (the summary's fields).
const ISSUE_FIELDS: &str =
    "summary,status,issuetype,priority,assignee,reporter,labels,created,updated,project";

fn board_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("name", json!({"type": "string"})),
            ("type", schema::nullable_string()),
            ("projectKey", schema::nullable_string()),
        ],
        &["id", "name"],
    )
}

fn sprint_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("name", json!({"type": "string"})),
            ("state", schema::nullable_string()),
            ("startDate", schema::nullable_string()),
            ("endDate", schema::nullable_string()),
            ("completeDate", schema::nullable_string()),
            ("goal", schema::nullable_string()),
            ("boardId", json!({"type": ["integer", "null"]})),
        ],
        &["id", "name"],
    )
}

fn id_schema(description: &str) -> Value {
    schema::int(description, 1, u64::MAX >> 11)
}

/// The Jira Software tools (toolset `jira_agile`).
pub fn tools() -> Vec<ConnectorTool> {
    let [start, max] = paging(50);
    let jql = (
        "jql",
        schema::string("Optional JQL to narrow the issues, e.g. status = \"In Progress\""),
    );
    vec![
        ConnectorTool::new(
            "jira_list_boards",
            "List Jira boards",
            "List the Jira Software (Scrum and Kanban) boards visible to these credentials, optionally of one project.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("projectKey", schema::string("Only boards of this project (key or id)")),
                    ("type", json!({"type": "string", "enum": ["scrum", "kanban", "simple"], "description": "Only boards of this type"})),
                    ("name", schema::string("Only boards whose name contains this")),
                    start.clone(),
                    max.clone(),
                ],
                &[],
            ),
            offset_page_schema("boards", board_schema()),
            handler!(list_boards),
        ),
        ConnectorTool::new(
            "jira_list_sprints",
            "List Jira sprints",
            "List the sprints of a Jira Software board, optionally only future, active or closed ones.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("boardId", id_schema("Board id (see jira_list_boards)")),
                    ("state", json!({"type": "array", "items": {"type": "string", "enum": ["future", "active", "closed"]}, "minItems": 1, "description": "Only sprints in these states"})),
                    start.clone(),
                    max.clone(),
                ],
                &["boardId"],
            ),
            offset_page_schema("sprints", sprint_schema()),
            handler!(list_sprints),
        ),
        ConnectorTool::new(
            "jira_get_sprint_issues",
            "List a sprint's issues",
            "List the issues in a Jira Software sprint (paginated with startAt).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[("sprintId", id_schema("Sprint id (see jira_list_sprints)")), jql.clone(), start.clone(), max.clone()],
                &["sprintId"],
            ),
            offset_page_schema("issues", issue_schema()),
            handler!(sprint_issues),
        ),
        ConnectorTool::new(
            "jira_move_issues_to_sprint",
            "Move issues to a sprint",
            "Move up to 50 Jira issues into an open or active sprint (they leave the sprint or backlog they were in).",
            JIRA,
            ToolAnnotations::writes(true),
            schema::input(
                &[
                    ("sprintId", id_schema("Sprint id (see jira_list_sprints)")),
                    ("issueKeys", json!({"type": "array", "items": issue_key_schema(), "minItems": 1, "maxItems": MOVE_MAX, "uniqueItems": true, "description": "Issues to move"})),
                ],
                &["sprintId", "issueKeys"],
            ),
            object(
                &[("sprintId", json!({"type": "integer"})), ("moved", schema::strings("Issues moved"))],
                &["sprintId", "moved"],
            ),
            handler!(move_to_sprint),
        ),
        ConnectorTool::new(
            "jira_get_epic_issues",
            "List an epic's issues",
            "List the issues that belong to a Jira Software epic (paginated with startAt).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(&[("epicKey", issue_key_schema()), jql, start, max], &["epicKey"]),
            offset_page_schema("issues", issue_schema()),
            handler!(epic_issues),
        ),
    ]
}

fn number(args: &Args, key: &str) -> Result<u64, ToolFailure> {
    args.opt_u64(key)
        .ok_or_else(|| ToolFailure::new(format!("missing required argument '{key}'")))
}

/// Sends one Agile GET; a 404 on the whole resource is most often Jira Software not being installed.
async fn agile_get(ctx: &ToolContext<'_>, site: &Site, path: String) -> Result<Value, ToolFailure> {
    Ok(ctx
        .upstream
        .json(&site.ep, Method::GET, &path, None)
        .await?
        .body)
}

async fn list_boards(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (start, max) = page_args(&args, 50);
    let q = query(&[
        ("startAt", Some(start.to_string())),
        ("maxResults", Some(max.to_string())),
        (
            "projectKeyOrId",
            args.opt_str("projectKey").map(str::to_owned),
        ),
        ("type", args.opt_str("type").map(str::to_owned)),
        ("name", args.opt_str("name").map(str::to_owned)),
    ]);
    let body = agile_get(ctx, &site, format!("/rest/agile/1.0/board{q}")).await?;
    let boards: Vec<Value> = body["values"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|b| {
                    json!({
                        "id": b["id"].as_u64().unwrap_or_default(),
                        "name": b["name"].as_str().unwrap_or_default(),
                        "type": opt(b["type"].as_str()),
                        "projectKey": opt(b["location"]["projectKey"].as_str()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (start_at, total, is_last) = offset_page(&body, start, boards.len());
    Ok(json!({"boards": boards, "startAt": start_at, "total": total, "isLast": is_last}))
}

async fn list_sprints(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (start, max) = page_args(&args, 50);
    let states = args.str_list("state");
    let q = query(&[
        ("startAt", Some(start.to_string())),
        ("maxResults", Some(max.to_string())),
        ("state", (!states.is_empty()).then(|| states.join(","))),
    ]);
    let board = number(&args, "boardId")?;
    let body = agile_get(
        ctx,
        &site,
        format!("/rest/agile/1.0/board/{board}/sprint{q}"),
    )
    .await?;
    let sprints: Vec<Value> = body["values"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|s| {
                    json!({
                        "id": s["id"].as_u64().unwrap_or_default(),
                        "name": s["name"].as_str().unwrap_or_default(),
                        "state": opt(s["state"].as_str()),
                        "startDate": opt(s["startDate"].as_str()),
                        "endDate": opt(s["endDate"].as_str()),
                        "completeDate": opt(s["completeDate"].as_str()),
                        "goal": opt(s["goal"].as_str()),
                        "boardId": s["originBoardId"].as_u64(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (start_at, total, is_last) = offset_page(&body, start, sprints.len());
    Ok(json!({"sprints": sprints, "startAt": start_at, "total": total, "isLast": is_last}))
}

/// A page of issues from an Agile issue list (`sprint/{id}/issue`, `epic/{key}/issue`).
async fn issue_page(
    ctx: &ToolContext<'_>,
    args: &Args,
    path: String,
) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (start, max) = page_args(args, 50);
    let q = query(&[
        ("startAt", Some(start.to_string())),
        ("maxResults", Some(max.to_string())),
        ("jql", args.opt_str("jql").map(str::to_owned)),
        ("fields", Some(ISSUE_FIELDS.to_owned())),
    ]);
    let body = agile_get(ctx, &site, format!("{path}{q}")).await?;
    let issues: Vec<Value> = body["issues"]
        .as_array()
        .map(|l| l.iter().map(|i| summarize(&site.ep, i)).collect())
        .unwrap_or_default();
    let (start_at, total, is_last) = offset_page(&body, start, issues.len());
    Ok(json!({"issues": issues, "startAt": start_at, "total": total, "isLast": is_last}))
}

async fn sprint_issues(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let sprint = number(&args, "sprintId")?;
    issue_page(ctx, &args, format!("/rest/agile/1.0/sprint/{sprint}/issue")).await
}

async fn epic_issues(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let epic = encode(args.str("epicKey")?);
    issue_page(ctx, &args, format!("/rest/agile/1.0/epic/{epic}/issue")).await
}

async fn move_to_sprint(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let sprint = number(&args, "sprintId")?;
    let keys = args.str_list("issueKeys");
    ctx.upstream
        .json(
            &site.ep,
            Method::POST,
            &format!("/rest/agile/1.0/sprint/{sprint}/issue"),
            Some(&json!({"issues": keys})),
        )
        .await?;
    Ok(json!({"sprintId": sprint, "moved": keys}))
}
