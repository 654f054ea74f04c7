"""Hybrid credentials and operator-fixed upstream URLs, end to end on every target: the operator puts
the upstream URLs in the environment (`JIRA_URL`, `CONFLUENCE_URL`, `GITLAB_API_URL`; Worker and Lambda
variables), each caller brings only a token in a header; an environment token never follows a header
URL; and `--dynamic-urls` (`MCP_EDGE_DYNAMIC_URLS`) refuses header URLs for the services it leaves out.
The official Python SDK client talks to the real gateway; the fakes of `tests/fake-upstream` count
what reaches them.
"""

from __future__ import annotations

import asyncio

import pytest
from mcp.shared.exceptions import MCPError

from test_connectors import CONF_TOKEN, EMAIL, GITLAB_TOKEN, JIRA_TOKEN, LOCAL, Fake, call, connect, ok

pytestmark = pytest.mark.skipif(
    __import__("os").environ.get("MCP_EDGE_URL") is not None, reason="starts its own gateways next to local fakes"
)


@pytest.fixture(scope="module")
def fakes():
    started = {
        "jira": Fake("jira", JIRA_TOKEN, EMAIL),
        "confluence": Fake("confluence", CONF_TOKEN, EMAIL),
        "gitlab": Fake("gitlab", GITLAB_TOKEN, name="gitlab-env"),
        "other": Fake("gitlab", "other-instance-token", name="gitlab-other"),
    }
    yield started
    for f in started.values():
        violations = f.stats()["violations"]
        f.stop()
        assert violations == [], f"contract violations seen by the fakes: {violations}"


def env_urls(fakes) -> dict[str, str]:
    """Only URLs in the environment: the multi-tenant setup."""
    return {
        "JIRA_URL": fakes["jira"].url,
        "CONFLUENCE_URL": fakes["confluence"].url + "/wiki",
        "GITLAB_API_URL": fakes["gitlab"].url + "/api/v4",
    }


TOKENS_ONLY = {
    "X-Jira-Token": JIRA_TOKEN,
    "X-Jira-Email": EMAIL,
    "X-Confluence-Token": CONF_TOKEN,
    "X-Confluence-Email": EMAIL,
    "Private-Token": GITLAB_TOKEN,
}


def requests_seen(fake: Fake) -> int:
    return fake.stats()["requests"]


def test_environment_urls_with_header_tokens_reach_all_three_services(spawn, fakes):
    gw = spawn(LOCAL, env=env_urls(fakes))

    async def run():
        async with connect(gw.url, TOKENS_ONLY) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            for tool in ("jira_get_issue", "confluence_get_page", "gitlab_get_project"):
                assert tool in names, sorted(names)
            assert ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-1"}))["key"] == "DEMO-1"
            assert ok(*await call(s, "confluence_get_page", {"pageId": "98305"}))["id"] == "98305"
            proj = ok(*await call(s, "gitlab_get_project", {"projectId": 1}))
            assert proj["pathWithNamespace"] == "demo-group/demo-project"
        # Without a token the environment URL alone offers nothing.
        async with connect(gw.url, {}) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert not any(n.startswith(("jira_", "confluence_", "gitlab_")) for n in names), sorted(names)

    asyncio.run(run())


def test_environment_token_never_follows_a_header_url(spawn, fakes):
    gw = spawn(LOCAL, env={"GITLAB_API_URL": fakes["gitlab"].url, "GITLAB_TOKEN": GITLAB_TOKEN})
    other = fakes["other"]
    before = requests_seen(other)

    async def run():
        # The environment credential alone works.
        async with connect(gw.url, {}) as s:
            assert ok(*await call(s, "gitlab_get_project", {"projectId": 1}))["id"] == 1
        # A header URL without a header token: no GitLab tools, nothing sent anywhere.
        async with connect(gw.url, {"X-GitLab-API-URL": other.url}) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert not any(n.startswith("gitlab_") for n in names), sorted(names)
            with pytest.raises(MCPError, match="Unknown tool: gitlab_get_project"):
                await s.call_tool("gitlab_get_project", {"projectId": 1})
        assert requests_seen(other) == before, "the other instance was never contacted"
        # With its own token the header URL is used.
        async with connect(gw.url, {"X-GitLab-API-URL": other.url, "Private-Token": "other-instance-token"}) as s:
            proj = ok(*await call(s, "gitlab_get_project", {"projectId": 1}))
            assert "gitlab-other" in (proj.get("description") or ""), proj
        assert requests_seen(other) > before

    asyncio.run(run())


def test_fixed_urls_refuse_header_urls_with_a_clear_error(spawn, fakes):
    # Only Jira accepts header URLs (one value: cargo lambda splits variables at commas).
    gw = spawn([*LOCAL, "--dynamic-urls", "jira"], env=env_urls(fakes))
    env_gitlab, other = fakes["gitlab"], fakes["other"]
    before_env, before_other = requests_seen(env_gitlab), requests_seen(other)

    async def run():
        headers = {**TOKENS_ONLY, "X-GitLab-API-URL": other.url, "X-Jira-URL": fakes["jira"].url}
        async with connect(gw.url, headers) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert "gitlab_get_project" in names, "listed, so that calling it explains the refusal"
            result, text = await call(s, "gitlab_get_project", {"projectId": 1})
            assert result.is_error, text
            assert "X-GitLab-API-URL" in text and "MCP_EDGE_DYNAMIC_URLS" in text, text
            # Jira still accepts a header URL (here: the same fake, named by the header).
            assert ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-1"}))["key"] == "DEMO-1"
        assert requests_seen(other) == before_other, "the refused URL was never contacted"
        assert requests_seen(env_gitlab) == before_env, "nor was the environment's instance used instead"
        # The header naming the environment's own instance is accepted; no header uses it too.
        for extra in ({"X-GitLab-API-URL": env_gitlab.url + "/"}, {}):
            async with connect(gw.url, {**TOKENS_ONLY, **extra}) as s:
                assert ok(*await call(s, "gitlab_get_project", {"projectId": 1}))["id"] == 1
        assert requests_seen(env_gitlab) > before_env

    asyncio.run(run())
