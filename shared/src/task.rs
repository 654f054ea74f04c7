//! The Tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663, as the conformance suite
//! 0.2.0-alpha.12 tests it): a task-supporting `tools/call` answers with a `CreateTaskResult` and
//! keeps running after its request returns; `tasks/get` reports its state (inlining the result or
//! error once terminal, and the pending `inputRequests` while it waits for the client),
//! `tasks/update` delivers the client's answers, `tasks/cancel` stops it. `tasks/result` and
//! `tasks/list` (v1) are gone: unknown methods.
//!
//! Here, once for every platform: the record and its state machine, ids (from the [`Entropy`]
//! port), TTLs (times from the [`Clock`](crate::port::Clock) port, handed in), ownership (the same
//! rule as sessions: the caller's owner and credential fingerprint), the wire shapes, and the
//! [`TaskStore`] port each platform implements (redb natively, Durable Object storage on the Worker,
//! DynamoDB on the Lambda). Where the work runs after the request returns is the platform's part:
//! the core hands it a [`TaskJob`] in [`crate::transport::Reply::tasks`] and the platform drives
//! [`crate::McpApp::run_task`] with it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::port::{BoxFuture, Entropy, MaybeSendSync, UnixMillis};
use crate::tool::InputRound;

/// The extension's identifier (under `capabilities.extensions` and a request's declared client
/// capabilities).
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// How long a task record stays readable after it was created, unless configured
/// (`MCP_EDGE_TASK_TTL_MS`): one hour, long enough for a CI pipeline a connector waits on.
pub const DEFAULT_TTL_MS: u64 = 3_600_000;

/// The `pollIntervalMs` the gateway suggests, and how often a running task looks for a
/// cancellation in the store (what the cancel latency is bound by).
pub const POLL_INTERVAL_MS: u64 = 500;

/// How long a runner's claim on a working task lasts without being renewed. A working task whose
/// claim lapsed lost its runner (the instance stopped): `tasks/get` reports it failed rather than
/// working forever. Renewed every [`POLL_INTERVAL_MS`] while the tool runs, so 10 s is 20 missed
/// renewals.
pub const RUNNER_LEASE_MS: u64 = 10_000;

/// Most task runs one gateway instance holds at once; past it a new task is refused (-32603) until one
/// ends, so a burst of task calls cannot grow an instance's memory without bound (each run holds its
/// request's credentials and the tool's future).
pub const MAX_RUNNING: usize = 256;

/// Most attempts at one compare-and-set change before giving up (each loses only to another
/// writer's change of the same task; two writers at most race: the runner and one request).
pub const CAS_ATTEMPTS: usize = 8;

/// A task's state (SEP-2663 `TaskStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// The tool is running.
    Working,
    /// The tool waits for the client's answers (`inputRequests`, delivered by `tasks/update`).
    InputRequired,
    /// The tool finished (its result may still be a tool error, `isError: true`).
    Completed,
    /// A protocol-level failure (`error` holds the JSON-RPC error).
    Failed,
    /// Cancelled by `tasks/cancel`.
    Cancelled,
}

impl TaskStatus {
    /// Whether the task has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

pub use crate::tool::TaskSupport;

/// Errors of a [`TaskStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskStoreError {
    /// The stored version differs from the expected one (or the record exists when creating).
    #[error("task was changed concurrently")]
    Conflict,
    /// The backend failed; the message never contains secrets.
    #[error("task store backend failed: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("stored task is corrupt: {0}")]
    Corrupt(String),
}

/// One task as stored. Holds no credential: the headers the work runs with live only in the
/// [`TaskJob`] in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task id (32 hex characters from the entropy port).
    pub id: String,
    /// The owner of the caller that created it ([`crate::auth::Caller::owner`]).
    pub owner: String,
    /// The fingerprint of the credentials it was created with (`None`: none were sent).
    pub fingerprint: Option<String>,
    /// The tool it runs.
    pub tool: String,
    /// Where it stands.
    pub status: TaskStatus,
    /// A human-readable note on the status (e.g. why it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Created at (ms since the epoch).
    pub created_at: UnixMillis,
    /// Last changed at.
    pub updated_at: UnixMillis,
    /// Lifetime from creation; unreadable (and deleted) after `created_at + ttl_ms`.
    pub ttl_ms: u64,
    /// The `CallToolResult`, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The JSON-RPC error (`code`, `message`), once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Input requests still unanswered (key to `{method, params}`).
    #[serde(default)]
    pub input_requests: Map<String, Value>,
    /// Answers received so far in this round.
    #[serde(default)]
    pub input_responses: Map<String, Value>,
    /// The tool's state for its next round.
    #[serde(default)]
    pub state: Value,
    /// Input rounds so far.
    #[serde(default)]
    pub round: u32,
    /// Until when the current runner's claim holds (working tasks only).
    #[serde(default)]
    pub runner_until: UnixMillis,
    /// Store version (compare-and-set); set by the store.
    #[serde(default)]
    pub version: u64,
}

/// Durable storage of [`TaskRecord`]s with compare-and-set, one implementation per platform; the
/// promises are written once in [`crate::task_contract::run_task_case`].
pub trait TaskStore: MaybeSendSync {
    /// Loads a task; expired records may be returned (the core checks expiry with its clock).
    fn load<'a>(&'a self, id: &'a str)
        -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>>;
    /// Saves `rec` if the stored version equals `expected` (`None`: it must not exist yet) and
    /// returns the new version; a stale `expected` yields [`TaskStoreError::Conflict`]. The record
    /// may be dropped by the backend after `created_at + ttl_ms`.
    fn save<'a>(
        &'a self,
        rec: &'a TaskRecord,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, TaskStoreError>>;
    /// Deletes a task; deleting an absent one is not an error.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>>;
}

/// The compare-and-set rule every store applies: the record to store for `rec` when the stored
/// version is `current`, or [`TaskStoreError::Conflict`].
pub fn next_revision(
    rec: &TaskRecord,
    current: Option<u64>,
    expected: Option<u64>,
) -> Result<TaskRecord, TaskStoreError> {
    if current != expected {
        return Err(TaskStoreError::Conflict);
    }
    let mut stored = rec.clone();
    stored.version = current.map_or(1, |v| v + 1);
    Ok(stored)
}

/// A [`TaskStore`] in process memory (tests, and a gateway without a durable store).
#[derive(Debug, Default)]
pub struct MemoryTaskStore {
    records: std::sync::Mutex<std::collections::HashMap<String, TaskRecord>>,
}

fn poisoned() -> TaskStoreError {
    TaskStoreError::Backend("memory task store lock poisoned".into())
}

impl TaskStore for MemoryTaskStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
        let found = self
            .records
            .lock()
            .map_err(|_| poisoned())
            .map(|m| m.get(id).cloned());
        Box::pin(async move { found })
    }

    fn save<'a>(
        &'a self,
        rec: &'a TaskRecord,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, TaskStoreError>> {
        let result = (|| {
            let mut map = self.records.lock().map_err(|_| poisoned())?;
            let stored = next_revision(rec, map.get(&rec.id).map(|r| r.version), expected)?;
            let v = stored.version;
            map.insert(rec.id.clone(), stored);
            Ok(v)
        })();
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
        let result = self.records.lock().map_err(|_| poisoned()).map(|mut m| {
            m.remove(id);
        });
        Box::pin(async move { result })
    }
}

/// Work the platform must run after the reply is sent: [`crate::McpApp::run_task`] with this job.
/// It carries the request's credentials in memory only; they are never stored, so a task
/// interrupted by a restart cannot be resumed by another instance and reports `failed` (see
/// [`RUNNER_LEASE_MS`]), while a task parked on `input_required` resumes on whichever instance
/// takes its `tasks/update`.
pub struct TaskJob {
    pub(crate) task_id: String,
    pub(crate) tool: String,
    pub(crate) args: Map<String, Value>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) caller: crate::auth::Caller,
    pub(crate) version: String,
    pub(crate) capabilities: Option<Map<String, Value>>,
    pub(crate) input: Option<InputRound>,
}

impl std::fmt::Debug for TaskJob {
    /// The task and tool only: the job's credentials never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskJob")
            .field("task_id", &self.task_id)
            .field("tool", &self.tool)
            .finish_non_exhaustive()
    }
}

impl TaskJob {
    /// The task this job runs (for the platform's logs).
    pub fn task_id(&self) -> &str {
        &self.task_id
    }
}

/// A fresh task id: 16 random bytes as hex.
pub fn new_id(entropy: &dyn Entropy) -> String {
    let mut raw = [0u8; 16];
    entropy.fill(&mut raw);
    hex::encode(raw)
}

/// RFC 3339 with milliseconds, UTC (`createdAt`, `lastUpdatedAt`).
pub fn iso(ms: UnixMillis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

impl TaskRecord {
    /// A working task created now.
    pub fn new(
        id: String,
        owner: String,
        fingerprint: Option<String>,
        tool: String,
        now: UnixMillis,
        ttl_ms: u64,
    ) -> Self {
        TaskRecord {
            id,
            owner,
            fingerprint,
            tool,
            status: TaskStatus::Working,
            status_message: None,
            created_at: now,
            updated_at: now,
            ttl_ms,
            result: None,
            error: None,
            input_requests: Map::new(),
            input_responses: Map::new(),
            state: Value::Null,
            round: 0,
            runner_until: now + RUNNER_LEASE_MS,
            version: 0,
        }
    }

    /// Whether its lifetime is over.
    pub fn expired(&self, now: UnixMillis) -> bool {
        now >= self.created_at.saturating_add(self.ttl_ms)
    }

    /// Whether the caller with `owner` and credential `fingerprint` may see it: the session rule
    /// ([`crate::auth::bound_to`]: same owner, same credentials). Anyone else gets "not found", as
    /// for an unknown id.
    pub fn visible_to(&self, owner: &str, fingerprint: Option<&str>) -> bool {
        crate::auth::bound_to(
            Some(&self.owner),
            self.fingerprint.as_deref(),
            owner,
            fingerprint,
        )
    }

    /// A working task whose runner stopped renewing its claim (the instance went away): settles it
    /// as failed. Returns whether it changed.
    pub fn settle_if_abandoned(&mut self, now: UnixMillis) -> bool {
        if self.status != TaskStatus::Working || now < self.runner_until {
            return false;
        }
        self.fail(
            now,
            -32603,
            "the gateway instance running this task stopped before it finished",
        );
        true
    }

    /// Settles as failed with a JSON-RPC error.
    pub fn fail(&mut self, now: UnixMillis, code: i64, message: &str) {
        self.status = TaskStatus::Failed;
        self.error = Some(json!({"code": code, "message": message}));
        self.result = None;
        self.input_requests.clear();
        self.status_message = Some(message.to_owned());
        self.updated_at = now;
    }

    /// Settles as completed with `result`.
    pub fn complete(&mut self, now: UnixMillis, result: Value) {
        self.status = TaskStatus::Completed;
        self.result = Some(result);
        self.input_requests.clear();
        self.input_responses.clear();
        self.updated_at = now;
    }

    /// Parks the task until the client answers `requests`.
    pub fn ask(&mut self, now: UnixMillis, requests: Map<String, Value>, state: Value) {
        self.status = TaskStatus::InputRequired;
        self.input_requests = requests;
        self.input_responses.clear();
        self.state = state;
        self.round += 1;
        self.updated_at = now;
    }

    /// Cancels a task that has not ended; returns whether it changed (cancelling an ended task is
    /// a no-op, acknowledged the same way).
    pub fn cancel(&mut self, now: UnixMillis) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = TaskStatus::Cancelled;
        self.input_requests.clear();
        self.input_responses.clear();
        self.status_message = Some("cancelled by the client".into());
        self.updated_at = now;
        true
    }

    /// Takes the client's answers (`tasks/update`): keys the task did not ask for are ignored;
    /// answered keys leave `inputRequests`. When none is left the task is working again and the
    /// returned round is what the tool resumes with.
    pub fn answer(
        &mut self,
        now: UnixMillis,
        responses: &Map<String, Value>,
    ) -> Option<InputRound> {
        if self.status != TaskStatus::InputRequired {
            return None;
        }
        for (k, v) in responses {
            if self.input_requests.remove(k).is_some() {
                self.input_responses.insert(k.clone(), v.clone());
            }
        }
        self.updated_at = now;
        if !self.input_requests.is_empty() {
            return None;
        }
        self.status = TaskStatus::Working;
        self.runner_until = now + RUNNER_LEASE_MS;
        let state = std::mem::take(&mut self.state);
        Some(InputRound {
            responses: std::mem::take(&mut self.input_responses),
            state: (!state.is_null()).then_some(state),
            round: self.round,
        })
    }

    fn envelope(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("taskId".into(), json!(self.id));
        m.insert("status".into(), json!(self.status));
        if let Some(msg) = &self.status_message {
            m.insert("statusMessage".into(), json!(msg));
        }
        m.insert("createdAt".into(), json!(iso(self.created_at)));
        m.insert("lastUpdatedAt".into(), json!(iso(self.updated_at)));
        m.insert("ttlMs".into(), json!(self.ttl_ms));
        m.insert("pollIntervalMs".into(), json!(POLL_INTERVAL_MS));
        m
    }

    /// The flat `CreateTaskResult` (`resultType: "task"` and the task's fields; no result, error,
    /// input requests or `requestState`).
    pub fn create_result(&self) -> Value {
        let mut m = self.envelope();
        m.insert("resultType".into(), json!("task"));
        Value::Object(m)
    }

    /// The `tasks/get` answer (DetailedTask): the result inlined once completed, the error once
    /// failed, the pending input requests while input is required.
    pub fn detailed(&self) -> Value {
        let mut m = self.envelope();
        match self.status {
            TaskStatus::Completed => {
                if let Some(r) = &self.result {
                    m.insert("result".into(), r.clone());
                }
            }
            TaskStatus::Failed => {
                if let Some(e) = &self.error {
                    m.insert("error".into(), e.clone());
                }
            }
            TaskStatus::InputRequired => {
                m.insert(
                    "inputRequests".into(),
                    Value::Object(self.input_requests.clone()),
                );
            }
            _ => {}
        }
        Value::Object(m)
    }
}

/// Whether the request's declared client capabilities include the extension.
pub fn declared(capabilities: Option<&Map<String, Value>>) -> bool {
    capabilities
        .and_then(|c| c.get("extensions"))
        .and_then(|e| e.get(EXTENSION))
        .is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> TaskRecord {
        TaskRecord::new(
            "t1".into(),
            "key:a".into(),
            Some("fp".into()),
            "slow_compute".into(),
            1_000,
            60_000,
        )
    }

    #[test]
    fn create_result_is_flat_and_carries_no_outcome() {
        let v = rec().create_result();
        assert_eq!(v["resultType"], "task");
        assert_eq!(v["status"], "working");
        assert_eq!(v["createdAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v["ttlMs"], 60_000);
        for k in [
            "result",
            "error",
            "inputRequests",
            "requestState",
            "task",
            "ttl",
        ] {
            assert!(v.get(k).is_none(), "{k} must be absent");
        }
    }

    #[test]
    fn answers_resume_only_when_every_request_is_answered() {
        let mut r = rec();
        let mut asks = Map::new();
        asks.insert("a".into(), json!({"method": "elicitation/create"}));
        asks.insert("b".into(), json!({"method": "elicitation/create"}));
        r.ask(2_000, asks, json!({"s": 1}));
        assert_eq!(
            r.detailed()["inputRequests"].as_object().map(Map::len),
            Some(2)
        );
        let mut one = Map::new();
        one.insert("a".into(), json!({"action": "accept"}));
        one.insert("zzz".into(), json!({"ignored": true}));
        assert!(r.answer(2_100, &one).is_none());
        assert_eq!(r.status, TaskStatus::InputRequired);
        assert!(r.input_requests.contains_key("b") && !r.input_requests.contains_key("a"));
        let mut two = Map::new();
        two.insert("b".into(), json!({"action": "accept"}));
        let round = r.answer(2_200, &two).expect("all answered");
        assert_eq!(r.status, TaskStatus::Working);
        assert_eq!(round.responses.len(), 2);
        assert_eq!(round.state, Some(json!({"s": 1})));
        assert!(!round.responses.contains_key("zzz"));
    }

    #[test]
    fn cancel_is_idempotent_and_never_reopens_an_ended_task() {
        let mut r = rec();
        assert!(r.cancel(2_000));
        assert!(!r.cancel(2_100));
        r.complete(2_200, json!({}));
        assert_eq!(r.status, TaskStatus::Completed);
        let mut done = rec();
        done.complete(2_000, json!({"content": []}));
        assert!(!done.cancel(2_100));
        assert_eq!(done.status, TaskStatus::Completed);
    }

    #[test]
    fn ownership_needs_the_same_owner_and_credentials() {
        let r = rec();
        assert!(r.visible_to("key:a", Some("fp")));
        assert!(!r.visible_to("key:b", Some("fp")));
        assert!(!r.visible_to("key:a", None));
        assert!(!r.visible_to("", Some("fp")));
    }

    #[test]
    fn abandoned_working_task_fails_and_ttl_ends_it() {
        let mut r = rec();
        assert!(!r.settle_if_abandoned(1_000 + RUNNER_LEASE_MS - 1));
        assert!(r.settle_if_abandoned(1_000 + RUNNER_LEASE_MS));
        assert_eq!(r.status, TaskStatus::Failed);
        assert_eq!(r.detailed()["error"]["code"], -32603);
        assert!(r.detailed().get("result").is_none());
        assert!(!r.expired(60_999));
        assert!(r.expired(61_000));
    }

    #[test]
    fn declared_reads_the_extension_from_client_capabilities() {
        let caps = json!({"extensions": {EXTENSION: {}}});
        assert!(declared(caps.as_object()));
        assert!(!declared(json!({"extensions": {}}).as_object()));
        assert!(!declared(None));
    }
}
