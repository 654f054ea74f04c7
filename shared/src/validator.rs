//! `SchemaValidator`: tool arguments checked against a tool's `inputSchema`, compiled once.
//!
//! Tool schemas are JSON Schema 2020-12 (the default dialect of MCP since 2025-11-25; SEP-1613,
//! SEP-2106), and this validator implements that dialect's assertions and applicators:
//! - core: `$schema` (2020-12 only: another dialect is refused, as the MCP specification asks),
//!   `$id` (at the root), `$ref` (same-document only: `#`, JSON Pointers such as `#/$defs/x` or
//!   `#/definitions/x`, and `$anchor` names), `$anchor`, `$defs` (and draft-07's `definitions`),
//!   `$comment`;
//! - applicators: `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`, `dependentSchemas`,
//!   `prefixItems`, `items`, `contains`, `properties`, `patternProperties`, `additionalProperties`,
//!   `propertyNames`;
//! - assertions: `type`, `enum`, `const`, `multipleOf`, `minimum`/`maximum` (and the exclusive
//!   forms), `minLength`/`maxLength`, `pattern` (ECMA-style, through `regex-lite`),
//!   `minItems`/`maxItems`, `uniqueItems`, `minContains`/`maxContains`,
//!   `minProperties`/`maxProperties`, `required`, `dependentRequired`; and boolean schemas.
//!
//! Annotations (`description`, `title`, `default`, `examples`, `format`, …) are accepted and
//! ignored. Anything else is refused when the schema is compiled (at registration), with the JSON
//! Pointer of the offending keyword, so no tool can silently go unvalidated: a `$ref` that would
//! need fetching (the gateway never dereferences a network URI, SEP-2106), one naming no subschema
//! or anchor of the document, a `$ref` cycle that never descends into the instance (its
//! validation would never end), `$dynamicRef`/`$dynamicAnchor`, and `unevaluatedProperties`/
//! `unevaluatedItems` (they need annotation collection across applicators, which this validator
//! does not do).
//!
//! Hand-written rather than the `jsonschema` crate: that crate's regex engines, URL parsing and
//! Unicode tables were about half of the Worker bundle when the core used it, and the bundle is at
//! 1010 KiB gzip of its 1024 KiB budget (`bash bench/worker-bundle.sh`). The unit tests cross-check
//! this validator against `jsonschema` (a dev-dependency) on every tool schema and on each keyword.

use std::cell::Cell;
use std::collections::HashMap;
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

/// The one dialect accepted in `$schema` (an empty fragment, `…/schema#`, is the same URI).
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// How many schema levels one validation may go down (nested keywords and followed `$ref`s
/// together). Arguments arrive parsed by serde_json, whose nesting limit is 128, so a legitimate
/// instance stays well within it with the usual one or two levels per instance level; the bound
/// keeps a recursive schema (`{"properties": {"child": {"$ref": "#"}}}`) from exhausting the stack
/// on the Worker's 1 MiB wasm stack. Beyond it the arguments are refused, never half-checked.
const MAX_DEPTH: usize = 192;

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
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

/// A compiled schema node's index in [`SchemaValidator::nodes`]; `$ref` makes the schema a graph.
type NodeId = usize;

/// A `pattern` or `patternProperties` key, compiled.
#[derive(Debug)]
struct Pattern {
    text: String,
    re: regex_lite::Regex,
}

impl Pattern {
    fn new(path: &str, keyword: &str, text: &str) -> Result<Self, SchemaError> {
        let re = regex_lite::Regex::new(text)
            .map_err(|e| bad(path, keyword, &format!("is not a valid pattern: {e}")))?;
        Ok(Pattern {
            text: text.to_owned(),
            re,
        })
    }
}

/// One compiled schema node.
#[derive(Debug, Default)]
struct Node {
    /// A boolean schema (`true` accepts everything, `false` nothing).
    constant_verdict: Option<bool>,
    /// The resolved `$ref`.
    reference: Option<NodeId>,
    types: Option<Vec<JsonType>>,
    properties: Vec<(String, NodeId)>,
    pattern_properties: Vec<(Pattern, NodeId)>,
    additional: Option<NodeId>,
    property_names: Option<NodeId>,
    required: Vec<String>,
    dependent_required: Vec<(String, Vec<String>)>,
    dependent_schemas: Vec<(String, NodeId)>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    multiple_of: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<Pattern>,
    prefix_items: Vec<NodeId>,
    items: Option<NodeId>,
    contains: Option<NodeId>,
    min_contains: Option<u64>,
    max_contains: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    all_of: Vec<NodeId>,
    any_of: Vec<NodeId>,
    one_of: Vec<NodeId>,
    not: Option<NodeId>,
    if_: Option<NodeId>,
    then_: Option<NodeId>,
    else_: Option<NodeId>,
}

impl Node {
    /// The subschemas applied to the same instance location (not to a child of it): a cycle
    /// through these alone would never end.
    fn in_place(&self) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self.reference.into_iter().collect();
        out.extend(&self.all_of);
        out.extend(&self.any_of);
        out.extend(&self.one_of);
        out.extend(self.not);
        out.extend(self.if_);
        out.extend(self.then_);
        out.extend(self.else_);
        out.extend(self.dependent_schemas.iter().map(|(_, s)| *s));
        out
    }
}

/// A compiled input schema.
#[derive(Debug)]
pub struct SchemaValidator {
    /// Every compiled schema location; the root is node 0.
    nodes: Vec<Node>,
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

fn names(path: &str, keyword: &str, v: &Value) -> Result<Vec<String>, SchemaError> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| bad(path, keyword, "must be an array of names"))
}

/// Whether `name` is a valid `$anchor` (2020-12: `^[A-Za-z_][-A-Za-z0-9._]*$`).
fn is_anchor(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// A URI fragment with its `%XX` escapes decoded (`None`: a malformed escape or not UTF-8).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Compiles a schema document into nodes, then resolves its `$ref`s.
#[derive(Default)]
struct Compiler {
    nodes: Vec<Node>,
    /// The node of each compiled schema location, by JSON Pointer: what `$ref` pointers name.
    at: HashMap<String, NodeId>,
    /// `$anchor` names.
    anchors: HashMap<String, NodeId>,
    /// `$ref`s to resolve once every location is known: node, reference, the keyword's pointer.
    refs: Vec<(NodeId, String, String)>,
    /// The root's `$id`, which a reference may repeat before its fragment.
    base: Option<String>,
}

impl Compiler {
    fn compile(&mut self, schema: &Value, path: &str) -> Result<NodeId, SchemaError> {
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.at.insert(path.to_owned(), id);
        let node = self.build(schema, path, id)?;
        self.nodes[id] = node;
        Ok(id)
    }

    fn sub(&mut self, v: &Value, path: &str, keyword: &str) -> Result<NodeId, SchemaError> {
        self.compile(v, &pointer_push(path, keyword))
    }

    /// A non-empty array of schemas (`allOf`, `prefixItems`, …).
    fn list(&mut self, v: &Value, path: &str, keyword: &str) -> Result<Vec<NodeId>, SchemaError> {
        let list = v
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad(path, keyword, "must be a non-empty array of schemas"))?;
        let at = pointer_push(path, keyword);
        list.iter()
            .enumerate()
            .map(|(i, s)| self.compile(s, &pointer_push(&at, &i.to_string())))
            .collect()
    }

    /// An object whose values are schemas (`properties`, `$defs`, …).
    fn map(
        &mut self,
        v: &Value,
        path: &str,
        keyword: &str,
    ) -> Result<Vec<(String, NodeId)>, SchemaError> {
        let entries = v
            .as_object()
            .ok_or_else(|| bad(path, keyword, "must be an object"))?;
        let at = pointer_push(path, keyword);
        entries
            .iter()
            .map(|(name, s)| Ok((name.clone(), self.compile(s, &pointer_push(&at, name))?)))
            .collect()
    }

    fn build(&mut self, schema: &Value, path: &str, id: NodeId) -> Result<Node, SchemaError> {
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
                "$schema" => {
                    let uri = v.as_str().map(|s| s.strip_suffix('#').unwrap_or(s));
                    if uri != Some(DIALECT) {
                        return Err(bad(
                            path,
                            key,
                            &format!("dialect {v} is not supported: tool schemas are checked as JSON Schema 2020-12 ({DIALECT})"),
                        ));
                    }
                }
                "$id" => {
                    let uri = v
                        .as_str()
                        .ok_or_else(|| bad(path, key, "must be a string"))?;
                    if !path.is_empty() {
                        return Err(bad(
                            path,
                            key,
                            "an embedded schema resource ($id below the root) is not supported",
                        ));
                    }
                    self.base = Some(uri.strip_suffix('#').unwrap_or(uri).to_owned());
                }
                "$ref" => {
                    let reference = v
                        .as_str()
                        .ok_or_else(|| bad(path, key, "must be a string"))?;
                    self.refs
                        .push((id, reference.to_owned(), pointer_push(path, key)));
                }
                "$anchor" => {
                    let name = v.as_str().filter(|n| is_anchor(n)).ok_or_else(|| {
                        bad(
                            path,
                            key,
                            "must be a name matching ^[A-Za-z_][-A-Za-z0-9._]*$",
                        )
                    })?;
                    if self.anchors.insert(name.to_owned(), id).is_some() {
                        return Err(bad(path, key, &format!("anchor {name:?} is defined twice")));
                    }
                }
                "$defs" | "definitions" => {
                    self.map(v, path, key)?;
                }
                "$dynamicRef" | "$dynamicAnchor" | "$recursiveRef" | "$recursiveAnchor" => {
                    return Err(bad(path, key, "dynamic references are not supported by the tool-argument validator; use $ref"));
                }
                "unevaluatedProperties" | "unevaluatedItems" => {
                    return Err(bad(path, key, "needs annotation collection, which the tool-argument validator does not do; use additionalProperties or items"));
                }
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
                "properties" => node.properties = self.map(v, path, key)?,
                "patternProperties" => {
                    let at = pointer_push(path, key);
                    for (text, s) in self.map(v, path, key)? {
                        node.pattern_properties
                            .push((Pattern::new(&at, &text, &text)?, s));
                    }
                }
                "additionalProperties" => node.additional = Some(self.sub(v, path, key)?),
                "propertyNames" => node.property_names = Some(self.sub(v, path, key)?),
                "required" => node.required = names(path, key, v)?,
                "dependentRequired" => {
                    let entries = v
                        .as_object()
                        .ok_or_else(|| bad(path, key, "must be an object"))?;
                    let at = pointer_push(path, key);
                    for (name, deps) in entries {
                        node.dependent_required
                            .push((name.clone(), names(&at, name, deps)?));
                    }
                }
                "dependentSchemas" => node.dependent_schemas = self.map(v, path, key)?,
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
                    node.pattern = Some(Pattern::new(path, key, text)?);
                }
                "prefixItems" => node.prefix_items = self.list(v, path, key)?,
                "items" => node.items = Some(self.sub(v, path, key)?),
                "contains" => node.contains = Some(self.sub(v, path, key)?),
                "minContains" => node.min_contains = Some(count(path, key, v)?),
                "maxContains" => node.max_contains = Some(count(path, key, v)?),
                "minItems" => node.min_items = Some(count(path, key, v)?),
                "maxItems" => node.max_items = Some(count(path, key, v)?),
                "uniqueItems" => {
                    node.unique_items = v
                        .as_bool()
                        .ok_or_else(|| bad(path, key, "must be a boolean"))?
                }
                "minProperties" => node.min_properties = Some(count(path, key, v)?),
                "maxProperties" => node.max_properties = Some(count(path, key, v)?),
                "allOf" => node.all_of = self.list(v, path, key)?,
                "anyOf" => node.any_of = self.list(v, path, key)?,
                "oneOf" => node.one_of = self.list(v, path, key)?,
                "not" => node.not = Some(self.sub(v, path, key)?),
                "if" => node.if_ = Some(self.sub(v, path, key)?),
                "then" => node.then_ = Some(self.sub(v, path, key)?),
                "else" => node.else_ = Some(self.sub(v, path, key)?),
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

    /// The node a `$ref` names: same-document references only (SEP-2106: never fetched).
    fn resolve(&self, reference: &str, at: &str) -> Result<NodeId, SchemaError> {
        let err = |reason: String| SchemaError {
            path: at.to_owned(),
            reason,
        };
        let base = self.base.as_deref();
        let fragment = match reference.split_once('#') {
            Some(("", f)) => f,
            Some((uri, f)) if Some(uri) == base => f,
            None if Some(reference) == base => "",
            _ => {
                return Err(err(format!(
                    "$ref {reference:?} is not a same-document reference (#...); the gateway never fetches schemas"
                )))
            }
        };
        let fragment = percent_decode(fragment)
            .ok_or_else(|| err(format!("$ref {reference:?} has a malformed %-escape")))?;
        if fragment.is_empty() || fragment.starts_with('/') {
            self.at.get(&fragment).copied().ok_or_else(|| {
                err(format!(
                    "$ref {reference:?} does not point at a subschema of this schema"
                ))
            })
        } else {
            self.anchors.get(&fragment).copied().ok_or_else(|| {
                err(format!(
                    "$ref {reference:?} names no $anchor of this schema"
                ))
            })
        }
    }

    /// Refuses a `$ref` cycle through subschemas applied in place (a depth-first search for a
    /// back edge, with an explicit stack: the graph can be deeper than the call stack allows).
    fn refuse_cycles(&self, ref_at: &HashMap<NodeId, String>) -> Result<(), SchemaError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut mark = vec![Mark::New; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if mark[start] != Mark::New {
                continue;
            }
            mark[start] = Mark::Open;
            let mut stack = vec![(start, self.nodes[start].in_place(), 0usize)];
            while let Some(top) = stack.last_mut() {
                let node = top.0;
                let next = top.1.get(top.2).copied();
                top.2 += 1;
                let Some(next) = next else {
                    mark[node] = Mark::Done;
                    stack.pop();
                    continue;
                };
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::Open;
                        stack.push((next, self.nodes[next].in_place(), 0));
                    }
                    Mark::Open => {
                        let from = stack.iter().position(|e| e.0 == next).unwrap_or(0);
                        let path = stack[from..]
                            .iter()
                            .find_map(|e| ref_at.get(&e.0))
                            .cloned()
                            .unwrap_or_default();
                        return Err(SchemaError {
                            path,
                            reason: "this $ref leads back to itself without descending into the instance, so validating against it would never end".into(),
                        });
                    }
                    Mark::Done => {}
                }
            }
        }
        Ok(())
    }
}

/// One validation: the nodes, and whether it went deeper than [`MAX_DEPTH`] anywhere (sticky, so
/// a too-deep branch under `not` or `anyOf` cannot turn into a pass).
struct Walk<'s> {
    nodes: &'s [Node],
    too_deep: Cell<Option<Violation>>,
}

impl Walk<'_> {
    fn check(&self, id: NodeId, v: &Value, path: &str, depth: usize) -> Option<Violation> {
        let fail = |message: String| {
            Some(Violation {
                instance_path: path.to_owned(),
                message,
            })
        };
        if depth > MAX_DEPTH {
            let e = Violation {
                instance_path: path.to_owned(),
                message: format!(
                    "the arguments nest deeper than the validator's limit of {MAX_DEPTH} schema levels"
                ),
            };
            self.too_deep.set(Some(e.clone()));
            return Some(e);
        }
        let depth = depth + 1;
        let node = &self.nodes[id];
        match node.constant_verdict {
            Some(true) => return None,
            Some(false) => return fail("False schema does not allow ".to_owned() + &v.to_string()),
            None => {}
        }
        if let Some(types) = &node.types {
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
        if let Some(options) = &node.enumeration {
            if !options.iter().any(|o| json_eq(o, v)) {
                return fail(format!(
                    "{v} is not one of {}",
                    Value::Array(options.clone())
                ));
            }
        }
        if let Some(c) = &node.constant {
            if !json_eq(c, v) {
                return fail(format!("{c} was expected"));
            }
        }
        match v {
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = node.minimum.filter(|m| x < *m) {
                    return fail(format!("{v} is less than the minimum of {}", show(min)));
                }
                if let Some(max) = node.maximum.filter(|m| x > *m) {
                    return fail(format!("{v} is greater than the maximum of {}", show(max)));
                }
                if let Some(min) = node.exclusive_minimum.filter(|m| x <= *m) {
                    return fail(format!(
                        "{v} is less than or equal to the minimum of {}",
                        show(min)
                    ));
                }
                if let Some(max) = node.exclusive_maximum.filter(|m| x >= *m) {
                    return fail(format!(
                        "{v} is greater than or equal to the maximum of {}",
                        show(max)
                    ));
                }
                if let Some(m) = node.multiple_of {
                    let q = x / m;
                    if !q.is_finite() || (q - q.round()).abs() > 1e-9 {
                        return fail(format!("{v} is not a multiple of {}", show(m)));
                    }
                }
            }
            Value::String(s) => {
                let chars = s.chars().count() as u64;
                if let Some(min) = node.min_length.filter(|m| chars < *m) {
                    return fail(format!(
                        "{v} is shorter than {min} character{}",
                        plural(min)
                    ));
                }
                if let Some(max) = node.max_length.filter(|m| chars > *m) {
                    return fail(format!("{v} is longer than {max} character{}", plural(max)));
                }
                if let Some(p) = &node.pattern {
                    if !p.re.is_match(s) {
                        return fail(format!("{v} does not match \"{}\"", p.text));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(e) = self.check_array(node, v, items, path, depth) {
                    return Some(e);
                }
            }
            Value::Object(map) => {
                if let Some(e) = self.check_object(node, v, map, path, depth) {
                    return Some(e);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
        if let Some(target) = node.reference {
            if let Some(e) = self.check(target, v, path, depth) {
                return Some(e);
            }
        }
        for sub in &node.all_of {
            if let Some(e) = self.check(*sub, v, path, depth) {
                return Some(e);
            }
        }
        if !node.any_of.is_empty()
            && node
                .any_of
                .iter()
                .all(|s| self.check(*s, v, path, depth).is_some())
        {
            return fail(format!(
                "{v} is not valid under any of the schemas listed in the 'anyOf' keyword"
            ));
        }
        if !node.one_of.is_empty() {
            let passing = node
                .one_of
                .iter()
                .filter(|s| self.check(**s, v, path, depth).is_none())
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
        if let Some(not) = node.not {
            if self.check(not, v, path, depth).is_none() {
                return fail(format!("{v} should not be valid under the 'not' schema"));
            }
        }
        if let Some(condition) = node.if_ {
            let branch = if self.check(condition, v, path, depth).is_none() {
                node.then_
            } else {
                node.else_
            };
            if let Some(e) = branch.and_then(|b| self.check(b, v, path, depth)) {
                return Some(e);
            }
        }
        None
    }

    fn check_array(
        &self,
        node: &Node,
        v: &Value,
        items: &[Value],
        path: &str,
        depth: usize,
    ) -> Option<Violation> {
        let fail = |message: String| {
            Some(Violation {
                instance_path: path.to_owned(),
                message,
            })
        };
        let n = items.len() as u64;
        if let Some(min) = node.min_items.filter(|m| n < *m) {
            return fail(format!("{v} has less than {min} item{}", plural(min)));
        }
        if let Some(max) = node.max_items.filter(|m| n > *m) {
            return fail(format!("{v} has more than {max} item{}", plural(max)));
        }
        if node.unique_items {
            for (i, a) in items.iter().enumerate() {
                if items[..i].iter().any(|b| json_eq(a, b)) {
                    return fail(format!("{v} has non-unique elements"));
                }
            }
        }
        for (i, x) in items.iter().enumerate() {
            // 2020-12: `items` applies to the elements after those `prefixItems` covers.
            let sub = node.prefix_items.get(i).copied().or(node.items);
            if let Some(e) =
                sub.and_then(|s| self.check(s, x, &pointer_push(path, &i.to_string()), depth))
            {
                return Some(e);
            }
        }
        if let Some(contains) = node.contains {
            let matching = items
                .iter()
                .filter(|x| self.check(contains, x, path, depth).is_none())
                .count() as u64;
            let min = node.min_contains.unwrap_or(1);
            if matching < min {
                return fail(if min == 1 {
                    format!("{v} does not contain items matching the 'contains' schema")
                } else {
                    format!("{v} contains fewer than {min} items matching the 'contains' schema")
                });
            }
            if let Some(max) = node.max_contains.filter(|m| matching > *m) {
                return fail(format!(
                    "{v} contains more than {max} item{} matching the 'contains' schema",
                    plural(max)
                ));
            }
        }
        None
    }

    fn check_object(
        &self,
        node: &Node,
        v: &Value,
        map: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Option<Violation> {
        let fail = |message: String| {
            Some(Violation {
                instance_path: path.to_owned(),
                message,
            })
        };
        let n = map.len() as u64;
        if let Some(min) = node.min_properties.filter(|m| n < *m) {
            return fail(format!("{v} has less than {min} propert{}", ies(min)));
        }
        if let Some(max) = node.max_properties.filter(|m| n > *m) {
            return fail(format!("{v} has more than {max} propert{}", ies(max)));
        }
        for name in &node.required {
            if !map.contains_key(name) {
                return fail(format!("\"{name}\" is a required property"));
            }
        }
        for (name, deps) in &node.dependent_required {
            if map.contains_key(name) {
                if let Some(missing) = deps.iter().find(|d| !map.contains_key(*d)) {
                    return fail(format!("\"{missing}\" is a dependency of \"{name}\""));
                }
            }
        }
        for (name, sub) in &node.properties {
            if let Some(x) = map.get(name) {
                if let Some(e) = self.check(*sub, x, &pointer_push(path, name), depth) {
                    return Some(e);
                }
            }
        }
        for (pattern, sub) in &node.pattern_properties {
            for (k, x) in map.iter().filter(|(k, _)| pattern.re.is_match(k)) {
                if let Some(e) = self.check(*sub, x, &pointer_push(path, k), depth) {
                    return Some(e);
                }
            }
        }
        if let Some(additional) = node.additional {
            let mut extra = map.keys().filter(|k| {
                !node.properties.iter().any(|(p, _)| p == *k)
                    && !node
                        .pattern_properties
                        .iter()
                        .any(|(p, _)| p.re.is_match(k))
            });
            if self.nodes[additional].constant_verdict == Some(false) {
                let unexpected: Vec<String> = extra.map(|k| format!("'{k}'")).collect();
                if !unexpected.is_empty() {
                    let verb = if unexpected.len() == 1 { "was" } else { "were" };
                    return fail(format!(
                        "Additional properties are not allowed ({} {verb} unexpected)",
                        unexpected.join(", ")
                    ));
                }
            } else if let Some(e) =
                extra.find_map(|k| self.check(additional, &map[k], &pointer_push(path, k), depth))
            {
                return Some(e);
            }
        }
        if let Some(names) = node.property_names {
            for k in map.keys() {
                if let Some(e) = self.check(names, &Value::String(k.clone()), path, depth) {
                    return fail(format!("property name \"{k}\" is invalid: {}", e.message));
                }
            }
        }
        for (name, sub) in &node.dependent_schemas {
            if map.contains_key(name) {
                if let Some(e) = self.check(*sub, v, path, depth) {
                    return Some(e);
                }
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
    /// Compiles `schema` and resolves its `$ref`s; refuses what it cannot check (see the module
    /// documentation), naming the offending keyword's JSON Pointer.
    pub fn new(schema: &Value) -> Result<Self, SchemaError> {
        let mut c = Compiler::default();
        c.compile(schema, "")?;
        let mut ref_at = HashMap::new();
        for (id, reference, at) in std::mem::take(&mut c.refs) {
            c.nodes[id].reference = Some(c.resolve(&reference, &at)?);
            ref_at.insert(id, at);
        }
        c.refuse_cycles(&ref_at)?;
        Ok(SchemaValidator { nodes: c.nodes })
    }

    /// The first violation of `instance`, if any.
    pub fn first_violation(&self, instance: &Value) -> Option<Violation> {
        let walk = Walk {
            nodes: &self.nodes,
            too_deep: Cell::new(None),
        };
        let found = walk.check(0, instance, "", 0);
        walk.too_deep.take().or(found)
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

/// JSON Schema 2020-12 keywords beyond the basic vocabulary: `$ref`/`$defs`/`$anchor`,
/// `if`/`then`/`else`, the array and object applicators, and what is refused at compile time.
#[cfg(test)]
mod draft2020 {
    use super::*;
    use serde_json::json;

    fn compile(schema: Value) -> SchemaValidator {
        SchemaValidator::new(&schema).unwrap_or_else(|e| panic!("{schema}: {e}"))
    }

    fn refused(schema: Value) -> SchemaError {
        SchemaValidator::new(&schema).expect_err("the schema must be refused")
    }

    /// The conformance suite's `json_schema_2020_12_tool` input schema (0.2.0-alpha.12).
    fn suite_fixture() -> Value {
        crate::testing::conformance::json_schema_2020_12_input()
    }

    #[test]
    fn the_conformance_fixture_validates_as_2020_12_says() {
        let v = compile(suite_fixture());
        let ok = |i: Value| assert_eq!(v.first_violation(&i), None, "{i}");
        ok(json!({"email": "a@b"}));
        ok(json!({"contactMethod": "phone", "phone": "1"}));
        ok(json!({"name": "n", "email": "e", "address": {"street": "s", "city": "c"}}));
        let e = v
            .first_violation(&json!({"address": {"city": 1}, "email": "e"}))
            .unwrap();
        assert_eq!(
            (e.instance_path.as_str(), e.message.as_str()),
            ("/address/city", "1 is not of type \"string\"")
        );
        // `allOf` → `anyOf`: phone or email.
        let e = v.first_violation(&json!({"name": "n"})).unwrap();
        assert!(e.message.contains("'anyOf'"), "{e}");
        // `if` holds (contactMethod is phone) → `then` needs phone.
        let e = v
            .first_violation(&json!({"contactMethod": "phone", "email": "e"}))
            .unwrap();
        assert_eq!(e.message, "\"phone\" is a required property");
        // `if` fails → `else` needs email.
        let e = v
            .first_violation(&json!({"contactMethod": "email", "phone": "1"}))
            .unwrap();
        assert_eq!(e.message, "\"email\" is a required property");
        let e = v.first_violation(&json!({"email": "e", "fax": 1})).unwrap();
        assert!(e.message.contains("'fax' was unexpected"), "{e}");
        assert!(v
            .first_violation(&json!({"email": "e", "contactMethod": "fax"}))
            .is_some());
    }

    #[test]
    fn refs_resolve_pointers_definitions_anchors_and_the_root() {
        let v = compile(json!({
            "$id": "https://example.test/schemas/arg",
            "definitions": {"count": {"type": "integer", "minimum": 0}},
            "$defs": {
                "a/b": {"type": "string"},
                "tilde~": {"type": "boolean"},
                "sp ace": {"$anchor": "Spaced_1", "const": 3},
            },
            "type": "object",
            "properties": {
                "n": {"$ref": "#/definitions/count"},
                "s": {"$ref": "#/$defs/a~1b", "minLength": 2},
                "t": {"$ref": "#/$defs/tilde~0"},
                "p": {"$ref": "#/$defs/sp%20ace"},
                "q": {"$ref": "#Spaced_1"},
                "full": {"$ref": "https://example.test/schemas/arg#/definitions/count"},
                "again": {"$ref": "#/properties/n"},
            },
        }));
        assert!(v.is_valid(
            &json!({"n": 1, "s": "xy", "t": true, "p": 3, "q": 3, "full": 2, "again": 0})
        ));
        let at = |i: Value| v.first_violation(&i).map(|e| e.instance_path);
        assert_eq!(at(json!({"n": -1})).as_deref(), Some("/n"));
        assert_eq!(at(json!({"s": 1})).as_deref(), Some("/s"));
        assert_eq!(
            at(json!({"s": "x"})).as_deref(),
            Some("/s"),
            "$ref siblings apply too (2020-12)"
        );
        assert_eq!(at(json!({"t": "x"})).as_deref(), Some("/t"));
        assert_eq!(at(json!({"p": 4})).as_deref(), Some("/p"));
        assert_eq!(at(json!({"q": 4})).as_deref(), Some("/q"));
        assert_eq!(at(json!({"full": 1.5})).as_deref(), Some("/full"));
        assert_eq!(at(json!({"again": "x"})).as_deref(), Some("/again"));
    }

    #[test]
    fn a_recursive_schema_descends_and_its_depth_is_bounded() {
        let v = compile(json!({
            "$defs": {"node": {"type": "object", "properties": {
                "value": {"type": "integer"}, "child": {"$ref": "#/$defs/node"}}}},
            "$ref": "#/$defs/node",
        }));
        let nested = |levels: usize, leaf: Value| {
            (0..levels).fold(
                json!({"value": leaf}),
                |inner, _| json!({"value": 1, "child": inner}),
            )
        };
        assert!(v.is_valid(&nested(40, json!(2))));
        let e = v.first_violation(&nested(40, json!("x"))).unwrap();
        assert_eq!(e.instance_path, format!("{}/value", "/child".repeat(40)));
        // Deeper than the bound: refused with a precise message, never a stack overflow.
        let e = v.first_violation(&nested(400, json!(2))).unwrap();
        assert!(e.message.contains("nest deeper than"), "{e}");
        // Under `not`, too deep is still a refusal (it does not flip into a pass).
        let negated = compile(json!({
            "$defs": {"node": {"properties": {"child": {"$ref": "#/$defs/node"}}}},
            "not": {"$ref": "#/$defs/node"},
        }));
        let e = negated.first_violation(&json!({"child": {}})).unwrap();
        assert!(e.message.contains("'not'"), "{e}");
        let e = negated.first_violation(&nested(400, json!(2))).unwrap();
        assert!(e.message.contains("nest deeper than"), "{e}");
    }

    #[test]
    fn cyclic_and_unresolvable_refs_are_refused_at_compile_time() {
        let e = refused(json!({"$ref": "#"}));
        assert_eq!(e.path, "/$ref");
        assert!(e.reason.contains("never end"), "{e}");
        let e = refused(
            json!({"properties": {"x": {"$ref": "#/$defs/a"}}, "$defs": {
                "a": {"allOf": [{"$ref": "#/$defs/b"}]},
                "b": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/a"}]},
            }}),
        );
        assert!(e.reason.contains("never end"), "{e}");
        assert!(e.path.starts_with("/$defs/"), "{e}");
        let e = refused(json!({"if": {"$ref": "#/then"}, "then": {"not": {"$ref": "#/if"}}}));
        assert!(e.reason.contains("never end"), "{e}");
        let e = refused(json!({"properties": {"a": {"$ref": "#/$defs/missing"}}}));
        assert_eq!(e.path, "/properties/a/$ref");
        assert!(e.reason.contains("does not point at a subschema"), "{e}");
        let e = refused(json!({"$ref": "#nowhere"}));
        assert!(e.reason.contains("names no $anchor"), "{e}");
        for network in [
            "https://example.test/schema.json",
            "other.json#/a",
            "//host/x#",
        ] {
            let e = refused(json!({"properties": {"a": {"$ref": network}}}));
            assert!(
                e.reason.contains("not a same-document reference"),
                "{network}: {e}"
            );
        }
        // A location that is not a schema (inside `enum`, or `$defs` itself) is not a target.
        assert!(
            refused(json!({"enum": [{"type": "string"}], "$ref": "#/enum/0"}))
                .reason
                .contains("subschema")
        );
        assert!(refused(json!({"$defs": {"a": true}, "$ref": "#/$defs"}))
            .reason
            .contains("subschema"));
        assert!(refused(json!({"$ref": "#/%zz"}))
            .reason
            .contains("%-escape"));
        assert!(refused(json!({"$ref": 1})).reason.contains("string"));
    }

    #[test]
    fn if_then_else() {
        let v = compile(json!({
            "if": {"properties": {"kind": {"const": "number"}}, "required": ["kind"]},
            "then": {"properties": {"value": {"type": "number"}}},
            "else": {"properties": {"value": {"type": "string"}}},
        }));
        assert!(v.is_valid(&json!({"kind": "number", "value": 1})));
        assert!(v.is_valid(&json!({"kind": "text", "value": "x"})));
        assert_eq!(
            v.first_violation(&json!({"kind": "number", "value": "x"}))
                .unwrap()
                .instance_path,
            "/value"
        );
        assert_eq!(
            v.first_violation(&json!({"value": 1}))
                .unwrap()
                .instance_path,
            "/value"
        );
        // `then`/`else` without `if` do nothing; `if` alone asserts nothing.
        assert!(compile(json!({"then": false, "else": false})).is_valid(&json!(1)));
        assert!(compile(json!({"if": false})).is_valid(&json!(1)));
        assert!(compile(json!({"if": true, "else": false})).is_valid(&json!(1)));
        assert!(!compile(json!({"if": true, "then": false})).is_valid(&json!(1)));
    }

    #[test]
    fn array_applicators() {
        let v = compile(
            json!({"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": {"type": "boolean"}}),
        );
        assert!(v.is_valid(&json!(["a", 1, true, false])));
        assert!(v.is_valid(&json!(["a"])));
        assert_eq!(
            v.first_violation(&json!(["a", "b"])).unwrap().instance_path,
            "/1"
        );
        assert_eq!(
            v.first_violation(&json!(["a", 1, true, 3]))
                .unwrap()
                .instance_path,
            "/3"
        );
        let closed = compile(json!({"prefixItems": [true], "items": false}));
        assert!(closed.is_valid(&json!([1])));
        assert_eq!(
            closed
                .first_violation(&json!([1, 2]))
                .unwrap()
                .instance_path,
            "/1"
        );
        let c =
            compile(json!({"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3}));
        assert!(c.is_valid(&json!([1, "x", 2])));
        assert!(c
            .first_violation(&json!([1, "x"]))
            .unwrap()
            .message
            .contains("fewer than 2"));
        assert!(c
            .first_violation(&json!([1, 2, 3, 4]))
            .unwrap()
            .message
            .contains("more than 3"));
        assert!(compile(json!({"contains": {"const": 1}}))
            .first_violation(&json!([2]))
            .unwrap()
            .message
            .contains("does not contain"));
        assert!(compile(json!({"contains": false, "minContains": 0})).is_valid(&json!([1])));
        assert!(
            compile(json!({"minContains": 5})).is_valid(&json!([1])),
            "minContains needs contains"
        );
        assert!(refused(json!({"prefixItems": []})).path == "/prefixItems");
    }

    #[test]
    fn object_applicators_and_dependencies() {
        let v = compile(json!({
            "properties": {"id": {"type": "string"}},
            "patternProperties": {"^x-": {"type": "integer"}},
            "additionalProperties": false,
            "propertyNames": {"maxLength": 6},
            "dependentRequired": {"id": ["x-rev"]},
            "dependentSchemas": {"x-big": {"required": ["x-rev"], "properties": {"x-rev": {"minimum": 10}}}},
        }));
        assert!(v.is_valid(&json!({"id": "a", "x-rev": 1})));
        assert_eq!(
            v.first_violation(&json!({"x-rev": "1"}))
                .unwrap()
                .instance_path,
            "/x-rev"
        );
        assert!(v
            .first_violation(&json!({"other": 1}))
            .unwrap()
            .message
            .contains("'other' was unexpected"));
        let e = v.first_violation(&json!({"x-longer": 1})).unwrap();
        assert_eq!(
            e.message,
            "property name \"x-longer\" is invalid: \"x-longer\" is longer than 6 characters"
        );
        assert_eq!(
            v.first_violation(&json!({"id": "a"})).unwrap().message,
            "\"x-rev\" is a dependency of \"id\""
        );
        assert!(v
            .first_violation(&json!({"x-big": 1}))
            .unwrap()
            .message
            .contains("required"));
        assert_eq!(
            v.first_violation(&json!({"x-big": 1, "x-rev": 2}))
                .unwrap()
                .instance_path,
            "/x-rev"
        );
        assert!(v.is_valid(&json!({"x-big": 1, "x-rev": 12})));
        assert_eq!(
            refused(json!({"patternProperties": {"(": {}}})).path,
            "/patternProperties/("
        );
        assert_eq!(
            refused(json!({"dependentRequired": {"a": [1]}})).path,
            "/dependentRequired/a"
        );
    }

    #[test]
    fn dialects_embedded_resources_and_unsupported_keywords_are_refused() {
        assert!(SchemaValidator::new(
            &json!({"$schema": "https://json-schema.org/draft/2020-12/schema#"})
        )
        .is_ok());
        let e = refused(json!({"$schema": "http://json-schema.org/draft-07/schema#"}));
        assert_eq!(e.path, "/$schema");
        assert!(e.reason.contains("not supported"), "{e}");
        assert_eq!(
            refused(json!({"$defs": {"a": {"$id": "x"}}})).path,
            "/$defs/a/$id"
        );
        assert_eq!(
            refused(json!({"items": {"unevaluatedProperties": false}})).path,
            "/items/unevaluatedProperties"
        );
        assert_eq!(
            refused(json!({"$dynamicRef": "#meta"})).path,
            "/$dynamicRef"
        );
        assert_eq!(refused(json!({"$anchor": "1bad"})).path, "/$anchor");
        let e = refused(json!({"$defs": {"a": {"$anchor": "x"}, "b": {"$anchor": "x"}}}));
        assert!(e.reason.contains("defined twice"), "{e}");
        assert_eq!(refused(json!({"$defs": {"a": 3}})).path, "/$defs/a");
    }

    /// The `jsonschema` crate (2020-12) and this validator agree on every instance of a pool
    /// against each schema, so the keywords above mean what the specification says.
    #[test]
    fn agrees_with_the_jsonschema_crate() {
        let schemas = [
            suite_fixture(),
            json!({"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}, "v": {"type": "integer"}}}}, "$ref": "#/$defs/n"}),
            json!({"if": {"required": ["a"]}, "then": {"properties": {"b": {"type": "string"}}}, "else": {"required": ["b"]}}),
            json!({"prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false, "contains": {"type": "string"}}),
            json!({"contains": {"type": "integer"}, "minContains": 2, "maxContains": 2}),
            json!({"patternProperties": {"^[ab]$": {"type": "integer"}}, "additionalProperties": {"type": "string"}, "propertyNames": {"pattern": "^[a-c]$"}}),
            json!({"dependentRequired": {"a": ["b"]}, "dependentSchemas": {"c": {"properties": {"a": {"const": 1}}}}}),
            json!({"$defs": {"pos": {"$anchor": "pos", "minimum": 0}}, "properties": {"a": {"$ref": "#pos"}, "b": {"not": {"$ref": "#/$defs/pos"}}}}),
        ];
        let pool = [
            json!(null),
            json!(1),
            json!("x"),
            json!([]),
            json!([1]),
            json!([1, "x"]),
            json!([1, 2]),
            json!([1, 2, "x", 3]),
            json!({}),
            json!({"a": 1}),
            json!({"a": 1, "b": "x"}),
            json!({"b": 1}),
            json!({"c": 1}),
            json!({"c": 1, "a": 2, "b": 3}),
            json!({"d": "x"}),
            json!({"a": -1, "b": 2}),
            json!({"email": "e"}),
            json!({"phone": "p", "contactMethod": "phone"}),
            json!({"contactMethod": "phone", "email": "e"}),
            json!({"email": "e", "address": {"city": 1}}),
            json!({"email": "e", "address": {"city": "c", "zip": 1}}),
            json!({"email": "e", "x": 1}),
            json!({"c": {"c": {"v": 1}}}),
            json!({"c": {"c": {"v": "1"}}}),
            json!({"v": 1.5}),
        ];
        let mut valid = 0;
        for schema in &schemas {
            let ours = compile(schema.clone());
            let theirs = jsonschema::validator_for(schema).unwrap();
            for instance in &pool {
                let (a, b) = (ours.is_valid(instance), theirs.is_valid(instance));
                assert_eq!(a, b, "{schema}: validators disagree on {instance}");
                valid += usize::from(a);
            }
        }
        assert!(
            valid > 20 && valid < schemas.len() * pool.len() - 20,
            "{valid} valid: the pool says little"
        );
    }
}
