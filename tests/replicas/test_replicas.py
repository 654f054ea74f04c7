"""Replicas share sessions: two native mcp-edge instances on one shared store (Redis, DynamoDB),
reached by the official Python SDK client through a router that alternates between them, as a load
balancer without session affinity would. Sessions created on one are used, streamed (a GET with
Last-Event-ID, a legacy /sse stream) and deleted on the other; a caller's rate limit and session quota
hold across both."""

from __future__ import annotations

import asyncio
import json
import pathlib

import httpx2 as httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from conftest import REDIS_PASSWORD, Routing, alternating

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
SSE = {"accept": "text/event-stream", "mcp-protocol-version": "2025-11-25"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "replicas", "version": "1"}}}


def text_of(result) -> str:
    return result.content[0].text


def sse_events(text: str) -> list[dict]:
    """The SSE events of a body: dicts with `id` and `data` (comments and blank fields left out)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        ev: dict = {}
        for line in block.split("\n"):
            if line.startswith("id:"):
                ev["id"] = line[3:].strip()
            elif line.startswith("data:"):
                ev["data"] = ev.get("data", "") + line[5:].strip()
        if ev:
            events.append(ev)
    return events


def test_the_sdk_client_alternating_between_replicas_keeps_one_session(pair) -> None:
    a, b = pair()

    async def main() -> None:
        routing = Routing([a.port, b.port], alternating())
        async with httpx.AsyncClient(transport=routing, timeout=httpx.Timeout(30, read=60)) as http:
            async with streamable_http_client(f"{a.url}/mcp", http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    names = {t.name for t in (await s.list_tools()).tools}
                    assert {"echo", "reconnect_echo"} <= names
                    for i in range(4):
                        assert text_of(await s.call_tool("echo", {"message": f"m{i}"})) == f"m{i}"
                    # reconnect_echo answers its POST with a priming event only; the SDK reconnects
                    # with GET + Last-Event-ID, which the router sends to the other replica.
                    for i in range(3):
                        r = await s.call_tool("reconnect_echo", {"message": f"resumed {i}"})
                        assert text_of(r) == f"resumed {i}"
        posts = {i for m, i in routing.log if m == "POST"}
        gets = [i for m, i in routing.log if m == "GET"]
        assert posts == {0, 1}, routing.log
        assert len(gets) >= 3 and set(gets) == {0, 1}, routing.log

    asyncio.run(main())


def test_streams_resume_on_either_replica_and_delete_reaches_both(pair) -> None:
    a, b = pair()
    with httpx.Client(timeout=httpx.Timeout(10, read=30)) as c:
        r = c.post(f"{a.url}/mcp", json=INIT, headers=JSON)
        assert r.status_code == 200, r.text
        sid = r.headers["mcp-session-id"]
        on = {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
        assert c.post(f"{b.url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                      headers={**JSON, **on}).status_code == 202
        # B runs the call; its answer is logged in the shared session for a reconnect.
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "reconnect_echo", "arguments": {"message": "made on B"}}}
        r = c.post(f"{b.url}/mcp", json=call, headers={**JSON, **on})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
        priming = sse_events(r.text)
        assert priming and priming[0]["id"].endswith("-0") and "made on B" not in r.text, r.text
        # A's GET stream with Last-Event-ID receives the event B produced.
        r = c.get(f"{a.url}/mcp", headers={**SSE, **on, "last-event-id": priming[0]["id"]})
        assert r.status_code == 200, r.text
        got = [e for e in sse_events(r.text) if "data" in e]
        assert len(got) == 1 and json.loads(got[0]["data"])["result"]["content"][0]["text"] == "made on B", r.text
        # Resuming again from the same position on B replays the same event.
        again = c.get(f"{b.url}/mcp", headers={**SSE, **on, "last-event-id": priming[0]["id"]})
        assert [e for e in sse_events(again.text) if "data" in e] == got
        # DELETE on B ends the session for A too.
        assert c.delete(f"{b.url}/mcp", headers=on).status_code == 200
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        assert c.post(f"{a.url}/mcp", json=ping, headers={**JSON, **on}).status_code == 404
        assert c.get(f"{a.url}/mcp", headers={**SSE, **on}).status_code == 404


def test_a_legacy_sse_stream_on_one_replica_carries_answers_to_posts_on_the_other(pair) -> None:
    a, b = pair(["--legacy-poll", "50ms"])

    async def main() -> None:
        # The SDK's legacy client: its GET /sse goes to A, every POST /messages to B.
        routing = Routing([a.port, b.port], lambda method, n: 0 if method == "GET" else 1)

        def factory(headers=None, timeout=None, auth=None):
            return httpx.AsyncClient(transport=routing, headers=headers, timeout=timeout or httpx.Timeout(30, read=60))

        async with sse_client(f"{a.url}/sse", httpx_client_factory=factory) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                assert text_of(await s.call_tool("echo", {"message": "posted to B"})) == "posted to B"
                r = await s.call_tool("add", {"a": 2, "b": 3})
                assert r.structured_content == {"sum": 5}
        assert ("GET", 0) in routing.log and ("POST", 1) in routing.log
        assert ("POST", 0) not in routing.log and ("GET", 1) not in routing.log, routing.log

    asyncio.run(main())


def test_a_callers_rate_limit_holds_across_replicas(pair) -> None:
    a, b = pair(["--rate-limit", "6/4"])  # burst 4, one token per 10 s
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    with httpx.Client(timeout=10) as c:
        sid = c.post(f"{a.url}/mcp", json=INIT, headers=JSON).headers["mcp-session-id"]
        on = {**JSON, "mcp-session-id": sid}
        statuses = [c.post(f"{url}/mcp", json=ping, headers=on).status_code for url in (b.url, a.url, b.url, a.url)]
        # The initialize on A took one token: three pings fit, the fourth is over the shared burst,
        # though neither replica alone has seen more than three requests.
        assert statuses == [200, 200, 200, 429], statuses
        r = c.post(f"{b.url}/mcp", json=ping, headers=on)
        assert r.status_code == 429 and r.json()["error"]["code"] == -32005
        assert int(r.headers["retry-after"]) >= 1


def test_a_callers_session_quota_holds_across_replicas(pair) -> None:
    a, b = pair(["--max-sessions-per-caller", "2"])
    with httpx.Client(timeout=10) as c:
        first = c.post(f"{a.url}/mcp", json=INIT, headers=JSON)
        second = c.post(f"{b.url}/mcp", json=INIT, headers=JSON)
        assert first.status_code == 200 and second.status_code == 200
        third = c.post(f"{a.url}/mcp", json=INIT, headers=JSON)
        assert third.status_code == 429 and "limit 2" in third.json()["error"]["message"], third.text
        assert c.get(f"{b.url}/sse", headers={"accept": "text/event-stream"}).status_code == 429
        # Deleting A's session on B gives its place back on both.
        sid = first.headers["mcp-session-id"]
        assert c.delete(f"{b.url}/mcp", headers={"mcp-session-id": sid}).status_code == 200
        assert c.post(f"{a.url}/mcp", json=INIT, headers=JSON).status_code == 200
        assert c.post(f"{b.url}/mcp", json=INIT, headers=JSON).status_code == 429


@pytest.mark.parametrize("backend", ["redis"])
def test_the_redis_password_never_reaches_logs_and_sessions_live_in_redis(pair) -> None:
    a, b = pair(["--log-level", "debug"])
    with httpx.Client(timeout=10) as c:
        sid = c.post(f"{a.url}/mcp", json=INIT, headers=JSON).headers["mcp-session-id"]
    logs = a.logs() + b.logs()
    assert "Redis at 127.0.0.1:" in logs, logs[-2000:]
    assert REDIS_PASSWORD not in logs
    assert pair.redis[0].cli("EXISTS", f"mcp-edge:session:{sid}") == "1"
    assert not (pathlib.Path(a.data_dir) / "sessions.redb").exists(), "no embedded store beside a shared one"
