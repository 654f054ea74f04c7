//! The supervisor of a bridged server's child process: starts it on demand, restarts it after a
//! crash with backoff and a restart budget (replaying the `initialize` handshake so client sessions
//! continue), pings it and kills it when hung, stops it when idle, and pumps its messages: answers
//! to the waiting [`Call`]s, session messages to their [`Outbox`], broadcasts to every outbox.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_edge_core::error::McpError;
use mcp_edge_core::relay::{Relay, Route};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::call::{exited_error, Call, CallOwner, Step, Waiter};
use super::child::{Child, ChildEvent};
use super::config::ServerSpec;
use super::outbox::Outbox;

/// The window of the restart budget.
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// The supervisor's mutable state: the current child, its relay of request ids and the handshake.
struct SupervisorState {
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

/// One child process slot: starts it on demand, restarts it after a crash (within the restart
/// budget, with backoff, replaying the handshake), pings it, and pumps its messages to the waiting
/// calls and the sessions' outboxes.
pub(super) struct Supervisor {
    name: String,
    spec: ServerSpec,
    state: Mutex<SupervisorState>,
    outboxes: Mutex<HashMap<String, Arc<Outbox>>>,
    /// Serializes start-up and the handshake.
    start: tokio::sync::Mutex<()>,
    crashes: Arc<Mutex<VecDeque<Instant>>>,
}

impl Supervisor {
    pub(super) fn new(
        name: String,
        spec: ServerSpec,
        owner: Option<String>,
        crashes: Arc<Mutex<VecDeque<Instant>>>,
    ) -> Self {
        let relay = match &owner {
            Some(s) => Relay::dedicated(s),
            None => Relay::shared(),
        };
        Supervisor {
            name,
            spec,
            state: Mutex::new(SupervisorState {
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

    pub(super) fn attach(&self, session: &str, outbox: Arc<Outbox>) {
        if let Ok(mut m) = self.outboxes.lock() {
            m.insert(session.to_owned(), outbox);
        }
    }

    pub(super) fn detach(&self, session: &str) {
        if let Ok(mut m) = self.outboxes.lock() {
            m.remove(session);
        }
        if let Ok(mut st) = self.state.lock() {
            st.relay.forget_session(session);
        }
    }

    pub(super) fn idle_for(&self) -> Duration {
        self.state
            .lock()
            .map(|s| s.last_used.elapsed())
            .unwrap_or_default()
    }

    pub(super) fn stats(&self) -> Value {
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
    pub(super) fn stop(&self) {
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

    pub(super) fn stop_if_idle(&self) -> bool {
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
    pub(super) async fn ensure_child(self: &Arc<Self>) -> Result<Arc<Child>, McpError> {
        if let Some(c) = self.state.lock().map_err(poisoned)?.child.clone() {
            return Ok(c);
        }
        let _guard = self.start.lock().await;
        self.ensure_child_locked().await
    }

    /// [`Supervisor::ensure_child`] for a caller that holds the start lock.
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
        let current = |supervisor: &Supervisor| {
            supervisor
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

    fn io_error(&self, e: std::io::Error) -> McpError {
        McpError::Backend(format!("server '{}' stopped reading: {e}", self.name))
    }

    /// Runs the client's `initialize`: forwarded to a fresh child, or answered from the recorded
    /// handshake when a shared child already did it.
    pub(super) async fn initialize(
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
    pub(super) async fn request(
        self: &Arc<Self>,
        session: &str,
        message: Value,
    ) -> Result<Value, McpError> {
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
    pub(super) async fn start_call(
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
            return Err(exited_error(&self.name, child).await);
        }
        Ok(Call {
            owner: self.clone(),
            child: child.clone(),
            id,
            rx,
            deadline: tokio::time::Instant::now() + self.spec.request_timeout,
            done: false,
        })
    }

    /// A client notification or an answer to a server request.
    pub(super) async fn client_message(
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
                                // A request outside any call of a 2026-07-28 caller: no stream
                                // can carry it to the client, so the child hears why at once.
                                Some(o) if o.is_unread() && message.get("id").is_some() => {
                                    let refusal = json!({"jsonrpc": "2.0", "id": message["id"], "error": {
                                        "code": -32603,
                                        "message": "the bridged client speaks 2026-07-28, which carries server requests only inside a call",
                                    }});
                                    let answer = self.state.lock().ok().and_then(|mut st| {
                                        let child = st.child.clone()?;
                                        Some((child, st.relay.forward_answer(&session, refusal)?))
                                    });
                                    if let Some((child, answer)) = answer {
                                        let _ = child.send(&answer).await;
                                    }
                                }
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

impl CallOwner for Supervisor {
    fn server(&self) -> &str {
        &self.name
    }

    fn request_timeout(&self) -> Duration {
        self.spec.request_timeout
    }

    fn abandon(&self, id: u64) -> bool {
        self.state
            .lock()
            .ok()
            .and_then(|mut st| st.relay.abandon(id))
            .is_some()
    }
}

/// The error for a poisoned lock of the bridge's state.
pub(super) fn poisoned<T>(_: T) -> McpError {
    McpError::Internal("bridge state lock poisoned".into())
}
