//! `DynamoRateLimiter`: per-caller token buckets as items of the sessions table (key
//! `ratelimit:<bucket>`), changed by the core's compare-and-set rule
//! ([`mcp_edge_core::counter::compare_and_set`]) over conditional writes, so every execution
//! environment draws from the same bucket. Idle buckets carry an `expires_at` an hour ahead for
//! DynamoDB TTL. A failing table and a bucket that kept changing are reported to the core
//! ([`LimitError::Backend`], [`LimitError::Contended`]), which decides what they mean.

use aws_sdk_dynamodb::types::AttributeValue;
use mcp_edge_core::counter::{compare_and_set, take_tokens};
use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::ratelimit::{Bucket, LimitError, RateLimit, RateLimiter};

use crate::items::VersionedItems;

/// Token buckets in DynamoDB.
pub struct DynamoRateLimiter {
    items: VersionedItems,
}

impl DynamoRateLimiter {
    /// Buckets kept as `items`.
    pub fn new(items: VersionedItems) -> Self {
        DynamoRateLimiter { items }
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
            let (items, item) = (&self.items, item_key.as_str());
            let outcome = compare_and_set(
                move || async move {
                    let read = items.read(item).await?;
                    let state = match (read.number("tokens"), read.number("updated_at")) {
                        (Some(tokens), Some(updated_at)) => Some(Bucket {
                            tokens,
                            updated_at: updated_at as u64,
                        }),
                        _ => None,
                    };
                    Ok((state, read))
                },
                |state| take_tokens(state, limit, cost, now),
                move |read, bucket: Bucket, keep_until| async move {
                    let attributes = vec![
                        ("tokens", AttributeValue::N(bucket.tokens.to_string())),
                        (
                            "updated_at",
                            AttributeValue::N(bucket.updated_at.to_string()),
                        ),
                    ];
                    items
                        .write(item, &read, attributes, keep_until / 1000)
                        .await
                },
            )
            .await;
            if let Err(e @ (LimitError::Backend(_) | LimitError::Contended)) = &outcome {
                // Reported, not decided: the core decides what a failing bucket means.
                tracing::warn!(error = %e, bucket = key, "rate-limit bucket undecided");
            }
            outcome
        })
    }
}
