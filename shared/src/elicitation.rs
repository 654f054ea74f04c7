//! `elicitation/create` (form mode) for the gateway's own tools: the one place that builds the
//! request and reads the client's `ElicitResult` against the schema that was asked for.
//!
//! The same request travels two ways: inside a 2026-07-28 `input_required` result
//! ([`request`]), or on a 2025 session's `GET` stream while the call waits
//! ([`ask`] over a [`crate::sampling::ClientChannel`]); either way the answer goes through [`read`].
//! `requestedSchema` is the restricted form the spec allows (a flat object of primitive
//! properties: string, number/integer, boolean, and the SEP-1330 enum shapes), with optional
//! SEP-1034 `default`s. An accepted answer gets the defaults of the fields it left out, then must
//! satisfy the schema (checked by [`crate::validator`], so "valid" means what it means for tool
//! arguments); anything else is [`ClientRequestError::Malformed`], never trusted as input.

use serde_json::{json, Map, Value};

use crate::sampling::{ClientChannel, ClientRequestError};
use crate::validator::SchemaValidator;

/// `elicitation/create` params: a message for the person and the form's schema (form mode, the
/// default `mode`, left out so 2025-06-18 clients read it too).
pub fn params(message: &str, requested_schema: Value) -> Value {
    json!({"message": message, "requestedSchema": requested_schema})
}

/// The `{method, params}` input request for an `input_required` result.
pub fn request(message: &str, requested_schema: Value) -> Value {
    json!({"method": "elicitation/create", "params": params(message, requested_schema)})
}

/// What the person did with the form.
#[derive(Debug, Clone, PartialEq)]
pub enum Elicited {
    /// Submitted: the content, defaults filled in, valid against the requested schema.
    Accepted(Map<String, Value>),
    /// Explicitly said no.
    Declined,
    /// Dismissed the form without choosing.
    Cancelled,
}

impl Elicited {
    /// The `action` word of the answer (`accept`, `decline`, `cancel`).
    pub fn action(&self) -> &'static str {
        match self {
            Elicited::Accepted(_) => "accept",
            Elicited::Declined => "decline",
            Elicited::Cancelled => "cancel",
        }
    }
}

fn malformed(why: String) -> ClientRequestError {
    ClientRequestError::Malformed(why)
}

/// Reads an `ElicitResult` for a request that asked for `requested_schema`.
pub fn read(result: &Value, requested_schema: &Value) -> Result<Elicited, ClientRequestError> {
    match result.get("action").and_then(Value::as_str) {
        Some("decline") => return Ok(Elicited::Declined),
        Some("cancel") => return Ok(Elicited::Cancelled),
        Some("accept") => {}
        Some(other) => {
            return Err(malformed(format!(
                "the elicitation action '{other}' is not accept, decline or cancel"
            )))
        }
        None => return Err(malformed("the ElicitResult has no action".into())),
    }
    let mut content = match result.get("content") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(malformed("the accepted content is not an object".into())),
    };
    let properties = requested_schema
        .get("properties")
        .and_then(Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        if let (false, Some(default)) = (content.contains_key(name), property.get("default")) {
            content.insert(name.clone(), default.clone());
        }
    }
    // The form is closed: a field it did not ask for is not an answer to it.
    if let Some(extra) = content
        .keys()
        .find(|k| properties.is_none_or(|p| !p.contains_key(*k)))
    {
        return Err(malformed(format!(
            "the accepted content has a field '{extra}' the form did not ask for"
        )));
    }
    let validator = SchemaValidator::new(&without_enum_names(requested_schema))
        .map_err(|e| malformed(format!("the requested schema cannot be checked: {e}")))?;
    let content = Value::Object(content);
    if let Some(v) = validator.first_violation(&content) {
        let at = v.instance_path.trim_start_matches('/');
        return Err(malformed(format!(
            "the accepted content does not fit the form at '{at}': {}",
            v.message
        )));
    }
    match content {
        Value::Object(content) => Ok(Elicited::Accepted(content)),
        _ => Err(malformed("the accepted content is not an object".into())),
    }
}

/// The schema without `enumNames` (the deprecated titles of a legacy enum, SEP-1330): an MCP
/// annotation the JSON Schema validator does not know, so it would refuse the schema.
fn without_enum_names(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for p in props.values_mut().filter_map(Value::as_object_mut) {
            p.remove("enumNames");
        }
    }
    schema
}

/// Sends a form-mode `elicitation/create` on `channel` and reads the answer against
/// `requested_schema` ([`read`]); waits at most `wait_ms`.
pub async fn ask(
    channel: &ClientChannel<'_>,
    message: &str,
    requested_schema: Value,
    wait_ms: u64,
) -> Result<Elicited, ClientRequestError> {
    let params = params(message, requested_schema.clone());
    let answer = channel.ask("elicitation/create", params, wait_ms).await?;
    read(&answer, &requested_schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "minimum": 0, "default": 30},
            "tier": {"type": "string", "enum": ["a", "b"], "enumNames": ["A", "B"]},
            "tags": {"type": "array", "items": {"anyOf": [{"const": "x", "title": "X"}, {"const": "y", "title": "Y"}]}},
        }, "required": ["name", "tier"]})
    }

    #[test]
    fn an_accepted_answer_gets_its_defaults_and_must_fit_the_form() {
        let r = read(
            &json!({"action": "accept", "content": {"tier": "b", "tags": ["y"]}}),
            &schema(),
        );
        let Ok(Elicited::Accepted(c)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(c["name"], "John Doe");
        assert_eq!(c["age"], 30);
        assert_eq!(c["tags"], json!(["y"]));
        let bad =
            |content: Value| read(&json!({"action": "accept", "content": content}), &schema());
        // Required without a default, outside the enum, a wrong type, a multi-select value off the
        // list, a field nobody asked for: each refused.
        for c in [
            json!({}),
            json!({"tier": "c"}),
            json!({"tier": "a", "age": "old"}),
            json!({"tier": "a", "tags": ["z"]}),
            json!({"tier": "a", "extra": 1}),
        ] {
            assert!(
                matches!(bad(c.clone()), Err(ClientRequestError::Malformed(_))),
                "{c}"
            );
        }
    }

    #[test]
    fn decline_and_cancel_carry_no_content_and_other_actions_are_refused() {
        assert_eq!(
            read(&json!({"action": "decline"}), &schema()),
            Ok(Elicited::Declined)
        );
        assert_eq!(
            read(&json!({"action": "cancel"}), &schema()),
            Ok(Elicited::Cancelled)
        );
        assert_eq!(Elicited::Cancelled.action(), "cancel");
        for r in [
            json!({}),
            json!({"action": "maybe"}),
            json!({"action": "accept", "content": [1]}),
        ] {
            assert!(
                matches!(read(&r, &schema()), Err(ClientRequestError::Malformed(_))),
                "{r}"
            );
        }
    }

    #[test]
    fn the_request_is_form_mode_elicitation() {
        let r = request("Pick one", schema());
        assert_eq!(r["method"], "elicitation/create");
        assert_eq!(r["params"]["message"], "Pick one");
        assert_eq!(r["params"]["requestedSchema"], schema());
    }
}
