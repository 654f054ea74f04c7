//! `TaskObject`: one Durable Object per task (Tasks extension), named by the task id, holding its
//! record in Durable Object storage. A Durable Object runs one request at a time, so its
//! compare-and-set is exact; an alarm at the end of the task's lifetime deletes the record.
//! `DoTaskStore` is the core's `TaskStore` port that asks it. The work itself runs in the isolate
//! that took the `tools/call` (or the `tasks/update` that resumed it), under `ctx.waitUntil`.

use mcp_edge_core::port::BoxFuture;
use mcp_edge_core::task::{next_revision, TaskRecord, TaskStore, TaskStoreError};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

/// Binding name of the `TaskObject` namespace in `wrangler.toml`.
pub const TASKS_BINDING: &str = "TASKS";

/// Storage key of the record.
const RECORD_KEY: &str = "record";

#[derive(Serialize, Deserialize)]
struct SaveRequest {
    rec: TaskRecord,
    expected: Option<u64>,
}

/// What the object answers to `/save`: the new version, or `None` for a lost compare-and-set.
#[derive(Serialize, Deserialize)]
struct SaveAnswer {
    version: Option<u64>,
}

/// The task-store port: one round trip to the task's object per call.
pub struct DoTaskStore {
    env: Env,
}

impl DoTaskStore {
    /// Tasks in the `TASKS` namespace of `env`.
    pub fn new(env: Env) -> Self {
        DoTaskStore { env }
    }

    async fn ask(&self, id: &str, path: &str, body: Option<String>) -> worker::Result<Response> {
        let stub = self
            .env
            .durable_object(TASKS_BINDING)?
            .id_from_name(id)?
            .get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(body.map(Into::into));
        let req = Request::new_with_init(&format!("https://task.internal{path}"), &init)?;
        stub.fetch_with_request(req).await
    }
}

fn backend(e: impl std::fmt::Display) -> TaskStoreError {
    TaskStoreError::Backend(format!("task object: {e}"))
}

impl TaskStore for DoTaskStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
        Box::pin(async move {
            let mut r = self.ask(id, "/load", None).await.map_err(backend)?;
            r.json::<Option<TaskRecord>>().await.map_err(backend)
        })
    }

    fn save<'a>(
        &'a self,
        rec: &'a TaskRecord,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, TaskStoreError>> {
        Box::pin(async move {
            let body = serde_json::to_string(&SaveRequest {
                rec: rec.clone(),
                expected,
            })
            .map_err(backend)?;
            let mut r = self
                .ask(&rec.id, "/save", Some(body))
                .await
                .map_err(backend)?;
            let answer: SaveAnswer = r.json().await.map_err(backend)?;
            answer.version.ok_or(TaskStoreError::Conflict)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
        Box::pin(async move {
            self.ask(id, "/delete", None).await.map_err(backend)?;
            Ok(())
        })
    }
}

/// One task's record.
#[durable_object]
pub struct TaskObject {
    state: State,
}

impl DurableObject for TaskObject {
    fn new(state: State, _env: Env) -> Self {
        TaskObject { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let storage = self.state.storage();
        match req.path().as_str() {
            "/load" => {
                let text: Option<String> = storage.get(RECORD_KEY).await?;
                let rec: Option<TaskRecord> = text.and_then(|t| serde_json::from_str(&t).ok());
                Response::from_json(&rec)
            }
            "/save" => {
                let asked: SaveRequest = req.json().await?;
                let text: Option<String> = storage.get(RECORD_KEY).await?;
                let current = text
                    .and_then(|t| serde_json::from_str::<TaskRecord>(&t).ok())
                    .map(|r| r.version);
                let version = match next_revision(&asked.rec, current, asked.expected) {
                    Ok(stored) => {
                        let text = serde_json::to_string(&stored)
                            .map_err(|e| worker::Error::RustError(e.to_string()))?;
                        storage.put(RECORD_KEY, text).await?;
                        if current.is_none() {
                            // The record goes when its lifetime ends, read or not.
                            let end = stored.created_at.saturating_add(stored.ttl_ms);
                            storage
                                .set_alarm(worker::ScheduledTime::new(js_sys::Date::new(
                                    &wasm_bindgen::JsValue::from_f64(end as f64),
                                )))
                                .await?;
                        }
                        Some(stored.version)
                    }
                    Err(_) => None,
                };
                Response::from_json(&SaveAnswer { version })
            }
            "/delete" => {
                storage.delete_all().await?;
                Response::ok("")
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.state.storage().delete_all().await?;
        Response::ok("")
    }
}
