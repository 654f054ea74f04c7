"""Regression tests for issue 14's attacks that the core decides, on every target where they apply.

- A session belongs to the identity that opened it (API key name, OAuth `iss` + `sub`): another
  authenticated caller who knows its id gets exactly the answer for an unknown session (404, -32001)
  on every route: Streamable HTTP POST/GET/DELETE and `Last-Event-ID` replay, legacy `/messages`,
  WebSocket, and natively the bridged stdio routes (`/servers/{name}/mcp|sse|messages|ws`) and the
  REST API (`/sessions/{id}`, `/tools/*`, `/events/{id}`). The owner keeps using the session.
- Audit and log lines carry a short keyed tag instead of the session id (a bearer secret).
- JSON-RPC batches above `--max-batch` get 400 / -32600 naming the limit.

Each test opens a handful of sessions and bounds every wait (10 s)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import textwrap
import urllib.parse

import httpx2 as httpx
import pytest
import websockets

from conftest import REMOTE_URL, ROOT, TARGET, Server
from test_auth import hash_key
from test_oauth import AUDIENCE, Issuer

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
SSE_POST = {"content-type": "application/json", "accept": "text/event-stream"}
SSE = {"accept": "text/event-stream"}
UNKNOWN = "0123456789abcdef0123456789abcdef"
TIME_SERVER = ROOT / "tests/.venv-stdio/bin/mcp-server-time"
WAIT = 10

pytestmark = pytest.mark.skipif(REMOTE_URL is not None, reason="starts its own gateways with API keys and OAuth")


def init(version: str = "2025-11-25") -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "hardening", "version": "1"}}}


def call(message: str, rid: int = 2) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": message}}}


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def not_found(r: httpx.Response, what: str, unknown: httpx.Response | None = None) -> None:
    """The refusal is the one for an unknown session, so a probe learns nothing."""
    assert r.status_code == 404, (what, r.status_code, r.text)
    assert r.json()["error"]["code"] == -32001, (what, r.text)
    if unknown is not None:
        assert (unknown.status_code, unknown.json()["error"]) == (404, r.json()["error"]), what


async def next_data(lines, event: str | None = None, containing: str = "") -> str:
    """The data of the next SSE event (of type `event`, whose data contains `containing`)."""
    kind = "message"
    async for line in lines:
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            if (event is None or kind == event) and containing in data:
                return data
        elif line == "":
            kind = "message"
    raise AssertionError("the stream ended")


def check_streamable(url: str, alice: dict, bob: dict) -> str:
    """Bob is refused on every Streamable HTTP route of Alice's session; Alice keeps using it."""
    with httpx.Client(timeout=WAIT) as c:
        r = c.post(f"{url}/mcp", json=init(), headers={**JSON, **alice})
        assert r.status_code == 200, r.text
        sid = r.headers["mcp-session-id"]
        mine = {**alice, "mcp-session-id": sid}
        assert c.post(f"{url}/mcp", json=INITIALIZED, headers={**JSON, **mine}).status_code == 202
        # Alice's answer on an event stream is logged for Last-Event-ID resumption.
        r = c.post(f"{url}/mcp", json=call("alice's result"), headers={**SSE_POST, **mine})
        assert r.status_code == 200 and "alice's result" in r.text, r.text
        event_ids = [line[3:].strip() for line in r.text.splitlines() if line.startswith("id:")]
        assert event_ids and event_ids[0].endswith("-0"), r.text
        theirs = {**bob, "mcp-session-id": sid}
        unknown = {**bob, "mcp-session-id": UNKNOWN}
        not_found(c.post(f"{url}/mcp", json=call("bob's"), headers={**JSON, **theirs}), "POST tools/call",
                  c.post(f"{url}/mcp", json=call("bob's"), headers={**JSON, **unknown}))
        not_found(c.get(f"{url}/mcp", headers={**SSE, **theirs}), "GET stream",
                  c.get(f"{url}/mcp", headers={**SSE, **unknown}))
        replay = {**SSE, "last-event-id": event_ids[0]}
        not_found(c.get(f"{url}/mcp", headers={**replay, **theirs}), "Last-Event-ID replay")
        not_found(c.delete(f"{url}/mcp", headers=theirs), "DELETE", c.delete(f"{url}/mcp", headers=unknown))
        # Alice's session is intact: her replay still holds her result, and she can call again.
        r = c.get(f"{url}/mcp", headers={**replay, **mine})
        assert r.status_code == 200 and "alice's result" in r.text, r.text
        r = c.post(f"{url}/mcp", json=call("alice again", 3), headers={**JSON, **mine})
        assert r.json()["result"]["content"][0]["text"] == "alice again", r.text
    return sid


def check_legacy(url: str, alice: dict, bob: dict, sse_path: str = "/sse") -> str:
    """Bob cannot post to the `/messages` endpoint of Alice's legacy SSE stream; Alice can."""

    async def main() -> str:
        async with httpx.AsyncClient(timeout=WAIT) as c:
            async with c.stream("GET", f"{url}{sse_path}", headers={**SSE, **alice}) as stream:
                assert stream.status_code == 200
                lines = stream.aiter_lines()
                endpoint = await asyncio.wait_for(next_data(lines, "endpoint"), WAIT)
                messages = urllib.parse.urljoin(f"{url}{sse_path}", endpoint)
                sid = urllib.parse.parse_qs(urllib.parse.urlparse(messages).query)["sessionId"][0]
                body = init("2024-11-05")
                not_found(await c.post(messages, json=body, headers={**JSON, **bob}), "legacy /messages")
                r = await c.post(messages, json=body, headers={**JSON, **alice})
                assert r.status_code == 202, r.text
                answer = await asyncio.wait_for(next_data(lines, containing='"protocolVersion"'), WAIT)
                assert json.loads(answer)["id"] == 1
                return sid

    return asyncio.run(main())


def audit_lines(server) -> list[str]:
    return [line for line in server.logs().splitlines() if "tool call" in line]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    keys = {"alice": "alice-secret-key-1", "bob": "bob-secret-key-2"}
    args = ["--log-json", "--max-batch", "5"]
    for name, key in keys.items():
        args += ["--api-key", f"{name}={hash_key(key)}"]
    server = Server(args, str(tmp_path_factory.mktemp("keyed"))).start()
    yield server, {"x-api-key": keys["alice"]}, {"x-api-key": keys["bob"]}
    assert server.stop() == 0


def test_api_key_sessions_belong_to_their_key(keyed) -> None:
    server, alice, bob = keyed
    sid = check_streamable(server.url, alice, bob)
    legacy_sid = check_legacy(server.url, alice, bob)
    # Audit lines name the session by a 12-hex-digit tag, never by its id.
    lines = audit_lines(server)
    assert lines, server.logs()[-3000:]
    tags = {m.group(1) for line in lines for m in [re.search(r'session\W+([0-9a-f]{12})(?![0-9a-f])', line)] if m}
    assert tags, lines
    logs = server.logs()
    assert sid not in logs, "a Streamable HTTP session id never reaches a log line"
    ours = [line for line in logs.splitlines() if '"target"' in line or TARGET == "native"]
    assert not [line for line in ours if legacy_sid in line], "nor does a legacy one (the platform's own access log aside)"
    assert "alice-secret-key-1" not in logs and "bob-secret-key-2" not in logs


def test_batch_cap(keyed) -> None:
    server, alice, _ = keyed
    with httpx.Client(timeout=WAIT) as c:
        r = c.post(f"{server.url}/mcp", json=init("2025-03-26"), headers={**JSON, **alice})
        mine = {**JSON, **alice, "mcp-session-id": r.headers["mcp-session-id"]}
        pings = [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(6)]
        r = c.post(f"{server.url}/mcp", json=pings, headers=mine)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == -32600 and "at most 5 messages" in err["message"] and "holds 6" in err["message"], err
        r = c.post(f"{server.url}/mcp", json=pings[:5], headers=mine)
        assert r.status_code == 200 and [m["id"] for m in r.json()] == list(range(5)), r.text


@pytest.mark.websocket
def test_websocket_connections_cannot_join_another_callers_session(keyed) -> None:
    """A WebSocket is its own session: naming Alice's session id at the upgrade gives Bob a fresh
    connection of his own (his identity, no access to hers), and Alice's session is unaffected."""
    server, alice, bob = keyed
    with httpx.Client(timeout=WAIT) as c:
        r = c.post(f"{server.url}/mcp", json=init(), headers={**JSON, **alice})
        sid = r.headers["mcp-session-id"]
    ws_url = server.url.replace("http://", "ws://", 1) + "/ws"

    async def bob_socket() -> list[dict]:
        headers = {**bob, "mcp-session-id": sid}
        async with websockets.connect(ws_url, subprotocols=["mcp"], additional_headers=headers, open_timeout=WAIT) as ws:
            out = []
            for msg in [init(), {"jsonrpc": "2.0", "method": "logging/setLevel", "id": 2, "params": {"level": "debug"}}, call("bob's own", 3)]:
                await ws.send(json.dumps(msg))
                out.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))
            # The batch cap holds on WebSocket too: one error naming the limit, nothing run.
            await ws.send(json.dumps([{"jsonrpc": "2.0", "id": 10 + i, "method": "ping"} for i in range(6)]))
            out.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))
            return out

    answers = asyncio.run(bob_socket())
    assert answers[0]["result"]["protocolVersion"] == "2025-11-25"
    assert answers[2]["result"]["content"][0]["text"] == "bob's own"
    assert answers[3]["error"]["code"] == -32600 and "at most 5 messages" in answers[3]["error"]["message"], answers[3]
    with httpx.Client(timeout=WAIT) as c:
        r = c.post(f"{server.url}/mcp", json=call("still alice's"), headers={**JSON, **alice, "mcp-session-id": sid})
        assert r.json()["result"]["content"][0]["text"] == "still alice's"
        not_found(c.post(f"{server.url}/mcp", json=call("x"), headers={**JSON, **bob, "mcp-session-id": sid}), "POST after WS")

    async def no_key() -> int:
        try:
            async with websockets.connect(ws_url, additional_headers={"mcp-session-id": sid}, open_timeout=WAIT):
                return 101
        except websockets.exceptions.InvalidStatus as e:
            return e.response.status_code

    assert asyncio.run(no_key()) == 401


@pytest.fixture(scope="module")
def oauth(tmp_path_factory):
    issuer = Issuer()
    server = Server(["--oauth-issuer", issuer.url, "--oauth-audience", AUDIENCE, "--oauth-jwks-uri", issuer.url + "/jwks"],
                    str(tmp_path_factory.mktemp("oauth"))).start()
    yield server, issuer
    assert server.stop() == 0
    issuer.stop()


def test_oauth_sessions_belong_to_their_subject(oauth) -> None:
    server, issuer = oauth
    alice = {"authorization": f"Bearer {issuer.token(sub='alice')}"}
    bob = {"authorization": f"Bearer {issuer.token(sub='bob')}"}
    check_streamable(server.url, alice, bob)
    check_legacy(server.url, alice, bob)
    # A token naming no subject could own nothing: refused.
    with httpx.Client(timeout=WAIT) as c:
        r = c.post(f"{server.url}/mcp", json=init(), headers={**JSON, "authorization": f"Bearer {issuer.token(sub='')}"})
        assert r.status_code == 401 and "sub" in r.json()["error"]["message"], r.text


@pytest.fixture(scope="module")
def bridged(tmp_path_factory):
    assert TIME_SERVER.exists(), "tests/run-all.sh installs mcp-server-time into tests/.venv-stdio"
    tmp = tmp_path_factory.mktemp("bridged")
    config = tmp / "bridge.toml"
    config.write_text(textwrap.dedent(f"""
        [servers.time]
        command = "{TIME_SERVER}"
        args = ["--local-timezone", "UTC"]
        isolation = "shared"
        """))
    keys = {"alice": "alice-bridge-key", "bob": "bob-bridge-key"}
    args = ["--log-json", "--stdio-config", str(config)]
    for name, key in keys.items():
        args += ["--api-key", f"{name}={hash_key(key)}"]
    server = Server(args, str(tmp)).start()
    yield server, {"x-api-key": keys["alice"]}, {"x-api-key": keys["bob"]}
    assert server.stop() == 0


def time_call(rid: int) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": "get_current_time", "arguments": {"timezone": "UTC"}}}


@pytest.mark.native_only
def test_bridged_sessions_belong_to_their_key(bridged) -> None:
    server, alice, bob = bridged
    base = f"{server.url}/servers/time"
    with httpx.Client(timeout=WAIT) as c:
        r = c.post(f"{base}/mcp", json=init("2025-06-18"), headers={**JSON, **alice})
        assert r.status_code == 200, r.text
        sid = r.headers["mcp-session-id"]
        mine = {**alice, "mcp-session-id": sid}
        assert c.post(f"{base}/mcp", json=INITIALIZED, headers={**JSON, **mine}).status_code == 202
        theirs = {**bob, "mcp-session-id": sid}
        unknown = {**bob, "mcp-session-id": UNKNOWN}
        not_found(c.post(f"{base}/mcp", json=time_call(2), headers={**JSON, **theirs}), "bridged POST",
                  c.post(f"{base}/mcp", json=time_call(2), headers={**JSON, **unknown}))
        not_found(c.get(f"{base}/mcp", headers={**SSE, **theirs}), "bridged GET")
        not_found(c.delete(f"{base}/mcp", headers=theirs), "bridged DELETE")
        # A JSON-only client (tool calls are streamed to clients that take SSE).
        r = c.post(f"{base}/mcp", json=time_call(3), headers={**JSON, "accept": "application/json", **mine})
        assert r.json()["result"]["isError"] is False, r.text

    legacy_sid = check_legacy(server.url, alice, bob, "/servers/time/sse")

    async def alice_socket() -> None:
        """Alice's bridged WebSocket session: its id (from her /stats) is refused to Bob on /messages."""
        ws_url = base.replace("http://", "ws://", 1) + "/ws"
        async with websockets.connect(ws_url, subprotocols=["mcp"], additional_headers=alice, open_timeout=WAIT) as ws:
            await ws.send(json.dumps(init("2025-06-18")))
            assert "result" in json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            async with httpx.AsyncClient(timeout=WAIT) as c:
                stats = (await c.get(f"{server.url}/stats", headers=alice)).json()["servers"]["time"]["sessions"]
                ids = {s["id"] for s in stats}
                # The Streamable HTTP session and the socket's (the legacy one ended with its stream).
                assert sid in ids and legacy_sid not in ids, stats
                (ws_sid,) = ids - {sid}
                bob_stats = (await c.get(f"{server.url}/stats", headers=bob)).json()["servers"]["time"]["sessions"]
                assert bob_stats == [], "/stats lists only the caller's own sessions"
                r = await c.post(f"{base}/messages?sessionId={ws_sid}", json=time_call(4), headers={**JSON, **bob})
                not_found(r, "bridged /messages on a WebSocket session")
            await ws.send(json.dumps(time_call(5)))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["id"] == 5

    asyncio.run(alice_socket())

    with httpx.Client(timeout=WAIT) as c:
        r = c.post(f"{server.url}/sessions", json={"server": "time", "client_id": "alice-console"}, headers={**JSON, **alice})
        assert r.status_code == 201, r.text
        rest = r.json()["session_id"]
        refused = {
            "GET /sessions/{id}": c.get(f"{server.url}/sessions/{rest}", headers=bob),
            "POST /tools/discover": c.post(f"{server.url}/tools/discover", json={"session_id": rest}, headers={**JSON, **bob}),
            "POST /tools/call": c.post(f"{server.url}/tools/call", json={"session_id": rest, "name": "get_current_time",
                                                                         "arguments": {"timezone": "UTC"}}, headers={**JSON, **bob}),
            "GET /events/{id}": c.get(f"{server.url}/events/{rest}", headers={**SSE, **bob}),
            "DELETE /sessions/{id}": c.delete(f"{server.url}/sessions/{rest}", headers=bob),
        }
        for what, r in refused.items():
            not_found(r, what, c.get(f"{server.url}/sessions/{UNKNOWN}", headers=bob))
        assert c.get(f"{server.url}/sessions/{rest}", headers=alice).status_code == 200
        r = c.post(f"{server.url}/tools/call", json={"session_id": rest, "name": "get_current_time", "arguments": {"timezone": "UTC"}},
                   headers={**JSON, **alice})
        assert r.status_code == 200 and r.json()["result"]["isError"] is False, r.text
        assert c.delete(f"{server.url}/sessions/{rest}", headers=alice).status_code == 204
    logs = server.logs()
    assert not [s for s in (sid, legacy_sid, rest) if s in logs], "bridged session ids never reach the logs"
