"""Confluence connector depth end to end: footer comments, labels, attachments, version history, a
page by title, moving and deleting pages and a bounded space page tree, called with the official
Python SDK client through `mcp-edge` (native, Worker or Lambda, per MCP_EDGE_TARGET) against the
Confluence Cloud fake (every request and reply checked against tests/specs/confluence-v2.json and
confluence-v1.json) and the Server/Data Center fake (shapes from Atlassian's Confluence Server REST
reference, tests/fake-upstream/src/conf_details.rs). Every behaviour test runs on both deployments.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from test_connectors import CONF_TOKEN, EMAIL, LOCAL, Fake, all_tools, call, connect, ok

DC_USER = "svc-confluence"
DC_PASSWORD = "confluence-dc-password-9a7b"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateway next to local fakes"
)


@pytest.fixture(scope="module")
def fakes():
    started = {
        "cloud": Fake("confluence", CONF_TOKEN, EMAIL),
        "dc": Fake("confluence", DC_PASSWORD, DC_USER, deployment="server"),
    }
    yield started
    for f in started.values():
        f.stop()  # asserts that no contract violation went unchecked


@pytest.fixture(scope="module")
def gateway(fakes, tmp_path_factory):
    from conftest import Server

    server = Server(LOCAL + ["--toolsets", "all"], str(tmp_path_factory.mktemp("gw"))).start()
    yield server
    server.stop()


@pytest.fixture(params=["cloud", "dc"])
def site(request, fakes):
    """One deployment's fake, reset to its seed data."""
    fake = fakes[request.param]
    fake.control("/_fake/reset", {})
    return request.param, fake


def headers(kind: str, fake) -> dict:
    if kind == "cloud":
        return {"X-Confluence-URL": fake.url + "/wiki", "X-Confluence-Email": EMAIL, "X-Confluence-Token": CONF_TOKEN}
    return {"X-Confluence-URL": fake.url, "X-Confluence-Email": DC_USER, "X-Confluence-Token": DC_PASSWORD}


def run(gateway, site, body):
    kind, fake = site

    async def main():
        async with connect(gateway.url, headers(kind, fake)) as s:
            return await body(s)

    return asyncio.run(main())


HOME, RUNBOOK1, RUNBOOK12 = "98305", "98306", "98317"
ENG = "65537"


def test_new_tools_are_listed_with_their_annotations(gateway, fakes):
    async def body(s):
        return await all_tools(s)

    tools = run(gateway, ("cloud", fakes["cloud"]), body)
    expected = {
        # name: (readOnly, destructive, idempotent)
        "confluence_list_comments": (True, False, True),
        "confluence_add_comment": (False, False, False),
        "confluence_list_labels": (True, False, True),
        "confluence_add_labels": (False, False, True),
        "confluence_list_attachments": (True, False, True),
        "confluence_list_page_versions": (True, False, True),
        "confluence_get_page_by_title": (True, False, True),
        "confluence_move_page": (False, True, True),
        "confluence_delete_page": (False, True, True),
        "confluence_get_page_tree": (True, False, True),
    }
    for name, (ro, destructive, idem) in expected.items():
        t = tools[name]
        a = t.annotations
        assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == (ro, destructive, idem, True), name
        assert t.output_schema and t.output_schema["type"] == "object", name
        assert t.input_schema.get("additionalProperties") is False, name


def test_comments_list_add_reply_and_the_byte_cap(gateway, site):
    kind, fake = site

    async def body(s):
        listed = ok(*await call(s, "confluence_list_comments", {"pageId": HOME}))
        assert [c["body"].strip() for c in listed["comments"]] == ["Please link the **on-call** rota here.", "Done, see Runbook 1."]
        assert listed["nextCursor"] is None and listed["maxBytes"] == 1048576
        assert all(c["author"] and c["createdAt"] for c in listed["comments"])
        first = ok(*await call(s, "confluence_list_comments", {"pageId": int(HOME), "limit": 1}))
        assert len(first["comments"]) == 1 and first["nextCursor"]
        rest = ok(*await call(s, "confluence_list_comments", {"pageId": HOME, "limit": 1, "cursor": first["nextCursor"]}))
        assert [c["id"] for c in rest["comments"]] == [listed["comments"][1]["id"]]

        added = ok(*await call(s, "confluence_add_comment", {"pageId": HOME, "body": "Looks **good** to me"}))
        assert "**good**" in added["body"] and added["id"]
        reply = ok(*await call(s, "confluence_add_comment", {"pageId": HOME, "body": "<p>thanks</p>", "bodyFormat": "storage", "inReplyTo": added["id"]}))
        assert reply["id"] != added["id"]
        after = ok(*await call(s, "confluence_list_comments", {"pageId": HOME}))
        assert [c["id"] for c in after["comments"]][-1] == added["id"], "replies are not top-level comments"
        assert len(after["comments"]) == 3

        ok(*await call(s, "confluence_add_comment", {"pageId": HOME, "body": "x" * 3000}))
        capped, text = await call(s, "confluence_list_comments", {"pageId": HOME, "maxBytes": 1024})
        assert capped.is_error and "larger than 1024 bytes" in text and "127.0.0.1" in text, text

        missing, text = await call(s, "confluence_list_comments", {"pageId": "999999"})
        assert missing.is_error and "Confluence" in text and "(404)" in text and fake.url.split("//")[1] in text, text
        nowhere, text = await call(s, "confluence_add_comment", {"pageId": "999999", "body": "hi"})
        assert nowhere.is_error and "(404)" in text, text

    run(gateway, site, body)
    posted = [r for r in fake.stats()["recent"] if r["method"] == "POST"]
    want = "/wiki/api/v2/footer-comments" if kind == "cloud" else "/rest/api/content"
    assert posted and all(r["path"] == want for r in posted), posted


def test_labels_list_and_add(gateway, site):
    async def body(s):
        listed = ok(*await call(s, "confluence_list_labels", {"pageId": HOME}))
        assert [l["name"] for l in listed["labels"]] == ["engineering", "home"] and listed["nextCursor"] is None
        page1 = ok(*await call(s, "confluence_list_labels", {"pageId": HOME, "limit": 1}))
        page2 = ok(*await call(s, "confluence_list_labels", {"pageId": HOME, "limit": 1, "cursor": page1["nextCursor"]}))
        assert [l["name"] for l in page1["labels"] + page2["labels"]] == ["engineering", "home"]
        added = ok(*await call(s, "confluence_add_labels", {"pageId": HOME, "labels": ["runbooks", "home"]}))
        assert [l["name"] for l in added["labels"]] == ["engineering", "home", "runbooks"]
        assert all(l["prefix"] == "global" for l in added["labels"])
        again = ok(*await call(s, "confluence_list_labels", {"pageId": HOME}))
        assert len(again["labels"]) == 3
        missing, text = await call(s, "confluence_add_labels", {"pageId": "999999", "labels": ["x"]})
        assert missing.is_error and "(404)" in text, text

    run(gateway, site, body)


def test_attachments_and_versions(gateway, site):
    kind, fake = site

    async def body(s):
        atts = ok(*await call(s, "confluence_list_attachments", {"pageId": HOME}))
        assert [(a["title"], a["mediaType"], a["fileSize"]) for a in atts["attachments"]] == [
            ("architecture.png", "image/png", 48213), ("runbook-index.pdf", "application/pdf", 102400)]
        prefix = fake.url + ("/wiki" if kind == "cloud" else "") + "/download/attachments/98305/architecture.png"
        assert atts["attachments"][0]["downloadUrl"].startswith(prefix), atts["attachments"][0]
        png = ok(*await call(s, "confluence_list_attachments", {"pageId": HOME, "mediaType": "image/png"}))
        assert [a["title"] for a in png["attachments"]] == ["architecture.png"]
        named = ok(*await call(s, "confluence_list_attachments", {"pageId": HOME, "filename": "runbook-index.pdf"}))
        assert [a["id"] for a in named["attachments"]] == ["att720898"]

        versions = ok(*await call(s, "confluence_list_page_versions", {"pageId": HOME, "limit": 2}))
        assert [v["number"] for v in versions["versions"]] == [3, 2] and versions["nextCursor"]
        older = ok(*await call(s, "confluence_list_page_versions", {"pageId": HOME, "limit": 2, "cursor": versions["nextCursor"]}))
        assert [(v["number"], v["message"]) for v in older["versions"]] == [(1, "Created")] and older["nextCursor"] is None
        ok(*await call(s, "confluence_update_page", {"pageId": RUNBOOK1, "body": "v2 of it"}))
        bumped = ok(*await call(s, "confluence_list_page_versions", {"pageId": RUNBOOK1}))
        assert [v["number"] for v in bumped["versions"]] == [2, 1]
        missing, text = await call(s, "confluence_list_page_versions", {"pageId": "999999"})
        assert missing.is_error and "(404)" in text, text

    run(gateway, site, body)


def test_page_by_title(gateway, site):
    async def body(s):
        page = ok(*await call(s, "confluence_get_page_by_title", {"spaceId": ENG, "title": "Runbook 3"}))
        assert (page["id"], page["title"], page["parentId"], page["spaceId"]) == ("98308", "Runbook 3", HOME, ENG)
        assert page["body"].strip() == "Steps for runbook 3."
        other_space, text = await call(s, "confluence_get_page_by_title", {"spaceId": 65538, "title": "Runbook 3"})
        assert other_space.is_error and "no page titled 'Runbook 3' in space 65538" in text, text
        capped, text = await call(s, "confluence_get_page_by_title", {"spaceId": ENG, "title": "Engineering Home", "maxBytes": 1024})
        assert capped.is_error and "larger than 1024 bytes" in text, text

    run(gateway, site, body)


def test_move_and_delete(gateway, site):
    async def body(s):
        moved = ok(*await call(s, "confluence_move_page", {"pageId": RUNBOOK12, "position": "append", "targetId": RUNBOOK1}))
        assert moved == {"pageId": RUNBOOK12, "position": "append", "targetId": RUNBOOK1, "moved": True}
        kids = ok(*await call(s, "confluence_get_page_children", {"pageId": RUNBOOK1}))
        assert [c["id"] for c in kids["children"]] == [RUNBOOK12]
        assert ok(*await call(s, "confluence_get_page", {"pageId": RUNBOOK12}))["parentId"] == RUNBOOK1
        ok(*await call(s, "confluence_move_page", {"pageId": RUNBOOK12, "position": "before", "targetId": HOME}))
        assert ok(*await call(s, "confluence_get_page", {"pageId": RUNBOOK12}))["parentId"] is None
        loop, text = await call(s, "confluence_move_page", {"pageId": HOME, "position": "append", "targetId": RUNBOOK1})
        assert loop.is_error and "(400)" in text, text

        gone = ok(*await call(s, "confluence_delete_page", {"pageId": RUNBOOK12}))
        assert gone == {"pageId": RUNBOOK12, "deleted": True}
        after, text = await call(s, "confluence_get_page", {"pageId": RUNBOOK12})
        assert after.is_error and "(404)" in text, text
        twice, text = await call(s, "confluence_delete_page", {"pageId": RUNBOOK12})
        assert twice.is_error and "(404)" in text, text

    run(gateway, site, body)


def test_page_tree_within_its_bounds(gateway, site):
    async def body(s):
        tree = ok(*await call(s, "confluence_get_page_tree", {"spaceId": ENG}))
        assert (tree["maxDepth"], tree["maxPages"], tree["truncated"]) == (3, 200, False)
        assert tree["pages"][0] == {"id": HOME, "title": "Engineering Home", "parentId": None, "depth": 1}
        runbooks = tree["pages"][1:]
        assert len(runbooks) == 12 and all(p["parentId"] == HOME and p["depth"] == 2 for p in runbooks)
        assert tree["requests"] == 14, "the space's top level, the home page's children, then each runbook's"
        top = ok(*await call(s, "confluence_get_page_tree", {"spaceId": ENG, "maxDepth": 1}))
        assert [p["id"] for p in top["pages"]] == [HOME] and top["requests"] == 1 and not top["truncated"]
        few = ok(*await call(s, "confluence_get_page_tree", {"spaceId": ENG, "maxPages": 5}))
        assert len(few["pages"]) == 5 and few["truncated"] is True and few["maxPages"] == 5
        ok(*await call(s, "confluence_move_page", {"pageId": RUNBOOK12, "position": "append", "targetId": RUNBOOK1}))
        sub = ok(*await call(s, "confluence_get_page_tree", {"spaceId": ENG, "rootPageId": RUNBOOK1}))
        assert sub["pages"] == [{"id": RUNBOOK12, "title": "Runbook 12", "parentId": RUNBOOK1, "depth": 1}]

    run(gateway, site, body)


@pytest.mark.parametrize("name,args,pointer", [
    ("confluence_add_labels", {"pageId": HOME, "labels": ["has space"]}, "/labels/0"),
    ("confluence_move_page", {"pageId": HOME, "position": "inside", "targetId": RUNBOOK1}, "/position"),
    ("confluence_get_page_tree", {"spaceId": ENG, "maxDepth": 0}, "/maxDepth"),
    ("confluence_list_comments", {"pageId": "abc"}, "/pageId"),
    ("confluence_list_comments", {"pageId": HOME, "maxBytes": 10}, "/maxBytes"),
    ("confluence_get_page_by_title", {"spaceId": ENG}, "title"),
    ("confluence_delete_page", {"pageId": HOME, "force": True}, "force"),
])
def test_bad_arguments_are_refused_with_their_path(gateway, fakes, name, args, pointer):
    fake = fakes["cloud"]
    fake.control("/_fake/reset", {})

    async def body(s):
        return await s.call_tool(name, args)

    with pytest.raises(Exception) as err:
        run(gateway, ("cloud", fake), body)
    assert "-32602" in repr(err.value) and pointer in repr(err.value), repr(err.value)
    assert fake.stats()["requests"] == 0, "refused before any upstream call"


def test_server_data_center_at_a_wiki_context_path(gateway):
    """A Data Center deployed under `/wiki` (the URL ends in it): the deployment probe looks for
    Cloud's `/wiki/rest/api/settings/systemInfo`, finds none, and every call goes below `/wiki`."""
    fake = Fake("confluence", DC_PASSWORD, DC_USER, deployment="server", context_path="/wiki")
    try:
        async def body(s):
            page = ok(*await call(s, "confluence_get_page", {"pageId": HOME}))
            assert page["url"].startswith(fake.url + "/wiki/display/ENG/"), page["url"]
            labels = ok(*await call(s, "confluence_list_labels", {"pageId": HOME}))
            assert [l["name"] for l in labels["labels"]] == ["engineering", "home"]
            atts = ok(*await call(s, "confluence_list_attachments", {"pageId": HOME, "limit": 1}))
            assert atts["attachments"][0]["downloadUrl"].startswith(fake.url + "/wiki/download/attachments/")

        async def main():
            h = {**headers("dc", fake), "X-Confluence-URL": fake.url + "/wiki"}
            async with connect(gateway.url, h) as s:
                await body(s)

        asyncio.run(main())
        paths = [r["path"] for r in fake.stats()["recent"] if not r["path"].startswith("/_fake")]
        assert paths[0] == "/wiki/rest/api/settings/systemInfo", paths
        assert paths[1:] and all(p.startswith("/wiki/rest/api/") for p in paths[1:]), paths
    finally:
        fake.stop()
