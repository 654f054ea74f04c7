//! # mcp-edge-lambda
//!
//! The AWS Lambda target's library part: [`store::DynamoSessionStore`], the session store on DynamoDB
//! (conditional writes, TTL), [`ratelimit::DynamoRateLimiter`], per-caller token buckets, and
//! [`quota::DynamoLeaseLedger`], the session and stream quota leases, both shared by every execution
//! environment through [`items::VersionedItems`], and [`outbox::DynamoOutbox`], the legacy SSE
//! outbox, one item per message; used by the `bootstrap` binary and tested against a
//! DynamoDB-compatible server; and [`handler`], the handler's helpers (base path, request mapping,
//! deadline, held streams and their release), unit-tested here. `src/main.rs` wires them up.
//!
//! Features: none.

pub mod handler;
pub mod items;
pub mod outbox;
pub mod quota;
pub mod ratelimit;
pub mod store;
