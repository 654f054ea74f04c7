//! Confluence tools on both deployments behind one set of names and shapes, with storage-format
//! (XHTML) bodies written from and read as Markdown. Cloud: CQL search (v1 `/wiki/rest/api/search`,
//! cursor pagination) and pages and spaces (v2 `/wiki/api/v2`). Server/Data Center: `/rest/api/content`,
//! `/rest/api/content/search` (CQL) and `/rest/api/space`, paged by `start`, whose offset becomes
//! the cursor.

use http::Method;
use serde_json::{json, Value};

use super::schema::{self, object};
use super::{encode, handler, markdown, opt, query, query_param, storage, Args, ConnectorTool};
use crate::credential::Service;
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};
use crate::upstream::deployment::override_hint;
use crate::upstream::{Deployment, Endpoint, Upstream, UpstreamFailure, UpstreamReply};

/// A Confluence endpoint and its deployment type.
pub(crate) struct Site {
    /// The endpoint: its base URL leaves Cloud's `/wiki` out, and holds a Server/Data Center
    /// instance's context path (`/wiki` included).
    pub ep: Endpoint,
    /// Cloud or Server/Data Center.
    pub deployment: Deployment,
}

impl Site {
    /// Resolves the request's Confluence endpoint and its deployment type.
    pub(crate) async fn of(up: &Upstream<'_>) -> Result<Site, UpstreamFailure> {
        let ep = up.endpoint(Service::Confluence)?;
        let deployment = up.deployment(&ep).await?;
        // The Cloud probe ran against the base without `/wiki`; a Server/Data Center instance at a
        // `/wiki` context path serves `/rest/api` below it.
        let ep = if deployment.is_server() {
            ep.with_context_path()
        } else {
            ep
        };
        Ok(Site { ep, deployment })
    }

    /// Whether this is Server/Data Center.
    pub(crate) fn server(&self) -> bool {
        self.deployment.is_server()
    }

    /// See [`super::jira`]: a 404/410 from an endpoint that always exists means a wrong guess.
    fn missing_endpoint(&self, e: UpstreamFailure) -> UpstreamFailure {
        match e.status() {
            Some(404 | 410) => UpstreamFailure::Deployment {
                service: Service::Confluence,
                detail: format!(
                    "{e} This endpoint exists on every Confluence {}, so the deployment type is probably wrong: {}.",
                    self.deployment,
                    override_hint(Service::Confluence, self.deployment)
                ),
            },
            _ => e,
        }
    }

    /// A list endpoint's failure: read as [`Site::missing_endpoint`] when the endpoint exists on
    /// every deployment of its kind (`always_there`), as it is otherwise (a 404 of a page's
    /// children means the page does not exist).
    fn list_failure(&self, e: UpstreamFailure, always_there: bool) -> UpstreamFailure {
        if always_there {
            self.missing_endpoint(e)
        } else {
            e
        }
    }
}

/// A Server/Data Center page cursor: the offset of the next page (decimal).
pub(crate) fn offset_cursor(args: &Args) -> Result<u64, ToolFailure> {
    match args.opt_str("cursor") {
        None => Ok(0),
        Some(c) => c.parse().map_err(|_| {
            ToolFailure::new(format!(
                "cursor '{}' did not come from this Confluence Server/Data Center (its cursors are offsets); start again without it",
                c.chars().take(40).collect::<String>()
            ))
        }),
    }
}

/// The next offset of a Server/Data Center page, when `_links.next` says there is one.
pub(crate) fn next_offset(body: &Value, start: u64) -> Value {
    if body["_links"]["next"].is_null() {
        return Value::Null;
    }
    let size = body["size"]
        .as_u64()
        .or_else(|| body["results"].as_array().map(|r| r.len() as u64))
        .unwrap_or(0);
    let start = body["start"].as_u64().unwrap_or(start);
    json!((start + size).to_string())
}

/// Ids are numbers on Server/Data Center and strings on Cloud: text either way.
pub(crate) fn id_text(v: &Value) -> Value {
    match v {
        Value::String(s) => json!(s),
        Value::Number(n) => json!(n.to_string()),
        _ => Value::Null,
    }
}

/// The services a Confluence tool needs.
pub(crate) const CONFLUENCE: &[Service] = &[Service::Confluence];

/// Input schema of a numeric page id.
pub(crate) fn page_id_schema() -> Value {
    json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "description": "Numeric page id"})
}

/// Input schema of `bodyFormat`.
pub(crate) fn body_format_schema() -> Value {
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
pub(crate) fn next_cursor(reply: &UpstreamReply) -> Value {
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

/// The page's web address: Cloud serves the UI under `/wiki`; Server/Data Center under the base URL
/// (which already holds any context path).
fn page_url(site: &Site, page: &Value) -> Value {
    let context = if site.server() { "" } else { "/wiki" };
    match page["_links"]["webui"].as_str() {
        Some(webui) => json!(format!("{}{context}{webui}", site.ep.base)),
        None => Value::Null,
    }
}

/// Summarizes a Cloud v2 `Page` or a Server/Data Center `Content` (body converted to Markdown when
/// present; on Server/Data Center the space comes from `space.id` and the parent from `ancestors`).
pub(crate) fn summarize_page(site: &Site, page: &Value) -> Value {
    let body = page["body"]["storage"]["value"]
        .as_str()
        .map(storage::to_markdown);
    let (space, parent) = if site.server() {
        let parent = page["ancestors"]
            .as_array()
            .and_then(|a| a.last())
            .map(|a| id_text(&a["id"]))
            .unwrap_or(Value::Null);
        (id_text(&page["space"]["id"]), parent)
    } else {
        (id_text(&page["spaceId"]), id_text(&page["parentId"]))
    };
    json!({
        "id": id_text(&page["id"]),
        "title": page["title"].as_str().unwrap_or_default(),
        "status": opt(page["status"].as_str()),
        "spaceId": space,
        "parentId": parent,
        "version": page["version"]["number"].as_u64(),
        "url": page_url(site, page),
        "body": opt(body.as_deref()),
    })
}

/// Server/Data Center CQL search: `GET /rest/api/content/search` (content results, no excerpts).
async fn search_server(
    ctx: &ToolContext<'_>,
    site: &Site,
    args: &Args,
) -> Result<Value, ToolFailure> {
    let start = offset_cursor(args)?;
    let q = query(&[
        ("cql", Some(args.str("cql")?.to_owned())),
        ("start", Some(start.to_string())),
        (
            "limit",
            Some(args.opt_u64("limit").unwrap_or(25).to_string()),
        ),
        ("expand", Some("version".to_owned())),
    ]);
    let reply = ctx
        .upstream
        .json(
            &site.ep,
            Method::GET,
            &format!("/rest/api/content/search{q}"),
            None,
        )
        .await
        .map_err(|e| site.missing_endpoint(e))?;
    let results: Vec<Value> = reply.body["results"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|c| {
                    json!({
                        "id": id_text(&c["id"]),
                        "type": opt(c["type"].as_str()),
                        "title": c["title"].as_str().unwrap_or_default(),
                        "excerpt": Value::Null,
                        "url": page_url(site, c),
                        "lastModified": opt(c["version"]["when"].as_str()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "results": results,
        "totalSize": reply.body["totalSize"].as_u64(),
        "nextCursor": next_offset(&reply.body, start),
    }))
}

async fn search(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    if site.server() {
        return search_server(ctx, &site, &args).await;
    }
    let ep = &site.ep;
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
        .json(ep, Method::GET, &format!("/wiki/rest/api/search{q}"), None)
        .await
        .map_err(|e| site.missing_endpoint(e))?;
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
    site: &Site,
    id: &str,
) -> Result<Value, UpstreamFailure> {
    let path = if site.server() {
        format!(
            "/rest/api/content/{}?expand=body.storage,version,space,ancestors",
            encode(id)
        )
    } else {
        format!("/wiki/api/v2/pages/{}?body-format=storage", encode(id))
    };
    let reply = up.json(&site.ep, Method::GET, &path, None).await?;
    Ok(reply.body)
}

async fn get_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let page = fetch_page(ctx.upstream, &site, &args.id("pageId")?).await?;
    Ok(summarize_page(&site, &page))
}

/// Most space-list pages read while looking a space id up on Server/Data Center (100 spaces each).
const SPACE_LOOKUP_PAGES: u64 = 50;

/// Server/Data Center creates pages by space key; the tools take the numeric space id (as on
/// Cloud), so look the key up in `GET /rest/api/space`.
pub(crate) async fn space_key(
    up: &Upstream<'_>,
    site: &Site,
    id: &str,
) -> Result<String, ToolFailure> {
    let mut start = 0u64;
    for _ in 0..SPACE_LOOKUP_PAGES {
        let reply = up
            .json(
                &site.ep,
                Method::GET,
                &format!("/rest/api/space?start={start}&limit=100"),
                None,
            )
            .await
            .map_err(|e| site.missing_endpoint(e))?;
        let results = reply.body["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(key) = results
            .iter()
            .find(|s| id_text(&s["id"]) == json!(id))
            .and_then(|s| s["key"].as_str())
        {
            return Ok(key.to_owned());
        }
        match next_offset(&reply.body, start).as_str() {
            Some(next) if !results.is_empty() => start = next.parse().unwrap_or(u64::MAX),
            _ => break,
        }
    }
    Err(ToolFailure::new(format!(
        "Confluence at {} has no space with id {id} visible to these credentials (see confluence_list_spaces)",
        site.ep.host
    )))
}

/// The `body` argument as storage XHTML (converted from Markdown unless `bodyFormat` is storage).
pub(crate) fn storage_body(args: &Args) -> Result<String, ToolFailure> {
    let body = args.0.get("body").and_then(Value::as_str).unwrap_or("");
    Ok(match args.opt_str("bodyFormat") {
        Some("storage") => body.to_owned(),
        _ => markdown::to_storage(body),
    })
}

async fn create_page_server(
    ctx: &ToolContext<'_>,
    site: &Site,
    args: &Args,
) -> Result<Value, ToolFailure> {
    let key = space_key(ctx.upstream, site, &args.id("spaceId")?).await?;
    let mut body = json!({
        "type": "page",
        "title": args.str("title")?,
        "space": {"key": key},
        "body": {"storage": {"value": storage_body(args)?, "representation": "storage"}},
    });
    if args.0.contains_key("parentId") {
        body["ancestors"] = json!([{"id": args.id("parentId")?}]);
    }
    let reply = ctx
        .upstream
        .json(&site.ep, Method::POST, "/rest/api/content", Some(&body))
        .await?;
    Ok(summarize_page(site, &reply.body))
}

async fn create_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    if site.server() {
        return create_page_server(ctx, &site, &args).await;
    }
    let ep = &site.ep;
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
        .json(ep, Method::POST, "/wiki/api/v2/pages", Some(&body))
        .await?;
    Ok(summarize_page(&site, &reply.body))
}

async fn update_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let id = args.id("pageId")?;
    let (base_version, title) = match (args.opt_u64("version"), args.opt_str("title")) {
        (Some(v), Some(t)) => (v, t.to_owned()),
        (given, title) => {
            let current = fetch_page(ctx.upstream, &site, &id).await?;
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
    let (path, body) = if site.server() {
        (
            format!("/rest/api/content/{}", encode(&id)),
            json!({
                "id": id,
                "type": "page",
                "title": title,
                "body": {"storage": {"value": storage_body(&args)?, "representation": "storage"}},
                "version": version,
            }),
        )
    } else {
        (
            format!("/wiki/api/v2/pages/{}", encode(&id)),
            json!({
                "id": id,
                "status": "current",
                "title": title,
                "body": {"representation": "storage", "value": storage_body(&args)?},
                "version": version,
            }),
        )
    };
    match ctx
        .upstream
        .json(&site.ep, Method::PUT, &path, Some(&body))
        .await
    {
        Ok(reply) => Ok(summarize_page(&site, &reply.body)),
        Err(e) if e.status() == Some(409) => Err(ToolFailure::new(format!(
            "Confluence page {id} was changed by someone else since version {base_version} (409 conflict), so the update was not applied. Read the page again with confluence_get_page, re-apply your change and pass the new version. ({e})"
        ))),
        Err(e) => Err(e.into()),
    }
}

fn space_summary(s: &Value) -> Value {
    json!({
        "id": id_text(&s["id"]),
        "key": s["key"].as_str().unwrap_or_default(),
        "name": s["name"].as_str().unwrap_or_default(),
        "type": opt(s["type"].as_str()),
        "status": opt(s["status"].as_str()),
    })
}

/// One page of a Server/Data Center list: `GET {path}?start=…&limit=…{extra}` from the tool's offset
/// cursor and limit; each result mapped by `item`, and the next offset cursor. `always_there`: the
/// endpoint exists on every Data Center, so a 404 means the deployment guess was wrong.
async fn server_page(
    ctx: &ToolContext<'_>,
    site: &Site,
    args: &Args,
    (path, extra): (&str, &str),
    always_there: bool,
    item: fn(&Value) -> Value,
) -> Result<(Vec<Value>, Value), ToolFailure> {
    let start = offset_cursor(args)?;
    let limit = args.opt_u64("limit").unwrap_or(25);
    let reply = ctx
        .upstream
        .json(
            &site.ep,
            Method::GET,
            &format!("{path}?start={start}&limit={limit}{extra}"),
            None,
        )
        .await
        .map_err(|e| site.list_failure(e, always_there))?;
    Ok((results(&reply.body, item), next_offset(&reply.body, start)))
}

/// One page of a Cloud (v2) list: `GET {path}?limit=…&cursor=…`; each result mapped by `item`, and
/// the next cursor. `always_there` as for [`server_page`].
async fn cloud_page(
    ctx: &ToolContext<'_>,
    site: &Site,
    args: &Args,
    path: &str,
    always_there: bool,
    item: fn(&Value) -> Value,
) -> Result<(Vec<Value>, Value), ToolFailure> {
    let q = query(&[
        (
            "limit",
            Some(args.opt_u64("limit").unwrap_or(25).to_string()),
        ),
        ("cursor", args.opt_str("cursor").map(str::to_owned)),
    ]);
    let reply = ctx
        .upstream
        .json(&site.ep, Method::GET, &format!("{path}{q}"), None)
        .await
        .map_err(|e| site.list_failure(e, always_there))?;
    Ok((results(&reply.body, item), next_cursor(&reply)))
}

/// A list reply's `results`, each mapped by `item`.
fn results(body: &Value, item: fn(&Value) -> Value) -> Vec<Value> {
    body["results"]
        .as_array()
        .map(|l| l.iter().map(item).collect())
        .unwrap_or_default()
}

async fn list_spaces(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (spaces, next) = if site.server() {
        server_page(
            ctx,
            &site,
            &args,
            ("/rest/api/space", ""),
            true,
            space_summary,
        )
        .await?
    } else {
        cloud_page(
            ctx,
            &site,
            &args,
            "/wiki/api/v2/spaces",
            true,
            space_summary,
        )
        .await?
    };
    Ok(json!({"spaces": spaces, "nextCursor": next}))
}

/// A child page as Server/Data Center lists it (`expand=space`).
fn server_child(c: &Value) -> Value {
    json!({
        "id": id_text(&c["id"]),
        "title": c["title"].as_str().unwrap_or_default(),
        "status": opt(c["status"].as_str()),
        "spaceId": id_text(&c["space"]["id"]),
        "childPosition": c["extensions"]["position"].as_i64(),
    })
}

/// A child page as Cloud (v2) lists it.
fn cloud_child(c: &Value) -> Value {
    json!({
        "id": c["id"].as_str().map(str::to_owned).unwrap_or_else(|| c["id"].to_string()),
        "title": c["title"].as_str().unwrap_or_default(),
        "status": opt(c["status"].as_str()),
        "spaceId": opt(c["spaceId"].as_str()),
        "childPosition": c["childPosition"].as_i64(),
    })
}

async fn children(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (children, next) = if site.server() {
        let path = format!(
            "/rest/api/content/{}/child/page",
            encode(&args.id("pageId")?)
        );
        server_page(
            ctx,
            &site,
            &args,
            (&path, "&expand=space"),
            false,
            server_child,
        )
        .await?
    } else {
        let path = format!(
            "/wiki/api/v2/pages/{}/children",
            encode(&args.id("pageId")?)
        );
        cloud_page(ctx, &site, &args, &path, false, cloud_child).await?
    };
    Ok(json!({"children": children, "nextCursor": next}))
}
