//! `GET /health` and the deep check `GET /health?deep=1` (also `GET /ready`).
//!
//! `/health` stays cheap: no I/O, answered even from the native connection reserve. The deep check
//! builds one report from concurrent probes that all race one deadline ([`GatewayConfig::health_budget_ms`],
//! timed by the [`Sleeper`](crate::port::Sleeper) port), so it never takes much longer than the budget:
//! - the session store (a read of an id that cannot exist: one round trip);
//! - each upstream that has environment credentials (`JIRA_URL`…, `GITLAB_API_URL`…): one cheap GET
//!   through the pool, with its latency from the clock port;
//! - each probe the platform added with [`McpApp::with_health_probe`] (the native stdio bridge's
//!   children).
//!
//! Seed 001's shape is kept: `status` and `services` (`{"jira": "ok" | "error"}`), plus the active
//! stream count (`active_streams`) and session gauge. A store that fails makes the whole check 503
//! (`status: "error"`): this instance cannot serve sessions. An upstream or a platform part that
//! fails makes it `degraded` with 200: the instance itself is fine, and taking every replica out of
//! a load balancer because a SaaS is down would not help anyone. Results are kept for
//! [`DEEP_HEALTH_CACHE_MS`], so a probe storm costs each upstream at most one request per window.

use std::sync::Mutex;

use futures_util::future::{join_all, select, Either};
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::McpApp;
use crate::credential::{Credentials, Service};
use crate::port::{BoxFuture, MaybeSendSync, UnixMillis};
use crate::session::SessionId;
use crate::transport::Reply;
use crate::upstream::{Deployment, UpstreamFailure};

/// How long a deep report is reused (milliseconds): deep checks from load balancers and
/// orchestrators (every few seconds per replica) then cost each upstream at most one request per
/// window, and unauthenticated callers cannot turn `/health?deep=1` into load on an upstream.
pub const DEEP_HEALTH_CACHE_MS: u64 = 5_000;

/// The outcome of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeStatus {
    /// Working.
    Ok,
    /// Partly working (some of a platform part's children are down).
    Degraded,
    /// Not working, or did not answer within the budget.
    Error,
}

impl ProbeStatus {
    /// The worse of two.
    pub fn worst(self, other: ProbeStatus) -> ProbeStatus {
        use ProbeStatus::*;
        match (self, other) {
            (Error, _) | (_, Error) => Error,
            (Degraded, _) | (_, Degraded) => Degraded,
            _ => Ok,
        }
    }

    /// How a supervised child's server is: `error` while its restart budget is spent (no new child
    /// starts until crashes leave the window), `degraded` after a crash within the window, else `ok`
    /// (a child not started yet is fine: children start on demand).
    pub fn of_children(recent_crashes: u32, restart_budget: u32) -> ProbeStatus {
        match recent_crashes {
            0 => ProbeStatus::Ok,
            n if n >= restart_budget => ProbeStatus::Error,
            _ => ProbeStatus::Degraded,
        }
    }

    /// `ok`, `degraded` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeStatus::Ok => "ok",
            ProbeStatus::Degraded => "degraded",
            ProbeStatus::Error => "error",
        }
    }
}

/// A platform's section of the deep report.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// How the part is.
    pub status: ProbeStatus,
    /// What the section shows besides `status` (an object; never credentials).
    pub detail: Value,
}

/// A part only the platform can see (the native bridge's children), reported in the deep check
/// under [`HealthProbe::name`].
pub trait HealthProbe: MaybeSendSync {
    /// The section's key in the report.
    fn name(&self) -> &'static str;
    /// Looks at the part (bounded by the check's deadline; should be cheap).
    fn probe(&self) -> BoxFuture<'_, ProbeReport>;
}

/// The cached deep report and when it was made.
#[derive(Default)]
pub(crate) struct HealthCache(Mutex<Option<(UnixMillis, StatusCode, Value)>>);

/// One section's result: its JSON and status.
struct Section {
    key: String,
    status: ProbeStatus,
    value: Value,
}

impl McpApp {
    /// `GET /health`: cheap, no I/O.
    pub(crate) fn health(&self) -> Reply {
        Reply::json(
            StatusCode::OK,
            &json!({
                "status": "ok",
                "server": self.config.server_name,
                "version": self.config.server_version,
                "tools": self.registry.tools().len(),
                "active_streams": self.metrics.active_streams(),
            }),
        )
    }

    /// `GET /health?deep=1` or `GET /ready`: the deep report (see the module documentation).
    pub async fn deep_health(&self) -> Reply {
        let now = self.ports.clock.now();
        if let Ok(cache) = self.health_cache.0.lock() {
            if let Some((at, status, body)) = cache.as_ref() {
                if now.saturating_sub(*at) < DEEP_HEALTH_CACHE_MS {
                    return Reply::json(*status, body);
                }
            }
        }
        let budget = self.config.health_budget_ms;
        let credentials = Credentials::resolve(
            &http::HeaderMap::new(),
            &self.config.credential_defaults,
            false,
        );
        let mut probes: Vec<BoxFuture<'_, Section>> = vec![Box::pin(self.probe_store())];
        for service in [Service::Jira, Service::Confluence, Service::GitLab] {
            let configured = self
                .config
                .credential_defaults
                .service(service)
                .is_some_and(|d| d.auth.is_some());
            if configured {
                probes.push(Box::pin(self.probe_upstream(service, &credentials)));
            }
        }
        for p in &self.health_probes {
            let name = p.name();
            probes.push(Box::pin(async move {
                let r = p.probe().await;
                let mut value = match r.detail {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                value.insert("status".into(), r.status.as_str().into());
                Section {
                    key: name.to_owned(),
                    status: r.status,
                    value: Value::Object(value),
                }
            }));
        }
        let raced = probes.into_iter().map(|p| self.within(budget, p));
        let sections = join_all(raced).await;
        let took = self.ports.clock.now().saturating_sub(now);
        let (status, body) = self.deep_report(sections, budget, took);
        if let Ok(mut cache) = self.health_cache.0.lock() {
            *cache = Some((now, status, body.clone()));
        }
        Reply::json(status, &body)
    }

    /// Runs `probe` until it ends or `budget` milliseconds pass (then `None`). Without a sleeper the
    /// probe's own timeouts (the upstream timeout) bound it.
    async fn within<'a>(
        &'a self,
        budget: u64,
        probe: BoxFuture<'a, Section>,
    ) -> Result<Section, ()> {
        let Some(sleeper) = &self.sleeper else {
            return Ok(probe.await);
        };
        match select(probe, sleeper.sleep(budget)).await {
            Either::Left((section, _)) => Ok(section),
            Either::Right(_) => Err(()),
        }
    }

    async fn probe_store(&self) -> Section {
        let started = self.ports.clock.now();
        // The all-zero id (drawn with probability 2^-128): one round trip that finds nothing.
        let probe_id = SessionId::parse(&"0".repeat(32));
        let outcome = match &probe_id {
            Some(id) => self.ports.store.load(id).await.map(|_| ()),
            None => Ok(()),
        };
        let latency = self.ports.clock.now().saturating_sub(started);
        let status = match outcome {
            Ok(_) => ProbeStatus::Ok,
            Err(_) => ProbeStatus::Error,
        };
        let mut value = json!({"status": status.as_str(), "latency_ms": latency});
        if let Err(e) = outcome {
            value["error"] = Value::String(e.to_string());
        }
        Section {
            key: "store".into(),
            status,
            value,
        }
    }

    async fn probe_upstream(&self, service: Service, credentials: &Credentials) -> Section {
        let started = self.ports.clock.now();
        let upstream = self.upstream.for_call(credentials, started);
        let outcome = async {
            let ep = upstream.endpoint(service)?;
            // Cheap GETs every deployment serves: Jira `serverInfo` (REST v3 on Cloud, v2 on
            // Server/Data Center), Confluence one space (v2 on Cloud, v1 on Server/Data Center),
            // GitLab the token's own user (`GET /user`, which checks the token too).
            let path = match service {
                Service::GitLab => "/user",
                Service::Jira => match upstream.deployment(&ep).await? {
                    Deployment::Cloud => "/rest/api/3/serverInfo",
                    Deployment::Server => "/rest/api/2/serverInfo",
                },
                Service::Confluence => match upstream.deployment(&ep).await? {
                    Deployment::Cloud => "/wiki/api/v2/spaces?limit=1",
                    Deployment::Server => "/rest/api/space?limit=1",
                },
            };
            upstream
                .json(&ep, Method::GET, path, None)
                .await
                .map(|r| r.status)
        }
        .await;
        let latency = self.ports.clock.now().saturating_sub(started);
        let mut value = json!({"latency_ms": latency});
        let status = match &outcome {
            Ok(code) => {
                value["http_status"] = json!(code);
                ProbeStatus::Ok
            }
            Err(e) => {
                if let Some(code) = e.status() {
                    value["http_status"] = json!(code);
                }
                value["error"] = Value::String(failure_kind(e).into());
                ProbeStatus::Error
            }
        };
        value["status"] = status.as_str().into();
        Section {
            key: format!("upstream:{}", service.label()),
            status,
            value,
        }
    }

    fn deep_report(
        &self,
        sections: Vec<Result<Section, ()>>,
        budget: u64,
        took: u64,
    ) -> (StatusCode, Value) {
        // The order of the probes: store, upstreams in service order, platform probes.
        let mut names = vec!["store".to_owned()];
        for service in [Service::Jira, Service::Confluence, Service::GitLab] {
            if self
                .config
                .credential_defaults
                .service(service)
                .is_some_and(|d| d.auth.is_some())
            {
                names.push(format!("upstream:{}", service.label()));
            }
        }
        names.extend(self.health_probes.iter().map(|p| p.name().to_owned()));
        let mut overall = ProbeStatus::Ok;
        let mut store_failed = false;
        let mut upstreams = Map::new();
        let mut services = Map::new();
        let mut body = Map::new();
        for (name, section) in names.into_iter().zip(sections) {
            let section = section.unwrap_or_else(|()| Section {
                key: name.clone(),
                status: ProbeStatus::Error,
                value: json!({"status": "error", "error": "timeout", "latency_ms": budget}),
            });
            if section.status != ProbeStatus::Ok {
                overall = ProbeStatus::Degraded;
            }
            match section.key.strip_prefix("upstream:") {
                Some(label) => {
                    services.insert(
                        label.to_owned(),
                        Value::String(match section.status {
                            ProbeStatus::Ok => "ok".into(),
                            _ => "error".into(),
                        }),
                    );
                    upstreams.insert(label.to_owned(), section.value);
                }
                None => {
                    if section.key == "store" && section.status == ProbeStatus::Error {
                        store_failed = true;
                    }
                    body.insert(section.key, section.value);
                }
            }
        }
        if store_failed {
            overall = ProbeStatus::Error;
        }
        body.insert("status".into(), overall.as_str().into());
        body.insert("server".into(), self.config.server_name.clone().into());
        body.insert("version".into(), self.config.server_version.clone().into());
        body.insert("tools".into(), self.registry.tools().len().into());
        body.insert(
            "active_streams".into(),
            self.metrics.active_streams().into(),
        );
        body.insert("services".into(), Value::Object(services));
        body.insert("upstreams".into(), Value::Object(upstreams));
        body.insert("budget_ms".into(), budget.into());
        body.insert("took_ms".into(), took.into());
        let status = match overall {
            ProbeStatus::Error => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        };
        (status, Value::Object(body))
    }
}

/// A short, credential-free name for why an upstream probe failed.
fn failure_kind(e: &UpstreamFailure) -> &'static str {
    match e {
        UpstreamFailure::Status {
            status: 401 | 403, ..
        } => "unauthorized",
        UpstreamFailure::Status { .. } => "http_error",
        UpstreamFailure::Redirect { .. } => "redirect",
        UpstreamFailure::Refused { .. } | UpstreamFailure::UrlFixed(_) => "refused",
        UpstreamFailure::NotConfigured(_) => "not_configured",
        UpstreamFailure::Unavailable { .. } => "unreachable",
        _ => "bad_response",
    }
}

/// Whether a request asks for the deep check: `GET /ready`, or `GET /health` with `deep` set to
/// anything but `0`/`false`.
pub fn wants_deep(method: &Method, leaf: &str, query: Option<&str>) -> bool {
    if method != Method::GET {
        return false;
    }
    match leaf {
        "ready" => true,
        "health" => query.is_some_and(|q| {
            q.split('&').any(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                k == "deep" && !matches!(v, "0" | "false")
            })
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_is_asked_by_query_or_ready() {
        assert!(wants_deep(&Method::GET, "health", Some("deep=1")));
        assert!(wants_deep(&Method::GET, "health", Some("x=2&deep")));
        assert!(!wants_deep(&Method::GET, "health", Some("deep=0")));
        assert!(!wants_deep(&Method::GET, "health", None));
        assert!(wants_deep(&Method::GET, "ready", None));
        assert!(!wants_deep(&Method::POST, "ready", None));
    }

    #[test]
    fn children_health_follows_the_restart_budget() {
        assert_eq!(ProbeStatus::of_children(0, 5), ProbeStatus::Ok);
        assert_eq!(ProbeStatus::of_children(2, 5), ProbeStatus::Degraded);
        assert_eq!(ProbeStatus::of_children(5, 5), ProbeStatus::Error);
        assert_eq!(
            ProbeStatus::Ok.worst(ProbeStatus::Degraded),
            ProbeStatus::Degraded
        );
        assert_eq!(
            ProbeStatus::Error.worst(ProbeStatus::Degraded),
            ProbeStatus::Error
        );
    }
}
