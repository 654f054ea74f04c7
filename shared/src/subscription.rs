//! `subscriptions/listen` (2026-07-28, SEP-2575): the long-lived stream a stateless client opens to
//! hear that a list it sees changed. Written once here; the gateway (`gateway/listen.rs`) opens and
//! polls listeners, the platforms only hold the stream and call back on its poll schedule.
//!
//! Shape (the 2026-07-28 schema's `SubscriptionsListenRequest`, `SubscriptionFilter` and
//! `SubscriptionsAcknowledgedNotification`): the first frame is `notifications/subscriptions/
//! acknowledged` with the honoured subset of the filter; every frame carries the listen request's
//! JSON-RPC id as `_meta["io.modelcontextprotocol/subscriptionId"]`; a notification type the client
//! did not ask for is never sent. A change is noticed by comparing a [`Digest`] of the lists the
//! caller sees now with the one it saw last, so a change made anywhere the poll can see (a bridged
//! catalog refresh, a fixture trigger) reaches the stream without a message bus.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::McpError;
use crate::port::{BoxFuture, MaybeSendSync};
use crate::session::StoreError;
use crate::transport::sse::SseEvent;

/// The listen method.
pub const METHOD: &str = "subscriptions/listen";
/// The acknowledgement notification, the first frame of every listen stream.
pub const ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";
/// The `_meta` key tagging every listen-stream frame with its subscription.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Default interval (ms) between two looks at the caller's lists. A look is an in-memory walk of
/// the registry (tens of microseconds for the full tool set) plus a bridge refresh that is itself
/// throttled by the bridge's TTL; 200 ms keeps a change under a quarter second from the stream (the
/// conformance suite waits 800 ms for acknowledgement plus one change).
pub const DEFAULT_POLL_MS: u64 = 200;
/// Most resource URIs one listen request may name in `resourceSubscriptions` (bounded input).
pub const MAX_RESOURCE_SUBSCRIPTIONS: usize = 64;
/// Most URIs one 2025 session may hold `resources/subscribe`d at once: each is read on every poll
/// of the session's stream, so the bound caps that work (and the record's size).
pub const MAX_SESSION_SUBSCRIPTIONS: usize = 32;
/// The resource update notification (2025 `resources/subscribe`, 2026 `resourceSubscriptions`).
pub const RESOURCE_UPDATED: &str = "notifications/resources/updated";

/// A list a listener can hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `tools/list`.
    Tools,
    /// `prompts/list`.
    Prompts,
    /// `resources/list`.
    Resources,
    /// Not a list: the content of the fixture's changeable resource (`test://watched-resource`),
    /// which its trigger tool bumps; a resource subscription notices it by reading the resource.
    Contents,
}

/// Where list change counters live when the instance that changes a list is not the one holding a
/// listen stream (AWS Lambda: each invocation in its own execution environment).
pub trait ChangeCounters: MaybeSendSync {
    /// Adds one to `kind`'s counter.
    fn bump(&self, kind: ListKind) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The counters of tools, prompts, resources and contents, in that order.
    fn read(&self) -> BoxFuture<'_, Result<[u64; 4], StoreError>>;
}

/// Change counters of lists whose content the gateway changes without a registry rebuild (the
/// conformance fixtures `test_trigger_tool_change` / `test_trigger_prompt_change`); part of every
/// [`Digest`], so a bump reads as a change of that list. In process memory, or in a
/// [`ChangeCounters`] backend when the platform sets one.
#[derive(Default)]
pub struct ListEpochs {
    counters: [AtomicU64; 4],
    backend: OnceLock<Arc<dyn ChangeCounters>>,
}

impl std::fmt::Debug for ListEpochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListEpochs")
            .field("stored", &self.backend.get().is_some())
            .finish_non_exhaustive()
    }
}

fn slot(kind: ListKind) -> usize {
    match kind {
        ListKind::Tools => 0,
        ListKind::Prompts => 1,
        ListKind::Resources => 2,
        ListKind::Contents => 3,
    }
}

impl ListEpochs {
    /// Keeps the counters in `backend` from now on (the first one set wins).
    pub fn store_in(&self, backend: Arc<dyn ChangeCounters>) {
        let _ = self.backend.set(backend);
    }

    /// Records that `kind`'s list changed.
    pub async fn bump(&self, kind: ListKind) -> Result<(), StoreError> {
        self.counters[slot(kind)].fetch_add(1, Ordering::Relaxed);
        match self.backend.get() {
            Some(b) => b.bump(kind).await,
            None => Ok(()),
        }
    }

    /// How often each list changed so far (tools, prompts, resources, contents); the process's
    /// own count when the backend cannot be read.
    pub async fn current(&self) -> [u64; 4] {
        let local = || self.counters.each_ref().map(|c| c.load(Ordering::Relaxed));
        match self.backend.get() {
            Some(b) => b.read().await.unwrap_or_else(|_| local()),
            None => local(),
        }
    }

    /// `kind`'s counter in `counters` (as [`ListEpochs::current`] returned them).
    pub fn of(counters: [u64; 4], kind: ListKind) -> u64 {
        counters[slot(kind)]
    }
}

/// The notification types a listener asked for and the gateway honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `toolsListChanged`.
    pub tools: bool,
    /// `promptsListChanged`.
    pub prompts: bool,
    /// `resourcesListChanged`.
    pub resources: bool,
    /// `resourceSubscriptions`: the URIs to hear `notifications/resources/updated` for (the gateway
    /// keeps the ones it can watch, see [`crate::tool::ResourceProvider::watchable`]).
    pub uris: Vec<String>,
}

impl Filter {
    /// Reads `params.notifications` (required, an object of booleans and `resourceSubscriptions`,
    /// an array of at most [`MAX_RESOURCE_SUBSCRIPTIONS`] strings; duplicates count once).
    pub fn parse(params: Option<&Map<String, Value>>) -> Result<Filter, McpError> {
        let bad = |why: &str| McpError::InvalidParams(format!("Invalid params: {why}"));
        let n = params
            .and_then(|p| p.get("notifications"))
            .ok_or_else(|| bad("subscriptions/listen needs a 'notifications' filter object"))?
            .as_object()
            .ok_or_else(|| bad("'notifications' must be an object"))?;
        let flag = |key: &str| -> Result<bool, McpError> {
            match n.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(bad(&format!("'notifications.{key}' must be a boolean"))),
            }
        };
        let mut list = Vec::new();
        match n.get("resourceSubscriptions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(uris))
                if uris.len() <= MAX_RESOURCE_SUBSCRIPTIONS && uris.iter().all(Value::is_string) =>
            {
                for uri in uris.iter().filter_map(Value::as_str) {
                    if !list.iter().any(|u| u == uri) {
                        list.push(uri.to_owned());
                    }
                }
            }
            Some(_) => {
                return Err(bad(&format!(
                    "'notifications.resourceSubscriptions' must be an array of at most {MAX_RESOURCE_SUBSCRIPTIONS} URI strings"
                )))
            }
        }
        Ok(Filter {
            tools: flag("toolsListChanged")?,
            prompts: flag("promptsListChanged")?,
            resources: flag("resourcesListChanged")?,
            uris: list,
        })
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (on, key) in [
            (self.tools, "toolsListChanged"),
            (self.prompts, "promptsListChanged"),
            (self.resources, "resourcesListChanged"),
        ] {
            if on {
                m.insert(key.into(), Value::Bool(true));
            }
        }
        if !self.uris.is_empty() {
            m.insert("resourceSubscriptions".into(), json!(self.uris));
        }
        Value::Object(m)
    }
}

/// Fingerprints of the lists one caller sees at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    /// Of `tools/list`.
    pub tools: u64,
    /// Of `prompts/list`.
    pub prompts: u64,
    /// Of `resources/list`.
    pub resources: u64,
    /// Of each subscribed resource's contents, in the filter's URI order (see
    /// [`content_fingerprint`]).
    pub contents: Vec<u64>,
}

/// A fingerprint of a list (its JSON) and the list's change counter.
pub fn fingerprint(items: &[Value], epoch: u64) -> u64 {
    let mut h = DefaultHasher::new();
    epoch.hash(&mut h);
    for item in items {
        item.to_string().hash(&mut h);
    }
    h.finish()
}

/// A fingerprint of one resource read: its contents (JSON) or why it could not be read, so a
/// resource that disappears or starts failing also reads as updated.
pub fn content_fingerprint(read: &Result<Value, String>) -> u64 {
    let mut h = DefaultHasher::new();
    match read {
        Ok(v) => v.to_string().hash(&mut h),
        Err(e) => e.hash(&mut h),
    }
    h.finish()
}

/// The frame of `notifications/resources/updated` for `uri`, with `meta` (the listen stream's
/// subscription id) when given.
pub fn updated_frame(uri: &str, meta: Option<Value>) -> Bytes {
    let mut params = json!({ "uri": uri });
    if let Some(m) = meta {
        params["_meta"] = m;
    }
    frame(&json!({"jsonrpc": "2.0", "method": RESOURCE_UPDATED, "params": params}))
}

/// What a 2025 session's stream last saw of the resources its session subscribed to: the poll
/// reports a URI whose fingerprint moved since (since the subscription, on the stream's first look
/// at it).
#[derive(Debug, Clone, Default)]
pub struct ResourceWatch {
    seen: Vec<(String, u64)>,
}

impl ResourceWatch {
    /// The frames for subscribed URIs whose fingerprint moved since the last look, given `now`:
    /// the session's current subscriptions as (URI, fingerprint at subscription, fingerprint now).
    /// A URI no longer subscribed is forgotten.
    pub fn observe(&mut self, now: Vec<(String, u64, u64)>) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut seen = Vec::with_capacity(now.len());
        for (uri, base, fp) in now {
            let before = self
                .seen
                .iter()
                .find(|(u, _)| *u == uri)
                .map_or(base, |(_, f)| *f);
            if before != fp {
                out.push(updated_frame(&uri, None));
            }
            seen.push((uri, fp));
        }
        self.seen = seen;
        out
    }
}

/// One open listen stream: its subscription id, what it asked for, and what it saw last.
#[derive(Debug, Clone)]
pub struct Listener {
    id: Value,
    filter: Filter,
    last: Digest,
}

fn frame(body: &Value) -> Bytes {
    SseEvent::message(None, body.to_string()).encode()
}

impl Listener {
    /// A listener for the request `id` with `filter`, whose lists look like `now`.
    pub fn new(id: Value, filter: Filter, now: Digest) -> Self {
        Listener {
            id,
            filter,
            last: now,
        }
    }

    /// The subscription id (the listen request's JSON-RPC id).
    pub fn id(&self) -> &Value {
        &self.id
    }

    fn meta(&self) -> Value {
        json!({ META_SUBSCRIPTION_ID: self.id })
    }

    /// The acknowledgement, the stream's first frame.
    pub fn ack(&self) -> Bytes {
        self.ack_with(Map::new())
    }

    /// The acknowledgement with more honoured filter entries (e.g. the Tasks extension's
    /// `taskIds`).
    pub fn ack_with(&self, extra: Map<String, Value>) -> Bytes {
        let mut honoured = self.filter.to_json();
        if let Value::Object(m) = &mut honoured {
            m.extend(extra);
        }
        frame(&json!({
            "jsonrpc": "2.0",
            "method": ACKNOWLEDGED,
            "params": {"_meta": self.meta(), "notifications": honoured},
        }))
    }

    /// A notification `method` with `params`, tagged with this subscription.
    pub fn notification(&self, method: &str, mut params: Map<String, Value>) -> Bytes {
        params.insert("_meta".into(), self.meta());
        frame(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// The resource URIs whose updates this listener hears.
    pub fn uris(&self) -> &[String] {
        &self.filter.uris
    }

    /// The frames for what changed since the last look (only the types asked for), remembering
    /// `now` as seen.
    pub fn observe(&mut self, now: Digest) -> Vec<Bytes> {
        let mut out = Vec::new();
        for (asked, before, after, method) in [
            (
                self.filter.tools,
                self.last.tools,
                now.tools,
                "notifications/tools/list_changed",
            ),
            (
                self.filter.prompts,
                self.last.prompts,
                now.prompts,
                "notifications/prompts/list_changed",
            ),
            (
                self.filter.resources,
                self.last.resources,
                now.resources,
                "notifications/resources/list_changed",
            ),
        ] {
            if asked && before != after {
                out.push(frame(&json!({
                    "jsonrpc": "2.0",
                    "method": method,
                    "params": {"_meta": self.meta()},
                })));
            }
        }
        for ((uri, before), after) in self
            .filter
            .uris
            .iter()
            .zip(&self.last.contents)
            .zip(&now.contents)
        {
            if before != after {
                out.push(updated_frame(uri, Some(self.meta())));
            }
        }
        self.last = now;
        out
    }

    /// The `SubscriptionsListenResult` that ends the subscription gracefully (the stream reached
    /// its bounded lifetime, or the server shuts down).
    pub fn farewell(&self) -> Bytes {
        frame(&crate::protocol::success(
            &self.id,
            json!({"_meta": self.meta(), "resultType": "complete"}),
        ))
    }
}

// The held stream's state lives here, not in the gateway, so `transport::Reply` can carry it
// without the transport layer importing the gateway (tests/infra/test_layout.py).
/// A listen stream's place in the caller's stream quota.
pub(crate) struct ListenLease {
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) until: u64,
}

/// A `subscriptions/listen` stream the platform holds: the listener, what the poll needs to see
/// the caller's lists again, and the stream's quota lease.
pub struct ListenHold {
    pub(crate) listener: Listener,
    pub(crate) headers: http::HeaderMap,
    pub(crate) caller: crate::auth::Caller,
    pub(crate) version: String,
    pub(crate) lease: Option<ListenLease>,
    /// The caller's tasks it watches for status changes (Tasks extension `taskIds`).
    pub(crate) tasks: Option<crate::task::TaskWatch>,
    /// Interval between two looks at the caller's lists (ms).
    pub poll_ms: u64,
    /// Interval of keep-alive comments (ms).
    pub keepalive_ms: u64,
}

// Headers carry credentials: the debug form names the subscription only.
impl std::fmt::Debug for ListenHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenHold")
            .field("subscription", self.listener.id())
            .field("poll_ms", &self.poll_ms)
            .finish_non_exhaustive()
    }
}

impl ListenHold {
    /// The `SubscriptionsListenResult` frame that ends the stream gracefully.
    pub fn farewell(&self) -> Bytes {
        self.listener.farewell()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(b: &Bytes) -> Value {
        let s = std::str::from_utf8(b).unwrap();
        let line = s.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        serde_json::from_str(line).unwrap()
    }

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_ack_echoes_the_honoured_filter_and_the_subscription_id() {
        let f = Filter::parse(Some(&params(json!({"notifications": {
            "toolsListChanged": true, "promptsListChanged": false, "resourceSubscriptions": ["test://a"]
        }}))))
        .unwrap();
        let l = Listener::new(json!(7), f, Digest::default());
        let ack = data(&l.ack());
        assert_eq!(ack["method"], ACKNOWLEDGED);
        assert_eq!(ack["params"]["_meta"][META_SUBSCRIPTION_ID], 7);
        assert_eq!(
            ack["params"]["notifications"],
            json!({"toolsListChanged": true, "resourceSubscriptions": ["test://a"]})
        );
    }

    #[test]
    fn a_moved_content_fingerprint_is_one_updated_notification_with_the_subscription_id() {
        let f = Filter {
            uris: vec!["test://a".into(), "test://b".into()],
            ..Filter::default()
        };
        let first = Digest {
            contents: vec![1, 2],
            ..Digest::default()
        };
        let mut l = Listener::new(json!("sub"), f, first);
        let moved = Digest {
            contents: vec![1, 3],
            ..Digest::default()
        };
        let frames = l.observe(moved.clone());
        assert_eq!(frames.len(), 1);
        let n = data(&frames[0]);
        assert_eq!(n["method"], RESOURCE_UPDATED);
        assert_eq!(n["params"]["uri"], "test://b");
        assert_eq!(n["params"]["_meta"][META_SUBSCRIPTION_ID], "sub");
        assert!(l.observe(moved).is_empty(), "an update is reported once");
    }

    #[test]
    fn a_session_watch_reports_moves_since_the_subscription() {
        let mut w = ResourceWatch::default();
        let at = |base: u64, fp: u64| vec![("test://a".to_owned(), base, fp)];
        assert!(w.observe(at(1, 1)).is_empty(), "as when subscribed");
        assert!(w.observe(at(1, 1)).is_empty(), "unchanged");
        let frames = w.observe(at(1, 2));
        assert_eq!(frames.len(), 1);
        let n = data(&frames[0]);
        assert_eq!(n["method"], RESOURCE_UPDATED);
        assert_eq!(n["params"], json!({"uri": "test://a"}));
        assert!(w.observe(at(1, 2)).is_empty(), "reported once");
        assert!(w.observe(Vec::new()).is_empty(), "unsubscribed: nothing");
        assert!(w.observe(at(3, 3)).is_empty(), "subscribed again");
        let mut fresh = ResourceWatch::default();
        assert_eq!(
            fresh.observe(at(1, 2)).len(),
            1,
            "a change between subscribing and the stream's first look is not lost"
        );
    }

    #[test]
    fn only_asked_for_changes_are_sent_each_once() {
        let f = Filter {
            prompts: true,
            ..Filter::default()
        };
        let mut l = Listener::new(json!("s"), f, Digest::default());
        let changed = Digest {
            tools: 1,
            prompts: 2,
            resources: 3,
            contents: Vec::new(),
        };
        let frames = l.observe(changed.clone());
        assert_eq!(frames.len(), 1);
        let n = data(&frames[0]);
        assert_eq!(n["method"], "notifications/prompts/list_changed");
        assert_eq!(n["params"]["_meta"][META_SUBSCRIPTION_ID], "s");
        assert!(l.observe(changed).is_empty(), "a change is reported once");
    }

    #[test]
    fn bad_filters_are_invalid_params() {
        for p in [
            json!({}),
            json!({"notifications": []}),
            json!({"notifications": {"toolsListChanged": "yes"}}),
            json!({"notifications": {"resourceSubscriptions": "test://a"}}),
            json!({"notifications": {"resourceSubscriptions": vec!["u"; 65]}}),
        ] {
            let err = Filter::parse(Some(&params(p.clone()))).unwrap_err();
            assert!(matches!(err, McpError::InvalidParams(_)), "{p}: {err:?}");
        }
    }

    #[test]
    fn epochs_change_the_fingerprint() {
        let e = ListEpochs::default();
        let items = [json!({"name": "a"})];
        let now = || futures::executor::block_on(e.current());
        let before = fingerprint(&items, ListEpochs::of(now(), ListKind::Tools));
        futures::executor::block_on(e.bump(ListKind::Tools)).unwrap();
        assert_ne!(
            before,
            fingerprint(&items, ListEpochs::of(now(), ListKind::Tools))
        );
        assert_eq!(ListEpochs::of(now(), ListKind::Prompts), 0);
    }

    #[test]
    fn the_farewell_is_a_result_for_the_listen_request() {
        let l = Listener::new(json!(3), Filter::default(), Digest::default());
        let r = data(&l.farewell());
        assert_eq!(r["id"], 3);
        assert_eq!(r["result"]["_meta"][META_SUBSCRIPTION_ID], 3);
    }
}
