//! The one table of settings: every setting's variable, command-line flag, default, parser, targets
//! and doc line, written once. [`super::Settings::from_vars`] reads through it on every target, the
//! native command line is built from it (flags, `env` names, defaults, `--help`), `mcp-edge settings
//! --json` prints it for the tests, and the README's configuration tables are rendered from it
//! ([`markdown`], checked by a test).

use std::net::SocketAddr;

use super::{parse_api_key, parse_bridge_url, parse_duration_ms, parse_quota, parse_rate};
use crate::auth::ApiKeyEntry;
use crate::ratelimit::RateLimit;
use crate::upstream::HostPattern;

/// A platform mcp-edge runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The native binary (`mcp-edge`): command-line flags and environment variables.
    Native,
    /// The Cloudflare Worker: `[vars]` and secrets.
    Worker,
    /// AWS Lambda: the function's environment.
    Lambda,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 3] = [Target::Native, Target::Worker, Target::Lambda];

    /// Lower-case name (`native`, `worker`, `lambda`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Native => "native",
            Target::Worker => "worker",
            Target::Lambda => "lambda",
        }
    }
}

/// The targets on which a setting means something (the others never read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    /// Read by the native binary.
    pub native: bool,
    /// Read by the Worker.
    pub worker: bool,
    /// Read by the Lambda.
    pub lambda: bool,
}

/// Every target.
pub const EVERYWHERE: Targets = Targets {
    native: true,
    worker: true,
    lambda: true,
};
/// The native binary only.
pub const NATIVE: Targets = Targets {
    native: true,
    worker: false,
    lambda: false,
};
/// The native binary and the Lambda (settings of native HTTP clients and logging).
pub const NATIVE_LAMBDA: Targets = Targets {
    native: true,
    worker: false,
    lambda: true,
};
/// The Lambda only.
pub const LAMBDA: Targets = Targets {
    native: false,
    worker: false,
    lambda: true,
};

impl Targets {
    /// Whether `target` reads the setting.
    pub fn has(self, target: Target) -> bool {
        match target {
            Target::Native => self.native,
            Target::Worker => self.worker,
            Target::Lambda => self.lambda,
        }
    }

    /// As the README's "where" column says it.
    pub fn describe(self) -> &'static str {
        match (self.native, self.worker, self.lambda) {
            (true, true, true) => "all",
            (true, false, false) => "native",
            (true, false, true) => "native, Lambda",
            (false, false, true) => "Lambda",
            (true, true, false) => "native, Worker",
            (false, true, true) => "Worker, Lambda",
            (false, true, false) => "Worker",
            (false, false, false) => "none",
        }
    }
}

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One value.
    Value,
    /// On or off: a flag without a value natively; `true`/`false` (`1`/`0`, `yes`/`no`, `on`/`off`)
    /// as a variable.
    Switch,
    /// Items separated by this character (a repeated flag natively).
    List(char),
}

/// Where the README documents a setting (one configuration table per group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Serving: address, storage, limits on requests and connections, logging.
    Server,
    /// Caller authentication, rate limits and quotas.
    Access,
    /// Connectors and upstream access.
    Upstream,
    /// A remote stdio bridge's tools offered by this gateway.
    Bridge,
    /// Bridged stdio servers (native).
    Stdio,
    /// The Lambda's own settings.
    Lambda,
}

impl Group {
    /// Every group, in README order.
    pub const ALL: [Group; 6] = [
        Group::Server,
        Group::Upstream,
        Group::Stdio,
        Group::Bridge,
        Group::Lambda,
        Group::Access,
    ];

    /// The name used in the README's table markers (`<!-- settings:NAME -->`).
    pub fn name(self) -> &'static str {
        match self {
            Group::Server => "server",
            Group::Access => "access",
            Group::Upstream => "upstream",
            Group::Bridge => "bridge",
            Group::Stdio => "stdio",
            Group::Lambda => "lambda",
        }
    }
}

/// What a setting is, apart from its value's type.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The environment variable (also the Worker `[vars]` and secret name).
    pub var: &'static str,
    /// The native long flag without `--` (`None`: a variable only).
    pub flag: Option<&'static str>,
    /// The default, as a value would be written (`None`: unset unless given).
    pub default: Option<&'static str>,
    /// What being unset means, for a setting without a default (the README's default column).
    pub unset: &'static str,
    /// How the value is written.
    pub shape: Shape,
    /// Where it means something.
    pub targets: Targets,
    /// Where the README documents it.
    pub group: Group,
    /// One line: what it does.
    pub doc: &'static str,
    /// The value is a secret: never shown (`--help` hides the environment's value).
    pub secret: bool,
    /// Left out of `--help` and the README (test-only).
    pub hidden: bool,
}

/// A setting whose values parse into `T`.
pub struct Setting<T: 'static> {
    /// Its description.
    pub spec: Spec,
    /// Parses a whole value (a list setting's parser splits it).
    pub parse: fn(&str) -> Result<T, String>,
}

impl<T> std::ops::Deref for Setting<T> {
    type Target = Spec;
    fn deref(&self) -> &Spec {
        &self.spec
    }
}

impl<T> Setting<T> {
    /// A setting read on every target, in the server group, with one value and no default.
    const fn new(
        var: &'static str,
        parse: fn(&str) -> Result<T, String>,
        doc: &'static str,
    ) -> Self {
        Setting {
            spec: Spec {
                var,
                flag: None,
                default: None,
                unset: "none",
                shape: Shape::Value,
                targets: EVERYWHERE,
                group: Group::Server,
                doc,
                secret: false,
                hidden: false,
            },
            parse,
        }
    }

    const fn with(self, spec: Spec) -> Self {
        Setting {
            spec,
            parse: self.parse,
        }
    }

    const fn flag(self, flag: &'static str) -> Self {
        let spec = Spec {
            flag: Some(flag),
            ..self.spec
        };
        self.with(spec)
    }

    const fn default(self, default: &'static str) -> Self {
        let spec = Spec {
            default: Some(default),
            ..self.spec
        };
        self.with(spec)
    }

    const fn unset(self, unset: &'static str) -> Self {
        let spec = Spec { unset, ..self.spec };
        self.with(spec)
    }

    const fn list(self, sep: char) -> Self {
        let spec = Spec {
            shape: Shape::List(sep),
            ..self.spec
        };
        self.with(spec)
    }

    const fn on(self, targets: Targets) -> Self {
        let spec = Spec {
            targets,
            ..self.spec
        };
        self.with(spec)
    }

    const fn group(self, group: Group) -> Self {
        let spec = Spec { group, ..self.spec };
        self.with(spec)
    }

    const fn secret(self) -> Self {
        let spec = Spec {
            secret: true,
            ..self.spec
        };
        self.with(spec)
    }

    /// The parsed default (`None` without one).
    pub fn default_value(&self) -> Option<T> {
        self.default.and_then(|d| (self.parse)(d).ok())
    }

    /// The parsed default of a setting that has one: the one place a default is written, for the
    /// `Default` implementations of the configuration structs.
    ///
    /// # Panics
    /// When the setting has no default or it does not parse, which
    /// `every_default_parses_and_names_are_unique` rules out.
    pub fn fixed_default(&self) -> T {
        match self.default_value() {
            Some(value) => value,
            None => panic!("{} has no default that parses", self.var),
        }
    }
}

impl Setting<bool> {
    /// A switch (off unless given).
    const fn switch(var: &'static str, doc: &'static str) -> Self {
        let s = Setting::new(var, parse_switch, doc).unset("off");
        let spec = Spec {
            shape: Shape::Switch,
            ..s.spec
        };
        s.with(spec)
    }

    const fn hidden(self) -> Self {
        let spec = Spec {
            hidden: true,
            ..self.spec
        };
        self.with(spec)
    }
}

/// A setting of any type: its description and a check of a value (for the native command line,
/// which validates each flag as it is parsed).
pub trait AnySetting: Sync {
    /// Its description.
    fn spec(&self) -> &Spec;
    /// Whether `value` parses.
    fn check(&self, value: &str) -> Result<(), String>;
}

impl<T> AnySetting for Setting<T> {
    fn spec(&self) -> &Spec {
        &self.spec
    }
    fn check(&self, value: &str) -> Result<(), String> {
        (self.parse)(value).map(|_| ())
    }
}

/// Parses on/off: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
pub fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn text(text: &str) -> Result<String, String> {
    Ok(text.trim().to_owned())
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a whole number".into())
}

/// A duration that must not be zero (an interval).
fn positive_duration_ms(text: &str) -> Result<u64, String> {
    match parse_duration_ms(text)? {
        0 => Err("must be longer than 0".into()),
        ms => Ok(ms),
    }
}

fn split(text: &str, sep: char) -> impl Iterator<Item = &str> {
    text.split(sep).map(str::trim).filter(|s| !s.is_empty())
}

fn texts(text: &str) -> Result<Vec<String>, String> {
    Ok(split(text, ',').map(str::to_owned).collect())
}

fn hosts(text: &str) -> Result<Vec<HostPattern>, String> {
    split(text, ',').map(HostPattern::parse).collect()
}

fn api_keys(text: &str) -> Result<Vec<ApiKeyEntry>, String> {
    split(text, ';').map(parse_api_key).collect()
}

fn connectors(text: &str) -> Result<crate::connector::ConnectorSet, String> {
    super::parse_connectors(&split(text, ',').collect::<Vec<_>>())
}

fn fixed_urls(text: &str) -> Result<Vec<crate::credential::Service>, String> {
    super::parse_fixed_urls(&split(text, ',').collect::<Vec<_>>())
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|e| format!("expected an address such as 127.0.0.1:8787 ({e})"))
}

fn isolation(text: &str) -> Result<String, String> {
    match text.trim() {
        t @ ("per-session" | "shared") => Ok(t.to_owned()),
        other => Err(format!(
            "unknown isolation '{other}' (expected per-session or shared)"
        )),
    }
}

fn session_store(text: &str) -> Result<String, String> {
    match text.trim() {
        t @ ("redb" | "dynamodb" | "redis") => Ok(t.to_owned()),
        other => Err(format!(
            "unknown session store '{other}' (expected redb, dynamodb or redis)"
        )),
    }
}

fn secret_text(text: &str) -> Result<Vec<u8>, String> {
    Ok(text.trim().as_bytes().to_vec())
}

// ---- Server ----

/// `--bind`.
pub static BIND: Setting<SocketAddr> = Setting::new(
    "MCP_EDGE_BIND",
    socket_addr,
    "listen address (port 0 picks a free port)",
)
.flag("bind")
.default("127.0.0.1:8787")
.on(NATIVE);
/// `--data-dir`.
pub static DATA_DIR: Setting<String> = Setting::new(
    "MCP_EDGE_DATA_DIR",
    text,
    "session database and fingerprint key",
)
.flag("data-dir")
.default(".mcp-edge")
.on(NATIVE);
/// `--session-store`.
pub static SESSION_STORE: Setting<String> = Setting::new(
    "MCP_EDGE_SESSION_STORE",
    session_store,
    "where sessions, legacy SSE outboxes, rate-limit buckets and quota leases live: `redb` (embedded, one instance), or `dynamodb` / `redis`, shared by every replica behind a load balancer",
)
.flag("session-store")
.default("redb")
.on(NATIVE);
/// `--redis-url`.
pub static REDIS_URL: Setting<String> = Setting::new(
    "MCP_EDGE_REDIS_URL",
    text,
    "the Redis server of `--session-store redis`: `redis://[[user]:password@]host[:port][/db]` (a secret: it may hold a password)",
)
.flag("redis-url")
.secret()
.on(NATIVE);
/// `--session-ttl`.
pub static SESSION_TTL: Setting<u64> = Setting::new(
    "MCP_EDGE_SESSION_TTL",
    parse_duration_ms,
    "idle time before a session expires (404 after)",
)
.flag("session-ttl")
.default("1h");
/// `--list-ttl`.
pub static LIST_TTL: Setting<u64> = Setting::new(
    "MCP_EDGE_LIST_TTL",
    parse_duration_ms,
    "how long a 2026-07-28 client may cache `tools/list`, `prompts/list` and the resource lists (`ttlMs`)",
)
.flag("list-ttl")
.default("0s");
/// `--task-ttl`.
pub static TASK_TTL: Setting<u64> = Setting::new(
    "MCP_EDGE_TASK_TTL",
    parse_duration_ms,
    "how long a task (Tasks extension) stays readable after it was created (`ttlMs`); then it is gone (-32602)",
)
.flag("task-ttl")
.default("1h");
/// `--allowed-origins`.
pub static ALLOWED_ORIGINS: Setting<Vec<String>> = Setting::new(
    "MCP_EDGE_ALLOWED_ORIGINS",
    texts,
    "browser origins allowed besides loopback ones (403 otherwise; `*` for any)",
)
.flag("allowed-origins")
.list(',')
.unset("loopback only");
/// `--allowed-hosts`.
pub static ALLOWED_HOSTS: Setting<Vec<String>> = Setting::new(
    "MCP_EDGE_ALLOWED_HOSTS",
    texts,
    "`Host` names accepted besides loopback names (DNS-rebinding protection; enforced when bound to loopback or when given)",
)
.flag("allowed-hosts")
.list(',')
.unset("loopback only when bound to loopback");
/// `--max-body-bytes`.
pub static MAX_BODY_BYTES: Setting<usize> =
    Setting::new("MCP_EDGE_MAX_BODY_BYTES", number, "larger bodies get 413")
        .flag("max-body-bytes")
        .default("4194304");
/// `--header-timeout`.
pub static HEADER_TIMEOUT: Setting<u64> = Setting::new(
    "MCP_EDGE_HEADER_TIMEOUT",
    parse_duration_ms,
    "a request head must arrive this long after its first byte (the connection closes)",
)
.flag("header-timeout")
.default("10s")
.on(NATIVE);
/// `--idle-timeout`.
pub static IDLE_TIMEOUT: Setting<u64> = Setting::new(
    "MCP_EDGE_IDLE_TIMEOUT",
    parse_duration_ms,
    "a connection waiting longer for its next request's first byte is closed",
)
.flag("idle-timeout")
.default("60s")
.on(NATIVE);
/// `--body-timeout`.
pub static BODY_TIMEOUT: Setting<u64> = Setting::new(
    "MCP_EDGE_BODY_TIMEOUT",
    parse_duration_ms,
    "a whole request body must arrive within this (408 and close)",
)
.flag("body-timeout")
.default("30s")
.on(NATIVE);
/// `--body-min-rate`.
pub static BODY_MIN_RATE: Setting<u64> = Setting::new(
    "MCP_EDGE_BODY_MIN_RATE",
    number,
    "bytes/s a body must average after its first second (408 and close; `0`: off)",
)
.flag("body-min-rate")
.default("1024")
.on(NATIVE);
/// `--max-connections`.
pub static MAX_CONNECTIONS: Setting<usize> = Setting::new(
    "MCP_EDGE_MAX_CONNECTIONS",
    number,
    "connections served at once; 16 more answer only `/health` (others 503), beyond that an immediate 503",
)
.flag("max-connections")
.unset("descriptor limit − 144, 16…8192")
.on(NATIVE);
/// `--ws-ping-interval`.
pub static WS_PING_INTERVAL: Setting<u64> = Setting::new(
    "MCP_EDGE_WS_PING_INTERVAL",
    positive_duration_ms,
    "every WebSocket is pinged this often (seed 000's `ping_interval`)",
)
.flag("ws-ping-interval")
.default("30s")
.on(NATIVE);
/// `--ws-ping-timeout`.
pub static WS_PING_TIMEOUT: Setting<u64> = Setting::new(
    "MCP_EDGE_WS_PING_TIMEOUT",
    parse_duration_ms,
    "a WebSocket peer that leaves a ping unanswered this long is closed with 1011 (`0`: never; seed 000's `ping_timeout`)",
)
.flag("ws-ping-timeout")
.default("10s")
.on(NATIVE);
/// `--ws-max-connections`.
pub static WS_MAX_CONNECTIONS: Setting<usize> = Setting::new(
    "MCP_EDGE_WS_MAX_CONNECTIONS",
    number,
    "WebSockets open at once across all WebSocket endpoints; an upgrade over it gets 503 + `Retry-After: 1` (seed 000's `max_connections`)",
)
.flag("ws-max-connections")
.unset("only `--max-connections`")
.on(NATIVE);
/// `--health-budget`.
pub static HEALTH_BUDGET: Setting<u64> = Setting::new(
    "MCP_EDGE_HEALTH_BUDGET",
    positive_duration_ms,
    "`/health?deep=1` (and `/ready`) answers within this: a probe (store, upstream, bridged children) still running then is reported `error`/`timeout`",
)
.flag("health-budget")
.default("2s");
/// `--shutdown-grace`.
pub static SHUTDOWN_GRACE: Setting<u64> = Setting::new(
    "MCP_EDGE_SHUTDOWN_GRACE",
    parse_duration_ms,
    "SIGTERM/SIGINT lets in-flight requests finish this long, then cancels them",
)
.flag("shutdown-grace")
.default("20s")
.on(NATIVE);
/// `--max-batch`.
pub static MAX_BATCH: Setting<usize> = Setting::new(
    "MCP_EDGE_MAX_BATCH",
    number,
    "most messages in one JSON-RPC batch (400/-32600 above); the replies to one batch may take 8 MiB, replies past that are refused one by one with -32600",
)
.flag("max-batch")
.default("100");
/// `--keepalive`.
pub static KEEPALIVE: Setting<u64> = Setting::new(
    "MCP_EDGE_KEEPALIVE",
    parse_duration_ms,
    "SSE keep-alive comment interval",
)
.flag("keepalive")
.default("15s");
/// `--sse-responses`.
pub static SSE_RESPONSES: Setting<bool> = Setting::switch(
    "MCP_EDGE_SSE_RESPONSES",
    "answer POSTs with SSE even when JSON is accepted",
)
.flag("sse-responses");
/// `--read-only`.
pub static READ_ONLY: Setting<bool> = Setting::switch(
    "MCP_EDGE_READ_ONLY",
    "offer only tools marked `readOnlyHint`",
)
.flag("read-only");
/// `--log-level`.
pub static LOG_LEVEL: Setting<String> = Setting::new(
    "MCP_EDGE_LOG_LEVEL",
    text,
    "log filter (e.g. `debug`, `mcp_edge=debug`)",
)
.flag("log-level")
.default("info")
.on(NATIVE_LAMBDA);
/// `--log-json`.
pub static LOG_JSON: Setting<bool> = Setting::switch(
    "MCP_EDGE_LOG_JSON",
    "JSON log lines (stderr; the Lambda always logs JSON)",
)
.flag("log-json")
.on(NATIVE);
/// `OTEL_SDK_DISABLED`.
pub static OTEL_SDK_DISABLED: Setting<bool> = Setting::switch(
    "OTEL_SDK_DISABLED",
    "tracing off entirely: no span built, no `traceparent` read or forwarded",
)
.on(NATIVE_LAMBDA);
/// `OTEL_TRACES_EXPORTER`.
pub static OTEL_TRACES_EXPORTER: Setting<String> = Setting::new(
    "OTEL_TRACES_EXPORTER",
    text,
    "`otlp` (OTLP/HTTP protobuf) or `none`; exporting needs an endpoint",
)
.default("otlp")
.on(NATIVE_LAMBDA);
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub static OTEL_ENDPOINT: Setting<String> = Setting::new(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    text,
    "OTLP/HTTP base URL (`/v1/traces` is appended); setting it turns span export on",
)
.unset("tracing not exported")
.on(NATIVE_LAMBDA);
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
pub static OTEL_TRACES_ENDPOINT: Setting<String> = Setting::new(
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    text,
    "OTLP/HTTP traces URL, used as given (wins over the base URL)",
)
.on(NATIVE_LAMBDA);
/// `OTEL_EXPORTER_OTLP_HEADERS`.
pub static OTEL_HEADERS: Setting<String> = Setting::new(
    "OTEL_EXPORTER_OTLP_HEADERS",
    text,
    "headers of every export, `key=value,…` (%-encoded); never logged",
)
.on(NATIVE_LAMBDA)
.secret();
/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`.
pub static OTEL_TRACES_HEADERS: Setting<String> = Setting::new(
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    text,
    "headers of trace exports (win over the general ones per name); never logged",
)
.on(NATIVE_LAMBDA)
.secret();
/// `OTEL_TRACES_SAMPLER`.
pub static OTEL_SAMPLER: Setting<String> = Setting::new(
    "OTEL_TRACES_SAMPLER",
    text,
    "`parentbased_always_on`, `parentbased_traceidratio`, `traceidratio`, `always_on`, `always_off`, `parentbased_always_off`",
)
.default("parentbased_always_on")
.on(NATIVE_LAMBDA);
/// `OTEL_TRACES_SAMPLER_ARG`.
pub static OTEL_SAMPLER_ARG: Setting<String> = Setting::new(
    "OTEL_TRACES_SAMPLER_ARG",
    text,
    "the ratio (0 to 1) of the ratio samplers",
)
.unset("1.0")
.on(NATIVE_LAMBDA);
/// `OTEL_SERVICE_NAME`.
pub static OTEL_SERVICE_NAME: Setting<String> = Setting::new(
    "OTEL_SERVICE_NAME",
    text,
    "`service.name` of exported spans",
)
.default("mcp-edge")
.on(NATIVE_LAMBDA);
/// `--enable-test-tools` (hidden).
pub static TEST_TOOLS: Setting<bool> = Setting::switch(
    "MCP_EDGE_TEST_TOOLS",
    "register the test-only tools, resources and prompt (never on by default)",
)
.flag("enable-test-tools")
.hidden();

// ---- Access ----

/// `--api-key`.
pub static API_KEYS: Setting<Vec<ApiKeyEntry>> = Setting::new(
    "MCP_EDGE_API_KEYS",
    api_keys,
    "API key entries `NAME=sha256:SALT:DIGEST[:ro][:tools=a*+b][:rate=60/10]` (hash from `mcp-edge hash-key`; `;` between entries)",
)
.flag("api-key")
.list(';')
.group(Group::Access);
/// `--oauth-issuer`.
pub static OAUTH_ISSUER: Setting<String> = Setting::new(
    "MCP_EDGE_OAUTH_ISSUER",
    text,
    "OAuth resource-server mode: the expected token issuer (`iss`); needs the audience and JWKS URI",
)
.flag("oauth-issuer")
.group(Group::Access);
/// `--oauth-audience`.
pub static OAUTH_AUDIENCE: Setting<String> = Setting::new(
    "MCP_EDGE_OAUTH_AUDIENCE",
    text,
    "expected token audience (`aud`): this resource's URL",
)
.flag("oauth-audience")
.group(Group::Access);
/// `--oauth-jwks-uri`.
pub static OAUTH_JWKS_URI: Setting<String> =
    Setting::new("MCP_EDGE_OAUTH_JWKS_URI", text, "URL of the issuer's JWKS")
        .flag("oauth-jwks-uri")
        .group(Group::Access);
/// `--oauth-authorization-servers`.
pub static OAUTH_AUTHORIZATION_SERVERS: Setting<Vec<String>> = Setting::new(
    "MCP_EDGE_OAUTH_AUTHORIZATION_SERVERS",
    texts,
    "authorization servers named in `/.well-known/oauth-protected-resource`",
)
.flag("oauth-authorization-servers")
.list(',')
.unset("the issuer")
.group(Group::Access);
/// `--oauth-read-scope`.
pub static OAUTH_READ_SCOPE: Setting<String> = Setting::new(
    "MCP_EDGE_OAUTH_READ_SCOPE",
    text,
    "token scope that allows read-only tools",
)
.flag("oauth-read-scope")
.default("mcp:read")
.group(Group::Access);
/// `--oauth-write-scope`.
pub static OAUTH_WRITE_SCOPE: Setting<String> = Setting::new(
    "MCP_EDGE_OAUTH_WRITE_SCOPE",
    text,
    "token scope that allows every tool",
)
.flag("oauth-write-scope")
.default("mcp:write")
.group(Group::Access);
/// `--resource-url`.
pub static RESOURCE_URL: Setting<String> = Setting::new(
    "MCP_EDGE_RESOURCE_URL",
    text,
    "public URL of the MCP endpoint (for OAuth metadata)",
)
.flag("resource-url")
.unset("derived from `Host`")
.group(Group::Access);
/// `--rate-limit`.
pub static RATE_LIMIT: Setting<RateLimit> = Setting::new(
    "MCP_EDGE_RATE_LIMIT",
    parse_rate,
    "per-caller request limit `PER_MINUTE/BURST` (e.g. `600/60`; 429 over it)",
)
.flag("rate-limit")
.group(Group::Access);
/// `--tool-rate-limit`.
pub static TOOL_RATE_LIMIT: Setting<RateLimit> = Setting::new(
    "MCP_EDGE_TOOL_RATE_LIMIT",
    parse_rate,
    "per-caller tool-call limit `PER_MINUTE/BURST`",
)
.flag("tool-rate-limit")
.group(Group::Access);
/// `--tool-timeout`.
pub static TOOL_TIMEOUT: Setting<u64> = Setting::new(
    "MCP_EDGE_TOOL_TIMEOUT",
    parse_duration_ms,
    "longest a tool call may run before it is cancelled",
)
.flag("tool-timeout")
.default("30s")
.group(Group::Access);
/// `--max-sessions-per-caller`.
pub static MAX_SESSIONS_PER_CALLER: Setting<u32> = Setting::new(
    "MCP_EDGE_MAX_SESSIONS_PER_CALLER",
    parse_quota,
    "most sessions (of every transport) one caller may hold open at once",
)
.flag("max-sessions-per-caller")
.unset("unlimited")
.group(Group::Access);
/// `--max-streams-per-session`.
pub static MAX_STREAMS_PER_SESSION: Setting<u32> = Setting::new(
    "MCP_EDGE_MAX_STREAMS_PER_SESSION",
    parse_quota,
    "most `GET /mcp` streams one session may hold open at once",
)
.flag("max-streams-per-session")
.unset("unlimited")
.group(Group::Access);
/// `--allow-unauthenticated`.
pub static ALLOW_UNAUTHENTICATED: Setting<bool> = Setting::switch(
    "MCP_EDGE_ALLOW_UNAUTHENTICATED",
    "serve without caller authentication on a non-loopback address (refused otherwise)",
)
.flag("allow-unauthenticated")
.on(NATIVE)
.group(Group::Access);
/// `--fingerprint-key`.
pub static FINGERPRINT_KEY: Setting<Vec<u8>> = Setting::new(
    "MCP_EDGE_FINGERPRINT_KEY",
    secret_text,
    "key of the credential fingerprints and session tags kept in sessions (a secret)",
)
.flag("fingerprint-key")
.unset("native: a random key kept in the data dir (in memory for `mcp-edge stdio`); Worker and Lambda: a built-in key")
.secret()
.group(Group::Access);

// ---- Upstream ----

/// `--connectors`.
pub static CONNECTORS: Setting<crate::connector::ConnectorSet> = Setting::new(
    "MCP_EDGE_CONNECTORS",
    connectors,
    "connectors offered (`none` for none)",
)
.flag("connectors")
.list(',')
.default("jira,confluence,gitlab")
.group(Group::Upstream);
/// `--toolsets`.
pub static TOOLSETS: Setting<crate::connector::toolset::Toolsets> = Setting::new(
    "MCP_EDGE_TOOLSETS",
    crate::connector::toolset::Toolsets::parse_list,
    "toolsets of connector tools offered (`all` for every one; see Toolsets under Connectors); `X-MCP-Toolsets` narrows it per request",
)
.flag("toolsets")
.list(',')
.default("jira,confluence,gitlab,cross")
.group(Group::Upstream);
/// `--upstream-allowlist`.
pub static UPSTREAM_ALLOWLIST: Setting<Vec<HostPattern>> = Setting::new(
    "MCP_EDGE_UPSTREAM_ALLOWLIST",
    hosts,
    "only these hosts (`*.atlassian.net,gitlab.com`)",
)
.flag("upstream-allowlist")
.list(',')
.unset("any public host")
.group(Group::Upstream);
/// `--upstream-allow-http`.
pub static UPSTREAM_ALLOW_HTTP: Setting<Vec<HostPattern>> = Setting::new(
    "MCP_EDGE_UPSTREAM_ALLOW_HTTP",
    hosts,
    "hosts reachable over plain http",
)
.flag("upstream-allow-http")
.list(',')
.group(Group::Upstream);
/// `--upstream-allow-private`.
pub static UPSTREAM_ALLOW_PRIVATE: Setting<Vec<HostPattern>> = Setting::new(
    "MCP_EDGE_UPSTREAM_ALLOW_PRIVATE",
    hosts,
    "hosts allowed on loopback/private addresses",
)
.flag("upstream-allow-private")
.list(',')
.group(Group::Upstream);
/// `--upstream-timeout`.
pub static UPSTREAM_TIMEOUT: Setting<u64> = Setting::new(
    "MCP_EDGE_UPSTREAM_TIMEOUT",
    parse_duration_ms,
    "per upstream call",
)
.flag("upstream-timeout")
.default("30s")
.group(Group::Upstream);
/// `--upstream-pool-size`.
pub static UPSTREAM_POOL_SIZE: Setting<usize> = Setting::new(
    "MCP_EDGE_UPSTREAM_POOL_SIZE",
    number,
    "pooled upstream clients",
)
.flag("upstream-pool-size")
.default("100")
.group(Group::Upstream);
/// `--upstream-pool-idle`.
pub static UPSTREAM_POOL_IDLE: Setting<u64> = Setting::new(
    "MCP_EDGE_UPSTREAM_POOL_IDLE",
    parse_duration_ms,
    "idle time before a pooled client is dropped",
)
.flag("upstream-pool-idle")
.default("5m")
.group(Group::Upstream);
/// `--upstream-retries`.
pub static UPSTREAM_RETRIES: Setting<u32> = Setting::new(
    "MCP_EDGE_UPSTREAM_RETRIES",
    number,
    "retries after 429/502/503/504",
)
.flag("upstream-retries")
.default("2")
.group(Group::Upstream);
/// `--dynamic-urls`.
pub static DYNAMIC_URLS: Setting<Vec<crate::credential::Service>> = Setting::new(
    "MCP_EDGE_DYNAMIC_URLS",
    fixed_urls,
    "services whose URL may come from a request header (`none`: every URL fixed to the environment's)",
)
.flag("dynamic-urls")
.list(',')
.unset("`jira,confluence,gitlab`")
.group(Group::Upstream);
/// `--upstream-ca-file`.
pub static UPSTREAM_CA_FILE: Setting<Vec<String>> = Setting::new(
    "MCP_EDGE_UPSTREAM_CA_FILE",
    texts,
    "extra trusted CA certificates (PEM files, comma separated) for upstream TLS",
)
.flag("upstream-ca-file")
.list(',')
.on(NATIVE_LAMBDA)
.group(Group::Upstream);
/// `SSL_CERT_FILE` (a variable only).
pub static SSL_CERT_FILE: Setting<String> = Setting::new(
    "SSL_CERT_FILE",
    text,
    "when set, its certificates are trusted too",
)
.unset("unset")
.on(NATIVE_LAMBDA)
.group(Group::Upstream);

// ---- Bridge ----

/// `--bridge-url`.
pub static BRIDGE_URL: Setting<String> = Setting::new(
    "MCP_EDGE_BRIDGE_URL",
    parse_bridge_url,
    "a remote mcp-edge stdio bridge whose servers' tools are offered too, as `{server}__{tool}`",
)
.flag("bridge-url")
.group(Group::Bridge);
/// `--bridge-secret`.
pub static BRIDGE_SECRET: Setting<String> = Setting::new(
    "MCP_EDGE_BRIDGE_SECRET",
    text,
    "shared secret for the bridge (sent as its API key)",
)
.flag("bridge-secret")
.secret()
.group(Group::Bridge);
/// `--bridge-servers`.
pub static BRIDGE_SERVERS: Setting<Vec<String>> = Setting::new(
    "MCP_EDGE_BRIDGE_SERVERS",
    texts,
    "only these bridged servers' tools",
)
.flag("bridge-servers")
.list(',')
.unset("all")
.group(Group::Bridge);
/// `--bridge-refresh`.
pub static BRIDGE_REFRESH: Setting<u64> = Setting::new(
    "MCP_EDGE_BRIDGE_REFRESH",
    parse_duration_ms,
    "how long the bridge's tool list is cached",
)
.flag("bridge-refresh")
.default("60s")
.group(Group::Bridge);

// ---- Stdio ----

/// `--stdio`.
pub static STDIO: Setting<String> = Setting::new(
    "MCP_EDGE_STDIO",
    text,
    "bridge a stdio MCP server (a command line), served at `/servers/stdio/mcp`",
)
.flag("stdio")
.on(NATIVE)
.group(Group::Stdio);
/// `--stdio-isolation`.
pub static STDIO_ISOLATION: Setting<String> = Setting::new(
    "MCP_EDGE_STDIO_ISOLATION",
    isolation,
    "isolation of the `--stdio` server: `per-session` (a child per session) or `shared`",
)
.flag("stdio-isolation")
.default("per-session")
.on(NATIVE)
.group(Group::Stdio);
/// `--stdio-config`.
pub static STDIO_CONFIG: Setting<String> = Setting::new(
    "MCP_EDGE_STDIO_CONFIG",
    text,
    "TOML file of bridged stdio servers (`[servers.NAME]` tables), served at `/servers/NAME/mcp`",
)
.flag("stdio-config")
.on(NATIVE)
.group(Group::Stdio);

// ---- Lambda ----

/// `MCP_EDGE_DYNAMODB_TABLE`.
pub static DYNAMODB_TABLE: Setting<String> = Setting::new(
    "MCP_EDGE_DYNAMODB_TABLE",
    text,
    "the sessions table (required on the Lambda, where Terraform sets it; natively with `--session-store dynamodb`)",
)
.flag("dynamodb-table")
.on(NATIVE_LAMBDA)
.group(Group::Lambda);
/// `MCP_EDGE_LEGACY_POLL`.
pub static LEGACY_POLL: Setting<u64> = Setting::new(
    "MCP_EDGE_LEGACY_POLL",
    parse_duration_ms,
    "how often a legacy `/sse` stream's (and, for the gateway's sampling requests, a `GET /mcp` stream's) holder reads the session's outbox, on the Lambda and natively with a shared `--session-store` (at least 20 ms); an idle `GET /mcp` stream backs off to 8 times this while its outbox stays empty",
)
.flag("legacy-poll")
.default("250ms")
.on(NATIVE_LAMBDA)
.group(Group::Lambda);
/// `MCP_EDGE_LAMBDA_INVOKE_MODE`.
pub static LAMBDA_INVOKE_MODE: Setting<String> = Setting::new(
    "MCP_EDGE_LAMBDA_INVOKE_MODE",
    text,
    "the Function URL's invoke mode: `BUFFERED` answers whole responses, anything else streams",
)
.unset("`RESPONSE_STREAM`")
.on(LAMBDA)
.group(Group::Lambda);
/// `MCP_EDGE_BASE_PATH`.
pub static BASE_PATH: Setting<String> = Setting::new(
    "MCP_EDGE_BASE_PATH",
    text,
    "path prefix in front of the function that the event does not carry (local emulators)",
)
.on(LAMBDA)
.group(Group::Lambda);

/// Every setting, in README order.
pub static ALL: &[&dyn AnySetting] = &[
    &BIND,
    &DATA_DIR,
    &SESSION_STORE,
    &REDIS_URL,
    &SESSION_TTL,
    &LIST_TTL,
    &TASK_TTL,
    &ALLOWED_ORIGINS,
    &ALLOWED_HOSTS,
    &MAX_BODY_BYTES,
    &HEADER_TIMEOUT,
    &IDLE_TIMEOUT,
    &BODY_TIMEOUT,
    &BODY_MIN_RATE,
    &MAX_CONNECTIONS,
    &WS_PING_INTERVAL,
    &WS_PING_TIMEOUT,
    &WS_MAX_CONNECTIONS,
    &HEALTH_BUDGET,
    &SHUTDOWN_GRACE,
    &MAX_BATCH,
    &KEEPALIVE,
    &SSE_RESPONSES,
    &READ_ONLY,
    &LOG_LEVEL,
    &LOG_JSON,
    &OTEL_SDK_DISABLED,
    &OTEL_TRACES_EXPORTER,
    &OTEL_ENDPOINT,
    &OTEL_TRACES_ENDPOINT,
    &OTEL_HEADERS,
    &OTEL_TRACES_HEADERS,
    &OTEL_SAMPLER,
    &OTEL_SAMPLER_ARG,
    &OTEL_SERVICE_NAME,
    &TEST_TOOLS,
    &API_KEYS,
    &OAUTH_ISSUER,
    &OAUTH_AUDIENCE,
    &OAUTH_JWKS_URI,
    &OAUTH_AUTHORIZATION_SERVERS,
    &OAUTH_READ_SCOPE,
    &OAUTH_WRITE_SCOPE,
    &RESOURCE_URL,
    &RATE_LIMIT,
    &TOOL_RATE_LIMIT,
    &TOOL_TIMEOUT,
    &MAX_SESSIONS_PER_CALLER,
    &MAX_STREAMS_PER_SESSION,
    &ALLOW_UNAUTHENTICATED,
    &FINGERPRINT_KEY,
    &CONNECTORS,
    &TOOLSETS,
    &UPSTREAM_ALLOWLIST,
    &UPSTREAM_ALLOW_HTTP,
    &UPSTREAM_ALLOW_PRIVATE,
    &UPSTREAM_TIMEOUT,
    &UPSTREAM_POOL_SIZE,
    &UPSTREAM_POOL_IDLE,
    &UPSTREAM_RETRIES,
    &DYNAMIC_URLS,
    &UPSTREAM_CA_FILE,
    &SSL_CERT_FILE,
    &BRIDGE_URL,
    &BRIDGE_SECRET,
    &BRIDGE_SERVERS,
    &BRIDGE_REFRESH,
    &STDIO,
    &STDIO_ISOLATION,
    &STDIO_CONFIG,
    &DYNAMODB_TABLE,
    &LEGACY_POLL,
    &LAMBDA_INVOKE_MODE,
    &BASE_PATH,
];

/// The descriptions of every setting `target` reads.
pub fn for_target(target: Target) -> impl Iterator<Item = &'static Spec> {
    ALL.iter()
        .map(|s| s.spec())
        .filter(move |s| s.targets.has(target))
}

/// The setting read from `var`.
pub fn find(var: &str) -> Option<&'static dyn AnySetting> {
    ALL.iter().copied().find(|s| s.spec().var == var)
}

/// The table as JSON (`mcp-edge settings --json`): one object per setting with `var`, `flag`
/// (`--name` or null), `default`, `unset`, `shape` (`value`, `switch` or `list`), `separator`,
/// `targets`, `group`, `doc`, `secret` and `hidden`.
pub fn json() -> serde_json::Value {
    ALL.iter()
        .map(|s| {
            let s = s.spec();
            let (shape, sep) = match s.shape {
                Shape::Value => ("value", None),
                Shape::Switch => ("switch", None),
                Shape::List(c) => ("list", Some(c.to_string())),
            };
            serde_json::json!({
                "var": s.var,
                "flag": s.flag.map(|f| format!("--{f}")),
                "default": s.default,
                "unset": s.unset,
                "shape": shape,
                "separator": sep,
                "targets": Target::ALL.iter().filter(|t| s.targets.has(**t)).map(|t| t.name()).collect::<Vec<_>>(),
                "group": s.group.name(),
                "doc": s.doc,
                "secret": s.secret,
                "hidden": s.hidden,
            })
        })
        .collect()
}

/// One group's README table: `flag | env | default | where | meaning`.
pub fn markdown(group: Group) -> String {
    let mut out =
        String::from("| flag | env | default | where | meaning |\n|---|---|---|---|---|\n");
    for s in ALL.iter().map(|s| s.spec()) {
        if s.group != group || s.hidden {
            continue;
        }
        let flag = s.flag.map_or("—".to_owned(), |f| format!("`--{f}`"));
        let default = s.default.map_or(s.unset.to_owned(), |d| format!("`{d}`"));
        out.push_str(&format!(
            "| {flag} | `{}` | {default} | {} | {} |\n",
            s.var,
            s.targets.describe(),
            s.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_default_parses_and_names_are_unique() {
        let mut vars = HashSet::new();
        let mut flags = HashSet::new();
        for s in ALL {
            let spec = s.spec();
            assert!(vars.insert(spec.var), "{} twice", spec.var);
            if let Some(f) = spec.flag {
                assert!(flags.insert(f), "--{f} twice");
            }
            if let Some(d) = spec.default {
                s.check(d)
                    .unwrap_or_else(|e| panic!("{}: default {d}: {e}", spec.var));
            }
            assert!(
                spec.default.is_none() || spec.shape != Shape::Switch,
                "{}: switches are off by default",
                spec.var
            );
            assert!(
                !spec.doc.is_empty() && !spec.doc.contains('|'),
                "{}",
                spec.var
            );
        }
        assert!(vars.len() > 50);
    }

    #[test]
    fn list_parsers_split_at_their_separator() {
        // Two items joined with the separator parse as two items (the native command line joins
        // repeated flags that way).
        assert_eq!((API_KEYS.parse)("").unwrap().len(), 0);
        assert_eq!(
            (ALLOWED_HOSTS.parse)("a.example, b.example").unwrap().len(),
            2
        );
        assert_eq!((UPSTREAM_ALLOW_HTTP.parse)("a,b").unwrap().len(), 2);
        assert!((UPSTREAM_ALLOW_HTTP.parse)("a,b/c").is_err());
        assert_eq!(
            for_target(Target::Worker)
                .filter(|s| s.var == "MCP_EDGE_BIND")
                .count(),
            0,
            "native-only settings are not read by the Worker"
        );
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The README's configuration tables are this table rendered ([`markdown`]), between
    /// `<!-- settings:GROUP -->` and `<!-- /settings -->`. `MCP_EDGE_BLESS_README=1 cargo test -p
    /// mcp-edge-core readme` rewrites them after a change to the table.
    #[test]
    fn readme_tables_are_rendered_from_the_table() {
        let _lock = crate::README_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let mut out = String::new();
        let mut rest = readme.as_str();
        let mut stale = Vec::new();
        for group in Group::ALL {
            let open = format!("<!-- settings:{} -->\n", group.name());
            let start = rest
                .find(&open)
                .unwrap_or_else(|| panic!("README has no {open:?} block (in README order)"))
                + open.len();
            let len = rest[start..]
                .find("<!-- /settings -->")
                .expect("every settings block is closed");
            let want = markdown(group);
            if rest[start..start + len] != want {
                stale.push(group.name());
            }
            out.push_str(&rest[..start]);
            out.push_str(&want);
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        assert!(
            !rest.contains("<!-- settings:"),
            "a settings block out of README order"
        );
        if std::env::var_os("MCP_EDGE_BLESS_README").is_some() {
            std::fs::write(path, out).unwrap();
            return;
        }
        assert!(
            stale.is_empty(),
            "README configuration tables differ from the settings table: {stale:?} \
             (MCP_EDGE_BLESS_README=1 cargo test -p mcp-edge-core readme rewrites them)"
        );
        // Every flag and variable named anywhere in the README exists (a renamed setting cannot
        // leave prose behind).
        let known: Vec<&str> = ALL.iter().map(|s| s.spec().var).collect();
        for name in readme
            .split(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
            .filter(|w| w.starts_with("MCP_EDGE_") && !w.ends_with('_'))
        {
            assert!(
                known.contains(&name) || README_NON_SETTINGS.contains(&name),
                "README names {name}, which is not a setting"
            );
        }
    }

    /// `MCP_EDGE_*` names in the README that are not settings of mcp-edge: the test harness's
    /// variables.
    const README_NON_SETTINGS: &[&str] = &[
        "MCP_EDGE_TARGET",
        "MCP_EDGE_BIN",
        "MCP_EDGE_URL",
        "MCP_EDGE_WORKER_PREBUILT",
        "MCP_EDGE_LAMBDA_BASE_PATH",
        "MCP_EDGE_BLESS_README",
    ];
}
