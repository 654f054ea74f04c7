//! Quota lease bookkeeping of the gateway: the sessions-per-caller quota (sessions of every
//! transport, and sessions a platform keeps itself such as bridged stdio sessions) and the
//! streams-per-session quota, kept in [`LeaseLedger`]s (process memory by default, a shared store on
//! serverless platforms). The decisions are the ledger's ([`crate::quota::LeaseSet::apply`]); this
//! module says when a lease is taken, renewed and given back, and what a full quota, a full bucket
//! or a contended store answers (the meaning of each port's answer is [`counting`]'s).

use std::sync::Arc;

use super::{counting, McpApp};
use crate::auth::Caller;
use crate::error::McpError;
use crate::port::UnixMillis;
use crate::quota::{LeaseChange, LeaseLedger};
use crate::ratelimit::RateLimit;
use crate::session::{SessionId, SessionRecord};

impl McpApp {
    /// How far a session lease reaches past the session's expiry, so that expiry refreshes between
    /// two lease renewals never outlive the lease.
    pub(crate) fn lease_margin(&self) -> u64 {
        (self.config.session_ttl_ms / 10).max(1000)
    }

    /// Takes the caller's lease for a new session when sessions per caller are limited; records the
    /// caller in the session so the lease can be renewed and given back.
    pub(crate) async fn open_session_lease(
        &self,
        rec: &mut SessionRecord,
        caller: &Caller,
        now: UnixMillis,
    ) -> Result<(), McpError> {
        let Some(max) = self.config.max_sessions_per_caller else {
            return Ok(());
        };
        let until = rec.expires_at.saturating_add(self.lease_margin());
        let change = LeaseChange::Open {
            id: rec.id.to_string(),
            until,
            max,
        };
        rec.caller = Some(caller.name.clone());
        rec.lease_until = Some(until);
        self.take_session_lease(&caller.name, &change, max, now)
            .await
    }

    /// Takes a lease from the caller's session quota (sessions of every transport count).
    pub(crate) async fn take_session_lease(
        &self,
        caller: &str,
        change: &LeaseChange,
        max: u32,
        now: UnixMillis,
    ) -> Result<(), McpError> {
        let key = crate::quota::sessions_key(caller);
        self.take_lease(&self.session_leases, &key, change, now, |held| {
            format!(
                "caller {caller} has {held} open sessions (limit {max}); end one (DELETE, or close its stream or socket) or let one expire"
            )
        })
        .await
    }

    /// Counts a session the platform keeps itself (a bridged stdio session) against the caller's
    /// session quota, until [`McpApp::close_caller_session`]. `Ok(false)`: no quota is configured.
    pub async fn open_caller_session(&self, caller: &Caller, id: &str) -> Result<bool, McpError> {
        let Some(max) = self.config.max_sessions_per_caller else {
            return Ok(false);
        };
        let change = LeaseChange::Open {
            id: id.to_owned(),
            until: UnixMillis::MAX,
            max,
        };
        self.take_session_lease(&caller.name, &change, max, self.ports.clock.now())
            .await?;
        Ok(true)
    }

    /// Gives back the place of a session opened with [`McpApp::open_caller_session`].
    pub async fn close_caller_session(&self, caller: &str, id: &str) {
        self.close_lease(true, &crate::quota::sessions_key(caller), id)
            .await;
    }

    /// Gives lease `id` under `key` back; a failing ledger lets it lapse on its own.
    pub(crate) async fn close_lease(&self, sessions: bool, key: &str, id: &str) {
        let ledger = if sessions {
            &self.session_leases
        } else {
            &self.stream_leases
        };
        let change = LeaseChange::Close { id: id.to_owned() };
        let _ = ledger.apply(key, &change, self.ports.clock.now()).await;
    }

    /// Applies a lease change: a full set refuses with [`McpError::QuotaExceeded`] (`describe` names
    /// what is full from the number held), a contended one asks for a retry; what a failing ledger
    /// means is decided in [`counting`].
    pub(crate) async fn take_lease(
        &self,
        ledger: &Arc<dyn LeaseLedger>,
        key: &str,
        change: &LeaseChange,
        now: UnixMillis,
        describe: impl FnOnce(usize) -> String,
    ) -> Result<(), McpError> {
        let verdict = counting::lease_verdict(ledger.apply(key, change, now).await);
        self.refusal(verdict, |held| describe(held.unwrap_or(0)))
    }

    /// Takes one token from bucket `key` (refusals as for [`McpApp::take_lease`]).
    pub(crate) async fn take_tokens(
        &self,
        key: &str,
        limit: RateLimit,
        now: UnixMillis,
    ) -> Result<(), McpError> {
        let verdict = counting::rate_verdict(self.limiter.take(key, limit, 1, now).await);
        self.refusal(verdict, |_| String::new())
    }

    /// A counting port's verdict as the error that refuses the request (a full lease set is counted
    /// in the metrics here; the request rate limit is counted where it refuses a whole request).
    fn refusal(
        &self,
        verdict: counting::Verdict,
        describe: impl FnOnce(Option<usize>) -> String,
    ) -> Result<(), McpError> {
        match verdict {
            counting::Verdict::Admit => Ok(()),
            counting::Verdict::Full {
                held: Some(held),
                retry_after_ms,
            } => {
                self.metrics.count_request("quota_exceeded", 429);
                Err(McpError::QuotaExceeded(
                    describe(Some(held)),
                    retry_after_ms,
                ))
            }
            counting::Verdict::Full {
                held: None,
                retry_after_ms,
            } => Err(McpError::RateLimited(retry_after_ms.unwrap_or(60_000))),
            counting::Verdict::Busy => Err(McpError::RateLimited(counting::CONTENDED_RETRY_MS)),
        }
    }

    /// Gives a session's lease back (the session ended).
    pub(crate) async fn close_session_lease(&self, rec: &SessionRecord) {
        if let (Some(_), Some(caller)) = (self.config.max_sessions_per_caller, &rec.caller) {
            let key = crate::quota::sessions_key(caller);
            self.close_lease(true, &key, rec.id.as_str()).await;
        }
    }

    /// Takes a lease for a new `GET` stream of `session` when streams per session are limited: the
    /// lease token for the [`crate::transport::StreamHold`].
    pub(crate) async fn open_stream_lease(
        &self,
        session: &SessionId,
        now: UnixMillis,
    ) -> Result<Option<String>, McpError> {
        let Some(max) = self.config.max_streams_per_session else {
            return Ok(None);
        };
        let mut raw = [0u8; 8];
        self.ports.entropy.fill(&mut raw);
        let token = hex::encode(raw);
        let until = self
            .config
            .stream_lease_ms
            .map_or(UnixMillis::MAX, |ms| now.saturating_add(ms));
        let change = LeaseChange::Open {
            id: token.clone(),
            until,
            max,
        };
        self.take_lease(
            &self.stream_leases,
            &crate::quota::streams_key(session.as_str()),
            &change,
            now,
            |held| format!("session has {held} open streams (limit {max}); close one first"),
        )
        .await?;
        Ok(Some(token))
    }

    /// Gives a stream's lease back.
    pub(crate) async fn close_stream_lease(&self, session: &SessionId, token: Option<&str>) {
        if let Some(token) = token {
            let key = crate::quota::streams_key(session.as_str());
            self.close_lease(false, &key, token).await;
        }
    }

    /// Platforms call this when a held stream ends: gives its lease back, and ends a legacy session
    /// (whose lifetime is its `/sse` stream).
    pub async fn stream_closed(&self, hold: &crate::transport::StreamHold) {
        self.close_stream_lease(&hold.session, hold.lease.as_deref())
            .await;
        if hold.channel == crate::transport::StreamChannel::Legacy {
            self.legacy_stream_closed(&hold.session).await;
        }
    }

    /// Extends the session's lease once its expiry has moved past it (about once per tenth of the
    /// TTL of activity); the new end is recorded in the session only when the ledger took it.
    pub(super) async fn renew_session_lease(&self, rec: &mut SessionRecord, now: UnixMillis) {
        let (Some(_), Some(caller)) = (self.config.max_sessions_per_caller, &rec.caller) else {
            return;
        };
        if rec.lease_until.is_some_and(|u| u >= rec.expires_at) {
            return;
        }
        let until = rec.expires_at.saturating_add(self.lease_margin());
        let change = LeaseChange::Renew {
            id: rec.id.to_string(),
            until,
        };
        let key = crate::quota::sessions_key(caller);
        if self.session_leases.apply(&key, &change, now).await.is_ok() {
            rec.lease_until = Some(until);
        }
    }
}
