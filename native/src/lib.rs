//! # mcp-edge-native
//!
//! The core's ports for native (tokio) targets, shared by the `mcp-edge` binary and the AWS Lambda
//! `bootstrap`: the system clock, OS randomness, tokio timers, the audit log as structured `tracing`
//! lines, and outbound HTTP through reqwest (rustls trusting the bundled roots, the system store and
//! operator CA files; one connection-reusing client per upstream origin; redirects never followed;
//! every DNS answer re-checked by the SSRF guard, and proxied targets checked before the proxy); and
//! the OTLP/HTTP span exporter ([`otlp`]).
//!
//! Features: none.

pub mod held;
pub mod otlp;
pub mod platform;
pub mod upstream;

pub use otlp::OtlpExporter;
pub use platform::{LogAudit, OsEntropy, SystemClock, TokioSleeper};
pub use upstream::{ReqwestClient, ReqwestFactory, TransportError, UpstreamTransport};
