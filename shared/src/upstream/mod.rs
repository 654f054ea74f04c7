//! Upstream access for connectors: base-URL normalization, the SSRF [`guard`], the client
//! [`pool`], and calls with a timeout, bounded retries (429/502/503/504, honouring `Retry-After`)
//! and one mapping from upstream outcomes to actionable tool errors.
//!
//! Redirects are never followed: a 3xx answer is reported, so a redirect cannot lead past the guard.

pub mod deployment;
pub mod guard;
pub mod pool;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::{select, Either};
use http::{HeaderMap, Method};
use serde_json::Value;

pub use deployment::{Deployment, DeploymentConfig, RequestedDeployment};
pub use guard::{forbidden_address, GuardConfig, HostPattern, Refusal, UpstreamGuard};
pub use pool::{HttpClientFactory, PoolConfig, PoolStats, SharedClient, UpstreamPool};

pub use crate::credential::{normalize_atlassian_base, normalize_gitlab_base};
use crate::credential::{origin_of, Credentials, Service};
use crate::port::{BodyCap, CapCollector, CappedRead, Keep, Sleeper, UnixMillis, UpstreamError};

/// Upstream settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// SSRF guard rules.
    pub guard: GuardConfig,
    /// Pool limits.
    pub pool: PoolConfig,
    /// Longest one upstream call may take (default 30 s).
    pub timeout_ms: u64,
    /// Retries after 429/502/503/504 (default 2).
    pub max_retries: u32,
    /// Most time spent waiting between retries of one call (default 10 s); a longer `Retry-After`
    /// is reported to the caller instead of waited for.
    pub max_retry_wait_ms: u64,
    /// First backoff step when the upstream gives no `Retry-After` (doubles per retry).
    pub backoff_ms: u64,
    /// Operator-forced Atlassian deployment types (`JIRA_DEPLOYMENT`, `CONFLUENCE_DEPLOYMENT`).
    pub deployment: DeploymentConfig,
}

/// The long-lived parts of upstream access, owned by the gateway.
pub struct UpstreamServices {
    config: UpstreamConfig,
    guard: UpstreamGuard,
    pool: UpstreamPool,
    sleeper: Option<Arc<dyn Sleeper>>,
}

impl UpstreamServices {
    /// Builds guard and pool from `config`.
    pub fn new(
        config: UpstreamConfig,
        factory: Arc<dyn HttpClientFactory>,
        sleeper: Option<Arc<dyn Sleeper>>,
    ) -> Self {
        UpstreamServices {
            guard: UpstreamGuard::new(config.guard.clone()),
            pool: UpstreamPool::new(config.pool, factory),
            config,
            sleeper,
        }
    }

    /// The pool (for its counters).
    pub fn pool(&self) -> &UpstreamPool {
        &self.pool
    }

    /// The guard (platform clients re-check resolved addresses with it).
    pub fn guard(&self) -> &UpstreamGuard {
        &self.guard
    }

    /// Upstream access for one tool call with these credentials.
    pub fn for_call<'a>(&'a self, credentials: &'a Credentials, now: UnixMillis) -> Upstream<'a> {
        Upstream {
            services: self,
            credentials,
            now,
            hosts: Mutex::new(Vec::new()),
            requested: RequestedDeployment::Detect,
            trace: None,
        }
    }
}

/// A resolved, guard-checked upstream: normalized base URL plus the auth header to send.
#[derive(Clone)]
pub struct Endpoint {
    /// The service.
    pub service: Service,
    /// Normalized base URL without a trailing slash (GitLab: ends in `/api/v4`; Confluence: no `/wiki`).
    pub base: String,
    /// Host (and port) for messages and audit.
    pub host: String,
    /// Confluence: the URL given ended in `/wiki`, which [`Endpoint::base`] leaves out. Cloud paths
    /// carry their own `/wiki`; on Server/Data Center it is the context path the instance is
    /// deployed under, put back by [`Endpoint::with_context_path`].
    pub wiki_suffix: bool,
    origin: String,
    auth: (http::HeaderName, String),
}

impl Endpoint {
    /// The endpoint of a Server/Data Center instance deployed under the `/wiki` context path the
    /// URL named (Cloud's `/wiki` is part of its API paths, so it was left out of the base).
    pub fn with_context_path(mut self) -> Self {
        if self.wiki_suffix {
            self.base.push_str("/wiki");
            self.wiki_suffix = false;
        }
        self
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("service", &self.service)
            .field("base", &self.base)
            .finish()
    }
}

/// A successful (2xx) upstream answer; `T` is the decoded body (a `Value` unless a typed shape is asked for).
#[derive(Debug, Clone)]
pub struct UpstreamReply<T = Value> {
    /// Status code.
    pub status: u16,
    /// Response headers (pagination lives here for GitLab).
    pub headers: HeaderMap,
    /// JSON body; for `Value`, `Null` when empty.
    pub body: T,
}

impl<T> UpstreamReply<T> {
    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

const JSON: &str = "application/json";

/// A 2xx answer before decoding.
struct RawReply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    read: Option<CappedRead>,
}

/// A text body read under a [`BodyCap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamText {
    /// The kept text.
    pub text: String,
    /// Body bytes the client saw.
    pub seen_bytes: u64,
    /// Whether bytes were dropped to keep within the cap.
    pub truncated: bool,
}

/// A binary body read under a [`BodyCap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamBytes {
    /// The kept bytes.
    pub bytes: Vec<u8>,
    /// Body bytes the client saw.
    pub seen_bytes: u64,
    /// Whether bytes were dropped to keep within the cap.
    pub truncated: bool,
}

/// An upstream call that did not succeed; `Display` is the actionable message a model sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamFailure {
    /// No credentials for the service in this request or the environment.
    #[error("{} is not configured for this request: {}", .0.name(), credential_hint(*.0))]
    NotConfigured(Service),
    /// The request named its own URL for a service whose URL the operator fixed.
    #[error("{} URL from the request headers refused: this server only uses its configured {} URL (header URLs are disabled for {} by MCP_EDGE_DYNAMIC_URLS); remove the {} header", .0.name(), .0.name(), .0.label(), url_header(*.0))]
    UrlFixed(Service),
    /// The SSRF guard refused the URL.
    #[error("{} URL refused: {reason}", .service.name())]
    Refused {
        /// Service.
        service: Service,
        /// The rule.
        reason: String,
    },
    /// The upstream answered with a non-success status.
    #[error("{}", status_message(*.service, .host, *.status, .detail, *.retry_after_s))]
    Status {
        /// Service.
        service: Service,
        /// Host.
        host: String,
        /// HTTP status.
        status: u16,
        /// The upstream's own error text (never credentials).
        detail: String,
        /// `Retry-After` seconds, for 429/503.
        retry_after_s: Option<u64>,
    },
    /// The upstream answered with a redirect, which is never followed.
    #[error("{} at {host} answered with a redirect to {location}; redirects are not followed (check the base URL)", .service.name())]
    Redirect {
        /// Service.
        service: Service,
        /// Host.
        host: String,
        /// Where it pointed (scheme and host only).
        location: String,
    },
    /// Connecting or talking to the upstream failed.
    #[error("{} at {host} is unavailable: {detail}", .service.name())]
    Unavailable {
        /// Service.
        service: Service,
        /// Host.
        host: String,
        /// What failed.
        detail: String,
    },
    /// The upstream's TLS certificate is not trusted.
    #[error("{} at {host} presented a TLS certificate that is not trusted ({detail}); if it is signed by a private certificate authority, give that CA's PEM file with --upstream-ca-file (MCP_EDGE_UPSTREAM_CA_FILE)", .service.name())]
    Untrusted {
        /// Service.
        service: Service,
        /// Host.
        host: String,
        /// The certificate problem.
        detail: String,
    },
    /// The call took longer than the limit.
    #[error("{} at {host} did not answer within {ms} ms (upstream unavailable or slow; try again later)", .service.name())]
    Timeout {
        /// Service.
        service: Service,
        /// Host.
        host: String,
        /// The limit.
        ms: u64,
    },
    /// The Atlassian deployment type could not be decided, or an answer shows it was guessed wrong.
    #[error("{}: {detail}", .service.name())]
    Deployment {
        /// Service.
        service: Service,
        /// What happened and how to override the deployment type.
        detail: String,
    },
    /// A 2xx answer whose body could not be understood.
    #[error("{} at {host} sent a response mcp-edge could not read: {detail}", .service.name())]
    BadResponse {
        /// Service.
        service: Service,
        /// Host.
        host: String,
        /// What was wrong.
        detail: String,
    },
}

impl UpstreamFailure {
    /// The HTTP status, when the upstream answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamFailure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn url_header(service: Service) -> &'static str {
    match service {
        Service::Jira => "X-Jira-URL (or X-Atlassian-Jira-Url)",
        Service::Confluence => "X-Confluence-URL (or X-Atlassian-Confluence-Url)",
        Service::GitLab => "X-GitLab-API-URL",
    }
}

fn credential_hint(service: Service) -> &'static str {
    match service {
        Service::Jira => "send X-Jira-URL and X-Jira-Token (plus X-Jira-Email for Atlassian Cloud), or set JIRA_URL and JIRA_API_TOKEN",
        Service::Confluence => "send X-Confluence-URL and X-Confluence-Token (plus X-Confluence-Email for Atlassian Cloud), or set CONFLUENCE_URL and CONFLUENCE_API_TOKEN",
        Service::GitLab => "send X-GitLab-API-URL and Private-Token (or JOB-TOKEN), or set GITLAB_API_URL and GITLAB_TOKEN",
    }
}

fn status_message(
    service: Service,
    host: &str,
    status: u16,
    detail: &str,
    retry_after_s: Option<u64>,
) -> String {
    let name = service.name();
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" Upstream said: {detail}")
    };
    match status {
        401 => format!("{name} at {host} rejected the credentials (401): bad or expired credentials for {name} at {host}; check the token (and email for Atlassian Cloud).{detail}"),
        403 => format!("{name} at {host} refused permission (403): the credentials are valid but lack permission for this operation.{detail}"),
        404 => format!("{name} at {host}: not found (404): it does not exist or these credentials have no access to it.{detail}"),
        304 => format!("{name} at {host}: nothing to change (304 Not Modified); the operation was already in the requested state."),
        429 => format!(
            "{name} at {host} is rate limiting requests (429); retry after {} s.",
            retry_after_s.unwrap_or(60)
        ),
        500..=599 => format!("{name} at {host} is unavailable ({status}); try again later.{detail}"),
        _ => format!("{name} at {host} rejected the request ({status}).{detail}"),
    }
}

/// The upstream's own error text from a JSON error body (Jira, Confluence, GitLab shapes), bounded.
pub fn error_detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let mut parts: Vec<String> = Vec::new();
            if let Some(list) = v.get("errorMessages").and_then(Value::as_array) {
                parts.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            match v.get("errors") {
                Some(Value::Object(map)) => parts.extend(
                    map.iter()
                        .map(|(k, m)| format!("{k}: {}", m.as_str().unwrap_or(&m.to_string()))),
                ),
                Some(Value::Array(list)) => parts.extend(list.iter().filter_map(|e| {
                    // Jira's bulk create: one `elementErrors` collection per refused issue.
                    if let Some(inner) = e.get("elementErrors") {
                        let n = e["failedElementNumber"].as_u64().unwrap_or_default();
                        return Some(format!(
                            "issue {n}: {}",
                            error_detail(inner.to_string().as_bytes())
                        ));
                    }
                    e.get("title")
                        .or_else(|| e.get("detail"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })),
                _ => {}
            }
            for key in ["message", "error", "error_description"] {
                match v.get(key) {
                    Some(Value::String(s)) => parts.push(s.clone()),
                    Some(other @ (Value::Object(_) | Value::Array(_))) => {
                        parts.push(other.to_string())
                    }
                    _ => {}
                }
            }
            parts.join("; ")
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let mut t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        t.push('…');
    }
    t
}

fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    }
}

/// Upstream access for one tool call: resolves endpoints from the call's credentials and sends
/// requests through the pool, recording which hosts were contacted (for the audit log).
pub struct Upstream<'a> {
    services: &'a UpstreamServices,
    credentials: &'a Credentials,
    now: UnixMillis,
    hosts: Mutex<Vec<String>>,
    requested: RequestedDeployment,
    /// The tracer and the context of the span this call runs in (each request gets a child span).
    trace: Option<(&'a crate::otel::Tracer, Option<crate::otel::TraceContext>)>,
}

impl<'a> Upstream<'a> {
    /// Runs this call's requests as client spans under `parent` (which they also carry upstream as
    /// `traceparent`/`tracestate`).
    pub fn with_trace(
        mut self,
        tracer: &'a crate::otel::Tracer,
        parent: Option<&crate::otel::TraceContext>,
    ) -> Self {
        self.trace = Some((tracer, parent.cloned()));
        self
    }
}

impl Upstream<'_> {
    /// The trace context this call runs under (connectors that send their own requests, such as
    /// the remote bridge, forward it).
    pub fn trace_context(&self) -> Option<&crate::otel::TraceContext> {
        self.trace.as_ref().and_then(|(_, c)| c.as_ref())
    }

    /// Applies the request's `X-Atlassian-Deployment` header.
    pub fn with_requested(mut self, requested: RequestedDeployment) -> Self {
        self.requested = requested;
        self
    }

    /// The deployment type of a Jira or Confluence endpoint: the request header, else the operator's
    /// variable, else the host name, else a probe whose answer the pool keeps per base URL (so it is
    /// asked once per base URL while cached): Jira's REST v3 `serverInfo` (`deploymentType`, or 404
    /// on Server/Data Center), Confluence's Cloud-only `settings/systemInfo`.
    pub async fn deployment(&self, ep: &Endpoint) -> Result<Deployment, UpstreamFailure> {
        let service = ep.service;
        match &self.requested {
            RequestedDeployment::Forced(d) => return Ok(*d),
            RequestedDeployment::Invalid(detail) => {
                return Err(UpstreamFailure::Deployment {
                    service,
                    detail: detail.clone(),
                })
            }
            RequestedDeployment::Detect => {}
        }
        if let Some(d) = self.services.config.deployment.get(service) {
            return Ok(d);
        }
        if deployment::is_cloud_host(&ep.host) {
            return Ok(Deployment::Cloud);
        }
        if let Some(d) = self.services.pool.deployment(service, &ep.base) {
            return Ok(d);
        }
        let detected = match service {
            Service::Confluence => {
                // Only Confluence Cloud serves `/wiki/rest/api/settings/systemInfo`; Server/Data
                // Center has no `/wiki` prefix, so it answers 404 there.
                match self
                    .json(ep, Method::GET, "/wiki/rest/api/settings/systemInfo", None)
                    .await
                {
                    Ok(_) => Deployment::Cloud,
                    Err(e) if e.status() == Some(404) => Deployment::Server,
                    Err(e) => return Err(e),
                }
            }
            _ => {
                // Jira Cloud serves REST v3 `serverInfo` with `deploymentType` "Cloud"; Server/Data
                // Center has no REST v3 at all, so it answers 404 there.
                match self
                    .json(ep, Method::GET, "/rest/api/3/serverInfo", None)
                    .await
                {
                    Ok(reply) => match reply.body["deploymentType"].as_str() {
                        Some(t) if t.eq_ignore_ascii_case("cloud") => Deployment::Cloud,
                        _ => Deployment::Server,
                    },
                    Err(e) if e.status() == Some(404) => Deployment::Server,
                    Err(e) => return Err(e),
                }
            }
        };
        self.services
            .pool
            .remember_deployment(service, &ep.base, detected);
        Ok(detected)
    }

    /// Whether this call has credentials for `service`.
    pub fn has(&self, service: Service) -> bool {
        self.credentials.service(service).is_some()
    }

    /// The guard-checked endpoint for `service`.
    pub fn endpoint(&self, service: Service) -> Result<Endpoint, UpstreamFailure> {
        if self.credentials.url_refused(service) {
            return Err(UpstreamFailure::UrlFixed(service));
        }
        let cred = self
            .credentials
            .service(service)
            .ok_or(UpstreamFailure::NotConfigured(service))?;
        let url = self
            .services
            .guard
            .check(&cred.url)
            .map_err(|r| UpstreamFailure::Refused {
                service,
                reason: r.to_string(),
            })?;
        let base = match service {
            Service::GitLab => normalize_gitlab_base(&url),
            _ => normalize_atlassian_base(&url, service),
        };
        let wiki_suffix =
            service == Service::Confluence && url.path().trim_end_matches('/').ends_with("/wiki");
        Ok(Endpoint {
            service,
            base,
            wiki_suffix,
            host: host_of(&url),
            origin: origin_of(&url),
            auth: cred.auth.header(),
        })
    }

    /// Hosts contacted so far, in order, without repeats.
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Sends a JSON request to `endpoint.base + path_and_query` and returns the parsed 2xx reply.
    pub async fn json(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<UpstreamReply, UpstreamFailure> {
        self.fetch(endpoint, method, path_and_query, body).await
    }

    /// Like [`Upstream::json`], but decodes the body straight into `T` (fields it does not name are
    /// skipped without being built), which is much cheaper than a `Value` for large list replies.
    /// An empty body decodes as JSON `null`.
    pub async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<UpstreamReply<T>, UpstreamFailure> {
        let raw = self
            .send(endpoint, method, path_and_query, body, None, JSON)
            .await?;
        self.decode(endpoint, raw)
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        raw: RawReply,
    ) -> Result<UpstreamReply<T>, UpstreamFailure> {
        let text: &[u8] = if raw.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &raw.body
        };
        let decoded = serde_json::from_slice(text).map_err(|e| UpstreamFailure::BadResponse {
            service: endpoint.service,
            host: endpoint.host.clone(),
            detail: format!("unexpected JSON: {e}"),
        })?;
        Ok(UpstreamReply {
            status: raw.status,
            headers: raw.headers,
            body: decoded,
        })
    }

    /// GETs a text body (a job log) of which the platform client keeps at most `cap` bytes while
    /// reading, so the whole body is never held; invalid UTF-8 (a multi-byte character cut at the
    /// window's edge) is replaced, not refused.
    pub async fn text(
        &self,
        endpoint: &Endpoint,
        path_and_query: &str,
        cap: BodyCap,
    ) -> Result<UpstreamText, UpstreamFailure> {
        let (body, read) = self
            .capped_get(endpoint, path_and_query, cap, "text/plain, */*")
            .await?;
        let mut bytes: &[u8] = &body;
        if read.truncated && cap.keep == Keep::Tail {
            // Skip UTF-8 continuation bytes of a character cut at the window's start.
            let skip = bytes
                .iter()
                .take(3)
                .take_while(|b| (**b & 0xC0) == 0x80)
                .count();
            bytes = &bytes[skip..];
        }
        Ok(UpstreamText {
            text: String::from_utf8_lossy(bytes).into_owned(),
            seen_bytes: read.seen_bytes,
            truncated: read.truncated,
        })
    }

    /// GETs a binary body (a Jira attachment) of which the platform client keeps at most `cap`
    /// bytes while reading (use [`Keep::Head`]: reading stops once the cap is reached).
    pub async fn bytes(
        &self,
        endpoint: &Endpoint,
        path_and_query: &str,
        cap: BodyCap,
    ) -> Result<UpstreamBytes, UpstreamFailure> {
        let (body, read) = self
            .capped_get(endpoint, path_and_query, cap, "*/*")
            .await?;
        Ok(UpstreamBytes {
            bytes: body.to_vec(),
            seen_bytes: read.seen_bytes,
            truncated: read.truncated,
        })
    }

    /// GETs a body of which the platform client keeps at most `cap` bytes while reading; a client
    /// that ignored the cap (none does) still cannot hand more than the cap onwards.
    async fn capped_get(
        &self,
        endpoint: &Endpoint,
        path_and_query: &str,
        cap: BodyCap,
        accept: &str,
    ) -> Result<(Bytes, CappedRead), UpstreamFailure> {
        let raw = self
            .send(
                endpoint,
                Method::GET,
                path_and_query,
                None,
                Some(cap),
                accept,
            )
            .await?;
        Ok(match raw.read {
            Some(read) if raw.body.len() <= cap.max_bytes => (raw.body, read),
            _ => {
                let mut c = CapCollector::new(cap);
                c.push(&raw.body);
                c.finish()
            }
        })
    }

    /// GETs a JSON body of at most `cap.max_bytes` (the client stops reading past it, so a huge
    /// page is never buffered); `None` when the body was longer, since a JSON prefix cannot be read.
    pub async fn text_json(
        &self,
        endpoint: &Endpoint,
        path_and_query: &str,
        cap: BodyCap,
    ) -> Result<Option<UpstreamReply>, UpstreamFailure> {
        let cap = BodyCap {
            keep: Keep::Head,
            ..cap
        };
        let raw = self
            .send(endpoint, Method::GET, path_and_query, None, Some(cap), JSON)
            .await?;
        if raw.read.is_some_and(|r| r.truncated) || raw.body.len() > cap.max_bytes {
            return Ok(None);
        }
        self.decode(endpoint, raw).map(Some)
    }

    /// [`Upstream::send_attempts`] as one client span (service, host, method, status, retries),
    /// whose context the requests carry upstream.
    async fn send(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        cap: Option<BodyCap>,
        accept: &str,
    ) -> Result<RawReply, UpstreamFailure> {
        use crate::otel::{Attr, SpanKind};
        let Some((tracer, parent)) = &self.trace else {
            let mut retries = 0;
            return self
                .send_attempts(
                    endpoint,
                    method,
                    path_and_query,
                    body,
                    cap,
                    accept,
                    None,
                    &mut retries,
                )
                .await;
        };
        let service = endpoint.service.label();
        let mut span = tracer.start(parent.as_ref(), SpanKind::Client, || {
            format!("{method} {service}")
        });
        let mut retries = 0u32;
        let http_method = method.to_string();
        let result = self
            .send_attempts(
                endpoint,
                method,
                path_and_query,
                body,
                cap,
                accept,
                span.context(),
                &mut retries,
            )
            .await;
        if span.is_recording() {
            span.set(Attr::Service(service));
            span.set(Attr::Host(endpoint.host.clone()));
            span.set(Attr::HttpMethod(http_method));
            span.set(Attr::Retries(i64::from(retries)));
            let status = match &result {
                Ok(raw) => Some(raw.status),
                Err(e) => e.status(),
            };
            if let Some(status) = status {
                span.set(Attr::HttpStatus(i64::from(status)));
            }
            if result.is_err() {
                span.fail();
            }
        }
        tracer.finish(span);
        result
    }

    /// Sends one request with timeout and bounded retries; returns a 2xx answer's raw parts, every
    /// other outcome as the failure a model sees. `retries` counts the attempts after the first.
    #[allow(clippy::too_many_arguments)]
    async fn send_attempts(
        &self,
        endpoint: &Endpoint,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        cap: Option<BodyCap>,
        accept: &str,
        trace: Option<&crate::otel::TraceContext>,
        retries: &mut u32,
    ) -> Result<RawReply, UpstreamFailure> {
        if let Ok(mut hosts) = self.hosts.lock() {
            if !hosts.contains(&endpoint.host) {
                hosts.push(endpoint.host.clone());
            }
        }
        let cfg = &self.services.config;
        let service = endpoint.service;
        let host = endpoint.host.clone();
        let client = self
            .services
            .pool
            .client(service, &endpoint.base, &endpoint.origin, self.now);
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        let payload = body.map(|b| Bytes::from(b.to_string()));
        let url = format!("{}{}", endpoint.base, path_and_query);
        let mut waited = 0u64;
        let mut attempt = 0u32;
        loop {
            *retries = attempt;
            let mut req = http::Request::builder()
                .method(method.clone())
                .uri(&url)
                .header(http::header::ACCEPT, accept)
                .header(
                    http::header::USER_AGENT,
                    concat!("mcp-edge/", env!("CARGO_PKG_VERSION")),
                )
                .header(endpoint.auth.0.clone(), endpoint.auth.1.as_str());
            if payload.is_some() {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
            }
            for (name, value) in trace.into_iter().flat_map(|c| c.headers()) {
                req = req.header(name, value);
            }
            if let Some(cap) = cap {
                req = req.extension(cap);
            }
            let req = req.body(payload.clone().unwrap_or_default()).map_err(|e| {
                UpstreamFailure::Refused {
                    service,
                    reason: format!("could not build the request: {e}"),
                }
            })?;
            let sent = client.send(req);
            let outcome = match &self.services.sleeper {
                Some(sleeper) => match select(sent, sleeper.sleep(cfg.timeout_ms)).await {
                    Either::Left((r, _)) => r,
                    Either::Right(_) => Err(UpstreamError::Timeout),
                },
                None => sent.await,
            };
            let retry_wait = |retry_after_s: Option<u64>| {
                let wait = retry_after_s
                    .map(|s| s.saturating_mul(1000))
                    .unwrap_or(cfg.backoff_ms.saturating_mul(1 << attempt.min(10)));
                (attempt < cfg.max_retries
                    && self.services.sleeper.is_some()
                    && waited.saturating_add(wait) <= cfg.max_retry_wait_ms)
                    .then_some(wait)
            };
            let response = match outcome {
                Ok(r) => r,
                Err(UpstreamError::Timeout) => {
                    return Err(UpstreamFailure::Timeout {
                        service,
                        host,
                        ms: cfg.timeout_ms,
                    })
                }
                Err(UpstreamError::Refused(reason)) => {
                    return Err(UpstreamFailure::Refused { service, reason })
                }
                Err(UpstreamError::Certificate(detail)) => {
                    return Err(UpstreamFailure::Untrusted {
                        service,
                        host,
                        detail,
                    })
                }
                Err(e) => {
                    if let (true, Some(wait)) = (idempotent, retry_wait(None)) {
                        self.pause(wait).await;
                        waited += wait;
                        attempt += 1;
                        continue;
                    }
                    return Err(UpstreamFailure::Unavailable {
                        service,
                        host,
                        detail: e.to_string(),
                    });
                }
            };
            let status = response.status().as_u16();
            let retry_after_s = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let retryable =
                matches!(status, 429 | 503) || (idempotent && matches!(status, 502 | 504));
            if retryable {
                if let Some(wait) = retry_wait(retry_after_s) {
                    self.pause(wait).await;
                    waited += wait;
                    attempt += 1;
                    continue;
                }
            }
            // 304 Not Modified is an answer (GitLab: "nothing to change"), not a redirect.
            if (300..400).contains(&status) && status != 304 {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url::Url::parse(&url).ok()?.join(l).ok())
                    .map(|u| format!("{}://{}", u.scheme(), host_of(&u)))
                    .unwrap_or_else(|| "an unknown location".into());
                return Err(UpstreamFailure::Redirect {
                    service,
                    host,
                    location,
                });
            }
            let (parts, bytes) = response.into_parts();
            if !(200..300).contains(&status) {
                return Err(UpstreamFailure::Status {
                    service,
                    host,
                    status,
                    detail: error_detail(&bytes),
                    retry_after_s: retry_after_s.or((status == 429).then_some(60)),
                });
            }
            return Ok(RawReply {
                status,
                read: parts.extensions.get::<CappedRead>().copied(),
                headers: parts.headers,
                body: bytes,
            });
        }
    }

    async fn pause(&self, ms: u64) {
        if let Some(s) = &self.services.sleeper {
            s.sleep(ms).await;
        }
    }
}

#[cfg(test)]
mod tests;
