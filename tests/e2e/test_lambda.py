"""Lambda-only checks under `cargo lambda watch`: /ws explains that Function URLs carry no WebSocket;
a streamed SSE reply arrives incrementally; DynamoDB calls per request stay within one read and one
conditional write for sessionful requests and zero for stateless ones (the store's own counters on
/metrics)."""

from __future__ import annotations

import json
import re
import time

import httpx2 as httpx
import pytest

from conftest import TARGET

pytestmark = [
    pytest.mark.lambda_only,
    pytest.mark.skipif(TARGET != "lambda", reason="checks the Lambda's own behaviour"),
]

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def calls(c: httpx.Client, url: str) -> dict[str, int]:
    text = c.get(f"{url}/metrics").text
    return {op: int(n) for op, n in re.findall(r'^mcp_edge_dynamodb_calls_total\{op="(\w+)"\} (\d+)$', text, re.M)}


def test_websocket_is_refused_with_a_reason(base_url: str) -> None:
    r = httpx.get(f"{base_url}/ws", headers={"upgrade": "websocket", "connection": "upgrade"}, timeout=10)
    assert r.status_code == 426
    assert "WebSocket" in r.json()["error"] and "/mcp" in r.json()["detail"]


def test_dynamodb_calls_per_request(spawn) -> None:
    # One execution environment, so /metrics shows the same store counters the calls went through.
    base_url = spawn(["--lambda-concurrency", "1"]).url
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    stateless = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
    with httpx.Client(timeout=10) as c:
        before = calls(c, base_url)
        for _ in range(10):
            r = c.post(f"{base_url}/mcp", json=stateless, headers={**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"})
            assert r.status_code == 200, r.text
        assert calls(c, base_url) == before, "stateless requests make no DynamoDB call"

        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}
        r = c.post(f"{base_url}/mcp", json=init, headers=JSON)
        sid = r.headers["mcp-session-id"]
        s = {**JSON, "mcp-session-id": sid}
        c.post(f"{base_url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=s)
        before = calls(c, base_url)
        n = 20
        for i in range(n):
            r = c.post(f"{base_url}/mcp", json={"jsonrpc": "2.0", "id": i + 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "x"}}}, headers=s)
            assert r.status_code == 200, r.text
        after = calls(c, base_url)
        reads = after["read"] - before["read"]
        writes = after["conditional_write"] - before["conditional_write"]
        print(f"{n} sessionful calls: {reads} reads, {writes} conditional writes")
        assert reads <= n and writes <= n, (reads, writes)


def test_streamed_sse_reply_arrives_incrementally(base_url: str) -> None:
    """The legacy stream's endpoint event arrives while the stream is still open (streaming response
    mode), and a reply posted afterwards arrives on the same open response."""
    with httpx.Client(timeout=20) as c:
        with c.stream("GET", f"{base_url}/sse", headers={"accept": "text/event-stream"}) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            assert next(lines) == "event: endpoint"
            endpoint = next(lines)[len("data: "):]
            origin = re.match(r"https?://[^/]+", base_url).group(0)
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2024-11-05", "capabilities": {}}}
            p = c.post(origin + endpoint, json=init, headers={"content-type": "application/json"})
            assert p.status_code == 202, p.text
            deadline = time.monotonic() + 10
            got = None
            while time.monotonic() < deadline and got is None:
                line = next(lines)
                if line.startswith("data: {"):
                    got = line
            assert got is not None, "the reply to the POST arrived on the open stream"
            reply = json.loads(got[len("data: "):])
            assert reply["id"] == 1 and "protocolVersion" in reply["result"], reply
            # The endpoint event was read before the POST existed, and the response is still open
            # after the reply: the stream flowed incrementally (a buffered reply ends with its frames).
            assert not r.is_closed, "the stream stays open after the reply"


def test_buffered_invoke_mode_answers_whole_replies(spawn) -> None:
    """A Function URL in BUFFERED mode: plain JSON replies and whole SSE replies still work."""
    url = spawn(["--lambda-invoke-mode", "BUFFERED"]).url
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "buffered"}}}
    with httpx.Client(timeout=20) as c:
        r = c.post(f"{url}/mcp", json=init, headers=JSON)
        assert r.status_code == 200, r.text
        s = {**JSON, "mcp-session-id": r.headers["mcp-session-id"]}
        r = c.post(f"{url}/mcp", json=call, headers={**s, "accept": "application/json"})
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["result"]["content"][0]["text"] == "buffered"
        r = c.post(f"{url}/mcp", json=call, headers={**s, "accept": "text/event-stream"})
        assert r.headers["content-type"].startswith("text/event-stream")
        assert '"text":"buffered"' in r.text
