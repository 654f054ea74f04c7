"""Connectors against Jira and Confluence Server/Data Center: the same tool names, input schemas and
output shapes as Cloud (tests/e2e/test_connectors.py), served by the fakes' `--deployment server`
modes (REST v2 with wiki markup; Confluence `/rest/api/content`), with the deployment detected
(one probe per base URL), forced by header, and a wrong guess reported with the way to override it.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess

import pytest

from conftest import BIN, TARGET
from test_connectors import LOCAL, Fake, call, connect, ok

JIRA_PAT = "jira-dc-pat-5d1e"
CONF_USER = "svc-confluence"
CONF_PASSWORD = "confluence-dc-password-9a7b"
GITLAB_TOKEN = "glpat-dc-token-3f00"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateways next to local fakes"
)


@pytest.fixture(scope="module")
def dc():
    started = {
        # Jira Data Center with a personal access token (Authorization: Bearer).
        "jira": Fake("jira", JIRA_PAT, deployment="server"),
        # Confluence Data Center with basic auth: username and password.
        "confluence": Fake("confluence", CONF_PASSWORD, CONF_USER, deployment="server"),
        "gitlab": Fake("gitlab", GITLAB_TOKEN, name="gitlab-dc"),
    }
    yield started
    for f in started.values():
        f.stop()


@pytest.fixture(scope="module")
def gateway(dc, tmp_path_factory):
    from conftest import Server

    # One Lambda execution environment, so one upstream pool (as natively and in the Worker's isolate):
    # each environment keeps its own pool, and the probe-once checks below count per pool.
    single = ["--lambda-concurrency", "1"] if TARGET == "lambda" else []
    server = Server([*LOCAL, *single], str(tmp_path_factory.mktemp("gw-dc"))).start()
    yield server
    server.stop()


def dc_headers(dc, **extra) -> dict:
    """The headers mcp-atlassian's users send for Server/Data Center, plus GitLab."""
    return {
        "X-Atlassian-Jira-Url": dc["jira"].url,
        "X-Atlassian-Jira-Personal-Token": JIRA_PAT,
        "X-Confluence-URL": dc["confluence"].url,
        "X-Confluence-Email": CONF_USER,  # the username, for basic auth on Server/Data Center
        "X-Confluence-Token": CONF_PASSWORD,
        "X-GitLab-API-URL": dc["gitlab"].url,
        "Private-Token": GITLAB_TOKEN,
        **extra,
    }


def requests_to(fake: Fake) -> list[dict]:
    return [r for r in fake.stats()["recent"] if not r["path"].startswith("/_fake")]


def test_every_jira_and_confluence_tool_against_server_data_center(gateway, dc):
    async def main():
        async with connect(gateway.url, dc_headers(dc)) as s:
            # Jira: the first call detects the deployment once (serverInfo), later calls reuse it.
            issue = ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-1"}))
            assert issue["summary"] == "Fix login redirect loop" and issue["url"].endswith("/browse/DEMO-1")
            assert issue["description"] == "Details of demo issue 1." and issue["assignee"] == "Ada Lovelace"
            custom = ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-1", "fields": ["summary", "customfield_10010"]}))
            assert custom["fields"] == {"customfield_10010": 3} and custom["status"] is None
            page1 = ok(*await call(s, "jira_search", {"jql": "project = DEMO ORDER BY key ASC", "maxResults": 10}))
            assert len(page1["issues"]) == 10 and page1["isLast"] is False and page1["nextPageToken"] == "10"
            page2 = ok(*await call(s, "jira_search", {"jql": "project = DEMO ORDER BY key ASC", "maxResults": 10, "nextPageToken": page1["nextPageToken"]}))
            page3 = ok(*await call(s, "jira_search", {"jql": "project = DEMO ORDER BY key ASC", "maxResults": 10, "nextPageToken": page2["nextPageToken"]}))
            keys = [i["key"] for p in (page1, page2, page3) for i in p["issues"]]
            assert len(keys) == len(set(keys)) == 25 and page3["isLast"] is True and page3["nextPageToken"] is None
            probes = [r for r in requests_to(dc["jira"]) if r["path"].endswith("/serverInfo")]
            assert len(probes) == 1, probes
            bad, text = await call(s, "jira_search", {"jql": "project = DEMO", "nextPageToken": "not-an-offset"})
            assert bad.is_error and "Server/Data Center" in text

            created = ok(*await call(s, "jira_create_issue", {"projectKey": "DEMO", "summary": "Made on DC", "description": "Some **bold** and `code`\n\n- one\n- two", "labels": ["dc"]}))
            assert re.match(r"^DEMO-\d+$", created["key"])
            sent = next(r for r in requests_to(dc["jira"]) if r["method"] == "POST" and r["path"] == "/rest/api/2/issue")
            assert sent["body"]["fields"]["description"] == "Some *bold* and {{code}}\n\n* one\n* two", "Markdown became wiki markup"
            again = ok(*await call(s, "jira_get_issue", {"issueKey": created["key"]}))
            assert again["description"] == "Some **bold** and `code`\n\n- one\n- two", "wiki markup read back as Markdown"
            upd = ok(*await call(s, "jira_update_issue", {"issueKey": created["key"], "summary": "Renamed on DC", "description": "## Head"}))
            assert set(upd["updatedFields"]) == {"summary", "description"}
            again = ok(*await call(s, "jira_get_issue", {"issueKey": created["key"]}))
            assert again["summary"] == "Renamed on DC" and again["description"] == "## Head"
            comment = ok(*await call(s, "jira_add_comment", {"issueKey": "DEMO-1", "body": "Looks **good**"}))
            assert comment["commentId"] and comment["created"]
            sent = [r for r in requests_to(dc["jira"]) if r["path"] == "/rest/api/2/issue/DEMO-1/comment"]
            assert sent[-1]["body"] == {"body": "Looks *good*"}
            transitions = ok(*await call(s, "jira_get_transitions", {"issueKey": "DEMO-2"}))
            assert {t["name"] for t in transitions["transitions"]} >= {"In Progress", "Done"}
            moved = ok(*await call(s, "jira_transition_issue", {"issueKey": "DEMO-2", "transition": "Done", "comment": "Closing *now*"}))
            assert moved["transition"]["name"] == "Done"
            assert ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-2"}))["status"] == "Done"
            by_label = ok(*await call(s, "jira_get_issues_by_labels", {"projectKey": "DEMO", "labels": ["urgent", "backend"], "match": "all"}))
            assert by_label["issues"] and all({"urgent", "backend"} <= set(i["labels"]) for i in by_label["issues"])
            projects = ok(*await call(s, "jira_list_projects", {"maxResults": 1}))
            assert len(projects["projects"]) == 1 and projects["total"] == 2 and projects["isLast"] is False
            ops = ok(*await call(s, "jira_list_projects", {"query": "oper"}))
            assert [p["key"] for p in ops["projects"]] == ["OPS"] and ops["isLast"] is True

            # Confluence: storage format both ways, offsets as cursors, numeric space ids.
            found = ok(*await call(s, "confluence_search", {"cql": "type = page AND space = ENG", "limit": 5}))
            assert len(found["results"]) == 5 and found["nextCursor"] == "5"
            assert all(r["url"].startswith(dc["confluence"].url + "/display/ENG/") for r in found["results"])
            more = ok(*await call(s, "confluence_search", {"cql": "type = page AND space = ENG", "limit": 5, "cursor": found["nextCursor"]}))
            assert {r["id"] for r in more["results"]}.isdisjoint({r["id"] for r in found["results"]})
            home = ok(*await call(s, "confluence_get_page", {"pageId": "98305"}))
            assert home["title"] == "Engineering Home" and home["body"].startswith("# ") and home["version"] == 3
            assert home["spaceId"] == "65537" and home["parentId"] is None
            spaces = ok(*await call(s, "confluence_list_spaces", {"limit": 1}))
            assert len(spaces["spaces"]) == 1 and spaces["nextCursor"] == "1"
            rest = ok(*await call(s, "confluence_list_spaces", {"limit": 1, "cursor": spaces["nextCursor"]}))
            assert rest["nextCursor"] is None
            eng = next(sp for sp in spaces["spaces"] + rest["spaces"] if sp["key"] == "ENG")
            assert eng["id"] == "65537"
            kids = ok(*await call(s, "confluence_get_page_children", {"pageId": "98305", "limit": 5}))
            assert len(kids["children"]) == 5 and kids["nextCursor"] == "5" and kids["children"][0]["spaceId"] == "65537"
            page = ok(*await call(s, "confluence_create_page", {"spaceId": eng["id"], "title": "DC page", "body": "# Hello\n\nFrom **DC**", "parentId": "98305"}))
            assert page["version"] == 1 and page["parentId"] == "98305" and page["spaceId"] == "65537"
            sent = next(r for r in requests_to(dc["confluence"]) if r["method"] == "POST")
            assert sent["path"] == "/rest/api/content" and sent["body"]["space"] == {"key": "ENG"}
            assert sent["body"]["body"]["storage"]["value"] == "<h1>Hello</h1><p>From <strong>DC</strong></p>"
            updated = ok(*await call(s, "confluence_update_page", {"pageId": page["id"], "body": "Changed", "version": 1}))
            assert updated["version"] == 2 and updated["body"] == "Changed" and updated["title"] == "DC page"
            stale, text = await call(s, "confluence_update_page", {"pageId": page["id"], "body": "Stale", "version": 1})
            assert stale.is_error and "changed by someone else" in text
            conf_probes = [r for r in requests_to(dc["confluence"]) if r["path"].startswith("/wiki/")]
            assert len(conf_probes) == 1, conf_probes
            assert all(r["auth_scheme"] == "basic" for r in requests_to(dc["confluence"]))

            # Cross-service tools and resources use the same Server/Data Center paths.
            made = ok(*await call(s, "create_branch_for_issue", {"issueKey": "DEMO-1", "projectId": "demo-group/demo-project"}))
            assert made["branch"] == "DEMO-1-fix-login-redirect-loop" and made["jiraCommentId"]
            c1 = ok(*await call(s, "comment_on_issue", {"issue": "DEMO-3", "body": "from the cross tool"}))
            assert c1["service"] == "jira"
            r = await s.read_resource("jira://issue/DEMO-1")
            assert '"Details of demo issue 1."' in r.contents[0].text
            r = await s.read_resource("confluence://page/98305")
            assert r.contents[0].text.startswith("# Engineering Home")

    asyncio.run(main())
    jira_seen = requests_to(dc["jira"])
    assert jira_seen and all(r["auth_scheme"] == "bearer" for r in jira_seen)
    cloud_paths = [r["path"] for r in jira_seen if r["path"].startswith("/rest/api/3")]
    assert set(cloud_paths) <= {"/rest/api/3/serverInfo"}, "only the detection probe asked for REST v3"


def test_forced_deployment_and_wrong_guesses_name_the_override(gateway, dc):
    async def main():
        # Forcing Cloud against a Server/Data Center Jira: the Cloud-only search endpoint is missing.
        async with connect(gateway.url, dc_headers(dc, **{"X-Atlassian-Deployment": "cloud"})) as s:
            result, text = await call(s, "jira_search", {"jql": "project = DEMO"})
            assert result.is_error
            assert "assumed Jira Cloud" in text and "X-Atlassian-Deployment: server" in text and "JIRA_DEPLOYMENT=server" in text
            result, text = await call(s, "confluence_list_spaces", {})
            assert result.is_error and "assumed Confluence Cloud" in text and "CONFLUENCE_DEPLOYMENT=server" in text
        # An unknown value is refused, naming the header.
        async with connect(gateway.url, dc_headers(dc, **{"X-Atlassian-Deployment": "mainframe"})) as s:
            result, text = await call(s, "jira_get_issue", {"issueKey": "DEMO-1"})
            assert result.is_error and "X-Atlassian-Deployment" in text and "mainframe" in text and "cloud, server" in text
        # Forcing the right type skips detection.
        before = len([r for r in requests_to(dc["jira"]) if r["path"].endswith("/serverInfo")])
        async with connect(gateway.url, dc_headers(dc, **{"X-Atlassian-Deployment": "datacenter"})) as s:
            ok(*await call(s, "jira_get_issue", {"issueKey": "DEMO-1"}))
        assert len([r for r in requests_to(dc["jira"]) if r["path"].endswith("/serverInfo")]) == before

    asyncio.run(main())


def test_issue_analysis_lists_the_issues_comments_on_data_center(gateway, dc):
    """analyze_and_fix_issue and prompts/get analyze_issue read the issue's latest comments through
    the Data Center comment list (REST v2, wiki markup), newest first from Jira, shown oldest first."""
    dc["jira"].control("/_fake/reset", {})

    async def main():
        async with connect(gateway.url, dc_headers(dc)) as s:
            for text in ["Seen on **staging** first", "Also on production", "Fixed by a restart, came back"]:
                ok(*await call(s, "jira_add_comment", {"issueKey": "DEMO-1", "body": text}))
            out = ok(*await call(s, "analyze_and_fix_issue", {"issueKey": "DEMO-1", "projectId": 1, "maxComments": 2}))
            got = await s.get_prompt("analyze_issue", {"issueKey": "DEMO-1", "projectId": "1"})
            none = ok(*await call(s, "analyze_and_fix_issue", {"issueKey": "DEMO-2", "projectId": 1}))
            return out, got.messages[0].content.text, none

    out, prompt, none = asyncio.run(main())
    assert out["mode"] == "prompt"
    comments = out["context"]["comments"]
    assert [c["body"] for c in comments] == ["Also on production", "Fixed by a restart, came back"], comments
    assert all(c["author"] == "Ada Lovelace" and c["created"] for c in comments), comments
    assert "(latest 2 of 3)" in out["prompt"]["user"]
    assert "staging" in prompt and "(latest 3 of 3)" in prompt, prompt
    assert none["context"]["comments"] == [] and "(latest 0 of 0)" in none["prompt"]["user"]
    listed = [r for r in requests_to(dc["jira"]) if r["method"] == "GET" and r["path"] == "/rest/api/2/issue/DEMO-1/comment"]
    assert listed and "orderBy=-created" in listed[0]["query"] and "maxResults=2" in listed[0]["query"], listed


@pytest.mark.native_only  # starts the native binary with a bad environment variable
def test_unknown_deployment_variable_stops_the_native_start_naming_it(tmp_path):
    env = {**os.environ, "JIRA_DEPLOYMENT": "onprem"}
    proc = subprocess.run([BIN, "--bind", "127.0.0.1:0", "--data-dir", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "JIRA_DEPLOYMENT" in proc.stderr and "cloud, server" in proc.stderr, proc.stderr
