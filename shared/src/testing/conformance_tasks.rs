//! The Tasks-extension fixtures of the conformance suite (`@modelcontextprotocol/conformance`
//! 0.2.0-alpha.12, "Required server fixtures" of `src/scenarios/server/tasks/*.ts`): `greet`,
//! `slow_compute`, `failing_job`, `protocol_error_job`, `confirm_delete`, `multi_input` and
//! `test_tool_with_task`, with the behaviour those scenarios check. Registered with the other
//! conformance fixtures (test tool set only); nothing here deletes or changes anything.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::port::BoxFuture;
use crate::task::TaskSupport;
use crate::tool::{
    InputRound, Registry, Tool, ToolAnnotations, ToolContext, ToolDef, ToolFailure, ToolOutput,
};

/// The longest `slow_compute` accepts (the suite asks for 60 s; a task stays bounded).
const MAX_SECONDS: u64 = 600;

#[derive(Clone, Copy)]
enum Kind {
    Greet,
    SlowCompute,
    FailingJob,
    ProtocolErrorJob,
    ConfirmDelete,
    MultiInput,
    WithTask,
}

struct TaskFixture {
    def: ToolDef,
    kind: Kind,
    support: TaskSupport,
}

fn def(name: &str, description: &str, schema: Value) -> ToolDef {
    ToolDef {
        name: name.into(),
        title: None,
        description: description.into(),
        input_schema: schema,
        output_schema: None,
        annotations: ToolAnnotations {
            read_only_hint: Some(true),
            open_world_hint: Some(false),
            ..Default::default()
        },
    }
}

fn elicit(message: &str, field: &str, kind: &str) -> Value {
    json!({"method": "elicitation/create", "params": {
        "message": message,
        "requestedSchema": {"type": "object", "properties": {field: {"type": kind}}, "required": [field]},
    }})
}

fn text(t: impl Into<String>) -> Result<ToolOutput, ToolFailure> {
    Ok(ToolOutput::Text(t.into()))
}

fn answer<'c>(ctx: &'c ToolContext<'_>, key: &str) -> Option<&'c Map<String, Value>> {
    ctx.input.and_then(|i| i.response(key))
}

fn content_of(a: &Map<String, Value>, field: &str) -> String {
    match a.get("content").and_then(|c| c.get(field)) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn ask(requests: Vec<(&str, Value)>) -> Result<ToolOutput, ToolFailure> {
    Ok(ToolOutput::InputRequired {
        requests: requests
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        state: Value::Null,
    })
}

async fn pause(ctx: &ToolContext<'_>, ms: u64) {
    if let Some(s) = ctx.sleeper {
        s.sleep(ms).await;
    }
}

impl TaskFixture {
    async fn run(
        &self,
        ctx: &ToolContext<'_>,
        args: Map<String, Value>,
    ) -> Result<ToolOutput, ToolFailure> {
        match self.kind {
            Kind::Greet => text(format!(
                "Hello, {}!",
                args.get("name").and_then(Value::as_str).unwrap_or("World")
            )),
            Kind::SlowCompute => {
                let seconds = args
                    .get("seconds")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
                    .clamp(0.0, MAX_SECONDS as f64);
                let label = args.get("label").and_then(Value::as_str).unwrap_or("");
                pause(ctx, (seconds * 1000.0) as u64).await;
                text(format!("Computed {label} after {seconds} s"))
            }
            Kind::FailingJob => {
                pause(ctx, 1000).await;
                Err(ToolFailure::new("failing_job failed, as it always does"))
            }
            Kind::ProtocolErrorJob => {
                pause(ctx, 1000).await;
                Ok(ToolOutput::ProtocolError(
                    "protocol_error_job broke at the protocol level, as it always does".into(),
                ))
            }
            Kind::ConfirmDelete => {
                let file = args.get("filename").and_then(Value::as_str).unwrap_or("");
                match answer(ctx, "confirm") {
                    Some(a) if a.get("action").and_then(Value::as_str) == Some("accept") => text(
                        format!("Confirmed: {file} would be deleted (a fixture; nothing is)"),
                    ),
                    Some(_) => text(format!("Not deleted: {file}")),
                    None => ask(vec![(
                        "confirm",
                        json!({"method": "elicitation/create", "params": {
                            "message": format!("Delete {file}?"),
                            "requestedSchema": {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]},
                        }}),
                    )]),
                }
            }
            Kind::MultiInput => match (answer(ctx, "first"), answer(ctx, "second")) {
                (Some(a), Some(b)) => text(format!(
                    "Got {} and {}",
                    content_of(a, "name"),
                    content_of(b, "name")
                )),
                _ => ask(vec![
                    ("first", elicit("First: your name?", "name", "string")),
                    ("second", elicit("Second: your name?", "name", "string")),
                ]),
            },
            Kind::WithTask => {
                let name = answer(ctx, "user_name")
                    .map(|a| content_of(a, "name"))
                    .unwrap_or_default();
                pause(ctx, 100).await;
                text(format!("Hello, {name}! (from a task)"))
            }
        }
    }
}

impl Tool for TaskFixture {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    fn task_support(&self) -> TaskSupport {
        self.support
    }
    fn input_before_task(&self, input: Option<&InputRound>) -> Option<Map<String, Value>> {
        if !matches!(self.kind, Kind::WithTask)
            || input.and_then(|i| i.response("user_name")).is_some()
        {
            return None;
        }
        let mut m = Map::new();
        m.insert(
            "user_name".into(),
            elicit("What is your name?", "name", "string"),
        );
        Some(m)
    }
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(self.run(ctx, args))
    }
}

fn empty() -> Value {
    json!({"type": "object", "properties": {}})
}

/// Registers the Tasks fixtures.
pub fn register_tools(registry: &mut Registry) {
    let fixtures = [
        (
            def("greet", "Says hello; never a task (conformance: tasks-*).", json!({"type": "object", "properties": {"name": {"type": "string"}}})),
            Kind::Greet,
            TaskSupport::Forbidden,
        ),
        (
            def("slow_compute", "Waits `seconds` then answers; a task for clients with the Tasks extension (conformance: tasks-*).", json!({"type": "object", "properties": {
                "seconds": {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
                "label": {"type": "string"},
            }})),
            Kind::SlowCompute,
            TaskSupport::Optional,
        ),
        (
            def("failing_job", "Only as a task; ends with a tool error after about 1 s (conformance: tasks-*).", empty()),
            Kind::FailingJob,
            TaskSupport::Required,
        ),
        (
            def("protocol_error_job", "A task that fails at the protocol level after about 1 s (conformance: tasks-lifecycle).", empty()),
            Kind::ProtocolErrorJob,
            TaskSupport::Optional,
        ),
        (
            def("confirm_delete", "A task that asks for a confirmation (elicitation) and then reports; deletes nothing (conformance: tasks-*).", json!({"type": "object", "properties": {"filename": {"type": "string"}}})),
            Kind::ConfirmDelete,
            TaskSupport::Optional,
        ),
        (
            def("multi_input", "A task that asks two questions at once (conformance: tasks-mrtr-input).", empty()),
            Kind::MultiInput,
            TaskSupport::Optional,
        ),
        (
            def("test_tool_with_task", "Asks for a name by input_required, then runs as a task greeting it (conformance: tasks-mrtr-composition).", empty()),
            Kind::WithTask,
            TaskSupport::Required,
        ),
    ];
    for (def, kind, support) in fixtures {
        registry.add_tool(Arc::new(TaskFixture { def, kind, support }));
    }
}
