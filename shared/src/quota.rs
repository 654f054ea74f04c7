//! Quotas on things that stay open: concurrent sessions per caller and open streams per session.
//!
//! Each counted thing holds a [`Lease`] until it ends or until the lease's time runs out, so a
//! platform that loses track of an end (an instance that dies, a table item that expires) never
//! blocks a caller for longer than the lease. [`LeaseSet::apply`] is the pure decision; the
//! [`LeaseLedger`] port keeps lease sets where the platform keeps state (process memory natively,
//! a Durable Object per caller on the Worker, a conditional-write item in DynamoDB on the Lambda).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::port::{BoxFuture, MaybeSendSync, UnixMillis};

/// One open thing: its id and the time after which it no longer counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Session id or stream token.
    pub id: String,
    /// The lease lapses at or after this time.
    pub until: UnixMillis,
}

/// A change to one lease set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LeaseChange {
    /// Takes a lease unless `max` live leases are held already (re-opening a held id only extends it).
    Open {
        /// The new lease.
        id: String,
        /// Its end.
        until: UnixMillis,
        /// Most live leases allowed.
        max: u32,
    },
    /// Extends a held lease (a lapsed or unknown one is taken again, without the limit check).
    Renew {
        /// The lease.
        id: String,
        /// Its new end.
        until: UnixMillis,
    },
    /// Gives a lease back; closing an unknown lease is not an error.
    Close {
        /// The lease.
        id: String,
    },
}

/// Why a ledger refused or failed a change (the ledger boundary's error). A backend failure is
/// reported, never decided, by the adapter: the gateway decides once what it means.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// `held` live leases exist already; the earliest lapses in `retry_after_ms` when that is known.
    #[error("{held} already open")]
    Full {
        /// Live leases.
        held: usize,
        /// Time until the first lease lapses (`None` when the leases last until closed).
        retry_after_ms: Option<u64>,
    },
    /// The set kept changing under concurrent changes until the backend's bounded retries ran out.
    #[error("lease set kept changing concurrently")]
    Contended,
    /// The backend failed; the message never contains secrets.
    #[error("lease ledger failed: {0}")]
    Backend(String),
}

/// The leases of one key (one caller's sessions, or one session's streams).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseSet {
    /// Leases, lapsed ones included until the next change.
    pub leases: Vec<Lease>,
}

impl LeaseSet {
    /// Applies `change` at `now`, dropping lapsed leases first.
    pub fn apply(&mut self, change: &LeaseChange, now: UnixMillis) -> Result<(), LeaseError> {
        self.leases.retain(|l| l.until > now);
        match change {
            LeaseChange::Open { id, until, max } => {
                if let Some(held) = self.leases.iter_mut().find(|l| &l.id == id) {
                    held.until = held.until.max(*until);
                    return Ok(());
                }
                if self.leases.len() >= *max as usize {
                    let first = self.leases.iter().map(|l| l.until).min();
                    return Err(LeaseError::Full {
                        held: self.leases.len(),
                        retry_after_ms: first
                            .filter(|u| *u != UnixMillis::MAX)
                            .map(|u| u.saturating_sub(now)),
                    });
                }
                self.leases.push(Lease {
                    id: id.clone(),
                    until: *until,
                });
            }
            LeaseChange::Renew { id, until } => {
                match self.leases.iter_mut().find(|l| &l.id == id) {
                    Some(held) => held.until = held.until.max(*until),
                    None => self.leases.push(Lease {
                        id: id.clone(),
                        until: *until,
                    }),
                }
            }
            LeaseChange::Close { id } => self.leases.retain(|l| &l.id != id),
        }
        Ok(())
    }

    /// The time after which every lease has lapsed (for a backend's expiry of the whole set).
    pub fn lapses_at(&self) -> Option<UnixMillis> {
        self.leases.iter().map(|l| l.until).max()
    }
}

/// Where lease sets live.
pub trait LeaseLedger: MaybeSendSync {
    /// Applies `change` to the set under `key` atomically.
    fn apply<'a>(
        &'a self,
        key: &'a str,
        change: &'a LeaseChange,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LeaseError>>;
}

/// Lease sets in process memory: exact for everything this process serves.
#[derive(Debug, Default)]
pub struct MemoryLeaseLedger {
    sets: Mutex<HashMap<String, LeaseSet>>,
}

impl LeaseLedger for MemoryLeaseLedger {
    fn apply<'a>(
        &'a self,
        key: &'a str,
        change: &'a LeaseChange,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LeaseError>> {
        let result = match self.sets.lock() {
            Ok(mut sets) => {
                let set = sets.entry(key.to_owned()).or_default();
                let result = set.apply(change, now);
                if set.leases.is_empty() {
                    sets.remove(key);
                }
                result
            }
            Err(_) => Err(LeaseError::Backend("lease ledger poisoned".into())),
        };
        Box::pin(async move { result })
    }
}

/// Ledger key of a caller's sessions.
pub fn sessions_key(caller: &str) -> String {
    format!("sessions:{caller}")
}

/// Ledger key of a session's streams.
pub fn streams_key(session: &str) -> String {
    format!("streams:{session}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(id: &str, until: UnixMillis, max: u32) -> LeaseChange {
        LeaseChange::Open {
            id: id.into(),
            until,
            max,
        }
    }

    #[test]
    fn open_refuses_over_the_limit_and_names_the_first_lapse() {
        let mut set = LeaseSet::default();
        set.apply(&open("a", 5_000, 2), 0).unwrap();
        set.apply(&open("b", 3_000, 2), 0).unwrap();
        assert_eq!(
            set.apply(&open("c", 9_000, 2), 1_000),
            Err(LeaseError::Full {
                held: 2,
                retry_after_ms: Some(2_000)
            })
        );
        // Re-opening a held id is not a new lease.
        set.apply(&open("a", 6_000, 2), 1_000).unwrap();
        assert_eq!(set.leases.len(), 2);
        // After b lapses, c fits.
        set.apply(&open("c", 9_000, 2), 3_000).unwrap();
        let ids: Vec<&str> = set.leases.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(set.lapses_at(), Some(9_000));
    }

    #[test]
    fn close_frees_a_place_and_unbounded_leases_have_no_retry_time() {
        let mut set = LeaseSet::default();
        set.apply(&open("s1", UnixMillis::MAX, 1), 0).unwrap();
        assert_eq!(
            set.apply(&open("s2", UnixMillis::MAX, 1), 10),
            Err(LeaseError::Full {
                held: 1,
                retry_after_ms: None
            })
        );
        set.apply(&LeaseChange::Close { id: "s1".into() }, 20)
            .unwrap();
        set.apply(&LeaseChange::Close { id: "nope".into() }, 20)
            .unwrap();
        set.apply(&open("s2", UnixMillis::MAX, 1), 30).unwrap();
    }

    #[test]
    fn renew_extends_and_retakes_a_lapsed_lease() {
        let mut set = LeaseSet::default();
        set.apply(&open("a", 1_000, 1), 0).unwrap();
        set.apply(
            &LeaseChange::Renew {
                id: "a".into(),
                until: 4_000,
            },
            500,
        )
        .unwrap();
        assert_eq!(set.leases[0].until, 4_000);
        set.apply(
            &LeaseChange::Renew {
                id: "b".into(),
                until: 8_000,
            },
            5_000,
        )
        .unwrap();
        assert_eq!(
            set.leases,
            vec![Lease {
                id: "b".into(),
                until: 8_000
            }]
        );
    }

    #[test]
    fn changes_round_trip_as_json() {
        let change = open("x", 7, 3);
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(text, r#"{"op":"open","id":"x","until":7,"max":3}"#);
        assert_eq!(serde_json::from_str::<LeaseChange>(&text).unwrap(), change);
    }

    #[test]
    fn memory_ledger_forgets_empty_sets() {
        let ledger = MemoryLeaseLedger::default();
        use futures::executor::block_on as block;
        block(ledger.apply("k", &open("a", 100, 1), 0)).unwrap();
        assert!(block(ledger.apply("k", &open("b", 100, 1), 0)).is_err());
        block(ledger.apply("k", &LeaseChange::Close { id: "a".into() }, 0)).unwrap();
        assert!(ledger.sets.lock().unwrap().is_empty());
    }
}
