//! `/servers/{name}/mcp`: Streamable HTTP for a bridged stdio server, with the gateway's checks
//! (caller authentication and rate limits, `Origin`/`Host`, `Content-Type`, `Accept`, body limit,
//! `MCP-Protocol-Version`, session ids and 404 after expiry). `GET /stats` reports per-server and
//! per-session figures.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::shutdown_error;
use mcp_edge_core::protocol::{self, decode, is_supported_version, DecodeError, Payload};
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::headers::{acceptable, require_json_content};
use mcp_edge_core::transport::sse::{keepalive_frame, SseEvent};
use mcp_edge_core::transport::{Reply, ReplyBody, SESSION_HEADER, VERSION_HEADER};
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
    let reply = state
        .app
        .with_cors(&headers, handle(&state, &name, req).await);
    let held = reply
        .response
        .extensions()
        .get::<HeldBridgeStream>()
        .cloned();
    if let Some(HeldBridgeStream(session)) = held {
        let (parts, _) = reply.response.into_parts();
        return Response::from_parts(parts, stream_body(&state, session));
    }
    let call = reply.response.extensions().get::<HeldCall>().cloned();
    if let Some(HeldCall(slot)) = call {
        if let Some((mut call, client_id)) = slot.lock().await.take() {
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
            return Response::from_parts(parts, body);
        }
    }
    into_response(&state, reply)
}

/// Marks a POST reply whose body streams a forwarded call.
#[derive(Clone)]
struct HeldCall(Arc<tokio::sync::Mutex<Option<(Call, Value)>>>);

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

async fn handle(state: &AppState, name: &str, req: Request) -> Reply {
    let headers = req.headers().clone();
    if req.method() == Method::OPTIONS {
        return state.app.preflight(&headers);
    }
    let (server, caller) = match admitted(state, name, &headers, client_address(&req)).await {
        Ok(admitted) => admitted,
        Err(reply) => return *reply,
    };
    if let Some(v) = headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok()) {
        if !is_supported_version(v) {
            return error(&McpError::UnsupportedVersionHeader(v.to_owned()));
        }
    }
    match *req.method() {
        Method::POST => match read_body(state, req.into_body()).await {
            Ok(body) => post(state, &server, &headers, &caller, body).await,
            Err(e) => body_refusal(&e),
        },
        Method::GET => get(&server, &headers, &caller),
        Method::DELETE => match session_of(&server, &headers, &caller) {
            Ok(s) => {
                server.end_session(&s.id);
                Reply::new(StatusCode::OK, ReplyBody::Empty)
            }
            Err(e) => error(&e),
        },
        _ => {
            let mut r = error(&McpError::MethodNotAllowed(
                "use POST, GET or DELETE".into(),
            ));
            r.set_header(header::ALLOW, "GET, POST, DELETE");
            r
        }
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

fn session_of(
    server: &BridgedServer,
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<Arc<BridgeSession>, McpError> {
    let id = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(McpError::MissingSession)?;
    server
        .session(id.trim(), caller)
        .ok_or(McpError::SessionNotFound)
}

/// The answer as JSON, or as one SSE event for a client that only takes event streams.
fn answer(headers: &HeaderMap, message: &Value) -> Reply {
    let accepts = acceptable(headers);
    if accepts.json {
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

async fn post(
    state: &AppState,
    server: &BridgedServer,
    headers: &HeaderMap,
    caller: &Caller,
    body: Bytes,
) -> Reply {
    if let Err(e) = require_json_content(headers) {
        return error(&e);
    }
    let accepts = acceptable(headers);
    if !accepts.json && !accepts.sse {
        return error(&McpError::NotAcceptable(
            "Accept must include application/json or text/event-stream".into(),
        ));
    }
    let message = match decode(&body) {
        Ok(Payload::Single(m)) => m,
        Ok(Payload::Batch(_)) => {
            return error(&McpError::InvalidRequest(
                "Invalid Request: bridged servers take one JSON-RPC message per POST".into(),
            ))
        }
        Err(DecodeError::Parse(msg)) => return error(&McpError::Parse(msg)),
        Err(DecodeError::Invalid(id, msg)) => {
            return Reply::error(&McpError::InvalidRequest(msg), &id)
        }
    };
    let raw: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let is_request = message.method().is_some() && raw.get("id").is_some();
    if message.method() == Some("initialize") && is_request {
        if headers.contains_key(SESSION_HEADER) {
            return error(&McpError::InvalidRequest(
                "Invalid Request: initialize must not carry Mcp-Session-Id".into(),
            ));
        }
        let id = SessionId::generate(&OsEntropy).as_str().to_owned();
        let start = SessionStart {
            request: raw,
            caller,
            outbox: None,
            metadata: Value::Null,
        };
        return match server.open_session(id, start).await {
            Ok((session, result)) => {
                let mut r = answer(headers, &result);
                r.set_header(SESSION_HEADER, &session.id);
                state.app.metrics().session_opened();
                r
            }
            Err(e) => {
                let id = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or(Value::Null);
                Reply::error(&e, &id)
            }
        };
    }
    let session = match session_of(server, headers, caller) {
        Ok(s) => s,
        Err(e) => return Reply::error(&e, raw.get("id").unwrap_or(&Value::Null)),
    };
    if is_request {
        // A tool call (which may log, report progress or ask the client for sampling, elicitation
        // or roots) and any request asking for progress are answered with an event stream when the
        // client takes one, so those messages arrive before the answer, in order, on this response.
        // Everything else is answered with JSON (messages related to it go to the GET stream), unless
        // the gateway prefers SSE answers (`--sse-responses`).
        let streams = message.method() == Some("tools/call")
            || raw.pointer("/params/_meta/progressToken").is_some()
            || state.app.config().prefer_sse;
        if !accepts.sse || (accepts.json && !streams) {
            let answer_message = server.request(&session, raw).await;
            return answer(headers, &answer_message);
        }
        let client_id = raw.get("id").cloned().unwrap_or(Value::Null);
        return match server.call(&session, raw).await {
            Ok(call) => {
                let mut r = Reply::new(StatusCode::OK, ReplyBody::Empty);
                r.set_header(header::CONTENT_TYPE, "text/event-stream");
                r.set_header(header::CACHE_CONTROL, "no-cache");
                r.response
                    .extensions_mut()
                    .insert(HeldCall(Arc::new(tokio::sync::Mutex::new(Some((
                        call, client_id,
                    ))))));
                r
            }
            Err(e) => answer(headers, &protocol::failure(&client_id, &e.to_jsonrpc())),
        };
    }
    match server.notify(&session, raw).await {
        Ok(()) => Reply::new(StatusCode::ACCEPTED, ReplyBody::Empty),
        Err(e) => error(&e),
    }
}

fn get(server: &BridgedServer, headers: &HeaderMap, caller: &Caller) -> Reply {
    if !acceptable(headers).sse {
        return error(&McpError::NotAcceptable(
            "Accept must include text/event-stream".into(),
        ));
    }
    let session = match session_of(server, headers, caller) {
        Ok(s) => s,
        Err(e) => return error(&e),
    };
    if session.stream_open.swap(true, Ordering::AcqRel) {
        return Reply::json(
            StatusCode::CONFLICT,
            &protocol::failure(
                &Value::Null,
                &McpError::InvalidRequest(
                    "Conflict: this session already has a GET stream open".into(),
                )
                .to_jsonrpc(),
            ),
        );
    }
    let mut r = Reply::new(StatusCode::OK, ReplyBody::Empty);
    r.set_header(header::CONTENT_TYPE, "text/event-stream");
    r.set_header(header::CACHE_CONTROL, "no-cache");
    r.set_header(SESSION_HEADER, &session.id);
    // The body is filled by `stream_body`; the marker tells `bridged_mcp`.
    r.response
        .extensions_mut()
        .insert(HeldBridgeStream(session.clone()));
    r
}

/// Marks a GET reply whose body is the session's message stream.
#[derive(Clone)]
pub struct HeldBridgeStream(pub Arc<BridgeSession>);

/// The body of a bridged GET stream: queued and new messages from the child, keep-alives, until the
/// client leaves, the session ends or the server shuts down.
pub fn stream_body(state: &AppState, session: Arc<BridgeSession>) -> Body {
    let outbox = session.outbox.clone();
    outbox_body(state, outbox, Vec::new(), move || {
        session.stream_open.store(false, Ordering::Release);
    })
}

/// An SSE body that sends `prelude`, then every message pushed to `outbox`, with keep-alive comments,
/// until the client leaves, the outbox is closed (the session ended) or the server shuts down; then
/// runs `on_end`.
pub fn outbox_body(
    state: &AppState,
    outbox: Arc<super::Outbox>,
    prelude: Vec<Bytes>,
    on_end: impl FnOnce() + Send + 'static,
) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let keepalive = Duration::from_millis(state.app.config().keepalive_ms.max(100));
    let mut shutdown = state.shutdown.clone();
    let metrics = state.app.metrics().clone();
    metrics.stream_delta(1);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(keepalive);
        ticker.tick().await;
        let mut open = true;
        for frame in prelude {
            open = open && tx.send(Ok(frame)).await.is_ok();
        }
        while open {
            for m in outbox.drain() {
                if tx
                    .send(Ok(SseEvent::message(None, m.to_string()).encode()))
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
                _ = ticker.tick() => open = tx.send(Ok(keepalive_frame())).await.is_ok(),
                _ = tx.closed() => open = false,
                _ = shutdown.changed() => open = false,
            }
        }
        on_end();
        metrics.stream_delta(-1);
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
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
