//! WebSocket for bridged servers at `/servers/{name}/ws`: one JSON-RPC message per text frame
//! (subprotocol `mcp` when the client asks for it). The connection is one session: its first
//! message must be `initialize`; requests run concurrently and their answers, the child's related
//! messages and its server-initiated messages all arrive as frames. Closing the socket ends the
//! session (and its child, per session).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use mcp_edge_core::auth::Caller;
use mcp_edge_core::gateway::WS_SUBPROTOCOL;
use mcp_edge_core::protocol;
use mcp_edge_core::session::SessionId;
use mcp_edge_native::OsEntropy;

use super::http::admitted;
use super::legacy::{deliver, parse};
use super::BridgedServer;
use crate::server::{client_address, into_response, AppState};

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
    ws.max_message_size(limit.saturating_add(1024))
        .on_upgrade(move |socket| serve(state, server, caller, socket))
        .into_response()
}

async fn serve(state: AppState, server: Arc<BridgedServer>, caller: Caller, socket: WebSocket) {
    let id = SessionId::generate(&OsEntropy).as_str().to_owned();
    // Until `initialize` succeeds the outbox waits as the server's pending stream, as for legacy SSE.
    let outbox = server.open_pending(&id, &caller);
    let metrics = state.app.metrics().clone();
    metrics.stream_delta(1);
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = state.shutdown.clone();
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    ping.tick().await;
    let mut open = true;
    while open {
        for m in outbox.drain() {
            if sink
                .send(Message::Text(m.to_string().into()))
                .await
                .is_err()
            {
                open = false;
                break;
            }
        }
        if !open || outbox.is_closed() {
            break;
        }
        tokio::select! {
            _ = outbox.changed() => {}
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let refusal = match parse(text.as_bytes()) {
                        Ok(message) => {
                            let waiting = server.take_pending(&id, &caller);
                            deliver(server.clone(), &id, &caller, waiting, message).await.err()
                        }
                        Err(refusal) => Some(refusal),
                    };
                    if let Some((e, msg_id)) = refusal {
                        let text = protocol::failure(&msg_id, &e.to_jsonrpc()).to_string();
                        open = sink.send(Message::Text(text.into())).await.is_ok();
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let text = mcp_edge_core::gateway::binary_frame_refusal();
                    open = sink.send(Message::Text(text.into())).await.is_ok();
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => open = false,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => open = sink.send(Message::Ping(Bytes::from_static(b"keepalive"))).await.is_ok(),
            _ = shutdown.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                open = false;
            }
        }
    }
    outbox.close();
    server.drop_pending(&id);
    server.end_session(&id);
    metrics.stream_delta(-1);
}
