//! The gateway's side of `subscriptions/listen` (see [`crate::subscription`]): opening a listener
//! for a stateless 2026-07-28 request (filter, stream quota, acknowledgement), and each poll's look
//! at the lists the caller sees. Platforms that hold the stream opt in with
//! [`McpApp::with_listen`]; elsewhere the method stays unknown (404, -32601) and `server/discover`
//! advertises no `listChanged`.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::dispatch::Call;
use super::{McpApp, RequestFacts};
use crate::auth::Caller;
use crate::error::McpError;
use crate::protocol;
use crate::quota::LeaseChange;
use crate::subscription::{
    fingerprint, ChangeCounters, Digest, Filter, ListEpochs, ListKind, ListenHold, ListenLease,
    Listener,
};
use crate::transport::hold::HeldStream;
use crate::transport::Reply;

/// One page of a list for the given cursor params.
type ListPage<'a> = dyn Fn(Option<&Map<String, Value>>) -> Result<Value, McpError> + 'a;

/// How long a listen stream's quota place lasts unless renewed: ten keep-alive intervals, at least
/// 5 s and at most 5 minutes. The holder renews it on its polls once half of it has passed (one
/// ledger write per half-lease per stream, only with a stream quota), so a holder that vanishes
/// without closing (a Worker request context torn down, a Lambda environment frozen) frees its place
/// within one lease instead of never.
fn listen_lease_ms(keepalive_ms: u64) -> u64 {
    keepalive_ms.saturating_mul(10).clamp(5_000, 300_000)
}

/// Most pages one look reads of a list (bounded work per poll).
const MAX_PAGES: usize = 100;

impl McpApp {
    /// Serves `subscriptions/listen`, the platform holding each stream and calling
    /// [`McpApp::listen_poll`] every `poll_ms` (at least 10); `server/discover` then advertises
    /// `listChanged` for tools, prompts and resources.
    pub fn with_listen(mut self, poll_ms: u64) -> Self {
        self.listen_poll_ms = Some(poll_ms.max(10));
        self
    }

    /// Keeps the list change counters in `backend` (shared by every instance) instead of process
    /// memory: needed wherever a change and a listen stream run in different instances (Lambda).
    pub fn with_change_counters(self, backend: Arc<dyn ChangeCounters>) -> Self {
        self.registry.epochs.store_in(backend);
        self
    }

    /// Whether this platform holds listen streams.
    pub(crate) fn listens(&self) -> bool {
        self.listen_poll_ms.is_some()
    }

    /// Opens a listen stream for a validated 2026-07-28 request: its acknowledgement as the first
    /// frame, and the hold the platform keeps. Listen streams count against
    /// `MCP_EDGE_MAX_STREAMS_PER_SESSION` per caller (a stateless caller has no session): over it,
    /// 429.
    pub(crate) async fn listen_open(
        &self,
        headers: &http::HeaderMap,
        caller: Caller,
        version: &str,
        id: &Value,
        params: Option<&Map<String, Value>>,
    ) -> Result<Reply, McpError> {
        let Some(poll_ms) = self.listen_poll_ms else {
            return Err(McpError::MethodNotFound(crate::subscription::METHOD.into()));
        };
        let mut filter = Filter::parse(params)?;
        let facts = self.facts(headers, caller.clone());
        let tasks = self.watch_tasks(&facts, params).await?;
        let lease = self.open_listen_lease(&caller, facts.now).await?;
        let epochs = self.registry.epochs.current().await;
        let mut digest = self.listen_digest(&facts, version, epochs);
        // resourceSubscriptions: the watchable URIs, fingerprinted like the lists (gateway/watch.rs).
        filter.uris = self.watchable_uris(&facts, filter.uris).await;
        digest.contents = self.content_fingerprints(&facts, &filter.uris).await;
        let listener = Listener::new(id.clone(), filter, digest);
        let honoured = crate::gateway::tasks::acknowledged(tasks.as_ref());
        let hold = ListenHold {
            headers: headers.clone(),
            caller,
            version: version.to_owned(),
            lease,
            tasks,
            poll_ms,
            keepalive_ms: self.config.keepalive_ms,
            listener,
        };
        let mut reply = Reply::sse(vec![hold.listener.ack_with(honoured)], None);
        reply.listen = Some(Box::new(hold));
        Ok(reply)
    }

    async fn open_listen_lease(
        &self,
        caller: &Caller,
        now: u64,
    ) -> Result<Option<ListenLease>, McpError> {
        let Some(max) = self.config.max_streams_per_session else {
            return Ok(None);
        };
        let mut raw = [0u8; 8];
        self.ports.entropy.fill(&mut raw);
        let token = hex::encode(raw);
        let key = crate::quota::streams_key(&format!("listen:{}", caller.name));
        let until = now.saturating_add(listen_lease_ms(self.config.keepalive_ms));
        let change = LeaseChange::Open {
            id: token.clone(),
            until,
            max,
        };
        self.take_lease(&self.stream_leases, &key, &change, now, |held| {
            format!("caller has {held} open listen streams (limit {max}); close one first")
        })
        .await?;
        Ok(Some(ListenLease { key, token, until }))
    }

    /// Renews a listen stream's quota place once half of its lease has passed.
    async fn renew_listen_lease(&self, hold: &mut ListenHold, now: u64) {
        let length = listen_lease_ms(hold.keepalive_ms);
        let Some(lease) = &mut hold.lease else {
            return;
        };
        if lease.until.saturating_sub(now) > length / 2 {
            return;
        }
        let until = now.saturating_add(length);
        let change = LeaseChange::Renew {
            id: lease.token.clone(),
            until,
        };
        if self
            .stream_leases
            .apply(&lease.key, &change, now)
            .await
            .is_ok()
        {
            lease.until = until;
        }
    }

    /// The lists the caller of `facts` sees, fingerprinted (every page, up to [`MAX_PAGES`]).
    fn listen_digest(&self, facts: &RequestFacts, version: &str, epochs: [u64; 4]) -> Digest {
        let call = Call {
            version,
            modern: true,
            facts,
            session: None,
            client_capabilities: None,
            headers: None,
            log_level: None,
        };
        let all = |key: &str, list: &ListPage<'_>| {
            let mut items = Vec::new();
            let mut params: Option<Map<String, Value>> = None;
            for _ in 0..MAX_PAGES {
                match list(params.as_ref()) {
                    Ok(page) => {
                        if let Some(Value::Array(a)) = page.get(key) {
                            items.extend(a.iter().cloned());
                        }
                        match page.get("nextCursor") {
                            Some(c) => {
                                params = Some(Map::from_iter([("cursor".to_owned(), c.clone())]))
                            }
                            None => break,
                        }
                    }
                    Err(e) => {
                        items.push(Value::String(e.to_string()));
                        break;
                    }
                }
            }
            items
        };
        Digest {
            tools: fingerprint(
                &all("tools", &|p| {
                    self.list_tools(&call, p)
                        .map(|(rest, splice)| protocol::merge_splice(rest, Some(splice)))
                }),
                ListEpochs::of(epochs, ListKind::Tools),
            ),
            prompts: fingerprint(
                &all("prompts", &|p| self.list_prompts(p)),
                ListEpochs::of(epochs, ListKind::Prompts),
            ),
            resources: fingerprint(
                &all("resources", &|p| self.list_resources(&call, p)),
                ListEpochs::of(epochs, ListKind::Resources),
            ),
            contents: Vec::new(),
        }
    }

    /// One look at the caller's lists for a held listen stream: the notifications for what changed
    /// since the last look (a stale bridged catalog is refreshed first, so its changes show).
    pub async fn listen_poll(&self, hold: &mut ListenHold) -> Vec<Bytes> {
        let facts = self.facts(&hold.headers, hold.caller.clone());
        self.renew_listen_lease(hold, facts.now).await;
        self.refresh_bridge(facts.now).await;
        let epochs = self.registry.epochs.current().await;
        let mut now = self.listen_digest(&facts, &hold.version, epochs);
        now.contents = self
            .content_fingerprints(&facts, hold.listener.uris())
            .await;
        let mut frames = hold.listener.observe(now);
        frames.extend(self.look_at_tasks(hold, &facts).await);
        frames
    }

    /// The state machine of a held listen stream: `frames` first (the acknowledgement), then a poll
    /// every `poll_ms` and keep-alives, counted in the active-stream gauge.
    pub fn listen_stream(&self, frames: Vec<Bytes>, hold: &ListenHold) -> HeldStream {
        let now = self.now();
        self.held_stream(frames, hold.keepalive_ms)
            .polling(hold.poll_ms, now)
    }

    /// Platforms call this when a listen stream ends: gives its quota lease back.
    pub async fn listen_closed(&self, hold: &ListenHold) {
        if let Some(lease) = &hold.lease {
            self.close_lease(false, &lease.key, &lease.token).await;
        }
    }

    /// A refusal of a listen request: its JSON-RPC error with the status every 2026-07-28 error
    /// takes ([`super::modern_status`]: a full stream quota is 429, as for `GET /mcp`).
    pub(crate) fn listen_refusal(err: &McpError, id: &Value) -> Reply {
        let mut r = Reply::error(err, id);
        *r.response.status_mut() = super::modern_status(err);
        r
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use futures::executor::block_on;
    use serde_json::json;

    use super::*;
    use crate::port::{Clock, UnixMillis};
    use crate::session::MemorySessionStore;
    use crate::testing::{CountingEntropy, NoHttp};
    use crate::tool::Registry;
    use crate::transport::headers::OriginPolicy;
    use crate::transport::ReplyBody;
    use crate::{GatewayConfig, Ports};
    use http::StatusCode;

    static NOW: AtomicU64 = AtomicU64::new(1_000_000);
    struct Clock0;
    impl Clock for Clock0 {
        fn now(&self) -> UnixMillis {
            NOW.load(Ordering::SeqCst)
        }
    }
    fn app(max_streams: Option<u32>, listens: bool) -> McpApp {
        app_at(max_streams, listens, Arc::new(Clock0))
    }

    fn app_at(max_streams: Option<u32>, listens: bool, clock: Arc<dyn Clock>) -> McpApp {
        let mut registry = Registry::new();
        crate::testing::register_test_tools(&mut registry);
        let config = GatewayConfig {
            origins: OriginPolicy {
                allowed_origins: vec![],
                allowed_hosts: Some(vec![]),
            },
            max_streams_per_session: max_streams,
            ..GatewayConfig::default()
        };
        let ports = Ports {
            store: Arc::new(MemorySessionStore::new()),
            http: Arc::new(NoHttp),
            clock,
            entropy: Arc::new(CountingEntropy(AtomicU64::new(1))),
        };
        let app = McpApp::new(config, registry, ports).unwrap();
        if listens {
            app.with_listen(crate::subscription::DEFAULT_POLL_MS)
        } else {
            app
        }
    }

    fn request(method: &str, name: Option<&str>, params: Value) -> http::Request<Bytes> {
        let mut params = params;
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
        let body = json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params});
        let mut b = http::Request::builder()
            .method("POST")
            .uri("/mcp")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(n) = name {
            b = b.header("mcp-name", n);
        }
        b.body(Bytes::from(body.to_string())).unwrap()
    }

    fn listen(app: &McpApp) -> crate::transport::Reply {
        block_on(app.handle(request(
            METHOD,
            None,
            json!({"notifications": {"toolsListChanged": true}}),
        )))
    }

    fn data(frame: &Bytes) -> Value {
        let s = std::str::from_utf8(frame).unwrap();
        serde_json::from_str(s.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap()
    }

    use crate::subscription::METHOD;

    #[test]
    fn a_listen_stream_hears_a_change_once_and_gives_its_lease_back() {
        let app = app(Some(1), true);
        let mut reply = listen(&app);
        assert_eq!(reply.status(), StatusCode::OK);
        let mut hold = reply.listen.take().expect("a held listen stream");
        let ReplyBody::Sse { frames, hold: None } = reply.response.body() else {
            panic!("an SSE body without a session hold");
        };
        assert_eq!(
            data(&frames[0])["method"],
            crate::subscription::ACKNOWLEDGED
        );
        assert!(
            block_on(app.listen_poll(&mut hold)).is_empty(),
            "nothing changed yet"
        );
        // Over the caller's quota: 429, keeping the id.
        let refused = listen(&app);
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.listen.is_none());
        let trigger = block_on(app.handle(request(
            "tools/call",
            Some("test_trigger_tool_change"),
            json!({"name": "test_trigger_tool_change", "arguments": {}}),
        )));
        assert_eq!(trigger.status(), StatusCode::OK);
        let frames = block_on(app.listen_poll(&mut hold));
        assert_eq!(frames.len(), 1);
        let n = data(&frames[0]);
        assert_eq!(n["method"], "notifications/tools/list_changed");
        assert_eq!(
            n["params"]["_meta"][crate::subscription::META_SUBSCRIPTION_ID],
            9
        );
        assert!(
            block_on(app.listen_poll(&mut hold)).is_empty(),
            "reported once"
        );
        block_on(app.listen_closed(&hold));
        assert_eq!(listen(&app).status(), StatusCode::OK, "the place came back");
    }

    #[test]
    fn without_a_holder_listen_is_unknown_and_discover_promises_nothing() {
        let app = app(None, false);
        let reply = listen(&app);
        assert_eq!(reply.status(), StatusCode::NOT_FOUND);
        assert!(reply.listen.is_none());
        let discover = block_on(app.handle(request("server/discover", None, json!({}))));
        let ReplyBody::Full(body) = discover.response.body() else {
            panic!("a JSON body");
        };
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["result"]["capabilities"]["tools"]["listChanged"], false);
    }

    #[test]
    fn resource_subscriptions_hear_updates_of_the_uris_the_ack_names() {
        let app = app(None, true);
        let mut reply = block_on(app.handle(request(
            METHOD,
            None,
            json!({"notifications": {"resourceSubscriptions": ["test://watched-resource", "test://nope"]}}),
        )));
        let mut hold = reply.listen.take().expect("a held listen stream");
        let ReplyBody::Sse { frames, .. } = reply.response.body() else {
            panic!("an SSE body");
        };
        assert_eq!(
            data(&frames[0])["params"]["notifications"],
            json!({"resourceSubscriptions": ["test://watched-resource"]}),
            "only what the gateway can watch is acknowledged"
        );
        assert!(block_on(app.listen_poll(&mut hold)).is_empty());
        let update = block_on(app.handle(request(
            "tools/call",
            Some("test_update_watched_resource"),
            json!({"name": "test_update_watched_resource", "arguments": {}}),
        )));
        assert_eq!(update.status(), StatusCode::OK);
        let frames = block_on(app.listen_poll(&mut hold));
        assert_eq!(frames.len(), 1);
        let n = data(&frames[0]);
        assert_eq!(n["method"], crate::subscription::RESOURCE_UPDATED);
        assert_eq!(n["params"]["uri"], "test://watched-resource");
        assert_eq!(
            n["params"]["_meta"][crate::subscription::META_SUBSCRIPTION_ID],
            9
        );
        assert!(block_on(app.listen_poll(&mut hold)).is_empty(), "once");
    }

    struct Moving(AtomicU64);
    impl Clock for Moving {
        fn now(&self) -> UnixMillis {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_vanished_holders_place_lapses_and_a_polling_one_keeps_it() {
        let clock = Arc::new(Moving(AtomicU64::new(1_000_000)));
        let app = app_at(Some(1), true, clock.clone());
        let lease = listen_lease_ms(app.config.keepalive_ms);
        let mut first = listen(&app);
        assert_eq!(first.status(), StatusCode::OK);
        let mut hold = first.listen.take().unwrap();
        // Polled past half its lease, the stream renews its place: still full after the first end.
        clock.0.fetch_add(lease / 2 + 1, Ordering::SeqCst);
        block_on(app.listen_poll(&mut hold));
        clock.0.fetch_add(lease / 2 + 1, Ordering::SeqCst);
        assert_eq!(listen(&app).status(), StatusCode::TOO_MANY_REQUESTS);
        // Its holder vanishes without closing (no more polls): the place lapses after one lease.
        clock.0.fetch_add(lease, Ordering::SeqCst);
        assert_eq!(listen(&app).status(), StatusCode::OK);
    }
}
