//! # mcp-edge-dynamodb
//!
//! mcp-edge's shared state in one DynamoDB table, for every process that serves the same sessions:
//! the Lambda's execution environments and native replicas behind a load balancer
//! (`--session-store dynamodb`). Each port of the core has its adapter here; the decisions (the
//! compare-and-set step, token buckets, lease sets, outbox positions) stay in the core:
//!
//! - [`store::DynamoSessionStore`], the session store (conditional writes, TTL);
//! - [`ratelimit::DynamoRateLimiter`], per-caller token buckets, and [`quota::DynamoLeaseLedger`],
//!   the session and stream quota leases, both through [`items::VersionedItems`];
//! - [`outbox::DynamoOutbox`], the legacy SSE outbox, one item per message;
//! - [`mailbox::DynamoMailbox`], the slots where clients' answers to the gateway's requests
//!   (sampling) wait for the execution environment that asked (built by the Lambda).
//!
//! [`DynamoStores`] builds all four over one client and table. Tested against moto
//! (`lambda/tests/dynamo_store.rs`, the core's store contract among them).
//!
//! Features: none.

pub mod items;
pub mod mailbox;
pub mod outbox;
pub mod quota;
pub mod ratelimit;
pub mod store;

use std::sync::Arc;

use mcp_edge_core::port::{Clock, Entropy};

/// A DynamoDB client configured from the environment (region, credentials, endpoint as the AWS
/// SDKs read them), with the SDK's standard retries (exponential backoff with jitter, 5 attempts).
pub async fn client() -> aws_sdk_dynamodb::Client {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&aws)
}

/// Every adapter over one table, sharing one set of call counters.
pub struct DynamoStores {
    /// Sessions.
    pub store: Arc<store::DynamoSessionStore>,
    /// Rate-limit buckets.
    pub limiter: Arc<ratelimit::DynamoRateLimiter>,
    /// Session and stream quota leases.
    pub leases: Arc<quota::DynamoLeaseLedger>,
    /// The legacy SSE outbox.
    pub outbox: Arc<outbox::DynamoOutbox>,
    /// DynamoDB call counters (for `/metrics`).
    pub calls: Arc<store::StoreCalls>,
}

impl DynamoStores {
    /// The adapters over `table`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: String,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        let store = store::DynamoSessionStore::new(client.clone(), table.clone(), clock);
        let calls = store.calls();
        let items = || items::VersionedItems::new(client.clone(), table.clone(), calls.clone());
        DynamoStores {
            limiter: Arc::new(ratelimit::DynamoRateLimiter::new(items())),
            leases: Arc::new(quota::DynamoLeaseLedger::new(items())),
            outbox: Arc::new(outbox::DynamoOutbox::new(
                client.clone(),
                table,
                entropy,
                calls.clone(),
            )),
            store: Arc::new(store),
            calls,
        }
    }
}
