//! Method dispatch: one JSON-RPC request in, one result or error out.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::{McpApp, RequestFacts};

use futures_util::future::{select, Either};

use crate::audit::AuditRecord;
use crate::error::McpError;
use crate::mrtr;
use crate::notify::{LogLevel, Notifier};
use crate::protocol::{
    self, HANDSHAKE_VERSIONS, META_CLIENT_CAPABILITIES, META_SERVER_INFO, MODERN_VERSIONS,
};
use crate::sampling::ClientRequestError;
use crate::tool::{
    InputRound, PromptOutput, ResourceError, Tool, ToolContext, ToolFailure, ToolOutput,
};
use crate::upstream::Upstream;

/// A 2026-07-28 request's declared client capabilities and its verified `input_required` retry.
type InputOf<'p> = (Option<&'p Map<String, Value>>, Option<InputRound>);

/// The input-request key of the gateway's confirmation before a destructive tool runs.
const CONFIRM_KEY: &str = "mcp_edge_confirm";

/// What the client answered to the confirmation of a destructive tool call.
enum Confirmation {
    /// No answer yet.
    NotAsked,
    /// Accepted with `confirm: true`.
    Given,
    /// Declined, cancelled, or accepted without confirming (the action or `unconfirmed`).
    Refused(String),
    /// Asked on a 2025 session's stream, but no usable answer came (timeout, a client error, an
    /// answer that does not fit the form): the tool does not run.
    Unanswered(String),
}

/// The confirmation form asked before a destructive tool runs: its message and schema.
fn confirm_form(name: &str, description: &str) -> (String, Value) {
    (
        format!("Run {name}? It may change or delete data ({description})."),
        json!({"type": "object", "properties": {"confirm": {"type": "boolean", "title": "Run it"}}, "required": ["confirm"]}),
    )
}

impl Confirmation {
    /// The confirmation an answer to the form of [`confirm_form`] gives.
    fn of(
        answer: Result<crate::elicitation::Elicited, crate::sampling::ClientRequestError>,
    ) -> Self {
        use crate::elicitation::Elicited;
        match answer {
            Ok(Elicited::Accepted(c)) if c.get("confirm") == Some(&Value::Bool(true)) => {
                Confirmation::Given
            }
            Ok(Elicited::Accepted(_)) => Confirmation::Refused("unconfirmed".into()),
            Ok(other) => Confirmation::Refused(other.action().into()),
            Err(e) => Confirmation::Unanswered(e.to_string()),
        }
    }
}

fn confirmation(input: Option<&InputRound>) -> Confirmation {
    let Some(answer) = input.and_then(|i| i.response(CONFIRM_KEY)) else {
        return Confirmation::NotAsked;
    };
    let (_, schema) = confirm_form("", "");
    match Confirmation::of(crate::elicitation::read(
        &Value::Object(answer.clone()),
        &schema,
    )) {
        Confirmation::Unanswered(why) => Confirmation::Refused(why),
        c => c,
    }
}

/// The result of a destructive call the confirmation stopped.
fn not_run(name: &str, confirmation: Confirmation) -> Value {
    let why = match confirmation {
        Confirmation::Unanswered(why) => format!("the confirmation got no usable answer: {why}"),
        Confirmation::Refused(action) => {
            format!("the user answered '{action}' to the confirmation")
        }
        Confirmation::NotAsked | Confirmation::Given => "it was not confirmed".into(),
    };
    json!({"content": [{"type": "text", "text": format!("{name} was not run: {why}")}], "isError": true})
}

/// The request-wide context of one dispatched call.
pub(crate) struct Call<'a> {
    /// Protocol version in force.
    pub version: &'a str,
    /// Whether this is a 2026-07-28 stateless request (results carry `resultType`).
    pub modern: bool,
    /// Credentials, fingerprint and time.
    pub facts: &'a RequestFacts,
    /// Session id, when the call runs in a session (for the audit trail).
    pub session: Option<&'a str>,
    /// The capabilities the session's client declared (Streamable HTTP sessions), so a tool can
    /// ask the client for sampling.
    pub client_capabilities: Option<&'a Value>,
    /// The request's headers, where its work may outlive it (a 2026-07-28 request starting or
    /// resuming a task rebuilds its facts from them when it runs).
    pub headers: Option<&'a http::HeaderMap>,
    /// The session's `logging/setLevel` (2025 Streamable HTTP sessions; `None`: never set).
    pub log_level: Option<&'a str>,
}

/// What a dispatched request produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The result or error.
    pub result: Result<Value, McpError>,
    /// A `logging/setLevel` to remember in the session.
    pub set_log_level: Option<String>,
    /// A `resources/subscribe` (with the resource's content fingerprint now) or
    /// `resources/unsubscribe` (`None`) of a URI to remember in the session.
    pub subscription: Option<(String, Option<u64>)>,
    /// The tool asked for deferred delivery (SSE polling).
    pub deferred: bool,
    /// Pre-serialized entries that belong in the `result` object (`tools/list`); use
    /// [`Outcome::encode`] or [`Outcome::into_result`], which put them in.
    pub splice: Option<protocol::Splice>,
    /// Task work to run after the reply (Tasks extension; see [`crate::task::TaskJob`]).
    pub task: Option<crate::task::TaskJob>,
}

impl Outcome {
    pub(crate) fn of(result: Result<Value, McpError>) -> Self {
        Outcome {
            result,
            set_log_level: None,
            subscription: None,
            deferred: false,
            splice: None,
            task: None,
        }
    }

    /// The reply message to request `id`, serialized once.
    pub(crate) fn encode(self, id: &Value) -> Box<RawValue> {
        match self.result {
            Ok(result) => protocol::encode_success(id, result, self.splice.as_ref()),
            Err(e) => protocol::encode(&protocol::failure(id, &e.to_jsonrpc())),
        }
    }

    /// The result as one JSON tree, spliced entries included (for callers that edit it).
    pub(crate) fn into_result(self) -> Result<Value, McpError> {
        let splice = self.splice;
        self.result.map(|r| protocol::merge_splice(r, splice))
    }
}

/// A finished tool's output as a `CallToolResult` for a client at `version` (the one mapping, for
/// synchronous calls and tasks alike).
pub(crate) fn tool_result(output: ToolOutput, version: &str) -> Value {
    match output {
        ToolOutput::Text(text) => {
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        // structuredContent exists from 2025-06-18 on; older clients get the JSON text only.
        ToolOutput::Structured(value) if supports_structured_content(version) => {
            // Moved in, not `json!`-copied: a list result can be tens of kilobytes.
            let mut m = Map::with_capacity(3);
            let text = serde_json::to_string(&value).unwrap_or_default();
            m.insert("content".into(), json!([{"type": "text", "text": text}]));
            m.insert("structuredContent".into(), value);
            m.insert("isError".into(), Value::Bool(false));
            Value::Object(m)
        }
        ToolOutput::Structured(value) => {
            json!({"content": [{"type": "text", "text": value.to_string()}], "isError": false})
        }
        ToolOutput::Content(blocks) => json!({"content": blocks, "isError": false}),
        ToolOutput::Result(result) => result,
        ToolOutput::InputRequired { .. } => {
            json!({"content": [{"type": "text", "text": "input_required answered above"}], "isError": true})
        }
        ToolOutput::ProtocolError(message) => {
            json!({"content": [{"type": "text", "text": message}], "isError": true})
        }
    }
}

fn supports_structured_content(version: &str) -> bool {
    !matches!(version, "2024-11-05" | "2025-03-26")
}

pub(super) fn str_param<'p>(
    params: Option<&'p Map<String, Value>>,
    key: &str,
) -> Result<&'p str, McpError> {
    params
        .and_then(|p| p.get(key))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            McpError::InvalidParams(format!("Invalid params: missing string parameter '{key}'"))
        })
}

/// The `start..end` of the page a request's `cursor` (an opaque offset) asks for among `total`.
fn page_bounds(
    total: usize,
    params: Option<&Map<String, Value>>,
    page: usize,
) -> Result<(usize, usize), McpError> {
    let start = match params.and_then(|p| p.get("cursor")) {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => c
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= total)
            .ok_or_else(|| McpError::InvalidParams("Invalid params: unknown cursor".into()))?,
        Some(_) => {
            return Err(McpError::InvalidParams(
                "Invalid params: cursor must be a string".into(),
            ))
        }
    };
    Ok((start, start.saturating_add(page.max(1)).min(total)))
}

/// The `nextCursor` entry of a page that ends at `end` of `total`, if more remain.
fn next_cursor(end: usize, total: usize) -> Map<String, Value> {
    let mut r = Map::new();
    if end < total {
        r.insert("nextCursor".into(), json!(end.to_string()));
    }
    r
}

/// One page of `items` under `key`, with `nextCursor` (an opaque offset) when more remain.
fn paginate(
    key: &str,
    items: Vec<Value>,
    params: Option<&Map<String, Value>>,
    page: usize,
) -> Result<Value, McpError> {
    let total = items.len();
    let (start, end) = page_bounds(total, params, page)?;
    let mut r = next_cursor(end, total);
    r.insert(
        key.to_owned(),
        Value::Array(items.into_iter().skip(start).take(end - start).collect()),
    );
    Ok(Value::Object(r))
}

/// The context resource reads and prompts run upstream calls in: the request's credentials and
/// caller, and no client channel nor input round (only tool calls have those).
pub(super) fn plain_context<'a>(
    call: &'a Call<'_>,
    upstream: &'a Upstream<'a>,
    sleeper: Option<&'a dyn crate::port::Sleeper>,
) -> ToolContext<'a> {
    ToolContext {
        credentials: &call.facts.credentials,
        upstream,
        now: call.facts.now,
        caller: &call.facts.caller.name,
        client: None,
        client_capabilities: None,
        input: None,
        sleeper,
        notify: &crate::notify::SILENT,
    }
}

impl McpApp {
    /// The server capabilities advertised in `initialize` and `server/discover` (`subscribe` is set
    /// by each where it holds).
    pub(crate) fn capabilities(&self) -> Value {
        json!({
            "tools": {"listChanged": false},
            "resources": {"subscribe": false, "listChanged": false},
            "prompts": {"listChanged": false},
            "logging": {},
            "completions": {},
        })
    }

    /// The capabilities `server/discover` advertises: [`McpApp::capabilities`], with `listChanged`
    /// where this platform holds `subscriptions/listen` streams (a 2025 session gets no list-changed
    /// notifications, so `initialize` keeps `false`).
    fn discover_capabilities(&self) -> Value {
        let mut caps = self.capabilities();
        // resourceSubscriptions on a listen stream are honoured wherever listen is.
        caps["resources"]["subscribe"] = json!(self.listens());
        if self.listens() {
            for kind in ["tools", "prompts", "resources"] {
                caps[kind]["listChanged"] = json!(true);
            }
        }
        caps
    }

    pub(crate) fn server_info(&self) -> Value {
        json!({"name": self.config.server_name, "version": self.config.server_version})
    }

    /// The `initialize` result for a negotiated version; `sessions`: the connection is an HTTP session, whose stream the
    /// platform polls where it serves subscriptions (WebSocket and stdio connections have no polled
    /// stream, so no `resources.subscribe` there).
    pub(crate) fn initialize_result(&self, version: &str, sessions: bool) -> Value {
        let mut capabilities = self.capabilities();
        capabilities["resources"]["subscribe"] =
            json!(sessions && self.resource_poll_ms().is_some());
        let mut r = json!({
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": self.server_info(),
        });
        if let Some(i) = &self.config.instructions {
            r["instructions"] = json!(i);
        }
        r
    }

    /// Runs one request method inside its server span: the parent is the request's `_meta`
    /// context, else its headers' (a malformed one starts a new trace).
    pub(crate) async fn dispatch(
        &self,
        call: &Call<'_>,
        method: &str,
        params: Option<&Map<String, Value>>,
    ) -> Outcome {
        let parent = match self.tracer.mode() {
            crate::otel::TraceMode::Off => None,
            _ => crate::otel::TraceContext::from_meta(params).or_else(|| call.facts.trace.clone()),
        };
        let label = crate::otel::method_label(method);
        let mut span = self
            .tracer
            .start(parent.as_ref(), crate::otel::SpanKind::Server, || {
                label.to_owned()
            });
        let outcome = self.dispatch_in(call, method, params, &mut span).await;
        if span.is_recording() {
            use crate::otel::Attr;
            span.set(Attr::Method(label));
            span.set(Attr::ProtocolVersion(call.version.to_owned()));
            span.set(Attr::Caller(call.facts.caller.name.clone()));
            if let Some(id) = call.session {
                span.set(Attr::SessionTag(self.session_tag(id)));
            }
            match &outcome.result {
                Ok(v) if v.get("isError") == Some(&Value::Bool(true)) => {
                    span.set(Attr::Outcome("tool_error"));
                    span.fail();
                }
                Ok(_) => span.set(Attr::Outcome("ok")),
                Err(e) => {
                    span.set(Attr::Outcome("error"));
                    span.set(Attr::ErrorCode(e.to_jsonrpc().code));
                    span.fail();
                }
            }
        }
        self.tracer.finish(span);
        outcome
    }

    /// The notifier of a tool call: the request's outlet when its reply can stream, its
    /// `progressToken`, and the log level in force (2026-07-28: the request's own `_meta` level, none
    /// meaning no log messages; a 2025 session: its `logging/setLevel`, else
    /// [`crate::notify::DEFAULT_SESSION_LOG_LEVEL`]). An unknown 2026-07-28 level is invalid params.
    fn notifier(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
    ) -> Result<Notifier, McpError> {
        let meta = params.and_then(|p| p.get("_meta"));
        let floor = if call.modern {
            match meta.and_then(|m| m.get(protocol::META_LOG_LEVEL)) {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_str().and_then(LogLevel::parse).ok_or_else(|| {
                    McpError::InvalidParams(format!(
                        "Invalid params: _meta '{}' must be one of debug, info, notice, warning, error, critical, alert, emergency",
                        protocol::META_LOG_LEVEL
                    ))
                })?),
            }
        } else {
            Some(
                call.log_level
                    .and_then(LogLevel::parse)
                    .unwrap_or(crate::notify::DEFAULT_SESSION_LOG_LEVEL),
            )
        };
        Ok(Notifier::new(
            call.facts.related.clone(),
            meta.and_then(|m| m.get("progressToken")),
            floor,
        ))
    }

    async fn dispatch_in(
        &self,
        call: &Call<'_>,
        method: &str,
        params: Option<&Map<String, Value>>,
        span: &mut crate::otel::Span,
    ) -> Outcome {
        let trace = span.context().cloned();
        let mut outcome = match method {
            // 2026-07-28 removed the handshake, ping and logging/setLevel: unknown methods there
            // (HTTP 404 + -32601, as for any method the server does not implement).
            "initialize" | "ping" | "logging/setLevel" if call.modern => {
                Outcome::of(Err(McpError::MethodNotFound(method.to_owned())))
            }
            "ping" => Outcome::of(Ok(json!({}))),
            "server/discover" if call.modern => Outcome::of(Ok(self.discover_result())),
            "tools/list" => {
                self.refresh_bridge(call.facts.now).await;
                self.list_tools(call, params).map_or_else(
                    |e| Outcome::of(Err(e)),
                    |(rest, splice)| Outcome {
                        splice: Some(splice),
                        ..Outcome::of(Ok(rest))
                    },
                )
            }
            "tools/call" => self.call_tool(call, params, span).await,
            "tasks/get" | "tasks/update" | "tasks/cancel" if call.modern && self.serves_tasks() => {
                self.task_method(call, method, params).await
            }
            "resources/list" => Outcome::of(self.list_resources(call, params)),
            "resources/templates/list" => Outcome::of(self.list_templates(call, params)),
            "resources/read" => Outcome::of(self.read_resource(call, params, trace.as_ref()).await),
            // A 2025 session over HTTP, whose stream the platform polls; 2026-07-28 subscribes
            // through subscriptions/listen instead (unknown method there, as elsewhere).
            "resources/subscribe" | "resources/unsubscribe"
                if call.session.is_some() && !call.modern && self.resource_poll_ms().is_some() =>
            {
                self.subscribe(call, method == "resources/subscribe", params)
                    .await
            }
            "prompts/list" => Outcome::of(self.list_prompts(params)),
            "prompts/get" => Outcome::of(self.get_prompt(call, params, trace.as_ref()).await),
            "completion/complete" => Outcome::of(self.complete(params)),
            "logging/setLevel" => match str_param(params, "level") {
                Ok(level) if LogLevel::parse(level).is_some() => Outcome {
                    result: Ok(json!({})),
                    set_log_level: Some(level.to_owned()),
                    ..Outcome::of(Ok(json!({})))
                },
                Ok(level) => Outcome::of(Err(McpError::InvalidParams(format!(
                    "Invalid params: unknown log level '{level}'"
                )))),
                Err(e) => Outcome::of(Err(e)),
            },
            "initialize" => Outcome::of(Err(McpError::InvalidRequest(
                "Invalid Request: initialize is not allowed here".into(),
            ))),
            other => Outcome::of(Err(McpError::MethodNotFound(other.to_owned()))),
        };
        if call.modern {
            if let Ok(Value::Object(map)) = &mut outcome.result {
                map.entry("resultType").or_insert_with(|| json!("complete"));
                // The server's identity rides in every result's `_meta` (a result's own entry wins;
                // a non-object `_meta` is left as it is).
                if let Value::Object(meta) = map.entry("_meta").or_insert_with(|| json!({})) {
                    meta.entry(META_SERVER_INFO)
                        .or_insert_with(|| self.server_info());
                }
                // Caching hints: a list is the same for everyone (`public`) only when no
                // per-request credential, policy header or authenticated caller shapes it; its
                // lifetime is `MCP_EDGE_LIST_TTL`. A read is the caller's own and stale at once.
                let list = matches!(
                    method,
                    "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list"
                );
                if list || method == "resources/read" {
                    let facts = call.facts;
                    let shared = list
                        && facts.credentials.is_empty()
                        && !facts.policy.shaped_by_request()
                        && self.config.auth.is_open();
                    map.entry("cacheScope")
                        .or_insert_with(|| json!(if shared { "public" } else { "private" }));
                    map.entry("ttlMs")
                        .or_insert_with(|| json!(if list { self.config.list_ttl_ms } else { 0 }));
                }
            }
        }
        outcome
    }

    fn discover_result(&self) -> Value {
        let mut versions: Vec<&str> = HANDSHAKE_VERSIONS.to_vec();
        versions.extend_from_slice(MODERN_VERSIONS);
        let mut capabilities = self.discover_capabilities();
        // The Tasks extension is served on the 2026-07-28 wire only, so only discovery lists it.
        if self.serves_tasks() {
            capabilities["extensions"] = json!({ crate::task::EXTENSION: {} });
        }
        let mut r = json!({
            "supportedVersions": versions,
            "capabilities": capabilities,
            "serverInfo": self.server_info(),
            "cacheScope": "public",
            "ttlMs": 0,
        });
        if let Some(i) = &self.config.instructions {
            r["instructions"] = json!(i);
        }
        r
    }

    /// The page of tools this request may see: the result object without its `tools` (the cursor)
    /// and the tools' pre-serialized definitions to splice in, in registry order, then bridged.
    pub(super) fn list_tools(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
    ) -> Result<(Value, protocol::Splice), McpError> {
        let creds = &call.facts.credentials;
        let policy = &call.facts.policy;
        if let Some(why) = policy.toolsets_error() {
            return Err(McpError::InvalidParams(why.to_owned()));
        }
        let bridged = self.bridge.as_ref().map(|b| b.tools()).unwrap_or_default();
        // Registered tools' JSON was serialized once in `McpApp::new`; a reference count is all a
        // listed definition costs here.
        let tools: Vec<Arc<RawValue>> = self
            .registry
            .tools()
            .iter()
            .zip(&self.tool_json)
            .filter(|(t, _)| {
                policy.offers(t.toolset()) && t.available(creds) && policy.permits(t.def()).is_ok()
            })
            .map(|(_, json)| json.clone())
            .chain(
                bridged
                    .iter()
                    .map(|t| t.def())
                    .filter(|def| policy.permits(def).is_ok())
                    .map(super::listed_json),
            )
            .collect();
        let total = tools.len();
        let (start, end) = page_bounds(total, params, self.config.page_size)?;
        let items = tools.into_iter().skip(start).take(end - start).collect();
        Ok((
            Value::Object(next_cursor(end, total)),
            protocol::Splice {
                key: "tools",
                items,
            },
        ))
    }

    async fn call_tool(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
        span: &mut crate::otel::Span,
    ) -> Outcome {
        let name = match str_param(params, "name") {
            Ok(n) => n,
            Err(e) => return Outcome::of(Err(e)),
        };
        let started = self.ports.clock.now();
        let trace_id = span.context().map(|c| c.trace_id_hex());
        let audit = |outcome: &'static str, hosts: Vec<String>| {
            self.metrics.count_tool_call(name, outcome);
            self.audit.record(&AuditRecord {
                at_ms: started,
                caller: call.facts.caller.name.clone(),
                session_tag: call.session.map(|id| self.session_tag(id)),
                tool: name.to_owned(),
                upstream_hosts: hosts,
                outcome,
                duration_ms: self.ports.clock.now().saturating_sub(started),
                trace_id: trace_id.clone(),
            });
        };
        let creds = &call.facts.credentials;
        if let Some(why) = call.facts.policy.toolsets_error() {
            return Outcome::of(Err(McpError::InvalidParams(why.to_owned())));
        }
        let Some(tool) = self.find_tool(name, call).await else {
            return Outcome::of(Err(McpError::InvalidParams(format!(
                "Unknown tool: {name}"
            ))));
        };
        span.set_tool(&tool.def().name);
        if let Err(why) = call.facts.policy.permits(tool.def()) {
            audit("denied", Vec::new());
            return Outcome::of(Err(McpError::PolicyDenied(why)));
        }
        let instance = match params.and_then(|p| p.get("arguments")) {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Object(a)) => Value::Object(a.clone()),
            Some(_) => {
                return Outcome::of(Err(McpError::InvalidParams(
                    "Invalid params: arguments must be an object".into(),
                )));
            }
        };
        if let Some(validator) = self.validators.get(name) {
            let problem = validator.first_violation(&instance).map(|err| {
                let path = err.instance_path.clone();
                let at = if path.is_empty() {
                    "(root)".to_owned()
                } else {
                    path
                };
                format!("Invalid arguments for tool {name} at {at}: {err}")
            });
            if let Some(message) = problem {
                audit("invalid_arguments", Vec::new());
                return Outcome::of(Err(McpError::InvalidParams(message)));
            }
        }
        let Value::Object(args) = instance else {
            return Outcome::of(Err(McpError::Internal("arguments lost their shape".into())));
        };
        let target = format!("tools/call:{name}");
        let (capabilities, input) = match self.input_of(call, &target, params) {
            Ok(x) => x,
            Err(e) => {
                audit("invalid_arguments", Vec::new());
                return Outcome::of(Err(e));
            }
        };
        // Tasks extension: a task-supporting tool runs as a task for a client that declared it;
        // a task-only tool refuses one that did not (before it runs).
        if call.modern && self.serves_tasks() {
            let support = tool.task_support();
            let declared = crate::task::declared(capabilities);
            if support == crate::task::TaskSupport::Required && !declared {
                return Outcome::of(Err(McpError::MissingClientExtension(
                    crate::task::EXTENSION.into(),
                )));
            }
            if support != crate::task::TaskSupport::Forbidden && declared {
                if let Some(requests) = tool.input_before_task(input.as_ref()) {
                    audit("input_required", Vec::new());
                    return Outcome::of(self.seal_input_required(
                        call,
                        &target,
                        input.as_ref(),
                        capabilities,
                        requests,
                        Value::Null,
                    ));
                }
                if let Err(e) = self.admit_tool_call(&call.facts.caller, started).await {
                    audit("rate_limited", Vec::new());
                    return Outcome::of(Err(e));
                }
                audit("task", Vec::new());
                return self
                    .start_task(call, &tool, args, capabilities, input)
                    .await;
            }
        }
        // A destructive tool asks the person first when the client can show an elicitation
        // (2026-07-28, elicitation declared): declined or cancelled ends the call unrun.
        if call.modern && tool.def().annotations.destructive_hint == Some(true) {
            let declared = capabilities.is_some_and(|c| c.contains_key("elicitation"));
            match confirmation(input.as_ref()) {
                Confirmation::Given => {}
                refused @ (Confirmation::Refused(_) | Confirmation::Unanswered(_)) => {
                    audit("declined", Vec::new());
                    return Outcome::of(Ok(not_run(name, refused)));
                }
                Confirmation::NotAsked if declared => {
                    audit("input_required", Vec::new());
                    let (message, schema) = confirm_form(name, &tool.def().description);
                    let mut requests = Map::new();
                    requests.insert(
                        CONFIRM_KEY.into(),
                        crate::elicitation::request(&message, schema),
                    );
                    return Outcome::of(self.seal_input_required(
                        call,
                        &target,
                        input.as_ref(),
                        capabilities,
                        requests,
                        Value::Null,
                    ));
                }
                Confirmation::NotAsked => {}
            }
        }
        if let Err(e) = self.admit_tool_call(&call.facts.caller, started).await {
            audit("rate_limited", Vec::new());
            return Outcome::of(Err(e));
        }
        let upstream = self
            .upstream
            .for_call(creds, call.facts.now)
            .with_requested(call.facts.deployment.clone())
            .with_trace(&self.tracer, span.context());
        let channel = match (call.session, call.client_capabilities) {
            (Some(session), Some(capabilities)) => Some(crate::sampling::ClientChannel {
                session,
                capabilities,
                port: self.client_requests.as_ref(),
                sleeper: self.sleeper.as_ref(),
                entropy: self.ports.entropy.as_ref(),
            }),
            _ => None,
        };
        // 2025 session: the same confirmation, asked on the session's stream while the call waits
        // (a client that declared elicitation but has no stream open is not asked, as before).
        if let Some(ch) = channel.as_ref().filter(|c| {
            !call.modern
                && c.declares("elicitation")
                && tool.def().annotations.destructive_hint == Some(true)
        }) {
            let (message, schema) = confirm_form(name, &tool.def().description);
            let wait = crate::sampling::DEFAULT_WAIT_MS
                .min(self.config.tool_timeout_ms.unwrap_or(u64::MAX));
            let answer = crate::elicitation::ask(ch, &message, schema, wait).await;
            let unasked = matches!(
                answer,
                Err(ClientRequestError::NoStream | ClientRequestError::Unsupported(_))
            );
            match Confirmation::of(answer) {
                Confirmation::Given => {}
                _ if unasked => {}
                refused => {
                    audit("declined", Vec::new());
                    return Outcome::of(Ok(not_run(name, refused)));
                }
            }
        }
        let notify = match self.notifier(call, params) {
            Ok(n) => n,
            Err(e) => return Outcome::of(Err(e)),
        };
        let ctx = ToolContext {
            credentials: creds,
            upstream: &upstream,
            now: call.facts.now,
            caller: &call.facts.caller.name,
            client: channel.as_ref(),
            client_capabilities: capabilities,
            input: input.as_ref(),
            sleeper: self.sleeper.as_deref(),
            notify: &notify,
        };
        let run = std::pin::pin!(async {
            // A 2025 session with a stream to the client: an `input_required` answer is fulfilled
            // here, each input request sent to the client in turn, and the tool called again with
            // the answers (bounded like 2026-07-28 rounds). Arguments are kept only then.
            let Some(ch) = channel.as_ref().filter(|_| !call.modern) else {
                return tool.call(&ctx, args).await;
            };
            let again = args.clone();
            let mut out = tool.call(&ctx, args).await;
            let mut round = 0;
            while let Ok(ToolOutput::InputRequired { requests, state }) = out {
                round += 1;
                if round > mrtr::MAX_ROUNDS {
                    return Err(ToolFailure::new(format!(
                        "{name} asked the client for input more than {} times",
                        mrtr::MAX_ROUNDS
                    )));
                }
                let mut responses = Map::new();
                for (key, request) in requests {
                    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
                    let params = request.get("params").cloned().unwrap_or(json!({}));
                    match ch
                        .ask(method, params, crate::sampling::DEFAULT_WAIT_MS)
                        .await
                    {
                        Ok(answer) => responses.insert(key, answer),
                        Err(e) => {
                            return Err(ToolFailure::new(format!(
                                "{name} needs the client's answer to {method}: {e}"
                            )))
                        }
                    };
                }
                let round = InputRound {
                    responses,
                    state: Some(state),
                    round,
                };
                let retry = ToolContext {
                    input: Some(&round),
                    ..ctx
                };
                out = tool.call(&retry, again.clone()).await;
            }
            out
        });
        let finished = match (&self.sleeper, self.config.tool_timeout_ms) {
            (Some(sleeper), Some(ms)) => match select(run, sleeper.sleep(ms)).await {
                Either::Left((r, _)) => Some(r),
                Either::Right(_) => None,
            },
            _ => Some(run.await),
        };
        let hosts = upstream.hosts();
        if let Some(Ok(ToolOutput::InputRequired { requests, state })) = finished {
            audit("input_required", hosts);
            let result = if call.modern {
                self.seal_input_required(
                    call,
                    &target,
                    input.as_ref(),
                    capabilities,
                    requests,
                    state,
                )
            } else {
                Ok(
                    json!({"content": [{"type": "text", "text": format!("{name} needs input from the client (elicitation, sampling or roots), which only a 2026-07-28 request or a Streamable HTTP session can answer")}], "isError": true}),
                )
            };
            return Outcome::of(result);
        }
        let result = match finished {
            Some(Ok(ToolOutput::Result(result))) => {
                let failed = result.get("isError") == Some(&Value::Bool(true));
                audit(if failed { "error" } else { "ok" }, hosts);
                result
            }
            Some(Ok(ToolOutput::ProtocolError(message))) => {
                audit("error", hosts);
                return Outcome::of(Err(McpError::Internal(message)));
            }
            Some(Ok(output)) => {
                audit("ok", hosts);
                tool_result(output, call.version)
            }
            Some(Err(failure)) => {
                audit("error", hosts);
                json!({"content": [{"type": "text", "text": failure.message}], "isError": true})
            }
            None => {
                audit("timeout", hosts);
                let ms = self.config.tool_timeout_ms.unwrap_or_default();
                json!({"content": [{"type": "text", "text": format!("tool {name} was cancelled after {ms} ms (the gateway's tool-call time limit)")}], "isError": true})
            }
        };
        Outcome {
            result: Ok(result),
            set_log_level: None,
            subscription: None,
            deferred: tool.defer_delivery(),
            splice: None,
            task: None,
        }
    }

    /// A tool by name: a registered one offered for these credentials in the request's toolsets
    /// (outside them a tool is as unknown as an unregistered one), or a bridged one (the bridge's
    /// catalog is fetched first when it is stale).
    async fn find_tool(&self, name: &str, call: &Call<'_>) -> Option<Arc<dyn Tool>> {
        if let Some(t) = self.registry.tool(name) {
            let offered =
                call.facts.policy.offers(t.toolset()) && t.available(&call.facts.credentials);
            return offered.then(|| t.clone());
        }
        let bridge = self.bridge.as_ref()?;
        if !name.contains(crate::connector::remote_bridge::NAMESPACE_SEPARATOR) {
            return None;
        }
        self.refresh_bridge(call.facts.now).await;
        bridge.tool(name).map(|t| t as Arc<dyn Tool>)
    }

    /// Fetches the bridge's catalog when it is stale; a failing bridge keeps the previous catalog.
    pub(super) async fn refresh_bridge(&self, now: u64) {
        if let Some(bridge) = &self.bridge {
            let _ = bridge.refresh_if_stale(now).await;
        }
    }

    pub(super) fn list_resources(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
    ) -> Result<Value, McpError> {
        let all: Vec<Value> = self
            .registry
            .resources
            .iter()
            .flat_map(|p| p.resources(&call.facts.credentials))
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect();
        paginate("resources", all, params, self.config.page_size)
    }

    fn list_templates(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
    ) -> Result<Value, McpError> {
        let all: Vec<Value> = self
            .registry
            .resources
            .iter()
            .flat_map(|p| p.templates(&call.facts.credentials))
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect();
        paginate("resourceTemplates", all, params, self.config.page_size)
    }

    /// Upstream access with the request's credentials and deployment.
    pub(super) fn upstream_of<'a>(&'a self, call: &'a Call<'_>) -> Upstream<'a> {
        self.upstream
            .for_call(&call.facts.credentials, call.facts.now)
            .with_requested(call.facts.deployment.clone())
    }

    async fn read_resource(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
        trace: Option<&crate::otel::TraceContext>,
    ) -> Result<Value, McpError> {
        let uri = str_param(params, "uri")?;
        let upstream = self.upstream_of(call).with_trace(&self.tracer, trace);
        let ctx = plain_context(call, &upstream, self.sleeper.as_deref());
        for provider in &self.registry.resources {
            match provider.read(&ctx, uri).await {
                Ok(Some(contents)) => return Ok(json!({ "contents": contents })),
                Ok(None) => continue,
                Err(ResourceError::NotFound(u)) => return Err(McpError::ResourceNotFound(u)),
                Err(ResourceError::Failed(msg)) => return Err(McpError::Internal(msg)),
            }
        }
        Err(McpError::ResourceNotFound(uri.to_owned()))
    }

    pub(super) fn list_prompts(
        &self,
        params: Option<&Map<String, Value>>,
    ) -> Result<Value, McpError> {
        let all: Vec<Value> = self
            .registry
            .prompts
            .iter()
            .map(|p| serde_json::to_value(p.def()).unwrap_or(Value::Null))
            .collect();
        paginate("prompts", all, params, self.config.page_size)
    }

    async fn get_prompt(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
        trace: Option<&crate::otel::TraceContext>,
    ) -> Result<Value, McpError> {
        let name = str_param(params, "name")?;
        let prompt = self
            .registry
            .prompts
            .iter()
            .find(|p| p.def().name == name)
            .ok_or_else(|| {
                McpError::InvalidParams(format!("Invalid params: unknown prompt '{name}'"))
            })?;
        let mut args = BTreeMap::new();
        if let Some(Value::Object(given)) = params.and_then(|p| p.get("arguments")) {
            for (k, v) in given {
                let text = v.as_str().ok_or_else(|| {
                    McpError::InvalidParams(format!(
                        "Invalid params: prompt argument '{k}' must be a string"
                    ))
                })?;
                args.insert(k.clone(), text.to_owned());
            }
        }
        for a in &prompt.def().arguments {
            if a.required && !args.contains_key(&a.name) {
                return Err(McpError::InvalidParams(format!(
                    "Invalid params: missing required prompt argument '{}'",
                    a.name
                )));
            }
        }
        let messages = if prompt.needs_upstream() {
            let upstream = self.upstream_of(call).with_trace(&self.tracer, trace);
            let ctx = plain_context(call, &upstream, self.sleeper.as_deref());
            prompt
                .render_in(&ctx, &args)
                .await
                .map_err(McpError::InvalidParams)?
        } else {
            let target = format!("prompts/get:{name}");
            let (capabilities, input) = self.input_of(call, &target, params)?;
            match prompt
            .render_with_input(&args, capabilities, input.as_ref())
            .map_err(McpError::InvalidParams)?
        {
            PromptOutput::Messages(m) => m,
            PromptOutput::InputRequired { requests, state } if call.modern => {
                return self.seal_input_required(call, &target, input.as_ref(), capabilities, requests, state);
            }
            PromptOutput::InputRequired { .. } => {
                return Err(McpError::InvalidParams(format!(
                    "Invalid params: prompt '{name}' needs input from the client, which only a 2026-07-28 request can answer"
                )))
            }
        }
        };
        let mut r = json!({ "messages": messages });
        if let Some(d) = &prompt.def().description {
            r["description"] = json!(d);
        }
        Ok(r)
    }

    /// A 2026-07-28 request's declared client capabilities and its `input_required` retry (verified
    /// `requestState`, checked `inputResponses`); nothing in the 2025 eras.
    fn input_of<'p>(
        &self,
        call: &Call<'_>,
        target: &str,
        params: Option<&'p Map<String, Value>>,
    ) -> Result<InputOf<'p>, McpError> {
        if !call.modern {
            return Ok((None, None));
        }
        let capabilities = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
            .and_then(Value::as_object);
        let input = mrtr::input_round(
            &self.config.fingerprint_key,
            target,
            &call.facts.caller.name,
            call.facts.now,
            params,
        )?;
        Ok((capabilities, input))
    }

    /// The signed `input_required` result for `target` (see [`mrtr`]).
    fn seal_input_required(
        &self,
        call: &Call<'_>,
        target: &str,
        previous: Option<&InputRound>,
        capabilities: Option<&Map<String, Value>>,
        requests: Map<String, Value>,
        state: Value,
    ) -> Result<Value, McpError> {
        mrtr::input_required(
            &self.config.fingerprint_key,
            target,
            &call.facts.caller.name,
            call.facts.now,
            previous,
            capabilities,
            requests,
            state,
        )
    }

    fn complete(&self, params: Option<&Map<String, Value>>) -> Result<Value, McpError> {
        let reference = params
            .and_then(|p| p.get("ref"))
            .and_then(Value::as_object)
            .ok_or_else(|| McpError::InvalidParams("Invalid params: missing 'ref'".into()))?;
        let kind = reference.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "ref/prompt" | "ref/resource") {
            return Err(McpError::InvalidParams(format!(
                "Invalid params: unknown ref type '{kind}'"
            )));
        }
        params
            .and_then(|p| p.get("argument"))
            .and_then(Value::as_object)
            .ok_or_else(|| McpError::InvalidParams("Invalid params: missing 'argument'".into()))?;
        Ok(json!({"completion": {"values": [], "total": 0, "hasMore": false}}))
    }
}
