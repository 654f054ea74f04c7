//! `--session-store`: where the native server keeps what replicas behind a load balancer must share.
//! `redb` (the default) is the embedded database of one instance; `dynamodb` and `redis` put
//! sessions, legacy SSE outboxes, rate-limit buckets and quota leases in a store every replica uses,
//! through the same adapters of the core's ports as the Lambda (`mcp-edge-dynamodb`) or their Redis
//! counterparts (`mcp-edge-redis`). This module only connects; the core decides.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mcp_edge_core::outbox::Outbox;
use mcp_edge_core::quota::LeaseLedger;
use mcp_edge_core::ratelimit::RateLimiter;
use mcp_edge_core::session::SessionStore;
use mcp_edge_native::{OsEntropy, SystemClock};

/// Which store `--session-store` names, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// The embedded redb database in `--data-dir` (one instance).
    Redb,
    /// A DynamoDB table (`--dynamodb-table`), laid out as the Lambda's (infra/terraform).
    DynamoDb {
        /// The table.
        table: String,
    },
    /// A Redis server (`--redis-url`; a secret: never logged).
    Redis {
        /// The URL.
        url: String,
    },
}

impl StoreChoice {
    /// The choice from the settings, or why they do not fit together (refused at start).
    pub fn from_settings(
        store: &str,
        redis_url: Option<String>,
        table: Option<String>,
        fingerprint_key_given: bool,
    ) -> anyhow::Result<Self> {
        if redis_url.is_some() && store != "redis" {
            anyhow::bail!(
                "--redis-url (MCP_EDGE_REDIS_URL) is set but --session-store is not redis"
            );
        }
        let choice = match store {
            "dynamodb" => StoreChoice::DynamoDb {
                table: table.context(
                    "--session-store dynamodb needs --dynamodb-table (MCP_EDGE_DYNAMODB_TABLE)",
                )?,
            },
            "redis" => StoreChoice::Redis {
                url: redis_url
                    .context("--session-store redis needs --redis-url (MCP_EDGE_REDIS_URL)")?,
            },
            _ => StoreChoice::Redb,
        };
        if choice != StoreChoice::Redb && !fingerprint_key_given {
            // Each instance would otherwise draw its own key into its data dir, and a session's
            // credential fingerprint made on one replica would never match on another.
            anyhow::bail!(
                "--session-store {store} is shared by replicas, which must share --fingerprint-key (MCP_EDGE_FINGERPRINT_KEY) too"
            );
        }
        Ok(choice)
    }

    /// The store's name as `--session-store` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            StoreChoice::Redb => "redb",
            StoreChoice::DynamoDb { .. } => "dynamodb",
            StoreChoice::Redis { .. } => "redis",
        }
    }
}

/// The ports a shared store backs.
pub struct SharedStores {
    /// Sessions.
    pub store: Arc<dyn SessionStore>,
    /// Rate-limit buckets.
    pub limiter: Arc<dyn RateLimiter>,
    /// Session and stream quota leases.
    pub leases: Arc<dyn LeaseLedger>,
    /// Legacy SSE outboxes (a `/sse` stream held by one replica, its `POST /messages` on another).
    pub outbox: Arc<dyn Outbox>,
    /// How often a held legacy stream reads its outbox.
    pub legacy_poll: Duration,
    /// Where it is, without credentials (for the start-up log line).
    pub location: String,
}

impl SharedStores {
    /// Connects to the chosen shared store; `None` for redb.
    pub async fn connect(
        choice: &StoreChoice,
        legacy_poll: Duration,
    ) -> anyhow::Result<Option<SharedStores>> {
        Ok(match choice {
            StoreChoice::Redb => None,
            StoreChoice::DynamoDb { table } => {
                let client = mcp_edge_dynamodb::client().await;
                let s = mcp_edge_dynamodb::DynamoStores::new(
                    client,
                    table.clone(),
                    Arc::new(SystemClock),
                    Arc::new(OsEntropy),
                );
                Some(SharedStores {
                    store: s.store,
                    limiter: s.limiter,
                    leases: s.leases,
                    outbox: s.outbox,
                    legacy_poll,
                    location: format!("DynamoDB table {table}"),
                })
            }
            StoreChoice::Redis { url } => {
                let s = mcp_edge_redis::RedisStores::connect(url).await?;
                Some(SharedStores {
                    store: s.store,
                    limiter: s.limiter,
                    leases: s.leases,
                    outbox: s.outbox,
                    legacy_poll,
                    location: format!("Redis at {}", s.address),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(store: &str, url: Option<&str>, table: Option<&str>, key: bool) -> String {
        match StoreChoice::from_settings(store, url.map(Into::into), table.map(Into::into), key) {
            Ok(c) => c.name().to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn shared_stores_need_their_address_and_a_shared_fingerprint_key() {
        assert_eq!(choose("redb", None, None, false), "redb");
        assert_eq!(choose("redis", Some("redis://h"), None, true), "redis");
        assert_eq!(choose("dynamodb", None, Some("t"), true), "dynamodb");
        assert!(choose("redis", None, None, true).contains("needs --redis-url"));
        assert!(choose("dynamodb", None, None, true).contains("needs --dynamodb-table"));
        let no_key = choose("redis", Some("redis://:pw@h"), None, false);
        assert!(
            no_key.contains("--fingerprint-key") && !no_key.contains("pw"),
            "{no_key}"
        );
        assert!(choose("redb", Some("redis://h"), None, true).contains("is not redis"));
    }
}
