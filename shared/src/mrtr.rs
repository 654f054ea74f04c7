//! Multi-round-trip requests (2026-07-28 `input_required`, SEP-2322) without server-side state.
//!
//! A handler that needs the client's input answers `input_required` with `inputRequests` and state
//! for the next round. The gateway seals that state into `requestState`: base64url of a small JSON
//! record (what it was issued for, the caller, the round, the expiry, the handler's state), a dot,
//! and base64url of its HMAC-SHA256. The key is the gateway's fingerprint key
//! (`MCP_EDGE_FINGERPRINT_KEY`) under a fixed domain label, so no state is stored anywhere and any
//! instance holding the key (a Worker isolate, another Lambda environment) accepts the retry.
//! A state that fails its MAC, names another tool or caller, has expired, or exceeds
//! [`MAX_ROUNDS`] is refused with -32602 (the spec's "Invalid params" for a bad `requestState`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Mac, SimpleHmac};
use serde_json::{json, Map, Value};

use crate::error::McpError;

/// How long a `requestState` stays valid: a person answering an elicitation needs minutes, a
/// replay an hour later should fail.
pub const STATE_TTL_MS: u64 = 10 * 60 * 1000;

/// Most `input_required` rounds one request may take before it is refused (bounds a client or a
/// handler that never converges).
pub const MAX_ROUNDS: u32 = 8;

/// Domain label mixed into the MAC so a `requestState` can never verify as another use of the key.
const DOMAIN: &[u8] = b"mcp-edge requestState v1\0";

fn mac(key: &[u8], payload: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = SimpleHmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(DOMAIN);
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

fn bad_state(why: &str) -> McpError {
    McpError::InvalidParams(format!("Invalid params: requestState {why}"))
}

/// Seals `state` for round `round` of `target` (e.g. `tools/call:echo`) issued to `caller` at `now`.
pub fn seal(key: &[u8], target: &str, caller: &str, round: u32, now: u64, state: Value) -> String {
    let record = json!({"t": target, "c": caller, "r": round, "e": now.saturating_add(STATE_TTL_MS), "d": state});
    let payload = serde_json::to_vec(&record).unwrap_or_default();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(mac(key, &payload))
    )
}

/// Verifies a `requestState` and returns `(round, state)`; refuses a forged, altered, foreign or
/// expired one.
pub fn open(
    key: &[u8],
    target: &str,
    caller: &str,
    now: u64,
    token: &str,
) -> Result<(u32, Value), McpError> {
    let (payload, tag) = token
        .split_once('.')
        .ok_or_else(|| bad_state("is malformed"))?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| bad_state("is malformed"))?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| bad_state("failed its integrity check"))?;
    let expected = mac(key, &payload);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_slice(),
        tag.as_slice(),
    )) {
        return Err(bad_state("failed its integrity check"));
    }
    let record: Value = serde_json::from_slice(&payload).map_err(|_| bad_state("is malformed"))?;
    if record["t"] != target || record["c"] != caller {
        return Err(bad_state("was issued for another request"));
    }
    if record["e"].as_u64().is_none_or(|e| e <= now) {
        return Err(bad_state("has expired; call again without it"));
    }
    let round = record["r"]
        .as_u64()
        .and_then(|r| u32::try_from(r).ok())
        .ok_or_else(|| bad_state("is malformed"))?;
    Ok((round, record["d"].clone()))
}

/// Reads a retry's `inputResponses` and `requestState` from request params; `None` on a first call.
/// Each response must be an object (an `ElicitResult`, `CreateMessageResult` or `ListRootsResult`).
pub fn input_round(
    key: &[u8],
    target: &str,
    caller: &str,
    now: u64,
    params: Option<&Map<String, Value>>,
) -> Result<Option<InputRound>, McpError> {
    let Some(p) = params else { return Ok(None) };
    let responses = match p.get("inputResponses") {
        None => None,
        Some(Value::Object(m)) => {
            if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_object()) {
                return Err(McpError::InvalidParams(format!(
                    "Invalid params: inputResponses['{k}'] must be an object (the client's result for that input request)"
                )));
            }
            Some(m.clone())
        }
        Some(_) => {
            return Err(McpError::InvalidParams(
                "Invalid params: inputResponses must be an object".into(),
            ))
        }
    };
    let state = match p.get("requestState") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(open(key, target, caller, now, token)?),
        Some(_) => return Err(bad_state("must be a string")),
    };
    if responses.is_none() && state.is_none() {
        return Ok(None);
    }
    let (round, state) = match state {
        Some((round, state)) => (round, Some(state)),
        None => (0, None),
    };
    Ok(Some(InputRound {
        responses: responses.unwrap_or_default(),
        state,
        round,
    }))
}

/// The capability a client must declare for the server to send it `method` as an input request.
pub fn capability_of(method: &str) -> Option<&'static str> {
    match method {
        "elicitation/create" => Some("elicitation"),
        "sampling/createMessage" => Some("sampling"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// The `input_required` result: refuses a request past [`MAX_ROUNDS`], and input requests the client
/// did not declare a capability for (-32021), then seals `state` for the next round.
#[allow(clippy::too_many_arguments)]
pub fn input_required(
    key: &[u8],
    target: &str,
    caller: &str,
    now: u64,
    previous: Option<&InputRound>,
    client_capabilities: Option<&Map<String, Value>>,
    requests: Map<String, Value>,
    state: Value,
) -> Result<Value, McpError> {
    let round = previous.map_or(0, |p| p.round) + 1;
    if round > MAX_ROUNDS {
        return Err(McpError::InvalidParams(format!(
            "Invalid params: the request took more than {MAX_ROUNDS} input_required rounds"
        )));
    }
    for r in requests.values() {
        let method = r.get("method").and_then(Value::as_str).unwrap_or("");
        if let Some(cap) = capability_of(method) {
            let declared =
                client_capabilities.is_some_and(|c| c.get(cap).is_some_and(|v| !v.is_null()));
            if !declared {
                return Err(McpError::MissingClientCapability(cap.to_owned()));
            }
        }
    }
    Ok(json!({
        "resultType": "input_required",
        "inputRequests": requests,
        "requestState": seal(key, target, caller, round, now, state),
    }))
}

/// What a 2026-07-28 retry brings back after an `input_required` result (SEP-2322).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputRound {
    /// `inputResponses`: the client's answer per input-request key (each an object, checked).
    pub responses: Map<String, Value>,
    /// The state the handler sealed into the previous round's `requestState` (verified, unexpired,
    /// issued for this tool or prompt and this caller); `None` when the retry carried no state.
    pub state: Option<Value>,
    /// How many `input_required` rounds came before this retry (0 without a `requestState`).
    pub round: u32,
}

impl InputRound {
    /// The response to input request `key`, when the client sent one.
    pub fn response(&self, key: &str) -> Option<&Map<String, Value>> {
        self.responses.get(key).and_then(Value::as_object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"k";

    #[test]
    fn a_sealed_state_opens_once_for_its_target_and_caller_until_it_expires() {
        let t = seal(KEY, "tools/call:x", "alice", 2, 1000, json!({"n": 1}));
        assert_eq!(
            open(KEY, "tools/call:x", "alice", 1001, &t).unwrap(),
            (2, json!({"n": 1}))
        );
        let err = |r: Result<(u32, Value), McpError>| r.unwrap_err().to_jsonrpc().code;
        assert_eq!(err(open(KEY, "tools/call:y", "alice", 1001, &t)), -32602);
        assert_eq!(err(open(KEY, "tools/call:x", "bob", 1001, &t)), -32602);
        assert_eq!(
            err(open(b"other", "tools/call:x", "alice", 1001, &t)),
            -32602
        );
        assert_eq!(
            err(open(KEY, "tools/call:x", "alice", 1000 + STATE_TTL_MS, &t)),
            -32602
        );
        assert_eq!(
            err(open(
                KEY,
                "tools/call:x",
                "alice",
                1001,
                &format!("{t}-TAMPERED")
            )),
            -32602
        );
        // A payload re-encoded with another round but the old tag fails.
        let (_, tag) = t.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(
                &json!({"t": "tools/call:x", "c": "alice", "r": 0, "e": u64::MAX, "d": null}),
            )
            .unwrap(),
        );
        assert_eq!(
            err(open(
                KEY,
                "tools/call:x",
                "alice",
                1001,
                &format!("{forged}.{tag}")
            )),
            -32602
        );
    }

    #[test]
    fn rounds_are_bounded_and_capabilities_checked() {
        let caps = json!({"sampling": {}});
        let caps = caps.as_object();
        let ask = |method: &str| {
            let mut m = Map::new();
            m.insert("q".into(), json!({"method": method, "params": {}}));
            m
        };
        let ok = input_required(
            KEY,
            "t",
            "c",
            0,
            None,
            caps,
            ask("sampling/createMessage"),
            Value::Null,
        )
        .unwrap();
        assert_eq!(ok["resultType"], "input_required");
        let e = input_required(
            KEY,
            "t",
            "c",
            0,
            None,
            caps,
            ask("elicitation/create"),
            Value::Null,
        );
        assert_eq!(e.unwrap_err().to_jsonrpc().code, -32021);
        let last = InputRound {
            round: MAX_ROUNDS,
            ..Default::default()
        };
        let e = input_required(
            KEY,
            "t",
            "c",
            0,
            Some(&last),
            caps,
            ask("sampling/createMessage"),
            Value::Null,
        );
        assert_eq!(e.unwrap_err().to_jsonrpc().code, -32602);
    }

    #[test]
    fn input_responses_must_be_objects() {
        let p = json!({"inputResponses": {"a": 12345}});
        assert!(input_round(KEY, "t", "c", 0, p.as_object()).is_err());
        let p = json!({"inputResponses": null});
        assert!(input_round(KEY, "t", "c", 0, p.as_object()).is_err());
        let p = json!({"inputResponses": {"a": {"action": "accept"}}});
        let r = input_round(KEY, "t", "c", 0, p.as_object())
            .unwrap()
            .unwrap();
        assert_eq!(r.round, 0);
        assert!(r.response("a").is_some());
        assert!(input_round(KEY, "t", "c", 0, json!({}).as_object())
            .unwrap()
            .is_none());
    }
}
