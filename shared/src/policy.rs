//! Gateway policy for one request: read-only mode and tool allow-lists, from configuration and headers.

use http::HeaderMap;

use crate::auth::Caller;
use crate::connector::toolset::{Toolset, Toolsets, TOOLSETS_HEADER};
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
    /// When set, only connector tools of these toolsets are offered (`MCP_EDGE_TOOLSETS`); `None`:
    /// every toolset.
    pub toolsets: Option<Toolsets>,
    /// Whether clients may narrow the policy with request headers.
    pub allow_request_overrides: bool,
}

/// The effective policy for one request. Request headers can only narrow configuration, never widen it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPolicy {
    read_only: bool,
    allowed: Option<Vec<String>>,
    denied: Vec<String>,
    caller: Option<Caller>,
    /// A policy header of this request (`X-MCP-Read-Only`, `X-MCP-Tools`, `X-MCP-Toolsets`) was honoured.
    from_headers: bool,
    toolsets: Toolsets,
    /// Why the request's toolsets header was refused (reported by `tools/list` and `tools/call`).
    toolsets_error: Option<String>,
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
            toolsets: config.toolsets.unwrap_or(Toolsets::ALL),
            toolsets_error: None,
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
        policy.from_headers = header(READ_ONLY_HEADER).is_some()
            || header(TOOLS_HEADER).is_some()
            || headers.contains_key(TOOLSETS_HEADER);
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
        if let Some(v) = header(TOOLSETS_HEADER) {
            // Narrowing only: a toolset the configuration leaves out stays out.
            match Toolsets::parse_list(v) {
                Ok(requested) => policy.toolsets = policy.toolsets.intersect(requested),
                Err(why) => {
                    policy.toolsets_error = Some(format!("Invalid params: X-MCP-Toolsets: {why}"))
                }
            }
        } else if headers.contains_key(TOOLSETS_HEADER) {
            policy.toolsets_error = Some("Invalid params: X-MCP-Toolsets is not text".into());
        }
        policy
    }

    /// Whether a request header narrowed this policy (then what a list shows is this request's own).
    pub fn shaped_by_request(&self) -> bool {
        self.from_headers
    }

    /// Why the request's `X-MCP-Toolsets` header is refused, if it is (the header names a toolset
    /// that does not exist: a typo must not silently hide every tool).
    pub fn toolsets_error(&self) -> Option<&str> {
        self.toolsets_error.as_deref()
    }

    /// Whether a tool of `toolset` exists for this request: connector tools outside the enabled
    /// toolsets are neither listed nor callable (`Unknown tool`, as if not registered); tools of no
    /// toolset (bridged, test) always pass.
    pub fn offers(&self, toolset: Option<Toolset>) -> bool {
        toolset.is_none_or(|t| self.toolsets.contains(t))
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
