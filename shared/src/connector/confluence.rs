//! Confluence Cloud tools: CQL search (v1 `/wiki/rest/api/search`, cursor pagination) and pages and
//! spaces (v2 `/wiki/api/v2`), with storage-format bodies read as Markdown.

use http::Method;
use serde_json::{json, Value};

use super::schema::{self, object};
use super::{encode, handler, markdown, opt, query, query_param, storage, Args, ConnectorTool};
use crate::credential::Service;
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};
use crate::upstream::{Endpoint, Upstream, UpstreamFailure, UpstreamReply};

const CONFLUENCE: &[Service] = &[Service::Confluence];

fn page_id_schema() -> Value {
    json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "description": "Numeric page id"})
}

fn body_format_schema() -> Value {
    json!({"type": "string", "enum": ["markdown", "storage"], "description": "Format of body: markdown (default, converted) or Confluence storage XHTML"})
}

/// Output schema of a page.
pub(crate) fn page_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("title", json!({"type": "string"})),
            ("status", schema::nullable_string()),
            ("spaceId", schema::nullable_string()),
            ("parentId", schema::nullable_string()),
            ("version", json!({"type": ["integer", "null"]})),
            ("url", schema::nullable_string()),
            (
                "body",
                json!({"type": ["string", "null"], "description": "Body as Markdown"}),
            ),
        ],
        &["id", "title"],
    )
}

fn cursor_page(items: &str, item: Value) -> Value {
    object(
        &[
            (items, schema::array_of(item)),
            ("nextCursor", schema::nullable_string()),
        ],
        &[items, "nextCursor"],
    )
}

/// The Confluence tools.
pub fn tools() -> Vec<ConnectorTool> {
    let limit = schema::int("Page size (1-100, default 25)", 1, 100);
    let cursor = schema::string("nextCursor from the previous page");
    vec![
        ConnectorTool::new(
            "confluence_search",
            "Search Confluence",
            "Search Confluence with CQL (e.g. type = page AND space = ENG AND text ~ \"runbook\"). Returns one page; pass nextCursor for more.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(
                &[("cql", schema::text("CQL query")), ("limit", limit.clone()), ("cursor", cursor.clone())],
                &["cql"],
            ),
            object(
                &[
                    ("results", schema::array_of(object(
                        &[
                            ("id", schema::nullable_string()),
                            ("type", schema::nullable_string()),
                            ("title", json!({"type": "string"})),
                            ("excerpt", schema::nullable_string()),
                            ("url", schema::nullable_string()),
                            ("lastModified", schema::nullable_string()),
                        ],
                        &["title"],
                    ))),
                    ("totalSize", json!({"type": ["integer", "null"]})),
                    ("nextCursor", schema::nullable_string()),
                ],
                &["results", "nextCursor"],
            ),
            handler!(search),
        ),
        ConnectorTool::new(
            "confluence_get_page",
            "Get a Confluence page",
            "Get a Confluence page with its body converted from storage format to Markdown.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(&[("pageId", page_id_schema())], &["pageId"]),
            page_schema(),
            handler!(get_page),
        ),
        ConnectorTool::new(
            "confluence_create_page",
            "Create a Confluence page",
            "Create a page in a space (spaceId from confluence_list_spaces), optionally under a parent page.",
            CONFLUENCE,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    ("spaceId", json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "description": "Numeric space id"})),
                    ("title", schema::text("Page title")),
                    ("body", schema::string("Page body")),
                    ("bodyFormat", body_format_schema()),
                    ("parentId", page_id_schema()),
                ],
                &["spaceId", "title", "body"],
            ),
            page_schema(),
            handler!(create_page),
        ),
        ConnectorTool::new(
            "confluence_update_page",
            "Update a Confluence page",
            "Replace a page's body (and optionally title). Pass the version you read to detect concurrent edits; without it the current version is fetched first.",
            CONFLUENCE,
            ToolAnnotations {
                destructive_hint: Some(true),
                ..ToolAnnotations::writes(false)
            },
            schema::input(
                &[
                    ("pageId", page_id_schema()),
                    ("body", schema::string("New page body")),
                    ("bodyFormat", body_format_schema()),
                    ("title", schema::text("New title (default: unchanged)")),
                    ("version", schema::int("The page version your edit is based on", 1, u32::MAX as u64)),
                    ("versionMessage", schema::string("Change note")),
                ],
                &["pageId", "body"],
            ),
            page_schema(),
            handler!(update_page),
        ),
        ConnectorTool::new(
            "confluence_list_spaces",
            "List Confluence spaces",
            "List Confluence spaces (id, key, name); pass nextCursor for more.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(&[("limit", limit.clone()), ("cursor", cursor.clone())], &[]),
            cursor_page(
                "spaces",
                object(
                    &[
                        ("id", json!({"type": "string"})),
                        ("key", json!({"type": "string"})),
                        ("name", json!({"type": "string"})),
                        ("type", schema::nullable_string()),
                        ("status", schema::nullable_string()),
                    ],
                    &["id", "key", "name"],
                ),
            ),
            handler!(list_spaces),
        ),
        ConnectorTool::new(
            "confluence_get_page_children",
            "List child pages",
            "List the direct child pages of a Confluence page; pass nextCursor for more.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(&[("pageId", page_id_schema()), ("limit", limit), ("cursor", cursor)], &["pageId"]),
            cursor_page(
                "children",
                object(
                    &[
                        ("id", json!({"type": "string"})),
                        ("title", json!({"type": "string"})),
                        ("status", schema::nullable_string()),
                        ("spaceId", schema::nullable_string()),
                        ("childPosition", json!({"type": ["integer", "null"]})),
                    ],
                    &["id", "title"],
                ),
            ),
            handler!(children),
        ),
    ]
}

/// The next-page cursor from `_links.next` (or the `Link` header).
fn next_cursor(reply: &UpstreamReply) -> Value {
    let from_links = reply.body["_links"]["next"]
        .as_str()
        .and_then(|n| query_param(n, "cursor"));
    let from_header = || {
        reply.header("link").and_then(|l| {
            l.split(',')
                .find(|part| part.contains("rel=\"next\""))
                .and_then(|part| {
                    let url = part.split(['<', '>']).nth(1)?;
                    query_param(url, "cursor")
                })
        })
    };
    opt(from_links.or_else(from_header).as_deref())
}

fn page_url(ep: &Endpoint, page: &Value) -> Value {
    match page["_links"]["webui"].as_str() {
        Some(webui) => json!(format!("{}/wiki{webui}", ep.base)),
        None => Value::Null,
    }
}

/// Summarizes a v2 `Page` (body converted to Markdown when present).
pub(crate) fn summarize_page(ep: &Endpoint, page: &Value) -> Value {
    let body = page["body"]["storage"]["value"]
        .as_str()
        .map(storage::to_markdown);
    json!({
        "id": page["id"].as_str().map(str::to_owned).unwrap_or_else(|| page["id"].to_string()),
        "title": page["title"].as_str().unwrap_or_default(),
        "status": opt(page["status"].as_str()),
        "spaceId": opt(page["spaceId"].as_str()),
        "parentId": opt(page["parentId"].as_str()),
        "version": page["version"]["number"].as_u64(),
        "url": page_url(ep, page),
        "body": opt(body.as_deref()),
    })
}

async fn search(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::Confluence)?;
    let q = query(&[
        ("cql", Some(args.str("cql")?.to_owned())),
        (
            "limit",
            Some(args.opt_u64("limit").unwrap_or(25).to_string()),
        ),
        ("cursor", args.opt_str("cursor").map(str::to_owned)),
    ]);
    let reply = ctx
        .upstream
        .json(&ep, Method::GET, &format!("/wiki/rest/api/search{q}"), None)
        .await?;
    let results: Vec<Value> = reply.body["results"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|r| {
                    let url = r["url"]
                        .as_str()
                        .map(|u| json!(format!("{}/wiki{u}", ep.base)))
                        .unwrap_or(Value::Null);
                    json!({
                        "id": opt(r["content"]["id"].as_str()),
                        "type": opt(r["content"]["type"].as_str().or(r["entityType"].as_str())),
                        "title": r["title"].as_str().or(r["content"]["title"].as_str()).unwrap_or_default(),
                        "excerpt": opt(r["excerpt"].as_str()),
                        "url": url,
                        "lastModified": opt(r["lastModified"].as_str()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "results": results,
        "totalSize": reply.body["totalSize"].as_u64(),
        "nextCursor": next_cursor(&reply),
    }))
}

/// Fetches a page with its storage body.
pub(crate) async fn fetch_page(
    up: &Upstream<'_>,
    ep: &Endpoint,
    id: &str,
) -> Result<Value, UpstreamFailure> {
    let reply = up
        .json(
            ep,
            Method::GET,
            &format!("/wiki/api/v2/pages/{}?body-format=storage", encode(id)),
            None,
        )
        .await?;
    Ok(reply.body)
}

async fn get_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::Confluence)?;
    let page = fetch_page(ctx.upstream, &ep, &args.id("pageId")?).await?;
    Ok(summarize_page(&ep, &page))
}

fn storage_body(args: &Args) -> Result<String, ToolFailure> {
    let body = args.0.get("body").and_then(Value::as_str).unwrap_or("");
    Ok(match args.opt_str("bodyFormat") {
        Some("storage") => body.to_owned(),
        _ => markdown::to_storage(body),
    })
}

async fn create_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::Confluence)?;
    let mut body = json!({
        "spaceId": args.id("spaceId")?,
        "status": "current",
        "title": args.str("title")?,
        "body": {"representation": "storage", "value": storage_body(&args)?},
    });
    if args.0.contains_key("parentId") {
        body["parentId"] = json!(args.id("parentId")?);
    }
    let reply = ctx
        .upstream
        .json(&ep, Method::POST, "/wiki/api/v2/pages", Some(&body))
        .await?;
    Ok(summarize_page(&ep, &reply.body))
}

async fn update_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::Confluence)?;
    let id = args.id("pageId")?;
    let (base_version, title) = match (args.opt_u64("version"), args.opt_str("title")) {
        (Some(v), Some(t)) => (v, t.to_owned()),
        (given, title) => {
            let current = fetch_page(ctx.upstream, &ep, &id).await?;
            let v = given.or(current["version"]["number"].as_u64()).unwrap_or(1);
            let t = title
                .map(str::to_owned)
                .or_else(|| current["title"].as_str().map(str::to_owned))
                .unwrap_or_default();
            (v, t)
        }
    };
    let mut version = json!({"number": base_version + 1});
    if let Some(m) = args.opt_str("versionMessage") {
        version["message"] = json!(m);
    }
    let body = json!({
        "id": id,
        "status": "current",
        "title": title,
        "body": {"representation": "storage", "value": storage_body(&args)?},
        "version": version,
    });
    match ctx
        .upstream
        .json(&ep, Method::PUT, &format!("/wiki/api/v2/pages/{}", encode(&id)), Some(&body))
        .await
    {
        Ok(reply) => Ok(summarize_page(&ep, &reply.body)),
        Err(e) if e.status() == Some(409) => Err(ToolFailure::new(format!(
            "Confluence page {id} was changed by someone else since version {base_version} (409 conflict), so the update was not applied. Read the page again with confluence_get_page, re-apply your change and pass the new version. ({e})"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn list_spaces(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::Confluence)?;
    let q = query(&[
        (
            "limit",
            Some(args.opt_u64("limit").unwrap_or(25).to_string()),
        ),
        ("cursor", args.opt_str("cursor").map(str::to_owned)),
    ]);
    let reply = ctx
        .upstream
        .json(&ep, Method::GET, &format!("/wiki/api/v2/spaces{q}"), None)
        .await?;
    let spaces: Vec<Value> = reply.body["results"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|s| {
                    json!({
                        "id": s["id"].as_str().map(str::to_owned).unwrap_or_else(|| s["id"].to_string()),
                        "key": s["key"].as_str().unwrap_or_default(),
                        "name": s["name"].as_str().unwrap_or_default(),
                        "type": opt(s["type"].as_str()),
                        "status": opt(s["status"].as_str()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({"spaces": spaces, "nextCursor": next_cursor(&reply)}))
}

async fn children(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::Confluence)?;
    let q = query(&[
        (
            "limit",
            Some(args.opt_u64("limit").unwrap_or(25).to_string()),
        ),
        ("cursor", args.opt_str("cursor").map(str::to_owned)),
    ]);
    let reply = ctx
        .upstream
        .json(
            &ep,
            Method::GET,
            &format!(
                "/wiki/api/v2/pages/{}/children{q}",
                encode(&args.id("pageId")?)
            ),
            None,
        )
        .await?;
    let children: Vec<Value> = reply.body["results"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|c| {
                    json!({
                        "id": c["id"].as_str().map(str::to_owned).unwrap_or_else(|| c["id"].to_string()),
                        "title": c["title"].as_str().unwrap_or_default(),
                        "status": opt(c["status"].as_str()),
                        "spaceId": opt(c["spaceId"].as_str()),
                        "childPosition": c["childPosition"].as_i64(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({"children": children, "nextCursor": next_cursor(&reply)}))
}
