//! `DynamoRateLimiter`: per-caller token buckets as items of the sessions table (key
//! `ratelimit:<bucket>`), updated with conditional writes, so every execution environment draws
//! from the same bucket. Idle buckets carry an `expires_at` an hour ahead for DynamoDB TTL. A failing
//! table and a bucket that kept changing under [`MAX_ATTEMPTS`] writes are reported to the core
//! ([`LimitError::Backend`], [`LimitError::Contended`]), which decides what they mean.

use aws_sdk_dynamodb::types::AttributeValue;
use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::ratelimit::{Bucket, LimitError, RateLimit, RateLimiter};

use crate::items::{VersionedItems, MAX_ATTEMPTS};

/// Token buckets in DynamoDB.
pub struct DynamoRateLimiter {
    items: VersionedItems,
}

impl DynamoRateLimiter {
    /// Buckets kept as `items`.
    pub fn new(items: VersionedItems) -> Self {
        DynamoRateLimiter { items }
    }

    /// One read-compute-conditional-write round; `Ok(None)` when the write lost a race.
    async fn attempt(
        &self,
        key: &str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> Result<Option<Result<(), LimitError>>, String> {
        let read = self.items.read(key).await?;
        let state = match (read.number("tokens"), read.number("updated_at")) {
            (Some(tokens), Some(updated_at)) => Some(Bucket {
                tokens,
                updated_at: updated_at as u64,
            }),
            _ => None,
        };
        let bucket = match Bucket::take(state, limit, cost, now) {
            Ok(b) => b,
            Err(wait) => {
                return Ok(Some(Err(LimitError::Empty {
                    retry_after_ms: wait,
                })))
            }
        };
        let attributes = vec![
            ("tokens", AttributeValue::N(bucket.tokens.to_string())),
            (
                "updated_at",
                AttributeValue::N(bucket.updated_at.to_string()),
            ),
        ];
        let won = self
            .items
            .write(key, &read, attributes, now / 1000 + 3600)
            .await?;
        Ok(won.then_some(Ok(())))
    }
}

impl RateLimiter for DynamoRateLimiter {
    fn take<'a>(
        &'a self,
        key: &'a str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LimitError>> {
        Box::pin(async move {
            let item_key = format!("ratelimit:{key}");
            for _ in 0..MAX_ATTEMPTS {
                match self.attempt(&item_key, limit, cost, now).await {
                    Ok(Some(verdict)) => return verdict,
                    Ok(None) => continue,
                    Err(e) => {
                        // Reported, not decided: the core decides what a failing bucket means.
                        tracing::warn!(error = %e, "rate-limit bucket unavailable");
                        return Err(LimitError::Backend(e));
                    }
                }
            }
            tracing::warn!(bucket = key, "rate-limit bucket kept changing");
            Err(LimitError::Contended)
        })
    }
}
