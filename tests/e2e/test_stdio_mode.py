"""`mcp-edge stdio`: the built-in connectors and the test tools served on stdin/stdout, as desktop
clients start MCP servers. The official Python SDK's stdio client lists and calls tools (Jira and
GitLab against the fakes, credentials from the environment only); a raw session checks that stdout
carries only JSON-RPC, logs go to stderr, no socket is open, bad lines get JSON-RPC errors, and the
process exits 0 when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import BIN
from test_connectors import EMAIL, GITLAB_TOKEN, JIRA_TOKEN, Fake, ok

pytestmark = pytest.mark.native_only


@pytest.fixture(scope="module")
def fakes():
    started = {"jira": Fake("jira", JIRA_TOKEN, EMAIL), "gitlab": Fake("gitlab", GITLAB_TOKEN, name="gitlab-stdio")}
    yield started
    for f in started.values():
        violations = f.stats()["violations"]
        f.stop()
        assert violations == [], violations


def environment(fakes) -> dict[str, str]:
    return {
        "JIRA_URL": fakes["jira"].url, "JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": JIRA_TOKEN,
        "GITLAB_API_URL": fakes["gitlab"].url, "GITLAB_TOKEN": GITLAB_TOKEN,
        "MCP_EDGE_UPSTREAM_ALLOW_HTTP": "127.0.0.1", "MCP_EDGE_UPSTREAM_ALLOW_PRIVATE": "127.0.0.1",
        "MCP_EDGE_CONNECTORS": "jira,gitlab",
    }


def test_python_sdk_stdio_client_lists_and_calls_tools(fakes, tmp_path):
    params = StdioServerParameters(command=BIN, args=["stdio", "--enable-test-tools"], env=environment(fakes),
                                   cwd=str(tmp_path))
    before = fakes["jira"].stats()["requests"]

    async def run():
        with open(tmp_path / "stderr.log", "w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as c:
                names = {t.name for t in (await c.list_tools()).tools}
                for expected in ("echo", "add", "jira_get_issue", "jira_search", "gitlab_get_project"):
                    assert expected in names, sorted(names)
                assert not any(n.startswith("confluence_") for n in names), "only the connectors asked for"
                echo = await c.call_tool("echo", {"message": "over stdio"})
                assert echo.content[0].text == "over stdio"
                issue = await c.call_tool("jira_get_issue", {"issueKey": "DEMO-1"})
                assert not issue.is_error, issue.content
                assert issue.structured_content["key"] == "DEMO-1"
                text = " ".join(x.text for x in issue.content if getattr(x, "text", None))
                ok(issue, text)
                proj = await c.call_tool("gitlab_get_project", {"projectId": 1})
                assert proj.structured_content["pathWithNamespace"] == "demo-group/demo-project"
                missing = await c.call_tool("jira_get_issue", {"issueKey": "NOPE-404"})
                assert missing.is_error

    asyncio.run(run())
    assert fakes["jira"].stats()["requests"] > before
    assert "serving MCP on stdio" in (tmp_path / "stderr.log").read_text(), "logs go to stderr"
    assert not (tmp_path / ".mcp-edge").exists(), "stdio mode writes no data directory"


def bound_sockets(pid: int) -> list[str]:
    """The process's sockets that are internet sockets (any state) or named Unix sockets. Unnamed
    Unix socket pairs (the async runtime's own wake-ups) do not count."""
    inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = pathlib.Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 9 and cols[9] in inodes:
                found.append(f"{table}: {line.strip()}")
    unix = pathlib.Path("/proc/net/unix")
    if unix.exists():
        for line in unix.read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 7 and cols[6] in inodes:
                found.append(f"unix: {line.strip()}")
    return found


def test_raw_stdio_session_bad_lines_and_clean_exit(fakes, tmp_path):
    env = {**os.environ, **environment(fakes), "MCP_EDGE_MAX_BODY_BYTES": "4096"}
    proc = subprocess.Popen([BIN, "stdio", "--enable-test-tools"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.stdin and proc.stdout

    def send(line: str) -> dict:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        reply = proc.stdout.readline()
        assert reply, f"no answer; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        return json.loads(reply)

    try:
        init = send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}))
        assert init["result"]["serverInfo"]["name"] == "mcp-edge"
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        listed = send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        assert any(t["name"] == "echo" for t in listed["result"]["tools"])
        assert bound_sockets(proc.pid) == [], "no port bound, no connection before an upstream call"
        assert send("{not json")["error"]["code"] == -32700
        too_long = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"pad": "x" * 10_000}})
        assert send(too_long)["error"]["code"] != 0
        # Still serving after both.
        echo = send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                "params": {"name": "echo", "arguments": {"message": "still here"}}}))
        assert echo["id"] == 4 and echo["result"]["content"][0]["text"] == "still here"
        proc.stdin.close()
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == "", "nothing but answers on stdout"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
