//! The registry of bridged servers: every configured server by name, each with its client sessions
//! (opened by `initialize`, owned by the caller that opened them, counted against the caller's
//! session quota) and its child supervisor(s): one shared child, or one per session.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_edge_core::auth::Caller;
use mcp_edge_core::bridge_era::{self, Parked};
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::{HealthProbe, ProbeReport, ProbeStatus};
use mcp_edge_core::port::BoxFuture;
use mcp_edge_core::McpApp;
use serde_json::{json, Value};

use super::call::Call;
use super::config::{Isolation, ServerSpec};
use super::modern::ParkedCall;
use super::outbox::Outbox;
use super::session::BridgeSession;
use super::supervisor::{poisoned, Supervisor};

/// Every bridged server, by name.
pub struct Bridge {
    servers: BTreeMap<String, Arc<BridgedServer>>,
}

impl Bridge {
    /// Builds the bridge (no child starts until a client needs it); `app` holds the gateway policy
    /// bridged sessions are counted by (the per-caller session quota).
    pub fn new(specs: BTreeMap<String, ServerSpec>, app: Arc<McpApp>) -> Self {
        let servers = specs
            .into_iter()
            .map(|(name, spec)| {
                let server = Arc::new(BridgedServer::new(name.clone(), spec, app.clone()));
                (name, server)
            })
            .collect();
        Bridge { servers }
    }

    /// A server by name.
    pub fn server(&self, name: &str) -> Option<&Arc<BridgedServer>> {
        self.servers.get(name)
    }

    /// Names of the configured servers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.keys().map(String::as_str)
    }

    /// Ends idle sessions and stops idle children.
    pub fn sweep(&self, session_ttl: Duration) {
        for s in self.servers.values() {
            s.sweep(session_ttl);
        }
    }

    /// Stops every child (server shutdown).
    pub fn shutdown(&self) {
        for s in self.servers.values() {
            s.shutdown();
        }
    }

    /// Every server, by name.
    pub fn servers(&self) -> impl Iterator<Item = &Arc<BridgedServer>> {
        self.servers.values()
    }

    /// The server and session with this id, on whichever server it lives, when `caller` owns it.
    pub fn find_session(
        &self,
        id: &str,
        caller: &Caller,
    ) -> Option<(Arc<BridgedServer>, Arc<BridgeSession>)> {
        self.servers
            .values()
            .find_map(|s| s.session(id, caller).map(|session| (s.clone(), session)))
    }

    /// Per-server figures for `/stats`; sessions listed are `caller`'s own (their ids are bearer
    /// secrets).
    pub fn stats(&self, caller: &Caller) -> Value {
        Value::Object(
            self.servers
                .iter()
                .map(|(name, s)| (name.clone(), s.stats(caller)))
                .collect(),
        )
    }
}

/// One configured server: its sessions and its child (shared) or children (per session).
pub struct BridgedServer {
    /// Name (URL segment).
    pub name: String,
    spec: ServerSpec,
    sessions: Mutex<HashMap<String, Arc<BridgeSession>>>,
    /// Legacy SSE streams and WebSockets opened before their session's `initialize`, with the
    /// identity that opened them.
    pending: Mutex<HashMap<String, (String, Arc<Outbox>)>>,
    shared: Mutex<Option<Arc<Supervisor>>>,
    /// When this server's children crashed (all children count towards the restart budget).
    crashes: Arc<Mutex<VecDeque<Instant>>>,
    calls: AtomicU64,
    failures: AtomicU64,
    app: Arc<McpApp>,
    /// The bridged session of each 2026-07-28 caller (by owner): its id and the child's handshake
    /// result (what `server/discover` reports).
    modern: Mutex<HashMap<String, (String, Value)>>,
    /// Serializes opening 2026-07-28 callers' sessions (one per caller, however many requests race).
    modern_open: tokio::sync::Mutex<()>,
    /// Calls of 2026-07-28 callers waiting for their input (the child asked the client something).
    parked: Mutex<Parked<ParkedCall>>,
}

/// How a client session starts: who asks, and where the child's messages for it go.
pub struct SessionStart<'a> {
    /// The `initialize` request (JSON-RPC).
    pub request: Value,
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// An outbox the transport already streams from (legacy SSE opens its stream first).
    pub outbox: Option<Arc<Outbox>>,
    /// Free-form metadata (REST clients).
    pub metadata: Value,
}

impl BridgedServer {
    fn new(name: String, spec: ServerSpec, app: Arc<McpApp>) -> Self {
        BridgedServer {
            app,
            name,
            spec,
            sessions: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            shared: Mutex::new(None),
            crashes: Arc::default(),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            modern: Mutex::new(HashMap::new()),
            modern_open: tokio::sync::Mutex::new(()),
            parked: Mutex::new(Parked::default()),
        }
    }

    /// The bridged session of a 2026-07-28 caller and the child's handshake result: the caller's
    /// live one, or a new one whose `initialize` the bridge runs with the capabilities and identity
    /// `params._meta` declares (its own child in per-session mode, the shared child otherwise).
    pub(super) async fn modern_session(
        &self,
        caller: &Caller,
        params: Option<&serde_json::Map<String, Value>>,
    ) -> Result<(Arc<BridgeSession>, Value), McpError> {
        let _guard = self.modern_open.lock().await;
        let known = self
            .modern
            .lock()
            .map_err(poisoned)?
            .get(&caller.owner)
            .cloned();
        if let Some((id, handshake)) = known {
            if let Some(session) = self.session(&id, caller) {
                return Ok((session, handshake));
            }
        }
        let id = mcp_edge_core::session::SessionId::generate(&mcp_edge_native::OsEntropy)
            .as_str()
            .to_owned();
        let start = SessionStart {
            request: bridge_era::handshake(params),
            caller,
            outbox: Some(Arc::new(Outbox::unread())),
            metadata: json!({"protocolVersion": "2026-07-28"}),
        };
        let (session, answer) = self.open_session(id.clone(), start).await?;
        let Some(handshake) = answer.get("result").cloned() else {
            self.end_session(&id);
            return Err(McpError::Backend(format!(
                "server '{}' refused the bridge's initialize: {}",
                self.name,
                answer.get("error").cloned().unwrap_or(Value::Null)
            )));
        };
        self.notify(
            &session,
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await?;
        self.modern
            .lock()
            .map_err(poisoned)?
            .insert(caller.owner.clone(), (id, handshake.clone()));
        Ok((session, handshake))
    }

    /// Parks a call waiting for its client's input (see [`Parked::park`]).
    pub(super) fn park(
        &self,
        nonce: String,
        owner: &str,
        expires_at: u64,
        ids: Vec<(String, Value)>,
        call: ParkedCall,
    ) -> Result<(), McpError> {
        let mut parked = self.parked.lock().map_err(poisoned)?;
        parked
            .park(nonce, owner, expires_at, ids, call)
            .map_err(|(e, _)| e)
    }

    /// Takes a parked call with the child's answers (see [`Parked::take`]).
    pub(super) fn unpark(
        &self,
        nonce: &str,
        owner: &str,
        responses: &serde_json::Map<String, Value>,
    ) -> Result<(ParkedCall, Vec<Value>), McpError> {
        let now = self.app.now();
        self.parked
            .lock()
            .map_err(poisoned)?
            .take(nonce, owner, now, responses)
    }

    /// The gateway whose key signs `requestState` and whose clock dates it.
    pub(super) fn app(&self) -> &McpApp {
        &self.app
    }

    fn supervisor(&self, owner: Option<String>) -> Arc<Supervisor> {
        Arc::new(Supervisor::new(
            self.name.clone(),
            self.spec.clone(),
            owner,
            self.crashes.clone(),
        ))
    }

    /// A live session by id that `caller` owns (refreshing its idle clock). Another identity's
    /// session is `None`, exactly like an unknown one ([`Caller::owns`], the core's rule).
    pub fn session(&self, id: &str, caller: &Caller) -> Option<Arc<BridgeSession>> {
        let s = self.sessions.lock().ok()?.get(id).cloned()?;
        if !caller.owns(Some(&s.owner)) {
            return None;
        }
        s.touch();
        Some(s)
    }

    /// Registers a legacy SSE stream (or WebSocket) of `caller` whose session starts with a later
    /// `initialize`.
    pub fn open_pending(&self, id: &str, caller: &Caller) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::default());
        if let Ok(mut m) = self.pending.lock() {
            m.insert(id.to_owned(), (caller.owner.clone(), outbox.clone()));
        }
        outbox
    }

    /// Takes the outbox of a stream waiting for its `initialize`, when `caller` opened it.
    pub fn take_pending(&self, id: &str, caller: &Caller) -> Option<Arc<Outbox>> {
        let mut m = self.pending.lock().ok()?;
        if !caller.owns(m.get(id).map(|(owner, _)| owner.as_str())) {
            return None;
        }
        m.remove(id).map(|(_, outbox)| outbox)
    }

    /// Forgets a pending stream (it closed).
    pub fn drop_pending(&self, id: &str) {
        if let Ok(mut m) = self.pending.lock() {
            m.remove(id);
        }
    }

    /// Puts back the outbox of `caller`'s stream whose `initialize` has not succeeded yet (unless the
    /// stream closed meanwhile).
    pub fn restore_pending(&self, id: &str, caller: &Caller, outbox: Arc<Outbox>) {
        if outbox.is_closed() {
            return;
        }
        if let Ok(mut m) = self.pending.lock() {
            m.insert(id.to_owned(), (caller.owner.clone(), outbox));
        }
    }

    /// The configured isolation mode.
    pub fn isolation(&self) -> Isolation {
        self.spec.isolation
    }

    /// Runs the client's `initialize` and opens a session on success. Returns the session and the
    /// answer for the client. The session counts against the caller's session quota.
    pub async fn open_session(
        &self,
        id: String,
        start: SessionStart<'_>,
    ) -> Result<(Arc<BridgeSession>, Value), McpError> {
        let leased = self.app.open_caller_session(start.caller, &id).await?;
        let lease_holder = leased.then(|| start.caller.name.clone());
        let owner = start.caller.owner.clone();
        let opened = self
            .open_leased(id.clone(), start, lease_holder.clone(), owner)
            .await;
        if let (Err(_), Some(caller)) = (&opened, &lease_holder) {
            self.app.close_caller_session(caller, &id).await;
        }
        opened
    }

    async fn open_leased(
        &self,
        id: String,
        start: SessionStart<'_>,
        lease_holder: Option<String>,
        owner: String,
    ) -> Result<(Arc<BridgeSession>, Value), McpError> {
        let request = start.request;
        let client_id = request
            .pointer("/params/clientInfo/name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let supervisor = match self.spec.isolation {
            Isolation::Shared => {
                let mut slot = self.shared.lock().map_err(poisoned)?;
                slot.get_or_insert_with(|| self.supervisor(None)).clone()
            }
            Isolation::PerSession => {
                let open = self.sessions.lock().map_err(poisoned)?.len();
                if open >= self.spec.max_children {
                    return Err(McpError::Backend(format!(
                        "server '{}' already runs its maximum of {} children (one per session); end a session or raise max_children",
                        self.name, self.spec.max_children
                    )));
                }
                self.supervisor(Some(id.clone()))
            }
        };
        let outbox = start.outbox.unwrap_or_default();
        supervisor.attach(&id, outbox.clone());
        let answer = match supervisor.initialize(&id, request).await {
            Ok(a) => a,
            Err(e) => {
                supervisor.detach(&id);
                if self.spec.isolation == Isolation::PerSession {
                    supervisor.stop();
                }
                self.failures.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let protocol_version = answer
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("2025-03-26")
            .to_owned();
        let session = Arc::new(BridgeSession {
            id: id.clone(),
            protocol_version,
            supervisor,
            outbox,
            last_seen: Mutex::new(Instant::now()),
            stream_open: AtomicBool::new(false),
            lease_holder,
            owner,
            client_id,
            metadata: start.metadata,
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or_default(),
        });
        self.sessions
            .lock()
            .map_err(poisoned)?
            .insert(id, session.clone());
        Ok((session, answer))
    }

    /// Forwards a client request and waits for the answer (id restored to the client's).
    pub async fn request(&self, session: &BridgeSession, mut message: Value) -> Value {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let tracer = self.app.tracer();
        let span = tracer.start_bridged(None, &self.name, &mut message);
        let answer = match session.supervisor.request(&session.id, message).await {
            Ok(answer) => answer,
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                mcp_edge_core::protocol::failure(&id, &e.to_jsonrpc())
            }
        };
        tracer.finish_bridged(span, Ok(&answer));
        answer
    }

    /// Forwards a client request whose answer streams: related messages, then the answer.
    /// Its span ends once the child has the request (the answer streams on afterwards).
    pub async fn call(
        &self,
        session: &BridgeSession,
        mut message: Value,
    ) -> Result<Call, McpError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let tracer = self.app.tracer();
        let span = tracer.start_bridged(None, &self.name, &mut message);
        let supervisor = session.supervisor.clone();
        let started = async {
            let child = supervisor.ensure_child().await?;
            supervisor.start_call(&child, &session.id, message).await
        };
        let started = started.await.inspect_err(|_| {
            self.failures.fetch_add(1, Ordering::Relaxed);
        });
        tracer.finish_bridged(span, started.as_ref().map(|_| &Value::Null).map_err(|_| ()));
        started
    }

    /// Forwards a client notification or an answer to a server request.
    pub async fn notify(&self, session: &BridgeSession, message: Value) -> Result<(), McpError> {
        session
            .supervisor
            .client_message(&session.id, message)
            .await
    }

    /// Ends a session (its child too, in per-session mode).
    pub fn end_session(&self, id: &str) -> bool {
        let removed = self.sessions.lock().ok().and_then(|mut m| m.remove(id));
        match removed {
            Some(s) => {
                if let Ok(mut m) = self.modern.lock() {
                    m.retain(|_, (session, _)| session != id);
                }
                s.supervisor.detach(id);
                if self.spec.isolation == Isolation::PerSession {
                    s.supervisor.stop();
                }
                s.outbox.close();
                if let Some(caller) = s.lease_holder.clone() {
                    let app = self.app.clone();
                    let id = id.to_owned();
                    tokio::spawn(async move { app.close_caller_session(&caller, &id).await });
                }
                true
            }
            None => false,
        }
    }

    fn sweep(&self, session_ttl: Duration) {
        // Parked calls past their lifetime go (dropping one cancels its request at the child).
        let expired = self
            .parked
            .lock()
            .map(|mut p| p.sweep(self.app.now()))
            .unwrap_or_default();
        drop(expired);
        let expired: Vec<String> = self
            .sessions
            .lock()
            .map(|m| {
                m.values()
                    .filter(|s| s.idle_for() >= session_ttl)
                    .map(|s| s.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in expired {
            let session = self.app.session_tag(&id);
            tracing::info!(server = %self.name, %session, "bridged session expired");
            self.end_session(&id);
        }
        let supervisors: Vec<Arc<Supervisor>> = self
            .sessions
            .lock()
            .map(|m| m.values().map(|s| s.supervisor.clone()).collect())
            .unwrap_or_default();
        for b in supervisors
            .iter()
            .chain(self.shared.lock().ok().and_then(|s| s.clone()).iter())
        {
            if b.idle_for() >= self.spec.idle_timeout && b.stop_if_idle() {
                tracing::info!(server = %self.name, "stopped an idle child");
            }
        }
    }

    fn shutdown(&self) {
        let ids: Vec<String> = self
            .sessions
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.end_session(&id);
        }
        if let Some(b) = self.shared.lock().ok().and_then(|mut s| s.take()) {
            b.stop();
        }
    }

    fn stats(&self, caller: &Caller) -> Value {
        let sessions: Vec<Value> = self
            .sessions
            .lock()
            .map(|m| {
                m.values()
                    .filter(|s| caller.owns(Some(&s.owner)))
                    .map(|s| {
                        json!({
                            "id": s.id,
                            "clientId": s.client_id,
                            "metadata": s.metadata,
                            "protocolVersion": s.protocol_version,
                            "idleMs": s.idle_for().as_millis() as u64,
                            "streamOpen": s.stream_open.load(Ordering::Relaxed),
                            "queued": s.outbox.queue.lock().map(|q| q.len()).unwrap_or(0),
                            "child": s.supervisor.stats(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "isolation": match self.spec.isolation { Isolation::Shared => "shared", Isolation::PerSession => "per-session" },
            "sessions": sessions,
            "sharedChild": self.shared.lock().ok().and_then(|s| s.as_ref().map(|b| b.stats())),
            "calls": self.calls.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
        })
    }
}

impl BridgedServer {
    /// This server's part of the deep health check: its children (running, restarts within the
    /// window against the budget) and open sessions; no session ids (they are bearer secrets).
    fn health(&self) -> (ProbeStatus, Value) {
        let recent_crashes = self.crashes.lock().map(|c| c.len() as u32).unwrap_or(0);
        let (mut running, mut in_flight) = (0u64, 0u64);
        let mut count = |stats: Value| {
            running += u64::from(stats["running"].as_bool().unwrap_or(false));
            in_flight += stats["inFlight"].as_u64().unwrap_or(0);
        };
        if let Some(shared) = self.shared.lock().ok().and_then(|s| s.clone()) {
            count(shared.stats());
        }
        let sessions = self
            .sessions
            .lock()
            .map(|m| {
                if self.spec.isolation == Isolation::PerSession {
                    m.values().for_each(|s| count(s.supervisor.stats()));
                }
                m.len()
            })
            .unwrap_or(0);
        let status = ProbeStatus::of_children(recent_crashes, self.spec.restart_budget);
        let detail = json!({
            "status": status.as_str(),
            "running_children": running,
            "in_flight": in_flight,
            "sessions": sessions,
            "recent_crashes": recent_crashes,
            "restart_budget": self.spec.restart_budget,
        });
        (status, detail)
    }
}

/// The bridge's section of the gateway's deep health check (`/health?deep=1`): every bridged
/// server's children. Set once the bridge exists (the bridge is built from the gateway).
#[derive(Default)]
pub struct BridgeHealth(std::sync::OnceLock<std::sync::Weak<Bridge>>);

impl BridgeHealth {
    /// Points the probe at the bridge.
    pub fn set(&self, bridge: &Arc<Bridge>) {
        let _ = self.0.set(Arc::downgrade(bridge));
    }
}

impl HealthProbe for BridgeHealth {
    fn name(&self) -> &'static str {
        "bridge"
    }

    fn probe(&self) -> BoxFuture<'_, ProbeReport> {
        Box::pin(async move {
            let Some(bridge) = self.0.get().and_then(std::sync::Weak::upgrade) else {
                return ProbeReport {
                    status: ProbeStatus::Error,
                    detail: json!({"error": "the bridge is not running"}),
                };
            };
            let mut status = ProbeStatus::Ok;
            let mut servers = serde_json::Map::new();
            for s in bridge.servers() {
                let (st, detail) = s.health();
                status = status.worst(st);
                servers.insert(s.name.clone(), detail);
            }
            ProbeReport {
                status,
                detail: json!({"servers": servers}),
            }
        })
    }
}
