//! The contract every [`SessionStore`] and every [`Outbox`] keeps, written once and run against
//! each implementation: the in-memory ones here, redb natively, DynamoDB against moto, and the
//! Durable Object store inside `wrangler dev` (through a test-only route, enabled with the test
//! tools). Each case takes the store, the current time and a `seed` that makes its session ids
//! unique (so a persistent backend can run the suite twice), and fails with a message naming the
//! promise that was broken.
//!
//! Concurrency comes from the caller where the platform has it: [`concurrent_writers`] runs its
//! writers as concurrent futures on one task (real interleaving for any store whose calls wait on
//! I/O); a platform that serves one request at a time per store (a Durable Object) runs
//! [`writer`]s as concurrent requests instead, between [`writers_setup`] and [`writers_check`].

use futures_util::future::join_all;
use serde_json::json;

use crate::outbox::Outbox;
use crate::port::UnixMillis;
use crate::session::{SessionId, SessionRecord, SessionStore, SessionTransport, StoreError};

/// The sequential session-store cases, by name (for [`run_case`]).
pub const CASES: &[&str] = &["create", "compare_and_set", "delete_absent", "expiry"];

/// The outbox cases, by name (for [`run_outbox_case`]).
pub const OUTBOX_CASES: &[&str] = &["outbox_order", "outbox_concurrent_appends"];

/// Session id number `n` of the run `seed`.
pub fn case_id(seed: u64, n: u64) -> SessionId {
    SessionId::parse(&format!("{seed:016x}{n:016x}")).unwrap_or_else(|| unreachable!())
}

/// A record as the gateway writes one, expiring at `expires_at`.
pub fn record(id: &SessionId, now: UnixMillis, expires_at: UnixMillis) -> SessionRecord {
    SessionRecord {
        id: id.clone(),
        protocol_version: "2025-11-25".into(),
        transport: SessionTransport::StreamableHttp,
        client_info: Some(json!({"name": "contract", "version": "1"})),
        client_capabilities: json!({"roots": {}}),
        initialized: false,
        log_level: None,
        credential_fingerprint: Some("fp".into()),
        owner: Some("key:contract".into()),
        created_at: now,
        last_seen: now,
        expires_at,
        version: 0,
        next_stream: 1,
        events: Vec::new(),
        caller: None,
        lease_until: None,
        // Kept with the record on every store (resources/subscribe).
        resource_subscriptions: vec![crate::session::ResourceSubscription {
            uri: "test://watched-resource".into(),
            base: u64::MAX,
        }],
    }
}

fn check(ok: bool, promise: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(promise.to_owned())
    }
}

fn failed(what: &str, e: StoreError) -> String {
    format!("{what} failed: {e}")
}

const HOUR: u64 = 3_600_000;

/// Runs the sequential case `name` (one of [`CASES`]).
pub async fn run_case(
    store: &dyn SessionStore,
    name: &str,
    now: UnixMillis,
    seed: u64,
) -> Result<(), String> {
    let id = case_id(
        seed,
        CASES.iter().position(|c| *c == name).unwrap_or(99) as u64,
    );
    match name {
        "create" => create(store, &id, now).await,
        "compare_and_set" => compare_and_set(store, &id, now).await,
        "delete_absent" => delete_absent(store, &id, now).await,
        "expiry" => expiry(store, &id, now).await,
        other => Err(format!("no contract case {other}")),
    }
}

/// A new record is stored at version 1 and loads back equal; creating it again is a conflict.
async fn create(store: &dyn SessionStore, id: &SessionId, now: UnixMillis) -> Result<(), String> {
    let load = store.load(id).await.map_err(|e| failed("load", e))?;
    check(load.is_none(), "an unknown session loads as absent")?;
    let rec = record(id, now, now + HOUR);
    let v = store
        .save(&rec, None)
        .await
        .map_err(|e| failed("create", e))?;
    check(v == 1, "a created record is at version 1")?;
    let back = store
        .load(id)
        .await
        .map_err(|e| failed("load", e))?
        .ok_or("a created record loads")?;
    let mut expected = rec.clone();
    expected.version = 1;
    check(back == expected, "a record loads back as it was saved")?;
    check(
        matches!(store.save(&rec, None).await, Err(StoreError::Conflict)),
        "creating an existing session is a conflict",
    )
}

/// A save at the stored version wins and bumps it; a stale or future version is a conflict and
/// changes nothing.
async fn compare_and_set(
    store: &dyn SessionStore,
    id: &SessionId,
    now: UnixMillis,
) -> Result<(), String> {
    let mut rec = record(id, now, now + HOUR);
    rec.version = store
        .save(&rec, None)
        .await
        .map_err(|e| failed("create", e))?;
    rec.initialized = true;
    rec.log_level = Some("debug".into());
    let v2 = store
        .save(&rec, Some(rec.version))
        .await
        .map_err(|e| failed("save at the stored version", e))?;
    check(v2 == 2, "a save at the stored version bumps it by one")?;
    let mut stale = rec.clone();
    stale.log_level = Some("stale".into());
    check(
        matches!(store.save(&stale, Some(1)).await, Err(StoreError::Conflict)),
        "a save at a stale version is a conflict",
    )?;
    check(
        matches!(store.save(&stale, Some(7)).await, Err(StoreError::Conflict)),
        "a save at a version never stored is a conflict",
    )?;
    let back = store
        .load(id)
        .await
        .map_err(|e| failed("load", e))?
        .ok_or("a saved record loads")?;
    check(
        back.version == 2 && back.log_level.as_deref() == Some("debug") && back.initialized,
        "a conflicting save changes nothing; the winning one is stored whole",
    )
}

/// Deleting an absent session is not an error; a deleted session is absent and can be created
/// anew at version 1.
async fn delete_absent(
    store: &dyn SessionStore,
    id: &SessionId,
    now: UnixMillis,
) -> Result<(), String> {
    store
        .delete(id)
        .await
        .map_err(|e| failed("deleting an absent session", e))?;
    let rec = record(id, now, now + HOUR);
    store
        .save(&rec, None)
        .await
        .map_err(|e| failed("create", e))?;
    store.delete(id).await.map_err(|e| failed("delete", e))?;
    let load = store.load(id).await.map_err(|e| failed("load", e))?;
    check(load.is_none(), "a deleted session is absent")?;
    store
        .delete(id)
        .await
        .map_err(|e| failed("deleting a deleted session", e))?;
    let v = store
        .save(&rec, None)
        .await
        .map_err(|e| failed("creating a deleted session anew", e))?;
    check(v == 1, "a session created anew starts at version 1")?;
    store.delete(id).await.map_err(|e| failed("delete", e))
}

/// The expiry round-trips, and an expired record is never served as live: the store either hides
/// it or returns it with its past expiry (the gateway checks expiry against its clock).
async fn expiry(store: &dyn SessionStore, id: &SessionId, now: UnixMillis) -> Result<(), String> {
    let rec = record(id, now, now + HOUR);
    store
        .save(&rec, None)
        .await
        .map_err(|e| failed("create", e))?;
    let back = store
        .load(id)
        .await
        .map_err(|e| failed("load", e))?
        .ok_or("a live record loads")?;
    check(
        back.expires_at == rec.expires_at && !back.is_expired(now),
        "a live record keeps its expiry",
    )?;
    let mut gone = back.clone();
    gone.expires_at = now.saturating_sub(1);
    store
        .save(&gone, Some(back.version))
        .await
        .map_err(|e| failed("save an expired record", e))?;
    match store.load(id).await.map_err(|e| failed("load", e))? {
        None => Ok(()),
        Some(r) => check(
            r.is_expired(now),
            "an expired record is absent or returned as expired",
        ),
    }
}

/// Creates the record the concurrent writers of run `seed` increment.
pub async fn writers_setup(
    store: &dyn SessionStore,
    now: UnixMillis,
    seed: u64,
) -> Result<SessionId, String> {
    let id = case_id(seed, 50);
    store
        .save(&record(&id, now, now + HOUR), None)
        .await
        .map_err(|e| failed("create", e))?;
    Ok(id)
}

/// One writer: `increments` read-modify-compare-and-set rounds on `next_stream`, each retried on
/// conflict (at most 1,000 conflicts in all). Returns the conflicts it retried.
pub async fn writer(
    store: &dyn SessionStore,
    id: &SessionId,
    increments: u64,
) -> Result<u64, String> {
    let mut conflicts = 0u64;
    for _ in 0..increments {
        loop {
            let mut cur = store
                .load(id)
                .await
                .map_err(|e| failed("load", e))?
                .ok_or("the writers' record disappeared")?;
            cur.next_stream += 1;
            match store.save(&cur, Some(cur.version)).await {
                Ok(_) => break,
                Err(StoreError::Conflict) => {
                    conflicts += 1;
                    check(
                        conflicts < 1000,
                        "a writer makes progress within 1,000 conflicts",
                    )?;
                }
                Err(e) => return Err(failed("save", e)),
            }
        }
    }
    Ok(conflicts)
}

/// Every increment of `total` landed exactly once: no lost update, no double write.
pub async fn writers_check(
    store: &dyn SessionStore,
    id: &SessionId,
    total: u64,
) -> Result<(), String> {
    let last = store
        .load(id)
        .await
        .map_err(|e| failed("load", e))?
        .ok_or("the writers' record disappeared")?;
    check(
        last.next_stream == 1 + total && last.version == 1 + total,
        &format!(
            "{total} concurrent increments all land (found next_stream {}, version {})",
            last.next_stream, last.version
        ),
    )
}

/// `writers` concurrent [`writer`]s of `increments` each, then [`writers_check`]. Returns the
/// conflicts retried.
pub async fn concurrent_writers(
    store: &dyn SessionStore,
    writers: u64,
    increments: u64,
    now: UnixMillis,
    seed: u64,
) -> Result<u64, String> {
    let id = writers_setup(store, now, seed).await?;
    let results = join_all((0..writers).map(|_| writer(store, &id, increments))).await;
    let mut conflicts = 0;
    for r in results {
        conflicts += r?;
    }
    writers_check(store, &id, writers * increments).await?;
    Ok(conflicts)
}

/// Every session-store case, then 8 concurrent writers of 10 increments. Returns the conflicts the
/// writers retried.
pub async fn run_all(store: &dyn SessionStore, now: UnixMillis, seed: u64) -> Result<u64, String> {
    for name in CASES {
        run_case(store, name, now, seed)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
    }
    concurrent_writers(store, 8, 10, now, seed)
        .await
        .map_err(|e| format!("concurrent_writers: {e}"))
}

/// Runs the outbox case `name` (one of [`OUTBOX_CASES`]).
pub async fn run_outbox_case(
    outbox: &dyn Outbox,
    name: &str,
    now: UnixMillis,
    seed: u64,
) -> Result<(), String> {
    let id = case_id(
        seed,
        100 + OUTBOX_CASES.iter().position(|c| *c == name).unwrap_or(99) as u64,
    );
    match name {
        "outbox_order" => outbox_order(outbox, &id, now).await,
        "outbox_concurrent_appends" => outbox_concurrent_appends(outbox, &id, now).await,
        other => Err(format!("no outbox case {other}")),
    }
}

fn texts(read: &[(u64, String)]) -> Vec<(u64, &str)> {
    read.iter().map(|(p, m)| (*p, m.as_str())).collect()
}

/// Messages come back in append order with positions 1, 2, …; reading from a position skips what
/// came before; positions are never reused; a cleared outbox is empty.
async fn outbox_order(outbox: &dyn Outbox, id: &SessionId, now: UnixMillis) -> Result<(), String> {
    let read = |after| outbox.read(id, after);
    check(
        read(0).await.map_err(|e| failed("read", e))?.is_empty(),
        "an unknown outbox is empty",
    )?;
    let first = ["a".to_owned(), "b".to_owned()];
    outbox
        .append(id, &first, now + HOUR)
        .await
        .map_err(|e| failed("append", e))?;
    outbox
        .append(id, &["c".to_owned()], now + HOUR)
        .await
        .map_err(|e| failed("append", e))?;
    let all = read(0).await.map_err(|e| failed("read", e))?;
    check(
        texts(&all) == [(1, "a"), (2, "b"), (3, "c")],
        &format!("messages come back in append order with positions 1.. (got {all:?})"),
    )?;
    let rest = read(2).await.map_err(|e| failed("read", e))?;
    check(
        texts(&rest) == [(3, "c")],
        "reading after a position skips what came before",
    )?;
    check(
        read(3).await.map_err(|e| failed("read", e))?.is_empty(),
        "nothing follows the last position",
    )?;
    outbox
        .append(id, &["d".to_owned()], now + HOUR)
        .await
        .map_err(|e| failed("append", e))?;
    let next = read(3).await.map_err(|e| failed("read", e))?;
    check(texts(&next) == [(4, "d")], "positions are never reused")?;
    outbox.clear(id).await.map_err(|e| failed("clear", e))?;
    check(
        read(0).await.map_err(|e| failed("read", e))?.is_empty(),
        "a cleared outbox is empty",
    )?;
    outbox
        .clear(id)
        .await
        .map_err(|e| failed("clearing an absent outbox", e))
}

/// 16 concurrent appends (as from 16 execution environments) all land, each message exactly once,
/// with distinct consecutive positions, and none of them fails.
async fn outbox_concurrent_appends(
    outbox: &dyn Outbox,
    id: &SessionId,
    now: UnixMillis,
) -> Result<(), String> {
    const WRITERS: usize = 16;
    let batches: Vec<[String; 1]> = (0..WRITERS).map(|i| [format!("m{i}")]).collect();
    let results = join_all(batches.iter().map(|b| outbox.append(id, b, now + HOUR))).await;
    for r in results {
        r.map_err(|e| failed("a concurrent append", e))?;
    }
    let mut got = Vec::new();
    let mut after = 0;
    for _ in 0..WRITERS {
        let read = outbox
            .read(id, after)
            .await
            .map_err(|e| failed("read", e))?;
        let Some((last, _)) = read.last() else { break };
        after = *last;
        got.extend(read);
    }
    let positions: Vec<u64> = got.iter().map(|(p, _)| *p).collect();
    check(
        positions == (1..=WRITERS as u64).collect::<Vec<_>>(),
        &format!("{WRITERS} concurrent appends get positions 1..={WRITERS} (got {positions:?})"),
    )?;
    let mut messages: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
    messages.sort_unstable();
    let mut expected: Vec<String> = (0..WRITERS).map(|i| format!("m{i}")).collect();
    expected.sort_unstable();
    check(
        messages == expected,
        "every concurrent append lands exactly once",
    )?;
    outbox.clear(id).await.map_err(|e| failed("clear", e))
}

/// Two writers over one backend (two replicas or execution environments) append to one session's
/// outbox at once, 8 messages each: all 16 land and none fails; reading from position 10 through
/// the other drops what came before it and returns the rest unchanged. Returns the session id, its
/// outbox left holding positions 11 to 16, for the backend's own checks.
pub async fn shared_outbox(
    a: &dyn Outbox,
    b: &dyn Outbox,
    now: UnixMillis,
    seed: u64,
) -> Result<SessionId, String> {
    let id = case_id(seed, 7);
    let batches: Vec<[String; 1]> = (0..16).map(|i| [format!("m{i}")]).collect();
    let appends = batches.iter().enumerate().map(|(i, batch)| {
        let ob = if i % 2 == 0 { a } else { b };
        ob.append(&id, batch, now + HOUR)
    });
    for r in join_all(appends).await {
        r.map_err(|e| failed("a concurrent append", e))?;
    }
    let first = a.read(&id, 0).await.map_err(|e| failed("read", e))?;
    check(
        first.len() == 16,
        &format!("16 concurrent appends from two writers all land (got {first:?})"),
    )?;
    let rest = b.read(&id, 10).await.map_err(|e| failed("read", e))?;
    check(
        rest == first[10..],
        "reading from a position through the other writer returns what follows it",
    )?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::MemoryOutbox;
    use crate::session::MemorySessionStore;
    use futures::executor::block_on;

    #[test]
    fn the_memory_store_keeps_the_contract() {
        let store = MemorySessionStore::new();
        let conflicts = block_on(run_all(&store, 1_700_000_000_000, 1)).unwrap();
        // The memory store answers at once, so its writers never interleave.
        assert_eq!(conflicts, 0);
    }

    #[test]
    fn the_memory_outbox_keeps_the_contract() {
        let outbox = MemoryOutbox::default();
        for case in OUTBOX_CASES {
            block_on(run_outbox_case(&outbox, case, 1_700_000_000_000, 1))
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        }
    }

    /// A store that forgets compare-and-set: the contract must catch it.
    struct Careless(MemorySessionStore);

    impl SessionStore for Careless {
        fn load<'a>(
            &'a self,
            id: &'a SessionId,
        ) -> crate::port::BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
            self.0.load(id)
        }
        fn save<'a>(
            &'a self,
            rec: &'a SessionRecord,
            _expected: Option<crate::session::Version>,
        ) -> crate::port::BoxFuture<'a, Result<crate::session::Version, StoreError>> {
            Box::pin(async move {
                let current = self.0.load(&rec.id).await?.map(|r| r.version);
                self.0.save(rec, current).await
            })
        }
        fn delete<'a>(
            &'a self,
            id: &'a SessionId,
        ) -> crate::port::BoxFuture<'a, Result<(), StoreError>> {
            self.0.delete(id)
        }
    }

    #[test]
    fn a_store_without_compare_and_set_breaks_the_contract() {
        let store = Careless(MemorySessionStore::new());
        let err = block_on(run_case(&store, "create", 1_000, 2)).unwrap_err();
        assert_eq!(err, "creating an existing session is a conflict");
        let err = block_on(run_case(&store, "compare_and_set", 1_000, 2)).unwrap_err();
        assert_eq!(err, "a save at a stale version is a conflict");
    }
}
