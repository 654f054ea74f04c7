//! `SchemaValidator`: tool arguments checked against a tool's `inputSchema`, compiled once.
//!
//! It implements the JSON Schema (2020-12) keywords that tool input schemas use: `type`, `properties`,
//! `required`, `additionalProperties`, `enum`, `const`, `minimum`/`maximum` (and the exclusive forms),
//! `multipleOf`, `minLength`/`maxLength`, `pattern` (ECMA-style, through `regex-lite`),
//! `items`, `minItems`/`maxItems`, `uniqueItems`, `minProperties`/`maxProperties`, `allOf`, `anyOf`,
//! `oneOf`, `not`, and boolean schemas; annotations (`description`, `title`, `default`, `examples`,
//! `format`, …) are accepted and ignored. A schema using any other keyword is refused when it is
//! compiled, so no tool can silently go unvalidated. This replaces the full `jsonschema` crate in the
//! core: its regex engines and Unicode tables were about half of the Worker bundle; the test suite
//! cross-checks this validator against `jsonschema` on every tool schema.

use std::fmt;

use serde_json::{Map, Value};

/// A schema that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema at {path}: {reason}")]
pub struct SchemaError {
    /// JSON Pointer to the offending part of the schema.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// The first way an instance fails its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer to the failing part of the instance (empty for the root).
    pub instance_path: String,
    /// What is wrong, in JSON Schema's usual wording.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "contentMediaType",
    "contentEncoding",
    // SEP-2243: the argument is mirrored in an `Mcp-Param-*` header (checked by the transport).
    "x-mcp-header",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "null" => JsonType::Null,
            "boolean" => JsonType::Boolean,
            "integer" => JsonType::Integer,
            "number" => JsonType::Number,
            "string" => JsonType::String,
            "array" => JsonType::Array,
            "object" => JsonType::Object,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    fn matches(self, v: &Value) -> bool {
        match (self, v) {
            (JsonType::Null, Value::Null)
            | (JsonType::Boolean, Value::Bool(_))
            | (JsonType::Number, Value::Number(_))
            | (JsonType::String, Value::String(_))
            | (JsonType::Array, Value::Array(_))
            | (JsonType::Object, Value::Object(_)) => true,
            // As the specification says: any number with a zero fractional part (`2.0` too).
            (JsonType::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
}

/// One compiled schema node.
#[derive(Debug, Default)]
struct Node {
    /// A boolean schema (`true` accepts everything, `false` nothing).
    constant_verdict: Option<bool>,
    types: Option<Vec<JsonType>>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    additional: Option<Box<Node>>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    multiple_of: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<(String, regex_lite::Regex)>,
    items: Option<Box<Node>>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    all_of: Vec<Node>,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    not: Option<Box<Node>>,
}

/// A compiled input schema.
#[derive(Debug)]
pub struct SchemaValidator {
    root: Node,
}

fn pointer_push(path: &str, segment: &str) -> String {
    format!("{path}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

fn bad(path: &str, keyword: &str, reason: &str) -> SchemaError {
    SchemaError {
        path: pointer_push(path, keyword),
        reason: reason.to_owned(),
    }
}

fn number(path: &str, keyword: &str, v: &Value) -> Result<f64, SchemaError> {
    v.as_f64()
        .ok_or_else(|| bad(path, keyword, "must be a number"))
}

fn count(path: &str, keyword: &str, v: &Value) -> Result<u64, SchemaError> {
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
        .ok_or_else(|| bad(path, keyword, "must be a non-negative integer"))
}

fn subschemas(path: &str, keyword: &str, v: &Value) -> Result<Vec<Node>, SchemaError> {
    let list = v
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| bad(path, keyword, "must be a non-empty array of schemas"))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            Node::compile(
                s,
                &pointer_push(&pointer_push(path, keyword), &i.to_string()),
            )
        })
        .collect()
}

impl Node {
    fn compile(schema: &Value, path: &str) -> Result<Node, SchemaError> {
        let obj = match schema {
            Value::Bool(b) => {
                return Ok(Node {
                    constant_verdict: Some(*b),
                    ..Node::default()
                })
            }
            Value::Object(o) => o,
            _ => {
                return Err(SchemaError {
                    path: path.to_owned(),
                    reason: "a schema must be an object or a boolean".into(),
                })
            }
        };
        let mut node = Node::default();
        for (key, v) in obj {
            let key = key.as_str();
            match key {
                "type" => {
                    let names: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        one => vec![one],
                    };
                    let types = names
                        .iter()
                        .map(|n| n.as_str().and_then(JsonType::parse))
                        .collect::<Option<Vec<_>>>()
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| bad(path, key, "must name JSON types"))?;
                    node.types = Some(types);
                }
                "properties" => {
                    let props = v
                        .as_object()
                        .ok_or_else(|| bad(path, key, "must be an object"))?;
                    for (name, sub) in props {
                        let at = pointer_push(&pointer_push(path, key), name);
                        node.properties
                            .push((name.clone(), Node::compile(sub, &at)?));
                    }
                }
                "required" => {
                    node.required = v
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|s| s.as_str().map(str::to_owned))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| bad(path, key, "must be an array of names"))?;
                }
                "additionalProperties" => {
                    node.additional = Some(Box::new(Node::compile(v, &pointer_push(path, key))?));
                }
                "enum" => {
                    node.enumeration = Some(
                        v.as_array()
                            .cloned()
                            .ok_or_else(|| bad(path, key, "must be an array"))?,
                    );
                }
                "const" => node.constant = Some(v.clone()),
                "minimum" => node.minimum = Some(number(path, key, v)?),
                "maximum" => node.maximum = Some(number(path, key, v)?),
                "exclusiveMinimum" => node.exclusive_minimum = Some(number(path, key, v)?),
                "exclusiveMaximum" => node.exclusive_maximum = Some(number(path, key, v)?),
                "multipleOf" => {
                    let m = number(path, key, v)?;
                    if m <= 0.0 {
                        return Err(bad(path, key, "must be greater than 0"));
                    }
                    node.multiple_of = Some(m);
                }
                "minLength" => node.min_length = Some(count(path, key, v)?),
                "maxLength" => node.max_length = Some(count(path, key, v)?),
                "pattern" => {
                    let text = v
                        .as_str()
                        .ok_or_else(|| bad(path, key, "must be a string"))?;
                    let re = regex_lite::Regex::new(text)
                        .map_err(|e| bad(path, key, &format!("is not a valid pattern: {e}")))?;
                    node.pattern = Some((text.to_owned(), re));
                }
                "items" => {
                    node.items = Some(Box::new(Node::compile(v, &pointer_push(path, key))?));
                }
                "minItems" => node.min_items = Some(count(path, key, v)?),
                "maxItems" => node.max_items = Some(count(path, key, v)?),
                "uniqueItems" => {
                    node.unique_items = v
                        .as_bool()
                        .ok_or_else(|| bad(path, key, "must be a boolean"))?
                }
                "minProperties" => node.min_properties = Some(count(path, key, v)?),
                "maxProperties" => node.max_properties = Some(count(path, key, v)?),
                "allOf" => node.all_of = subschemas(path, key, v)?,
                "anyOf" => node.any_of = subschemas(path, key, v)?,
                "oneOf" => node.one_of = subschemas(path, key, v)?,
                "not" => node.not = Some(Box::new(Node::compile(v, &pointer_push(path, key))?)),
                _ if ANNOTATIONS.contains(&key) => {}
                other => {
                    return Err(SchemaError {
                        path: pointer_push(path, other),
                        reason: format!(
                            "keyword '{other}' is not supported by the tool-argument validator"
                        ),
                    })
                }
            }
        }
        Ok(node)
    }

    fn check(&self, v: &Value, path: &str) -> Option<Violation> {
        let fail = |message: String| {
            Some(Violation {
                instance_path: path.to_owned(),
                message,
            })
        };
        match self.constant_verdict {
            Some(true) => return None,
            Some(false) => return fail("False schema does not allow ".to_owned() + &v.to_string()),
            None => {}
        }
        if let Some(types) = &self.types {
            if !types.iter().any(|t| t.matches(v)) {
                let names: Vec<String> =
                    types.iter().map(|t| format!("\"{}\"", t.name())).collect();
                return fail(if names.len() == 1 {
                    format!("{v} is not of type {}", names[0])
                } else {
                    format!("{v} is not of types {}", names.join(", "))
                });
            }
        }
        if let Some(options) = &self.enumeration {
            if !options.iter().any(|o| json_eq(o, v)) {
                return fail(format!(
                    "{v} is not one of {}",
                    Value::Array(options.clone())
                ));
            }
        }
        if let Some(c) = &self.constant {
            if !json_eq(c, v) {
                return fail(format!("{c} was expected"));
            }
        }
        match v {
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = self.minimum.filter(|m| x < *m) {
                    return fail(format!("{v} is less than the minimum of {}", show(min)));
                }
                if let Some(max) = self.maximum.filter(|m| x > *m) {
                    return fail(format!("{v} is greater than the maximum of {}", show(max)));
                }
                if let Some(min) = self.exclusive_minimum.filter(|m| x <= *m) {
                    return fail(format!(
                        "{v} is less than or equal to the minimum of {}",
                        show(min)
                    ));
                }
                if let Some(max) = self.exclusive_maximum.filter(|m| x >= *m) {
                    return fail(format!(
                        "{v} is greater than or equal to the maximum of {}",
                        show(max)
                    ));
                }
                if let Some(m) = self.multiple_of {
                    let q = x / m;
                    if !q.is_finite() || (q - q.round()).abs() > 1e-9 {
                        return fail(format!("{v} is not a multiple of {}", show(m)));
                    }
                }
            }
            Value::String(s) => {
                let chars = s.chars().count() as u64;
                if let Some(min) = self.min_length.filter(|m| chars < *m) {
                    return fail(format!(
                        "{v} is shorter than {min} character{}",
                        plural(min)
                    ));
                }
                if let Some(max) = self.max_length.filter(|m| chars > *m) {
                    return fail(format!("{v} is longer than {max} character{}", plural(max)));
                }
                if let Some((text, re)) = &self.pattern {
                    if !re.is_match(s) {
                        return fail(format!("{v} does not match \"{text}\""));
                    }
                }
            }
            Value::Array(items) => {
                let n = items.len() as u64;
                if let Some(min) = self.min_items.filter(|m| n < *m) {
                    return fail(format!("{v} has less than {min} item{}", plural(min)));
                }
                if let Some(max) = self.max_items.filter(|m| n > *m) {
                    return fail(format!("{v} has more than {max} item{}", plural(max)));
                }
                if self.unique_items {
                    for (i, a) in items.iter().enumerate() {
                        if items[..i].iter().any(|b| json_eq(a, b)) {
                            return fail(format!("{v} has non-unique elements"));
                        }
                    }
                }
                if let Some(item) = &self.items {
                    for (i, x) in items.iter().enumerate() {
                        if let Some(e) = item.check(x, &pointer_push(path, &i.to_string())) {
                            return Some(e);
                        }
                    }
                }
            }
            Value::Object(map) => {
                if let Some(e) = self.check_object(v, map, path) {
                    return Some(e);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
        for sub in &self.all_of {
            if let Some(e) = sub.check(v, path) {
                return Some(e);
            }
        }
        if !self.any_of.is_empty() && self.any_of.iter().all(|s| s.check(v, path).is_some()) {
            return fail(format!(
                "{v} is not valid under any of the schemas listed in the 'anyOf' keyword"
            ));
        }
        if !self.one_of.is_empty() {
            let passing = self
                .one_of
                .iter()
                .filter(|s| s.check(v, path).is_none())
                .count();
            if passing == 0 {
                return fail(format!(
                    "{v} is not valid under any of the schemas listed in the 'oneOf' keyword"
                ));
            }
            if passing > 1 {
                return fail(format!(
                    "{v} is valid under more than one of the schemas listed in the 'oneOf' keyword"
                ));
            }
        }
        if let Some(not) = &self.not {
            if not.check(v, path).is_none() {
                return fail(format!("{v} should not be valid under the 'not' schema"));
            }
        }
        None
    }

    fn check_object(&self, v: &Value, map: &Map<String, Value>, path: &str) -> Option<Violation> {
        let fail = |message: String| {
            Some(Violation {
                instance_path: path.to_owned(),
                message,
            })
        };
        let n = map.len() as u64;
        if let Some(min) = self.min_properties.filter(|m| n < *m) {
            return fail(format!("{v} has less than {min} propert{}", ies(min)));
        }
        if let Some(max) = self.max_properties.filter(|m| n > *m) {
            return fail(format!("{v} has more than {max} propert{}", ies(max)));
        }
        for name in &self.required {
            if !map.contains_key(name) {
                return fail(format!("\"{name}\" is a required property"));
            }
        }
        for (name, sub) in &self.properties {
            if let Some(x) = map.get(name) {
                if let Some(e) = sub.check(x, &pointer_push(path, name)) {
                    return Some(e);
                }
            }
        }
        if let Some(additional) = &self.additional {
            let mut extra = map
                .keys()
                .filter(|k| !self.properties.iter().any(|(p, _)| p == *k));
            if additional.constant_verdict == Some(false) {
                let unexpected: Vec<String> = extra.map(|k| format!("'{k}'")).collect();
                if !unexpected.is_empty() {
                    let verb = if unexpected.len() == 1 { "was" } else { "were" };
                    return fail(format!(
                        "Additional properties are not allowed ({} {verb} unexpected)",
                        unexpected.join(", ")
                    ));
                }
            } else if let Some(e) =
                extra.find_map(|k| additional.check(&map[k], &pointer_push(path, k)))
            {
                return Some(e);
            }
        }
        None
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn ies(n: u64) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

/// A bound as written: integers without a fraction.
fn show(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(p), Some(q)) => p == q,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(p), Some(q)) => p == q,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

impl SchemaValidator {
    /// Compiles `schema`; refuses keywords it does not implement.
    pub fn new(schema: &Value) -> Result<Self, SchemaError> {
        Ok(SchemaValidator {
            root: Node::compile(schema, "")?,
        })
    }

    /// The first violation of `instance`, if any.
    pub fn first_violation(&self, instance: &Value) -> Option<Violation> {
        self.root.check(instance, "")
    }

    /// Whether `instance` satisfies the schema.
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.first_violation(instance).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value, instance: Value) -> Option<Violation> {
        SchemaValidator::new(&schema)
            .unwrap()
            .first_violation(&instance)
    }

    #[test]
    fn reports_the_path_and_reason() {
        let schema = json!({
            "type": "object",
            "properties": {
                "key": {"type": "string", "pattern": "^[A-Z]+-[0-9]+$"},
                "n": {"type": "integer", "minimum": 1, "maximum": 10},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "id": {"type": ["string", "integer"]},
                "mode": {"enum": ["a", "b"]}
            },
            "required": ["key"],
            "additionalProperties": false
        });
        let v = |i: Value| check(schema.clone(), i);
        assert_eq!(v(json!({"key": "AB-1"})), None);
        let e = v(json!({})).unwrap();
        assert_eq!(
            (e.instance_path.as_str(), e.message.as_str()),
            ("", "\"key\" is a required property")
        );
        let e = v(json!({"key": "ab-1"})).unwrap();
        assert_eq!(e.instance_path, "/key");
        assert!(e.message.contains("does not match"), "{e}");
        assert_eq!(
            v(json!({"key": "A-1", "n": 0})).unwrap().instance_path,
            "/n"
        );
        assert!(
            v(json!({"key": "A-1", "n": 2.0})).is_none(),
            "2.0 is an integer"
        );
        assert!(v(json!({"key": "A-1", "n": 2.5})).is_some());
        assert_eq!(
            v(json!({"key": "A-1", "tags": ["x", ""]}))
                .unwrap()
                .instance_path,
            "/tags/1"
        );
        assert!(v(json!({"key": "A-1", "id": 7})).is_none());
        assert!(v(json!({"key": "A-1", "id": true}))
            .unwrap()
            .message
            .contains("is not of types"));
        assert!(v(json!({"key": "A-1", "mode": "c"})).is_some());
        let e = v(json!({"key": "A-1", "extra": 1})).unwrap();
        assert!(e.message.contains("'extra' was unexpected"), "{e}");
        assert!(v(json!("not an object")).is_some());
    }

    #[test]
    fn combinators_and_boolean_schemas() {
        let any = json!({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]});
        assert!(check(any.clone(), json!("x")).is_none());
        assert!(check(any.clone(), json!(-1)).is_some());
        let one = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
        assert!(
            check(one.clone(), json!(1)).is_some(),
            "an integer matches both"
        );
        assert!(check(one, json!(1.5)).is_none());
        assert!(check(json!({"not": {"type": "null"}}), json!(null)).is_some());
        assert!(check(json!(false), json!(1)).is_some());
        assert!(check(json!(true), json!(1)).is_none());
        assert!(check(json!({"uniqueItems": true}), json!([1, 1.0])).is_some());
        assert!(check(json!({"const": 1}), json!(1.0)).is_none());
        assert!(check(json!({"multipleOf": 0.5}), json!(1.5)).is_none());
        assert!(check(json!({"multipleOf": 0.5}), json!(1.2)).is_some());
    }

    #[test]
    fn refuses_what_it_cannot_check() {
        let e = SchemaValidator::new(&json!({"properties": {"a": {"$ref": "#/x"}}})).unwrap_err();
        assert_eq!(e.path, "/properties/a/$ref");
        assert!(SchemaValidator::new(&json!({"pattern": "("})).is_err());
        assert!(SchemaValidator::new(&json!({"type": "strin"})).is_err());
        assert!(SchemaValidator::new(&json!({"minLength": -1})).is_err());
        assert!(SchemaValidator::new(&json!(3)).is_err());
        assert!(SchemaValidator::new(&json!({"description": "x", "format": "uri"})).is_ok());
    }
}
