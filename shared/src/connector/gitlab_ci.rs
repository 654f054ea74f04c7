//! GitLab CI/CD tools: pipelines (list, get, create, retry, cancel, wait for), the jobs of a
//! pipeline, and a job's log read from its tail under a byte cap the platform client applies while
//! reading, so a log of hundreds of MB is never held whole.

use http::Method;
use serde_json::{json, Value};

use super::gitlab::{list_page, list_schema, paging, project_id_schema, project_ref, GITLAB};
use super::schema::{self, object};
use super::{handler, opt, Args, ConnectorTool};
use crate::credential::Service;
use crate::port::BoxFuture;
use crate::port::{BodyCap, Keep};
use crate::tool::{TaskSupport, Tool, ToolAnnotations, ToolContext, ToolFailure, ToolOutput};
use serde_json::Map;

/// Default bytes of a job log returned (its tail): enough for the failing step of most jobs.
const LOG_DEFAULT_BYTES: u64 = 64 * 1024;
/// Most bytes of a job log one call returns.
const LOG_MAX_BYTES: u64 = 1024 * 1024;

const PIPELINE_STATUSES: [&str; 12] = [
    "created",
    "waiting_for_resource",
    "preparing",
    "pending",
    "running",
    "success",
    "failed",
    "canceled",
    "skipped",
    "manual",
    "scheduled",
    "canceling",
];

fn pipeline_id() -> (&'static str, Value) {
    (
        "pipelineId",
        schema::int(
            "Pipeline id (the number in /-/pipelines/N)",
            1,
            u64::MAX >> 11,
        ),
    )
}

fn pipeline_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("iid", json!({"type": ["integer", "null"]})),
            ("projectId", json!({"type": ["integer", "null"]})),
            ("status", json!({"type": "string"})),
            ("ref", schema::nullable_string()),
            ("sha", schema::nullable_string()),
            ("source", schema::nullable_string()),
            ("webUrl", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
            ("updatedAt", schema::nullable_string()),
            ("startedAt", schema::nullable_string()),
            ("finishedAt", schema::nullable_string()),
            ("duration", json!({"type": ["number", "null"]})),
            ("user", schema::nullable_string()),
            ("yamlErrors", schema::nullable_string()),
        ],
        &["id", "status"],
    )
}

fn job_schema() -> Value {
    object(
        &[
            ("id", json!({"type": "integer"})),
            ("name", json!({"type": "string"})),
            ("stage", schema::nullable_string()),
            ("status", json!({"type": "string"})),
            ("ref", schema::nullable_string()),
            ("allowFailure", json!({"type": ["boolean", "null"]})),
            ("failureReason", schema::nullable_string()),
            ("duration", json!({"type": ["number", "null"]})),
            ("webUrl", schema::nullable_string()),
            ("createdAt", schema::nullable_string()),
            ("startedAt", schema::nullable_string()),
            ("finishedAt", schema::nullable_string()),
        ],
        &["id", "name", "status"],
    )
}

fn log_schema() -> Value {
    object(
        &[
            ("jobId", json!({"type": "integer"})),
            (
                "log",
                json!({"type": "string", "description": "The log's last bytes (all of it when not truncated)"}),
            ),
            (
                "bytes",
                json!({"type": "integer", "description": "Bytes of log returned"}),
            ),
            (
                "seenBytes",
                json!({"type": "integer", "description": "Bytes of log GitLab sent"}),
            ),
            ("truncated", json!({"type": "boolean"})),
            (
                "maxBytes",
                json!({"type": "integer", "description": "The cap applied (the log's tail is kept)"}),
            ),
        ],
        &[
            "jobId",
            "log",
            "bytes",
            "seenBytes",
            "truncated",
            "maxBytes",
        ],
    )
}

/// The GitLab CI/CD tools.
pub fn tools() -> Vec<ConnectorTool> {
    let [page, per_page] = paging();
    let pid = ("projectId", project_id_schema());
    vec![
        ConnectorTool::new(
            "gitlab_list_pipelines",
            "List pipelines",
            "List the CI/CD pipelines of a GitLab project, newest first.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("status", json!({"type": "string", "enum": PIPELINE_STATUSES, "description": "Only pipelines with this status"})),
                    ("ref", schema::string("Only pipelines of this branch or tag")),
                    ("sha", schema::string("Only pipelines of this commit")),
                    page.clone(),
                    per_page.clone(),
                ],
                &["projectId"],
            ),
            list_schema("pipelines", pipeline_schema()),
            handler!(list_pipelines),
        ),
        ConnectorTool::new(
            "gitlab_get_pipeline",
            "Get a pipeline",
            "Get one CI/CD pipeline of a GitLab project.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(&[pid.clone(), pipeline_id()], &["projectId", "pipelineId"]),
            pipeline_schema(),
            handler!(get_pipeline),
        ),
        ConnectorTool::new(
            "gitlab_list_pipeline_jobs",
            "List pipeline jobs",
            "List the jobs of a CI/CD pipeline (use gitlab_get_job_log for a job's output).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    pipeline_id(),
                    ("scope", json!({"type": "array", "items": {"type": "string", "enum": ["created", "pending", "running", "failed", "success", "canceled", "skipped", "waiting_for_resource", "manual"]}, "description": "Only jobs with these statuses"})),
                    page.clone(),
                    per_page.clone(),
                ],
                &["projectId", "pipelineId"],
            ),
            list_schema("jobs", job_schema()),
            handler!(list_pipeline_jobs),
        ),
        ConnectorTool::new(
            "gitlab_get_job_log",
            "Get a job log",
            "Read the end of a CI/CD job's log (its tail, up to maxBytes; the result says whether it was cut).",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    pid.clone(),
                    ("jobId", schema::int("Job id", 1, u64::MAX >> 11)),
                    ("maxBytes", schema::int("Most bytes of the log's tail to return (default 65536, at most 1048576)", 1024, LOG_MAX_BYTES)),
                ],
                &["projectId", "jobId"],
            ),
            log_schema(),
            handler!(get_job_log),
        ),
        ConnectorTool::new(
            "gitlab_create_pipeline",
            "Run a pipeline",
            "Start a new CI/CD pipeline for a branch or tag, optionally with variables.",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    pid.clone(),
                    ("ref", schema::text("Branch or tag to run the pipeline for")),
                    (
                        "variables",
                        json!({
                            "type": "array",
                            "maxItems": 50,
                            "description": "CI/CD variables for this pipeline",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "key": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9_]+$"},
                                    "value": {"type": "string"},
                                    "variableType": {"type": "string", "enum": ["env_var", "file"]},
                                },
                                "required": ["key", "value"],
                                "additionalProperties": false,
                            },
                        }),
                    ),
                ],
                &["projectId", "ref"],
            ),
            pipeline_schema(),
            handler!(create_pipeline),
        ),
        ConnectorTool::new(
            "gitlab_retry_pipeline",
            "Retry a pipeline",
            "Retry the failed or canceled jobs of a CI/CD pipeline.",
            GITLAB,
            ToolAnnotations::writes(false),
            schema::input(&[pid.clone(), pipeline_id()], &["projectId", "pipelineId"]),
            pipeline_schema(),
            handler!(retry_pipeline),
        ),
        ConnectorTool::new(
            "gitlab_cancel_pipeline",
            "Cancel a pipeline",
            "Cancel the running and pending jobs of a CI/CD pipeline.",
            GITLAB,
            ToolAnnotations::writes(true),
            schema::input(&[pid, pipeline_id()], &["projectId", "pipelineId"]),
            pipeline_schema(),
            handler!(cancel_pipeline),
        ),
    ]
}

fn num(v: &Value) -> Value {
    v.as_f64().map_or(Value::Null, |n| json!(n))
}

/// Summarizes a pipeline (list items carry fewer fields than a single pipeline).
fn pipeline(p: &Value) -> Value {
    json!({
        "id": p["id"].as_u64().unwrap_or_default(),
        "iid": p["iid"].as_u64(),
        "projectId": p["project_id"].as_u64(),
        "status": p["status"].as_str().unwrap_or_default(),
        "ref": opt(p["ref"].as_str()),
        "sha": opt(p["sha"].as_str()),
        "source": opt(p["source"].as_str()),
        "webUrl": opt(p["web_url"].as_str()),
        "createdAt": opt(p["created_at"].as_str()),
        "updatedAt": opt(p["updated_at"].as_str()),
        "startedAt": opt(p["started_at"].as_str()),
        "finishedAt": opt(p["finished_at"].as_str()),
        "duration": num(&p["duration"]),
        "user": opt(p["user"]["username"].as_str()),
        "yamlErrors": opt(p["yaml_errors"].as_str()),
    })
}

fn job(j: &Value) -> Value {
    json!({
        "id": j["id"].as_u64().unwrap_or_default(),
        "name": j["name"].as_str().unwrap_or_default(),
        "stage": opt(j["stage"].as_str()),
        "status": j["status"].as_str().unwrap_or_default(),
        "ref": opt(j["ref"].as_str()),
        "allowFailure": j["allow_failure"].as_bool(),
        "failureReason": opt(j["failure_reason"].as_str()),
        "duration": num(&j["duration"]),
        "webUrl": opt(j["web_url"].as_str()),
        "createdAt": opt(j["created_at"].as_str()),
        "startedAt": opt(j["started_at"].as_str()),
        "finishedAt": opt(j["finished_at"].as_str()),
    })
}

fn project(args: &Args) -> Result<String, ToolFailure> {
    Ok(project_ref(&args.id("projectId")?))
}

fn number(args: &Args, key: &str) -> Result<u64, ToolFailure> {
    args.opt_u64(key)
        .ok_or_else(|| ToolFailure::new(format!("missing required argument '{key}'")))
}

async fn list_pipelines(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!("/projects/{}/pipelines", project(&args)?);
    let filters = [
        ("status", args.opt_str("status").map(str::to_owned)),
        ("ref", args.opt_str("ref").map(str::to_owned)),
        ("sha", args.opt_str("sha").map(str::to_owned)),
    ];
    list_page(ctx, &args, &path, &filters, "pipelines", pipeline).await
}

/// One pipeline call (`GET`, or a `POST` action) answered with a pipeline.
async fn pipeline_call(
    ctx: &ToolContext<'_>,
    method: Method,
    path: String,
    body: Option<&Value>,
) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let reply = ctx.upstream.json(&ep, method, &path, body).await?;
    Ok(pipeline(&reply.body))
}

async fn get_pipeline(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "/projects/{}/pipelines/{}",
        project(&args)?,
        number(&args, "pipelineId")?
    );
    pipeline_call(ctx, Method::GET, path, None).await
}

async fn list_pipeline_jobs(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "/projects/{}/pipelines/{}/jobs",
        project(&args)?,
        number(&args, "pipelineId")?
    );
    // GitLab reads an array parameter as repeated `scope[]=…`.
    let filters: Vec<(&str, Option<String>)> = args
        .str_list("scope")
        .into_iter()
        .map(|s| ("scope[]", Some(s)))
        .collect();
    list_page(ctx, &args, &path, &filters, "jobs", job).await
}

async fn get_job_log(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let ep = ctx.upstream.endpoint(Service::GitLab)?;
    let job_id = number(&args, "jobId")?;
    let max = args
        .opt_u64("maxBytes")
        .unwrap_or(LOG_DEFAULT_BYTES)
        .min(LOG_MAX_BYTES);
    let cap = BodyCap {
        max_bytes: max as usize,
        keep: Keep::Tail,
    };
    let path = format!("/projects/{}/jobs/{job_id}/trace", project(&args)?);
    let got = ctx.upstream.text(&ep, &path, cap).await?;
    Ok(json!({
        "jobId": job_id,
        "bytes": got.text.len(),
        "log": got.text,
        "seenBytes": got.seen_bytes,
        "truncated": got.truncated,
        "maxBytes": max,
    }))
}

async fn create_pipeline(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let mut body = json!({"ref": args.str("ref")?});
    if let Some(vars) = args.0.get("variables").and_then(Value::as_array) {
        body["variables"] = vars
            .iter()
            .map(|v| {
                json!({
                    "key": v["key"],
                    "value": v["value"],
                    "variable_type": v["variableType"].as_str().unwrap_or("env_var"),
                })
            })
            .collect();
    }
    let path = format!("/projects/{}/pipeline", project(&args)?);
    pipeline_call(ctx, Method::POST, path, Some(&body)).await
}

async fn retry_pipeline(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "/projects/{}/pipelines/{}/retry",
        project(&args)?,
        number(&args, "pipelineId")?
    );
    pipeline_call(ctx, Method::POST, path, None).await
}

async fn cancel_pipeline(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let path = format!(
        "/projects/{}/pipelines/{}/cancel",
        project(&args)?,
        number(&args, "pipelineId")?
    );
    pipeline_call(ctx, Method::POST, path, None).await
}

/// Default interval between two looks of `gitlab_wait_for_pipeline` (`MCP_EDGE_GITLAB_PIPELINE_POLL`):
/// a CI pipeline takes minutes, and GitLab.com allows 2,000 authenticated API calls a minute per user.
pub const DEFAULT_POLL_MS: u64 = 10_000;
/// Shortest interval honoured, whatever the configuration says.
const MIN_POLL_MS: u64 = 100;
/// Most looks one wait makes, whatever the timeout and interval.
const MAX_POLLS: u64 = 720;
/// Default and longest wait (seconds); the longest equals the default task lifetime.
const DEFAULT_WAIT_S: u64 = 600;
const MAX_WAIT_S: u64 = 3_600;
/// The statuses a pipeline does not leave by itself (doc/api/pipelines.md lists the statuses;
/// `manual` waits for a person).
const FINISHED: [&str; 5] = ["success", "failed", "canceled", "skipped", "manual"];

/// `gitlab_wait_for_pipeline`: looks at a pipeline every `MCP_EDGE_GITLAB_PIPELINE_POLL` until it
/// finishes, bounded by `timeoutSeconds` and [`MAX_POLLS`]. A long connector operation, so it runs as
/// a task for clients that declare the Tasks extension (`execution.taskSupport: optional`); a
/// `tasks/cancel` drops the waiting future, so no look follows it.
pub struct PipelineWait {
    /// The definition, needed credentials and toolset (its handler, one look, is not used).
    inner: ConnectorTool,
    poll_ms: u64,
}

impl PipelineWait {
    /// The tool, looking every `poll_ms` (at least [`MIN_POLL_MS`]).
    pub fn new(poll_ms: u64) -> Self {
        let inner = ConnectorTool::new(
            "gitlab_wait_for_pipeline",
            "Wait for a pipeline",
            "Wait until a CI/CD pipeline finishes (success, failed, canceled, skipped or manual) and return it. Runs as a task when the client supports tasks; otherwise the call waits.",
            GITLAB,
            ToolAnnotations::read_only(),
            schema::input(
                &[
                    ("projectId", project_id_schema()),
                    pipeline_id(),
                    (
                        "timeoutSeconds",
                        schema::int("Longest wait in seconds (default 600)", 1, MAX_WAIT_S),
                    ),
                ],
                &["projectId", "pipelineId"],
            ),
            object(
                &[
                    ("pipeline", pipeline_schema()),
                    ("looks", json!({"type": "integer", "description": "GitLab reads made"})),
                ],
                &["pipeline", "looks"],
            ),
            handler!(get_pipeline),
        );
        PipelineWait {
            inner,
            poll_ms: poll_ms.max(MIN_POLL_MS),
        }
    }
}

impl Tool for PipelineWait {
    fn def(&self) -> &crate::tool::ToolDef {
        self.inner.def()
    }

    fn toolset(&self) -> Option<super::toolset::Toolset> {
        self.inner.toolset()
    }

    fn available(&self, credentials: &crate::credential::Credentials) -> bool {
        self.inner.available(credentials)
    }

    fn task_support(&self) -> TaskSupport {
        TaskSupport::Optional
    }

    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(wait_for_pipeline(ctx, Args(args), self.poll_ms))
    }
}

async fn wait_for_pipeline(
    ctx: &ToolContext<'_>,
    args: Args,
    poll_ms: u64,
) -> Result<ToolOutput, ToolFailure> {
    let id = number(&args, "pipelineId")?;
    let path = format!("/projects/{}/pipelines/{id}", project(&args)?);
    let wait_ms = args
        .opt_u64("timeoutSeconds")
        .unwrap_or(DEFAULT_WAIT_S)
        .min(MAX_WAIT_S)
        * 1_000;
    let looks = (wait_ms / poll_ms).clamp(1, MAX_POLLS);
    let mut status = String::new();
    for n in 1..=looks {
        let p = pipeline_call(ctx, Method::GET, path.clone(), None).await?;
        status = p["status"].as_str().unwrap_or_default().to_owned();
        if FINISHED.contains(&status.as_str()) {
            return Ok(ToolOutput::Structured(json!({"pipeline": p, "looks": n})));
        }
        match ctx.sleeper {
            Some(s) if n < looks => s.sleep(poll_ms).await,
            _ => {
                return Err(ToolFailure::new(format!(
                    "pipeline {id} is still {status} after {n} looks; call again to keep waiting"
                )))
            }
        }
    }
    Err(ToolFailure::new(format!(
        "pipeline {id} is still {status}; call again to keep waiting"
    )))
}
