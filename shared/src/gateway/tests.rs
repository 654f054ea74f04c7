//! McpApp driven end to end with memory ports and a fixed clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::executor::block_on;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::port::BoxFuture;
use crate::session::{MemorySessionStore, SessionRecord};
use crate::testing::{CountingEntropy, FixedClock, NoHttp};
use crate::transport::headers::OriginPolicy;
use crate::transport::sse::SseParser;
use crate::transport::{ReplyBody, StreamChannel, StreamHold, SESSION_HEADER};

struct Harness {
    app: McpApp,
    clock: Arc<FixedClock>,
    store: Arc<MemorySessionStore>,
}

fn harness_with(config: GatewayConfig) -> Harness {
    let mut registry = Registry::new();
    crate::testing::register_test_tools(&mut registry);
    harness_with_registry(config, registry)
}

fn harness_with_registry(config: GatewayConfig, registry: Registry) -> Harness {
    let clock = Arc::new(FixedClock(AtomicU64::new(1_000_000)));
    let store = Arc::new(MemorySessionStore::new());
    let ports = Ports {
        store: store.clone(),
        http: Arc::new(NoHttp),
        clock: clock.clone(),
        entropy: Arc::new(CountingEntropy(AtomicU64::new(1))),
    };
    Harness {
        app: McpApp::new(config, registry, ports).unwrap(),
        clock,
        store,
    }
}

fn harness() -> Harness {
    harness_with(GatewayConfig {
        origins: OriginPolicy {
            allowed_origins: vec![],
            allowed_hosts: Some(vec![]),
        },
        ..GatewayConfig::default()
    })
}

fn post(headers: &[(&str, &str)], body: &str) -> Request<Bytes> {
    let mut b = Request::builder().method(Method::POST).uri("/mcp");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::copy_from_slice(body.as_bytes())).unwrap()
}

const JSON: (&str, &str) = ("content-type", "application/json");
const ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");

fn body_json(reply: &Reply) -> Value {
    match reply.response.body() {
        ReplyBody::Full(b) => serde_json::from_slice(b).unwrap(),
        ReplyBody::Sse { frames, .. } => {
            let mut p = SseParser::new();
            let events = p.feed(&frames.concat());
            let data = events
                .iter()
                .rev()
                .find(|e| !e.data.is_empty())
                .map(|e| e.data.clone())
                .unwrap_or_default();
            serde_json::from_str(&data).unwrap()
        }
        ReplyBody::Empty => Value::Null,
    }
}

fn initialize(h: &Harness, version: &str) -> String {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":version,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let reply = block_on(h.app.handle(post(&[JSON, ACCEPT], &body.to_string())));
    assert_eq!(reply.status(), StatusCode::OK);
    let sid = reply
        .response
        .headers()
        .get("mcp-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string();
    let r = block_on(
        h.app
            .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid)], &note)),
    );
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    sid
}

fn call(h: &Harness, sid: &str, method: &str, params: Value) -> (StatusCode, Value) {
    let body = json!({"jsonrpc":"2.0","id":7,"method":method,"params":params}).to_string();
    let reply = block_on(
        h.app
            .handle(post(&[JSON, ACCEPT, ("mcp-session-id", sid)], &body)),
    );
    (reply.status(), body_json(&reply))
}

#[test]
fn negotiates_versions_and_falls_back_to_latest() {
    let h = harness();
    for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":v,"capabilities":{}}});
        let r = block_on(h.app.handle(post(&[JSON, ACCEPT], &body.to_string())));
        assert_eq!(body_json(&r)["result"]["protocolVersion"], v);
    }
    let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{}}});
    let r = block_on(h.app.handle(post(&[JSON, ACCEPT], &body.to_string())));
    assert_eq!(body_json(&r)["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(h.store.len(), 5);
}

#[test]
fn tools_call_validates_arguments_and_returns_structured_content() {
    let h = harness();
    let sid = initialize(&h, "2025-11-25");
    let (s, v) = call(
        &h,
        &sid,
        "tools/call",
        json!({"name":"add","arguments":{"a":2,"b":3}}),
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["result"]["structuredContent"], json!({"sum": 5}));
    assert_eq!(v["result"]["content"][0]["text"], "{\"sum\":5}");
    let (_, v) = call(
        &h,
        &sid,
        "tools/call",
        json!({"name":"add","arguments":{"a":"x","b":3}}),
    );
    assert_eq!(v["error"]["code"], -32602);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("/a"),
        "{v}"
    );
    let (_, v) = call(
        &h,
        &sid,
        "tools/call",
        json!({"name":"add","arguments":{"a":1}}),
    );
    assert_eq!(v["error"]["code"], -32602);
    let (_, v) = call(&h, &sid, "tools/call", json!({"name":"nope"}));
    assert_eq!(v["error"]["code"], -32602);
    let (_, v) = call(
        &h,
        &sid,
        "tools/call",
        json!({"name":"fail","arguments":{"message":"boom"}}),
    );
    assert_eq!(v["result"]["isError"], true);
    assert_eq!(v["result"]["content"][0]["text"], "boom");
}

#[test]
fn older_versions_get_no_structured_content() {
    let h = harness();
    let sid = initialize(&h, "2025-03-26");
    let (_, v) = call(
        &h,
        &sid,
        "tools/call",
        json!({"name":"add","arguments":{"a":2,"b":3}}),
    );
    assert!(v["result"].get("structuredContent").is_none());
    assert_eq!(v["result"]["content"][0]["text"], "{\"sum\":5}");
}

#[test]
fn pagination_walks_every_tool_once() {
    let h = harness_with(GatewayConfig {
        page_size: 3,
        ..GatewayConfig::default()
    });
    let sid = initialize(&h, "2025-11-25");
    let total = h.app.registry.tools().len();
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = None::<String>;
    for page in 0..total {
        let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
        let (_, r) = call(&h, &sid, "tools/list", params);
        let tools = r["result"]["tools"].as_array().unwrap();
        assert_eq!(tools.len(), (total - page * 3).min(3), "page {page}");
        seen.extend(tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        cursor = r["result"]["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "the last page has no nextCursor");
    assert_eq!(seen.len(), total, "every tool once");
    let (_, bad) = call(&h, &sid, "tools/list", json!({"cursor": "999"}));
    assert_eq!(bad["error"]["code"], -32602);
}

#[test]
fn resources_prompts_logging_and_completion() {
    let h = harness();
    let sid = initialize(&h, "2025-06-18");
    let (_, v) = call(
        &h,
        &sid,
        "resources/read",
        json!({"uri":"test://echo/hi%20there"}),
    );
    assert_eq!(v["result"]["contents"][0]["text"], "hi there");
    let (_, v) = call(&h, &sid, "resources/read", json!({"uri":"test://missing"}));
    assert_eq!(v["error"]["code"], -32002);
    let (_, v) = call(&h, &sid, "resources/templates/list", json!({}));
    assert_eq!(
        v["result"]["resourceTemplates"][0]["uriTemplate"],
        "test://echo/{text}"
    );
    let (_, v) = call(
        &h,
        &sid,
        "prompts/get",
        json!({"name":"greeting","arguments":{"name":"Ada"}}),
    );
    assert_eq!(v["result"]["messages"][0]["content"]["text"], "Hello, Ada!");
    let (_, v) = call(&h, &sid, "prompts/get", json!({"name":"greeting"}));
    assert_eq!(v["error"]["code"], -32602);
    let (_, v) = call(&h, &sid, "logging/setLevel", json!({"level":"warning"}));
    assert_eq!(v["result"], json!({}));
    let rec = block_on(h.store.load(&SessionId::parse(&sid).unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(rec.log_level.as_deref(), Some("warning"));
    let (_, v) = call(&h, &sid, "logging/setLevel", json!({"level":"loud"}));
    assert_eq!(v["error"]["code"], -32602);
    let (_, v) = call(
        &h,
        &sid,
        "completion/complete",
        json!({"ref":{"type":"ref/prompt","name":"greeting"},"argument":{"name":"name","value":"A"}}),
    );
    assert_eq!(v["result"]["completion"]["values"], json!([]));
    let (_, v) = call(&h, &sid, "no/such", json!({}));
    assert_eq!(v["error"]["code"], -32601);
}

#[test]
fn bad_input_table() {
    let h = harness_with(GatewayConfig {
        max_body_bytes: 1024,
        origins: OriginPolicy {
            allowed_origins: vec![],
            allowed_hosts: Some(vec![]),
        },
        ..GatewayConfig::default()
    });
    let sid = initialize(&h, "2025-11-25");
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}"}}}}"#,
        "a".repeat(2000)
    );
    type Row<'a> = (Vec<(&'a str, &'a str)>, String, StatusCode, Option<i64>);
    let rows: Vec<Row> = vec![
        (
            vec![JSON, ACCEPT, ("mcp-session-id", &sid)],
            "{nope".into(),
            StatusCode::BAD_REQUEST,
            Some(-32700),
        ),
        (
            vec![JSON, ACCEPT, ("mcp-session-id", &sid)],
            r#"{"foo":1}"#.into(),
            StatusCode::BAD_REQUEST,
            Some(-32600),
        ),
        (
            vec![JSON, ACCEPT, ("mcp-session-id", &sid)],
            "[]".into(),
            StatusCode::BAD_REQUEST,
            Some(-32600),
        ),
        (
            vec![
                ("content-type", "text/plain"),
                ACCEPT,
                ("mcp-session-id", &sid),
            ],
            ping.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some(-32600),
        ),
        (
            vec![JSON, ("accept", "text/plain"), ("mcp-session-id", &sid)],
            ping.into(),
            StatusCode::NOT_ACCEPTABLE,
            Some(-32600),
        ),
        (
            vec![JSON, ACCEPT],
            ping.into(),
            StatusCode::BAD_REQUEST,
            Some(-32600),
        ),
        (
            vec![
                JSON,
                ACCEPT,
                ("mcp-session-id", "0123456789abcdef0123456789abcdef"),
            ],
            ping.into(),
            StatusCode::NOT_FOUND,
            Some(-32001),
        ),
        (
            vec![JSON, ACCEPT, ("mcp-session-id", "not-an-id")],
            ping.into(),
            StatusCode::NOT_FOUND,
            Some(-32001),
        ),
        (
            vec![
                JSON,
                ACCEPT,
                ("mcp-session-id", &sid),
                ("mcp-protocol-version", "1999-01-01"),
            ],
            ping.into(),
            StatusCode::BAD_REQUEST,
            Some(-32600),
        ),
        (
            vec![JSON, ACCEPT, ("mcp-session-id", &sid)],
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(-32600),
        ),
        (
            vec![
                JSON,
                ACCEPT,
                ("mcp-session-id", &sid),
                ("origin", "https://evil.example"),
            ],
            ping.into(),
            StatusCode::FORBIDDEN,
            Some(-32600),
        ),
        (
            vec![
                JSON,
                ACCEPT,
                ("mcp-session-id", &sid),
                ("host", "evil.example"),
            ],
            ping.into(),
            StatusCode::FORBIDDEN,
            Some(-32600),
        ),
        (
            vec![JSON, ACCEPT, ("mcp-session-id", &sid)],
            format!("[{ping}]"),
            StatusCode::BAD_REQUEST,
            Some(-32600),
        ),
        (
            vec![JSON, ACCEPT, ("mcp-session-id", &sid)],
            ping.into(),
            StatusCode::OK,
            None,
        ),
    ];
    for (i, (headers, body, status, code)) in rows.into_iter().enumerate() {
        let reply = block_on(h.app.handle(post(&headers, &body)));
        assert_eq!(reply.status(), status, "row {i}");
        if let Some(code) = code {
            assert_eq!(body_json(&reply)["error"]["code"], code, "row {i}");
        }
    }
}

#[test]
fn batches_only_where_the_version_allows_them() {
    let h = harness();
    let sid = initialize(&h, "2025-03-26");
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}]"#;
    let r = block_on(
        h.app
            .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid)], batch)),
    );
    let v = body_json(&r);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["id"], 1);
    assert_eq!(v[1]["id"], 2);
}

#[test]
fn sessions_expire_delete_and_refuse_other_credentials() {
    let h = harness_with(GatewayConfig {
        session_ttl_ms: 10_000,
        ..GatewayConfig::default()
    });
    let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}});
    let r = block_on(h.app.handle(post(
        &[JSON, ACCEPT, ("private-token", "secret-a")],
        &body.to_string(),
    )));
    let sid = r.response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let with = |token: &'static str| {
        vec![
            JSON,
            ACCEPT,
            ("mcp-session-id", sid.as_str()),
            ("private-token", token),
        ]
    };
    assert_eq!(
        block_on(h.app.handle(post(&with("secret-a"), ping))).status(),
        StatusCode::OK
    );
    assert_eq!(
        block_on(h.app.handle(post(&with("secret-b"), ping))).status(),
        StatusCode::NOT_FOUND
    );
    let rec = block_on(h.store.load(&SessionId::parse(&sid).unwrap()))
        .unwrap()
        .unwrap();
    let stored = serde_json::to_string(&rec).unwrap();
    assert!(
        !stored.contains("secret-a"),
        "credentials must never be stored"
    );
    h.clock.0.fetch_add(10_001, Ordering::SeqCst);
    assert_eq!(
        block_on(h.app.handle(post(&with("secret-a"), ping))).status(),
        StatusCode::NOT_FOUND
    );
    assert!(h.store.is_empty(), "expired session is removed");

    let sid2 = initialize(&h, "2025-11-25");
    let del = Request::builder()
        .method(Method::DELETE)
        .uri("/mcp")
        .header("mcp-session-id", &sid2)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(block_on(h.app.handle(del)).status(), StatusCode::OK);
    let (s, _) = call(&h, &sid2, "ping", json!({}));
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[test]
fn activity_keeps_a_session_alive() {
    let h = harness_with(GatewayConfig {
        session_ttl_ms: 10_000,
        ..GatewayConfig::default()
    });
    let sid = initialize(&h, "2025-11-25");
    for _ in 0..5 {
        h.clock.0.fetch_add(6_000, Ordering::SeqCst);
        let (s, _) = call(&h, &sid, "ping", json!({}));
        assert_eq!(s, StatusCode::OK);
    }
}

#[test]
fn sse_replies_resume_by_last_event_id_without_crossing_streams() {
    let h = harness();
    let sid = initialize(&h, "2025-11-25");
    let sse = |body: &str| {
        block_on(h.app.handle(post(
            &[
                JSON,
                ("accept", "text/event-stream"),
                ("mcp-session-id", &sid),
            ],
            body,
        )))
    };
    let first = sse(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"one"}}}"#,
    );
    assert_eq!(body_json(&first)["result"]["content"][0]["text"], "one");
    let deferred = sse(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"reconnect_echo","arguments":{"message":"two"}}}"#,
    );
    let ReplyBody::Sse { frames, hold } = deferred.response.body() else {
        panic!("expected SSE")
    };
    assert!(hold.is_none());
    let events = SseParser::new().feed(&frames.concat());
    assert_eq!(events.len(), 1, "only the priming event before the close");
    let last_id = events[0].id.clone().unwrap();
    assert_eq!(events[0].retry, Some(100));
    let get = |id: &str| {
        let req = Request::builder()
            .method(Method::GET)
            .uri("/mcp")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid)
            .header("last-event-id", id)
            .body(Bytes::new())
            .unwrap();
        block_on(h.app.handle(req))
    };
    let resumed = get(&last_id);
    let v = body_json(&resumed);
    assert_eq!(v["id"], 2);
    assert_eq!(v["result"]["content"][0]["text"], "two");
    let ReplyBody::Sse { frames, hold } = resumed.response.body() else {
        panic!("expected SSE")
    };
    assert!(hold.is_none(), "a finished stream closes after replay");
    assert_eq!(
        SseParser::new().feed(&frames.concat()).len(),
        1,
        "nothing from the first stream is replayed"
    );
    assert_eq!(get("abc").status(), StatusCode::BAD_REQUEST);
}

#[test]
fn get_opens_standalone_streams_and_refuses_modern_version() {
    let h = harness();
    let sid = initialize(&h, "2025-11-25");
    let get = |extra: Option<(&str, &str)>| {
        let mut b = Request::builder()
            .method(Method::GET)
            .uri("/mcp")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid);
        if let Some((k, v)) = extra {
            b = b.header(k, v);
        }
        block_on(h.app.handle(b.body(Bytes::new()).unwrap()))
    };
    let a = get(None);
    let b = get(None);
    let chan = |r: &Reply| match r.response.body() {
        ReplyBody::Sse { hold: Some(h), .. } => h.channel.clone(),
        other => panic!("expected held stream, got {other:?}"),
    };
    assert_ne!(chan(&a), chan(&b));
    assert!(matches!(chan(&a), StreamChannel::Standalone(_)));
    assert_eq!(
        get(Some(("mcp-protocol-version", "2026-07-28"))).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let no_session = Request::builder()
        .method(Method::GET)
        .uri("/mcp")
        .header("accept", "text/event-stream")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(
        block_on(h.app.handle(no_session)).status(),
        StatusCode::BAD_REQUEST
    );
    let not_sse = Request::builder()
        .method(Method::GET)
        .uri("/mcp")
        .header("accept", "application/json")
        .header("mcp-session-id", &sid)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(
        block_on(h.app.handle(not_sse)).status(),
        StatusCode::NOT_ACCEPTABLE
    );
}

fn modern(h: &Harness, headers: &[(&str, &str)], body: Value) -> (StatusCode, Value) {
    let mut all = vec![JSON, ACCEPT];
    all.extend_from_slice(headers);
    let r = block_on(h.app.handle(post(&all, &body.to_string())));
    (r.status(), body_json(&r))
}

fn meta(version: &str) -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}})
}

#[test]
fn stateless_2026_requests() {
    let h = harness();
    let v = "2026-07-28";
    let (s, r) = modern(
        &h,
        &[
            ("mcp-protocol-version", v),
            ("mcp-method", "server/discover"),
        ],
        json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta": meta(v)}}),
    );
    assert_eq!(s, StatusCode::OK);
    assert!(r["result"]["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    assert_eq!(r["result"]["resultType"], "complete");
    let identity = &r["result"]["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert!(
        identity["name"].is_string() && identity["version"].is_string(),
        "{r}"
    );
    let (s, r) = modern(
        &h,
        &[
            ("mcp-protocol-version", v),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
        ],
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},"_meta": meta(v)}}),
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["result"]["content"][0]["text"], "hi");
    assert_eq!(
        r["result"]["_meta"]["io.modelcontextprotocol/serverInfo"],
        *identity
    );
    let (_, r) = modern(
        &h,
        &[
            ("mcp-protocol-version", v),
            ("mcp-method", "resources/read"),
            ("mcp-name", "=?base64?dGVzdDovL3N0YXRpYy9oZWxsbw==?="),
        ],
        json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"test://static/hello","_meta": meta(v)}}),
    );
    assert_eq!(r["result"]["contents"][0]["text"], "Hello, world!");
    assert_eq!(r["result"]["cacheScope"], "private");
    assert_eq!(h.store.len(), 0, "stateless requests never create sessions");

    let rows = [
        (
            vec![("mcp-protocol-version", v), ("mcp-method", "tools/list")],
            json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","_meta": meta(v)}}),
            StatusCode::BAD_REQUEST,
            -32020,
        ),
        (
            vec![
                ("mcp-protocol-version", v),
                ("mcp-method", "tools/call"),
                ("mcp-name", "add"),
            ],
            json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","_meta": meta(v)}}),
            StatusCode::BAD_REQUEST,
            -32020,
        ),
        (
            vec![("mcp-protocol-version", v), ("mcp-method", "tools/list")],
            json!({"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta": meta("2025-11-25")}}),
            StatusCode::BAD_REQUEST,
            -32020,
        ),
        (
            vec![("mcp-method", "tools/list")],
            json!({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta": meta("2027-01-01")}}),
            StatusCode::BAD_REQUEST,
            -32020,
        ),
        (
            vec![("mcp-protocol-version", v), ("mcp-method", "tools/list")],
            json!({"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"_meta": {}}}),
            StatusCode::BAD_REQUEST,
            -32602,
        ),
        (
            vec![("mcp-protocol-version", v), ("mcp-method", "nope/x")],
            json!({"jsonrpc":"2.0","id":9,"method":"nope/x","params":{"_meta": meta(v)}}),
            StatusCode::NOT_FOUND,
            -32601,
        ),
    ];
    for (i, (headers, body, status, code)) in rows.into_iter().enumerate() {
        let (s, r) = modern(&h, &headers, body);
        assert_eq!(
            (s, r["error"]["code"].as_i64()),
            (status, Some(code)),
            "row {i}: {r}"
        );
    }
    // Unsupported modern version with matching headers: -32022 naming what we support.
    let (s, r) = modern(
        &h,
        &[
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-method", "tools/list"),
        ],
        json!({"jsonrpc":"2.0","id":10,"method":"tools/list","params":{"_meta": meta("2025-11-25")}}),
    );
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(r["error"]["code"], -32022);
    assert_eq!(r["error"]["data"]["supported"], json!(["2026-07-28"]));
}

/// A 2026-07-28 `tools/call` of `name` with `extra` params merged in and these client capabilities.
fn modern_call(h: &Harness, name: &str, caps: Value, extra: Value) -> (StatusCode, Value) {
    let v = "2026-07-28";
    let mut params = json!({"name": name, "arguments": {"message": "m"},
        "_meta": {"io.modelcontextprotocol/protocolVersion": v, "io.modelcontextprotocol/clientCapabilities": caps}});
    if let (Some(p), Value::Object(e)) = (params.as_object_mut(), extra) {
        p.extend(e);
    }
    modern(
        h,
        &[
            ("mcp-protocol-version", v),
            ("mcp-method", "tools/call"),
            ("mcp-name", name),
        ],
        json!({"jsonrpc":"2.0","id":41,"method":"tools/call","params": params}),
    )
}

/// Posts through the live path the platforms use ([`McpApp::live`]): the reply's content type and
/// every JSON-RPC message it carries, in order.
fn live_post(h: &Harness, headers: &[(&str, &str)], body: Value) -> (String, Vec<Value>) {
    let mut req = post(headers, &body.to_string());
    let related = h.app.live(&mut req);
    let (head, rest) = match block_on(related.start(Box::pin(h.app.handle(req)))) {
        crate::transport::live::Started::Whole(r) => (r, Vec::new()),
        crate::transport::live::Started::Streaming(head, body) => {
            use futures_util::StreamExt as _;
            (head, block_on(body.into_stream().collect::<Vec<_>>()))
        }
    };
    let kind = head.response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let messages = match head.response.into_body() {
        ReplyBody::Full(b) => vec![serde_json::from_slice(&b).unwrap()],
        ReplyBody::Sse { mut frames, .. } => {
            frames.extend(rest);
            SseParser::new()
                .feed(&frames.concat())
                .iter()
                .filter(|e| !e.data.is_empty())
                .map(|e| serde_json::from_str(&e.data).unwrap())
                .collect()
        }
        ReplyBody::Empty => Vec::new(),
    };
    (kind, messages)
}

fn modern_tool(name: &str, meta_extra: Value) -> (Vec<(&'static str, String)>, Value) {
    let mut m = meta("2026-07-28");
    if let (Some(m), Value::Object(e)) = (m.as_object_mut(), meta_extra) {
        m.extend(e);
    }
    let headers = vec![
        ("mcp-protocol-version", "2026-07-28".to_owned()),
        ("mcp-method", "tools/call".to_owned()),
        ("mcp-name", name.to_owned()),
    ];
    (
        headers,
        json!({"jsonrpc":"2.0","id":41,"method":"tools/call","params": {"name": name, "arguments": {}, "_meta": m}}),
    )
}

fn methods(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["method"].as_str().unwrap_or("(answer)"))
        .collect()
}

#[test]
fn a_2026_call_streams_its_progress_and_logs_only_when_the_request_asks() {
    let h = harness();
    let run = |name: &str, extra: Value, accept: (&'static str, &'static str)| {
        let (hs, body) = modern_tool(name, extra);
        let mut all: Vec<(&str, &str)> = vec![JSON, accept];
        all.extend(hs.iter().map(|(k, v)| (*k, v.as_str())));
        live_post(&h, &all, body)
    };
    let (kind, messages) = run(
        "test_tool_with_progress",
        json!({"progressToken": "p-1"}),
        ACCEPT,
    );
    assert_eq!(kind, "text/event-stream");
    assert_eq!(
        methods(&messages),
        [
            "notifications/progress",
            "notifications/progress",
            "notifications/progress",
            "(answer)"
        ]
    );
    let progress: Vec<&Value> = messages[..3].iter().map(|m| &m["params"]).collect();
    assert_eq!(
        progress,
        [
            &json!({"progressToken": "p-1", "progress": 0.0, "total": 100.0}),
            &json!({"progressToken": "p-1", "progress": 50.0, "total": 100.0}),
            &json!({"progressToken": "p-1", "progress": 100.0, "total": 100.0})
        ]
    );
    assert_eq!(messages[3]["id"], 41);
    assert_eq!(messages[3]["result"]["isError"], false);
    // No token, or a client that takes only JSON: the JSON answer alone.
    let (kind, messages) = run("test_tool_with_progress", json!({}), ACCEPT);
    assert_eq!(
        (kind.as_str(), methods(&messages)),
        ("application/json", vec!["(answer)"])
    );
    let (kind, messages) = run(
        "test_tool_with_progress",
        json!({"progressToken": 5}),
        ("accept", "application/json"),
    );
    assert_eq!(
        (kind.as_str(), methods(&messages)),
        ("application/json", vec!["(answer)"])
    );
    // Log messages: none without a logLevel (SEP-2575), none below the level, one at it.
    let (kind, messages) = run("test_logging_tool", json!({}), ACCEPT);
    assert_eq!(
        (kind.as_str(), methods(&messages)),
        ("application/json", vec!["(answer)"])
    );
    let level = "io.modelcontextprotocol/logLevel";
    let (_, messages) = run("test_logging_tool", json!({level: "warning"}), ACCEPT);
    assert_eq!(methods(&messages), ["(answer)"]);
    let (kind, messages) = run("test_logging_tool", json!({level: "info"}), ACCEPT);
    assert_eq!(kind, "text/event-stream");
    assert_eq!(methods(&messages), ["notifications/message", "(answer)"]);
    assert_eq!(messages[0]["params"]["level"], "info");
    let (_, messages) = run("test_logging_tool", json!({level: "loud"}), ACCEPT);
    assert_eq!(messages[0]["error"]["code"], -32602, "{messages:?}");
    // A tool that sends nothing answers JSON, as before.
    let (kind, messages) = run(
        "test_simple_text",
        json!({"progressToken": "p", level: "debug"}),
        ACCEPT,
    );
    assert_eq!(
        (kind.as_str(), methods(&messages)),
        ("application/json", vec!["(answer)"])
    );
}

#[test]
fn a_2025_session_gets_log_messages_at_its_set_level_and_progress_for_its_token() {
    let h = harness();
    let sid = initialize(&h, "2025-11-25");
    let headers = [JSON, ACCEPT, ("mcp-session-id", sid.as_str())];
    let tool = |name: &str, meta: Value| {
        live_post(
            &h,
            &headers,
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name": name, "arguments": {}, "_meta": meta}}),
        )
    };
    // No setLevel yet: info and above.
    let (kind, messages) = tool("test_tool_with_logging", json!({}));
    assert_eq!(kind, "text/event-stream");
    assert_eq!(methods(&messages)[..3], ["notifications/message"; 3]);
    assert_eq!(messages[0]["params"]["data"], "Tool execution started");
    assert_eq!(messages[3]["id"], 9);
    assert_eq!(
        call(&h, &sid, "logging/setLevel", json!({"level": "error"})).0,
        StatusCode::OK
    );
    let (kind, messages) = tool("test_tool_with_logging", json!({}));
    assert_eq!(
        (kind.as_str(), methods(&messages)),
        ("application/json", vec!["(answer)"])
    );
    let (_, messages) = tool("test_tool_with_progress", json!({"progressToken": 3}));
    assert_eq!(methods(&messages).len(), 4);
    assert!(messages[..3]
        .iter()
        .all(|m| m["params"]["progressToken"] == 3));
}

#[test]
fn removed_methods_in_2026_are_not_found_and_errors_keep_the_id() {
    let h = harness();
    let v = "2026-07-28";
    for method in ["initialize", "ping", "logging/setLevel"] {
        let (s, r) = modern(
            &h,
            &[("mcp-protocol-version", v), ("mcp-method", method)],
            json!({"jsonrpc":"2.0","id":77,"method":method,"params":{"level":"info","_meta": meta(v)}}),
        );
        assert_eq!(
            (s, r["error"]["code"].as_i64()),
            (StatusCode::NOT_FOUND, Some(-32601)),
            "{method}: {r}"
        );
        assert_eq!(r["id"], 77, "{method}");
    }
    // An unknown version in both header and envelope: -32022 echoing it, with the request's id.
    let (s, r) = modern(
        &h,
        &[
            ("mcp-protocol-version", "v999.0.0"),
            ("mcp-method", "server/discover"),
        ],
        json!({"jsonrpc":"2.0","id":301,"method":"server/discover","params":{"_meta": meta("v999.0.0")}}),
    );
    assert_eq!(
        (s, r["id"].clone()),
        (StatusCode::BAD_REQUEST, json!(301)),
        "{r}"
    );
    assert_eq!(r["error"]["data"]["requested"], "v999.0.0");
    // Header values with surrounding whitespace are the same values.
    let (s, r) = modern(
        &h,
        &[
            ("mcp-protocol-version", " 2026-07-28 "),
            ("mcp-method", " tools/list"),
        ],
        json!({"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta": meta(v)}}),
    );
    assert_eq!(s, StatusCode::OK, "{r}");
    // No credential, policy header or authentication shapes this list: public, ttl from config.
    assert_eq!(
        (
            r["result"]["cacheScope"].as_str(),
            r["result"]["ttlMs"].as_u64()
        ),
        (Some("public"), Some(0))
    );
    let (_, r) = modern(
        &h,
        &[
            ("mcp-protocol-version", v),
            ("mcp-method", "tools/list"),
            ("x-mcp-read-only", "true"),
        ],
        json!({"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta": meta(v)}}),
    );
    assert_eq!(
        r["result"]["cacheScope"], "private",
        "a policy header shapes the list"
    );
}

#[test]
fn input_required_round_trips_carry_a_signed_state() {
    let h = harness();
    let tool = "test_input_required_result_multi_round";
    let (s, r1) = modern_call(&h, tool, json!({"elicitation": {}}), json!({}));
    assert_eq!(s, StatusCode::OK, "{r1}");
    assert_eq!(r1["result"]["resultType"], "input_required");
    let state1 = r1["result"]["requestState"].as_str().unwrap().to_owned();
    let answer = |k: &str, f: &str, v: &str| json!({k: {"action": "accept", "content": {f: v}}});
    let (_, r2) = modern_call(
        &h,
        tool,
        json!({"elicitation": {}}),
        json!({"inputResponses": answer("step1", "name", "Ada"), "requestState": state1}),
    );
    let state2 = r2["result"]["requestState"].as_str().unwrap().to_owned();
    assert_ne!(state1, state2);
    let (_, r3) = modern_call(
        &h,
        tool,
        json!({"elicitation": {}}),
        json!({"inputResponses": answer("step2", "color", "green"), "requestState": state2.clone()}),
    );
    assert_eq!(
        r3["result"]["content"][0]["text"], "Ada likes green",
        "{r3}"
    );
    // Altered, or presented for another tool: -32602, keeping the id.
    for (name, token) in [
        (tool, format!("{state2}-TAMPERED")),
        ("test_input_required_result_request_state", state2),
    ] {
        let (s, r) = modern_call(
            &h,
            name,
            json!({"elicitation": {}}),
            json!({"inputResponses": answer("step2", "color", "x"), "requestState": token}),
        );
        assert_eq!(
            (s, r["error"]["code"].as_i64(), r["id"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(-32602), Some(41)),
            "{r}"
        );
    }
    // Input requests need the declared capability: -32021 naming it.
    let (s, r) = modern_call(&h, "test_missing_capability", json!({}), json!({}));
    assert_eq!(
        (s, r["error"]["code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(-32021)),
        "{r}"
    );
    assert_eq!(
        r["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}})
    );
    // The 2025 eras cannot answer input requests: a tool result says so, a prompt is refused.
    let sid = initialize(&h, "2025-11-25");
    let (_, r) = call(
        &h,
        &sid,
        "tools/call",
        json!({"name": tool, "arguments": {}}),
    );
    assert_eq!(r["result"]["isError"], true, "{r}");
    let (_, r) = call(
        &h,
        &sid,
        "prompts/get",
        json!({"name": "test_input_required_result_prompt"}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

#[test]
fn a_destructive_tool_asks_a_2026_client_with_elicitation_to_confirm() {
    let h = harness();
    // Without elicitation it runs as before.
    let (_, r) = modern_call(&h, "destructive_echo", json!({}), json!({}));
    assert_eq!(r["result"]["content"][0]["text"], "m", "{r}");
    let (_, r) = modern_call(
        &h,
        "destructive_echo",
        json!({"elicitation": {}}),
        json!({}),
    );
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let ask = &r["result"]["inputRequests"]["mcp_edge_confirm"];
    assert_eq!(ask["method"], "elicitation/create");
    let state = r["result"]["requestState"].clone();
    let reply = |action: &str, confirm: bool| {
        modern_call(&h, "destructive_echo", json!({"elicitation": {}}), json!({
            "inputResponses": {"mcp_edge_confirm": {"action": action, "content": {"confirm": confirm}}},
            "requestState": state.clone()}))
        .1
    };
    let declined = reply("decline", false);
    assert_eq!(declined["result"]["isError"], true, "{declined}");
    assert_eq!(reply("accept", false)["result"]["isError"], true);
    let ran = reply("accept", true);
    assert_eq!(
        (
            ran["result"]["content"][0]["text"].as_str(),
            ran["result"]["isError"].as_bool()
        ),
        (Some("m"), Some(false)),
        "{ran}"
    );
}

#[test]
fn custom_param_headers_must_mirror_their_arguments() {
    let h = harness();
    let v = "2026-07-28";
    let call = |param: Option<&str>, region: &str| {
        let mut headers = vec![
            ("mcp-protocol-version", v),
            ("mcp-method", "tools/call"),
            ("mcp-name", "test_custom_header"),
        ];
        if let Some(p) = param {
            headers.push(("mcp-param-region", p));
        }
        modern(
            &h,
            &headers,
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call",
            "params":{"name":"test_custom_header","arguments":{"region": region},"_meta": meta(v)}}),
        )
    };
    assert_eq!(call(Some("eu-west"), "eu-west").0, StatusCode::OK);
    assert_eq!(call(Some("=?base64?SGVsbG8=?="), "Hello").0, StatusCode::OK);
    assert_eq!(
        call(Some("SGVsbG8="), "SGVsbG8=").0,
        StatusCode::OK,
        "no wrapper: a literal"
    );
    for (header, body) in [
        (None, "eu"),
        (Some("us"), "eu"),
        (Some("=?base64?SGVsbG8?="), "Hello"),
        (Some("=?base64?SGVs!!!bG8=?="), "Hello"),
    ] {
        let (s, r) = call(header, body);
        assert_eq!(
            (s, r["error"]["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(-32020)),
            "{header:?}: {r}"
        );
    }
}

#[test]
fn legacy_sse_flow_delivers_replies_to_the_stream() {
    let h = harness();
    let open = block_on(
        h.app.handle(
            Request::builder()
                .method(Method::GET)
                .uri("/sse")
                .body(Bytes::new())
                .unwrap(),
        ),
    );
    let ReplyBody::Sse {
        frames,
        hold: Some(hold),
    } = open.response.body()
    else {
        panic!("expected held stream")
    };
    let events = SseParser::new().feed(&frames.concat());
    assert_eq!(events[0].event.as_deref(), Some("endpoint"));
    let endpoint = events[0].data.clone();
    assert!(endpoint.starts_with("/messages?sessionId="));
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{}}}).to_string();
    let post_to = |uri: &str, body: &str| {
        block_on(
            h.app.handle(
                Request::builder()
                    .method(Method::POST)
                    .uri(uri)
                    .header("content-type", "application/json")
                    .body(Bytes::copy_from_slice(body.as_bytes()))
                    .unwrap(),
            ),
        )
    };
    let r = post_to(&endpoint, &init);
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.deliveries.len(), 1);
    assert_eq!(r.deliveries[0].session, hold.session);
    let ev = SseParser::new().feed(&r.deliveries[0].frame);
    let v: Value = serde_json::from_str(&ev[0].data).unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(
        post_to(
            "/messages?sessionId=0123456789abcdef0123456789abcdef",
            &init
        )
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post_to("/messages", &init).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(post_to(&endpoint, "{bad").status(), StatusCode::BAD_REQUEST);
    block_on(h.app.stream_closed(hold));
    assert_eq!(post_to(&endpoint, &init).status(), StatusCode::NOT_FOUND);
}

#[test]
fn stdio_lines_are_json_rpc_only() {
    let h = harness();
    let mut conn = h.app.stdio_open();
    let mut send = |text: &str| -> Vec<Value> {
        block_on(h.app.stdio_line(&mut conn, text))
            .iter()
            .map(|l| {
                assert!(!l.contains('\n'), "one message per line: {l}");
                serde_json::from_str(l).unwrap()
            })
            .collect()
    };
    assert!(send("   ").is_empty(), "blank lines are ignored");
    let init = send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
    );
    assert_eq!(init[0]["result"]["protocolVersion"], "2025-06-18");
    assert!(send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_empty());
    // The WebSocket's simple envelope is not a stdio dialect: it is an invalid request here.
    let env = send(r#"{"request_id":"a","type":"list_tools"}"#);
    assert_eq!(env[0]["error"]["code"], -32600, "{env:?}");
    let echo = send(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"yo"}}}"#,
    );
    assert_eq!(echo[0]["result"]["content"][0]["text"], "yo");
    assert_eq!(send("{oops")[0]["error"]["code"], -32700);
}

#[test]
fn websocket_envelope_and_jsonrpc() {
    let h = harness();
    let headers = http::HeaderMap::new();
    let acc = block_on(h.app.ws_accept(&headers, None)).unwrap();
    assert!(acc.subprotocol.is_none());
    let welcome: Value = serde_json::from_str(&acc.greeting[0]).unwrap();
    assert_eq!(welcome["type"], "welcome");
    let mut conn = acc.connection;
    let send = |conn: &mut WsConnection, text: &str| -> Value {
        let out = block_on(h.app.ws_message(conn, &headers, text));
        serde_json::from_str(&out[0]).unwrap()
    };
    let r = send(
        &mut conn,
        r#"{"request_id":"a","type":"call_tool","name":"echo","arguments":{"message":"yo"}}"#,
    );
    assert_eq!(
        (
            r["type"].as_str(),
            r["success"].as_bool(),
            r["request_id"].as_str()
        ),
        (Some("response"), Some(true), Some("a"))
    );
    assert_eq!(r["data"]["content"][0]["text"], "yo");
    let r = send(
        &mut conn,
        r#"{"request_id":"b","type":"call_tool","name":"fail"}"#,
    );
    assert_eq!(
        (r["type"].as_str(), r["success"].as_bool()),
        (Some("error"), Some(false))
    );
    let r = send(
        &mut conn,
        r#"{"request_id":"c","type":"read_resource","uri":"test://static/hello"}"#,
    );
    assert_eq!(r["data"]["contents"][0]["text"], "Hello, world!");
    let r = send(&mut conn, r#"{"type":"ping"}"#);
    assert_eq!(r["type"], "pong");
    let r = send(&mut conn, r#"{"request_id":"d","type":"explode"}"#);
    assert_eq!(r["type"], "error");
    let r = send(
        &mut conn,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
    );
    assert_eq!(r["result"]["protocolVersion"], "2025-06-18");
    let r = send(&mut conn, "{nope");
    assert_eq!(r["error"]["code"], -32700);
    let mut sub = http::HeaderMap::new();
    sub.insert("sec-websocket-protocol", "mcp".parse().unwrap());
    let acc = block_on(h.app.ws_accept(&sub, None)).unwrap();
    assert_eq!(acc.subprotocol, Some("mcp"));
    assert!(acc.greeting.is_empty());
}

#[test]
fn policy_headers_narrow_the_tool_set() {
    let h = harness();
    let sid = initialize(&h, "2025-11-25");
    let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}).to_string();
    let r = block_on(h.app.handle(post(
        &[
            JSON,
            ACCEPT,
            ("mcp-session-id", &sid),
            ("x-mcp-tools", "echo,add"),
        ],
        &body,
    )));
    let names: Vec<String> = body_json(&r)["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["echo", "add"]);
    let body =
        json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"fail"}}).to_string();
    let r = block_on(h.app.handle(post(
        &[
            JSON,
            ACCEPT,
            ("mcp-session-id", &sid),
            ("x-mcp-tools", "echo"),
        ],
        &body,
    )));
    assert_eq!(body_json(&r)["error"]["code"], -32003);
}

/// Toolsets: configuration chooses the connector toolsets, `X-MCP-Toolsets` narrows them per
/// request (never widens), an unknown name is refused with -32602 naming it, a tool outside the
/// request's toolsets is as unknown as an unregistered one, and tools of no toolset stay offered.
#[test]
fn toolsets_choose_connector_tools_and_the_header_only_narrows() {
    use crate::connector::toolset::{Toolset, Toolsets};
    let config = |toolsets| GatewayConfig {
        origins: OriginPolicy {
            allowed_origins: vec![],
            allowed_hosts: Some(vec![]),
        },
        policy: crate::policy::PolicyConfig {
            toolsets,
            allow_request_overrides: true,
            ..Default::default()
        },
        ..GatewayConfig::default()
    };
    let registry = || {
        let mut r = Registry::new();
        crate::testing::register_test_tools(&mut r);
        crate::connector::register(&mut r, crate::connector::ConnectorSet::default());
        r
    };
    const GITLAB: [(&str, &str); 2] = [
        ("x-gitlab-api-url", "https://gitlab.example.com"),
        ("private-token", "glpat-test"),
    ];
    let rpc = |h: &Harness, extra: &[(&str, &str)], method: &str, params: Value| {
        let mut headers = vec![JSON, ACCEPT, ("mcp-protocol-version", "2025-06-18")];
        headers.extend_from_slice(&GITLAB);
        headers.extend_from_slice(extra);
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}});
        let r = block_on(h.app.handle(post(&headers, &init.to_string())));
        let sid = r.response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        headers.push(("mcp-session-id", &sid));
        let body = json!({"jsonrpc":"2.0","id":2,"method":method,"params":params}).to_string();
        body_json(&block_on(h.app.handle(post(&headers, &body))))
    };
    let names = |v: &Value| -> Vec<String> {
        v["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let of = |names: &[String]| -> std::collections::BTreeSet<&str> {
        names
            .iter()
            .filter_map(|n| crate::connector::toolset::of(n))
            .map(Toolset::name)
            .collect()
    };

    // The compact default: GitLab's core tools, none of its CI tools; test tools stay.
    let compact = harness_with_registry(config(Some(Toolsets::DEFAULT)), registry());
    let listed = names(&rpc(&compact, &[], "tools/list", json!({})));
    assert_eq!(of(&listed), ["gitlab"].into_iter().collect());
    assert!(listed.iter().any(|n| n == "echo"), "{listed:?}");
    // A tool outside the toolsets is unknown, exactly as an unregistered one.
    let outside = rpc(
        &compact,
        &[],
        "tools/call",
        json!({"name":"gitlab_list_pipelines","arguments":{"projectId":"1"}}),
    );
    let unknown = rpc(
        &compact,
        &[],
        "tools/call",
        json!({"name":"gitlab_no_such_tool","arguments":{}}),
    );
    assert_eq!(outside["error"]["code"], -32602);
    assert_eq!(
        outside["error"]["message"].as_str().unwrap(),
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .replace("gitlab_no_such_tool", "gitlab_list_pipelines")
    );
    // The header cannot widen the configuration…
    let widen = rpc(
        &compact,
        &[("x-mcp-toolsets", "gitlab_ci,gitlab")],
        "tools/list",
        json!({}),
    );
    assert_eq!(of(&names(&widen)), ["gitlab"].into_iter().collect());

    // …but narrows it: every toolset configured, the header keeps CI only (same order as unnarrowed).
    let all = harness_with_registry(config(None), registry());
    let wide = names(&rpc(&all, &[], "tools/list", json!({})));
    assert_eq!(of(&wide).len(), 6, "every GitLab toolset: {:?}", of(&wide));
    let ci = names(&rpc(
        &all,
        &[("x-mcp-toolsets", " GitLab_CI ")],
        "tools/list",
        json!({}),
    ));
    assert_eq!(of(&ci), ["gitlab_ci"].into_iter().collect());
    let in_order: Vec<&String> = wide
        .iter()
        .filter(|n| ci.contains(n) || !n.starts_with("gitlab_"))
        .collect();
    assert_eq!(ci.iter().collect::<Vec<_>>(), in_order);
    let narrowed_out = rpc(
        &all,
        &[("x-mcp-toolsets", "gitlab_ci")],
        "tools/call",
        json!({"name":"gitlab_get_project","arguments":{"projectId":"1"}}),
    );
    assert_eq!(
        narrowed_out["error"]["message"],
        "Unknown tool: gitlab_get_project"
    );
    // An unknown toolset name is refused on list and call, naming it.
    for method in ["tools/list", "tools/call"] {
        let bad = rpc(
            &all,
            &[("x-mcp-toolsets", "gitlab,gitlab_pipelines")],
            method,
            json!({"name":"echo","arguments":{"message":"m"}}),
        );
        assert_eq!(bad["error"]["code"], -32602, "{bad}");
        let message = bad["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("X-MCP-Toolsets") && message.contains("'gitlab_pipelines'"),
            "{message}"
        );
    }
    // Without request overrides the header is ignored, as X-MCP-Tools is.
    let fixed = harness_with_registry(
        GatewayConfig {
            policy: crate::policy::PolicyConfig {
                toolsets: Some(Toolsets::ALL),
                allow_request_overrides: false,
                ..Default::default()
            },
            ..config(None)
        },
        registry(),
    );
    let ignored = names(&rpc(
        &fixed,
        &[("x-mcp-toolsets", "gitlab_ci")],
        "tools/list",
        json!({}),
    ));
    assert_eq!(ignored, wide);
}

/// `tools/list` splices pre-serialized definitions into its replies: every reply body (sessionful
/// JSON, a batch, a 2026-07-28 JSON and SSE reply, pages, toolset and tool narrowing) must be the
/// exact bytes serializing the same reply as one `Value` gives (what the gateway sent before), and
/// each listed tool must be its registry definition, in registry order.
#[test]
fn tools_list_replies_are_byte_identical_to_value_serialization() {
    let registry = || {
        let mut r = Registry::new();
        crate::testing::register_test_tools(&mut r);
        crate::connector::register(&mut r, crate::connector::ConnectorSet::default());
        r
    };
    let h = harness_with_registry(
        GatewayConfig {
            origins: OriginPolicy {
                allowed_origins: vec![],
                allowed_hosts: Some(vec![]),
            },
            policy: crate::policy::PolicyConfig {
                toolsets: Some(crate::connector::toolset::Toolsets::ALL),
                allow_request_overrides: true,
                ..Default::default()
            },
            page_size: 40,
            ..GatewayConfig::default()
        },
        registry(),
    );
    let order: Vec<String> = h
        .app
        .registry
        .tools()
        .iter()
        .map(|t| t.def().name.clone())
        .collect();
    let creds = [
        ("x-gitlab-api-url", "https://gitlab.example.com"),
        ("private-token", "glpat-test"),
        ("x-jira-url", "https://jira.example.com"),
        ("x-jira-token", "t"),
        ("x-jira-email", "b@example.com"),
        ("x-confluence-url", "https://wiki.example.com/wiki"),
        ("x-confluence-token", "t"),
        ("x-confluence-email", "b@example.com"),
    ];
    // Checks one reply body; returns the listed names and the next cursor.
    let check = |data: &[u8]| -> (Vec<String>, Option<String>) {
        let v: Value = serde_json::from_slice(data).unwrap();
        assert_eq!(
            serde_json::to_vec(&v).unwrap(),
            data,
            "not the Value serialization"
        );
        let result = &v["result"];
        let mut names = Vec::new();
        for t in result["tools"].as_array().unwrap_or_else(|| panic!("{v}")) {
            let name = t["name"].as_str().unwrap();
            let tool = h.app.registry.tool(name).unwrap();
            assert_eq!(t, &super::listed_definition(tool.as_ref()), "{name}");
            names.push(name.to_owned());
        }
        let positions: Vec<usize> = names
            .iter()
            .map(|n| order.iter().position(|o| o == n).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        (names, result["nextCursor"].as_str().map(str::to_owned))
    };
    let full = |r: &Reply| match r.response.body() {
        ReplyBody::Full(b) => b.to_vec(),
        other => panic!("{other:?}"),
    };

    // Sessionful JSON: every page of the full list (three pages of 40).
    let mut headers = vec![JSON, ACCEPT, ("mcp-protocol-version", "2025-03-26")];
    headers.extend_from_slice(&creds);
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{}}});
    let r = block_on(h.app.handle(post(&headers, &init.to_string())));
    let sid = r.response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    headers.push(("mcp-session-id", &sid));
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..10 {
        let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
        let body = json!({"jsonrpc":"2.0","id":page,"method":"tools/list","params":params});
        let (names, next) = check(&full(&block_on(
            h.app.handle(post(&headers, &body.to_string())),
        )));
        all.extend(names);
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none());
    assert_eq!(all, order, "every registered tool once, in registry order");

    // A batch: the array of replies is byte-identical too.
    let batch = r#"[{"jsonrpc":"2.0","id":"a","method":"tools/list"},{"jsonrpc":"2.0","id":"b","method":"ping"}]"#;
    let body = full(&block_on(h.app.handle(post(&headers, batch))));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(serde_json::to_vec(&v).unwrap(), body);
    assert_eq!(v[0]["result"]["tools"].as_array().unwrap().len(), 40);
    assert_eq!(v[1]["result"], json!({}));

    // 2026-07-28, JSON and SSE, narrowed by toolsets and by tool names: `_meta`, `cacheScope`,
    // `resultType` and `ttlMs` sort around `tools`.
    let meta = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}});
    let narrowings: [&[(&str, &str)]; 3] = [
        &[("x-mcp-toolsets", "gitlab_ci,jira")],
        &[("x-mcp-tools", "echo,jira_get_issue,gitlab_get_job_log")],
        &[],
    ];
    for extra in narrowings {
        for accept in [ACCEPT, ("accept", "text/event-stream")] {
            let mut headers = vec![
                JSON,
                accept,
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/list"),
            ];
            headers.extend_from_slice(&creds);
            headers.extend_from_slice(extra);
            // Every page of the narrowed list (the fixture tools fill the first pages).
            let mut names = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..10 {
                let mut params = json!({"_meta": meta});
                if let Some(c) = &cursor {
                    params["cursor"] = json!(c);
                }
                let modern = json!({"jsonrpc":"2.0","id":9,"method":"tools/list","params":params})
                    .to_string();
                let r = block_on(h.app.handle(post(&headers, &modern)));
                let data = match r.response.body() {
                    ReplyBody::Full(b) => b.to_vec(),
                    ReplyBody::Sse { frames, .. } => {
                        let events = SseParser::new().feed(&frames.concat());
                        events.last().unwrap().data.clone().into_bytes()
                    }
                    ReplyBody::Empty => panic!("empty"),
                };
                let (page, next) = check(&data);
                let v: Value = serde_json::from_slice(&data).unwrap();
                assert_eq!(v["result"]["resultType"], "complete", "{v}");
                assert_eq!(v["result"]["cacheScope"], "private");
                names.extend(page);
                cursor = next;
                if cursor.is_none() {
                    break;
                }
            }
            assert!(cursor.is_none(), "more than 10 pages");
            if extra.first().is_some_and(|(k, _)| *k == "x-mcp-tools") {
                let mut sorted = names.clone();
                sorted.sort();
                assert_eq!(sorted, ["echo", "gitlab_get_job_log", "jira_get_issue"]);
            } else if !extra.is_empty() {
                assert!(names.iter().any(|n| n == "gitlab_get_job_log"), "{names:?}");
                assert!(
                    !names.iter().any(|n| n == "gitlab_get_project"),
                    "{names:?}"
                );
            } else {
                assert_eq!(names, order, "no narrowing: every tool");
            }
        }
    }
}

#[test]
fn health_and_metrics() {
    let h = harness();
    let sid = initialize(&h, "2025-11-25");
    call(
        &h,
        &sid,
        "tools/call",
        json!({"name":"echo","arguments":{"message":"m"}}),
    );
    let r = block_on(
        h.app.handle(
            Request::builder()
                .uri("/metrics")
                .body(Bytes::new())
                .unwrap(),
        ),
    );
    let ReplyBody::Full(b) = r.response.body() else {
        panic!()
    };
    let text = std::str::from_utf8(b).unwrap();
    assert!(
        text.contains("mcp_edge_requests_total{method=\"tools/call\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("mcp_edge_tool_calls_total{tool=\"echo\",outcome=\"ok\"} 1"));
    assert!(text.contains("mcp_edge_active_sessions 1"));
    let r = block_on(
        h.app.handle(
            Request::builder()
                .uri("/health")
                .body(Bytes::new())
                .unwrap(),
        ),
    );
    assert_eq!(body_json(&r)["status"], "ok");
}

mod access {
    use super::*;
    use crate::audit::{AuditRecord, AuditSink};
    use crate::auth::{ApiKeyEntry, AuthConfig, KeyHash};
    use crate::port::Sleeper;
    use crate::ratelimit::RateLimit;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<AuditRecord>>);
    impl AuditSink for Collect {
        fn record(&self, entry: &AuditRecord) {
            self.0.lock().unwrap().push(entry.clone());
        }
    }

    fn keyed(config: GatewayConfig) -> (Harness, Arc<Collect>) {
        let keys = vec![
            ApiKeyEntry {
                name: "admin".into(),
                hash: KeyHash::new("admin-key", b"saltsalt"),
                read_only: false,
                tools: None,
                rate_limit: None,
            },
            ApiKeyEntry {
                name: "reader".into(),
                hash: KeyHash::new("reader-key", b"saltsalt"),
                read_only: true,
                tools: None,
                rate_limit: Some(RateLimit {
                    per_minute: 60,
                    burst: 2,
                }),
            },
        ];
        let h = harness_with(GatewayConfig {
            auth: AuthConfig {
                api_keys: keys,
                ..AuthConfig::default()
            },
            ..config
        });
        let sink = Arc::new(Collect::default());
        let Harness { app, clock, store } = h;
        (
            Harness {
                app: app.with_audit_sink(sink.clone()),
                clock,
                store,
            },
            sink,
        )
    }

    fn init_with(h: &Harness, key_header: (&str, &str)) -> Reply {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}});
        block_on(
            h.app
                .handle(post(&[JSON, ACCEPT, key_header], &body.to_string())),
        )
    }

    #[test]
    fn admission_before_the_body_takes_one_rate_token_and_refuses_announced_sizes() {
        let (h, _) = keyed(GatewayConfig::default());
        let head = |headers: &[(&str, &str)]| {
            let mut map = http::HeaderMap::new();
            for (k, v) in headers {
                map.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            map
        };
        // No credential: 401 from the head alone.
        let r = block_on(h.app.admit_head(&Method::POST, "/mcp", &head(&[]), None)).unwrap_err();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // An announced body over the limit: 413 before authentication.
        let too_big = (4 * 1024 * 1024 + 1).to_string();
        let r = block_on(h.app.admit_head(
            &Method::POST,
            "/mcp",
            &head(&[("content-length", &too_big)]),
            None,
        ))
        .unwrap_err();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // A foreign origin: 403 before authentication.
        let r = block_on(h.app.admit_head(
            &Method::POST,
            "/mcp",
            &head(&[("origin", "https://evil.example")]),
            None,
        ))
        .unwrap_err();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // /health needs no caller.
        let ok = block_on(h.app.admit_head(&Method::GET, "/health", &head(&[]), None)).unwrap();
        assert!(ok.caller().is_none());
        // The reader's bucket holds 2: admitting the head and handling the request take one token
        // together, so two requests pass and the third is limited.
        let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}).to_string();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let headers = head(&[("x-api-key", "reader-key")]);
            let admitted = block_on(h.app.admit_head(&Method::POST, "/mcp", &headers, None));
            let Ok(admitted) = admitted else {
                statuses.push(StatusCode::TOO_MANY_REQUESTS);
                continue;
            };
            assert_eq!(admitted.caller().unwrap().name, "reader");
            let mut req = post(&[JSON, ACCEPT, ("x-api-key", "reader-key")], &body);
            req.extensions_mut().insert(admitted);
            statuses.push(block_on(h.app.handle(req)).status());
        }
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
    }

    #[test]
    fn load_shedding_and_shutdown_replies() {
        let h = harness();
        assert!(h.app.shed(&Method::GET, "/health").is_none());
        let r = h.app.shed(&Method::POST, "/mcp").unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.response.headers()["retry-after"], "1");
        let r = h
            .app
            .shutdown_reply(br#"{"jsonrpc":"2.0","id":42,"method":"tools/call"}"#);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let v = body_json(&r);
        assert_eq!(v["id"], 42);
        assert_eq!(v["error"]["code"], -32603);
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"));
    }

    #[test]
    fn api_keys_gate_every_transport() {
        let (h, audit) = keyed(GatewayConfig::default());
        let r = init_with(&h, ("x-nothing", "1"));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert_eq!(body_json(&r)["error"]["code"], -32004);
        let r = init_with(&h, ("x-api-key", "wrong"));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let sse = block_on(
            h.app.handle(
                Request::builder()
                    .method(Method::GET)
                    .uri("/sse")
                    .body(Bytes::new())
                    .unwrap(),
            ),
        );
        assert_eq!(sse.status(), StatusCode::UNAUTHORIZED);
        assert!(block_on(h.app.ws_accept(&http::HeaderMap::new(), None)).is_err());
        let r = init_with(&h, ("authorization", "Bearer admin-key"));
        assert_eq!(r.status(), StatusCode::OK);
        let sid = r.response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"super-secret-arg"}}}).to_string();
        let r = block_on(h.app.handle(post(
            &[
                JSON,
                ACCEPT,
                ("mcp-session-id", &sid),
                ("x-api-key", "admin-key"),
            ],
            &body,
        )));
        assert_eq!(
            body_json(&r)["result"]["content"][0]["text"],
            "super-secret-arg"
        );
        let records = audit.0.lock().unwrap().clone();
        assert_eq!(records.len(), 1);
        assert_eq!(
            (
                records[0].caller.as_str(),
                records[0].tool.as_str(),
                records[0].outcome
            ),
            ("admin", "echo", "ok")
        );
        assert_eq!(
            records[0].session_tag.as_deref(),
            Some(h.app.session_tag(&sid).as_str())
        );
        let line = serde_json::to_string(&records[0]).unwrap();
        assert!(
            !line.contains("super-secret-arg")
                && !line.contains("admin-key")
                && !line.contains(&sid),
            "{line}"
        );
        // Health and metrics stay open for probes.
        let r = block_on(
            h.app.handle(
                Request::builder()
                    .uri("/health")
                    .body(Bytes::new())
                    .unwrap(),
            ),
        );
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn read_only_key_and_per_key_rate_limit() {
        let (h, _) = keyed(GatewayConfig::default());
        let key = ("x-api-key", "reader-key");
        let r = init_with(&h, key);
        assert_eq!(r.status(), StatusCode::OK);
        let sid = r.response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        // Burst of 2 used by initialize + this call; the next is refused until tokens refill.
        let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}).to_string();
        let r = block_on(
            h.app
                .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid), key], &list)),
        );
        assert_eq!(r.status(), StatusCode::OK);
        let r = block_on(
            h.app
                .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid), key], &list)),
        );
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.response.headers()["retry-after"], "1");
        assert_eq!(body_json(&r)["error"]["code"], -32005);
        h.clock.0.fetch_add(1000, Ordering::SeqCst);
        let r = block_on(
            h.app
                .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid), key], &list)),
        );
        assert_eq!(r.status(), StatusCode::OK, "recovers after Retry-After");
        let listed = body_json(&r);
        let names: Vec<&str> = listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"echo") && !names.contains(&"destructive_echo"),
            "{names:?}"
        );
        h.clock.0.fetch_add(1000, Ordering::SeqCst);
        let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"destructive_echo","arguments":{"message":"x"}}}).to_string();
        let r = block_on(
            h.app
                .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid), key], &call)),
        );
        assert_eq!(
            body_json(&r)["error"]["code"],
            -32003,
            "a read-only key cannot call a destructive tool"
        );
    }

    #[test]
    fn tool_call_limit_and_cors() {
        let h = harness_with(GatewayConfig {
            tool_call_limit: Some(RateLimit {
                per_minute: 6,
                burst: 1,
            }),
            origins: OriginPolicy {
                allowed_origins: vec!["https://app.example".into()],
                allowed_hosts: None,
            },
            ..GatewayConfig::default()
        });
        let sid = initialize(&h, "2025-11-25");
        let (s, _) = call(
            &h,
            &sid,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"a"}}),
        );
        assert_eq!(s, StatusCode::OK);
        let (s, v) = call(
            &h,
            &sid,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"b"}}),
        );
        assert_eq!(
            (s, v["error"]["code"].as_i64()),
            (StatusCode::TOO_MANY_REQUESTS, Some(-32005))
        );
        let pre = Request::builder()
            .method(Method::OPTIONS)
            .uri("/mcp")
            .header("origin", "https://app.example")
            .body(Bytes::new())
            .unwrap();
        let r = block_on(h.app.handle(pre));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.response.headers()["access-control-allow-origin"],
            "https://app.example"
        );
        assert!(r.response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-session-id"));
        let pre = Request::builder()
            .method(Method::OPTIONS)
            .uri("/mcp")
            .header("origin", "https://evil.example")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(block_on(h.app.handle(pre)).status(), StatusCode::FORBIDDEN);
        let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}).to_string();
        let r = block_on(h.app.handle(post(
            &[JSON, ACCEPT, ("origin", "https://app.example")],
            &body,
        )));
        assert!(r.response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-session-id"));
    }

    struct InstantTimeout;
    impl Sleeper for InstantTimeout {
        fn sleep(&self, _ms: u64) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    struct Hang;
    impl crate::tool::Tool for Hang {
        fn def(&self) -> &crate::tool::ToolDef {
            static DEF: std::sync::OnceLock<crate::tool::ToolDef> = std::sync::OnceLock::new();
            DEF.get_or_init(|| crate::tool::ToolDef {
                name: "hang".into(),
                title: None,
                description: "never finishes".into(),
                input_schema: json!({"type": "object"}),
                output_schema: None,
                annotations: Default::default(),
            })
        }
        fn call<'a>(
            &'a self,
            _ctx: &'a crate::tool::ToolContext<'a>,
            _args: serde_json::Map<String, Value>,
        ) -> BoxFuture<'a, Result<crate::tool::ToolOutput, crate::tool::ToolFailure>> {
            Box::pin(std::future::pending())
        }
    }

    #[test]
    fn tool_calls_time_out_with_a_clear_error() {
        let clock = Arc::new(FixedClock(AtomicU64::new(1_000_000)));
        let store = Arc::new(MemorySessionStore::new());
        let mut registry = Registry::new();
        registry.add_tool(Arc::new(Hang));
        let ports = Ports {
            store: store.clone(),
            http: Arc::new(NoHttp),
            clock: clock.clone(),
            entropy: Arc::new(CountingEntropy(AtomicU64::new(1))),
        };
        let app = McpApp::new(
            GatewayConfig {
                tool_timeout_ms: Some(50),
                ..GatewayConfig::default()
            },
            registry,
            ports,
        )
        .unwrap()
        .with_sleeper(Arc::new(InstantTimeout));
        let h = Harness { app, clock, store };
        let sid = initialize(&h, "2025-11-25");
        let (_, v) = call(&h, &sid, "tools/call", json!({"name":"hang"}));
        assert_eq!(v["result"]["isError"], true);
        assert!(v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("cancelled after 50 ms"));
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_get_a_well_formed_error(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = harness();
            let sid = initialize(&h, "2025-03-26");
            let reply = block_on(h.app.handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid)], &String::from_utf8_lossy(&body))));
            let status = reply.status();
            prop_assert!(status == StatusCode::OK || status == StatusCode::ACCEPTED || status == StatusCode::BAD_REQUEST, "status {status}");
            if status == StatusCode::BAD_REQUEST {
                let v = body_json(&reply);
                prop_assert!(v["error"]["code"].is_i64());
            }
        }

        #[test]
        fn arbitrary_json_never_panics(v in arb_json()) {
            let h = harness();
            let sid = initialize(&h, "2025-03-26");
            let reply = block_on(h.app.handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid)], &v.to_string())));
            prop_assert!(reply.status().as_u16() < 500);
            let mut conn = WsConnection::default();
            let _ = block_on(h.app.ws_message(&mut conn, &http::HeaderMap::new(), &v.to_string()));
        }

        #[test]
        fn arbitrary_headers_never_panic(name in "(accept|content-type|origin|host|mcp-session-id|mcp-protocol-version|mcp-method|mcp-name|last-event-id)", value in "[ -~]{0,40}") {
            let h = harness();
            let mut req = post(&[JSON, ACCEPT], r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#);
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                req.headers_mut().insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
            }
            let reply = block_on(h.app.handle(req));
            prop_assert!(reply.status().as_u16() < 500);
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "(jsonrpc|2.0|id|method|params|tools/call|initialize|name|arguments|_meta|[a-z]{0,6})"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    "(jsonrpc|id|method|params|name|arguments|uri|cursor|_meta|type|request_id)",
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

#[test]
fn session_route_sends_each_request_where_its_session_lives() {
    use crate::gateway::{session_route, SessionRoute};
    let sid = "0123456789abcdef0123456789abcdef";
    let req = |method: &str, uri: &str, headers: &[(&str, &str)], body: &str| {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::from(body.to_owned())).unwrap()
    };
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#;
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let existing = SessionRoute::Session(SessionId::parse(sid).unwrap());
    assert_eq!(
        session_route(&req("POST", "/mcp", &[], init)),
        SessionRoute::NewSession
    );
    assert_eq!(
        session_route(&req(
            "POST",
            "/mcp",
            &[("mcp-protocol-version", "2026-07-28")],
            init
        )),
        SessionRoute::Stateless
    );
    assert_eq!(
        session_route(&req("POST", "/mcp", &[], list)),
        SessionRoute::Stateless
    );
    assert_eq!(
        session_route(&req(
            "POST",
            "/mcp",
            &[],
            r#"{"jsonrpc":"2.0","method":"initialize"}"#
        )),
        SessionRoute::Stateless,
        "a notification named initialize opens nothing"
    );
    assert_eq!(
        session_route(&req("POST", "/mcp", &[], "{not json")),
        SessionRoute::Stateless
    );
    assert_eq!(
        session_route(&req("POST", "/mcp", &[("mcp-session-id", sid)], list)),
        existing
    );
    assert_eq!(
        session_route(&req("DELETE", "/mcp/", &[("mcp-session-id", sid)], "")),
        existing
    );
    assert_eq!(
        session_route(&req("GET", "/mcp", &[("mcp-session-id", "../etc")], "")),
        SessionRoute::Stateless
    );
    assert_eq!(
        session_route(&req("GET", "/sse", &[], "")),
        SessionRoute::NewSession
    );
    assert_eq!(
        session_route(&req("GET", "/ws", &[], "")),
        SessionRoute::NewSession
    );
    assert_eq!(
        session_route(&req(
            "POST",
            &format!("/messages?sessionId={sid}"),
            &[],
            list
        )),
        existing
    );
    assert_eq!(
        session_route(&req("POST", "/messages", &[], list)),
        SessionRoute::Stateless
    );
    assert_eq!(
        session_route(&req("GET", "/health", &[], "")),
        SessionRoute::Stateless
    );
}

#[test]
fn opening_requests_take_the_session_id_the_platform_assigned() {
    let h = harness();
    let assigned = SessionId::parse("00112233445566778899aabbccddeeff").unwrap();
    let mut req = post(
        &[JSON, ACCEPT],
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#,
    );
    req.extensions_mut()
        .insert(crate::gateway::AssignedSession(assigned.clone()));
    let reply = block_on(h.app.handle(req));
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(
        reply.response.headers()[SESSION_HEADER].to_str().unwrap(),
        assigned.as_str()
    );
    let mut sse = Request::builder()
        .method(Method::GET)
        .uri("/sse")
        .body(Bytes::new())
        .unwrap();
    let other = SessionId::parse("ffeeddccbbaa99887766554433221100").unwrap();
    sse.extensions_mut()
        .insert(crate::gateway::AssignedSession(other.clone()));
    let reply = block_on(h.app.handle(sse));
    let ReplyBody::Sse { frames, .. } = reply.response.body() else {
        panic!("legacy /sse answers with a stream")
    };
    let text = String::from_utf8(frames.concat().to_vec()).unwrap();
    assert!(
        text.contains(&format!("sessionId={}", other.as_str())),
        "{text}"
    );
}

#[test]
fn legacy_replies_can_wait_in_the_session_outbox() {
    let mut h = harness_with(GatewayConfig {
        origins: OriginPolicy {
            allowed_origins: vec![],
            allowed_hosts: Some(vec![]),
        },
        ..GatewayConfig::default()
    });
    let outbox = Arc::new(crate::outbox::MemoryOutbox::default());
    h.app = h.app.with_outbox(outbox.clone());
    let open = Request::builder()
        .method(Method::GET)
        .uri("/sse")
        .body(Bytes::new())
        .unwrap();
    let reply = block_on(h.app.handle(open));
    let ReplyBody::Sse { frames, hold } = reply.response.body() else {
        panic!("a stream")
    };
    assert!(hold.is_some());
    let text = String::from_utf8(frames.concat().to_vec()).unwrap();
    let sid = text.split("sessionId=").nth(1).unwrap().trim().to_owned();
    let id = SessionId::parse(&sid).unwrap();
    let post = |body: &str| {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/messages?sessionId={sid}"))
            .header("content-type", "application/json")
            .body(Bytes::from(body.to_owned()))
            .unwrap();
        block_on(h.app.handle(req))
    };
    let r = post(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{}}}"#,
    );
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.deliveries.is_empty(), "nothing is pushed in-process");
    let version = block_on(h.store.load(&id)).unwrap().unwrap().version;
    let r = post(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"via outbox"}}}"#,
    );
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        block_on(h.store.load(&id)).unwrap().unwrap().version,
        version,
        "a reply is appended to the outbox without rewriting the session record (no compare-and-set to lose)"
    );
    let crate::gateway::LegacyOutbox::Pending(frames, next) = block_on(h.app.legacy_outbox(&id, 0))
    else {
        panic!("the session is live")
    };
    assert_eq!((frames.len(), next), (2, 2));
    let text = String::from_utf8(frames.concat().to_vec()).unwrap();
    assert!(
        text.contains("via outbox") && text.contains("\"id\":1"),
        "{text}"
    );
    assert_eq!(
        block_on(h.app.legacy_outbox(&id, next)),
        crate::gateway::LegacyOutbox::Pending(Vec::new(), 2)
    );
    post(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    // The stream closes: the session ends and its undelivered messages go with it.
    block_on(h.app.stream_closed(hold.as_ref().unwrap()));
    assert_eq!(
        block_on(h.app.legacy_outbox(&id, next)),
        crate::gateway::LegacyOutbox::Gone
    );
    assert!(
        block_on(crate::outbox::Outbox::read(&*outbox, &id, 0))
            .unwrap()
            .is_empty(),
        "the ended session's outbox is cleared"
    );
}

#[test]
fn an_idle_get_stream_backs_off_its_outbox_polls_and_the_legacy_stream_does_not() {
    struct NoWait;
    impl crate::port::Sleeper for NoWait {
        fn sleep(&self, _ms: u64) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }
    let mut h = harness();
    let outbox = Arc::new(crate::outbox::MemoryOutbox::default());
    h.app = h.app.with_outbox(outbox.clone());
    let legacy = StreamHold {
        session: SessionId::parse(&"a".repeat(32)).unwrap(),
        channel: StreamChannel::Legacy,
        keepalive_ms: 600_000,
        lease: None,
    };
    let get = StreamHold {
        channel: StreamChannel::Standalone(1),
        ..legacy.clone()
    };
    let start = h.app.now();
    // The times of the first five polls a held stream asks for (nothing is ever delivered).
    let polls = |app: &McpApp, hold: &StreamHold| {
        let mut stream = app.outbox_polling(app.held_stream(Vec::new(), 600_000), hold, 250, start);
        let mut at = start;
        let mut polls = Vec::new();
        for _ in 0..20 {
            match stream.next(at) {
                crate::transport::hold::Next::Poll => polls.push(at - start),
                crate::transport::hold::Next::Wait(wake) => at = wake,
                crate::transport::hold::Next::Write(_) => {} // keep-alives
                other => panic!("{other:?}"),
            }
            if polls.len() == 5 {
                break;
            }
        }
        polls
    };
    assert_eq!(polls(&h.app, &legacy), [250, 500, 750, 1_000, 1_250]);
    assert!(
        polls(&h.app, &get).is_empty(),
        "nothing can reach a GET stream's outbox"
    );
    h.app = h
        .app
        .with_client_requests(Arc::new(crate::mailbox::StoredClientRequests::new(
            outbox,
            Arc::new(crate::mailbox::MemoryMailbox::default()),
            Arc::new(NoWait),
            h.clock.clone(),
        )));
    assert_eq!(polls(&h.app, &legacy), [250, 500, 750, 1_000, 1_250]);
    let cap = 250 * IDLE_OUTBOX_POLL_FACTOR;
    assert_eq!(
        polls(&h.app, &get),
        [250, 750, 1_750, 1_750 + cap, 1_750 + 2 * cap],
        "doubling while idle, up to the cap"
    );
}

#[test]
fn quota_and_rate_limit_errors_answer_2026_requests_with_429_keeping_the_id() {
    for err in [
        McpError::QuotaExceeded("2 streams already open".into(), Some(5_000)),
        McpError::QuotaExceeded("2 sessions already open".into(), None),
        McpError::RateLimited(1_000),
    ] {
        assert_eq!(
            modern_status(&err),
            StatusCode::TOO_MANY_REQUESTS,
            "{err:?}"
        );
        let refused = McpApp::listen_refusal(&err, &json!(7));
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{err:?}");
        assert_eq!(body_json(&refused)["id"], 7, "{err:?}");
    }
    assert_eq!(
        modern_status(&McpError::InvalidParams("x".into())),
        StatusCode::BAD_REQUEST
    );
}

fn quota_harness(sessions: Option<u32>, streams: Option<u32>) -> Harness {
    harness_with(GatewayConfig {
        origins: OriginPolicy {
            allowed_origins: vec![],
            allowed_hosts: Some(vec![]),
        },
        session_ttl_ms: 60_000,
        max_sessions_per_caller: sessions,
        max_streams_per_session: streams,
        ..GatewayConfig::default()
    })
}

fn try_initialize(h: &Harness) -> Reply {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}});
    block_on(h.app.handle(post(&[JSON, ACCEPT], &body.to_string())))
}

fn delete(h: &Harness, sid: &str) -> StatusCode {
    let req = Request::builder()
        .method(Method::DELETE)
        .uri("/mcp")
        .header("mcp-session-id", sid)
        .body(Bytes::new())
        .unwrap();
    block_on(h.app.handle(req)).status()
}

fn open_legacy(h: &Harness) -> Reply {
    let req = Request::builder()
        .method(Method::GET)
        .uri("/sse")
        .body(Bytes::new())
        .unwrap();
    block_on(h.app.handle(req))
}

fn held(reply: &Reply) -> StreamHold {
    match reply.response.body() {
        ReplyBody::Sse { hold: Some(h), .. } => h.clone(),
        other => panic!("expected a held stream, got {other:?}"),
    }
}

#[test]
fn sessions_per_caller_count_every_transport_and_free_up_on_end_or_expiry() {
    let h = quota_harness(Some(3), None);
    let a = initialize(&h, "2025-11-25");
    let legacy = open_legacy(&h);
    assert_eq!(legacy.status(), StatusCode::OK);
    let ws = block_on(h.app.ws_accept(&http::HeaderMap::new(), None)).unwrap();
    // The fourth session of the same caller is refused, with the time until the first lease lapses.
    let refused = try_initialize(&h);
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let err = body_json(&refused)["error"].clone();
    assert_eq!(err["code"], -32005);
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("3 open sessions (limit 3)"));
    let retry: u64 = refused.response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 66, "TTL 60 s plus the 6 s lease margin");
    assert!(block_on(h.app.ws_accept(&http::HeaderMap::new(), None)).is_err());
    assert_eq!(open_legacy(&h).status(), StatusCode::TOO_MANY_REQUESTS);
    // Each kind of end gives its place back.
    assert_eq!(delete(&h, &a), StatusCode::OK);
    let b = initialize(&h, "2025-11-25");
    assert_eq!(try_initialize(&h).status(), StatusCode::TOO_MANY_REQUESTS);
    block_on(h.app.stream_closed(&held(&legacy)));
    let _c = initialize(&h, "2025-11-25");
    block_on(h.app.ws_closed(&ws.connection));
    let _d = initialize(&h, "2025-11-25");
    assert_eq!(try_initialize(&h).status(), StatusCode::TOO_MANY_REQUESTS);
    // Other callers have their own quota.
    let mut other = post(
        &[JSON, ACCEPT],
        &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}).to_string(),
    );
    other
        .extensions_mut()
        .insert(ClientAddress("10.0.0.9".into()));
    assert_eq!(block_on(h.app.handle(other)).status(), StatusCode::OK);
    // Activity renews a lease past the first TTL; idleness lets sessions lapse.
    for step in 1..=4 {
        h.clock.0.store(1_000_000 + step * 20_000, Ordering::SeqCst);
        assert_eq!(call(&h, &b, "ping", json!({})).0, StatusCode::OK);
    }
    assert_eq!(
        try_initialize(&h).status(),
        StatusCode::OK,
        "c and d lapsed"
    );
    assert_eq!(try_initialize(&h).status(), StatusCode::OK);
    assert_eq!(
        try_initialize(&h).status(),
        StatusCode::TOO_MANY_REQUESTS,
        "b is alive and still counts"
    );
}

#[test]
fn streams_per_session_are_limited_and_freed_when_the_platform_reports_the_end() {
    let h = quota_harness(None, Some(2));
    let sid = initialize(&h, "2025-11-25");
    let get = |last_event: Option<&str>| {
        let mut b = Request::builder()
            .method(Method::GET)
            .uri("/mcp")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid);
        if let Some(id) = last_event {
            b = b.header("last-event-id", id);
        }
        block_on(h.app.handle(b.body(Bytes::new()).unwrap()))
    };
    let first = get(None);
    let second = get(Some("1-0"));
    assert!(held(&first).lease.is_some() && held(&second).lease.is_some());
    let third = get(None);
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        third.response.headers().get("retry-after").is_none(),
        "streams last until closed"
    );
    assert!(body_json(&third)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 open streams (limit 2)"));
    // POSTs answered over SSE are not held streams and stay allowed.
    assert_eq!(call(&h, &sid, "tools/list", json!({})).0, StatusCode::OK);
    block_on(h.app.stream_closed(&held(&first)));
    assert_eq!(get(None).status(), StatusCode::OK);
    // Another session has its own streams.
    let other = initialize(&h, "2025-11-25");
    let req = Request::builder()
        .method(Method::GET)
        .uri("/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &other)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(block_on(h.app.handle(req)).status(), StatusCode::OK);
}

#[test]
fn stream_leases_lapse_where_the_platform_bounds_stream_life() {
    let h = harness_with(GatewayConfig {
        origins: OriginPolicy {
            allowed_origins: vec![],
            allowed_hosts: Some(vec![]),
        },
        max_streams_per_session: Some(1),
        stream_lease_ms: Some(5_000),
        ..GatewayConfig::default()
    });
    let sid = initialize(&h, "2025-11-25");
    let get = || {
        let req = Request::builder()
            .method(Method::GET)
            .uri("/mcp")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid)
            .body(Bytes::new())
            .unwrap();
        block_on(h.app.handle(req))
    };
    assert_eq!(get().status(), StatusCode::OK);
    let refused = get();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.response.headers()["retry-after"], "5");
    h.clock.0.store(1_005_000, Ordering::SeqCst);
    assert_eq!(
        get().status(),
        StatusCode::OK,
        "the lost stream's lease lapsed"
    );
}

mod ownership {
    use super::*;
    use crate::auth::{ApiKeyEntry, AuthConfig, KeyHash};

    const ALICE: (&str, &str) = ("x-api-key", "alice-key");
    const BOB: (&str, &str) = ("x-api-key", "bob-key");

    fn two_keys() -> Harness {
        let key = |name: &str| ApiKeyEntry {
            name: name.into(),
            hash: KeyHash::new(&format!("{name}-key"), b"saltsalt"),
            read_only: false,
            tools: None,
            rate_limit: None,
        };
        harness_with(GatewayConfig {
            auth: AuthConfig {
                api_keys: vec![key("alice"), key("bob")],
                ..AuthConfig::default()
            },
            ..GatewayConfig::default()
        })
    }

    fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Request<Bytes> {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::copy_from_slice(body.as_bytes())).unwrap()
    }

    fn not_found(reply: &Reply, what: &str) {
        assert_eq!(reply.status(), StatusCode::NOT_FOUND, "{what}");
        assert_eq!(body_json(reply)["error"]["code"], -32001, "{what}");
    }

    fn open_streamable(h: &Harness, key: (&str, &str)) -> String {
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}});
        let r = block_on(h.app.handle(post(&[JSON, ACCEPT, key], &init.to_string())));
        assert_eq!(r.status(), StatusCode::OK);
        r.response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn another_identity_gets_session_not_found_on_every_route() {
        let h = two_keys();
        let sid = open_streamable(&h, ALICE);
        let echo = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"alice's"}}}"#;
        let sse_post = |key: (&str, &str)| {
            block_on(h.app.handle(post(
                &[
                    JSON,
                    ("accept", "text/event-stream"),
                    ("mcp-session-id", &sid),
                    key,
                ],
                echo,
            )))
        };
        // Alice's call leaves a logged event (stream 1) that Last-Event-ID could replay.
        assert_eq!(sse_post(ALICE).status(), StatusCode::OK);
        not_found(&sse_post(BOB), "POST tools/call");
        let get = |key: (&str, &str), last: Option<&str>| {
            let mut headers = vec![
                ("accept", "text/event-stream"),
                ("mcp-session-id", sid.as_str()),
                key,
            ];
            if let Some(l) = last {
                headers.push(("last-event-id", l));
            }
            block_on(h.app.handle(request(Method::GET, "/mcp", &headers, "")))
        };
        not_found(&get(BOB, None), "GET stream");
        not_found(&get(BOB, Some("1-0")), "Last-Event-ID replay");
        let replay = get(ALICE, Some("1-0"));
        assert_eq!(replay.status(), StatusCode::OK);
        assert_eq!(
            body_json(&replay)["result"]["content"][0]["text"],
            "alice's"
        );
        let delete = |key: (&str, &str)| {
            block_on(h.app.handle(request(
                Method::DELETE,
                "/mcp",
                &[("mcp-session-id", &sid), key],
                "",
            )))
        };
        not_found(&delete(BOB), "DELETE");
        // Alice's session is untouched.
        let r = block_on(
            h.app
                .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid), ALICE], echo)),
        );
        assert_eq!(body_json(&r)["result"]["content"][0]["text"], "alice's");

        // Legacy SSE: bob cannot post to alice's /messages endpoint.
        let open = block_on(h.app.handle(request(Method::GET, "/sse", &[ALICE], "")));
        let ReplyBody::Sse { frames, .. } = open.response.body() else {
            panic!("expected a stream")
        };
        let endpoint = SseParser::new().feed(&frames.concat())[0].data.clone();
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{}}}).to_string();
        let legacy = |key: (&str, &str)| {
            block_on(
                h.app
                    .handle(request(Method::POST, &endpoint, &[JSON, key], &init)),
            )
        };
        not_found(&legacy(BOB), "legacy /messages");
        assert_eq!(legacy(ALICE).status(), StatusCode::ACCEPTED);

        // Deleting works for the owner only, and then the session is gone for everyone.
        assert_eq!(delete(ALICE).status(), StatusCode::OK);
        not_found(&delete(ALICE), "DELETE after DELETE");
    }

    #[test]
    fn records_without_an_owner_are_refused() {
        let h = two_keys();
        let sid = open_streamable(&h, ALICE);
        let id = SessionId::parse(&sid).unwrap();
        let mut rec = block_on(h.store.load(&id)).unwrap().unwrap();
        assert_eq!(rec.owner.as_deref(), Some("key:alice"));
        // A record as written before owners were recorded.
        let mut old = serde_json::to_value(&rec).unwrap();
        old.as_object_mut().unwrap().remove("owner");
        let old: SessionRecord = serde_json::from_value(old).unwrap();
        assert_eq!(old.owner, None);
        rec.owner = None;
        block_on(h.store.save(&rec, Some(rec.version))).unwrap();
        let r = block_on(h.app.handle(post(
            &[JSON, ACCEPT, ("mcp-session-id", &sid), ALICE],
            r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
        )));
        not_found(&r, "owner-less record");
    }

    #[test]
    fn open_gateways_bind_sessions_to_anonymous_not_to_the_address() {
        let h = harness();
        let from = |addr: &str, sid: Option<&str>, body: &str| {
            let mut headers = vec![JSON, ACCEPT];
            if let Some(s) = sid {
                headers.push(("mcp-session-id", s));
            }
            let mut req = post(&headers, body);
            req.extensions_mut().insert(ClientAddress(addr.into()));
            block_on(h.app.handle(req))
        };
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}).to_string();
        let r = from("10.0.0.1", None, &init);
        let sid = r.response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let rec = block_on(h.store.load(&SessionId::parse(&sid).unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(rec.owner.as_deref(), Some(crate::auth::ANONYMOUS_OWNER));
        // The client's address changed (NAT): the session still answers.
        let r = from(
            "10.0.0.2",
            Some(&sid),
            r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body_json(&r)["result"], json!({}));
    }

    #[test]
    fn session_tags_are_short_stable_and_keyed() {
        let id = "0123456789abcdef0123456789abcdef";
        let a = crate::session::session_tag(b"key-a", id);
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, crate::session::session_tag(b"key-a", id));
        assert_ne!(a, crate::session::session_tag(b"key-b", id));
        assert_ne!(
            a,
            crate::session::session_tag(b"key-a", "fedcba9876543210fedcba9876543210")
        );
        assert!(!id.contains(&a));
    }
}

mod batch_limits {
    use super::*;

    fn batch_of(n: usize, method: &str) -> String {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"jsonrpc":"2.0","id":i,"method":method,"params":{"name":"echo","arguments":{"message":"x".repeat(100)}}}))
            .collect();
        Value::Array(items).to_string()
    }

    #[test]
    fn batches_over_the_cap_get_400_naming_the_limit_on_every_transport() {
        let h = harness_with(GatewayConfig {
            max_batch: 3,
            ..GatewayConfig::default()
        });
        let sid = initialize(&h, "2025-03-26");
        let send = |body: &str| {
            block_on(
                h.app
                    .handle(post(&[JSON, ACCEPT, ("mcp-session-id", &sid)], body)),
            )
        };
        let r = send(&batch_of(4, "ping"));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v = body_json(&r);
        assert_eq!(v["error"]["code"], -32600);
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("at most 3 messages") && msg.contains("holds 4"),
            "{msg}"
        );
        let r = send(&batch_of(3, "ping"));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body_json(&r).as_array().unwrap().len(), 3);

        // Legacy /messages.
        let open = block_on(
            h.app.handle(
                Request::builder()
                    .method(Method::GET)
                    .uri("/sse")
                    .body(Bytes::new())
                    .unwrap(),
            ),
        );
        let ReplyBody::Sse { frames, .. } = open.response.body() else {
            panic!("expected a stream")
        };
        let endpoint = SseParser::new().feed(&frames.concat())[0].data.clone();
        let r = block_on(
            h.app.handle(
                Request::builder()
                    .method(Method::POST)
                    .uri(&endpoint)
                    .header("content-type", "application/json")
                    .body(Bytes::from(batch_of(4, "ping")))
                    .unwrap(),
            ),
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.deliveries.is_empty());
        assert_eq!(body_json(&r)["error"]["code"], -32600);

        // WebSocket.
        let headers = http::HeaderMap::new();
        let mut conn = block_on(h.app.ws_accept(&headers, None))
            .unwrap()
            .connection;
        let out = block_on(h.app.ws_message(&mut conn, &headers, &batch_of(4, "ping")));
        assert_eq!(out.len(), 1);
        let v: Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(v["error"]["code"], -32600);
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 3"));
        assert_eq!(
            block_on(h.app.ws_message(&mut conn, &headers, &batch_of(3, "ping"))).len(),
            3
        );
    }

    #[test]
    fn batch_replies_past_the_byte_bound_are_refused_one_by_one() {
        let h = harness_with(GatewayConfig {
            max_batch_reply_bytes: 600,
            ..GatewayConfig::default()
        });
        let sid = initialize(&h, "2025-03-26");
        let r = block_on(h.app.handle(post(
            &[JSON, ACCEPT, ("mcp-session-id", &sid)],
            &batch_of(10, "tools/call"),
        )));
        assert_eq!(r.status(), StatusCode::OK);
        let v = body_json(&r);
        let replies = v.as_array().unwrap();
        assert_eq!(replies.len(), 10, "every request gets its own answer");
        let answered = replies.iter().filter(|r| r.get("result").is_some()).count();
        assert!((1..10).contains(&answered), "{answered} answered");
        for (i, reply) in replies.iter().enumerate() {
            assert_eq!(reply["id"], i, "order is kept");
            if i >= answered {
                assert_eq!(reply["error"]["code"], -32600);
                assert!(reply["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("exceed 600 bytes"));
            }
        }
        let ok_bytes: usize = replies[..answered]
            .iter()
            .map(|r| r.to_string().len())
            .sum();
        assert!(ok_bytes <= 600, "{ok_bytes}");
    }
}

/// Counting ports that cannot decide, and what the gateway makes of it (decided once, in
/// `gateway/counting.rs`): a failing backend lets the request through; a contended one is a 429
/// with a 250 ms retry.
mod undecided_counters {
    use super::*;
    use crate::quota::{LeaseChange, LeaseError, LeaseLedger};
    use crate::ratelimit::{LimitError, RateLimit, RateLimiter};

    struct Limiter(LimitError);

    impl RateLimiter for Limiter {
        fn take<'a>(
            &'a self,
            _key: &'a str,
            _limit: RateLimit,
            _cost: u32,
            _now: UnixMillis,
        ) -> BoxFuture<'a, Result<(), LimitError>> {
            let answer = Err(self.0.clone());
            Box::pin(async move { answer })
        }
    }

    struct Ledger(LeaseError);

    impl LeaseLedger for Ledger {
        fn apply<'a>(
            &'a self,
            _key: &'a str,
            _change: &'a LeaseChange,
            _now: UnixMillis,
        ) -> BoxFuture<'a, Result<(), LeaseError>> {
            let answer = Err(self.0.clone());
            Box::pin(async move { answer })
        }
    }

    fn limited(limiter: LimitError) -> Harness {
        let mut h = harness_with(GatewayConfig {
            origins: OriginPolicy {
                allowed_origins: vec![],
                allowed_hosts: Some(vec![]),
            },
            request_limit: Some(RateLimit {
                per_minute: 1,
                burst: 1,
            }),
            ..GatewayConfig::default()
        });
        h.app = h.app.with_rate_limiter(Arc::new(Limiter(limiter)));
        h
    }

    fn retry_after_ms(reply: &Reply) -> Option<u64> {
        body_json(reply)["error"]["data"]["retryAfterMs"].as_u64()
    }

    #[test]
    fn a_failing_rate_limiter_lets_requests_through() {
        let h = limited(LimitError::Backend("table unreachable".into()));
        for _ in 0..3 {
            assert_eq!(try_initialize(&h).status(), StatusCode::OK);
        }
    }

    #[test]
    fn a_contended_rate_limiter_asks_for_a_retry() {
        let h = limited(LimitError::Contended);
        let r = try_initialize(&h);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after_ms(&r), Some(250));
        let h = limited(LimitError::Empty {
            retry_after_ms: 4_000,
        });
        let r = try_initialize(&h);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after_ms(&r), Some(4_000));
    }

    #[test]
    fn a_failing_lease_ledger_lets_sessions_open_and_a_contended_one_asks_for_a_retry() {
        let mut h = quota_harness(Some(1), None);
        h.app = h
            .app
            .with_session_ledger(Arc::new(Ledger(LeaseError::Backend("down".into()))));
        for _ in 0..3 {
            assert_eq!(try_initialize(&h).status(), StatusCode::OK);
        }
        let mut h = quota_harness(Some(1), None);
        h.app = h
            .app
            .with_session_ledger(Arc::new(Ledger(LeaseError::Contended)));
        let r = try_initialize(&h);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after_ms(&r), Some(250));
    }
}

mod deep_health {
    use super::*;
    use crate::gateway::{HealthProbe, ProbeReport, ProbeStatus};
    use crate::port::Sleeper;
    use crate::session::{StoreError, Version};

    /// A store whose every call fails (a lost database connection).
    struct BrokenStore;
    impl crate::session::SessionStore for BrokenStore {
        fn load<'a>(
            &'a self,
            _id: &'a crate::session::SessionId,
        ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
            Box::pin(async { Err(StoreError::Backend("connection refused".into())) })
        }
        fn save<'a>(
            &'a self,
            _rec: &'a SessionRecord,
            _expected: Option<Version>,
        ) -> BoxFuture<'a, Result<Version, StoreError>> {
            Box::pin(async { Err(StoreError::Backend("connection refused".into())) })
        }
        fn delete<'a>(
            &'a self,
            _id: &'a crate::session::SessionId,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async { Err(StoreError::Backend("connection refused".into())) })
        }
    }

    /// A platform part that never answers.
    struct Hung;
    impl HealthProbe for Hung {
        fn name(&self) -> &'static str {
            "hung"
        }
        fn probe(&self) -> BoxFuture<'_, ProbeReport> {
            Box::pin(std::future::pending())
        }
    }

    /// Timers that fire at once: the budget is "spent" as soon as a probe has to wait.
    struct Immediate;
    impl Sleeper for Immediate {
        fn sleep(&self, _ms: u64) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn get(h: &McpApp, uri: &str) -> Reply {
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .body(Bytes::new())
            .unwrap();
        block_on(h.handle(req))
    }

    fn app(store: Arc<dyn crate::session::SessionStore>) -> McpApp {
        let ports = Ports {
            store,
            http: Arc::new(NoHttp),
            clock: Arc::new(FixedClock(AtomicU64::new(1_000_000))),
            entropy: Arc::new(CountingEntropy(AtomicU64::new(1))),
        };
        McpApp::new(GatewayConfig::default(), Registry::new(), ports).unwrap()
    }

    #[test]
    fn a_failing_store_makes_the_deep_check_503_and_plain_health_stays_200() {
        let app = app(Arc::new(BrokenStore));
        assert_eq!(get(&app, "/health").status(), StatusCode::OK);
        let deep = get(&app, "/health?deep=1");
        assert_eq!(deep.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_json(&deep);
        assert_eq!(body["status"], "error");
        assert_eq!(body["store"]["status"], "error");
        assert_eq!(body["services"], json!({}));
    }

    #[test]
    fn a_probe_past_the_budget_is_reported_as_a_timeout_and_reports_are_cached() {
        let app = app(Arc::new(MemorySessionStore::new()))
            .with_sleeper(Arc::new(Immediate))
            .with_health_probe(Arc::new(Hung));
        let ready = get(&app, "/ready");
        assert_eq!(
            ready.status(),
            StatusCode::OK,
            "a platform part degrades, the store decides"
        );
        let body = body_json(&ready);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["hung"]["error"], "timeout");
        assert_eq!(body["hung"]["status"], "error");
        // The same clock instant: the cached report, not a second round of probes.
        assert_eq!(body_json(&get(&app, "/health?deep=1")), body);
        assert_eq!(
            ProbeStatus::of_children(1, 1),
            ProbeStatus::Error,
            "a budget of 1 is spent by one crash"
        );
    }
}

/// Requests to the client inside a 2025 session (the conformance fixtures and the confirmation of
/// destructive tools), through a scripted [`crate::sampling::ClientRequests`] port.
mod client_requests_2025 {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::sampling::{ClientRequestError, ClientRequests};

    /// Answers each request with the next scripted outcome and records what was asked.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<VecDeque<Result<Value, Value>>>,
        asked: Mutex<Vec<Value>>,
    }

    impl ClientRequests for Scripted {
        fn ask<'a>(
            &'a self,
            _session: &'a str,
            _id: &'a str,
            message: String,
        ) -> BoxFuture<'a, Result<Result<Value, Value>, ClientRequestError>> {
            self.asked
                .lock()
                .unwrap()
                .push(serde_json::from_str(&message).unwrap());
            let next = self.answers.lock().unwrap().pop_front();
            Box::pin(async move { next.ok_or(ClientRequestError::NoStream) })
        }
        fn answer<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Result<Value, Value>,
        ) -> BoxFuture<'a, bool> {
            Box::pin(async { false })
        }
        fn forget<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
    }

    /// A wait that never ends first: the scripted answer always wins the race.
    struct Never;
    impl Sleeper for Never {
        fn sleep(&self, _ms: u64) -> BoxFuture<'_, ()> {
            Box::pin(std::future::pending())
        }
    }

    fn setup(capabilities: Value) -> (Harness, Arc<Scripted>, String) {
        let port = Arc::new(Scripted::default());
        let mut h = harness();
        h.app = h
            .app
            .with_sleeper(Arc::new(Never))
            .with_client_requests(port.clone());
        let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":capabilities,"clientInfo":{"name":"t","version":"1"}}});
        let reply = block_on(h.app.handle(post(&[JSON, ACCEPT], &body.to_string())));
        let sid = reply.response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        (h, port, sid)
    }

    fn tool_text(h: &Harness, sid: &str, name: &str, args: Value) -> (bool, String) {
        let (_, r) = call(
            h,
            sid,
            "tools/call",
            json!({"name": name, "arguments": args}),
        );
        let text = r["result"]["content"][0]["text"].as_str();
        (
            r["result"]["isError"] == true,
            text.unwrap_or_else(|| panic!("{r}")).to_owned(),
        )
    }

    #[test]
    fn fixtures_ask_on_the_session_stream_and_read_the_answer_against_the_form() {
        let (h, port, sid) = setup(json!({"elicitation": {}, "sampling": {}}));
        let script = |a: Result<Value, Value>| port.answers.lock().unwrap().push_back(a);
        script(Ok(
            json!({"action": "accept", "content": {"username": "ada", "email": "ada@example.com"}}),
        ));
        let (err, text) = tool_text(&h, &sid, "test_elicitation", json!({"message": "Who?"}));
        assert!(
            !err && text.starts_with("User response: action=accept"),
            "{text}"
        );
        assert!(text.contains("ada@example.com"), "{text}");
        let asked = port.asked.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            (&asked["method"], &asked["params"]["message"]),
            (&json!("elicitation/create"), &json!("Who?"))
        );
        // SEP-1034: the fields the client left out get the form's defaults.
        script(Ok(json!({"action": "accept", "content": {"name": "Jane"}})));
        let (_, text) = tool_text(&h, &sid, "test_elicitation_sep1034_defaults", json!({}));
        for part in [
            "\"name\":\"Jane\"",
            "\"age\":30",
            "\"score\":95.5",
            "\"status\":\"active\"",
            "\"verified\":true",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        script(Ok(json!({"action": "decline"})));
        let (err, text) = tool_text(&h, &sid, "test_elicitation_sep1330_enums", json!({}));
        assert_eq!(
            (err, text.as_str()),
            (false, "Elicitation completed: action=decline")
        );
        // An answer outside the form, and a client's error, are tool errors.
        script(Ok(
            json!({"action": "accept", "content": {"untitledSingle": "option9"}}),
        ));
        let (err, text) = tool_text(&h, &sid, "test_elicitation_sep1330_enums", json!({}));
        assert!(err && text.contains("untitledSingle"), "{text}");
        script(Err(
            json!({"code": -1, "message": "User rejected sampling request"}),
        ));
        let (err, text) = tool_text(&h, &sid, "test_sampling", json!({"prompt": "hi"}));
        assert!(
            err && text.contains("User rejected sampling request"),
            "{text}"
        );
        script(Ok(
            json!({"role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m"}),
        ));
        let (err, text) = tool_text(&h, &sid, "test_sampling", json!({"prompt": "hi"}));
        assert_eq!((err, text.as_str()), (false, "LLM response: Paris"));
        assert_eq!(port.asked.lock().unwrap().len(), 6);
    }

    #[test]
    fn a_client_without_the_capability_is_never_asked() {
        let (h, port, sid) = setup(json!({}));
        let (err, text) = tool_text(&h, &sid, "test_elicitation", json!({"message": "Who?"}));
        assert!(
            err && text.contains("did not declare the 'elicitation' capability"),
            "{text}"
        );
        let (err, text) = tool_text(&h, &sid, "test_sampling", json!({"prompt": "hi"}));
        assert!(err && text.contains("'sampling'"), "{text}");
        // Nor is a destructive tool held up: it runs as before.
        assert_eq!(
            tool_text(&h, &sid, "destructive_echo", json!({"message": "m"})),
            (false, "m".into())
        );
        assert!(port.asked.lock().unwrap().is_empty());
    }

    #[test]
    fn a_destructive_tool_asks_a_2025_client_with_elicitation_to_confirm() {
        let (h, port, sid) = setup(json!({"elicitation": {}}));
        let script = |a: Value| port.answers.lock().unwrap().push_back(Ok(a));
        for (answer, ran) in [
            (json!({"action": "decline"}), false),
            (json!({"action": "cancel"}), false),
            (
                json!({"action": "accept", "content": {"confirm": false}}),
                false,
            ),
            (
                json!({"action": "accept", "content": {"confirm": "yes"}}),
                false,
            ),
            (
                json!({"action": "accept", "content": {"confirm": true}}),
                true,
            ),
        ] {
            script(answer.clone());
            let (err, text) = tool_text(&h, &sid, "destructive_echo", json!({"message": "m"}));
            assert_eq!((err, text == "m"), (!ran, ran), "{answer} -> {text}");
        }
        let asked = port.asked.lock().unwrap();
        assert_eq!(asked.len(), 5);
        assert_eq!(
            asked[0]["params"]["requestedSchema"]["required"],
            json!(["confirm"])
        );
    }
}

#[test]
fn resource_subscriptions_notify_their_own_session_stream_only() {
    let h = harness();
    let h = Harness {
        app: h
            .app
            .with_session_watch(crate::subscription::DEFAULT_POLL_MS),
        ..h
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let reply = block_on(h.app.handle(post(&[JSON, ACCEPT], &init.to_string())));
    assert_eq!(
        body_json(&reply)["result"]["capabilities"]["resources"]["subscribe"],
        true
    );
    let (a, b) = (initialize(&h, "2025-11-25"), initialize(&h, "2025-11-25"));
    let uri = "test://watched-resource";
    let (status, v) = call(&h, &a, "resources/subscribe", json!({ "uri": uri }));
    assert_eq!((status, v["result"].clone()), (StatusCode::OK, json!({})));
    let hold = |sid: &str| StreamHold {
        session: crate::session::SessionId::parse(sid).unwrap(),
        channel: StreamChannel::Standalone(1),
        keepalive_ms: 1_000,
        lease: None,
    };
    let (ha, hb) = (hold(&a), hold(&b));
    let (mut wa, mut wb) = (
        crate::subscription::ResourceWatch::default(),
        crate::subscription::ResourceWatch::default(),
    );
    let poll = |h2: &StreamHold, w: &mut crate::subscription::ResourceWatch| {
        block_on(h.app.session_resource_poll(h2, w))
    };
    assert!(poll(&ha, &mut wa).is_empty(), "nothing changed yet");
    let update = json!({"name": "test_update_watched_resource", "arguments": {}});
    let (status, _) = call(&h, &b, "tools/call", update.clone());
    assert_eq!(status, StatusCode::OK);
    let frames = poll(&ha, &mut wa);
    assert_eq!(frames.len(), 1, "the subscriber hears the change");
    let n = body_json(&Reply::sse(frames, None));
    assert_eq!(n["method"], crate::subscription::RESOURCE_UPDATED);
    assert_eq!(n["params"]["uri"], uri);
    assert!(poll(&ha, &mut wa).is_empty(), "once");
    assert!(
        poll(&hb, &mut wb).is_empty(),
        "another session hears nothing"
    );
    // Unsubscribed: a change is not reported.
    let (_, v) = call(&h, &a, "resources/unsubscribe", json!({ "uri": uri }));
    assert_eq!(v["result"], json!({}));
    call(&h, &b, "tools/call", update);
    assert!(poll(&ha, &mut wa).is_empty(), "unsubscribed");
    // Unknown URI: resource not found; a missing uri: invalid params.
    let (_, v) = call(&h, &a, "resources/subscribe", json!({"uri": "test://nope"}));
    assert_eq!(v["error"]["code"], -32002, "{v}");
    let (_, v) = call(&h, &a, "resources/subscribe", json!({}));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    // The bound per session, with the limit in the message; unsubscribing makes room.
    let max = crate::subscription::MAX_SESSION_SUBSCRIPTIONS;
    for i in 0..max {
        let (_, v) = call(
            &h,
            &a,
            "resources/subscribe",
            json!({"uri": format!("test://echo/{i}")}),
        );
        assert_eq!(v["result"], json!({}), "{i}: {v}");
    }
    let (_, v) = call(&h, &a, "resources/subscribe", json!({ "uri": uri }));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&max.to_string()),
        "{v}"
    );
    call(
        &h,
        &a,
        "resources/unsubscribe",
        json!({"uri": "test://echo/0"}),
    );
    let (_, v) = call(&h, &a, "resources/subscribe", json!({ "uri": uri }));
    assert_eq!(v["result"], json!({}), "{v}");
}

#[test]
fn resources_subscribe_is_unknown_without_a_polled_stream() {
    let h = harness();
    let sid = initialize(&h, "2025-11-25");
    let (_, v) = call(
        &h,
        &sid,
        "resources/subscribe",
        json!({"uri": "test://watched-resource"}),
    );
    assert_eq!(v["error"]["code"], -32601, "{v}");
}
