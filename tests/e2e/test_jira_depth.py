"""Jira connector depth end to end: worklogs, attachments (listed, and read as size-capped
`jira://attachment/{id}` resources), issue links, user search, watchers, the changelog, create-issue
field metadata and custom fields set by name, deleting an issue, bulk create, and Jira Software boards,
sprints and epics. Every test runs against the Jira Cloud fake (each request and reply checked against
tests/specs/jira-platform-v3.json and tests/specs/jira-software-agile.json) and the Jira
Server/Data Center fake (REST v2 shapes from Atlassian's DC references), with the same tool calls and
the same expected results, called with the official Python SDK client through `mcp-edge` (native,
Worker or Lambda, per MCP_EDGE_TARGET).
"""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from mcp.shared.exceptions import MCPError
from test_connectors import EMAIL, JIRA_TOKEN, LOCAL, Fake, all_tools, call, connect, ok

JIRA_PAT = "jira-dc-pat-depth-6b2c"
# Who each deployment names a user by: Cloud accountId, Server/Data Center username.
LINUS = {"cloud": "712020:3f2a9d04-9c1e-4e55-8d0b-5a6b7c8d9e0f", "server": "linus"}
CAP = 1024 * 1024

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateway next to local fakes"
)


@pytest.fixture(scope="module")
def fakes():
    started = {
        "cloud": Fake("jira", JIRA_TOKEN, EMAIL, name="jira-depth-cloud"),
        "server": Fake("jira", JIRA_PAT, deployment="server", name="jira-depth-dc"),
    }
    yield started
    for f in started.values():
        f.stop()  # asserts that no contract violation went unchecked


@pytest.fixture(scope="module")
def gateway(fakes, tmp_path_factory):
    from conftest import Server

    server = Server(LOCAL + ["--toolsets", "all"], str(tmp_path_factory.mktemp("gw-jira"))).start()
    yield server
    server.stop()


@pytest.fixture(params=["cloud", "server"])
def jira(request, fakes):
    """Each test starts from the fake's seed data, once per deployment."""
    fake = fakes[request.param]
    fake.control("/_fake/reset", {})
    fake.deployment = request.param
    return fake


def headers(jira) -> dict:
    if jira.deployment == "cloud":
        return {"X-Jira-URL": jira.url, "X-Jira-Token": JIRA_TOKEN, "X-Jira-Email": EMAIL}
    return {"X-Atlassian-Jira-Url": jira.url, "X-Atlassian-Jira-Personal-Token": JIRA_PAT}


def run(gateway, jira, body):
    async def main():
        async with connect(gateway.url, headers(jira)) as s:
            return await body(s)

    return asyncio.run(main())


def sent(jira, method: str, suffix: str) -> list[dict]:
    return [r for r in jira.stats()["recent"] if r["method"] == method and r["path"].endswith(suffix)]


EXPECTED = {
    # name: (readOnly, destructive, idempotent)
    "jira_list_worklogs": (True, False, True),
    "jira_add_worklog": (False, False, False),
    "jira_list_attachments": (True, False, True),
    "jira_link_issues": (False, False, False),
    "jira_list_link_types": (True, False, True),
    "jira_search_users": (True, False, True),
    "jira_get_create_fields": (True, False, True),
    "jira_get_changelog": (True, False, True),
    "jira_list_watchers": (True, False, True),
    "jira_add_watcher": (False, False, True),
    "jira_delete_issue": (False, True, True),
    "jira_create_issues": (False, False, False),
    "jira_list_boards": (True, False, True),
    "jira_list_sprints": (True, False, True),
    "jira_get_sprint_issues": (True, False, True),
    "jira_move_issues_to_sprint": (False, False, True),
    "jira_get_epic_issues": (True, False, True),
}


def test_new_tools_are_listed_with_their_annotations_and_the_attachment_template(gateway, fakes):
    async def body(s):
        tools = await all_tools(s)
        templates = (await s.list_resource_templates()).resource_templates
        return tools, templates

    fake = fakes["cloud"]
    fake.deployment = "cloud"
    tools, templates = run(gateway, fake, body)
    for name, (ro, destructive, idem) in EXPECTED.items():
        t = tools[name]
        a = t.annotations
        assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == (ro, destructive, idem, True), name
        assert t.output_schema and t.output_schema["type"] == "object", name
        assert t.input_schema.get("additionalProperties") is False, name
    assert "customFields" in tools["jira_create_issue"].input_schema["properties"]
    [attachment] = [t for t in templates if t.uri_template == "jira://attachment/{id}"]
    assert "1048576" in attachment.description


def test_worklogs(gateway, jira):
    async def body(s):
        listed = ok(*await call(s, "jira_list_worklogs", {"issueKey": "DEMO-1"}))
        added = ok(*await call(s, "jira_add_worklog", {
            "issueKey": "DEMO-1", "timeSpent": "1h 30m", "started": "2026-01-07T09:00:00.000+0000",
            "comment": "Paired on the **fix**"}))
        second = ok(*await call(s, "jira_list_worklogs", {"issueKey": "DEMO-1", "startAt": 2, "maxResults": 1}))
        missing, text = await call(s, "jira_add_worklog", {"issueKey": "DEMO-99", "timeSpentSeconds": 600})
        return listed, added, second, (missing, text)

    listed, added, second, (missing, text) = run(gateway, jira, body)
    assert [(w["id"], w["timeSpentSeconds"], w["author"]) for w in listed["worklogs"]] == [
        ("50001", 3600, "Ada Lovelace"), ("50002", 5400, "Ada Lovelace")]
    assert listed["worklogs"][0]["comment"] == "Reproduced the loop" and listed["worklogs"][1]["comment"] is None
    assert (listed["total"], listed["isLast"]) == (2, True)
    w = added["worklog"]
    assert (w["timeSpentSeconds"], w["timeSpent"], w["started"]) == (5400, "1h 30m", "2026-01-07T09:00:00.000+0000")
    assert "fix" in w["comment"]
    assert [x["id"] for x in second["worklogs"]] == [w["id"]] and (second["startAt"], second["total"], second["isLast"]) == (2, 3, True)
    body = sent(jira, "POST", "/issue/DEMO-1/worklog")[0]["body"]
    if jira.deployment == "cloud":
        assert body["comment"]["type"] == "doc", "Cloud takes ADF"
    else:
        assert body["comment"] == "Paired on the *fix*", "Server/Data Center takes wiki markup"
    assert missing.is_error and "(404)" in text and "Jira at 127.0.0.1" in text, text


def test_attachments_are_listed_and_read_as_capped_resources(gateway, jira):
    async def body(s):
        listed = ok(*await call(s, "jira_list_attachments", {"issueKey": "DEMO-1"}))
        none = ok(*await call(s, "jira_list_attachments", {"issueKey": "DEMO-2"}))
        text = await s.read_resource("jira://attachment/10100")
        png = await s.read_resource("jira://attachment/10101")
        errors = []
        for uri in ["jira://attachment/10102", "jira://attachment/10103", "jira://attachment/999"]:
            with pytest.raises(MCPError) as e:
                await s.read_resource(uri)
            errors.append(e.value.error.message)
        return listed, none, text, png, errors

    listed, none, text, png, (big, misreported, missing) = run(gateway, jira, body)
    assert listed["maxResourceBytes"] == CAP and none["attachments"] == []
    by_name = {a["filename"]: a for a in listed["attachments"]}
    assert by_name["notes.txt"]["resourceUri"] == "jira://attachment/10100"
    assert (by_name["pixel.png"]["mimeType"], by_name["pixel.png"]["size"]) == ("image/png", 67)
    assert by_name["big.log"]["size"] > CAP
    [t] = text.contents
    assert t.mime_type == "text/plain" and t.text.startswith("Build steps:\n1. cargo build")
    [b] = png.contents
    raw = base64.b64decode(b.blob)
    assert b.mime_type == "image/png" and raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) == 67
    assert "1048576" in big and str(by_name["big.log"]["size"]) in big, big
    assert "1048576" in misreported, "the cap holds while reading, even when the metadata says 64 bytes: " + misreported
    assert "999" in missing
    content = [r for r in jira.stats()["recent"] if "attachment" in r["path"] and "10101" in r["path"] and r["method"] == "GET"]
    if jira.deployment == "cloud":
        assert any(r["path"] == "/rest/api/3/attachment/content/10101" and "redirect=false" in r["query"] for r in content)
    else:
        assert any(r["path"] == "/secure/attachment/10101/pixel.png" for r in content)
    assert not any("big.log" in r["path"] or r["path"].endswith("/content/10102") for r in jira.stats()["recent"]), \
        "a file larger than the cap by its metadata is not downloaded"


def test_issue_links_and_link_types(gateway, jira):
    async def body(s):
        types = ok(*await call(s, "jira_list_link_types", {}))
        linked = ok(*await call(s, "jira_link_issues", {
            "linkType": "blocks", "outwardIssue": "DEMO-1", "inwardIssue": "DEMO-2", "comment": "Found while testing"}))
        bad, text = await call(s, "jira_link_issues", {"linkType": "Causes", "outwardIssue": "DEMO-1", "inwardIssue": "DEMO-2"})
        return types, linked, (bad, text)

    types, linked, (bad, text) = run(gateway, jira, body)
    assert [(t["name"], t["inward"], t["outward"]) for t in types["linkTypes"]][0] == ("Blocks", "is blocked by", "blocks")
    assert linked == {"linkType": "blocks", "inwardIssue": "DEMO-2", "outwardIssue": "DEMO-1"}
    [req] = sent(jira, "POST", "/issueLink")[:1]
    assert req["body"]["type"] == {"name": "blocks"} and req["body"]["inwardIssue"] == {"key": "DEMO-2"}
    assert bad.is_error and "(404)" in text and "Causes" in text, text


def test_user_search_and_watchers(gateway, jira):
    who = LINUS[jira.deployment]

    async def body(s):
        found = ok(*await call(s, "jira_search_users", {"query": "linus"}))
        before = ok(*await call(s, "jira_list_watchers", {"issueKey": "DEMO-1"}))
        added = ok(*await call(s, "jira_add_watcher", {"issueKey": "DEMO-1", "user": who}))
        after = ok(*await call(s, "jira_list_watchers", {"issueKey": "DEMO-1"}))
        unknown, text = await call(s, "jira_add_watcher", {"issueKey": "DEMO-1", "user": "nobody"})
        return found, before, added, after, (unknown, text)

    found, before, added, after, (unknown, text) = run(gateway, jira, body)
    [u] = found["users"]
    assert u["displayName"] == "Linus Torvalds"
    if jira.deployment == "cloud":
        assert u["accountId"] == who
    else:
        assert (u["name"], u["accountId"]) == ("linus", None)
    assert (before["watchCount"], [w["displayName"] for w in before["watchers"]]) == (1, ["Ada Lovelace"])
    assert added == {"issueKey": "DEMO-1", "user": who}
    assert after["watchCount"] == 2 and after["watchers"][1]["displayName"] == "Linus Torvalds"
    assert sent(jira, "POST", "/issue/DEMO-1/watchers")[0]["body"] == who, "the body is the bare JSON string"
    q = sent(jira, "GET", "/user/search")[0]["query"]
    assert q.startswith("query=linus" if jira.deployment == "cloud" else "username=linus"), q
    assert unknown.is_error and "(404)" in text, text


def test_create_fields_and_custom_fields_by_name(gateway, jira):
    reviewer = LINUS[jira.deployment]

    async def body(s):
        meta = ok(*await call(s, "jira_get_create_fields", {"projectKey": "DEMO", "issueType": "bug"}))
        created = ok(*await call(s, "jira_create_issue", {
            "projectKey": "DEMO", "summary": "With custom fields",
            "customFields": {"story points": 5, "Team": "Platform", "Reviewer": reviewer, "customfield_10030": "S2"}}))
        unknown, t1 = await call(s, "jira_create_issue", {"projectKey": "DEMO", "summary": "x", "customFields": {"Sprint goal": "y"}})
        ambiguous, t2 = await call(s, "jira_create_issue", {"projectKey": "DEMO", "summary": "x", "customFields": {"Severity": "y"}})
        bad_type, t3 = await call(s, "jira_get_create_fields", {"projectKey": "DEMO", "issueType": "Story"})
        return meta, created, (unknown, t1), (ambiguous, t2), (bad_type, t3)

    meta, created, (unknown, t1), (ambiguous, t2), (bad_type, t3) = run(gateway, jira, body)
    assert meta["issueType"] == {"id": "10004", "name": "Bug"} and meta["truncated"] is False
    fields = {f["fieldId"]: f for f in meta["fields"]}
    assert (fields["summary"]["required"], fields["customfield_10010"]["name"], fields["customfield_10010"]["type"]) == (True, "Story Points", "number")
    assert fields["customfield_10020"]["allowedValues"] == ["Platform", "Mobile"] and fields["customfield_10020"]["custom"] is True
    assert created["key"].startswith("DEMO-")
    posted = [r for r in sent(jira, "POST", "/issue") if r["body"]["fields"]["summary"] == "With custom fields"][0]["body"]["fields"]
    user_ref = {"accountId": reviewer} if jira.deployment == "cloud" else {"name": reviewer}
    assert (posted["customfield_10010"], posted["customfield_10020"], posted["customfield_10040"], posted["customfield_10030"]) == (
        5, {"value": "Platform"}, user_ref, "S2")
    assert unknown.is_error and "Sprint goal" in t1 and "Story Points" in t1, t1
    assert ambiguous.is_error and "ambiguous" in t2 and "customfield_10030" in t2 and "customfield_10031" in t2, t2
    assert bad_type.is_error and "Story" in t3 and "Task, Bug, Epic" in t3, t3
    assert not [r for r in sent(jira, "POST", "/issue") if r["body"]["fields"]["summary"] == "x"], "nothing created on a bad name"


def test_changelog(gateway, jira):
    async def body(s):
        first = ok(*await call(s, "jira_get_changelog", {"issueKey": "DEMO-1", "maxResults": 1}))
        rest = ok(*await call(s, "jira_get_changelog", {"issueKey": "DEMO-1", "startAt": 1}))
        empty = ok(*await call(s, "jira_get_changelog", {"issueKey": "DEMO-2"}))
        return first, rest, empty

    first, rest, empty = run(gateway, jira, body)
    [c] = first["changes"]
    assert (c["author"], c["items"]) == ("Grace Hopper", [{"field": "status", "from": "Backlog", "to": "To Do"}])
    assert (first["total"], first["isLast"]) == (2, False)
    assert rest["changes"][0]["items"][0]["to"] == "Ada Lovelace" and rest["isLast"] is True
    assert (empty["changes"], empty["isLast"]) == ([], True)


def test_delete_issue_and_bulk_create(gateway, jira):
    async def body(s):
        deleted = ok(*await call(s, "jira_delete_issue", {"issueKey": "DEMO-25"}))
        gone, t1 = await call(s, "jira_get_issue", {"issueKey": "DEMO-25"})
        has_subtasks, t2 = await call(s, "jira_delete_issue", {"issueKey": "DEMO-10"})
        with_subtasks = ok(*await call(s, "jira_delete_issue", {"issueKey": "DEMO-10", "deleteSubtasks": True}))
        bulk = ok(*await call(s, "jira_create_issues", {"issues": [
            {"projectKey": "OPS", "summary": "Rotate keys", "description": "Every **90** days", "labels": ["ops"]},
            {"projectKey": "NOPE", "summary": "Refused"},
            {"projectKey": "OPS", "summary": "Renew certificates", "issueType": "Task"},
        ]}))
        all_bad, t3 = await call(s, "jira_create_issues", {"issues": [{"projectKey": "NOPE", "summary": "x"}]})
        return deleted, (gone, t1), (has_subtasks, t2), with_subtasks, bulk, (all_bad, t3)

    deleted, (gone, t1), (has_subtasks, t2), with_subtasks, bulk, (all_bad, t3) = run(gateway, jira, body)
    assert deleted == {"issueKey": "DEMO-25", "deleted": True}
    assert gone.is_error and "(404)" in t1, t1
    assert has_subtasks.is_error and "(400)" in t2 and "subtasks" in t2, t2
    assert with_subtasks["deleted"] is True
    assert sent(jira, "DELETE", "/issue/DEMO-10")[-1]["query"] == "deleteSubtasks=true"
    assert [i["key"] for i in bulk["issues"]] == ["OPS-4", "OPS-5"]
    assert bulk["issues"][0]["url"].endswith("/browse/OPS-4")
    [e] = bulk["errors"]
    assert e["index"] == 1 and "project" in e["message"], e
    updates = sent(jira, "POST", "/issue/bulk")[0]["body"]["issueUpdates"]
    desc = updates[0]["fields"]["description"]
    assert (desc["type"] == "doc") if jira.deployment == "cloud" else (desc == "Every *90* days")
    assert all_bad.is_error and "(400)" in t3 and "issue 0: project" in t3, t3


def test_bulk_create_sets_custom_fields_by_name(gateway, jira):
    reviewer = LINUS[jira.deployment]

    async def body(s):
        bulk = ok(*await call(s, "jira_create_issues", {"issues": [
            {"projectKey": "DEMO", "summary": "Bulk points", "customFields": {"story points": 8, "Team": "Mobile"}},
            {"projectKey": "DEMO", "summary": "Bulk bug", "issueType": "Bug",
             "customFields": {"Reviewer": reviewer, "customfield_10030": "S1"}},
            {"projectKey": "DEMO", "summary": "Bulk plain"},
            {"projectKey": "DEMO", "summary": "Bulk team", "issueType": "Task", "customFields": {"Team": "Platform"}},
        ]}))
        screens = len(sent(jira, "GET", "/issuetypes"))
        unknown, t1 = await call(s, "jira_create_issues", {"issues": [
            {"projectKey": "DEMO", "summary": "Bulk fine"},
            {"projectKey": "DEMO", "summary": "Bulk bad", "customFields": {"Sprint goal": "y"}},
        ]})
        ambiguous, t2 = await call(s, "jira_create_issues", {"issues": [
            {"projectKey": "DEMO", "summary": "Bulk bad", "customFields": {"Severity": "y"}}]})
        return bulk, screens, (unknown, t1), (ambiguous, t2)

    bulk, screens, (unknown, t1), (ambiguous, t2) = run(gateway, jira, body)
    assert len(bulk["issues"]) == 4 and bulk["errors"] == [], bulk
    assert screens == 2, "one create screen read per (project, issue type) of the batch"
    [req] = sent(jira, "POST", "/issue/bulk")
    fields = [u["fields"] for u in req["body"]["issueUpdates"]]
    user_ref = {"accountId": reviewer} if jira.deployment == "cloud" else {"name": reviewer}
    assert (fields[0]["customfield_10010"], fields[0]["customfield_10020"]) == (8, {"value": "Mobile"})
    assert (fields[1]["issuetype"], fields[1]["customfield_10040"], fields[1]["customfield_10030"]) == (
        {"name": "Bug"}, user_ref, "S1")
    assert not any(k.startswith("customfield_") for k in fields[2])
    assert fields[3]["customfield_10020"] == {"value": "Platform"}
    assert unknown.is_error and "issues/1: customFields: no field named 'Sprint goal'" in t1 and "Story Points" in t1, t1
    assert ambiguous.is_error and "issues/0:" in t2 and "customfield_10031" in t2, t2
    assert len(sent(jira, "POST", "/issue/bulk")) == 1, "nothing created when a name does not resolve"


def test_agile_boards_sprints_and_epics(gateway, jira):
    async def body(s):
        boards = ok(*await call(s, "jira_list_boards", {}))
        scrum = ok(*await call(s, "jira_list_boards", {"projectKey": "DEMO", "type": "scrum"}))
        sprints = ok(*await call(s, "jira_list_sprints", {"boardId": 1}))
        open_ = ok(*await call(s, "jira_list_sprints", {"boardId": 1, "state": ["active", "future"], "maxResults": 1}))
        kanban, t1 = await call(s, "jira_list_sprints", {"boardId": 2})
        active = ok(*await call(s, "jira_get_sprint_issues", {"sprintId": 2, "maxResults": 2}))
        backend = ok(*await call(s, "jira_get_sprint_issues", {"sprintId": 2, "jql": "labels = backend"}))
        moved = ok(*await call(s, "jira_move_issues_to_sprint", {"sprintId": 3, "issueKeys": ["DEMO-4", "DEMO-20"]}))
        future = ok(*await call(s, "jira_get_sprint_issues", {"sprintId": 3}))
        after = ok(*await call(s, "jira_get_sprint_issues", {"sprintId": 2}))
        closed, t2 = await call(s, "jira_move_issues_to_sprint", {"sprintId": 1, "issueKeys": ["DEMO-5"]})
        epic = ok(*await call(s, "jira_get_epic_issues", {"epicKey": "DEMO-10"}))
        not_epic, t3 = await call(s, "jira_get_epic_issues", {"epicKey": "DEMO-1"})
        return boards, scrum, sprints, open_, (kanban, t1), active, backend, moved, future, after, (closed, t2), epic, (not_epic, t3)

    (boards, scrum, sprints, open_, (kanban, t1), active, backend, moved, future, after, (closed, t2), epic,
     (not_epic, t3)) = run(gateway, jira, body)
    assert [(b["id"], b["type"], b["projectKey"]) for b in boards["boards"]] == [(1, "scrum", "DEMO"), (2, "kanban", "OPS")]
    assert [b["name"] for b in scrum["boards"]] == ["DEMO board"] and scrum["isLast"] is True
    assert [(s_["id"], s_["state"]) for s_ in sprints["sprints"]] == [(1, "closed"), (2, "active"), (3, "future")]
    assert sprints["sprints"][0]["completeDate"] and sprints["sprints"][2]["startDate"] is None
    assert [s_["id"] for s_ in open_["sprints"]] == [2] and (open_["total"], open_["isLast"]) == (2, False)
    assert kanban.is_error and "(400)" in t1 and "does not support sprints" in t1, t1
    assert [i["key"] for i in active["issues"]] == ["DEMO-4", "DEMO-5"] and (active["total"], active["isLast"]) == (5, False)
    assert active["issues"][0]["status"] == "To Do" and active["issues"][0]["url"].endswith("/browse/DEMO-4")
    assert [i["key"] for i in backend["issues"]] == ["DEMO-5", "DEMO-7"]
    assert moved == {"sprintId": 3, "moved": ["DEMO-4", "DEMO-20"]}
    assert [i["key"] for i in future["issues"]] == ["DEMO-4", "DEMO-20"]
    assert "DEMO-4" not in [i["key"] for i in after["issues"]]
    assert sent(jira, "POST", "/rest/agile/1.0/sprint/3/issue")[0]["body"] == {"issues": ["DEMO-4", "DEMO-20"]}
    assert closed.is_error and "(400)" in t2 and "open or active" in t2, t2
    assert [i["key"] for i in epic["issues"]] == ["DEMO-11", "DEMO-12"]
    assert not_epic.is_error and "(400)" in t3 and "not an epic" in t3, t3


def test_upstream_failures_name_service_host_status(gateway, fakes):
    jira = fakes["cloud"]
    jira.deployment = "cloud"
    jira.control("/_fake/reset", {})

    async def body(s):
        ok(*await call(s, "jira_list_link_types", {}))  # detects the deployment first
        jira.control("/_fake/faults", {"status": 500, "count": 3})
        return await call(s, "jira_list_boards", {})

    failed, text = run(gateway, jira, body)
    host = jira.url.split("//", 1)[1]
    assert failed.is_error and f"Jira at {host} is unavailable (500)" in text and "try again later" in text, text


@pytest.mark.parametrize("name,args,pointer", [
    ("jira_add_worklog", {"issueKey": "DEMO-1", "timeSpent": "ninety minutes"}, "/timeSpent"),
    ("jira_add_worklog", {"issueKey": "DEMO-1", "timeSpent": "1h", "started": "yesterday"}, "/started"),
    ("jira_list_worklogs", {"issueKey": "DEMO-1", "maxResults": 500}, "/maxResults"),
    ("jira_move_issues_to_sprint", {"sprintId": 2, "issueKeys": []}, "/issueKeys"),
    ("jira_move_issues_to_sprint", {"sprintId": 0, "issueKeys": ["DEMO-1"]}, "/sprintId"),
    ("jira_create_issues", {"issues": [{"projectKey": "DEMO", "summary": "s", "priority": "High"}]}, "/issues/0"),
    ("jira_get_epic_issues", {"epicKey": "not a key"}, "/epicKey"),
    ("jira_list_sprints", {"boardId": 1, "state": ["done"]}, "/state/0"),
    ("jira_create_issue", {"projectKey": "DEMO", "summary": "s", "customFields": {}}, "/customFields"),
    ("jira_create_issues", {"issues": [{"projectKey": "DEMO", "summary": "s"},
                                       {"projectKey": "DEMO", "summary": "s", "customFields": []}]}, "/issues/1/customFields"),
    ("jira_delete_issue", {"issueKey": "DEMO-1", "deleteSubtasks": "yes"}, "/deleteSubtasks"),
])
def test_bad_arguments_are_refused_with_their_path(gateway, fakes, name, args, pointer):
    jira = fakes["cloud"]
    jira.deployment = "cloud"
    jira.control("/_fake/reset", {})

    async def body(s):
        return await s.call_tool(name, args)

    with pytest.raises(Exception) as err:
        run(gateway, jira, body)
    assert "-32602" in repr(err.value) and pointer in repr(err.value), repr(err.value)
    assert jira.stats()["requests"] == 0, "refused before any upstream call"
