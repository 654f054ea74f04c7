"""The gateway under test (native, the Worker under wrangler dev, or the Lambda) configured with
MCP_EDGE_BRIDGE_URL and a shared secret offers the tools of a remote mcp-edge stdio bridge (a native
mcp-edge running server-everything from npm, with the secret as its API key) as `{server}__{tool}`,
and forwards calls to them; without the secret the bridge refuses it and no bridged tool appears."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile

import httpx2 as httpx
import pytest
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from conftest import NativeServer, eventually
from test_auth import hash_key
from test_stdio_bridge import config_file

SECRET = "bridge-shared-secret-4711"
LOCAL = ["--upstream-allow-http", "127.0.0.1", "--upstream-allow-private", "127.0.0.1"]


@pytest.fixture(scope="module")
def remote_bridge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remote-bridge")
    bridge = NativeServer(["--stdio-config", config_file(tmp), "--api-key", f"gateway={hash_key(SECRET)}"], str(tmp)).start()
    yield bridge
    assert bridge.stop() == 0


@contextlib.asynccontextmanager
async def session_at(url: str):
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=60)) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                yield s


def test_bridged_tools_are_listed_and_called_through_the_gateway(spawn, remote_bridge):
    offset = len(remote_bridge.logs())
    gateway = spawn(["--bridge-url", remote_bridge.url, "--bridge-secret", SECRET, *LOCAL])

    async def main():
        async with session_at(gateway.url) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert "echo" in tools, "the gateway's own tools stay"
            assert {"everything__echo", "everything-shared__get-sum", "time__get_current_time"} <= set(tools)
            assert tools["everything__echo"].description.startswith("[everything] ")
            assert tools["everything__echo"].input_schema["properties"]["message"]["type"] == "string"
            r = await s.call_tool("everything__echo", {"message": "via the gateway"})
            assert not r.is_error and r.content[0].text == "Echo: via the gateway"
            r = await s.call_tool("everything-shared__get-sum", {"a": 40, "b": 2})
            assert "42" in r.content[0].text
            r = await s.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not r.is_error and "UTC" in r.content[0].text
            # The child's own argument check comes back as a tool error.
            r = await s.call_tool("everything__echo", {})
            assert r.is_error
            # The broken server (it cannot start) hides only its own tools: the bridge lists four
            # servers, the gateway offers the tools of exactly the three that start.
            listed = httpx.get(f"{remote_bridge.url}/servers", headers={"authorization": f"Bearer {SECRET}"}, timeout=10)
            assert listed.status_code == 200, listed.text
            names = {server["name"] for server in listed.json()["servers"]}
            assert names == {"everything", "everything-shared", "time", "broken"}, names
            assert {name.split("__", 1)[0] for name in tools if "__" in name} == names - {"broken"}

    asyncio.run(main())
    # The gateway did ask the broken server for its tools: the bridge tried to start it.
    eventually(lambda: any("broken" in line and "started a child" in line for line in remote_bridge.logs()[offset:].splitlines()),
               "the bridge log shows the broken server's start")
    assert SECRET not in gateway.logs() and SECRET not in remote_bridge.logs(), "the secret never reaches a log"


def test_a_2026_client_reaches_bridged_tools_through_the_gateway(spawn, remote_bridge):
    """The official Python client in 2026-07-28 mode (stateless requests, the envelope in `_meta`) lists
    and calls bridged tools through the gateway, which forwards them to the bridge. Only the shared
    server (one name: cargo lambda splits variable values at commas): the per-session one's children
    are counted by the other tests of this module."""
    gateway = spawn(["--bridge-url", remote_bridge.url, *LOCAL],
                    env={"MCP_EDGE_BRIDGE_SECRET": SECRET, "MCP_EDGE_BRIDGE_SERVERS": "everything-shared"})

    async def main():
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=60)) as http:
            async with Client(streamable_http_client(f"{gateway.url}/mcp", http_client=http), mode="2026-07-28") as c:
                assert c.protocol_version == "2026-07-28"
                names = {t.name for t in (await c.list_tools()).tools}
                assert {"echo", "everything-shared__echo", "everything-shared__get-sum"} <= names
                assert not any(n.startswith(("everything__", "time__")) for n in names)
                r = await c.call_tool("everything-shared__echo", {"message": "2026 via the gateway"})
                assert not r.is_error and r.content[0].text == "Echo: 2026 via the gateway"
                r = await c.call_tool("everything-shared__get-sum", {"a": 40, "b": 2})
                assert "42" in r.content[0].text

    asyncio.run(main())


def test_without_the_secret_the_bridge_refuses_and_nothing_is_bridged(spawn, remote_bridge):
    gateway = spawn(["--bridge-url", remote_bridge.url, "--bridge-secret", "wrong-secret", *LOCAL])

    async def main():
        async with session_at(gateway.url) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert "echo" in names and not any("__" in n for n in names)
            with pytest.raises(Exception) as err:
                await s.call_tool("everything__echo", {"message": "x"})
            assert "Unknown tool" in str(err.value)

    asyncio.run(main())
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{remote_bridge.url}/servers").status_code == 401, "the bridge itself needs the key"


def test_each_caller_gets_its_own_bridge_session(spawn, remote_bridge):
    """Two callers (two API keys) of one gateway reach a per-session bridged server through two
    different bridge sessions, so they never share a child."""
    alice, bob = "alice-key-0001", "bob-key-0002"
    gateway = spawn(["--bridge-url", remote_bridge.url, "--bridge-secret", SECRET, *LOCAL,
                     "--api-key", f"alice={hash_key(alice)}", "--api-key", f"bob={hash_key(bob)}"])

    async def call_as(key: str) -> str:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=60), headers={"x-api-key": key}) as http:
            async with streamable_http_client(f"{gateway.url}/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    r = await s.call_tool("everything__echo", {"message": key})
                    return r.content[0].text

    assert asyncio.run(call_as(alice)) == f"Echo: {alice}"
    assert asyncio.run(call_as(bob)) == f"Echo: {bob}"
    sessions = httpx.get(f"{remote_bridge.url}/stats", headers={"x-api-key": SECRET}, timeout=10).json()["servers"]["everything"]["sessions"]
    by_caller = {s["metadata"]["caller"]: s for s in sessions if isinstance(s.get("metadata"), dict) and s["metadata"].get("caller")}
    assert {"alice", "bob"} <= set(by_caller), sessions
    assert by_caller["alice"]["child"]["pid"] != by_caller["bob"]["child"]["pid"], "two children, one per caller"


def test_bridge_stats_need_the_key_when_keys_are_configured(remote_bridge):
    """/stats lists session ids (bearer secrets of bridged sessions): callers without a key get 401."""
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{remote_bridge.url}/stats").status_code == 401
        assert c.get(f"{remote_bridge.url}/stats", headers={"x-api-key": SECRET}).status_code == 200


def bridge_calls(bridge, server: str) -> int:
    """Requests the bridge forwarded to `server`'s children so far (its `/stats`)."""
    r = httpx.get(f"{bridge.url}/stats", headers={"authorization": f"Bearer {SECRET}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["servers"][server]["calls"]


def bridged_servers(url: str) -> set[str]:
    async def main():
        async with session_at(url) as s:
            return {t.name.split("__", 1)[0] for t in (await s.list_tools()).tools if "__" in t.name}

    return asyncio.run(main())


def test_bridge_servers_variable_limits_the_bridged_servers(spawn, remote_bridge):
    """MCP_EDGE_BRIDGE_SERVERS (a variable on every target, natively too) offers only those servers'
    tools, and the others are never asked for theirs."""
    before = bridge_calls(remote_bridge, "everything-shared")
    gateway = spawn(["--bridge-url", remote_bridge.url, *LOCAL],
                    env={"MCP_EDGE_BRIDGE_SECRET": SECRET, "MCP_EDGE_BRIDGE_SERVERS": "time"})
    assert bridged_servers(gateway.url) == {"time"}
    assert bridge_calls(remote_bridge, "everything-shared") == before


@pytest.mark.native_only  # one process holds the catalog (Worker isolates and Lambda environments each hold their own)
def test_bridge_refresh_variable_sets_how_long_the_catalog_is_kept(spawn, remote_bridge):
    """MCP_EDGE_BRIDGE_REFRESH natively: with an hour, the bridge is asked for the tools once however
    often the gateway lists them; with zero, on every list."""
    env = {"MCP_EDGE_BRIDGE_SECRET": SECRET, "MCP_EDGE_BRIDGE_SERVERS": "time"}
    kept = spawn(["--bridge-url", remote_bridge.url, *LOCAL], env={**env, "MCP_EDGE_BRIDGE_REFRESH": "1h"})
    assert bridged_servers(kept.url) == {"time"}
    after_first = bridge_calls(remote_bridge, "time")
    for _ in range(2):
        assert bridged_servers(kept.url) == {"time"}
    assert bridge_calls(remote_bridge, "time") == after_first, "the catalog is kept for the hour"
    fresh = spawn(["--bridge-url", remote_bridge.url, *LOCAL], env={**env, "MCP_EDGE_BRIDGE_REFRESH": "0s"})
    counts = []
    for _ in range(3):
        assert bridged_servers(fresh.url) == {"time"}
        counts.append(bridge_calls(remote_bridge, "time"))
    assert counts[0] < counts[1] < counts[2], f"every list asks the bridge again: {counts}"
