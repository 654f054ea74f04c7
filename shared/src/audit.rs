//! The audit trail: one structured record per tool call. Records never hold tool arguments or
//! credentials; the [`AuditSink`] port decides where they go (a log line on every platform today).

use serde::Serialize;

use crate::port::{MaybeSendSync, UnixMillis};

/// One tool call, as audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When the call started.
    pub at_ms: UnixMillis,
    /// Caller name (API key name, token subject, or client address).
    pub caller: String,
    /// Tag of the session, when the call ran in one ([`crate::session::session_tag`]; never the id,
    /// which is a bearer secret).
    pub session_tag: Option<String>,
    /// Tool name.
    pub tool: String,
    /// Hosts of the upstream requests the tool made.
    pub upstream_hosts: Vec<String>,
    /// `ok`, `error`, `denied`, `invalid_arguments`, `timeout` or `rate_limited`.
    pub outcome: &'static str,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The W3C trace id the call ran under (an incoming `traceparent`, or the gateway's own span).
    pub trace_id: Option<String>,
}

/// Where audit records go.
pub trait AuditSink: MaybeSendSync {
    /// Records one entry.
    fn record(&self, entry: &AuditRecord);
}

/// Discards audit records (the default until a platform installs a sink).
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _entry: &AuditRecord) {}
}
