//! The contract every shared [`RateLimiter`] and [`LeaseLedger`] keeps, written once and run
//! against each backend that several processes share (DynamoDB against moto, Redis against a real
//! `redis-server`; the memory ones here): two adapters over one backend stand for two replicas or
//! execution environments, and their counters are one. Concurrency comes from concurrent futures on
//! one task (real interleaving for any backend whose calls wait on I/O); a racer told
//! [`LimitError::Contended`] / [`LeaseError::Contended`] (the adapter's own bounded retries ran out)
//! tries again, bounded, as a caller would. Each check fails with the promise it broke.

use futures_util::future::join_all;

use crate::port::UnixMillis;
use crate::quota::{LeaseChange, LeaseError, LeaseLedger};
use crate::ratelimit::{LimitError, RateLimit, RateLimiter};

/// Rounds a racer tries again after a contended answer before the contract fails.
const RETRIES: usize = 50;

fn check(ok: bool, promise: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("broken promise: {promise}"))
    }
}

/// A take, tried again while contended (bounded).
async fn take(
    l: &dyn RateLimiter,
    key: &str,
    limit: RateLimit,
    now: UnixMillis,
) -> Result<(), LimitError> {
    for _ in 0..RETRIES {
        match l.take(key, limit, 1, now).await {
            Err(LimitError::Contended) => continue,
            verdict => return verdict,
        }
    }
    Err(LimitError::Contended)
}

/// Buckets through `a` and `b` are one per key: 10 alternating takes from a burst of 10 empty it
/// (60 s until the next token, as nothing refills), another key is another bucket, and 20
/// concurrent takes from a fresh burst of 10 grant exactly 10 and tell exactly 10 it is empty.
pub async fn shared_buckets(
    a: &dyn RateLimiter,
    b: &dyn RateLimiter,
    now: UnixMillis,
) -> Result<(), String> {
    let limit = RateLimit {
        per_minute: 0,
        burst: 10,
    };
    for i in 0..10 {
        let l = if i % 2 == 0 { a } else { b };
        let got = take(l, "req:seq", limit, now).await;
        check(
            got == Ok(()),
            &format!("take {i} of a burst of 10 is granted (got {got:?})"),
        )?;
    }
    let got = take(a, "req:seq", limit, now).await;
    check(
        got == Err(LimitError::Empty {
            retry_after_ms: 60_000,
        }),
        &format!("the shared bucket is empty (got {got:?})"),
    )?;
    check(
        take(b, "req:other", limit, now).await == Ok(()),
        "buckets are per key",
    )?;
    let racers = (0..20).map(|i| take(if i % 2 == 0 { a } else { b }, "req:race", limit, now));
    let (mut granted, mut empty) = (0, 0);
    for verdict in join_all(racers).await {
        match verdict {
            Ok(()) => granted += 1,
            Err(LimitError::Empty {
                retry_after_ms: 60_000,
            }) => empty += 1,
            other => return Err(format!("a racing take got {other:?}")),
        }
    }
    check(
        (granted, empty) == (10, 10),
        &format!(
            "20 concurrent takes from a burst of 10: 10 granted, 10 empty (got {granted}, {empty})"
        ),
    )
}

/// Lease sets through `a` and `b` are one per key: the other side's lease counts, a closed or
/// lapsed lease frees its place, and 20 racers for 5 places: exactly 5 win. Returns the rounds the
/// racers lost to contention (for the log).
pub async fn shared_leases(
    a: &dyn LeaseLedger,
    b: &dyn LeaseLedger,
    now: UnixMillis,
) -> Result<u64, String> {
    let open = |id: &str, until: u64| LeaseChange::Open {
        id: id.into(),
        until,
        max: 2,
    };
    let step = |what: &str, got: Result<(), LeaseError>| -> Result<(), String> {
        check(got.is_ok(), &format!("{what} (got {got:?})"))
    };
    step(
        "a first lease",
        a.apply("sessions:alice", &open("s1", now + 60_000), now)
            .await,
    )?;
    step(
        "a second lease from the other side",
        b.apply("sessions:alice", &open("s2", now + 5_000), now)
            .await,
    )?;
    let got = a
        .apply("sessions:alice", &open("s3", now + 60_000), now)
        .await;
    check(
        got == Err(LeaseError::Full {
            held: 2,
            retry_after_ms: Some(5_000),
        }),
        &format!("the other side's lease counts (got {got:?})"),
    )?;
    step(
        "sets are per key",
        b.apply("sessions:bob", &open("s3", now + 60_000), now)
            .await,
    )?;
    step(
        "closing a lease",
        a.apply(
            "sessions:alice",
            &LeaseChange::Close { id: "s1".into() },
            now,
        )
        .await,
    )?;
    step(
        "a closed lease frees its place",
        b.apply("sessions:alice", &open("s3", now + 60_000), now)
            .await,
    )?;
    step(
        "a lapsed lease frees its place",
        a.apply("sessions:alice", &open("s4", now + 60_000), now + 5_000)
            .await,
    )?;
    let racers = (0..20).map(|i| async move {
        let l = if i % 2 == 0 { a } else { b };
        let change = LeaseChange::Open {
            id: format!("race-{i}"),
            until: now + 60_000,
            max: 5,
        };
        let mut lost = 0;
        for _ in 0..RETRIES {
            match l.apply("sessions:race", &change, now).await {
                Err(LeaseError::Contended) => lost += 1,
                verdict => return (verdict, lost),
            }
        }
        (Err(LeaseError::Contended), lost)
    });
    let (mut granted, mut full, mut lost_rounds) = (0, 0, 0);
    for (verdict, lost) in join_all(racers).await {
        lost_rounds += lost;
        match verdict {
            Ok(()) => granted += 1,
            Err(LeaseError::Full { held: 5, .. }) => full += 1,
            other => return Err(format!("a racer got {other:?}")),
        }
    }
    check(
        (granted, full) == (5, 15),
        &format!("20 racers for 5 places: 5 win, 15 find it full (got {granted}, {full})"),
    )?;
    let late = a
        .apply("sessions:race", &open("late", now + 60_000), now)
        .await;
    check(
        matches!(late, Err(LeaseError::Full { held: 5, .. })),
        &format!("the won places stay taken (got {late:?})"),
    )?;
    Ok(lost_rounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::MemoryLeaseLedger;
    use crate::ratelimit::MemoryRateLimiter;
    use futures::executor::block_on;

    #[test]
    fn the_memory_counters_keep_the_contract_and_it_catches_a_split_one() {
        let limiter = MemoryRateLimiter::default();
        block_on(shared_buckets(&limiter, &limiter, 1_000)).unwrap();
        let ledger = MemoryLeaseLedger::default();
        assert_eq!(block_on(shared_leases(&ledger, &ledger, 1_000)), Ok(0));
        // Two separate memory limiters are not one bucket: the contract says so.
        let (x, y) = (MemoryRateLimiter::default(), MemoryRateLimiter::default());
        let err = block_on(shared_buckets(&x, &y, 1_000)).unwrap_err();
        assert!(err.contains("the shared bucket is empty"), "{err}");
    }
}
