"""The stdio bridge translates between eras: the official Python SDK client in 2026-07-28 mode (stateless
requests, `input_required` rounds) against `@modelcontextprotocol/server-everything`, a 2025-era stdio
server, at /servers/{name}/mcp in both isolation modes. The child's sampling and elicitation requests
reach the client as `input_required` results with a signed `requestState`, and its answers go back to
the child; the state is bound to its request and caller and used once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json

import httpx2 as httpx
import pytest
from mcp import types
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import Server
from test_auth import hash_key
from test_stdio_bridge import config_file, pytestmark  # noqa: F401 (native only, own mcp-edge)

FINGERPRINT_KEY = "bridge-eras-fingerprint-key-0815"
KEYS = {name: f"{name}-bridge-eras-key" for name in ("alice", "bob", "carol", "dave")}
ALL_CAPABILITIES = {"sampling": {}, "elicitation": {"form": {}}}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bridge-eras")
    keys = [arg for name, key in KEYS.items() for arg in ("--api-key", f"{name}={hash_key(key)}")]
    server = Server(["--stdio-config", config_file(tmp), *keys], str(tmp), env={"MCP_EDGE_FINGERPRINT_KEY": FINGERPRINT_KEY}).start()
    # The shared child's handshake is its first client's: a 2026-07-28 caller declaring sampling and
    # elicitation, so the child offers its sampling and elicitation tools to every caller.
    r = post(server.url, "everything-shared", "alice", "server/discover", {}, ALL_CAPABILITIES)
    assert r.status_code == 200, r.text
    yield server
    server.stop()


def post(url: str, server: str, who: str, method: str, params: dict, capabilities: dict | None = None, **extra_headers):
    """One raw 2026-07-28 request (envelope in `_meta`, routing headers) as `who`."""
    params = {**params, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                  "io.modelcontextprotocol/clientCapabilities": capabilities or {}}}
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2026-07-28", "mcp-method": method, "x-api-key": KEYS[who], **extra_headers}
    if "name" in params:
        headers["mcp-name"] = params["name"]
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    return httpx.post(f"{url}/servers/{server}/mcp", json=body, headers=headers, timeout=60)


def answer_of(r) -> dict:
    """The JSON-RPC answer of a response (JSON, or the last event of an event stream)."""
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return r.json()


@contextlib.asynccontextmanager
async def client(url: str, server: str, who: str, mode: str = "2026-07-28", **callbacks):
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=60), headers={"x-api-key": KEYS[who]}) as http:
        async with Client(streamable_http_client(f"{url}/servers/{server}/mcp", http_client=http), mode=mode, **callbacks) as c:
            yield c


def text_of(result) -> str:
    return " ".join(c.text for c in result.content if getattr(c, "text", None))


SERVERS = ["everything", "everything-shared"]


@pytest.mark.parametrize("server", SERVERS)
def test_a_2026_client_lists_and_calls_a_bridged_2025_server(bridge, server):
    async def main():
        async with client(bridge.url, server, "alice") as c:
            assert c.protocol_version == "2026-07-28"
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert {"echo", "get-sum"} <= set(tools), sorted(tools)
            assert tools["echo"].input_schema["properties"]["message"]["type"] == "string"
            assert text_of(await c.call_tool("echo", {"message": f"2026 via {server}"})) == f"Echo: 2026 via {server}"
            assert "42" in text_of(await c.call_tool("get-sum", {"a": 40, "b": 2}))
            # The child's own argument check still answers as a tool error.
            assert (await c.call_tool("echo", {})).is_error

    asyncio.run(main())
    # The bridge holds one initialized session for the caller, marked with the era it serves.
    sessions = httpx.get(f"{bridge.url}/stats", headers={"x-api-key": KEYS["alice"]}, timeout=10).json()["servers"][server]["sessions"]
    modern = [s for s in sessions if s["metadata"] == {"protocolVersion": "2026-07-28"}]
    assert len(modern) == 1, sessions


def test_auto_mode_discovers_2026_at_the_bridge_and_discover_reports_the_child(bridge):
    async def main():
        async with client(bridge.url, "everything", "dave", mode="auto") as c:
            assert c.protocol_version == "2026-07-28", "auto mode no longer falls back to the handshake"
            assert text_of(await c.call_tool("echo", {"message": "auto"})) == "Echo: auto"

    asyncio.run(main())
    r = post(bridge.url, "everything", "dave", "server/discover", {})
    assert r.status_code == 200, r.text
    result = answer_of(r)["result"]
    assert result["resultType"] == "complete"
    assert {"2026-07-28", "2025-11-25"} <= set(result["supportedVersions"])
    assert "everything" in result["serverInfo"]["name"], result["serverInfo"]
    assert "tools" in result["capabilities"]
    listed = answer_of(post(bridge.url, "everything", "dave", "tools/list", {}))["result"]
    assert listed["resultType"] == "complete" and listed["cacheScope"] == "private" and listed["ttlMs"] == 0
    assert listed["_meta"]["io.modelcontextprotocol/serverInfo"] == result["serverInfo"]


@pytest.mark.parametrize("server", SERVERS)
def test_the_childs_sampling_and_elicitation_reach_the_2026_client_as_input_required(bridge, server):
    asked: list[str] = []

    async def sampling(context, params: types.CreateMessageRequestParams):
        asked.append("sampling:" + params.messages[0].content.text)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="sampled in 2026"), model="era-model")

    async def elicitation(context, params: types.ElicitRequestParams):
        asked.append("elicitation:" + params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})

    async def main():
        async with client(bridge.url, server, "bob", sampling_callback=sampling, elicitation_callback=elicitation) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"trigger-sampling-request", "trigger-elicitation-request"} <= tools, "the child saw the declared capabilities"
            r = await c.call_tool("trigger-sampling-request", {"prompt": "say hi", "maxTokens": 5})
            assert "sampled in 2026" in text_of(r) and "era-model" in text_of(r)
            r = await c.call_tool("trigger-elicitation-request", {})
            assert "- Name: Ada Lovelace" in text_of(r) and "Agreed to terms: true" in text_of(r)

    asyncio.run(asyncio.wait_for(main(), 90))
    assert len(asked) == 2 and "say hi" in asked[0] and asked[1].startswith("elicitation:Please provide"), asked


def sign(payload: dict) -> str:
    """A `requestState` sealed as mcp-edge seals it (shared/src/mrtr.rs), with the configured key."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    tag = hmac.new(FINGERPRINT_KEY.encode(), b"mcp-edge requestState v1\0" + raw, hashlib.sha256).digest()
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    return f"{b64(raw)}.{b64(tag)}"


def test_request_state_is_signed_bound_to_its_caller_and_used_once(bridge):
    """Raw 2026-07-28 requests: the `input_required` result, and the precise -32602 (HTTP 400, the
    request id kept) for a forged, foreign, incomplete, replayed, expired or unheld state."""
    call = {"name": "trigger-sampling-request", "arguments": {"prompt": "raw", "maxTokens": 3}}
    caps = {"sampling": {}}
    r = post(bridge.url, "everything", "carol", "tools/call", call, caps)
    assert r.status_code == 200, r.text
    first = answer_of(r)["result"]
    assert first["resultType"] == "input_required", first
    assert list(first["inputRequests"]) == ["input-1"]
    assert first["inputRequests"]["input-1"]["method"] == "sampling/createMessage"
    assert "raw" in first["inputRequests"]["input-1"]["params"]["messages"][0]["content"]["text"]
    state = first["requestState"]
    sampled = {"input-1": {"role": "assistant", "content": {"type": "text", "text": "raw answer"}, "model": "m"}}

    def refused(r, *words):
        assert r.status_code == 400, r.text
        a = answer_of(r)
        assert a["id"] == 7 and a["error"]["code"] == -32602, a
        assert all(w in a["error"]["message"] for w in words), a["error"]["message"]

    tampered = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    refused(post(bridge.url, "everything", "carol", "tools/call", {**call, "inputResponses": sampled, "requestState": tampered}, caps), "integrity")
    refused(post(bridge.url, "everything", "dave", "tools/call", {**call, "inputResponses": sampled, "requestState": state}, caps), "another request")
    other_tool = {"name": "echo", "arguments": {"message": "x"}, "inputResponses": sampled, "requestState": state}
    refused(post(bridge.url, "everything", "carol", "tools/call", other_tool, caps), "another request")
    refused(post(bridge.url, "everything", "carol", "tools/call", {**call, "inputResponses": {}, "requestState": state}, caps), "lacks 'input-1'")
    # The incomplete retry left the call waiting: the complete one finishes it at the child.
    r = post(bridge.url, "everything", "carol", "tools/call", {**call, "inputResponses": sampled, "requestState": state}, caps)
    assert r.status_code == 200, r.text
    done = answer_of(r)["result"]
    assert done["resultType"] == "complete" and "raw answer" in json.dumps(done["content"]), done
    refused(post(bridge.url, "everything", "carol", "tools/call", {**call, "inputResponses": sampled, "requestState": state}, caps), "no longer holds")
    # Correctly signed, but naming no call the bridge holds, or expired.
    target = "bridge/everything:tools/call:trigger-sampling-request"
    unheld = sign({"t": target, "c": "key:carol", "r": 1, "e": 2**53, "d": {"n": "0" * 32}})
    refused(post(bridge.url, "everything", "carol", "tools/call", {**call, "inputResponses": sampled, "requestState": unheld}, caps), "no longer holds")
    expired = sign({"t": target, "c": "key:carol", "r": 1, "e": 1, "d": {"n": "0" * 32}})
    refused(post(bridge.url, "everything", "carol", "tools/call", {**call, "inputResponses": sampled, "requestState": expired}, caps), "expired")
    # A request that did not declare sampling: the child's sampling request is refused with -32021.
    r = post(bridge.url, "everything", "carol", "tools/call", call, {})
    assert r.status_code == 400, r.text
    assert answer_of(r)["error"]["code"] == -32021, r.text


def test_2026_protocol_rules_hold_at_the_bridge(bridge):
    for removed in ("ping", "initialize", "logging/setLevel"):
        r = post(bridge.url, "everything-shared", "alice", removed, {})
        assert r.status_code == 404 and answer_of(r)["error"]["code"] == -32601, (removed, r.text)
    r = post(bridge.url, "everything-shared", "alice", "tools/list", {}, **{"mcp-method": "prompts/list"})
    assert r.status_code == 400 and answer_of(r)["error"]["code"] == -32020, r.text
    r = httpx.get(f"{bridge.url}/servers/everything-shared/mcp", timeout=10,
                  headers={"accept": "text/event-stream", "mcp-protocol-version": "2026-07-28", "x-api-key": KEYS["alice"]})
    assert r.status_code == 405, r.text
    # A 2025 client on the same server still does the handshake and gets a session.
    async def legacy():
        async with client(bridge.url, "everything-shared", "alice", mode="legacy") as c:
            assert c.protocol_version == "2025-11-25"
            assert text_of(await c.call_tool("echo", {"message": "old"})) == "Echo: old"

    asyncio.run(legacy())
