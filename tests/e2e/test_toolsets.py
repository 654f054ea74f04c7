"""Toolsets end to end (native, Worker or Lambda, per MCP_EDGE_TARGET): the default `tools/list` is
the compact core set, `--toolsets` / `MCP_EDGE_TOOLSETS` widens it, `X-MCP-Toolsets` narrows it per
request and cannot widen it, and a connector tool outside the request's toolsets answers exactly as
a tool that does not exist. Credentials name hosts that are never called: listing and refusing a tool
need no upstream.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

import httpx2 as httpx
import pytest
from test_connectors import all_tools, connect

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateways with their own toolsets"
)

CREDS = {
    "X-Jira-URL": "https://jira.example.com",
    "X-Jira-Token": "jira-token-toolsets",
    "X-Jira-Email": "bot@example.com",
    "X-Confluence-URL": "https://wiki.example.com/wiki",
    "X-Confluence-Token": "confluence-token-toolsets",
    "X-Confluence-Email": "bot@example.com",
    "X-GitLab-API-URL": "https://gitlab.example.com",
    "Private-Token": "glpat-toolsets",
}
# The compact core: the `jira`, `confluence`, `gitlab` and `cross` toolsets.
CORE = {
    "jira_search", "jira_get_issue", "jira_create_issue", "jira_update_issue", "jira_add_comment",
    "jira_get_transitions", "jira_transition_issue", "jira_get_issues_by_labels", "jira_list_projects",
    "confluence_search", "confluence_get_page", "confluence_create_page", "confluence_update_page",
    "confluence_list_spaces", "confluence_get_page_children",
    "gitlab_list_projects", "gitlab_get_project", "gitlab_list_branches", "gitlab_create_branch",
    "gitlab_list_merge_requests", "gitlab_get_merge_request", "gitlab_create_merge_request",
    "gitlab_list_issues", "gitlab_create_issue_note", "gitlab_get_file", "gitlab_search",
    "create_branch_for_issue", "comment_on_issue",
}
GITLAB_CORE = {n for n in CORE if n.startswith("gitlab_")}
CI = {
    "gitlab_list_pipelines", "gitlab_get_pipeline", "gitlab_list_pipeline_jobs", "gitlab_get_job_log",
    "gitlab_create_pipeline", "gitlab_retry_pipeline", "gitlab_cancel_pipeline", "gitlab_wait_for_pipeline",
}
# One tool of each toolset not in the default set.
OUTSIDE = CI | {"gitlab_get_merge_request_diffs", "gitlab_list_commits", "gitlab_list_labels", "gitlab_list_wiki_pages",
                "jira_list_worklogs", "jira_list_boards"}
TEST_TOOLS = {"echo", "add"}  # belong to no toolset: never hidden by one


def connector(names: list[str]) -> list[str]:
    return [n for n in names if n not in TEST_TOOLS and n.split("_")[0] in ("jira", "confluence", "gitlab")
            or n in ("create_branch_for_issue", "comment_on_issue")]


@pytest.fixture(scope="module")
def compact(tmp_path_factory):
    from conftest import Server

    server = Server([], str(tmp_path_factory.mktemp("compact"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    from conftest import Server

    server = Server(["--toolsets", "all"], str(tmp_path_factory.mktemp("wide"))).start()
    yield server
    server.stop()


class Session:
    """One MCP session over plain HTTP (2025-06-18), so each request can carry its own headers."""

    def __init__(self, url: str, extra: dict | None = None):
        self.http = httpx.Client(timeout=30)
        self.url = url + "/mcp"
        self.base = {**CREDS, "content-type": "application/json", "accept": "application/json, text/event-stream"}
        init = self.http.post(self.url, headers={**self.base, **(extra or {})}, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "toolsets", "version": "1"}},
        })
        assert init.status_code == 200, init.text
        self.base["mcp-session-id"] = init.headers["mcp-session-id"]
        self.base["mcp-protocol-version"] = "2025-06-18"
        note = self.http.post(self.url, headers=self.base, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert note.status_code == 202, note.text

    def rpc(self, method: str, params: dict, toolsets: str | None = None) -> httpx.Response:
        headers = dict(self.base)
        if toolsets is not None:
            headers["X-MCP-Toolsets"] = toolsets
        return self.http.post(self.url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": method, "params": params})

    def names(self, toolsets: str | None = None) -> list[str]:
        """Every listed name, following `nextCursor` (pages hold 100 tools; at most 10 pages)."""
        names, params = [], {}
        for _ in range(10):
            r = self.rpc("tools/list", params, toolsets)
            assert r.status_code == 200, r.text
            result = r.json()["result"]
            names += [t["name"] for t in result["tools"]]
            if not result.get("nextCursor"):
                return names
            params = {"cursor": result["nextCursor"]}
        raise AssertionError("tools/list did not end within 10 pages")

    def close(self) -> None:
        self.http.close()


def test_default_list_is_the_compact_core_set(compact):
    async def main():
        async with connect(compact.url, CREDS) as s:
            return list(await all_tools(s))

    names = asyncio.run(main())
    listed = set(connector(names))
    assert CORE <= listed, sorted(CORE - listed)
    assert not listed & OUTSIDE, sorted(listed & OUTSIDE)
    assert TEST_TOOLS <= set(names), "tools of no toolset stay offered"


def test_the_setting_widens_and_the_header_narrows_without_widening(compact, wide):
    s = Session(wide.url)
    everything = s.names()
    assert (CORE | OUTSIDE) <= set(everything)
    # Narrowed to CI: only its tools among the connector tools, in the unnarrowed order.
    ci = s.names(toolsets="gitlab_ci")
    assert set(connector(ci)) == CI, sorted(connector(ci))
    assert ci == [n for n in everything if n in set(ci)], "narrowing keeps the order"
    assert TEST_TOOLS <= set(ci)
    assert set(connector(s.names(toolsets="GITLAB , cross"))) == GITLAB_CORE | {"create_branch_for_issue", "comment_on_issue"}
    assert s.names(toolsets="all") == everything
    s.close()

    c = Session(compact.url)
    default = c.names()
    # The header cannot bring back a toolset the configuration leaves out.
    widened = c.names(toolsets="gitlab,gitlab_ci,gitlab_wiki")
    assert set(connector(widened)) == GITLAB_CORE
    assert c.names(toolsets="all") == default
    assert set(connector(c.names(toolsets="gitlab_ci"))) == set()
    c.close()


def test_a_tool_outside_the_toolsets_answers_as_an_unknown_tool(compact, wide):
    c = Session(compact.url)
    for name in ("gitlab_list_pipelines", "gitlab_list_wiki_pages"):
        outside = c.rpc("tools/call", {"name": name, "arguments": {"projectId": "1"}})
        unknown = c.rpc("tools/call", {"name": name + "_nope", "arguments": {"projectId": "1"}})
        assert outside.status_code == unknown.status_code
        got, want = outside.json()["error"], unknown.json()["error"]
        assert got["code"] == want["code"] == -32602
        assert got["message"] == want["message"].replace(name + "_nope", name) == f"Unknown tool: {name}"
    c.close()
    # Narrowed out by the header: the same answer.
    s = Session(wide.url)
    r = s.rpc("tools/call", {"name": "gitlab_get_project", "arguments": {"projectId": "1"}}, toolsets="gitlab_ci")
    assert r.json()["error"] == {"code": -32602, "message": "Unknown tool: gitlab_get_project"}
    s.close()


def test_an_unknown_toolset_in_the_header_is_refused_naming_it(wide):
    s = Session(wide.url)
    for method, params in (("tools/list", {}), ("tools/call", {"name": "echo", "arguments": {"message": "m"}})):
        r = s.rpc(method, params, toolsets="gitlab,gitlab_pipelines")
        assert r.status_code == 200, r.text  # as every -32602 in a 2025 session (400 in 2026-07-28)
        error = r.json()["error"]
        assert error["code"] == -32602
        assert "X-MCP-Toolsets" in error["message"] and "'gitlab_pipelines'" in error["message"]
        assert "gitlab_ci" in error["message"], "the known names are listed"
    s.close()


def test_each_request_of_a_session_is_judged_by_its_own_header(wide):
    """As with X-MCP-Tools, the header is not pinned to the session."""
    s = Session(wide.url, {"X-MCP-Toolsets": "gitlab_wiki"})
    ci = set(connector(s.names(toolsets="gitlab_ci")))
    full = set(connector(s.names()))
    core = set(connector(s.names(toolsets="gitlab")))
    assert ci == CI and core == GITLAB_CORE and (CORE | OUTSIDE) <= full
    s.close()


@pytest.mark.native_only
def test_an_unknown_toolset_stops_the_native_binary(tmp_path):
    from conftest import BIN

    out = subprocess.run([BIN, "--bind", "127.0.0.1:0", "--data-dir", str(tmp_path), "--toolsets", "gitlab,jira_sprints"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "jira_sprints" in out.stderr and "jira_agile" in out.stderr, out.stderr


@pytest.mark.worker_only
def test_an_unknown_toolset_makes_the_worker_answer_500(spawn):
    server = spawn([], env={"MCP_EDGE_TOOLSETS": "jira_sprints"})
    r = httpx.post(server.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=30,
                   headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
    assert r.status_code == 500
    assert "MCP_EDGE_TOOLSETS" in r.text and "jira_sprints" in r.text
