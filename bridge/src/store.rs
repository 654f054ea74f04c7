//! `RedbSessionStore`: the embedded, persistent session store of the native server.

use std::path::Path;
use std::sync::Arc;

use mcp_edge_core::port::{BoxFuture, SessionStore, StoreError};
use mcp_edge_core::session::{SessionId, SessionRecord, Version};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// Sessions in a redb file; every commit is durable, so a restart loses nothing.
#[derive(Clone)]
pub struct RedbSessionStore {
    db: Arc<Database>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RedbSessionStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(SESSIONS).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(RedbSessionStore { db: Arc::new(db) })
    }

    /// Number of stored sessions (expired ones included until they are next touched or swept).
    pub fn count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(SESSIONS).map_err(backend)?;
        table.len().map_err(backend)
    }

    /// Deletes every session expired at `now`; returns how many were removed.
    pub fn sweep_expired(&self, now: u64) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let mut removed = 0;
        {
            let mut table = txn.open_table(SESSIONS).map_err(backend)?;
            let expired: Vec<String> = table
                .iter()
                .map_err(backend)?
                .filter_map(|entry| {
                    let (k, v) = entry.ok()?;
                    let rec: SessionRecord = serde_json::from_slice(v.value()).ok()?;
                    rec.is_expired(now).then(|| k.value().to_owned())
                })
                .collect();
            for key in expired {
                table.remove(key.as_str()).map_err(backend)?;
                removed += 1;
            }
        }
        txn.commit().map_err(backend)?;
        Ok(removed)
    }

    fn load_now(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(SESSIONS).map_err(backend)?;
        let Some(raw) = table.get(id.as_str()).map_err(backend)? else {
            return Ok(None);
        };
        serde_json::from_slice(raw.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn save_now(
        &self,
        rec: &SessionRecord,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let next = {
            let mut table = txn.open_table(SESSIONS).map_err(backend)?;
            let current = match table.get(rec.id.as_str()).map_err(backend)? {
                Some(raw) => Some(
                    serde_json::from_slice::<SessionRecord>(raw.value())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?
                        .version,
                ),
                None => None,
            };
            let stored = rec.next_revision(current, expected)?;
            let next = stored.version;
            let bytes = serde_json::to_vec(&stored).map_err(backend)?;
            table
                .insert(rec.id.as_str(), bytes.as_slice())
                .map_err(backend)?;
            next
        };
        txn.commit().map_err(backend)?;
        Ok(next)
    }

    fn delete_now(&self, id: &SessionId) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        txn.open_table(SESSIONS)
            .map_err(backend)?
            .remove(id.as_str())
            .map_err(backend)?;
        txn.commit().map_err(backend)
    }
}

impl SessionStore for RedbSessionStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move { self.load_now(id) })
    }

    fn save<'a>(
        &'a self,
        rec: &'a SessionRecord,
        expected: Option<Version>,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        let this = self.clone();
        let rec = rec.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.save_now(&rec, expected))
                .await
                .map_err(backend)?
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        let this = self.clone();
        let id = id.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.delete_now(&id))
                .await
                .map_err(backend)?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_edge_core::session::SessionTransport;

    fn record(id: &str) -> SessionRecord {
        SessionRecord {
            id: SessionId::parse(id).unwrap(),
            protocol_version: "2025-11-25".into(),
            transport: SessionTransport::StreamableHttp,
            client_info: None,
            client_capabilities: serde_json::json!({}),
            initialized: false,
            log_level: None,
            credential_fingerprint: None,
            owner: None,
            created_at: 1,
            last_seen: 1,
            expires_at: 100,
            version: 0,
            next_stream: 1,
            events: vec![],
            caller: None,
            lease_until: None,
        }
    }

    #[tokio::test]
    async fn compare_and_set_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let id = "0123456789abcdef0123456789abcdef";
        {
            let store = RedbSessionStore::open(&path).unwrap();
            let mut rec = record(id);
            assert_eq!(store.save(&rec, None).await.unwrap(), 1);
            assert!(matches!(
                store.save(&rec, None).await,
                Err(StoreError::Conflict)
            ));
            rec.initialized = true;
            assert_eq!(store.save(&rec, Some(1)).await.unwrap(), 2);
            assert!(matches!(
                store.save(&rec, Some(1)).await,
                Err(StoreError::Conflict)
            ));
        }
        let store = RedbSessionStore::open(&path).unwrap();
        let loaded = store
            .load(&SessionId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(loaded.initialized);
        assert_eq!(loaded.version, 2);
        assert_eq!(store.sweep_expired(50).unwrap(), 0);
        assert_eq!(store.sweep_expired(100).unwrap(), 1);
        assert!(store.load(&loaded.id).await.unwrap().is_none());
    }
}
