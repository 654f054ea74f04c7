//! The conformance suite's fixtures that ask the client during a call (`@modelcontextprotocol/
//! conformance` 0.2.0-alpha.12, `tools-call-sampling`, `tools-call-elicitation`,
//! `elicitation-sep1034-defaults`, `elicitation-sep1330-enums`: their "Server Implementation
//! Requirements"): `test_sampling`, `test_elicitation`, `test_elicitation_sep1034_defaults` and
//! `test_elicitation_sep1330_enums`, with the schemas and result texts those scenarios name.
//!
//! Each is written once, for `input_required` ([`ToolOutput::InputRequired`]): a 2026-07-28 client
//! gets the request in the result and retries with its answer; in a 2025 session the gateway sends
//! the same request on the session's stream and calls the tool again with the answer (see
//! [`crate::sampling`]). Answers are read by [`crate::elicitation::read`] and
//! [`crate::sampling::sampled_text`], so a malformed one is a tool error, never echoed as input.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::elicitation::{self, Elicited};
use crate::port::BoxFuture;
use crate::tool::{Registry, Tool, ToolAnnotations, ToolContext, ToolDef, ToolFailure, ToolOutput};

/// The input-request key every fixture here uses.
const KEY: &str = "input";

#[derive(Clone, Copy)]
enum Kind {
    Sampling,
    Elicitation,
    Defaults,
    Enums,
}

struct InputFixture {
    def: ToolDef,
    kind: Kind,
}

/// The SEP-1034 form: a default for every primitive type. Forms are JSON text parsed when asked
/// for: a `json!` literal expands to code for every key, which the Worker bundle pays for.
const DEFAULTS_FORM: &str = r#"{"type": "object", "properties": {
    "name": {"type": "string", "default": "John Doe"},
    "age": {"type": "integer", "default": 30},
    "score": {"type": "number", "default": 95.5},
    "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
    "verified": {"type": "boolean", "default": true}}}"#;

/// The SEP-1330 form: the five enum shapes (untitled and titled single-select, the legacy
/// `enumNames` form, untitled and titled multi-select).
const ENUMS_FORM: &str = r#"{"type": "object", "properties": {
    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
    "titledSingle": {"type": "string", "oneOf": [{"const": "value1", "title": "First Option"},
        {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
    "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
        "enumNames": ["Option One", "Option Two", "Option Three"]},
    "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
    "titledMulti": {"type": "array", "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
        {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}}}"#;

/// The `test_elicitation` form.
const USER_FORM: &str = r#"{"type": "object", "properties": {
    "username": {"type": "string", "description": "User's response"},
    "email": {"type": "string", "description": "User's email address"}},
    "required": ["username", "email"]}"#;

fn form(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_default()
}

fn arg<'a>(args: &'a Map<String, Value>, name: &str) -> &'a str {
    args.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// `action=…, content={…}` of an elicitation answer (content only when accepted).
fn outcome(e: &Elicited) -> String {
    match e {
        Elicited::Accepted(c) => format!("action=accept, content={}", Value::Object(c.clone())),
        other => format!("action={}", other.action()),
    }
}

impl InputFixture {
    /// The input request a first call answers with.
    fn request(&self, args: &Map<String, Value>) -> Value {
        match self.kind {
            Kind::Sampling => json!({"method": "sampling/createMessage", "params": {
                "messages": [{"role": "user", "content": {"type": "text", "text": arg(args, "prompt")}}],
                "maxTokens": 100,
            }}),
            Kind::Elicitation => elicitation::request(arg(args, "message"), form(USER_FORM)),
            Kind::Defaults => elicitation::request(
                "Please review your profile (SEP-1034 defaults)",
                form(DEFAULTS_FORM),
            ),
            Kind::Enums => {
                elicitation::request("Please choose (SEP-1330 enum schemas)", form(ENUMS_FORM))
            }
        }
    }

    /// The result for the client's `answer`.
    fn finish(&self, answer: &Value) -> Result<ToolOutput, ToolFailure> {
        let read = |schema: Value| {
            elicitation::read(answer, &schema).map_err(|e| ToolFailure::new(e.to_string()))
        };
        let text = match self.kind {
            Kind::Sampling => {
                let said = crate::sampling::sampled_text(answer)
                    .map_err(|e| ToolFailure::new(e.to_string()))?;
                format!("LLM response: {said}")
            }
            Kind::Elicitation => format!("User response: {}", outcome(&read(form(USER_FORM))?)),
            Kind::Defaults => {
                format!(
                    "Elicitation completed: {}",
                    outcome(&read(form(DEFAULTS_FORM))?)
                )
            }
            Kind::Enums => format!(
                "Elicitation completed: {}",
                outcome(&read(form(ENUMS_FORM))?)
            ),
        };
        Ok(ToolOutput::Text(text))
    }
}

impl Tool for InputFixture {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        args: Map<String, Value>,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        let out = match ctx.input.and_then(|i| i.response(KEY)) {
            Some(answer) => self.finish(&Value::Object(answer.clone())),
            None => {
                let mut requests = Map::new();
                requests.insert(KEY.into(), self.request(&args));
                Ok(ToolOutput::InputRequired {
                    requests,
                    state: Value::Null,
                })
            }
        };
        Box::pin(async move { out })
    }
}

fn fixture(name: &str, description: &str, schema: Value, kind: Kind) -> Arc<InputFixture> {
    Arc::new(InputFixture {
        def: ToolDef {
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
        },
        kind,
    })
}

/// Registers the four fixtures.
pub fn register_tools(registry: &mut Registry) {
    let string_arg = |name: &str, description: &str| json!({"type": "object", "properties": {name: {"type": "string", "description": description}}, "required": [name]});
    let none = || json!({"type": "object", "properties": {}});
    for tool in [
        fixture(
            "test_sampling",
            "Asks the client's model (sampling/createMessage) and returns its answer (conformance: tools-call-sampling).",
            string_arg("prompt", "The prompt to send to the LLM"),
            Kind::Sampling,
        ),
        fixture(
            "test_elicitation",
            "Asks the user for a username and an email (elicitation/create) and returns the answer (conformance: tools-call-elicitation).",
            string_arg("message", "The message to show the user"),
            Kind::Elicitation,
        ),
        fixture(
            "test_elicitation_sep1034_defaults",
            "Asks for a form whose fields all carry defaults (conformance: elicitation-sep1034-defaults).",
            none(),
            Kind::Defaults,
        ),
        fixture(
            "test_elicitation_sep1330_enums",
            "Asks for a form with the five enum shapes of SEP-1330 (conformance: elicitation-sep1330-enums).",
            none(),
            Kind::Enums,
        ),
    ] {
        registry.add_tool(tool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_parse() {
        for f in [DEFAULTS_FORM, ENUMS_FORM, USER_FORM] {
            assert!(serde_json::from_str::<Value>(f).is_ok_and(|v| v["properties"].is_object()));
        }
    }
}
