//! Counters kept outside process memory (rate-limit buckets, quota lease sets) and the one
//! compare-and-set rule every adapter that keeps them follows: read the counter and its version,
//! let the core decide what to write next from what was read ([`take_tokens`], [`change_leases`]),
//! write it only if the version is unchanged, and on a lost race read again, at most
//! [`MAX_ATTEMPTS`] times ([`compare_and_set`]). The adapters (DynamoDB, Redis, the Worker's
//! `LimitObject`) supply only the read and the conditional write. Time comes in as `now` (from the
//! [`Clock`](crate::port::Clock) port, read by the caller); nothing here reads a clock.

use std::fmt::Display;
use std::future::Future;

use crate::port::UnixMillis;
use crate::quota::{LeaseChange, LeaseError, LeaseSet};
use crate::ratelimit::{Bucket, LimitError, RateLimit};

/// Lost races retried before giving up on one change (then [`Undecided::Contended`]).
pub const MAX_ATTEMPTS: usize = 8;

/// An idle bucket is full again within an hour for any limit of at least `burst` per hour, so a
/// backend may forget it an hour after its last take.
const BUCKET_KEEP_MS: u64 = 3_600_000;
/// A lease set is kept this long past its last lease's end.
const LEASES_GRACE_MS: u64 = 60_000;
/// A lease set is never kept for more than a day ahead (leases "until closed" included).
const LEASES_HORIZON_MS: u64 = 86_400_000;

/// What to do after reading a counter, decided by the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Next<S, T> {
    /// Nothing to write: answer `T`.
    Answer(T),
    /// Write `state` (kept by the backend until `keep_until`, epoch ms) if the counter is unchanged
    /// since the read, then answer `T`.
    Write {
        /// The new state.
        state: S,
        /// When the backend may forget the counter.
        keep_until: UnixMillis,
        /// The answer once the write has won.
        answer: T,
    },
}

/// Takes `cost` tokens from a bucket read as `state` at `now` (see [`Bucket::take`]).
pub fn take_tokens(
    state: Option<Bucket>,
    limit: RateLimit,
    cost: u32,
    now: UnixMillis,
) -> Next<Bucket, Result<(), LimitError>> {
    match Bucket::take(state, limit, cost, now) {
        Ok(bucket) => Next::Write {
            state: bucket,
            keep_until: now.saturating_add(BUCKET_KEEP_MS),
            answer: Ok(()),
        },
        Err(wait) => Next::Answer(Err(LimitError::Empty {
            retry_after_ms: wait,
        })),
    }
}

/// Applies `change` at `now` to a lease set read as `state` (see [`LeaseSet::apply`]); an unchanged
/// set is not written again. The set is kept a minute past its last lease, at most a day ahead.
pub fn change_leases(
    state: Option<LeaseSet>,
    change: &LeaseChange,
    now: UnixMillis,
) -> Next<LeaseSet, Result<(), LeaseError>> {
    let before = state.unwrap_or_default();
    let mut set = before.clone();
    if let Err(full) = set.apply(change, now) {
        return Next::Answer(Err(full));
    }
    if set == before {
        return Next::Answer(Ok(()));
    }
    let lapses = set
        .lapses_at()
        .map_or(now, |u| u.min(now.saturating_add(LEASES_HORIZON_MS)));
    Next::Write {
        state: set,
        keep_until: lapses.saturating_add(LEASES_GRACE_MS),
        answer: Ok(()),
    }
}

/// Why [`compare_and_set`] could not decide: reported by the adapter, decided by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Undecided {
    /// The counter kept changing under concurrent writers for [`MAX_ATTEMPTS`] rounds.
    #[error("counter kept changing concurrently")]
    Contended,
    /// The backend failed (its message; never a secret).
    #[error("{0}")]
    Backend(String),
}

impl From<Undecided> for LimitError {
    fn from(e: Undecided) -> Self {
        match e {
            Undecided::Contended => LimitError::Contended,
            Undecided::Backend(m) => LimitError::Backend(m),
        }
    }
}

impl From<Undecided> for LeaseError {
    fn from(e: Undecided) -> Self {
        match e {
            Undecided::Contended => LeaseError::Contended,
            Undecided::Backend(m) => LeaseError::Backend(m),
        }
    }
}

/// One counter change by compare-and-set: `read` returns the state (`None`: no counter yet) and
/// what the conditional write needs (the version read); `decide` is the core's decision
/// ([`take_tokens`], [`change_leases`]); `write` writes a state if the counter is unchanged since
/// that read and says whether it won. A lost race reads again, at most [`MAX_ATTEMPTS`] rounds; a
/// failing backend stops at once. The answer is the decision's, or the [`Undecided`] reason as the
/// port's error.
pub async fn compare_and_set<S, R, T, X, E, RF, WF>(
    read: impl Fn() -> RF,
    decide: impl Fn(Option<S>) -> Next<S, Result<T, X>>,
    write: impl Fn(R, S, UnixMillis) -> WF,
) -> Result<T, X>
where
    RF: Future<Output = Result<(Option<S>, R), E>>,
    WF: Future<Output = Result<bool, E>>,
    E: Display,
    X: From<Undecided>,
{
    let backend = |e: E| X::from(Undecided::Backend(e.to_string()));
    for _ in 0..MAX_ATTEMPTS {
        let (state, version) = read().await.map_err(backend)?;
        match decide(state) {
            Next::Answer(answer) => return answer,
            Next::Write {
                state,
                keep_until,
                answer,
            } => {
                if write(version, state, keep_until).await.map_err(backend)? {
                    return answer;
                }
            }
        }
    }
    Err(X::from(Undecided::Contended))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use std::cell::{Cell, RefCell};

    /// A versioned cell in memory whose writes lose the first `losses` races.
    struct TestCell {
        state: RefCell<(Option<LeaseSet>, u64)>,
        losses: Cell<usize>,
        writes: Cell<usize>,
    }

    impl TestCell {
        fn new(losses: usize) -> Self {
            TestCell {
                state: RefCell::new((None, 0)),
                losses: Cell::new(losses),
                writes: Cell::new(0),
            }
        }

        fn change(&self, change: &LeaseChange, now: UnixMillis) -> Result<(), LeaseError> {
            block_on(compare_and_set(
                || async {
                    let (s, v) = self.state.borrow().clone();
                    Ok::<_, String>((s, v))
                },
                |s| change_leases(s, change, now),
                |v, s, _| async move {
                    self.writes.set(self.writes.get() + 1);
                    if self.losses.get() > 0 {
                        self.losses.set(self.losses.get() - 1);
                        return Ok(false);
                    }
                    let mut cur = self.state.borrow_mut();
                    if cur.1 != v {
                        return Ok(false);
                    }
                    *cur = (Some(s), v + 1);
                    Ok(true)
                },
            ))
        }
    }

    fn open(id: &str, max: u32) -> LeaseChange {
        LeaseChange::Open {
            id: id.into(),
            until: 10_000,
            max,
        }
    }

    #[test]
    fn a_lost_race_reads_again_and_a_bounded_number_of_losses_is_contention() {
        let cell = TestCell::new(3);
        assert_eq!(cell.change(&open("a", 1), 0), Ok(()));
        assert_eq!(cell.writes.get(), 4, "three lost rounds, then one that won");
        assert!(matches!(
            cell.change(&open("b", 1), 0),
            Err(LeaseError::Full { held: 1, .. })
        ));
        assert_eq!(cell.writes.get(), 4, "a refusal writes nothing");
        assert_eq!(cell.change(&open("a", 1), 0), Ok(()), "already held");
        assert_eq!(cell.writes.get(), 4, "an unchanged set is not written");
        let busy = TestCell::new(usize::MAX);
        assert_eq!(busy.change(&open("a", 1), 0), Err(LeaseError::Contended));
        assert_eq!(busy.writes.get(), MAX_ATTEMPTS);
    }

    #[test]
    fn a_failing_backend_stops_at_once() {
        let reads = Cell::new(0);
        let out: Result<(), LimitError> = block_on(compare_and_set(
            || {
                reads.set(reads.get() + 1);
                async { Err::<(Option<Bucket>, ()), _>("GetItem: timeout") }
            },
            |s| {
                take_tokens(
                    s,
                    RateLimit {
                        per_minute: 1,
                        burst: 1,
                    },
                    1,
                    0,
                )
            },
            |_, _, _| async { Ok(true) },
        ));
        assert_eq!(out, Err(LimitError::Backend("GetItem: timeout".into())));
        assert_eq!(reads.get(), 1);
    }

    #[test]
    fn decisions_say_how_long_a_counter_is_kept() {
        let limit = RateLimit {
            per_minute: 60,
            burst: 1,
        };
        let Next::Write {
            state, keep_until, ..
        } = take_tokens(None, limit, 1, 5_000)
        else {
            panic!("a fresh bucket grants");
        };
        assert_eq!(keep_until, 5_000 + 3_600_000);
        assert!(matches!(
            take_tokens(Some(state), limit, 1, 5_000),
            Next::Answer(Err(LimitError::Empty {
                retry_after_ms: 1_000
            }))
        ));
        let Next::Write { keep_until, .. } = change_leases(None, &open("a", 2), 1_000) else {
            panic!("a new lease is written");
        };
        assert_eq!(keep_until, 10_000 + 60_000);
        let forever = LeaseChange::Open {
            id: "a".into(),
            until: UnixMillis::MAX,
            max: 2,
        };
        let Next::Write { keep_until, .. } = change_leases(None, &forever, 1_000) else {
            panic!("a new lease is written");
        };
        assert_eq!(keep_until, 1_000 + 86_400_000 + 60_000);
    }
}
