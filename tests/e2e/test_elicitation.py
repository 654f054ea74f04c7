"""The gateway's own tools asking the client during a call in a 2025 session (elicitation/create and
sampling/createMessage on the session's GET stream; on the Lambda through the session's outbox and
a DynamoDB mailbox), with the official Python SDK client in legacy mode providing the callbacks.
The tools are the conformance fixtures (`test_elicitation`, `test_elicitation_sep1034_defaults`,
`test_elicitation_sep1330_enums`, `test_sampling`) and the confirmation before a destructive tool
(`destructive_echo`); every target (native, Worker, Lambda per MCP_EDGE_TARGET)."""

from __future__ import annotations

import asyncio
import json

import httpx2 as httpx
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client


def run(coro, seconds: float = 90):
    return asyncio.run(asyncio.wait_for(coro, seconds))


async def call(base_url: str, name: str, args: dict, **callbacks) -> tuple[bool, str]:
    """One legacy-mode session calling `name`: (is_error, text of the result)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=120)) as http:
        async with Client(streamable_http_client(base_url + "/mcp", http_client=http), mode="legacy", **callbacks) as c:
            r = await c.call_tool(name, args)
            return bool(r.is_error), r.content[0].text


def form(seen: list, answer: types.ElicitResult | types.ErrorData):
    """An elicitation callback recording each request and giving `answer`."""
    async def elicitation(context, params: types.ElicitRequestParams):
        seen.append(params)
        return answer
    return elicitation


def content_of(text: str) -> dict:
    """The JSON after `content=` in a fixture's result text."""
    return json.loads(text.split("content=", 1)[1])


@pytest.mark.sampling
def test_an_accepted_form_reaches_the_tool(base_url):
    seen: list = []
    answer = types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})
    err, text = run(call(base_url, "test_elicitation", {"message": "Who are you?"}, elicitation_callback=form(seen, answer)))
    assert not err and text.startswith("User response: action=accept"), text
    assert content_of(text) == {"username": "ada", "email": "ada@example.com"}
    assert len(seen) == 1 and seen[0].message == "Who are you?"
    assert seen[0].requested_schema["required"] == ["username", "email"]


@pytest.mark.sampling
@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_a_declined_or_cancelled_form_is_reported_without_content(base_url, action):
    seen: list = []
    err, text = run(call(base_url, "test_elicitation_sep1330_enums", {},
                         elicitation_callback=form(seen, types.ElicitResult(action=action))))
    assert (err, text) == (False, f"Elicitation completed: action={action}")
    props = seen[0].requested_schema["properties"]
    # The five SEP-1330 shapes, as asked.
    assert props["untitledSingle"]["enum"] == ["option1", "option2", "option3"]
    assert [o["const"] for o in props["titledSingle"]["oneOf"]] == ["value1", "value2", "value3"]
    assert len(props["legacyEnum"]["enumNames"]) == 3
    assert props["untitledMulti"]["items"]["enum"] == ["option1", "option2", "option3"]
    assert all("title" in o for o in props["titledMulti"]["items"]["anyOf"])


@pytest.mark.sampling
def test_defaults_fill_the_fields_the_client_left_out(base_url):
    seen: list = []
    answer = types.ElicitResult(action="accept", content={"name": "Jane Smith", "verified": False})
    err, text = run(call(base_url, "test_elicitation_sep1034_defaults", {}, elicitation_callback=form(seen, answer)))
    assert not err, text
    assert content_of(text) == {"name": "Jane Smith", "age": 30, "score": 95.5, "status": "active", "verified": False}
    defaults = {k: v.get("default") for k, v in seen[0].requested_schema["properties"].items()}
    assert defaults == {"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": True}


@pytest.mark.sampling
def test_an_answer_outside_the_form_and_a_client_error_are_tool_errors(base_url):
    bad = types.ElicitResult(action="accept", content={"untitledSingle": "option9"})
    err, text = run(call(base_url, "test_elicitation_sep1330_enums", {}, elicitation_callback=form([], bad)))
    assert err and "untitledSingle" in text and "does not fit the form" in text, text
    refused = types.ErrorData(code=-1, message="User closed the dialog")
    err, text = run(call(base_url, "test_elicitation", {"message": "x"}, elicitation_callback=form([], refused)))
    assert err and "User closed the dialog" in text, text


@pytest.mark.sampling
def test_sampling_asks_the_clients_model(base_url):
    prompts: list[str] = []

    async def sampling(context, params: types.CreateMessageRequestParams):
        prompts.append(params.messages[0].content.text)
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="Paris"),
                                         model="canned-model", stop_reason="endTurn")

    err, text = run(call(base_url, "test_sampling", {"prompt": "Capital of France?"}, sampling_callback=sampling))
    assert (err, text, prompts) == (False, "LLM response: Paris", ["Capital of France?"])


def test_a_client_without_the_capability_gets_an_error_not_a_wait(base_url):
    async def both():
        return (await call(base_url, "test_elicitation", {"message": "x"}),
                await call(base_url, "test_sampling", {"prompt": "x"}))

    (e1, t1), (e2, t2) = run(both(), 30)
    assert e1 and "did not declare the 'elicitation' capability" in t1, t1
    assert e2 and "did not declare the 'sampling' capability" in t2, t2


@pytest.mark.sampling
@pytest.mark.parametrize("answer, runs", [
    (types.ElicitResult(action="decline"), False),
    (types.ElicitResult(action="cancel"), False),
    (types.ElicitResult(action="accept", content={"confirm": False}), False),
    (types.ElicitResult(action="accept", content={"confirm": True}), True),
])
def test_a_destructive_tool_runs_only_when_confirmed(base_url, answer, runs):
    seen: list = []
    err, text = run(call(base_url, "destructive_echo", {"message": "drop it"}, elicitation_callback=form(seen, answer)))
    if runs:
        assert (err, text) == (False, "drop it")
    else:
        assert err and text.startswith("destructive_echo was not run"), text
    assert len(seen) == 1 and seen[0].requested_schema["required"] == ["confirm"]
