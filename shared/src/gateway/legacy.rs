//! Legacy HTTP+SSE (spec 2024-11-05): `GET /sse` opens a stream and names the endpoint;
//! `POST /messages?sessionId=…` is answered 202 and the replies travel on the stream.

use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::Value;

use super::McpApp;
use crate::error::McpError;
use crate::protocol::{decode, DecodeError, Payload};
use crate::session::{SessionId, SessionTransport};
use crate::transport::headers::require_json_content;
use crate::transport::hold::HeldStream;
use crate::transport::sse::SseEvent;
use crate::transport::{Delivery, Reply, ReplyBody, StreamChannel, StreamHold};

/// How many times the configured outbox poll interval an idle `GET /mcp` stream's poll grows to
/// (250 ms → 2 s by default): an idle session's stream costs an eighth of the reads, and a tool's
/// request to the client waits at most that long for the next poll.
pub const IDLE_OUTBOX_POLL_FACTOR: u64 = 8;

/// The protocol version assumed for a legacy session until `initialize` says otherwise.
const LEGACY_VERSION: &str = "2024-11-05";

impl McpApp {
    pub(crate) async fn legacy_open(&self, req: Request<Bytes>) -> Reply {
        let headers = req.headers();
        if let Err(e) = self.config.origins.check(headers) {
            return Reply::error(&e, &Value::Null);
        }
        let mut facts = self.facts(headers, Self::caller_of(&req));
        facts.assigned_session = req
            .extensions()
            .get::<super::AssignedSession>()
            .map(|a| a.0.clone());
        let mut rec = self.new_session(SessionTransport::LegacySse, LEGACY_VERSION, &facts);
        if let Err(e) = self
            .open_session_lease(&mut rec, &facts.caller, facts.now)
            .await
        {
            return Reply::error(&e, &Value::Null);
        }
        match self.ports.store.save(&rec, None).await {
            Ok(v) => rec.version = v,
            Err(e) => {
                self.close_session_lease(&rec).await;
                return Reply::error(&McpError::from(e), &Value::Null);
            }
        }
        self.metrics.session_opened();
        let path = req.uri().path().trim_end_matches('/');
        let prefix = path.strip_suffix("sse").unwrap_or("/");
        let endpoint = format!("{prefix}messages?sessionId={}", rec.id);
        let frame = SseEvent {
            id: None,
            event: Some("endpoint".into()),
            data: endpoint,
            retry: None,
        }
        .encode();
        let hold = StreamHold {
            session: rec.id.clone(),
            channel: StreamChannel::Legacy,
            keepalive_ms: self.config.keepalive_ms,
            lease: None,
        };
        Reply::sse(vec![frame], Some(hold))
    }

    pub(crate) async fn legacy_post(&self, req: Request<Bytes>) -> Reply {
        let headers = req.headers();
        if let Err(e) = self.config.origins.check(headers) {
            return Reply::error(&e, &Value::Null);
        }
        if let Err(e) = require_json_content(headers) {
            return Reply::error(&e, &Value::Null);
        }
        if req.body().len() > self.config.max_body_bytes {
            return Reply::error(
                &McpError::PayloadTooLarge(self.config.max_body_bytes),
                &Value::Null,
            );
        }
        let query = req.uri().query().unwrap_or("");
        let sid = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "sessionId" || k == "session_id")
            .map(|(_, v)| v.into_owned());
        let Some(sid) = sid else {
            return Reply::error(
                &McpError::InvalidRequest(
                    "Invalid Request: sessionId query parameter is required".into(),
                ),
                &Value::Null,
            );
        };
        let facts = self.facts(headers, Self::caller_of(&req));
        let rec = match self.load_session(&sid, &facts).await {
            Ok(r) if r.transport == SessionTransport::LegacySse => r,
            Ok(_) => return Reply::error(&McpError::SessionNotFound, &Value::Null),
            Err(e) => return Reply::error(&e, &Value::Null),
        };
        let items = match decode(req.body()) {
            Ok(Payload::Single(m)) => vec![Ok(m)],
            Ok(Payload::Batch(items)) => {
                if let Err(e) = self.check_batch(items.len()) {
                    return Reply::error(&e, &Value::Null);
                }
                items
            }
            Err(DecodeError::Parse(msg)) => {
                return Reply::error(&McpError::Parse(msg), &Value::Null)
            }
            Err(DecodeError::Invalid(id, msg)) => {
                return Reply::error(&McpError::InvalidRequest(msg), &id)
            }
        };
        let processed = self.process(&rec, &facts, items, true).await;
        let session = rec.id.clone();
        let changes = processed.changes.clone();
        // Only what the messages changed (and the periodic expiry refresh) is written to the record;
        // the replies go to the outbox, whose appends never conflict.
        let saved = self
            .update_session(rec, facts.now, |r| changes.apply(r))
            .await;
        let rec = match saved {
            Ok(rec) => rec,
            Err(e) => return Reply::error(&e, &Value::Null),
        };
        let mut reply = Reply::text(StatusCode::ACCEPTED, "Accepted", "text/plain");
        if let Some(outbox) = &self.outbox {
            let messages: Vec<String> = processed
                .responses
                .iter()
                .map(|m| m.get().to_owned())
                .collect();
            if !messages.is_empty() {
                if let Err(e) = outbox.append(&session, &messages, rec.expires_at).await {
                    return Reply::error(&McpError::from(e), &Value::Null);
                }
            }
            return reply;
        }
        reply.deliveries = processed
            .responses
            .iter()
            .map(|m| Delivery {
                session: session.clone(),
                channel: StreamChannel::Legacy,
                frame: SseEvent::message(None, m.get().to_owned()).encode(),
            })
            .collect();
        if reply.deliveries.is_empty() {
            *reply.response.body_mut() = ReplyBody::Full(Bytes::from_static(b"Accepted"));
        }
        reply
    }
}

/// What a legacy stream's holder found in the session's outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum LegacyOutbox {
    /// SSE frames of the messages after the given position, and the position to ask from next.
    Pending(Vec<Bytes>, u64),
    /// The session is gone (deleted or expired): end the stream.
    Gone,
}

impl McpApp {
    /// Messages for a held legacy `/sse` stream that arrived after position `after` (0 at first), for
    /// platforms with an outbox ([`McpApp::with_outbox`]); reading from `after` confirms that what
    /// came before it was sent. One session read and one outbox read.
    pub async fn legacy_outbox(&self, id: &SessionId, after: u64) -> LegacyOutbox {
        let Some(outbox) = &self.outbox else {
            return LegacyOutbox::Pending(Vec::new(), after);
        };
        match self.ports.store.load(id).await {
            Ok(Some(rec)) if !rec.is_expired(self.ports.clock.now()) => {}
            Ok(_) => return LegacyOutbox::Gone,
            // A failing store is not a gone session: the holder retries on its next poll.
            Err(_) => return LegacyOutbox::Pending(Vec::new(), after),
        }
        match outbox.read(id, after).await {
            Ok(messages) => {
                let next = messages.last().map_or(after, |(p, _)| *p);
                let frames = messages
                    .into_iter()
                    .map(|(_, m)| SseEvent::message(None, m).encode())
                    .collect();
                LegacyOutbox::Pending(frames, next)
            }
            Err(_) => LegacyOutbox::Pending(Vec::new(), after),
        }
    }

    /// Whether a held stream's holder must poll the session's outbox ([`McpApp::legacy_outbox`]):
    /// the legacy `/sse` stream always (its replies wait there), a `GET /mcp` stream when tools may
    /// ask the client through the outbox (a [`crate::mailbox::StoredClientRequests`] port).
    pub fn polls_outbox(&self, hold: &crate::transport::StreamHold) -> bool {
        self.outbox.is_some()
            && (hold.channel == StreamChannel::Legacy || self.client_requests.is_some())
    }

    /// The poll schedule of a held stream whose holder reads the session's outbox (when
    /// [`McpApp::polls_outbox`]): every `poll_ms` for the legacy `/sse` stream, whose replies wait
    /// there; for a `GET /mcp` stream, which carries only the rare requests tools send the client,
    /// backing off while the outbox stays empty up to [`IDLE_OUTBOX_POLL_FACTOR`] times `poll_ms`,
    /// and back to `poll_ms` once it yields something.
    pub fn outbox_polling(
        &self,
        stream: HeldStream,
        hold: &StreamHold,
        poll_ms: u64,
        now: crate::port::UnixMillis,
    ) -> HeldStream {
        if !self.polls_outbox(hold) {
            return stream;
        }
        let stream = stream.polling(poll_ms, now);
        if hold.channel == StreamChannel::Legacy {
            stream
        } else {
            stream.backing_off(poll_ms.saturating_mul(IDLE_OUTBOX_POLL_FACTOR))
        }
    }

    /// Ends a legacy session when its `/sse` stream closes (the stream is the session's lifetime).
    pub(crate) async fn legacy_stream_closed(&self, id: &crate::session::SessionId) {
        if let Ok(Some(rec)) = self.ports.store.load(id).await {
            if rec.transport == SessionTransport::LegacySse {
                let _ = self.end_session(&rec).await;
                if let Some(outbox) = &self.outbox {
                    // What was not delivered has no stream to go to; TTL removes it if this fails.
                    let _ = outbox.clear(id).await;
                }
            }
        }
    }
}
