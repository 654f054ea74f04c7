//! # fake-upstream
//!
//! Local stand-ins for Jira Cloud (REST v3 and Jira Software's Agile REST), Confluence Cloud (v1 CQL search, v2 pages and spaces)
//! and GitLab (REST v4), for mcp-edge's connector tests. They check credentials like the real
//! services, keep state in memory (seeded deterministically), and hold every request (bar their own
//! `/_fake` control paths) and every reply to the vendors' OpenAPI documents in `tests/specs/`
//! ([`contract`]): path and method, query parameters and JSON body in, declared status and schema
//! out. A request the documents reject is recorded and answered 400 "contract violation"; a reply
//! they reject is recorded. The record survives `/_fake/reset`; tests read it at `/_fake/stats`
//! (tests/e2e/conftest.py checks it after every test). Injected faults (`/_fake/faults`) answer
//! statuses the documents rarely declare (429, 5xx, redirects), so their replies are not checked.
//!
//! `fake-upstream --service jira|confluence|gitlab --bind 127.0.0.1:0 --token T [--email E]
//! [--instance-name N] [--deployment cloud|server] [--context-path /wiki]` prints `fake-<service> listening on http://ADDR`.
//! `--deployment server` makes Jira and Confluence Server/Data Center instead (see `dc.rs`).
//! Control (no auth): `POST /_fake/faults` `{"status","retry_after","count"}`, `{"delay_ms","count"}`
//! or `{"redirect","count"}`; `GET /_fake/stats` (counts, violations, the last 50 requests with their
//! `traceparent`/`tracestate`); `POST /_fake/reset`.

mod contract;
mod data;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use base64::Engine as _;
use clap::Parser;
use serde_json::{json, Value};

use crate::contract::{Contract, Contracts};
use crate::data::{Data, Reply};

/// Flags.
#[derive(Debug, Parser)]
struct Cli {
    /// jira, confluence or gitlab.
    #[arg(long)]
    service: String,
    /// Loopback address to bind.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// The token clients must present.
    #[arg(long)]
    token: String,
    /// Atlassian account email: when set, basic auth email:token is required, else a bearer token.
    #[arg(long)]
    email: Option<String>,
    /// Name shown in GitLab project descriptions (tells instances apart).
    #[arg(long, default_value = "gitlab")]
    instance_name: String,
    /// Atlassian deployment to imitate: cloud (default) or server (Server/Data Center REST APIs).
    #[arg(long, default_value = "cloud", value_parser = ["cloud", "server"])]
    deployment: String,
    /// Server/Data Center: the context path the instance is deployed under (e.g. `/wiki`); requests
    /// outside it answer 404, as the servlet container does.
    #[arg(long, default_value = "")]
    context_path: String,
    /// Directory of the OpenAPI documents.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../specs"))]
    specs_dir: PathBuf,
}

#[derive(Default)]
struct Faults {
    status: Option<(u16, Option<u64>, u64)>,
    delay: Option<(u64, u64)>,
    redirect: Option<(String, u64)>,
}

#[derive(Default)]
struct Stats {
    requests: u64,
    violations: Vec<String>,
    recent: Vec<Value>,
}

struct Fake {
    service: String,
    server: bool,
    token: String,
    email: Option<String>,
    instance: String,
    /// The context path requests must start with (empty: none).
    context: String,
    /// `None` in the Server/Data Center modes: no OpenAPI document of those APIs is in tests/specs.
    contracts: Option<Contracts>,
    data: Mutex<Data>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    connections: Arc<AtomicU64>,
}

fn auth_scheme(headers: &HeaderMap) -> &'static str {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if headers.contains_key("private-token") {
        "private-token"
    } else if headers.contains_key("job-token") {
        "job-token"
    } else if auth.starts_with("Basic ") {
        "basic"
    } else if auth.starts_with("Bearer ") {
        "bearer"
    } else {
        "none"
    }
}

impl Fake {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let auth = get("authorization").unwrap_or("");
        if self.service == "gitlab" {
            return get("private-token") == Some(&self.token)
                || get("job-token") == Some(&self.token)
                || auth == format!("Bearer {}", self.token);
        }
        match &self.email {
            Some(email) => {
                auth == format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{email}:{}", self.token))
                )
            }
            None => auth == format!("Bearer {}", self.token),
        }
    }

    fn unauthorized(&self) -> Reply {
        match self.service.as_str() {
            "gitlab" => Reply::json(401, json!({"message": "401 Unauthorized"})),
            "jira" => Reply::json(
                401,
                json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}),
            ),
            _ => Reply::json(
                401,
                json!({"errors": [{"status": 401, "code": "UNAUTHORIZED", "title": "Unauthorized; scope does not match", "detail": null}]}),
            ),
        }
    }

    fn violation(&self, v: String) {
        eprintln!("fake-{}: contract violation: {v}", self.service);
        self.stats.lock().unwrap().violations.push(v);
    }
}

fn finish(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some((content_type, bytes)) = reply.raw {
        return (status, [("content-type", content_type)], bytes).into_response();
    }
    let mut resp = match (&reply.body, reply.text) {
        (Some(v), _) => (
            status,
            [("content-type", "application/json;charset=UTF-8")],
            v.to_string(),
        )
            .into_response(),
        (None, Some(text)) => (
            status,
            [("content-type", "text/plain; charset=utf-8")],
            text,
        )
            .into_response(),
        (None, None) => status.into_response(),
    };
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

async fn control(fake: &Fake, method: &Method, path: &str, body: &[u8]) -> Reply {
    match (method.as_str(), path) {
        ("GET", "/_fake/stats") => {
            let s = fake.stats.lock().unwrap();
            Reply::json(
                200,
                json!({
                    "connections": fake.connections.load(Ordering::SeqCst),
                    "requests": s.requests,
                    "violations": s.violations,
                    "recent": s.recent,
                }),
            )
        }
        ("POST", "/_fake/reset") => {
            *fake.data.lock().unwrap() = Data::seed(&fake.service, &fake.instance);
            *fake.faults.lock().unwrap() = Faults::default();
            // Violations survive a reset: a test that resets mid-module cannot wipe them.
            let mut stats = fake.stats.lock().unwrap();
            let violations = std::mem::take(&mut stats.violations);
            *stats = Stats {
                violations,
                ..Stats::default()
            };
            Reply::json(200, json!({"reset": true}))
        }
        ("POST", "/_fake/faults") => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let count = v["count"].as_u64().unwrap_or(1);
            let mut f = fake.faults.lock().unwrap();
            if let Some(s) = v["status"].as_u64() {
                f.status = Some((s as u16, v["retry_after"].as_u64(), count));
            }
            if let Some(ms) = v["delay_ms"].as_u64() {
                f.delay = Some((ms, count));
            }
            if let Some(loc) = v["redirect"].as_str() {
                f.redirect = Some((loc.to_owned(), count));
            }
            Reply::json(200, json!({"armed": true}))
        }
        _ => Reply::json(404, json!({"error": "unknown control endpoint"})),
    }
}

/// A fault armed for this request, consuming one use.
fn take_fault(fake: &Fake) -> (Option<Reply>, u64) {
    let mut f = fake.faults.lock().unwrap();
    let mut delay = 0;
    if let Some((ms, n)) = f.delay.as_mut() {
        delay = *ms;
        *n -= 1;
        if *n == 0 {
            f.delay = None;
        }
    }
    if let Some((loc, n)) = f.redirect.as_mut() {
        let reply = Reply::json(302, json!({})).header("location", loc);
        *n -= 1;
        if *n == 0 {
            f.redirect = None;
        }
        return (Some(reply), delay);
    }
    if let Some((status, retry, n)) = f.status.as_mut() {
        let mut reply = match fake.service.as_str() {
            "gitlab" => Reply::json(
                *status,
                json!({"message": format!("{status} fault injected")}),
            ),
            "jira" => Reply::json(
                *status,
                json!({"errorMessages": [format!("fault injected ({status})")], "errors": {}}),
            ),
            _ => Reply::json(
                *status,
                json!({"errors": [{"status": *status, "code": "FAULT", "title": "fault injected"}]}),
            ),
        };
        if *status == 429 {
            let after = retry.unwrap_or(1).to_string();
            reply = reply.header("retry-after", &after);
            reply = match fake.service.as_str() {
                "gitlab" => reply
                    .header("ratelimit-limit", "600")
                    .header("ratelimit-remaining", "0")
                    .header("ratelimit-reset", &after),
                _ => reply
                    .header("x-ratelimit-limit", "100")
                    .header("x-ratelimit-remaining", "0"),
            };
        } else if let Some(r) = retry {
            reply = reply.header("retry-after", &r.to_string());
        }
        *n -= 1;
        if *n == 0 {
            f.status = None;
        }
        return (Some(reply), delay);
    }
    (None, delay)
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if path.starts_with("/_fake/") {
        return finish(control(&fake, &method, &path, &body).await);
    }
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                // No vendor document takes a body that is not JSON: the sender broke the contract.
                fake.violation(format!("{method} {path}: the body is not JSON: {e}"));
                return finish(Reply::json(
                    400,
                    json!({"message": format!("malformed JSON: {e}")}),
                ));
            }
        }
    };
    {
        let mut s = fake.stats.lock().unwrap();
        s.requests += 1;
        s.recent.push(json!({
            "method": method.as_str(),
            "path": path,
            "query": uri.query().unwrap_or(""),
            "body": json_body,
            "auth_scheme": auth_scheme(&headers),
            // W3C trace context the gateway propagated (tests/e2e/test_tracing.py).
            "traceparent": headers.get("traceparent").and_then(|v| v.to_str().ok()),
            "tracestate": headers.get("tracestate").and_then(|v| v.to_str().ok()),
        }));
        let excess = s.recent.len().saturating_sub(50);
        s.recent.drain(..excess);
    }
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(&v.replace('+', " ")))
                })
                .collect()
        })
        .unwrap_or_default();
    let checked = fake.contracts.as_ref().map_or(Ok(()), |c| {
        c.check_request(method.as_str(), &path, &query, json_body.as_ref())
    });
    if let Err(v) = &checked {
        fake.violation(v.clone());
    }
    let (fault, delay) = take_fault(&fake);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if let Some(reply) = fault {
        return finish(reply);
    }
    let reply = if !fake.authorized(&headers) {
        fake.unauthorized()
    } else if let Err(v) = checked {
        return finish(Reply::json(
            400,
            json!({"errorMessages": [format!("contract violation: {v}")], "errors": {}}),
        ));
    } else {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let inside = path
            .strip_prefix(fake.context.as_str())
            .filter(|rest| rest.starts_with('/'));
        match inside {
            Some(rest) => {
                let mut data = fake.data.lock().unwrap();
                data.route(
                    fake.server,
                    &fake.service,
                    &method,
                    rest,
                    &query,
                    json_body.as_ref(),
                    &format!("http://{host}{}", fake.context),
                )
            }
            None => Reply::empty(404),
        }
    };
    if let Some(Err(v)) = fake.contracts.as_ref().map(|c| {
        if reply.raw.is_some() {
            c.check_raw_response(method.as_str(), &path, reply.status)
        } else if reply.text.is_some() {
            c.check_text_response(method.as_str(), &path, reply.status)
        } else {
            c.check_response(method.as_str(), &path, reply.status, reply.body.as_ref())
        }
    }) {
        fake.violation(v);
    }
    finish(reply)
}
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The GitLab fake's contract: GitLab's own generated document where it has the operation, the
/// REST pages otherwise (tests/specs/extract-gitlab.py), with the document's known deviations from
/// the live API (tests/specs/README.md, "Known deviations", `contract:`).
fn gitlab_contract(specs_dir: &std::path::Path) -> anyhow::Result<Contract> {
    Ok(
        Contract::load(&specs_dir.join("gitlab-v4.openapi-extract.json"), "")?
            .mounted_at("/api/v4/")
            .errors_as("Error")
            .entity_refs_may_be_lists("APIEntities")
            .entity_fields_may_be_null("APIEntities")
            .entity_fields_may_be_null("DetailedStatusEntity")
            .answering_as(
                "POST",
                "/api/v4/projects/{id}/pipelines/{pipeline_id}/cancel",
                200,
                201,
            )
            .text_where_json_declared("GET", "/api/v4/projects/{id}/jobs/{job_id}/trace")
            .allowing_status(
                "POST",
                "/api/v4/projects/{id}/merge_requests/{merge_request_iid}/approve",
                409,
            )
            .allowing_status(
                "POST",
                "/api/v4/projects/{id}/merge_requests/{merge_request_iid}/unapprove",
                304,
            )
            .allowing_status("POST", "/api/v4/projects/{id}/labels", 409)
            .allowing_status("*", "*", 401),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        cli.bind.ip().is_loopback(),
        "fake-upstream binds loopback addresses only"
    );
    let server = cli.deployment == "server";
    let contracts = Contracts::new(match cli.service.as_str() {
        "jira" => vec![
            Contract::load(&cli.specs_dir.join("jira-platform-v3.json"), "")?
                .errors_as("ErrorCollection")
                // contract: Jira writes and reads worklog `started` as `2021-01-17T12:34:00.000+0000`
                // (the document's own example), which its `date-time` format refuses.
                .without_format("/components/schemas/Worklog/properties/started"),
            Contract::load(&cli.specs_dir.join("jira-software-agile.json"), "")?
                .errors_as("ErrorCollection"),
        ],
        "confluence" => vec![
            Contract::load(&cli.specs_dir.join("confluence-v2.json"), "/wiki/api/v2")?
                .allowing_status("PUT", "/pages/{id}", 409),
            Contract::load(&cli.specs_dir.join("confluence-v1.json"), "")?,
        ],
        "gitlab" => vec![gitlab_contract(&cli.specs_dir)?],
        other => anyhow::bail!("unknown service {other}"),
    });
    // No OpenAPI document of the Server/Data Center APIs is in tests/specs (see its README).
    let contracts =
        (!(server && matches!(cli.service.as_str(), "jira" | "confluence"))).then_some(contracts);
    let connections = Arc::new(AtomicU64::new(0));
    let fake = Arc::new(Fake {
        data: Mutex::new(Data::seed(&cli.service, &cli.instance_name)),
        service: cli.service.clone(),
        server,
        token: cli.token,
        email: cli.email,
        instance: cli.instance_name,
        context: cli.context_path.trim_end_matches('/').to_owned(),
        contracts,
        faults: Mutex::new(Faults::default()),
        stats: Mutex::new(Stats::default()),
        connections: connections.clone(),
    });
    let app = axum::Router::new().fallback(handle).with_state(fake);
    let listener = tokio::net::TcpListener::bind(cli.bind)
        .await
        .with_context(|| format!("binding {}", cli.bind))?;
    let addr = listener.local_addr()?;
    let counted = listener.tap_io(move |_| {
        connections.fetch_add(1, Ordering::SeqCst);
    });
    println!("fake-{} listening on http://{addr}", cli.service);
    use std::io::Write as _;
    std::io::stdout().flush().ok();
    axum::serve(counted, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal handler");
            tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
