//! The handler's helpers, and the held stream's release when the client leaves, driven through the
//! library with the core's memory ports (no Runtime API: `cargo lambda watch` does not pass a client
//! disconnect on to the function, so the e2e suite cannot observe this path on the Lambda).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt as _;
use mcp_edge_core::gateway::{ClientAddress, GatewayConfig};
use mcp_edge_core::session::MemorySessionStore;
use mcp_edge_core::tool::Registry;
use mcp_edge_core::transport::headers::OriginPolicy;
use mcp_edge_core::transport::{Reply, ReplyBody};
use mcp_edge_core::{McpApp, Ports};
use mcp_edge_native::{OsEntropy, ReqwestClient, SystemClock, UpstreamTransport};
use serde_json::json;

use super::*;

#[test]
fn base_path_is_normalized_and_empty_in_production() {
    assert_eq!(base_path(None), "");
    assert_eq!(base_path(Some("")), "");
    assert_eq!(base_path(Some("/")), "");
    assert_eq!(base_path(Some(" / ")), "");
    assert_eq!(
        base_path(Some("lambda-url/bootstrap/")),
        "/lambda-url/bootstrap"
    );
    assert_eq!(base_path(Some("/prefix")), "/prefix");
}

fn event(uri: &str, source_ip: Option<&str>) -> lambda_http::Request {
    let req = http::Request::builder()
        .method(Method::POST)
        .uri(uri)
        .body(lambda_http::Body::Text("{}".into()))
        .unwrap();
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.http.source_ip = source_ip.map(str::to_owned);
    req.with_request_context(RequestContext::ApiGatewayV2(ctx))
}

#[test]
fn requests_reach_the_core_under_the_base_path_with_the_callers_address() {
    let core = to_core(
        event("/mcp?x=1", Some("203.0.113.7")),
        "/lambda-url/bootstrap",
    );
    assert_eq!(
        core.uri().path_and_query().unwrap().as_str(),
        "/lambda-url/bootstrap/mcp?x=1"
    );
    assert_eq!(core.body().as_ref(), b"{}");
    assert_eq!(
        core.extensions()
            .get::<ClientAddress>()
            .map(|a| a.0.as_str()),
        Some("203.0.113.7")
    );
    // A path that already carries the prefix is not prefixed twice.
    let core = to_core(
        event("/lambda-url/bootstrap/sse", None),
        "/lambda-url/bootstrap",
    );
    assert_eq!(core.uri().path(), "/lambda-url/bootstrap/sse");
    assert!(core.extensions().get::<ClientAddress>().is_none());
    // Production: no base path, the path as the event carries it.
    let core = to_core(event("/messages?sessionId=abc", None), "");
    assert_eq!(
        core.uri().path_and_query().unwrap().as_str(),
        "/messages?sessionId=abc"
    );
}

#[test]
fn time_left_reads_epoch_deadlines_and_emulator_budgets() {
    let now = 1_800_000_000_000;
    assert_eq!(time_left(None, now), None);
    assert_eq!(
        time_left(Some(now + 60_000), now),
        Some(Duration::from_secs(58))
    );
    assert_eq!(
        time_left(Some(now - 1), now),
        Some(Duration::ZERO),
        "past deadline"
    );
    assert_eq!(
        time_left(Some(600_000), now),
        Some(Duration::from_secs(598)),
        "an emulator's timeout is a budget"
    );
    assert_eq!(time_left(Some(1_000), now), Some(Duration::ZERO));
}

#[tokio::test]
async fn whole_replies_concatenate_sse_frames() {
    let reply = Reply::new(
        StatusCode::OK,
        ReplyBody::Sse {
            frames: vec![
                Bytes::from_static(b"data: 1\n\n"),
                Bytes::from_static(b"data: 2\n\n"),
            ],
            hold: None,
        },
    );
    let resp = whole(reply);
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.as_ref(), b"data: 1\n\ndata: 2\n\n");
    let empty = whole(Reply::new(StatusCode::ACCEPTED, ReplyBody::Empty));
    assert_eq!(empty.status(), StatusCode::ACCEPTED);
    assert!(empty
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .is_empty());
}

#[test]
fn ws_is_refused_with_426_naming_the_transports_that_work() {
    let reply = ws_refusal();
    assert_eq!(reply.status(), StatusCode::UPGRADE_REQUIRED);
    let ReplyBody::Full(body) = reply.response.body() else {
        panic!("a JSON body");
    };
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["error"], "WebSocket is not available on AWS Lambda");
    assert!(v["detail"].as_str().unwrap().contains("/mcp"));
}

/// The body of a whole reply after [`append_to_metrics`] added the store's counters.
fn with_store_counters(status: StatusCode, body: &'static [u8]) -> Bytes {
    let mut reply = Reply::new(status, ReplyBody::Full(Bytes::from_static(body)));
    append_to_metrics(&mut reply, "mcp_edge_dynamodb_calls_total 3\n");
    match reply.response.into_body() {
        ReplyBody::Full(b) => b,
        _ => panic!("a whole body"),
    }
}

#[test]
fn store_counters_are_appended_to_successful_metrics_only() {
    assert_eq!(
        with_store_counters(StatusCode::OK, b"mcp_edge_requests_total 1\n").as_ref(),
        b"mcp_edge_requests_total 1\nmcp_edge_dynamodb_calls_total 3\n"
    );
    assert_eq!(
        with_store_counters(StatusCode::UNAUTHORIZED, b"{}").as_ref(),
        b"{}",
        "an error reply is left alone"
    );
}

fn app(max_streams: u32) -> Arc<McpApp> {
    let mut registry = Registry::new();
    mcp_edge_core::testing::register_test_tools(&mut registry);
    let config = GatewayConfig {
        origins: OriginPolicy {
            allowed_origins: vec![],
            allowed_hosts: Some(vec![]),
        },
        max_streams_per_session: Some(max_streams),
        stream_lease_ms: Some(MAX_INVOCATION.as_millis() as u64),
        keepalive_ms: 100,
        ..GatewayConfig::default()
    };
    let ports = Ports {
        store: Arc::new(MemorySessionStore::new()),
        http: Arc::new(ReqwestClient::plain(
            Duration::from_secs(1),
            &UpstreamTransport::new::<&str>(&[]).unwrap(),
        )),
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
    };
    Arc::new(McpApp::new(config, registry, ports).unwrap())
}

async fn session(app: &McpApp) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Bytes::from(init.to_string()))
        .unwrap();
    let reply = app.handle(req).await;
    assert_eq!(reply.status(), StatusCode::OK);
    reply.response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn get_stream(app: &McpApp, sid: &str) -> Reply {
    let req = http::Request::builder()
        .method(Method::GET)
        .uri("/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", sid)
        .body(Bytes::new())
        .unwrap();
    app.handle(req).await
}

#[tokio::test]
async fn a_client_leaving_a_held_stream_gives_its_lease_back() {
    let app = app(1);
    let sid = session(&app).await;
    let mut reply = get_stream(&app, &sid).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let ReplyBody::Sse {
        frames,
        hold: Some(hold),
    } = std::mem::replace(reply.response.body_mut(), ReplyBody::Empty)
    else {
        panic!("a GET stream is held");
    };
    let mut body = held(app.clone(), Duration::from_millis(50), frames, hold, None);
    assert_eq!(app.metrics().active_streams(), 1);
    // The stream flows: a keep-alive arrives (every 100 ms here).
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("a frame within 5 s")
        .expect("the stream is open")
        .unwrap();
    assert!(first.is_data());
    // While it is held, the session's one stream place is taken.
    assert_eq!(
        get_stream(&app, &sid).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The client leaves: the body is dropped. The held stream notices, closes, and gives the place
    // back (bounded poll, well under the 15-minute lease that would otherwise hold it).
    drop(body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.metrics().active_streams() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the held stream did not end within 5 s of the client leaving"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut again = Reply::new(StatusCode::INTERNAL_SERVER_ERROR, ReplyBody::Empty);
    while tokio::time::Instant::now() < deadline {
        again = get_stream(&app, &sid).await;
        if again.status() != StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "the stream's place came back"
    );
}

#[tokio::test]
async fn a_held_stream_ends_at_its_deadline_and_gives_its_lease_back() {
    let app = app(1);
    let sid = session(&app).await;
    let mut reply = get_stream(&app, &sid).await;
    let ReplyBody::Sse {
        frames,
        hold: Some(hold),
    } = std::mem::replace(reply.response.body_mut(), ReplyBody::Empty)
    else {
        panic!("a GET stream is held");
    };
    let body = held(
        app.clone(),
        Duration::from_millis(50),
        frames,
        hold,
        Some(Duration::from_millis(300)),
    );
    // The client stays; the body ends by itself at the deadline.
    let all = tokio::time::timeout(Duration::from_secs(5), body.collect())
        .await
        .expect("the stream ended within 5 s of a 300 ms deadline")
        .unwrap()
        .to_bytes();
    assert!(!all.is_empty(), "keep-alives flowed before the deadline");
    assert_eq!(app.metrics().active_streams(), 0);
    assert_eq!(get_stream(&app, &sid).await.status(), StatusCode::OK);
}
