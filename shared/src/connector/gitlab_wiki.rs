//! GitLab project wiki tools: list, read (size-capped), create and update pages.

use http::Method;
use serde_json::{json, Value};

use super::gitlab::{project_id_schema, project_ref, GITLAB};
use super::schema::{self, object};
use super::{encode, handler, opt, Args, ConnectorTool};
use crate::credential::Service;
use crate::port::{BodyCap, Keep};
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};

/// Default and largest wiki page body read, in bytes of its JSON answer.
const WIKI_DEFAULT_BYTES: u64 = 512 * 1024;
const WIKI_MAX_BYTES: u64 = 4 * 1024 * 1024;

fn format_arg() -> (&'static str, Value) {
    (
        "format",
        json!({"type": "string", "enum": ["markdown", "rdoc", "asciidoc", "org"], "description": "Markup of the content (default markdown)"}),
    )
}

fn slug_arg() -> (&'static str, Value) {
    (
        "slug",
        schema::text(
            "Page slug (path), e.g. home or docs/setup, as listed by gitlab_list_wiki_pages",
        ),
    )
}

fn page_schema(with_content: bool) -> Value {
    let mut props = vec![
        ("slug", json!({"type": "string"})),
        ("title", json!({"type": "string"})),
        ("format", schema::nullable_string()),
    ];
    if with_content {
        props.push(("content", json!({"type": "string"})));
        props.push(("encoding", schema::nullable_string()));
    }
    object(&props, &["slug", "title"])
}

/// The wiki tools.
pub fn tools() -> Vec<ConnectorTool> {
    let pid = ("projectId", project_id_schema());
    vec![
        ConnectorTool::new(
            "gitlab_list_wiki_pages",
            "List wiki pages",
            "List the pages of a GitLab project's wiki (titles and slugs, without content).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(std::slice::from_ref(&pid), &["projectId"]),
            object(&[("pages", schema::array_of(page_schema(false)))], &["pages"]),
            handler!(list_pages),
        ),
        ConnectorTool::new(
            "gitlab_get_wiki_page",
            "Get a wiki page",
            "Read one wiki page with its content; pages larger than maxBytes are refused, not cut.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    slug_arg(),
                    ("maxBytes", schema::int("Largest page answer accepted, in bytes (default 524288, at most 4194304)", 1024, WIKI_MAX_BYTES)),
                ],
                &["projectId", "slug"],
            ),
            page_schema(true),
            handler!(get_page),
        ),
        ConnectorTool::new(
            "gitlab_create_wiki_page",
            "Create a wiki page",
            "Create a page in a GitLab project's wiki.",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(
                &[pid.clone(), ("title", schema::text("Page title (may contain / for a subdirectory)")), ("content", schema::text("Page content")), format_arg()],
                &["projectId", "title", "content"],
            ),
            page_schema(true),
            handler!(create_page),
        ),
        ConnectorTool::new(
            "gitlab_update_wiki_page",
            "Update a wiki page",
            "Replace the content (and optionally the title) of a wiki page.",
            GITLAB,
            ToolAnnotations::destructive(true),
            schema::input(
                &[pid, slug_arg(), ("content", schema::text("New page content")), ("title", schema::string("New title")), format_arg()],
                &["projectId", "slug", "content"],
            ),
            page_schema(true),
            handler!(update_page),
        ),
    ]
}

fn page(p: &Value) -> Value {
    let mut out = json!({
        "slug": p["slug"].as_str().unwrap_or_default(),
        "title": p["title"].as_str().unwrap_or_default(),
        "format": opt(p["format"].as_str()),
    });
    if let Some(c) = p["content"].as_str() {
        out["content"] = json!(c);
        out["encoding"] = opt(p["encoding"].as_str());
    }
    out
}

fn wikis(args: &Args) -> Result<String, ToolFailure> {
    Ok(format!(
        "/projects/{}/wikis",
        project_ref(&args.id("projectId")?)
    ))
}

async fn list_pages(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let reply = ctx
        .upstream
        .json(&ep, Method::GET, &wikis(&args)?, None)
        .await?;
    let pages: Vec<Value> = reply
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(page)
        .collect();
    Ok(json!({"pages": pages}))
}

async fn get_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let max = args
        .opt_u64("maxBytes")
        .unwrap_or(WIKI_DEFAULT_BYTES)
        .min(WIKI_MAX_BYTES) as usize;
    let path = format!("{}/{}", wikis(&args)?, encode(args.str("slug")?));
    let reply = ctx
        .upstream
        .text_json(&ep, &path, BodyCap { max_bytes: max, keep: Keep::Head })
        .await?
        .ok_or_else(|| {
            ToolFailure::new(format!(
                "the wiki page at GitLab {} is larger than maxBytes ({max} bytes); ask again with a larger maxBytes (at most {WIKI_MAX_BYTES})",
                ep.host
            ))
        })?;
    Ok(page(&reply.body))
}

async fn create_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let body = json!({
        "title": args.str("title")?,
        "content": args.str("content")?,
        "format": args.opt_str("format").unwrap_or("markdown"),
    });
    let reply = ctx
        .upstream
        .json(&ep, Method::POST, &wikis(&args)?, Some(&body))
        .await?;
    Ok(page(&reply.body))
}

async fn update_page(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let mut body = json!({"content": args.str("content")?});
    for k in ["title", "format"] {
        if let Some(v) = args.opt_str(k) {
            body[k] = json!(v);
        }
    }
    let path = format!("{}/{}", wikis(&args)?, encode(args.str("slug")?));
    let reply = ctx
        .upstream
        .json(&ep, Method::PUT, &path, Some(&body))
        .await?;
    Ok(page(&reply.body))
}
