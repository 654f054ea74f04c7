//! `DynamoTaskStore`: task records (Tasks extension) as items of the sessions table, keyed
//! `task:<id>` (session ids are 32 hex digits and the counter items have their own prefixes, so
//! keys never collide), written with a condition on their `version` through
//! [`VersionedItems`](crate::items::VersionedItems) and given an `expires_at` at the end of the task's
//! lifetime for DynamoDB TTL. Every execution environment reads the same record, so a task created
//! in one is read, answered and cancelled in any other.

use aws_sdk_dynamodb::types::AttributeValue;
use mcp_edge_core::port::BoxFuture;
use mcp_edge_core::task::{next_revision, TaskRecord, TaskStore, TaskStoreError};

use crate::items::VersionedItems;

/// Key prefix of task items.
const PREFIX: &str = "task:";
/// The record (JSON text; never credentials).
const RECORD: &str = "record";

/// Tasks in DynamoDB.
pub struct DynamoTaskStore {
    items: VersionedItems,
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTaskStore {
    /// Task items through `items`, which reach `table` with `client` (deletes go there directly).
    pub fn new(items: VersionedItems, client: aws_sdk_dynamodb::Client, table: String) -> Self {
        DynamoTaskStore {
            items,
            client,
            table,
        }
    }
}

fn backend(e: String) -> TaskStoreError {
    TaskStoreError::Backend(format!("DynamoDB {e}"))
}

impl TaskStore for DynamoTaskStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
        Box::pin(async move {
            let read = self
                .items
                .read(&format!("{PREFIX}{id}"))
                .await
                .map_err(backend)?;
            let Some(text) = read.text(RECORD) else {
                return Ok(None);
            };
            let mut rec: TaskRecord =
                serde_json::from_str(text).map_err(|e| TaskStoreError::Corrupt(e.to_string()))?;
            rec.version = read.version.unwrap_or(0);
            Ok(Some(rec))
        })
    }

    fn save<'a>(
        &'a self,
        rec: &'a TaskRecord,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, TaskStoreError>> {
        Box::pin(async move {
            let key = format!("{PREFIX}{}", rec.id);
            // The condition is on the item's own version attribute: `expected` must be what is
            // stored now (none for a create), which the conditional put checks atomically.
            let read = crate::items::Versioned {
                item: None,
                version: expected,
            };
            let stored = next_revision(rec, expected, expected)?;
            let text = serde_json::to_string(&stored).map_err(|e| backend(e.to_string()))?;
            let expires = rec.created_at.saturating_add(rec.ttl_ms) / 1000 + 1;
            let written = self
                .items
                .write(
                    &key,
                    &read,
                    vec![(RECORD, AttributeValue::S(text))],
                    expires,
                )
                .await
                .map_err(backend)?;
            if written {
                Ok(stored.version)
            } else {
                Err(TaskStoreError::Conflict)
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(
                    crate::store::KEY,
                    AttributeValue::S(format!("{PREFIX}{id}")),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| backend(format!("DeleteItem: {e}")))
        })
    }
}
