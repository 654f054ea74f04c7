//! `RedbTaskStore`: the native server's durable task records (Tasks extension), in their own redb
//! file (`tasks.redb` in the data dir) so a restart keeps every task: finished ones stay readable,
//! ones parked on `input_required` can still be answered, and ones whose runner died with the old
//! process read as failed (the core decides that; see `mcp_edge_core::task`).
//!
//! Tasks are few and slow next to sessions, so each write is its own transaction on a blocking
//! thread (compare-and-set inside the transaction), without the session store's group commit.

use std::path::Path;
use std::sync::Arc;

use mcp_edge_core::port::BoxFuture;
use mcp_edge_core::task::{next_revision, TaskRecord, TaskStore, TaskStoreError};
use redb::{Database, ReadableTable, TableDefinition};

const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");

/// A small page cache: records are ~1 KB and read a few times each.
const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Task records in a redb file; a write is durable (committed with `fsync`) before it is
/// acknowledged.
#[derive(Clone)]
pub struct RedbTaskStore {
    db: Arc<Database>,
}

fn backend(e: impl std::fmt::Display) -> TaskStoreError {
    TaskStoreError::Backend(e.to_string())
}

fn decode(raw: &[u8]) -> Result<TaskRecord, TaskStoreError> {
    serde_json::from_slice(raw).map_err(|e| TaskStoreError::Corrupt(e.to_string()))
}

impl RedbTaskStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, TaskStoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(TASKS).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(RedbTaskStore { db: Arc::new(db) })
    }

    /// Deletes every task whose lifetime ended at `now`; returns how many were removed (run at
    /// start-up, as for sessions).
    pub async fn sweep_expired(&self, now: u64) -> Result<u64, TaskStoreError> {
        let db = self.db.clone();
        blocking(move || {
            let txn = db.begin_write().map_err(backend)?;
            let removed = {
                let mut table = txn.open_table(TASKS).map_err(backend)?;
                let expired: Vec<String> = table
                    .iter()
                    .map_err(backend)?
                    .filter_map(|entry| {
                        let (k, v) = entry.ok()?;
                        let rec = decode(v.value()).ok()?;
                        rec.expired(now).then(|| k.value().to_owned())
                    })
                    .collect();
                for key in &expired {
                    table.remove(key.as_str()).map_err(backend)?;
                }
                expired.len() as u64
            };
            txn.commit().map_err(backend)?;
            Ok(removed)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TaskStoreError> + Send + 'static,
) -> Result<T, TaskStoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| backend(format!("task store thread failed: {e}")))?
}

impl TaskStore for RedbTaskStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
        Box::pin(async move {
            // A read transaction never waits for a writer; the page is usually cached.
            let txn = self.db.begin_read().map_err(backend)?;
            let table = txn.open_table(TASKS).map_err(backend)?;
            let raw = table.get(id).map_err(backend)?;
            raw.map(|r| decode(r.value())).transpose()
        })
    }

    fn save<'a>(
        &'a self,
        rec: &'a TaskRecord,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, TaskStoreError>> {
        let db = self.db.clone();
        let rec = rec.clone();
        Box::pin(blocking(move || {
            let txn = db.begin_write().map_err(backend)?;
            let version = {
                let mut table = txn.open_table(TASKS).map_err(backend)?;
                let current = match table.get(rec.id.as_str()).map_err(backend)? {
                    Some(raw) => Some(decode(raw.value())?.version),
                    None => None,
                };
                let stored = next_revision(&rec, current, expected)?;
                let bytes = serde_json::to_vec(&stored).map_err(backend)?;
                table
                    .insert(rec.id.as_str(), bytes.as_slice())
                    .map_err(backend)?;
                stored.version
            };
            txn.commit().map_err(backend)?;
            Ok(version)
        }))
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
        let db = self.db.clone();
        let id = id.to_owned();
        Box::pin(blocking(move || {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(TASKS).map_err(backend)?;
                table.remove(id.as_str()).map_err(backend)?;
            }
            txn.commit().map_err(backend)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_task_store_contract_across_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tasks.redb");
        let now = 1_700_000_000_000;
        {
            let store = RedbTaskStore::open(&path).expect("open");
            for case in mcp_edge_core::task_contract::TASK_CASES {
                mcp_edge_core::task_contract::run_task_case(&store, case, now, 1)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: {e}"));
            }
            let rec = mcp_edge_core::task_contract::task_record("kept", now, 60_000);
            store.save(&rec, None).await.expect("save");
        }
        let reopened = RedbTaskStore::open(&path).expect("reopen");
        let kept = reopened.load("kept").await.expect("load").expect("present");
        assert_eq!(kept.tool, "slow_compute");
        assert_eq!(
            reopened.sweep_expired(now + 60_000).await.expect("sweep"),
            1
        );
        assert!(reopened.load("kept").await.expect("load").is_none());
    }
}
