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

/// A list a listener can hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `tools/list`.
    Tools,
    /// `prompts/list`.
    Prompts,
    /// `resources/list`.
    Resources,
}

/// Where list change counters live when the instance that changes a list is not the one holding a
/// listen stream (AWS Lambda: each invocation in its own execution environment).
pub trait ChangeCounters: MaybeSendSync {
    /// Adds one to `kind`'s counter.
    fn bump(&self, kind: ListKind) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The counters of tools, prompts and resources, in that order.
    fn read(&self) -> BoxFuture<'_, Result<[u64; 3], StoreError>>;
}

/// Change counters of lists whose content the gateway changes without a registry rebuild (the
/// conformance fixtures `test_trigger_tool_change` / `test_trigger_prompt_change`); part of every
/// [`Digest`], so a bump reads as a change of that list. In process memory, or in a
/// [`ChangeCounters`] backend when the platform sets one.
#[derive(Default)]
pub struct ListEpochs {
    counters: [AtomicU64; 3],
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

    /// How often each list changed so far (tools, prompts, resources); the process's own count
    /// when the backend cannot be read.
    pub async fn current(&self) -> [u64; 3] {
        let local = || self.counters.each_ref().map(|c| c.load(Ordering::Relaxed));
        match self.backend.get() {
            Some(b) => b.read().await.unwrap_or_else(|_| local()),
            None => local(),
        }
    }

    /// `kind`'s counter in `counters` (as [`ListEpochs::current`] returned them).
    pub fn of(counters: [u64; 3], kind: ListKind) -> u64 {
        counters[slot(kind)]
    }
}

/// The notification types a listener asked for and the gateway honours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    /// `toolsListChanged`.
    pub tools: bool,
    /// `promptsListChanged`.
    pub prompts: bool,
    /// `resourcesListChanged`.
    pub resources: bool,
}

impl Filter {
    /// Reads `params.notifications` (required, an object of booleans; `resourceSubscriptions`, an
    /// array of at most [`MAX_RESOURCE_SUBSCRIPTIONS`] strings, is accepted but not honoured: the
    /// acknowledgement leaves it out, as the schema allows for unsupported types).
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
        match n.get("resourceSubscriptions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(uris))
                if uris.len() <= MAX_RESOURCE_SUBSCRIPTIONS && uris.iter().all(Value::is_string) => {}
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
        })
    }

    fn to_json(self) -> Value {
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
        Value::Object(m)
    }
}

/// Fingerprints of the lists one caller sees at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    /// Of `tools/list`.
    pub tools: u64,
    /// Of `prompts/list`.
    pub prompts: u64,
    /// Of `resources/list`.
    pub resources: u64,
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
            json!({"toolsListChanged": true})
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
        };
        let frames = l.observe(changed);
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
