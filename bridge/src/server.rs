//! The axum server: converts HTTP to the core's `http` types, writes replies (including held SSE
//! streams and WebSockets), records latency, and shuts down gracefully.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::ClientAddress;
use mcp_edge_core::transport::sse::keepalive_frame;
use mcp_edge_core::transport::{Reply, ReplyBody, StreamHold};
use mcp_edge_core::McpApp;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::stdio::{self, Bridge};
use crate::streams::StreamHub;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// The gateway.
    pub app: Arc<McpApp>,
    /// Held streams.
    pub hub: Arc<StreamHub>,
    /// Flips to `true` when the server shuts down, ending held streams.
    pub shutdown: watch::Receiver<bool>,
    /// Bridged stdio servers (none unless configured).
    pub bridge: Arc<Bridge>,
}

/// The router: `/ws` upgrades to WebSocket; `/servers/…`, the REST API (`/sessions`, `/tools/…`,
/// `/events/…`), `/console` and `/stats` serve bridged stdio servers; everything else goes to the core.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ws", any(ws_handler))
        .route("/servers/{name}/mcp", any(stdio::http::bridged_mcp))
        .route(
            "/servers/{name}/sse",
            get(stdio::legacy::open).options(preflight),
        )
        .route(
            "/servers/{name}/messages",
            post(stdio::legacy::post).options(preflight),
        )
        .route("/servers/{name}/ws", get(stdio::socket::upgrade))
        .route("/servers", get(stdio::rest::servers).options(preflight))
        .route(
            "/sessions",
            post(stdio::rest::create_session).options(preflight),
        )
        .route(
            "/sessions/{id}",
            get(stdio::rest::get_session)
                .delete(stdio::rest::delete_session)
                .options(preflight),
        )
        .route(
            "/tools/discover",
            post(stdio::rest::discover).options(preflight),
        )
        .route("/tools/call", post(stdio::rest::call).options(preflight))
        .route(
            "/events/{session_id}",
            get(stdio::rest::events).options(preflight),
        )
        .route("/console", get(stdio::rest::console))
        .route("/stats", get(stdio::http::stats))
        .fallback(core_handler)
        .with_state(state)
}

/// `OPTIONS` on the bridge's routes: the gateway's CORS preflight (allowed origins only).
async fn preflight(State(state): State<AppState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let reply = state.app.preflight(&headers);
    into_response(&state, state.app.with_cors(&headers, reply))
}

/// The client's address as the core's request extension (anonymous callers are rate-limited by it).
pub(crate) fn client_address(req: &Request) -> Option<ClientAddress> {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| ClientAddress(addr.ip().to_string()))
}

async fn core_handler(State(state): State<AppState>, req: Request) -> Response {
    let started = Instant::now();
    let client = client_address(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let limit = state.app.config().max_body_bytes;
    let reply = match axum::body::to_bytes(body, limit.saturating_add(1)).await {
        Ok(bytes) if bytes.len() <= limit => {
            let mut core_req = http::Request::from_parts(parts, bytes);
            if let Some(c) = client {
                core_req.extensions_mut().insert(c);
            }
            state.app.handle(core_req).await
        }
        Ok(_) | Err(_) => Reply::error(&McpError::PayloadTooLarge(limit), &Value::Null),
    };
    for d in &reply.deliveries {
        state.hub.deliver(d);
    }
    let status = reply.status();
    let response = into_response(&state, reply);
    let micros = started.elapsed().as_micros() as u64;
    state.app.metrics().observe_latency_micros(micros);
    tracing::debug!(%method, %path, status = status.as_u16(), micros, "request");
    response
}

pub(crate) fn into_response(state: &AppState, reply: Reply) -> Response {
    let (parts, body) = reply.response.into_parts();
    let body = match body {
        ReplyBody::Empty => Body::empty(),
        ReplyBody::Full(b) => Body::from(b),
        ReplyBody::Sse { frames, hold: None } => Body::from(frames.concat()),
        ReplyBody::Sse {
            frames,
            hold: Some(hold),
        } => held_stream(state.clone(), frames, hold),
    };
    Response::from_parts(parts, body)
}

/// A streaming body: initial frames, then deliveries and keep-alives until the client leaves or the
/// server shuts down.
fn held_stream(state: AppState, frames: Vec<Bytes>, hold: StreamHold) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let (token, mut deliveries) = state
        .hub
        .register(hold.session.clone(), hold.channel.clone());
    let metrics = state.app.metrics().clone();
    metrics.stream_delta(1);
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        let mut ticker = tokio::time::interval(Duration::from_millis(hold.keepalive_ms.max(100)));
        ticker.tick().await;
        let mut open = true;
        for f in frames {
            if tx.send(Ok(f)).await.is_err() {
                open = false;
                break;
            }
        }
        while open {
            tokio::select! {
                frame = deliveries.recv() => match frame {
                    Some(f) => open = tx.send(Ok(f)).await.is_ok(),
                    None => open = false,
                },
                _ = ticker.tick() => open = tx.send(Ok(keepalive_frame())).await.is_ok(),
                _ = tx.closed() => open = false,
                _ = shutdown.changed() => open = false,
            }
        }
        state.hub.unregister(&hold.session, &hold.channel, token);
        metrics.stream_delta(-1);
        state.app.stream_closed(&hold).await;
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

async fn ws_handler(State(state): State<AppState>, ws: WebSocketUpgrade, req: Request) -> Response {
    let headers = req.headers().clone();
    let client = client_address(&req);
    let accept = match state.app.ws_accept(&headers, client.as_ref()).await {
        Ok(a) => a,
        Err(reply) => return into_response(&state, *reply),
    };
    let ws = match accept.subprotocol {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    let limit = state.app.config().max_body_bytes;
    ws.max_message_size(limit.saturating_add(1024))
        .on_upgrade(move |socket| {
            serve_socket(state, socket, headers, accept.connection, accept.greeting)
        })
        .into_response()
}

async fn serve_socket(
    state: AppState,
    socket: WebSocket,
    headers: http::HeaderMap,
    mut conn: mcp_edge_core::gateway::WsConnection,
    greeting: Vec<String>,
) {
    let metrics = state.app.metrics().clone();
    metrics.stream_delta(1);
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = state.shutdown.clone();
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    ping.tick().await;
    let mut open = true;
    for g in greeting {
        open &= sink.send(Message::Text(g.into())).await.is_ok();
    }
    while open {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    for out in state.app.ws_message(&mut conn, &headers, text.as_str()).await {
                        if sink.send(Message::Text(out.into())).await.is_err() {
                            open = false;
                            break;
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let err = mcp_edge_core::gateway::binary_frame_refusal();
                    open = sink.send(Message::Text(err.into())).await.is_ok();
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
    state.app.ws_closed(&conn).await;
    metrics.stream_delta(-1);
}
