//! `McpApp`: the one entry point every platform calls. It ties protocol, transports, sessions,
//! credentials, policy and the registry together.

mod access;
mod admission;
mod batch;
mod dispatch;
mod legacy;
mod stdio;
mod streamable;
mod websocket;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

pub use access::ClientAddress;
pub use admission::{
    check_announced_length, shutdown_error, ws_message_refusal, Admitted, ConnectionBudget,
    ReadPhase, WsClose, BODY_RATE_GRACE_MS,
};
pub use legacy::LegacyOutbox;
pub use stdio::StdioConnection;
pub use websocket::{binary_frame_refusal, WsAccept, WsConnection, WS_SUBPROTOCOL};

use crate::audit::{AuditSink, NoAudit};
use crate::auth::{AuthConfig, Authenticator, Caller};
use crate::credential::{CredentialDefaults, Credentials};
use crate::error::McpError;
use crate::metrics::Metrics;
use crate::policy::{PolicyConfig, RequestPolicy};
use crate::port::{Clock, Entropy, HttpClient, Sleeper, UnixMillis};
use crate::quota::{LeaseChange, LeaseError, LeaseLedger, MemoryLeaseLedger};
use crate::ratelimit::{MemoryRateLimiter, RateLimit, RateLimiter};
use crate::session::SessionStore;
use crate::session::{SessionId, SessionRecord, SessionTransport};
use crate::tool::Registry;
use crate::transport::headers::OriginPolicy;
use crate::transport::{Reply, SESSION_HEADER};
use crate::upstream::{HttpClientFactory, SharedClient, UpstreamConfig, UpstreamServices};

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
    /// Key for credential fingerprints kept in sessions.
    pub fingerprint_key: Vec<u8>,
    /// Items per page of list results.
    pub page_size: usize,
    /// Interval of SSE keep-alive comments.
    pub keepalive_ms: u64,
    /// Events kept per session for `Last-Event-ID` resumption.
    pub event_log_limit: usize,
    /// Answer POSTs with SSE even when the client also accepts JSON.
    pub prefer_sse: bool,
    /// Legacy `/messages` replies go into the session record (an outbox the `/sse` stream's holder
    /// polls with [`McpApp::legacy_outbox`]) instead of [`crate::transport::Delivery`]s: for platforms
    /// where the stream and the POST run in different instances (AWS Lambda).
    pub legacy_outbox_in_store: bool,
    /// Tool policy.
    pub policy: PolicyConfig,
    /// Caller authentication (open when empty).
    pub auth: AuthConfig,
    /// Default per-caller limit on requests.
    pub request_limit: Option<RateLimit>,
    /// Default per-caller limit on tool calls.
    pub tool_call_limit: Option<RateLimit>,
    /// Longest a tool call may run (enforced when the platform supplies a [`Sleeper`]).
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
}

impl Default for GatewayConfig {
    /// The settings table's defaults ([`crate::settings::table`]) and the fixed limits.
    fn default() -> Self {
        use crate::settings::table;
        GatewayConfig {
            server_name: "mcp-edge".into(),
            server_version: env!("CARGO_PKG_VERSION").into(),
            instructions: None,
            session_ttl_ms: table::SESSION_TTL.fixed_default(),
            max_body_bytes: table::MAX_BODY_BYTES.fixed_default(),
            max_batch: table::MAX_BATCH.fixed_default(),
            max_batch_reply_bytes: 8 * 1024 * 1024,
            origins: OriginPolicy::default(),
            fingerprint_key: b"mcp-edge-default-fingerprint-key".to_vec(),
            page_size: 100,
            keepalive_ms: table::KEEPALIVE.fixed_default(),
            event_log_limit: 64,
            prefer_sse: false,
            legacy_outbox_in_store: false,
            policy: PolicyConfig {
                allow_request_overrides: true,
                ..PolicyConfig::default()
            },
            auth: AuthConfig::default(),
            request_limit: None,
            tool_call_limit: None,
            tool_timeout_ms: Some(table::TOOL_TIMEOUT.fixed_default()),
            max_sessions_per_caller: None,
            max_streams_per_session: None,
            stream_lease_ms: None,
            upstream: UpstreamConfig::default(),
            credential_defaults: CredentialDefaults::default(),
            bridge: None,
        }
    }
}

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
    validators: HashMap<String, crate::validator::SchemaValidator>,
    ports: Ports,
    metrics: Arc<Metrics>,
    auth: Authenticator,
    limiter: Arc<dyn RateLimiter>,
    session_leases: Arc<dyn LeaseLedger>,
    stream_leases: Arc<dyn LeaseLedger>,
    sleeper: Option<Arc<dyn Sleeper>>,
    audit: Arc<dyn AuditSink>,
    upstream: UpstreamServices,
    http_factory: Arc<dyn HttpClientFactory>,
    bridge: Option<Arc<crate::connector::remote_bridge::BridgeCatalog>>,
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
}

/// Where a platform that keeps each session in its own actor (a Durable Object) must run a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRoute {
    /// Needs no session state (stateless 2026-07-28 calls, `/health`, errors): run it anywhere.
    Stateless,
    /// Belongs to this existing session.
    Session(SessionId),
    /// Opens a session (`initialize`, `GET /sse`, `/ws`): the platform picks the id, runs the request
    /// where that session will live and hands the id over as an [`AssignedSession`] extension.
    NewSession,
}

/// A session id the platform chose in advance for a request that opens a session (request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedSession(pub SessionId);

/// Decides where `req` must run, from its path, headers and (for a sessionless POST) whether its body is
/// an `initialize` request. Ids that are not well-formed route as [`SessionRoute::Stateless`], where the
/// gateway answers them "session not found".
pub fn session_route(req: &Request<Bytes>) -> SessionRoute {
    let path = req.uri().path().trim_end_matches('/');
    let leaf = path.rsplit('/').next().unwrap_or("");
    let existing = |text: Option<&str>| {
        text.and_then(|t| SessionId::parse(t.trim()))
            .map_or(SessionRoute::Stateless, SessionRoute::Session)
    };
    match (req.method(), leaf) {
        (_, "ws") => SessionRoute::NewSession,
        (&Method::GET, "sse") => SessionRoute::NewSession,
        (&Method::POST, "messages") => {
            let query = req.uri().query().unwrap_or("");
            let sid = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "sessionId" || k == "session_id")
                .map(|(_, v)| v.into_owned());
            existing(sid.as_deref())
        }
        (_, "mcp") => {
            if let Some(sid) = req.headers().get(SESSION_HEADER) {
                return existing(sid.to_str().ok());
            }
            let modern = req
                .headers()
                .get(crate::transport::VERSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| crate::protocol::MODERN_VERSIONS.contains(&v));
            if req.method() == Method::POST && !modern && is_initialize_request(req.body()) {
                SessionRoute::NewSession
            } else {
                SessionRoute::Stateless
            }
        }
        _ => SessionRoute::Stateless,
    }
}

/// Whether `body` is a single JSON-RPC request whose method is `initialize` (other fields are skipped).
fn is_initialize_request(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
        id: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe<'_>>(body)
        .is_ok_and(|p| p.id.is_some() && p.method.as_deref() == Some("initialize"))
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
        let auth = Authenticator::new(config.auth.clone());
        let http_factory: Arc<dyn HttpClientFactory> = Arc::new(SharedClient(ports.http.clone()));
        let upstream = UpstreamServices::new(config.upstream.clone(), http_factory.clone(), None);
        let bridge = config
            .bridge
            .clone()
            .map(|b| crate::connector::remote_bridge::BridgeCatalog::new(b, ports.http.clone()));
        Ok(McpApp {
            bridge,
            config,
            registry,
            validators,
            ports,
            metrics: Arc::new(Metrics::new()),
            auth,
            limiter: Arc::new(MemoryRateLimiter::default()),
            session_leases: Arc::new(MemoryLeaseLedger::default()),
            stream_leases: Arc::new(MemoryLeaseLedger::default()),
            sleeper: None,
            audit: Arc::new(NoAudit),
            upstream,
            http_factory,
        })
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

    fn health(&self) -> Reply {
        Reply::json(
            StatusCode::OK,
            &json!({
                "status": "ok",
                "server": self.config.server_name,
                "version": self.config.server_version,
                "tools": self.registry.tools().len(),
            }),
        )
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
        }
    }

    /// A new, unsaved session record.
    pub(crate) fn new_session(
        &self,
        transport: SessionTransport,
        version: &str,
        facts: &RequestFacts,
    ) -> SessionRecord {
        SessionRecord {
            id: facts
                .assigned_session
                .clone()
                .unwrap_or_else(|| SessionId::generate(self.ports.entropy.as_ref())),
            protocol_version: version.to_owned(),
            transport,
            client_info: None,
            client_capabilities: Value::Object(Default::default()),
            initialized: false,
            log_level: None,
            credential_fingerprint: facts.fingerprint.clone(),
            owner: Some(facts.caller.owner.clone()),
            created_at: facts.now,
            last_seen: facts.now,
            expires_at: facts.now.saturating_add(self.config.session_ttl_ms),
            version: 0,
            next_stream: 1,
            events: Vec::new(),
            caller: None,
            lease_until: None,
        }
    }

    /// How far a session lease reaches past the session's expiry, so that expiry refreshes between
    /// two lease renewals never outlive the lease.
    pub(crate) fn lease_margin(&self) -> u64 {
        (self.config.session_ttl_ms / 10).max(1000)
    }

    /// Takes the caller's lease for a new session when sessions per caller are limited; records the
    /// caller in the session so the lease can be renewed and given back.
    pub(crate) async fn open_session_lease(
        &self,
        rec: &mut SessionRecord,
        caller: &Caller,
        now: UnixMillis,
    ) -> Result<(), McpError> {
        let Some(max) = self.config.max_sessions_per_caller else {
            return Ok(());
        };
        let until = rec.expires_at.saturating_add(self.lease_margin());
        let change = LeaseChange::Open {
            id: rec.id.to_string(),
            until,
            max,
        };
        rec.caller = Some(caller.name.clone());
        rec.lease_until = Some(until);
        self.take_session_lease(&caller.name, &change, max, now)
            .await
    }

    /// Takes a lease from the caller's session quota (sessions of every transport count).
    pub(crate) async fn take_session_lease(
        &self,
        caller: &str,
        change: &LeaseChange,
        max: u32,
        now: UnixMillis,
    ) -> Result<(), McpError> {
        let key = crate::quota::sessions_key(caller);
        self.take_lease(&self.session_leases, &key, change, now)
            .await
            .map_err(|(held, retry)| {
                McpError::QuotaExceeded(
                    format!(
                        "caller {caller} has {held} open sessions (limit {max}); end one (DELETE, or close its stream or socket) or let one expire"
                    ),
                    retry,
                )
            })
    }

    /// Counts a session the platform keeps itself (a bridged stdio session) against the caller's
    /// session quota, until [`McpApp::close_caller_session`]. `Ok(false)`: no quota is configured.
    pub async fn open_caller_session(&self, caller: &Caller, id: &str) -> Result<bool, McpError> {
        let Some(max) = self.config.max_sessions_per_caller else {
            return Ok(false);
        };
        let change = LeaseChange::Open {
            id: id.to_owned(),
            until: UnixMillis::MAX,
            max,
        };
        self.take_session_lease(&caller.name, &change, max, self.ports.clock.now())
            .await?;
        Ok(true)
    }

    /// Gives back the place of a session opened with [`McpApp::open_caller_session`].
    pub async fn close_caller_session(&self, caller: &str, id: &str) {
        self.close_lease(true, &crate::quota::sessions_key(caller), id)
            .await;
    }

    /// Gives lease `id` under `key` back; a failing ledger lets it lapse on its own.
    pub(crate) async fn close_lease(&self, sessions: bool, key: &str, id: &str) {
        let ledger = if sessions {
            &self.session_leases
        } else {
            &self.stream_leases
        };
        let change = LeaseChange::Close { id: id.to_owned() };
        let _ = ledger.apply(key, &change, self.ports.clock.now()).await;
    }

    /// Applies a lease change; `Err((held, retry_after_ms))` when the quota is used up. A failing
    /// ledger lets the request through (availability over exactness; the platform logs it).
    pub(crate) async fn take_lease(
        &self,
        ledger: &Arc<dyn LeaseLedger>,
        key: &str,
        change: &LeaseChange,
        now: UnixMillis,
    ) -> Result<(), (usize, Option<u64>)> {
        match ledger.apply(key, change, now).await {
            Err(LeaseError::Full {
                held,
                retry_after_ms,
            }) => {
                self.metrics.count_request("quota_exceeded", 429);
                Err((held, retry_after_ms))
            }
            Ok(()) | Err(LeaseError::Backend(_)) => Ok(()),
        }
    }

    /// Gives a session's lease back (the session ended).
    pub(crate) async fn close_session_lease(&self, rec: &SessionRecord) {
        if let (Some(_), Some(caller)) = (self.config.max_sessions_per_caller, &rec.caller) {
            let key = crate::quota::sessions_key(caller);
            self.close_lease(true, &key, rec.id.as_str()).await;
        }
    }

    /// Deletes a session and gives its lease back.
    pub(crate) async fn end_session(&self, rec: &SessionRecord) -> Result<(), McpError> {
        self.ports.store.delete(&rec.id).await?;
        self.metrics.session_closed();
        self.close_session_lease(rec).await;
        Ok(())
    }

    /// Takes a lease for a new `GET` stream of `session` when streams per session are limited: the
    /// lease token for the [`crate::transport::StreamHold`].
    pub(crate) async fn open_stream_lease(
        &self,
        session: &SessionId,
        now: UnixMillis,
    ) -> Result<Option<String>, McpError> {
        let Some(max) = self.config.max_streams_per_session else {
            return Ok(None);
        };
        let mut raw = [0u8; 8];
        self.ports.entropy.fill(&mut raw);
        let token = hex::encode(raw);
        let until = self
            .config
            .stream_lease_ms
            .map_or(UnixMillis::MAX, |ms| now.saturating_add(ms));
        let change = LeaseChange::Open {
            id: token.clone(),
            until,
            max,
        };
        self.take_lease(
            &self.stream_leases,
            &crate::quota::streams_key(session.as_str()),
            &change,
            now,
        )
        .await
        .map_err(|(held, retry)| {
            McpError::QuotaExceeded(
                format!("session has {held} open streams (limit {max}); close one first"),
                retry,
            )
        })?;
        Ok(Some(token))
    }

    /// Gives a stream's lease back.
    pub(crate) async fn close_stream_lease(&self, session: &SessionId, token: Option<&str>) {
        if let Some(token) = token {
            let key = crate::quota::streams_key(session.as_str());
            self.close_lease(false, &key, token).await;
        }
    }

    /// Platforms call this when a held stream ends: gives its lease back, and ends a legacy session
    /// (whose lifetime is its `/sse` stream).
    pub async fn stream_closed(&self, hold: &crate::transport::StreamHold) {
        self.close_stream_lease(&hold.session, hold.lease.as_deref())
            .await;
        if hold.channel == crate::transport::StreamChannel::Legacy {
            self.legacy_stream_closed(&hold.session).await;
        }
    }

    /// Loads a live session by id text; unknown, expired, credential-mismatched sessions and sessions
    /// owned by another identity are all "not found" (the same answer, so a probe learns nothing).
    pub(crate) async fn load_session(
        &self,
        id_text: &str,
        facts: &RequestFacts,
    ) -> Result<SessionRecord, McpError> {
        let id = SessionId::parse(id_text.trim()).ok_or(McpError::SessionNotFound)?;
        let rec = self
            .ports
            .store
            .load(&id)
            .await?
            .ok_or(McpError::SessionNotFound)?;
        if rec.is_expired(facts.now) {
            self.end_session(&rec).await?;
            return Err(McpError::SessionNotFound);
        }
        if rec.credential_fingerprint != facts.fingerprint
            || !facts.caller.owns(rec.owner.as_deref())
        {
            return Err(McpError::SessionNotFound);
        }
        Ok(rec)
    }

    /// Applies `change` to the session and saves it with compare-and-set, reloading and re-applying on
    /// a lost race (bounded). When `change` reports no change, the write happens only if the expiry
    /// refresh is due, which keeps idle-refresh writes rare.
    pub(crate) async fn update_session(
        &self,
        mut rec: SessionRecord,
        now: UnixMillis,
        change: impl Fn(&mut SessionRecord) -> bool,
    ) -> Result<SessionRecord, McpError> {
        for _ in 0..8 {
            let changed = change(&mut rec);
            let refresh_due =
                now.saturating_sub(rec.last_seen) >= (self.config.session_ttl_ms / 20).max(1000);
            if !changed && !refresh_due {
                return Ok(rec);
            }
            rec.last_seen = rec.last_seen.max(now);
            rec.expires_at = rec.last_seen.saturating_add(self.config.session_ttl_ms);
            self.renew_session_lease(&mut rec, now).await;
            match self.ports.store.save(&rec, Some(rec.version)).await {
                Ok(v) => {
                    rec.version = v;
                    return Ok(rec);
                }
                Err(crate::session::StoreError::Conflict) => {
                    rec = self
                        .ports
                        .store
                        .load(&rec.id)
                        .await?
                        .ok_or(McpError::SessionNotFound)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(McpError::Store("session kept changing concurrently".into()))
    }

    /// Extends the session's lease once its expiry has moved past it (about once per tenth of the
    /// TTL of activity); the new end is recorded in the session only when the ledger took it.
    async fn renew_session_lease(&self, rec: &mut SessionRecord, now: UnixMillis) {
        let (Some(_), Some(caller)) = (self.config.max_sessions_per_caller, &rec.caller) else {
            return;
        };
        if rec.lease_until.is_some_and(|u| u >= rec.expires_at) {
            return;
        }
        let until = rec.expires_at.saturating_add(self.lease_margin());
        let change = LeaseChange::Renew {
            id: rec.id.to_string(),
            until,
        };
        let key = crate::quota::sessions_key(caller);
        if self.session_leases.apply(&key, &change, now).await.is_ok() {
            rec.lease_until = Some(until);
        }
    }

    pub(crate) fn session_header(headers: &http::HeaderMap) -> Option<&str> {
        headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests;
