//! `DynamoLeaseLedger`: the quota lease sets (sessions per caller, streams per session) as items of
//! the sessions table (key `leases:<set>`), changed by the core's compare-and-set rule
//! ([`mcp_edge_core::counter::compare_and_set`]) over conditional writes, so every execution
//! environment counts the same leases. Items expire (DynamoDB TTL) a minute after their last lease.

use aws_sdk_dynamodb::types::AttributeValue;
use mcp_edge_core::counter::{change_leases, compare_and_set};
use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::quota::{LeaseChange, LeaseError, LeaseLedger, LeaseSet};

use crate::items::VersionedItems;

/// Lease sets in DynamoDB.
pub struct DynamoLeaseLedger {
    items: VersionedItems,
}

impl DynamoLeaseLedger {
    /// Lease sets kept as `items`.
    pub fn new(items: VersionedItems) -> Self {
        DynamoLeaseLedger { items }
    }
}

impl LeaseLedger for DynamoLeaseLedger {
    fn apply<'a>(
        &'a self,
        key: &'a str,
        change: &'a LeaseChange,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LeaseError>> {
        Box::pin(async move {
            let item_key = format!("leases:{key}");
            let (items, item) = (&self.items, item_key.as_str());
            let outcome = compare_and_set(
                move || async move {
                    let read = items.read(item).await?;
                    let set: Option<LeaseSet> = match read.text("leases") {
                        Some(text) => Some(
                            serde_json::from_str(text).map_err(|e| format!("lease item: {e}"))?,
                        ),
                        None => None,
                    };
                    Ok((set, read))
                },
                |set| change_leases(set, change, now),
                move |read, set: LeaseSet, keep_until| async move {
                    let text = serde_json::to_string(&set).map_err(|e| e.to_string())?;
                    let attributes = vec![("leases", AttributeValue::S(text))];
                    items
                        .write(item, &read, attributes, keep_until / 1000)
                        .await
                },
            )
            .await;
            if let Err(e @ (LeaseError::Backend(_) | LeaseError::Contended)) = &outcome {
                // Reported, not decided: the core decides what a failing ledger means.
                tracing::warn!(error = %e, set = key, "quota lease set undecided");
            }
            outcome
        })
    }
}
