//! Session records, their storage port [`SessionStore`] (compare-and-set on a version) and the
//! in-memory store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::port::{BoxFuture, Entropy, MaybeSendSync, UnixMillis};

/// Version number of a stored record, used for compare-and-set.
pub type Version = u64;

/// The version a successful `save(rec, expected)` stores: 1 for a new record, one more otherwise.
pub fn next_version(expected: Option<Version>) -> Version {
    expected.map_or(1, |v| v + 1)
}

/// A random, unguessable 128-bit session id rendered as 32 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// Draws a fresh id from `entropy`.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        let mut raw = [0u8; 16];
        entropy.fill(&mut raw);
        SessionId(hex::encode(raw))
    }

    /// Parses a client-supplied id; only 32 lowercase hex digits are accepted.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| SessionId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short, non-reversible tag of a session id for log and audit lines: the first 48 bits of
/// HMAC-SHA256 of the id under `key`, as 12 hex digits. The id is a bearer secret (whoever knows it
/// and the owner's credentials can use the session) and is never logged; the tag still lets an
/// operator tell one session's lines from another's.
pub fn session_tag(key: &[u8], id: &str) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = match SimpleHmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return "-".to_owned(),
    };
    mac.update(b"mcp-edge session tag\0");
    mac.update(id.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..6])
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which transport created a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionTransport {
    /// Streamable HTTP at `/mcp`.
    StreamableHttp,
    /// Legacy HTTP+SSE at `/sse` + `/messages`.
    LegacySse,
}

/// One SSE event kept for `Last-Event-ID` resumption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// Stream the event belongs to (never replayed on another stream).
    pub stream: u64,
    /// Position of the event within its stream, starting at 1.
    pub seq: u64,
    /// The JSON-RPC message carried by the event.
    pub data: String,
    /// Whether this event ends the stream (the response to the request that opened it).
    pub last: bool,
}

/// Everything the gateway remembers about a session. Never holds credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session id.
    pub id: SessionId,
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// The transport that created the session.
    pub transport: SessionTransport,
    /// `clientInfo` from `initialize`.
    pub client_info: Option<Value>,
    /// `capabilities` from `initialize`.
    pub client_capabilities: Value,
    /// Whether `notifications/initialized` arrived.
    pub initialized: bool,
    /// Level set by `logging/setLevel`.
    pub log_level: Option<String>,
    /// Keyed fingerprint of the upstream credentials the session was created with.
    pub credential_fingerprint: Option<String>,
    /// The identity of the caller that opened the session ([`crate::auth::Caller::owner`]); requests
    /// from any other identity are answered as for an unknown session. Records written before owners
    /// were recorded have none and are refused the same way (their clients start a new session).
    #[serde(default)]
    pub owner: Option<String>,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Time of the last request.
    pub last_seen: UnixMillis,
    /// The session is gone at or after this time.
    pub expires_at: UnixMillis,
    /// Version for compare-and-set; set by the store.
    pub version: Version,
    /// Next stream number to hand out.
    pub next_stream: u64,
    /// Bounded log of recent SSE events for resumption.
    pub events: Vec<LoggedEvent>,
    /// The caller that opened the session, when sessions per caller are limited (a key name, token
    /// subject or client address; never a credential).
    #[serde(default)]
    pub caller: Option<String>,
    /// End of the caller's lease on this session (see [`crate::quota`]).
    #[serde(default)]
    pub lease_until: Option<UnixMillis>,
    /// The resources the client asked `resources/subscribe` for (at most
    /// [`crate::subscription::MAX_SESSION_SUBSCRIPTIONS`]); kept with the record so every store
    /// carries them, and read by the session stream's poll.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_subscriptions: Vec<ResourceSubscription>,
}

/// A resource a session subscribed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSubscription {
    /// The resource's URI.
    pub uri: String,
    /// Its content fingerprint when subscribed ([`crate::subscription::content_fingerprint`]): a
    /// stream's first look compares with it, so a change between the subscription and that look is
    /// not lost.
    pub base: u64,
}

impl SessionRecord {
    /// The compare-and-set step of [`SessionStore::save`] for stores that read before they write:
    /// the record to store (this one at the next version), or a conflict when the stored version
    /// `current` is not the `expected` one.
    pub fn next_revision(
        &self,
        current: Option<Version>,
        expected: Option<Version>,
    ) -> Result<SessionRecord, StoreError> {
        if current != expected {
            return Err(StoreError::Conflict);
        }
        let mut next = self.clone();
        next.version = next_version(expected);
        Ok(next)
    }

    /// Whether the session has expired at `now`.
    pub fn is_expired(&self, now: UnixMillis) -> bool {
        now >= self.expires_at
    }
}

/// Errors of a [`SessionStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored version differs from the expected one (or the record exists when creating).
    #[error("session was changed concurrently")]
    Conflict,
    /// The backend failed; the message never contains secrets.
    #[error("session store backend failed: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("stored session is corrupt: {0}")]
    Corrupt(String),
}

/// Durable storage of [`SessionRecord`]s with compare-and-set semantics.
pub trait SessionStore: MaybeSendSync {
    /// Loads a session; expired records may be returned (the caller checks expiry against its clock).
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>>;
    /// Saves `rec` if the stored version equals `expected` (`None`: the record must not exist yet).
    /// Returns the new version; a stale `expected` yields [`StoreError::Conflict`].
    fn save<'a>(
        &'a self,
        rec: &'a SessionRecord,
        expected: Option<Version>,
    ) -> BoxFuture<'a, Result<Version, StoreError>>;
    /// Deletes a session; deleting an absent session is not an error.
    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// A [`SessionStore`] in memory, for tests and single-process use.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    records: Mutex<HashMap<SessionId, SessionRecord>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records held (expired ones included).
    pub fn len(&self) -> usize {
        self.records.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemorySessionStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        let found = self
            .records
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
            .map(|m| m.get(id).cloned());
        Box::pin(async move { found })
    }

    fn save<'a>(
        &'a self,
        rec: &'a SessionRecord,
        expected: Option<Version>,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        let result = (|| {
            let mut map = self
                .records
                .lock()
                .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))?;
            let current = map.get(&rec.id).map(|r| r.version);
            let stored = rec.next_revision(current, expected)?;
            let next = stored.version;
            map.insert(rec.id.clone(), stored);
            Ok(next)
        })();
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self
            .records
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
            .map(|mut m| {
                m.remove(id);
            });
        Box::pin(async move { result })
    }
}
