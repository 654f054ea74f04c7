//! # mcp-edge-lambda
//!
//! The AWS Lambda target's library part: [`store::DynamoSessionStore`], the session store on DynamoDB
//! (conditional writes, TTL), and [`ratelimit::DynamoRateLimiter`], per-caller token buckets shared by
//! every execution environment, used by the `bootstrap` binary and tested against a DynamoDB-compatible
//! server. See `src/main.rs` for the handler.
//!
//! Features: none.

pub mod ratelimit;
pub mod store;
