//! Ports: the small traits each platform implements so the core can do I/O without naming a platform:
//! time ([`Clock`], [`Sleeper`]), randomness ([`Entropy`]) and outbound HTTP ([`HttpClient`]), plus the
//! `Send`-on-native helpers. The storage ports live with the state they store:
//! [`SessionStore`](crate::session::SessionStore), [`RateLimiter`](crate::ratelimit::RateLimiter),
//! [`LeaseLedger`](crate::quota::LeaseLedger); the audit log's is [`AuditSink`](crate::audit::AuditSink).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// Milliseconds since the Unix epoch, as handed to the core by a [`Clock`].
pub type UnixMillis = u64;

/// `Send` on native targets, nothing on `wasm32` (where futures and handles are single-threaded).
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}
/// `Send` on native targets, nothing on `wasm32` (where futures and handles are single-threaded).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Send + Sync` on native targets, nothing on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
/// `Send + Sync` on native targets, nothing on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// A boxed future that is `Send` on native targets and local on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed future that is `Send` on native targets and local on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The current time, supplied by the platform (the core never reads a clock itself).
pub trait Clock: MaybeSendSync {
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> UnixMillis;
}

/// Secure randomness, supplied by the platform.
pub trait Entropy: MaybeSendSync {
    /// Fills `buf` with cryptographically secure random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// Errors of an [`HttpClient`] call to an upstream service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The call did not complete in time.
    #[error("upstream did not answer in time")]
    Timeout,
    /// No connection could be made (DNS, TCP, TLS).
    #[error("could not connect to upstream: {0}")]
    Connect(String),
    /// The upstream's TLS certificate was not trusted (unknown issuer, expired, wrong name).
    #[error("upstream TLS certificate not trusted: {0}")]
    Certificate(String),
    /// The request was refused before it was sent (e.g. by the SSRF guard).
    #[error("request refused: {0}")]
    Refused(String),
    /// Any other transport failure.
    #[error("upstream transport failed: {0}")]
    Transport(String),
}

/// Which end of a capped response body to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The first bytes (the platform stops reading once it has them).
    Head,
    /// The last bytes (the platform reads to the end, keeping a sliding window).
    Tail,
}

/// A bound on the response body a platform [`HttpClient`] may hold, set by the core as an extension
/// of the request: the client reads the body chunk by chunk through a [`CapCollector`], so a long
/// body (a job log of hundreds of MB) never sits in memory whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyCap {
    /// Most body bytes kept.
    pub max_bytes: usize,
    /// Which end is kept.
    pub keep: Keep,
}

/// What a capped read saw; the client sets it as an extension of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CappedRead {
    /// Body bytes seen (for [`Keep::Head`], only up to where reading stopped).
    pub seen_bytes: u64,
    /// Whether bytes were dropped.
    pub truncated: bool,
}

/// Collects a body under a [`BodyCap`]; platform clients feed it chunks as they arrive (the rule of
/// what is kept lives here, once, not in each platform). Holds at most twice the cap plus one chunk.
pub struct CapCollector {
    cap: BodyCap,
    buf: Vec<u8>,
    seen: u64,
    dropped: bool,
}

impl CapCollector {
    /// An empty collector for `cap`.
    pub fn new(cap: BodyCap) -> Self {
        CapCollector {
            cap,
            buf: Vec::new(),
            seen: 0,
            dropped: false,
        }
    }

    /// Adds one chunk; `false` means the client may stop reading (a full head).
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        self.seen += chunk.len() as u64;
        let max = self.cap.max_bytes;
        match self.cap.keep {
            Keep::Head => {
                let room = max.saturating_sub(self.buf.len());
                if chunk.len() > room {
                    self.dropped = true;
                }
                self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                !self.dropped
            }
            Keep::Tail => {
                self.buf.extend_from_slice(chunk);
                // Trimming only past twice the cap keeps the copying amortized O(1) per byte.
                if self.buf.len() > max.saturating_mul(2) {
                    let cut = self.buf.len() - max;
                    self.buf.drain(..cut);
                    self.dropped = true;
                }
                true
            }
        }
    }

    /// Bytes held now (at most twice the cap plus the last chunk).
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// The kept bytes and what was seen.
    pub fn finish(mut self) -> (Bytes, CappedRead) {
        let max = self.cap.max_bytes;
        if self.buf.len() > max {
            let cut = self.buf.len() - max;
            self.buf.drain(..cut);
            self.dropped = true;
        }
        (
            Bytes::from(self.buf),
            CappedRead {
                seen_bytes: self.seen,
                truncated: self.dropped,
            },
        )
    }
}

/// Outbound HTTP, supplied by the platform (reqwest on native, `worker::Fetch` on the Worker).
pub trait HttpClient: MaybeSendSync {
    /// Sends one request and returns the whole response; redirects are never followed.
    fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>>;
}

/// Timers, supplied by the platform (`tokio::time::sleep` natively, `worker::Delay` on the Worker).
pub trait Sleeper: MaybeSendSync {
    /// Completes after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> BoxFuture<'_, ()>;
}
