//! # mcp-edge-lambda
//!
//! The AWS Lambda target of mcp-edge: glue between `lambda_http` and the platform-free core. It serves
//! `/mcp`, `/sse` + `/messages`, `/health` and `/metrics` behind a Function URL; `/ws` answers 426
//! (Function URLs carry no WebSocket). The `bootstrap` binary (`src/main.rs`) only wires these
//! modules up:
//!
//! - [`startup`]: the cold start, building the [`handler::Gateway`] once per execution environment
//!   from the core's settings table (`Target::Lambda`): the shared `MCP_EDGE_*` variables plus
//!   `MCP_EDGE_DYNAMODB_TABLE` (required), `MCP_EDGE_LEGACY_POLL` (outbox poll interval) and
//!   `MCP_EDGE_BASE_PATH` (a path prefix in front of the function that the event does not carry, e.g.
//!   `/lambda-url/bootstrap` under `cargo lambda watch`; it only shapes the legacy endpoint URL);
//! - [`handler`]: one invocation, the request to the core and its reply, with its helpers (base path,
//!   request mapping, deadline, held streams and their release), unit-tested;
//! - [`runtime`]: the runtime loop. `MCP_EDGE_LAMBDA_INVOKE_MODE=RESPONSE_STREAM` (default): replies
//!   stream through `run_with_streaming_response`, so an SSE answer and the legacy `/sse` stream flow
//!   incrementally. A held stream lives until the client leaves or the invocation nears its deadline;
//!   the legacy stream's messages come from the session's outbox in DynamoDB (one read per poll),
//!   because the `POST /messages` that produced them ran in another execution environment.
//!   `BUFFERED`: every reply is sent whole (held streams end after their first frames);
//! - the DynamoDB adapters of the core's ports (sessions, rate-limit buckets, quota leases, the legacy
//!   SSE outbox) live in the `mcp-edge-dynamodb` crate, which native replicas share
//!   (`--session-store dynamodb`); they are re-exported here under their old module names
//!   ([`store`], [`ratelimit`], [`quota`], [`items`], [`outbox`], [`mailbox`], whose
//!   `DynamoMailbox` holds the slots where clients' answers to the gateway's requests (sampling)
//!   wait for the execution environment that asked);
//! - [`changes`], the list change counters of `subscriptions/listen`;
//! - [`task_store::DynamoTaskStore`], the Tasks extension's records (items `task:<id>`), tested
//!   against a DynamoDB-compatible server;
//!
//! Features: none.

pub mod changes;
pub mod handler;
pub mod runtime;
pub mod startup;
pub mod task_store;

pub use mcp_edge_dynamodb::{items, mailbox, outbox, quota, ratelimit, store};
