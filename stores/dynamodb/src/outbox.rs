//! `DynamoOutbox`: the legacy SSE outbox ([`Outbox`]) in the sessions table, one item per message, so
//! concurrent `POST /messages` from many execution environments never contend on one item.
//!
//! - Each message is its own item, key `outbox:<session>:<random>`, attribute `data`, written with
//!   an unconditional `PutItem` before it is listed.
//! - The session's index item, key `outbox:<session>`, lists the message keys in append order
//!   (`keys`, appended with `list_append` in one `UpdateItem`: DynamoDB applies updates of one item
//!   one at a time, so concurrent appends all land, in some order, with no condition to lose) and
//!   counts the messages dropped from its front (`base`), so positions stay stable: the message at
//!   list index `i` is at position `base + i + 1`.
//! - The stream's holder reads the index (one consistent `GetItem`) and the listed messages
//!   (`BatchGetItem`); reading from position `after` drops what came before it from the index (an
//!   `UpdateItem` conditional on `base`, so a repeated trim is harmless) and deletes those items.
//!
//! Every item carries `expires_at` (the session's expiry) for DynamoDB TTL, which removes what a
//! failed trim or clear leaves behind.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use mcp_edge_core::outbox::{Outbox, READ_LIMIT};
use mcp_edge_core::port::{BoxFuture, Entropy, UnixMillis};
use mcp_edge_core::session::{SessionId, StoreError};

use crate::store::{backend, item_key as key, StoreCalls, EXPIRES_AT, KEY};

/// Message keys in append order (index item).
const KEYS: &str = "keys";
/// Messages dropped from the front of `keys` (index item).
const BASE: &str = "base";
/// The message (message item).
const DATA: &str = "data";

/// Legacy SSE outboxes in DynamoDB.
pub struct DynamoOutbox {
    client: Client,
    table: String,
    entropy: Arc<dyn Entropy>,
    calls: Arc<StoreCalls>,
}

fn index_key(id: &SessionId) -> String {
    format!("outbox:{id}")
}

/// The index item: its base and listed message keys.
struct Index {
    base: u64,
    keys: Vec<String>,
}

impl DynamoOutbox {
    /// Outboxes in `table`; message keys draw on `entropy`; calls are counted in `calls`.
    pub fn new(
        client: Client,
        table: String,
        entropy: Arc<dyn Entropy>,
        calls: Arc<StoreCalls>,
    ) -> Self {
        DynamoOutbox {
            client,
            table,
            entropy,
            calls,
        }
    }

    async fn index(&self, id: &SessionId) -> Result<Option<Index>, StoreError> {
        self.calls.reads.fetch_add(1, Ordering::Relaxed);
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(index_key(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?
            .item;
        let Some(item) = item else { return Ok(None) };
        let base = item
            .get(BASE)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("outbox index has no base".into()))?;
        let keys = match item.get(KEYS) {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| v.as_s().cloned())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| StoreError::Corrupt("outbox index lists a non-string".into()))?,
            _ => Vec::new(),
        };
        Ok(Some(Index { base, keys }))
    }

    /// Drops the first `n` keys of an index read at `base`, then deletes their items (best effort:
    /// TTL removes what is left).
    async fn trim(&self, id: &SessionId, index: &Index, n: usize) -> Result<(), StoreError> {
        let removals: Vec<String> = (0..n).map(|i| format!("#k[{i}]")).collect();
        self.calls.outbox.fetch_add(1, Ordering::Relaxed);
        let trimmed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(index_key(id))))
            .update_expression(format!("REMOVE {} SET #b = :next", removals.join(", ")))
            .condition_expression("#b = :base")
            .expression_attribute_names("#k", KEYS)
            .expression_attribute_names("#b", BASE)
            .expression_attribute_values(":base", AttributeValue::N(index.base.to_string()))
            .expression_attribute_values(
                ":next",
                AttributeValue::N((index.base + n as u64).to_string()),
            )
            .send()
            .await;
        match trimmed {
            Ok(_) => {}
            // Trimmed already (a retried poll): nothing to do.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                return Ok(())
            }
            Err(e) => return Err(backend("UpdateItem", e)),
        }
        for k in &index.keys[..n] {
            self.calls.deletes.fetch_add(1, Ordering::Relaxed);
            let _ = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(k.clone())))
                .send()
                .await;
        }
        Ok(())
    }

    /// The messages under `keys`, in that order, as far as they could be read: a message the batch
    /// left unprocessed ends the answer (the next poll asks again); one that is gone (TTL) is skipped.
    async fn messages(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(|k| key(k.clone())).collect()))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.calls.reads.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, wanted)
            .send()
            .await
            .map_err(|e| backend("BatchGetItem", e))?;
        let mut found: HashMap<String, String> = HashMap::new();
        for item in out
            .responses()
            .and_then(|r| r.get(&self.table))
            .into_iter()
            .flatten()
        {
            if let (Some(AttributeValue::S(k)), Some(AttributeValue::S(d))) =
                (item.get(KEY), item.get(DATA))
            {
                found.insert(k.clone(), d.clone());
            }
        }
        let unprocessed: Vec<String> = out
            .unprocessed_keys()
            .and_then(|u| u.get(&self.table))
            .map(|k| {
                k.keys()
                    .iter()
                    .filter_map(|m| m.get(KEY).and_then(|v| v.as_s().ok()).cloned())
                    .collect()
            })
            .unwrap_or_default();
        let mut answer = Vec::new();
        for k in keys {
            if unprocessed.contains(k) {
                break;
            }
            answer.push(found.remove(k));
        }
        Ok(answer)
    }
}

impl Outbox for DynamoOutbox {
    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        messages: &'a [String],
        expires_at: UnixMillis,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let ttl = AttributeValue::N(expires_at.div_ceil(1000).to_string());
            let mut listed = Vec::with_capacity(messages.len());
            for m in messages {
                let mut raw = [0u8; 16];
                self.entropy.fill(&mut raw);
                let item_key = format!("outbox:{id}:{}", hex(&raw));
                self.calls.outbox.fetch_add(1, Ordering::Relaxed);
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .item(KEY, AttributeValue::S(item_key.clone()))
                    .item(DATA, AttributeValue::S(m.clone()))
                    .item(EXPIRES_AT, ttl.clone())
                    .send()
                    .await
                    .map_err(|e| backend("PutItem", e))?;
                listed.push(AttributeValue::S(item_key));
            }
            self.calls.outbox.fetch_add(1, Ordering::Relaxed);
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(index_key(id))))
                .update_expression(
                    "SET #k = list_append(if_not_exists(#k, :empty), :new), \
                     #b = if_not_exists(#b, :zero), #e = :ttl",
                )
                .expression_attribute_names("#k", KEYS)
                .expression_attribute_names("#b", BASE)
                .expression_attribute_names("#e", EXPIRES_AT)
                .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":new", AttributeValue::L(listed))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .expression_attribute_values(":ttl", ttl)
                .send()
                .await
                .map_err(|e| backend("UpdateItem", e))?;
            Ok(())
        })
    }

    fn read<'a>(
        &'a self,
        id: &'a SessionId,
        after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, String)>, StoreError>> {
        Box::pin(async move {
            let Some(index) = self.index(id).await? else {
                return Ok(Vec::new());
            };
            let delivered = (after.saturating_sub(index.base) as usize).min(index.keys.len());
            if delivered > 0 {
                self.trim(id, &index, delivered).await?;
            }
            let first = index.base + delivered as u64 + 1;
            let pending: Vec<String> = index.keys[delivered..]
                .iter()
                .take(READ_LIMIT)
                .cloned()
                .collect();
            let messages = self.messages(&pending).await?;
            Ok((first..)
                .zip(messages)
                .filter_map(|(p, m)| m.map(|m| (p, m)))
                .collect())
        })
    }

    fn clear<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let Some(index) = self.index(id).await? else {
                return Ok(());
            };
            for k in index.keys.into_iter().chain([index_key(id)]) {
                self.calls.deletes.fetch_add(1, Ordering::Relaxed);
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(k)))
                    .send()
                    .await
                    .map_err(|e| backend("DeleteItem", e))?;
            }
            Ok(())
        })
    }
}

fn hex(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
