"""Seed 000's `analyze_and_fix_issue` through the client's own model (MCP sampling), end to end: the
official Python SDK client with a `sampling_callback` returning a canned completion, `mcp-edge`
(native, Worker or Lambda per MCP_EDGE_TARGET) and the Jira and GitLab fakes, which check every
request and reply against tests/specs (Jira v3, gitlab-v4.json). The 2025 era (`mode="legacy"`)
sends the request on the session's GET stream (on the Lambda through the session's outbox in
DynamoDB, the answer through a mailbox item, each possibly in another execution environment); the
2026-07-28 era returns it in an `input_required` result with a signed requestState.

The GitLab activity that mentions the issue key (a branch, a commit, a merge request) and the Jira
comments are created through the fakes' vendor APIs before each test, and what `apply` created is
read back through the same APIs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import urllib.request

import httpx2 as httpx
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from test_connectors import EMAIL, GITLAB_TOKEN, JIRA_TOKEN, LOCAL, Fake, call, ok

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MCP_EDGE_URL")), reason="starts its own gateway next to local fakes"
)

KEY = "DEMO-1"
BRANCH = "DEMO-1-login-redirect"
NEW_MAIN = 'fn main() {\n    // DEMO-1: stop after one redirect\n    println!("Demo fixed");\n}\n'
CANNED = (
    "The redirect handler loops because nothing stops it.\n```json\n"
    + json.dumps({
        "analysis": "main never stops redirecting; stop after one redirect.",
        "commitMessage": "Stop the login redirect loop",
        "changes": [{"filePath": "src/main.rs", "content": NEW_MAIN}],
    })
    + "\n```"
)


@pytest.fixture(scope="module")
def fakes():
    started = {"jira": Fake("jira", JIRA_TOKEN, EMAIL), "gitlab": Fake("gitlab", GITLAB_TOKEN, name="gitlab-analyze")}
    yield started
    for f in started.values():
        f.stop()  # asserts that no contract violation went unchecked


@pytest.fixture(scope="module")
def gateway(fakes, tmp_path_factory):
    from conftest import Server

    server = Server(LOCAL, str(tmp_path_factory.mktemp("gw"))).start()
    yield server
    server.stop()


def vendor(fake: Fake, method: str, path: str, body: dict | None = None, jira: bool = False):
    """A call to a fake's vendor API (authenticated as the vendor documents)."""
    headers = {"content-type": "application/json"}
    if jira:
        headers["authorization"] = "Basic " + base64.b64encode(f"{EMAIL}:{JIRA_TOKEN}".encode()).decode()
    else:
        headers["private-token"] = GITLAB_TOKEN
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(fake.url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


@pytest.fixture()
def seeded(fakes):
    """Fresh fakes plus activity that mentions DEMO-1: two Jira comments, a branch with a commit
    touching src/main.rs, and a merge request from it."""
    for f in fakes.values():
        f.control("/_fake/reset", {})
    jira, gl = fakes["jira"], fakes["gitlab"]
    for text in ["Reproduced on main: /login redirects forever.", "Happens only with an expired cookie."]:
        vendor(jira, "POST", f"/rest/api/3/issue/{KEY}/comment", {"body": adf(text)}, jira=True)
    vendor(gl, "POST", "/api/v4/projects/1/repository/branches", {"branch": BRANCH, "ref": "main"})
    vendor(gl, "POST", "/api/v4/projects/1/repository/commits", {
        "branch": BRANCH, "commit_message": "DEMO-1 first attempt at the redirect guard",
        "actions": [{"action": "update", "file_path": "src/main.rs", "content": "fn main() {}\n"}],
    })
    vendor(gl, "POST", "/api/v4/projects/1/merge_requests", {
        "source_branch": BRANCH, "target_branch": "main", "title": "DEMO-1: guard the login redirect",
    })
    return fakes


def gateway_headers(fakes) -> dict:
    return {
        "X-Jira-URL": fakes["jira"].url, "X-Jira-Token": JIRA_TOKEN, "X-Jira-Email": EMAIL,
        "X-GitLab-API-URL": fakes["gitlab"].url, "Private-Token": GITLAB_TOKEN,
    }


@contextlib.asynccontextmanager
async def connect(url: str, headers: dict, sampling=None, mode: str = "legacy"):
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=120)) as http:
        async with Client(streamable_http_client(url + "/mcp", http_client=http), mode=mode,
                          sampling_callback=sampling) as c:
            yield c


def canned(shown: list, text: str = CANNED):
    async def sampling(context, params: types.CreateMessageRequestParams):
        shown.append(params)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=text),
                                         model="canned-model", stop_reason="endTurn")
    return sampling


def run(coro):
    return asyncio.run(coro)


def assert_prompt_shows_the_context(prompt: str, max_file_bytes: int) -> None:
    for needle in [
        "DEMO-1: Fix login redirect loop",              # issue summary
        "Details of demo issue 1.",                     # description (ADF → Markdown)
        "Reproduced on main: /login redirects forever.",  # comments
        "Happens only with an expired cookie.",
        "latest 2 of 2",
        BRANCH,                                         # branch mentioning the key
        "DEMO-1: guard the login redirect [opened]",     # merge request mentioning the key
        "DEMO-1 first attempt at the redirect guard",   # commit mentioning the key
        "### src/main.rs",                              # excerpt of the file they touch, at main
        'println!("Demo");',
        "CHANGELOG.md (not at main)",                   # touched by the MR, absent at the base
        f"{max_file_bytes} bytes per file",             # the stated limits
        "at most 10 comments",
        "```json",                                      # the answer format
    ]:
        assert needle in prompt, f"{needle!r} not shown to the model:\n{prompt}"


@pytest.mark.sampling
def test_the_clients_model_is_shown_the_bounded_context(gateway, seeded):
    shown: list = []

    async def body():
        async with connect(gateway.url, gateway_headers(seeded), canned(shown)) as s:
            return await call(s, "analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1, "maxFileBytes": 300})

    out = ok(*run(body()))
    assert len(shown) == 1, "exactly one sampling request"
    params = shown[0]
    assert params.max_tokens == 2048 and params.include_context == "none"
    assert "senior engineer" in (params.system_prompt or "")
    prompt = params.messages[0].content.text
    assert_prompt_shows_the_context(prompt, 300)
    assert out["mode"] == "sampled" and out["samplingUnavailable"] is None
    assert out["analysis"].startswith("main never stops redirecting")
    assert out["proposal"]["changes"] == [{"filePath": "src/main.rs", "bytes": len(NEW_MAIN)}]
    assert out["proposal"]["model"] == "canned-model"
    assert out["limits"]["maxFileBytes"] == 300 and out["limits"]["maxComments"] == 10
    assert out["applied"] is None
    assert out["prompt"]["user"] == prompt, "the result carries the prompt the model saw"
    # Nothing was written without apply.
    branches = vendor(seeded["gitlab"], "GET", "/api/v4/projects/1/repository/branches?search=DEMO-1")
    assert [b["name"] for b in branches] == [BRANCH]


@pytest.mark.sampling
def test_apply_creates_branch_commit_merge_request_and_jira_comment(gateway, seeded):
    shown: list = []

    async def body():
        async with connect(gateway.url, gateway_headers(seeded), canned(shown)) as s:
            return await call(s, "analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1, "apply": True})

    out = ok(*run(body()))
    applied = out["applied"]
    branch = "DEMO-1-fix-login-redirect-loop"
    assert applied["branch"] == branch
    gl, jira = seeded["gitlab"], seeded["jira"]
    # The branch exists and carries the proposed content.
    f = vendor(gl, "GET", f"/api/v4/projects/1/repository/files/src%2Fmain.rs?ref={branch}")
    assert base64.b64decode(f["content"]).decode() == NEW_MAIN
    commit = vendor(gl, "GET", f"/api/v4/projects/1/repository/commits/{applied['commit']}")
    assert commit["message"] == "DEMO-1: Stop the login redirect loop"
    # The merge request goes from that branch to main.
    mrs = vendor(gl, "GET", "/api/v4/projects/1/merge_requests?state=opened&search=DEMO-1")
    mr = next(m for m in mrs if m["iid"] == applied["mergeRequest"]["iid"])
    assert (mr["source_branch"], mr["target_branch"]) == (branch, "main")
    assert mr["title"] == "DEMO-1: Fix login redirect loop"
    assert "main never stops redirecting" in mr["description"]
    # The Jira issue links it.
    comments = vendor(jira, "GET", f"/rest/api/3/issue/{KEY}/comment?orderBy=-created&maxResults=1", jira=True)
    latest = comments["comments"][0]
    assert latest["id"] == applied["jiraCommentId"]
    assert mr["web_url"] in json.dumps(latest["body"])


def test_2026_the_clients_model_answers_an_input_required_round_and_apply_creates_the_fix(gateway, seeded):
    """2026-07-28 (stateless, on every target): the tool answers `input_required` carrying the
    `sampling/createMessage` request and a signed requestState; the SDK runs its sampling callback
    and retries; the retry finishes the analysis and applies it."""
    shown: list = []

    async def body():
        async with connect(gateway.url, gateway_headers(seeded), canned(shown), mode="2026-07-28") as s:
            assert s.protocol_version == "2026-07-28"
            return await call(s, "analyze_and_fix_issue",
                              {"issueKey": KEY, "projectId": 1, "maxFileBytes": 300, "apply": True})

    out = ok(*run(body()))
    assert len(shown) == 1, "exactly one input_required round"
    params = shown[0]
    assert params.max_tokens == 2048 and params.include_context == "none"
    assert "senior engineer" in (params.system_prompt or "")
    prompt = params.messages[0].content.text
    assert_prompt_shows_the_context(prompt, 300)
    assert out["mode"] == "sampled" and out["samplingUnavailable"] is None
    assert out["prompt"]["user"] == prompt, "the retry re-gathered the context the model saw"
    assert out["analysis"].startswith("main never stops redirecting")
    assert out["proposal"]["model"] == "canned-model"
    applied = out["applied"]
    branch = "DEMO-1-fix-login-redirect-loop"
    assert applied["branch"] == branch
    gl, jira = seeded["gitlab"], seeded["jira"]
    f = vendor(gl, "GET", f"/api/v4/projects/1/repository/files/src%2Fmain.rs?ref={branch}")
    assert base64.b64decode(f["content"]).decode() == NEW_MAIN
    mrs = vendor(gl, "GET", "/api/v4/projects/1/merge_requests?state=opened&search=DEMO-1")
    mr = next(m for m in mrs if m["iid"] == applied["mergeRequest"]["iid"])
    assert (mr["source_branch"], mr["target_branch"]) == (branch, "main")
    comments = vendor(jira, "GET", f"/rest/api/3/issue/{KEY}/comment?orderBy=-created&maxResults=1", jira=True)
    assert comments["comments"][0]["id"] == applied["jiraCommentId"]


def test_2026_a_request_without_sampling_gets_the_prompt(gateway, seeded):
    async def body():
        async with connect(gateway.url, gateway_headers(seeded), mode="2026-07-28") as s:
            return await call(s, "analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1, "apply": True})

    out = ok(*run(body()))
    assert out["mode"] == "prompt" and out["applied"] is None
    assert "did not declare the sampling capability" in out["samplingUnavailable"]
    assert_prompt_shows_the_context(out["prompt"]["user"], 4096)
    assert vendor(seeded["gitlab"], "GET", "/api/v4/projects/1/repository/branches?search=fix-login") == []


def test_2026_a_forged_tampered_or_foreign_request_state_is_refused(gateway, seeded):
    """The retry is driven by hand: the input request is the sampling request, a state altered by
    one character or made up fails its integrity check (-32602), and a valid state sent to another
    tool was issued for another request; nothing is applied."""
    from mcp.shared.exceptions import MCPError

    answer = types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=CANNED),
                                       model="canned-model", stop_reason="endTurn")
    args = {"issueKey": KEY, "projectId": 1, "apply": True}

    async def body():
        async with connect(gateway.url, gateway_headers(seeded), canned([]), mode="2026-07-28") as s:
            first = await s.session.call_tool("analyze_and_fix_issue", args, allow_input_required=True)
            assert isinstance(first, types.InputRequiredResult), first
            (key, req), = first.input_requests.items()
            assert key == "mcp_edge_analysis" and req.method == "sampling/createMessage"
            assert "Fix login redirect loop" in req.params.messages[0].content.text
            state = first.request_state
            payload, tag = state.split(".")
            mid = len(payload) // 2  # a middle character: the payload still decodes, its MAC fails
            tampered = payload[:mid] + ("A" if payload[mid] != "A" else "B") + payload[mid + 1:] + "." + tag
            errors = []
            for bad, tool in [(tampered, "analyze_and_fix_issue"), ("Zm9yZ2Vk.Zm9yZ2Vk", "analyze_and_fix_issue"),
                              (state, "jira_get_issue")]:
                try:
                    await s.session.call_tool(tool, args if tool != "jira_get_issue" else {"issueKey": KEY},
                                              input_responses={key: answer}, request_state=bad,
                                              allow_input_required=True)
                    errors.append(None)
                except MCPError as e:
                    errors.append((e.code, e.message))
            return errors

    errors = run(body())
    assert errors[0] == (-32602, "Invalid params: requestState failed its integrity check"), errors
    assert errors[1] == (-32602, "Invalid params: requestState failed its integrity check"), errors
    assert errors[2] == (-32602, "Invalid params: requestState was issued for another request"), errors
    assert vendor(seeded["gitlab"], "GET", "/api/v4/projects/1/repository/branches?search=fix-login") == []


def test_a_client_without_sampling_gets_the_context_and_a_ready_prompt(gateway, seeded):
    async def body():
        async with connect(gateway.url, gateway_headers(seeded)) as s:
            return await call(s, "analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1, "apply": True})

    out = ok(*run(body()))
    assert out["mode"] == "prompt" and out["applied"] is None
    assert "sampling" in out["samplingUnavailable"]
    assert_prompt_shows_the_context(out["prompt"]["user"], 4096)
    files = {f["filePath"]: f for f in out["context"]["files"]}
    assert files["src/main.rs"]["excerpt"].startswith("fn main()") and files["src/main.rs"]["truncated"] is False
    # apply without a proposal wrote nothing.
    branches = vendor(seeded["gitlab"], "GET", "/api/v4/projects/1/repository/branches?search=fix-login")
    assert branches == []


def test_prompts_get_analyze_issue_is_the_same_prompt(gateway, seeded):
    async def body():
        async with connect(gateway.url, gateway_headers(seeded)) as s:
            listed = [p.name for p in (await s.list_prompts()).prompts]
            got = await s.get_prompt("analyze_issue", {"issueKey": KEY, "projectId": "1", "maxFileBytes": "300"})
            tool = await call(s, "analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1, "maxFileBytes": 300})
            return listed, got, tool

    listed, got, (result, text) = run(body())
    assert "analyze_issue" in listed
    prompt = got.messages[0].content.text
    assert_prompt_shows_the_context(prompt, 300)
    assert prompt.endswith(ok(result, text)["prompt"]["user"]), "the prompt and the tool build the same text"


@pytest.mark.sampling
def test_a_client_error_and_a_bad_answer_are_clear_tool_errors(gateway, seeded):
    async def refuse(context, params):
        return types.ErrorData(code=-1, message="User rejected sampling request")

    async def body(sampling):
        async with connect(gateway.url, gateway_headers(seeded), sampling) as s:
            return await call(s, "analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1, "apply": True})

    result, text = run(body(refuse))
    assert result.is_error and "the client refused: User rejected sampling request" in text
    result, text = run(body(canned([], "I would rather not answer in JSON.")))
    assert result.is_error and "not in the requested format" in text and "nothing was applied" in text
    branches = vendor(seeded["gitlab"], "GET", "/api/v4/projects/1/repository/branches?search=fix-login")
    assert branches == []


def test_read_only_mode_refuses_the_tool_and_keeps_the_prompt(gateway, seeded):
    async def body():
        async with connect(gateway.url, {**gateway_headers(seeded), "X-MCP-Read-Only": "true"}) as s:
            names = [t.name for t in (await s.list_tools()).tools]
            try:
                await s.call_tool("analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1})
                refused = None
            except Exception as e:  # the SDK raises the JSON-RPC error
                refused = str(e)
            got = await s.get_prompt("analyze_issue", {"issueKey": KEY, "projectId": "1"})
            return names, refused, got

    names, refused, got = run(body())
    assert "analyze_and_fix_issue" not in names and "jira_search" in names
    assert refused is not None and "not read-only and the gateway is in read-only mode" in refused
    assert "Fix login redirect loop" in got.messages[0].content.text


def test_bad_arguments_are_refused_with_the_path(gateway, seeded):
    async def body():
        async with connect(gateway.url, gateway_headers(seeded)) as s:
            try:
                await s.call_tool("analyze_and_fix_issue", {"issueKey": KEY, "projectId": 1, "maxFiles": 99})
            except Exception as e:
                return str(e)
            return None

    refused = run(body())
    assert refused is not None and "/maxFiles" in refused
