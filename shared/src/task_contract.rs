//! The contract every [`TaskStore`] keeps, written once and run against each implementation: the
//! in-memory one here, redb natively (`server/src/task_store.rs`), and the platform stores. Each
//! case takes the store, the current time and a `seed` that makes its task ids unique (so a
//! persistent backend can run the suite twice), and fails with a message naming the broken promise.

use serde_json::json;

use crate::port::UnixMillis;
use crate::task::{TaskRecord, TaskStatus, TaskStore, TaskStoreError};

/// The task-store cases, by name (for [`run_task_case`]).
pub const TASK_CASES: &[&str] = &[
    "task_create",
    "task_compare_and_set",
    "task_delete_absent",
    "task_round_trip",
];

/// A record as the gateway writes one, created at `now`, living `ttl_ms`.
pub fn task_record(id: &str, now: UnixMillis, ttl_ms: u64) -> TaskRecord {
    TaskRecord::new(
        id.into(),
        "key:contract".into(),
        Some("fp".into()),
        "slow_compute".into(),
        now,
        ttl_ms,
    )
}

fn check(ok: bool, promise: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(promise.to_owned())
    }
}

fn failed(what: &str, e: TaskStoreError) -> String {
    format!("{what} failed: {e}")
}

/// Runs the case `name` (one of [`TASK_CASES`]).
pub async fn run_task_case(
    store: &dyn TaskStore,
    name: &str,
    now: UnixMillis,
    seed: u64,
) -> Result<(), String> {
    let n = TASK_CASES.iter().position(|c| *c == name).unwrap_or(99);
    let id = format!("{seed:016x}{n:016x}");
    let rec = task_record(&id, now, 3_600_000);
    match name {
        "task_create" => {
            let load = store.load(&id).await.map_err(|e| failed("load", e))?;
            check(load.is_none(), "an unknown task loads as absent")?;
            let v = store
                .save(&rec, None)
                .await
                .map_err(|e| failed("create", e))?;
            check(v == 1, "a created task is at version 1")?;
            let back = store
                .load(&id)
                .await
                .map_err(|e| failed("load", e))?
                .ok_or("a created task loads")?;
            let mut expected = rec.clone();
            expected.version = 1;
            check(back == expected, "a task loads back as it was saved")?;
            check(
                matches!(store.save(&rec, None).await, Err(TaskStoreError::Conflict)),
                "creating an existing task is a conflict",
            )
        }
        "task_compare_and_set" => {
            let mut rec = rec;
            rec.version = store
                .save(&rec, None)
                .await
                .map_err(|e| failed("create", e))?;
            rec.cancel(now + 1);
            let v2 = store
                .save(&rec, Some(rec.version))
                .await
                .map_err(|e| failed("save at the stored version", e))?;
            check(v2 == 2, "a save at the stored version bumps it by one")?;
            let mut late = rec.clone();
            late.complete(now + 2, json!({"content": []}));
            check(
                matches!(
                    store.save(&late, Some(1)).await,
                    Err(TaskStoreError::Conflict)
                ),
                "a save at a stale version is a conflict (a late result never overwrites a cancel)",
            )?;
            let back = store
                .load(&id)
                .await
                .map_err(|e| failed("load", e))?
                .ok_or("a saved task loads")?;
            check(
                back.version == 2 && back.status == TaskStatus::Cancelled,
                "a conflicting save changes nothing",
            )
        }
        "task_delete_absent" => {
            store
                .delete(&id)
                .await
                .map_err(|e| failed("deleting an absent task", e))?;
            store
                .save(&rec, None)
                .await
                .map_err(|e| failed("create", e))?;
            store.delete(&id).await.map_err(|e| failed("delete", e))?;
            let load = store.load(&id).await.map_err(|e| failed("load", e))?;
            check(load.is_none(), "a deleted task is absent")
        }
        "task_round_trip" => {
            // Every field the state machine sets survives the store (input requests, state,
            // result), as a restart would read them.
            let mut rec = rec;
            let mut asks = serde_json::Map::new();
            asks.insert("confirm".into(), json!({"method": "elicitation/create"}));
            rec.ask(now + 1, asks, json!({"arguments": {"filename": "a.txt"}}));
            rec.version = store
                .save(&rec, None)
                .await
                .map_err(|e| failed("create", e))?;
            let back = store
                .load(&id)
                .await
                .map_err(|e| failed("load", e))?
                .ok_or("a saved task loads")?;
            check(back == rec, "a parked task loads back whole")?;
            let mut done = back;
            done.complete(
                now + 2,
                json!({"content": [{"type": "text", "text": "ok"}]}),
            );
            let v = store
                .save(&done, Some(done.version))
                .await
                .map_err(|e| failed("complete", e))?;
            done.version = v;
            let again = store
                .load(&id)
                .await
                .map_err(|e| failed("load", e))?
                .ok_or("a completed task loads")?;
            check(again == done, "a completed task loads back with its result")?;
            store.delete(&id).await.map_err(|e| failed("delete", e))
        }
        other => Err(format!("no task contract case {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::MemoryTaskStore;

    #[test]
    fn the_memory_store_keeps_the_contract() {
        let store = MemoryTaskStore::default();
        futures::executor::block_on(async {
            for case in TASK_CASES {
                run_task_case(&store, case, 1_000, 7)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: {e}"));
            }
        });
    }
}
