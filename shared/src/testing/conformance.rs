//! The fixture surface of the official MCP conformance suite (`@modelcontextprotocol/conformance`
//! 0.2.0-alpha.12, its server scenarios' "Server Implementation Requirements" in
//! `src/scenarios/server/{tools,resources,prompts,input-required-result,stateless}.ts`): the
//! `test_*` tools, `test://` resources and `test_*` prompts those scenarios call, with the exact
//! texts they check. Part of the test tool set (`MCP_EDGE_TEST_TOOLS`), so every target serves it.
//! The `input_required` fixtures answer through [`ToolOutput::InputRequired`]; the gateway signs
//! their state (see [`crate::mrtr`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::credential::Credentials;
use crate::notify::LogLevel;
use crate::port::BoxFuture;
use crate::subscription::{ListEpochs, ListKind};
use crate::tool::{
    InputRound, Prompt, PromptArgument, PromptDef, PromptOutput, Registry, ResourceContents,
    ResourceDef, ResourceError, ResourceProvider, ResourceTemplateDef, Tool, ToolAnnotations,
    ToolContext, ToolDef, ToolFailure, ToolOutput,
};

/// A 1x1 red PNG (generated for this fixture; the suite asks for "a minimal test image").
const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
/// Eight samples of 8 kHz mono 8-bit silence as a WAV file ("a minimal test audio file").
const WAV: &str = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

type Run = fn(&ToolContext<'_>) -> Result<ToolOutput, ToolFailure>;

struct Fixture {
    def: ToolDef,
    run: Run,
}

impl Tool for Fixture {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        _args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        let out = (self.run)(ctx);
        Box::pin(async move { out })
    }
}

/// What a [`Paced`] fixture reports between its ~50 ms pauses.
#[derive(Clone, Copy)]
enum Pace {
    /// Progress 0, 50 and 100 of 100 (conformance: tools-call-with-progress).
    Progress,
    /// Three info log messages (conformance: tools-call-with-logging).
    Logging,
}

/// A fixture that reports three times, ~50 ms apart, through the call's notifier (which sends only
/// what the request asked for: a progress token, a log level).
struct Paced {
    def: ToolDef,
    pace: Pace,
}

/// The pause between a [`Paced`] fixture's reports, as the suite's fixture specification says.
const PACE_MS: u64 = 50;

impl Tool for Paced {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        _args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(async move {
            const LOGS: [&str; 3] = [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ];
            for step in 0..3u32 {
                if step > 0 {
                    if let Some(sleeper) = ctx.sleeper {
                        sleeper.sleep(PACE_MS).await;
                    }
                }
                match self.pace {
                    Pace::Progress => ctx.notify.progress(f64::from(step * 50), Some(100.0), None),
                    Pace::Logging => ctx.notify.log(
                        LogLevel::Info,
                        Some(&self.def.name),
                        json!(LOGS[step as usize]),
                    ),
                }
            }
            Ok(ToolOutput::Text(match self.pace {
                Pace::Progress => "Progress reported at 0, 50 and 100 of 100.".into(),
                Pace::Logging => "Logged three messages.".into(),
            }))
        })
    }
}

fn paced(name: &str, description: &str, pace: Pace) -> Paced {
    Paced {
        def: fixture(name, description, |_| text("")).def,
        pace,
    }
}

fn fixture(name: &str, description: &str, run: Run) -> Fixture {
    Fixture {
        def: ToolDef {
            name: name.into(),
            title: None,
            description: description.into(),
            input_schema: json!({"type": "object", "properties": {}}),
            output_schema: None,
            annotations: ToolAnnotations {
                read_only_hint: Some(true),
                open_world_hint: Some(false),
                ..Default::default()
            },
        },
        run,
    }
}

fn text(t: impl Into<String>) -> Result<ToolOutput, ToolFailure> {
    Ok(ToolOutput::Text(t.into()))
}

fn image() -> Value {
    json!({"type": "image", "data": PNG, "mimeType": "image/png"})
}

fn elicit(message: &str, field: &str, kind: &str) -> Value {
    json!({"method": "elicitation/create", "params": {
        "message": message,
        "requestedSchema": {"type": "object", "properties": {field: {"type": kind}}, "required": [field]},
    }})
}

fn sample(prompt: &str, max_tokens: u32) -> Value {
    json!({"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "maxTokens": max_tokens,
    }})
}

fn list_roots() -> Value {
    json!({"method": "roots/list", "params": {}})
}

fn ask(requests: &[(&str, Value)], state: Value) -> Result<ToolOutput, ToolFailure> {
    Ok(ToolOutput::InputRequired {
        requests: requests
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        state,
    })
}

/// The response to `key` in this retry.
fn answer<'c>(ctx: &'c ToolContext<'_>, key: &str) -> Option<&'c Map<String, Value>> {
    ctx.input.and_then(|i: &InputRound| i.response(key))
}

/// An accepted elicitation's `content[field]` as text.
fn elicited(a: &Map<String, Value>, field: &str) -> String {
    match a.get("content").and_then(|c| c.get(field)) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => format!(
            "(no {field}; action {})",
            a.get("action").and_then(Value::as_str).unwrap_or("none")
        ),
    }
}

/// A sampling result's text.
fn sampled(a: &Map<String, Value>) -> String {
    a.get("content")
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn roots(a: &Map<String, Value>) -> String {
    a.get("roots")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|x| x.get("uri").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn state<'c>(ctx: &'c ToolContext<'_>) -> Option<&'c Value> {
    ctx.input.and_then(|i| i.state.as_ref())
}

fn tools() -> Vec<Fixture> {
    vec![
        fixture("test_simple_text", "Returns a fixed text (conformance: tools-call-simple-text).", |_| {
            text("This is a simple text response for testing.")
        }),
        fixture("test_image_content", "Returns a 1x1 PNG image (conformance: tools-call-image).", |_| {
            Ok(ToolOutput::Content(vec![image()]))
        }),
        fixture("test_audio_content", "Returns a short WAV clip (conformance: tools-call-audio).", |_| {
            Ok(ToolOutput::Content(vec![json!({"type": "audio", "data": WAV, "mimeType": "audio/wav"})]))
        }),
        fixture("test_embedded_resource", "Returns an embedded text resource (conformance: tools-call-embedded-resource).", |_| {
            Ok(ToolOutput::Content(vec![json!({"type": "resource", "resource": {
                "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content."}})]))
        }),
        fixture("test_multiple_content_types", "Returns text, an image and a resource (conformance: tools-call-mixed-content).", |_| {
            Ok(ToolOutput::Content(vec![
                json!({"type": "text", "text": "Multiple content types test:"}),
                image(),
                json!({"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                    "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}),
            ]))
        }),
        fixture("test_error_handling", "Always fails (conformance: tools-call-error).", |_| {
            Err(ToolFailure::new("This tool intentionally returns an error for testing"))
        }),
        Fixture {
            def: ToolDef {
                input_schema: json!({"type": "object", "properties": {
                    "region": {"type": "string", "description": "Mirrored in the Mcp-Param-Region header", "x-mcp-header": "Region"},
                }, "required": ["region"]}),
                ..fixture("test_custom_header", "Echoes its region, which clients mirror in Mcp-Param-Region (SEP-2243; conformance: http-custom-header-server-validation).", |_| text("")).def
            },
            run: |_| text("Region header matched the argument."),
        },
        fixture("test_logging_tool", "Logs one info message, which the gateway sends only when the request sets a logLevel (conformance: server-stateless).", |ctx| {
            ctx.notify.log(LogLevel::Info, Some("test_logging_tool"), json!("test_logging_tool ran"));
            text("Completed.")
        }),
        fixture("test_missing_capability", "Needs sampling: refused with -32021 unless the client declares it (conformance: server-stateless).", |ctx| {
            match answer(ctx, "completion") {
                Some(a) => text(format!("Sampled: {}", sampled(a))),
                None => ask(&[("completion", sample("Say something", 20))], Value::Null),
            }
        }),
        fixture("test_streaming_elicitation", "Asks for a name by input_required, never by a request on the response stream (conformance: server-stateless).", |ctx| {
            match answer(ctx, "user_name") {
                Some(a) => text(format!("Hello, {}!", elicited(a, "name"))),
                None => ask(&[("user_name", elicit("What is your name?", "name", "string"))], Value::Null),
            }
        }),
        fixture("test_input_required_result_elicitation", "input_required: one elicitation (conformance: input-required-result-*).", |ctx| {
            match answer(ctx, "user_name") {
                Some(a) => text(format!("Hello, {}!", elicited(a, "name"))),
                None => ask(&[("user_name", elicit("What is your name?", "name", "string"))], Value::Null),
            }
        }),
        fixture("test_input_required_result_sampling", "input_required: one sampling request.", |ctx| {
            match answer(ctx, "capital_question") {
                Some(a) => text(format!("The model answered: {}", sampled(a))),
                None => ask(&[("capital_question", sample("What is the capital of France?", 100))], Value::Null),
            }
        }),
        fixture("test_input_required_result_list_roots", "input_required: roots/list.", |ctx| {
            match answer(ctx, "client_roots") {
                Some(a) => text(format!("Client roots: {}", roots(a))),
                None => ask(&[("client_roots", list_roots())], Value::Null),
            }
        }),
        fixture("test_input_required_result_request_state", "input_required with a signed requestState, checked on the retry.", request_state),
        fixture("test_input_required_result_tampered_state", "input_required with a signed requestState; a tampered one is refused.", request_state),
        fixture("test_input_required_result_multiple_inputs", "input_required: elicitation, sampling and roots at once.", |ctx| {
            let keys = ["user_name", "greeting", "client_roots"];
            if state(ctx) == Some(&json!({"asked": keys})) && keys.iter().all(|k| answer(ctx, k).is_some()) {
                let (n, g, r) = (answer(ctx, "user_name"), answer(ctx, "greeting"), answer(ctx, "client_roots"));
                return text(format!(
                    "Name: {}; greeting: {}; roots: {}",
                    n.map(|a| elicited(a, "name")).unwrap_or_default(),
                    g.map(sampled).unwrap_or_default(),
                    r.map(roots).unwrap_or_default()
                ));
            }
            ask(
                &[
                    ("user_name", elicit("What is your name?", "name", "string")),
                    ("greeting", sample("Generate a greeting", 50)),
                    ("client_roots", list_roots()),
                ],
                json!({"asked": keys}),
            )
        }),
        fixture("test_input_required_result_multi_round", "input_required over two rounds, the state evolving.", |ctx| {
            match (state(ctx).and_then(|s| s.get("step")).and_then(Value::as_u64), answer(ctx, "step1"), answer(ctx, "step2")) {
                (Some(2), _, Some(a)) => {
                    let name = state(ctx).and_then(|s| s.get("name")).and_then(Value::as_str).unwrap_or("");
                    text(format!("{name} likes {}", elicited(a, "color")))
                }
                (Some(1), Some(a), _) => ask(
                    &[("step2", elicit("Step 2: What is your favorite color?", "color", "string"))],
                    json!({"step": 2, "name": elicited(a, "name")}),
                ),
                _ => ask(&[("step1", elicit("Step 1: What is your name?", "name", "string"))], json!({"step": 1})),
            }
        }),
        fixture("test_input_required_result_capabilities", "input_required only for the capabilities the client declared.", |ctx| {
            let mut wanted = Vec::new();
            if ctx.client_declares("elicitation") {
                wanted.push(("user_name", elicit("What is your name?", "name", "string")));
            }
            if ctx.client_declares("sampling") {
                wanted.push(("greeting", sample("Generate a greeting", 50)));
            }
            if ctx.input.is_some() || wanted.is_empty() {
                return text("Done with what the client can provide.");
            }
            ask(&wanted, Value::Null)
        }),
    ]
}

fn request_state(ctx: &ToolContext<'_>) -> Result<ToolOutput, ToolFailure> {
    match (state(ctx), answer(ctx, "confirm")) {
        (Some(s), Some(_)) if s == &json!({"issued": "confirm"}) => {
            text("state-ok: the requestState came back intact")
        }
        _ => ask(
            &[(
                "confirm",
                json!({"method": "elicitation/create", "params": {"message": "Please confirm",
                "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}}),
            )],
            json!({"issued": "confirm"}),
        ),
    }
}

/// The input schema of `json_schema_2020_12_tool`, exactly as the suite's `json-schema-2020-12`
/// scenario defines it (0.2.0-alpha.12, SEP-1613/SEP-2106): it checks that tools/list keeps
/// `$schema`, `$defs`, `$anchor`, `allOf`/`anyOf`, `if`/`then`/`else` and `additionalProperties`
/// as given, and the gateway validates calls against all of them (see [`crate::validator`]).
pub fn json_schema_2020_12_input() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addressDef", "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"},
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false,
    })
}

/// `json_schema_2020_12_tool` (conformance: json-schema-2020-12): the gateway has checked the
/// arguments against [`json_schema_2020_12_input`] before it runs.
fn json_schema_tool() -> Fixture {
    Fixture {
        def: ToolDef {
            input_schema: json_schema_2020_12_input(),
            ..fixture(
                "json_schema_2020_12_tool",
                "Takes a contact whose input schema uses JSON Schema 2020-12 ($defs, $ref, $anchor, if/then/else; conformance: json-schema-2020-12).",
                |_| text(""),
            )
            .def
        },
        run: |_| text("The contact satisfies the JSON Schema 2020-12 input schema."),
    }
}

/// The fixture resources; `test://watched-resource` (the one the `resources-subscribe` scenarios
/// name) reads the [`ListKind::Contents`] counter, so `test_update_watched_resource` changes it.
struct Resources {
    epochs: Arc<ListEpochs>,
}

impl ResourceProvider for Resources {
    fn watchable(&self) -> bool {
        true
    }
    fn resources(&self, _credentials: &Credentials) -> Vec<ResourceDef> {
        vec![
            ResourceDef {
                uri: "test://static-text".into(),
                name: "static-text".into(),
                description: Some("A static text resource (conformance)".into()),
                mime_type: Some("text/plain".into()),
            },
            ResourceDef {
                uri: WATCHED.into(),
                name: "watched-resource".into(),
                description: Some(
                    "A text resource test_update_watched_resource changes (conformance: resources-subscribe)"
                        .into(),
                ),
                mime_type: Some("text/plain".into()),
            },
            ResourceDef {
                uri: "test://static-binary".into(),
                name: "static-binary".into(),
                description: Some("A static PNG resource (conformance)".into()),
                mime_type: Some("image/png".into()),
            },
        ]
    }
    fn templates(&self, _credentials: &Credentials) -> Vec<ResourceTemplateDef> {
        vec![ResourceTemplateDef {
            uri_template: "test://template/{id}/data".into(),
            name: "template-data".into(),
            description: Some("JSON data for an id (conformance)".into()),
            mime_type: Some("application/json".into()),
        }]
    }
    fn read<'a>(
        &'a self,
        _ctx: &'a ToolContext<'a>,
        uri: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<ResourceContents>>, ResourceError>> {
        let contents = |mime: &str, text: String, blob: Option<String>| {
            Ok(Some(vec![ResourceContents {
                uri: uri.into(),
                mime_type: Some(mime.into()),
                text: blob.is_none().then_some(text),
                blob,
            }]))
        };
        let out = match uri {
            "test://static-text" => contents(
                "text/plain",
                "This is the content of the static text resource.".into(),
                None,
            ),
            "test://static-binary" => contents("image/png", String::new(), Some(PNG.into())),
            _ => match uri
                .strip_prefix("test://template/")
                .and_then(|r| r.strip_suffix("/data"))
                .filter(|id| !id.is_empty() && !id.contains('/'))
            {
                Some(id) => contents(
                    "application/json",
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                        .to_string(),
                    None,
                ),
                None => Ok(None),
            },
        };
        Box::pin(async move {
            if uri == WATCHED {
                let version = ListEpochs::of(self.epochs.current().await, ListKind::Contents);
                return contents(
                    "text/plain",
                    format!("Watched resource, version {version}."),
                    None,
                );
            }
            out
        })
    }
}

/// The URI of the fixture resource whose content changes.
const WATCHED: &str = "test://watched-resource";

struct FixturePrompt {
    def: PromptDef,
    render: fn(&BTreeMap<String, String>) -> Vec<Value>,
}

impl Prompt for FixturePrompt {
    fn def(&self) -> &PromptDef {
        &self.def
    }
    fn render(&self, args: &BTreeMap<String, String>) -> Result<Vec<Value>, String> {
        Ok((self.render)(args))
    }
}

fn user(content: Value) -> Value {
    json!({"role": "user", "content": content})
}

fn user_text(t: &str) -> Value {
    user(json!({"type": "text", "text": t}))
}

fn prompt(
    name: &str,
    description: &str,
    args: &[&str],
    render: fn(&BTreeMap<String, String>) -> Vec<Value>,
) -> Arc<dyn Prompt> {
    Arc::new(FixturePrompt {
        def: PromptDef {
            name: name.into(),
            description: Some(description.into()),
            arguments: args
                .iter()
                .map(|a| PromptArgument {
                    name: (*a).into(),
                    description: Some(format!("The {a} argument")),
                    required: true,
                })
                .collect(),
        },
        render,
    })
}

/// `prompts/get` answering `input_required` first (conformance: input-required-result-non-tool-request).
struct InputPrompt(PromptDef);

impl Prompt for InputPrompt {
    fn def(&self) -> &PromptDef {
        &self.0
    }
    fn render(&self, _args: &BTreeMap<String, String>) -> Result<Vec<Value>, String> {
        Err("this prompt needs the client's input (a 2026-07-28 request)".into())
    }
    fn render_with_input(
        &self,
        _args: &BTreeMap<String, String>,
        _client_capabilities: Option<&Map<String, Value>>,
        input: Option<&InputRound>,
    ) -> Result<PromptOutput, String> {
        Ok(match input.and_then(|i| i.response("user_context")) {
            Some(a) => PromptOutput::Messages(vec![user_text(&format!(
                "Use this context: {}",
                elicited(a, "context")
            ))]),
            None => PromptOutput::InputRequired {
                requests: [(
                    "user_context".to_owned(),
                    elicit("What context should the prompt use?", "context", "string"),
                )]
                .into_iter()
                .collect(),
                state: Value::Null,
            },
        })
    }
}

/// Registers the conformance fixture tools. Called before the other test tools: the suite's
/// header scenarios call the first listed tool with no arguments (`http-header-validation`), which
/// `test_simple_text` allows.
pub fn register_tools(registry: &mut Registry) {
    for t in tools() {
        registry.add_tool(Arc::new(t));
    }
    registry.add_tool(Arc::new(json_schema_tool()));
    super::conformance_tasks::register_tools(registry);
    super::conformance_input::register_tools(registry);
    registry.add_tool(Arc::new(paced("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100, ~50 ms apart, when the request carries a progressToken (conformance: tools-call-with-progress).", Pace::Progress)));
    registry.add_tool(Arc::new(paced("test_tool_with_logging", "Logs three info messages ~50 ms apart, at the level the client asked for (conformance: tools-call-with-logging).", Pace::Logging)));
    for (name, kind, description) in [
        ("test_trigger_tool_change", ListKind::Tools, LIST_TRIGGER),
        ("test_trigger_prompt_change", ListKind::Prompts, LIST_TRIGGER),
        ("test_update_watched_resource", ListKind::Contents,
            "Changes the content of test://watched-resource, so its subscribers (resources/subscribe, or a subscriptions/listen resourceSubscriptions entry) get notifications/resources/updated."),
    ] {
        let mut def = fixture(name, description, |_| text("")).def;
        def.annotations.read_only_hint = Some(false);
        registry.add_tool(Arc::new(Trigger {
            def,
            kind,
            epochs: registry.epochs.clone(),
        }));
    }
}

const LIST_TRIGGER: &str = "Marks the tool or prompt list changed, so open subscriptions/listen streams that asked for it are notified (conformance: server-stateless).";

/// `test_trigger_tool_change` / `test_trigger_prompt_change` / `test_update_watched_resource`: bumps the list's change counter in
/// the gateway's registry (what a listen stream's next look compares), as a catalog refresh would
/// change the list itself.
struct Trigger {
    def: ToolDef,
    kind: ListKind,
    epochs: Arc<ListEpochs>,
}

impl Tool for Trigger {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    fn call<'a>(
        &'a self,
        _ctx: &'a ToolContext<'a>,
        _args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(async move {
            match self.epochs.bump(self.kind).await {
                Ok(()) => text("Mutation triggered"),
                Err(e) => Err(ToolFailure::new(format!("change counter: {e}"))),
            }
        })
    }
}

/// Registers the conformance fixture resources and prompts (after the other test ones, whose order
/// the e2e tests rely on).
pub fn register_resources_and_prompts(registry: &mut Registry) {
    registry.add_resources(Arc::new(Resources {
        epochs: registry.epochs.clone(),
    }));
    registry.add_prompt(prompt(
        "test_simple_prompt",
        "A prompt without arguments (conformance)",
        &[],
        |_| vec![user_text("This is a simple prompt for testing.")],
    ));
    registry.add_prompt(prompt(
        "test_prompt_with_arguments",
        "A prompt with two arguments (conformance)",
        &["arg1", "arg2"],
        |a| {
            let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
            vec![user_text(&format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                get("arg1"),
                get("arg2")
            ))]
        },
    ));
    registry.add_prompt(prompt(
        "test_prompt_with_embedded_resource",
        "A prompt embedding a resource (conformance)",
        &["resourceUri"],
        |a| {
            let uri = a.get("resourceUri").cloned().unwrap_or_default();
            vec![
                user(
                    json!({"type": "resource", "resource": {"uri": uri, "mimeType": "text/plain",
                    "text": "Embedded resource content for testing."}}),
                ),
                user_text("Please process the embedded resource above."),
            ]
        },
    ));
    registry.add_prompt(prompt(
        "test_prompt_with_image",
        "A prompt with an image (conformance)",
        &[],
        |_| vec![user(image()), user_text("Please analyze the image above.")],
    ));
    registry.add_prompt(Arc::new(InputPrompt(PromptDef {
        name: "test_input_required_result_prompt".into(),
        description: Some("A prompt that asks the client for context first (conformance)".into()),
        arguments: Vec::new(),
    })));
}
