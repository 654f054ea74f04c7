//! Native implementations of the core's ports: system clock, OS randomness, timers and the audit log.

use mcp_edge_core::port::{BoxFuture, Clock, Entropy, UnixMillis};

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Randomness from the operating system.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        if getrandom::fill(buf).is_err() {
            // The OS source failing is unrecoverable for session ids; refuse to hand out weak ones.
            std::process::abort();
        }
    }
}

/// Timers on the tokio runtime.
pub struct TokioSleeper;

impl mcp_edge_core::port::Sleeper for TokioSleeper {
    fn sleep(&self, ms: u64) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(ms)))
    }
}

/// Writes each audit record as one structured log line (target `audit`).
pub struct LogAudit;

impl mcp_edge_core::audit::AuditSink for LogAudit {
    fn record(&self, e: &mcp_edge_core::audit::AuditRecord) {
        tracing::info!(
            target: "audit",
            at_ms = e.at_ms,
            caller = %e.caller,
            session = e.session_tag.as_deref().unwrap_or("-"),
            tool = %e.tool,
            upstream = %e.upstream_hosts.join(","),
            outcome = e.outcome,
            duration_ms = e.duration_ms,
            trace_id = e.trace_id.as_deref().unwrap_or("-"),
            "tool call"
        );
    }
}
