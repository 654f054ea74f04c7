//! The core's ports on Workers: `Date.now()`, Web Crypto randomness, `worker::Fetch`, `worker::Delay`,
//! Durable Object storage for session records, and the console for audit lines.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use mcp_edge_core::audit::{AuditRecord, AuditSink};
use mcp_edge_core::port::{
    BodyCap, BoxFuture, CapCollector, Clock, Entropy, HttpClient, Sleeper, UnixMillis,
    UpstreamError,
};
use mcp_edge_core::session::{SessionId, SessionRecord, SessionStore, StoreError, Version};
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Storage};

/// `Date.now()` (on Workers it advances with I/O, which is all the core needs).
pub struct JsClock;

impl Clock for JsClock {
    fn now(&self) -> UnixMillis {
        js_sys::Date::now() as UnixMillis
    }
}

/// `crypto.getRandomValues` through getrandom's `wasm_js` backend.
pub struct JsEntropy;

impl Entropy for JsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        if getrandom::fill(buf).is_err() {
            // Without secure randomness no session id may be handed out.
            panic!("crypto.getRandomValues is unavailable");
        }
    }
}

/// Timers through `worker::Delay`.
pub struct DelaySleeper;

impl Sleeper for DelaySleeper {
    fn sleep(&self, ms: u64) -> BoxFuture<'_, ()> {
        Box::pin(Delay::from(Duration::from_millis(ms)))
    }
}

/// Outbound HTTP through `worker::Fetch`; redirects are returned, never followed.
pub struct FetchClient;

impl HttpClient for FetchClient {
    fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        Box::pin(async move {
            let cap = req.extensions().get::<BodyCap>().copied();
            let (parts, body) = req.into_parts();
            let headers = Headers::new();
            for (name, value) in &parts.headers {
                let value = value
                    .to_str()
                    .map_err(|_| UpstreamError::Refused("header value is not text".into()))?;
                headers
                    .append(name.as_str(), value)
                    .map_err(|e| UpstreamError::Refused(e.to_string()))?;
            }
            let mut init = RequestInit::new();
            init.with_method(Method::from(parts.method.as_str().to_owned()))
                .with_headers(headers)
                .with_redirect(RequestRedirect::Manual);
            if !body.is_empty() {
                init.with_body(Some(js_sys::Uint8Array::from(&body[..]).into()));
            }
            let request = Request::new_with_init(&parts.uri.to_string(), &init)
                .map_err(|e| UpstreamError::Refused(e.to_string()))?;
            let mut response = Fetch::Request(request)
                .send()
                .await
                .map_err(|e| UpstreamError::Connect(e.to_string()))?;
            let mut out = http::Response::builder().status(response.status_code());
            for (name, value) in response.headers().entries() {
                out = out.header(name, value);
            }
            let bytes = match cap {
                None => Bytes::from(
                    response
                        .bytes()
                        .await
                        .map_err(|e| UpstreamError::Transport(e.to_string()))?,
                ),
                Some(cap) => {
                    // Read the stream chunk by chunk so a long body never sits in memory whole.
                    let mut stream = response
                        .stream()
                        .map_err(|e| UpstreamError::Transport(e.to_string()))?;
                    let mut kept = CapCollector::new(cap);
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(|e| UpstreamError::Transport(e.to_string()))?;
                        if !kept.push(&chunk) {
                            break;
                        }
                    }
                    let (body, read) = kept.finish();
                    out = out.extension(read);
                    body
                }
            };
            out.body(bytes)
                .map_err(|e| UpstreamError::Transport(e.to_string()))
        })
    }
}

/// The Worker's own store: stateless requests never hold a session, so nothing is ever found and a
/// save is a routing bug reported as a store failure.
pub struct NoSessions;

impl SessionStore for NoSessions {
    fn load<'a>(
        &'a self,
        _id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn save<'a>(
        &'a self,
        _rec: &'a SessionRecord,
        _expected: Option<Version>,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        Box::pin(async {
            Err(StoreError::Backend(
                "sessions live in Durable Objects, not in the stateless Worker".into(),
            ))
        })
    }

    fn delete<'a>(&'a self, _id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Key of the session record in its Durable Object's storage.
const RECORD_KEY: &str = "session";

/// One session's record in its own Durable Object's storage (the object is named by the session id).
/// Saves arm the object's alarm at the record's expiry; deleting wipes storage and alarm.
pub struct DoSessionStore {
    storage: Storage,
}

impl DoSessionStore {
    /// A store over this object's storage.
    pub fn new(storage: Storage) -> Self {
        DoSessionStore { storage }
    }

    async fn read(&self) -> Result<Option<SessionRecord>, StoreError> {
        let text: Option<String> = self
            .storage
            .get(RECORD_KEY)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Deletes everything this object stores, and its alarm.
    pub async fn wipe(&self) -> Result<(), StoreError> {
        self.storage
            .delete_alarm()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.storage
            .delete_all()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))
    }

    /// Alarm handler: wipes an expired (or absent) record, otherwise re-arms at its expiry.
    /// Returns whether the session was removed.
    pub async fn expire_if_due(&self, now: UnixMillis) -> Result<bool, StoreError> {
        match self.read().await? {
            Some(rec) if !rec.is_expired(now) => {
                self.arm(rec.expires_at).await?;
                Ok(false)
            }
            _ => {
                self.wipe().await?;
                Ok(true)
            }
        }
    }

    async fn arm(&self, at: UnixMillis) -> Result<(), StoreError> {
        // An absolute time: `ScheduledTime` from an integer would be an offset from now.
        let when = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
        self.storage
            .set_alarm(worker::ScheduledTime::new(when))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))
    }
}

impl SessionStore for DoSessionStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move { Ok(self.read().await?.filter(|r| &r.id == id)) })
    }

    fn save<'a>(
        &'a self,
        rec: &'a SessionRecord,
        expected: Option<Version>,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        Box::pin(async move {
            // Storage operations hold the object's input gate, so read-compare-write is atomic with
            // respect to the object's other requests.
            let current = self.read().await?.map(|r| r.version);
            let next = rec.next_revision(current, expected)?;
            let text =
                serde_json::to_string(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.storage
                .put(RECORD_KEY, text)
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            self.arm(next.expires_at).await?;
            Ok(next.version)
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            match self.read().await? {
                Some(rec) if &rec.id != id => Ok(()),
                _ => self.wipe().await,
            }
        })
    }
}

/// Audit records as one JSON console line each (Workers Logs / `wrangler tail`).
pub struct ConsoleAudit;

impl AuditSink for ConsoleAudit {
    fn record(&self, e: &AuditRecord) {
        // The native binary's `--log-json` shape, so one log pipeline reads both targets.
        let line = serde_json::json!({
            "level": "INFO",
            "target": "audit",
            "fields": {
                "message": "tool call",
                "at_ms": e.at_ms,
                "caller": e.caller,
                "session": e.session_tag.as_deref().unwrap_or("-"),
                "tool": e.tool,
                "upstream": e.upstream_hosts.join(","),
                "outcome": e.outcome,
                "duration_ms": e.duration_ms,
                "trace_id": e.trace_id.as_deref().unwrap_or("-"),
            },
        });
        worker::console_log!("{line}");
    }
}
