//! `GET /bridge/ws`: seed 004's WebSocket protocol for bridged servers, so its clients work unchanged
//! (the seed serves it at `/ws`, which is this gateway's own MCP WebSocket; point them here).
//!
//! Client to server, one JSON object per text frame:
//! - `{"type": "create_session", "client_id", "metadata", "server"}` opens a session as
//!   `POST /sessions` does (`server` may be left out when one server is bridged);
//! - `{"type": "attach_session", "session_id"}` continues an existing session of the same caller
//!   (opened by REST or by an earlier socket: sessions outlive sockets, so a client reconnects and
//!   re-attaches); another caller's session is not found, like an unknown one;
//! - a JSON-RPC message (`{"jsonrpc": "2.0", ...}`) goes to the attached session's server.
//!
//! Server to client: `{"type": "session_created", "session_id", "capabilities"}` for both session
//! messages, `{"type": "response", "data": <JSON-RPC answer>}`, `{"type": "notification", "data":
//! <message>}` for the server's own messages (while this socket holds the session's event stream)
//! and `{"type": "error", "error": "<message>"}`. Sessions end with `DELETE /sessions/{id}` or when
//! idle for the session TTL, not when a socket closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use mcp_edge_core::auth::Caller;
use mcp_edge_core::error::McpError;
use serde_json::{json, Value};

use super::{BridgeSession, BridgedServer};
use crate::http_io::{client_address, into_response};
use crate::state::AppState;
use crate::wsock::{self, SocketSession};

/// `GET /bridge/ws` (upgrade): the gateway's checks (`Origin`/`Host`, the caller, the WebSocket cap)
/// apply at the upgrade.
pub async fn upgrade(
    State(state): State<AppState>,
    ws: WebSocketUpgrade,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let caller = match state
        .app
        .admit_caller_head(&headers, client_address(&req).as_ref())
        .await
    {
        Ok(c) => c,
        Err(reply) => return into_response(&state, *reply),
    };
    let ticket = match wsock::ticket(&state) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let limit = state.app.config().max_body_bytes;
    wsock::limited(ws, limit)
        .on_upgrade(move |socket| {
            let session = SeedSocket {
                state: state.clone(),
                caller,
                attached: None,
            };
            wsock::pump(state, socket, Vec::new(), session, ticket)
        })
        .into_response()
}

/// One socket: the caller, and the session it is attached to (with whether it holds the session's
/// event stream, which only one reader may hold at a time).
struct SeedSocket {
    state: AppState,
    caller: Caller,
    attached: Option<(Arc<BridgedServer>, Arc<BridgeSession>, bool)>,
}

fn error(message: impl std::fmt::Display) -> String {
    json!({"type": "error", "error": message.to_string()}).to_string()
}

impl SeedSocket {
    /// Attaches the socket to `session`, taking its event stream when no one else reads it.
    /// `capabilities` are the server's (from the handshake) for a new session; `{}` on attach.
    fn attach(
        &mut self,
        server: Arc<BridgedServer>,
        session: Arc<BridgeSession>,
        capabilities: Value,
    ) -> String {
        self.detach();
        let events = !session.stream_open.swap(true, Ordering::AcqRel);
        let created = json!({
            "type": "session_created",
            "session_id": session.id,
            "server": server.name,
            "capabilities": capabilities,
        });
        self.attached = Some((server, session, events));
        created.to_string()
    }

    /// Lets go of the attached session's event stream (the session itself lives on).
    fn detach(&mut self) {
        if let Some((_, session, true)) = self.attached.take() {
            session.stream_open.store(false, Ordering::Release);
        }
    }

    async fn session_message(&mut self, kind: &str, value: Value) -> String {
        match kind {
            "create_session" => {
                let body = json!({
                    "server": value.get("server").cloned().unwrap_or(Value::Null),
                    "client_id": value.get("client_id").cloned().unwrap_or(Value::Null),
                    "metadata": value.get("metadata").cloned().unwrap_or(Value::Null),
                });
                match super::rest::open_session(&self.state, &self.caller, body).await {
                    Ok((server, session, init)) => {
                        let capabilities = init.get("capabilities").cloned().unwrap_or(json!({}));
                        self.attach(server, session, capabilities)
                    }
                    Err(e) => error(e),
                }
            }
            "attach_session" => {
                let Some(id) = value.get("session_id").and_then(Value::as_str) else {
                    return error("attach_session needs session_id (a string)");
                };
                match self.state.bridge.find_session(id, &self.caller) {
                    Some((server, session)) => self.attach(server, session, json!({})),
                    None => error(McpError::SessionNotFound),
                }
            }
            other => error(format!(
                "unknown message type '{other}' (create_session, attach_session, or a JSON-RPC message)"
            )),
        }
    }

    async fn jsonrpc(&mut self, message: Value) -> Option<String> {
        let Some((server, session, _)) = &self.attached else {
            return Some(error(
                "no session: send create_session or attach_session first",
            ));
        };
        // The session may have ended (deleted, expired) since it was attached.
        let Some((server, session)) = self
            .state
            .bridge
            .find_session(&session.id, &self.caller)
            .filter(|(s, _)| Arc::ptr_eq(s, server))
        else {
            self.detach();
            return Some(error(McpError::SessionNotFound));
        };
        if message.get("id").is_none_or(Value::is_null) || message.get("method").is_none() {
            // A notification, or an answer to a server request: forwarded, nothing comes back.
            return server.notify(&session, message).await.err().map(error);
        }
        let answer = server.request(&session, message).await;
        Some(json!({"type": "response", "data": answer}).to_string())
    }
}

impl SocketSession for SeedSocket {
    async fn pushed(&mut self) -> Option<Vec<String>> {
        let outbox = match &self.attached {
            Some((_, session, true)) => session.outbox.clone(),
            _ => return std::future::pending().await,
        };
        loop {
            let queued = outbox.drain();
            if !queued.is_empty() {
                return Some(
                    queued
                        .into_iter()
                        .map(|m| json!({"type": "notification", "data": m}).to_string())
                        .collect(),
                );
            }
            if outbox.is_closed() {
                // The session ended; the socket stays open for another session.
                self.detach();
                return Some(vec![error(McpError::SessionNotFound)]);
            }
            outbox.changed().await;
        }
    }

    async fn on_text(&mut self, text: &str) -> Vec<String> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return vec![error("expected a JSON object")],
            Err(e) => return vec![error(format!("Parse error: {e}"))],
        };
        let out = match value.get("type").and_then(Value::as_str) {
            Some(kind) if value.get("jsonrpc").is_none() => {
                let kind = kind.to_owned();
                Some(self.session_message(&kind, value).await)
            }
            _ => self.jsonrpc(value).await,
        };
        out.into_iter().collect()
    }

    async fn closed(mut self) {
        self.detach();
    }
}
