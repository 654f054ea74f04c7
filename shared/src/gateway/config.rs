//! [`GatewayConfig`]: every platform-independent setting of the gateway, with its defaults.

use crate::auth::AuthConfig;
use crate::credential::CredentialDefaults;
use crate::policy::PolicyConfig;
use crate::ratelimit::RateLimit;
use crate::transport::headers::OriginPolicy;
use crate::upstream::UpstreamConfig;

/// Gateway settings (platform-independent).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `serverInfo.name`.
    pub server_name: String,
    /// `serverInfo.version`.
    pub server_version: String,
    /// Optional `instructions` for clients.
    pub instructions: Option<String>,
    /// Idle time after which a session expires.
    pub session_ttl_ms: u64,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Most messages in one JSON-RPC batch (`MCP_EDGE_MAX_BATCH`; larger batches get 400/-32600).
    pub max_batch: usize,
    /// Most bytes the replies to one batch may take; replies past it are refused one by one with
    /// -32600 (and the requests after them do not run).
    pub max_batch_reply_bytes: usize,
    /// `Origin` and `Host` checks.
    pub origins: OriginPolicy,
    /// Key for credential fingerprints kept in sessions, and (under its own domain label) of the
    /// signed 2026-07-28 `requestState` ([`crate::mrtr`]).
    pub fingerprint_key: Vec<u8>,
    /// `ttlMs` of 2026-07-28 list results (`MCP_EDGE_LIST_TTL`).
    pub list_ttl_ms: u64,
    /// How long a task record lives from its creation (`MCP_EDGE_TASK_TTL`).
    pub task_ttl_ms: u64,
    /// Items per page of list results.
    pub page_size: usize,
    /// Interval of SSE keep-alive comments.
    pub keepalive_ms: u64,
    /// Events kept per session for `Last-Event-ID` resumption.
    pub event_log_limit: usize,
    /// Answer POSTs with SSE even when the client also accepts JSON.
    pub prefer_sse: bool,
    /// Tool policy.
    pub policy: PolicyConfig,
    /// Caller authentication (open when empty).
    pub auth: AuthConfig,
    /// Default per-caller limit on requests.
    pub request_limit: Option<RateLimit>,
    /// Default per-caller limit on tool calls.
    pub tool_call_limit: Option<RateLimit>,
    /// Longest a tool call may run (enforced when the platform supplies a [`Sleeper`](crate::port::Sleeper)).
    pub tool_timeout_ms: Option<u64>,
    /// Most sessions (Streamable HTTP, legacy SSE, WebSocket) one caller may hold open at once.
    pub max_sessions_per_caller: Option<u32>,
    /// Most `GET` streams one Streamable HTTP session may hold open at once.
    pub max_streams_per_session: Option<u32>,
    /// How long this platform can hold a stream at most (its stream leases lapse then); `None`:
    /// until the platform reports the stream closed.
    pub stream_lease_ms: Option<u64>,
    /// Upstream guard, pool, timeout and retry settings.
    pub upstream: UpstreamConfig,
    /// Upstream credentials from the environment, used when a request brings none.
    pub credential_defaults: CredentialDefaults,
    /// A remote stdio bridge whose servers' tools this gateway offers too.
    pub bridge: Option<crate::connector::remote_bridge::BridgeConfig>,
    /// Longest the deep health check (`/health?deep=1`) waits for its probes, in milliseconds.
    pub health_budget_ms: u64,
    /// Tracing (`OTEL_*`): mode, sampler, and the exporter's settings for the platform.
    pub tracing: crate::otel::TraceSettings,
}
