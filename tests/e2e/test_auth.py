"""Gateway authentication and rate limits on native mcp-edge (API keys; OAuth needs the JWKS client)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import subprocess
import time

import httpx2 as httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from conftest import BIN

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}


def hash_key(key: str) -> str:
    out = subprocess.run([BIN, "hash-key", key], capture_output=True, text=True, timeout=30, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("hash: "))
    return line[len("hash: "):]


@pytest.fixture
def keyed(spawn):
    admin, reader = "admin-secret-key-1", "reader-secret-key-2"
    server = spawn(["--log-json", "--api-key", f"admin={hash_key(admin)}", "--api-key", f"reader={hash_key(reader)}:ro:rate=60/5"])
    return server, admin, reader


def test_requests_need_a_valid_key(keyed) -> None:
    server, admin, _ = keyed
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{server.url}/mcp", json=INIT, headers=JSON)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] == -32004
        r = c.post(f"{server.url}/mcp", json=INIT, headers={**JSON, "x-api-key": "wrong"})
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
        assert c.get(f"{server.url}/sse", headers={"accept": "text/event-stream"}).status_code == 401

    async def with_key() -> None:
        http = httpx.AsyncClient(headers={"authorization": f"Bearer {admin}"})
        async with streamable_http_client(f"{server.url}/mcp", http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                r = await session.call_tool("destructive_echo", {"message": "allowed for admin"})
                assert r.content[0].text == "allowed for admin"

    asyncio.run(with_key())
    logs = server.logs()
    assert admin not in logs, "keys never reach the logs"
    assert "allowed for admin" not in logs, "tool arguments never reach the audit log"
    audit = [json.loads(line) for line in logs.splitlines() if '"audit"' in line]
    assert len(audit) == 1, logs
    fields = audit[0]["fields"]
    assert (fields["caller"], fields["tool"], fields["outcome"]) == ("admin", "destructive_echo", "ok")
    # A 12-hex-digit keyed tag stands for the session (its id is a bearer secret).
    assert re.fullmatch(r"[0-9a-f]{12}", fields["session"]), fields


def test_read_only_key_and_burst_limit(keyed) -> None:
    server, _, reader = keyed
    h = {**JSON, "x-api-key": reader}
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{server.url}/mcp", json=INIT, headers=h)
        assert r.status_code == 200
        s = {**h, "mcp-session-id": r.headers["mcp-session-id"]}
        tools = c.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=s).json()["result"]["tools"]
        names = {t["name"] for t in tools}
        assert "echo" in names and "destructive_echo" not in names
        r = c.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "destructive_echo", "arguments": {"message": "x"}}}, headers=s)
        assert r.json()["error"]["code"] == -32003
        statuses = []
        for i in range(10):
            r = c.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 10 + i, "method": "ping"}, headers=s)
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses[-1] == 429, statuses
        retry_after = int(r.headers["retry-after"])
        assert 1 <= retry_after <= 60 and r.json()["error"]["code"] == -32005
        deadline = time.monotonic() + retry_after + 5
        status = 429
        while status == 429 and time.monotonic() < deadline:
            time.sleep(0.25)  # bounded wait for the bucket to refill
            status = c.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 99, "method": "ping"}, headers=s).status_code
        assert status == 200, "recovers after Retry-After"


@pytest.mark.native_only
def test_refuses_a_public_address_without_authentication(tmp_path) -> None:
    """Without keys or OAuth, mcp-edge refuses to serve a non-loopback address (it exits before it
    binds anything) unless --allow-unauthenticated is given."""
    r = subprocess.run([BIN, "--bind", "0.0.0.0:0", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "refusing to serve 0.0.0.0:0 without caller authentication" in r.stderr
    assert "--allow-unauthenticated" in r.stderr


@pytest.mark.native_only  # reads the native JSON log and data dir
def test_fingerprint_key_variable_keys_the_session_tags_natively(spawn, tmp_path) -> None:
    """MCP_EDGE_FINGERPRINT_KEY (read by every target from the one settings table) replaces the data
    dir's key natively: the audit log's session tag is the HMAC of the session id under it, and no
    key file is written."""
    key = "fingerprint-key-from-the-environment"
    server = spawn(["--log-json"], data_dir=str(tmp_path), env={"MCP_EDGE_FINGERPRINT_KEY": key})
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{server.url}/mcp", json=INIT, headers=JSON)
        assert r.status_code == 200, r.text
        sid = r.headers["mcp-session-id"]
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "hi"}}}
        r = c.post(f"{server.url}/mcp", json=call, headers={**JSON, "mcp-session-id": sid})
        assert r.status_code == 200 and "hi" in r.text, r.text
    audit = [json.loads(line) for line in server.logs().splitlines() if '"audit"' in line]
    assert len(audit) == 1, server.logs()
    want = hmac.new(key.encode(), b"mcp-edge session tag\0" + sid.encode(), hashlib.sha256).hexdigest()[:12]
    assert audit[0]["fields"]["session"] == want
    assert key not in server.logs(), "the key never reaches the log"
    assert not (tmp_path / "fingerprint.key").exists(), "a given key is not replaced by the data dir's"
    # Without the variable the data dir's own (random) key is created and used.
    (tmp_path / "other").mkdir()
    spawn([], data_dir=str(tmp_path / "other"))
    assert len((tmp_path / "other" / "fingerprint.key").read_bytes()) == 32
