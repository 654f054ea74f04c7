//! `DynamoLeaseLedger`: the quota lease sets (sessions per caller, streams per session) as items of
//! the sessions table (key `leases:<set>`), changed with conditional writes, so every execution
//! environment counts the same leases. Items expire (DynamoDB TTL) a minute after their last lease.

use aws_sdk_dynamodb::types::AttributeValue;
use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::quota::{LeaseChange, LeaseError, LeaseLedger, LeaseSet};

use crate::items::{VersionedItems, MAX_ATTEMPTS};

/// Lease sets in DynamoDB.
pub struct DynamoLeaseLedger {
    items: VersionedItems,
}

impl DynamoLeaseLedger {
    /// Lease sets kept as `items`.
    pub fn new(items: VersionedItems) -> Self {
        DynamoLeaseLedger { items }
    }

    /// One read-apply-conditional-write round; `Ok(None)` when the write lost a race.
    async fn attempt(
        &self,
        key: &str,
        change: &LeaseChange,
        now: UnixMillis,
    ) -> Result<Option<Result<(), LeaseError>>, String> {
        let read = self.items.read(key).await?;
        let mut set: LeaseSet = match read.text("leases") {
            Some(text) => serde_json::from_str(text).map_err(|e| format!("lease item: {e}"))?,
            None => LeaseSet::default(),
        };
        let before = set.clone();
        if let Err(full) = set.apply(change, now) {
            return Ok(Some(Err(full)));
        }
        if set == before {
            return Ok(Some(Ok(())));
        }
        let text = serde_json::to_string(&set).map_err(|e| e.to_string())?;
        let lapses_secs = set
            .lapses_at()
            .map_or(now, |u| u.min(now.saturating_add(86_400_000)))
            / 1000;
        let won = self
            .items
            .write(
                key,
                &read,
                vec![("leases", AttributeValue::S(text))],
                lapses_secs + 60,
            )
            .await?;
        Ok(won.then_some(Ok(())))
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
            for _ in 0..MAX_ATTEMPTS {
                match self.attempt(&item_key, change, now).await {
                    Ok(Some(outcome)) => return outcome,
                    Ok(None) => continue,
                    Err(e) => {
                        // Reported, not decided: the core decides what a failing ledger means.
                        tracing::warn!(error = %e, "quota lease item unavailable");
                        return Err(LeaseError::Backend(e));
                    }
                }
            }
            tracing::warn!(set = key, "quota lease set kept changing");
            Err(LeaseError::Contended)
        })
    }
}
