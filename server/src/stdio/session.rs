//! A client session on a bridged server: its id, negotiated version, owner, the child supervisor it
//! talks to and its outbox.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::outbox::Outbox;
use super::supervisor::Supervisor;

/// A client session on a bridged server.
pub struct BridgeSession {
    /// The `Mcp-Session-Id`.
    pub id: String,
    /// Negotiated protocol version.
    pub protocol_version: String,
    /// The supervisor of the child this session talks to.
    pub(super) supervisor: Arc<Supervisor>,
    /// Messages for the GET stream.
    pub outbox: Arc<Outbox>,
    pub(super) last_seen: Mutex<Instant>,
    /// Whether a GET stream is open (at most one).
    pub stream_open: AtomicBool,
    /// The caller whose session quota this session counts against (when a quota is configured).
    pub(super) lease_holder: Option<String>,
    /// The identity that opened the session ([`Caller::owner`](mcp_edge_core::auth::Caller::owner)); only it may use the session.
    pub(super) owner: String,
    /// Who opened the session (`clientInfo.name`, or the REST API's `client_id`).
    pub client_id: Option<String>,
    /// Free-form metadata given by a REST client.
    pub metadata: Value,
    /// Milliseconds since the Unix epoch when the session opened.
    pub created_at: u64,
}

impl BridgeSession {
    pub(super) fn touch(&self) {
        if let Ok(mut t) = self.last_seen.lock() {
            *t = Instant::now();
        }
    }

    /// Milliseconds since the session's last request.
    pub fn idle_ms(&self) -> u64 {
        self.idle_for().as_millis() as u64
    }

    pub(super) fn idle_for(&self) -> Duration {
        self.last_seen
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}
