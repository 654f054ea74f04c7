"""Worker-only checks under `wrangler dev`: where state lives. Stateless requests never touch a Durable
Object; a session is one Durable Object whose record is gone once the session ends; a hibernatable
WebSocket carries many messages on one connection.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import sqlite3
import time

import httpx2 as httpx
import pytest
import websockets

from conftest import TARGET

pytestmark = [
    pytest.mark.worker_only,
    pytest.mark.skipif(TARGET != "worker", reason="checks the Worker's Durable Object storage"),
]

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
MODERN = {**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo"}


def objects(server) -> pathlib.Path:
    return pathlib.Path(server.data_dir) / "state" / "v3" / "do" / "mcp-edge-SessionObject"


def object_files(server) -> set[str]:
    d = objects(server)
    return {p.name for p in d.glob("*.sqlite")} if d.exists() else set()


def stored_sessions(server) -> list[str]:
    """Session ids of the records in every Durable Object's storage (read from workerd's SQLite files)."""
    found = []
    for f in objects(server).glob("*.sqlite") if objects(server).exists() else []:
        con = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
            if "_cf_KV" in tables:
                for (value,) in con.execute("select value from _cf_KV where key = 'session'"):
                    # V8-serialized string holding the record's JSON (ASCII here: one byte per char).
                    m = re.search(rb'"id":"([0-9a-f]{32})"', bytes(value))
                    assert m, f"unexpected record encoding: {bytes(value)[:80]!r}"
                    found.append(m.group(1).decode())
        finally:
            con.close()
    return found


def modern_call(message: str) -> dict:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": message}, "_meta": meta}}


def test_stateless_requests_touch_no_durable_object_and_sessions_are_one_each(spawn) -> None:
    server = spawn([])
    with httpx.Client(timeout=10) as c:
        before = object_files(server)
        for i in range(5):
            r = c.post(f"{server.url}/mcp", json=modern_call(f"stateless {i}"), headers=MODERN)
            assert r.status_code == 200, r.text
            assert r.json()["result"]["content"][0]["text"] == f"stateless {i}"
        assert c.get(f"{server.url}/health").status_code == 200
        assert object_files(server) == before, "stateless requests created Durable Object storage"

        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        sids = []
        for _ in range(2):
            r = c.post(f"{server.url}/mcp", json=init, headers=JSON)
            assert r.status_code == 200, r.text
            sids.append(r.headers["mcp-session-id"])
        assert len(object_files(server) - before) == 2, "one Durable Object per session"
        assert sorted(stored_sessions(server)) == sorted(sids)

        r = c.delete(f"{server.url}/mcp", headers={"mcp-session-id": sids[0]})
        assert r.status_code in (200, 204), r.text
        assert stored_sessions(server) == [sids[1]], "an ended session leaves no record behind"


def test_an_idle_session_is_wiped_by_its_alarm(spawn) -> None:
    """Nothing touches the session after it is created: the object's alarm (armed at the expiry on
    every save) must wipe its storage by itself."""
    server = spawn(["--session-ttl", "1s"])
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}}}
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{server.url}/mcp", json=init, headers=JSON)
        sid = r.headers["mcp-session-id"]
    assert stored_sessions(server) == [sid]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and stored_sessions(server):
        time.sleep(0.25)
    assert stored_sessions(server) == [], "the alarm removed the expired record without any request"


def test_a_callers_rate_limit_spans_its_sessions(spawn) -> None:
    """Two sessions live in two Durable Objects, yet draw from the caller's one bucket."""
    server = spawn(["--rate-limit", "6/4"])  # burst 4, refill one token per 10 s
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}}}
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    with httpx.Client(timeout=10) as c:
        a = c.post(f"{server.url}/mcp", json=init, headers=JSON).headers["mcp-session-id"]
        b = c.post(f"{server.url}/mcp", json=init, headers=JSON).headers["mcp-session-id"]
        assert c.post(f"{server.url}/mcp", json=ping, headers={**JSON, "mcp-session-id": a}).status_code == 200
        assert c.post(f"{server.url}/mcp", json=ping, headers={**JSON, "mcp-session-id": b}).status_code == 200
        r = c.post(f"{server.url}/mcp", json=ping, headers={**JSON, "mcp-session-id": a})
        assert r.status_code == 429, "the fifth request of the caller, across two sessions, is over the burst"
        assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == -32005


def test_one_websocket_carries_many_messages(base_url: str) -> None:
    url = base_url.replace("http://", "ws://", 1) + "/ws"

    async def main() -> None:
        async with websockets.connect(url, subprotocols=["mcp"], open_timeout=10) as ws:
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "ws", "version": "1"}}}
            await ws.send(json.dumps(init))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["result"]["protocolVersion"] == "2025-06-18"
            for i in range(1, 201):
                call = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": f"m{i}"}}}
                await ws.send(json.dumps(call))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert reply["id"] == i and reply["result"]["content"][0]["text"] == f"m{i}"

    asyncio.run(main())
