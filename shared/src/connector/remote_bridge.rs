//! Tools of a remote `mcp-edge` stdio bridge, offered by this gateway (the serverless targets use it
//! to reach stdio MCP servers). With [`BridgeConfig`] set, `tools/list` also lists every tool of the
//! bridge's servers as `{server}__{tool}`, and calls to those names are forwarded to the bridge's
//! REST API (`/servers`, `/sessions`, `/tools/discover`, `/tools/call`) through the [`HttpClient`]
//! port, authenticated with the shared secret as the bridge's API key. The catalog is cached and
//! refreshed after [`BridgeConfig::refresh_ms`]. Each gateway instance keeps one bridge session per
//! server and caller (so a per-session bridged server gives each caller its own child) and opens a new
//! one when the bridge forgot it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::McpError;
use crate::port::{BoxFuture, HttpClient, UnixMillis};
use crate::tool::{Tool, ToolAnnotations, ToolContext, ToolDef, ToolFailure, ToolOutput};

/// Most bridge sessions one gateway instance remembers.
const MAX_BRIDGE_SESSIONS: usize = 1024;

/// Separates a bridged server's name from its tool's name in the names this gateway lists.
pub const NAMESPACE_SEPARATOR: &str = "__";

/// Where the bridge is and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Base URL of the bridge (`https://bridge.example.com`).
    pub url: String,
    /// Shared secret, sent as the bridge's API key (`X-API-Key`).
    pub secret: Option<String>,
    /// Only these bridged servers (all when empty).
    pub servers: Vec<String>,
    /// How long a fetched catalog is used before it is fetched again.
    pub refresh_ms: u64,
}

impl fmt::Debug for BridgeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeConfig")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("servers", &self.servers)
            .field("refresh_ms", &self.refresh_ms)
            .finish()
    }
}

#[derive(Default)]
struct CatalogState {
    tools: Vec<Arc<BridgedTool>>,
    fetched_at: Option<UnixMillis>,
    /// Bridge session per (server, caller); the catalog's own listing uses the caller "".
    sessions: HashMap<(String, String), String>,
}

/// The bridge's tools as last fetched, and this instance's bridge sessions.
pub struct BridgeCatalog {
    config: BridgeConfig,
    http: Arc<dyn HttpClient>,
    state: Mutex<CatalogState>,
}

/// One tool of a bridged server, under its namespaced name.
pub struct BridgedTool {
    def: ToolDef,
    server: String,
    tool: String,
    catalog: Arc<BridgeCatalog>,
}

impl BridgeCatalog {
    /// A catalog for `config`, fetched through `http` when first needed.
    pub fn new(config: BridgeConfig, http: Arc<dyn HttpClient>) -> Arc<Self> {
        Arc::new(BridgeCatalog {
            config,
            http,
            state: Mutex::new(CatalogState::default()),
        })
    }

    /// The tools as last fetched.
    pub fn tools(&self) -> Vec<Arc<BridgedTool>> {
        self.state
            .lock()
            .map(|s| s.tools.clone())
            .unwrap_or_default()
    }

    /// A tool by its namespaced name.
    pub fn tool(&self, name: &str) -> Option<Arc<BridgedTool>> {
        self.state
            .lock()
            .ok()?
            .tools
            .iter()
            .find(|t| t.def.name == name)
            .cloned()
    }

    /// Fetches the catalog when it is older than the refresh interval (or was never fetched). On
    /// failure the previous catalog stays in use.
    pub async fn refresh_if_stale(self: &Arc<Self>, now: UnixMillis) -> Result<(), McpError> {
        let stale = self.state.lock().map_or(true, |s| {
            s.fetched_at
                .is_none_or(|t| now.saturating_sub(t) >= self.config.refresh_ms)
        });
        if !stale {
            return Ok(());
        }
        let listed = self.get("/servers").await?;
        let mut names: Vec<String> = listed
            .get("servers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !self.config.servers.is_empty() {
            names.retain(|n| self.config.servers.contains(n));
        }
        let mut tools = Vec::new();
        for server in names {
            let discover = |session: &str| {
                let mut m = Map::new();
                m.insert("session_id".into(), json!(session));
                m
            };
            let listed = self
                .session_request(&server, "", "/tools/discover", &discover)
                .await;
            let listed = match listed {
                Ok(v) => v,
                Err(_) => continue, // one failing server does not hide the others
            };
            for t in listed
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(tool) = self.bridged_tool(&server, t) {
                    tools.push(Arc::new(tool));
                }
            }
        }
        if let Ok(mut s) = self.state.lock() {
            s.tools = tools;
            s.fetched_at = Some(now);
        }
        Ok(())
    }

    fn bridged_tool(self: &Arc<Self>, server: &str, t: &Value) -> Option<BridgedTool> {
        let tool = t.get("name")?.as_str()?.to_owned();
        let annotations: ToolAnnotations = t
            .get("annotations")
            .cloned()
            .and_then(|a| serde_json::from_value(a).ok())
            .unwrap_or_default();
        let def = ToolDef {
            name: format!("{server}{NAMESPACE_SEPARATOR}{tool}"),
            title: t.get("title").and_then(Value::as_str).map(str::to_owned),
            description: format!(
                "[{server}] {}",
                t.get("description").and_then(Value::as_str).unwrap_or("")
            ),
            input_schema: t
                .get("inputSchema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
            output_schema: t.get("outputSchema").cloned(),
            annotations,
        };
        Some(BridgedTool {
            def,
            server: server.to_owned(),
            tool,
            catalog: self.clone(),
        })
    }

    /// `path` (`/tools/discover`, `/tools/call`) with the body `body` builds for this instance's
    /// session on `server`: opened when missing, and once more when the bridge no longer knows it.
    async fn session_request(
        &self,
        server: &str,
        caller: &str,
        path: &str,
        body: &(dyn Fn(&str) -> Map<String, Value> + Sync),
    ) -> Result<Value, McpError> {
        let key = (server.to_owned(), caller.to_owned());
        for attempt in 0..2 {
            let known = self
                .state
                .lock()
                .ok()
                .and_then(|s| s.sessions.get(&key).cloned());
            let session = match known {
                Some(s) => s,
                None => self.open_session(&key).await?,
            };
            match self.post(path, &Value::Object(body(&session))).await {
                Err(McpError::SessionNotFound) if attempt == 0 => {
                    if let Ok(mut s) = self.state.lock() {
                        s.sessions.remove(&key);
                    }
                }
                other => return other,
            }
        }
        Err(McpError::Backend(
            "the bridge keeps forgetting its sessions".into(),
        ))
    }

    async fn open_session(&self, key: &(String, String)) -> Result<String, McpError> {
        let (server, caller) = key;
        let opened = self
            .post(
                "/sessions",
                &json!({"server": server, "client_id": "mcp-edge-gateway", "metadata": {"caller": caller}}),
            )
            .await?;
        let id = opened
            .get("session_id")
            .and_then(Value::as_str)
            .ok_or_else(|| McpError::Backend("the bridge opened no session".into()))?
            .to_owned();
        if let Ok(mut s) = self.state.lock() {
            // Bounded: past this many callers, forget them all (the bridge expires idle sessions).
            if s.sessions.len() >= MAX_BRIDGE_SESSIONS {
                s.sessions.clear();
            }
            s.sessions.insert(key.clone(), id.clone());
        }
        Ok(id)
    }

    async fn get(&self, path: &str) -> Result<Value, McpError> {
        self.send(http::Method::GET, path, Bytes::new()).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, McpError> {
        self.send(http::Method::POST, path, Bytes::from(body.to_string()))
            .await
    }

    async fn send(&self, method: http::Method, path: &str, body: Bytes) -> Result<Value, McpError> {
        let url = format!("{}{path}", self.config.url.trim_end_matches('/'));
        let mut req = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::ACCEPT, "application/json");
        if !body.is_empty() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(secret) = &self.config.secret {
            req = req.header("x-api-key", secret);
        }
        let req = req
            .body(body)
            .map_err(|e| McpError::Internal(format!("bad bridge URL: {e}")))?;
        let resp = self
            .http
            .send(req)
            .await
            .map_err(|e| McpError::Backend(format!("the bridge is unreachable: {e}")))?;
        let status = resp.status();
        let value: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        Err(match status.as_u16() {
            404 if value.pointer("/error/code") == Some(&json!(-32001)) => {
                McpError::SessionNotFound
            }
            400 => McpError::InvalidParams(message),
            401 | 403 => McpError::Backend(format!(
                "the bridge refused this gateway ({status}); check MCP_EDGE_BRIDGE_SECRET"
            )),
            _ => McpError::Backend(format!("the bridge answered {status}: {message}")),
        })
    }
}

impl Tool for BridgedTool {
    fn def(&self) -> &ToolDef {
        &self.def
    }

    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(async move {
            let (tool, args) = (self.tool.clone(), Value::Object(args));
            let body = move |session: &str| {
                let mut m = Map::new();
                m.insert("session_id".into(), json!(session));
                m.insert("name".into(), json!(tool));
                m.insert("arguments".into(), args.clone());
                m
            };
            match self
                .catalog
                .session_request(&self.server, ctx.caller, "/tools/call", &body)
                .await
            {
                Ok(answer) => match answer.get("result") {
                    Some(result) => Ok(ToolOutput::Result(result.clone())),
                    None => Err(ToolFailure {
                        message: "the bridge answered without a result".into(),
                    }),
                },
                Err(e) => Err(ToolFailure {
                    message: format!("bridged server '{}': {e}", self.server),
                }),
            }
        })
    }
}
