//! The axum server: converts HTTP to the core's `http` types, writes replies (including held SSE
//! streams and WebSockets), records latency, and shuts down gracefully.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::{ClientAddress, ConnectionBudget};
use mcp_edge_core::transport::{Reply, ReplyBody, StreamHold};
use mcp_edge_core::McpApp;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::stdio::{self, Bridge};
use crate::streams::StreamHub;
use crate::wsock;
use mcp_edge_native::held::drive;

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
    /// Time budgets of request bodies (and connections).
    pub budget: ConnectionBudget,
    /// Flips to `true` when the shutdown grace period is over: in-flight work ends with an error.
    pub cancel: watch::Receiver<bool>,
}

impl AppState {
    /// Resolves once the shutdown grace period is over.
    pub async fn cancelled(&self) {
        flipped(&mut self.cancel.clone()).await;
    }
}

/// Resolves once `flag` is `true` (or its sender is gone); holds no borrow of the value afterwards.
pub(crate) async fn flipped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}

/// Reads a request body within the size limit and the core's body time budget (total and minimum
/// rate); the error replies close the connection, whose unread rest is not drained.
pub(crate) async fn read_body(state: &AppState, body: Body) -> Result<Bytes, McpError> {
    let limit = state.app.config().max_body_bytes;
    let budget = state.budget;
    let started = tokio::time::Instant::now();
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    loop {
        let deadline = started + Duration::from_millis(budget.body_deadline(received as u64));
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(budget.body_timeout_error(received as u64)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(McpError::InvalidRequest(format!(
                    "Bad Request: the request body could not be read ({e})"
                )))
            }
            Ok(Some(Ok(chunk))) => {
                received = received.saturating_add(chunk.len());
                if received > limit {
                    return Err(McpError::PayloadTooLarge(limit));
                }
                chunks.push(chunk);
            }
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    })
}

/// The reply for a body that could not be read: its error, closing the connection.
pub(crate) fn body_refusal(err: &McpError) -> Reply {
    let mut reply = Reply::error(err, &Value::Null);
    reply.set_header(http::header::CONNECTION, "close");
    reply
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
    let (mut parts, body) = req.into_parts();
    // Announced size, `Origin`/`Host` and the caller are settled before a byte of the body is read.
    let admitted = match state
        .app
        .admit_head(&parts.method, &path, &parts.headers, client.as_ref())
        .await
    {
        Ok(a) => a,
        Err(reply) => {
            let mut reply = *reply;
            reply.set_header(http::header::CONNECTION, "close");
            return into_response(&state, reply);
        }
    };
    let reply = match read_body(&state, body).await {
        Ok(bytes) => {
            parts.extensions.insert(admitted);
            if let Some(c) = client {
                parts.extensions.insert(c);
            }
            let core_req = http::Request::from_parts(parts, bytes.clone());
            tokio::select! {
                reply = state.app.handle(core_req) => reply,
                _ = state.cancelled() => state.app.shutdown_reply(&bytes),
            }
        }
        Err(e) => body_refusal(&e),
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

/// A reply without a held stream as a response (the listener's load-shedding answers).
pub(crate) fn reply_response(reply: Reply) -> Response {
    let (parts, body) = reply.response.into_parts();
    let body = match body {
        ReplyBody::Empty => Body::empty(),
        ReplyBody::Full(b) => Body::from(b),
        ReplyBody::Sse { frames, .. } => Body::from(frames.concat()),
    };
    Response::from_parts(parts, body)
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
/// server shuts down (the core's state machine decides; this only does the I/O).
fn held_stream(state: AppState, frames: Vec<Bytes>, hold: StreamHold) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let (token, mut deliveries) = state
        .hub
        .register(hold.session.clone(), hold.channel.clone());
    let stream = state.app.held_stream(frames, hold.keepalive_ms);
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        let app = state.app.clone();
        let shutdown = async move {
            let _ = shutdown.changed().await;
        };
        drive(stream, || app.now(), &tx, Ok, &mut deliveries, shutdown).await;
        state.hub.unregister(&hold.session, &hold.channel, token);
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
    wsock::limited(ws, limit)
        .on_upgrade(move |socket| {
            let session = CoreSocket {
                state: state.clone(),
                headers,
                conn: accept.connection,
            };
            wsock::pump(state, socket, accept.greeting, session)
        })
        .into_response()
}

/// A `/ws` session: every message goes to the core.
struct CoreSocket {
    state: AppState,
    headers: http::HeaderMap,
    conn: mcp_edge_core::gateway::WsConnection,
}

impl wsock::SocketSession for CoreSocket {
    async fn on_text(&mut self, text: &str) -> Vec<String> {
        self.state
            .app
            .ws_message(&mut self.conn, &self.headers, text)
            .await
    }

    async fn closed(self) {
        self.state.app.ws_closed(&self.conn).await;
    }
}
