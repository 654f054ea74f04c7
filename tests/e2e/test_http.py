"""Raw HTTP against mcp-edge: the bad-input table, session lifecycle, restart survival, expiry."""

from __future__ import annotations

import json
import time

import httpx2 as httpx
import pytest

from conftest import TARGET

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


def initialize(client: httpx.Client, url: str, version: str = "2025-11-25", headers: dict | None = None) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}}
    r = client.post(f"{url}/mcp", json=body, headers={**JSON, **(headers or {})})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["protocolVersion"] == version
    sid = r.headers["mcp-session-id"]
    assert len(sid) == 32 and int(sid, 16) >= 0
    r = client.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers={**JSON, "mcp-session-id": sid, **(headers or {})})
    assert r.status_code == 202
    return sid


def rpc(method: str, params: dict | None = None, id_: int = 7) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}})


def test_bad_input_table(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        sid = initialize(c, base_url)
        s = {**JSON, "mcp-session-id": sid}
        ping = rpc("ping")
        rows = [
            ("unparsable JSON", s, "{nope", 400, -32700),
            ("not JSON-RPC", s, '{"foo":1}', 400, -32600),
            ("empty batch", s, "[]", 400, -32600),
            ("JSON string", s, '"x"', 400, -32600),
            ("unknown method", s, rpc("no/such"), 200, -32601),
            ("bad params", s, rpc("tools/call", {"name": "add", "arguments": {"a": "x", "b": 1}}), 200, -32602),
            ("unknown tool", s, rpc("tools/call", {"name": "nope"}), 200, -32602),
            ("wrong content type", {**s, "content-type": "text/plain"}, ping, 415, -32600),
            ("accept lacks json and sse", {**s, "accept": "text/plain"}, ping, 406, -32600),
            ("missing session header", JSON, ping, 400, -32600),
            ("unknown session", {**JSON, "mcp-session-id": "0" * 32}, ping, 404, -32001),
            ("unsupported protocol version", {**s, "mcp-protocol-version": "1999-01-01"}, ping, 400, -32600),
            ("batch after 2025-06-18", s, f"[{ping}]", 400, -32600),
            ("foreign origin", {**s, "origin": "https://evil.example"}, ping, 403, -32600),
            ("foreign host", {**s, "host": "evil.example"}, ping, 403, -32600),
            ("body over the limit", s, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * (4 * 1024 * 1024)}}), 413, -32600),
            (
                "2026 header/body mismatch",
                {**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"},
                rpc("tools/call", {"name": "echo", "_meta": META}),
                400,
                -32020,
            ),
            (
                "2026 name mismatch",
                {**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "add"},
                rpc("tools/call", {"name": "echo", "arguments": {"message": "m"}, "_meta": META}),
                400,
                -32020,
            ),
            (
                "2026 unsupported version",
                {**JSON, "mcp-protocol-version": "2025-11-25", "mcp-method": "tools/list"},
                rpc("tools/list", {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2025-11-25"}}),
                400,
                -32022,
            ),
            ("2026 missing envelope keys", {**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"}, rpc("tools/list", {"_meta": {}}), 400, -32602),
        ]
        for name, headers, body, status, code in rows:
            r = c.post(f"{base_url}/mcp", content=body, headers=headers)
            assert r.status_code == status, f"{name}: {r.status_code} {r.text[:200]}"
            assert r.json()["error"]["code"] == code, f"{name}: {r.text[:200]}"
        # Requests before initialize are refused with an error, and the server is still fine afterwards.
        r = c.post(f"{base_url}/mcp", content=rpc("tools/list"), headers=JSON)
        assert r.status_code == 400
        assert c.post(f"{base_url}/mcp", content=ping, headers=s).json()["result"] == {}
        # GET/DELETE under the stateless revision answer 405.
        r = c.get(f"{base_url}/mcp", headers={"accept": "text/event-stream", "mcp-protocol-version": "2026-07-28"})
        assert r.status_code == 405
        r = c.delete(f"{base_url}/mcp", headers={"mcp-protocol-version": "2026-07-28"})
        assert r.status_code == 405
        r = c.put(f"{base_url}/mcp", content=ping, headers=s)
        assert r.status_code == 405


# The conformance suite's `json_schema_2020_12_tool` inputSchema (@modelcontextprotocol/conformance
# 0.2.0-alpha.12, scenario json-schema-2020-12; served by shared/src/testing/conformance.rs).
SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def test_json_schema_2020_12_arguments(base_url: str) -> None:
    """A tool whose inputSchema uses $defs/$ref/$anchor and if/then/else is listed exactly as given, and
    its calls are checked against all of it: a violation is -32602 naming the argument's JSON Pointer."""
    with httpx.Client(timeout=10) as c:
        s = {**JSON, "mcp-session-id": initialize(c, base_url)}
        listed, cursor = {}, None
        for _ in range(20):
            result = c.post(f"{base_url}/mcp", content=rpc("tools/list", {"cursor": cursor} if cursor else {}), headers=s).json()["result"]
            listed.update({t["name"]: t for t in result["tools"]})
            cursor = result.get("nextCursor")
            if not cursor:
                break
        assert not cursor, "tools/list kept paging"
        assert listed["json_schema_2020_12_tool"]["inputSchema"] == SCHEMA_2020_12

        def call(arguments: dict) -> dict:
            r = c.post(f"{base_url}/mcp", content=rpc("tools/call", {"name": "json_schema_2020_12_tool", "arguments": arguments}), headers=s)
            assert r.status_code == 200, r.text
            return r.json()

        ok = call({"name": "n", "contactMethod": "email", "email": "e", "address": {"street": "s", "city": "c"}})
        assert ok["result"]["content"][0]["text"].startswith("The contact satisfies"), ok
        for arguments, where, why in [
            ({"email": "e", "address": {"city": 1}}, "at /address/city:", "is not of type"),  # through $ref
            ({"contactMethod": "phone", "email": "e"}, "at (root):", '"phone" is a required property'),  # if/then
            ({"contactMethod": "email", "phone": "p"}, "at (root):", '"email" is a required property'),  # else
            ({"name": "n"}, "at (root):", "'anyOf'"),  # allOf/anyOf
            ({"email": "e", "fax": "f"}, "at (root):", "'fax' was unexpected"),
        ]:
            error = call(arguments)["error"]
            assert error["code"] == -32602, (arguments, error)
            assert where in error["message"] and why in error["message"], (arguments, error)


def test_unsupported_version_falls_back_to_latest(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2099-01-01", "capabilities": {}}}
        r = c.post(f"{base_url}/mcp", json=body, headers=JSON)
        assert r.json()["result"]["protocolVersion"] == "2025-11-25"
        for version in ["2024-11-05", "2025-03-26", "2025-06-18"]:
            initialize(c, base_url, version)


def test_delete_ends_the_session(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        sid = initialize(c, base_url)
        s = {**JSON, "mcp-session-id": sid}
        assert c.delete(f"{base_url}/mcp", headers=s).status_code == 200
        r = c.post(f"{base_url}/mcp", content=rpc("ping"), headers=s)
        assert r.status_code == 404 and r.json()["error"]["code"] == -32001


def test_other_credentials_cannot_reuse_a_session(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        sid = initialize(c, base_url, headers={"private-token": "token-one"})
        ok = c.post(f"{base_url}/mcp", content=rpc("ping"), headers={**JSON, "mcp-session-id": sid, "private-token": "token-one"})
        assert ok.status_code == 200
        other = c.post(f"{base_url}/mcp", content=rpc("ping"), headers={**JSON, "mcp-session-id": sid, "private-token": "token-two"})
        assert other.status_code == 404


def test_metrics_and_health(base_url: str) -> None:
    """`/metrics` counts what the process serving it handled. Natively that is every request. On the
    Worker a session's requests run in its Durable Object and on the Lambda in whichever execution
    environment took them, so there the test makes a stateless call itself (served by the front
    isolate / environment that also answers `/metrics`) instead of relying on an earlier test."""
    with httpx.Client(timeout=10) as c:
        sid = initialize(c, base_url)
        r = c.post(f"{base_url}/mcp", content=rpc("tools/call", {"name": "echo", "arguments": {"message": "m"}}), headers={**JSON, "mcp-session-id": sid})
        assert r.status_code == 200, r.text
        if TARGET != "native":
            meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
            stateless = rpc("tools/call", {"name": "echo", "arguments": {"message": "m"}, "_meta": meta})
            headers = {**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "echo"}
            r = c.post(f"{base_url}/mcp", content=stateless, headers=headers)
            assert r.status_code == 200 and r.json()["result"]["content"][0]["text"] == "m", r.text
        text = c.get(f"{base_url}/metrics").text
        assert 'mcp_edge_requests_total{method="tools/call",status="200"}' in text
        assert "mcp_edge_request_duration_seconds_bucket" in text
        assert "mcp_edge_active_sessions" in text and "mcp_edge_active_streams" in text
        assert c.get(f"{base_url}/health").json()["status"] == "ok"


def test_session_survives_restart(spawn) -> None:
    first = spawn([])
    with httpx.Client(timeout=10) as c:
        sid = initialize(c, first.url)
        c.post(f"{first.url}/mcp", content=rpc("logging/setLevel", {"level": "error"}), headers={**JSON, "mcp-session-id": sid})
    assert first.stop() == 0
    second = spawn([], data_dir=first.data_dir)
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{second.url}/mcp", content=rpc("tools/call", {"name": "echo", "arguments": {"message": "after restart"}}), headers={**JSON, "mcp-session-id": sid})
        assert r.status_code == 200, r.text
        assert r.json()["result"]["content"][0]["text"] == "after restart"


def test_idle_session_expires(spawn) -> None:
    server = spawn(["--session-ttl", "1s"])
    with httpx.Client(timeout=10) as c:
        sid = initialize(c, server.url)
        s = {**JSON, "mcp-session-id": sid}
        assert c.post(f"{server.url}/mcp", content=rpc("ping"), headers=s).status_code == 200
        # Pings within the TTL do not extend it (refreshes are written at most once per second), so the
        # session lapses about 1 s after creation; poll for that with a bounded deadline.
        deadline = time.monotonic() + 10
        status = 200
        while time.monotonic() < deadline and status == 200:
            time.sleep(0.2)
            status = c.post(f"{server.url}/mcp", content=rpc("ping"), headers=s).status_code
        assert status == 404
        assert c.post(f"{server.url}/mcp", content=rpc("ping"), headers=s).json()["error"]["code"] == -32001


def test_sse_get_stream_and_priming(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        sid = initialize(c, base_url)
        with c.stream("GET", f"{base_url}/mcp", headers={"accept": "text/event-stream", "mcp-session-id": sid}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            first = next(r.iter_lines())
            assert first.startswith("id: "), first
        r = c.post(f"{base_url}/mcp", content=rpc("tools/call", {"name": "echo", "arguments": {"message": "sse"}}), headers={**JSON, "accept": "text/event-stream", "mcp-session-id": sid})
        events = [line for line in r.text.splitlines() if line.startswith("data: {")]
        assert json.loads(events[0][6:])["result"]["content"][0]["text"] == "sse"


def test_idle_streams_get_keepalive_comments(spawn) -> None:
    server = spawn(["--keepalive", "200ms"])
    with httpx.Client(timeout=10) as c:
        with c.stream("GET", f"{server.url}/sse", headers={"accept": "text/event-stream"}) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            assert next(lines) == "event: endpoint"
            endpoint = next(lines)
            assert endpoint.startswith("data: /") and "/messages?sessionId=" in endpoint, endpoint
            deadline = time.monotonic() + 5
            seen = False
            while time.monotonic() < deadline and not seen:
                seen = next(lines).startswith(": keep-alive")
            assert seen, "an idle legacy stream carries keep-alive comments"
