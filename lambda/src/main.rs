//! # mcp-edge-lambda (binary `bootstrap`)
//!
//! The AWS Lambda target of mcp-edge: glue between `lambda_http` and the platform-free core. It serves
//! `/mcp`, `/sse` + `/messages`, `/health` and `/metrics` behind a Function URL; `/ws` answers 426
//! (Function URLs carry no WebSocket). Sessions live in DynamoDB ([`store::DynamoSessionStore`]).
//!
//! - `MCP_EDGE_LAMBDA_INVOKE_MODE=RESPONSE_STREAM` (default): replies stream through
//!   `run_with_streaming_response`, so an SSE answer and the legacy `/sse` stream flow incrementally.
//!   A held stream lives until the client leaves or the invocation nears its deadline; the legacy
//!   stream's messages come from the session's outbox in DynamoDB (one read per poll), because the
//!   `POST /messages` that produced them ran in another execution environment.
//! - `BUFFERED`: every reply is sent whole (held streams end after their first frames).
//!
//! Configuration: the native `MCP_EDGE_*` environment variables, plus `MCP_EDGE_DYNAMODB_TABLE`
//! (required), `MCP_EDGE_LEGACY_POLL` (outbox poll interval, default 250ms) and `MCP_EDGE_BASE_PATH`
//! (a path prefix in front of the function that the event does not carry, e.g. `/lambda-url/bootstrap`
//! under `cargo lambda watch`; it only shapes the legacy endpoint URL). The DynamoDB client,
//! the gateway and the upstream client pool are built once per execution environment.
//!
//! Features: none.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use lambda_http::{service_fn, RequestExt as _};
use mcp_edge_core::port::Clock as _;
use mcp_edge_core::settings::{table as setting, Settings, Target};
use mcp_edge_core::tool::Registry;
use mcp_edge_core::transport::{Reply, ReplyBody};
use mcp_edge_core::upstream::UpstreamGuard;
use mcp_edge_core::{McpApp, Ports};
use mcp_edge_native::{
    LogAudit, OsEntropy, ReqwestClient, ReqwestFactory, SystemClock, TokioSleeper,
    UpstreamTransport,
};
use serde_json::json;

use mcp_edge_lambda::handler::{
    base_path, held, response, time_left, to_core, whole, StreamedBody, MAX_INVOCATION,
};
use mcp_edge_lambda::items::VersionedItems;
use mcp_edge_lambda::quota::DynamoLeaseLedger;
use mcp_edge_lambda::ratelimit::DynamoRateLimiter;
use mcp_edge_lambda::store::{DynamoSessionStore, StoreCalls};

/// What every invocation shares (built once per execution environment).
struct Gateway {
    app: Arc<McpApp>,
    calls: Arc<StoreCalls>,
    legacy_poll: Duration,
    base_path: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn build() -> anyhow::Result<Gateway> {
    let settings = Settings::from_vars(Target::Lambda, env).map_err(anyhow::Error::msg)?;
    let transport = UpstreamTransport::new(&settings.upstream_ca_files)?;
    let values = &settings.values;
    let table = values
        .get(&setting::DYNAMODB_TABLE)?
        .ok_or_else(|| anyhow::anyhow!("MCP_EDGE_DYNAMODB_TABLE must name the sessions table"))?;
    let legacy_poll = Duration::from_millis(values.value(&setting::LEGACY_POLL)?.max(20));
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
    config.legacy_outbox_in_store = true;
    // A held stream ends before its invocation's deadline, which is at most Lambda's 15 minutes.
    config.stream_lease_ms = Some(MAX_INVOCATION.as_millis() as u64);
    let upstream = config.upstream.clone();
    let ports = Ports {
        store: Arc::new(store),
        http: Arc::new(ReqwestClient::plain(Duration::from_secs(10), &transport)),
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
    };
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
        .with_stream_ledger(leases);
    Ok(Gateway {
        app: Arc::new(app),
        calls,
        legacy_poll,
        base_path: base_path(values.given(&setting::BASE_PATH)),
    })
}

async fn handle(
    gw: Arc<Gateway>,
    req: lambda_http::Request,
    streaming: bool,
) -> Result<http::Response<StreamedBody>, Infallible> {
    let deadline = req.lambda_context_ref().map(|c| c.deadline);
    let core = to_core(req, &gw.base_path);
    let path = core.uri().path().trim_end_matches('/').to_owned();
    if path.ends_with("/ws") {
        let reply = Reply::json(
            http::StatusCode::UPGRADE_REQUIRED,
            &json!({
                "error": "WebSocket is not available on AWS Lambda",
                "detail": "Lambda Function URLs carry no WebSocket: use /mcp (Streamable HTTP) or /sse here; /ws is served by the native mcp-edge and the Cloudflare Worker",
            }),
        );
        return Ok(whole(reply));
    }
    let started = std::time::Instant::now();
    let mut reply = gw.app.handle(core).await;
    if path.ends_with("/metrics") && reply.status() == http::StatusCode::OK {
        if let ReplyBody::Full(b) = reply.response.body() {
            let text = format!("{}{}", String::from_utf8_lossy(b), gw.calls.render());
            *reply.response.body_mut() = ReplyBody::Full(Bytes::from(text));
        }
    }
    gw.app
        .metrics()
        .observe_latency_micros(started.elapsed().as_micros() as u64);
    if !streaming {
        return Ok(whole(reply));
    }
    match std::mem::replace(reply.response.body_mut(), ReplyBody::Empty) {
        ReplyBody::Sse {
            frames,
            hold: Some(hold),
        } => {
            let left = time_left(deadline, SystemClock.now());
            let body = held(gw.app.clone(), gw.legacy_poll, frames, hold, left);
            Ok(response(reply, body))
        }
        other => {
            *reply.response.body_mut() = other;
            Ok(whole(reply))
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_new(
        env(setting::LOG_LEVEL.var).unwrap_or_else(|| setting::LOG_LEVEL.fixed_default()),
    )
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    let gw = Arc::new(build().await.map_err(|e| {
        tracing::error!(error = %e, "mcp-edge cannot start");
        lambda_http::Error::from(e.to_string())
    })?);
    let buffered =
        env(setting::LAMBDA_INVOKE_MODE.var).is_some_and(|m| m.eq_ignore_ascii_case("BUFFERED"));
    tracing::info!(buffered, "mcp-edge lambda started");
    // The runtime loop ends only on a transport error talking to the Runtime API (a dropped
    // keep-alive connection, seen under local emulators). The environment is still good, so poll for
    // the next invocation again; give up after a run of quick failures.
    let mut failures = 0u32;
    loop {
        let started = std::time::Instant::now();
        let outcome = serve(gw.clone(), buffered).await;
        if started.elapsed() > Duration::from_secs(60) {
            failures = 0;
        }
        failures += 1;
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if failures < 5 => {
                tracing::warn!(error = %e, failures, "runtime API connection failed; polling again");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(failures))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs the Lambda runtime loop until it fails.
async fn serve(gw: Arc<Gateway>, buffered: bool) -> Result<(), lambda_http::Error> {
    if buffered {
        lambda_http::run(service_fn(move |req| {
            let gw = gw.clone();
            async move {
                let resp = handle(gw, req, false).await?;
                let (parts, body) = resp.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                Ok::<_, Infallible>(http::Response::from_parts(
                    parts,
                    lambda_http::Body::Binary(bytes.to_vec()),
                ))
            }
        }))
        .await
    } else {
        lambda_http::run_with_streaming_response(service_fn(move |req| {
            handle(gw.clone(), req, true)
        }))
        .await
    }
}
