//! # mcp-edge
//!
//! The native mcp-edge server: the platform-free core (`mcp-edge-core`) served over axum on
//! 127.0.0.1:8787 by default, with an embedded persistent session store (redb) so a restart loses
//! no session. Endpoints: `/mcp` (Streamable HTTP), `/sse` + `/messages` (legacy HTTP+SSE), `/ws`
//! (WebSocket), `/health` and `/metrics`. Every flag has an `MCP_EDGE_*` environment variable.

mod cli;
mod http_io;
mod listener;
mod server;
mod shared_store;
mod state;
mod stdio;
mod store;
mod streams;
mod task_store;
mod wsock;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mcp_edge_core::auth::KeyHash;
use mcp_edge_core::port::{Clock as _, Entropy as _};
use mcp_edge_core::tool::Registry;
use mcp_edge_core::upstream::UpstreamGuard;
use mcp_edge_core::{McpApp, Ports};
use tokio::sync::watch;

use crate::cli::Cli;
use crate::store::RedbSessionStore;
use mcp_edge_native::{LogAudit, OsEntropy, SystemClock, TokioSleeper};
use mcp_edge_native::{ReqwestClient, ReqwestFactory, UpstreamTransport};

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
    let result = runtime.block_on(run(cli::command().get_matches()));
    // Blocking work still running (a DNS lookup, a child's pipe) must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The gateway over `store`, configured from the command line; `fingerprint_key` replaces the
/// settings' key when `--fingerprint-key` is not given.
fn build_app(
    cli: &Cli,
    store: Arc<dyn mcp_edge_core::session::SessionStore>,
    fingerprint_key: Option<Vec<u8>>,
    health_probes: Vec<Arc<dyn mcp_edge_core::gateway::HealthProbe>>,
    hub: Option<Arc<streams::StreamHub>>,
    shared: Option<&shared_store::SharedStores>,
    tasks: Option<Arc<dyn mcp_edge_core::task::TaskStore>>,
) -> anyhow::Result<Arc<McpApp>> {
    let settings = &cli.settings;
    let transport = UpstreamTransport::new(&settings.upstream_ca_files)?;
    let mut registry = Registry::new();
    if settings.test_tools {
        mcp_edge_core::testing::register_test_tools(&mut registry);
    }
    mcp_edge_core::connector::register(&mut registry, settings.connectors);
    let mut config = settings.gateway.clone();
    if let Some(key) = fingerprint_key {
        config.fingerprint_key = key;
    }
    let upstream = config.upstream.clone();
    let ports = Ports {
        store,
        http: Arc::new(ReqwestClient::plain(Duration::from_secs(10), &transport)),
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
    };
    let mut app = health_probes.into_iter().fold(
        McpApp::new(config, registry, ports)?,
        McpApp::with_health_probe,
    );
    if let Some(tasks) = tasks {
        // Tasks extension: records in the data dir; the work runs on tokio (see server.rs).
        app = app.with_task_store(tasks);
    }
    if let Some(hub) = hub {
        // Tools may ask the client (sampling) on the session's GET stream held in this process.
        app = app.with_client_requests(Arc::new(
            mcp_edge_core::sampling::InProcessClientRequests::new(streams::HubPush(hub)),
        ));
    }
    if let Some(shared) = shared {
        // Buckets, quota leases and legacy outboxes every replica sees (the core decides, as on
        // the Lambda).
        app = app
            .with_rate_limiter(shared.limiter.clone())
            .with_session_ledger(shared.leases.clone())
            .with_stream_ledger(shared.leases.clone())
            .with_outbox(shared.outbox.clone());
    }
    let app = app
        .with_sleeper(Arc::new(TokioSleeper))
        .with_listen(mcp_edge_core::subscription::DEFAULT_POLL_MS)
        .with_session_watch(mcp_edge_core::subscription::DEFAULT_POLL_MS)
        .with_http_factory(Arc::new(ReqwestFactory {
            guard: UpstreamGuard::new(upstream.guard.clone()),
            timeout: Duration::from_millis(upstream.timeout_ms),
            transport,
        }))
        .with_audit_sink(Arc::new(LogAudit));
    // Spans leave through a queue drained by their own task; the process keeps no handle since
    // native spans need no flush before a freeze (unlike the Lambda's).
    let (app, _exporter) = mcp_edge_native::otlp::install(app)?;
    Ok(Arc::new(app))
}

/// `mcp-edge stdio`: one MCP connection on stdin/stdout until stdin closes. Sessions live in
/// memory (the process is the session); nothing is written to disk and no port is bound.
async fn serve_stdio(cli: &Cli) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    anyhow::ensure!(
        cli.stdio.is_none() && cli.stdio_config.is_none(),
        "bridged stdio servers (--stdio, --stdio-config) are served over HTTP only, not by `mcp-edge stdio`"
    );
    let key = (!cli.fingerprint_key_given).then(|| {
        let mut key = vec![0u8; 32];
        OsEntropy.fill(&mut key);
        key
    });
    let app = build_app(
        cli,
        Arc::new(mcp_edge_core::session::MemorySessionStore::new()),
        key,
        Vec::new(),
        None,
        None,
        None,
    )?;
    tracing::info!(
        test_tools = cli.settings.test_tools,
        "mcp-edge serving MCP on stdio"
    );
    let max = cli.settings.gateway.max_body_bytes;
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

async fn run(matches: clap::ArgMatches) -> anyhow::Result<()> {
    match matches.subcommand() {
        Some(("hash-key", sub)) => {
            hash_key(sub.get_one::<String>("key").cloned());
            return Ok(());
        }
        Some(("settings", sub)) => {
            cli::print_settings(sub.get_flag("json"));
            return Ok(());
        }
        _ => {}
    }
    // Subcommands see every (global) flag.
    let cli = Cli::from_matches(matches.subcommand().map_or(&matches, |(_, sub)| sub))?;
    match matches.subcommand_name() {
        Some("health") => return health(cli.bind).await,
        Some("stdio") => {
            init_logging(&cli);
            return serve_stdio(&cli).await;
        }
        _ => {}
    }
    init_logging(&cli);
    let auth = &cli.settings.gateway.auth;
    if auth.is_open() && !cli.bind.ip().is_loopback() && !cli.allow_unauthenticated {
        anyhow::bail!(
            "refusing to serve {} without caller authentication: configure --api-key or --oauth-issuer, or pass --allow-unauthenticated",
            cli.bind
        );
    }
    std::fs::create_dir_all(&cli.data_dir)
        .with_context(|| format!("creating data dir {}", cli.data_dir.display()))?;
    let shared = shared_store::SharedStores::connect(&cli.session_store, cli.legacy_poll)
        .await
        .with_context(|| {
            format!(
                "connecting to the {} session store",
                cli.session_store.name()
            )
        })?;
    // The embedded database only when no shared store holds the sessions.
    let local = match shared {
        Some(_) => None,
        None => Some(
            RedbSessionStore::open(&cli.data_dir.join("sessions.redb"))
                .context("opening the session database")?,
        ),
    };
    let swept = match &local {
        Some(store) => store.sweep_expired(SystemClock.now()).await.unwrap_or(0),
        None => 0,
    };
    let session_store: Arc<dyn mcp_edge_core::session::SessionStore> = match (&local, &shared) {
        (Some(store), _) => Arc::new(store.clone()),
        (None, Some(shared)) => shared.store.clone(),
        (None, None) => unreachable!("one of the stores is open"),
    };
    // Task records stay in this instance's data dir, also with a shared session store (README,
    // "Tasks": a task is polled on the replica that runs it).
    let tasks = task_store::RedbTaskStore::open(&cli.data_dir.join("tasks.redb"))
        .context("opening the task database")?;
    let _ = tasks.sweep_expired(SystemClock.now()).await;
    let key = match cli.fingerprint_key_given {
        true => None,
        false => Some(fingerprint_key(&cli.data_dir)?),
    };
    let specs = stdio_servers(&cli)?;
    // The bridge's children appear in the deep health check when there are bridged servers.
    let bridge_health = Arc::new(stdio::BridgeHealth::default());
    let probes: Vec<Arc<dyn mcp_edge_core::gateway::HealthProbe>> = match specs.is_empty() {
        true => Vec::new(),
        false => vec![bridge_health.clone()],
    };
    let hub: Arc<streams::StreamHub> = Default::default();
    let app = build_app(
        &cli,
        session_store,
        key,
        probes,
        Some(hub.clone()),
        shared.as_ref(),
        Some(Arc::new(tasks)),
    )?;
    if let Some(store) = &local {
        app.metrics()
            .set_active_sessions(store.count().unwrap_or(0) as i64);
    }

    let bridge = Arc::new(stdio::Bridge::new(specs, app.clone()));
    bridge_health.set(&bridge);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let budget = cli.budget;
    let state = state::AppState {
        app: app.clone(),
        hub,
        shutdown: shutdown_rx.clone(),
        bridge: bridge.clone(),
        budget,
        cancel: cancel_rx,
        ws_keepalive: cli.ws_keepalive,
        ws_gate: mcp_edge_core::gateway::WsGate::new(cli.ws_max_connections),
        legacy_poll: shared.as_ref().map(|s| s.legacy_poll),
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
    let session_store = shared
        .as_ref()
        .map_or_else(|| "redb".to_owned(), |s| s.location.clone());
    tracing::info!(%addr, %session_store, swept_expired_sessions = swept, test_tools = cli.settings.test_tools, bridged = ?bridge.names().collect::<Vec<_>>(), max_connections, fd_limit, "mcp-edge started");
    println!("mcp-edge listening on http://{addr}");
    std::io::stdout().flush().ok();

    let sweeper = {
        let store = local.clone();
        let app = app.clone();
        let mut stop = shutdown_rx.clone();
        let bridge = bridge.clone();
        let ttl = Duration::from_millis(cli.settings.gateway.session_ttl_ms);
        tokio::spawn(async move {
            // Bridged sessions and children are checked often (a session TTL can be seconds in
            // tests); the persistent store once a minute.
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        bridge.sweep(ttl);
                        // A shared store expires its own records (TTL).
                        if let (0, Some(store)) = (n % 60, &store) {
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
