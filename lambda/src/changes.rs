//! `DynamoChangeCounters`: the list change counters of `subscriptions/listen` (see
//! `mcp_edge_core::subscription::ChangeCounters`) as one item of the sessions table (key
//! `listchanges:`), so a change made in one execution environment reaches the listen streams held
//! by others. A bump is a read and a conditional write (retried on a lost race); a listen stream's
//! poll is one consistent read. The item expires (DynamoDB TTL) a day after its last bump; counters
//! that restart from zero read as one more change, never as none.

use aws_sdk_dynamodb::types::AttributeValue;
use mcp_edge_core::port::BoxFuture;
use mcp_edge_core::session::StoreError;
use mcp_edge_core::subscription::{ChangeCounters, ListKind};

use crate::items::{VersionedItems, MAX_ATTEMPTS};

/// The item's key.
const KEY: &str = "listchanges:";
/// Attribute names of the tools, prompts, resources and contents counters.
const NAMES: [&str; 4] = ["tools", "prompts", "resources", "contents"];
/// How long the item outlives its last bump (s).
const KEEP_SECS: u64 = 86_400;

/// Change counters in DynamoDB.
pub struct DynamoChangeCounters {
    items: VersionedItems,
}

impl DynamoChangeCounters {
    /// Counters kept as `items`.
    pub fn new(items: VersionedItems) -> Self {
        DynamoChangeCounters { items }
    }
}

fn counters(read: &crate::items::Versioned) -> [u64; 4] {
    NAMES.map(|n| read.number(n).map_or(0, |v| v as u64))
}

fn backend(e: String) -> StoreError {
    StoreError::Backend(e)
}

impl ChangeCounters for DynamoChangeCounters {
    fn bump(&self, kind: ListKind) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let slot = match kind {
                ListKind::Tools => 0,
                ListKind::Prompts => 1,
                ListKind::Resources => 2,
                ListKind::Contents => 3,
            };
            let now_secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            for _ in 0..MAX_ATTEMPTS {
                let read = self.items.read(KEY).await.map_err(backend)?;
                let mut values = counters(&read);
                values[slot] = values[slot].saturating_add(1);
                let attributes = NAMES
                    .iter()
                    .zip(values)
                    .map(|(n, v)| (*n, AttributeValue::N(v.to_string())))
                    .collect();
                if self
                    .items
                    .write(KEY, &read, attributes, now_secs + KEEP_SECS)
                    .await
                    .map_err(backend)?
                {
                    return Ok(());
                }
            }
            Err(StoreError::Conflict)
        })
    }

    fn read(&self) -> BoxFuture<'_, Result<[u64; 4], StoreError>> {
        Box::pin(async move {
            let read = self.items.read(KEY).await.map_err(backend)?;
            Ok(counters(&read))
        })
    }
}
