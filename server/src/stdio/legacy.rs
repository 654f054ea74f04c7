//! The legacy HTTP+SSE transport for bridged servers: `GET /servers/{name}/sse` opens the event
//! stream (its first event names the POST endpoint), `POST /servers/{name}/messages?sessionId=…`
//! takes one JSON-RPC message and answers 202; every reply travels on the stream. The stream is the
//! session's lifetime: when it closes, the session (and its child, per session) ends.
//!
//! [`deliver`] is shared with the WebSocket transport, whose replies also go through an outbox.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use http::{header, HeaderMap, StatusCode};
use mcp_edge_core::auth::Caller;
use mcp_edge_core::error::McpError;
use mcp_edge_core::protocol::{self, decode, DecodeError, Payload};
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::sse::SseEvent;
use mcp_edge_core::transport::{Reply, ReplyBody};
use mcp_edge_native::OsEntropy;
use serde_json::Value;

use super::http::{admitted, error, outbox_body};
use super::{BridgedServer, Outbox, SessionStart};
use crate::http_io::{body_refusal, client_address, into_response, read_body};
use crate::state::AppState;

/// `GET /servers/{name}/sse`.
pub async fn open(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let (server, caller) = match admitted(&state, &name, &headers, client_address(&req)).await {
        Ok(a) => a,
        Err(reply) => return into_response(&state, state.app.with_cors(&headers, *reply)),
    };
    let id = SessionId::generate(&OsEntropy).as_str().to_owned();
    let outbox = server.open_pending(&id, &caller);
    let path = req.uri().path().trim_end_matches('/');
    let prefix = path.strip_suffix("sse").unwrap_or("/");
    let endpoint = SseEvent {
        id: None,
        event: Some("endpoint".into()),
        data: format!("{prefix}messages?sessionId={id}"),
        retry: None,
    }
    .encode();
    let stream_outbox = outbox.clone();
    let body = outbox_body(&state, stream_outbox, vec![endpoint], move || {
        outbox.close();
        server.drop_pending(&id);
        server.end_session(&id);
    });
    let mut reply = Reply::new(StatusCode::OK, ReplyBody::Empty);
    reply.set_header(header::CONTENT_TYPE, "text/event-stream");
    reply.set_header(header::CACHE_CONTROL, "no-cache");
    let reply = state.app.with_cors(&headers, reply);
    let (parts, _) = reply.response.into_parts();
    Response::from_parts(parts, body)
}

/// The query of `POST /servers/{name}/messages`.
#[derive(serde::Deserialize)]
pub struct MessagesQuery {
    #[serde(rename = "sessionId", alias = "session_id")]
    session_id: Option<String>,
}

/// `POST /servers/{name}/messages?sessionId=…`.
pub async fn post(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<MessagesQuery>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let reply = accept(&state, &name, query, req).await;
    into_response(&state, state.app.with_cors(&headers, reply))
}

async fn accept(state: &AppState, name: &str, query: MessagesQuery, req: Request) -> Reply {
    let headers: HeaderMap = req.headers().clone();
    let (server, caller) = match admitted(state, name, &headers, client_address(&req)).await {
        Ok(a) => a,
        Err(reply) => return *reply,
    };
    if let Err(e) = mcp_edge_core::transport::headers::require_json_content(&headers) {
        return error(&e);
    }
    let Some(id) = query.session_id else {
        return error(&McpError::InvalidRequest(
            "Bad Request: sessionId query parameter is required".into(),
        ));
    };
    let body = match read_body(state, req.into_body()).await {
        Ok(b) => b,
        Err(e) => return body_refusal(&e),
    };
    let message = match parse(&body) {
        Ok(m) => m,
        Err((e, id)) => return Reply::error(&e, &id),
    };
    let pending = server.take_pending(&id, &caller);
    if pending.is_none() && server.session(&id, &caller).is_none() {
        return error(&McpError::SessionNotFound);
    }
    match deliver(server, &id, &caller, pending, message).await {
        Ok(()) => Reply::new(StatusCode::ACCEPTED, ReplyBody::Empty),
        Err((e, msg_id)) => Reply::error(&e, &msg_id),
    }
}

/// One JSON-RPC message from a body (bridged transports take no batches).
pub(crate) fn parse(body: &[u8]) -> Result<Value, (McpError, Value)> {
    match decode(body) {
        Ok(Payload::Single(_)) => serde_json::from_slice(body)
            .map_err(|e| (McpError::Parse(format!("Parse error: {e}")), Value::Null)),
        Ok(Payload::Batch(_)) => Err((
            McpError::InvalidRequest(
                "Invalid Request: bridged servers take one JSON-RPC message at a time".into(),
            ),
            Value::Null,
        )),
        Err(DecodeError::Parse(msg)) => Err((McpError::Parse(msg), Value::Null)),
        Err(DecodeError::Invalid(id, msg)) => Err((McpError::InvalidRequest(msg), id)),
    }
}

/// Hands one client message to session `id` of `server`; replies (and the child's messages related to
/// them) are pushed to the session's outbox. `pending` is the outbox of a transport whose session
/// has not been initialized yet: only `initialize` is accepted then. Requests run concurrently.
pub(crate) async fn deliver(
    server: Arc<BridgedServer>,
    id: &str,
    caller: &Caller,
    pending: Option<Arc<Outbox>>,
    message: Value,
) -> Result<(), (McpError, Value)> {
    let msg_id = message.get("id").cloned().unwrap_or(Value::Null);
    let method = message.get("method").and_then(Value::as_str);
    let is_request = method.is_some() && message.get("id").is_some();
    if let Some(outbox) = pending {
        if method != Some("initialize") || !is_request {
            server.restore_pending(id, caller, outbox);
            return Err((
                McpError::InvalidRequest(
                    "Invalid Request: the session starts with an initialize request".into(),
                ),
                msg_id,
            ));
        }
        let caller = caller.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let start = SessionStart {
                request: message,
                caller: &caller,
                outbox: Some(outbox.clone()),
                metadata: Value::Null,
            };
            match server.open_session(id.clone(), start).await {
                // A stream that closed while the handshake ran ends the new session at once.
                Ok(_) if outbox.is_closed() => {
                    server.end_session(&id);
                }
                Ok((_, answer)) => outbox.push(answer),
                Err(e) => {
                    // The client may try again on the same stream.
                    outbox.push(protocol::failure(&msg_id, &e.to_jsonrpc()));
                    server.restore_pending(&id, &caller, outbox);
                }
            }
        });
        return Ok(());
    }
    let Some(session) = server.session(id, caller) else {
        return Err((McpError::SessionNotFound, msg_id));
    };
    if method == Some("initialize") {
        return Err((
            McpError::InvalidRequest("Invalid Request: the session is already initialized".into()),
            msg_id,
        ));
    }
    if is_request {
        tokio::spawn(async move {
            let answer = server.request(&session, message).await;
            session.outbox.push(answer);
        });
        return Ok(());
    }
    server
        .notify(&session, message)
        .await
        .map_err(|e| (e, Value::Null))
}
