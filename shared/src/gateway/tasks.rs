//! The Tasks extension's methods on the 2026-07-28 wire (see [`crate::task`] for the record, its
//! rules and the wire shapes): starting a task from `tools/call`, `tasks/get`, `tasks/update`,
//! `tasks/cancel`, and [`McpApp::run_task`], the work a platform runs after the reply is sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::future::{select, Either};
use serde_json::{json, Map, Value};

use super::dispatch::{Call, Outcome};
use super::McpApp;
use crate::error::McpError;
use crate::protocol::META_CLIENT_CAPABILITIES;
use crate::task::{
    self, TaskJob, TaskRecord, TaskStatus, TaskStore, TaskStoreError, CAS_ATTEMPTS,
    POLL_INTERVAL_MS, RUNNER_LEASE_MS,
};
use crate::tool::{InputRound, Tool, ToolContext, ToolOutput};

impl From<TaskStoreError> for McpError {
    fn from(e: TaskStoreError) -> Self {
        McpError::Store(e.to_string())
    }
}

/// Counts a task run until it ends (or its future is dropped).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The one answer for a task id this caller may not see: unknown, expired and another caller's
/// look the same (-32602).
fn not_found() -> McpError {
    McpError::InvalidParams("Invalid params: unknown taskId".into())
}

fn task_id(params: Option<&Map<String, Value>>) -> Result<&str, McpError> {
    params
        .and_then(|p| p.get("taskId"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            McpError::InvalidParams("Invalid params: missing string parameter 'taskId'".into())
        })
}

/// The request's declared client capabilities (`_meta`).
pub(crate) fn declared_capabilities(
    params: Option<&Map<String, Value>>,
) -> Option<&Map<String, Value>> {
    params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
        .and_then(Value::as_object)
}

/// Records a finished run on its task: parked on `input_required` (the arguments ride in the
/// round's state so the resumed run sees them again), failed (a protocol error), or completed (a
/// tool error is a completed task with `isError`).
fn record_outcome(
    rec: &mut TaskRecord,
    now: u64,
    finished: &Result<ToolOutput, crate::tool::ToolFailure>,
    arguments: &Map<String, Value>,
    version: &str,
) {
    match finished {
        Ok(ToolOutput::InputRequired { requests, state }) => {
            let state = json!({"arguments": arguments, "tool": state});
            rec.ask(now, requests.clone(), state);
        }
        Ok(ToolOutput::ProtocolError(message)) => {
            let e = McpError::Internal(message.clone()).to_jsonrpc();
            rec.fail(now, e.code, &e.message);
        }
        Ok(output) => rec.complete(now, super::dispatch::tool_result(output.clone(), version)),
        Err(failure) => rec.complete(
            now,
            json!({"content": [{"type": "text", "text": failure.message}], "isError": true}),
        ),
    }
}

impl McpApp {
    /// Serves tasks from `store`: the extension is advertised, task-supporting tools run as tasks
    /// for clients that declare it, and the platform must run each [`crate::transport::Reply::tasks`]
    /// job with [`McpApp::run_task`]. Records live `MCP_EDGE_TASK_TTL` from creation.
    pub fn with_task_store(mut self, store: Arc<dyn TaskStore>) -> Self {
        self.task_ttl_ms = self.config.task_ttl_ms.max(1);
        self.tasks = Some(store);
        self
    }

    /// Whether this gateway serves the Tasks extension.
    pub(crate) fn serves_tasks(&self) -> bool {
        self.tasks.is_some()
    }

    /// `tools/call` of a task-supporting tool from a client that declared the extension: the task
    /// is stored (durably, so a `tasks/get` right after the reply finds it) before the
    /// `CreateTaskResult` is returned; the work is the returned job.
    pub(crate) async fn start_task(
        &self,
        call: &Call<'_>,
        tool: &Arc<dyn Tool>,
        args: Map<String, Value>,
        capabilities: Option<&Map<String, Value>>,
        input: Option<InputRound>,
    ) -> Outcome {
        let Some(store) = &self.tasks else {
            return Outcome::of(Err(McpError::MissingClientExtension(
                task::EXTENSION.into(),
            )));
        };
        if self.running_tasks.load(Ordering::SeqCst) >= task::MAX_RUNNING {
            return Outcome::of(Err(McpError::Unavailable(format!(
                "{} tasks are running in this instance; try again when one ends",
                task::MAX_RUNNING
            ))));
        }
        let facts = call.facts;
        let rec = TaskRecord::new(
            task::new_id(self.ports.entropy.as_ref()),
            facts.caller.owner.clone(),
            facts.fingerprint.clone(),
            tool.def().name.clone(),
            facts.now,
            self.task_ttl_ms,
        );
        if let Err(e) = store.save(&rec, None).await {
            return Outcome::of(Err(e.into()));
        }
        let job = TaskJob {
            task_id: rec.id.clone(),
            tool: rec.tool.clone(),
            args,
            headers: call.headers.cloned().unwrap_or_default(),
            caller: call.facts.caller.clone(),
            version: call.version.to_owned(),
            capabilities: capabilities.cloned(),
            input,
        };
        let mut outcome = Outcome::of(Ok(rec.create_result()));
        outcome.task = Some(job);
        outcome
    }

    /// `tasks/get`, `tasks/update`, `tasks/cancel` (2026-07-28, tasks served). A request that did
    /// not declare the extension is refused with -32021 before the task id is looked at.
    pub(crate) async fn task_method(
        &self,
        call: &Call<'_>,
        method: &str,
        params: Option<&Map<String, Value>>,
    ) -> Outcome {
        if !task::declared(declared_capabilities(params)) {
            return Outcome::of(Err(McpError::MissingClientExtension(
                task::EXTENSION.into(),
            )));
        }
        let id = match task_id(params) {
            Ok(id) => id,
            Err(e) => return Outcome::of(Err(e)),
        };
        match method {
            "tasks/get" => Outcome::of(self.task_get(call, id).await),
            "tasks/cancel" => Outcome::of(
                self.task_change(call, id, |rec, now| rec.cancel(now).then_some(()))
                    .await
                    .map(|_| json!({})),
            ),
            _ => {
                let responses = match params.and_then(|p| p.get("inputResponses")) {
                    Some(Value::Object(r)) => r.clone(),
                    _ => {
                        return Outcome::of(Err(McpError::InvalidParams(
                            "Invalid params: inputResponses must be an object".into(),
                        )))
                    }
                };
                if let Some((k, _)) = responses.iter().find(|(_, v)| !v.is_object()) {
                    return Outcome::of(Err(McpError::InvalidParams(format!(
                        "Invalid params: inputResponses['{k}'] must be an object"
                    ))));
                }
                let mut resumed = None;
                let changed = self
                    .task_change(call, id, |rec, now| {
                        let waiting = rec.status == TaskStatus::InputRequired;
                        let round = rec.answer(now, &responses);
                        let tool = rec.tool.clone();
                        resumed = round.map(|r| (tool, r));
                        waiting.then_some(())
                    })
                    .await;
                let mut outcome = Outcome::of(changed.map(|_| json!({})));
                if outcome.result.is_ok() {
                    outcome.task =
                        resumed.map(|(tool, round)| self.resume_job(call, params, id, tool, round));
                }
                outcome
            }
        }
    }

    /// The job that runs a task's tool again with the answers of its input round. The round's
    /// stored state holds the task's arguments beside the tool's own state (tool arguments are
    /// kept in the record for this; credentials never are).
    fn resume_job(
        &self,
        call: &Call<'_>,
        params: Option<&Map<String, Value>>,
        id: &str,
        tool: String,
        mut round: InputRound,
    ) -> TaskJob {
        let mut saved = round.state.take().unwrap_or(Value::Null);
        let args = match saved.get_mut("arguments").map(Value::take) {
            Some(Value::Object(a)) => a,
            _ => Map::new(),
        };
        round.state = saved
            .get_mut("tool")
            .map(Value::take)
            .filter(|s| !s.is_null());
        TaskJob {
            task_id: id.to_owned(),
            tool,
            args,
            headers: call.headers.cloned().unwrap_or_default(),
            caller: call.facts.caller.clone(),
            version: call.version.to_owned(),
            capabilities: declared_capabilities(params).cloned(),
            input: Some(round),
        }
    }

    /// A task this caller may see, unexpired; an abandoned working one is settled as failed first.
    async fn visible_task(
        &self,
        store: &dyn TaskStore,
        call: &Call<'_>,
        id: &str,
    ) -> Result<TaskRecord, McpError> {
        let now = self.ports.clock.now();
        let Some(mut rec) = store.load(id).await? else {
            return Err(not_found());
        };
        if !rec.visible_to(&call.facts.caller.owner, call.facts.fingerprint.as_deref()) {
            return Err(not_found());
        }
        if rec.expired(now) {
            let _ = store.delete(id).await;
            return Err(not_found());
        }
        if rec.settle_if_abandoned(now) {
            let expected = rec.version;
            if let Ok(v) = store.save(&rec, Some(expected)).await {
                rec.version = v;
            } else if let Some(fresh) = store.load(id).await? {
                // Someone else changed it meanwhile (its runner finished): theirs is the truth.
                rec = fresh;
            }
        }
        Ok(rec)
    }

    async fn task_get(&self, call: &Call<'_>, id: &str) -> Result<Value, McpError> {
        let store = self.tasks.as_ref().ok_or_else(not_found)?;
        Ok(self
            .visible_task(store.as_ref(), call, id)
            .await?
            .detailed())
    }

    /// Applies `change` to a visible task by compare-and-set (retried on a concurrent change).
    /// `change` returns `None` when there is nothing to write (the acknowledgement is the same).
    async fn task_change(
        &self,
        call: &Call<'_>,
        id: &str,
        mut change: impl FnMut(&mut TaskRecord, u64) -> Option<()>,
    ) -> Result<(), McpError> {
        let store = self.tasks.as_ref().ok_or_else(not_found)?;
        for _ in 0..CAS_ATTEMPTS {
            let mut rec = self.visible_task(store.as_ref(), call, id).await?;
            let expected = rec.version;
            if change(&mut rec, self.ports.clock.now()).is_none() {
                return Ok(());
            }
            match store.save(&rec, Some(expected)).await {
                Ok(_) => return Ok(()),
                Err(TaskStoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(McpError::Store("task kept changing concurrently".into()))
    }

    /// Runs a task's tool to its end (the platform calls this after sending the reply that
    /// carried `job`) and records the outcome: completed (a tool error is a completed task with
    /// `isError`), failed (a protocol error), or parked on `input_required`. Stops early, without
    /// writing, when the task is cancelled, expires or disappears; while it runs it renews its
    /// claim on the task so a reader can tell a live runner from a dead instance.
    pub async fn run_task(&self, job: TaskJob) {
        let Some(store) = self.tasks.clone() else {
            return;
        };
        self.running_tasks.fetch_add(1, Ordering::SeqCst);
        let _running = Running(self.running_tasks.clone());
        let Some(tool) = self.registry.tool(&job.tool).cloned() else {
            self.settle(store.as_ref(), &job.task_id, |rec, now| {
                rec.fail(now, -32603, "the task's tool is not served by this gateway")
            })
            .await;
            return;
        };
        let facts = &self.facts(&job.headers, job.caller.clone());
        let now = facts.now;
        let upstream = self
            .upstream
            .for_call(&facts.credentials, now)
            .with_requested(facts.deployment.clone());
        let ctx = ToolContext {
            credentials: &facts.credentials,
            upstream: &upstream,
            now,
            caller: &facts.caller.name,
            client: None,
            client_capabilities: job.capabilities.as_ref(),
            input: job.input.as_ref(),
            sleeper: self.sleeper.as_deref(),
        };
        let run = tool.call(&ctx, job.args.clone());
        let watch = self.watch_task(store.as_ref(), &job.task_id);
        let finished = match select(run, Box::pin(watch)).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => {
                self.metrics.count_tool_call(&job.tool, "task_stopped");
                return;
            }
        };
        let name = job.tool.clone();
        let outcome = match &finished {
            Ok(ToolOutput::InputRequired { .. }) => "input_required",
            Ok(ToolOutput::ProtocolError(_)) => "error",
            Ok(_) => "ok",
            Err(_) => "error",
        };
        self.metrics.count_tool_call(&name, outcome);
        self.settle(store.as_ref(), &job.task_id, |rec, now| {
            record_outcome(rec, now, &finished, &job.args, &job.version)
        })
        .await;
    }

    /// Writes a runner's outcome unless the task ended meanwhile (a cancel wins over a late
    /// result).
    async fn settle(
        &self,
        store: &dyn TaskStore,
        id: &str,
        mut apply: impl FnMut(&mut TaskRecord, u64),
    ) {
        for _ in 0..CAS_ATTEMPTS {
            let Ok(Some(mut rec)) = store.load(id).await else {
                return;
            };
            if rec.status != TaskStatus::Working {
                return;
            }
            let expected = rec.version;
            apply(&mut rec, self.ports.clock.now());
            match store.save(&rec, Some(expected)).await {
                Err(TaskStoreError::Conflict) => continue,
                _ => return,
            }
        }
    }

    /// Completes when the task stops needing its runner (cancelled, ended, expired or gone);
    /// renews the runner's claim meanwhile. Bounded by the task's lifetime; without timers it
    /// never completes (the tool then runs to its end).
    async fn watch_task(&self, store: &dyn TaskStore, id: &str) {
        let Some(sleeper) = self.sleeper.clone() else {
            return std::future::pending().await;
        };
        let rounds = self.task_ttl_ms / POLL_INTERVAL_MS + 1;
        for _ in 0..rounds {
            sleeper.sleep(POLL_INTERVAL_MS).await;
            let now = self.ports.clock.now();
            let Ok(Some(mut rec)) = store.load(id).await else {
                return;
            };
            if rec.status != TaskStatus::Working || rec.expired(now) {
                return;
            }
            if rec.runner_until.saturating_sub(now) < RUNNER_LEASE_MS / 2 {
                rec.runner_until = now + RUNNER_LEASE_MS;
                let expected = rec.version;
                // A conflict means another writer changed it: the next round looks again.
                let _ = store.save(&rec, Some(expected)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use futures::executor::block_on;
    use http::Request;

    use super::*;
    use crate::session::MemorySessionStore;
    use crate::task::MemoryTaskStore;
    use crate::testing::{CountingEntropy, FixedClock, NoHttp};
    use crate::tool::Registry;
    use crate::transport::{Reply, ReplyBody};
    use crate::{GatewayConfig, Ports};

    fn app() -> (McpApp, Arc<FixedClock>, Arc<MemoryTaskStore>) {
        let clock = Arc::new(FixedClock(AtomicU64::new(1_000_000)));
        let mut registry = Registry::new();
        crate::testing::register_test_tools(&mut registry);
        let ports = Ports {
            store: Arc::new(MemorySessionStore::new()),
            http: Arc::new(NoHttp),
            clock: clock.clone(),
            entropy: Arc::new(CountingEntropy(AtomicU64::new(1))),
        };
        let tasks = Arc::new(MemoryTaskStore::default());
        let app = McpApp::new(GatewayConfig::default(), registry, ports)
            .unwrap()
            .with_task_store(tasks.clone());
        (app, clock, tasks)
    }

    fn request(method: &str, name: Option<&str>, params: Value, caps: Value) -> Request<Bytes> {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": caps,
        });
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut b = Request::builder()
            .method("POST")
            .uri("/mcp")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(n) = name {
            b = b.header("mcp-name", n);
        }
        b.body(Bytes::from(body.to_string())).unwrap()
    }

    fn body(reply: &Reply) -> Value {
        match reply.response.body() {
            ReplyBody::Full(b) => serde_json::from_slice(b).unwrap(),
            _ => Value::Null,
        }
    }

    fn with_tasks() -> Value {
        json!({"extensions": {task::EXTENSION: {}}, "elicitation": {}})
    }

    fn get(app: &McpApp, id: &str) -> Value {
        let r = block_on(app.handle(request(
            "tasks/get",
            Some(id),
            json!({"taskId": id}),
            with_tasks(),
        )));
        body(&r)
    }

    #[test]
    fn a_task_is_created_durably_runs_as_a_job_and_inlines_its_result() {
        let (app, _, tasks) = app();
        let mut r = block_on(app.handle(request(
            "tools/call",
            Some("slow_compute"),
            json!({"name": "slow_compute", "arguments": {"seconds": 0, "label": "x"}}),
            with_tasks(),
        )));
        let created = body(&r)["result"].clone();
        assert_eq!(created["resultType"], "task");
        let id = created["taskId"].as_str().unwrap().to_owned();
        assert_eq!(r.tasks.len(), 1, "the reply carries the work");
        assert!(
            block_on(tasks.load(&id)).unwrap().is_some(),
            "stored before the reply"
        );
        assert_eq!(get(&app, &id)["result"]["status"], "working");
        block_on(app.run_task(r.tasks.remove(0)));
        let done = get(&app, &id)["result"].clone();
        assert_eq!(done["status"], "completed");
        assert_eq!(done["resultType"], "complete");
        assert_eq!(done["result"]["content"][0]["text"], "Computed x after 0 s");
    }

    #[test]
    fn a_cancel_wins_over_a_late_result_and_parked_tasks_resume_with_their_arguments() {
        let (app, _, _) = app();
        let mut r = block_on(app.handle(request(
            "tools/call",
            Some("slow_compute"),
            json!({"name": "slow_compute", "arguments": {"seconds": 0}}),
            with_tasks(),
        )));
        let id = body(&r)["result"]["taskId"].as_str().unwrap().to_owned();
        let ack = block_on(app.handle(request(
            "tasks/cancel",
            Some(&id),
            json!({"taskId": id}),
            with_tasks(),
        )));
        assert_eq!(body(&ack)["result"]["resultType"], "complete");
        assert!(body(&ack)["result"].get("status").is_none());
        block_on(app.run_task(r.tasks.remove(0)));
        assert_eq!(get(&app, &id)["result"]["status"], "cancelled");

        let mut r = block_on(app.handle(request(
            "tools/call",
            Some("confirm_delete"),
            json!({"name": "confirm_delete", "arguments": {"filename": "f.txt"}}),
            with_tasks(),
        )));
        let id = body(&r)["result"]["taskId"].as_str().unwrap().to_owned();
        block_on(app.run_task(r.tasks.remove(0)));
        let parked = get(&app, &id)["result"].clone();
        assert_eq!(parked["status"], "input_required");
        assert_eq!(
            parked["inputRequests"]["confirm"]["method"],
            "elicitation/create"
        );
        let mut upd = block_on(app.handle(request(
            "tasks/update",
            Some(&id),
            json!({"taskId": id, "inputResponses": {"confirm": {"action": "accept", "content": {"confirm": true}}}}),
            with_tasks(),
        )));
        assert_eq!(body(&upd)["result"]["resultType"], "complete");
        assert_eq!(upd.tasks.len(), 1, "the answered task resumes");
        block_on(app.run_task(upd.tasks.remove(0)));
        let done = get(&app, &id)["result"].clone();
        assert_eq!(done["status"], "completed");
        assert!(done["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("f.txt"));
    }

    #[test]
    fn a_full_instance_refuses_new_tasks_until_a_run_ends() {
        let (app, _, _) = app();
        app.running_tasks.store(task::MAX_RUNNING, Ordering::SeqCst);
        let call = || {
            block_on(app.handle(request(
                "tools/call",
                Some("slow_compute"),
                json!({"name": "slow_compute", "arguments": {"seconds": 0}}),
                with_tasks(),
            )))
        };
        let r = call();
        assert_eq!(body(&r)["error"]["code"], -32603);
        assert!(body(&r)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tasks are running"));
        assert!(r.tasks.is_empty());
        app.running_tasks
            .store(task::MAX_RUNNING - 1, Ordering::SeqCst);
        let mut r = call();
        assert_eq!(body(&r)["result"]["resultType"], "task");
        block_on(app.run_task(r.tasks.remove(0)));
        assert_eq!(
            app.running_tasks.load(Ordering::SeqCst),
            task::MAX_RUNNING - 1,
            "a finished run gives its place back"
        );
    }

    #[test]
    fn gating_unknown_ids_and_removed_methods() {
        let (app, clock, _) = app();
        let r = block_on(app.handle(request("server/discover", None, json!({}), json!({}))));
        let caps = &body(&r)["result"]["capabilities"];
        assert_eq!(caps["extensions"], json!({task::EXTENSION: {}}));
        assert!(caps.get("tasks").is_none(), "no v1 capabilities.tasks slot");
        let r = block_on(app.handle(request(
            "tasks/get",
            Some("x"),
            json!({"taskId": "x"}),
            json!({}),
        )));
        assert_eq!(r.response.status(), 400);
        assert_eq!(body(&r)["error"]["code"], -32021);
        let r = block_on(app.handle(request(
            "tasks/get",
            Some("x"),
            json!({"taskId": "x"}),
            with_tasks(),
        )));
        assert_eq!(body(&r)["error"]["code"], -32602);
        for m in ["tasks/result", "tasks/list"] {
            let r = block_on(app.handle(request(m, None, json!({"taskId": "x"}), with_tasks())));
            assert_eq!(body(&r)["error"]["code"], -32601, "{m}");
        }
        let r = block_on(app.handle(request(
            "tools/call",
            Some("failing_job"),
            json!({"name": "failing_job", "arguments": {}}),
            json!({}),
        )));
        let e = &body(&r)["error"];
        assert_eq!(e["code"], -32021);
        assert_eq!(
            e["data"]["requiredCapabilities"]["extensions"],
            json!({task::EXTENSION: {}})
        );
        // An abandoned working task (its runner's claim lapsed) reads as failed; past its TTL, unknown.
        let r = block_on(app.handle(request(
            "tools/call",
            Some("slow_compute"),
            json!({"name": "slow_compute", "arguments": {"seconds": 5}}),
            with_tasks(),
        )));
        let id = body(&r)["result"]["taskId"].as_str().unwrap().to_owned();
        clock.0.fetch_add(RUNNER_LEASE_MS, Ordering::SeqCst);
        let lost = get(&app, &id)["result"].clone();
        assert_eq!(lost["status"], "failed");
        assert_eq!(lost["error"]["code"], -32603);
        clock.0.fetch_add(task::DEFAULT_TTL_MS, Ordering::SeqCst);
        assert_eq!(get(&app, &id)["error"]["code"], -32602);
    }
}
