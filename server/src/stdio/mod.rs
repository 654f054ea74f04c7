//! The stdio bridge: MCP servers that only speak stdio, run as child processes and served to remote
//! clients at `/servers/{name}/mcp`. Each configured server has an isolation mode: `per-session`
//! (a child per client session) or `shared` (one child; ids remapped by the core's
//! [`Relay`](mcp_edge_core::relay::Relay)). Children start on demand, are restarted after a crash
//! with backoff and a restart budget (the `initialize` handshake is replayed so client sessions
//! continue), are stopped when idle, when their session ends and on shutdown (whole process group).

pub mod child;
pub mod config;
pub mod http;
pub mod legacy;
pub mod rest;
pub mod socket;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_edge_core::auth::Caller;
use mcp_edge_core::error::McpError;
use mcp_edge_core::relay::{Relay, Route};
use mcp_edge_core::McpApp;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use child::{Child, ChildEvent};
use config::{Isolation, ServerSpec};

/// Messages queued for a session's GET stream before the client reads them.
const OUTBOX_LIMIT: usize = 1024;
/// The window of the restart budget.
const RESTART_WINDOW: Duration = Duration::from_secs(60);

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

/// Messages from a child for one client session, waiting for its GET stream.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Value>>,
    notify: Notify,
    dropped: AtomicU64,
    closed: AtomicBool,
}

impl Outbox {
    /// Marks the session ended and wakes its stream, which then ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Whether the session ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues a message for the session's stream.
    pub fn push(&self, message: Value) {
        if let Ok(mut q) = self.queue.lock() {
            if q.len() >= OUTBOX_LIMIT {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(message);
        }
        self.notify.notify_one();
    }

    /// Takes everything queued.
    pub fn drain(&self) -> Vec<Value> {
        self.queue
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// Resolves when something was pushed since the last drain.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

/// A client session on a bridged server.
pub struct BridgeSession {
    /// The `Mcp-Session-Id`.
    pub id: String,
    /// Negotiated protocol version.
    pub protocol_version: String,
    backend: Arc<Backend>,
    /// Messages for the GET stream.
    pub outbox: Arc<Outbox>,
    last_seen: Mutex<Instant>,
    /// Whether a GET stream is open (at most one).
    pub stream_open: AtomicBool,
    /// The caller whose session quota this session counts against (when a quota is configured).
    lease_holder: Option<String>,
    /// The identity that opened the session ([`Caller::owner`]); only it may use the session.
    owner: String,
    /// Who opened the session (`clientInfo.name`, or the REST API's `client_id`).
    pub client_id: Option<String>,
    /// Free-form metadata given by a REST client.
    pub metadata: Value,
    /// Milliseconds since the Unix epoch when the session opened.
    pub created_at: u64,
}

impl BridgeSession {
    fn touch(&self) {
        if let Ok(mut t) = self.last_seen.lock() {
            *t = Instant::now();
        }
    }

    /// Milliseconds since the session's last request.
    pub fn idle_ms(&self) -> u64 {
        self.idle_for().as_millis() as u64
    }

    fn idle_for(&self) -> Duration {
        self.last_seen
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
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
    shared: Mutex<Option<Arc<Backend>>>,
    /// When this server's children crashed (all children count towards the restart budget).
    crashes: Arc<Mutex<VecDeque<Instant>>>,
    calls: AtomicU64,
    failures: AtomicU64,
    app: Arc<McpApp>,
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
        }
    }

    fn backend(&self, owner: Option<String>) -> Arc<Backend> {
        Arc::new(Backend::new(
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
        let backend = match self.spec.isolation {
            Isolation::Shared => {
                let mut slot = self.shared.lock().map_err(poisoned)?;
                slot.get_or_insert_with(|| self.backend(None)).clone()
            }
            Isolation::PerSession => {
                let open = self.sessions.lock().map_err(poisoned)?.len();
                if open >= self.spec.max_children {
                    return Err(McpError::Backend(format!(
                        "server '{}' already runs its maximum of {} children (one per session); end a session or raise max_children",
                        self.name, self.spec.max_children
                    )));
                }
                self.backend(Some(id.clone()))
            }
        };
        let outbox = start.outbox.unwrap_or_default();
        backend.attach(&id, outbox.clone());
        let answer = match backend.initialize(&id, request).await {
            Ok(a) => a,
            Err(e) => {
                backend.detach(&id);
                if self.spec.isolation == Isolation::PerSession {
                    backend.stop();
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
            backend,
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
    pub async fn request(&self, session: &BridgeSession, message: Value) -> Value {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        match session.backend.request(&session.id, message).await {
            Ok(answer) => answer,
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                mcp_edge_core::protocol::failure(&id, &e.to_jsonrpc())
            }
        }
    }

    /// Forwards a client request whose answer streams: related messages, then the answer.
    pub async fn call(&self, session: &BridgeSession, message: Value) -> Result<Call, McpError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let backend = session.backend.clone();
        let started = async {
            let child = backend.ensure_child().await?;
            backend.start_call(&child, &session.id, message).await
        };
        started.await.inspect_err(|_| {
            self.failures.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Forwards a client notification or an answer to a server request.
    pub async fn notify(&self, session: &BridgeSession, message: Value) -> Result<(), McpError> {
        session.backend.client_message(&session.id, message).await
    }

    /// Ends a session (its child too, in per-session mode).
    pub fn end_session(&self, id: &str) -> bool {
        let removed = self.sessions.lock().ok().and_then(|mut m| m.remove(id));
        match removed {
            Some(s) => {
                s.backend.detach(id);
                if self.spec.isolation == Isolation::PerSession {
                    s.backend.stop();
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
        let backends: Vec<Arc<Backend>> = self
            .sessions
            .lock()
            .map(|m| m.values().map(|s| s.backend.clone()).collect())
            .unwrap_or_default();
        for b in backends
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
                            "child": s.backend.stats(),
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

fn poisoned<T>(_: T) -> McpError {
    McpError::Internal("bridge state lock poisoned".into())
}

/// The waiter of a forwarded request: messages related to it, then its answer (id restored).
type Waiter = mpsc::UnboundedSender<Value>;

/// What a [`Call`] yields.
pub enum Step {
    /// A message related to the request (progress, a server request made while handling it).
    Related(Value),
    /// The answer, or why there is none; nothing follows.
    Answer(Result<Value, McpError>),
}

/// A request forwarded to a child, until its answer.
pub struct Call {
    backend: Arc<Backend>,
    child: Arc<Child>,
    id: u64,
    rx: mpsc::UnboundedReceiver<Value>,
    deadline: tokio::time::Instant,
    done: bool,
}

impl Call {
    /// The next message for the client: related messages first, the answer last.
    pub async fn next(&mut self) -> Step {
        if self.done {
            return Step::Answer(Err(McpError::Internal("call already answered".into())));
        }
        match tokio::time::timeout_at(self.deadline, self.rx.recv()).await {
            Ok(Some(m)) if m.get("method").is_some() => Step::Related(m),
            Ok(Some(m)) => {
                self.done = true;
                Step::Answer(Ok(m))
            }
            Ok(None) => {
                self.done = true;
                Step::Answer(Err(self.backend.exited_error(&self.child).await))
            }
            Err(_) => {
                self.done = true;
                if let Ok(mut st) = self.backend.state.lock() {
                    st.relay.abandon(self.id);
                }
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": self.id, "reason": "timed out at the bridge"}});
                let _ = self.child.send(&cancel).await;
                Step::Answer(Err(McpError::Backend(format!(
                    "server '{}' did not answer within {} s",
                    self.backend.name,
                    self.backend.spec.request_timeout.as_secs()
                ))))
            }
        }
    }
}

impl Drop for Call {
    /// A client that leaves before the answer cancels the request at the child.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let abandoned = self
            .backend
            .state
            .lock()
            .ok()
            .and_then(|mut st| st.relay.abandon(self.id))
            .is_some();
        if abandoned {
            let child = self.child.clone();
            let id = self.id;
            tokio::spawn(async move {
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": "the client went away"}});
                let _ = child.send(&cancel).await;
            });
        }
    }
}

struct BackendState {
    child: Option<Arc<Child>>,
    generation: u64,
    relay: Relay<Waiter>,
    /// The first client's `initialize` params and the server's result, replayed after a restart.
    handshake: Option<(Value, Value)>,
    /// Whether `notifications/initialized` has reached the current child.
    initialized_sent: bool,
    last_exit: Option<String>,
    last_used: Instant,
}

/// One child process slot: starts it on demand, restarts it, pumps its messages.
struct Backend {
    name: String,
    spec: ServerSpec,
    state: Mutex<BackendState>,
    outboxes: Mutex<HashMap<String, Arc<Outbox>>>,
    /// Serializes start-up and the handshake.
    start: tokio::sync::Mutex<()>,
    crashes: Arc<Mutex<VecDeque<Instant>>>,
}

impl Backend {
    fn new(
        name: String,
        spec: ServerSpec,
        owner: Option<String>,
        crashes: Arc<Mutex<VecDeque<Instant>>>,
    ) -> Self {
        let relay = match &owner {
            Some(s) => Relay::dedicated(s),
            None => Relay::shared(),
        };
        Backend {
            name,
            spec,
            state: Mutex::new(BackendState {
                child: None,
                generation: 0,
                relay,
                handshake: None,
                initialized_sent: false,
                last_exit: None,
                last_used: Instant::now(),
            }),
            outboxes: Mutex::new(HashMap::new()),
            start: tokio::sync::Mutex::new(()),
            crashes,
        }
    }

    fn attach(&self, session: &str, outbox: Arc<Outbox>) {
        if let Ok(mut m) = self.outboxes.lock() {
            m.insert(session.to_owned(), outbox);
        }
    }

    fn detach(&self, session: &str) {
        if let Ok(mut m) = self.outboxes.lock() {
            m.remove(session);
        }
        if let Ok(mut st) = self.state.lock() {
            st.relay.forget_session(session);
        }
    }

    fn idle_for(&self) -> Duration {
        self.state
            .lock()
            .map(|s| s.last_used.elapsed())
            .unwrap_or_default()
    }

    fn stats(&self) -> Value {
        let Ok(st) = self.state.lock() else {
            return Value::Null;
        };
        json!({
            "pid": st.child.as_ref().map(|c| c.pid),
            "running": st.child.is_some(),
            "starts": st.generation,
            "recentCrashes": self.crashes.lock().map(|c| c.len()).unwrap_or(0),
            "inFlight": st.relay.in_flight(),
            "lastExit": st.last_exit,
        })
    }

    /// Stops the child; the next request starts a new one.
    fn stop(&self) {
        let child = self.state.lock().ok().and_then(|mut st| {
            for p in st.relay.fail_all() {
                drop(p.waiter);
            }
            st.initialized_sent = false;
            st.child.take()
        });
        if let Some(c) = child {
            c.kill();
        }
    }

    fn stop_if_idle(&self) -> bool {
        let running = self
            .state
            .lock()
            .map(|st| st.child.is_some() && st.relay.in_flight() == 0)
            .unwrap_or(false);
        if running {
            self.stop();
        }
        running
    }

    /// The running child, starting (or restarting) it first when needed.
    async fn ensure_child(self: &Arc<Self>) -> Result<Arc<Child>, McpError> {
        if let Some(c) = self.state.lock().map_err(poisoned)?.child.clone() {
            return Ok(c);
        }
        let _guard = self.start.lock().await;
        self.ensure_child_locked().await
    }

    /// [`Backend::ensure_child`] for a caller that holds the start lock.
    async fn ensure_child_locked(self: &Arc<Self>) -> Result<Arc<Child>, McpError> {
        if let Some(c) = self.state.lock().map_err(poisoned)?.child.clone() {
            return Ok(c);
        }
        // Restart budget and backoff: crashes of any of this server's children count.
        let (wait, generation) = {
            let st = self.state.lock().map_err(poisoned)?;
            let mut crashes = self.crashes.lock().map_err(poisoned)?;
            let now = Instant::now();
            while crashes
                .front()
                .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
            {
                crashes.pop_front();
            }
            if crashes.len() as u32 >= self.spec.restart_budget {
                let retry = crashes
                    .front()
                    .map(|t| {
                        RESTART_WINDOW
                            .saturating_sub(now.duration_since(*t))
                            .as_secs()
                            + 1
                    })
                    .unwrap_or(60);
                return Err(McpError::Backend(format!(
                    "server '{}' crashed {} times in the last minute and is not started again for {retry} s{}",
                    self.name,
                    crashes.len(),
                    st.last_exit.as_deref().map(|e| format!(" (last exit: {e})")).unwrap_or_default()
                )));
            }
            let wait = if st.generation > 0 && !crashes.is_empty() {
                Duration::from_millis(100u64 << crashes.len().min(6))
            } else {
                Duration::ZERO
            };
            (wait, st.generation)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let child = Child::spawn(&self.name, &self.spec, tx).map_err(|e| {
            McpError::Backend(format!(
                "server '{}' could not start `{}`: {e}",
                self.name, self.spec.command
            ))
        })?;
        let child = Arc::new(child);
        tracing::info!(server = %self.name, pid = child.pid, "started a child");
        let handshake = {
            let mut st = self.state.lock().map_err(poisoned)?;
            st.child = Some(child.clone());
            st.generation = generation + 1;
            st.initialized_sent = false;
            st.handshake.clone()
        };
        tokio::spawn(self.clone().pump(rx, generation + 1));
        tokio::spawn(self.clone().watch_health(child.clone(), generation + 1));
        // A restarted child gets the handshake its sessions already did.
        if let Some((params, _)) = handshake {
            let init = json!({"jsonrpc": "2.0", "id": "bridge-init", "method": "initialize", "params": params});
            let answer = self.exchange(&child, "", init).await?;
            if let Some(err) = answer.get("error") {
                self.stop();
                return Err(McpError::Backend(format!(
                    "server '{}' refused the replayed initialize: {err}",
                    self.name
                )));
            }
            self.send_initialized(&child).await?;
        }
        Ok(child)
    }

    /// Pings the child every `ping_interval` while it is the current one; a child that does not
    /// answer within `ping_timeout` is hung: it is killed (counting as a crash against the restart
    /// budget), its in-flight requests fail, and the next request starts a new child.
    async fn watch_health(self: Arc<Self>, child: Arc<Child>, generation: u64) {
        let (interval, timeout) = (self.spec.ping_interval, self.spec.ping_timeout);
        if interval.is_zero() {
            return;
        }
        let current = |backend: &Backend| {
            backend
                .state
                .lock()
                .map(|st| st.generation == generation && st.child.is_some())
                .unwrap_or(false)
        };
        loop {
            tokio::time::sleep(interval).await;
            if !current(&self) {
                return;
            }
            let ping = json!({"jsonrpc": "2.0", "id": "bridge-ping", "method": "ping"});
            match tokio::time::timeout(timeout, self.exchange(&child, "", ping)).await {
                Ok(Ok(_)) => continue,
                // The child exited: the pump records it.
                Ok(Err(_)) => return,
                Err(_) => {
                    if !current(&self) {
                        return;
                    }
                    let why = format!("no answer to ping within {} ms (hung)", timeout.as_millis());
                    tracing::warn!(server = %self.name, pid = child.pid, "killing a hung child: {why}");
                    if let Ok(mut c) = self.crashes.lock() {
                        c.push_back(Instant::now());
                    }
                    if let Ok(mut st) = self.state.lock() {
                        st.last_exit = Some(why);
                    }
                    self.stop();
                    return;
                }
            }
        }
    }

    async fn send_initialized(&self, child: &Child) -> Result<(), McpError> {
        child
            .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await
            .map_err(|e| self.io_error(e))?;
        if let Ok(mut st) = self.state.lock() {
            st.initialized_sent = true;
        }
        Ok(())
    }

    /// The error for a request whose child went away: how it ended and what it last said.
    async fn exited_error(&self, child: &Child) -> McpError {
        let exit = child
            .exit_status(Duration::from_secs(2))
            .await
            .unwrap_or_else(|| "stopped".into());
        let tail = child.stderr_tail();
        McpError::Backend(format!(
            "server '{}' exited before answering ({exit}){}; it is restarted on the next request",
            self.name,
            if tail.is_empty() {
                String::new()
            } else {
                format!("; last stderr: {tail}")
            }
        ))
    }

    fn io_error(&self, e: std::io::Error) -> McpError {
        McpError::Backend(format!("server '{}' stopped reading: {e}", self.name))
    }

    /// Runs the client's `initialize`: forwarded to a fresh child, or answered from the recorded
    /// handshake when a shared child already did it.
    async fn initialize(
        self: &Arc<Self>,
        session: &str,
        request: Value,
    ) -> Result<Value, McpError> {
        let client_id = request.get("id").cloned().unwrap_or(Value::Null);
        // Held through the first handshake, so two clients initializing a fresh shared child at the
        // same moment send it one `initialize`; the second gets the recorded answer.
        let _guard = self.start.lock().await;
        let recorded = self.state.lock().map_err(poisoned)?.handshake.clone();
        if let Some((_, result)) = recorded {
            return Ok(json!({"jsonrpc": "2.0", "id": client_id, "result": result}));
        }
        let child = self.ensure_child_locked().await?;
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let answer = self.exchange(&child, session, request).await?;
        if let Some(result) = answer.get("result") {
            if let Ok(mut st) = self.state.lock() {
                st.handshake = Some((params, result.clone()));
            }
        }
        Ok(answer)
    }

    /// Forwards a request to a running (or started) child.
    async fn request(self: &Arc<Self>, session: &str, message: Value) -> Result<Value, McpError> {
        let child = self.ensure_child().await?;
        self.exchange(&child, session, message).await
    }

    /// Forwards a request and collects its answer; messages related to it go to the session's
    /// standalone stream (for clients that take JSON answers only).
    async fn exchange(
        self: &Arc<Self>,
        child: &Arc<Child>,
        session: &str,
        message: Value,
    ) -> Result<Value, McpError> {
        let mut call = self.start_call(child, session, message).await?;
        loop {
            match call.next().await {
                Step::Related(m) => {
                    let outbox = self
                        .outboxes
                        .lock()
                        .ok()
                        .and_then(|o| o.get(session).cloned());
                    if let Some(o) = outbox {
                        o.push(m);
                    }
                }
                Step::Answer(result) => return result,
            }
        }
    }

    /// Sends a request to the child; the returned [`Call`] yields what comes back for it.
    async fn start_call(
        self: &Arc<Self>,
        child: &Arc<Child>,
        session: &str,
        message: Value,
    ) -> Result<Call, McpError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (id, outgoing) = {
            let mut st = self.state.lock().map_err(poisoned)?;
            st.last_used = Instant::now();
            st.relay.forward_request(session, message, tx)
        };
        if child.send(&outgoing).await.is_err() {
            if let Ok(mut st) = self.state.lock() {
                st.relay.abandon(id);
            }
            return Err(self.exited_error(child).await);
        }
        Ok(Call {
            backend: self.clone(),
            child: child.clone(),
            id,
            rx,
            deadline: tokio::time::Instant::now() + self.spec.request_timeout,
            done: false,
        })
    }

    /// A client notification or an answer to a server request.
    async fn client_message(
        self: &Arc<Self>,
        session: &str,
        message: Value,
    ) -> Result<(), McpError> {
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let outgoing = match method.as_deref() {
            Some("notifications/initialized") => {
                let child = self.ensure_child().await?;
                let sent = self.state.lock().map_err(poisoned)?.initialized_sent;
                if !sent {
                    self.send_initialized(&child).await?;
                }
                return Ok(());
            }
            Some("notifications/cancelled") => self
                .state
                .lock()
                .map_err(poisoned)?
                .relay
                .forward_cancel(session, message),
            Some(_) => Some(message),
            None => self
                .state
                .lock()
                .map_err(poisoned)?
                .relay
                .forward_answer(session, message),
        };
        let Some(outgoing) = outgoing else {
            return Ok(());
        };
        let child = self.ensure_child().await?;
        child.send(&outgoing).await.map_err(|e| self.io_error(e))
    }

    /// Delivers the child's messages until it exits.
    async fn pump(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<ChildEvent>,
        generation: u64,
    ) {
        while let Some(event) = events.recv().await {
            match event {
                ChildEvent::Message(message) => {
                    let routed = self.state.lock().ok().map(|mut st| {
                        st.last_used = Instant::now();
                        st.relay.route(message)
                    });
                    let Some((route, pending)) = routed else {
                        continue;
                    };
                    match route {
                        Route::Answer { message, .. } => {
                            if let Some(p) = pending {
                                let _ = p.waiter.send(message);
                            }
                        }
                        Route::Related { id, message } => {
                            if let Ok(st) = self.state.lock() {
                                if let Some(w) = st.relay.waiter(id) {
                                    let _ = w.send(message);
                                }
                            }
                        }
                        Route::Session { session, message } => {
                            let outbox = self
                                .outboxes
                                .lock()
                                .ok()
                                .and_then(|m| m.get(&session).cloned());
                            match outbox {
                                Some(o) => o.push(message),
                                None => {
                                    tracing::debug!(server = %self.name, "dropped a message for a closed session")
                                }
                            }
                        }
                        Route::Broadcast(message) => {
                            let all: Vec<Arc<Outbox>> = self
                                .outboxes
                                .lock()
                                .map(|m| m.values().cloned().collect())
                                .unwrap_or_default();
                            for o in all {
                                o.push(message.clone());
                            }
                        }
                        Route::Reject(answer) => {
                            let child = self.state.lock().ok().and_then(|st| st.child.clone());
                            if let Some(c) = child {
                                let _ = c.send(&answer).await;
                            }
                        }
                        Route::Drop => {}
                    }
                }
                ChildEvent::Exited(code) => {
                    let exit = code.map_or("killed by a signal".to_owned(), |c| {
                        format!("exit status {c}")
                    });
                    if let Ok(mut st) = self.state.lock() {
                        if st.generation == generation {
                            // A child still in place was not stopped by us: it crashed. (A child
                            // we stopped keeps the reason already recorded, e.g. a failed ping.)
                            if st.child.is_some() {
                                tracing::warn!(server = %self.name, "child ended: {exit}");
                                if let Ok(mut c) = self.crashes.lock() {
                                    c.push_back(Instant::now());
                                }
                                st.last_exit = Some(exit);
                            }
                            st.child = None;
                            st.initialized_sent = false;
                            for p in st.relay.fail_all() {
                                drop(p.waiter);
                            }
                        }
                    }
                    break;
                }
            }
        }
    }
}
