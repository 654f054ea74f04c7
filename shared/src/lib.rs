//! # mcp-edge-core
//!
//! The platform-free core of mcp-edge. It holds everything deterministic: the JSON-RPC and MCP
//! protocol (spec eras 2024-11-05 … 2025-11-25 with sessions, and the stateless 2026-07-28
//! revision), the Streamable HTTP, legacy HTTP+SSE and WebSocket transports as bytes-in/bytes-out
//! logic, session records, per-request credentials, gateway policy, metrics and the tool registry
//! connectors plug into.
//!
//! Platforms (native `mcp-edge`, the Cloudflare Worker, AWS Lambda) implement the small ports in
//! [`port`] and call [`gateway::McpApp::handle`]. The core never reads a clock, never spawns a task
//! and never names a platform; it compiles to `wasm32-unknown-unknown`.
//!
//! Features: none; everything is always built.

// On wasm32 the ports are single-threaded by design (`MaybeSendSync` is empty there), so `Arc` of
// them is deliberate: one type for both targets.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

pub mod audit;
pub mod auth;
pub mod bridge_era;
pub mod connector;
pub mod counter;
pub mod counter_contract;
pub mod credential;
pub mod error;
pub mod gateway;
pub mod mailbox;
pub mod metrics;
pub mod mrtr;
pub mod otel;
pub mod outbox;
pub mod policy;
pub mod port;
pub mod protocol;
pub mod quota;
pub mod ratelimit;
pub mod relay;
pub mod sampling;
pub mod session;
pub mod settings;
pub mod store_contract;
pub mod subscription;
pub mod task;
pub mod task_contract;
pub mod testing;
pub mod tool;
pub mod transport;
pub mod upstream;
pub mod validator;

pub use gateway::{GatewayConfig, McpApp, Ports};

/// Held by the tests that check (and with `MCP_EDGE_BLESS_README` rewrite) blocks of the README, so
/// two rewrites never interleave.
#[cfg(test)]
pub(crate) static README_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
