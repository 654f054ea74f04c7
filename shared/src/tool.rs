//! The tool, resource and prompt registries that connectors plug into.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::credential::Credentials;
use crate::port::{BoxFuture, MaybeSendSync, UnixMillis};
use crate::upstream::{Upstream, UpstreamFailure};

/// Behaviour hints shown to clients (`annotations` on a tool).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// Human-readable title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tool does not change its environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// The tool may destroy or overwrite data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Calling the tool twice with the same arguments has no further effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// The tool reaches an open world (external services).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    /// Hints for a tool that only reads from an external service.
    pub fn read_only() -> Self {
        ToolAnnotations {
            read_only_hint: Some(true),
            destructive_hint: Some(false),
            idempotent_hint: Some(true),
            open_world_hint: Some(true),
            ..Default::default()
        }
    }

    /// Hints for a tool that changes or removes existing data in an external service (a merge, a
    /// deletion): clients should confirm before calling it.
    pub fn destructive(idempotent: bool) -> Self {
        ToolAnnotations {
            read_only_hint: Some(false),
            destructive_hint: Some(true),
            idempotent_hint: Some(idempotent),
            open_world_hint: Some(true),
            ..Default::default()
        }
    }

    /// Hints for a tool that writes to an external service without destroying data.
    pub fn writes(idempotent: bool) -> Self {
        ToolAnnotations {
            read_only_hint: Some(false),
            destructive_hint: Some(false),
            idempotent_hint: Some(idempotent),
            open_world_hint: Some(true),
            ..Default::default()
        }
    }
}

/// The static description of a tool, as listed by `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolDef {
    /// Stable snake_case name.
    pub name: String,
    /// Optional display title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for a model.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Value,
    /// JSON Schema of `structuredContent`, when the tool returns structured output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Behaviour hints.
    pub annotations: ToolAnnotations,
}

/// What a tool handler sees of the request that called it.
pub struct ToolContext<'a> {
    /// Upstream credentials of this request (headers, else environment fallback).
    pub credentials: &'a Credentials,
    /// Upstream access: guarded, pooled, retrying calls with the request's credentials.
    pub upstream: &'a Upstream<'a>,
    /// The current time.
    pub now: UnixMillis,
    /// The authenticated caller's name (API key name, token subject, or client address).
    pub caller: &'a str,
    /// The session's client, when the call runs in a session (for requests to the client such as
    /// sampling); `None` on sessionless transports.
    pub client: Option<&'a crate::sampling::ClientChannel<'a>>,
    /// The client's declared capabilities, on a 2026-07-28 request (`_meta`'s
    /// `io.modelcontextprotocol/clientCapabilities`); `None` for the 2025 eras.
    pub client_capabilities: Option<&'a Map<String, Value>>,
    /// A 2026-07-28 retry of an `input_required` result (SEP-2322): the client's answers and the
    /// verified `requestState`; `None` on a first call.
    pub input: Option<&'a InputRound>,
    /// Timers, for tools that wait (polling a CI pipeline); `None` where the platform has none.
    pub sleeper: Option<&'a dyn crate::port::Sleeper>,
    /// Progress and log notifications to the client during the call ([`crate::notify::SILENT`]
    /// where nothing can carry them).
    pub notify: &'a crate::notify::Notifier,
}

impl ToolContext<'_> {
    /// The client declared `capability` (e.g. `elicitation`, `sampling`, `roots`) in this 2026-07-28
    /// request. Always false in the 2025 eras, where requests to the client need a session stream.
    pub fn client_declares(&self, capability: &str) -> bool {
        self.client_capabilities
            .is_some_and(|c| c.get(capability).is_some_and(|v| !v.is_null()))
    }
}

pub use crate::task::TaskSupport;

pub use crate::mrtr::InputRound;

/// A successful tool result.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutput {
    /// Plain text content.
    Text(String),
    /// Structured output: sent as `structuredContent` and as JSON text content.
    Structured(Value),
    /// Raw MCP content blocks.
    Content(Vec<Value>),
    /// A complete `CallToolResult` from elsewhere (a bridged server), passed on as it is.
    Result(Value),
    /// The tool needs the client's input first (2026-07-28 `input_required`, SEP-2322): these
    /// input requests (key to `{method, params}`), and state the gateway seals into a signed
    /// `requestState` and hands back in [`ToolContext::input`] on the retry.
    InputRequired {
        /// `inputRequests`.
        requests: Map<String, Value>,
        /// The handler's state for the next round (`Value::Null` for none).
        state: Value,
    },
    /// The call failed at the protocol level, not as a tool error the model should read: a
    /// synchronous call answers with a JSON-RPC internal error, a task settles as `failed`.
    ProtocolError(String),
}

/// A tool failure that the model should see as a result with `isError: true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolFailure {
    /// An actionable message; never contains credentials.
    pub message: String,
}

impl ToolFailure {
    /// A failure with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        ToolFailure {
            message: message.into(),
        }
    }
}

impl From<UpstreamFailure> for ToolFailure {
    fn from(f: UpstreamFailure) -> Self {
        ToolFailure::new(f.to_string())
    }
}

/// A callable tool.
pub trait Tool: MaybeSendSync {
    /// The tool's description.
    fn def(&self) -> &ToolDef;
    /// The connector toolset the tool belongs to (`None`: a tool no toolset hides, such as bridged
    /// and test tools).
    fn toolset(&self) -> Option<crate::connector::toolset::Toolset> {
        None
    }
    /// Whether the tool is offered for a request with these credentials (default: always).
    fn available(&self, _credentials: &Credentials) -> bool {
        true
    }
    /// Whether the result should reach the client by SSE polling: the POST stream closes after a priming
    /// event and the result waits in the session's event log for a `Last-Event-ID` reconnect
    /// (spec 2025-11-25). Useful for slow tools on platforms that bill held connections (default: no).
    fn defer_delivery(&self) -> bool {
        false
    }
    /// Whether calls may or must run as tasks (Tasks extension; default: never).
    fn task_support(&self) -> TaskSupport {
        TaskSupport::Forbidden
    }
    /// Input the tool needs answered by an `input_required` round trip before its task starts
    /// (SEP-2663: MRTR first, then the task); `input` is the previous round's answers. Default none.
    fn input_before_task(&self, _input: Option<&InputRound>) -> Option<Map<String, Value>> {
        None
    }
    /// Runs the tool; `args` already passed validation against `inputSchema`.
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>>;
}

/// A resource listed by `resources/list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDef {
    /// The resource URI.
    pub uri: String,
    /// Short name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of its contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// A resource template listed by `resources/templates/list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplateDef {
    /// RFC 6570 URI template, e.g. `jira://issue/{key}`.
    pub uri_template: String,
    /// Short name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of its contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// Contents of a read resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceContents {
    /// The URI that was read.
    pub uri: String,
    /// MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Text contents (absent when `blob` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Binary contents, base64 (MCP `BlobResourceContents`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// Why a resource read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// No provider knows the URI (JSON-RPC -32002 "Resource not found").
    #[error("resource not found: {0}")]
    NotFound(String),
    /// The provider failed (reported as an internal error with this message).
    #[error("{0}")]
    Failed(String),
}

/// A source of resources and resource templates.
pub trait ResourceProvider: MaybeSendSync {
    /// Concrete resources offered to a request with these credentials.
    fn resources(&self, credentials: &Credentials) -> Vec<ResourceDef>;
    /// Templates offered to a request with these credentials.
    fn templates(&self, credentials: &Credentials) -> Vec<ResourceTemplateDef>;
    /// Reads `uri`, or answers `Ok(None)` when the URI is not this provider's.
    fn read<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        uri: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<ResourceContents>>, ResourceError>>;
    /// Whether a resource subscription may watch this provider's resources: their content must be
    /// readable without the caller's upstream credentials, which a session's stream poll does not
    /// have (the gateway never stores them). Connector resources are not; fixture ones are.
    fn watchable(&self) -> bool {
        false
    }
}

/// A prompt argument.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptArgument {
    /// Argument name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the argument must be given.
    pub required: bool,
}

/// A prompt listed by `prompts/list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptDef {
    /// Prompt name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Arguments.
    pub arguments: Vec<PromptArgument>,
}

/// A prompt template that renders to messages.
pub trait Prompt: MaybeSendSync {
    /// The prompt's description.
    fn def(&self) -> &PromptDef;
    /// Renders the prompt's messages (MCP `PromptMessage` objects) from string arguments.
    fn render(&self, args: &BTreeMap<String, String>) -> Result<Vec<Value>, String>;
    /// Renders with the request's upstream access, for prompts built from upstream data
    /// (default: [`Prompt::render`]); used instead of
    /// [`Prompt::render_with_input`] when [`Prompt::needs_upstream`] says so.
    fn render_in<'a>(
        &'a self,
        _ctx: &'a ToolContext<'a>,
        args: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Vec<Value>, String>> {
        let rendered = self.render(args);
        Box::pin(async move { rendered })
    }
    /// Whether the prompt is rendered from upstream data with [`Prompt::render_in`] (default: no).
    fn needs_upstream(&self) -> bool {
        false
    }
    /// Renders on a 2026-07-28 request, which may first ask the client for input (SEP-2322);
    /// the default renders at once.
    fn render_with_input(
        &self,
        args: &BTreeMap<String, String>,
        _client_capabilities: Option<&Map<String, Value>>,
        _input: Option<&InputRound>,
    ) -> Result<PromptOutput, String> {
        self.render(args).map(PromptOutput::Messages)
    }
}

/// What a prompt rendered: its messages, or a request for the client's input first.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptOutput {
    /// The `PromptMessage` objects.
    Messages(Vec<Value>),
    /// `input_required`: input requests and state, as [`ToolOutput::InputRequired`].
    InputRequired {
        /// `inputRequests`.
        requests: Map<String, Value>,
        /// The prompt's state for the next round.
        state: Value,
    },
}

/// Everything a gateway offers: tools, resources and prompts.
#[derive(Default, Clone)]
pub struct Registry {
    pub(crate) tools: Vec<Arc<dyn Tool>>,
    pub(crate) resources: Vec<Arc<dyn ResourceProvider>>,
    pub(crate) prompts: Vec<Arc<dyn Prompt>>,
    /// Change counters of lists changed without a rebuild (read by `subscriptions/listen`).
    pub(crate) epochs: Arc<crate::subscription::ListEpochs>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool; a later tool with the same name replaces the earlier one.
    pub fn add_tool(&mut self, tool: Arc<dyn Tool>) -> &mut Self {
        let name = tool.def().name.clone();
        self.tools.retain(|t| t.def().name != name);
        self.tools.push(tool);
        self
    }

    /// Adds a resource provider.
    pub fn add_resources(&mut self, provider: Arc<dyn ResourceProvider>) -> &mut Self {
        self.resources.push(provider);
        self
    }

    /// Adds a prompt.
    pub fn add_prompt(&mut self, prompt: Arc<dyn Prompt>) -> &mut Self {
        self.prompts.push(prompt);
        self
    }

    /// Looks a tool up by name.
    pub fn tool(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.iter().find(|t| t.def().name == name)
    }

    /// All tools, in registration order.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.tools
    }
}
