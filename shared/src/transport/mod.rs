//! Transport shaping: what a reply looks like on the wire (whole JSON body, SSE frames, held streams),
//! independent of the platform that writes it.

pub mod headers;
pub mod hold;
pub mod inbound;
pub mod live;
pub mod sse;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::Value;

use crate::error::McpError;
use crate::protocol;
use crate::session::SessionId;

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header carrying the protocol version.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// 2026-07-28 header mirroring the JSON-RPC method.
pub const METHOD_HEADER: &str = "mcp-method";
/// 2026-07-28 header mirroring the tool/prompt name or resource URI.
pub const NAME_HEADER: &str = "mcp-name";
/// Header carrying the id of the last SSE event a client saw.
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";

/// Which server stream a held SSE response feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamChannel {
    /// The legacy `/sse` stream of a session (responses to `/messages` posts arrive here).
    Legacy,
    /// A standalone `GET /mcp` stream with this stream number.
    Standalone(u64),
}

/// A stream the platform must keep open after the initial frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHold {
    /// The session the stream belongs to.
    pub session: SessionId,
    /// Which of the session's streams this is.
    pub channel: StreamChannel,
    /// Interval of keep-alive comments, in milliseconds.
    pub keepalive_ms: u64,
    /// The stream's lease token when streams per session are limited (hand the hold back with
    /// [`crate::McpApp::stream_closed`] when the stream ends).
    pub lease: Option<String>,
}

/// The body of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    /// No body.
    Empty,
    /// A complete body.
    Full(Bytes),
    /// `text/event-stream`: frames to send now, then either close or hold the stream open.
    Sse {
        /// Encoded frames to send first.
        frames: Vec<Bytes>,
        /// When set, keep the stream open, deliver [`Delivery`]s for it and send keep-alives.
        hold: Option<StreamHold>,
    },
}

/// A frame for a held stream, produced by a request on another connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Target session.
    pub session: SessionId,
    /// Target stream of that session.
    pub channel: StreamChannel,
    /// Encoded SSE frame.
    pub frame: Bytes,
}

/// What the core decided for one HTTP request.
#[derive(Debug)]
pub struct Reply {
    /// The response to send.
    pub response: Response<ReplyBody>,
    /// Frames to push to other open streams.
    pub deliveries: Vec<Delivery>,
    /// A `subscriptions/listen` stream the platform must hold open after the body's first frames
    /// (see [`crate::McpApp::listen_stream`]).
    pub listen: Option<Box<crate::subscription::ListenHold>>,
    /// Task work to run after the response is sent (see [`crate::task::TaskJob`]); a platform that
    /// serves tasks hands each to [`crate::McpApp::run_task`].
    pub tasks: Vec<crate::task::TaskJob>,
}

impl Reply {
    /// A reply with the given status and body and no deliveries.
    pub fn new(status: StatusCode, body: ReplyBody) -> Self {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        Reply {
            response,
            deliveries: Vec::new(),
            listen: None,
            tasks: Vec::new(),
        }
    }

    /// A JSON reply.
    pub fn json(status: StatusCode, value: &Value) -> Self {
        // `to_vec` writes straight into the buffer; `Display` goes through `fmt::Formatter`.
        let body = serde_json::to_vec(value).unwrap_or_default();
        let mut r = Reply::new(status, ReplyBody::Full(Bytes::from(body)));
        r.set_header(header::CONTENT_TYPE, "application/json");
        r
    }

    /// A JSON reply whose body was serialized already (moved in, not copied).
    pub fn encoded(status: StatusCode, body: Box<serde_json::value::RawValue>) -> Self {
        let bytes = Box::<str>::from(body).into_boxed_bytes();
        let mut r = Reply::new(status, ReplyBody::Full(Bytes::from(bytes)));
        r.set_header(header::CONTENT_TYPE, "application/json");
        r
    }

    /// A plain-text reply.
    pub fn text(status: StatusCode, text: &str, content_type: &'static str) -> Self {
        let mut r = Reply::new(
            status,
            ReplyBody::Full(Bytes::copy_from_slice(text.as_bytes())),
        );
        r.set_header(header::CONTENT_TYPE, content_type);
        r
    }

    /// An SSE reply.
    pub fn sse(frames: Vec<Bytes>, hold: Option<StreamHold>) -> Self {
        let mut r = Reply::new(StatusCode::OK, ReplyBody::Sse { frames, hold });
        r.set_header(header::CONTENT_TYPE, "text/event-stream");
        r.set_header(header::CACHE_CONTROL, "no-cache");
        r
    }

    /// A reply carrying a JSON-RPC error for `err`, with its mapped HTTP status.
    pub fn error(err: &McpError, id: &Value) -> Self {
        let mut reply = Reply::json(err.http_status(), &protocol::failure(id, &err.to_jsonrpc()));
        if let McpError::RateLimited(ms) | McpError::QuotaExceeded(_, Some(ms)) = err {
            reply.set_header(header::RETRY_AFTER, &ms.div_ceil(1000).max(1).to_string());
        }
        reply
    }

    /// Sets a header (values that are not valid header text are dropped).
    pub fn set_header(&mut self, name: impl header::IntoHeaderName, value: &str) {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.response.headers_mut().insert(name, v);
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }
}
