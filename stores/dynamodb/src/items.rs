//! `VersionedItems`: small counter items in the sessions table (rate-limit buckets, quota leases)
//! read consistently and written with a condition on a numeric `version`, so every execution
//! environment sees one value. Their keys carry a prefix (`ratelimit:`, `leases:`); session ids are
//! 32 hex digits, so they never collide. Each item carries an `expires_at` for DynamoDB TTL.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::store::{StoreCalls, EXPIRES_AT, KEY};

/// Lost races retried before giving up on one change (the core's compare-and-set bound).
pub use mcp_edge_core::counter::MAX_ATTEMPTS;

/// One read of an item: its attributes and version (`None`: no item yet).
pub struct Versioned {
    /// The item's attributes.
    pub item: Option<HashMap<String, AttributeValue>>,
    /// The stored version.
    pub version: Option<u64>,
}

impl Versioned {
    /// A numeric attribute.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.item.as_ref()?.get(name)?.as_n().ok()?.parse().ok()
    }

    /// A string attribute.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.item
            .as_ref()?
            .get(name)?
            .as_s()
            .ok()
            .map(String::as_str)
    }
}

/// Conditional-write access to counter items of one table.
pub struct VersionedItems {
    client: Client,
    table: String,
    calls: Arc<StoreCalls>,
}

impl VersionedItems {
    /// Items of `table`, counted in `calls` with the session store's calls.
    pub fn new(client: Client, table: String, calls: Arc<StoreCalls>) -> Self {
        VersionedItems {
            client,
            table,
            calls,
        }
    }

    /// Reads an item with a consistent read.
    pub async fn read(&self, key: &str) -> Result<Versioned, String> {
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
        let mut read = Versioned {
            item,
            version: None,
        };
        read.version = read.number("version").map(|v| v as u64);
        Ok(read)
    }

    /// Writes `attributes` if the stored version is still `read`'s; `Ok(false)` when the write lost
    /// a race (read again and retry).
    pub async fn write(
        &self,
        key: &str,
        read: &Versioned,
        attributes: Vec<(&str, AttributeValue)>,
        expires_at_secs: u64,
    ) -> Result<bool, String> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(key.to_owned()))
            .item(
                "version",
                AttributeValue::N((read.version.unwrap_or(0) + 1).to_string()),
            )
            .item(EXPIRES_AT, AttributeValue::N(expires_at_secs.to_string()))
            .expression_attribute_names("#v", "version");
        for (name, value) in attributes {
            put = put.item(name, value);
        }
        put = match read.version {
            None => put.condition_expression("attribute_not_exists(#v)"),
            Some(v) => put
                .condition_expression("#v = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        self.calls.writes.fetch_add(1, Ordering::Relaxed);
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.calls.conflicts.fetch_add(1, Ordering::Relaxed);
                Ok(false)
            }
            Err(e) => Err(format!("PutItem: {e}")),
        }
    }
}
