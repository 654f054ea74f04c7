//! `McpApp`: the one entry point every platform calls. It ties protocol, transports, sessions,
//! credentials, policy and the registry together. This file holds the app, its builder and the
//! top-level routing by path; the rest, one concern per module:
//! - [`config`](GatewayConfig): settings and defaults; `route`: [`session_route`] for platforms
//!   with a session actor;
//! - `access` (authentication, rate limits, CORS), `admission` (checks on the request head and the
//!   connection time budgets), `batch` (batch limits), `counting` (what a rate limiter's or lease
//!   ledger's answer means);
//! - transports: `streamable` (`/mcp`), `legacy` (`/sse` + `/messages`), `websocket` (`/ws`),
//!   `stdio` (a process's stdin/stdout);
//! - `dispatch`: one JSON-RPC request to its method;
//! - `sessions`: session records' lifecycle; `leases`: the session and stream quota leases and the
//!   refusals of every counting port.

mod access;
mod admission;
mod batch;
mod config;
mod counting;
mod dispatch;
mod health;
mod leases;
mod legacy;
mod listen;
mod route;
pub mod seed;
mod sessions;
mod stdio;
mod streamable;
pub(crate) mod tasks;
mod watch;
mod websocket;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

pub use crate::subscription::ListenHold;
pub use access::ClientAddress;
pub use admission::{
    check_announced_length, shutdown_error, ws_message_refusal, Admitted, ConnectionBudget,
    ReadPhase, WsClose, WsGate, WsKeepalive, WsTicket, BODY_RATE_GRACE_MS,
};
pub use config::GatewayConfig;
pub use counting::CONTENDED_RETRY_MS;
pub use health::{wants_deep, HealthProbe, ProbeReport, ProbeStatus, DEEP_HEALTH_CACHE_MS};
pub use legacy::{LegacyOutbox, IDLE_OUTBOX_POLL_FACTOR};
pub use route::{session_route, AssignedSession, SessionRoute};
pub use stdio::StdioConnection;
pub use streamable::{check_modern_envelope, modern_code_status, modern_status, modern_version};
pub use websocket::{binary_frame_refusal, WsAccept, WsConnection, WS_SUBPROTOCOL};

use crate::audit::{AuditSink, NoAudit};
use crate::auth::{Authenticator, Caller};
use crate::credential::Credentials;
use crate::error::McpError;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::policy::RequestPolicy;
use crate::port::{Clock, Entropy, HttpClient, Sleeper, UnixMillis};
use crate::quota::{LeaseLedger, MemoryLeaseLedger};
use crate::ratelimit::{MemoryRateLimiter, RateLimiter};
use crate::session::{SessionId, SessionStore};
use crate::tool::Registry;
use crate::transport::Reply;
use crate::upstream::{HttpClientFactory, SharedClient, UpstreamServices};

/// The ports a platform hands to [`McpApp`].
#[derive(Clone)]
pub struct Ports {
    /// Session storage.
    pub store: Arc<dyn SessionStore>,
    /// Outbound HTTP (JWKS fetches, and connectors unless a per-upstream factory is supplied).
    pub http: Arc<dyn HttpClient>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub entropy: Arc<dyn Entropy>,
}

/// The MCP gateway: decides every reply, doing I/O only through its [`Ports`].
pub struct McpApp {
    config: GatewayConfig,
    registry: Registry,
    /// Each registered tool's definition serialized once, in registry order (`tools/list` splices
    /// them into its replies).
    tool_json: Vec<Arc<serde_json::value::RawValue>>,
    validators: HashMap<String, crate::validator::SchemaValidator>,
    ports: Ports,
    metrics: Arc<Metrics>,
    auth: Authenticator,
    limiter: Arc<dyn RateLimiter>,
    session_leases: Arc<dyn LeaseLedger>,
    stream_leases: Arc<dyn LeaseLedger>,
    outbox: Option<Arc<dyn Outbox>>,
    sleeper: Option<Arc<dyn Sleeper>>,
    audit: Arc<dyn AuditSink>,
    upstream: UpstreamServices,
    http_factory: Arc<dyn HttpClientFactory>,
    bridge: Option<Arc<crate::connector::remote_bridge::BridgeCatalog>>,
    health_probes: Vec<Arc<dyn health::HealthProbe>>,
    health_cache: health::HealthCache,
    client_requests: Option<Arc<dyn crate::sampling::ClientRequests>>,
    tracer: crate::otel::Tracer,
    /// Poll interval of `subscriptions/listen` streams, when the platform holds them.
    listen_poll_ms: Option<u64>,
    /// Poll interval of held session streams for resource subscriptions, when the platform polls
    /// them (see [`McpApp::with_session_watch`]).
    session_watch_ms: Option<u64>,
    /// Task records, when the platform serves the Tasks extension (see [`McpApp::with_task_store`]).
    tasks: Option<Arc<dyn crate::task::TaskStore>>,
    /// How long a task record lives.
    task_ttl_ms: u64,
    /// Task runs in progress in this instance (bounded by [`crate::task::MAX_RUNNING`]).
    running_tasks: Arc<std::sync::atomic::AtomicUsize>,
}

/// A tool definition as `tools/list` lists it, serialized once. Through a `Value` on purpose: its
/// object keys come out sorted, as every other reply's do (the struct's own order would differ).
fn listed_json(def: &crate::tool::ToolDef) -> Arc<serde_json::value::RawValue> {
    raw_json(&serde_json::to_value(def).unwrap_or(Value::Null))
}

/// A registered tool's definition as `tools/list` lists it.
pub(crate) fn listed_definition(tool: &dyn crate::tool::Tool) -> Value {
    let mut def = serde_json::to_value(tool.def()).unwrap_or(Value::Null);
    // Tasks extension: a tool that can run as a task says so (`execution.taskSupport`).
    let support = tool.task_support();
    if support != crate::task::TaskSupport::Forbidden {
        def["execution"] = json!({"taskSupport": support.as_str()});
    }
    def
}

/// `tree` serialized once, to be spliced into replies.
fn raw_json(tree: &Value) -> Arc<serde_json::value::RawValue> {
    Arc::from(serde_json::value::to_raw_value(tree).unwrap_or_default())
}

/// Per-request facts every handler needs.
pub(crate) struct RequestFacts {
    pub credentials: Credentials,
    pub fingerprint: Option<String>,
    pub now: UnixMillis,
    pub caller: Caller,
    pub policy: RequestPolicy,
    /// The id the platform chose for a session this request opens (see [`AssignedSession`]).
    pub assigned_session: Option<SessionId>,
    /// The request's `X-Atlassian-Deployment` header.
    pub deployment: crate::upstream::RequestedDeployment,
    /// The W3C trace context of the request's headers (`None`: none, malformed, or tracing off).
    pub trace: Option<crate::otel::TraceContext>,
    /// Where a tool call's notifications go: the request's outlet, when its reply can stream
    /// (a single request on `POST /mcp` from a client that accepts `text/event-stream`).
    pub related: Option<crate::notify::Outlet>,
}

impl McpApp {
    /// Builds the gateway; tool input schemas are compiled once here.
    pub fn new(config: GatewayConfig, registry: Registry, ports: Ports) -> Result<Self, McpError> {
        let mut validators = HashMap::new();
        for tool in registry.tools() {
            let def = tool.def();
            let v = crate::validator::SchemaValidator::new(&def.input_schema).map_err(|e| {
                McpError::Internal(format!("tool {} has an invalid inputSchema: {e}", def.name))
            })?;
            validators.insert(def.name.clone(), v);
        }
        let tool_json = registry
            .tools()
            .iter()
            .map(|t| raw_json(&listed_definition(t.as_ref())))
            .collect();
        let auth = Authenticator::new(config.auth.clone());
        let http_factory: Arc<dyn HttpClientFactory> = Arc::new(SharedClient(ports.http.clone()));
        let upstream = UpstreamServices::new(config.upstream.clone(), http_factory.clone(), None);
        let bridge = config
            .bridge
            .clone()
            .map(|b| crate::connector::remote_bridge::BridgeCatalog::new(b, ports.http.clone()));
        let tracer = crate::otel::Tracer::new(
            config.tracing.mode.clone(),
            None,
            ports.clock.clone(),
            ports.entropy.clone(),
        );
        Ok(McpApp {
            tracer,
            bridge,
            config,
            registry,
            tool_json,
            validators,
            ports,
            metrics: Arc::new(Metrics::new()),
            auth,
            limiter: Arc::new(MemoryRateLimiter::default()),
            session_leases: Arc::new(MemoryLeaseLedger::default()),
            stream_leases: Arc::new(MemoryLeaseLedger::default()),
            outbox: None,
            sleeper: None,
            audit: Arc::new(NoAudit),
            upstream,
            http_factory,
            health_probes: Vec::new(),
            health_cache: Default::default(),
            client_requests: None,
            listen_poll_ms: None,
            session_watch_ms: None,
            tasks: None,
            task_ttl_ms: crate::task::DEFAULT_TTL_MS,
            running_tasks: Arc::default(),
        })
    }

    /// Exports the spans of sampled requests to `sink` (when `OTEL_*` settings ask for export).
    pub fn with_span_sink(mut self, sink: Arc<dyn crate::otel::SpanSink>) -> Self {
        self.tracer = crate::otel::Tracer::new(
            self.config.tracing.mode.clone(),
            Some(sink),
            self.ports.clock.clone(),
            self.ports.entropy.clone(),
        );
        self
    }

    /// The tracer (platforms start the spans of their own calls, e.g. to a bridged child, with it).
    pub fn tracer(&self) -> &crate::otel::Tracer {
        &self.tracer
    }

    /// Adds a part only the platform can see to the deep health check (`/health?deep=1`).
    pub fn with_health_probe(mut self, probe: Arc<dyn health::HealthProbe>) -> Self {
        self.health_probes.push(probe);
        self
    }

    /// Lets tools send requests to a session's client during a call (sampling) through `port`.
    pub fn with_client_requests(mut self, port: Arc<dyn crate::sampling::ClientRequests>) -> Self {
        self.client_requests = Some(port);
        self
    }

    /// Keeps rate-limit buckets in `limiter` instead of process memory.
    pub fn with_rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Keeps the leases of the sessions-per-caller quota in `ledger` instead of process memory
    /// (needed wherever one caller's sessions live in different instances).
    pub fn with_session_ledger(mut self, ledger: Arc<dyn LeaseLedger>) -> Self {
        self.session_leases = ledger;
        self
    }

    /// Keeps the leases of the streams-per-session quota in `ledger` instead of process memory
    /// (needed wherever one session's streams are held by different instances).
    pub fn with_stream_ledger(mut self, ledger: Arc<dyn LeaseLedger>) -> Self {
        self.stream_leases = ledger;
        self
    }

    /// Legacy `/messages` replies wait in `outbox` (which the `/sse` stream's holder polls with
    /// [`McpApp::legacy_outbox`]) instead of going out as [`crate::transport::Delivery`]s: for
    /// platforms where the stream and the POST run in different instances (AWS Lambda).
    pub fn with_outbox(mut self, outbox: Arc<dyn Outbox>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Shares the OAuth signing-key cache with other gateways of this process or isolate.
    pub fn with_jwks_cache(mut self, cache: Arc<crate::auth::JwksCache>) -> Self {
        self.auth = Authenticator::new(self.config.auth.clone()).with_jwks_cache(cache);
        self
    }

    /// Supplies timers, which enables the tool-call timeout.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = Some(sleeper);
        self.rebuild_upstream();
        self
    }

    /// Gives each pooled upstream its own client from `factory` (native: one connection-reusing
    /// client per upstream origin).
    pub fn with_http_factory(mut self, factory: Arc<dyn HttpClientFactory>) -> Self {
        self.http_factory = factory;
        self.rebuild_upstream();
        self
    }

    fn rebuild_upstream(&mut self) {
        self.upstream = UpstreamServices::new(
            self.config.upstream.clone(),
            self.http_factory.clone(),
            self.sleeper.clone(),
        );
    }

    /// Upstream guard and pool (platform clients re-check resolved addresses with the guard).
    pub fn upstream(&self) -> &UpstreamServices {
        &self.upstream
    }

    /// Sends audit records to `sink`.
    pub fn with_audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// The gateway's metrics (shared with the platform, which records latencies and streams).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The tag that stands for session `id` in log and audit lines (see [`crate::session::session_tag`]).
    pub fn session_tag(&self, id: &str) -> String {
        crate::session::session_tag(&self.config.fingerprint_key, id)
    }

    /// The time now, from the clock port (platforms feed it to [`crate::transport::hold::HeldStream`]).
    pub fn now(&self) -> crate::port::UnixMillis {
        self.ports.clock.now()
    }

    /// The state machine of a held stream opening now: `frames` first, then keep-alives at the
    /// hold's interval; counted in the active-stream gauge until it is dropped.
    pub fn held_stream(
        &self,
        frames: Vec<bytes::Bytes>,
        keepalive_ms: u64,
    ) -> crate::transport::hold::HeldStream {
        crate::transport::hold::HeldStream::open(frames, keepalive_ms, self.now())
            .counted(self.metrics.clone())
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Handles one HTTP request. `path` routing: `/mcp`, `/sse`, `/messages`, `/health`, `/metrics`;
    /// any prefix before those names is kept (e.g. `/servers/x/mcp`).
    pub async fn handle(&self, mut req: Request<Bytes>) -> Reply {
        let path = req.uri().path().trim_end_matches('/').to_owned();
        let leaf = path.rsplit('/').next().unwrap_or("").to_owned();
        let headers = req.headers().clone();
        if req.method() == Method::OPTIONS {
            return self.with_cors(&headers, self.preflight(&headers));
        }
        if path.contains("/.well-known/oauth-protected-resource") {
            return self.with_cors(
                &headers,
                self.protected_resource_metadata(req.method(), &headers),
            );
        }
        let admitted = match req.extensions_mut().remove::<Admitted>() {
            Some(a) => a,
            None => match self
                .admit_head(
                    req.method(),
                    &path,
                    &headers,
                    req.extensions().get::<ClientAddress>(),
                )
                .await
            {
                Ok(a) => a,
                Err(reply) => return *reply,
            },
        };
        if let Some(caller) = admitted.caller() {
            req.extensions_mut().insert(caller.clone());
        }
        let reply = match (req.method(), leaf.as_str()) {
            (_, "mcp") => self.streamable(req).await,
            (&Method::GET, "sse") => self.legacy_open(req).await,
            (_, "sse") => Reply::error(
                &McpError::MethodNotAllowed("use GET /sse".into()),
                &Value::Null,
            ),
            (&Method::POST, "messages") => self.legacy_post(req).await,
            (m, "health" | "ready") if health::wants_deep(m, &leaf, req.uri().query()) => {
                self.deep_health().await
            }
            (&Method::GET, "health") => self.health(),
            (&Method::GET, "metrics") => Reply::text(
                StatusCode::OK,
                &self.metrics.render_with_pool(&self.upstream.pool().stats()),
                "text/plain; version=0.0.4",
            ),
            _ => Reply::json(
                StatusCode::NOT_FOUND,
                &json!({"error": "not found", "path": path}),
            ),
        };
        if reply.status() != StatusCode::OK && reply.status() != StatusCode::ACCEPTED {
            self.metrics.count_request("http", reply.status().as_u16());
        }
        self.with_cors(&headers, reply)
    }

    pub(crate) fn facts(&self, headers: &http::HeaderMap, caller: Caller) -> RequestFacts {
        // `Authorization` is an upstream token only when the gateway does not use it itself.
        let credentials = Credentials::resolve(
            headers,
            &self.config.credential_defaults,
            self.config.auth.is_open(),
        );
        let fingerprint = credentials.fingerprint(&self.config.fingerprint_key);
        let policy = RequestPolicy::new(&self.config.policy, headers).for_caller(&caller);
        RequestFacts {
            credentials,
            fingerprint,
            now: self.ports.clock.now(),
            caller,
            policy,
            assigned_session: None,
            deployment: crate::upstream::RequestedDeployment::from_headers(headers),
            trace: self.tracer.incoming(headers),
            related: None,
        }
    }
}

#[cfg(test)]
mod tests;
