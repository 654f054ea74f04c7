"""GitLab connector depth end to end: CI pipelines and jobs, tail-capped job logs, merge request
threads, approvals, sha-guarded merges and byte-budgeted diffs, called with the official Python SDK
client through `mcp-edge` (native, Worker or Lambda, per MCP_EDGE_TARGET) against the GitLab fake,
which checks every request and reply against tests/specs/gitlab-v4.openapi-extract.json
(GitLab's generated OpenAPI document where it has the operation, the REST pages otherwise).
"""

from __future__ import annotations

import asyncio
import os

import pytest
from test_connectors import GITLAB_TOKEN, LOCAL, Fake, call, connect, ok

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateway next to a local fake"
)


@pytest.fixture(scope="module")
def gitlab():
    fake = Fake("gitlab", GITLAB_TOKEN, name="gitlab-depth")
    yield fake
    fake.stop()  # asserts that no contract violation went unchecked


@pytest.fixture(scope="module")
def gateway(gitlab, tmp_path_factory):
    from conftest import Server

    server = Server(LOCAL + ["--toolsets", "all"], str(tmp_path_factory.mktemp("gw"))).start()
    yield server
    server.stop()


@pytest.fixture()
def fresh(gitlab):
    """Each test starts from the fake's seed data."""
    gitlab.control("/_fake/reset", {})
    return gitlab


def headers(gitlab) -> dict:
    return {"X-GitLab-API-URL": gitlab.url, "Private-Token": GITLAB_TOKEN}


def run(gateway, gitlab, body):
    async def main():
        async with connect(gateway.url, headers(gitlab)) as s:
            return await body(s)

    return asyncio.run(main())


def test_new_tools_are_listed_with_their_annotations(gateway, fresh):
    async def body(s):
        return {t.name: t for t in (await s.list_tools()).tools}

    tools = run(gateway, fresh, body)
    expected = {
        # name: (readOnly, destructive, idempotent)
        "gitlab_list_pipelines": (True, False, True),
        "gitlab_get_pipeline": (True, False, True),
        "gitlab_list_pipeline_jobs": (True, False, True),
        "gitlab_get_job_log": (True, False, True),
        "gitlab_create_pipeline": (False, False, False),
        "gitlab_retry_pipeline": (False, False, False),
        "gitlab_cancel_pipeline": (False, False, True),
        "gitlab_get_merge_request_diffs": (True, False, True),
        "gitlab_list_merge_request_discussions": (True, False, True),
        "gitlab_create_merge_request_discussion": (False, False, False),
        "gitlab_reply_to_merge_request_discussion": (False, False, False),
        "gitlab_resolve_merge_request_discussion": (False, False, True),
        "gitlab_approve_merge_request": (False, False, True),
        "gitlab_unapprove_merge_request": (False, False, True),
        "gitlab_merge_merge_request": (False, True, False),
        "gitlab_list_commits": (True, False, True),
        "gitlab_get_commit": (True, False, True),
        "gitlab_get_commit_diff": (True, False, True),
        "gitlab_compare": (True, False, True),
        "gitlab_list_repository_tree": (True, False, True),
        "gitlab_commit_files": (False, True, False),
        "gitlab_get_current_user": (True, False, True),
        "gitlab_list_group_projects": (True, False, True),
        "gitlab_list_labels": (True, False, True),
        "gitlab_create_label": (False, False, False),
        "gitlab_list_milestones": (True, False, True),
        "gitlab_list_releases": (True, False, True),
        "gitlab_list_wiki_pages": (True, False, True),
        "gitlab_get_wiki_page": (True, False, True),
        "gitlab_create_wiki_page": (False, False, False),
        "gitlab_update_wiki_page": (False, True, True),
    }
    for name, (ro, destructive, idem) in expected.items():
        t = tools[name]
        a = t.annotations
        assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == (ro, destructive, idem, True), name
        assert t.output_schema and t.output_schema["type"] == "object", name
        assert t.input_schema.get("additionalProperties") is False, name


def test_pipelines_jobs_and_actions(gateway, fresh):
    async def body(s):
        listed = ok(*await call(s, "gitlab_list_pipelines", {"projectId": "demo-group/demo-project", "perPage": 2}))
        assert [p["id"] for p in listed["pipelines"]] == [103, 102], "newest first"
        assert (listed["nextPage"], listed["total"]) == (2, 3)
        failed = ok(*await call(s, "gitlab_list_pipelines", {"projectId": 1, "status": "failed"}))
        assert [p["id"] for p in failed["pipelines"]] == [102]
        one = ok(*await call(s, "gitlab_get_pipeline", {"projectId": 1, "pipelineId": 102}))
        assert (one["status"], one["ref"], one["user"], one["duration"]) == ("failed", "develop", "dev", 61)
        jobs = ok(*await call(s, "gitlab_list_pipeline_jobs", {"projectId": 1, "pipelineId": 102}))
        assert [(j["name"], j["status"]) for j in jobs["jobs"]] == [("build", "success"), ("test", "failed")]
        only_failed = ok(*await call(s, "gitlab_list_pipeline_jobs", {"projectId": 1, "pipelineId": 102, "scope": ["failed"]}))
        assert [(j["id"], j["failureReason"]) for j in only_failed["jobs"]] == [(204, "script_failure")]

        retried = ok(*await call(s, "gitlab_retry_pipeline", {"projectId": 1, "pipelineId": 102}))
        assert retried["status"] == "pending"
        canceled = ok(*await call(s, "gitlab_cancel_pipeline", {"projectId": 1, "pipelineId": 103}))
        assert canceled["status"] == "canceled"
        created = ok(*await call(s, "gitlab_create_pipeline", {
            "projectId": 1, "ref": "develop", "variables": [{"key": "DEPLOY", "value": "no"}]}))
        assert (created["status"], created["ref"], created["source"]) == ("created", "develop", "api")
        again = ok(*await call(s, "gitlab_get_pipeline", {"projectId": 1, "pipelineId": created["id"]}))
        assert again["id"] == created["id"]
        bad_ref, text = await call(s, "gitlab_create_pipeline", {"projectId": 1, "ref": "no-such-branch"})
        assert bad_ref.is_error and "(400)" in text and "Reference not found" in text, text
        return True

    assert run(gateway, fresh, body)
    recent = fresh.stats()["recent"]
    create = [r for r in recent if r["method"] == "POST" and r["path"].endswith("/pipeline")]
    assert create[0]["body"] == {"ref": "develop", "variables": [{"key": "DEPLOY", "value": "no", "variable_type": "env_var"}]}


def test_job_log_returns_the_tail_within_the_cap(gateway, fresh):
    async def body(s):
        capped = ok(*await call(s, "gitlab_get_job_log", {"projectId": 1, "jobId": 204, "maxBytes": 4096}))
        whole = ok(*await call(s, "gitlab_get_job_log", {"projectId": 1, "jobId": 201}))
        missing, text = await call(s, "gitlab_get_job_log", {"projectId": 1, "jobId": 999})
        return capped, whole, (missing, text)

    capped, whole, (missing, text) = run(gateway, fresh, body)
    assert capped["truncated"] is True and capped["maxBytes"] == 4096
    assert capped["seenBytes"] > 250_000, "the whole log was read through, only its tail kept"
    assert capped["bytes"] <= 4096 and len(capped["log"].encode()) == capped["bytes"]
    assert capped["log"].endswith("ERROR: Job failed: exit code 1\n"), capped["log"][-200:]
    assert "\ufffd" not in capped["log"], "no character cut in half at the window's start"
    assert (whole["truncated"], whole["log"]) == (False, "Running job build\nJob succeeded\n")
    assert missing.is_error and "404" in text and "127.0.0.1" in text, text


def test_merge_request_threads(gateway, fresh):
    async def body(s):
        listed = ok(*await call(s, "gitlab_list_merge_request_discussions", {"projectId": 1, "mergeRequestIid": 1}))
        [thread] = listed["discussions"]
        assert (thread["resolved"], thread["notes"][0]["filePath"], thread["notes"][0]["line"]) == (False, "src/main.rs", 2)
        reply = ok(*await call(s, "gitlab_reply_to_merge_request_discussion", {
            "projectId": 1, "mergeRequestIid": 1, "discussionId": thread["id"], "body": "Done in the next commit."}))
        assert reply["body"] == "Done in the next commit."
        resolved = ok(*await call(s, "gitlab_resolve_merge_request_discussion", {
            "projectId": 1, "mergeRequestIid": 1, "discussionId": thread["id"]}))
        assert resolved["resolved"] is True and len(resolved["notes"]) == 2
        started = ok(*await call(s, "gitlab_create_merge_request_discussion", {"projectId": 1, "mergeRequestIid": 1, "body": "One more thing"}))
        assert started["notes"][0]["body"] == "One more thing" and started["resolved"] is False
        after = ok(*await call(s, "gitlab_list_merge_request_discussions", {"projectId": 1, "mergeRequestIid": 1}))
        assert [d["resolved"] for d in after["discussions"]] == [True, False]
        bad, text = await call(s, "gitlab_reply_to_merge_request_discussion", {
            "projectId": 1, "mergeRequestIid": 1, "discussionId": "0" * 40, "body": "x"})
        assert bad.is_error and "404" in text, text
        return True

    assert run(gateway, fresh, body)


def test_approvals_and_a_sha_guarded_merge(gateway, fresh):
    async def body(s):
        mr = ok(*await call(s, "gitlab_get_merge_request", {"projectId": 1, "mergeRequestIid": 1, "includeChanges": False}))
        sha = mr["sha"]
        assert sha and len(sha) == 40
        stale, text = await call(s, "gitlab_approve_merge_request", {"projectId": 1, "mergeRequestIid": 1, "sha": "0" * 40})
        assert stale.is_error and "(409)" in text and "SHA does not match" in text, text
        approved = ok(*await call(s, "gitlab_approve_merge_request", {"projectId": 1, "mergeRequestIid": 1, "sha": sha}))
        assert (approved["approved"], approved["approvedBy"], approved["approvalsLeft"]) == (True, ["dev"], 0)
        withdrawn = ok(*await call(s, "gitlab_unapprove_merge_request", {"projectId": 1, "mergeRequestIid": 1}))
        assert (withdrawn["approved"], withdrawn["approvedBy"]) == (False, [])
        twice, text = await call(s, "gitlab_unapprove_merge_request", {"projectId": 1, "mergeRequestIid": 1})
        assert twice.is_error and "304" in text and "redirect" not in text, text

        guarded, text = await call(s, "gitlab_merge_merge_request", {"projectId": 1, "mergeRequestIid": 1, "sha": "deadbeef"})
        assert guarded.is_error and "(409)" in text and "SHA does not match" in text, text
        merged = ok(*await call(s, "gitlab_merge_merge_request", {"projectId": 1, "mergeRequestIid": 1, "sha": sha, "squash": False}))
        assert (merged["state"], merged["mergedBy"]) == ("merged", "dev") and merged["mergeCommitSha"]
        again, text = await call(s, "gitlab_merge_merge_request", {"projectId": 1, "mergeRequestIid": 1, "sha": sha})
        assert again.is_error and "(405)" in text, text
        return True

    assert run(gateway, fresh, body)
    merges = [r for r in fresh.stats()["recent"] if r["path"].endswith("/merge")]
    assert len(merges) == 3 and all(r["body"].get("sha") for r in merges), merges


def test_merge_request_diffs_within_a_byte_budget(gateway, fresh):
    async def body(s):
        whole = ok(*await call(s, "gitlab_get_merge_request_diffs", {"projectId": 1, "mergeRequestIid": 1}))
        cut = ok(*await call(s, "gitlab_get_merge_request_diffs", {"projectId": 1, "mergeRequestIid": 1, "maxBytes": 1024, "perPage": 1, "page": 2}))
        return whole, cut

    whole, cut = run(gateway, fresh, body)
    assert [c["newPath"] for c in whole["changes"]] == ["src/main.rs", "CHANGELOG.md"]
    assert whole["truncated"] is False and whole["bytes"] == sum(len(c["diff"].encode()) for c in whole["changes"])
    assert whole["maxBytes"] == 262144
    assert [c["newPath"] for c in cut["changes"]] == ["CHANGELOG.md"] and cut["page"] == 2 and cut["nextPage"] is None


SHA = "7b5c3cc8be40ee161ae89a06bba6229da1032a0c"


def test_merge_request_changes_follow_pages_under_a_byte_cap(gateway, fresh):
    """gitlab_get_merge_request reads diff pages (20 files each) under one byte budget, stated in the
    result; pages past the budget are never asked for."""
    async def body(s):
        before = len(diff_pages(fresh))
        whole = ok(*await call(s, "gitlab_get_merge_request", {"projectId": 1, "mergeRequestIid": 3}))
        pages_whole = len(diff_pages(fresh)) - before
        mid = len(diff_pages(fresh))
        capped = ok(*await call(s, "gitlab_get_merge_request", {"projectId": 1, "mergeRequestIid": 3, "maxBytes": 4096}))
        return whole, pages_whole, capped, len(diff_pages(fresh)) - mid

    whole, pages_whole, capped, pages_capped = run(gateway, fresh, body)
    assert len(whole["changes"]) == 30 and pages_whole == 2
    assert (whole["diffBytes"], whole["maxBytes"], whole["changesTruncated"]) == (30 * 817, 262144, False)
    assert capped["maxBytes"] == 4096 and capped["changesTruncated"] is True
    assert capped["diffBytes"] == 4096 == sum(len(c["diff"].encode()) for c in capped["changes"])
    assert [c["diffTruncated"] for c in capped["changes"]] == [False] * 5 + [True]
    assert pages_capped == 1, "the capped read stopped after its first page"


def diff_pages(fake) -> list[dict]:
    return [r for r in fake.stats()["recent"] if r["method"] == "GET" and "/merge_requests/3/diffs" in r["path"]]


def test_line_comments_on_a_merge_request_diff(gateway, fresh):
    async def body(s):
        mr = ok(*await call(s, "gitlab_get_merge_request", {"projectId": 1, "mergeRequestIid": 1, "includeChanges": False}))
        refs = mr["diffRefs"]
        position = {"baseSha": refs["baseSha"], "startSha": refs["startSha"], "headSha": refs["headSha"],
                    "newPath": "src/main.rs", "newLine": 2}
        added = ok(*await call(s, "gitlab_create_merge_request_discussion", {
            "projectId": 1, "mergeRequestIid": 1, "body": "Print the version here?", "position": position}))
        removed = ok(*await call(s, "gitlab_create_merge_request_discussion", {
            "projectId": 1, "mergeRequestIid": 1, "body": "Was this needed?",
            "position": {**{k: v for k, v in position.items() if k != "newLine"}, "oldLine": 2}}))
        elsewhere, text = await call(s, "gitlab_create_merge_request_discussion", {
            "projectId": 1, "mergeRequestIid": 1, "body": "x", "position": {**position, "newPath": "not/in/the/diff.rs"}})
        listed = ok(*await call(s, "gitlab_list_merge_request_discussions", {"projectId": 1, "mergeRequestIid": 1}))
        return refs, added, removed, (elsewhere, text), listed

    refs, added, removed, (elsewhere, text), listed = run(gateway, fresh, body)
    assert refs == {"baseSha": SHA, "startSha": SHA, "headSha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}
    assert (added["notes"][0]["filePath"], added["notes"][0]["line"]) == ("src/main.rs", 2)
    assert removed["notes"][0]["filePath"] == "src/main.rs"
    assert elsewhere.is_error and "(400)" in text and "line_code" in text, text
    assert len(listed["discussions"]) == 3
    sent = [r["body"] for r in fresh.stats()["recent"] if r["method"] == "POST" and r["path"].endswith("/discussions")]
    # GitLab's documented position object: both paths, the given line only.
    assert sent[0]["position"] == {"position_type": "text", "base_sha": SHA, "start_sha": SHA,
                                   "head_sha": refs["headSha"], "new_path": "src/main.rs", "old_path": "src/main.rs", "new_line": 2}
    assert "new_line" not in sent[1]["position"] and sent[1]["position"]["old_line"] == 2
MR_SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


def test_commits_compare_and_tree(gateway, fresh):
    async def body(s):
        develop = ok(*await call(s, "gitlab_list_commits", {"projectId": 1, "ref": "develop"}))
        assert [c["id"] for c in develop["commits"]] == [MR_SHA, SHA]
        main = ok(*await call(s, "gitlab_list_commits", {"projectId": "demo-group/demo-project"}))
        assert [c["id"] for c in main["commits"]] == [SHA]
        readme = ok(*await call(s, "gitlab_list_commits", {"projectId": 1, "ref": "develop", "path": "README.md"}))
        assert [c["id"] for c in readme["commits"]] == [SHA]
        one = ok(*await call(s, "gitlab_get_commit", {"projectId": 1, "sha": MR_SHA}))
        assert (one["title"], one["parentIds"], one["additions"], one["deletions"]) == ("Print the version", [SHA], 1, 1)
        diff = ok(*await call(s, "gitlab_get_commit_diff", {"projectId": 1, "sha": MR_SHA}))
        assert [c["newPath"] for c in diff["changes"]] == ["src/main.rs"] and "Demo v2" in diff["changes"][0]["diff"]
        assert diff["truncated"] is False
        cmp = ok(*await call(s, "gitlab_compare", {"projectId": 1, "from": "main", "to": "develop"}))
        assert [c["id"] for c in cmp["commits"]] == [MR_SHA] and [c["newPath"] for c in cmp["changes"]] == ["src/main.rs"]
        assert cmp["compareSameRef"] is False and cmp["truncated"] is False
        root = ok(*await call(s, "gitlab_list_repository_tree", {"projectId": 1}))
        assert [(i["path"], i["type"]) for i in root["items"]] == [("src", "tree"), ("README.md", "blob")]
        deep = ok(*await call(s, "gitlab_list_repository_tree", {"projectId": 1, "recursive": True}))
        assert ("src/main.rs", "blob") in [(i["path"], i["type"]) for i in deep["items"]]
        missing, text = await call(s, "gitlab_get_commit", {"projectId": 1, "sha": "0" * 40})
        assert missing.is_error and "404" in text, text
        return True

    assert run(gateway, fresh, body)


def test_commit_files_creates_updates_and_deletes(gateway, fresh):
    async def body(s):
        made = ok(*await call(s, "gitlab_commit_files", {
            "projectId": 1, "branch": "docs", "startBranch": "main", "commitMessage": "Add a guide",
            "actions": [
                {"action": "create", "filePath": "docs/guide.md", "content": "Guide"},
                {"action": "update", "filePath": "README.md", "content": "# New readme"},
            ]}))
        assert made["title"] == "Add a guide" and made["parentIds"] == [SHA]
        guide = ok(*await call(s, "gitlab_get_file", {"projectId": 1, "filePath": "docs/guide.md", "ref": "docs"}))
        assert guide["content"] == "Guide"
        readme = ok(*await call(s, "gitlab_get_file", {"projectId": 1, "filePath": "README.md", "ref": "docs"}))
        assert readme["content"] == "# New readme"
        untouched = ok(*await call(s, "gitlab_get_file", {"projectId": 1, "filePath": "README.md", "ref": "main"}))
        assert untouched["content"].startswith("# Demo project")
        gone = ok(*await call(s, "gitlab_commit_files", {
            "projectId": 1, "branch": "docs", "commitMessage": "Drop the guide",
            "actions": [{"action": "delete", "filePath": "docs/guide.md"}]}))
        assert gone["parentIds"] == [made["id"]]
        missing, text = await call(s, "gitlab_get_file", {"projectId": 1, "filePath": "docs/guide.md", "ref": "docs"})
        assert missing.is_error and "404" in text, text
        dup, text = await call(s, "gitlab_commit_files", {
            "projectId": 1, "branch": "docs", "commitMessage": "again",
            "actions": [{"action": "create", "filePath": "README.md", "content": "x"}]})
        assert dup.is_error and "(400)" in text and "already exists" in text, text
        history = ok(*await call(s, "gitlab_list_commits", {"projectId": 1, "ref": "docs"}))
        assert [c["id"] for c in history["commits"]] == [gone["id"], made["id"], SHA]
        return True

    assert run(gateway, fresh, body)
    posted = [r for r in fresh.stats()["recent"] if r["method"] == "POST" and r["path"].endswith("/repository/commits")]
    assert posted[0]["body"]["actions"][0] == {"action": "create", "file_path": "docs/guide.md", "content": "Guide"}
    assert posted[0]["body"]["start_branch"] == "main"


def test_project_metadata(gateway, fresh):
    async def body(s):
        me = ok(*await call(s, "gitlab_get_current_user", {}))
        assert (me["id"], me["username"]) == (3, "dev")
        group = ok(*await call(s, "gitlab_list_group_projects", {"groupId": "demo-group", "perPage": 50}))
        assert len(group["projects"]) == 45 and group["nextPage"] is None
        assert group["projects"][0]["pathWithNamespace"] == "demo-group/demo-project"
        found = ok(*await call(s, "gitlab_list_group_projects", {"groupId": 7, "search": "service-4"}))
        assert {p["pathWithNamespace"] for p in found["projects"]} >= {"demo-group/service-4", "demo-group/service-40"}
        labels = ok(*await call(s, "gitlab_list_labels", {"projectId": 1}))
        assert [(l["name"], l["color"]) for l in labels["labels"]] == [("bug", "#d9534f"), ("feature", "#428bca")]
        assert labels["labels"][0]["openIssuesCount"] == 2
        made = ok(*await call(s, "gitlab_create_label", {"projectId": 1, "name": "needs-review", "color": "#00AA00", "description": "Waiting"}))
        assert (made["name"], made["color"]) == ("needs-review", "#00AA00")
        dup, text = await call(s, "gitlab_create_label", {"projectId": 1, "name": "bug", "color": "#000000"})
        assert dup.is_error and "(409)" in text and "already exists" in text, text
        active = ok(*await call(s, "gitlab_list_milestones", {"projectId": 1, "state": "active"}))
        assert [(m["title"], m["dueDate"]) for m in active["milestones"]] == [("v1.0", "2026-03-31")]
        releases = ok(*await call(s, "gitlab_list_releases", {"projectId": 1}))
        assert [(r["tagName"], r["commitId"], r["author"]) for r in releases["releases"]] == [("v0.9.0", SHA, "dev")]
        nogroup, text = await call(s, "gitlab_list_group_projects", {"groupId": "elsewhere"})
        assert nogroup.is_error and "404" in text, text
        return True

    assert run(gateway, fresh, body)


def test_wiki_pages(gateway, fresh):
    async def body(s):
        listed = ok(*await call(s, "gitlab_list_wiki_pages", {"projectId": 1}))
        assert [p["slug"] for p in listed["pages"]] == ["home", "docs/setup"]
        assert all("content" not in p for p in listed["pages"])
        setup = ok(*await call(s, "gitlab_get_wiki_page", {"projectId": 1, "slug": "docs/setup"}))
        assert setup["content"] == "Install with `make`."
        made = ok(*await call(s, "gitlab_create_wiki_page", {"projectId": 1, "title": "Runbook", "content": "Restart it."}))
        assert (made["slug"], made["format"]) == ("Runbook", "markdown")
        edited = ok(*await call(s, "gitlab_update_wiki_page", {"projectId": 1, "slug": "home", "content": "# Welcome back"}))
        assert (edited["title"], edited["content"]) == ("Home", "# Welcome back")
        reread = ok(*await call(s, "gitlab_get_wiki_page", {"projectId": 1, "slug": "home"}))
        assert reread["content"] == "# Welcome back"
        missing, text = await call(s, "gitlab_get_wiki_page", {"projectId": 1, "slug": "nope"})
        assert missing.is_error and "404" in text, text
        return True

    assert run(gateway, fresh, body)


@pytest.mark.parametrize("name,args,pointer", [
    ("gitlab_create_label", {"projectId": 1, "name": "x", "color": "green"}, "/color"),
    ("gitlab_commit_files", {"projectId": 1, "branch": "main", "commitMessage": "m", "actions": [{"action": "update", "filePath": "a"}]}, "/actions/0"),
    ("gitlab_merge_merge_request", {"projectId": 1, "mergeRequestIid": 1}, "sha"),
    ("gitlab_get_job_log", {"projectId": 1, "jobId": 204, "maxBytes": 10}, "/maxBytes"),
    ("gitlab_list_pipeline_jobs", {"projectId": 1, "pipelineId": 102, "scope": ["exploded"]}, "/scope/0"),
    ("gitlab_create_pipeline", {"projectId": 1, "ref": "main", "variables": [{"key": "BAD KEY", "value": "x"}]}, "/variables/0/key"),
    ("gitlab_create_merge_request_discussion", {"projectId": 1, "mergeRequestIid": 1, "body": "b", "position": {
        "baseSha": SHA, "startSha": SHA, "headSha": SHA, "newPath": "src/main.rs"}}, "/position"),
    ("gitlab_get_merge_request", {"projectId": 1, "mergeRequestIid": 3, "maxBytes": 10}, "/maxBytes"),
])
def test_bad_arguments_are_refused_with_their_path(gateway, fresh, name, args, pointer):
    async def body(s):
        return await s.call_tool(name, args)

    with pytest.raises(Exception) as err:
        run(gateway, fresh, body)
    assert "-32602" in repr(err.value) and pointer in repr(err.value), repr(err.value)
    assert fresh.stats()["requests"] == 0, "refused before any upstream call"
