//! Confluence page details on both deployments, behind the same names and shapes: footer comments
//! (list, add), labels (list, add), attachments (list), version history, a page by its title in a
//! space, moving and deleting a page, and a space's page tree under stated depth, count and request
//! bounds. Every list is one upstream page (Cloud: v2 `cursor` from `_links.next`; Server/Data
//! Center: `start` offset as the cursor), read under a byte cap the platform client applies while
//! reading, so an oversized answer is refused before it is buffered.
//!
//! Cloud: REST v2 `/wiki/api/v2` (comments, labels, attachments, versions, pages by title, space
//! pages, children, delete) and v1 `/wiki/rest/api/content/{id}/label` (adding labels: v2 has no
//! such operation) and `…/move/{position}/{targetId}`. Server/Data Center: `/rest/api/content…`,
//! `/rest/api/space/{key}/content/page`, and `/rest/experimental/content/{id}/version` (the version
//! list Atlassian's knowledge base names for Data Center; `/rest/api/content/{id}/history` only has
//! the latest and previous version).

use http::Method;
use serde_json::{json, Value};

use super::confluence::{
    id_text, next_cursor, next_offset, offset_cursor, page_id_schema, page_schema, space_key,
    storage_body, summarize_page, Site, CONFLUENCE,
};
use super::schema::{self, object};
use super::{encode, handler, opt, query, Args, ConnectorTool};
use crate::port::{BodyCap, Keep};
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};
use crate::upstream::UpstreamReply;

/// Largest answer of a metadata list (labels, attachments, versions, tree pages) accepted, in bytes:
/// 250 entries of a few hundred bytes each fit many times over.
const LIST_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Default and largest answer accepted where bodies travel (comments, a page by title).
const BODY_DEFAULT_BYTES: u64 = 1024 * 1024;
const BODY_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Page tree bounds: default and largest depth and page count, and the upstream requests one call
/// may make (one per listed level of children, so a wide tree stops at this many requests).
const TREE_DEFAULT_DEPTH: u64 = 3;
const TREE_MAX_DEPTH: u64 = 10;
const TREE_DEFAULT_PAGES: u64 = 200;
const TREE_MAX_PAGES: u64 = 1000;
const TREE_MAX_REQUESTS: u64 = 50;

fn limit_arg() -> (&'static str, Value) {
    (
        "limit",
        schema::int("Page size (1-100, default 25)", 1, 100),
    )
}

fn cursor_arg() -> (&'static str, Value) {
    (
        "cursor",
        schema::string("nextCursor from the previous page"),
    )
}

fn max_bytes_arg() -> (&'static str, Value) {
    (
        "maxBytes",
        schema::int(
            "Largest upstream answer accepted, in bytes (default 1048576, at most 8388608); a larger one is refused, not cut",
            1024,
            BODY_MAX_BYTES,
        ),
    )
}

fn list_schema(items: &str, item: Value, extra: &[(&str, Value)]) -> Value {
    let mut props = vec![
        (items, schema::array_of(item)),
        ("nextCursor", schema::nullable_string()),
    ];
    props.extend(extra.iter().cloned());
    let mut required = vec![items, "nextCursor"];
    required.extend(extra.iter().map(|(k, _)| *k));
    object(&props, &required)
}

fn comment_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("author", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
            ("version", json!({"type": ["integer", "null"]})),
            (
                "body",
                json!({"type": ["string", "null"], "description": "Body as Markdown"}),
            ),
        ],
        &["id"],
    )
}

fn label_schema() -> Value {
    object(
        &[
            ("id", schema::nullable_string()),
            ("name", json!({"type": "string"})),
            ("prefix", schema::nullable_string()),
        ],
        &["name"],
    )
}

fn attachment_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "string"})),
            ("title", json!({"type": "string"})),
            ("mediaType", schema::nullable_string()),
            ("fileSize", json!({"type": ["integer", "null"]})),
            ("comment", schema::nullable_string()),
            ("version", json!({"type": ["integer", "null"]})),
            ("createdAt", schema::nullable_string()),
            ("downloadUrl", schema::nullable_string()),
        ],
        &["id", "title"],
    )
}

fn version_schema() -> Value {
    object(
        &[
            ("number", json!({"type": "integer"})),
            ("author", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
            ("message", schema::nullable_string()),
            ("minorEdit", json!({"type": ["boolean", "null"]})),
        ],
        &["number"],
    )
}

fn space_id_arg() -> (&'static str, Value) {
    (
        "spaceId",
        json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "description": "Numeric space id (from confluence_list_spaces)"}),
    )
}

/// The Confluence detail tools.
pub fn tools() -> Vec<ConnectorTool> {
    let page = ("pageId", page_id_schema());
    vec![
        ConnectorTool::new(
            "confluence_list_comments",
            "List page comments",
            "List the top-level footer comments of a Confluence page (bodies as Markdown); pass nextCursor for more.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(&[page.clone(), limit_arg(), cursor_arg(), max_bytes_arg()], &["pageId"]),
            list_schema(
                "comments",
                comment_schema(),
                &[("maxBytes", json!({"type": "integer", "description": "The cap applied to the upstream answer"}))],
            ),
            handler!(list_comments),
        ),
        ConnectorTool::new(
            "confluence_add_comment",
            "Add a page comment",
            "Add a footer comment to a Confluence page, or a reply to one of its comments (inReplyTo).",
            CONFLUENCE,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    page.clone(),
                    ("body", schema::text("Comment body")),
                    ("bodyFormat", super::confluence::body_format_schema()),
                    ("inReplyTo", json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "description": "Id of the comment to reply to (from confluence_list_comments)"})),
                ],
                &["pageId", "body"],
            ),
            comment_schema(),
            handler!(add_comment),
        ),
        ConnectorTool::new(
            "confluence_list_labels",
            "List page labels",
            "List the labels of a Confluence page; pass nextCursor for more.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(&[page.clone(), limit_arg(), cursor_arg()], &["pageId"]),
            list_schema("labels", label_schema(), &[]),
            handler!(list_labels),
        ),
        ConnectorTool::new(
            "confluence_add_labels",
            "Add page labels",
            "Add labels to a Confluence page (labels it already has are kept); returns the page's labels.",
            CONFLUENCE,
            ToolAnnotations::writes(true),
            schema::input(
                &[
                    page.clone(),
                    ("labels", json!({"type": "array", "minItems": 1, "maxItems": 20, "uniqueItems": true, "description": "Label names (no spaces)", "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^\\s,]+$"}})),
                ],
                &["pageId", "labels"],
            ),
            object(&[("labels", schema::array_of(label_schema()))], &["labels"]),
            handler!(add_labels),
        ),
        ConnectorTool::new(
            "confluence_list_attachments",
            "List page attachments",
            "List the attachments of a Confluence page (name, media type, size, download URL); pass nextCursor for more.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    page.clone(),
                    ("filename", schema::text("Only the attachment with this file name")),
                    ("mediaType", schema::text("Only attachments of this media type, e.g. image/png")),
                    limit_arg(),
                    cursor_arg(),
                ],
                &["pageId"],
            ),
            list_schema("attachments", attachment_schema(), &[]),
            handler!(list_attachments),
        ),
        ConnectorTool::new(
            "confluence_list_page_versions",
            "List page versions",
            "List the version history of a Confluence page (number, author, date, change note), newest first; pass nextCursor for more.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(&[page.clone(), limit_arg(), cursor_arg()], &["pageId"]),
            list_schema("versions", version_schema(), &[]),
            handler!(list_versions),
        ),
        ConnectorTool::new(
            "confluence_get_page_by_title",
            "Get a page by title",
            "Get the Confluence page with this exact title in a space, body converted to Markdown.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(
                &[space_id_arg(), ("title", schema::text("Exact page title")), max_bytes_arg()],
                &["spaceId", "title"],
            ),
            page_schema(),
            handler!(page_by_title),
        ),
        ConnectorTool::new(
            "confluence_move_page",
            "Move a page",
            "Move a Confluence page (with its children) under another page (append) or next to it (before, after).",
            CONFLUENCE,
            ToolAnnotations::destructive(true),
            schema::input(
                &[
                    page.clone(),
                    ("position", json!({"type": "string", "enum": ["append", "before", "after"], "description": "append: as the target's last child; before/after: as its sibling"})),
                    ("targetId", json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "description": "Id of the target page"})),
                ],
                &["pageId", "position", "targetId"],
            ),
            object(
                &[
                    ("pageId", json!({"type": "string"})),
                    ("position", json!({"type": "string"})),
                    ("targetId", json!({"type": "string"})),
                    ("moved", json!({"type": "boolean"})),
                ],
                &["pageId", "position", "targetId", "moved"],
            ),
            handler!(move_page),
        ),
        ConnectorTool::new(
            "confluence_delete_page",
            "Delete a page",
            "Delete a Confluence page (it goes to the space's trash, from which a space admin can restore it).",
            CONFLUENCE,
            ToolAnnotations::destructive(true),
            schema::input(std::slice::from_ref(&page), &["pageId"]),
            object(
                &[("pageId", json!({"type": "string"})), ("deleted", json!({"type": "boolean"}))],
                &["pageId", "deleted"],
            ),
            handler!(delete_page),
        ),
        ConnectorTool::new(
            "confluence_get_page_tree",
            "Get a space's page tree",
            "List a space's pages as a tree (each with its parent and depth), from the space's top-level pages or below rootPageId, breadth first, within maxDepth levels and maxPages pages; the result says whether a bound cut it.",
            CONFLUENCE,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    space_id_arg(),
                    ("rootPageId", json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "description": "List the tree below this page instead of the whole space"})),
                    ("maxDepth", schema::int("Levels listed (default 3, at most 10)", 1, TREE_MAX_DEPTH)),
                    ("maxPages", schema::int("Most pages listed (default 200, at most 1000)", 1, TREE_MAX_PAGES)),
                ],
                &["spaceId"],
            ),
            object(
                &[
                    ("pages", schema::array_of(object(
                        &[
                            ("id", json!({"type": "string"})),
                            ("title", json!({"type": "string"})),
                            ("parentId", schema::nullable_string()),
                            ("depth", json!({"type": "integer", "description": "1 for the top-level pages (or rootPageId's children)"})),
                        ],
                        &["id", "title", "depth"],
                    ))),
                    ("truncated", json!({"type": "boolean", "description": "Whether maxPages or the request bound stopped the listing"})),
                    ("maxDepth", json!({"type": "integer"})),
                    ("maxPages", json!({"type": "integer"})),
                    ("requests", json!({"type": "integer", "description": "Upstream requests made (at most 50)"})),
                ],
                &["pages", "truncated", "maxDepth", "maxPages", "requests"],
            ),
            handler!(page_tree),
        ),
    ]
}

/// GETs `path_and_query` under a byte cap; an answer past it is refused naming the cap.
async fn get_capped(
    ctx: &ToolContext<'_>,
    site: &Site,
    path_and_query: &str,
    max: usize,
) -> Result<UpstreamReply, ToolFailure> {
    ctx.upstream
        .text_json(
            &site.ep,
            path_and_query,
            BodyCap {
                max_bytes: max,
                keep: Keep::Head,
            },
        )
        .await?
        .ok_or_else(|| {
            ToolFailure::new(format!(
                "the answer of Confluence at {} is larger than {max} bytes, so it was not read; ask for fewer results (a smaller limit) or a larger maxBytes where the tool has one",
                site.ep.host
            ))
        })
}

/// One page of a list on either deployment: `path` with the tool's `limit` and `cursor` (Cloud) or
/// `start` offset (Server/Data Center) plus `extra` query pairs; returns the body and next cursor.
async fn list_page(
    ctx: &ToolContext<'_>,
    site: &Site,
    args: &Args,
    path: &str,
    extra: &[(&str, Option<String>)],
    max: usize,
) -> Result<(Value, Value), ToolFailure> {
    let limit = Some(args.opt_u64("limit").unwrap_or(25).to_string());
    if site.server() {
        let start = offset_cursor(args)?;
        let mut pairs = vec![("start", Some(start.to_string())), ("limit", limit)];
        pairs.extend(extra.iter().cloned());
        let reply = get_capped(ctx, site, &format!("{path}{}", query(&pairs)), max).await?;
        let next = next_offset(&reply.body, start);
        Ok((reply.body, next))
    } else {
        let mut pairs = vec![
            ("limit", limit),
            ("cursor", args.opt_str("cursor").map(str::to_owned)),
        ];
        pairs.extend(extra.iter().cloned());
        let reply = get_capped(ctx, site, &format!("{path}{}", query(&pairs)), max).await?;
        let next = next_cursor(&reply);
        Ok((reply.body, next))
    }
}

fn mapped(body: &Value, item: impl Fn(&Value) -> Value) -> Vec<Value> {
    body["results"]
        .as_array()
        .map(|l| l.iter().map(item).collect())
        .unwrap_or_default()
}

fn body_cap(args: &Args) -> usize {
    args.opt_u64("maxBytes")
        .unwrap_or(BODY_DEFAULT_BYTES)
        .min(BODY_MAX_BYTES) as usize
}

/// A comment: Cloud v2 (`PageCommentModel`/`FooterCommentModel`, author as an account id) or a
/// Server/Data Center `Content` of type comment (`version.by.displayName`).
fn comment(site: &Site, c: &Value) -> Value {
    let author = if site.server() {
        c["version"]["by"]["displayName"]
            .as_str()
            .or(c["version"]["by"]["username"].as_str())
    } else {
        c["version"]["authorId"].as_str()
    };
    let created = if site.server() {
        c["version"]["when"].as_str()
    } else {
        c["version"]["createdAt"].as_str()
    };
    json!({
        "id": id_text(&c["id"]),
        "author": opt(author),
        "createdAt": opt(created),
        "version": c["version"]["number"].as_u64(),
        "body": opt(c["body"]["storage"]["value"].as_str().map(super::storage::to_markdown).as_deref()),
    })
}

fn page_path(site: &Site, args: &Args, tail: &str) -> Result<String, ToolFailure> {
    let id = encode(&args.id("pageId")?);
    Ok(if site.server() {
        format!("/rest/api/content/{id}{tail}")
    } else {
        format!("/wiki/api/v2/pages/{id}{tail}")
    })
}

async fn list_comments(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let max = body_cap(&args);
    let (path, extra) = if site.server() {
        (
            page_path(&site, &args, "/child/comment")?,
            ("expand", Some("body.storage,version".to_owned())),
        )
    } else {
        (
            page_path(&site, &args, "/footer-comments")?,
            ("body-format", Some("storage".to_owned())),
        )
    };
    let (body, next) = list_page(ctx, &site, &args, &path, &[extra], max).await?;
    let comments = mapped(&body, |c| comment(&site, c));
    Ok(json!({"comments": comments, "nextCursor": next, "maxBytes": max}))
}

async fn add_comment(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let page = args.id("pageId")?;
    let value = storage_body(&args)?;
    let parent = match args.0.get("inReplyTo") {
        Some(_) => Some(args.id("inReplyTo")?),
        None => None,
    };
    let reply = if site.server() {
        // Confluence Server/Data Center REST, *content* POST: a comment is content of type
        // `comment` whose `container` is the page; a reply names its parent comment in `ancestors`.
        let mut body = json!({
            "type": "comment",
            "container": {"id": page, "type": "page"},
            "body": {"storage": {"value": value, "representation": "storage"}},
        });
        if let Some(p) = parent {
            body["ancestors"] = json!([{"id": p}]);
        }
        ctx.upstream
            .json(&site.ep, Method::POST, "/rest/api/content", Some(&body))
            .await?
    } else {
        // v2 `CreateFooterCommentModel`: exactly one container, the page or (a reply) the comment.
        let mut body = json!({"body": {"representation": "storage", "value": value}});
        match parent {
            Some(p) => body["parentCommentId"] = json!(p),
            None => body["pageId"] = json!(page),
        }
        ctx.upstream
            .json(
                &site.ep,
                Method::POST,
                "/wiki/api/v2/footer-comments",
                Some(&body),
            )
            .await?
    };
    let mut out = comment(&site, &reply.body);
    if out["body"].is_null() {
        out["body"] = json!(super::storage::to_markdown(&value));
    }
    Ok(out)
}

fn label(l: &Value) -> Value {
    json!({
        "id": id_text(&l["id"]),
        "name": l["name"].as_str().or(l["label"].as_str()).unwrap_or_default(),
        "prefix": opt(l["prefix"].as_str()),
    })
}

async fn list_labels(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let tail = if site.server() { "/label" } else { "/labels" };
    let path = page_path(&site, &args, tail)?;
    let (body, next) = list_page(ctx, &site, &args, &path, &[], LIST_MAX_BYTES).await?;
    Ok(json!({"labels": mapped(&body, label), "nextCursor": next}))
}

async fn add_labels(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let id = encode(&args.id("pageId")?);
    // The same v1 operation on both deployments (`LabelCreate` array; v2 cannot add labels).
    let path = if site.server() {
        format!("/rest/api/content/{id}/label")
    } else {
        format!("/wiki/rest/api/content/{id}/label")
    };
    let body: Vec<Value> = args
        .str_list("labels")
        .into_iter()
        .map(|name| json!({"prefix": "global", "name": name}))
        .collect();
    let reply = ctx
        .upstream
        .json(&site.ep, Method::POST, &path, Some(&json!(body)))
        .await?;
    Ok(json!({"labels": mapped(&reply.body, label)}))
}

fn attachment(site: &Site, a: &Value) -> Value {
    let base = &site.ep.base;
    if site.server() {
        json!({
            "id": id_text(&a["id"]),
            "title": a["title"].as_str().unwrap_or_default(),
            "mediaType": opt(a["extensions"]["mediaType"].as_str().or(a["metadata"]["mediaType"].as_str())),
            "fileSize": a["extensions"]["fileSize"].as_u64(),
            "comment": opt(a["extensions"]["comment"].as_str().or(a["metadata"]["comment"].as_str())),
            "version": a["version"]["number"].as_u64(),
            "createdAt": opt(a["version"]["when"].as_str()),
            "downloadUrl": opt(a["_links"]["download"].as_str().map(|d| format!("{base}{d}")).as_deref()),
        })
    } else {
        let download = a["downloadLink"]
            .as_str()
            .or(a["_links"]["download"].as_str());
        json!({
            "id": id_text(&a["id"]),
            "title": a["title"].as_str().unwrap_or_default(),
            "mediaType": opt(a["mediaType"].as_str()),
            "fileSize": a["fileSize"].as_u64(),
            "comment": opt(a["comment"].as_str()),
            "version": a["version"]["number"].as_u64(),
            "createdAt": opt(a["createdAt"].as_str()),
            "downloadUrl": opt(download.map(|d| format!("{base}/wiki{d}")).as_deref()),
        })
    }
}

async fn list_attachments(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let mut extra = vec![
        ("filename", args.opt_str("filename").map(str::to_owned)),
        ("mediaType", args.opt_str("mediaType").map(str::to_owned)),
    ];
    let tail = if site.server() {
        extra.push(("expand", Some("version".to_owned())));
        "/child/attachment"
    } else {
        "/attachments"
    };
    let path = page_path(&site, &args, tail)?;
    let (body, next) = list_page(ctx, &site, &args, &path, &extra, LIST_MAX_BYTES).await?;
    let items = mapped(&body, |a| attachment(&site, a));
    Ok(json!({"attachments": items, "nextCursor": next}))
}

fn version(site: &Site, v: &Value) -> Value {
    let (author, created) = if site.server() {
        (
            v["by"]["displayName"]
                .as_str()
                .or(v["by"]["username"].as_str()),
            v["when"].as_str(),
        )
    } else {
        (v["authorId"].as_str(), v["createdAt"].as_str())
    };
    json!({
        "number": v["number"].as_u64().unwrap_or_default(),
        "author": opt(author),
        "createdAt": opt(created),
        "message": opt(v["message"].as_str().filter(|m| !m.is_empty())),
        "minorEdit": v["minorEdit"].as_bool(),
    })
}

async fn list_versions(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let (path, extra) = if site.server() {
        let id = encode(&args.id("pageId")?);
        (format!("/rest/experimental/content/{id}/version"), None)
    } else {
        (
            page_path(&site, &args, "/versions")?,
            Some("-modified-date".to_owned()),
        )
    };
    let (body, next) =
        list_page(ctx, &site, &args, &path, &[("sort", extra)], LIST_MAX_BYTES).await?;
    let versions = mapped(&body, |v| version(&site, v));
    Ok(json!({"versions": versions, "nextCursor": next}))
}

async fn page_by_title(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let space = args.id("spaceId")?;
    let title = args.str("title")?;
    let max = body_cap(&args);
    let path = if site.server() {
        let key = space_key(ctx.upstream, &site, &space).await?;
        format!(
            "/rest/api/content{}",
            query(&[
                ("type", Some("page".to_owned())),
                ("spaceKey", Some(key)),
                ("title", Some(title.to_owned())),
                (
                    "expand",
                    Some("body.storage,version,space,ancestors".to_owned())
                ),
                ("limit", Some("1".to_owned())),
            ])
        )
    } else {
        format!(
            "/wiki/api/v2/pages{}",
            query(&[
                ("space-id", Some(space.clone())),
                ("title", Some(title.to_owned())),
                ("body-format", Some("storage".to_owned())),
                ("limit", Some("1".to_owned())),
            ])
        )
    };
    let reply = get_capped(ctx, &site, &path, max).await?;
    match reply.body["results"].as_array().and_then(|r| r.first()) {
        Some(page) => Ok(summarize_page(&site, page)),
        None => Err(ToolFailure::new(format!(
            "Confluence at {} has no page titled '{}' in space {space} visible to these credentials (titles match exactly; try confluence_search)",
            site.ep.host,
            title.chars().take(200).collect::<String>()
        ))),
    }
}

async fn move_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let id = args.id("pageId")?;
    let target = args.id("targetId")?;
    let position = args.str("position")?;
    let prefix = if site.server() { "" } else { "/wiki" };
    let path = format!(
        "{prefix}/rest/api/content/{}/move/{position}/{}",
        encode(&id),
        encode(&target)
    );
    ctx.upstream
        .json(&site.ep, Method::PUT, &path, None)
        .await?;
    Ok(json!({"pageId": id, "position": position, "targetId": target, "moved": true}))
}

async fn delete_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let id = args.id("pageId")?;
    let path = page_path(&site, &args, "")?;
    ctx.upstream
        .json(&site.ep, Method::DELETE, &path, None)
        .await?;
    Ok(json!({"pageId": id, "deleted": true}))
}

/// The bounds of one page-tree walk and what it has used of them.
struct Walk {
    max_pages: u64,
    requests: u64,
    truncated: bool,
    pages: Vec<Value>,
}

impl Walk {
    /// Lists every child of `path` (following pages) as nodes at `depth`, within the bounds;
    /// returns their ids.
    async fn level(
        &mut self,
        ctx: &ToolContext<'_>,
        site: &Site,
        (path, extra): (&str, &[(&str, Option<String>)]),
        parent: Option<&str>,
        depth: u64,
    ) -> Result<Vec<String>, ToolFailure> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let room = self.max_pages - self.pages.len() as u64;
            if room == 0 || self.requests >= TREE_MAX_REQUESTS {
                self.truncated = true;
                return Ok(ids);
            }
            let mut args = serde_json::Map::new();
            args.insert(
                "limit".into(),
                json!(room.min(if site.server() { 100 } else { 250 })),
            );
            if let Some(c) = &cursor {
                args.insert("cursor".into(), json!(c));
            }
            self.requests += 1;
            let (body, next) =
                list_page(ctx, site, &Args(args), path, extra, LIST_MAX_BYTES).await?;
            for p in body["results"].as_array().into_iter().flatten() {
                let id = id_text(&p["id"]);
                let Some(id_str) = id.as_str() else { continue };
                if self.pages.len() as u64 >= self.max_pages {
                    self.truncated = true;
                    return Ok(ids);
                }
                ids.push(id_str.to_owned());
                self.pages.push(json!({
                    "id": id_str,
                    "title": p["title"].as_str().unwrap_or_default(),
                    "parentId": opt(parent),
                    "depth": depth,
                }));
            }
            match next.as_str() {
                Some(n) => cursor = Some(n.to_owned()),
                None => return Ok(ids),
            }
        }
    }
}

async fn page_tree(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let site = Site::of(ctx.upstream).await?;
    let space = args.id("spaceId")?;
    let max_depth = args
        .opt_u64("maxDepth")
        .unwrap_or(TREE_DEFAULT_DEPTH)
        .min(TREE_MAX_DEPTH);
    let max_pages = args
        .opt_u64("maxPages")
        .unwrap_or(TREE_DEFAULT_PAGES)
        .min(TREE_MAX_PAGES);
    let mut walk = Walk {
        max_pages,
        requests: 0,
        truncated: false,
        pages: Vec::new(),
    };
    let children_path = |id: &str| {
        if site.server() {
            format!("/rest/api/content/{}/child/page", encode(id))
        } else {
            format!("/wiki/api/v2/pages/{}/children", encode(id))
        }
    };
    let root = match args.0.get("rootPageId") {
        Some(_) => Some(args.id("rootPageId")?),
        None => None,
    };
    // Breadth first: the ids of the last level listed.
    let mut frontier = match &root {
        Some(r) => {
            walk.level(ctx, &site, (&children_path(r), &[]), Some(r), 1)
                .await?
        }
        None if site.server() => {
            let key = space_key(ctx.upstream, &site, &space).await?;
            let path = format!("/rest/api/space/{}/content/page", encode(&key));
            walk.level(
                ctx,
                &site,
                (&path, &[("depth", Some("root".to_owned()))]),
                None,
                1,
            )
            .await?
        }
        None => {
            let path = format!("/wiki/api/v2/spaces/{}/pages", encode(&space));
            walk.level(
                ctx,
                &site,
                (&path, &[("depth", Some("root".to_owned()))]),
                None,
                1,
            )
            .await?
        }
    };
    let mut depth = 1;
    while depth < max_depth && !walk.truncated && !frontier.is_empty() {
        let mut next_level = Vec::new();
        for id in std::mem::take(&mut frontier) {
            if walk.truncated {
                break;
            }
            let kids = walk
                .level(ctx, &site, (&children_path(&id), &[]), Some(&id), depth + 1)
                .await?;
            next_level.extend(kids);
        }
        frontier = next_level;
        depth += 1;
    }
    Ok(json!({
        "pages": walk.pages,
        "truncated": walk.truncated,
        "maxDepth": max_depth,
        "maxPages": max_pages,
        "requests": walk.requests,
    }))
}
