//! WebSocket at `/ws`: JSON-RPC over WebSocket (subprotocol `mcp`) and the simple envelope some
//! clients use (`welcome`, `list_tools`, `call_tool`, `list_resources`, `read_resource`, `ping`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::dispatch::Call;
use super::seed;
use super::McpApp;
use crate::auth::Caller;
use crate::error::McpError;
use crate::protocol::{
    self, decode_message, DecodeError, Incoming, HANDSHAKE_VERSIONS, LATEST_HANDSHAKE_VERSION,
};
use crate::quota::{Lease, LeaseChange};
use crate::transport::Reply;

/// The WebSocket subprotocol for plain JSON-RPC.
pub const WS_SUBPROTOCOL: &str = "mcp";

/// The error message sent back for a binary WebSocket frame (MCP over WebSocket is text only).
pub fn binary_frame_refusal() -> String {
    let e = McpError::InvalidRequest("Invalid Request: binary frames are not supported".into());
    protocol::failure(&Value::Null, &e.to_jsonrpc()).to_string()
}

/// State of one WebSocket connection. Small and serializable, so a hibernating platform can keep it
/// as the socket's attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsConnection {
    /// The simple envelope is enabled (no `mcp` subprotocol was negotiated).
    pub envelope: bool,
    /// Version negotiated by a JSON-RPC `initialize`.
    pub version: Option<String>,
    /// `notifications/initialized` arrived.
    pub initialized: bool,
    /// Level set by `logging/setLevel`.
    pub log_level: Option<String>,
    /// The caller authenticated at the upgrade.
    pub caller: Option<Caller>,
    /// The connection's lease on one of the caller's sessions, when sessions per caller are limited.
    #[serde(default)]
    pub lease: Option<Lease>,
}

/// The decision to accept a WebSocket upgrade.
#[derive(Debug, Clone)]
pub struct WsAccept {
    /// Subprotocol to echo in `Sec-WebSocket-Protocol`.
    pub subprotocol: Option<&'static str>,
    /// Initial connection state.
    pub connection: WsConnection,
    /// Messages to send right after the upgrade.
    pub greeting: Vec<String>,
}

impl McpApp {
    /// Decides whether to accept a WebSocket upgrade with these request headers.
    /// Authentication and the request rate limit apply as for HTTP.
    pub async fn ws_accept(
        &self,
        headers: &http::HeaderMap,
        client: Option<&super::ClientAddress>,
    ) -> Result<WsAccept, Box<Reply>> {
        self.config
            .origins
            .check(headers)
            .map_err(|e| Box::new(Reply::error(&e, &Value::Null)))?;
        let caller = self.admit(headers, client).await?;
        let lease = self
            .open_ws_lease(&caller)
            .await
            .map_err(|e| Box::new(Reply::error(&e, &Value::Null)))?;
        let wants_mcp = headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case(WS_SUBPROTOCOL));
        if wants_mcp {
            return Ok(WsAccept {
                subprotocol: Some(WS_SUBPROTOCOL),
                connection: WsConnection {
                    caller: Some(caller),
                    lease,
                    ..Default::default()
                },
                greeting: Vec::new(),
            });
        }
        let welcome = json!({
            "type": "welcome",
            "server": self.config.server_name,
            "version": self.config.server_version,
            "capabilities": {"tools": true, "resources": true},
        });
        Ok(WsAccept {
            subprotocol: None,
            connection: WsConnection {
                envelope: true,
                caller: Some(caller),
                lease,
                ..Default::default()
            },
            greeting: vec![welcome.to_string()],
        })
    }

    /// A WebSocket connection is one session: it takes a lease from the caller's session quota.
    async fn open_ws_lease(&self, caller: &Caller) -> Result<Option<Lease>, McpError> {
        let Some(max) = self.config.max_sessions_per_caller else {
            return Ok(None);
        };
        let mut raw = [0u8; 8];
        self.ports.entropy.fill(&mut raw);
        let now = self.ports.clock.now();
        let lease = Lease {
            id: format!("ws-{}", hex::encode(raw)),
            until: now.saturating_add(self.config.session_ttl_ms + self.lease_margin()),
        };
        let change = LeaseChange::Open {
            id: lease.id.clone(),
            until: lease.until,
            max,
        };
        self.take_session_lease(&caller.name, &change, max, now)
            .await?;
        Ok(Some(lease))
    }

    /// Extends the connection's lease once less than a session TTL of it is left (an idle
    /// connection stops counting a TTL after its last message).
    async fn renew_ws_lease(&self, conn: &mut WsConnection) {
        let (Some(lease), Some(caller)) = (&conn.lease, &conn.caller) else {
            return;
        };
        let now = self.ports.clock.now();
        if lease.until > now.saturating_add(self.config.session_ttl_ms) {
            return;
        }
        let until = now.saturating_add(self.config.session_ttl_ms + self.lease_margin());
        let change = LeaseChange::Renew {
            id: lease.id.clone(),
            until,
        };
        let key = crate::quota::sessions_key(&caller.name);
        if self.session_leases.apply(&key, &change, now).await.is_ok() {
            conn.lease = Some(Lease {
                id: lease.id.clone(),
                until,
            });
        }
    }

    /// Platforms call this when a WebSocket closes: gives the connection's session lease back.
    pub async fn ws_closed(&self, conn: &WsConnection) {
        if let (Some(lease), Some(caller)) = (&conn.lease, &conn.caller) {
            let key = crate::quota::sessions_key(&caller.name);
            self.close_lease(true, &key, &lease.id).await;
        }
    }

    /// Handles one text message and returns the messages to send back.
    pub async fn ws_message(
        &self,
        conn: &mut WsConnection,
        headers: &http::HeaderMap,
        text: &str,
    ) -> Vec<String> {
        if text.len() > self.config.max_body_bytes {
            let e = McpError::PayloadTooLarge(self.config.max_body_bytes);
            return vec![protocol::failure(&Value::Null, &e.to_jsonrpc()).to_string()];
        }
        self.renew_ws_lease(conn).await;
        let caller = conn
            .caller
            .clone()
            .unwrap_or_else(|| Caller::anonymous("unknown"));
        if let Some(limit) = caller.rate_limit.or(self.config.request_limit) {
            let now = self.ports.clock.now();
            if let Err(e) = self
                .take_tokens(&format!("req:{}", caller.name), limit, now)
                .await
            {
                return vec![protocol::failure(&Value::Null, &e.to_jsonrpc()).to_string()];
            }
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return vec![protocol::failure(
                    &Value::Null,
                    &McpError::Parse(format!("Parse error: {e}")).to_jsonrpc(),
                )
                .to_string()]
            }
        };
        if conn.envelope && value.get("jsonrpc").is_none() && value.get("type").is_some() {
            return vec![self.ws_envelope(conn, headers, value).await.to_string()];
        }
        let items: Vec<Value> = match value {
            Value::Array(items) if !items.is_empty() => items,
            other => vec![other],
        };
        if let Err(e) = self.check_batch(items.len()) {
            return vec![protocol::failure(&Value::Null, &e.to_jsonrpc()).to_string()];
        }
        let mut budget = self.reply_budget(items.len() > 1);
        let mut out = Vec::new();
        for item in items {
            match decode_message(item) {
                Ok(Incoming::Request { id, .. }) if budget.spent() => {
                    out.push(budget.refusal(&id).get().to_owned());
                }
                Ok(msg) => {
                    let id = match &msg {
                        Incoming::Request { id, .. } => id.clone(),
                        _ => Value::Null,
                    };
                    if let Some(reply) = self.ws_jsonrpc(conn, headers, msg).await {
                        out.push(budget.take(reply, &id).get().to_owned());
                    }
                }
                Err(DecodeError::Invalid(id, msg)) => out.push(
                    protocol::failure(&id, &McpError::InvalidRequest(msg).to_jsonrpc()).to_string(),
                ),
                Err(DecodeError::Parse(msg)) => out.push(
                    protocol::failure(&Value::Null, &McpError::Parse(msg).to_jsonrpc()).to_string(),
                ),
            }
        }
        out
    }

    async fn ws_jsonrpc(
        &self,
        conn: &mut WsConnection,
        headers: &http::HeaderMap,
        msg: Incoming,
    ) -> Option<Box<serde_json::value::RawValue>> {
        match msg {
            Incoming::Request { id, method, params } if method == "initialize" => {
                let requested = params
                    .as_ref()
                    .and_then(|p| p.get("protocolVersion"))
                    .and_then(Value::as_str)
                    .unwrap_or(LATEST_HANDSHAKE_VERSION);
                let version = if HANDSHAKE_VERSIONS.contains(&requested) {
                    requested
                } else {
                    LATEST_HANDSHAKE_VERSION
                };
                conn.version = Some(version.to_owned());
                self.metrics.count_request("initialize", 200);
                Some(protocol::encode_success(
                    &id,
                    self.initialize_result(version, false),
                    None,
                ))
            }
            Incoming::Request { id, method, params } => {
                let facts = self.facts(
                    headers,
                    conn.caller
                        .clone()
                        .unwrap_or_else(|| Caller::anonymous("unknown")),
                );
                let version = conn
                    .version
                    .clone()
                    .unwrap_or_else(|| LATEST_HANDSHAKE_VERSION.to_owned());
                let call = Call {
                    version: &version,
                    modern: false,
                    facts: &facts,
                    session: None,
                    client_capabilities: None,
                    headers: None,
                    log_level: None,
                };
                let mut outcome = self.dispatch(&call, &method, params.as_ref()).await;
                if let Some(level) = outcome.set_log_level.take() {
                    conn.log_level = Some(level);
                }
                self.metrics.count_request(&method, 200);
                Some(outcome.encode(&id))
            }
            Incoming::Notification { method, .. } => {
                if method == "notifications/initialized" {
                    conn.initialized = true;
                }
                None
            }
            Incoming::Response { .. } => None,
        }
    }

    /// The simple envelope: seed 000's message shapes (`response` with `data`, `error` with a string
    /// message and the JSON-RPC `code` beside it), its tool names and its `jira://issues` resource
    /// (see [`super::seed`]).
    async fn ws_envelope(
        &self,
        conn: &WsConnection,
        headers: &http::HeaderMap,
        value: Value,
    ) -> Value {
        let request_id = value.get("request_id").cloned().unwrap_or(Value::Null);
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        // A protocol error carries its JSON-RPC code; a failed tool carries its result instead.
        let fail = |code: Option<i64>, message: String, result: Option<Value>| {
            let mut e = json!({"request_id": request_id, "type": "error", "success": false,
                "error": message});
            if let Some(c) = code {
                e["code"] = json!(c);
            }
            if let Some(r) = result {
                e["result"] = r;
            }
            e
        };
        if kind == "ping" {
            return json!({"type": "pong", "request_id": request_id});
        }
        let facts = self.facts(
            headers,
            conn.caller
                .clone()
                .unwrap_or_else(|| Caller::anonymous("unknown")),
        );
        let call = Call {
            version: LATEST_HANDSHAKE_VERSION,
            modern: false,
            facts: &facts,
            session: None,
            client_capabilities: None,
            headers: None,
            log_level: None,
        };
        let mut params = Map::new();
        let mut issues_resource = false;
        let method = match kind {
            "list_tools" => "tools/list",
            "list_resources" => "resources/list",
            "read_resource" => {
                let uri = value.get("uri").cloned().unwrap_or(Value::Null);
                match uri.as_str().and_then(seed::issues_resource_call) {
                    Some(args) => {
                        issues_resource = true;
                        params.insert("name".into(), json!("jira_search"));
                        params.insert("arguments".into(), Value::Object(args));
                        "tools/call"
                    }
                    None => {
                        params.insert("uri".into(), uri);
                        "resources/read"
                    }
                }
            }
            "call_tool" => {
                let name = value.get("name").cloned().unwrap_or(Value::Null);
                let args = value.get("arguments").cloned().unwrap_or_else(|| json!({}));
                match (name.as_str().and_then(seed::alias), args) {
                    (Some(alias), Value::Object(a)) => {
                        params.insert("name".into(), json!(alias.target));
                        params.insert(
                            "arguments".into(),
                            Value::Object(seed::map_arguments(alias, a)),
                        );
                    }
                    (_, args) => {
                        params.insert("name".into(), name);
                        params.insert("arguments".into(), args);
                    }
                }
                "tools/call"
            }
            other => {
                return fail(
                    Some(protocol::code::INVALID_REQUEST),
                    format!("unknown message type '{other}'"),
                    None,
                );
            }
        };
        let outcome = self.dispatch(&call, method, Some(&params)).await;
        self.metrics.count_request(method, 200);
        let mut data = match outcome.into_result() {
            Ok(data) if data.get("isError") == Some(&Value::Bool(true)) => {
                let message = data["content"][0]["text"]
                    .as_str()
                    .unwrap_or("tool failed")
                    .to_owned();
                return fail(None, message, Some(data));
            }
            Ok(data) => data,
            Err(e) => {
                let e = e.to_jsonrpc();
                return fail(Some(e.code), e.message, None);
            }
        };
        match kind {
            "list_tools" => {
                if let Some(tools) = data.get_mut("tools").and_then(Value::as_array_mut) {
                    seed::add_alias_tools(tools);
                }
            }
            "list_resources" => {
                let listed = self.dispatch(&call, "tools/list", None).await.into_result();
                let has_search = listed.ok().is_some_and(|l| {
                    l["tools"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t["name"] == "jira_search"))
                });
                if let (true, Some(list)) = (
                    has_search,
                    data.get_mut("resources").and_then(Value::as_array_mut),
                ) {
                    list.push(seed::issues_resource());
                }
            }
            _ if issues_resource => {
                let found = data.get("structuredContent").cloned().unwrap_or_else(|| {
                    let text = data["content"][0]["text"].as_str().unwrap_or("null");
                    serde_json::from_str(text).unwrap_or(Value::Null)
                });
                data = json!({"contents": [{"uri": value["uri"], "mimeType": "application/json",
                    "text": found.to_string()}]});
            }
            _ => {}
        }
        json!({"request_id": request_id, "type": "response", "success": true, "data": data})
    }
}
