//! # mcp-edge-worker
//!
//! The Cloudflare Worker target of mcp-edge: glue between workers-rs and the platform-free core
//! (`mcp-edge-core`). The `fetch` entry converts requests to the core's `http` types and asks the
//! core where each one must run ([`mcp_edge_core::gateway::session_route`]):
//!
//! - stateless requests (spec 2026-07-28, `/health`, `/metrics`, errors) are answered in the Worker and
//!   never touch a Durable Object;
//! - everything that belongs to a session goes to the `SessionObject` Durable Object named by the
//!   session id: it keeps the `SessionRecord` in Durable Object storage (compare-and-set, alarm-driven
//!   expiry), holds the session's SSE streams and its WebSocket (hibernation API), and deletes itself
//!   when the session ends or expires.
//!
//! Tasks (the Tasks extension on the 2026-07-28 wire) keep their records in `TaskObject`s, one per
//! task; the work runs in the isolate that answered, under `ctx.waitUntil`.
//!
//! Rate limits and quotas (when configured) are counted by `LimitObject`s, one Durable Object per
//! rate-limit bucket and one per quota lease set, so they hold across isolates and sessions.
//!
//! Configuration comes from `[vars]` and secrets with the same `MCP_EDGE_*` names as the native
//! environment ([`mcp_edge_core::settings::Settings`]). Outbound upstream calls use `worker::Fetch`.
//!
//! Features: none. Everything here is `wasm32` only; on other targets the crate is empty so the
//! workspace still builds and lints natively.

#[cfg(target_arch = "wasm32")]
mod convert;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod limit_object;
#[cfg(target_arch = "wasm32")]
mod ports;
#[cfg(target_arch = "wasm32")]
mod session_object;
#[cfg(target_arch = "wasm32")]
mod streams;
#[cfg(target_arch = "wasm32")]
mod task_object;

#[cfg(target_arch = "wasm32")]
pub use limit_object::LimitObject;
#[cfg(target_arch = "wasm32")]
pub use session_object::SessionObject;
#[cfg(target_arch = "wasm32")]
pub use task_object::TaskObject;
