use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::protocol::code;

const RULES: Rules = Rules {
    max_body_bytes: 256,
    max_batch: 3,
    stateless: true,
};
/// The bridged endpoint's rules: no batches, no 2026-07-28 single exchange.
const BRIDGE: Rules = Rules {
    max_body_bytes: 256,
    max_batch: 0,
    stateless: false,
};

fn heads(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    h
}

const JSON: (&str, &str) = ("content-type", "application/json");
const BOTH: (&str, &str) = ("accept", "application/json, text/event-stream");
const SID: (&str, &str) = ("mcp-session-id", "s1");

fn init() -> String {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}})
        .to_string()
}
fn call(id: i64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/list"})
}
fn modern() -> String {
    json!({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{META_PROTOCOL_VERSION:"2026-07-28"}}})
        .to_string()
}

/// A refusal case: name, method, headers, body, rules, JSON-RPC code, HTTP status, id, message part.
type Case<'a> = (
    &'a str,
    Method,
    Vec<(&'a str, &'a str)>,
    String,
    Rules,
    i64,
    StatusCode,
    Value,
    &'a str,
);

/// Every refusal: the request, the JSON-RPC code, the HTTP status, the id answered, and a fragment
/// of the message.
#[test]
fn refusals_carry_their_code_status_and_id() {
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(300));
    let batch_of = |n: usize| Value::Array((0..n as i64).map(call).collect()).to_string();
    let with_init = json!([
        call(1),
        serde_json::from_str::<Value>(&init()).expect("json")
    ])
    .to_string();
    let cases: Vec<Case> = vec![
        (
            "PUT",
            Method::PUT,
            vec![],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::METHOD_NOT_ALLOWED,
            Value::Null,
            "use POST, GET or DELETE",
        ),
        (
            "PATCH on the bridge",
            Method::PATCH,
            vec![],
            String::new(),
            BRIDGE,
            code::INVALID_REQUEST,
            StatusCode::METHOD_NOT_ALLOWED,
            Value::Null,
            "use POST",
        ),
        (
            "no Content-Type",
            Method::POST,
            vec![BOTH],
            init(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Value::Null,
            "Content-Type",
        ),
        (
            "text/plain",
            Method::POST,
            vec![("content-type", "text/plain"), BOTH],
            init(),
            BRIDGE,
            code::INVALID_REQUEST,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Value::Null,
            "application/json",
        ),
        (
            "Accept neither",
            Method::POST,
            vec![JSON, ("accept", "text/html")],
            init(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::NOT_ACCEPTABLE,
            Value::Null,
            "Accept must allow",
        ),
        (
            "body too large",
            Method::POST,
            vec![JSON, BOTH],
            big,
            RULES,
            code::INVALID_REQUEST,
            StatusCode::PAYLOAD_TOO_LARGE,
            Value::Null,
            "256 bytes",
        ),
        (
            "unknown version",
            Method::POST,
            vec![JSON, BOTH, ("mcp-protocol-version", "1999-01-01")],
            init(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            json!(1),
            "1999-01-01",
        ),
        (
            "2026-07-28 envelope, unknown version",
            Method::POST,
            vec![JSON, BOTH, ("mcp-protocol-version", "v999.0.0")],
            json!({"jsonrpc":"2.0","id":301,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"v999.0.0","io.modelcontextprotocol/clientCapabilities":{}}}}).to_string(),
            RULES,
            code::UNSUPPORTED_PROTOCOL_VERSION,
            StatusCode::BAD_REQUEST,
            json!(301),
            "Unsupported protocol version",
        ),
        (
            "unparsable body",
            Method::POST,
            vec![JSON, BOTH],
            "{not json".into(),
            RULES,
            code::PARSE_ERROR,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "",
        ),
        (
            "invalid message keeps its id",
            Method::POST,
            vec![JSON, BOTH, SID],
            json!({"jsonrpc":"1.0","id":9,"method":"x"}).to_string(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            json!(9),
            "",
        ),
        (
            "no session header",
            Method::POST,
            vec![JSON, BOTH],
            call(4).to_string(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            json!(4),
            "Mcp-Session-Id",
        ),
        (
            "no session header on the bridge",
            Method::POST,
            vec![JSON, BOTH],
            call(5).to_string(),
            BRIDGE,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            json!(5),
            "Mcp-Session-Id",
        ),
        (
            "batch on the bridge",
            Method::POST,
            vec![JSON, BOTH, SID],
            batch_of(2),
            BRIDGE,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "one JSON-RPC message",
        ),
        (
            "batch over the limit",
            Method::POST,
            vec![JSON, BOTH, SID],
            batch_of(4),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "at most 3",
        ),
        (
            "initialize in a batch",
            Method::POST,
            vec![JSON, BOTH, SID],
            with_init,
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "initialize must not be part of a batch",
        ),
        (
            "batch without a session",
            Method::POST,
            vec![JSON, BOTH],
            batch_of(2),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "Mcp-Session-Id",
        ),
        (
            "2026-07-28 batch",
            Method::POST,
            vec![JSON, BOTH, ("mcp-protocol-version", "2026-07-28")],
            batch_of(2),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "2026-07-28 does not allow",
        ),
        (
            "2026-07-28 GET",
            Method::GET,
            vec![
                ("accept", "text/event-stream"),
                SID,
                ("mcp-protocol-version", "2026-07-28"),
            ],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::METHOD_NOT_ALLOWED,
            Value::Null,
            "no GET stream",
        ),
        (
            "GET unknown version",
            Method::GET,
            vec![
                ("accept", "text/event-stream"),
                SID,
                ("mcp-protocol-version", "2000-01-01"),
            ],
            String::new(),
            BRIDGE,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "2000-01-01",
        ),
        (
            "GET without SSE",
            Method::GET,
            vec![("accept", "application/json"), SID],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::NOT_ACCEPTABLE,
            Value::Null,
            "text/event-stream",
        ),
        (
            "GET without a session",
            Method::GET,
            vec![("accept", "text/event-stream")],
            String::new(),
            BRIDGE,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "Mcp-Session-Id",
        ),
        (
            "GET bad Last-Event-ID",
            Method::GET,
            vec![("accept", "text/event-stream"), SID, ("last-event-id", "7")],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "Last-Event-ID",
        ),
        (
            "GET negative Last-Event-ID",
            Method::GET,
            vec![
                ("accept", "text/event-stream"),
                SID,
                ("last-event-id", "1--2"),
            ],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "Last-Event-ID",
        ),
        (
            "2026-07-28 DELETE",
            Method::DELETE,
            vec![SID, ("mcp-protocol-version", "2026-07-28")],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::METHOD_NOT_ALLOWED,
            Value::Null,
            "no sessions to delete",
        ),
        (
            "DELETE unknown version",
            Method::DELETE,
            vec![SID, ("mcp-protocol-version", "nope")],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "nope",
        ),
        (
            "DELETE without a session",
            Method::DELETE,
            vec![],
            String::new(),
            RULES,
            code::INVALID_REQUEST,
            StatusCode::BAD_REQUEST,
            Value::Null,
            "Mcp-Session-Id",
        ),
    ];
    for (name, method, pairs, body, rules, rpc, status, id, fragment) in cases {
        let refusal = match classify(&method, &heads(&pairs), body.as_bytes(), &rules) {
            Err(r) => r,
            Ok(ok) => panic!("{name}: expected a refusal, got {ok:?}"),
        };
        let wire = refusal.error.to_jsonrpc();
        assert_eq!(wire.code, rpc, "{name}: JSON-RPC code");
        assert_eq!(refusal.error.http_status(), status, "{name}: HTTP status");
        assert_eq!(refusal.id, id, "{name}: id");
        assert!(
            wire.message.contains(fragment),
            "{name}: {:?} lacks {fragment:?}",
            wire.message
        );
        let reply = refusal.reply();
        assert_eq!(reply.status(), status, "{name}: reply status");
        let allow = reply.response.headers().get(http::header::ALLOW);
        assert_eq!(
            allow.is_some(),
            status == StatusCode::METHOD_NOT_ALLOWED,
            "{name}: Allow only on a 405"
        );
        if let Some(a) = allow {
            assert_eq!(a, ALLOWED_METHODS);
        }
    }
}

#[test]
fn acceptances_say_what_the_request_is() {
    let ok = |m: Method, pairs: &[(&str, &str)], body: &str, rules: &Rules| {
        classify(&m, &heads(pairs), body.as_bytes(), rules)
            .unwrap_or_else(|r| panic!("{m} {pairs:?} {body}: refused with {:?}", r.error))
    };
    // initialize, with or without a stale session header, on either endpoint.
    for rules in [RULES, BRIDGE] {
        for pairs in [vec![JSON, BOTH], vec![JSON, BOTH, SID]] {
            assert!(matches!(ok(Method::POST, &pairs, &init(), &rules),
                Inbound::Initialize { message: Incoming::Request { ref method, .. }, accept } if method == "initialize" && accept.json && accept.sse));
        }
    }
    // No Accept header accepts both.
    assert!(matches!(
        ok(Method::POST, &[JSON], &init(), &RULES),
        Inbound::Initialize {
            accept: Acceptable {
                json: true,
                sse: true
            },
            ..
        }
    ));
    // A request, a notification and a response on a session.
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string();
    let resp = json!({"jsonrpc":"2.0","id":3,"result":{}}).to_string();
    for (body, want_request) in [(call(2).to_string(), true), (note, false), (resp, false)] {
        for rules in [RULES, BRIDGE] {
            match ok(
                Method::POST,
                &[JSON, ("accept", "text/event-stream"), SID],
                &body,
                &rules,
            ) {
                Inbound::OnSession {
                    session,
                    payload: Payload::Single(m),
                    accept,
                } => {
                    assert_eq!(session, "s1");
                    assert!(accept.sse && !accept.json);
                    assert_eq!(
                        matches!(m, Incoming::Request { .. }),
                        want_request,
                        "{body}"
                    );
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
    // A batch within the limit.
    let batch = json!([call(1), call(2), call(3)]).to_string();
    assert!(
        matches!(ok(Method::POST, &[JSON, BOTH, SID], &batch, &RULES),
        Inbound::OnSession { payload: Payload::Batch(ref items), .. } if items.len() == 3)
    );
    // 2026-07-28: by header, or by envelope without a session; not on the bridge.
    let modern_header = [JSON, BOTH, ("mcp-protocol-version", "2026-07-28")];
    assert!(matches!(
        ok(Method::POST, &modern_header, &call(1).to_string(), &RULES),
        Inbound::Stateless { .. }
    ));
    assert!(matches!(
        ok(Method::POST, &[JSON, BOTH], &modern(), &RULES),
        Inbound::Stateless { .. }
    ));
    assert!(matches!(
        ok(Method::POST, &[JSON, BOTH, SID], &modern(), &RULES),
        Inbound::OnSession { .. }
    ));
    assert!(matches!(
        ok(Method::POST, &[JSON, BOTH, SID], &modern(), &BRIDGE),
        Inbound::OnSession { .. }
    ));
    // A handshake-era version header is fine.
    assert!(matches!(
        ok(
            Method::POST,
            &[JSON, BOTH, SID, ("mcp-protocol-version", "2025-06-18")],
            &call(1).to_string(),
            &RULES
        ),
        Inbound::OnSession { .. }
    ));
    // GET with and without resumption; DELETE.
    let sse = ("accept", "text/event-stream");
    assert_eq!(
        ok(Method::GET, &[sse, SID], "", &RULES),
        Inbound::OpenStream {
            session: "s1".into(),
            resume: None
        }
    );
    assert_eq!(
        ok(
            Method::GET,
            &[sse, SID, ("last-event-id", "4-12")],
            "",
            &RULES
        ),
        Inbound::OpenStream {
            session: "s1".into(),
            resume: Some(EventId { stream: 4, seq: 12 })
        }
    );
    assert_eq!(
        ok(Method::GET, &[("accept", "*/*"), SID], "", &BRIDGE),
        Inbound::OpenStream {
            session: "s1".into(),
            resume: None
        }
    );
    assert_eq!(
        ok(Method::DELETE, &[SID], "", &BRIDGE),
        Inbound::Delete {
            session: "s1".into()
        }
    );
}

#[test]
fn the_body_limit_is_inclusive() {
    let rules = Rules {
        max_body_bytes: init().len(),
        ..RULES
    };
    assert!(classify(&Method::POST, &heads(&[JSON]), init().as_bytes(), &rules).is_ok());
    let rules = Rules {
        max_body_bytes: init().len() - 1,
        ..RULES
    };
    let refused = classify(&Method::POST, &heads(&[JSON]), init().as_bytes(), &rules);
    assert!(matches!(
        refused,
        Err(Refusal {
            error: McpError::PayloadTooLarge(_),
            ..
        })
    ));
}
