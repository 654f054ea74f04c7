//! The gateway's error type and the one mapping from Rust errors to JSON-RPC errors and HTTP statuses.

use http::StatusCode;
use serde_json::{json, Value};

use crate::protocol::{code, JsonRpcError, MODERN_VERSIONS};
use crate::session::StoreError;

/// Everything that can go wrong while serving one MCP request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The body is not JSON.
    #[error("{0}")]
    Parse(String),
    /// The body is not a valid JSON-RPC request, or the request is not allowed here.
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown method.
    #[error("Method not found: {0}")]
    MethodNotFound(String),
    /// Parameters are missing or malformed.
    #[error("{0}")]
    InvalidParams(String),
    /// A resource URI is unknown.
    #[error("Resource not found: {0}")]
    ResourceNotFound(String),
    /// The session id is unknown, expired, or presented with other credentials.
    #[error("Session not found")]
    SessionNotFound,
    /// A request that needs a session came without `Mcp-Session-Id`.
    #[error("Bad Request: Mcp-Session-Id header is required")]
    MissingSession,
    /// `MCP-Protocol-Version` names a version we do not speak.
    #[error("Bad Request: unsupported protocol version {0}")]
    UnsupportedVersionHeader(String),
    /// A 2026-07-28 request asks for a protocol version we do not speak.
    #[error("Unsupported protocol version")]
    UnsupportedVersion(String),
    /// A 2026-07-28 routing header disagrees with the body.
    #[error("{0}")]
    HeaderMismatch(String),
    /// A 2026-07-28 request needs a client capability its `_meta` does not declare (-32021).
    #[error("Missing required client capability: {0}")]
    MissingClientCapability(String),
    /// The request needs a client extension it did not declare (e.g. the Tasks extension for a
    /// tool that only runs as a task).
    #[error("Missing required client capability: extension {0}")]
    MissingClientExtension(String),
    /// `Content-Type` is not JSON.
    #[error("Unsupported Media Type: Content-Type must be application/json")]
    UnsupportedMediaType,
    /// `Accept` lacks what the reply needs.
    #[error("Not Acceptable: {0}")]
    NotAcceptable(String),
    /// The body is larger than allowed.
    #[error("Payload Too Large: request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// The `Origin` (or `Host`) header is not allowed.
    #[error("Forbidden: {0}")]
    Forbidden(String),
    /// HTTP method not allowed on this endpoint.
    #[error("Method Not Allowed: {0}")]
    MethodNotAllowed(String),
    /// Refused by gateway policy (read-only mode, tool allow-list).
    #[error("{0}")]
    PolicyDenied(String),
    /// The session store failed.
    #[error("session storage failed")]
    Store(String),
    /// The caller is not authenticated (HTTP 401 with `WWW-Authenticate`).
    #[error("Unauthorized: {0}")]
    Unauthorized(String),
    /// A rate limit was hit; retry after this many milliseconds (HTTP 429 with `Retry-After`).
    #[error("Too Many Requests: retry after {} s", .0.div_ceil(1000))]
    RateLimited(u64),
    /// A quota on open things (sessions per caller, streams per session) is used up; the message says
    /// which; retry after this many milliseconds when known (HTTP 429).
    #[error("Too Many Requests: {0}")]
    QuotaExceeded(String, Option<u64>),
    /// A bridged backend (a stdio child server) could not answer: it did not start, crashed,
    /// timed out or is over its restart budget (HTTP 502).
    #[error("Bridged server unavailable: {0}")]
    Backend(String),
    /// The request (its body) did not arrive in time (HTTP 408).
    #[error("Request Timeout: {0}")]
    RequestTimeout(String),
    /// The server cannot take the request now: over its connection budget, or shutting down (HTTP 503).
    #[error("Service Unavailable: {0}")]
    Unavailable(String),
    /// Any other internal failure.
    #[error("Internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for McpError {
    fn from(e: StoreError) -> Self {
        McpError::Store(e.to_string())
    }
}

impl McpError {
    /// The JSON-RPC error object for this error (the single mapping).
    pub fn to_jsonrpc(&self) -> JsonRpcError {
        let (code, data): (i64, Option<Value>) = match self {
            McpError::Parse(_) => (code::PARSE_ERROR, None),
            McpError::InvalidRequest(_)
            | McpError::MissingSession
            | McpError::UnsupportedVersionHeader(_)
            | McpError::UnsupportedMediaType
            | McpError::NotAcceptable(_)
            | McpError::PayloadTooLarge(_)
            | McpError::RequestTimeout(_)
            | McpError::Forbidden(_)
            | McpError::MethodNotAllowed(_) => (code::INVALID_REQUEST, None),
            McpError::MethodNotFound(_) => (code::METHOD_NOT_FOUND, None),
            McpError::InvalidParams(_) => (code::INVALID_PARAMS, None),
            McpError::ResourceNotFound(uri) => {
                (code::RESOURCE_NOT_FOUND, Some(json!({ "uri": uri })))
            }
            McpError::SessionNotFound => (code::SESSION_NOT_FOUND, None),
            McpError::UnsupportedVersion(requested) => (
                code::UNSUPPORTED_PROTOCOL_VERSION,
                Some(json!({ "supported": MODERN_VERSIONS, "requested": requested })),
            ),
            McpError::HeaderMismatch(_) => (code::HEADER_MISMATCH, None),
            McpError::MissingClientCapability(cap) => (
                code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                Some(json!({ "requiredCapabilities": { cap.as_str(): {} } })),
            ),
            McpError::MissingClientExtension(ext) => (
                code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                Some(json!({ "requiredCapabilities": { "extensions": { ext.as_str(): {} } } })),
            ),
            McpError::PolicyDenied(_) => (code::FORBIDDEN, None),
            McpError::Unauthorized(_) => (code::UNAUTHORIZED, None),
            McpError::RateLimited(ms) => (code::RATE_LIMITED, Some(json!({ "retryAfterMs": ms }))),
            McpError::QuotaExceeded(_, ms) => (
                code::RATE_LIMITED,
                Some(json!({ "quota": true, "retryAfterMs": ms })),
            ),
            McpError::Store(_)
            | McpError::Internal(_)
            | McpError::Backend(_)
            | McpError::Unavailable(_) => (code::INTERNAL_ERROR, None),
        };
        JsonRpcError {
            code,
            message: self.to_string(),
            data,
        }
    }

    /// The HTTP status when this error ends the whole HTTP exchange (not one message of a batch).
    pub fn http_status(&self) -> StatusCode {
        match self {
            McpError::Parse(_)
            | McpError::InvalidRequest(_)
            | McpError::MissingSession
            | McpError::UnsupportedVersionHeader(_)
            | McpError::UnsupportedVersion(_)
            | McpError::HeaderMismatch(_)
            | McpError::MissingClientCapability(_)
            | McpError::MissingClientExtension(_)
            | McpError::InvalidParams(_) => StatusCode::BAD_REQUEST,
            McpError::MethodNotFound(_)
            | McpError::SessionNotFound
            | McpError::ResourceNotFound(_) => StatusCode::NOT_FOUND,
            McpError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            McpError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            McpError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            McpError::Forbidden(_) | McpError::PolicyDenied(_) => StatusCode::FORBIDDEN,
            McpError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            McpError::Store(_) | McpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            McpError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            McpError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            McpError::RateLimited(_) | McpError::QuotaExceeded(..) => StatusCode::TOO_MANY_REQUESTS,
            McpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            McpError::Backend(_) => StatusCode::BAD_GATEWAY,
        }
    }
}
