//! # mcp-edge
//!
//! The native mcp-edge server: the platform-free core (`mcp-edge-core`) served over axum on
//! 127.0.0.1:8787 by default, with an embedded persistent session store (redb) so a restart loses
//! no session. Endpoints: `/mcp` (Streamable HTTP), `/sse` + `/messages` (legacy HTTP+SSE), `/ws`
//! (WebSocket), `/health` and `/metrics`. Every flag has an `MCP_EDGE_*` environment variable.

mod access;
mod http_io;
mod listener;
mod server;
mod state;
mod stdio;
mod store;
mod streams;
mod wsock;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mcp_edge_core::auth::{ApiKeyEntry, AuthConfig, KeyHash, OAuthSettings};
use mcp_edge_core::connector::remote_bridge::BridgeConfig;
use mcp_edge_core::connector::ConnectorSet;
use mcp_edge_core::credential::CredentialDefaults;
use mcp_edge_core::gateway::ConnectionBudget;
use mcp_edge_core::policy::PolicyConfig;
use mcp_edge_core::port::{Clock as _, Entropy as _};
use mcp_edge_core::ratelimit::RateLimit;
use mcp_edge_core::tool::Registry;
use mcp_edge_core::transport::headers::OriginPolicy;
use mcp_edge_core::upstream::{
    DeploymentConfig, GuardConfig, HostPattern, PoolConfig, UpstreamConfig, UpstreamGuard,
};
use mcp_edge_core::{GatewayConfig, McpApp, Ports};
use tokio::sync::watch;

use crate::store::RedbSessionStore;
use mcp_edge_native::{LogAudit, OsEntropy, SystemClock, TokioSleeper};
use mcp_edge_native::{ReqwestClient, ReqwestFactory, UpstreamTransport};

/// Command-line flags (each also read from an `MCP_EDGE_*` environment variable).
#[derive(Debug, Parser)]
#[command(
    name = "mcp-edge",
    version,
    about = "Serve MCP tools over Streamable HTTP, SSE and WebSocket"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on (use port 0 for a free port).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_BIND",
        default_value = "127.0.0.1:8787"
    )]
    bind: SocketAddr,
    /// Directory of the embedded session database and the credential fingerprint key.
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_DATA_DIR",
        default_value = ".mcp-edge"
    )]
    data_dir: PathBuf,
    /// Idle time after which a session expires (e.g. `30m`, `1h`, `2s`).
    #[arg(global = true, long, env = "MCP_EDGE_SESSION_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    session_ttl: Duration,
    /// Browser origins allowed besides loopback ones (comma separated, `*` for any).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Host names accepted in the `Host` header besides loopback names (DNS-rebinding protection;
    /// enforced when bound to loopback, or whenever this list is given).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Largest accepted request body in bytes (413 above).
    #[arg(global = true, long, env = "MCP_EDGE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Most messages in one JSON-RPC batch (400 above).
    #[arg(long, env = "MCP_EDGE_MAX_BATCH", default_value_t = 100)]
    max_batch: usize,
    /// Interval of SSE keep-alive comments.
    #[arg(global = true, long, env = "MCP_EDGE_KEEPALIVE", default_value = "15s", value_parser = humantime::parse_duration)]
    keepalive: Duration,
    /// Answer POSTs with SSE even when the client accepts JSON.
    #[arg(global = true, long, env = "MCP_EDGE_SSE_RESPONSES")]
    sse_responses: bool,
    /// Offer only read-only tools.
    #[arg(global = true, long, env = "MCP_EDGE_READ_ONLY")]
    read_only: bool,
    /// Log filter (e.g. `info`, `debug`, `mcp_edge=debug`).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_LOG_LEVEL",
        default_value = "info"
    )]
    log_level: String,
    /// Log as JSON lines.
    #[arg(global = true, long, env = "MCP_EDGE_LOG_JSON")]
    log_json: bool,
    /// Register the test-only tools, resources and prompt (never on by default).
    #[arg(global = true, long, env = "MCP_EDGE_TEST_TOOLS", hide = true)]
    enable_test_tools: bool,
    /// API key entries `NAME=sha256:SALT:DIGEST[:ro][:tools=a*+b][:rate=60/10]` (hash from `mcp-edge hash-key`).
    #[arg(global = true, long = "api-key", env = "MCP_EDGE_API_KEYS", value_delimiter = ';', value_parser = access::parse_api_key)]
    api_keys: Vec<ApiKeyEntry>,
    /// OAuth resource-server mode: the expected token issuer (`iss`).
    #[arg(global = true, long, env = "MCP_EDGE_OAUTH_ISSUER", requires_all = ["oauth_audience", "oauth_jwks_uri"])]
    oauth_issuer: Option<String>,
    /// Expected token audience (`aud`): this resource's URL.
    #[arg(global = true, long, env = "MCP_EDGE_OAUTH_AUDIENCE")]
    oauth_audience: Option<String>,
    /// URL of the issuer's JWKS.
    #[arg(global = true, long, env = "MCP_EDGE_OAUTH_JWKS_URI")]
    oauth_jwks_uri: Option<String>,
    /// Authorization servers named in `/.well-known/oauth-protected-resource` (default: the issuer).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_OAUTH_AUTHORIZATION_SERVERS",
        value_delimiter = ','
    )]
    oauth_authorization_servers: Vec<String>,
    /// Token scope that allows read-only tools.
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_OAUTH_READ_SCOPE",
        default_value = "mcp:read"
    )]
    oauth_read_scope: String,
    /// Token scope that allows every tool.
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_OAUTH_WRITE_SCOPE",
        default_value = "mcp:write"
    )]
    oauth_write_scope: String,
    /// Public URL of the MCP endpoint (for OAuth metadata); derived from `Host` when unset.
    #[arg(global = true, long, env = "MCP_EDGE_RESOURCE_URL")]
    resource_url: Option<String>,
    /// Per-caller request limit `PER_MINUTE/BURST` (e.g. `600/60`); none by default.
    #[arg(global = true, long, env = "MCP_EDGE_RATE_LIMIT", value_parser = access::parse_rate)]
    rate_limit: Option<RateLimit>,
    /// Per-caller tool-call limit `PER_MINUTE/BURST`; none by default.
    #[arg(global = true, long, env = "MCP_EDGE_TOOL_RATE_LIMIT", value_parser = access::parse_rate)]
    tool_rate_limit: Option<RateLimit>,
    /// Longest a tool call may run before it is cancelled.
    #[arg(global = true, long, env = "MCP_EDGE_TOOL_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    tool_timeout: Duration,
    /// Most sessions (of every transport) one caller may hold open at once; unlimited by default.
    #[arg(global = true, long, env = "MCP_EDGE_MAX_SESSIONS_PER_CALLER", value_parser = mcp_edge_core::settings::parse_quota)]
    max_sessions_per_caller: Option<u32>,
    /// Most `GET /mcp` streams one session may hold open at once; unlimited by default.
    #[arg(global = true, long, env = "MCP_EDGE_MAX_STREAMS_PER_SESSION", value_parser = mcp_edge_core::settings::parse_quota)]
    max_streams_per_session: Option<u32>,
    /// Longest a request head may take from its first byte to its end (the connection closes after).
    #[arg(long, env = "MCP_EDGE_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Longest a connection may wait for the first byte of its next request (keep-alive idle time).
    #[arg(long, env = "MCP_EDGE_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Longest a whole request body may take to arrive (408 after).
    #[arg(long, env = "MCP_EDGE_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    body_timeout: Duration,
    /// Slowest average rate, in bytes per second, a request body may arrive at after its first second
    /// (408 below; 0 turns the check off).
    #[arg(long, env = "MCP_EDGE_BODY_MIN_RATE", default_value_t = 1024)]
    body_min_rate: u64,
    /// Most connections served at once (a small reserve above it answers only `/health`); by default
    /// derived from the file-descriptor limit (limit − 144, between 16 and 8192).
    #[arg(long, env = "MCP_EDGE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Longest a shutdown waits for in-flight requests and streams before cancelling them.
    #[arg(long, env = "MCP_EDGE_SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
    /// A remote mcp-edge stdio bridge whose servers' tools are offered too, as `{server}__{tool}`.
    #[arg(global = true, long, env = "MCP_EDGE_BRIDGE_URL", value_parser = mcp_edge_core::settings::parse_bridge_url)]
    bridge_url: Option<String>,
    /// Shared secret for the bridge (sent as its API key).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_BRIDGE_SECRET",
        hide_env_values = true
    )]
    bridge_secret: Option<String>,
    /// Serve without caller authentication on a non-loopback address (refused otherwise).
    #[arg(global = true, long, env = "MCP_EDGE_ALLOW_UNAUTHENTICATED")]
    allow_unauthenticated: bool,
    /// Connectors to offer: any of `jira`, `confluence`, `gitlab`, or `none`.
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_CONNECTORS",
        value_delimiter = ',',
        default_value = "jira,confluence,gitlab"
    )]
    connectors: Vec<String>,
    /// Only these upstream hosts may be reached (`*.example.com` wildcards); any public host when empty.
    #[arg(global = true, long, env = "MCP_EDGE_UPSTREAM_ALLOWLIST", value_delimiter = ',', value_parser = HostPattern::parse)]
    upstream_allowlist: Vec<HostPattern>,
    /// Upstream hosts that may be reached over plain http (https only otherwise).
    #[arg(global = true, long, env = "MCP_EDGE_UPSTREAM_ALLOW_HTTP", value_delimiter = ',', value_parser = HostPattern::parse)]
    upstream_allow_http: Vec<HostPattern>,
    /// Upstream hosts that may be loopback, private or link-local addresses (refused otherwise).
    #[arg(global = true, long, env = "MCP_EDGE_UPSTREAM_ALLOW_PRIVATE", value_delimiter = ',', value_parser = HostPattern::parse)]
    upstream_allow_private: Vec<HostPattern>,
    /// Longest one upstream call may take.
    #[arg(global = true, long, env = "MCP_EDGE_UPSTREAM_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    upstream_timeout: Duration,
    /// Most pooled upstream clients (least recently used ones are evicted).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_UPSTREAM_POOL_SIZE",
        default_value_t = 100
    )]
    upstream_pool_size: usize,
    /// Idle time after which a pooled upstream client is dropped.
    #[arg(global = true, long, env = "MCP_EDGE_UPSTREAM_POOL_IDLE", default_value = "5m", value_parser = humantime::parse_duration)]
    upstream_pool_idle: Duration,
    /// Retries after upstream 429/502/503/504 answers.
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_UPSTREAM_RETRIES",
        default_value_t = 2
    )]
    upstream_retries: u32,
    /// Bridge a stdio MCP server, served at `/servers/stdio/mcp` (e.g.
    /// `--stdio "npx -y @modelcontextprotocol/server-everything"`).
    #[arg(global = true, long, env = "MCP_EDGE_STDIO")]
    stdio: Option<String>,
    /// Services whose header-supplied URLs are accepted (`jira`, `confluence`, `gitlab` or `none`;
    /// default all). For the others only the environment URL is used and a header URL is refused.
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_DYNAMIC_URLS",
        value_delimiter = ','
    )]
    dynamic_urls: Vec<String>,
    /// Extra trusted CA certificates for upstream TLS (PEM files, comma separated), added to the
    /// bundled roots and the system store (`SSL_CERT_FILE` is added too when set).
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_UPSTREAM_CA_FILE",
        value_delimiter = ','
    )]
    upstream_ca_file: Vec<PathBuf>,
    /// Isolation of the `--stdio` server: `per-session` (a child per session) or `shared`.
    #[arg(
        global = true,
        long,
        env = "MCP_EDGE_STDIO_ISOLATION",
        default_value = "per-session"
    )]
    stdio_isolation: stdio::config::Isolation,
    /// TOML file of bridged stdio servers (`[servers.NAME]` tables), served at `/servers/NAME/mcp`.
    #[arg(global = true, long, env = "MCP_EDGE_STDIO_CONFIG")]
    stdio_config: Option<PathBuf>,
}

/// The bridged stdio servers from `--stdio-config` and `--stdio`.
fn stdio_servers(
    cli: &Cli,
) -> anyhow::Result<std::collections::BTreeMap<String, stdio::config::ServerSpec>> {
    let mut servers = match &cli.stdio_config {
        Some(path) => stdio::config::load(path)?,
        None => Default::default(),
    };
    if let Some(line) = &cli.stdio {
        let spec = stdio::config::from_command_line(line, cli.stdio_isolation)?;
        anyhow::ensure!(
            servers.insert("stdio".into(), spec).is_none(),
            "--stdio serves as 'stdio', which the --stdio-config file also names"
        );
    }
    Ok(servers)
}

fn connector_set(names: &[String]) -> anyhow::Result<ConnectorSet> {
    mcp_edge_core::settings::parse_connectors(names).map_err(anyhow::Error::msg)
}

fn upstream_config(cli: &Cli) -> anyhow::Result<UpstreamConfig> {
    let deployment = DeploymentConfig::from_vars(|name| std::env::var(name).ok())
        .map_err(|(name, reason)| anyhow::anyhow!("{name}: {reason}"))?;
    Ok(UpstreamConfig {
        guard: GuardConfig {
            allowlist: cli.upstream_allowlist.clone(),
            allow_http: cli.upstream_allow_http.clone(),
            allow_private: cli.upstream_allow_private.clone(),
        },
        pool: PoolConfig {
            max_size: cli.upstream_pool_size.max(1),
            idle_ms: cli.upstream_pool_idle.as_millis() as u64,
        },
        timeout_ms: cli.upstream_timeout.as_millis() as u64,
        max_retries: cli.upstream_retries,
        deployment,
        ..UpstreamConfig::default()
    })
}

/// The services whose URL is fixed: `--dynamic-urls`, else the GitLab MCP server's
/// `ENABLE_DYNAMIC_API_URL=false`.
fn fixed_urls(cli: &Cli) -> anyhow::Result<Vec<mcp_edge_core::credential::Service>> {
    if cli.dynamic_urls.is_empty() {
        mcp_edge_core::settings::fixed_urls_from_vars(|n| {
            std::env::var(n)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
        .map_err(anyhow::Error::msg)
    } else {
        mcp_edge_core::settings::parse_fixed_urls(&cli.dynamic_urls)
            .map_err(|e| anyhow::anyhow!("--dynamic-urls: {e}"))
    }
}

/// Upstream trust and proxy rules: `--upstream-ca-file`, plus `SSL_CERT_FILE` when set.
fn upstream_transport(cli: &Cli) -> anyhow::Result<UpstreamTransport> {
    let mut files = cli.upstream_ca_file.clone();
    files.extend(
        std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    );
    Ok(UpstreamTransport::new(&files)?)
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the salted hash of an API key for `--api-key` (generates a key when none is given).
    HashKey {
        /// The key to hash; omit to generate a random one.
        key: Option<String>,
    },
    /// Serves the connectors (and test tools with `--enable-test-tools`) as an MCP server on stdin and
    /// stdout for desktop clients: credentials from the environment, logs on stderr, no port bound.
    Stdio,
    /// Exits 0 when the gateway listening on `--bind` (on loopback) answers `GET /health` with 200,
    /// 1 otherwise (the container's `HEALTHCHECK`).
    Health,
}

/// `mcp-edge health`: one `GET /health` over loopback to the `--bind` port, within 5 s.
async fn health(bind: std::net::SocketAddr) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ip = if bind.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        bind.ip()
    };
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect((ip, bind.port())).await?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        anyhow::Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let head = tokio::time::timeout(Duration::from_secs(5), probe)
        .await
        .context("no answer within 5 s")??;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "unhealthy: {}",
        head.lines().next().unwrap_or("")
    );
    Ok(())
}

/// `mcp-edge hash-key`: prints a hash (and the generated key, if any) to stdout.
fn hash_key(key: Option<String>) {
    let key = key.unwrap_or_else(|| {
        let mut raw = [0u8; 24];
        OsEntropy.fill(&mut raw);
        let generated = format!("mcpe_{}", hex_encode(&raw));
        println!("key: {generated}");
        generated
    });
    let mut salt = [0u8; 16];
    OsEntropy.fill(&mut salt);
    println!("hash: {}", KeyHash::new(&key, &salt));
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn auth_config(cli: &Cli) -> AuthConfig {
    let oauth = match (&cli.oauth_issuer, &cli.oauth_audience, &cli.oauth_jwks_uri) {
        (Some(issuer), Some(audience), Some(jwks_uri)) => Some(OAuthSettings {
            issuer: issuer.clone(),
            audience: audience.clone(),
            jwks_uri: jwks_uri.clone(),
            authorization_servers: if cli.oauth_authorization_servers.is_empty() {
                vec![issuer.clone()]
            } else {
                cli.oauth_authorization_servers.clone()
            },
            leeway_secs: 60,
            read_scope: cli.oauth_read_scope.clone(),
            write_scope: cli.oauth_write_scope.clone(),
        }),
        _ => None,
    };
    AuthConfig {
        api_keys: cli.api_keys.clone(),
        oauth,
        resource_url: cli.resource_url.clone(),
    }
}

fn init_logging(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Loads the key for credential fingerprints, creating it on first start so sessions keep matching
/// their credentials across restarts.
fn fingerprint_key(dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let path = dir.join("fingerprint.key");
    if let Ok(key) = std::fs::read(&path) {
        if key.len() == 32 {
            return Ok(key);
        }
    }
    let mut key = vec![0u8; 32];
    OsEntropy.fill(&mut key);
    std::fs::write(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// SIGTERM and SIGINT, as one stream of signal numbers.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    /// The next signal's number.
    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.int.recv() => libc::SIGINT,
        }
    }
}

/// A second signal during shutdown: stop the children and exit at once (128 + the signal number).
fn exit_now(bridge: &stdio::Bridge, signal: i32) -> ! {
    tracing::warn!(signal, "second signal: exiting now");
    bridge.shutdown();
    std::process::exit(128 + signal)
}

/// How long cancelled requests get to write their error answers after the grace period.
const CANCEL_FLUSH: Duration = Duration::from_secs(1);

/// mimalloc: the gateway allocates many short-lived JSON values per request; glibc malloc spent about a
/// quarter of the CPU time of a connector call (perf, `bench/run-connectors.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Most threads tokio may start for blocking work (upstream DNS lookups; the session store has its
/// own writer thread). Tokio's default is 512, and a burst took one thread per request (each with
/// its allocator heap and stack): 500 concurrent stream opens ran 488 threads and 629 MB.
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(run(Cli::parse()));
    // Blocking work still running (a DNS lookup, a child's pipe) must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The gateway over `store`, configured from the command line.
fn build_app(
    cli: &Cli,
    store: Arc<dyn mcp_edge_core::session::SessionStore>,
    fingerprint_key: Vec<u8>,
) -> anyhow::Result<Arc<McpApp>> {
    let transport = upstream_transport(cli)?;
    let mut registry = Registry::new();
    if cli.enable_test_tools {
        mcp_edge_core::testing::register_test_tools(&mut registry);
    }
    mcp_edge_core::connector::register(&mut registry, connector_set(&cli.connectors)?);
    let upstream = upstream_config(cli)?;
    let loopback = cli.bind.ip().is_loopback();
    let config = GatewayConfig {
        session_ttl_ms: cli.session_ttl.as_millis() as u64,
        max_body_bytes: cli.max_body_bytes,
        max_batch: cli.max_batch,
        origins: OriginPolicy {
            allowed_origins: cli.allowed_origins.clone(),
            allowed_hosts: (loopback || !cli.allowed_hosts.is_empty())
                .then(|| cli.allowed_hosts.clone()),
        },
        fingerprint_key,
        keepalive_ms: cli.keepalive.as_millis() as u64,
        prefer_sse: cli.sse_responses,
        auth: auth_config(cli),
        request_limit: cli.rate_limit,
        tool_call_limit: cli.tool_rate_limit,
        tool_timeout_ms: Some(cli.tool_timeout.as_millis() as u64),
        bridge: cli.bridge_url.clone().map(|url| BridgeConfig {
            url,
            secret: cli.bridge_secret.clone(),
            servers: Vec::new(),
            refresh_ms: 60_000,
        }),
        max_sessions_per_caller: cli.max_sessions_per_caller,
        max_streams_per_session: cli.max_streams_per_session,
        policy: PolicyConfig {
            read_only: cli.read_only,
            allow_request_overrides: true,
            ..PolicyConfig::default()
        },
        upstream: upstream.clone(),
        credential_defaults: CredentialDefaults {
            fixed_urls: fixed_urls(cli)?,
            ..CredentialDefaults::from_vars(|name| std::env::var(name).ok())
        },
        ..GatewayConfig::default()
    };
    let ports = Ports {
        store,
        http: Arc::new(ReqwestClient::plain(Duration::from_secs(10), &transport)),
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
    };
    Ok(Arc::new(
        McpApp::new(config, registry, ports)?
            .with_sleeper(Arc::new(TokioSleeper))
            .with_http_factory(Arc::new(ReqwestFactory {
                guard: UpstreamGuard::new(upstream.guard.clone()),
                timeout: cli.upstream_timeout,
                transport,
            }))
            .with_audit_sink(Arc::new(LogAudit)),
    ))
}

/// `mcp-edge stdio`: one MCP connection on stdin/stdout until stdin closes. Sessions live in
/// memory (the process is the session); nothing is written to disk and no port is bound.
async fn serve_stdio(cli: &Cli) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    anyhow::ensure!(
        cli.stdio.is_none() && cli.stdio_config.is_none(),
        "bridged stdio servers (--stdio, --stdio-config) are served over HTTP only, not by `mcp-edge stdio`"
    );
    let mut key = vec![0u8; 32];
    OsEntropy.fill(&mut key);
    let app = build_app(
        cli,
        Arc::new(mcp_edge_core::session::MemorySessionStore::new()),
        key,
    )?;
    tracing::info!(
        test_tools = cli.enable_test_tools,
        "mcp-edge serving MCP on stdio"
    );
    let max = cli.max_body_bytes;
    let mut input = tokio::io::BufReader::new(tokio::io::stdin());
    let mut output = tokio::io::stdout();
    let mut conn = app.stdio_open();
    let mut line = Vec::new();
    loop {
        line.clear();
        // At most one byte more than the limit is buffered; the rest of a longer line is skipped.
        let n = (&mut input)
            .take(max as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
            .context("reading stdin")?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') && line.len() > max {
            loop {
                let buf = input.fill_buf().await.context("reading stdin")?;
                if buf.is_empty() {
                    break;
                }
                match buf.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        input.consume(i + 1);
                        break;
                    }
                    None => {
                        let len = buf.len();
                        input.consume(len);
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(&line);
        for reply in app.stdio_line(&mut conn, &text).await {
            output.write_all(reply.as_bytes()).await?;
            output.write_all(b"\n").await?;
        }
        output.flush().await?;
    }
    tracing::info!("stdin closed; stopping");
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::HashKey { key }) => {
            hash_key(key);
            return Ok(());
        }
        Some(Command::Health) => return health(cli.bind).await,
        Some(Command::Stdio) => {
            init_logging(&cli);
            return serve_stdio(&cli).await;
        }
        None => {}
    }
    init_logging(&cli);
    let auth = auth_config(&cli);
    if auth.is_open() && !cli.bind.ip().is_loopback() && !cli.allow_unauthenticated {
        anyhow::bail!(
            "refusing to serve {} without caller authentication: configure --api-key or --oauth-issuer, or pass --allow-unauthenticated",
            cli.bind
        );
    }
    std::fs::create_dir_all(&cli.data_dir)
        .with_context(|| format!("creating data dir {}", cli.data_dir.display()))?;
    let store = RedbSessionStore::open(&cli.data_dir.join("sessions.redb"))
        .context("opening the session database")?;
    let swept = store.sweep_expired(SystemClock.now()).await.unwrap_or(0);
    let app = build_app(
        &cli,
        Arc::new(store.clone()),
        fingerprint_key(&cli.data_dir)?,
    )?;
    app.metrics()
        .set_active_sessions(store.count().unwrap_or(0) as i64);

    let bridge = Arc::new(stdio::Bridge::new(stdio_servers(&cli)?, app.clone()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let budget = ConnectionBudget {
        header_timeout_ms: cli.header_timeout.as_millis() as u64,
        idle_timeout_ms: cli.idle_timeout.as_millis() as u64,
        body_timeout_ms: cli.body_timeout.as_millis() as u64,
        body_min_rate: cli.body_min_rate,
    };
    let state = state::AppState {
        app: app.clone(),
        hub: Default::default(),
        shutdown: shutdown_rx.clone(),
        bridge: bridge.clone(),
        budget,
        cancel: cancel_rx,
    };
    let fd_limit = listener::raise_fd_limit();
    let max_connections = cli
        .max_connections
        .unwrap_or_else(|| listener::default_max_connections(fd_limit));
    let mut signals = Signals::new()?;
    let tcp = tokio::net::TcpListener::bind(cli.bind)
        .await
        .with_context(|| format!("binding {}", cli.bind))?;
    let addr = tcp.local_addr()?;
    tracing::info!(%addr, swept_expired_sessions = swept, test_tools = cli.enable_test_tools, bridged = ?bridge.names().collect::<Vec<_>>(), max_connections, fd_limit, "mcp-edge started");
    println!("mcp-edge listening on http://{addr}");
    std::io::stdout().flush().ok();

    let sweeper = {
        let store = store.clone();
        let app = app.clone();
        let mut stop = shutdown_rx.clone();
        let bridge = bridge.clone();
        let ttl = cli.session_ttl;
        tokio::spawn(async move {
            // Bridged sessions and children are checked often (a session TTL can be seconds in
            // tests); the persistent store once a minute.
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        bridge.sweep(ttl);
                        if n % 60 == 0 {
                            let _ = store.sweep_expired(SystemClock.now()).await;
                            app.metrics().set_active_sessions(store.count().unwrap_or(0) as i64);
                        }
                        n += 1;
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };

    // Start-up (redb sizing its region allocator, the tool registry) leaves ~1.6 MB of freed pages
    // that mimalloc would purge only on later allocator activity; an idle gateway returns them now.
    // SAFETY: mi_collect has no preconditions; it only returns this thread's free memory to the OS.
    unsafe { libmimalloc_sys::mi_collect(true) };

    let live = Arc::new(listener::Live::default());
    let serving = tokio::spawn(listener::serve(
        tcp,
        server::router(state),
        app.clone(),
        listener::ListenerConfig {
            max_connections,
            budget,
        },
        live.clone(),
        shutdown_rx.clone(),
    ));
    signals.next().await;
    let grace = cli.shutdown_grace;
    tracing::info!(
        grace = %humantime::format_duration(grace),
        "shutting down: no new connections; in-flight requests may finish (a second signal exits at once)"
    );
    let _ = shutdown_tx.send(true);
    let _ = serving.await;
    let drained = tokio::select! {
        _ = live.drained() => true,
        _ = tokio::time::sleep(grace) => false,
        sig = signals.next() => exit_now(&bridge, sig),
    };
    if !drained {
        tracing::warn!("shutdown grace period over: cancelling in-flight requests");
        let _ = cancel_tx.send(true);
        tokio::select! {
            _ = live.drained() => {}
            _ = tokio::time::sleep(CANCEL_FLUSH) => {}
            sig = signals.next() => exit_now(&bridge, sig),
        }
    }
    sweeper.abort();
    bridge.shutdown();
    tracing::info!("stopped");
    Ok(())
}
