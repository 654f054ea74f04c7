//! The cold start: the [`Gateway`] an execution environment builds once from its environment: the
//! core (`McpApp`) with the DynamoDB session store, rate limiter and quota leases, the upstream client
//! pool, and the Lambda-only settings (`MCP_EDGE_DYNAMODB_TABLE`, `MCP_EDGE_LEGACY_POLL`,
//! `MCP_EDGE_BASE_PATH`).

use std::sync::Arc;
use std::time::Duration;

use mcp_edge_core::error::McpError;
use mcp_edge_core::settings::{table as setting, Settings, SettingsError, Target};
use mcp_edge_core::tool::Registry;
use mcp_edge_core::upstream::UpstreamGuard;
use mcp_edge_core::{McpApp, Ports};
use mcp_edge_native::{
    LogAudit, OsEntropy, ReqwestClient, ReqwestFactory, SystemClock, TokioSleeper, TransportError,
    UpstreamTransport,
};

use crate::changes::DynamoChangeCounters;
use crate::handler::{base_path, Gateway, MAX_INVOCATION};
use crate::items::VersionedItems;
use crate::mailbox::DynamoMailbox;
use crate::outbox::DynamoOutbox;
use crate::quota::DynamoLeaseLedger;
use crate::ratelimit::DynamoRateLimiter;
use crate::store::DynamoSessionStore;

/// Shortest outbox poll interval accepted (each poll is one DynamoDB read).
const LEGACY_POLL_MIN_MS: u64 = 20;

/// Why the gateway could not be built (the function then fails its cold start).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting the core reads is invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// An extra CA file could not be read.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// `MCP_EDGE_DYNAMODB_TABLE` is unset.
    #[error("MCP_EDGE_DYNAMODB_TABLE must name the sessions table")]
    NoTable,
    /// The core refused its configuration.
    #[error(transparent)]
    Gateway(#[from] McpError),
    /// The span exporter could not start.
    #[error(transparent)]
    Tracing(#[from] mcp_edge_native::otlp::OtlpError),
}

/// An environment variable, `None` when unset or blank.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Builds the gateway from the process environment.
pub async fn build() -> Result<Gateway, StartError> {
    let settings = Settings::from_vars(Target::Lambda, env)?;
    let transport = UpstreamTransport::new(&settings.upstream_ca_files)?;
    let values = &settings.values;
    let table = values
        .get(&setting::DYNAMODB_TABLE)?
        .ok_or(StartError::NoTable)?;
    let legacy_poll =
        Duration::from_millis(values.value(&setting::LEGACY_POLL)?.max(LEGACY_POLL_MIN_MS));
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let store = DynamoSessionStore::new(client.clone(), table.clone(), Arc::new(SystemClock));
    let calls = store.calls();
    // Buckets and quota leases shared by every execution environment (used only when configured).
    let items = || VersionedItems::new(client.clone(), table.clone(), calls.clone());
    let limiter = DynamoRateLimiter::new(items());
    let leases = Arc::new(DynamoLeaseLedger::new(items()));
    let mut registry = Registry::new();
    if settings.test_tools {
        mcp_edge_core::testing::register_test_tools(&mut registry);
    }
    mcp_edge_core::connector::register(&mut registry, settings.connectors);
    let mut config = settings.gateway;
    // A held stream ends before its invocation's deadline, which is at most Lambda's 15 minutes.
    config.stream_lease_ms = Some(MAX_INVOCATION.as_millis() as u64);
    let upstream = config.upstream.clone();
    let ports = Ports {
        store: Arc::new(store),
        http: Arc::new(ReqwestClient::plain(Duration::from_secs(10), &transport)),
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
    };
    let outbox = Arc::new(DynamoOutbox::new(
        client.clone(),
        table.clone(),
        Arc::new(OsEntropy),
        calls.clone(),
    ));
    // Tools ask the client (sampling) through the session's outbox, which its GET stream's holder
    // polls, and wait for the answer in a mailbox slot, whichever environment the answer reaches.
    let requests = mcp_edge_core::mailbox::StoredClientRequests::new(
        outbox.clone(),
        Arc::new(DynamoMailbox::new(
            client.clone(),
            table.clone(),
            calls.clone(),
        )),
        Arc::new(TokioSleeper),
        Arc::new(SystemClock),
    );
    let app = McpApp::new(config, registry, ports)?
        .with_sleeper(Arc::new(TokioSleeper))
        .with_http_factory(Arc::new(ReqwestFactory {
            guard: UpstreamGuard::new(upstream.guard.clone()),
            timeout: Duration::from_millis(upstream.timeout_ms),
            transport,
        }))
        .with_audit_sink(Arc::new(LogAudit))
        .with_rate_limiter(Arc::new(limiter))
        .with_session_ledger(leases.clone())
        .with_stream_ledger(leases)
        // Listen streams poll the shared change counters: the fixture that changes a list runs in
        // another execution environment than the stream.
        .with_listen(mcp_edge_core::subscription::DEFAULT_POLL_MS)
        // Session streams poll at the outbox cadence (MCP_EDGE_LEGACY_POLL), see handler::held.
        .with_session_watch(legacy_poll.as_millis() as u64)
        .with_change_counters(Arc::new(DynamoChangeCounters::new(items())))
        .with_task_store(Arc::new(crate::task_store::DynamoTaskStore::new(
            items(),
            client.clone(),
            table.clone(),
        )))
        .with_outbox(outbox)
        .with_client_requests(Arc::new(requests));
    let (app, exporter) = mcp_edge_native::otlp::install(app)?;
    Ok(Gateway {
        app: Arc::new(app),
        exporter,
        calls,
        legacy_poll,
        base_path: base_path(values.given(&setting::BASE_PATH)),
    })
}
