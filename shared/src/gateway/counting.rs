//! What the gateway does with the answers of its counting ports (rate-limit buckets and quota
//! leases), written once for every platform. Adapters report what happened as values
//! ([`LimitError`], [`LeaseError`]); only this module decides whether a request goes through when a
//! backend could not answer: a failing backend lets it through (availability over exactness: a
//! counter that cannot be read must not take the whole gateway down), and a bucket or lease set that
//! kept changing under concurrent writers asks the caller to retry shortly (exactness under a burst,
//! which is when the limit matters). Session storage is not a counting port: a failing
//! [`crate::session::SessionStore`] fails the request (503), since a session cannot be served from a
//! record that cannot be read or written.

use crate::quota::LeaseError;
use crate::ratelimit::LimitError;

/// Retry-after for a caller whose bucket or lease set kept changing under concurrent writers.
pub const CONTENDED_RETRY_MS: u64 = 250;

/// A counting port's answer as the gateway acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The request goes through.
    Admit,
    /// The limit is reached: `held` things are counted (leases only); retry in `retry_after_ms`.
    Full {
        held: Option<usize>,
        retry_after_ms: Option<u64>,
    },
    /// The backend kept losing races: retry in [`CONTENDED_RETRY_MS`].
    Busy,
}

/// The one place a backend failure of a counting port becomes a decision.
fn undecided(backend_failed: bool) -> Verdict {
    if backend_failed {
        Verdict::Admit
    } else {
        Verdict::Busy
    }
}

/// The rate limiter's answer as the gateway acts on it.
pub(crate) fn rate_verdict(answer: Result<(), LimitError>) -> Verdict {
    match answer {
        Ok(()) => Verdict::Admit,
        Err(LimitError::Empty { retry_after_ms }) => Verdict::Full {
            held: None,
            retry_after_ms: Some(retry_after_ms),
        },
        Err(LimitError::Contended) => undecided(false),
        Err(LimitError::Backend(_)) => undecided(true),
    }
}

/// A lease ledger's answer as the gateway acts on it.
pub(crate) fn lease_verdict(answer: Result<(), LeaseError>) -> Verdict {
    match answer {
        Ok(()) => Verdict::Admit,
        Err(LeaseError::Full {
            held,
            retry_after_ms,
        }) => Verdict::Full {
            held: Some(held),
            retry_after_ms,
        },
        Err(LeaseError::Contended) => undecided(false),
        Err(LeaseError::Backend(_)) => undecided(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_backends_admit_and_contended_ones_ask_for_a_retry() {
        assert_eq!(
            rate_verdict(Err(LimitError::Backend("down".into()))),
            Verdict::Admit
        );
        assert_eq!(
            lease_verdict(Err(LeaseError::Backend("down".into()))),
            Verdict::Admit
        );
        assert_eq!(rate_verdict(Err(LimitError::Contended)), Verdict::Busy);
        assert_eq!(lease_verdict(Err(LeaseError::Contended)), Verdict::Busy);
        assert_eq!(
            rate_verdict(Err(LimitError::Empty {
                retry_after_ms: 900
            })),
            Verdict::Full {
                held: None,
                retry_after_ms: Some(900)
            }
        );
        assert_eq!(
            lease_verdict(Err(LeaseError::Full {
                held: 3,
                retry_after_ms: None
            })),
            Verdict::Full {
                held: Some(3),
                retry_after_ms: None
            }
        );
        assert_eq!(rate_verdict(Ok(())), Verdict::Admit);
    }
}
