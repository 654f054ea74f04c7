//! Jira tools: search (JQL), issues, comments, transitions and projects, on both deployments behind
//! one set of names and shapes. Cloud: REST v3 (`/rest/api/3/search/jql` with `nextPageToken`,
//! Atlassian Document Format built from Markdown). Server/Data Center: REST v2 (`/rest/api/2/search`
//! with `startAt`, whose offset becomes the `nextPageToken`; wiki markup built from Markdown).

use http::Method;
use serde_json::{json, Map, Value};

use super::schema::{self, object};
use super::{adf, encode, handler, markdown, opt, query, wiki, Args, ConnectorTool};
use crate::credential::Service;
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};
use crate::upstream::deployment::override_hint;
use crate::upstream::{Deployment, Endpoint, Upstream, UpstreamFailure};

/// A Jira endpoint and its deployment type.
pub(crate) struct Site {
    /// The endpoint.
    pub ep: Endpoint,
    /// Cloud or Server/Data Center.
    pub deployment: Deployment,
}

impl Site {
    /// Resolves the request's Jira endpoint and its deployment type.
    pub(crate) async fn of(up: &Upstream<'_>) -> Result<Site, UpstreamFailure> {
        let ep = up.endpoint(Service::Jira)?;
        let deployment = up.deployment(&ep).await?;
        Ok(Site { ep, deployment })
    }

    /// The platform REST prefix: v3 on Cloud, v2 on Server/Data Center.
    pub(crate) fn api(&self) -> &'static str {
        if self.deployment.is_server() {
            "/rest/api/2"
        } else {
            "/rest/api/3"
        }
    }

    /// A rich-text field from Markdown: ADF on Cloud, wiki markup on Server/Data Center.
    pub(crate) fn rich(&self, markdown_text: &str) -> Value {
        if self.deployment.is_server() {
            json!(wiki::from_markdown(markdown_text))
        } else {
            markdown::to_adf(markdown_text)
        }
    }

    /// A 404/410 from an endpoint that always exists on the assumed deployment means the guess was
    /// wrong: say which type was assumed and how to override it.
    pub(crate) fn missing_endpoint(&self, e: UpstreamFailure) -> UpstreamFailure {
        match e.status() {
            Some(404 | 410) => UpstreamFailure::Deployment {
                service: Service::Jira,
                detail: format!(
                    "{e} This endpoint exists on every Jira {}, so the deployment type is probably wrong: {}.",
                    self.deployment,
                    override_hint(Service::Jira, self.deployment)
                ),
            },
            _ => e,
        }
    }
}

/// A rich-text field as Markdown: wiki markup (a string, Server/Data Center) or ADF (Cloud).
pub(crate) fn rich_text(v: &Value) -> String {
    match v.as_str() {
        Some(wiki_text) => wiki::to_markdown(wiki_text),
        None => adf::to_text(v),
    }
}

/// The services every Jira tool needs.
pub(crate) const JIRA: &[Service] = &[Service::Jira];

/// Fields asked for when the caller names none.
const DEFAULT_FIELDS: &str =
    "summary,status,issuetype,priority,assignee,reporter,labels,created,updated,project";

/// Fields whose values the summary already carries.
const SUMMARIZED: &[&str] = &[
    "summary",
    "status",
    "issuetype",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "created",
    "updated",
    "project",
    "description",
];

/// Input schema of an issue key (or numeric id).
pub(crate) fn issue_key_schema() -> Value {
    json!({"type": "string", "pattern": "^([A-Za-z][A-Za-z0-9_]*-[0-9]+|[0-9]+)$", "description": "Issue key such as PROJ-123 (or numeric id)"})
}

/// Output schema of one summarized issue.
pub(crate) fn issue_schema() -> Value {
    object(
        &[
            ("key", json!({"type": "string"})),
            ("id", json!({"type": "string"})),
            ("url", json!({"type": "string"})),
            ("summary", schema::nullable_string()),
            ("status", schema::nullable_string()),
            ("issueType", schema::nullable_string()),
            ("priority", schema::nullable_string()),
            ("assignee", schema::nullable_string()),
            ("reporter", schema::nullable_string()),
            ("project", schema::nullable_string()),
            ("labels", schema::strings("Labels")),
            ("created", schema::nullable_string()),
            ("updated", schema::nullable_string()),
            ("description", schema::nullable_string()),
            (
                "fields",
                json!({"type": "object", "description": "Other requested fields, as Jira returned them"}),
            ),
        ],
        &["key", "id", "url"],
    )
}

fn page_schema(items: &str, item: Value) -> Value {
    object(
        &[
            (items, schema::array_of(item)),
            ("nextPageToken", schema::nullable_string()),
            ("isLast", json!({"type": "boolean"})),
        ],
        &[items, "isLast"],
    )
}

/// The Jira tools.
pub fn tools() -> Vec<ConnectorTool> {
    let fields = json!({"type": ["array", "string"], "items": {"type": "string"}, "description": "Fields to return (names or ids, e.g. [\"summary\",\"customfield_10010\"]); default: the common ones"});
    let max = schema::int("Page size (1-100, default 25)", 1, 100);
    let token = schema::string("nextPageToken from the previous page");
    vec![
        ConnectorTool::new(
            "jira_search",
            "Search Jira issues",
            "Search Jira issues with JQL. Returns one page; pass nextPageToken to get the next page until isLast is true.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("jql", schema::text("JQL query, e.g. project = DEMO AND status = \"In Progress\" ORDER BY updated DESC")),
                    ("fields", fields.clone()),
                    ("maxResults", max.clone()),
                    ("nextPageToken", token.clone()),
                ],
                &["jql"],
            ),
            page_schema("issues", issue_schema()),
            handler!(search),
        ),
        ConnectorTool::new(
            "jira_get_issue",
            "Get a Jira issue",
            "Get one Jira issue with its description as Markdown.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(&[("issueKey", issue_key_schema()), ("fields", fields)], &["issueKey"]),
            issue_schema(),
            handler!(get_issue),
        ),
        ConnectorTool::new(
            "jira_create_issue",
            "Create a Jira issue",
            "Create a Jira issue. The description is Markdown, converted to Atlassian Document Format (Cloud) or wiki markup (Server/Data Center); customFields sets other fields by their names.",
            JIRA,
            ToolAnnotations::writes(false),
            schema::input(
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
            created_schema(),
            handler!(create_issue),
        ),
        ConnectorTool::new(
            "jira_update_issue",
            "Update a Jira issue",
            "Update the summary, description (Markdown) or labels of a Jira issue; fields left out keep their value.",
            JIRA,
            ToolAnnotations {
                destructive_hint: Some(true),
                ..ToolAnnotations::writes(true)
            },
            json!({
                "type": "object",
                "properties": {
                    "issueKey": issue_key_schema(),
                    "summary": schema::text("New summary"),
                    "description": schema::string("New description in Markdown"),
                    "labels": schema::strings("New labels (replaces the current set)"),
                },
                "required": ["issueKey"],
                "anyOf": [{"required": ["summary"]}, {"required": ["description"]}, {"required": ["labels"]}],
                "additionalProperties": false,
            }),
            object(
                &[("key", json!({"type": "string"})), ("url", json!({"type": "string"})), ("updatedFields", schema::strings("Fields changed"))],
                &["key", "updatedFields"],
            ),
            handler!(update_issue),
        ),
        ConnectorTool::new(
            "jira_add_comment",
            "Comment on a Jira issue",
            "Add a comment to a Jira issue. The body is plain text or Markdown, converted to Atlassian Document Format (Cloud) or wiki markup (Server/Data Center).",
            JIRA,
            ToolAnnotations::writes(false),
            schema::input(&[("issueKey", issue_key_schema()), ("body", schema::text("Comment text (Markdown)"))], &["issueKey", "body"]),
            comment_schema(),
            handler!(add_comment),
        ),
        ConnectorTool::new(
            "jira_get_transitions",
            "List Jira transitions",
            "List the workflow transitions available for a Jira issue now.",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(&[("issueKey", issue_key_schema())], &["issueKey"]),
            object(
                &[
                    ("issueKey", json!({"type": "string"})),
                    ("transitions", schema::array_of(transition_schema())),
                ],
                &["issueKey", "transitions"],
            ),
            handler!(get_transitions),
        ),
        ConnectorTool::new(
            "jira_transition_issue",
            "Transition a Jira issue",
            "Move a Jira issue through its workflow, by transition id or name (see jira_get_transitions).",
            JIRA,
            ToolAnnotations::writes(true),
            schema::input(
                &[
                    ("issueKey", issue_key_schema()),
                    ("transition", schema::text("Transition id (e.g. \"31\") or name (e.g. \"Done\")")),
                    ("comment", schema::string("Optional comment (Markdown) added with the transition")),
                ],
                &["issueKey", "transition"],
            ),
            object(
                &[("issueKey", json!({"type": "string"})), ("transition", transition_schema())],
                &["issueKey", "transition"],
            ),
            handler!(transition_issue),
        ),
        ConnectorTool::new(
            "jira_get_issues_by_labels",
            "Find Jira issues by label",
            "Find issues of a Jira project that carry the given labels (any or all of them).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("projectKey", schema::text("Project key")),
                    ("labels", json!({"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "description": "Labels"})),
                    ("match", json!({"type": "string", "enum": ["any", "all"], "description": "Match any (default) or all labels"})),
                    ("maxResults", max),
                    ("nextPageToken", token),
                ],
                &["projectKey", "labels"],
            ),
            page_schema("issues", issue_schema()),
            handler!(issues_by_labels),
        ),
        ConnectorTool::new(
            "jira_list_projects",
            "List Jira projects",
            "List the Jira projects visible to these credentials (paginated with startAt).",
            JIRA,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("query", schema::string("Filter by key or name")),
                    ("startAt", schema::int("Offset of the first project", 0, 1_000_000)),
                    ("maxResults", schema::int("Page size (1-100, default 50)", 1, 100)),
                ],
                &[],
            ),
            object(
                &[
                    ("projects", schema::array_of(object(&[("id", json!({"type": "string"})), ("key", json!({"type": "string"})), ("name", json!({"type": "string"})), ("projectTypeKey", schema::nullable_string())], &["id", "key", "name"]))),
                    ("startAt", json!({"type": "integer"})),
                    ("total", json!({"type": ["integer", "null"]})),
                    ("isLast", json!({"type": "boolean"})),
                ],
                &["projects", "isLast"],
            ),
            handler!(list_projects),
        ),
    ]
}

/// Output schema of a created issue.
pub(crate) fn created_schema() -> Value {
    object(
        &[
            ("key", json!({"type": "string"})),
            ("id", json!({"type": "string"})),
            ("url", json!({"type": "string"})),
        ],
        &["key", "id", "url"],
    )
}

fn comment_schema() -> Value {
    object(
        &[
            ("issueKey", json!({"type": "string"})),
            ("commentId", json!({"type": "string"})),
            ("created", schema::nullable_string()),
        ],
        &["issueKey", "commentId"],
    )
}

fn transition_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("name", json!({"type": "string"})),
            ("toStatus", schema::nullable_string()),
        ],
        &["id", "name"],
    )
}

fn fields_arg(args: &Args) -> Option<String> {
    let list = args.str_list("fields");
    (!list.is_empty()).then(|| list.join(","))
}

/// The issue's page in the Jira UI.
pub(crate) fn browse_url(ep: &Endpoint, key: &str) -> String {
    format!("{}/browse/{key}", ep.base)
}

/// Summarizes an `IssueBean`.
pub(crate) fn summarize(ep: &Endpoint, issue: &Value) -> Value {
    let f = &issue["fields"];
    let name = |v: &Value, k: &str| opt(v.get(k).and_then(Value::as_str));
    let key = issue["key"].as_str().unwrap_or_default();
    let mut out = json!({
        "key": key,
        "id": issue["id"].as_str().unwrap_or_default(),
        "url": browse_url(ep, key),
        "summary": opt(f["summary"].as_str()),
        "status": name(&f["status"], "name"),
        "issueType": name(&f["issuetype"], "name"),
        "priority": name(&f["priority"], "name"),
        "assignee": name(&f["assignee"], "displayName"),
        "reporter": name(&f["reporter"], "displayName"),
        "project": name(&f["project"], "key"),
        "labels": f["labels"].as_array().cloned().unwrap_or_default(),
        "created": opt(f["created"].as_str()),
        "updated": opt(f["updated"].as_str()),
    });
    if !f["description"].is_null() {
        out["description"] = json!(rich_text(&f["description"]));
    }
    if let Some(all) = f.as_object() {
        let extra: Map<String, Value> = all
            .iter()
            .filter(|(k, _)| !SUMMARIZED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !extra.is_empty() {
            out["fields"] = Value::Object(extra);
        }
    }
    out
}

/// Runs a JQL search page.
pub(crate) async fn search_page(
    up: &Upstream<'_>,
    site: &Site,
    jql: &str,
    fields: Option<String>,
    max: u64,
    token: Option<&str>,
) -> Result<Value, ToolFailure> {
    let ep = &site.ep;
    let fields = fields.unwrap_or_else(|| DEFAULT_FIELDS.to_owned());
    if site.deployment.is_server() {
        return search_page_server(up, site, jql, fields, max, token).await;
    }
    let q = query(&[
        ("jql", Some(jql.to_owned())),
        ("maxResults", Some(max.to_string())),
        ("fields", Some(fields)),
        ("nextPageToken", token.map(str::to_owned)),
    ]);
    let reply = up
        .json(ep, Method::GET, &format!("/rest/api/3/search/jql{q}"), None)
        .await
        .map_err(|e| site.missing_endpoint(e))?;
    let issues: Vec<Value> = reply.body["issues"]
        .as_array()
        .map(|l| l.iter().map(|i| summarize(ep, i)).collect())
        .unwrap_or_default();
    let next = reply.body["nextPageToken"].as_str();
    Ok(json!({
        "issues": issues,
        "nextPageToken": opt(next),
        "isLast": reply.body["isLast"].as_bool().unwrap_or(next.is_none()),
    }))
}

/// Server/Data Center search: `GET /rest/api/2/search` pages by `startAt`; the next offset is the
/// page token (decimal), so callers page the same way on both deployments.
async fn search_page_server(
    up: &Upstream<'_>,
    site: &Site,
    jql: &str,
    fields: String,
    max: u64,
    token: Option<&str>,
) -> Result<Value, ToolFailure> {
    let start: u64 = match token {
        None => 0,
        Some(t) => t.parse().map_err(|_| {
            ToolFailure::new(format!(
                "nextPageToken '{}' did not come from this Jira Server/Data Center (its page tokens are offsets); start again without it",
                t.chars().take(40).collect::<String>()
            ))
        })?,
    };
    let q = query(&[
        ("jql", Some(jql.to_owned())),
        ("startAt", Some(start.to_string())),
        ("maxResults", Some(max.to_string())),
        ("fields", Some(fields)),
    ]);
    let reply = up
        .json(
            &site.ep,
            Method::GET,
            &format!("/rest/api/2/search{q}"),
            None,
        )
        .await
        .map_err(|e| site.missing_endpoint(e))?;
    let issues: Vec<Value> = reply.body["issues"]
        .as_array()
        .map(|l| l.iter().map(|i| summarize(&site.ep, i)).collect())
        .unwrap_or_default();
    let start_at = reply.body["startAt"].as_u64().unwrap_or(start);
    let next = start_at + issues.len() as u64;
    let is_last = issues.is_empty()
        || reply.body["total"]
            .as_u64()
            .is_none_or(|total| next >= total);
    Ok(json!({
        "issues": issues,
        "nextPageToken": if is_last { Value::Null } else { json!(next.to_string()) },
        "isLast": is_last,
    }))
}

async fn search(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    search_page(
        ctx.upstream,
        &site,
        args.str("jql")?,
        fields_arg(&args),
        args.opt_u64("maxResults").unwrap_or(25),
        args.opt_str("nextPageToken"),
    )
    .await
}

/// Fetches one issue (summary fields plus description).
pub(crate) async fn fetch_issue(
    up: &Upstream<'_>,
    site: &Site,
    key: &str,
    fields: Option<String>,
) -> Result<Value, UpstreamFailure> {
    let ep = &site.ep;
    let fields = fields.unwrap_or_else(|| format!("{DEFAULT_FIELDS},description"));
    let reply = up
        .json(
            ep,
            Method::GET,
            &format!(
                "{}/issue/{}{}",
                site.api(),
                encode(key),
                query(&[("fields", Some(fields))])
            ),
            None,
        )
        .await?;
    Ok(summarize(ep, &reply.body))
}

async fn get_issue(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    Ok(fetch_issue(
        ctx.upstream,
        &site,
        args.str("issueKey")?,
        fields_arg(&args),
    )
    .await?)
}

/// The `customFields` argument of `jira_create_issue` and of each `jira_create_issues` entry.
pub(crate) fn custom_fields_schema() -> Value {
    json!({"type": "object", "minProperties": 1, "maxProperties": 50, "description": "Other fields by name or id, e.g. {\"Story Points\": 5, \"Team\": \"Platform\"}: names are resolved through the project's create metadata (see jira_get_create_fields); select options and users may be given as text"})
}

async fn create_issue(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let ep = &site.ep;
    let mut fields = json!({
        "project": {"key": args.str("projectKey")?},
        "summary": args.str("summary")?,
        "issuetype": {"name": args.opt_str("issueType").unwrap_or("Task")},
    });
    if let Some(d) = args.opt_str("description") {
        fields["description"] = site.rich(d);
    }
    let labels = args.str_list("labels");
    if !labels.is_empty() {
        fields["labels"] = json!(labels);
    }
    if let Some(custom) = args.0.get("customFields").and_then(Value::as_object) {
        let resolved = resolve_fields(
            ctx.upstream,
            &site,
            args.str("projectKey")?,
            args.opt_str("issueType").unwrap_or("Task"),
            custom,
        )
        .await?;
        for (id, value) in resolved {
            fields[id.as_str()] = value;
        }
    }
    let reply = ctx
        .upstream
        .json(
            ep,
            Method::POST,
            &format!("{}/issue", site.api()),
            Some(&json!({"fields": fields})),
        )
        .await?;
    let key = reply.body["key"].as_str().unwrap_or_default();
    Ok(json!({
        "key": key,
        "id": reply.body["id"].as_str().unwrap_or_default(),
        "url": browse_url(ep, key),
    }))
}

async fn update_issue(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let ep = &site.ep;
    let key = args.str("issueKey")?;
    let mut fields = Map::new();
    if let Some(s) = args.opt_str("summary") {
        fields.insert("summary".into(), json!(s));
    }
    if let Some(d) = args.0.get("description").and_then(Value::as_str) {
        fields.insert("description".into(), site.rich(d));
    }
    if args.0.contains_key("labels") {
        fields.insert("labels".into(), json!(args.str_list("labels")));
    }
    let changed: Vec<String> = fields.keys().cloned().collect();
    ctx.upstream
        .json(
            ep,
            Method::PUT,
            &format!("{}/issue/{}", site.api(), encode(key)),
            Some(&json!({"fields": fields})),
        )
        .await?;
    Ok(json!({"key": key, "url": browse_url(ep, key), "updatedFields": changed}))
}

/// Adds a Markdown comment to an issue; returns the comment summary.
pub(crate) async fn comment(
    up: &Upstream<'_>,
    site: &Site,
    key: &str,
    body: &str,
) -> Result<Value, UpstreamFailure> {
    let reply = up
        .json(
            &site.ep,
            Method::POST,
            &format!("{}/issue/{}/comment", site.api(), encode(key)),
            Some(&json!({"body": site.rich(body)})),
        )
        .await?;
    Ok(json!({
        "issueKey": key,
        "commentId": reply.body["id"].as_str().unwrap_or_default(),
        "created": opt(reply.body["created"].as_str()),
    }))
}

/// The latest `max` comments of an issue, oldest first, as `{author, created, body}` (body as
/// Markdown, cut at 2000 bytes), and how many the issue has.
pub(crate) async fn latest_comments(
    up: &Upstream<'_>,
    site: &Site,
    key: &str,
    max: usize,
) -> Result<(Vec<Value>, usize), UpstreamFailure> {
    let q = query(&[
        ("startAt", Some("0".into())),
        ("maxResults", Some(max.max(1).to_string())),
        ("orderBy", Some("-created".into())),
    ]);
    let reply = up
        .json(
            &site.ep,
            Method::GET,
            &format!("{}/issue/{}/comment{q}", site.api(), encode(key)),
            None,
        )
        .await?;
    let b = &reply.body;
    let mut list: Vec<Value> = b["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .take(max)
        .map(|c| {
            let mut body = rich_text(&c["body"]);
            if body.len() > 2000 {
                let mut end = 2000;
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                body.truncate(end);
                body.push('…');
            }
            json!({
                "author": opt(c["author"]["displayName"].as_str()),
                "created": opt(c["created"].as_str()),
                "body": body,
            })
        })
        .collect();
    list.reverse();
    let total = b["total"].as_u64().map_or(list.len(), |t| t as usize);
    Ok((list, total))
}

async fn add_comment(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    Ok(comment(
        ctx.upstream,
        &site,
        args.str("issueKey")?,
        args.str("body")?,
    )
    .await?)
}

async fn transitions(
    up: &Upstream<'_>,
    site: &Site,
    key: &str,
) -> Result<Vec<Value>, UpstreamFailure> {
    let reply = up
        .json(
            &site.ep,
            Method::GET,
            &format!("{}/issue/{}/transitions", site.api(), encode(key)),
            None,
        )
        .await?;
    Ok(reply.body["transitions"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|t| {
                    json!({
                        "id": t["id"].as_str().unwrap_or_default(),
                        "name": t["name"].as_str().unwrap_or_default(),
                        "toStatus": opt(t["to"]["name"].as_str()),
                    })
                })
                .collect()
        })
        .unwrap_or_default())
}

async fn get_transitions(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let list = transitions(ctx.upstream, &site, key).await?;
    Ok(json!({"issueKey": key, "transitions": list}))
}

async fn transition_issue(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let key = args.str("issueKey")?;
    let wanted = args.str("transition")?;
    let available = transitions(ctx.upstream, &site, key).await?;
    let chosen = available
        .iter()
        .find(|t| t["id"] == wanted)
        .or_else(|| {
            available.iter().find(|t| {
                t["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
            })
        })
        .cloned()
        .ok_or_else(|| {
            let names: Vec<String> = available
                .iter()
                .map(|t| {
                    format!(
                        "{} ({})",
                        t["name"].as_str().unwrap_or(""),
                        t["id"].as_str().unwrap_or("")
                    )
                })
                .collect();
            ToolFailure::new(format!(
                "transition '{wanted}' is not available for {key} now; available: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        })?;
    let mut body = json!({"transition": {"id": chosen["id"]}});
    if let Some(c) = args.opt_str("comment") {
        body["update"] = json!({"comment": [{"add": {"body": site.rich(c)}}]});
    }
    ctx.upstream
        .json(
            &site.ep,
            Method::POST,
            &format!("{}/issue/{}/transitions", site.api(), encode(key)),
            Some(&body),
        )
        .await?;
    Ok(json!({"issueKey": key, "transition": chosen}))
}

/// Quotes a JQL string value.
pub(crate) fn jql_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn issues_by_labels(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let labels = args.str_list("labels");
    let all = args.opt_str("match") == Some("all");
    let label_clause = if all {
        labels
            .iter()
            .map(|l| format!("labels = {}", jql_quote(l)))
            .collect::<Vec<_>>()
            .join(" AND ")
    } else {
        format!(
            "labels in ({})",
            labels
                .iter()
                .map(|l| jql_quote(l))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let jql = format!(
        "project = {} AND {label_clause} ORDER BY key ASC",
        jql_quote(args.str("projectKey")?)
    );
    search_page(
        ctx.upstream,
        &site,
        &jql,
        None,
        args.opt_u64("maxResults").unwrap_or(25),
        args.opt_str("nextPageToken"),
    )
    .await
}

fn project_summary(p: &Value) -> Value {
    json!({
        "id": p["id"].as_str().unwrap_or_default(),
        "key": p["key"].as_str().unwrap_or_default(),
        "name": p["name"].as_str().unwrap_or_default(),
        "projectTypeKey": opt(p["projectTypeKey"].as_str()),
    })
}

/// Server/Data Center lists every visible project in one `GET /rest/api/2/project` (it has no
/// paginated project search); the filter and the page are applied here, with the same shape as Cloud.
async fn list_projects_server(
    ctx: &ToolContext<'_>,
    site: &Site,
    args: &Args,
) -> Result<Value, ToolFailure> {
    let reply = ctx
        .upstream
        .json(&site.ep, Method::GET, "/rest/api/2/project", None)
        .await
        .map_err(|e| site.missing_endpoint(e))?;
    let wanted = args.opt_str("query").map(str::to_lowercase);
    let all: Vec<&Value> = reply
        .body
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|p| {
                    wanted.as_ref().is_none_or(|q| {
                        ["key", "name"].iter().any(|k| {
                            p[*k]
                                .as_str()
                                .is_some_and(|v| v.to_lowercase().contains(q.as_str()))
                        })
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let start = args.opt_u64("startAt").unwrap_or(0) as usize;
    let max = args.opt_u64("maxResults").unwrap_or(50) as usize;
    let projects: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|p| project_summary(p))
        .collect();
    Ok(json!({
        "projects": projects,
        "startAt": start,
        "total": all.len(),
        "isLast": start.saturating_add(max) >= all.len(),
    }))
}

async fn list_projects(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    if site.deployment.is_server() {
        return list_projects_server(ctx, &site, &args).await;
    }
    let ep = &site.ep;
    let q = query(&[
        ("query", args.opt_str("query").map(str::to_owned)),
        (
            "startAt",
            Some(args.opt_u64("startAt").unwrap_or(0).to_string()),
        ),
        (
            "maxResults",
            Some(args.opt_u64("maxResults").unwrap_or(50).to_string()),
        ),
    ]);
    let reply = ctx
        .upstream
        .json(
            ep,
            Method::GET,
            &format!("/rest/api/3/project/search{q}"),
            None,
        )
        .await
        .map_err(|e| site.missing_endpoint(e))?;
    let b = &reply.body;
    let projects: Vec<Value> = b["values"]
        .as_array()
        .map(|l| l.iter().map(project_summary).collect())
        .unwrap_or_default();
    Ok(json!({
        "projects": projects,
        "startAt": b["startAt"].as_u64().unwrap_or(0),
        "total": b["total"].as_u64(),
        "isLast": b["isLast"].as_bool().unwrap_or(true),
    }))
}

// Create metadata: the issue types and create-screen fields of a project, used by
// `jira_create_issue` (custom fields by name) and `jira_get_create_fields` (jira_details).

/// Most create-metadata pages read while resolving field names (100 fields each).
const META_PAGES: u64 = 5;

/// The page fields of an offset-paged Jira reply: `isLast` when Jira says so, else from `total`.
pub(crate) fn offset_page(body: &Value, start: u64, returned: usize) -> (u64, Value, bool) {
    let start_at = body["startAt"].as_u64().unwrap_or(start);
    let total = body["total"].as_u64();
    let is_last = body["isLast"]
        .as_bool()
        .unwrap_or_else(|| returned == 0 || total.is_none_or(|t| start_at + returned as u64 >= t));
    (start_at, total.map_or(Value::Null, |t| json!(t)), is_last)
}

/// The issue type (id, name) of a project matching `wanted` (a name, case-insensitive, or an id).
pub(crate) async fn issue_type(
    up: &Upstream<'_>,
    site: &Site,
    project: &str,
    wanted: &str,
) -> Result<(String, String), ToolFailure> {
    let reply = up
        .json(
            &site.ep,
            Method::GET,
            &format!(
                "{}/issue/createmeta/{}/issuetypes?maxResults=200",
                site.api(),
                encode(project)
            ),
            None,
        )
        .await?;
    // Cloud: `issueTypes`; Server/Data Center: `values`.
    let types = reply.body["issueTypes"]
        .as_array()
        .or(reply.body["values"].as_array())
        .cloned()
        .unwrap_or_default();
    let found = types.iter().find(|t| t["id"] == wanted).or_else(|| {
        types.iter().find(|t| {
            t["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
        })
    });
    match found {
        Some(t) => Ok((
            t["id"].as_str().unwrap_or_default().to_owned(),
            t["name"].as_str().unwrap_or_default().to_owned(),
        )),
        None => {
            let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
            Err(ToolFailure::new(format!(
                "issue type '{wanted}' does not exist in Jira project {project}; its issue types: {}",
                names.join(", ")
            )))
        }
    }
}

/// The create-screen fields of a project's issue type, read page by page (at most [`META_PAGES`]);
/// returns them and whether more were left.
pub(crate) async fn create_fields(
    up: &Upstream<'_>,
    site: &Site,
    project: &str,
    type_id: &str,
) -> Result<(Vec<Value>, bool), ToolFailure> {
    let mut all = Vec::new();
    let mut start = 0u64;
    for _ in 0..META_PAGES {
        let reply = up
            .json(
                &site.ep,
                Method::GET,
                &format!(
                    "{}/issue/createmeta/{}/issuetypes/{}?startAt={start}&maxResults=100",
                    site.api(),
                    encode(project),
                    encode(type_id)
                ),
                None,
            )
            .await?;
        // Cloud: `fields`; Server/Data Center: `values`.
        let page = reply.body["fields"]
            .as_array()
            .or(reply.body["values"].as_array())
            .cloned()
            .unwrap_or_default();
        let n = page.len() as u64;
        all.extend(page);
        let (_, _, is_last) = offset_page(&reply.body, start, n as usize);
        if is_last || n == 0 {
            return Ok((all, false));
        }
        start += n;
    }
    Ok((all, true))
}

/// A value for a field given by name, shaped by the field's type where Jira wants an object: an
/// option by its value, a user by accountId (Cloud) or name (Server/Data Center). Other values pass
/// as given.
fn field_value(site: &Site, field: &Value, v: &Value) -> Value {
    let Some(text) = v.as_str() else {
        if let (Some(list), Some("option")) = (v.as_array(), field["schema"]["items"].as_str()) {
            return list
                .iter()
                .map(|x| match x.as_str() {
                    Some(s) => json!({"value": s}),
                    None => x.clone(),
                })
                .collect();
        }
        return v.clone();
    };
    match field["schema"]["type"].as_str() {
        Some("option") => json!({"value": text}),
        Some("user") if site.deployment.is_server() => json!({"name": text}),
        Some("user") => json!({"accountId": text}),
        Some("array") if field["schema"]["items"] == "option" => json!([{"value": text}]),
        _ => v.clone(),
    }
}

/// The create-screen fields of a project's issue type (given by name or id).
pub(crate) async fn create_screen(
    up: &Upstream<'_>,
    site: &Site,
    project: &str,
    issue_type_name: &str,
) -> Result<Vec<Value>, ToolFailure> {
    let (type_id, _) = issue_type(up, site, project, issue_type_name).await?;
    Ok(create_fields(up, site, project, &type_id).await?.0)
}

/// Resolves `customFields` given by name (or by id such as `customfield_10010`) to field ids through
/// the create metadata of the project's issue type. An unknown or ambiguous name is a failure that
/// lists the candidates, before anything is created.
pub(crate) async fn resolve_fields(
    up: &Upstream<'_>,
    site: &Site,
    project: &str,
    issue_type_name: &str,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, ToolFailure> {
    let fields = create_screen(up, site, project, issue_type_name).await?;
    resolve_names(site, &fields, project, issue_type_name, given)
}

/// [`resolve_fields`] against a create screen already read (`fields`).
pub(crate) fn resolve_names(
    site: &Site,
    fields: &[Value],
    project: &str,
    issue_type_name: &str,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, ToolFailure> {
    let id_of = |f: &Value| -> String {
        f["fieldId"]
            .as_str()
            .or(f["key"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let mut out = Map::new();
    for (name, value) in given {
        let by_id: Vec<&Value> = fields.iter().filter(|f| id_of(f) == *name).collect();
        let matches: Vec<&Value> = if by_id.is_empty() {
            fields
                .iter()
                .filter(|f| {
                    f["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name.trim()))
                })
                .collect()
        } else {
            by_id
        };
        match matches.as_slice() {
            [one] => {
                out.insert(id_of(one), field_value(site, one, value));
            }
            [] => {
                let mut names: Vec<&str> = fields
                    .iter()
                    .filter(|f| f["schema"]["custom"].is_string())
                    .filter_map(|f| f["name"].as_str())
                    .collect();
                names.sort_unstable();
                return Err(ToolFailure::new(format!(
                    "customFields: no field named '{name}' on the create screen of {issue_type_name} in Jira project {project}; its custom fields: {} (see jira_get_create_fields)",
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                )));
            }
            many => {
                let ids: Vec<String> = many.iter().map(|f| id_of(f)).collect();
                return Err(ToolFailure::new(format!(
                    "customFields: the name '{name}' is ambiguous in Jira project {project} ({issue_type_name}): fields {}; give the field id instead",
                    ids.join(", ")
                )));
            }
        }
    }
    Ok(out)
}
