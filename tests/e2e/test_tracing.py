"""OpenTelemetry tracing end to end: the gateway exports its spans over OTLP/HTTP protobuf to a local
receiver (tests/e2e/otlp_receiver.py, decoding with the official `opentelemetry-proto` definitions),
natively and on the Lambda; the span tree (server span → upstream client spans) follows an incoming
W3C `traceparent` (header, or `_meta` of a 2026-07-28 request), the upstream fake receives the
propagated context, and no credential, header value or argument value appears in any exported byte.
On every target (the Worker included, which exports nothing) an incoming context reaches the
upstream and the audit log line carries its trace id."""

from __future__ import annotations

import asyncio
import json
import os
import re

import httpx2 as httpx
import pytest
from conftest import TARGET, eventually
from otlp_receiver import OtlpReceiver
from test_connectors import EMAIL, JIRA_TOKEN, LOCAL, Fake, call, connect

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateways next to local fakes and a receiver"
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
TRACESTATE = "vendor=opaque-1"
OTLP_SECRET = "otlp-secret-5b9c"
ARG_MARKER = "zq-arg-marker-31"
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
SERVER, CLIENT = 2, 3  # OTLP SpanKind values
JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def jira():
    fake = Fake("jira", JIRA_TOKEN, EMAIL)
    yield fake
    fake.stop()


@pytest.fixture
def receiver():
    r = OtlpReceiver()
    yield r
    r.stop()


def exporting(receiver: OtlpReceiver, **extra: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_EXPORTER_OTLP_HEADERS": f"x-otlp-key={OTLP_SECRET}",
            "OTEL_SERVICE_NAME": "mcp-edge-e2e", **extra}


def creds(jira: Fake) -> dict[str, str]:
    return {"X-Jira-URL": jira.url, "X-Jira-Token": JIRA_TOKEN, "X-Jira-Email": EMAIL}


def modern_call(url: str, name: str, args: dict, headers: dict, meta: dict | None = None) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": args, "_meta": {**META, **(meta or {})}}}
    h = {**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": name, **headers}
    r = httpx.post(url + "/mcp", json=body, headers=h, timeout=60)
    assert r.status_code == 200, r.text
    text = r.text
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        text = [line[5:].strip() for line in text.splitlines() if line.startswith("data:") and line[5:].strip()][-1]
    return json.loads(text)


def recent_upstream(jira: Fake) -> list[dict]:
    return [r for r in jira.stats()["recent"] if not r["path"].startswith("/_fake")]


@pytest.mark.not_worker
def test_span_tree_follows_the_incoming_context_and_carries_no_secret(spawn, jira, receiver):
    gw = spawn(LOCAL, env=exporting(receiver))
    jira.control("/_fake/reset", {})
    headers = {**creds(jira), "traceparent": TRACEPARENT, "tracestate": TRACESTATE}

    async def scenario() -> str:
        async with connect(gw.url, headers) as s:
            result, text = await call(s, "jira_get_issue", {"issueKey": "DEMO-1"})
            assert not result.is_error, text
            result, text = await call(s, "echo", {"message": ARG_MARKER})
            assert text == ARG_MARKER
        return ""

    asyncio.run(scenario())
    server = receiver.wait_for(
        lambda spans: [s for s in spans if s["kind"] == SERVER and s["attributes"].get("gen_ai.tool.name") == "jira_get_issue"],
        "the tools/call server span")[0]
    assert server["trace_id"] == TRACE_ID and server["parent_span_id"] == PARENT_ID, server
    assert server["name"] == "tools/call jira_get_issue"
    assert server["trace_state"] == TRACESTATE
    a = server["attributes"]
    assert a["mcp.method.name"] == "tools/call" and a["mcp_edge.outcome"] == "ok", a
    assert re.fullmatch(r"[0-9a-f]{8,64}", a["mcp.session.tag"]), a
    assert a["mcp_edge.caller"] and a["mcp.protocol.version"]
    assert server["resource"]["service.name"] == "mcp-edge-e2e"
    clients = receiver.wait_for(
        lambda spans: [s for s in spans if s["kind"] == CLIENT and s["parent_span_id"] == server["span_id"]],
        "upstream client spans under the server span")
    for c in clients:
        assert c["trace_id"] == TRACE_ID
        ca = c["attributes"]
        assert ca["mcp_edge.upstream.service"] == "jira" and ca["server.address"] == jira.url.split("//", 1)[1], ca
        assert ca["http.response.status_code"] == 200 and ca["http.request.resend_count"] == 0, ca
        assert set(ca) <= {"mcp_edge.upstream.service", "server.address", "http.request.method",
                           "http.response.status_code", "http.request.resend_count"}, ca
    # The fake received the context of a client span (same trace, that span as parent).
    sent = [r["traceparent"] for r in recent_upstream(jira)]
    assert sent and all(t and t.split("-")[1] == TRACE_ID for t in sent), sent
    assert {t.split("-")[2] for t in sent} <= {c["span_id"] for c in clients}, (sent, clients)
    assert all(r["tracestate"] == TRACESTATE for r in recent_upstream(jira))
    # Nothing secret or client-chosen in any exported byte; the exporter's own header went out but
    # is never logged.
    raw = receiver.raw()
    for secret in (JIRA_TOKEN, EMAIL, ARG_MARKER, OTLP_SECRET):
        assert secret.encode() not in raw, secret
    assert all(h.get("x-otlp-key") == OTLP_SECRET for h in receiver.headers())
    assert OTLP_SECRET not in gw.logs()
    for s in receiver.spans():
        assert set(s["attributes"]) <= {
            "mcp.method.name", "gen_ai.tool.name", "mcp.session.tag", "mcp.protocol.version", "mcp_edge.caller",
            "mcp_edge.outcome", "rpc.jsonrpc.error_code", "mcp_edge.upstream.service", "server.address",
            "http.request.method", "http.response.status_code", "http.request.resend_count", "mcp_edge.bridge.server",
        }, s


@pytest.mark.not_worker
def test_meta_context_wins_and_a_malformed_one_starts_a_new_trace(spawn, jira, receiver):
    gw = spawn(LOCAL, env=exporting(receiver))
    meta_trace = "0af7651916cd43dd8448eb211c80319c"
    meta_parent = "b7ad6b7169203331"
    r = modern_call(gw.url, "jira_get_issue", {"issueKey": "DEMO-1"}, {**creds(jira), "traceparent": TRACEPARENT},
                    {"traceparent": f"00-{meta_trace}-{meta_parent}-01"})
    assert r["result"]["isError"] is False, r
    span = receiver.wait_for(lambda spans: [s for s in spans if s["kind"] == SERVER and s["trace_id"] == meta_trace],
                             "the server span in the _meta trace")[0]
    assert span["parent_span_id"] == meta_parent
    # A malformed traceparent is no error to the client: the request runs in a new trace.
    r = modern_call(gw.url, "echo", {"message": "hello"}, {"traceparent": "00-zz-not-a-context-01"})
    assert r["result"]["content"][0]["text"] == "hello", r
    roots = receiver.wait_for(
        lambda spans: [s for s in spans if s["kind"] == SERVER and s["attributes"].get("gen_ai.tool.name") == "echo"],
        "the echo server span")
    assert roots[0]["parent_span_id"] == "" and roots[0]["trace_id"] not in (TRACE_ID, meta_trace, "0" * 32)
    # An unsampled parent is followed (parent-based sampling): no span of that trace is exported.
    unsampled = "11111111111111111111111111111111"
    modern_call(gw.url, "echo", {"message": "quiet"}, {"traceparent": f"00-{unsampled}-{PARENT_ID}-00"})
    modern_call(gw.url, "echo", {"message": "marker"}, {"traceparent": f"00-{'2' * 32}-{PARENT_ID}-01"})
    receiver.wait_for(lambda spans: [s for s in spans if s["trace_id"] == "2" * 32], "the sampled marker span")
    assert not [s for s in receiver.spans() if s["trace_id"] == unsampled]


@pytest.mark.native_only
def test_metrics_count_exported_spans(spawn, receiver):
    gw = spawn([], env=exporting(receiver))
    modern_call(gw.url, "echo", {"message": "m"}, {})
    receiver.wait_for(lambda spans: spans, "any span")

    def exported() -> int:
        text = httpx.get(gw.url + "/metrics", timeout=10).text
        m = re.search(r'^mcp_edge_trace_spans_total\{fate="exported"\} (\d+)$', text, re.M)
        return int(m.group(1)) if m else 0

    assert eventually(exported, "exported spans counted in /metrics") >= 1
    text = httpx.get(gw.url + "/metrics", timeout=10).text
    assert 'mcp_edge_trace_spans_total{fate="dropped"} 0' in text


@pytest.mark.lambda_only
def test_lambda_flushes_spans_before_the_invocation_answers(spawn, receiver):
    gw = spawn([], env=exporting(receiver))
    r = modern_call(gw.url, "echo", {"message": "flush"}, {"traceparent": TRACEPARENT})
    assert r["result"]["content"][0]["text"] == "flush"
    # No waiting: the invocation answered only after its spans were sent (a frozen environment
    # would otherwise hold them until its next invocation, or forever).
    assert [s for s in receiver.spans() if s["trace_id"] == TRACE_ID and s["kind"] == SERVER], receiver.spans()


def test_context_reaches_the_upstream_and_the_log_without_export(spawn, jira):
    gw = spawn(LOCAL)
    jira.control("/_fake/reset", {})
    trace = "5c1e2b7f0a9d48e3b6c4f1a2d3e4f5a6"
    r = modern_call(gw.url, "jira_get_issue", {"issueKey": "DEMO-1"},
                    {**creds(jira), "traceparent": f"00-{trace}-{PARENT_ID}-01", "tracestate": TRACESTATE})
    assert r["result"]["isError"] is False, r
    sent = recent_upstream(jira)
    assert sent and all(x["traceparent"] == f"00-{trace}-{PARENT_ID}-01" for x in sent), sent
    assert all(x["tracestate"] == TRACESTATE for x in sent)
    eventually(lambda: trace in gw.logs(), f"the audit log line with trace id ({TARGET})", timeout=20)


# A stdio MCP server that answers `tools/call` with the `_meta` it received (stdlib only), so the
# test sees what a bridged child gets.
META_PROBE = """
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m or "method" not in m:
        continue
    method = m["method"]
    if method == "initialize":
        r = {"protocolVersion": m["params"]["protocolVersion"], "capabilities": {"tools": {}},
             "serverInfo": {"name": "meta-probe", "version": "1"}}
    elif method == "tools/list":
        r = {"tools": [{"name": "meta", "inputSchema": {"type": "object"}}]}
    elif method == "tools/call":
        r = {"content": [{"type": "text", "text": json.dumps(m["params"].get("_meta", {}))}]}
    else:
        r = {}
    print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
"""


@pytest.mark.native_only
def test_bridged_child_calls_are_spans_whose_context_reaches_the_child(spawn, receiver, tmp_path):
    probe = tmp_path / "meta_probe.py"
    probe.write_text(META_PROBE)
    gw = spawn(["--stdio", f"python3 {probe}"], env=exporting(receiver))
    url = gw.url + "/servers/stdio/mcp"
    h = {"content-type": "application/json", "accept": "application/json", "traceparent": TRACEPARENT}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    r = httpx.post(url, json=init, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    sid = r.headers["mcp-session-id"]
    h["mcp-session-id"] = sid
    h["mcp-protocol-version"] = "2025-06-18"
    assert httpx.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h,
                      timeout=30).status_code == 202
    r = httpx.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                              "params": {"name": "meta", "arguments": {"q": ARG_MARKER}}}, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    child_meta = json.loads(r.json()["result"]["content"][0]["text"])
    span = receiver.wait_for(
        lambda spans: [s for s in spans if s["attributes"].get("mcp_edge.bridge.server") == "stdio"
                       and s["attributes"].get("mcp.method.name") == "tools/call"],
        "the bridged tools/call span")[0]
    assert span["kind"] == CLIENT and span["name"] == "tools/call stdio"
    assert span["trace_id"] == TRACE_ID and span["parent_span_id"] == PARENT_ID, span
    assert span["attributes"]["mcp_edge.outcome"] == "ok"
    assert child_meta["traceparent"] == f"00-{TRACE_ID}-{span['span_id']}-01", child_meta
    raw = receiver.raw()
    assert ARG_MARKER.encode() not in raw and sid.encode() not in raw
