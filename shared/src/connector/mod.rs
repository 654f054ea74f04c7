//! Connectors: the Jira, Confluence and GitLab tools, the cross-service tools, and their resources;
//! and [`remote_bridge`], the tools of a remote `mcp-edge` stdio bridge (listed and called through its
//! REST API, so the serverless targets can offer stdio MCP servers).
//!
//! Every tool declares `inputSchema`, `outputSchema` and annotations; it is offered only to requests
//! that carry credentials for the services it needs. Upstream failures become tool results with
//! `isError: true` (see [`crate::upstream::UpstreamFailure`]); protocol errors stay protocol errors.

pub mod adf;
pub mod analyze;
pub mod confluence;
pub mod confluence_details;
pub mod cross;
pub mod gitlab;
pub mod gitlab_ci;
pub mod gitlab_mr;
pub mod gitlab_project;
pub mod gitlab_repo;
pub mod gitlab_wiki;
pub mod jira;
pub mod jira_agile;
pub mod jira_details;
pub mod markdown;
pub mod remote_bridge;
pub mod resources;
pub mod storage;
pub mod toolset;
pub mod wiki;

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::credential::{Credentials, Service};
use crate::port::BoxFuture;
use crate::tool::{Registry, Tool, ToolAnnotations, ToolContext, ToolDef, ToolFailure, ToolOutput};

/// A connector tool handler: validated arguments in, structured output out.
pub(crate) type Handler =
    for<'a> fn(&'a ToolContext<'a>, Args) -> BoxFuture<'a, Result<Value, ToolFailure>>;

/// Wraps an `async fn(&ToolContext<'_>, Args) -> Result<Value, ToolFailure>` as a [`Handler`].
macro_rules! handler {
    ($f:path) => {{
        fn boxed<'a>(
            ctx: &'a $crate::tool::ToolContext<'a>,
            args: $crate::connector::Args,
        ) -> $crate::port::BoxFuture<'a, Result<serde_json::Value, $crate::tool::ToolFailure>>
        {
            Box::pin($f(ctx, args))
        }
        boxed as $crate::connector::Handler
    }};
}
pub(crate) use handler;

/// A connector tool handler that may answer `input_required` (2026-07-28) instead of a result.
pub(crate) type OutputHandler =
    for<'a> fn(&'a ToolContext<'a>, Args) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>>;

/// Wraps an `async fn(&ToolContext<'_>, Args) -> Result<ToolOutput, ToolFailure>` as an
/// [`OutputHandler`].
macro_rules! output_handler {
    ($f:path) => {{
        fn boxed<'a>(
            ctx: &'a $crate::tool::ToolContext<'a>,
            args: $crate::connector::Args,
        ) -> $crate::port::BoxFuture<'a, Result<$crate::tool::ToolOutput, $crate::tool::ToolFailure>>
        {
            Box::pin($f(ctx, args))
        }
        boxed as $crate::connector::OutputHandler
    }};
}
pub(crate) use output_handler;

/// How a connector tool runs: most return structured output only.
#[derive(Clone, Copy)]
pub(crate) enum Run {
    /// Structured output.
    Value(Handler),
    /// Any [`ToolOutput`], including `input_required`.
    Output(OutputHandler),
}

impl From<Handler> for Run {
    fn from(h: Handler) -> Self {
        Run::Value(h)
    }
}

impl From<OutputHandler> for Run {
    fn from(h: OutputHandler) -> Self {
        Run::Output(h)
    }
}

/// Which connectors to register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorSet {
    /// Jira tools.
    pub jira: bool,
    /// Confluence tools.
    pub confluence: bool,
    /// GitLab tools.
    pub gitlab: bool,
    /// Interval between two looks of `gitlab_wait_for_pipeline` (ms, `MCP_EDGE_GITLAB_PIPELINE_POLL`).
    pub pipeline_poll_ms: u64,
}

impl Default for ConnectorSet {
    fn default() -> Self {
        ConnectorSet {
            jira: true,
            confluence: true,
            gitlab: true,
            pipeline_poll_ms: gitlab_ci::DEFAULT_POLL_MS,
        }
    }
}

/// Registers the enabled connectors' tools, cross-service tools and resource templates.
pub fn register(registry: &mut Registry, set: ConnectorSet) {
    let mut tools = Vec::new();
    if set.jira {
        tools.extend(jira::tools());
        tools.extend(jira_details::tools());
        tools.extend(jira_agile::tools());
    }
    if set.confluence {
        tools.extend(confluence::tools());
        tools.extend(confluence_details::tools());
    }
    if set.gitlab {
        tools.extend(gitlab::tools());
        tools.extend(gitlab_mr::tools());
        tools.extend(gitlab_repo::tools());
        tools.extend(gitlab_project::tools());
        tools.extend(gitlab_ci::tools());
        tools.extend(gitlab_wiki::tools());
    }
    if set.jira && set.gitlab {
        tools.extend(cross::tools());
        tools.extend(analyze::tools());
        registry.add_prompt(Arc::new(analyze::AnalyzePrompt::new()));
    }
    for t in tools {
        registry.add_tool(Arc::new(t));
    }
    if set.gitlab {
        registry.add_tool(Arc::new(gitlab_ci::PipelineWait::new(set.pipeline_poll_ms)));
    }
    registry.add_resources(Arc::new(resources::ConnectorResources { set }));
}

/// The README's tool list: one table per toolset (every connector tool with its title and four
/// annotations), each toolset marked whether it is in the default set. Rendered from the registry of
/// every connector, so it cannot drift (checked by a test; see `readme_tool_list_is_rendered_from_the_registry`).
pub fn toolsets_markdown() -> String {
    let mut registry = Registry::new();
    register(&mut registry, ConnectorSet::default());
    let yes_no = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" };
    let mut out = String::new();
    for set in toolset::Toolset::ALL {
        let tools: Vec<_> = registry
            .tools()
            .iter()
            .filter(|t| t.toolset() == Some(set))
            .collect();
        let default = if toolset::Toolsets::DEFAULT.contains(set) {
            "in the default set"
        } else {
            "not in the default set"
        };
        let _ = writeln!(
            out,
            "**`{}`** ({} tools, {default})\n",
            set.name(),
            tools.len()
        );
        if tools.is_empty() {
            out.push_str("(no tools yet)\n\n");
            continue;
        }
        out.push_str(
            "| tool | title | read-only | destructive | idempotent | open world |\n|---|---|---|---|---|---|\n",
        );
        for t in tools {
            let d = t.def();
            let a = &d.annotations;
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                d.name,
                d.title.as_deref().unwrap_or("").replace('|', "\\|"),
                yes_no(a.read_only_hint),
                yes_no(a.destructive_hint),
                yes_no(a.idempotent_hint),
                yes_no(a.open_world_hint),
            );
        }
        out.push('\n');
    }
    out
}

/// A tool backed by one or more upstream services.
pub struct ConnectorTool {
    def: ToolDef,
    needs: &'static [Service],
    handler: Run,
    /// Looked up once in [`toolset::TABLE`], so listing checks a bit instead of the table.
    toolset: Option<toolset::Toolset>,
}

impl ConnectorTool {
    /// Describes a tool; `input` and `output` are JSON Schemas of objects. (Positional on purpose:
    /// every tool definition reads as the same eight lines.)
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: &str,
        title: &str,
        description: &str,
        needs: &'static [Service],
        annotations: ToolAnnotations,
        input: Value,
        output: Value,
        handler: impl Into<Run>,
    ) -> Self {
        ConnectorTool {
            def: ToolDef {
                name: name.to_owned(),
                title: Some(title.to_owned()),
                description: description.to_owned(),
                input_schema: input,
                output_schema: Some(output),
                annotations: ToolAnnotations {
                    title: Some(title.to_owned()),
                    ..annotations
                },
            },
            needs,
            handler: handler.into(),
            toolset: toolset::of(name),
        }
    }
}

impl Tool for ConnectorTool {
    fn def(&self) -> &ToolDef {
        &self.def
    }

    fn toolset(&self) -> Option<toolset::Toolset> {
        self.toolset
    }

    fn available(&self, credentials: &Credentials) -> bool {
        // A refused header URL keeps the tool listed, so calling it explains the refusal.
        self.needs
            .iter()
            .all(|s| credentials.service(*s).is_some() || credentials.url_refused(*s))
    }

    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        match self.handler {
            Run::Value(h) => {
                let run = h(ctx, Args(args));
                Box::pin(async move { run.await.map(ToolOutput::Structured) })
            }
            Run::Output(h) => h(ctx, Args(args)),
        }
    }
}

/// Tool arguments that already passed `inputSchema` validation.
pub struct Args(pub Map<String, Value>);

impl Args {
    /// A required string argument.
    pub fn str(&self, key: &str) -> Result<&str, ToolFailure> {
        self.opt_str(key)
            .ok_or_else(|| ToolFailure::new(format!("missing required argument '{key}'")))
    }

    /// An optional, non-empty string argument.
    pub fn opt_str(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// An optional integer argument.
    pub fn opt_u64(&self, key: &str) -> Option<u64> {
        self.0.get(key).and_then(Value::as_u64)
    }

    /// An optional boolean argument.
    pub fn opt_bool(&self, key: &str) -> Option<bool> {
        self.0.get(key).and_then(Value::as_bool)
    }

    /// A string or number argument as text (ids accept both).
    pub fn id(&self, key: &str) -> Result<String, ToolFailure> {
        match self.0.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(ToolFailure::new(format!(
                "missing required argument '{key}'"
            ))),
        }
    }

    /// An optional list of strings (also accepts one comma-separated string).
    pub fn str_list(&self, key: &str) -> Vec<String> {
        match self.0.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            Some(Value::String(s)) => s
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Schema helpers, so every tool spells its schemas the same way.
pub(crate) mod schema {
    use serde_json::{json, Map, Value};

    /// An object schema with these properties and required names.
    pub fn object(props: &[(&str, Value)], required: &[&str]) -> Value {
        let mut p = Map::new();
        for (k, v) in props {
            p.insert((*k).to_owned(), v.clone());
        }
        json!({"type": "object", "properties": p, "required": required})
    }

    /// An object schema that forbids unknown properties (tool inputs).
    pub fn input(props: &[(&str, Value)], required: &[&str]) -> Value {
        let mut v = object(props, required);
        v["additionalProperties"] = json!(false);
        v
    }

    /// A described string.
    pub fn string(description: &str) -> Value {
        json!({"type": "string", "description": description})
    }

    /// A described string that must not be empty.
    pub fn text(description: &str) -> Value {
        json!({"type": "string", "minLength": 1, "description": description})
    }

    /// A string or null.
    pub fn nullable_string() -> Value {
        json!({"type": ["string", "null"]})
    }

    /// An integer within bounds.
    pub fn int(description: &str, min: u64, max: u64) -> Value {
        json!({"type": "integer", "minimum": min, "maximum": max, "description": description})
    }

    /// An array of strings.
    pub fn strings(description: &str) -> Value {
        json!({"type": "array", "items": {"type": "string"}, "description": description})
    }

    /// An array of objects with the given item schema.
    pub fn array_of(item: Value) -> Value {
        json!({"type": "array", "items": item})
    }

    /// A string or integer id.
    pub fn id(description: &str) -> Value {
        json!({"type": ["string", "integer"], "description": description})
    }
}

/// Percent-encodes one path segment or query value (everything but unreserved characters).
pub fn encode(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// Builds `?k=v&…` from pairs, skipping `None` values.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// The value of query parameter `name` in a URL or path-and-query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `Value::String` or `Null`.
pub(crate) fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| json!(s))
}

#[cfg(test)]
mod tests;
