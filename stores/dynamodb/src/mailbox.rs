//! `DynamoMailbox`: the core's [`Mailbox`] in the sessions table, so a client's answer to a gateway
//! request (sampling) reaches the execution environment that asked, whichever one the answering
//! `POST /mcp` ran in.
//!
//! One item per request, key `mailbox:<session>:<request id>`, written by the asker (`PutItem`) with
//! `expires_at` for DynamoDB TTL. The answer is set with an `UpdateItem` conditional on the item
//! existing and holding no answer yet: the key names the session the `POST` was authenticated for,
//! so another session, a late or a repeated answer finds no open slot. The asker reads the item
//! (consistent `GetItem`) on the core's poll schedule and deletes it once answered or given up.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use mcp_edge_core::mailbox::Mailbox;
use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::session::StoreError;
use serde_json::Value;

use crate::store::{backend, item_key, StoreCalls, EXPIRES_AT, KEY};

/// The client's answer (JSON text).
const ANSWER: &str = "answer";

/// Answer slots in DynamoDB.
pub struct DynamoMailbox {
    client: Client,
    table: String,
    calls: Arc<StoreCalls>,
}

/// The slot's item key.
pub fn slot_key(session: &str, id: &str) -> String {
    format!("mailbox:{session}:{id}")
}

fn key(session: &str, id: &str) -> HashMap<String, AttributeValue> {
    item_key(slot_key(session, id))
}

impl DynamoMailbox {
    /// Slots in `table`; calls are counted in `calls`.
    pub fn new(client: Client, table: String, calls: Arc<StoreCalls>) -> Self {
        DynamoMailbox {
            client,
            table,
            calls,
        }
    }
}

impl Mailbox for DynamoMailbox {
    fn open<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        expires_at: UnixMillis,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.calls.outbox.fetch_add(1, Ordering::Relaxed);
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(key(session, id)))
                .item(
                    EXPIRES_AT,
                    AttributeValue::N(expires_at.div_ceil(1000).to_string()),
                )
                .send()
                .await
                .map_err(|e| backend("PutItem", e))?;
            Ok(())
        })
    }

    fn deliver<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        answer: &'a Value,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.calls.writes.fetch_add(1, Ordering::Relaxed);
            let set = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(session, id)))
                .update_expression("SET #a = :a")
                .condition_expression("attribute_exists(#k) AND attribute_not_exists(#a)")
                .expression_attribute_names("#a", ANSWER)
                .expression_attribute_names("#k", KEY)
                .expression_attribute_values(":a", AttributeValue::S(answer.to_string()))
                .send()
                .await;
            match set {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(backend("UpdateItem", e)),
            }
        })
    }

    fn take<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, StoreError>> {
        Box::pin(async move {
            self.calls.reads.fetch_add(1, Ordering::Relaxed);
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(session, id)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| backend("GetItem", e))?
                .item;
            let Some(AttributeValue::S(text)) = item.as_ref().and_then(|i| i.get(ANSWER)) else {
                return Ok(None);
            };
            let answer = serde_json::from_str(text)
                .map_err(|_| StoreError::Corrupt("mailbox answer is not JSON".into()))?;
            self.close(session, id).await?;
            Ok(Some(answer))
        })
    }

    fn close<'a>(&'a self, session: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.calls.deletes.fetch_add(1, Ordering::Relaxed);
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(session, id)))
                .send()
                .await
                .map_err(|e| backend("DeleteItem", e))?;
            Ok(())
        })
    }
}
