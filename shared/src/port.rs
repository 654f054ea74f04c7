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
