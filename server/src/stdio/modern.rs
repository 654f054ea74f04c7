//! 2026-07-28 requests to a bridged (2025-era) stdio server at `/servers/{name}/mcp`: stateless
//! requests with the protocol envelope in `params._meta`, translated by the core's
//! [`bridge_era`](mcp_edge_core::bridge_era). The bridge keeps one initialized bridged session per
//! caller (its own child in per-session mode) and forwards each request on it. When the child asks
//! the client something while handling a call (sampling, elicitation, roots), the call is parked and
//! the client gets an `input_required` result whose signed `requestState` names it; the retry's
//! `inputResponses` are delivered to the child as its answers and the call goes on.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use mcp_edge_core::auth::Caller;
use mcp_edge_core::bridge_era;
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::{
    check_modern_envelope, modern_code_status, modern_status, modern_version,
};
use mcp_edge_core::mrtr;
use mcp_edge_core::port::Entropy;
use mcp_edge_core::protocol::{self, Incoming, META_CLIENT_CAPABILITIES};
use mcp_edge_core::tool::InputRound;
use mcp_edge_core::transport::headers::Acceptable;
use mcp_edge_core::transport::sse::SseEvent;
use mcp_edge_core::transport::{Reply, ReplyBody};
use mcp_edge_native::OsEntropy;
use serde_json::{json, Map, Value};

use super::{BridgeSession, BridgedServer, Call, Step};

/// A call parked while its client answers the child's requests.
pub(super) struct ParkedCall {
    call: Call,
    session: Arc<BridgeSession>,
    handshake: Value,
}

/// A 2026-07-28 message: a request is answered (JSON, or an event stream when the child sent
/// notifications for it and the client takes one); notifications and responses are accepted.
pub(super) async fn post(
    server: &BridgedServer,
    headers: &HeaderMap,
    accept: Acceptable,
    caller: &Caller,
    message: Incoming,
) -> Reply {
    let Incoming::Request { id, method, params } = message else {
        return Reply::new(StatusCode::ACCEPTED, ReplyBody::Empty);
    };
    match request(server, headers, caller, &id, &method, params.as_ref()).await {
        Ok((result, notes)) => reply(
            accept,
            protocol::success(&id, result),
            notes,
            StatusCode::OK,
        ),
        Err(Failure::Gateway(e)) => {
            let mut r = Reply::error(&e, &id);
            *r.response.status_mut() = modern_status(&e);
            r.set_header(header::CACHE_CONTROL, "no-store");
            r
        }
        Err(Failure::Child(error, notes)) => {
            let status = error
                .get("code")
                .and_then(Value::as_i64)
                .and_then(modern_code_status)
                .unwrap_or(StatusCode::OK);
            let body = json!({"jsonrpc": "2.0", "id": id, "error": error});
            reply(accept, body, notes, status)
        }
    }
}

/// Why a request has no result: the bridge's own error, or the child's error answer (with the
/// notifications it sent first).
enum Failure {
    Gateway(McpError),
    Child(Value, Vec<Value>),
}

impl From<McpError> for Failure {
    fn from(e: McpError) -> Self {
        Failure::Gateway(e)
    }
}

/// The answer, after the notifications the child sent for the request (as one event stream when
/// there are some and the client takes one; as JSON otherwise).
fn reply(accept: Acceptable, answer: Value, notes: Vec<Value>, status: StatusCode) -> Reply {
    let mut r = if accept.sse && (!accept.json || !notes.is_empty()) {
        let frames = notes
            .iter()
            .chain(std::iter::once(&answer))
            .map(|m| SseEvent::message(None, m.to_string()).encode())
            .collect::<Vec<Bytes>>();
        let mut r = Reply::sse(frames, None);
        *r.response.status_mut() = status;
        r
    } else {
        Reply::json(status, &answer)
    };
    r.set_header(header::CACHE_CONTROL, "no-store");
    r
}

/// One 2026-07-28 request: the envelope checks, then `server/discover` from the child's handshake,
/// a retry's parked call resumed, or the request forwarded to the caller's bridged session.
async fn request(
    server: &BridgedServer,
    headers: &HeaderMap,
    caller: &Caller,
    id: &Value,
    method: &str,
    params: Option<&Map<String, Value>>,
) -> Result<(Value, Vec<Value>), Failure> {
    // 2026-07-28 removed the handshake, ping and logging/setLevel (404 + -32601, as the gateway).
    if matches!(method, "initialize" | "ping" | "logging/setLevel") {
        return Err(McpError::MethodNotFound(method.to_owned()).into());
    }
    check_modern_envelope(headers, method, params)?;
    modern_version(params)?;
    let app = server.app();
    let target = bridge_era::target(&server.name, method, params);
    let retry = mrtr::input_round(
        &app.config().fingerprint_key,
        &target,
        &caller.owner,
        app.now(),
        params,
    )?;
    let capabilities = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
        .and_then(Value::as_object);
    let (call, session, handshake) = match &retry {
        Some(round) => {
            let nonce = round
                .state
                .as_ref()
                .and_then(|s| s.get("n"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    McpError::InvalidParams(
                        "Invalid params: inputResponses need the requestState they answer".into(),
                    )
                })?;
            let (parked, answers) = server.unpark(nonce, &caller.owner, &round.responses)?;
            for answer in answers {
                server.notify(&parked.session, answer).await?;
            }
            (parked.call, parked.session, parked.handshake)
        }
        None => {
            let (session, handshake) = server.modern_session(caller, params).await?;
            if method == "server/discover" {
                return Ok((bridge_era::discover(&handshake), Vec::new()));
            }
            let message = bridge_era::to_child(id, method, params);
            let call = server.call(&session, message).await?;
            (call, session, handshake)
        }
    };
    let done = Progress {
        server,
        caller,
        method,
        target: &target,
        round: retry.as_ref().map_or(0, |r| r.round),
        capabilities,
        session,
        handshake,
    };
    done.drive(call).await
}

/// What a forwarded (or resumed) call needs to finish or park again.
struct Progress<'a> {
    server: &'a BridgedServer,
    caller: &'a Caller,
    method: &'a str,
    target: &'a str,
    round: u32,
    capabilities: Option<&'a Map<String, Value>>,
    session: Arc<BridgeSession>,
    handshake: Value,
}

impl Progress<'_> {
    /// Runs the call to its answer, or to the child's next request of the client (then parked and
    /// answered `input_required`); the child's notifications for it are collected on the way.
    async fn drive(self, mut call: Call) -> Result<(Value, Vec<Value>), Failure> {
        let mut notes = Vec::new();
        loop {
            match call.next().await {
                Step::Related(m) if m.get("id").is_some() => {
                    return self
                        .park(call, m)
                        .map(|r| (r, notes))
                        .map_err(Failure::from);
                }
                Step::Related(m) => notes.push(m),
                Step::Answer(Ok(answer)) => {
                    return match answer.get("result") {
                        Some(result) => Ok((
                            bridge_era::complete(self.method, result.clone(), &self.handshake),
                            notes,
                        )),
                        None => Err(Failure::Child(
                            answer.get("error").cloned().unwrap_or(Value::Null),
                            notes,
                        )),
                    };
                }
                Step::Answer(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Parks `call` under a fresh nonce and returns the signed `input_required` result asking the
    /// client what the child asked (`request`). Refused past the round bound, for a capability the
    /// request did not declare, and when the bridge holds too many parked calls (dropping the call
    /// cancels it at the child).
    fn park(self, call: Call, request: Value) -> Result<Value, McpError> {
        let app = self.server.app();
        let now = app.now();
        let (asked, ids) = bridge_era::input_requests(std::slice::from_ref(&request));
        let mut nonce = [0u8; 16];
        OsEntropy.fill(&mut nonce);
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let previous = InputRound {
            round: self.round,
            ..Default::default()
        };
        let result = mrtr::input_required(
            &app.config().fingerprint_key,
            self.target,
            &self.caller.owner,
            now,
            Some(&previous),
            self.capabilities,
            asked,
            json!({"n": nonce}),
        )?;
        // The call waits as long as its state is valid, and no longer than the child's deadline.
        let left = call
            .deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .as_millis() as u64;
        let expires_at = now.saturating_add(left.min(mrtr::STATE_TTL_MS));
        let parked = ParkedCall {
            call,
            session: self.session,
            handshake: self.handshake,
        };
        self.server
            .park(nonce, &self.caller.owner, expires_at, ids, parked)?;
        Ok(result)
    }
}
