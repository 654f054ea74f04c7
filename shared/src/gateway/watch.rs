//! Resource subscriptions: 2025 `resources/subscribe` / `resources/unsubscribe` (the set kept with
//! the session record, so every session store carries it), the poll a platform runs on a session's
//! stream to notice a subscribed resource's update, and the content fingerprints a
//! `subscriptions/listen` stream compares for its `resourceSubscriptions`. One mechanism for both
//! eras: read the resource as the gateway serves it, fingerprint it, compare with the last look
//! ([`crate::subscription::content_fingerprint`]); no message bus, so a change made by any
//! instance the read can see reaches every subscriber.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::dispatch::{plain_context, str_param, Call, Outcome};
use super::streamable::SessionChanges;
use super::{McpApp, RequestFacts};
use crate::auth::Caller;
use crate::error::McpError;
use crate::session::{ResourceSubscription, SessionRecord};
use crate::subscription::{content_fingerprint, ResourceWatch, MAX_SESSION_SUBSCRIPTIONS};
use crate::tool::ResourceError;
use crate::transport::StreamHold;

/// How one watchable read of a URI went.
enum Watched {
    /// No watchable provider serves the URI.
    Unknown,
    /// Its contents (JSON), or why the read failed.
    Read(Result<Value, String>),
}

impl McpApp {
    /// Serves 2025 `resources/subscribe`: the platform polls each held session stream
    /// (`GET /mcp`, legacy `/sse`) every `poll_ms` (at least 10) with
    /// [`McpApp::session_resource_poll`]; `initialize` then advertises `resources.subscribe`.
    pub fn with_session_watch(mut self, poll_ms: u64) -> Self {
        self.session_watch_ms = Some(poll_ms.max(10));
        self
    }

    /// Interval (ms) at which the platform polls a held session stream for resource updates, when
    /// it serves resource subscriptions.
    pub fn resource_poll_ms(&self) -> Option<u64> {
        self.session_watch_ms
    }

    /// Reads `uri` through the providers whose resources may be watched (no upstream credentials
    /// needed), with `facts`.
    async fn read_watched(&self, facts: &RequestFacts, uri: &str) -> Watched {
        let call = Call {
            version: crate::protocol::LATEST_HANDSHAKE_VERSION,
            modern: false,
            facts,
            session: None,
            client_capabilities: None,
            headers: None,
            log_level: None,
        };
        let upstream = self.upstream_of(&call);
        let ctx = plain_context(&call, &upstream, self.sleeper.as_deref());
        for provider in self.registry.resources.iter().filter(|p| p.watchable()) {
            match provider.read(&ctx, uri).await {
                Ok(Some(contents)) => return Watched::Read(Ok(json!(contents))),
                Ok(None) => continue,
                Err(ResourceError::NotFound(_)) => {
                    return Watched::Read(Err("resource not found".into()))
                }
                Err(ResourceError::Failed(msg)) => return Watched::Read(Err(msg)),
            }
        }
        Watched::Unknown
    }

    /// Fingerprints of `uris` as the caller of `facts` reads them now.
    pub(crate) async fn content_fingerprints(
        &self,
        facts: &RequestFacts,
        uris: &[String],
    ) -> Vec<u64> {
        let mut out = Vec::with_capacity(uris.len());
        for uri in uris {
            let read = match self.read_watched(facts, uri).await {
                Watched::Read(r) => r,
                Watched::Unknown => Err("resource not found".into()),
            };
            out.push(content_fingerprint(&read));
        }
        out
    }

    /// Keeps the `resourceSubscriptions` of a listen filter that a watchable provider serves (the
    /// acknowledgement then names only those, as the schema asks for unsupported entries).
    pub(crate) async fn watchable_uris(
        &self,
        facts: &RequestFacts,
        uris: Vec<String>,
    ) -> Vec<String> {
        let mut kept = Vec::with_capacity(uris.len());
        for uri in uris {
            if matches!(self.read_watched(facts, &uri).await, Watched::Read(Ok(_))) {
                kept.push(uri);
            }
        }
        kept
    }

    /// `resources/subscribe` (`on`) or `resources/unsubscribe` in a 2025 session: checks the URI
    /// and hands the change to the session (the per-session bound is checked against the record,
    /// see [`SessionChanges::subscribe`]). Subscribing to a URI no provider serves is "Resource not
    /// found"; to one whose content needs the caller's upstream credentials (connector resources),
    /// invalid params; unsubscribing is idempotent.
    pub(super) async fn subscribe(
        &self,
        call: &Call<'_>,
        on: bool,
        params: Option<&Map<String, Value>>,
    ) -> Outcome {
        let uri = match str_param(params, "uri") {
            Ok(u) => u.to_owned(),
            Err(e) => return Outcome::of(Err(e)),
        };
        let mut base = None;
        if on {
            match self.read_watched(call.facts, &uri).await {
                Watched::Read(Ok(v)) => base = Some(content_fingerprint(&Ok(v))),
                Watched::Read(Err(_)) => return Outcome::of(Err(McpError::ResourceNotFound(uri))),
                Watched::Unknown => {
                    // Served at all (with the caller's credentials, as resources/read would)?
                    let upstream = self.upstream_of(call);
                    let ctx = plain_context(call, &upstream, self.sleeper.as_deref());
                    for provider in self.registry.resources.iter().filter(|p| !p.watchable()) {
                        if let Ok(Some(_)) = provider.read(&ctx, &uri).await {
                            return Outcome::of(Err(McpError::InvalidParams(format!(
                                "Invalid params: resource '{uri}' cannot be subscribed to: its content needs upstream credentials, which the gateway does not keep to watch it"
                            ))));
                        }
                    }
                    return Outcome::of(Err(McpError::ResourceNotFound(uri)));
                }
            }
        }
        Outcome {
            subscription: Some((uri, base)),
            ..Outcome::of(Ok(json!({})))
        }
    }

    /// One look for a held session stream (`GET /mcp` or the legacy `/sse`): reads the session's
    /// subscriptions from its record and each subscribed resource, and answers
    /// `notifications/resources/updated` for those whose content changed since `watch`'s last look.
    /// A missing or failing record answers nothing (the stream's other sources notice a gone
    /// session).
    pub async fn session_resource_poll(
        &self,
        hold: &StreamHold,
        watch: &mut ResourceWatch,
    ) -> Vec<Bytes> {
        let rec = match self.ports.store.load(&hold.session).await {
            Ok(Some(rec)) if !rec.is_expired(self.now()) => rec,
            _ => return Vec::new(),
        };
        if rec.resource_subscriptions.is_empty() {
            return watch.observe(Vec::new());
        }
        // No request headers here: only watchable providers (no credentials needed) are read.
        let caller = Caller::anonymous(rec.caller.clone().unwrap_or_default());
        let facts = self.facts(&http::HeaderMap::new(), caller);
        let uris: Vec<String> = rec
            .resource_subscriptions
            .iter()
            .map(|s| s.uri.clone())
            .collect();
        let fingerprints = self.content_fingerprints(&facts, &uris).await;
        watch.observe(
            rec.resource_subscriptions
                .into_iter()
                .zip(fingerprints)
                .map(|(s, now)| (s.uri, s.base, now))
                .collect(),
        )
    }
}

impl SessionChanges {
    /// Records a `resources/subscribe` (`base`: the content fingerprint now) or
    /// `resources/unsubscribe` (`None`) of `uri` for the session `rec` (with this batch's earlier
    /// changes applied): over [`MAX_SESSION_SUBSCRIPTIONS`] distinct URIs, invalid params naming
    /// the bound.
    pub(crate) fn subscribe(
        &mut self,
        rec: &SessionRecord,
        uri: String,
        base: Option<u64>,
    ) -> Result<(), McpError> {
        let mut now = rec.clone();
        self.apply_subscriptions(&mut now);
        if base.is_some()
            && !now.resource_subscriptions.iter().any(|s| s.uri == uri)
            && now.resource_subscriptions.len() >= MAX_SESSION_SUBSCRIPTIONS
        {
            return Err(McpError::InvalidParams(format!(
                "Invalid params: this session already has {MAX_SESSION_SUBSCRIPTIONS} resource subscriptions (the limit); unsubscribe from one first"
            )));
        }
        self.subscriptions.push((uri, base));
        Ok(())
    }

    /// Applies the recorded subscription changes to `rec` (never past the bound, should a
    /// concurrent request have filled it meanwhile); whether anything changed.
    pub(crate) fn apply_subscriptions(&self, rec: &mut SessionRecord) -> bool {
        let mut changed = false;
        for (uri, base) in &self.subscriptions {
            let held = rec
                .resource_subscriptions
                .iter()
                .position(|s| &s.uri == uri);
            match (base, held) {
                (Some(base), None)
                    if rec.resource_subscriptions.len() < MAX_SESSION_SUBSCRIPTIONS =>
                {
                    rec.resource_subscriptions.push(ResourceSubscription {
                        uri: uri.clone(),
                        base: *base,
                    });
                    changed = true;
                }
                (None, Some(i)) => {
                    rec.resource_subscriptions.remove(i);
                    changed = true;
                }
                _ => {}
            }
        }
        changed
    }
}
