//! The Streamable HTTP request classifier: every transport rule of an MCP endpoint (`Content-Type`,
//! `Accept`, the body limit, `MCP-Protocol-Version`, JSON-RPC decoding, `initialize` detection,
//! the session header, `Last-Event-ID`, 405) written once. The request head and body go in; out
//! comes what the request is, or the [`McpError`] (with the JSON-RPC id it answers) that refuses it.
//! Pure: no I/O, no clock. The gateway's `/mcp` and the native server's bridged
//! `/servers/{name}/mcp` both start here, then do their own work (a session store, a child process).

use http::{HeaderMap, Method};
use serde_json::Value;

use super::headers::{acceptable, require_json_content, Acceptable};
use super::{Reply, LAST_EVENT_ID_HEADER, SESSION_HEADER, VERSION_HEADER};
use crate::error::McpError;
use crate::protocol::{
    decode, is_supported_version, DecodeError, Incoming, Payload, META_PROTOCOL_VERSION,
    MODERN_VERSIONS,
};

/// Methods a Streamable HTTP endpoint answers (the `Allow` header of its 405).
pub const ALLOWED_METHODS: &str = "GET, POST, DELETE";

/// What an endpoint serves beyond the rules common to every Streamable HTTP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Largest request body in bytes (`413` above it).
    pub max_body_bytes: usize,
    /// Most messages in one JSON-RPC batch; `0` refuses batches altogether.
    pub max_batch: usize,
    /// The 2026-07-28 single exchange (no session, no handshake) is served here.
    pub stateless: bool,
}

/// Which event a resuming client saw last (`Last-Event-ID: <stream>-<seq>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId {
    /// The stream number.
    pub stream: u64,
    /// The event's sequence number within the stream.
    pub seq: u64,
}

/// What an inbound request is, once every transport rule has passed.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `POST` of a single `initialize` request: open a session (any session header is ignored).
    Initialize {
        /// The `initialize` request.
        message: Incoming,
        /// What the client accepts.
        accept: Acceptable,
    },
    /// `POST` of a 2026-07-28 single exchange: no session, the envelope carries the version.
    Stateless {
        /// The message (batches are refused in this era).
        message: Incoming,
        /// What the client accepts.
        accept: Acceptable,
    },
    /// `POST` on an existing session: requests, notifications or responses.
    OnSession {
        /// The session id from `Mcp-Session-Id` (not yet looked up).
        session: String,
        /// The message or batch (a batch never holds `initialize`).
        payload: Payload,
        /// What the client accepts.
        accept: Acceptable,
    },
    /// `GET`: open (or resume) the session's server-to-client stream.
    OpenStream {
        /// The session id.
        session: String,
        /// The last event the client saw, when it resumes.
        resume: Option<EventId>,
    },
    /// `DELETE`: end the session.
    Delete {
        /// The session id.
        session: String,
    },
}

/// A refused request: the error and the JSON-RPC id it answers (`null` when none is known).
#[derive(Debug)]
pub struct Refusal {
    /// Why.
    pub error: McpError,
    /// The request's id, when the body had one.
    pub id: Value,
}

impl Refusal {
    fn new(error: McpError) -> Self {
        Self {
            error,
            id: Value::Null,
        }
    }

    /// The reply: the error's JSON-RPC body and HTTP status, plus `Allow` on a 405.
    pub fn reply(&self) -> Reply {
        let mut r = Reply::error(&self.error, &self.id);
        if matches!(self.error, McpError::MethodNotAllowed(_)) {
            r.set_header(http::header::ALLOW, ALLOWED_METHODS);
        }
        r
    }
}

impl From<McpError> for Refusal {
    fn from(error: McpError) -> Self {
        Self::new(error)
    }
}

/// A header's value without surrounding whitespace (RFC 9110 5.5).
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The `Mcp-Session-Id` header, if present and readable.
pub fn session_header(headers: &HeaderMap) -> Option<&str> {
    header(headers, SESSION_HEADER).map(str::trim)
}

/// The `MCP-Protocol-Version` header names a 2026-07-28 (sessionless) version.
fn modern_header(headers: &HeaderMap) -> bool {
    header(headers, VERSION_HEADER).is_some_and(|v| MODERN_VERSIONS.contains(&v))
}

/// An `MCP-Protocol-Version` header naming no version this server speaks is refused.
fn check_version(headers: &HeaderMap) -> Result<(), McpError> {
    match header(headers, VERSION_HEADER) {
        Some(v) if !is_supported_version(v) => {
            Err(McpError::UnsupportedVersionHeader(v.to_owned()))
        }
        _ => Ok(()),
    }
}

/// A single request whose `params._meta` carries the 2026-07-28 protocol-version key.
fn modern_envelope(payload: &Payload) -> bool {
    matches!(payload, Payload::Single(Incoming::Request { params: Some(p), .. })
        if p.get("_meta").and_then(Value::as_object).is_some_and(|m| m.contains_key(META_PROTOCOL_VERSION)))
}

fn is_initialize(message: &Incoming) -> bool {
    matches!(message, Incoming::Request { method, .. } if method == "initialize")
}

/// The id of a request (`null` for a notification or response).
fn request_id(message: &Incoming) -> Value {
    match message {
        Incoming::Request { id, .. } => id.clone(),
        _ => Value::Null,
    }
}

/// Classifies one request to a Streamable HTTP endpoint under `rules`.
pub fn classify(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    rules: &Rules,
) -> Result<Inbound, Refusal> {
    match *method {
        Method::POST => post(headers, body, rules),
        Method::GET => {
            if rules.stateless && modern_header(headers) {
                return Err(McpError::MethodNotAllowed(
                    "protocol version 2026-07-28 has no GET stream".into(),
                )
                .into());
            }
            check_version(headers)?;
            if !acceptable(headers).sse {
                return Err(
                    McpError::NotAcceptable("Accept must allow text/event-stream".into()).into(),
                );
            }
            let session = session_header(headers).ok_or(McpError::MissingSession)?;
            let resume = match header(headers, LAST_EVENT_ID_HEADER) {
                None => None,
                Some(last) => Some(parse_event_id(last).ok_or_else(|| {
                    McpError::InvalidRequest("Invalid Request: malformed Last-Event-ID".into())
                })?),
            };
            Ok(Inbound::OpenStream {
                session: session.to_owned(),
                resume,
            })
        }
        Method::DELETE => {
            if rules.stateless && modern_header(headers) {
                return Err(McpError::MethodNotAllowed(
                    "protocol version 2026-07-28 has no sessions to delete".into(),
                )
                .into());
            }
            check_version(headers)?;
            let session = session_header(headers).ok_or(McpError::MissingSession)?;
            Ok(Inbound::Delete {
                session: session.to_owned(),
            })
        }
        _ => Err(McpError::MethodNotAllowed("use POST, GET or DELETE".into()).into()),
    }
}

/// A JSON-RPC batch of `n` messages is within `max` (the one batch-size rule, shared with the legacy
/// and WebSocket transports).
pub fn check_batch_len(max: usize, n: usize) -> Result<(), McpError> {
    if n > max {
        return Err(McpError::InvalidRequest(format!(
            "Invalid Request: a JSON-RPC batch may hold at most {max} messages (MCP_EDGE_MAX_BATCH); this one holds {n}"
        )));
    }
    Ok(())
}

/// `<stream>-<seq>`, both unsigned integers.
fn parse_event_id(raw: &str) -> Option<EventId> {
    let (stream, seq) = raw.trim().split_once('-')?;
    Some(EventId {
        stream: stream.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

fn post(headers: &HeaderMap, body: &[u8], rules: &Rules) -> Result<Inbound, Refusal> {
    require_json_content(headers)?;
    let accept = acceptable(headers);
    if !accept.json && !accept.sse {
        return Err(McpError::NotAcceptable(
            "Accept must allow application/json or text/event-stream".into(),
        )
        .into());
    }
    if body.len() > rules.max_body_bytes {
        return Err(McpError::PayloadTooLarge(rules.max_body_bytes).into());
    }
    let payload = match decode(body) {
        Ok(p) => p,
        Err(DecodeError::Parse(msg)) => {
            check_version(headers)?;
            return Err(McpError::Parse(msg).into());
        }
        Err(DecodeError::Invalid(id, msg)) => {
            check_version(headers)?;
            return Err(Refusal {
                error: McpError::InvalidRequest(msg),
                id,
            });
        }
    };
    // The refusal keeps the request's id; a 2026-07-28 request gets the UnsupportedProtocolVersion
    // error listing what this server speaks.
    if let Err(error) = check_version(headers) {
        let error = match error {
            McpError::UnsupportedVersionHeader(v)
                if rules.stateless && modern_envelope(&payload) =>
            {
                McpError::UnsupportedVersion(v)
            }
            other => other,
        };
        let id = match &payload {
            Payload::Single(m) => request_id(m),
            Payload::Batch(_) => Value::Null,
        };
        return Err(Refusal { error, id });
    }
    let session = session_header(headers);
    let initialize = matches!(&payload, Payload::Single(m) if is_initialize(m));
    if rules.stateless
        && (modern_header(headers)
            || (session.is_none() && !initialize && modern_envelope(&payload)))
    {
        return match payload {
            Payload::Single(message) => Ok(Inbound::Stateless { message, accept }),
            Payload::Batch(_) => Err(McpError::InvalidRequest(
                "Invalid Request: protocol version 2026-07-28 does not allow JSON-RPC batches"
                    .into(),
            )
            .into()),
        };
    }
    let items = match payload {
        Payload::Single(message) if is_initialize(&message) => {
            return Ok(Inbound::Initialize { message, accept })
        }
        Payload::Single(message) => {
            let Some(session) = session else {
                return Err(Refusal {
                    id: request_id(&message),
                    error: McpError::MissingSession,
                });
            };
            return Ok(Inbound::OnSession {
                session: session.to_owned(),
                payload: Payload::Single(message),
                accept,
            });
        }
        Payload::Batch(items) => items,
    };
    if rules.max_batch == 0 {
        return Err(McpError::InvalidRequest(
            "Invalid Request: this endpoint takes one JSON-RPC message per POST".into(),
        )
        .into());
    }
    check_batch_len(rules.max_batch, items.len())?;
    if items.iter().any(|i| matches!(i, Ok(m) if is_initialize(m))) {
        return Err(McpError::InvalidRequest(
            "Invalid Request: initialize must not be part of a batch".into(),
        )
        .into());
    }
    let session = session.ok_or(McpError::MissingSession)?;
    Ok(Inbound::OnSession {
        session: session.to_owned(),
        payload: Payload::Batch(items),
        accept,
    })
}

#[cfg(test)]
mod tests;
