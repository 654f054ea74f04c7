//! WebSocket for bridged servers at `/servers/{name}/ws`: one JSON-RPC message per text frame
//! (subprotocol `mcp` when the client asks for it). The connection is one session: its first
//! message must be `initialize`; requests run concurrently and their answers, the child's related
//! messages and its server-initiated messages all arrive as frames. Closing the socket ends the
//! session (and its child, per session).

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use mcp_edge_core::auth::Caller;
use mcp_edge_core::gateway::WS_SUBPROTOCOL;
use mcp_edge_core::protocol;
use mcp_edge_core::session::SessionId;
use mcp_edge_native::OsEntropy;

use super::http::admitted;
use super::legacy::{deliver, parse};
use super::{BridgedServer, Outbox};
use crate::http_io::{client_address, into_response};
use crate::state::AppState;
use crate::wsock::{self, SocketSession};

/// `GET /servers/{name}/ws` (upgrade).
pub async fn upgrade(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ws: WebSocketUpgrade,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let (server, caller) = match admitted(&state, &name, &headers, client_address(&req)).await {
        Ok(a) => a,
        Err(reply) => return into_response(&state, *reply),
    };
    let ticket = match wsock::ticket(&state) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let wants_mcp = headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(WS_SUBPROTOCOL));
    let ws = if wants_mcp {
        ws.protocols([WS_SUBPROTOCOL])
    } else {
        ws
    };
    let limit = state.app.config().max_body_bytes;
    wsock::limited(ws, limit)
        .on_upgrade(move |socket| {
            let id = SessionId::generate(&OsEntropy).as_str().to_owned();
            // Until `initialize` succeeds the outbox waits as the server's pending stream, as for
            // legacy SSE.
            let outbox = server.open_pending(&id, &caller);
            let session = BridgedSocket {
                server,
                caller,
                id,
                outbox,
            };
            wsock::pump(state, socket, Vec::new(), session, ticket)
        })
        .into_response()
}

/// A bridged socket session: messages go to the server's child, its messages come from the outbox.
struct BridgedSocket {
    server: Arc<BridgedServer>,
    caller: Caller,
    id: String,
    outbox: Arc<Outbox>,
}

impl SocketSession for BridgedSocket {
    async fn pushed(&mut self) -> Option<Vec<String>> {
        loop {
            let queued = self.outbox.drain();
            if !queued.is_empty() {
                return Some(queued.iter().map(ToString::to_string).collect());
            }
            if self.outbox.is_closed() {
                return None;
            }
            self.outbox.changed().await;
        }
    }

    async fn on_text(&mut self, text: &str) -> Vec<String> {
        let refusal = match parse(text.as_bytes()) {
            Ok(message) => {
                let waiting = self.server.take_pending(&self.id, &self.caller);
                deliver(
                    self.server.clone(),
                    &self.id,
                    &self.caller,
                    waiting,
                    message,
                )
                .await
                .err()
            }
            Err(refusal) => Some(refusal),
        };
        refusal
            .map(|(e, msg_id)| protocol::failure(&msg_id, &e.to_jsonrpc()).to_string())
            .into_iter()
            .collect()
    }

    async fn closed(self) {
        self.outbox.close();
        self.server.drop_pending(&self.id);
        self.server.end_session(&self.id);
    }
}
