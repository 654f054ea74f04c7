//! # mcp-edge-redis
//!
//! mcp-edge's shared state in Redis, for native replicas behind a load balancer
//! (`--session-store redis`): each port of the core has its adapter here, and the decisions (the
//! compare-and-set step, token buckets, lease sets, outbox positions) stay in the core, exactly as
//! in the DynamoDB adapters the Lambda uses:
//!
//! - [`RedisSessionStore`]: a hash per session (`v` version, `d` record JSON) written by a
//!   compare-and-set script, expiring with the session (`PEXPIREAT`);
//! - [`RedisRateLimiter`] and [`RedisLeaseLedger`]: token buckets and quota lease sets as the same
//!   versioned hashes, changed by the core's compare-and-set rule
//!   ([`mcp_edge_core::counter::compare_and_set`]: read, the core's decision, conditional write,
//!   at most [`MAX_ATTEMPTS`] rounds);
//! - [`RedisOutbox`]: the legacy SSE outbox as a list plus the count of messages dropped before it,
//!   appended with `RPUSH` (appends never conflict) and read-and-trimmed by one script.
//!
//! Every key starts with [`PREFIX`]; the outbox's two keys share a hash tag, so a script touching both
//! stays in one slot. [`RedisStores::connect`] builds all four over one reconnecting connection.
//! Tested against a real `redis-server` on loopback (`tests/redis_store.rs`, the core's store
//! contract among them).
//!
//! Features: none.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use mcp_edge_core::counter::{change_leases, compare_and_set, take_tokens, Next, Undecided};
use mcp_edge_core::outbox::{Outbox, READ_LIMIT};
use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::quota::{LeaseChange, LeaseError, LeaseLedger, LeaseSet};
use mcp_edge_core::ratelimit::{Bucket, LimitError, RateLimit, RateLimiter};
use mcp_edge_core::session::{
    next_version, SessionId, SessionRecord, SessionStore, StoreError, Version,
};
use redis::aio::ConnectionManager;
use redis::Script;

/// Prefix of every key mcp-edge writes.
pub const PREFIX: &str = "mcp-edge:";
/// Lost races retried before giving up on one rate-limit or lease change (the core's bound).
pub use mcp_edge_core::counter::MAX_ATTEMPTS;
/// How long a connection attempt and one command may take: a request waits at most this long on a
/// Redis that stopped answering, then fails with a backend error (503) instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Why the stores could not be set up (the server then refuses to start).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL does not parse (never repeated: it may hold a password).
    #[error("MCP_EDGE_REDIS_URL is not a Redis URL (expected redis://[[user]:password@]host[:port][/db])")]
    BadUrl,
    /// `rediss://` asks for TLS, which this build leaves out.
    #[error("MCP_EDGE_REDIS_URL asks for TLS (rediss://), which this build does not include; reach Redis over a private network or a TLS sidecar with redis://")]
    Tls,
    /// The server did not answer (named by host and port only).
    #[error("Redis at {0} did not answer: {1}")]
    Unreachable(String, String),
}

/// A command's failure as the core's store error (Redis errors never carry the URL or password).
fn backend(what: &str, e: redis::RedisError) -> StoreError {
    StoreError::Backend(format!("Redis {what}: {e}"))
}

/// Sets `d` and a new `v` if the stored `v` is the expected one (`''`: the key must not exist), and
/// the key's expiry. Returns 1 when written, 0 when the expected version was stale.
static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1",
    )
});

/// Appends ARGV[2..] to the outbox list, creates its dropped-count key at 0, and keeps both until
/// ARGV[1] (epoch ms).
static OUTBOX_APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"for i = 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('SET', KEYS[2], 0, 'NX')
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[1])
return 1",
    )
});

/// Drops the messages at or before position ARGV[1] (delivered), then returns the dropped count and
/// up to ARGV[2] of the messages that follow.
static OUTBOX_READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local base = tonumber(redis.call('GET', KEYS[2]) or '0')
local drop = tonumber(ARGV[1]) - base
local len = redis.call('LLEN', KEYS[1])
if drop > len then drop = len end
if drop > 0 then
  redis.call('LTRIM', KEYS[1], drop, -1)
  base = base + drop
  redis.call('SET', KEYS[2], base, 'KEEPTTL')
end
return {base, redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)}",
    )
});

/// One reconnecting, multiplexed connection, shared by every adapter (commands from concurrent
/// requests are pipelined on it).
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
}

/// A versioned hash as read: its version and data (`None`: no such key).
struct Item {
    version: Option<Version>,
    data: Option<String>,
}

impl Redis {
    async fn read(&self, key: &str) -> Result<Item, StoreError> {
        let (v, d): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(key)
            .arg("v")
            .arg("d")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("HMGET", e))?;
        let version = match v {
            None => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|_| StoreError::Corrupt(format!("{key} has no numeric version")))?,
            ),
        };
        Ok(Item { version, data: d })
    }

    /// Writes `data` at the next version if the stored version is still `expected`, kept until
    /// `expires_at` (epoch ms); `false` when it lost a race.
    async fn write(
        &self,
        key: &str,
        expected: Option<Version>,
        data: &str,
        expires_at: UnixMillis,
    ) -> Result<bool, StoreError> {
        let written: i64 = COMPARE_AND_SET
            .key(key)
            .arg(expected.map(|v| v.to_string()).unwrap_or_default())
            .arg(next_version(expected))
            .arg(data)
            // Redis keeps expiry times as signed 64-bit milliseconds.
            .arg(expires_at.min(i64::MAX as u64 / 2))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| backend("compare-and-set", e))?;
        Ok(written == 1)
    }
}

/// Every adapter over one connection.
pub struct RedisStores {
    /// Sessions.
    pub store: Arc<RedisSessionStore>,
    /// Rate-limit buckets.
    pub limiter: Arc<RedisRateLimiter>,
    /// Session and stream quota leases.
    pub leases: Arc<RedisLeaseLedger>,
    /// The legacy SSE outbox.
    pub outbox: Arc<RedisOutbox>,
    /// `host:port` of the server (without credentials), for logs.
    pub address: String,
}

impl RedisStores {
    /// Connects to `url` (`redis://[[user]:password@]host[:port][/db]`) and checks that the server
    /// answers. Errors name the server by host and port only, never the URL.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        if url.trim_start().to_ascii_lowercase().starts_with("rediss:") {
            return Err(ConnectError::Tls);
        }
        let client = redis::Client::open(url).map_err(|_| ConnectError::BadUrl)?;
        let address = client.get_connection_info().addr().to_string();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| ConnectError::Unreachable(address.clone(), e.to_string()))?;
        let redis = Redis { conn };
        let _: String = redis::cmd("PING")
            .query_async(&mut redis.conn.clone())
            .await
            .map_err(|e| ConnectError::Unreachable(address.clone(), e.to_string()))?;
        Ok(RedisStores {
            store: Arc::new(RedisSessionStore(redis.clone())),
            limiter: Arc::new(RedisRateLimiter(redis.clone())),
            leases: Arc::new(RedisLeaseLedger(redis.clone())),
            outbox: Arc::new(RedisOutbox(redis)),
            address,
        })
    }
}

/// Sessions in Redis.
pub struct RedisSessionStore(Redis);

fn session_key(id: &SessionId) -> String {
    format!("{PREFIX}session:{id}")
}

impl SessionStore for RedisSessionStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let item = self.0.read(&session_key(id)).await?;
            let (Some(text), Some(version)) = (item.data, item.version) else {
                return Ok(None);
            };
            let mut rec: SessionRecord =
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            rec.version = version;
            Ok(Some(rec))
        })
    }

    fn save<'a>(
        &'a self,
        rec: &'a SessionRecord,
        expected: Option<Version>,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        Box::pin(async move {
            let text =
                serde_json::to_string(rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match self
                .0
                .write(&session_key(&rec.id), expected, &text, rec.expires_at)
                .await?
            {
                true => Ok(next_version(expected)),
                false => Err(StoreError::Conflict),
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _: i64 = redis::cmd("DEL")
                .arg(session_key(id))
                .query_async(&mut self.0.conn.clone())
                .await
                .map_err(|e| backend("DEL", e))?;
            Ok(())
        })
    }
}

/// Token buckets in Redis.
pub struct RedisRateLimiter(Redis);

/// A versioned hash's JSON data as the state it holds.
fn decode<S: serde::de::DeserializeOwned>(item: &Item) -> Result<Option<S>, StoreError> {
    item.data
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Redis {
    /// One counter change by the core's compare-and-set rule over the versioned hash `key`.
    async fn change<S, X>(
        &self,
        key: &str,
        decide: impl Fn(Option<S>) -> Next<S, Result<(), X>>,
    ) -> Result<(), X>
    where
        S: serde::Serialize + serde::de::DeserializeOwned,
        X: From<Undecided>,
    {
        compare_and_set(
            || async move {
                let read = self.read(key).await?;
                Ok::<_, StoreError>((decode(&read)?, read.version))
            },
            decide,
            |version, state: S, keep_until| async move {
                let text = serde_json::to_string(&state)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                self.write(key, version, &text, keep_until).await
            },
        )
        .await
    }
}

impl RateLimiter for RedisRateLimiter {
    fn take<'a>(
        &'a self,
        key: &'a str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LimitError>> {
        Box::pin(async move {
            let item_key = format!("{PREFIX}ratelimit:{key}");
            let outcome = self
                .0
                .change(&item_key, |state: Option<Bucket>| {
                    take_tokens(state, limit, cost, now)
                })
                .await;
            if let Err(e @ (LimitError::Backend(_) | LimitError::Contended)) = &outcome {
                // Reported, not decided: the core decides what a failing bucket means.
                tracing::warn!(error = %e, bucket = key, "rate-limit bucket undecided");
            }
            outcome
        })
    }
}

/// Quota lease sets in Redis.
pub struct RedisLeaseLedger(Redis);

impl LeaseLedger for RedisLeaseLedger {
    fn apply<'a>(
        &'a self,
        key: &'a str,
        change: &'a LeaseChange,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LeaseError>> {
        Box::pin(async move {
            let item_key = format!("{PREFIX}leases:{key}");
            let outcome = self
                .0
                .change(&item_key, |set: Option<LeaseSet>| {
                    change_leases(set, change, now)
                })
                .await;
            if let Err(e @ (LeaseError::Backend(_) | LeaseError::Contended)) = &outcome {
                // Reported, not decided: the core decides what a failing ledger means.
                tracing::warn!(error = %e, set = key, "quota lease set undecided");
            }
            outcome
        })
    }
}

/// The legacy SSE outbox in Redis.
pub struct RedisOutbox(Redis);

/// The outbox list and its dropped-count key (one hash tag: one slot).
fn outbox_keys(id: &SessionId) -> [String; 2] {
    [
        format!("{PREFIX}outbox:{{{id}}}"),
        format!("{PREFIX}outbox-base:{{{id}}}"),
    ]
}

impl Outbox for RedisOutbox {
    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        messages: &'a [String],
        expires_at: UnixMillis,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if messages.is_empty() {
                return Ok(());
            }
            let [list, base] = outbox_keys(id);
            let mut call = OUTBOX_APPEND.key(list);
            call.key(base).arg(expires_at.min(i64::MAX as u64 / 2));
            for m in messages {
                call.arg(m);
            }
            let _: i64 = call
                .invoke_async(&mut self.0.conn.clone())
                .await
                .map_err(|e| backend("outbox append", e))?;
            Ok(())
        })
    }

    fn read<'a>(
        &'a self,
        id: &'a SessionId,
        after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, String)>, StoreError>> {
        Box::pin(async move {
            let [list, base] = outbox_keys(id);
            let (dropped, messages): (u64, Vec<String>) = OUTBOX_READ
                .key(list)
                .key(base)
                .arg(after)
                .arg(READ_LIMIT)
                .invoke_async(&mut self.0.conn.clone())
                .await
                .map_err(|e| backend("outbox read", e))?;
            Ok((dropped + 1..).zip(messages).collect())
        })
    }

    fn clear<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let [list, base] = outbox_keys(id);
            let _: i64 = redis::cmd("DEL")
                .arg(list)
                .arg(base)
                .query_async(&mut self.0.conn.clone())
                .await
                .map_err(|e| backend("DEL", e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_are_checked_and_never_repeated() {
        let secret = "redis://:hunter2-secret@[bad";
        let err = RedisStores::connect(secret)
            .await
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("not a Redis URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let tls = RedisStores::connect("rediss://:hunter2-secret@cache:6380")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(tls.contains("TLS") && !tls.contains("hunter2"), "{tls}");
    }
}
