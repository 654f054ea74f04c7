//! The stdio bridge: MCP servers that only speak stdio, run as child processes and served to remote
//! clients at `/servers/{name}/mcp`. Each configured server has an isolation mode: `per-session`
//! (a child per client session) or `shared` (one child; ids remapped by the core's
//! [`Relay`](mcp_edge_core::relay::Relay)). Children start on demand, are restarted after a crash
//! with backoff and a restart budget (the `initialize` handshake is replayed so client sessions
//! continue), are stopped when idle, when their session ends and on shutdown (whole process group).
//!
//! Modules, from the HTTP edge inwards:
//! - transports, each an axum handler over the same sessions: [`http`] (Streamable HTTP at
//!   `/servers/{name}/mcp`, and `/stats`), [`legacy`] (HTTP+SSE), [`socket`] (WebSocket), [`rest`]
//!   (the REST API `/sessions`, `/tools/…`, `/events/…` and `/console`), [`seed_socket`] (seed
//!   004's WebSocket protocol at `/bridge/ws`, over the REST API's sessions);
//! - [`modern`]: 2026-07-28 requests on any of them, translated for the 2025-era child (a bridged
//!   session per caller; the child's requests of the client as `input_required` rounds);
//! - [`registry`]: the configured servers ([`Bridge`], [`BridgedServer`]) and their sessions;
//! - [`session`]: one client session ([`BridgeSession`]); [`outbox`]: its queue of messages from
//!   the child ([`Outbox`]);
//! - [`call`]: one forwarded request streamed back ([`Call`], [`Step`]);
//! - [`supervisor`]: one child slot (start, restart budget, health pings, message pump);
//! - [`child`]: the child process itself (spawn, stdio framing, process-group kill); [`config`]: the
//!   server specs (`--stdio-config` file or `--stdio` command line).

mod call;
pub mod child;
pub mod config;
pub mod http;
pub mod legacy;
mod modern;
mod outbox;
mod registry;
pub mod rest;
pub mod seed_socket;
mod session;
pub mod socket;
mod supervisor;

pub use call::{Call, Step};
pub use outbox::Outbox;
pub use registry::{Bridge, BridgeHealth, BridgedServer, SessionStart};
pub use session::BridgeSession;
