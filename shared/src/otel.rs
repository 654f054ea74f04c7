//! OpenTelemetry tracing, decided in the core: W3C trace context (`traceparent`/`tracestate`)
//! parsing and formatting, the span model as plain data ([`SpanData`]), head sampling
//! ([`Sampler`], parent-based ratio) and the attribute allow-list ([`Attr`]). Platforms only move
//! finished spans out through the [`SpanSink`] port (native and Lambda: the OTLP/HTTP exporter of
//! `mcp-edge-native`); the core never encodes, sends or times anything itself (time and span ids
//! come from the [`Clock`] and [`Entropy`] ports).
//!
//! Three modes ([`TraceMode`]): `Off` (no context read or sent), `PassThrough` (the default: an
//! incoming context is forwarded to upstreams unchanged, no span is built — the Worker's mode) and
//! `Export` (spans are built for sampled requests and handed to the sink).

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};

use crate::port::{Clock, Entropy, MaybeSendSync, UnixMillis};

/// The W3C `traceparent` header (and `_meta` key).
pub const TRACEPARENT: &str = "traceparent";
/// The W3C `tracestate` header (and `_meta` key).
pub const TRACESTATE: &str = "tracestate";
/// Longest `tracestate` kept (W3C: at least 512 characters must be propagated; longer is dropped).
const MAX_TRACESTATE: usize = 512;
/// Most `tracestate` list members (W3C).
const MAX_TRACESTATE_MEMBERS: usize = 32;
/// Whether this build can record spans at all. The Worker has no span sink (it exports nothing; see
/// the README's Tracing section), so its build leaves span recording and the `OTEL_*` reader out as
/// dead code: with them the bundle was 13 KiB gzip larger (961 against 948 KiB).
const RECORDS: bool = !cfg!(target_arch = "wasm32");

/// A W3C trace context: what `traceparent` (and `tracestate`) carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 16-byte trace id (never all zero).
    pub trace_id: [u8; 16],
    /// 8-byte id of the span this context names (never all zero).
    pub span_id: [u8; 8],
    /// The `sampled` flag.
    pub sampled: bool,
    /// The vendor list, when it was well formed.
    pub tracestate: Option<String>,
}

fn hex_to<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Whether `text` is a well-formed `tracestate` list (W3C trace-context §3.3), within the limits.
fn valid_tracestate(text: &str) -> bool {
    if text.len() > MAX_TRACESTATE {
        return false;
    }
    let members: Vec<&str> = text
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    if members.is_empty() || members.len() > MAX_TRACESTATE_MEMBERS {
        return false;
    }
    members.iter().all(|m| {
        let Some((key, value)) = m.split_once('=') else {
            return false;
        };
        let key_ok = !key.is_empty()
            && key.len() <= 256
            && key
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(&c));
        let value_ok = !value.is_empty()
            && value.len() <= 256
            && value
                .bytes()
                .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
            && !value.ends_with(' ');
        key_ok && value_ok
    })
}

impl TraceContext {
    /// Parses a `traceparent` value (and its `tracestate`); anything malformed is `None`, which
    /// means "start a new trace", never an error to the client (W3C trace-context §3.2, §4.3).
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let t = traceparent.trim_matches([' ', '\t']);
        let version = hex_to::<1>(t.get(0..2)?)?[0];
        // Version ff is invalid; version 00 is exactly 55 characters; a later version may append
        // fields after a dash (parsed as version 00, as the specification says).
        if version == 0xff || (version == 0 && t.len() != 55) || t.len() < 55 {
            return None;
        }
        if t.len() > 55 && t.as_bytes()[55] != b'-' {
            return None;
        }
        let b = t.as_bytes();
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let trace_id = hex_to::<16>(&t[3..35])?;
        let span_id = hex_to::<8>(&t[36..52])?;
        let flags = hex_to::<1>(&t[53..55])?[0];
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
            tracestate: tracestate
                .map(|s| s.trim_matches([' ', '\t']))
                .filter(|s| valid_tracestate(s))
                .map(str::to_owned),
        })
    }

    /// The context of a request's headers; more than one `traceparent` is malformed (`None`), and
    /// several `tracestate` headers are one list joined with commas.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut parents = headers.get_all(TRACEPARENT).iter();
        let parent = parents.next()?.to_str().ok()?;
        if parents.next().is_some() {
            return None;
        }
        let states: Vec<&str> = headers
            .get_all(TRACESTATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let state = (!states.is_empty()).then(|| states.join(","));
        Self::parse(parent, state.as_deref())
    }

    /// The context a 2026-07-28 request carries in `params._meta` (`traceparent`, `tracestate`).
    pub fn from_meta(params: Option<&Map<String, Value>>) -> Option<Self> {
        let meta = params?.get("_meta")?.as_object()?;
        let parent = meta.get(TRACEPARENT)?.as_str()?;
        Self::parse(parent, meta.get(TRACESTATE).and_then(Value::as_str))
    }

    /// The `traceparent` value naming this context (version 00).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            hex(&self.trace_id),
            hex(&self.span_id),
            if self.sampled { "01" } else { "00" }
        )
    }

    /// The trace id in hex (log lines).
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// Puts this context into a JSON-RPC message's `params._meta` (a bridged child's request).
    pub fn inject_meta(&self, message: &mut Value) {
        let Some(obj) = message.as_object_mut() else {
            return;
        };
        let params = obj
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(params) = params.as_object_mut() else {
            return;
        };
        let meta = params
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(TRACEPARENT.into(), Value::String(self.traceparent()));
            match &self.tracestate {
                Some(s) => meta.insert(TRACESTATE.into(), Value::String(s.clone())),
                None => meta.remove(TRACESTATE),
            };
        }
    }

    /// The headers that carry this context to an upstream.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        std::iter::once((TRACEPARENT, self.traceparent()))
            .chain(self.tracestate.iter().map(|s| (TRACESTATE, s.clone())))
    }
}

/// A head sampler, as `OTEL_TRACES_SAMPLER` names them.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// Every trace.
    AlwaysOn,
    /// No trace.
    AlwaysOff,
    /// A fraction (0..=1) of traces, decided from the trace id so every service agrees.
    Ratio(f64),
    /// The parent's `sampled` flag when there is a parent, else the inner sampler (roots).
    ParentBased(Box<Sampler>),
}

impl Sampler {
    /// Reads `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`;
    /// a ratio's argument defaults to 1.0).
    pub fn from_names(name: Option<&str>, arg: Option<&str>) -> Result<Self, String> {
        let ratio = || -> Result<f64, String> {
            match arg {
                None => Ok(1.0),
                Some(a) => match a.trim().parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err("OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1".into()),
                },
            }
        };
        Ok(
            match name.map(str::trim).unwrap_or("parentbased_always_on") {
                "always_on" => Sampler::AlwaysOn,
                "always_off" => Sampler::AlwaysOff,
                "traceidratio" => Sampler::Ratio(ratio()?),
                "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
                "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
                "parentbased_traceidratio" => {
                    Sampler::ParentBased(Box::new(Sampler::Ratio(ratio()?)))
                }
                other => return Err(format!("unknown sampler {other:?} (use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)")),
            },
        )
    }

    /// Whether a span of `trace_id` under `parent` is sampled.
    pub fn sample(&self, parent: Option<&TraceContext>, trace_id: &[u8; 16]) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::Ratio(r) => {
                // The low 63 bits of the trace id against the ratio (as the OpenTelemetry SDKs do),
                // so every service that samples by ratio takes the same decision for a trace.
                let bound = (r.clamp(0.0, 1.0) * (1u64 << 63) as f64) as u64;
                let mut low = [0u8; 8];
                low.copy_from_slice(&trace_id[8..]);
                (u64::from_be_bytes(low) >> 1) < bound
            }
            Sampler::ParentBased(root) => match parent {
                Some(p) => p.sampled,
                None => root.sample(None, trace_id),
            },
        }
    }
}

/// What the gateway does with trace context.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceMode {
    /// Nothing is read or sent (`OTEL_SDK_DISABLED=true`).
    Off,
    /// An incoming context goes to upstreams unchanged; no span is built (the default).
    PassThrough,
    /// Spans are built for sampled traces and exported.
    Export(Sampler),
}

/// Tracing settings from the standard `OTEL_*` variables (see [`crate::settings::table`]).
#[derive(Clone, PartialEq)]
pub struct TraceSettings {
    /// What is done.
    pub mode: TraceMode,
    /// `service.name` of exported spans (`OTEL_SERVICE_NAME`).
    pub service_name: String,
    /// The OTLP/HTTP traces URL (…`/v1/traces`), when exporting.
    pub endpoint: Option<String>,
    /// Headers sent with every export (secret-ish: never logged or shown).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for TraceSettings {
    // Header names only: their values are usually API keys of the tracing backend.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSettings")
            .field("mode", &self.mode)
            .field("service_name", &self.service_name)
            .field("endpoint", &self.endpoint)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            mode: TraceMode::PassThrough,
            service_name: "mcp-edge".into(),
            endpoint: None,
            headers: Vec::new(),
        }
    }
}

/// The raw `OTEL_*` values, as read through the settings table.
#[derive(Default)]
pub struct TraceVars<'a> {
    /// `OTEL_SDK_DISABLED`.
    pub disabled: bool,
    /// `OTEL_TRACES_EXPORTER` (`otlp` or `none`).
    pub exporter: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (the base; `/v1/traces` is appended).
    pub endpoint: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is).
    pub traces_endpoint: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    pub headers: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (wins per header name).
    pub traces_headers: Option<&'a str>,
    /// `OTEL_TRACES_SAMPLER`.
    pub sampler: Option<&'a str>,
    /// `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler_arg: Option<&'a str>,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<&'a str>,
}

/// Decodes `%XX` escapes (the OTLP headers variable is W3C-baggage-like, percent-encoded).
fn percent_decode(text: &str) -> Result<String, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let byte = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a bad %-escape")?;
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after %-decoding".to_owned())
}

/// Parses `key1=value1,key2=value2` (OTLP exporter headers); errors never quote a value.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, item) in text.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("entry {} is not key=value", n + 1))?;
        let k = percent_decode(k.trim()).map_err(|e| format!("entry {}: {e}", n + 1))?;
        let v = percent_decode(v.trim()).map_err(|e| format!("entry {}: {e}", n + 1))?;
        if http::HeaderName::from_bytes(k.as_bytes()).is_err()
            || http::HeaderValue::from_str(&v).is_err()
        {
            return Err(format!("entry {} is not a valid HTTP header", n + 1));
        }
        out.push((k.to_ascii_lowercase(), v));
    }
    Ok(out)
}

impl TraceSettings {
    /// The settings the variables describe: exporting only when an endpoint is given and neither
    /// `OTEL_SDK_DISABLED` nor `OTEL_TRACES_EXPORTER=none` says otherwise; `Err` names the variable.
    pub fn from_vars(v: &TraceVars<'_>) -> Result<Self, (&'static str, String)> {
        let mut s = TraceSettings::default();
        if !RECORDS {
            return Ok(s);
        }
        if let Some(name) = v.service_name {
            s.service_name = name.to_owned();
        }
        if v.disabled {
            s.mode = TraceMode::Off;
            return Ok(s);
        }
        let exporter = v.exporter.map(str::trim).unwrap_or("otlp");
        match exporter {
            "otlp" => {}
            "none" => return Ok(s),
            other => {
                return Err((
                    "OTEL_TRACES_EXPORTER",
                    format!("unsupported exporter {other:?} (use otlp or none)"),
                ))
            }
        }
        let endpoint = match (v.traces_endpoint, v.endpoint) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(base)) => Some(format!("{}/v1/traces", base.trim().trim_end_matches('/'))),
            (None, None) => None,
        };
        let Some(endpoint) = endpoint else {
            return Ok(s);
        };
        let url = url::Url::parse(&endpoint)
            .map_err(|e| ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err((
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "expected an http(s) URL".into(),
            ));
        }
        let mut headers = match v.headers {
            Some(h) => parse_headers(h).map_err(|e| ("OTEL_EXPORTER_OTLP_HEADERS", e))?,
            None => Vec::new(),
        };
        if let Some(h) = v.traces_headers {
            for (k, val) in
                parse_headers(h).map_err(|e| ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", e))?
            {
                headers.retain(|(old, _)| *old != k);
                headers.push((k, val));
            }
        }
        let sampler = Sampler::from_names(v.sampler, v.sampler_arg)
            .map_err(|e| ("OTEL_TRACES_SAMPLER", e))?;
        s.mode = TraceMode::Export(sampler);
        s.endpoint = Some(endpoint);
        s.headers = headers;
        Ok(s)
    }
}

/// The MCP methods named in spans; any other method is recorded as `_OTHER` (a client chooses
/// method names, and span attributes must stay low-cardinality and free of client data).
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
];

/// The method as a span may name it.
pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("_OTHER")
}

/// The kind of a span (OTLP `SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// An MCP request the gateway serves.
    Server,
    /// A call the gateway makes (upstream HTTP, a bridged child).
    Client,
}

/// The attribute allow-list: the only attributes a span can carry. Each value comes from the
/// gateway's own vocabulary (method labels, registered tool names, configured names, hosts,
/// numbers) — there is deliberately no variant for free text, so no credential, header value or
/// tool argument value can reach a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// `mcp.method.name`: a [`method_label`].
    Method(&'static str),
    /// `gen_ai.tool.name`: a tool the registry (or the bridge catalog) knows.
    Tool(String),
    /// `mcp.session.tag`: the session's log tag ([`crate::session::session_tag`]), never its id.
    SessionTag(String),
    /// `mcp.protocol.version`: a version the gateway negotiated.
    ProtocolVersion(String),
    /// `mcp_edge.caller`: the authenticated caller's name (as in the audit log).
    Caller(String),
    /// `mcp_edge.outcome`: `ok`, `error`, `denied`, … (a fixed word).
    Outcome(&'static str),
    /// `rpc.jsonrpc.error_code`.
    ErrorCode(i64),
    /// `mcp_edge.upstream.service`: `jira`, `confluence`, `gitlab`, `bridge`.
    Service(&'static str),
    /// `server.address`: upstream host (and port), without user info or path.
    Host(String),
    /// `http.request.method`.
    HttpMethod(String),
    /// `http.response.status_code`.
    HttpStatus(i64),
    /// `http.request.resend_count`: retries after the first attempt.
    Retries(i64),
    /// `mcp_edge.bridge.server`: a configured stdio server's name.
    BridgeServer(String),
}

/// An attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// Text.
    Str(&'a str),
    /// Integer.
    Int(i64),
}

impl Attr {
    /// The attribute key (OpenTelemetry semantic conventions where one exists).
    pub fn key(&self) -> &'static str {
        match self {
            Attr::Method(_) => "mcp.method.name",
            Attr::Tool(_) => "gen_ai.tool.name",
            Attr::SessionTag(_) => "mcp.session.tag",
            Attr::ProtocolVersion(_) => "mcp.protocol.version",
            Attr::Caller(_) => "mcp_edge.caller",
            Attr::Outcome(_) => "mcp_edge.outcome",
            Attr::ErrorCode(_) => "rpc.jsonrpc.error_code",
            Attr::Service(_) => "mcp_edge.upstream.service",
            Attr::Host(_) => "server.address",
            Attr::HttpMethod(_) => "http.request.method",
            Attr::HttpStatus(_) => "http.response.status_code",
            Attr::Retries(_) => "http.request.resend_count",
            Attr::BridgeServer(_) => "mcp_edge.bridge.server",
        }
    }

    /// The attribute value.
    pub fn value(&self) -> AttrValue<'_> {
        match self {
            Attr::Method(s) | Attr::Outcome(s) | Attr::Service(s) => AttrValue::Str(s),
            Attr::Tool(s)
            | Attr::SessionTag(s)
            | Attr::ProtocolVersion(s)
            | Attr::Caller(s)
            | Attr::Host(s)
            | Attr::HttpMethod(s)
            | Attr::BridgeServer(s) => AttrValue::Str(s),
            Attr::ErrorCode(n) | Attr::HttpStatus(n) | Attr::Retries(n) => AttrValue::Int(*n),
        }
    }
}

/// One finished span, as plain data for a [`SpanSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanData {
    /// Trace id.
    pub trace_id: [u8; 16],
    /// This span's id.
    pub span_id: [u8; 8],
    /// The parent span's id (`None` for a root).
    pub parent_span_id: Option<[u8; 8]>,
    /// The trace's `tracestate`.
    pub tracestate: Option<String>,
    /// Name (`tools/call jira_get_issue`, `GET jira`).
    pub name: String,
    /// Kind.
    pub kind: SpanKind,
    /// Start, milliseconds since the epoch (the clock port's resolution).
    pub start_ms: UnixMillis,
    /// End.
    pub end_ms: UnixMillis,
    /// Whether the span failed (OTLP status `ERROR`; otherwise `UNSET`).
    pub error: bool,
    /// Allow-listed attributes.
    pub attributes: Vec<Attr>,
}

/// Where finished spans go; must not block (platforms queue them and export off the request path).
pub trait SpanSink: MaybeSendSync {
    /// Takes one finished span.
    fn export(&self, span: SpanData);
}

/// A span being built: its context (what children and upstreams see as their parent) and, when
/// recorded, its data.
#[derive(Debug, Default)]
pub struct Span {
    context: Option<TraceContext>,
    data: Option<Box<SpanData>>,
}

impl Span {
    /// The context children inherit and upstream requests carry (`None`: send nothing).
    pub fn context(&self) -> Option<&TraceContext> {
        self.context.as_ref()
    }

    /// Whether attributes are kept (callers skip building them otherwise).
    pub fn is_recording(&self) -> bool {
        RECORDS && self.data.is_some()
    }

    /// Adds an allow-listed attribute (ignored when not recording).
    pub fn set(&mut self, attr: Attr) {
        if !RECORDS {
            return;
        }
        if let Some(d) = &mut self.data {
            d.attributes.push(attr);
        }
    }

    /// Records the tool a call ran (a name the registry or bridge catalog knows) as attribute and
    /// in the span's name (`tools/call NAME`).
    pub fn set_tool(&mut self, name: &str) {
        if !RECORDS {
            return;
        }
        if let Some(d) = &mut self.data {
            d.name = format!("{} {name}", d.name);
            d.attributes.push(Attr::Tool(name.to_owned()));
        }
    }

    /// Marks the span failed.
    pub fn fail(&mut self) {
        if let Some(d) = &mut self.data {
            d.error = true;
        }
    }
}

/// Starts and finishes spans under the gateway's [`TraceMode`].
#[derive(Clone)]
pub struct Tracer {
    mode: TraceMode,
    sink: Option<Arc<dyn SpanSink>>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
}

impl Tracer {
    /// A tracer in `mode`; spans are built only in [`TraceMode::Export`] with a sink.
    pub fn new(
        mode: TraceMode,
        sink: Option<Arc<dyn SpanSink>>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        Tracer {
            mode,
            sink,
            clock,
            entropy,
        }
    }

    /// The mode.
    pub fn mode(&self) -> &TraceMode {
        &self.mode
    }

    /// The context of a request's headers, unless tracing is off.
    pub fn incoming(&self, headers: &HeaderMap) -> Option<TraceContext> {
        if self.mode == TraceMode::Off {
            return None;
        }
        TraceContext::from_headers(headers)
    }

    /// Starts a span under `parent` (`None`: a new trace). `name` is only called when recording.
    pub fn start(
        &self,
        parent: Option<&TraceContext>,
        kind: SpanKind,
        name: impl FnOnce() -> String,
    ) -> Span {
        let sampler = match (&self.mode, &self.sink) {
            (TraceMode::Export(s), Some(_)) if RECORDS => s,
            (TraceMode::Off, _) => return Span::default(),
            _ => {
                return Span {
                    context: parent.cloned(),
                    data: None,
                }
            }
        };
        let mut ids = [0u8; 24];
        self.entropy.fill(&mut ids);
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&ids[16..]);
        span_id[0] |= (span_id == [0; 8]) as u8;
        let trace_id = match parent {
            Some(p) => p.trace_id,
            None => {
                let mut t = [0u8; 16];
                t.copy_from_slice(&ids[..16]);
                t[15] |= (t == [0; 16]) as u8;
                t
            }
        };
        let sampled = sampler.sample(parent, &trace_id);
        let context = TraceContext {
            trace_id,
            span_id,
            sampled,
            tracestate: parent.and_then(|p| p.tracestate.clone()),
        };
        let data = sampled.then(|| {
            Box::new(SpanData {
                trace_id,
                span_id,
                parent_span_id: parent.map(|p| p.span_id),
                tracestate: context.tracestate.clone(),
                name: name(),
                kind,
                start_ms: self.clock.now(),
                end_ms: 0,
                error: false,
                attributes: Vec::new(),
            })
        });
        Span {
            context: Some(context),
            data,
        }
    }

    /// Starts the client span of a request forwarded to the bridged stdio server `server` and puts
    /// its context into the message's `params._meta` for the child. The parent is the message's
    /// own `_meta` context, else `from_headers` (the HTTP request that carried it).
    pub fn start_bridged(
        &self,
        from_headers: Option<&TraceContext>,
        server: &str,
        message: &mut Value,
    ) -> Span {
        if self.mode == TraceMode::Off {
            return Span::default();
        }
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        let label = method_label(method);
        let parent = TraceContext::from_meta(message.get("params").and_then(Value::as_object))
            .or_else(|| from_headers.cloned());
        let mut span = self.start(parent.as_ref(), SpanKind::Client, || {
            format!("{label} {server}")
        });
        span.set(Attr::Method(label));
        span.set(Attr::BridgeServer(server.to_owned()));
        if let Some(ctx) = span.context() {
            ctx.inject_meta(message);
        }
        span
    }

    /// Ends a bridged call's span with the child's answer (a JSON-RPC `error` fails it).
    pub fn finish_bridged(&self, mut span: Span, answer: Result<&Value, ()>) {
        match answer {
            Ok(a) if a.get("error").is_none() => span.set(Attr::Outcome("ok")),
            Ok(a) => {
                span.set(Attr::Outcome("error"));
                if let Some(code) = a.pointer("/error/code").and_then(Value::as_i64) {
                    span.set(Attr::ErrorCode(code));
                }
                span.fail();
            }
            Err(()) => {
                span.set(Attr::Outcome("error"));
                span.fail();
            }
        }
        self.finish(span);
    }

    /// Ends `span` now and hands it to the sink (when it was recorded).
    pub fn finish(&self, span: Span) {
        if !RECORDS {
            return;
        }
        if let (Some(mut data), Some(sink)) = (span.data, &self.sink) {
            data.end_ms = self.clock.now();
            sink.export(*data);
        }
    }
}

/// Keeps spans in memory (tests).
#[derive(Default)]
pub struct MemorySpanSink {
    spans: std::sync::Mutex<Vec<SpanData>>,
}

impl MemorySpanSink {
    /// The spans exported so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl SpanSink for MemorySpanSink {
    fn export(&self, span: SpanData) {
        if let Ok(mut s) = self.spans.lock() {
            s.push(span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats_a_w3c_traceparent() {
        let c = TraceContext::parse(GOOD, Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")).unwrap();
        assert_eq!(c.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(c.sampled);
        assert_eq!(c.traceparent(), GOOD);
        assert_eq!(
            c.tracestate.as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        // A later version may carry more fields after a dash.
        let v = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra";
        assert!(!TraceContext::parse(v, None).unwrap().sampled);
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\u{e9}",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad:?}");
        }
        // Two traceparent headers are malformed too.
        let mut h = HeaderMap::new();
        h.append(TRACEPARENT, GOOD.parse().unwrap());
        h.append(TRACEPARENT, GOOD.parse().unwrap());
        assert_eq!(TraceContext::from_headers(&h), None);
    }

    #[test]
    fn a_malformed_tracestate_is_dropped_but_the_parent_kept() {
        for bad in [
            "no-equals",
            "Upper=1",
            "a=b=c",
            &"k=v,".repeat(40),
            &format!("k={}", "v".repeat(600)),
        ] {
            let c = TraceContext::parse(GOOD, Some(bad)).unwrap();
            assert_eq!(c.tracestate, None, "{bad:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, GOOD.parse().unwrap());
        h.append(TRACESTATE, "a=1".parse().unwrap());
        h.append(TRACESTATE, "b=2".parse().unwrap());
        let c = TraceContext::from_headers(&h).unwrap();
        assert_eq!(c.tracestate.as_deref(), Some("a=1,b=2"));
    }

    #[test]
    fn meta_context_is_read_and_injected() {
        let params = serde_json::json!({"_meta": {"traceparent": GOOD, "tracestate": "a=1"}});
        let c = TraceContext::from_meta(params.as_object()).unwrap();
        assert_eq!(c.traceparent(), GOOD);
        let mut msg = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}});
        c.inject_meta(&mut msg);
        assert_eq!(msg["params"]["_meta"]["traceparent"], GOOD);
        assert_eq!(msg["params"]["_meta"]["tracestate"], "a=1");
        assert_eq!(msg["params"]["name"], "x");
        let bad = serde_json::json!({"_meta": {"traceparent": 7}});
        assert_eq!(TraceContext::from_meta(bad.as_object()), None);
    }

    #[test]
    fn samplers_follow_the_parent_and_the_ratio() {
        let parent = TraceContext::parse(GOOD, None).unwrap();
        let unsampled = TraceContext {
            sampled: false,
            ..parent.clone()
        };
        let pb = Sampler::from_names(Some("parentbased_traceidratio"), Some("0")).unwrap();
        assert!(pb.sample(Some(&parent), &parent.trace_id));
        assert!(!pb.sample(Some(&unsampled), &parent.trace_id));
        assert!(!pb.sample(None, &parent.trace_id));
        assert_eq!(
            Sampler::from_names(None, None).unwrap(),
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
        );
        assert!(Sampler::from_names(Some("traceidratio"), Some("1.5")).is_err());
        assert!(Sampler::from_names(Some("jaeger_remote"), None).is_err());
        // A ratio keeps about that share of trace ids, the same for the same id.
        let half = Sampler::Ratio(0.25);
        let mut kept = 0;
        for i in 0u32..4000 {
            let mut id = [0u8; 16];
            // Spread ids with a multiplicative hash (deterministic).
            id[8..]
                .copy_from_slice(&(u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes());
            let first = half.sample(None, &id);
            assert_eq!(first, half.sample(None, &id));
            kept += first as u32;
        }
        assert!((800..1200).contains(&kept), "kept {kept} of 4000 at 0.25");
        assert!(Sampler::Ratio(1.0).sample(None, &[0xff; 16]));
        assert!(!Sampler::Ratio(0.0).sample(None, &[0; 16]));
    }

    #[test]
    fn settings_come_from_the_standard_variables() {
        let off = TraceSettings::from_vars(&TraceVars::default()).unwrap();
        assert_eq!(off.mode, TraceMode::PassThrough);
        let v = TraceVars {
            endpoint: Some("http://127.0.0.1:4318/"),
            headers: Some("api-key=s%3Dcret,x-a=1"),
            traces_headers: Some("x-a=2"),
            sampler: Some("traceidratio"),
            sampler_arg: Some("0.5"),
            service_name: Some("gw"),
            ..TraceVars::default()
        };
        let s = TraceSettings::from_vars(&v).unwrap();
        assert_eq!(
            s.endpoint.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(s.mode, TraceMode::Export(Sampler::Ratio(0.5)));
        assert_eq!(
            s.headers,
            vec![
                ("api-key".into(), "s=cret".into()),
                ("x-a".into(), "2".into())
            ]
        );
        assert!(
            !format!("{s:?}").contains("s=cret"),
            "Debug shows no header value"
        );
        let t = TraceSettings::from_vars(&TraceVars {
            traces_endpoint: Some("http://h:1/custom"),
            ..v
        })
        .unwrap();
        assert_eq!(t.endpoint.as_deref(), Some("http://h:1/custom"));
        let none = TraceSettings::from_vars(&TraceVars {
            exporter: Some("none"),
            ..v
        })
        .unwrap();
        assert_eq!(none.mode, TraceMode::PassThrough);
        let disabled = TraceSettings::from_vars(&TraceVars {
            disabled: true,
            ..v
        })
        .unwrap();
        assert_eq!(disabled.mode, TraceMode::Off);
        let err = TraceSettings::from_vars(&TraceVars {
            headers: Some("token=secretvalue,broken"),
            ..v
        })
        .unwrap_err();
        assert_eq!(err.0, "OTEL_EXPORTER_OTLP_HEADERS");
        assert!(!err.1.contains("secretvalue"));
        assert!(TraceSettings::from_vars(&TraceVars {
            exporter: Some("zipkin"),
            ..v
        })
        .is_err());
    }

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> UnixMillis {
            1_000
        }
    }
    struct Counter(std::sync::atomic::AtomicU8);
    impl Entropy for Counter {
        fn fill(&self, buf: &mut [u8]) {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            buf.iter_mut().for_each(|b| *b = n);
        }
    }

    fn tracer(mode: TraceMode, sink: &Arc<MemorySpanSink>) -> Tracer {
        Tracer::new(
            mode,
            Some(sink.clone() as Arc<dyn SpanSink>),
            Arc::new(Fixed),
            Arc::new(Counter(Default::default())),
        )
    }

    #[test]
    fn spans_inherit_the_trace_and_only_sampled_ones_are_exported() {
        let sink = Arc::new(MemorySpanSink::default());
        let t = tracer(
            TraceMode::Export(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
            &sink,
        );
        let parent = TraceContext::parse(GOOD, Some("a=1")).unwrap();
        let mut server = t.start(Some(&parent), SpanKind::Server, || "tools/call x".into());
        server.set(Attr::Method("tools/call"));
        let ctx = server.context().unwrap().clone();
        assert_eq!(ctx.trace_id, parent.trace_id);
        assert_ne!(ctx.span_id, parent.span_id);
        let child = t.start(Some(&ctx), SpanKind::Client, || "GET jira".into());
        t.finish(child);
        t.finish(server);
        let spans = sink.spans();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].parent_span_id, Some(ctx.span_id));
        assert_eq!(spans[1].parent_span_id, Some(parent.span_id));
        assert_eq!(spans[1].tracestate.as_deref(), Some("a=1"));
        assert_eq!(spans[1].attributes, vec![Attr::Method("tools/call")]);
        // An unsampled parent: a context goes on (flag 00), nothing is exported.
        let no = TraceContext {
            sampled: false,
            ..parent.clone()
        };
        let s = t.start(Some(&no), SpanKind::Server, || {
            unreachable!("not recording")
        });
        assert!(!s.is_recording());
        assert!(s.context().unwrap().traceparent().ends_with("-00"));
        t.finish(s);
        assert_eq!(sink.spans().len(), 2);
        // Pass-through: the parent unchanged, no span; off: nothing at all.
        let pass = tracer(TraceMode::PassThrough, &sink);
        assert_eq!(
            pass.start(Some(&parent), SpanKind::Server, String::new)
                .context(),
            Some(&parent)
        );
        let off = tracer(TraceMode::Off, &sink);
        assert_eq!(
            off.start(Some(&parent), SpanKind::Server, String::new)
                .context(),
            None
        );
        assert_eq!(sink.spans().len(), 2);
    }

    #[test]
    fn method_labels_never_echo_client_text() {
        assert_eq!(method_label("tools/call"), "tools/call");
        assert_eq!(method_label("secret-token-abc"), "_OTHER");
    }
}
