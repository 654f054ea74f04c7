//! The Worker's `fetch` entry: stateless requests are answered here; session requests go to the
//! session's Durable Object.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use mcp_edge_core::gateway::{session_route, SessionRoute};
use mcp_edge_core::session::{SessionId, SessionStore};
use mcp_edge_core::settings::{Settings, Target};
use mcp_edge_core::tool::Registry;
use mcp_edge_core::{McpApp, Ports};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use crate::convert::{
    handle_live, listen_response, to_core, to_worker, to_worker_response, ASSIGNED_SESSION_HEADER,
};
use crate::limit_object::{DoLeaseLedger, DoRateLimiter};
use crate::ports::{ConsoleAudit, DelaySleeper, FetchClient, JsClock, JsEntropy, NoSessions};

/// Path prefix of the store-contract route (test tools only): `<prefix><case>?seed=…`, where the
/// case is one of the core's `store_contract::CASES` (listed at the bare prefix), or `setup`, `writer` (`&increments=…`) and
/// `check` (`&total=…`) of the concurrent-writers case, whose writers are concurrent requests.
pub const CONTRACT_PATH: &str = "/__test/store/";

/// Binding name of the `SessionObject` namespace in `wrangler.toml`.
pub const SESSIONS_BINDING: &str = "SESSIONS";

/// Reads a `[vars]` entry or a secret.
pub fn env_lookup(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        env.var(name)
            .map(|v| v.to_string())
            .or_else(|_| env.secret(name).map(|s| s.to_string()))
            .ok()
    }
}

/// Builds the gateway from the environment with `store` for sessions.
pub fn build_app(env: &Env, store: Arc<dyn SessionStore>) -> Result<McpApp, String> {
    let settings =
        Settings::from_vars(Target::Worker, env_lookup(env)).map_err(|e| e.to_string())?;
    let mut registry = Registry::new();
    if settings.test_tools {
        mcp_edge_core::testing::register_test_tools(&mut registry);
    }
    mcp_edge_core::connector::register(&mut registry, settings.connectors);
    let ports = Ports {
        store,
        http: Arc::new(FetchClient),
        clock: Arc::new(JsClock),
        entropy: Arc::new(JsEntropy),
    };
    Ok(McpApp::new(settings.gateway, registry, ports)
        .map_err(|e| e.to_string())?
        .with_sleeper(Arc::new(DelaySleeper))
        .with_audit_sink(Arc::new(ConsoleAudit))
        .with_rate_limiter(Arc::new(DoRateLimiter::new(env.clone())))
        .with_session_ledger(Arc::new(DoLeaseLedger::new(env.clone())))
        .with_jwks_cache(JWKS.with(Arc::clone)))
}

thread_local! {
    /// One OAuth signing-key cache per isolate, shared by the stateless gateway and every session
    /// object in it (otherwise each new session object would fetch the JWKS).
    static JWKS: Arc<mcp_edge_core::auth::JwksCache> = Arc::default();
}

/// A 500 naming the configuration problem (never a value: it may be a secret).
pub fn config_error(reason: &str) -> worker::Result<Response> {
    let body = json!({"error": "mcp-edge is misconfigured", "detail": reason});
    Ok(Response::from_json(&body)?.with_status(500))
}

thread_local! {
    /// The isolate's stateless gateway, built on first use.
    static STATELESS: RefCell<Option<Rc<McpApp>>> = const { RefCell::new(None) };
}

fn stateless_app(env: &Env) -> Result<Rc<McpApp>, String> {
    if let Some(app) = STATELESS.with(|s| s.borrow().clone()) {
        return Ok(app);
    }
    // Sessions live in Durable Objects: the deep health check asks one (see DurableObjectsProbe).
    let probe = Arc::new(DurableObjectsProbe(env.clone()));
    // `subscriptions/listen` streams are held here, by the isolate that answered the listen request
    // (no Durable Object: a listen stream needs no session; see crate::streams::listen).
    // Tasks: records in TaskObjects, work under ctx.waitUntil (see `fetch`).
    let tasks = Arc::new(crate::task_object::DoTaskStore::new(env.clone()));
    let app = Rc::new(
        build_app(env, Arc::new(NoSessions))?
            .with_health_probe(probe)
            .with_listen(mcp_edge_core::subscription::DEFAULT_POLL_MS)
            // The per-caller listen-stream quota is counted by a LimitObject (touched when a stream
            // opens and closes, never held), so it holds across isolates.
            .with_stream_ledger(Arc::new(DoLeaseLedger::new(env.clone())))
            .with_task_store(tasks),
    );
    STATELESS.with(|s| *s.borrow_mut() = Some(app.clone()));
    Ok(app)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let app = match stateless_app(&env) {
        Ok(app) => app,
        Err(reason) => return config_error(&reason),
    };
    let url = req.url()?;
    let origin = url.origin().ascii_serialization();
    let mut core = match to_core(req, app.config().max_body_bytes).await? {
        Ok(core) => core,
        Err(reply) => return to_worker_response(reply, None),
    };
    core.headers_mut().remove(ASSIGNED_SESSION_HEADER);
    // The store-contract route (answered only when test tools are enabled): one fresh object per
    // run, named by the path segment after the prefix.
    let contract = core.uri().path().strip_prefix(CONTRACT_PATH).filter(|_| {
        Settings::from_vars(Target::Worker, env_lookup(&env)).is_ok_and(|s| s.test_tools)
    });
    if let Some(rest) = contract {
        if let Some((object, case)) = rest.split_once('/') {
            let target = format!(
                "{origin}{CONTRACT_PATH}{case}?{}",
                core.uri().query().unwrap_or("")
            );
            let stub = env
                .durable_object(SESSIONS_BINDING)?
                .id_from_name(&format!("contract:{object}"))?
                .get_stub()?;
            return stub.fetch_with_str(&target).await;
        }
    }
    let name = match session_route(&core) {
        SessionRoute::Stateless => {
            let mut reply = match handle_live(&app, core).await {
                Ok(reply) => reply,
                Err(streamed) => return streamed,
            };
            // Tasks extension: the work continues after the response, for as long as the runtime
            // lets `waitUntil` run (README, "Tasks").
            for job in reply.tasks.drain(..) {
                let app = app.clone();
                ctx.wait_until(async move { app.run_task(job).await });
            }
            return match reply.listen.take() {
                Some(hold) => listen_response(&app, reply, *hold),
                None => to_worker_response(reply, None),
            };
        }
        SessionRoute::Session(id) => id,
        SessionRoute::NewSession => {
            let id = SessionId::generate(&JsEntropy);
            if let Ok(v) = http::HeaderValue::from_str(id.as_str()) {
                core.headers_mut().insert(ASSIGNED_SESSION_HEADER, v);
            }
            id
        }
    };
    let stub = env
        .durable_object(SESSIONS_BINDING)?
        .id_from_name(name.as_str())?
        .get_stub()?;
    stub.fetch_with_request(to_worker(&core, &origin)?).await
}

/// The Worker's part of the deep health check: sessions live in Durable Objects (the stateless
/// Worker's own store holds none), so the check asks one object (always the same name, which
/// stores nothing) for its cheap `/health` and reports the round trip.
pub struct DurableObjectsProbe(pub worker::Env);

impl mcp_edge_core::gateway::HealthProbe for DurableObjectsProbe {
    fn name(&self) -> &'static str {
        "durable_objects"
    }

    fn probe(&self) -> mcp_edge_core::port::BoxFuture<'_, mcp_edge_core::gateway::ProbeReport> {
        use mcp_edge_core::gateway::{ProbeReport, ProbeStatus};
        Box::pin(async move {
            let started = mcp_edge_core::port::Clock::now(&JsClock);
            let answer = async {
                let stub = self
                    .0
                    .durable_object(SESSIONS_BINDING)?
                    .id_from_name("health-probe")?
                    .get_stub()?;
                stub.fetch_with_str("https://durable-object/health").await
            }
            .await;
            let latency = mcp_edge_core::port::Clock::now(&JsClock).saturating_sub(started);
            match answer {
                Ok(r) if r.status_code() == 200 => ProbeReport {
                    status: ProbeStatus::Ok,
                    detail: serde_json::json!({"latency_ms": latency}),
                },
                Ok(r) => ProbeReport {
                    status: ProbeStatus::Error,
                    detail: serde_json::json!({"latency_ms": latency, "http_status": r.status_code()}),
                },
                Err(_) => ProbeReport {
                    status: ProbeStatus::Error,
                    detail: serde_json::json!({"latency_ms": latency, "error": "unreachable"}),
                },
            }
        })
    }
}
