//! Gateway policy for one request: read-only mode and tool allow-lists, from configuration and headers.

use http::HeaderMap;

use crate::auth::Caller;
use crate::tool::ToolDef;

/// Header that asks for read-only mode (`true`/`1`/`yes`).
pub const READ_ONLY_HEADER: &str = "x-mcp-read-only";
/// Header that limits the tool set (comma separated names).
pub const TOOLS_HEADER: &str = "x-mcp-tools";

/// Policy from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Only tools marked `readOnlyHint` are offered.
    pub read_only: bool,
    /// When set, only these tools are offered.
    pub allowed_tools: Option<Vec<String>>,
    /// Tools never offered.
    pub denied_tools: Vec<String>,
    /// Whether clients may narrow the policy with request headers.
    pub allow_request_overrides: bool,
}

/// The effective policy for one request. Request headers can only narrow configuration, never widen it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPolicy {
    read_only: bool,
    allowed: Option<Vec<String>>,
    denied: Vec<String>,
    caller: Option<Caller>,
    /// A policy header of this request (`X-MCP-Read-Only`, `X-MCP-Tools`) was honoured.
    from_headers: bool,
}

impl RequestPolicy {
    /// Combines configuration with the request's policy headers.
    pub fn new(config: &PolicyConfig, headers: &HeaderMap) -> Self {
        let mut policy = RequestPolicy {
            read_only: config.read_only,
            allowed: config.allowed_tools.clone(),
            denied: config.denied_tools.clone(),
            caller: None,
            from_headers: false,
        };
        if !config.allow_request_overrides {
            return policy;
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        policy.from_headers = header(READ_ONLY_HEADER).is_some() || header(TOOLS_HEADER).is_some();
        if let Some(v) = header(READ_ONLY_HEADER) {
            policy.read_only |=
                matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on");
        }
        if let Some(v) = header(TOOLS_HEADER) {
            let requested: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            policy.allowed = Some(match policy.allowed.take() {
                Some(configured) => requested
                    .into_iter()
                    .filter(|t| configured.contains(t))
                    .collect(),
                None => requested,
            });
        }
        policy
    }

    /// Whether a request header narrowed this policy (then what a list shows is this request's own).
    pub fn shaped_by_request(&self) -> bool {
        self.from_headers
    }

    /// Narrows the policy to what the authenticated caller may do (its key's or token's scopes).
    pub fn for_caller(mut self, caller: &Caller) -> Self {
        self.read_only |= caller.read_only;
        self.caller = Some(caller.clone());
        self
    }

    /// Whether the tool may be listed and called; `Err` says why not.
    pub fn permits(&self, def: &ToolDef) -> Result<(), String> {
        if self.denied.iter().any(|d| d == &def.name) {
            return Err(format!("tool {} is disabled by gateway policy", def.name));
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.iter().any(|a| a == &def.name) {
                return Err(format!("tool {} is not in the allowed tool list", def.name));
            }
        }
        if let Some(caller) = &self.caller {
            if !caller.allows_tool(&def.name) {
                return Err(format!(
                    "tool {} is not allowed for caller {}",
                    def.name, caller.name
                ));
            }
        }
        if self.read_only && def.annotations.read_only_hint != Some(true) {
            return Err(format!(
                "tool {} is not read-only and the gateway is in read-only mode",
                def.name
            ));
        }
        Ok(())
    }
}
