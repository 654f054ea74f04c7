//! Who may call, how often, and from which browser origin: authentication, rate limits, CORS and the
//! OAuth protected-resource metadata, applied before any MCP handling.

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use serde_json::Value;

use super::McpApp;
use crate::auth::{AuthError, Caller};
use crate::error::McpError;
use crate::transport::{Reply, ReplyBody};

/// The client's network address, set by the platform as a request extension (used to name
/// anonymous callers for rate limiting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// Headers browsers may send to the gateway.
const CORS_ALLOW_HEADERS: &str =
    "content-type, accept, authorization, x-api-key, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id";
/// Response headers browsers may read.
const CORS_EXPOSE_HEADERS: &str =
    "mcp-session-id, mcp-protocol-version, www-authenticate, retry-after";

impl McpApp {
    /// The caller attached to a request by [`McpApp::admit`] (anonymous when none).
    pub(crate) fn caller_of(req: &Request<Bytes>) -> Caller {
        req.extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller::anonymous("unknown"))
    }

    /// Authenticates the caller and takes one token from its request bucket (platforms call this
    /// for endpoints they serve themselves, such as bridged stdio servers).
    pub async fn admit(
        &self,
        headers: &HeaderMap,
        client: Option<&ClientAddress>,
    ) -> Result<Caller, Box<Reply>> {
        let now = self.ports.clock.now();
        let anonymous = client.map_or("unknown", |c| c.0.as_str());
        let caller = match self
            .auth
            .authenticate(headers, self.ports.http.as_ref(), now, anonymous)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let (err, status) = match &e {
                    AuthError::Unavailable(_) => (
                        McpError::Internal(e.to_string()),
                        StatusCode::SERVICE_UNAVAILABLE,
                    ),
                    _ => (
                        McpError::Unauthorized(e.to_string()),
                        StatusCode::UNAUTHORIZED,
                    ),
                };
                let mut reply = Reply::error(&err, &Value::Null);
                *reply.response.status_mut() = status;
                if status == StatusCode::UNAUTHORIZED {
                    reply.set_header(header::WWW_AUTHENTICATE, &self.auth.challenge(headers, &e));
                }
                self.metrics.count_request("unauthorized", status.as_u16());
                return Err(Box::new(reply));
            }
        };
        if let Some(limit) = caller.rate_limit.or(self.config.request_limit) {
            if let Err(e) = self
                .take_tokens(&format!("req:{}", caller.name), limit, now)
                .await
            {
                self.metrics.count_request("rate_limited", 429);
                return Err(Box::new(Reply::error(&e, &Value::Null)));
            }
        }
        Ok(caller)
    }

    /// Takes one token from the caller's tool-call bucket.
    pub(crate) async fn admit_tool_call(&self, caller: &Caller, now: u64) -> Result<(), McpError> {
        match self.config.tool_call_limit {
            Some(limit) => {
                self.take_tokens(&format!("tool:{}", caller.name), limit, now)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Answers a CORS preflight.
    pub fn preflight(&self, headers: &HeaderMap) -> Reply {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return Reply::new(StatusCode::NO_CONTENT, ReplyBody::Empty);
        };
        if !self.config.origins.origin_allowed(origin) {
            return Reply::error(
                &McpError::Forbidden(format!("origin {origin} is not allowed")),
                &Value::Null,
            );
        }
        let mut reply = Reply::new(StatusCode::NO_CONTENT, ReplyBody::Empty);
        reply.set_header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, DELETE, OPTIONS",
        );
        reply.set_header(header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_ALLOW_HEADERS);
        reply.set_header(header::ACCESS_CONTROL_MAX_AGE, "600");
        reply
    }

    /// Adds CORS response headers when the request came from an allowed browser origin.
    pub fn with_cors(&self, headers: &HeaderMap, mut reply: Reply) -> Reply {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            if self.config.origins.origin_allowed(origin) {
                reply.set_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                reply.set_header(header::ACCESS_CONTROL_EXPOSE_HEADERS, CORS_EXPOSE_HEADERS);
                reply.set_header(header::VARY, "Origin");
            }
        }
        reply
    }

    /// RFC 9728 metadata at `/.well-known/oauth-protected-resource[/…]`.
    pub(crate) fn protected_resource_metadata(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Reply {
        if method != Method::GET {
            return Reply::error(&McpError::MethodNotAllowed("use GET".into()), &Value::Null);
        }
        match self.auth.resource_metadata(headers) {
            Some(meta) => Reply::json(StatusCode::OK, &meta),
            None => Reply::json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": "OAuth is not configured"}),
            ),
        }
    }
}
