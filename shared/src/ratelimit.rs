//! Per-caller rate limits as token buckets. The [`RateLimiter`] port keeps bucket state where the
//! platform keeps state; [`MemoryRateLimiter`] is exact within one process.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::port::{BoxFuture, MaybeSendSync, UnixMillis};

/// A token-bucket limit: `burst` tokens, refilled at `per_minute` tokens per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Sustained rate.
    pub per_minute: u32,
    /// Bucket capacity (largest burst).
    pub burst: u32,
}

/// State of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Tokens left (fractional).
    pub tokens: f64,
    /// When `tokens` was computed.
    pub updated_at: UnixMillis,
}

impl Bucket {
    /// Takes `cost` tokens from a bucket (a fresh one when `None`) at `now`: the new state, or the
    /// milliseconds until enough tokens exist.
    pub fn take(
        state: Option<Bucket>,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> Result<Bucket, u64> {
        let capacity = f64::from(limit.burst.max(1));
        let per_ms = f64::from(limit.per_minute) / 60_000.0;
        let mut b = state.unwrap_or(Bucket {
            tokens: capacity,
            updated_at: now,
        });
        let elapsed = now.saturating_sub(b.updated_at) as f64;
        b.tokens = (b.tokens + elapsed * per_ms).min(capacity);
        b.updated_at = now.max(b.updated_at);
        let cost = f64::from(cost);
        if b.tokens >= cost {
            b.tokens -= cost;
            Ok(b)
        } else if per_ms <= 0.0 || cost > capacity {
            Err(60_000)
        } else {
            Err(((cost - b.tokens) / per_ms).ceil() as u64)
        }
    }
}

/// Why a [`RateLimiter`] refused or failed a take (the rate-limit boundary's error). A backend
/// failure is reported, never decided, by the adapter: the gateway decides once what it means
/// (see `McpApp`'s counting-port policy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The bucket is empty; enough tokens exist again in `retry_after_ms`.
    #[error("rate limit reached; retry in {retry_after_ms} ms")]
    Empty {
        /// Time until enough tokens exist.
        retry_after_ms: u64,
    },
    /// The bucket kept changing under concurrent takes until the backend's bounded retries ran out.
    #[error("rate-limit bucket kept changing concurrently")]
    Contended,
    /// The backend failed; the message never contains secrets.
    #[error("rate-limit backend failed: {0}")]
    Backend(String),
}

/// Where bucket state lives.
pub trait RateLimiter: MaybeSendSync {
    /// Takes `cost` tokens from bucket `key`: [`LimitError::Empty`] when the bucket is empty,
    /// [`LimitError::Contended`] or [`LimitError::Backend`] when the backend could not decide.
    fn take<'a>(
        &'a self,
        key: &'a str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LimitError>>;
}

/// Buckets in process memory (bounded: idle full buckets are dropped when the map grows large).
#[derive(Debug, Default)]
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Above this many buckets, buckets idle for a minute are forgotten (they would be full again anyway
/// for any limit of at least `burst` per minute).
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter for MemoryRateLimiter {
    fn take<'a>(
        &'a self,
        key: &'a str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LimitError>> {
        let result = match self.buckets.lock() {
            Ok(mut map) => {
                if map.len() >= MAX_BUCKETS {
                    map.retain(|_, b| now.saturating_sub(b.updated_at) < 60_000);
                }
                match Bucket::take(map.get(key).copied(), limit, cost, now) {
                    Ok(b) => {
                        map.insert(key.to_owned(), b);
                        Ok(())
                    }
                    Err(wait) => Err(LimitError::Empty {
                        retry_after_ms: wait,
                    }),
                }
            }
            Err(_) => Err(LimitError::Backend("rate-limit buckets poisoned".into())),
        };
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn bucket_refills_over_time() {
        let limit = RateLimit {
            per_minute: 60,
            burst: 2,
        };
        let l = MemoryRateLimiter::default();
        assert!(block_on(l.take("k", limit, 1, 0)).is_ok());
        assert!(block_on(l.take("k", limit, 1, 0)).is_ok());
        let empty = |ms| Err(LimitError::Empty { retry_after_ms: ms });
        assert_eq!(block_on(l.take("k", limit, 1, 0)), empty(1000));
        assert_eq!(block_on(l.take("k", limit, 1, 400)), empty(600));
        assert!(block_on(l.take("k", limit, 1, 1000)).is_ok());
        assert!(
            block_on(l.take("other", limit, 1, 1000)).is_ok(),
            "buckets are per key"
        );
        assert_eq!(
            block_on(l.take("k", limit, 5, 1000)),
            empty(60_000),
            "a cost above the burst never fits"
        );
    }
}
