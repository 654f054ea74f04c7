//! Test-only tools, resources and a prompt, registered only when a platform enables them
//! (`--enable-test-tools` / `MCP_EDGE_TEST_TOOLS=1`). Never part of the default tool list.

pub mod conformance;
pub mod conformance_input;
pub mod conformance_tasks;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::credential::Credentials;
use crate::port::BoxFuture;
use crate::tool::{
    Prompt, PromptArgument, PromptDef, Registry, ResourceContents, ResourceDef, ResourceError,
    ResourceProvider, ResourceTemplateDef, Tool, ToolAnnotations, ToolContext, ToolDef,
    ToolFailure, ToolOutput,
};

/// A clock that stands still at its value until a test moves it (the ports of the core's own tests).
#[derive(Debug)]
pub struct FixedClock(pub AtomicU64);

impl crate::port::Clock for FixedClock {
    fn now(&self) -> crate::port::UnixMillis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Entropy that counts: each fill is different and repeatable, so ids in tests are too.
#[derive(Debug)]
pub struct CountingEntropy(pub AtomicU64);

impl crate::port::Entropy for CountingEntropy {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (n as u8).wrapping_mul(31).wrapping_add(i as u8);
        }
    }
}

/// An HTTP port that refuses every call (tests that never reach an upstream).
#[derive(Debug)]
pub struct NoHttp;

impl crate::port::HttpClient for NoHttp {
    fn send(
        &self,
        _req: http::Request<bytes::Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<bytes::Bytes>, crate::port::UpstreamError>> {
        Box::pin(async {
            Err(crate::port::UpstreamError::Refused(
                "no upstream in tests".into(),
            ))
        })
    }
}

struct TestTool {
    def: ToolDef,
    defer: bool,
    run: fn(&Map<String, Value>) -> Result<ToolOutput, ToolFailure>,
}

impl Tool for TestTool {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    fn defer_delivery(&self) -> bool {
        self.defer
    }
    fn call<'a>(
        &'a self,
        _ctx: &'a ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        let out = (self.run)(&args);
        Box::pin(async move { out })
    }
}

fn def(
    name: &str,
    description: &str,
    input_schema: Value,
    output_schema: Option<Value>,
) -> ToolDef {
    ToolDef {
        name: name.into(),
        title: None,
        description: description.into(),
        input_schema,
        output_schema,
        annotations: ToolAnnotations {
            read_only_hint: Some(true),
            destructive_hint: Some(false),
            idempotent_hint: Some(true),
            open_world_hint: Some(false),
            ..Default::default()
        },
    }
}

fn message_schema(required: bool) -> Value {
    let req: Vec<&str> = if required { vec!["message"] } else { vec![] };
    json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": req})
}

fn echo(args: &Map<String, Value>) -> Result<ToolOutput, ToolFailure> {
    Ok(ToolOutput::Text(
        args.get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    ))
}

fn add(args: &Map<String, Value>) -> Result<ToolOutput, ToolFailure> {
    let a = args.get("a").and_then(Value::as_f64).unwrap_or_default();
    let b = args.get("b").and_then(Value::as_f64).unwrap_or_default();
    let sum = a + b;
    let sum = if sum.fract() == 0.0 && sum.abs() < 9.0e15 {
        json!(sum as i64)
    } else {
        json!(sum)
    };
    Ok(ToolOutput::Structured(json!({ "sum": sum })))
}

fn fail(args: &Map<String, Value>) -> Result<ToolOutput, ToolFailure> {
    Err(ToolFailure::new(
        args.get("message")
            .and_then(Value::as_str)
            .unwrap_or("requested failure"),
    ))
}

/// The test resources; `test://watched/{name}` reads the fixture content counter (as
/// `test://watched-resource` does), so `test_update_watched_resource` changes every one of them at
/// once: the e2e tests subscribe to several and tell them apart.
struct TestResources {
    epochs: Arc<crate::subscription::ListEpochs>,
}

impl ResourceProvider for TestResources {
    fn watchable(&self) -> bool {
        true
    }
    fn resources(&self, _credentials: &Credentials) -> Vec<ResourceDef> {
        vec![ResourceDef {
            uri: "test://static/hello".into(),
            name: "hello".into(),
            description: Some("A static greeting".into()),
            mime_type: Some("text/plain".into()),
        }]
    }
    fn templates(&self, _credentials: &Credentials) -> Vec<ResourceTemplateDef> {
        vec![
            ResourceTemplateDef {
                uri_template: "test://echo/{text}".into(),
                name: "echo".into(),
                description: Some("Echoes the {text} part".into()),
                mime_type: Some("text/plain".into()),
            },
            ResourceTemplateDef {
                uri_template: "test://watched/{name}".into(),
                name: "watched".into(),
                description: Some("Changed by test_update_watched_resource".into()),
                mime_type: Some("text/plain".into()),
            },
        ]
    }
    fn read<'a>(
        &'a self,
        _ctx: &'a ToolContext<'a>,
        uri: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<ResourceContents>>, ResourceError>> {
        let out = if uri == "test://static/hello" {
            Ok(Some(vec![ResourceContents {
                uri: uri.into(),
                mime_type: Some("text/plain".into()),
                text: Some("Hello, world!".into()),
                blob: None,
            }]))
        } else if let Some(text) = uri.strip_prefix("test://echo/") {
            let decoded = percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned();
            Ok(Some(vec![ResourceContents {
                uri: uri.into(),
                mime_type: Some("text/plain".into()),
                text: Some(decoded),
                blob: None,
            }]))
        } else {
            Ok(None)
        };
        Box::pin(async move {
            let Some(name) = uri.strip_prefix("test://watched/") else {
                return out;
            };
            let counters = self.epochs.current().await;
            let version = crate::subscription::ListEpochs::of(
                counters,
                crate::subscription::ListKind::Contents,
            );
            Ok(Some(vec![ResourceContents {
                uri: uri.into(),
                mime_type: Some("text/plain".into()),
                text: Some(format!("{name}, version {version}.")),
                blob: None,
            }]))
        })
    }
}

struct Greeting(PromptDef);

impl Prompt for Greeting {
    fn def(&self) -> &PromptDef {
        &self.0
    }
    fn render(&self, args: &BTreeMap<String, String>) -> Result<Vec<Value>, String> {
        let name = args.get("name").ok_or("missing argument 'name'")?;
        Ok(vec![
            json!({"role": "user", "content": {"type": "text", "text": format!("Hello, {name}!")}}),
        ])
    }
}

/// Registers the test tools `echo`, `add`, `fail`, `destructive_echo` and `reconnect_echo`, the `test://` resources and
/// the `greeting` prompt, and the conformance suite's fixtures ([`conformance`]).
pub fn register_test_tools(registry: &mut Registry) {
    conformance::register_tools(registry);
    let number = json!({"type": "number"});
    let tools = [
        TestTool {
            def: def(
                "echo",
                "Echoes the message back.",
                message_schema(true),
                None,
            ),
            defer: false,
            run: echo,
        },
        TestTool {
            def: def(
                "add",
                "Adds two numbers.",
                json!({"type": "object", "properties": {"a": number, "b": number}, "required": ["a", "b"]}),
                Some(
                    json!({"type": "object", "properties": {"sum": {"type": "number"}}, "required": ["sum"]}),
                ),
            ),
            defer: false,
            run: add,
        },
        TestTool {
            def: def(
                "fail",
                "Always fails with the given message.",
                message_schema(false),
                None,
            ),
            defer: false,
            run: fail,
        },
        TestTool {
            def: ToolDef {
                annotations: ToolAnnotations {
                    read_only_hint: Some(false),
                    destructive_hint: Some(true),
                    idempotent_hint: Some(false),
                    open_world_hint: Some(false),
                    ..Default::default()
                },
                ..def(
                    "destructive_echo",
                    "Echoes the message; marked destructive to exercise read-only policies.",
                    message_schema(true),
                    None,
                )
            },
            defer: false,
            run: echo,
        },
        TestTool {
            def: def(
                "reconnect_echo",
                "Echoes the message, delivered after an SSE reconnect (Last-Event-ID).",
                message_schema(true),
                None,
            ),
            defer: true,
            run: echo,
        },
    ];
    for t in tools {
        registry.add_tool(Arc::new(t));
    }
    registry.add_resources(Arc::new(TestResources {
        epochs: registry.epochs.clone(),
    }));
    registry.add_prompt(Arc::new(Greeting(PromptDef {
        name: "greeting".into(),
        description: Some("Greets someone by name".into()),
        arguments: vec![PromptArgument {
            name: "name".into(),
            description: Some("Who to greet".into()),
            required: true,
        }],
    })));
    conformance::register_resources_and_prompts(registry);
}
