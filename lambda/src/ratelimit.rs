//! `DynamoRateLimiter`: per-caller token buckets as items of the sessions table, updated with
//! conditional writes, so every execution environment draws from the same bucket. Bucket items use
//! the key `ratelimit:<bucket>` (session ids are 32 hex digits, so they never collide) and carry an
//! `expires_at` an hour ahead for DynamoDB TTL to remove idle buckets.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::ratelimit::{Bucket, RateLimit, RateLimiter};

use crate::store::{StoreCalls, EXPIRES_AT, KEY};

/// Lost races retried before the caller is told to retry shortly (it is bursting on one bucket).
const MAX_ATTEMPTS: usize = 8;
/// Retry-after for a caller whose bucket kept changing under it.
const CONTENDED_RETRY_MS: u64 = 250;

/// Token buckets in DynamoDB.
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
    calls: Arc<StoreCalls>,
}

impl DynamoRateLimiter {
    /// Buckets in `table`, counted in `calls` with the session store's calls.
    pub fn new(client: Client, table: String, calls: Arc<StoreCalls>) -> Self {
        DynamoRateLimiter {
            client,
            table,
            calls,
        }
    }

    /// One read-compute-conditional-write round; `Ok(None)` when the write lost a race.
    async fn attempt(
        &self,
        key: &str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> Result<Option<Result<(), u64>>, String> {
        self.calls.reads.fetch_add(1, Ordering::Relaxed);
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("GetItem: {e}"))?
            .item;
        let number =
            |name: &str| -> Option<f64> { item.as_ref()?.get(name)?.as_n().ok()?.parse().ok() };
        let version = number("version").map(|v| v as u64);
        let state = match (number("tokens"), number("updated_at")) {
            (Some(tokens), Some(updated_at)) => Some(Bucket {
                tokens,
                updated_at: updated_at as u64,
            }),
            _ => None,
        };
        let bucket = match Bucket::take(state, limit, cost, now) {
            Ok(b) => b,
            Err(wait) => return Ok(Some(Err(wait))),
        };
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(key.to_owned()))
            .item("tokens", AttributeValue::N(bucket.tokens.to_string()))
            .item(
                "updated_at",
                AttributeValue::N(bucket.updated_at.to_string()),
            )
            .item(
                "version",
                AttributeValue::N((version.unwrap_or(0) + 1).to_string()),
            )
            .item(
                EXPIRES_AT,
                AttributeValue::N((now / 1000 + 3600).to_string()),
            )
            .expression_attribute_names("#v", "version");
        put = match version {
            None => put.condition_expression("attribute_not_exists(#v)"),
            Some(v) => put
                .condition_expression("#v = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        self.calls.writes.fetch_add(1, Ordering::Relaxed);
        match put.send().await {
            Ok(_) => Ok(Some(Ok(()))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.calls.conflicts.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(e) => Err(format!("PutItem: {e}")),
        }
    }
}

impl RateLimiter for DynamoRateLimiter {
    fn take<'a>(
        &'a self,
        key: &'a str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), u64>> {
        Box::pin(async move {
            let item_key = format!("ratelimit:{key}");
            for _ in 0..MAX_ATTEMPTS {
                match self.attempt(&item_key, limit, cost, now).await {
                    Ok(Some(verdict)) => return verdict,
                    Ok(None) => continue,
                    Err(e) => {
                        // Availability over exactness: a failing table does not refuse callers.
                        tracing::warn!(error = %e, "rate-limit bucket unavailable; request allowed");
                        return Ok(());
                    }
                }
            }
            tracing::warn!(
                bucket = key,
                "rate-limit bucket kept changing; caller asked to retry"
            );
            Err(CONTENDED_RETRY_MS)
        })
    }
}
