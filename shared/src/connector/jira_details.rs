//! Jira issue details: worklogs, attachments (listed here, read as `jira://attachment/{id}`
//! resources), issue links, watchers, the changelog, user search, create-issue field metadata (and
//! the custom-field-by-name resolution `jira_create_issue` uses), deleting an issue and creating
//! issues in bulk. One set of names and shapes on both deployments: Cloud REST v3 (rich text as
//! ADF, users by `accountId`), Server/Data Center REST v2 (wiki markup, users by `name`/`key`).

use http::Method;
use serde_json::{json, Map, Value};

use super::jira::{
    browse_url, create_fields, create_screen, created_schema, custom_fields_schema,
    issue_key_schema, issue_type, offset_page, resolve_names, rich_text, Site, JIRA,
};
use super::schema::{self, object};
use super::{encode, handler, opt, query, Args, ConnectorTool};
use crate::port::{BodyCap, Keep};
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};
use crate::upstream::{Upstream, UpstreamFailure};

/// Most bytes of one attachment read as a resource: larger ones are refused with their size (the
/// read stops at this many bytes, so a huge file is never buffered).
pub const ATTACHMENT_MAX_BYTES: u64 = 1024 * 1024;

/// Most issues one `jira_create_issues` call creates (Jira's own bulk limit).
const BULK_MAX: u64 = 50;

/// `startAt` and `maxResults` inputs.
pub(crate) fn paging(default_max: u64) -> [(&'static str, Value); 2] {
    [
        (
            "startAt",
            schema::int("Offset of the first item (default 0)", 0, 1_000_000),
        ),
        (
            "maxResults",
            schema::int(&format!("Page size (1-100, default {default_max})"), 1, 100),
        ),
    ]
}

/// `startAt`/`maxResults` of a call, with defaults.
pub(crate) fn page_args(args: &Args, default_max: u64) -> (u64, u64) {
    (
        args.opt_u64("startAt").unwrap_or(0),
        args.opt_u64("maxResults").unwrap_or(default_max),
    )
}

/// An offset-paged list output: items, `startAt`, `total`, `isLast`.
pub(crate) fn offset_page_schema(items: &str, item: Value) -> Value {
    object(
        &[
            (items, schema::array_of(item)),
            ("startAt", json!({"type": "integer"})),
            ("total", json!({"type": ["integer", "null"]})),
            ("isLast", json!({"type": "boolean"})),
        ],
        &[items, "startAt", "isLast"],
    )
}

fn user_schema() -> Value {
    object(
        &[
            ("accountId", schema::nullable_string()),
            ("name", schema::nullable_string()),
            ("key", schema::nullable_string()),
            ("displayName", schema::nullable_string()),
            ("email", schema::nullable_string()),
            ("active", json!({"type": ["boolean", "null"]})),
        ],
        &[],
    )
}

/// A user: Cloud identifies by `accountId`, Server/Data Center by `name` (and `key`).
pub(crate) fn user(u: &Value) -> Value {
    json!({
        "accountId": opt(u["accountId"].as_str()),
        "name": opt(u["name"].as_str()),
        "key": opt(u["key"].as_str()),
        "displayName": opt(u["displayName"].as_str()),
        "email": opt(u["emailAddress"].as_str()),
        "active": u["active"].as_bool(),
    })
}

fn user_name(u: &Value) -> Value {
    opt(u["displayName"].as_str().or(u["name"].as_str()))
}

fn worklog_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("author", schema::nullable_string()),
            ("started", schema::nullable_string()),
            ("timeSpent", schema::nullable_string()),
            ("timeSpentSeconds", json!({"type": ["integer", "null"]})),
            ("comment", schema::nullable_string()),
        ],
        &["id"],
    )
}

fn worklog(w: &Value) -> Value {
    json!({
        "id": w["id"].as_str().unwrap_or_default(),
        "author": user_name(&w["author"]),
        "started": opt(w["started"].as_str()),
        "timeSpent": opt(w["timeSpent"].as_str()),
        "timeSpentSeconds": w["timeSpentSeconds"].as_u64(),
        "comment": if w["comment"].is_null() { Value::Null } else { json!(rich_text(&w["comment"])) },
    })
}

fn attachment_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("filename", json!({"type": "string"})),
            ("mimeType", schema::nullable_string()),
            ("size", json!({"type": ["integer", "null"]})),
            ("created", schema::nullable_string()),
            ("author", schema::nullable_string()),
            (
                "resourceUri",
                json!({"type": "string", "description": "Read the content with resources/read"}),
            ),
        ],
        &["id", "filename", "resourceUri"],
    )
}

/// An attachment id as the URI and path segment take it (Cloud: a number; DC: a string).
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn attachment(a: &Value) -> Value {
    let id = id_text(&a["id"]);
    json!({
        "resourceUri": format!("jira://attachment/{id}"),
        "id": id,
        "filename": a["filename"].as_str().unwrap_or_default(),
        "mimeType": opt(a["mimeType"].as_str()),
        "size": a["size"].as_u64(),
        "created": opt(a["created"].as_str()),
        "author": user_name(&a["author"]),
    })
}

fn field_schema() -> Value {
    object(
        &[
            ("fieldId", json!({"type": "string"})),
            ("name", json!({"type": "string"})),
            ("required", json!({"type": "boolean"})),
            ("type", schema::nullable_string()),
            ("items", schema::nullable_string()),
            ("custom", json!({"type": "boolean"})),
            ("hasDefaultValue", json!({"type": ["boolean", "null"]})),
            (
                "allowedValues",
                json!({"type": "array", "items": {"type": "string"}, "description": "The first 50 allowed values (names or values)"}),
            ),
        ],
        &["fieldId", "name", "required"],
    )
}

/// The Jira issue-detail tools (toolset `jira_details`).
pub fn tools() -> Vec<ConnectorTool> {
    let key = ("issueKey", issue_key_schema());
    let [start, max] = paging(50);
    let user_ref = schema::text(
        "The user: accountId on Jira Cloud, username on Server/Data Center (see jira_search_users)",
    );
    vec![
        ConnectorTool::new(
            "jira_list_worklogs",
            "List Jira worklogs",
            "List the work logged on a Jira issue (paginated with startAt).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(&[key.clone(), start.clone(), max.clone()], &["issueKey"]),
            {
                let mut s = offset_page_schema("worklogs", worklog_schema());
                s["properties"]["issueKey"] = json!({"type": "string"});
                s
            },
            handler!(list_worklogs),
        ),
        ConnectorTool::new(
            "jira_add_worklog",
            "Log work on a Jira issue",
            "Log time spent on a Jira issue, e.g. timeSpent \"1h 30m\", optionally with when it started and a Markdown comment.",
            JIRA,
            ToolAnnotations::writes(false),
            json!({
                "type": "object",
                "properties": {
                    "issueKey": issue_key_schema(),
                    "timeSpent": {"type": "string", "pattern": "^\\s*\\d+(\\.\\d+)?[wdhm](\\s+\\d+(\\.\\d+)?[wdhm])*\\s*$", "description": "Time in Jira's format, e.g. \"3h 20m\" or \"1d\""},
                    "timeSpentSeconds": {"type": "integer", "minimum": 60, "maximum": 31_536_000, "description": "Time in seconds (instead of timeSpent)"},
                    "started": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}[+-]\\d{4}$", "description": "When the work started, e.g. 2026-01-05T09:00:00.000+0000 (default: now)"},
                    "comment": {"type": "string", "description": "Comment in Markdown"},
                },
                "required": ["issueKey"],
                "oneOf": [{"required": ["timeSpent"]}, {"required": ["timeSpentSeconds"]}],
                "additionalProperties": false,
            }),
            object(&[("issueKey", json!({"type": "string"})), ("worklog", worklog_schema())], &["issueKey", "worklog"]),
            handler!(add_worklog),
        ),
        ConnectorTool::new(
            "jira_list_attachments",
            "List Jira attachments",
            "List the files attached to a Jira issue; read one with resources/read on its resourceUri (jira://attachment/{id}; text as text, other types as a base64 blob, up to maxResourceBytes).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(std::slice::from_ref(&key), &["issueKey"]),
            object(
                &[
                    ("issueKey", json!({"type": "string"})),
                    ("attachments", schema::array_of(attachment_schema())),
                    ("maxResourceBytes", json!({"type": "integer", "description": "Largest attachment resources/read returns"})),
                ],
                &["issueKey", "attachments", "maxResourceBytes"],
            ),
            handler!(list_attachments),
        ),
        ConnectorTool::new(
            "jira_link_issues",
            "Link two Jira issues",
            "Link two Jira issues with a link type by name (see jira_list_link_types), e.g. outwardIssue PROJ-1 \"blocks\" inwardIssue PROJ-2 with linkType \"Blocks\".",
            JIRA,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    ("linkType", schema::text("Link type name, e.g. Blocks, Relates, Duplicate")),
                    ("inwardIssue", issue_key_schema()),
                    ("outwardIssue", issue_key_schema()),
                    ("comment", schema::string("Optional comment (Markdown) added to the inward issue")),
                ],
                &["linkType", "inwardIssue", "outwardIssue"],
            ),
            object(
                &[
                    ("linkType", json!({"type": "string"})),
                    ("inwardIssue", json!({"type": "string"})),
                    ("outwardIssue", json!({"type": "string"})),
                ],
                &["linkType", "inwardIssue", "outwardIssue"],
            ),
            handler!(link_issues),
        ),
        ConnectorTool::new(
            "jira_list_link_types",
            "List Jira issue link types",
            "List the issue link types of this Jira (name, and the inward and outward descriptions).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(&[], &[]),
            object(
                &[(
                    "linkTypes",
                    schema::array_of(object(
                        &[
                            ("id", json!({"type": "string"})),
                            ("name", json!({"type": "string"})),
                            ("inward", schema::nullable_string()),
                            ("outward", schema::nullable_string()),
                        ],
                        &["id", "name"],
                    )),
                )],
                &["linkTypes"],
            ),
            handler!(list_link_types),
        ),
        ConnectorTool::new(
            "jira_search_users",
            "Search Jira users",
            "Find Jira users by name or email, e.g. to pick an assignee or watcher (Cloud: accountId; Server/Data Center: name).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("query", schema::text("Part of the user's name, username or email")),
                    start.clone(),
                    max.clone(),
                ],
                &["query"],
            ),
            object(
                &[
                    ("users", schema::array_of(user_schema())),
                    ("startAt", json!({"type": "integer"})),
                    ("isLast", json!({"type": "boolean"})),
                ],
                &["users", "startAt", "isLast"],
            ),
            handler!(search_users),
        ),
        ConnectorTool::new(
            "jira_get_create_fields",
            "Get Jira create-issue fields",
            "List the fields (ids, names, types, required, allowed values) a Jira issue of this project and type takes on creation; jira_create_issue's customFields accepts these names.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("projectKey", schema::text("Project key, e.g. DEMO")),
                    ("issueType", schema::string("Issue type name or id (default Task)")),
                ],
                &["projectKey"],
            ),
            object(
                &[
                    ("projectKey", json!({"type": "string"})),
                    ("issueType", object(&[("id", json!({"type": "string"})), ("name", json!({"type": "string"}))], &["id", "name"])),
                    ("fields", schema::array_of(field_schema())),
                    ("truncated", json!({"type": "boolean", "description": "More fields exist than were read (500)"})),
                ],
                &["projectKey", "issueType", "fields", "truncated"],
            ),
            handler!(get_create_fields),
        ),
        ConnectorTool::new(
            "jira_get_changelog",
            "Get a Jira issue's changelog",
            "List the change history of a Jira issue (who changed which field from what to what), oldest first, paginated with startAt.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(&[key.clone(), start, max], &["issueKey"]),
            {
                let mut s = offset_page_schema(
                    "changes",
                    object(
                        &[
                            ("id", json!({"type": "string"})),
                            ("author", schema::nullable_string()),
                            ("created", schema::nullable_string()),
                            (
                                "items",
                                schema::array_of(object(
                                    &[
                                        ("field", json!({"type": "string"})),
                                        ("from", schema::nullable_string()),
                                        ("to", schema::nullable_string()),
                                    ],
                                    &["field"],
                                )),
                            ),
                        ],
                        &["id", "items"],
                    ),
                );
                s["properties"]["issueKey"] = json!({"type": "string"});
                s
            },
            handler!(get_changelog),
        ),
        ConnectorTool::new(
            "jira_list_watchers",
            "List Jira watchers",
            "List the users watching a Jira issue.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(std::slice::from_ref(&key), &["issueKey"]),
            object(
                &[
                    ("issueKey", json!({"type": "string"})),
                    ("watchCount", json!({"type": "integer"})),
                    ("isWatching", json!({"type": ["boolean", "null"]})),
                    ("watchers", schema::array_of(user_schema())),
                ],
                &["issueKey", "watchCount", "watchers"],
            ),
            handler!(list_watchers),
        ),
        ConnectorTool::new(
            "jira_add_watcher",
            "Add a Jira watcher",
            "Add a user as a watcher of a Jira issue.",
            JIRA,
            ToolAnnotations::writes(true),
            schema::input(&[key.clone(), ("user", user_ref)], &["issueKey", "user"]),
            object(&[("issueKey", json!({"type": "string"})), ("user", json!({"type": "string"}))], &["issueKey", "user"]),
            handler!(add_watcher),
        ),
        ConnectorTool::new(
            "jira_delete_issue",
            "Delete a Jira issue",
            "Delete a Jira issue for good (and, with deleteSubtasks, its subtasks). This cannot be undone.",
            JIRA,
            ToolAnnotations::destructive(true),
            schema::input(
                &[key, ("deleteSubtasks", json!({"type": "boolean", "description": "Also delete its subtasks (required when it has any)"}))],
                &["issueKey"],
            ),
            object(&[("issueKey", json!({"type": "string"})), ("deleted", json!({"type": "boolean"}))], &["issueKey", "deleted"]),
            handler!(delete_issue),
        ),
        ConnectorTool::new(
            "jira_create_issues",
            "Create Jira issues in bulk",
            "Create up to 50 Jira issues in one request. Each description is Markdown; customFields sets other fields by their names, as in jira_create_issue (every name is resolved before anything is created). Issues Jira refuses are listed in errors with their index; the others are created.",
            JIRA,
            ToolAnnotations::writes(false),
            schema::input(
                &[(
                    "issues",
                    json!({
                        "type": "array", "minItems": 1, "maxItems": BULK_MAX,
                        "items": schema::input(
                            &[
                                ("projectKey", schema::text("Project key, e.g. DEMO")),
                                ("summary", schema::text("One-line summary")),
                                ("issueType", schema::string("Issue type name (default Task)")),
                                ("description", schema::string("Description in Markdown")),
                                ("labels", schema::strings("Labels")),
                                ("customFields", custom_fields_schema()),
                            ],
                            &["projectKey", "summary"],
                        ),
                    }),
                )],
                &["issues"],
            ),
            object(
                &[
                    ("issues", schema::array_of(created_schema())),
                    (
                        "errors",
                        schema::array_of(object(
                            &[("index", json!({"type": "integer"})), ("message", json!({"type": "string"}))],
                            &["index", "message"],
                        )),
                    ),
                ],
                &["issues", "errors"],
            ),
            handler!(create_issues),
        ),
    ]
}

async fn list_worklogs(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let path = format!("{}/issue/{}/worklog", site.api(), encode(key));
    let page = issue_page(ctx, &site, &path, page_args(&args, 50), "worklogs", worklog).await?;
    Ok(with_issue_key(key, "worklogs", page))
}

/// One page of an offset-paged list of an issue (worklogs, changelog): GETs `path` with
/// `startAt`/`maxResults` and maps the items Jira returns under `field`.
async fn issue_page(
    ctx: &ToolContext<'_>,
    site: &Site,
    path: &str,
    (start, max): (u64, u64),
    field: &str,
    item: fn(&Value) -> Value,
) -> Result<(Vec<Value>, u64, Value, bool), ToolFailure> {
    let q = query(&[
        ("startAt", Some(start.to_string())),
        ("maxResults", Some(max.to_string())),
    ]);
    let reply = ctx
        .upstream
        .json(&site.ep, Method::GET, &format!("{path}{q}"), None)
        .await?;
    let list: Vec<Value> = reply.body[field]
        .as_array()
        .map(|l| l.iter().map(item).collect())
        .unwrap_or_default();
    let (start_at, total, is_last) = offset_page(&reply.body, start, list.len());
    Ok((list, start_at, total, is_last))
}

/// An unpaged list of an issue (attachments, watchers): GETs `path` and maps the items Jira returns
/// at the JSON pointer `at`; the whole reply comes back too, for the list's other fields.
async fn issue_list(
    ctx: &ToolContext<'_>,
    site: &Site,
    path: &str,
    at: &str,
    item: fn(&Value) -> Value,
) -> Result<(Vec<Value>, Value), ToolFailure> {
    let reply = ctx.upstream.json(&site.ep, Method::GET, path, None).await?;
    let list = reply
        .body
        .pointer(at)
        .and_then(Value::as_array)
        .map(|l| l.iter().map(item).collect())
        .unwrap_or_default();
    Ok((list, reply.body))
}

/// The output of [`issue_page`]: the issue key, the items under `items`, and the page fields.
fn with_issue_key(
    key: &str,
    items: &str,
    (list, start_at, total, is_last): (Vec<Value>, u64, Value, bool),
) -> Value {
    json!({"issueKey": key, items: list, "startAt": start_at, "total": total, "isLast": is_last})
}

async fn add_worklog(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let mut body = Map::new();
    if let Some(t) = args.opt_str("timeSpent") {
        body.insert("timeSpent".into(), json!(t));
    }
    if let Some(s) = args.opt_u64("timeSpentSeconds") {
        body.insert("timeSpentSeconds".into(), json!(s));
    }
    if let Some(s) = args.opt_str("started") {
        body.insert("started".into(), json!(s));
    }
    if let Some(c) = args.opt_str("comment") {
        body.insert("comment".into(), site.rich(c));
    }
    let reply = ctx
        .upstream
        .json(
            &site.ep,
            Method::POST,
            &format!("{}/issue/{}/worklog", site.api(), encode(key)),
            Some(&Value::Object(body)),
        )
        .await?;
    Ok(json!({"issueKey": key, "worklog": worklog(&reply.body)}))
}

async fn list_attachments(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let path = format!("{}/issue/{}?fields=attachment", site.api(), encode(key));
    let (list, _) = issue_list(ctx, &site, &path, "/fields/attachment", attachment).await?;
    Ok(json!({"issueKey": key, "attachments": list, "maxResourceBytes": ATTACHMENT_MAX_BYTES}))
}

/// One attachment's content, as `jira://attachment/{id}` returns it.
pub(crate) struct AttachmentContent {
    /// The attachment's MIME type.
    pub mime_type: String,
    /// The bytes (all of them: larger attachments are refused).
    pub bytes: Vec<u8>,
}

/// Why an attachment could not be read.
pub(crate) enum AttachmentError {
    /// The upstream refused or failed.
    Upstream(UpstreamFailure),
    /// Larger than [`ATTACHMENT_MAX_BYTES`].
    TooLarge(String),
}

impl From<UpstreamFailure> for AttachmentError {
    fn from(e: UpstreamFailure) -> Self {
        AttachmentError::Upstream(e)
    }
}

/// Reads one attachment: its metadata (size, MIME type, file name), then the content under the cap
/// (Cloud: `attachment/content/{id}?redirect=false`, answered directly instead of a redirect to the
/// media store; Server/Data Center: `/secure/attachment/{id}/{filename}` below the base URL, built
/// from the metadata, so no URL from the answer is followed).
pub(crate) async fn read_attachment(
    up: &Upstream<'_>,
    site: &Site,
    id: &str,
) -> Result<AttachmentContent, AttachmentError> {
    let meta = up
        .json(
            &site.ep,
            Method::GET,
            &format!("{}/attachment/{}", site.api(), encode(id)),
            None,
        )
        .await?
        .body;
    let too_large = |size: u64| {
        AttachmentError::TooLarge(format!(
            "Jira attachment {id} is {size} bytes, more than the {ATTACHMENT_MAX_BYTES} bytes a resource read returns; open it in Jira instead"
        ))
    };
    if let Some(size) = meta["size"].as_u64().filter(|s| *s > ATTACHMENT_MAX_BYTES) {
        return Err(too_large(size));
    }
    let path = if site.deployment.is_server() {
        format!(
            "/secure/attachment/{}/{}",
            encode(id),
            encode(meta["filename"].as_str().unwrap_or("file"))
        )
    } else {
        format!(
            "/rest/api/3/attachment/content/{}?redirect=false",
            encode(id)
        )
    };
    let cap = BodyCap {
        max_bytes: ATTACHMENT_MAX_BYTES as usize,
        keep: Keep::Head,
    };
    let got = up.bytes(&site.ep, &path, cap).await?;
    if got.truncated {
        return Err(too_large(got.seen_bytes));
    }
    let mime_type = meta["mimeType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_owned();
    Ok(AttachmentContent {
        mime_type,
        bytes: got.bytes,
    })
}

async fn link_issues(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (link, inward, outward) = (
        args.str("linkType")?,
        args.str("inwardIssue")?,
        args.str("outwardIssue")?,
    );
    let mut body = json!({
        "type": {"name": link},
        "inwardIssue": {"key": inward},
        "outwardIssue": {"key": outward},
    });
    if let Some(c) = args.opt_str("comment") {
        body["comment"] = json!({"body": site.rich(c)});
    }
    ctx.upstream
        .json(
            &site.ep,
            Method::POST,
            &format!("{}/issueLink", site.api()),
            Some(&body),
        )
        .await?;
    Ok(json!({"linkType": link, "inwardIssue": inward, "outwardIssue": outward}))
}

async fn list_link_types(ctx: &ToolContext<'_>, _args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let reply = ctx
        .upstream
        .json(
            &site.ep,
            Method::GET,
            &format!("{}/issueLinkType", site.api()),
            None,
        )
        .await?;
    let list: Vec<Value> = reply.body["issueLinkTypes"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|t| {
                    json!({
                        "id": t["id"].as_str().unwrap_or_default(),
                        "name": t["name"].as_str().unwrap_or_default(),
                        "inward": opt(t["inward"].as_str()),
                        "outward": opt(t["outward"].as_str()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({"linkTypes": list}))
}

async fn search_users(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (start, max) = page_args(&args, 50);
    // Cloud takes `query` (name or email); Server/Data Center's `username` matches the same.
    let name = if site.deployment.is_server() {
        "username"
    } else {
        "query"
    };
    let q = query(&[
        (name, Some(args.str("query")?.to_owned())),
        ("startAt", Some(start.to_string())),
        ("maxResults", Some(max.to_string())),
    ]);
    let reply = ctx
        .upstream
        .json(
            &site.ep,
            Method::GET,
            &format!("{}/user/search{q}", site.api()),
            None,
        )
        .await?;
    let users: Vec<Value> = reply
        .body
        .as_array()
        .map(|l| l.iter().map(user).collect())
        .unwrap_or_default();
    let is_last = (users.len() as u64) < max;
    Ok(json!({"users": users, "startAt": start, "isLast": is_last}))
}

fn field_summary(f: &Value) -> Value {
    let allowed: Vec<Value> = f["allowedValues"]
        .as_array()
        .map(|l| {
            l.iter()
                .take(50)
                .filter_map(|v| v["name"].as_str().or(v["value"].as_str()).map(|s| json!(s)))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "fieldId": f["fieldId"].as_str().or(f["key"].as_str()).unwrap_or_default(),
        "name": f["name"].as_str().unwrap_or_default(),
        "required": f["required"].as_bool().unwrap_or(false),
        "type": opt(f["schema"]["type"].as_str()),
        "items": opt(f["schema"]["items"].as_str()),
        "custom": f["schema"]["custom"].is_string(),
        "hasDefaultValue": f["hasDefaultValue"].as_bool(),
        "allowedValues": allowed,
    })
}

async fn get_create_fields(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let project = args.str("projectKey")?;
    let wanted = args.opt_str("issueType").unwrap_or("Task");
    let (id, name) = issue_type(ctx.upstream, &site, project, wanted).await?;
    let (fields, truncated) = create_fields(ctx.upstream, &site, project, &id).await?;
    let fields: Vec<Value> = fields.iter().map(field_summary).collect();
    Ok(json!({
        "projectKey": project,
        "issueType": {"id": id, "name": name},
        "fields": fields,
        "truncated": truncated,
    }))
}

async fn get_changelog(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let (start, max) = page_args(&args, 50);
    let change = |h: &Value| {
        let items: Vec<Value> = h["items"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|i| {
                        json!({
                            "field": i["field"].as_str().unwrap_or_default(),
                            "from": opt(i["fromString"].as_str().or(i["from"].as_str())),
                            "to": opt(i["toString"].as_str().or(i["to"].as_str())),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "id": h["id"].as_str().unwrap_or_default(),
            "author": user_name(&h["author"]),
            "created": opt(h["created"].as_str()),
            "items": items,
        })
    };
    if site.deployment.is_server() {
        // Server/Data Center has no paged changelog resource: the issue's `changelog` expansion
        // carries the histories, paged here with the same shape as Cloud.
        let reply = ctx
            .upstream
            .json(
                &site.ep,
                Method::GET,
                &format!(
                    "/rest/api/2/issue/{}?fields=summary&expand=changelog",
                    encode(key)
                ),
                None,
            )
            .await?;
        let all = reply.body["changelog"]["histories"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let list: Vec<Value> = all
            .iter()
            .skip(start as usize)
            .take(max as usize)
            .map(change)
            .collect();
        return Ok(json!({
            "issueKey": key, "changes": list, "startAt": start, "total": all.len(),
            "isLast": start.saturating_add(max) >= all.len() as u64,
        }));
    }
    let path = format!("/rest/api/3/issue/{}/changelog", encode(key));
    let page = issue_page(ctx, &site, &path, (start, max), "values", change).await?;
    Ok(with_issue_key(key, "changes", page))
}

async fn list_watchers(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let path = format!("{}/issue/{}/watchers", site.api(), encode(key));
    let (watchers, reply) = issue_list(ctx, &site, &path, "/watchers", user).await?;
    Ok(json!({
        "issueKey": key,
        "watchCount": reply["watchCount"].as_u64().unwrap_or(watchers.len() as u64),
        "isWatching": reply["isWatching"].as_bool(),
        "watchers": watchers,
    }))
}

async fn add_watcher(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let who = args.str("user")?;
    // The body is the bare JSON string: an accountId on Cloud, a username on Server/Data Center.
    ctx.upstream
        .json(
            &site.ep,
            Method::POST,
            &format!("{}/issue/{}/watchers", site.api(), encode(key)),
            Some(&json!(who)),
        )
        .await?;
    Ok(json!({"issueKey": key, "user": who}))
}

async fn delete_issue(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let q = query(&[(
        "deleteSubtasks",
        args.opt_bool("deleteSubtasks").map(|b| b.to_string()),
    )]);
    ctx.upstream
        .json(
            &site.ep,
            Method::DELETE,
            &format!("{}/issue/{}{q}", site.api(), encode(key)),
            None,
        )
        .await?;
    Ok(json!({"issueKey": key, "deleted": true}))
}

async fn create_issues(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let items = args
        .0
        .get("issues")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Each (project, issue type) create screen is read once for the whole batch.
    let mut screens: Vec<((String, String), Vec<Value>)> = Vec::new();
    let mut updates = Vec::with_capacity(items.len());
    for (n, i) in items.iter().enumerate() {
        let project = i["projectKey"].as_str().unwrap_or_default();
        let issue_type = i["issueType"]
            .as_str()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or("Task");
        let mut fields = json!({
            "project": {"key": project},
            "summary": i["summary"],
            "issuetype": {"name": issue_type},
        });
        if let Some(d) = i["description"].as_str() {
            fields["description"] = site.rich(d);
        }
        if let Some(l) = i["labels"].as_array().filter(|l| !l.is_empty()) {
            fields["labels"] = json!(l);
        }
        if let Some(custom) = i["customFields"].as_object() {
            let at = |e: ToolFailure| ToolFailure::new(format!("issues/{n}: {}", e.message));
            let wanted = (project.to_owned(), issue_type.to_ascii_lowercase());
            let known = screens.iter().position(|(k, _)| *k == wanted);
            let index = match known {
                Some(index) => index,
                None => {
                    let screen = create_screen(ctx.upstream, &site, project, issue_type)
                        .await
                        .map_err(at)?;
                    screens.push((wanted, screen));
                    screens.len() - 1
                }
            };
            let resolved =
                resolve_names(&site, &screens[index].1, project, issue_type, custom).map_err(at)?;
            for (id, value) in resolved {
                fields[id.as_str()] = value;
            }
        }
        updates.push(json!({"fields": fields}));
    }
    let reply = ctx
        .upstream
        .json(
            &site.ep,
            Method::POST,
            &format!("{}/issue/bulk", site.api()),
            Some(&json!({"issueUpdates": updates})),
        )
        .await?;
    let created: Vec<Value> = reply.body["issues"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|c| {
                    let key = c["key"].as_str().unwrap_or_default();
                    json!({"key": key, "id": c["id"].as_str().unwrap_or_default(), "url": browse_url(&site.ep, key)})
                })
                .collect()
        })
        .unwrap_or_default();
    let errors: Vec<Value> = reply.body["errors"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| {
                    json!({
                        "index": e["failedElementNumber"].as_u64().unwrap_or_default(),
                        "message": crate::upstream::error_detail(e["elementErrors"].to_string().as_bytes()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({"issues": created, "errors": errors}))
}
