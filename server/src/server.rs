//! The axum router of the native server: `/ws` (WebSocket to the core), the stdio bridge's routes
//! (`/servers/…`, the REST API, `/console`, `/stats`) and everything else to the core, converting
//! HTTP to the core's `http` types and recording latency.

use std::time::Instant;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;

use crate::http_io::{body_refusal, client_address, into_response, live_response, read_body};
use crate::state::AppState;
use crate::stdio;
use crate::wsock;
use mcp_edge_core::transport::live::Started;

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
        .route("/bridge/ws", get(stdio::seed_socket::upgrade))
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
    let mut reply = match read_body(&state, body).await {
        Ok(bytes) => {
            parts.extensions.insert(admitted);
            if let Some(c) = client {
                parts.extensions.insert(c);
            }
            let mut core_req = http::Request::from_parts(parts, bytes.clone());
            // A tool call that sends notifications answers with an event stream that carries them
            // as they come (the core decides; see `mcp_edge_core::notify`).
            let related = state.app.live(&mut core_req);
            let app = state.app.clone();
            let handled = Box::pin(async move { app.handle(core_req).await });
            let started = tokio::select! {
                started = related.start(handled) => started,
                _ = state.cancelled() => Started::Whole(state.app.shutdown_reply(&bytes)),
            };
            match started {
                Started::Whole(reply) => reply,
                Started::Streaming(head, body) => return live_response(&state, head, body),
            }
        }
        Err(e) => body_refusal(&e),
    };
    for d in &reply.deliveries {
        state.hub.deliver(d);
    }
    // Tasks extension: the work goes on after this response, on the runtime; a task still running
    // when the process stops reads as failed afterwards (the core's runner-claim rule).
    for job in reply.tasks.drain(..) {
        let app = state.app.clone();
        tokio::spawn(async move { app.run_task(job).await });
    }
    let status = reply.status();
    let response = into_response(&state, reply);
    let micros = started.elapsed().as_micros() as u64;
    state.app.metrics().observe_latency_micros(micros);
    tracing::debug!(%method, %path, status = status.as_u16(), micros, "request");
    response
}

async fn ws_handler(State(state): State<AppState>, ws: WebSocketUpgrade, req: Request) -> Response {
    let headers = req.headers().clone();
    let client = client_address(&req);
    let accept = match state.app.ws_accept(&headers, client.as_ref()).await {
        Ok(a) => a,
        Err(reply) => return into_response(&state, *reply),
    };
    let ticket = match wsock::ticket(&state) {
        Ok(t) => t,
        Err(refusal) => {
            state.app.ws_closed(&accept.connection).await;
            return refusal;
        }
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
            wsock::pump(state, socket, accept.greeting, session, ticket)
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
