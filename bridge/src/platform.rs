//! Native implementations of the core's ports: system clock, OS randomness and a placeholder
//! upstream client.

use bytes::Bytes;
use mcp_edge_core::port::{BoxFuture, Clock, Entropy, HttpClient, UnixMillis, UpstreamError};

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

/// An upstream client that refuses every call (used until connectors are configured).
pub struct NoUpstream;

impl HttpClient for NoUpstream {
    fn send(
        &self,
        _req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        Box::pin(async {
            Err(UpstreamError::Refused(
                "no upstream client is configured".into(),
            ))
        })
    }
}
