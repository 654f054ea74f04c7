//! Arbitrary headers and body through `McpApp::handle` with memory ports: never a panic, never a 5xx.
#![no_main]
use std::sync::Arc;

use bytes::Bytes;
use mcp_edge_core::port::{BoxFuture, Clock, Entropy, HttpClient, UpstreamError};
use mcp_edge_core::session::MemorySessionStore;
use mcp_edge_core::tool::Registry;
use mcp_edge_core::{GatewayConfig, McpApp, Ports};

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> u64 {
        1_000_000
    }
}
impl Entropy for Fixed {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
}
impl HttpClient for Fixed {
    fn send(&self, _r: http::Request<Bytes>) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        Box::pin(async { Err(UpstreamError::Refused("fuzz".into())) })
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut registry = Registry::new();
    mcp_edge_core::testing::register_test_tools(&mut registry);
    let ports = Ports { store: Arc::new(MemorySessionStore::new()), http: Arc::new(Fixed), clock: Arc::new(Fixed), entropy: Arc::new(Fixed) };
    let Ok(app) = McpApp::new(GatewayConfig::default(), registry, ports) else { return };
    // First line: header pairs `name: value;name: value`; the rest is the body.
    let (head, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let mut req = http::Request::post("/mcp").header("content-type", "application/json");
    for pair in String::from_utf8_lossy(head).split(';') {
        if let Some((k, v)) = pair.split_once(':') {
            if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.trim().as_bytes()), http::HeaderValue::from_str(v.trim())) {
                req = req.header(k, v);
            }
        }
    }
    let Ok(req) = req.body(Bytes::copy_from_slice(body)) else { return };
    let reply = futures::executor::block_on(app.handle(req));
    assert!(reply.status().as_u16() < 500 || reply.status().as_u16() == 503);
});
