//! Contract checks against OpenAPI 3 documents, applied to every request a fake receives (except its
//! own `/_fake` control paths) and every reply it sends. A request is matched to an operation (path
//! template and method) of one of the service's documents; its query parameters are checked against
//! the operation's declared `in: query` parameters (undeclared name, value not of the declared schema,
//! required one missing) and its JSON body against the declared request body. A reply's status must
//! be declared (or covered by `default`), and a JSON body needs a declared JSON schema that it
//! satisfies. Anything else is a violation: an unmatched path or method, an undeclared status, a
//! missing schema. Schemas are checked with `jsonschema`; the whole document's `components` travel
//! with each schema so `$ref`s resolve.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One loaded OpenAPI document.
pub struct Contract {
    doc: Value,
    /// Path prefix the document's paths omit (Confluence v2: `/wiki/api/v2`).
    prefix: String,
    /// Where the document's paths start inside a request path (GitLab: `/api/v4/`, after any
    /// relative URL root of the instance).
    mount: Option<String>,
    templates: Vec<(String, Vec<String>)>,
    /// Statuses the live service answers that the document does not declare, each named with its
    /// source in tests/specs/README.md ("Known deviations"): `(method, template, status)`.
    undeclared: Vec<(String, String, u16)>,
    /// Statuses the live service answers in place of the one the document declares, the body
    /// still checked against the declared one's schema: `(method, template, status, declared)`.
    answered_as: Vec<(String, String, u16, u16)>,
    /// Operations whose live reply is `text/plain` where the document declares a JSON body:
    /// `(method, template)`.
    text_for_json: Vec<(String, String)>,
    /// The document's schema for error bodies, for error statuses it declares without content.
    errors: Option<Value>,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The operation a request matched: its path template, its object and its path item.
struct Operation<'a> {
    template: &'a str,
    op: &'a Value,
    item: &'a Value,
}

impl Contract {
    /// Loads `file`; request paths must start with `prefix`.
    pub fn load(file: &std::path::Path, prefix: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_json::from_slice(&std::fs::read(file)?)?;
        Ok(Self::from_doc(doc, prefix))
    }

    /// A contract over an already parsed document.
    pub fn from_doc(mut doc: Value, prefix: &str) -> Self {
        nullable_to_type(&mut doc);
        let templates = doc["paths"]
            .as_object()
            .map(|p| {
                p.keys()
                    .map(|k| (k.clone(), k.split('/').map(str::to_owned).collect()))
                    .collect()
            })
            .unwrap_or_default();
        Contract {
            doc,
            prefix: prefix.to_owned(),
            mount: None,
            templates,
            undeclared: Vec::new(),
            answered_as: Vec::new(),
            text_for_json: Vec::new(),
            errors: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Accepts `status` for `method` `template` although the document does not declare it (a known
    /// deviation of the document from the live service, listed in tests/specs/README.md); such a
    /// reply's body is checked only against [`Contract::errors_as`]'s schema (an error status).
    /// `method` and `template` `"*"` match every operation (GitLab's 401 for a bad token).
    pub fn allowing_status(mut self, method: &str, template: &str, status: u16) -> Self {
        self.undeclared
            .push((method.to_owned(), template.to_owned(), status));
        self
    }

    /// Accepts `status` for `method` `template` where the document declares `declared` instead (a
    /// known deviation listed in tests/specs/README.md: GitLab's generator writes 201 for a `POST`
    /// whose Grape endpoint sets `status 200`); the body is checked against `declared`'s schema.
    pub fn answering_as(
        mut self,
        method: &str,
        template: &str,
        status: u16,
        declared: u16,
    ) -> Self {
        self.answered_as
            .push((method.to_owned(), template.to_owned(), status, declared));
        self
    }

    /// Accepts a `text/plain` reply for `method` `template` where the document declares a JSON
    /// body for the status (a known deviation listed in tests/specs/README.md: GitLab's job log).
    pub fn text_where_json_declared(mut self, method: &str, template: &str) -> Self {
        self.text_for_json
            .push((method.to_owned(), template.to_owned()));
        self
    }

    /// Error statuses (4xx, 5xx) the document declares without content carry bodies of the
    /// document's own schema `name` (Jira: `ErrorCollection`), which they are checked against.
    pub fn errors_as(mut self, name: &str) -> Self {
        self.errors = Some(json!({"$ref": format!("#/components/schemas/{name}")}));
        self
    }

    /// Drops the `format` of the schema at `pointer` (a JSON pointer into the document): the live
    /// service reads and writes a format the document misnames (listed in tests/specs/README.md).
    pub fn without_format(mut self, pointer: &str) -> Self {
        if let Some(Value::Object(schema)) = self.doc.pointer_mut(pointer) {
            schema.remove("format");
        }
        self
    }

    /// Known deviation of GitLab's generated document (tests/specs/README.md, `contract:`): its
    /// generator declares an entity where the live API sends a list of them (a list endpoint's
    /// 200, a discussion's `notes`, a note's `suggestions`), because the Grape declarations it
    /// reads omit `is_array`. Every bare `$ref` to a schema named `prefix`… (outside an array's
    /// `items`) then accepts the entity or an array of it; each element is still checked.
    pub fn entity_refs_may_be_lists(mut self, prefix: &str) -> Self {
        let target = format!("#/components/schemas/{prefix}");
        widen_entity_refs(&mut self.doc, &target, false);
        self
    }

    /// Known deviation of GitLab's generated document (tests/specs/README.md, `contract:`): its
    /// entity schemas never mark a field nullable, while the live API (and every example of the
    /// REST pages) sends `null` for an unset field (`"start_date": null`, `"milestone": null`).
    /// Every property of a component schema named `prefix`… (nested objects' too) then also
    /// accepts `null`; any other value is still checked against the declared schema.
    pub fn entity_fields_may_be_null(mut self, prefix: &str) -> Self {
        if let Some(schemas) = self.doc["components"]["schemas"].as_object_mut() {
            for (name, schema) in schemas.iter_mut() {
                if name.starts_with(prefix) {
                    allow_null_properties(schema);
                }
            }
        }
        self
    }

    /// Request paths may carry anything before `mount`, where the document's paths begin.
    pub fn mounted_at(mut self, mount: &str) -> Self {
        self.mount = Some(mount.to_owned());
        self
    }

    /// The document's path template matching a concrete path (literal segments win over parameters).
    pub fn template(&self, path: &str) -> Option<&str> {
        let path = match &self.mount {
            Some(m) => &path[path.find(m.as_str())?..],
            None => path,
        };
        let rest = path.strip_prefix(&self.prefix)?;
        let segs: Vec<&str> = rest.split('/').collect();
        self.templates
            .iter()
            .filter(|(_, t)| {
                t.len() == segs.len()
                    && t.iter().zip(&segs).all(|(t, s)| {
                        t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                    })
            })
            .max_by_key(|(_, t)| t.iter().filter(|s| !s.starts_with('{')).count())
            .map(|(k, _)| k.as_str())
    }

    /// The operation for `method` at `path`, or why there is none.
    fn operation(&self, method: &str, path: &str) -> Result<Operation<'_>, String> {
        let Some(template) = self.template(path) else {
            return Err(format!("{method} {path} is not an operation of the API"));
        };
        let item = &self.doc["paths"][template];
        let op = &item[method.to_ascii_lowercase()];
        if !op.is_object() {
            return Err(format!(
                "{method} {template} is not an operation of the API"
            ));
        }
        Ok(Operation { template, op, item })
    }

    /// Follows a local `$ref` outside `#/components/schemas/` (those resolve inside the validator).
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with("#/") && !r.starts_with("#/components/schemas/") => {
                self.doc.pointer(&r[1..]).unwrap_or(v)
            }
            _ => v,
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(v) = self.cache.lock().unwrap().get(key) {
            return Ok(v.clone());
        }
        let mut full = schema.clone();
        if let Value::Object(map) = &mut full {
            map.insert("components".into(), self.doc["components"].clone());
        } else {
            full = json!({"allOf": [schema], "components": self.doc["components"]});
        }
        let v = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .build(&full)
                .map_err(|e| format!("schema for {key} does not compile: {e}"))?,
        );
        self.cache.lock().unwrap().insert(key.to_owned(), v.clone());
        Ok(v)
    }

    fn check(&self, key: String, schema: &Value, body: &Value) -> Result<(), String> {
        if schema.as_object().is_some_and(|o| o.is_empty()) {
            return Ok(()); // `{}`: any value
        }
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

    /// The JSON schema of a `content` map: `application/json` (any parameters), another `+json` or
    /// `*/*` media type; `None` when the map declares none.
    fn json_schema(content: &Value) -> Option<&Value> {
        let map = content.as_object()?;
        let pick = |want: &dyn Fn(&str) -> bool| {
            map.iter()
                .find(|(k, _)| want(k.split(';').next().unwrap_or("").trim()))
                .and_then(|(_, v)| v.get("schema"))
        };
        pick(&|k| k == "application/json")
            .or_else(|| pick(&|k| k.ends_with("+json")))
            .or_else(|| pick(&|k| k == "*/*"))
    }

    /// The operation's parameters (path item's, overridden by the operation's), `$ref`s followed.
    fn parameters<'a>(&'a self, op: &Operation<'a>) -> Vec<&'a Value> {
        let mut out: Vec<&Value> = Vec::new();
        for list in [&op.item["parameters"], &op.op["parameters"]] {
            for p in list.as_array().into_iter().flatten() {
                let p = self.resolve(p);
                out.retain(|q| !(q["name"] == p["name"] && q["in"] == p["in"]));
                out.push(p);
            }
        }
        out
    }

    /// A query value as the declared schema's type reads it (`false` and `3` from text).
    fn query_value(schema: &Value, values: &[&str]) -> Value {
        let one = |text: &str, schema: &Value| -> Value {
            let types: Vec<&str> = match &schema["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if types.contains(&"integer") {
                if let Ok(n) = text.parse::<i64>() {
                    return json!(n);
                }
            }
            if types.contains(&"number") {
                if let Ok(n) = text.parse::<f64>() {
                    return json!(n);
                }
            }
            if types.contains(&"boolean") && (text == "true" || text == "false") {
                return json!(text == "true");
            }
            json!(text)
        };
        if schema["type"] == "array" {
            // `style: form`: `explode: false` joins with commas; exploded arrays repeat the name.
            let items = &schema["items"];
            let parts: Vec<Value> = if schema.get("explode") == Some(&json!(false))
                || values.len() == 1 && values[0].contains(',')
            {
                values
                    .iter()
                    .flat_map(|v| v.split(','))
                    .map(|t| one(t, items))
                    .collect()
            } else {
                values.iter().map(|t| one(t, items)).collect()
            };
            Value::Array(parts)
        } else {
            one(values[values.len() - 1], schema)
        }
    }

    /// Checks the request's query parameters and JSON body against the operation's declarations.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<(), String> {
        let op = self.operation(method, path)?;
        let t = op.template;
        let params = self.parameters(&op);
        let mut problems = Vec::new();
        let mut names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
        names.dedup();
        for name in &names {
            let declared = |n: &str| params.iter().find(|p| p["in"] == "query" && p["name"] == n);
            // Rack's array syntax (`scope[]=failed&scope[]=canceled`, which jobs.md documents)
            // names the declared parameter `scope`; its values then form an array.
            let (p, rack_array) = match declared(name) {
                Some(p) => (p, false),
                None => match name.strip_suffix("[]").and_then(declared) {
                    Some(p) => (p, true),
                    None => {
                        problems.push(format!("undeclared query parameter '{name}'"));
                        continue;
                    }
                },
            };
            let values: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            let schema = self.resolve(&p["schema"]);
            let mut schema_for_read = schema.clone();
            if let (Some(e), Value::Object(m)) = (p.get("explode"), &mut schema_for_read) {
                m.insert("explode".into(), e.clone());
            }
            let value = if rack_array {
                Value::Array(values.iter().map(|v| json!(v)).collect())
            } else {
                Self::query_value(&schema_for_read, &values)
            };
            if let Err(e) = self.check(format!("query '{name}' of {method} {t}"), schema, &value) {
                problems.push(e);
            }
        }
        for p in &params {
            if p["in"] == "query"
                && p["required"] == true
                && !names.contains(&p["name"].as_str().unwrap_or(""))
            {
                problems.push(format!("required query parameter {} missing", p["name"]));
            }
        }
        let rb = self.resolve(&op.op["requestBody"]);
        match body {
            Some(_) if rb.is_null() => problems.push("the operation takes no request body".into()),
            Some(b) => match Self::json_schema(&rb["content"]) {
                Some(schema) => {
                    if let Err(e) = self.check(format!("request {method} {t}"), schema, b) {
                        problems.push(e);
                    }
                }
                None => problems.push("the operation declares no JSON request body schema".into()),
            },
            None if rb["required"] == true => problems.push("the request body is required".into()),
            None => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("request {method} {t}: {}", problems.join("; ")))
        }
    }

    /// Checks a reply: `status` declared for the operation (or `default`), and a JSON body against
    /// the declared schema (a JSON body where none is declared is a violation).
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let op = self.operation(method, path)?;
        let t = op.template;
        let responses = &op.op["responses"];
        let class = format!("{}XX", status / 100);
        let alias = self
            .answered_as
            .iter()
            .find(|(m, tt, s, _)| m == method && tt == t && *s == status)
            .map(|(_, _, _, d)| d.to_string());
        let Some(declared) = responses
            .get(status.to_string())
            .or_else(|| alias.and_then(|a| responses.get(a)))
            .or_else(|| responses.get(&class))
            .or_else(|| responses.get("default"))
        else {
            if self.undeclared.iter().any(|(m, tt, s)| {
                (m == method || m == "*") && (tt == t || tt == "*") && *s == status
            }) {
                // An error body is still held to the document's error schema, when it has one.
                return match (&self.errors, body) {
                    (Some(e), Some(b)) if status >= 400 => {
                        self.check(format!("response {status} {method} {t}"), e, b)
                    }
                    _ => Ok(()),
                };
            }
            return Err(format!(
                "response {status} {method} {t}: status not declared"
            ));
        };
        let declared = self.resolve(declared);
        let schema = Self::json_schema(&declared["content"]).or(
            match (&self.errors, declared.get("content")) {
                (Some(e), None) if status >= 400 => Some(e),
                _ => None,
            },
        );
        match (body, schema) {
            (None, _) => Ok(()),
            (Some(b), Some(schema)) => {
                self.check(format!("response {status} {method} {t}"), schema, b)
            }
            (Some(_), None) => Err(format!(
                "response {status} {method} {t}: a JSON body where the document declares no JSON schema"
            )),
        }
    }
}

impl Contract {
    /// Checks a `text/plain` reply (GitLab job logs): `status` declared, and the declared response
    /// content has `text/plain` with a string schema.
    pub fn check_text_response(&self, method: &str, path: &str, status: u16) -> Result<(), String> {
        let op = self.operation(method, path)?;
        let t = op.template;
        let declared = op.op["responses"]
            .get(status.to_string())
            .map(|d| self.resolve(d))
            .ok_or_else(|| format!("response {status} {method} {t}: status not declared"))?;
        let text = declared["content"].as_object().and_then(|m| {
            m.iter()
                .find(|(k, _)| k.split(';').next().unwrap_or("").trim() == "text/plain")
        });
        let allowed = self
            .text_for_json
            .iter()
            .any(|(m, tt)| m == method && tt == t);
        match text {
            Some((_, media)) if media["schema"]["type"] == "string" => Ok(()),
            None if allowed && Self::json_schema(&declared["content"]).is_some() => Ok(()),
            _ => Err(format!(
                "response {status} {method} {t}: a text/plain body where the document declares none"
            )),
        }
    }
}

impl Contract {
    /// Checks a binary reply (Jira attachment content): `status` declared, and the declared
    /// response has no JSON schema (the document describes the body as the file's bytes).
    pub fn check_raw_response(&self, method: &str, path: &str, status: u16) -> Result<(), String> {
        let op = self.operation(method, path)?;
        let t = op.template;
        let declared = op.op["responses"]
            .get(status.to_string())
            .map(|d| self.resolve(d))
            .ok_or_else(|| format!("response {status} {method} {t}: status not declared"))?;
        match Self::json_schema(&declared["content"]) {
            Some(s) if s.get("type").is_some_and(|t| t != "string") => Err(format!(
                "response {status} {method} {t}: a binary body where the document declares JSON"
            )),
            _ => Ok(()),
        }
    }
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` added to the `type` (the validator
/// follows JSON Schema, which does not know `nullable`).
fn nullable_to_type(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true)) {
                match map.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = t.clone();
                        map.insert("type".into(), json!([t, "null"]));
                    }
                    Some(Value::Array(ts)) if !ts.contains(&json!("null")) => {
                        ts.push(json!("null"))
                    }
                    _ => {}
                }
            }
            for child in map.values_mut() {
                nullable_to_type(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_type),
        _ => {}
    }
}

/// See [`Contract::entity_refs_may_be_lists`]: `{"$ref": X}` becomes "X or an array of X" for refs
/// starting with `target`, except directly under `items` (already a list element).
fn widen_entity_refs(v: &mut Value, target: &str, under_items: bool) {
    match v {
        Value::Object(map) => {
            let bare_ref = map.len() == 1
                && map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .is_some_and(|r| r.starts_with(target));
            if bare_ref && !under_items {
                let r = map["$ref"].clone();
                *v = json!({"anyOf": [{"$ref": r}, {"type": "array", "items": {"$ref": r}}]});
                return;
            }
            for (k, child) in map.iter_mut() {
                widen_entity_refs(child, target, k == "items");
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|c| widen_entity_refs(c, target, false)),
        _ => {}
    }
}

/// See [`Contract::entity_fields_may_be_null`]: each value of every `properties` map below `v`
/// becomes "that schema or null".
fn allow_null_properties(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                allow_null_properties(child);
            }
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for p in props.values_mut() {
                    *p = json!({"anyOf": [p.take(), {"type": "null"}]});
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(allow_null_properties),
        _ => {}
    }
}

/// The documents of one fake service; each request is checked against the one that has its path.
pub struct Contracts(Vec<Contract>);

impl Contracts {
    /// The service's documents, in lookup order.
    pub fn new(docs: Vec<Contract>) -> Self {
        Contracts(docs)
    }

    fn find(&self, path: &str) -> Result<&Contract, String> {
        self.0
            .iter()
            .find(|c| c.template(path).is_some())
            .ok_or_else(|| format!("{path} is not a path of the API's documents"))
    }

    /// [`Contract::check_request`] against the document that has `path`; no document: a violation.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<(), String> {
        self.find(path)
            .map_err(|e| format!("{method} {e}"))?
            .check_request(method, path, query, body)
    }

    /// [`Contract::check_text_response`] against the document that has `path`.
    pub fn check_raw_response(&self, method: &str, path: &str, status: u16) -> Result<(), String> {
        self.find(path)
            .map_err(|e| format!("{method} {e}"))?
            .check_raw_response(method, path, status)
    }

    pub fn check_text_response(&self, method: &str, path: &str, status: u16) -> Result<(), String> {
        self.find(path)
            .map_err(|e| format!("{method} {e}"))?
            .check_text_response(method, path, status)
    }

    /// [`Contract::check_response`] against the document that has `path`; no document: a violation.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        self.find(path)
            .map_err(|e| format!("{method} {e}"))?
            .check_response(method, path, status, body)
    }
}
