//! # mcp-edge-native
//!
//! The core's ports for native (tokio) targets, shared by the `mcp-edge` binary and the AWS Lambda
//! `bootstrap`: the system clock, OS randomness, tokio timers, the audit log as structured `tracing`
//! lines, and outbound HTTP through reqwest (rustls, one connection-reusing client per upstream
//! origin, redirects never followed, every DNS answer re-checked by the SSRF guard).
//!
//! Features: none.

pub mod platform;
pub mod upstream;

pub use platform::{LogAudit, OsEntropy, SystemClock, TokioSleeper};
pub use upstream::{ReqwestClient, ReqwestFactory, TransportError, UpstreamTransport};
