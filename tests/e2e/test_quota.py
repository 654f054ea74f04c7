"""Quotas on open things, on every target: concurrent sessions per caller (every transport counts) and
open GET streams per session. Refusals are 429 with a JSON-RPC -32005 error; places come back when a
session is deleted or a stream is closed."""

from __future__ import annotations

import asyncio
import time

import httpx2 as httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}
SSE = {"accept": "text/event-stream", "mcp-protocol-version": "2025-11-25"}


def initialize(c: httpx.Client, url: str) -> httpx.Response:
    return c.post(f"{url}/mcp", json=INIT, headers=JSON)


def assert_quota_refusal(r: httpx.Response, text: str) -> None:
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["code"] == -32005 and text in err["message"], err


def test_sessions_per_caller(spawn) -> None:
    server = spawn(["--max-sessions-per-caller", "2"])
    url = server.url

    async def main() -> None:
        # One session held open by the official SDK client for the whole test.
        async with streamable_http_client(f"{url}/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as sdk:
                await sdk.initialize()
                assert (await sdk.call_tool("echo", {"message": "first"})).content[0].text == "first"
                with httpx.Client(timeout=10) as c:
                    second = initialize(c, url)
                    assert second.status_code == 200
                    third = initialize(c, url)
                    assert_quota_refusal(third, "2 open sessions (limit 2)")
                    retry_after = int(third.headers["retry-after"])
                    assert 3600 <= retry_after <= 4000, "the first lease lapses about a session TTL (1 h) ahead"
                    # Legacy SSE sessions count too.
                    legacy = c.get(f"{url}/sse", headers={"accept": "text/event-stream"})
                    assert_quota_refusal(legacy, "open sessions")
                    # Deleting a session gives its place back.
                    sid = second.headers["mcp-session-id"]
                    assert c.delete(f"{url}/mcp", headers={"mcp-session-id": sid}).status_code == 200
                    third = initialize(c, url)
                    assert third.status_code == 200
                    assert_quota_refusal(initialize(c, url), "limit 2")
                    # The SDK session still works while the caller is at its limit.
                    assert (await sdk.call_tool("echo", {"message": "still"})).content[0].text == "still"
        # The SDK client deleted its session on exit: a place is free again.
        with httpx.Client(timeout=10) as c:
            assert initialize(c, url).status_code == 200
            assert_quota_refusal(initialize(c, url), "limit 2")

    asyncio.run(main())


def test_streams_per_session(spawn) -> None:
    server = spawn(["--max-streams-per-session", "1"])
    url = server.url
    with httpx.Client(timeout=httpx.Timeout(10, read=30)) as c:
        r = initialize(c, url)
        sid = r.headers["mcp-session-id"]
        headers = {**SSE, "mcp-session-id": sid}
        with c.stream("GET", f"{url}/mcp", headers=headers) as held:
            assert held.status_code == 200
            refused = c.get(f"{url}/mcp", headers=headers)
            assert_quota_refusal(refused, "1 open streams (limit 1)")
            # Requests on the session are not streams and go on working.
            ping = c.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers={**JSON, "mcp-session-id": sid})
            assert ping.status_code == 200
            # Another session has its own streams.
            other = initialize(c, url).headers["mcp-session-id"]
            with c.stream("GET", f"{url}/mcp", headers={**SSE, "mcp-session-id": other}) as second:
                assert second.status_code == 200


@pytest.mark.client_disconnect
def test_a_closed_stream_gives_its_place_back(spawn) -> None:
    server = spawn(["--max-streams-per-session", "1", "--keepalive", "1s"])
    url = server.url
    with httpx.Client(timeout=httpx.Timeout(10, read=30)) as c:
        sid = initialize(c, url).headers["mcp-session-id"]
        headers = {**SSE, "mcp-session-id": sid}
        with c.stream("GET", f"{url}/mcp", headers=headers) as held:
            assert held.status_code == 200
            assert c.get(f"{url}/mcp", headers=headers).status_code == 429
        # The server notices the client leaving (at once natively, at the next keep-alive on the
        # Worker); poll, bounded, until the place is free.
        deadline = time.monotonic() + 15
        status = 429
        while status == 429 and time.monotonic() < deadline:
            with c.stream("GET", f"{url}/mcp", headers=headers) as again:
                status = again.status_code
            if status == 429:
                time.sleep(0.2)
        assert status == 200, "the closed stream's place came back"
