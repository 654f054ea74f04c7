//! [`session_route`]: where a request must run on a platform that keeps each session in its own
//! actor (the Worker's Durable Objects), decided from the request alone.

use bytes::Bytes;
use http::{Method, Request};

use crate::session::SessionId;
use crate::transport::SESSION_HEADER;

/// Where a platform that keeps each session in its own actor (a Durable Object) must run a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRoute {
    /// Needs no session state (stateless 2026-07-28 calls, `/health`, errors): run it anywhere.
    Stateless,
    /// Belongs to this existing session.
    Session(SessionId),
    /// Opens a session (`initialize`, `GET /sse`, `/ws`): the platform picks the id, runs the request
    /// where that session will live and hands the id over as an [`AssignedSession`] extension.
    NewSession,
}

/// A session id the platform chose in advance for a request that opens a session (request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedSession(pub SessionId);

/// Decides where `req` must run, from its path, headers and (for a sessionless POST) whether its body is
/// an `initialize` request. Ids that are not well-formed route as [`SessionRoute::Stateless`], where the
/// gateway answers them "session not found".
pub fn session_route(req: &Request<Bytes>) -> SessionRoute {
    let path = req.uri().path().trim_end_matches('/');
    let leaf = path.rsplit('/').next().unwrap_or("");
    let existing = |text: Option<&str>| {
        text.and_then(|t| SessionId::parse(t.trim()))
            .map_or(SessionRoute::Stateless, SessionRoute::Session)
    };
    match (req.method(), leaf) {
        (_, "ws") => SessionRoute::NewSession,
        (&Method::GET, "sse") => SessionRoute::NewSession,
        (&Method::POST, "messages") => {
            let query = req.uri().query().unwrap_or("");
            let sid = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "sessionId" || k == "session_id")
                .map(|(_, v)| v.into_owned());
            existing(sid.as_deref())
        }
        (_, "mcp") => {
            if let Some(sid) = req.headers().get(SESSION_HEADER) {
                return existing(sid.to_str().ok());
            }
            let modern = req
                .headers()
                .get(crate::transport::VERSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| crate::protocol::MODERN_VERSIONS.contains(&v));
            if req.method() == Method::POST && !modern && is_initialize_request(req.body()) {
                SessionRoute::NewSession
            } else {
                SessionRoute::Stateless
            }
        }
        _ => SessionRoute::Stateless,
    }
}

/// Whether `body` is a single JSON-RPC request whose method is `initialize` (other fields are skipped).
fn is_initialize_request(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
        id: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe<'_>>(body)
        .is_ok_and(|p| p.id.is_some() && p.method.as_deref() == Some("initialize"))
}
