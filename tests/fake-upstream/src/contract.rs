//! Contract checks against an OpenAPI 3 document: finds the operation for a method and concrete
//! path, and validates a JSON request body or response body against the declared schema with
//! `jsonschema` (the whole document's `components` travel with each schema so `$ref`s resolve).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

/// One loaded OpenAPI document.
pub struct Contract {
    doc: Value,
    /// Path prefix the document's paths omit (Confluence v2: `/wiki/api/v2`).
    prefix: String,
    templates: Vec<(String, Vec<String>)>,
    cache: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

impl Contract {
    /// Loads `file`; request paths must start with `prefix`.
    pub fn load(file: &std::path::Path, prefix: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_json::from_slice(&std::fs::read(file)?)?;
        let templates = doc["paths"]
            .as_object()
            .map(|p| {
                p.keys()
                    .map(|k| (k.clone(), k.split('/').map(str::to_owned).collect()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Contract {
            doc,
            prefix: prefix.to_owned(),
            templates,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The document's path template matching a concrete path (literal segments win over parameters).
    pub fn template(&self, path: &str) -> Option<&str> {
        let rest = path.strip_prefix(&self.prefix)?;
        let segs: Vec<&str> = rest.split('/').collect();
        self.templates
            .iter()
            .filter(|(_, t)| {
                t.len() == segs.len()
                    && t.iter()
                        .zip(&segs)
                        .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
            })
            .max_by_key(|(_, t)| t.iter().filter(|s| !s.starts_with('{')).count())
            .map(|(k, _)| k.as_str())
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with("#/") && !r.starts_with("#/components/schemas/") => {
                self.doc.pointer(&r[1..]).unwrap_or(v)
            }
            _ => v,
        }
    }

    fn validator(
        &self,
        key: &str,
        schema: &Value,
    ) -> Result<std::sync::Arc<jsonschema::Validator>, String> {
        if let Some(v) = self.cache.lock().unwrap().get(key) {
            return Ok(v.clone());
        }
        let mut full = schema.clone();
        if let Value::Object(map) = &mut full {
            map.insert("components".into(), self.doc["components"].clone());
        } else {
            full = json!({"allOf": [schema], "components": self.doc["components"]});
        }
        let v = std::sync::Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .build(&full)
                .map_err(|e| format!("schema for {key} does not compile: {e}"))?,
        );
        self.cache.lock().unwrap().insert(key.to_owned(), v.clone());
        Ok(v)
    }

    fn check(&self, key: String, schema: Option<&Value>, body: &Value) -> Result<(), String> {
        let Some(schema) = schema.filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) else {
            return Ok(());
        };
        let validator = self.validator(&key, schema)?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            // Known deviation (tests/specs/README.md): Confluence v2 page bodies are a `oneOf` whose
            // branches both match a plain storage body; the live service accepts it.
            .filter(|e| {
                !(matches!(
                    e.kind,
                    jsonschema::error::ValidationErrorKind::OneOfMultipleValid { .. }
                ) && e.instance_path.to_string() == "/body")
            })
            .take(3)
            .map(|e| format!("{} at '{}'", e, e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{key}: {}", errors.join("; ")))
        }
    }

    /// Validates a request body; `Err` names the operation and the failing paths.
    pub fn check_request(&self, method: &str, path: &str, body: &Value) -> Result<(), String> {
        let Some(t) = self.template(path) else {
            return Err(format!("{method} {path} is not an operation of the API"));
        };
        let op = &self.doc["paths"][t][method.to_ascii_lowercase()];
        if op.is_null() {
            return Err(format!("{method} {t} is not an operation of the API"));
        }
        let rb = self.resolve(&op["requestBody"]);
        let schema = rb["content"]["application/json"].get("schema");
        self.check(format!("request {method} {t}"), schema, body)
    }

    /// Validates a response body for `status` (falling back to `default`).
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let Some(t) = self.template(path) else {
            return Ok(());
        };
        let op = &self.doc["paths"][t][method.to_ascii_lowercase()];
        let responses = &op["responses"];
        let declared = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"));
        let Some(declared) = declared else {
            return Ok(());
        };
        let declared = self.resolve(declared);
        let schema = declared["content"]["application/json"].get("schema");
        self.check(format!("response {status} {method} {t}"), schema, body)
    }
}
