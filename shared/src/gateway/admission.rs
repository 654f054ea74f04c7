//! Admission before the body: what a platform that reads request bodies itself must decide from the
//! request head alone (announced size, `Origin`/`Host`, authentication), so an unauthenticated or
//! oversized request is refused without buffering a byte of its body; plus the time budgets of such a
//! server's connections and bodies, the shape of the replies it sheds load or shuts down with, and
//! WebSocket close codes. Sockets, timers and counting stay with the platform; the rules live here.

use http::{header, HeaderMap, Method};
use serde_json::Value;

use super::{ClientAddress, McpApp};
use crate::auth::Caller;
use crate::error::McpError;
use crate::transport::Reply;

/// The outcome of [`McpApp::admit_head`], attached to the request as an extension so that
/// [`McpApp::handle`] does not authenticate (and rate-limit) the request a second time. Only the core
/// builds it.
#[derive(Debug, Clone)]
pub struct Admitted {
    caller: Option<Caller>,
}

impl Admitted {
    /// The authenticated caller (none for endpoints without authentication, such as `/health`).
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }
}

/// Whether requests to `leaf` (the last path segment) need an authenticated caller.
fn needs_caller(leaf: &str) -> bool {
    matches!(leaf, "mcp" | "sse" | "messages")
}

/// `Err` when `Content-Length` announces more than `limit` bytes (413 before any body is read; an
/// unreadable length is a 400). Bodies without a length are capped while they are read.
pub fn check_announced_length(headers: &HeaderMap, limit: usize) -> Result<(), McpError> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(());
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| McpError::InvalidRequest("Bad Request: invalid Content-Length".into()))?;
    if length > limit as u64 {
        return Err(McpError::PayloadTooLarge(limit));
    }
    Ok(())
}

impl McpApp {
    /// Admits a request to one of the core's own routes from its head alone: the announced body size,
    /// then `Origin`/`Host` and the caller (authentication and the request rate limit) for `/mcp`,
    /// `/sse` and `/messages`. Platforms call it before reading the body and attach the result to the
    /// request; [`McpApp::handle`] calls it itself for requests that come without one.
    pub async fn admit_head(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        client: Option<&ClientAddress>,
    ) -> Result<Admitted, Box<Reply>> {
        let refuse =
            |e: McpError| Box::new(self.with_cors(headers, Reply::error(&e, &Value::Null)));
        check_announced_length(headers, self.config.max_body_bytes).map_err(refuse)?;
        let path = path.trim_end_matches('/');
        let leaf = path.rsplit('/').next().unwrap_or("");
        if method == Method::OPTIONS
            || path.contains("/.well-known/oauth-protected-resource")
            || !needs_caller(leaf)
        {
            return Ok(Admitted { caller: None });
        }
        let caller = self
            .admit_caller_head(headers, client)
            .await
            .map_err(|r| Box::new(self.with_cors(headers, *r)))?;
        Ok(Admitted {
            caller: Some(caller),
        })
    }

    /// Admits a request to an endpoint the platform serves itself that always needs a caller (bridged
    /// stdio servers, the bridge's REST API): announced body size, `Origin`/`Host`, then the caller.
    pub async fn admit_caller_head(
        &self,
        headers: &HeaderMap,
        client: Option<&ClientAddress>,
    ) -> Result<Caller, Box<Reply>> {
        let refuse = |e: McpError| Box::new(Reply::error(&e, &Value::Null));
        check_announced_length(headers, self.config.max_body_bytes).map_err(refuse)?;
        self.config.origins.check(headers).map_err(refuse)?;
        self.admit(headers, client).await
    }

    /// The reply to a request on a connection over the server's connection budget: `None` for
    /// `GET /health` (answered from the reserve, so probes keep working under load), otherwise a 503
    /// with `Retry-After`.
    pub fn shed(&self, method: &Method, path: &str) -> Option<Reply> {
        if method == Method::GET && path.trim_end_matches('/').ends_with("/health") {
            return None;
        }
        let mut reply = Reply::error(
            &McpError::Unavailable("too many open connections; retry shortly".into()),
            &Value::Null,
        );
        reply.set_header(header::RETRY_AFTER, "1");
        reply.set_header(header::CONNECTION, "close");
        Some(reply)
    }

    /// The reply to a request whose handling was cancelled because the server shut down before it
    /// finished: a JSON-RPC error for the request's id when the body is a single request (503).
    pub fn shutdown_reply(&self, body: &[u8]) -> Reply {
        #[derive(serde::Deserialize)]
        struct Probe {
            id: Option<Value>,
        }
        let id = serde_json::from_slice::<Probe>(body)
            .ok()
            .and_then(|p| p.id)
            .unwrap_or(Value::Null);
        let mut reply = Reply::error(&shutdown_error(), &id);
        reply.set_header(header::CONNECTION, "close");
        reply
    }
}

/// The error in-flight work ends with when the server shuts down before it finished.
pub fn shutdown_error() -> McpError {
    McpError::Unavailable(
        "the server is shutting down; the request was cancelled, retry it on a new connection"
            .into(),
    )
}

/// Time budgets of a server's connections and request bodies (all in milliseconds, bytes per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// From the first byte of a request head to its end.
    pub header_timeout_ms: u64,
    /// How long a connection may wait for the first byte of its next request (keep-alive).
    pub idle_timeout_ms: u64,
    /// Longest a whole request body may take.
    pub body_timeout_ms: u64,
    /// Slowest average rate a body may arrive at, after [`BODY_RATE_GRACE_MS`] of slack.
    pub body_min_rate: u64,
}

/// Slack a body gets before its minimum rate counts: a body may lag the rate by this much.
pub const BODY_RATE_GRACE_MS: u64 = 1_000;

impl Default for ConnectionBudget {
    fn default() -> Self {
        ConnectionBudget {
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 30_000,
            body_min_rate: 1_024,
        }
    }
}

/// Where a connection is in reading its next request, with the time (ms) the phase started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPhase {
    /// Waiting for the first byte of a request (new or kept-alive connection).
    Idle(u64),
    /// Reading a request head whose first byte arrived then.
    Head(u64),
    /// A request is being handled (its body has its own budget; a response may stream for long).
    Busy,
}

impl ConnectionBudget {
    /// When a connection in `phase` must be closed if it is still there (`None`: no deadline).
    pub fn read_deadline(&self, phase: ReadPhase) -> Option<u64> {
        match phase {
            ReadPhase::Idle(since) => Some(since.saturating_add(self.idle_timeout_ms)),
            ReadPhase::Head(first) => Some(first.saturating_add(self.header_timeout_ms)),
            ReadPhase::Busy => None,
        }
    }

    /// Milliseconds after the start of a body by which it must have ended, given `received` bytes so
    /// far: the total budget, or earlier while the body lags the minimum rate by more than the grace.
    pub fn body_deadline(&self, received: u64) -> u64 {
        let by_rate = match self.body_min_rate {
            0 => u64::MAX,
            rate => BODY_RATE_GRACE_MS.saturating_add(received.saturating_mul(1000) / rate),
        };
        by_rate.min(self.body_timeout_ms)
    }

    /// The error for a body that missed its deadline with `received` bytes.
    pub fn body_timeout_error(&self, received: u64) -> McpError {
        if self.body_deadline(received) < self.body_timeout_ms {
            McpError::RequestTimeout(format!(
                "the request body arrived slower than {} bytes/s ({received} bytes received)",
                self.body_min_rate
            ))
        } else {
            McpError::RequestTimeout(format!(
                "the request body did not arrive within {} ms ({received} bytes received)",
                self.body_timeout_ms
            ))
        }
    }
}

/// Why the server closes a WebSocket (RFC 6455 §7.4.1 status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsClose {
    /// The server is shutting down (1001 "going away").
    GoingAway,
    /// A message was larger than the limit (1009 "message too big").
    TooBig(usize),
    /// The peer left a ping unanswered for this many milliseconds (1011, the code and reason Python
    /// `websockets` — seed 000's server library — closes a silent peer with).
    PingTimeout(u64),
}

impl WsClose {
    /// The close code.
    pub fn code(&self) -> u16 {
        match self {
            WsClose::GoingAway => 1001,
            WsClose::TooBig(_) => 1009,
            WsClose::PingTimeout(_) => 1011,
        }
    }

    /// The close reason (at most 123 bytes, as a close frame allows).
    pub fn reason(&self) -> String {
        match self {
            WsClose::GoingAway => "server shutting down".into(),
            WsClose::TooBig(limit) => format!("message exceeds {limit} bytes"),
            WsClose::PingTimeout(ms) => format!("keepalive ping timeout ({ms} ms)"),
        }
    }
}

/// Keep-alive of a server's WebSockets, as seed 000 configures it (`ping_interval`, `ping_timeout`):
/// a ping every `ping_every_ms`; a peer that leaves one unanswered for `ping_timeout_ms` is closed
/// with [`WsClose::PingTimeout`]. The platform owns the socket and the timer; it asks
/// [`WsKeepalive::pong_deadline`] when to give up, with times from the clock port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsKeepalive {
    /// Interval of pings (milliseconds; at least 1).
    pub ping_every_ms: u64,
    /// How long a ping may stay unanswered (milliseconds; `0`: never time out).
    pub ping_timeout_ms: u64,
}

impl Default for WsKeepalive {
    fn default() -> Self {
        WsKeepalive {
            ping_every_ms: 30_000,
            ping_timeout_ms: 10_000,
        }
    }
}

impl WsKeepalive {
    /// When a socket whose oldest unanswered ping went out at `unanswered_since` (clock-port
    /// milliseconds; `None`: every ping was answered) must close, or `None` when it need not.
    /// Any frame from the peer counts as an answer: the peer is alive (the platform clears the time).
    pub fn pong_deadline(&self, unanswered_since: Option<u64>) -> Option<u64> {
        match (unanswered_since, self.ping_timeout_ms) {
            (_, 0) | (None, _) => None,
            (Some(sent), timeout) => Some(sent.saturating_add(timeout)),
        }
    }

    /// Whether a socket must close at `now`: `Some` once the pong deadline has passed.
    pub fn overdue(&self, unanswered_since: Option<u64>, now: u64) -> Option<WsClose> {
        self.pong_deadline(unanswered_since)
            .filter(|deadline| now >= *deadline)
            .map(|_| WsClose::PingTimeout(self.ping_timeout_ms))
    }
}

/// The server-wide cap on open WebSockets (seed 000's `max_connections`), shared by every WebSocket
/// endpoint of a process. [`WsGate::enter`] decides; the [`WsTicket`] it hands out gives the place
/// back when the socket is done (dropped), so no path can leak a place.
#[derive(Debug)]
pub struct WsGate {
    max: Option<usize>,
    open: std::sync::atomic::AtomicUsize,
}

/// One open WebSocket's place under the [`WsGate`]; dropping it frees the place.
#[derive(Debug)]
pub struct WsTicket(std::sync::Arc<WsGate>);

impl Drop for WsTicket {
    fn drop(&mut self) {
        self.0
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl WsGate {
    /// A gate admitting at most `max` open WebSockets (`None`: no cap of its own).
    pub fn new(max: Option<usize>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(WsGate {
            max,
            open: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// WebSockets open now.
    pub fn open(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A place for one more WebSocket, or the refusal to answer the upgrade with: 503 with
    /// `Retry-After: 1` and a JSON-RPC error naming the cap (the reply [`McpApp::shed`] sheds load with).
    pub fn enter(self: &std::sync::Arc<Self>) -> Result<WsTicket, Box<Reply>> {
        use std::sync::atomic::Ordering;
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match self.max {
                Some(max) if n >= max => None,
                _ => Some(n + 1),
            });
        match admitted {
            Ok(_) => Ok(WsTicket(self.clone())),
            Err(_) => {
                let max = self.max.unwrap_or(0);
                let mut reply = Reply::error(
                    &McpError::Unavailable(format!(
                        "too many open WebSocket connections (at most {max}); retry shortly"
                    )),
                    &Value::Null,
                );
                reply.set_header(header::RETRY_AFTER, "1");
                Err(Box::new(reply))
            }
        }
    }
}

/// `Some` when a WebSocket message of `len` bytes is over `limit` and the socket must close with 1009.
pub fn ws_message_refusal(len: usize, limit: usize) -> Option<WsClose> {
    (len > limit).then_some(WsClose::TooBig(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_length_over_the_limit_is_refused_before_the_body() {
        let mut h = HeaderMap::new();
        assert!(check_announced_length(&h, 10).is_ok());
        h.insert(header::CONTENT_LENGTH, "10".parse().unwrap());
        assert!(check_announced_length(&h, 10).is_ok());
        h.insert(header::CONTENT_LENGTH, "11".parse().unwrap());
        assert_eq!(
            check_announced_length(&h, 10),
            Err(McpError::PayloadTooLarge(10))
        );
        h.insert(
            header::CONTENT_LENGTH,
            "99999999999999999999999".parse().unwrap(),
        );
        assert!(matches!(
            check_announced_length(&h, 10),
            Err(McpError::InvalidRequest(_))
        ));
    }

    #[test]
    fn body_deadline_follows_the_rate_and_the_total() {
        let b = ConnectionBudget {
            header_timeout_ms: 1,
            idle_timeout_ms: 1,
            body_timeout_ms: 30_000,
            body_min_rate: 1_000,
        };
        assert_eq!(b.body_deadline(0), 1_000);
        assert_eq!(b.body_deadline(5_000), 6_000);
        assert_eq!(b.body_deadline(1_000_000), 30_000);
        assert!(b.body_timeout_error(0).to_string().contains("slower than"));
        assert!(b
            .body_timeout_error(1_000_000)
            .to_string()
            .contains("within 30000 ms"));
        let no_rate = ConnectionBudget {
            body_min_rate: 0,
            ..b
        };
        assert_eq!(no_rate.body_deadline(0), 30_000);
    }

    #[test]
    fn read_deadlines_by_phase() {
        let b = ConnectionBudget::default();
        assert_eq!(b.read_deadline(ReadPhase::Idle(5)), Some(60_005));
        assert_eq!(b.read_deadline(ReadPhase::Head(5)), Some(10_005));
        assert_eq!(b.read_deadline(ReadPhase::Busy), None);
    }

    #[test]
    fn websocket_close_codes() {
        assert_eq!(ws_message_refusal(10, 10), None);
        let close = ws_message_refusal(11, 10).unwrap();
        assert_eq!(close.code(), 1009);
        assert!(close.reason().len() <= 123);
        assert_eq!(WsClose::GoingAway.code(), 1001);
        assert_eq!(WsClose::PingTimeout(10_000).code(), 1011);
        assert!(WsClose::PingTimeout(10_000).reason().len() <= 123);
    }

    #[test]
    fn a_ping_left_unanswered_past_the_timeout_closes_the_socket() {
        let k = WsKeepalive {
            ping_every_ms: 1_000,
            ping_timeout_ms: 500,
        };
        assert_eq!(k.pong_deadline(None), None, "nothing outstanding");
        assert_eq!(k.pong_deadline(Some(2_000)), Some(2_500));
        assert_eq!(k.overdue(Some(2_000), 2_499), None);
        assert_eq!(
            k.overdue(Some(2_000), 2_500),
            Some(WsClose::PingTimeout(500))
        );
        assert_eq!(k.overdue(None, u64::MAX), None);
        let off = WsKeepalive {
            ping_timeout_ms: 0,
            ..k
        };
        assert_eq!(
            off.overdue(Some(0), u64::MAX),
            None,
            "0 turns the timeout off"
        );
    }

    #[test]
    fn the_gate_refuses_over_its_cap_and_frees_places_on_drop() {
        let gate = WsGate::new(Some(2));
        let a = gate.enter().unwrap();
        let _b = gate.enter().unwrap();
        let refused = gate.enter().unwrap_err();
        assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(gate.open(), 2);
        drop(a);
        assert_eq!(gate.open(), 1);
        assert!(gate.enter().is_ok());
        let open = WsGate::new(None);
        let many: Vec<_> = (0..100).map(|_| open.enter().unwrap()).collect();
        assert_eq!(open.open(), many.len());
    }
}
