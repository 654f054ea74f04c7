//! # mcp-loadgen
//!
//! A bounded MCP load generator. Each of N workers opens its own MCP session over its own
//! keep-alive connection (`initialize` + `notifications/initialized`, or the stateless 2026-07-28
//! envelope) and calls one tool in a loop until the duration or the request cap is reached. It
//! prints a human summary and one JSON line with throughput and latency percentiles. `--raw-get`
//! measures the generator's own ceiling against a trivial endpoint. `--stdio "CMD"` talks to a
//! stdio MCP server directly instead (one child per worker, newline-delimited JSON-RPC over its
//! stdin/stdout): the baseline for what a bridge adds.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Command-line flags.
#[derive(Debug, Parser, Clone)]
#[command(name = "mcp-loadgen")]
struct Args {
    /// MCP endpoint, e.g. http://127.0.0.1:8787/mcp.
    #[arg(long)]
    url: Option<String>,
    /// Concurrent sessions (one connection each).
    #[arg(long, default_value_t = 16)]
    sessions: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Upper bound on requests per session.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// JSON-RPC method: `tools/call` (of `--tool`) or `tools/list`.
    #[arg(long, default_value = "tools/call")]
    method: String,
    /// Tool to call.
    #[arg(long, default_value = "echo")]
    tool: String,
    /// Tool arguments (JSON object).
    #[arg(long, default_value = r#"{"message":"hi"}"#)]
    args: String,
    /// Protocol version: a handshake version (sessions) or 2026-07-28 (stateless).
    #[arg(long, default_value = "2025-11-25")]
    protocol: String,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Label printed with the results.
    #[arg(long, default_value = "mcp-edge")]
    target: String,
    /// Instead of MCP, GET this URL in a loop, reading each body whole (the generator's ceiling, or
    /// an upstream's own floor).
    #[arg(long)]
    raw_get: Option<String>,
    /// Talk to this stdio server command directly (run with `sh -c 'exec CMD'`) instead of `--url`.
    #[arg(long)]
    stdio: Option<String>,
    /// After the last request, keep every session's connection open this many seconds (printing
    /// `holding N connections` to stderr first), so a memory benchmark can read the server's RSS.
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
}

/// Holds every worker until all have set up (sessions initialized, children started), so the
/// measured window covers calls only; then each worker runs for the duration.
#[derive(Clone)]
struct Start {
    barrier: std::sync::Arc<tokio::sync::Barrier>,
    duration: Duration,
}

impl Start {
    /// Waits for every worker (and the main task); returns this worker's deadline.
    async fn begin(&self) -> Instant {
        self.barrier.wait().await;
        Instant::now() + self.duration
    }
}

struct WorkerResult {
    hist: Histogram<u64>,
    errors: u64,
    /// The worker's HTTP client, kept for `--hold` (its pool holds the open connection).
    client: Option<reqwest::Client>,
}

fn header_map(args: &Args) -> anyhow::Result<reqwest::header::HeaderMap> {
    let mut map = reqwest::header::HeaderMap::new();
    map.insert("accept", "application/json, text/event-stream".parse()?);
    map.insert("content-type", "application/json".parse()?);
    for h in &args.headers {
        let (k, v) = h.split_once(':').context("--header must be Name: value")?;
        map.insert(
            reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())?,
            v.trim().parse()?,
        );
    }
    Ok(map)
}

/// Reads a JSON-RPC message from a JSON body or the last `data:` line of an SSE body.
fn rpc_body(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Some(v);
    }
    text.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| !d.is_empty())
        .and_then(|d| serde_json::from_str(d).ok())
}

/// One worker against a stdio child: `initialize`, then `tools/call` in a loop, reading lines until
/// the answer with the request's id (notifications in between are skipped).
async fn stdio_worker(args: Args, cmd: String, start: Start) -> anyhow::Result<WorkerResult> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;
    async fn exchange(
        stdin: &mut tokio::process::ChildStdin,
        lines: &mut Lines,
        message: &Value,
    ) -> anyhow::Result<Value> {
        let id = message["id"].clone();
        stdin.write_all(format!("{message}\n").as_bytes()).await?;
        stdin.flush().await?;
        while let Some(line) = lines.next_line().await? {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v.get("id") == Some(&id) && v.get("method").is_none() {
                    return Ok(v);
                }
            }
        }
        bail!("the stdio server closed its output")
    }
    let setup = async {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec {cmd}"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("spawning the stdio server")?;
        let mut stdin = child.stdin.take().context("child stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("child stdout")?).lines();
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":args.protocol,"capabilities":{},"clientInfo":{"name":"loadgen","version":"1"}}});
        exchange(&mut stdin, &mut lines, &init).await?;
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
            .await?;
        anyhow::Ok((child, stdin, lines))
    }
    .await;
    let deadline = start.begin().await;
    let (mut child, mut stdin, mut lines) = setup?;
    let tool_args: Value = serde_json::from_str(&args.args).context("--args must be JSON")?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let mut n: u64 = 0;
    while Instant::now() < deadline && n < args.max_requests {
        n += 1;
        let call = json!({"jsonrpc":"2.0","id":n,"method":"tools/call","params":{"name":args.tool,"arguments":tool_args}});
        let t = Instant::now();
        let answer = exchange(&mut stdin, &mut lines, &call).await?;
        let micros = t.elapsed().as_micros().max(1) as u64;
        if answer.get("result").is_some() && answer["result"]["isError"] != json!(true) {
            hist.record(micros)?;
        } else {
            errors += 1;
        }
    }
    drop(stdin);
    let _ = child.kill().await;
    Ok(WorkerResult {
        hist,
        errors,
        client: None,
    })
}

async fn worker(args: Args, id: usize, start: Start) -> anyhow::Result<WorkerResult> {
    if let Some(cmd) = args.stdio.clone() {
        return stdio_worker(args, cmd, start).await;
    }
    let client = reqwest::Client::builder()
        .default_headers(header_map(&args)?)
        .pool_max_idle_per_host(1)
        .build()?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    if let Some(url) = &args.raw_get {
        let deadline = start.begin().await;
        let mut n = 0;
        while Instant::now() < deadline && n < args.max_requests {
            let t = Instant::now();
            // The whole body is read (as an MCP reply is), so the connection is reused and a large
            // body's transfer is part of the time.
            let ok = match client.get(url).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            };
            if ok {
                hist.record(t.elapsed().as_micros().max(1) as u64)?;
            } else {
                errors += 1;
            }
            n += 1;
        }
        return Ok(WorkerResult {
            hist,
            errors,
            client: Some(client),
        });
    }
    let setup = async {
        let url = args.url.clone().context("--url is required")?;
        let tool_args: Value = serde_json::from_str(&args.args).context("--args must be JSON")?;
        let modern = args.protocol == "2026-07-28";
        let mut session: Option<String> = None;
        if !modern {
            let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":args.protocol,"capabilities":{},"clientInfo":{"name":format!("loadgen-{id}"),"version":"1"}}});
            let r = client.post(&url).body(init.to_string()).send().await?;
            let sid = r
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = r.status();
            r.text().await?;
            let Some(sid) = sid else {
                bail!("initialize answered {status} without a session id")
            };
            let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
            client
                .post(&url)
                .header("mcp-session-id", &sid)
                .header("mcp-protocol-version", &args.protocol)
                .body(note.to_string())
                .send()
                .await?
                .text()
                .await?;
            session = Some(sid);
        }
        anyhow::Ok((url, tool_args, modern, session))
    }
    .await;
    let deadline = start.begin().await;
    let (url, tool_args, modern, session) = setup?;
    let mut n: u64 = 0;
    while Instant::now() < deadline && n < args.max_requests {
        n += 1;
        let listing = args.method == "tools/list";
        let mut params = if listing {
            json!({})
        } else {
            json!({"name": args.tool, "arguments": tool_args})
        };
        let mut req = client
            .post(&url)
            .header("mcp-protocol-version", &args.protocol);
        if modern {
            params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
            req = req.header("mcp-method", &args.method);
            if !listing {
                req = req.header("mcp-name", &args.tool);
            }
        }
        if let Some(sid) = &session {
            req = req.header("mcp-session-id", sid);
        }
        let body = json!({"jsonrpc":"2.0","id":n,"method":args.method,"params":params});
        let t = Instant::now();
        let text = match req.body(body.to_string()).send().await {
            Ok(r) => r.text().await.ok(),
            Err(_) => None,
        };
        // The clock stops when the whole reply has arrived: checking it (parsing 109 kB of
        // `tools/list` took longer than the server's answer) is the client's work, not latency.
        let micros = t.elapsed().as_micros().max(1) as u64;
        match text.as_deref().and_then(rpc_body) {
            Some(v) if v.get("result").is_some() && v["result"]["isError"] != json!(true) => {
                hist.record(micros)?
            }
            _ => errors += 1,
        }
    }
    Ok(WorkerResult {
        hist,
        errors,
        client: Some(client),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let start = Start {
        barrier: std::sync::Arc::new(tokio::sync::Barrier::new(args.sessions + 1)),
        duration: Duration::from_secs_f64(args.duration),
    };
    let handles: Vec<_> = (0..args.sessions)
        .map(|i| tokio::spawn(worker(args.clone(), i, start.clone())))
        .collect();
    // Every session is set up before the measured window starts.
    start.barrier.wait().await;
    let started = Instant::now();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    let mut held = Vec::new();
    for h in handles {
        let r = h.await??;
        total.add(&r.hist)?;
        errors += r.errors;
        held.extend(r.client);
    }
    let secs = started.elapsed().as_secs_f64();
    if args.hold > 0.0 {
        eprintln!("holding {} connections", held.len());
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    }
    drop(held);
    let requests = total.len();
    let rps = requests as f64 / secs;
    let (p50, p90, p99, max) = (
        total.value_at_quantile(0.5),
        total.value_at_quantile(0.9),
        total.value_at_quantile(0.99),
        total.max(),
    );
    let target = if args.raw_get.is_some() {
        format!("{} (raw GET)", args.target)
    } else {
        args.target.clone()
    };
    println!("{target}: {} sessions, {requests} ok, {errors} errors, {rps:.0} req/s, p50 {p50} us, p90 {p90} us, p99 {p99} us, max {max} us", args.sessions);
    println!(
        "{}",
        json!({"target": target, "sessions": args.sessions, "requests": requests, "errors": errors, "rps": rps.round(), "p50_us": p50, "p90_us": p90, "p99_us": p99, "max_us": max})
    );
    Ok(())
}
