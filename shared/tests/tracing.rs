//! Tracing through `McpApp` with memory ports: a 2026-07-28 `tools/call` under an incoming
//! `traceparent` yields a server span and an upstream client span in that trace, the upstream request
//! carries the client span's context, and no credential, header value or argument value appears in
//! any span.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::executor::block_on;
use mcp_edge_core::otel::{
    Attr, MemorySpanSink, Sampler, SpanKind, TraceMode, TraceSettings, TRACEPARENT,
};
use mcp_edge_core::port::{BoxFuture, Clock, Entropy, HttpClient, UnixMillis, UpstreamError};
use mcp_edge_core::session::MemorySessionStore;
use mcp_edge_core::tool::Registry;
use mcp_edge_core::transport::ReplyBody;
use mcp_edge_core::{GatewayConfig, McpApp, Ports};
use serde_json::{json, Value};

struct Tick(AtomicU64);
impl Clock for Tick {
    fn now(&self) -> UnixMillis {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

struct Counting(AtomicU64);
impl Entropy for Counting {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (n as u8).wrapping_mul(37).wrapping_add(i as u8) | 1;
        }
    }
}

/// Answers every upstream request with one Jira issue and keeps the requests' headers.
#[derive(Default)]
struct Jira {
    seen: Mutex<Vec<http::HeaderMap>>,
}

impl HttpClient for Jira {
    fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        self.seen.lock().unwrap().push(req.headers().clone());
        let body = json!({"id": "10001", "key": "DEMO-1", "fields": {"summary": "A summary", "status": {"name": "Open"}}});
        Box::pin(async move {
            Ok(http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Bytes::from(body.to_string()))
                .unwrap())
        })
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const TOKEN: &str = "jira-token-secret-123";
const EMAIL: &str = "someone@acme.test";
const ARG: &str = "argument-value-xyz";

fn gateway(mode: TraceMode) -> (McpApp, Arc<MemorySpanSink>, Arc<Jira>) {
    let jira = Arc::new(Jira::default());
    let config = GatewayConfig {
        tracing: TraceSettings {
            mode,
            ..TraceSettings::default()
        },
        ..GatewayConfig::default()
    };
    let mut registry = Registry::new();
    mcp_edge_core::testing::register_test_tools(&mut registry);
    mcp_edge_core::connector::register(&mut registry, Default::default());
    let ports = Ports {
        store: Arc::new(MemorySessionStore::new()),
        http: jira.clone(),
        clock: Arc::new(Tick(AtomicU64::new(1_000))),
        entropy: Arc::new(Counting(AtomicU64::new(1))),
    };
    let sink = Arc::new(MemorySpanSink::default());
    let app = McpApp::new(config, registry, ports)
        .unwrap()
        .with_span_sink(sink.clone());
    (app, sink, jira)
}

fn call(app: &McpApp, name: &str, args: Value, traceparent: &str) -> Value {
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args, "_meta": meta}});
    let req = http::Request::builder()
        .method("POST")
        .uri("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .header(TRACEPARENT, traceparent)
        .header("x-jira-url", "https://acme.atlassian.net")
        .header("x-jira-token", TOKEN)
        .header("x-jira-email", EMAIL)
        .body(Bytes::from(body.to_string()))
        .unwrap();
    let reply = block_on(app.handle(req));
    assert_eq!(reply.status(), 200);
    match reply.response.body() {
        ReplyBody::Full(b) => serde_json::from_slice(b).unwrap(),
        other => panic!("expected a JSON reply, got {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    mcp_edge_core::otel::hex(bytes)
}

#[test]
fn a_tool_call_is_one_trace_from_the_caller_to_the_upstream_without_secrets() {
    let (app, sink, jira) = gateway(TraceMode::Export(Sampler::ParentBased(Box::new(
        Sampler::AlwaysOn,
    ))));
    let r = call(
        &app,
        "jira_get_issue",
        json!({"issueKey": "DEMO-1", "fields": ["summary", ARG]}),
        &format!("00-{TRACE}-{PARENT}-01"),
    );
    assert!(r["result"].is_object(), "{r}");
    let spans = sink.spans();
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server)
        .expect("a server span");
    assert_eq!(hex(&server.trace_id), TRACE);
    assert_eq!(
        server.parent_span_id.map(|p| hex(&p)).as_deref(),
        Some(PARENT)
    );
    assert_eq!(server.name, "tools/call jira_get_issue");
    assert!(server
        .attributes
        .contains(&Attr::Tool("jira_get_issue".into())));
    let clients: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert!(!clients.is_empty());
    for c in &clients {
        assert_eq!(c.trace_id, server.trace_id);
        assert_eq!(c.parent_span_id, Some(server.span_id));
        assert!(c
            .attributes
            .contains(&Attr::Host("acme.atlassian.net".into())));
        assert!(c.attributes.contains(&Attr::HttpStatus(200)));
    }
    // Each upstream request carried its client span's context.
    let seen = jira.seen.lock().unwrap();
    assert_eq!(seen.len(), clients.len());
    for (headers, c) in seen.iter().zip(&clients) {
        assert_eq!(
            headers[TRACEPARENT],
            format!("00-{TRACE}-{}-01", hex(&c.span_id))
        );
    }
    let all = format!("{spans:?}");
    for secret in [TOKEN, EMAIL, ARG, "Basic "] {
        assert!(!all.contains(secret), "{secret} leaked into a span: {all}");
    }
}

#[test]
fn a_malformed_context_starts_a_new_trace_and_pass_through_forwards_it_unchanged() {
    let (app, sink, _) = gateway(TraceMode::Export(Sampler::AlwaysOn));
    let r = call(&app, "echo", json!({"message": "hi"}), "00-garbage");
    assert_eq!(r["result"]["content"][0]["text"], "hi", "{r}");
    let spans = sink.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_span_id, None);
    assert_ne!(spans[0].trace_id, [0; 16]);

    let (app, sink, jira) = gateway(TraceMode::PassThrough);
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    call(
        &app,
        "jira_get_issue",
        json!({"issueKey": "DEMO-1"}),
        &incoming,
    );
    assert!(sink.spans().is_empty(), "pass-through builds no span");
    let seen = jira.seen.lock().unwrap();
    assert!(!seen.is_empty() && seen.iter().all(|h| h[TRACEPARENT] == incoming.as_str()));

    let (app, _, jira) = gateway(TraceMode::Off);
    call(
        &app,
        "jira_get_issue",
        json!({"issueKey": "DEMO-1"}),
        &incoming,
    );
    assert!(jira
        .seen
        .lock()
        .unwrap()
        .iter()
        .all(|h| !h.contains_key(TRACEPARENT)));
}
