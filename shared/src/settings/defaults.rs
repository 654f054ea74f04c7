//! The `Default` of every configuration struct the settings table has defaults for, written here
//! beside the table so the configured modules (`gateway`, `upstream`) need not import the settings
//! (the table imports their types: that was an import cycle).

use super::table;
use crate::auth::AuthConfig;
use crate::credential::CredentialDefaults;
use crate::gateway::GatewayConfig;
use crate::policy::PolicyConfig;
use crate::transport::headers::OriginPolicy;
use crate::upstream::pool::PoolConfig;
use crate::upstream::{DeploymentConfig, GuardConfig, UpstreamConfig};

impl Default for GatewayConfig {
    /// The settings table's defaults ([`crate::settings::table`]) and the fixed limits.
    fn default() -> Self {
        GatewayConfig {
            server_name: "mcp-edge".into(),
            server_version: env!("CARGO_PKG_VERSION").into(),
            instructions: None,
            session_ttl_ms: table::SESSION_TTL.fixed_default(),
            list_ttl_ms: table::LIST_TTL.fixed_default(),
            task_ttl_ms: table::TASK_TTL.fixed_default(),
            max_body_bytes: table::MAX_BODY_BYTES.fixed_default(),
            max_batch: table::MAX_BATCH.fixed_default(),
            max_batch_reply_bytes: 8 * 1024 * 1024,
            origins: OriginPolicy::default(),
            fingerprint_key: b"mcp-edge-default-fingerprint-key".to_vec(),
            page_size: 100,
            keepalive_ms: table::KEEPALIVE.fixed_default(),
            event_log_limit: 64,
            prefer_sse: false,
            policy: PolicyConfig {
                toolsets: Some(table::TOOLSETS.fixed_default()),
                allow_request_overrides: true,
                ..PolicyConfig::default()
            },
            auth: AuthConfig::default(),
            request_limit: None,
            tool_call_limit: None,
            tool_timeout_ms: Some(table::TOOL_TIMEOUT.fixed_default()),
            max_sessions_per_caller: None,
            max_streams_per_session: None,
            stream_lease_ms: None,
            upstream: UpstreamConfig::default(),
            credential_defaults: CredentialDefaults::default(),
            bridge: None,
            health_budget_ms: table::HEALTH_BUDGET.fixed_default(),
            tracing: Default::default(),
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            guard: GuardConfig::default(),
            pool: PoolConfig::default(),
            timeout_ms: table::UPSTREAM_TIMEOUT.fixed_default(),
            max_retries: table::UPSTREAM_RETRIES.fixed_default(),
            max_retry_wait_ms: 10_000,
            backoff_ms: 250,
            deployment: DeploymentConfig::default(),
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_size: table::UPSTREAM_POOL_SIZE.fixed_default(),
            idle_ms: table::UPSTREAM_POOL_IDLE.fixed_default(),
        }
    }
}
