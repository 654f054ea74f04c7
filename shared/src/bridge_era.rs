//! Translation between protocol eras for a bridged stdio server: a 2026-07-28 client (stateless
//! requests, `input_required` rounds) talking to a 2025-era server (a handshake, then requests the
//! server makes of the client while it handles one).
//!
//! The platform holds an initialized child per caller (or the shared one) and does the I/O; this
//! module decides what the child is sent and what the client sees:
//! - [`handshake`]: the `initialize` the bridge runs for a 2026-07-28 caller, declaring the client
//!   capabilities the caller's first request declared (so a child that offers tools by capability,
//!   like server-everything's sampling tool, offers them);
//! - [`to_child`]: a 2026-07-28 request as the child takes it (the envelope keys and the retry's
//!   `inputResponses`/`requestState` removed);
//! - [`discover`] and [`complete`]: the child's handshake answer as a `server/discover` result, and
//!   its results with `resultType` and the server identity in `_meta`;
//! - [`Parked`]: requests the child made of the client while handling a call (sampling, elicitation,
//!   roots), sent to the client as `input_required` rounds: each parked call waits under a random
//!   nonce that travels inside the signed `requestState` ([`crate::mrtr`]), bounded in count and
//!   lifetime; the client's `inputResponses` go back to the child as its answers.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::error::McpError;
use crate::protocol::{
    HANDSHAKE_VERSIONS, LATEST_HANDSHAKE_VERSION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO,
    META_SERVER_INFO, MODERN_VERSIONS,
};

/// Most calls one bridged server keeps waiting for their client's input at once (each holds a
/// request open at the child).
pub const MAX_PARKED: usize = 256;

/// The client capabilities a 2025-era child can use through `input_required` rounds.
const TRANSLATED_CAPABILITIES: &[&str] = &["sampling", "elicitation", "roots"];

/// The `initialize` request the bridge sends a child for a 2026-07-28 caller whose request `params`
/// declared its capabilities and identity in `_meta`.
pub fn handshake(params: Option<&Map<String, Value>>) -> Value {
    let meta = params
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object);
    let declared = meta
        .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
        .and_then(Value::as_object);
    let capabilities: Map<String, Value> = TRANSLATED_CAPABILITIES
        .iter()
        .filter_map(|c| {
            let v = declared?.get(*c).filter(|v| !v.is_null())?;
            Some(((*c).to_owned(), v.clone()))
        })
        .collect();
    let client_info = meta
        .and_then(|m| m.get(META_CLIENT_INFO))
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(
            || json!({"name": "mcp-edge-bridge", "version": env!("CARGO_PKG_VERSION")}),
        );
    json!({
        "jsonrpc": "2.0",
        "id": "bridge-2026-init",
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": capabilities,
            "clientInfo": client_info,
        },
    })
}

/// A 2026-07-28 request (`id`, `method`, `params`) as the child takes it: the protocol envelope
/// keys of `_meta` and a retry's `inputResponses`/`requestState` removed (the child never saw them).
pub fn to_child(id: &Value, method: &str, params: Option<&Map<String, Value>>) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(p) = params {
        let mut p = p.clone();
        p.remove("inputResponses");
        p.remove("requestState");
        if let Some(Value::Object(meta)) = p.get_mut("_meta") {
            meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
            if meta.is_empty() {
                p.remove("_meta");
            }
        }
        message["params"] = Value::Object(p);
    }
    message
}

/// The `server/discover` result for a child whose `initialize` answered `handshake` (its result).
pub fn discover(handshake: &Value) -> Value {
    let mut versions: Vec<&str> = HANDSHAKE_VERSIONS.to_vec();
    versions.extend_from_slice(MODERN_VERSIONS);
    let mut r = json!({
        "supportedVersions": versions,
        "capabilities": handshake.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info(handshake),
        "resultType": "complete",
    });
    if let Some(i) = handshake.get("instructions").filter(|i| i.is_string()) {
        r["instructions"] = i.clone();
    }
    r
}

fn server_info(handshake: &Value) -> Value {
    handshake
        .get("serverInfo")
        .cloned()
        .unwrap_or_else(|| json!({"name": "bridged-server", "version": "0"}))
}

/// A child's result for a 2026-07-28 caller: `resultType: complete`, the child's identity in
/// `_meta`, and for lists the caching hints `cacheScope: private, ttlMs: 0` (the child may change
/// them at any moment, and a 2026-07-28 caller has no stream here to hear about it).
pub fn complete(method: &str, mut result: Value, handshake: &Value) -> Value {
    if let Value::Object(map) = &mut result {
        map.entry("resultType").or_insert_with(|| json!("complete"));
        if let Value::Object(meta) = map.entry("_meta").or_insert_with(|| json!({})) {
            meta.entry(META_SERVER_INFO)
                .or_insert_with(|| server_info(handshake));
        }
        if method.ends_with("/list") {
            map.entry("cacheScope").or_insert_with(|| json!("private"));
            map.entry("ttlMs").or_insert_with(|| json!(0));
        }
    }
    result
}

/// What a `requestState` of a bridged call is issued for: the server, the method and the tool,
/// prompt or resource it names, so a state never verifies for another request.
pub fn target(server: &str, method: &str, params: Option<&Map<String, Value>>) -> String {
    let name = params
        .and_then(|p| p.get("name").or_else(|| p.get("uri")))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("bridge/{server}:{method}:{name}")
}

/// The child's requests as `inputRequests` (keyed `input-1`, `input-2`, …) and, per key, the id the
/// child waits for its answer under.
pub fn input_requests(requests: &[Value]) -> (Map<String, Value>, Vec<(String, Value)>) {
    let mut asked = Map::new();
    let mut ids = Vec::new();
    for (n, r) in requests.iter().enumerate() {
        let key = format!("input-{}", n + 1);
        let mut request = json!({"method": r.get("method").cloned().unwrap_or(Value::Null)});
        if let Some(p) = r.get("params") {
            request["params"] = p.clone();
        }
        asked.insert(key.clone(), request);
        ids.push((key, r.get("id").cloned().unwrap_or(Value::Null)));
    }
    (asked, ids)
}

/// A call waiting for its client's input.
struct Waiting<T> {
    expires_at: u64,
    owner: String,
    ids: Vec<(String, Value)>,
    call: T,
}

/// Calls waiting for their client's `inputResponses`, by nonce: at most [`MAX_PARKED`], each until
/// its expiry; `T` is the platform's open call.
pub struct Parked<T> {
    waiting: HashMap<String, Waiting<T>>,
    max: usize,
}

impl<T> Default for Parked<T> {
    fn default() -> Self {
        Parked {
            waiting: HashMap::new(),
            max: MAX_PARKED,
        }
    }
}

impl<T> Parked<T> {
    /// A store holding at most `max` calls.
    pub fn with_max(max: usize) -> Self {
        Parked {
            waiting: HashMap::new(),
            max,
        }
    }

    /// Calls waiting now.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no call waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Parks `call` of `owner` under `nonce` until `expires_at`, waiting for answers to the child's
    /// requests `ids` (from [`input_requests`]). Refused (the call is handed back) when full.
    pub fn park(
        &mut self,
        nonce: String,
        owner: &str,
        expires_at: u64,
        ids: Vec<(String, Value)>,
        call: T,
    ) -> Result<(), (McpError, T)> {
        if self.waiting.len() >= self.max {
            return Err((
                McpError::Backend(format!(
                    "the bridge already holds {} requests waiting for their clients' input; answer those first",
                    self.max
                )),
                call,
            ));
        }
        self.waiting.insert(
            nonce,
            Waiting {
                expires_at,
                owner: owner.to_owned(),
                ids,
                call,
            },
        );
        Ok(())
    }

    /// Takes the call parked under `nonce` for `owner` with the child's answers built from the
    /// client's `responses` (one JSON-RPC response per request the child made). A nonce that is
    /// unknown, expired, or another owner's, and responses that leave a request unanswered, are
    /// refused with -32602; an incomplete retry leaves the call parked for a complete one.
    pub fn take(
        &mut self,
        nonce: &str,
        owner: &str,
        now: u64,
        responses: &Map<String, Value>,
    ) -> Result<(T, Vec<Value>), McpError> {
        let gone = || {
            McpError::InvalidParams(
                "Invalid params: requestState names a request the bridge no longer holds (answered already, expired or its server restarted); call again without it".into(),
            )
        };
        let w = self.waiting.get(nonce).ok_or_else(gone)?;
        if w.owner != owner || w.expires_at <= now {
            return Err(gone());
        }
        if let Some((key, _)) = w.ids.iter().find(|(k, _)| !responses.contains_key(k)) {
            return Err(McpError::InvalidParams(format!(
                "Invalid params: inputResponses lacks '{key}' (every input request needs its response)"
            )));
        }
        let w = self.waiting.remove(nonce).ok_or_else(gone)?;
        let answers = w
            .ids
            .iter()
            .map(|(key, id)| json!({"jsonrpc": "2.0", "id": id, "result": responses[key]}))
            .collect();
        Ok((w.call, answers))
    }

    /// Removes the calls expired at `now` (the platform drops them, cancelling them at the child).
    pub fn sweep(&mut self, now: u64) -> Vec<T> {
        let expired: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|k| self.waiting.remove(&k).map(|w| w.call))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_declares_only_translated_capabilities_the_caller_declared() {
        let p = json!({"_meta": {
            META_CLIENT_CAPABILITIES: {"sampling": {}, "elicitation": {"form": {}}, "experimental": {"x": {}}},
            META_CLIENT_INFO: {"name": "py", "version": "2"},
        }});
        let h = handshake(p.as_object());
        assert_eq!(h["method"], "initialize");
        assert_eq!(
            h["params"]["capabilities"],
            json!({"sampling": {}, "elicitation": {"form": {}}})
        );
        assert_eq!(h["params"]["clientInfo"]["name"], "py");
        assert_eq!(h["params"]["protocolVersion"], LATEST_HANDSHAKE_VERSION);
        assert_eq!(handshake(None)["params"]["capabilities"], json!({}));
    }

    #[test]
    fn the_child_sees_no_envelope_and_no_retry_keys() {
        let p = json!({"name": "echo", "arguments": {"a": 1}, "requestState": "s", "inputResponses": {},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "progressToken": 7}});
        let m = to_child(&json!(3), "tools/call", p.as_object());
        assert_eq!(
            m,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"a": 1}, "_meta": {"progressToken": 7}}})
        );
        let p = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}});
        assert_eq!(
            to_child(&json!(1), "tools/list", p.as_object())["params"],
            json!({})
        );
    }

    #[test]
    fn results_carry_the_result_type_and_the_childs_identity() {
        let hs = json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "child", "version": "1"}});
        let r = complete("tools/list", json!({"tools": []}), &hs);
        assert_eq!(r["resultType"], "complete");
        assert_eq!(r["_meta"][META_SERVER_INFO]["name"], "child");
        assert_eq!(
            (r["cacheScope"].clone(), r["ttlMs"].clone()),
            (json!("private"), json!(0))
        );
        let r = complete("tools/call", json!({"content": [], "_meta": {"k": 1}}), &hs);
        assert_eq!(r["_meta"]["k"], 1);
        assert!(r.get("cacheScope").is_none());
        let d = discover(&hs);
        assert_eq!(d["capabilities"], json!({"tools": {}}));
        assert!(d["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")));
    }

    #[test]
    fn parked_calls_are_taken_once_by_their_owner_with_every_response_before_they_expire() {
        let reqs = [
            json!({"jsonrpc": "2.0", "id": 5, "method": "sampling/createMessage", "params": {"maxTokens": 1}}),
        ];
        let (asked, ids) = input_requests(&reqs);
        assert_eq!(
            asked,
            *json!({"input-1": {"method": "sampling/createMessage", "params": {"maxTokens": 1}}})
                .as_object()
                .unwrap()
        );
        let mut p = Parked::with_max(1);
        p.park("n".into(), "alice", 100, ids.clone(), "call")
            .unwrap();
        assert!(
            p.park("m".into(), "alice", 100, ids, "other").is_err(),
            "bounded"
        );
        let answer = json!({"input-1": {"role": "assistant"}});
        let code = |e: McpError| e.to_jsonrpc().code;
        assert_eq!(
            code(
                p.take("n", "bob", 10, answer.as_object().unwrap())
                    .unwrap_err()
            ),
            -32602
        );
        assert_eq!(
            code(p.take("n", "alice", 10, &Map::new()).unwrap_err()),
            -32602
        );
        assert_eq!(p.len(), 1, "an incomplete retry leaves the call parked");
        let (call, answers) = p
            .take("n", "alice", 10, answer.as_object().unwrap())
            .unwrap();
        assert_eq!(call, "call");
        assert_eq!(
            answers,
            vec![json!({"jsonrpc": "2.0", "id": 5, "result": {"role": "assistant"}})]
        );
        assert_eq!(
            code(
                p.take("n", "alice", 10, answer.as_object().unwrap())
                    .unwrap_err()
            ),
            -32602
        );
        p.park("x".into(), "alice", 100, Vec::new(), "late")
            .unwrap();
        assert_eq!(
            code(p.take("x", "alice", 100, &Map::new()).unwrap_err()),
            -32602,
            "expired"
        );
        assert_eq!(p.sweep(100), vec!["late"]);
        assert!(p.is_empty());
    }
}
