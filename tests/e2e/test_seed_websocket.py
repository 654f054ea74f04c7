"""Seed 000 clients keep working: a client written from seed 000's WebSocket message shapes
(WEBSOCKET_README: `request_id`/`type`/`name`/`arguments`/`uri` requests, `response` with `data`,
`error` with a string message) against `/ws` without the `mcp` subprotocol, using the seed's tool
names and its `jira://issues` resource. MCP clients must not see those aliases.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import websockets
from test_analyze import KEY, gateway_headers, connect
from test_connectors import EMAIL, GITLAB_TOKEN, JIRA_TOKEN, LOCAL, Fake

pytestmark = [
    pytest.mark.websocket,  # Lambda Function URLs carry no WebSocket
    pytest.mark.skipif(bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateway next to local fakes"),
]

SEED_TOOLS = ["get_jira_issues", "get_issues_by_tags", "create_branch_for_issue", "comment_on_issue", "analyze_and_fix_issue"]


@pytest.fixture(scope="module")
def fakes():
    started = {"jira": Fake("jira", JIRA_TOKEN, EMAIL), "gitlab": Fake("gitlab", GITLAB_TOKEN, name="gitlab-seed")}
    yield started
    for f in started.values():
        f.stop()


@pytest.fixture(scope="module")
def gateway(fakes, tmp_path_factory):
    from conftest import Server

    server = Server(LOCAL, str(tmp_path_factory.mktemp("gw"))).start()
    yield server
    server.stop()


class SeedClient:
    """The seed's protocol, nothing more: JSON text frames keyed by request_id."""

    def __init__(self, ws):
        self.ws = ws
        self.n = 0

    async def ask(self, kind: str, **fields) -> dict:
        self.n += 1
        rid = f"req-{self.n}"
        await self.ws.send(json.dumps({"request_id": rid, "type": kind, **fields}))
        reply = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        assert reply["request_id"] == rid
        return reply


def seed_session(gateway, fakes, body):
    url = gateway.url.replace("http://", "ws://", 1) + "/ws"

    async def main():
        async with websockets.connect(url, additional_headers=gateway_headers(fakes), open_timeout=30) as ws:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert welcome["type"] == "welcome" and welcome["capabilities"] == {"tools": True, "resources": True}
            return await body(SeedClient(ws))

    return asyncio.run(main())


def test_seed_tool_names_and_shapes(gateway, fakes):
    for f in fakes.values():
        f.control("/_fake/reset", {})

    async def body(c: SeedClient):
        out = {}
        out["tools"] = await c.ask("list_tools")
        out["jql"] = await c.ask("call_tool", name="get_jira_issues", arguments={"jql": "project = DEMO", "max_results": 3})
        out["tags"] = await c.ask("call_tool", name="get_issues_by_tags",
                                  arguments={"project_key": "DEMO", "tags": ["urgent"], "max_results": 2})
        out["branch"] = await c.ask("call_tool", name="create_branch_for_issue",
                                    arguments={"issue_key": KEY, "project_id": 1, "base_branch": "main"})
        out["comment"] = await c.ask("call_tool", name="comment_on_issue", arguments={"issue_key": KEY, "comment": "from the seed client"})
        out["analyze"] = await c.ask("call_tool", name="analyze_and_fix_issue", arguments={"issue_key": KEY, "project_id": 1})
        out["resources"] = await c.ask("list_resources")
        out["issues"] = await c.ask("read_resource", uri="jira://issues?project=OPS")
        out["unknown"] = await c.ask("call_tool", name="no_such_tool", arguments={})
        out["bad"] = await c.ask("call_tool", name="get_jira_issues", arguments={"max_results": 3})
        out["failed"] = await c.ask("call_tool", name="comment_on_issue", arguments={"issue_key": "nothing", "comment": "x"})
        return out

    out = seed_session(gateway, fakes, body)
    names = [t["name"] for t in out["tools"]["data"]["tools"]]
    for name in SEED_TOOLS:
        assert names.count(name) == 1, f"{name} listed {names.count(name)} times"
    alias = next(t for t in out["tools"]["data"]["tools"] if t["name"] == "get_jira_issues")
    assert "max_results" in alias["inputSchema"]["properties"]

    r = out["jql"]
    assert r["type"] == "response" and r["success"] is True
    issues = r["data"]["structuredContent"]["issues"]
    assert len(issues) == 3 and all(i["key"].startswith("DEMO-") for i in issues)
    tagged = out["tags"]["data"]["structuredContent"]["issues"]
    assert [i["key"] for i in tagged] == ["DEMO-3", "DEMO-6"]
    assert out["branch"]["data"]["structuredContent"]["branch"] == "DEMO-1-fix-login-redirect-loop"
    assert out["comment"]["data"]["structuredContent"]["service"] == "jira"
    analyzed = out["analyze"]["data"]["structuredContent"]
    assert analyzed["mode"] == "prompt" and "DEMO-1: Fix login redirect loop" in analyzed["prompt"]["user"]

    uris = [r["uri"] for r in out["resources"]["data"]["resources"]]
    assert uris.count("jira://issues") == 1
    contents = out["issues"]["data"]["contents"][0]
    assert contents["uri"] == "jira://issues?project=OPS"
    assert [i["key"] for i in json.loads(contents["text"])["issues"]] == ["OPS-1", "OPS-2", "OPS-3"]

    # Errors: `error` is a string message; a protocol error's code travels beside it.
    for k in ["unknown", "bad", "failed"]:
        r = out[k]
        assert r["type"] == "error" and r["success"] is False and isinstance(r["error"], str), r
    assert out["unknown"]["code"] == -32602 and "Unknown tool: no_such_tool" in out["unknown"]["error"]
    assert out["bad"]["code"] == -32602 and "jql" in out["bad"]["error"]
    assert "cannot tell which tracker" in out["failed"]["error"] and out["failed"]["result"]["isError"] is True


def test_mcp_clients_see_no_aliases(gateway, fakes):
    async def body():
        async with connect(gateway.url, gateway_headers(fakes)) as s:
            tools = [t.name for t in (await s.list_tools()).tools]
            resources = [str(r.uri) for r in (await s.list_resources()).resources]
            return tools, resources

    tools, resources = asyncio.run(body())
    assert "get_jira_issues" not in tools and "get_issues_by_tags" not in tools
    assert len(tools) == len(set(tools)), "no duplicates"
    assert "analyze_and_fix_issue" in tools and "jira://issues" not in resources
