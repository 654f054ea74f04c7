//! Relay bookkeeping for bridging client sessions onto one MCP server reached over a byte stream
//! (a stdio child process). Platform-free: the platform moves the bytes, [`Relay`] decides which
//! ids the server sees and where each of its messages goes.
//!
//! Every client request is forwarded under a fresh numeric id, so requests of different sessions
//! sharing one server never collide, and answers go back under the client's own id. Progress tokens
//! are rewritten the same way (SDKs reuse request ids as tokens). Requests the server makes of a
//! client (sampling, elicitation, roots) keep their id and are remembered with the session they
//! were sent to, so only that session's answer is passed back.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A client request waiting for the server's answer; `W` is the platform's waiter (e.g. a channel).
#[derive(Debug)]
pub struct Pending<W> {
    /// The session that sent the request.
    pub session: String,
    /// The id the client used.
    pub client_id: Value,
    /// The client's progress token, when it asked for progress.
    pub progress_token: Option<Value>,
    /// Who to wake with the answer.
    pub waiter: W,
}

/// Where a message from the server goes.
#[derive(Debug, PartialEq)]
pub enum Route {
    /// The answer to a forwarded client request (id restored to the client's).
    Answer {
        /// The session that asked.
        session: String,
        /// The answer as the client must see it.
        message: Value,
    },
    /// A message that belongs to a forwarded request still in flight (its progress, or a server
    /// request made while handling it): send it on that request's response stream, before the answer.
    Related {
        /// The server-side id of the request.
        id: u64,
        /// The message (progress token restored).
        message: Value,
    },
    /// A message for one session's standalone stream (no request of it is in flight).
    Session {
        /// Target session.
        session: String,
        /// The message.
        message: Value,
    },
    /// A notification for every session on this server (list changes, log messages).
    Broadcast(Value),
    /// A server request no session can take: send this error answer back to the server.
    Reject(Value),
    /// Nothing to deliver (an answer nobody waits for any more, or malformed input).
    Drop,
}

/// Id and token rewriting for one server and the sessions that use it.
#[derive(Debug)]
pub struct Relay<W> {
    next_id: u64,
    pending: HashMap<u64, Pending<W>>,
    /// Server-request ids (as JSON text) → the session they were sent to.
    server_requests: HashMap<String, String>,
    /// The one session of a per-session server (server requests and notifications go there).
    owner: Option<String>,
}

impl<W> Default for Relay<W> {
    fn default() -> Self {
        Relay {
            next_id: 1,
            pending: HashMap::new(),
            server_requests: HashMap::new(),
            owner: None,
        }
    }
}

const TOKEN_PREFIX: &str = "relay-progress-";

impl<W> Relay<W> {
    /// A relay for a server shared by many sessions.
    pub fn shared() -> Self {
        Self::default()
    }

    /// A relay for a server dedicated to one session.
    pub fn dedicated(session: &str) -> Self {
        Relay {
            owner: Some(session.to_owned()),
            ..Self::default()
        }
    }

    /// Number of requests waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Rewrites a client request for the server and remembers who waits for it. Returns the
    /// server-side id and the message to send.
    pub fn forward_request(
        &mut self,
        session: &str,
        mut message: Value,
        waiter: W,
    ) -> (u64, Value) {
        let id = self.next_id;
        self.next_id += 1;
        let client_id = message.get("id").cloned().unwrap_or(Value::Null);
        let mut progress_token = None;
        if let Some(obj) = message.as_object_mut() {
            obj.insert("id".into(), Value::from(id));
            if let Some(meta) = obj
                .get_mut("params")
                .and_then(|p| p.get_mut("_meta"))
                .and_then(Value::as_object_mut)
            {
                if let Some(token) = meta.remove("progressToken") {
                    meta.insert(
                        "progressToken".into(),
                        Value::from(format!("{TOKEN_PREFIX}{id}")),
                    );
                    progress_token = Some(token);
                }
            }
        }
        self.pending.insert(
            id,
            Pending {
                session: session.to_owned(),
                client_id,
                progress_token,
                waiter,
            },
        );
        (id, message)
    }

    /// The waiter of a request still in flight (to pass it related messages).
    pub fn waiter(&self, id: u64) -> Option<&W> {
        self.pending.get(&id).map(|p| &p.waiter)
    }

    /// Gives up on a forwarded request (timeout or client gone); returns its waiter.
    pub fn abandon(&mut self, id: u64) -> Option<Pending<W>> {
        self.pending.remove(&id)
    }

    /// Rewrites a client's `notifications/cancelled` for the server; `None` when the request it
    /// names is not (or no longer) in flight for this session.
    pub fn forward_cancel(&self, session: &str, mut message: Value) -> Option<Value> {
        let target = message.get("params")?.get("requestId")?.clone();
        let id = self
            .pending
            .iter()
            .find(|(_, p)| p.session == session && p.client_id == target)
            .map(|(id, _)| *id)?;
        message["params"]["requestId"] = Value::from(id);
        Some(message)
    }

    /// Checks a client's answer to a server request: `Some(message)` to send to the server when
    /// this session was the one asked.
    pub fn forward_answer(&mut self, session: &str, message: Value) -> Option<Value> {
        let key = message.get("id")?.to_string();
        match self.server_requests.get(&key) {
            Some(s) if s == session => {
                self.server_requests.remove(&key);
                Some(message)
            }
            _ => None,
        }
    }

    /// Decides where a message from the server goes. Answers wake their waiter through the
    /// returned [`Pending`]; everything else is routed.
    pub fn route(&mut self, mut message: Value) -> (Route, Option<Pending<W>>) {
        let is_request = message.get("method").is_some() && message.get("id").is_some();
        let is_answer = message.get("method").is_none()
            && (message.get("result").is_some() || message.get("error").is_some());
        if is_answer {
            let Some(id) = message.get("id").and_then(Value::as_u64) else {
                return (Route::Drop, None);
            };
            let Some(p) = self.pending.remove(&id) else {
                return (Route::Drop, None);
            };
            message["id"] = p.client_id.clone();
            let route = Route::Answer {
                session: p.session.clone(),
                message,
            };
            return (route, Some(p));
        }
        if is_request {
            let key = message["id"].to_string();
            // stdio carries no link from a server request to the client request it serves, so on
            // a shared server with calls of several sessions in flight it could belong to any of
            // them: sending it to one would show one caller another caller's prompt (and let it
            // answer). Refuse it instead; a per-session server never has this ambiguity.
            if self.owner.is_none() && self.sessions_in_flight() > 1 {
                let reject = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": message["id"],
                    "error": {"code": -32603, "message": "calls of several client sessions are in flight on this shared server, so the request cannot be attributed to one of them; run servers that make requests of the client with isolation = \"per-session\""},
                });
                return (Route::Reject(reject), None);
            }
            // Made while a request is in flight: it travels on that request's stream.
            if let Some((id, session)) = self.latest_request(self.owner.as_deref()) {
                self.server_requests.insert(key, session);
                return (Route::Related { id, message }, None);
            }
            return match self.owner.clone() {
                Some(session) => {
                    self.server_requests.insert(key, session.clone());
                    (Route::Session { session, message }, None)
                }
                None => {
                    let reject = serde_json::json!({
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "error": {"code": -32603, "message": "no client session is waiting on this server"},
                    });
                    (Route::Reject(reject), None)
                }
            };
        }
        if message.get("method").and_then(Value::as_str) == Some("notifications/progress") {
            let token = message
                .pointer("/params/progressToken")
                .and_then(Value::as_str)
                .and_then(|t| t.strip_prefix(TOKEN_PREFIX))
                .and_then(|n| n.parse::<u64>().ok());
            return match token.and_then(|id| Some((id, self.pending.get(&id)?))) {
                Some((id, p)) => {
                    message["params"]["progressToken"] =
                        p.progress_token.clone().unwrap_or(Value::Null);
                    (Route::Related { id, message }, None)
                }
                None => (Route::Drop, None),
            };
        }
        if message.get("method").is_none() {
            return (Route::Drop, None);
        }
        match &self.owner {
            Some(session) => match self.latest_request(Some(session)) {
                Some((id, _)) => (Route::Related { id, message }, None),
                None => (
                    Route::Session {
                        session: session.clone(),
                        message,
                    },
                    None,
                ),
            },
            None => (Route::Broadcast(message), None),
        }
    }

    /// Fails every waiting request (the server died); returns their waiters.
    pub fn fail_all(&mut self) -> Vec<Pending<W>> {
        self.server_requests.clear();
        self.pending.drain().map(|(_, p)| p).collect()
    }

    /// Forgets a session that ended; returns the waiters of its requests.
    pub fn forget_session(&mut self, session: &str) -> Vec<Pending<W>> {
        self.server_requests.retain(|_, s| s != session);
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.session == session)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.pending.remove(&id))
            .collect()
    }

    /// How many distinct client sessions have a request in flight (the relay's own requests do not
    /// count).
    fn sessions_in_flight(&self) -> usize {
        let mut sessions: Vec<&str> = self
            .pending
            .values()
            .map(|p| p.session.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions.len()
    }

    /// The most recent client request still in flight (of `session`, when given), and its session.
    /// Requests of the relay itself (empty session) do not count.
    fn latest_request(&self, session: Option<&str>) -> Option<(u64, String)> {
        self.pending
            .iter()
            .filter(|(_, p)| !p.session.is_empty() && session.is_none_or(|s| p.session == s))
            .max_by_key(|(id, _)| **id)
            .map(|(id, p)| (*id, p.session.clone()))
    }
}

/// The JSON-RPC error answer for a client request the server could not answer.
pub fn backend_error(client_id: &Value, message: &str) -> Value {
    let mut error = Map::new();
    error.insert("code".into(), Value::from(-32603));
    error.insert("message".into(), Value::from(message));
    serde_json::json!({"jsonrpc": "2.0", "id": client_id, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_client_ids_from_two_sessions_never_collide_and_come_back_restored() {
        let mut relay = Relay::<&str>::shared();
        let req =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}});
        let (a, to_server_a) = relay.forward_request("A", req.clone(), "wa");
        let (b, to_server_b) = relay.forward_request("B", req, "wb");
        assert_ne!(a, b);
        assert_eq!(to_server_a["id"], json!(a));
        assert_eq!(to_server_b["id"], json!(b));
        let (route, pending) = relay.route(json!({"jsonrpc": "2.0", "id": b, "result": {"x": 2}}));
        assert_eq!(pending.unwrap().waiter, "wb");
        assert_eq!(
            route,
            Route::Answer {
                session: "B".into(),
                message: json!({"jsonrpc": "2.0", "id": 1, "result": {"x": 2}})
            }
        );
        assert_eq!(relay.in_flight(), 1);
        // A second answer with the same id is dropped, not delivered twice.
        let (route, pending) = relay.route(json!({"jsonrpc": "2.0", "id": b, "result": {}}));
        assert_eq!(route, Route::Drop);
        assert!(pending.is_none());
    }

    #[test]
    fn progress_tokens_are_rewritten_and_restored_to_the_right_session() {
        let mut relay = Relay::<()>::shared();
        let req = |token: Value| json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "slow", "_meta": {"progressToken": token}}});
        let (a, sent_a) = relay.forward_request("A", req(json!(7)), ());
        let (_b, sent_b) = relay.forward_request("B", req(json!(7)), ());
        let token_a = sent_a["params"]["_meta"]["progressToken"].clone();
        assert_ne!(token_a, sent_b["params"]["_meta"]["progressToken"]);
        let (route, _) = relay.route(json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token_a, "progress": 1}}));
        assert_eq!(
            route,
            Route::Related {
                id: a,
                message: json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 7, "progress": 1}})
            }
        );
        let cancel = relay
            .forward_cancel("A", json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}))
            .unwrap();
        assert_eq!(cancel["params"]["requestId"], json!(a));
        assert!(relay
            .forward_cancel("C", json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}))
            .is_none());
    }

    #[test]
    fn server_requests_go_to_one_session_and_only_its_answer_is_accepted() {
        let mut relay = Relay::<()>::shared();
        let (a, _) = relay.forward_request("A", json!({"id": 1, "method": "tools/call"}), ());
        let (b, _) = relay.forward_request("B", json!({"id": 1, "method": "tools/call"}), ());
        let sampling =
            json!({"jsonrpc": "2.0", "id": 99, "method": "sampling/createMessage", "params": {}});
        // Calls of two sessions in flight: the request could serve either, so neither sees it.
        let Route::Reject(reject) = relay.route(sampling.clone()).0 else {
            panic!("expected a refusal while two sessions have calls in flight")
        };
        assert_eq!(reject["id"], 99);
        assert_eq!(reject["error"]["code"], -32603);
        // Once A's call is answered only B's is left, and the request travels on B's stream.
        relay.route(json!({"jsonrpc": "2.0", "id": a, "result": {}}));
        let (route, _) = relay.route(sampling);
        let Route::Related { id, .. } = route else {
            panic!("expected the remaining request's stream")
        };
        assert_eq!(id, b);
        let answer = json!({"jsonrpc": "2.0", "id": 99, "result": {"role": "assistant"}});
        assert!(relay.forward_answer("A", answer.clone()).is_none());
        assert_eq!(
            relay.forward_answer("B", answer.clone()),
            Some(answer.clone())
        );
        assert!(relay.forward_answer("B", answer).is_none());
    }

    #[test]
    fn notifications_broadcast_on_shared_servers_and_go_to_the_owner_otherwise() {
        let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
        let mut shared = Relay::<()>::shared();
        assert_eq!(shared.route(note.clone()).0, Route::Broadcast(note.clone()));
        let mut own = Relay::<()>::dedicated("S");
        assert_eq!(
            own.route(note.clone()).0,
            Route::Session {
                session: "S".into(),
                message: note.clone()
            }
        );
        // While the owner waits on a request, its notifications ride on that request's stream.
        let (id, _) = own.forward_request("S", json!({"id": 3, "method": "tools/call"}), ());
        assert_eq!(
            own.route(note.clone()).0,
            Route::Related { id, message: note }
        );
        // With nobody waiting, a shared server's request is answered with an error.
        let (route, _) =
            shared.route(json!({"jsonrpc": "2.0", "id": "r1", "method": "roots/list"}));
        let Route::Reject(err) = route else {
            panic!("expected a rejection")
        };
        assert_eq!(err["id"], json!("r1"));
        assert_eq!(err["error"]["code"], json!(-32603));
    }

    #[test]
    fn a_dead_server_or_ended_session_releases_its_waiters() {
        let mut relay = Relay::<u8>::shared();
        relay.forward_request("A", json!({"id": 1, "method": "ping"}), 1);
        relay.forward_request("B", json!({"id": 1, "method": "ping"}), 2);
        let gone = relay.forget_session("A");
        assert_eq!(gone.iter().map(|p| p.waiter).collect::<Vec<_>>(), vec![1]);
        let rest = relay.fail_all();
        assert_eq!(rest.len(), 1);
        assert_eq!(relay.in_flight(), 0);
    }
}
