//! JSON-RPC 2.0 envelopes and MCP protocol constants (serde only, no I/O).

use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Protocol versions negotiated with `initialize` (sessionful), oldest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// Stateless protocol versions using the per-request `_meta` envelope.
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];
/// The newest handshake version, offered when a client asks for one we do not know.
pub const LATEST_HANDSHAKE_VERSION: &str = "2025-11-25";
/// The version assumed for sessionful requests that carry no `MCP-Protocol-Version` header.
pub const DEFAULT_NEGOTIATED_VERSION: &str = "2025-03-26";

/// `_meta` key carrying the protocol version of a 2026-07-28 request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the client capabilities of a 2026-07-28 request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key carrying the client info of a 2026-07-28 request.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key carrying the per-request log level of a 2026-07-28 request.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key carrying the server's identity on every 2026-07-28 result (spec PR #3002; the
/// official TypeScript v2 and Python SDK clients read the server's name and version only here).
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Whether `v` is any version this server speaks.
pub fn is_supported_version(v: &str) -> bool {
    HANDSHAKE_VERSIONS.contains(&v) || MODERN_VERSIONS.contains(&v)
}

/// Whether JSON-RPC batches are allowed under version `v` (removed in 2025-06-18).
pub fn allows_batches(v: &str) -> bool {
    matches!(v, "2024-11-05" | "2025-03-26")
}

/// JSON-RPC and MCP error codes.
pub mod code {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Session not found (used by the Streamable HTTP transport).
    pub const SESSION_NOT_FOUND: i64 = -32001;
    /// Resource not found.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// Request rejected by gateway policy.
    pub const FORBIDDEN: i64 = -32003;
    /// The caller is not authenticated to the gateway.
    pub const UNAUTHORIZED: i64 = -32004;
    /// A gateway rate limit was hit.
    pub const RATE_LIMITED: i64 = -32005;
    /// A 2026-07-28 routing header disagrees with the body.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// A 2026-07-28 request needs a client capability it did not declare.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// The requested protocol version is not supported.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// A JSON-RPC error object as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonRpcError {
    /// Error code.
    pub code: i64,
    /// Short description.
    pub message: String,
    /// Extra data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A decoded JSON-RPC message from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request expecting a response.
    Request {
        /// Request id (string or number).
        id: Value,
        /// Method name.
        method: String,
        /// Parameters (object), if any.
        params: Option<Map<String, Value>>,
    },
    /// A notification (no id).
    Notification {
        /// Method name.
        method: String,
        /// Parameters (object), if any.
        params: Option<Map<String, Value>>,
    },
    /// A response to a server-initiated request.
    Response {
        /// Id of the request answered.
        id: Value,
        /// Its `result`, or its `error` object.
        outcome: Result<Value, Value>,
    },
}

impl Incoming {
    /// The method, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method, .. } => {
                Some(method)
            }
            Incoming::Response { .. } => None,
        }
    }

    /// The parameters, for requests and notifications.
    pub fn params(&self) -> Option<&Map<String, Value>> {
        match self {
            Incoming::Request { params, .. } | Incoming::Notification { params, .. } => {
                params.as_ref()
            }
            Incoming::Response { .. } => None,
        }
    }
}

/// A decoded request body: one message or a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A single message.
    Single(Incoming),
    /// A batch; each entry is a message or the error for an invalid entry (with its id, if any).
    Batch(Vec<Result<Incoming, (Value, JsonRpcError)>>),
}

/// Why a body could not be decoded at all.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// Not JSON (-32700).
    Parse(String),
    /// JSON but not a JSON-RPC message (-32600), with the request id when one could be read.
    Invalid(Value, String),
}

/// Decodes a request body into JSON-RPC messages.
pub fn decode(body: &[u8]) -> Result<Payload, DecodeError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Parse(format!("Parse error: {e}")))?;
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(DecodeError::Invalid(
                    Value::Null,
                    "Invalid Request: empty batch".into(),
                ));
            }
            Ok(Payload::Batch(
                items
                    .into_iter()
                    .map(|item| {
                        decode_message(item).map_err(|e| match e {
                            DecodeError::Invalid(id, msg) => (id, invalid_request(msg)),
                            DecodeError::Parse(msg) => (Value::Null, invalid_request(msg)),
                        })
                    })
                    .collect(),
            ))
        }
        other => decode_message(other).map(Payload::Single),
    }
}

fn invalid_request(message: String) -> JsonRpcError {
    JsonRpcError {
        code: code::INVALID_REQUEST,
        message,
        data: None,
    }
}

fn valid_id(id: &Value) -> bool {
    id.is_string() || id.is_i64() || id.is_u64()
}

/// Decodes one JSON value into a JSON-RPC message.
pub fn decode_message(value: Value) -> Result<Incoming, DecodeError> {
    let Value::Object(mut obj) = value else {
        return Err(DecodeError::Invalid(
            Value::Null,
            "Invalid Request: expected a JSON-RPC object".into(),
        ));
    };
    let id = obj.remove("id");
    let echo_id = id.clone().filter(valid_id).unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(DecodeError::Invalid(
            echo_id,
            "Invalid Request: jsonrpc must be \"2.0\"".into(),
        ));
    }
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => {
            return Err(DecodeError::Invalid(
                echo_id,
                "Invalid Request: params must be an object".into(),
            ));
        }
    };
    match (obj.remove("method"), id) {
        (Some(Value::String(method)), Some(id)) => {
            if !valid_id(&id) {
                return Err(DecodeError::Invalid(
                    Value::Null,
                    "Invalid Request: id must be a string or an integer".into(),
                ));
            }
            Ok(Incoming::Request { id, method, params })
        }
        (Some(Value::String(method)), None) => Ok(Incoming::Notification { method, params }),
        (Some(_), _) => Err(DecodeError::Invalid(
            echo_id,
            "Invalid Request: method must be a string".into(),
        )),
        (None, Some(id)) if obj.contains_key("result") || obj.contains_key("error") => {
            let outcome = match obj.remove("result") {
                Some(result) => Ok(result),
                None => Err(obj.remove("error").unwrap_or(Value::Null)),
            };
            Ok(Incoming::Response { id, outcome })
        }
        (None, _) => Err(DecodeError::Invalid(
            echo_id,
            "Invalid Request: missing method".into(),
        )),
    }
}

/// A success response message.
pub fn success(id: &Value, result: Value) -> Value {
    // Built by hand: `json!` would serialize `result` into a deep copy instead of moving it.
    let mut m = serde_json::Map::with_capacity(3);
    m.insert("jsonrpc".into(), Value::from("2.0"));
    m.insert("id".into(), id.clone());
    m.insert("result".into(), result);
    Value::Object(m)
}

/// Entries of a list result serialized once and spliced verbatim under `key` when the reply is
/// encoded: the registry's tool definitions never change, and cloning their JSON trees then
/// serializing them again was most of `tools/list`'s cost (1.5 ms of server CPU per call with
/// every toolset, 100 tools, 109 kB).
#[derive(Debug, Clone)]
pub struct Splice {
    /// The result key the entries go under (`tools`).
    pub key: &'static str,
    /// The entries, in order.
    pub items: Vec<Arc<RawValue>>,
}

/// `rest` with `splice` inserted as one more entry, in the key order a `Value` object has (sorted),
/// so the bytes match what serializing the whole result as a `Value` gives.
struct Spliced<'a> {
    rest: &'a Map<String, Value>,
    splice: &'a Splice,
}

impl Serialize for Spliced<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Items<'a>(&'a [Arc<RawValue>]);
        impl Serialize for Items<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for item in self.0 {
                    seq.serialize_element(&**item)?;
                }
                seq.end()
            }
        }
        let key = self.splice.key;
        let items = Items(&self.splice.items);
        let others = self.rest.iter().filter(|(k, _)| k.as_str() != key);
        let mut map = s.serialize_map(Some(others.clone().count() + 1))?;
        let mut placed = false;
        for (k, v) in others {
            if !placed && k.as_str() > key {
                map.serialize_entry(key, &items)?;
                placed = true;
            }
            map.serialize_entry(k, v)?;
        }
        if !placed {
            map.serialize_entry(key, &items)?;
        }
        map.end()
    }
}

/// A message serialized once; a `Value` never fails to serialize, so the fallback is unreachable.
fn encoded<T: Serialize + ?Sized>(message: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(message).unwrap_or_default()
}

/// The success message to request `id`, serialized: the same bytes as `success(id, result)`
/// serialized, with `splice` (when given) inserted into the `result` object without re-encoding.
pub fn encode_success(id: &Value, result: Value, splice: Option<&Splice>) -> Box<RawValue> {
    match (splice, result) {
        (Some(splice), Value::Object(rest)) => {
            struct Message<'a> {
                id: &'a Value,
                result: Spliced<'a>,
            }
            impl Serialize for Message<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    // `Value` objects serialize their keys sorted: id, jsonrpc, result.
                    let mut map = s.serialize_map(Some(3))?;
                    map.serialize_entry("id", self.id)?;
                    map.serialize_entry("jsonrpc", "2.0")?;
                    map.serialize_entry("result", &self.result)?;
                    map.end()
                }
            }
            encoded(&Message {
                id,
                result: Spliced {
                    rest: &rest,
                    splice,
                },
            })
        }
        (_, result) => encoded(&success(id, result)),
    }
}

/// A message serialized once.
pub fn encode(message: &Value) -> Box<RawValue> {
    encoded(message)
}

/// Serialized messages as one JSON array (a batch's replies): `[` + the messages joined by `,` + `]`.
pub fn encode_array(messages: &[Box<RawValue>]) -> Box<RawValue> {
    encoded(messages)
}

/// `result` with `splice` merged in as a `Value` (for callers that edit results, such as the
/// WebSocket envelope); the spliced entries are parsed back, so this is the slow path.
pub fn merge_splice(result: Value, splice: Option<Splice>) -> Value {
    match (splice, result) {
        (Some(splice), Value::Object(mut rest)) => {
            let items = splice
                .items
                .iter()
                .map(|i| serde_json::from_str(i.get()).unwrap_or(Value::Null))
                .collect();
            rest.insert(splice.key.to_owned(), Value::Array(items));
            Value::Object(rest)
        }
        (_, result) => result,
    }
}

/// An error response message.
pub fn failure(id: &Value, error: &JsonRpcError) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// A notification message.
pub fn notification(method: &str, params: Value) -> Value {
    let mut m = serde_json::Map::with_capacity(3);
    m.insert("jsonrpc".into(), Value::from("2.0"));
    m.insert("method".into(), Value::from(method));
    m.insert("params".into(), params);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_requests_notifications_and_responses() {
        let p = decode(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert_eq!(
            p,
            Payload::Single(Incoming::Request {
                id: json!(1),
                method: "ping".into(),
                params: None
            })
        );
        let p = decode(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(p, Payload::Single(Incoming::Notification { .. })));
        let p = decode(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert!(matches!(p, Payload::Single(Incoming::Response { .. })));
    }

    #[test]
    fn rejects_bad_input_with_precise_errors() {
        assert!(matches!(decode(b"{nope"), Err(DecodeError::Parse(_))));
        assert!(matches!(
            decode(br#"{"foo":1}"#),
            Err(DecodeError::Invalid(..))
        ));
        assert!(matches!(decode(b"[]"), Err(DecodeError::Invalid(..))));
        assert!(matches!(decode(br#""x""#), Err(DecodeError::Invalid(..))));
        assert!(matches!(
            decode(br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            Err(DecodeError::Invalid(..))
        ));
        assert!(
            matches!(decode(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#), Err(DecodeError::Invalid(id, _)) if id == json!(1))
        );
        assert!(matches!(
            decode(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#),
            Err(DecodeError::Invalid(..))
        ));
    }

    #[test]
    fn batch_keeps_invalid_entries_as_errors() {
        let p = decode(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"bad":true}]"#).unwrap();
        let Payload::Batch(items) = p else {
            panic!("expected batch")
        };
        assert!(items[0].is_ok());
        assert_eq!(items[1].as_ref().unwrap_err().1.code, code::INVALID_REQUEST);
    }
}
