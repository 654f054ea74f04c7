//! `/servers/{name}/mcp`: Streamable HTTP for a bridged stdio server. The gateway admits the caller
//! (authentication and rate limits, `Origin`/`Host`); the core's classifier
//! ([`mcp_edge_core::transport::inbound`]) applies every transport rule (`Content-Type`, `Accept`,
//! body limit, `MCP-Protocol-Version`, decoding, `initialize`, session header, 405); this file only
//! looks sessions up (404 after expiry) and talks to the child. `GET /stats` reports per-server and
//! per-session figures.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::shutdown_error;
use mcp_edge_core::protocol::{self, Incoming, Payload};
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::headers::Acceptable;
use mcp_edge_core::transport::inbound::{classify, Inbound, Rules};
use mcp_edge_core::transport::sse::SseEvent;
use mcp_edge_core::transport::{Reply, ReplyBody, SESSION_HEADER};
use mcp_edge_native::held::{drive, FrameSource};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{BridgeSession, BridgedServer, Call, SessionStart, Step};
use crate::http_io::{body_refusal, client_address, into_response, read_body};
use crate::state::AppState;
use mcp_edge_core::auth::Caller;
use mcp_edge_native::OsEntropy;

pub(crate) fn error(err: &McpError) -> Reply {
    Reply::error(err, &Value::Null)
}

/// `ANY /servers/{name}/mcp`.
pub async fn bridged_mcp(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let (reply, held) = handle(&state, &name, req).await;
    let reply = state.app.with_cors(&headers, reply);
    match held {
        None => into_response(&state, reply),
        Some(Held::Stream(session)) => {
            let (parts, _) = reply.response.into_parts();
            Response::from_parts(parts, stream_body(&state, session))
        }
        Some(Held::Call(mut call, client_id)) => {
            let (parts, _) = reply.response.into_parts();
            // The first message (for most calls the answer itself) leaves with the headers in one
            // write; a call with related messages first streams the rest.
            let step = tokio::select! {
                step = call.next() => step,
                _ = state.cancelled() => Step::Answer(Err(shutdown_error())),
            };
            let (first, last) = event(step, &client_id);
            let body = if last {
                Body::from(first)
            } else {
                call_body(&state, call, client_id, first)
            };
            Response::from_parts(parts, body)
        }
    }
}

/// What streams after a reply's head: the session's GET stream, or a forwarded call (with the
/// client's request id).
enum Held {
    Stream(Arc<BridgeSession>),
    Call(Call, Value),
}

/// One step of a forwarded call as an SSE event, and whether it is the last.
fn event(step: Step, client_id: &Value) -> (Bytes, bool) {
    let (message, last) = match step {
        Step::Related(m) => (m, false),
        Step::Answer(Ok(m)) => (m, true),
        Step::Answer(Err(e)) => (protocol::failure(client_id, &e.to_jsonrpc()), true),
    };
    (SseEvent::message(None, message.to_string()).encode(), last)
}

/// SSE body of a forwarded call after its `first` event: related messages, then the answer, then the
/// end of the stream. Dropping it (client gone) drops the [`Call`], which cancels the request at the
/// child.
fn call_body(state: &AppState, mut call: Call, client_id: Value, first: Bytes) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let state = state.clone();
    tokio::spawn(async move {
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            let (frame, last) = tokio::select! {
                step = call.next() => event(step, &client_id),
                _ = state.cancelled() => event(Step::Answer(Err(shutdown_error())), &client_id),
                _ = tx.closed() => break,
            };
            if tx.send(Ok(frame)).await.is_err() || last {
                break;
            }
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Settles a request: the gateway's admission, then the core's transport rules
/// ([`classify`]), then the bridged server's work.
async fn handle(state: &AppState, name: &str, req: Request) -> (Reply, Option<Held>) {
    let headers = req.headers().clone();
    if req.method() == Method::OPTIONS {
        return (state.app.preflight(&headers), None);
    }
    let (server, caller) = match admitted(state, name, &headers, client_address(&req)).await {
        Ok(admitted) => admitted,
        Err(reply) => return (*reply, None),
    };
    let (parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        match read_body(state, body).await {
            Ok(body) => body,
            Err(e) => return (body_refusal(&e), None),
        }
    } else {
        Bytes::new()
    };
    // Bridged servers take one message per POST (no batches); 2026-07-28 requests are translated
    // for the 2025-era child ([`super::modern`]).
    let rules = Rules {
        max_body_bytes: state.app.config().max_body_bytes,
        max_batch: 0,
        stateless: true,
    };
    let inbound = match classify(&parts.method, &headers, &body, &rules) {
        Ok(inbound) => inbound,
        Err(refusal) => return (refusal.reply(), None),
    };
    match inbound {
        Inbound::Initialize { message, accept } => {
            let reply = initialize(state, &server, accept, &caller, &message, &body).await;
            (reply, None)
        }
        Inbound::OnSession {
            session,
            payload: Payload::Single(message),
            accept,
        } => {
            let trace = state.app.tracer().incoming(&headers);
            post(
                state,
                &server,
                (accept, trace),
                &caller,
                &session,
                &message,
                &body,
            )
            .await
        }
        Inbound::OpenStream { session, .. } => get(&server, &session, &caller),
        Inbound::Delete { session } => match session_of(&server, &session, &caller) {
            Ok(s) => {
                server.end_session(&s.id);
                (Reply::new(StatusCode::OK, ReplyBody::Empty), None)
            }
            Err(e) => (error(&e), None),
        },
        Inbound::Stateless { message, accept } => (
            super::modern::post(&server, &headers, accept, &caller, message).await,
            None,
        ),
        // Not produced under these rules (no batches).
        Inbound::OnSession { .. } => (
            error(&McpError::Internal(
                "the request classifier let through a message the bridge does not take".into(),
            )),
            None,
        ),
    }
}

/// The gateway's checks for every bridged endpoint: the server exists (else 404 naming the
/// configured ones), the caller is authenticated and within its rate limit, `Origin`/`Host` pass.
pub(crate) async fn admitted(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    client: Option<mcp_edge_core::gateway::ClientAddress>,
) -> Result<(Arc<BridgedServer>, Caller), Box<Reply>> {
    let Some(server) = state.bridge.server(name).cloned() else {
        return Err(Box::new(Reply::json(
            StatusCode::NOT_FOUND,
            &json!({"error": "no bridged server by this name", "server": name, "servers": state.bridge.names().collect::<Vec<_>>()}),
        )));
    };
    let caller = state
        .app
        .admit_caller_head(headers, client.as_ref())
        .await?;
    Ok((server, caller))
}

/// The caller's live session `id` on `server`.
fn session_of(
    server: &BridgedServer,
    id: &str,
    caller: &Caller,
) -> Result<Arc<BridgeSession>, McpError> {
    server.session(id, caller).ok_or(McpError::SessionNotFound)
}

/// The answer as JSON, or as one SSE event for a client that only takes event streams.
fn answer(accept: Acceptable, message: &Value) -> Reply {
    if accept.json {
        Reply::json(StatusCode::OK, message)
    } else {
        let mut r = Reply::new(
            StatusCode::OK,
            ReplyBody::Sse {
                frames: vec![SseEvent::message(None, message.to_string()).encode()],
                hold: None,
            },
        );
        r.set_header(header::CONTENT_TYPE, "text/event-stream");
        r
    }
}

/// `initialize`: a new session on the bridged server, answered with its id.
async fn initialize(
    state: &AppState,
    server: &BridgedServer,
    accept: Acceptable,
    caller: &Caller,
    message: &Incoming,
    body: &Bytes,
) -> Reply {
    let raw: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let id = SessionId::generate(&OsEntropy).as_str().to_owned();
    let start = SessionStart {
        request: raw,
        caller,
        outbox: None,
        metadata: Value::Null,
    };
    match server.open_session(id, start).await {
        Ok((session, result)) => {
            let mut r = answer(accept, &result);
            r.set_header(SESSION_HEADER, &session.id);
            state.app.metrics().session_opened();
            r
        }
        Err(e) => Reply::error(&e, &request_id(message)),
    }
}

/// The id of a request (`null` for a notification or response).
fn request_id(message: &Incoming) -> Value {
    match message {
        Incoming::Request { id, .. } => id.clone(),
        _ => Value::Null,
    }
}

/// A message on a session: a request is forwarded and answered (as JSON, or as an event stream that
/// carries the messages related to it first); a notification or response is passed on.
async fn post(
    state: &AppState,
    server: &BridgedServer,
    (accept, trace): (Acceptable, Option<mcp_edge_core::otel::TraceContext>),
    caller: &Caller,
    session: &str,
    message: &Incoming,
    body: &Bytes,
) -> (Reply, Option<Held>) {
    let client_id = request_id(message);
    let session = match session_of(server, session, caller) {
        Ok(s) => s,
        Err(e) => return (Reply::error(&e, &client_id), None),
    };
    let mut raw: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // The HTTP request's trace context reaches the child as the message's `_meta` (unless the
    // message names its own), where the bridged call's span picks it up as its parent.
    if let (Some(ctx), true) = (&trace, raw.pointer("/params/_meta/traceparent").is_none()) {
        ctx.inject_meta(&mut raw);
    }
    if let Incoming::Request { method, .. } = message {
        // A tool call (which may log, report progress or ask the client for sampling, elicitation
        // or roots) and any request asking for progress are answered with an event stream when the
        // client takes one, so those messages arrive before the answer, in order, on this response.
        // Everything else is answered with JSON (messages related to it go to the GET stream), unless
        // the gateway prefers SSE answers (`--sse-responses`).
        let streams = method == "tools/call"
            || raw.pointer("/params/_meta/progressToken").is_some()
            || state.app.config().prefer_sse;
        if !accept.sse || (accept.json && !streams) {
            let answer_message = server.request(&session, raw).await;
            return (answer(accept, &answer_message), None);
        }
        return match server.call(&session, raw).await {
            Ok(call) => {
                let mut r = Reply::new(StatusCode::OK, ReplyBody::Empty);
                r.set_header(header::CONTENT_TYPE, "text/event-stream");
                r.set_header(header::CACHE_CONTROL, "no-cache");
                (r, Some(Held::Call(call, client_id)))
            }
            Err(e) => (
                answer(accept, &protocol::failure(&client_id, &e.to_jsonrpc())),
                None,
            ),
        };
    }
    match server.notify(&session, raw).await {
        Ok(()) => (Reply::new(StatusCode::ACCEPTED, ReplyBody::Empty), None),
        Err(e) => (error(&e), None),
    }
}

/// `GET`: the session's message stream (one at a time).
fn get(server: &BridgedServer, session: &str, caller: &Caller) -> (Reply, Option<Held>) {
    let session = match session_of(server, session, caller) {
        Ok(s) => s,
        Err(e) => return (error(&e), None),
    };
    if session.stream_open.swap(true, Ordering::AcqRel) {
        let conflict = Reply::json(
            StatusCode::CONFLICT,
            &protocol::failure(
                &Value::Null,
                &McpError::InvalidRequest(
                    "Conflict: this session already has a GET stream open".into(),
                )
                .to_jsonrpc(),
            ),
        );
        return (conflict, None);
    }
    let mut r = Reply::new(StatusCode::OK, ReplyBody::Empty);
    r.set_header(header::CONTENT_TYPE, "text/event-stream");
    r.set_header(header::CACHE_CONTROL, "no-cache");
    r.set_header(SESSION_HEADER, &session.id);
    (r, Some(Held::Stream(session)))
}

/// The body of a bridged GET stream: queued and new messages from the child, keep-alives, until the
/// client leaves, the session ends or the server shuts down.
pub fn stream_body(state: &AppState, session: Arc<BridgeSession>) -> Body {
    let outbox = session.outbox.clone();
    let stream = state
        .app
        .held_stream(Vec::new(), state.app.config().keepalive_ms);
    held_outbox_body(state, stream, outbox, move || {
        session.stream_open.store(false, Ordering::Release);
    })
}

/// The body of the REST API's `GET /events/{id}` (seed 004's SSE endpoint): a `connected` event
/// (`{"session_id"}`) first, the session's messages as `message` events, and keep-alives as
/// `heartbeat` events (`{"timestamp"}`), all real named events an `EventSource` listener sees.
pub fn events_body(state: &AppState, session: Arc<BridgeSession>) -> Body {
    let outbox = session.outbox.clone();
    let connected = mcp_edge_core::transport::sse::SseEvent {
        event: Some("connected".into()),
        data: json!({"session_id": session.id}).to_string(),
        ..Default::default()
    };
    let stream = state
        .app
        .held_stream(vec![connected.encode()], state.app.config().keepalive_ms)
        .heartbeat_events("heartbeat");
    held_outbox_body(state, stream, outbox, move || {
        session.stream_open.store(false, Ordering::Release);
    })
}

/// An SSE body that sends `prelude`, then every message pushed to `outbox`, with keep-alive comments,
/// until the client leaves, the outbox is closed (the session ended) or the server shuts down; then
/// runs `on_end`. The core's state machine decides each step; this only does the I/O.
pub fn outbox_body(
    state: &AppState,
    outbox: Arc<super::Outbox>,
    prelude: Vec<Bytes>,
    on_end: impl FnOnce() + Send + 'static,
) -> Body {
    let stream = state
        .app
        .held_stream(prelude, state.app.config().keepalive_ms);
    held_outbox_body(state, stream, outbox, on_end)
}

/// Drives `stream` with the messages of `outbox` (see [`outbox_body`]).
fn held_outbox_body(
    state: &AppState,
    stream: mcp_edge_core::transport::hold::HeldStream,
    outbox: Arc<super::Outbox>,
    on_end: impl FnOnce() + Send + 'static,
) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let mut shutdown = state.shutdown.clone();
    let app = state.app.clone();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = shutdown.changed().await;
        };
        let mut source = OutboxFrames(outbox);
        drive(stream, || app.now(), &tx, Ok, &mut source, shutdown).await;
        on_end();
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A session outbox as a held stream's source: each queued message as one SSE event.
struct OutboxFrames(Arc<super::Outbox>);

impl FrameSource for OutboxFrames {
    async fn pushed(&mut self) -> Option<Vec<Bytes>> {
        loop {
            let queued = self.0.drain();
            if !queued.is_empty() {
                return Some(
                    queued
                        .iter()
                        .map(|m| SseEvent::message(None, m.to_string()).encode())
                        .collect(),
                );
            }
            if self.0.is_closed() {
                return None;
            }
            self.0.changed().await;
        }
    }
}

/// `GET /stats`: per-server and per-session figures of the bridge.
/// Lists the caller's own session ids (bearer secrets of bridged sessions), so it needs the caller's
/// credentials when the gateway has any configured.
pub async fn stats(State(state): State<AppState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let reply = match state
        .app
        .admit(&headers, client_address(&req).as_ref())
        .await
    {
        Ok(caller) => Reply::json(
            StatusCode::OK,
            &json!({"servers": state.bridge.stats(&caller)}),
        ),
        Err(refusal) => *refusal,
    };
    into_response(&state, state.app.with_cors(&headers, reply))
}
