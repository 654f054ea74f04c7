//! Session lifecycle in the gateway: a new record, loading a live one (unknown, expired, another
//! identity's and credential-mismatched sessions all answer "not found"), compare-and-set updates
//! with bounded retries, and deletion (giving the session's lease back).

use serde_json::Value;

use super::{McpApp, RequestFacts};
use crate::error::McpError;
use crate::port::UnixMillis;
use crate::session::{SessionId, SessionRecord, SessionTransport};

impl McpApp {
    /// A new, unsaved session record.
    pub(crate) fn new_session(
        &self,
        transport: SessionTransport,
        version: &str,
        facts: &RequestFacts,
    ) -> SessionRecord {
        SessionRecord {
            id: facts
                .assigned_session
                .clone()
                .unwrap_or_else(|| SessionId::generate(self.ports.entropy.as_ref())),
            protocol_version: version.to_owned(),
            transport,
            client_info: None,
            client_capabilities: Value::Object(Default::default()),
            initialized: false,
            log_level: None,
            credential_fingerprint: facts.fingerprint.clone(),
            owner: Some(facts.caller.owner.clone()),
            created_at: facts.now,
            last_seen: facts.now,
            expires_at: facts.now.saturating_add(self.config.session_ttl_ms),
            version: 0,
            next_stream: 1,
            events: Vec::new(),
            caller: None,
            lease_until: None,
            resource_subscriptions: Vec::new(),
        }
    }

    /// Deletes a session and gives its lease back.
    pub(crate) async fn end_session(&self, rec: &SessionRecord) -> Result<(), McpError> {
        self.ports.store.delete(&rec.id).await?;
        self.metrics.session_closed();
        self.close_session_lease(rec).await;
        Ok(())
    }

    /// Loads a live session by id text; unknown, expired, credential-mismatched sessions and sessions
    /// owned by another identity are all "not found" (the same answer, so a probe learns nothing).
    pub(crate) async fn load_session(
        &self,
        id_text: &str,
        facts: &RequestFacts,
    ) -> Result<SessionRecord, McpError> {
        let id = SessionId::parse(id_text.trim()).ok_or(McpError::SessionNotFound)?;
        let rec = self
            .ports
            .store
            .load(&id)
            .await?
            .ok_or(McpError::SessionNotFound)?;
        if rec.is_expired(facts.now) {
            self.end_session(&rec).await?;
            return Err(McpError::SessionNotFound);
        }
        if !facts.caller.may_use(
            rec.owner.as_deref(),
            rec.credential_fingerprint.as_deref(),
            facts.fingerprint.as_deref(),
        ) {
            return Err(McpError::SessionNotFound);
        }
        Ok(rec)
    }

    /// Applies `change` to the session and saves it with compare-and-set, reloading and re-applying on
    /// a lost race (bounded). When `change` reports no change, the write happens only if the expiry
    /// refresh is due, which keeps idle-refresh writes rare.
    pub(crate) async fn update_session(
        &self,
        mut rec: SessionRecord,
        now: UnixMillis,
        change: impl Fn(&mut SessionRecord) -> bool,
    ) -> Result<SessionRecord, McpError> {
        for _ in 0..8 {
            let changed = change(&mut rec);
            let refresh_due =
                now.saturating_sub(rec.last_seen) >= (self.config.session_ttl_ms / 20).max(1000);
            if !changed && !refresh_due {
                return Ok(rec);
            }
            rec.last_seen = rec.last_seen.max(now);
            rec.expires_at = rec.last_seen.saturating_add(self.config.session_ttl_ms);
            self.renew_session_lease(&mut rec, now).await;
            match self.ports.store.save(&rec, Some(rec.version)).await {
                Ok(v) => {
                    rec.version = v;
                    return Ok(rec);
                }
                Err(crate::session::StoreError::Conflict) => {
                    rec = self
                        .ports
                        .store
                        .load(&rec.id)
                        .await?
                        .ok_or(McpError::SessionNotFound)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(McpError::Store("session kept changing concurrently".into()))
    }
}
