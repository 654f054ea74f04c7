"""Connectors end to end: the official Python SDK client calls every Jira, Confluence, GitLab and
cross-service tool through `mcp-edge`, with credentials in headers, against the fake upstreams of
`tests/fakes` (which validate requests and responses against the vendors' OpenAPI documents).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.request

import contextlib

import httpx2 as httpx
import pytest
from conftest import register_fake, unregister_fake
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAKE_BIN = os.environ.get("FAKE_UPSTREAM_BIN", str(ROOT / "target" / "release" / "fake-upstream"))
LOCAL = ["--upstream-allow-http", "127.0.0.1", "--upstream-allow-private", "127.0.0.1"]
JIRA_TOKEN = "jira-secret-token-8f2a"
CONF_TOKEN = "confluence-secret-token-4c1d"
GITLAB_TOKEN = "glpat-secret-token-77e0"
EMAIL = "bot@example.com"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateways next to local fakes"
)


class Fake:
    """One fake upstream process."""

    def __init__(self, service: str, token: str, email: str | None = None, name: str | None = None,
                 deployment: str = "cloud", context_path: str = ""):
        cmd = [FAKE_BIN, "--service", service, "--bind", "127.0.0.1:0", "--token", token, "--deployment", deployment]
        if context_path:
            cmd += ["--context-path", context_path]
        if email:
            cmd += ["--email", email]
        if name:
            cmd += ["--instance-name", name]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on " in line, f"fake {service} did not start: {line!r}"
        self.url = line.strip().split("listening on ", 1)[1]
        register_fake(self.url)  # conftest checks its contract violations after every test

    def control(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method="POST" if body is not None else "GET",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return json.loads(text) if text else {}

    def stats(self) -> dict:
        return self.control("/_fake/stats")

    def stop(self) -> None:
        unchecked = unregister_fake(self.url) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        assert unchecked == [], f"contract violations seen by the fake: {unchecked}"


@pytest.fixture(scope="module")
def fakes():
    started = {
        "jira": Fake("jira", JIRA_TOKEN, EMAIL),
        "confluence": Fake("confluence", CONF_TOKEN, EMAIL),
        "gitlab": Fake("gitlab", GITLAB_TOKEN, name="gitlab-one"),
    }
    yield started
    for f in started.values():
        f.stop()  # asserts that no violation went unchecked


def headers_for(fakes, gitlab_url: str | None = None, gitlab_token: str = GITLAB_TOKEN) -> dict:
    return {
        "X-Jira-URL": fakes["jira"].url,
        "X-Jira-Token": JIRA_TOKEN,
        "X-Jira-Email": EMAIL,
        "X-Confluence-URL": fakes["confluence"].url + "/wiki",
        "X-Confluence-Token": CONF_TOKEN,
        "X-Confluence-Email": EMAIL,
        "X-GitLab-API-URL": gitlab_url or fakes["gitlab"].url,
        "Private-Token": gitlab_token,
    }


@contextlib.asynccontextmanager
async def connect(url: str, headers: dict):
    """The official SDK client over Streamable HTTP, sending `headers` on every request."""
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=120)) as http:
        async with Client(streamable_http_client(url + "/mcp", http_client=http), mode="legacy") as c:
            yield c


async def all_tools(session: Client) -> dict:
    """Every tool of `tools/list`, following `nextCursor` (pages hold 100 tools; at most 10 pages)."""
    tools, cursor = {}, None
    for _ in range(10):
        page = await session.list_tools(cursor=cursor)
        tools.update({t.name: t for t in page.tools})
        cursor = page.next_cursor
        if cursor is None:
            return tools
    raise AssertionError("tools/list did not end within 10 pages")


async def call(session: Client, name: str, args: dict):
    result = await session.call_tool(name, args)
    text = " ".join(c.text for c in result.content if getattr(c, "text", None))
    return result, text


def ok(result, text):
    assert not result.is_error, text
    assert result.structured_content is not None
    assert json.loads(text) == result.structured_content, "text content mirrors structuredContent"
    return result.structured_content


@pytest.fixture(scope="module")
def gateway(fakes, tmp_path_factory):
    from conftest import Server

    server = Server(LOCAL + ["--toolsets", "all"], str(tmp_path_factory.mktemp("gw"))).start()
    yield server
    server.stop()


def test_every_tool_through_the_python_sdk(gateway, fakes):
    async def main():
        async with connect(gateway.url, headers_for(fakes)) as s:
                tools = await all_tools(s)
                connector_tools = {n for n in tools if re.match(r"^(jira|confluence|gitlab)_|create_branch_for_issue|comment_on_issue|analyze_and_fix_issue", n)}
                assert len(connector_tools) == 88, sorted(connector_tools)
                for name in connector_tools:
                    t = tools[name]
                    assert t.output_schema and t.input_schema["type"] == "object"
                    assert t.annotations.read_only_hint is not None and t.annotations.open_world_hint

                # Jira
                page1 = ok(*await call(s, "jira_search", {"jql": "project = DEMO ORDER BY key ASC", "maxResults": 10}))
                assert len(page1["issues"]) == 10 and page1["isLast"] is False
                page2 = ok(*await call(s, "jira_search", {"jql": "project = DEMO ORDER BY key ASC", "maxResults": 10, "nextPageToken": page1["nextPageToken"]}))
                keys = {i["key"] for i in page1["issues"]} | {i["key"] for i in page2["issues"]}
                assert len(keys) == 20, "pages never repeat an issue"
                issue = ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-1"}))
                assert issue["summary"] == "Fix login redirect loop" and issue["url"].endswith("/browse/DEMO-1")
                created = ok(*await call(s, "jira_create_issue", {"projectKey": "DEMO", "summary": "Made by e2e", "description": "Some **bold** text", "labels": ["e2e"]}))
                assert re.match(r"^DEMO-\d+$", created["key"])
                again = ok(*await call(s, "jira_get_issue", {"issueKey": created["key"]}))
                assert again["summary"] == "Made by e2e" and "**bold**" in (again.get("description") or "")
                ok(*await call(s, "jira_update_issue", {"issueKey": created["key"], "summary": "Renamed by e2e"}))
                assert ok(*await call(s, "jira_get_issue", {"issueKey": created["key"]}))["summary"] == "Renamed by e2e"
                comment = ok(*await call(s, "jira_add_comment", {"issueKey": "DEMO-1", "body": "Looks good\n\n- item"}))
                assert comment["commentId"]
                transitions = ok(*await call(s, "jira_get_transitions", {"issueKey": "DEMO-2"}))
                assert {t["name"] for t in transitions["transitions"]} >= {"In Progress", "Done"}
                moved = ok(*await call(s, "jira_transition_issue", {"issueKey": "DEMO-2", "transition": "Done"}))
                assert moved["transition"]["name"] == "Done"
                assert ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-2"}))["status"] == "Done"
                by_label = ok(*await call(s, "jira_get_issues_by_labels", {"projectKey": "DEMO", "labels": ["urgent"]}))
                assert by_label["issues"] and all("urgent" in i["labels"] for i in by_label["issues"])
                projects = ok(*await call(s, "jira_list_projects", {}))
                assert {"DEMO", "OPS"} <= {p["key"] for p in projects["projects"]}

                # Confluence
                found = ok(*await call(s, "confluence_search", {"cql": "type = page AND space = ENG", "limit": 5}))
                assert len(found["results"]) == 5 and found["nextCursor"]
                more = ok(*await call(s, "confluence_search", {"cql": "type = page AND space = ENG", "limit": 5, "cursor": found["nextCursor"]}))
                assert {r["id"] for r in more["results"]}.isdisjoint({r["id"] for r in found["results"]})
                home = ok(*await call(s, "confluence_get_page", {"pageId": "98305"}))
                assert home["title"] == "Engineering Home" and home["body"].startswith("# ") and "<" not in home["body"].split("```")[0]
                spaces = ok(*await call(s, "confluence_list_spaces", {}))
                eng = next(sp for sp in spaces["spaces"] if sp["key"] == "ENG")
                kids = ok(*await call(s, "confluence_get_page_children", {"pageId": "98305", "limit": 5}))
                assert len(kids["children"]) == 5 and kids["nextCursor"]
                page = ok(*await call(s, "confluence_create_page", {"spaceId": eng["id"], "title": "E2E page", "body": "# Hello\n\nFrom **e2e**", "parentId": "98305"}))
                assert page["version"] == 1
                updated = ok(*await call(s, "confluence_update_page", {"pageId": page["id"], "body": "Changed", "version": 1}))
                assert updated["version"] == 2 and updated["body"] == "Changed"
                stale, text = await call(s, "confluence_update_page", {"pageId": page["id"], "body": "Stale", "version": 1})
                assert stale.is_error and "changed by someone else" in text

                # GitLab
                plist = ok(*await call(s, "gitlab_list_projects", {"perPage": 20}))
                assert len(plist["projects"]) == 20 and plist["nextPage"] == 2
                last = ok(*await call(s, "gitlab_list_projects", {"perPage": 20, "page": 3}))
                assert last["nextPage"] is None
                proj = ok(*await call(s, "gitlab_get_project", {"projectId": "demo-group/demo-project"}))
                assert proj["id"] == 1 and proj["defaultBranch"] == "main"
                assert ok(*await call(s, "gitlab_get_project", {"projectId": 1}))["pathWithNamespace"] == "demo-group/demo-project"
                branches = ok(*await call(s, "gitlab_list_branches", {"projectId": 1}))
                assert {"main", "develop"} <= {b["name"] for b in branches["branches"]}
                nb = ok(*await call(s, "gitlab_create_branch", {"projectId": "demo-group/demo-project", "branch": "e2e-branch", "ref": "main"}))
                assert nb["name"] == "e2e-branch"
                dup, text = await call(s, "gitlab_create_branch", {"projectId": 1, "branch": "e2e-branch", "ref": "main"})
                assert dup.is_error and "Branch already exists" in text
                mrs = ok(*await call(s, "gitlab_list_merge_requests", {"projectId": 1}))
                assert {m["iid"] for m in mrs["mergeRequests"]} >= {1, 2}
                mr = ok(*await call(s, "gitlab_get_merge_request", {"projectId": 1, "mergeRequestIid": 1}))
                assert mr["changes"] and all("diff" in c for c in mr["changes"])
                new_mr = ok(*await call(s, "gitlab_create_merge_request", {"projectId": 1, "sourceBranch": "e2e-branch", "targetBranch": "main", "title": "E2E MR"}))
                assert new_mr["title"] == "E2E MR" and new_mr["state"] == "opened"
                issues = ok(*await call(s, "gitlab_list_issues", {"projectId": 1, "state": "all"}))
                assert len(issues["issues"]) >= 5
                note = ok(*await call(s, "gitlab_create_issue_note", {"projectId": 1, "issueIid": 1, "body": "noted"}))
                assert note["body"] == "noted"
                f = ok(*await call(s, "gitlab_get_file", {"projectId": 1, "filePath": "README.md"}))
                assert f["content"].startswith("# Demo project") and f["ref"] == "main"
                found = ok(*await call(s, "gitlab_search", {"scope": "projects", "search": "service"}))
                assert found["results"]
                blobs = ok(*await call(s, "gitlab_search", {"scope": "blobs", "search": "Demo", "projectId": 1}))
                assert blobs["results"]

                # Cross-service
                made = ok(*await call(s, "create_branch_for_issue", {"issueKey": "DEMO-1", "projectId": "demo-group/demo-project"}))
                assert made["branch"] == "DEMO-1-fix-login-redirect-loop" and made["ref"] == "main" and made["jiraCommentId"]
                c1 = ok(*await call(s, "comment_on_issue", {"issue": "DEMO-3", "body": "from cross tool"}))
                c2 = ok(*await call(s, "comment_on_issue", {"issue": "demo-group/demo-project#2", "body": "from cross tool"}))
                assert (c1["service"], c2["service"]) == ("jira", "gitlab")

                # Resources
                templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
                assert {"jira://issue/{key}", "confluence://page/{id}", "gitlab://project/{id}", "gitlab://project/{id}/file/{path}"} <= templates
                r = await s.read_resource("jira://issue/DEMO-1")
                assert json.loads(r.contents[0].text)["key"] == "DEMO-1"
                r = await s.read_resource("confluence://page/98305")
                assert r.contents[0].text.startswith("# Engineering Home")
                r = await s.read_resource("gitlab://project/demo-group%2Fdemo-project")
                assert json.loads(r.contents[0].text)["id"] == 1
                r = await s.read_resource("gitlab://project/1/file/src/main.rs")
                assert "fn main" in r.contents[0].text

    asyncio.run(main())
    # The fakes saw the right auth schemes.
    recent = fakes["gitlab"].stats()["recent"]
    assert recent and all(x["auth_scheme"] == "private-token" for x in recent if not x["path"].startswith("/_fake"))
    assert all(x["auth_scheme"] == "basic" for x in fakes["jira"].stats()["recent"])


def test_tools_follow_credentials_and_are_hidden_without_them(gateway, fakes):
    async def main():
        only_gitlab = {"X-GitLab-API-URL": fakes["gitlab"].url, "Private-Token": GITLAB_TOKEN}
        async with connect(gateway.url, only_gitlab) as s:
                names = set(await all_tools(s))
                assert "gitlab_get_project" in names
                assert not any(n.startswith(("jira_", "confluence_")) or n == "create_branch_for_issue" for n in names)
                templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
                assert "jira://issue/{key}" not in templates
        async with connect(gateway.url, {**only_gitlab, "X-MCP-Read-Only": "true"}) as s:
                names = set(await all_tools(s))
                assert "gitlab_list_projects" in names and "gitlab_create_branch" not in names

    asyncio.run(main())


def test_two_sessions_reach_two_gitlab_instances_concurrently(gateway, fakes):
    second = Fake("gitlab", "other-token-2b", name="gitlab-two")
    try:
        async def one(url: str, token: str) -> list[str]:
            seen = []
            hdrs = {"X-GitLab-API-URL": url + "/api/v4/", "Private-Token": token}
            async with connect(gateway.url, hdrs) as s:
                    for _ in range(20):
                        p = ok(*await call(s, "gitlab_get_project", {"projectId": 1}))
                        seen.append(p["description"])
            return seen

        async def main():
            return await asyncio.gather(one(fakes["gitlab"].url, GITLAB_TOKEN), one(second.url, "other-token-2b"))

        a, b = asyncio.run(main())
        assert all("gitlab-one" in d for d in a), a[:3]
        assert all("gitlab-two" in d for d in b), b[:3]
        assert second.stats()["violations"] == []
    finally:
        second.stop()


def test_session_replayed_with_other_credentials_is_refused(gateway, fakes):
    base = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    creds = {"X-GitLab-API-URL": fakes["gitlab"].url, "Private-Token": GITLAB_TOKEN}
    with httpx.Client(timeout=10) as c:
        init = c.post(gateway.url + "/mcp", headers={**base, **creds}, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        })
        assert init.status_code == 200
        sid = init.headers["mcp-session-id"]
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        same = c.post(gateway.url + "/mcp", headers={**base, **creds, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}, json=body)
        assert same.status_code == 200
        other = c.post(gateway.url + "/mcp", headers={**base, **creds, "Private-Token": "stolen-other", "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}, json=body)
        assert other.status_code == 404
        assert other.json()["error"]["code"] == -32001
        assert "stolen-other" not in other.text and GITLAB_TOKEN not in other.text


def test_ssrf_probes_are_refused_with_the_rule_named(spawn, fakes):
    guarded = spawn([])  # no upstream exceptions configured

    async def main():
        probes = {
            "http://127.0.0.1": "scheme 'http'",
            "https://127.0.0.1": "loopback",
            "https://169.254.169.254": "cloud metadata",
            "https://[::ffff:127.0.0.1]": "loopback",
            "https://2130706433": "loopback",
            "https://10.0.0.8/api/v4": "private",
            "https://localhost": "loopback",
        }
        for url, rule in probes.items():
            hdrs = {"X-GitLab-API-URL": url, "Private-Token": GITLAB_TOKEN}
            async with connect(guarded.url, hdrs) as s:
                    result, text = await call(s, "gitlab_list_projects", {})
                    assert result.is_error, url
                    assert rule in text and "GitLab URL refused" in text, (url, text)
                    assert GITLAB_TOKEN not in text

    asyncio.run(main())
    assert GITLAB_TOKEN not in guarded.logs()


def test_redirects_are_not_followed(gateway, fakes):
    gl = fakes["gitlab"]
    gl.control("/_fake/faults", {"redirect": "http://127.0.0.1:1/steal", "count": 1})
    before = gl.stats()["requests"]

    async def main():
        async with connect(gateway.url, headers_for(fakes)) as s:
                return await call(s, "gitlab_get_project", {"projectId": 1})

    result, text = asyncio.run(main())
    assert result.is_error and "redirect to http://127.0.0.1:1" in text and "not followed" in text
    assert gl.stats()["requests"] == before + 1


def test_upstream_failures_become_actionable_tool_errors(gateway, fakes):
    gl = fakes["gitlab"]

    async def main(hdrs, name, args):
        async with connect(gateway.url, hdrs) as s:
                return await call(s, name, args)

    # 429 with Retry-After: retried once, then the call succeeds.
    before = gl.stats()["requests"]
    gl.control("/_fake/faults", {"status": 429, "retry_after": 1, "count": 1})
    result, text = asyncio.run(main(headers_for(fakes), "gitlab_get_project", {"projectId": 1}))
    assert not result.is_error, text
    assert gl.stats()["requests"] == before + 2
    # A persistent 503 gives up within the retry budget and says so.
    gl.control("/_fake/faults", {"status": 503, "count": 10})
    result, text = asyncio.run(main(headers_for(fakes), "gitlab_get_project", {"projectId": 1}))
    assert result.is_error and "unavailable (503)" in text
    gl.control("/_fake/reset", {})
    # Bad token.
    result, text = asyncio.run(main(headers_for(fakes, gitlab_token="wrong-token"), "gitlab_get_project", {"projectId": 1}))
    assert result.is_error and "bad or expired credentials for GitLab" in text and "wrong-token" not in text
    # Not found.
    result, text = asyncio.run(main(headers_for(fakes), "jira_get_issue", {"issueKey": "DEMO-9999"}))
    assert result.is_error and "not found (404)" in text
    # Invalid arguments stay protocol errors.
    with pytest.raises(Exception) as err:
        asyncio.run(main(headers_for(fakes), "jira_get_issue", {"issueKey": "not a key"}))
    assert "/issueKey" in repr(err.value) and "-32602" in repr(err.value)


def test_a_tool_call_over_the_time_limit_is_cancelled_with_a_clear_error(spawn, fakes):
    gw = spawn([*LOCAL, "--tool-timeout", "500ms"])
    gl = fakes["gitlab"]
    gl.control("/_fake/faults", {"delay_ms": 4000, "count": 1})

    async def main():
        async with connect(gw.url, headers_for(fakes)) as s:
            started = time.monotonic()
            slow, slow_text = await call(s, "gitlab_get_project", {"projectId": 1})
            elapsed = time.monotonic() - started
            fast, fast_text = await call(s, "gitlab_get_project", {"projectId": 1})
            return slow, slow_text, elapsed, fast, fast_text

    try:
        slow, slow_text, elapsed, fast, fast_text = asyncio.run(main())
    finally:
        gl.control("/_fake/reset", {})
    assert slow.is_error and "cancelled after 500 ms" in slow_text, slow_text
    assert elapsed < 3.0, f"the call was answered after {elapsed:.2f} s, not at the 0.5 s limit"
    ok(fast, fast_text)


@pytest.mark.native_only  # the Worker's fetch has no client pool to count; workerd owns connections
def test_one_connection_for_many_sequential_calls(spawn, fakes):
    fresh = Fake("gitlab", GITLAB_TOKEN, name="gitlab-conn")
    try:
        gw = spawn(LOCAL)
        hdrs = {"X-GitLab-API-URL": fresh.url, "Private-Token": GITLAB_TOKEN}
        before = fresh.stats()["connections"]  # counts this control request's own connection
        calls = 1000

        async def main():
            async with connect(gw.url, hdrs) as s:
                    for _ in range(calls):
                        result = await s.call_tool("gitlab_get_project", {"projectId": 1})
                        assert not result.is_error

        asyncio.run(main())
        st = fresh.stats()
        assert st["requests"] >= calls
        opened = st["connections"] - before - 1  # minus the connection of this second stats request
        assert opened == 1, f"{calls} calls opened {opened} connections"
        metrics = httpx.get(gw.url + "/metrics").text
        hits = int(re.search(r"^mcp_edge_upstream_pool_hits_total (\d+)$", metrics, re.M).group(1))
        misses = int(re.search(r"^mcp_edge_upstream_pool_misses_total (\d+)$", metrics, re.M).group(1))
        assert misses == 1 and hits == calls - 1, (hits, misses)
    finally:
        fresh.stop()


def test_no_secret_reaches_the_logs(gateway, fakes):
    logs = gateway.logs()
    assert "tool call" in logs, "the audit log recorded tool calls"
    for secret in (JIRA_TOKEN, CONF_TOKEN, GITLAB_TOKEN, "stolen-other", "wrong-token"):
        assert secret not in logs
