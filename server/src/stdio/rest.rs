//! The REST API for web clients of bridged servers, and the browser console built on it:
//!
//! - `GET /servers`: the bridged servers (name, isolation).
//! - `POST /sessions` `{"server", "client_id", "metadata"}`: opens a session (the bridge runs the
//!   MCP handshake for the client); `GET /sessions/{id}` and `DELETE /sessions/{id}`.
//! - `POST /tools/discover` `{"session_id"}`: every tool (all pages of `tools/list`).
//! - `POST /tools/call` `{"session_id", "name", "arguments"}` (or seed 004's `"tool"` and
//!   `"params"`): the `tools/call` result.
//! - `GET /events/{session_id}`: a `connected` event, then the session's messages from its server
//!   (progress, logs, list changes) as `message` events, with `heartbeat` events as keep-alive
//!   (seed 004's `EventSource` listeners).
//! - `GET /console`: the browser console (one HTML page using the endpoints above).
//!
//! Every endpoint but `/console` passes the gateway's checks (API keys, rate limits, session quota,
//! `Origin`/`Host`, body limit). Errors are JSON `{"error": {"code", "message"}}` with the JSON-RPC
//! code and the HTTP status of the one mapping in the core.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::{header, HeaderMap, StatusCode};
use mcp_edge_core::auth::Caller;
use mcp_edge_core::error::McpError;
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::{Reply, ReplyBody};
use mcp_edge_native::OsEntropy;
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::Isolation;
use super::{BridgeSession, BridgedServer, SessionStart};
use crate::http_io::{client_address, into_response, read_body};
use crate::state::AppState;

/// The console page.
const CONSOLE_HTML: &str = include_str!("console.html");
/// Protocol version the bridge asks for on behalf of REST clients.
const REST_PROTOCOL_VERSION: &str = "2025-06-18";
/// Most `tools/list` pages read by `/tools/discover`.
const MAX_TOOL_PAGES: usize = 100;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn rest_error(err: &McpError) -> Reply {
    Reply::json(
        err.http_status(),
        &json!({"error": {"code": err.to_jsonrpc().code, "message": err.to_string()}}),
    )
}

fn bad_request(message: impl Into<String>) -> McpError {
    McpError::InvalidParams(message.into())
}

/// Runs the gateway's checks and decodes a JSON body (`Value::Null` when the body is empty).
async fn admit(state: &AppState, req: Request) -> Result<(Caller, HeaderMap, Value), Reply> {
    let headers = req.headers().clone();
    let caller = state
        .app
        .admit_caller_head(&headers, client_address(&req).as_ref())
        .await
        .map_err(|r| *r)?;
    let body = read_body(state, req.into_body()).await.map_err(|e| {
        let mut reply = rest_error(&e);
        reply.set_header(http::header::CONNECTION, "close");
        reply
    })?;
    if body.is_empty() {
        return Ok((caller, headers, Value::Null));
    }
    mcp_edge_core::transport::headers::require_json_content(&headers)
        .map_err(|e| rest_error(&e))?;
    let value = serde_json::from_slice(&body)
        .map_err(|e| rest_error(&McpError::Parse(format!("Parse error: {e}"))))?;
    Ok((caller, headers, value))
}

fn respond(state: &AppState, headers: &HeaderMap, reply: Reply) -> Response {
    into_response(state, state.app.with_cors(headers, reply))
}

async fn run(
    state: AppState,
    req: Request,
    handler: impl AsyncFnOnce(&AppState, Caller, Value) -> Result<Reply, McpError>,
) -> Response {
    let headers = req.headers().clone();
    let reply = match admit(&state, req).await {
        Ok((caller, _, body)) => tokio::select! {
            r = handler(&state, caller, body) => r.unwrap_or_else(|e| rest_error(&e)),
            _ = state.cancelled() => rest_error(&mcp_edge_core::gateway::shutdown_error()),
        },
        Err(reply) => reply,
    };
    respond(&state, &headers, reply)
}

fn session_json(server: &BridgedServer, s: &BridgeSession) -> Value {
    json!({
        "session_id": s.id,
        "server": server.name,
        "client_id": s.client_id,
        "metadata": s.metadata,
        "protocol_version": s.protocol_version,
        "created_at": s.created_at,
        "idle_ms": s.idle_ms(),
        "events_open": s.stream_open.load(Ordering::Relaxed),
    })
}

fn session_for(
    state: &AppState,
    body: &Value,
    caller: &Caller,
) -> Result<(Arc<BridgedServer>, Arc<BridgeSession>), McpError> {
    let id = body
        .get("session_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request("session_id (string) is required"))?;
    find(state, id, caller)
}

/// A live session of `caller` by id, on whichever server it lives (another identity's session is
/// not found, like an unknown one).
fn find(
    state: &AppState,
    id: &str,
    caller: &Caller,
) -> Result<(Arc<BridgedServer>, Arc<BridgeSession>), McpError> {
    state
        .bridge
        .find_session(id, caller)
        .ok_or(McpError::SessionNotFound)
}

/// Sends a request on the session; the JSON-RPC `result`, or the error as an [`McpError`].
async fn request(
    server: &BridgedServer,
    session: &BridgeSession,
    method: &str,
    params: Value,
) -> Result<Value, McpError> {
    let id = format!("rest-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let answer = server.request(session, message).await;
    if let Some(result) = answer.get("result") {
        return Ok(result.clone());
    }
    let err = answer.get("error").cloned().unwrap_or(Value::Null);
    let text = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no result")
        .to_owned();
    Err(match err.get("code").and_then(Value::as_i64) {
        Some(-32602) => McpError::InvalidParams(text),
        Some(-32601) => McpError::MethodNotFound(text),
        Some(-32600) => McpError::InvalidRequest(text),
        _ => McpError::Backend(text),
    })
}

/// `GET /servers`.
pub async fn servers(State(state): State<AppState>, req: Request) -> Response {
    run(state, req, async |state, _, _| {
        let list: Vec<Value> = state
            .bridge
            .servers()
            .map(|s| {
                json!({
                    "name": s.name,
                    "isolation": match s.isolation() { Isolation::Shared => "shared", Isolation::PerSession => "per-session" },
                })
            })
            .collect();
        Ok(Reply::json(StatusCode::OK, &json!({"servers": list})))
    })
    .await
}

#[derive(Deserialize)]
struct NewSession {
    server: Option<String>,
    client_id: Option<String>,
    #[serde(default)]
    metadata: Value,
}

/// `POST /sessions`.
pub async fn create_session(State(state): State<AppState>, req: Request) -> Response {
    run(state, req, async |state, caller, body| {
        let (server, session, init) = open_session(state, &caller, body).await?;
        let mut out = session_json(&server, &session);
        out["server_info"] = init.get("serverInfo").cloned().unwrap_or(Value::Null);
        Ok(Reply::json(StatusCode::CREATED, &out))
    })
    .await
}

/// Opens a session for `caller` from a session request (`{"server", "client_id", "metadata"}`, every
/// field optional; `server` may be left out when one server is bridged): the bridge runs the MCP
/// handshake. Returns the server, the session and the server's `initialize` result.
pub(super) async fn open_session(
    state: &AppState,
    caller: &Caller,
    body: Value,
) -> Result<(Arc<BridgedServer>, Arc<BridgeSession>, Value), McpError> {
    {
        let asked: NewSession =
            serde_json::from_value(if body.is_null() { json!({}) } else { body })
                .map_err(|e| bad_request(format!("invalid session request: {e}")))?;
        if !(asked.metadata.is_null() || asked.metadata.is_object()) {
            return Err(bad_request("metadata must be an object"));
        }
        let names: Vec<&str> = state.bridge.names().collect();
        let name = match (&asked.server, names.as_slice()) {
            (Some(n), _) => n.clone(),
            (None, [only]) => (*only).to_owned(),
            (None, _) => {
                return Err(bad_request(format!(
                    "server is required; bridged servers: {}",
                    names.join(", ")
                )))
            }
        };
        let server =
            state.bridge.server(&name).cloned().ok_or_else(|| {
                McpError::ResourceNotFound(format!("no bridged server named {name}"))
            })?;
        let client_id = asked.client_id.unwrap_or_else(|| "rest".into());
        if client_id.is_empty() || client_id.len() > 200 {
            return Err(bad_request("client_id must have 1 to 200 characters"));
        }
        let id = SessionId::generate(&OsEntropy).as_str().to_owned();
        let init = json!({"jsonrpc": "2.0", "id": "rest-init", "method": "initialize", "params": {
            "protocolVersion": REST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client_id, "version": "rest"},
        }});
        let start = SessionStart {
            request: init,
            caller,
            outbox: None,
            metadata: asked.metadata,
        };
        let (session, answer) = server.open_session(id, start).await?;
        if let Some(err) = answer.get("error") {
            server.end_session(&session.id);
            return Err(McpError::Backend(format!(
                "server '{name}' refused initialize: {err}"
            )));
        }
        server
            .notify(
                &session,
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await?;
        state.app.metrics().session_opened();
        let init = answer.get("result").cloned().unwrap_or(Value::Null);
        Ok((server, session, init))
    }
}

/// `GET /sessions/{id}`.
pub async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    run(state, req, async move |state, caller, _| {
        let (server, session) = find(state, &id, &caller)?;
        Ok(Reply::json(
            StatusCode::OK,
            &session_json(&server, &session),
        ))
    })
    .await
}

/// `DELETE /sessions/{id}`.
pub async fn delete_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    run(state, req, async move |state, caller, _| {
        let (server, session) = find(state, &id, &caller)?;
        server.end_session(&session.id);
        Ok(Reply::new(StatusCode::NO_CONTENT, ReplyBody::Empty))
    })
    .await
}

/// `POST /tools/discover`.
pub async fn discover(State(state): State<AppState>, req: Request) -> Response {
    run(state, req, async |state, caller, body| {
        let (server, session) = session_for(state, &body, &caller)?;
        let mut tools = Vec::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..MAX_TOOL_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = request(&server, &session, "tools/list", params).await?;
            if let Some(list) = page.get("tools").and_then(Value::as_array) {
                tools.extend(list.iter().cloned());
            }
            cursor = page.get("nextCursor").filter(|c| !c.is_null()).cloned();
            if cursor.is_none() {
                break;
            }
        }
        Ok(Reply::json(
            StatusCode::OK,
            &json!({"session_id": session.id, "server": server.name, "tools": tools}),
        ))
    })
    .await
}

/// `POST /tools/call`.
pub async fn call(State(state): State<AppState>, req: Request) -> Response {
    run(state, req, async |state, caller, body| {
        let (server, session) = session_for(state, &body, &caller)?;
        // Seed 004's clients send `tool` and `params`; today's send `name` and `arguments`.
        let name = field(&body, "name", "tool")?
            .and_then(Value::as_str)
            .ok_or_else(|| bad_request("name (or tool) is required, a string"))?;
        let arguments = match field(&body, "arguments", "params")? {
            None | Some(Value::Null) => json!({}),
            Some(a @ Value::Object(_)) => a.clone(),
            Some(_) => return Err(bad_request("arguments (or params) must be an object")),
        };
        let result = request(
            &server,
            &session,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
        .await?;
        Ok(Reply::json(
            StatusCode::OK,
            &json!({"session_id": session.id, "tool": name, "result": result}),
        ))
    })
    .await
}

/// The value of `name`, or of its seed 004 spelling `alias`; both given and different is a 400.
fn field<'a>(body: &'a Value, name: &str, alias: &str) -> Result<Option<&'a Value>, McpError> {
    match (body.get(name), body.get(alias)) {
        (Some(a), Some(b)) if a != b => Err(bad_request(format!(
            "{name} and {alias} name the same field; give one (or the same value)"
        ))),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

/// `GET /events/{session_id}`.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let caller = match admit(&state, req).await {
        Ok((caller, _, _)) => caller,
        Err(reply) => return respond(&state, &headers, reply),
    };
    let Some((_, session)) = state.bridge.find_session(&id, &caller) else {
        return respond(&state, &headers, rest_error(&McpError::SessionNotFound));
    };
    if session.stream_open.swap(true, Ordering::AcqRel) {
        let e = McpError::InvalidRequest(
            "Conflict: this session's events are already being read".into(),
        );
        let mut r = rest_error(&e);
        *r.response.status_mut() = StatusCode::CONFLICT;
        return respond(&state, &headers, r);
    }
    let mut reply = Reply::new(StatusCode::OK, ReplyBody::Empty);
    reply.set_header(header::CONTENT_TYPE, "text/event-stream");
    reply.set_header(header::CACHE_CONTROL, "no-cache");
    let reply = state.app.with_cors(&headers, reply);
    let (parts, _) = reply.response.into_parts();
    Response::from_parts(parts, super::http::events_body(&state, session))
}

/// `GET /console`.
pub async fn console() -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(
            "content-security-policy",
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        )
        .body(axum::body::Body::from(CONSOLE_HTML))
        .unwrap_or_default()
}
