//! Settings from environment-style variables (`MCP_EDGE_*`): the one reader every target shares
//! (native flags and environment, Worker `[vars]` and secrets, Lambda environment), driven by the one
//! [`table`] of settings, and the parsers of the compound forms (API key entries, rate limits,
//! durations).

mod defaults;
pub mod table;

use std::collections::BTreeMap;
use std::fmt;

pub use table::{Setting, Spec, Target};

use crate::auth::{ApiKeyEntry, AuthConfig, KeyHash, OAuthSettings};
use crate::connector::ConnectorSet;
use crate::credential::{CredentialDefaults, Service};
use crate::gateway::GatewayConfig;
use crate::policy::PolicyConfig;
use crate::ratelimit::RateLimit;
use crate::transport::headers::OriginPolicy;
use crate::upstream::{GuardConfig, PoolConfig, UpstreamConfig};

/// A variable that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct SettingsError {
    /// The variable's name.
    pub name: &'static str,
    /// What is wrong with its value (never the value itself: it may be a secret).
    pub reason: String,
}

/// Everything a serverless target needs to build its [`crate::McpApp`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// The gateway configuration.
    pub gateway: GatewayConfig,
    /// Connectors to register.
    pub connectors: ConnectorSet,
    /// Register the test-only tools (`MCP_EDGE_TEST_TOOLS`).
    pub test_tools: bool,
    /// Extra trusted CA certificates (PEM files) for upstream TLS: `MCP_EDGE_UPSTREAM_CA_FILE`
    /// (comma separated) and `SSL_CERT_FILE`. Native HTTP clients only; the Worker's fetch uses
    /// the platform's public trust.
    pub upstream_ca_files: Vec<String>,
    /// Every setting as given, for the target's own settings (native: bind address, data dir, …;
    /// Lambda: the sessions table, …).
    pub values: Values,
}

/// Checks a bridge base URL: `http` or `https`, with a host.
pub fn parse_bridge_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http(s) URL with a host".into());
    }
    Ok(text.trim().trim_end_matches('/').to_owned())
}

/// Parses a quota: a whole number of at least 1.
pub fn parse_quota(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a whole number of at least 1".into()),
    }
}

/// Parses `PER_MINUTE/BURST`, e.g. `600/60`.
pub fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let (rate, burst) = text
        .split_once('/')
        .ok_or("rate limit must look like PER_MINUTE/BURST, e.g. 600/60")?;
    let per_minute = rate
        .trim()
        .parse()
        .map_err(|_| format!("bad rate in {text}"))?;
    let burst = burst
        .trim()
        .parse()
        .map_err(|_| format!("bad burst in {text}"))?;
    Ok(RateLimit { per_minute, burst })
}

/// Parses `NAME=sha256:SALT:DIGEST[:ro][:tools=PAT+PAT][:rate=PER_MINUTE/BURST]`.
pub fn parse_api_key(text: &str) -> Result<ApiKeyEntry, String> {
    let (name, rest) = text.split_once('=').ok_or(
        "API key entry must look like NAME=sha256:SALT:DIGEST[:ro][:tools=a*+b][:rate=60/10]",
    )?;
    let parts: Vec<&str> = rest.trim().split(':').collect();
    if parts.len() < 3 {
        return Err(format!(
            "API key {name}: hash must be sha256:SALT:DIGEST (from `mcp-edge hash-key`)"
        ));
    }
    let hash = KeyHash::parse(&parts[..3].join(":")).map_err(|e| format!("API key {name}: {e}"))?;
    let mut entry = ApiKeyEntry {
        name: name.trim().to_owned(),
        hash,
        read_only: false,
        tools: None,
        rate_limit: None,
    };
    for opt in &parts[3..] {
        match opt.split_once('=') {
            None if *opt == "ro" || *opt == "read-only" => entry.read_only = true,
            Some(("tools", pats)) => {
                entry.tools = Some(pats.split('+').map(str::to_owned).collect())
            }
            Some(("rate", r)) => entry.rate_limit = Some(parse_rate(r)?),
            _ => return Err(format!("API key {name}: unknown option {opt}")),
        }
    }
    Ok(entry)
}

/// Parses a duration such as `30s`, `5m`, `1h` or `250ms` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    humantime::parse_duration(text.trim())
        .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
        .map_err(|e| format!("bad duration ({e}); use e.g. 30s, 5m, 1h"))
}

/// Parses a comma-separated connector list: any of `jira`, `confluence`, `gitlab`, or `none`.
pub fn parse_connectors<S: AsRef<str>>(names: &[S]) -> Result<ConnectorSet, String> {
    let mut set = ConnectorSet {
        jira: false,
        confluence: false,
        gitlab: false,
        ..ConnectorSet::default()
    };
    for n in names.iter().map(|n| n.as_ref().trim().to_ascii_lowercase()) {
        match n.as_str() {
            "jira" => set.jira = true,
            "confluence" => set.confluence = true,
            "gitlab" => set.gitlab = true,
            "none" | "" => {}
            other => {
                return Err(format!(
                    "unknown connector '{other}' (expected jira, confluence, gitlab or none)"
                ))
            }
        }
    }
    Ok(set)
}

/// Parses the services whose header URLs are accepted (`MCP_EDGE_DYNAMIC_URLS`, same names as the
/// connector list) into the services whose URL is fixed to the environment's.
pub fn parse_fixed_urls<S: AsRef<str>>(dynamic: &[S]) -> Result<Vec<Service>, String> {
    let set = parse_connectors(dynamic)?;
    Ok([
        (Service::Jira, set.jira),
        (Service::Confluence, set.confluence),
        (Service::GitLab, set.gitlab),
    ]
    .into_iter()
    .filter(|(_, dynamic)| !dynamic)
    .map(|(s, _)| s)
    .collect())
}

/// The services whose URL is fixed when `MCP_EDGE_DYNAMIC_URLS` is unset: the GitLab MCP server's
/// `ENABLE_DYNAMIC_API_URL=false` fixes GitLab's; otherwise every service accepts header URLs.
fn fixed_urls_fallback(enable_dynamic: Option<String>) -> Result<Vec<Service>, SettingsError> {
    match enable_dynamic.map(|v| v.to_ascii_lowercase()) {
        None => Ok(Vec::new()),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(Vec::new()),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(vec![Service::GitLab]),
        Some(_) => Err(SettingsError {
            name: "ENABLE_DYNAMIC_API_URL",
            reason: "expected true or false".into(),
        }),
    }
}

/// One target's settings as given, read once through [`table::ALL`]: trimmed, empty as unset. Only
/// the settings the target reads are looked up; the others stay unset.
#[derive(Clone)]
pub struct Values {
    target: Target,
    given: BTreeMap<&'static str, String>,
}

impl fmt::Debug for Values {
    // Names only: a value may be a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values")
            .field("target", &self.target)
            .field("given", &self.given.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Values {
    /// Looks up every setting `target` reads through `var`.
    pub fn load(target: Target, var: impl Fn(&str) -> Option<String>) -> Self {
        let given = table::for_target(target)
            .filter_map(|s| {
                var(s.var)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .map(|v| (s.var, v))
            })
            .collect();
        Values { target, given }
    }

    /// The target these values are for.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The value given for `spec`, if any (no default).
    pub fn given(&self, spec: &Spec) -> Option<&str> {
        self.given.get(spec.var).map(String::as_str)
    }

    /// The value given, else the default, parsed; `None` when neither exists or the target does not
    /// read the setting.
    pub fn get<T>(&self, setting: &Setting<T>) -> Result<Option<T>, SettingsError> {
        if !setting.targets.has(self.target) {
            return Ok(None);
        }
        self.given(setting)
            .or(setting.default)
            .map(|v| {
                (setting.parse)(v).map_err(|reason| SettingsError {
                    name: setting.var,
                    reason,
                })
            })
            .transpose()
    }

    /// [`Values::get`] for a setting with a default, a switch (off by default) or a list (empty).
    pub fn value<T: Default>(&self, setting: &Setting<T>) -> Result<T, SettingsError> {
        Ok(self.get(setting)?.unwrap_or_default())
    }
}

impl Settings {
    /// Reads every setting `target` reads (the [`table`]), plus the upstream credential and
    /// deployment fallbacks, through `var`. The `Host` check is enforced when `MCP_EDGE_ALLOWED_HOSTS`
    /// is given, or natively when bound to loopback (a serverless target has no bind to infer it from).
    pub fn from_vars(
        target: Target,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let v = Values::load(target, &var);
        let oauth = match v.get(&table::OAUTH_ISSUER)? {
            None => None,
            Some(issuer) => {
                let need = |s: &'static Setting<String>| {
                    v.get(s)?.ok_or(SettingsError {
                        name: s.var,
                        reason: "required when MCP_EDGE_OAUTH_ISSUER is set".into(),
                    })
                };
                let servers = v.value(&table::OAUTH_AUTHORIZATION_SERVERS)?;
                Some(OAuthSettings {
                    audience: need(&table::OAUTH_AUDIENCE)?,
                    jwks_uri: need(&table::OAUTH_JWKS_URI)?,
                    authorization_servers: if servers.is_empty() {
                        vec![issuer.clone()]
                    } else {
                        servers
                    },
                    issuer,
                    leeway_secs: 60,
                    read_scope: v.value(&table::OAUTH_READ_SCOPE)?,
                    write_scope: v.value(&table::OAUTH_WRITE_SCOPE)?,
                })
            }
        };
        let allowed_hosts = v.value(&table::ALLOWED_HOSTS)?;
        let loopback_bind = v.get(&table::BIND)?.is_some_and(|a| a.ip().is_loopback());
        let upstream = UpstreamConfig {
            guard: GuardConfig {
                allowlist: v.value(&table::UPSTREAM_ALLOWLIST)?,
                allow_http: v.value(&table::UPSTREAM_ALLOW_HTTP)?,
                allow_private: v.value(&table::UPSTREAM_ALLOW_PRIVATE)?,
            },
            pool: PoolConfig {
                max_size: v.value(&table::UPSTREAM_POOL_SIZE)?.max(1),
                idle_ms: v.value(&table::UPSTREAM_POOL_IDLE)?,
            },
            timeout_ms: v.value(&table::UPSTREAM_TIMEOUT)?,
            deployment: crate::upstream::DeploymentConfig::from_vars(get)
                .map_err(|(name, reason)| SettingsError { name, reason })?,
            max_retries: v.value(&table::UPSTREAM_RETRIES)?,
            ..UpstreamConfig::default()
        };
        let fixed_urls = match v.get(&table::DYNAMIC_URLS)? {
            Some(fixed) => fixed,
            None => fixed_urls_fallback(get("ENABLE_DYNAMIC_API_URL"))?,
        };
        let defaults = GatewayConfig::default();
        let gateway = GatewayConfig {
            session_ttl_ms: v.value(&table::SESSION_TTL)?,
            list_ttl_ms: v.value(&table::LIST_TTL)?,
            task_ttl_ms: v.value(&table::TASK_TTL)?,
            max_body_bytes: v.value(&table::MAX_BODY_BYTES)?,
            max_batch: v.value(&table::MAX_BATCH)?,
            origins: OriginPolicy {
                allowed_origins: v.value(&table::ALLOWED_ORIGINS)?,
                allowed_hosts: (loopback_bind || !allowed_hosts.is_empty())
                    .then_some(allowed_hosts),
            },
            fingerprint_key: v
                .get(&table::FINGERPRINT_KEY)?
                .unwrap_or(defaults.fingerprint_key.clone()),
            keepalive_ms: v.value(&table::KEEPALIVE)?,
            prefer_sse: v.value(&table::SSE_RESPONSES)?,
            policy: PolicyConfig {
                read_only: v.value(&table::READ_ONLY)?,
                toolsets: v.get(&table::TOOLSETS)?,
                allow_request_overrides: true,
                ..PolicyConfig::default()
            },
            auth: AuthConfig {
                api_keys: v.value(&table::API_KEYS)?,
                oauth,
                resource_url: v.get(&table::RESOURCE_URL)?,
            },
            request_limit: v.get(&table::RATE_LIMIT)?,
            tool_call_limit: v.get(&table::TOOL_RATE_LIMIT)?,
            tool_timeout_ms: Some(v.value(&table::TOOL_TIMEOUT)?),
            health_budget_ms: v.value(&table::HEALTH_BUDGET)?,
            bridge: match v.get(&table::BRIDGE_URL)? {
                None => None,
                Some(url) => Some(crate::connector::remote_bridge::BridgeConfig {
                    url,
                    secret: v.get(&table::BRIDGE_SECRET)?,
                    servers: v.value(&table::BRIDGE_SERVERS)?,
                    refresh_ms: v.value(&table::BRIDGE_REFRESH)?,
                }),
            },
            max_sessions_per_caller: v.get(&table::MAX_SESSIONS_PER_CALLER)?,
            max_streams_per_session: v.get(&table::MAX_STREAMS_PER_SESSION)?,
            upstream,
            tracing: trace_settings(&v)?,
            credential_defaults: CredentialDefaults {
                fixed_urls,
                ..CredentialDefaults::from_vars(get)
            },
            ..defaults
        };
        let mut upstream_ca_files = v.value(&table::UPSTREAM_CA_FILE)?;
        upstream_ca_files.extend(v.get(&table::SSL_CERT_FILE)?);
        Ok(Settings {
            gateway,
            connectors: crate::connector::ConnectorSet {
                pipeline_poll_ms: v.value(&table::GITLAB_PIPELINE_POLL)?,
                ..v.value(&table::CONNECTORS)?
            },
            test_tools: v.value(&table::TEST_TOOLS)?,
            upstream_ca_files,
            values: v,
        })
    }
}

/// The `OTEL_*` variables as [`TraceSettings`](crate::otel::TraceSettings) (pass-through where the
/// target does not read them: the Worker).
fn trace_settings(v: &Values) -> Result<crate::otel::TraceSettings, SettingsError> {
    let text = |s: &Setting<String>| v.get(s);
    let (exporter, endpoint, traces_endpoint) = (
        text(&table::OTEL_TRACES_EXPORTER)?,
        text(&table::OTEL_ENDPOINT)?,
        text(&table::OTEL_TRACES_ENDPOINT)?,
    );
    let (headers, traces_headers) = (
        text(&table::OTEL_HEADERS)?,
        text(&table::OTEL_TRACES_HEADERS)?,
    );
    let (sampler, sampler_arg, service_name) = (
        text(&table::OTEL_SAMPLER)?,
        text(&table::OTEL_SAMPLER_ARG)?,
        text(&table::OTEL_SERVICE_NAME)?,
    );
    crate::otel::TraceSettings::from_vars(&crate::otel::TraceVars {
        disabled: v.value(&table::OTEL_SDK_DISABLED)?,
        exporter: exporter.as_deref(),
        endpoint: endpoint.as_deref(),
        traces_endpoint: traces_endpoint.as_deref(),
        headers: headers.as_deref(),
        traces_headers: traces_headers.as_deref(),
        sampler: sampler.as_deref(),
        sampler_arg: sampler_arg.as_deref(),
        service_name: service_name.as_deref(),
    })
    .map_err(|(name, reason)| SettingsError { name, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(Target::Lambda, |n| map.get(n).cloned())
    }

    #[test]
    fn toolsets_default_to_the_compact_set_and_unknown_names_stop_the_load() {
        use crate::connector::toolset::Toolsets;
        assert_eq!(
            settings(&[]).unwrap().gateway.policy.toolsets,
            Some(Toolsets::DEFAULT)
        );
        assert_eq!(
            settings(&[("MCP_EDGE_TOOLSETS", "all")])
                .unwrap()
                .gateway
                .policy
                .toolsets,
            Some(Toolsets::ALL)
        );
        let err = settings(&[("MCP_EDGE_TOOLSETS", "gitlab,gitlab_pipelines")]).unwrap_err();
        assert_eq!(err.name, "MCP_EDGE_TOOLSETS");
        assert!(
            err.reason.contains("'gitlab_pipelines'") && err.reason.contains("gitlab_ci"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn deployment_variables_are_read_and_bad_values_named() {
        let s = settings(&[("JIRA_DEPLOYMENT", "datacenter")]).unwrap();
        assert_eq!(
            s.gateway.upstream.deployment.jira,
            Some(crate::upstream::Deployment::Server)
        );
        assert_eq!(s.gateway.upstream.deployment.confluence, None);
        let err = settings(&[("CONFLUENCE_DEPLOYMENT", "onprem")]).unwrap_err();
        assert_eq!(err.name, "CONFLUENCE_DEPLOYMENT");
        assert!(err.reason.contains("cloud, server"), "{}", err.reason);
    }

    #[test]
    fn parses_entries() {
        let hash = KeyHash::new("k", b"saltsalt").to_string();
        let e = parse_api_key(&format!(
            "ci={hash}:ro:tools=jira_*+gitlab_get_file:rate=60/5"
        ))
        .unwrap();
        assert_eq!(e.name, "ci");
        assert!(e.read_only && e.hash.verify("k"));
        assert_eq!(e.tools.unwrap(), vec!["jira_*", "gitlab_get_file"]);
        assert_eq!(
            e.rate_limit,
            Some(RateLimit {
                per_minute: 60,
                burst: 5
            })
        );
        assert!(parse_api_key("nohash").is_err());
        assert!(parse_api_key(&format!("x={hash}:bogus")).is_err());
        assert!(parse_rate("10").is_err());
    }

    #[test]
    fn empty_environment_gives_native_defaults() {
        let s = settings(&[]).unwrap();
        let d = GatewayConfig::default();
        assert_eq!(s.gateway.session_ttl_ms, d.session_ttl_ms);
        assert_eq!(s.gateway.max_body_bytes, d.max_body_bytes);
        assert_eq!(s.gateway.max_batch, 100);
        assert_eq!(s.gateway.origins.allowed_hosts, None);
        assert!(s.gateway.auth.is_open());
        assert_eq!(s.connectors, ConnectorSet::default());
        assert!(!s.test_tools);
        assert!(s.gateway.credential_defaults.fixed_urls.is_empty());
        assert!(s.upstream_ca_files.is_empty());
    }

    #[test]
    fn dynamic_urls_and_ca_files() {
        let s = settings(&[
            ("MCP_EDGE_DYNAMIC_URLS", "jira"),
            ("MCP_EDGE_UPSTREAM_CA_FILE", "/etc/corp-ca.pem"),
            ("SSL_CERT_FILE", "/etc/ssl/bundle.pem"),
        ])
        .unwrap();
        assert_eq!(
            s.gateway.credential_defaults.fixed_urls,
            vec![Service::Confluence, Service::GitLab]
        );
        assert_eq!(
            s.upstream_ca_files,
            vec!["/etc/corp-ca.pem", "/etc/ssl/bundle.pem"]
        );
        let none = settings(&[("MCP_EDGE_DYNAMIC_URLS", "none")]).unwrap();
        assert_eq!(none.gateway.credential_defaults.fixed_urls.len(), 3);
        // The GitLab MCP server's switch fixes GitLab's URL; ours wins when both are set.
        let seed = settings(&[("ENABLE_DYNAMIC_API_URL", "false")]).unwrap();
        assert_eq!(
            seed.gateway.credential_defaults.fixed_urls,
            vec![Service::GitLab]
        );
        let both = settings(&[
            ("ENABLE_DYNAMIC_API_URL", "false"),
            ("MCP_EDGE_DYNAMIC_URLS", "jira,confluence,gitlab"),
        ])
        .unwrap();
        assert!(both.gateway.credential_defaults.fixed_urls.is_empty());
        let e = settings(&[("MCP_EDGE_DYNAMIC_URLS", "jira,slack")]).unwrap_err();
        assert_eq!(e.name, "MCP_EDGE_DYNAMIC_URLS");
        let e = settings(&[("ENABLE_DYNAMIC_API_URL", "sometimes")]).unwrap_err();
        assert_eq!(e.name, "ENABLE_DYNAMIC_API_URL");
    }

    #[test]
    fn reads_every_kind_of_value() {
        let hash = KeyHash::new("k", b"saltsalt").to_string();
        let keys = format!("a={hash};b={hash}:ro");
        let s = settings(&[
            ("MCP_EDGE_SESSION_TTL", "2s"),
            (
                "MCP_EDGE_ALLOWED_HOSTS",
                "mcp.example.com, edge.example.com",
            ),
            ("MCP_EDGE_API_KEYS", &keys),
            ("MCP_EDGE_RATE_LIMIT", "600/60"),
            ("MCP_EDGE_CONNECTORS", "gitlab"),
            ("MCP_EDGE_TEST_TOOLS", "true"),
            ("MCP_EDGE_UPSTREAM_ALLOW_PRIVATE", "127.0.0.1"),
            ("MCP_EDGE_OAUTH_ISSUER", "https://issuer.example"),
            ("MCP_EDGE_OAUTH_AUDIENCE", "https://mcp.example.com/mcp"),
            ("MCP_EDGE_OAUTH_JWKS_URI", "https://issuer.example/jwks"),
            ("MCP_EDGE_MAX_SESSIONS_PER_CALLER", "5"),
            ("MCP_EDGE_BRIDGE_URL", "https://bridge.example/"),
            ("MCP_EDGE_BRIDGE_SECRET", "bridge-secret-value"),
            ("MCP_EDGE_MAX_STREAMS_PER_SESSION", "2"),
            ("MCP_EDGE_MAX_BATCH", "7"),
        ])
        .unwrap();
        assert_eq!(s.gateway.session_ttl_ms, 2000);
        assert_eq!(s.gateway.max_batch, 7);
        assert_eq!(
            s.gateway.origins.allowed_hosts.as_deref(),
            Some(&["mcp.example.com".to_string(), "edge.example.com".into()][..])
        );
        assert_eq!(s.gateway.auth.api_keys.len(), 2);
        assert!(s.gateway.auth.api_keys[1].read_only);
        assert_eq!(s.gateway.request_limit.map(|r| r.burst), Some(60));
        assert!(s.connectors.gitlab && !s.connectors.jira);
        assert!(s.test_tools);
        assert_eq!(s.gateway.upstream.guard.allow_private.len(), 1);
        let oauth = s.gateway.auth.oauth.clone().unwrap();
        assert_eq!(oauth.authorization_servers, vec!["https://issuer.example"]);
        assert_eq!(s.gateway.max_sessions_per_caller, Some(5));
        assert_eq!(s.gateway.max_streams_per_session, Some(2));
        let bridge = s.gateway.bridge.clone().unwrap();
        assert_eq!(bridge.url, "https://bridge.example");
        assert!(
            !format!("{:?}", s.gateway).contains("bridge-secret-value"),
            "the secret never shows"
        );
    }

    #[test]
    fn bad_values_name_the_variable_but_not_the_value() {
        let e = settings(&[("MCP_EDGE_SESSION_TTL", "soon")]).unwrap_err();
        assert_eq!(e.name, "MCP_EDGE_SESSION_TTL");
        let e = settings(&[("MCP_EDGE_API_KEYS", "admin=hunter2")]).unwrap_err();
        assert_eq!(e.name, "MCP_EDGE_API_KEYS");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = settings(&[("MCP_EDGE_OAUTH_ISSUER", "https://i")]).unwrap_err();
        assert_eq!(e.name, "MCP_EDGE_OAUTH_AUDIENCE");
        assert!(settings(&[("MCP_EDGE_TEST_TOOLS", "maybe")]).is_err());
        let e = settings(&[("MCP_EDGE_MAX_SESSIONS_PER_CALLER", "0")]).unwrap_err();
        assert_eq!(e.name, "MCP_EDGE_MAX_SESSIONS_PER_CALLER");
        let e = settings(&[("MCP_EDGE_BRIDGE_URL", "ftp://x")]).unwrap_err();
        assert_eq!(e.name, "MCP_EDGE_BRIDGE_URL");
        assert!(settings(&[("MCP_EDGE_CONNECTORS", "jira,slack")]).is_err());
    }
}
