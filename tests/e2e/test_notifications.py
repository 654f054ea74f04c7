"""Progress and log notifications from the gateway's own tools during a call (issue 18), on every
target: the official Python SDK client (handshake era and 2026-07-28) hears them through its callbacks,
and raw HTTP shows the wire: the POST answer becomes `text/event-stream` carrying the notifications,
as they happen, before the result; a call without a progress token gets no progress, log messages
follow the session's `logging/setLevel` (2025) or the request's `_meta` log level (2026-07-28, none
without one), and a call that sends nothing still answers with JSON. The tools are the conformance
fixtures `test_tool_with_progress` (0, 50, 100 of 100, ~50 ms apart), `test_tool_with_logging`
(three info messages ~50 ms apart) and `test_simple_text` (test tools)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx2 as httpx
import pytest
from mcp.client import Client

from conftest import TARGET

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}
LOG_LEVEL = "io.modelcontextprotocol/logLevel"
LOGS = ["Tool execution started", "Tool processing data", "Tool execution completed"]


def modern_headers(name: str, accept: str = "application/json, text/event-stream") -> dict[str, str]:
    return {
        "content-type": "application/json",
        "accept": accept,
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": name,
    }


def call_body(rpc_id, name: str, meta: dict) -> dict:
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": {"name": name, "arguments": {}, "_meta": meta}}


def timed_events(response: httpx.Response) -> list[tuple[float, dict]]:
    """The JSON messages of an SSE answer, each with the monotonic time its event was complete."""
    events, data = [], []
    for line in response.iter_lines():
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            text = "\n".join(data)
            data = []
            if text:
                events.append((time.monotonic(), json.loads(text)))
    return events


def post_modern(c: httpx.Client, url: str, name: str, meta: dict, accept: str | None = None):
    """A 2026-07-28 tools/call: (content type, [(arrival, message)])."""
    headers = modern_headers(name) if accept is None else modern_headers(name, accept)
    with c.stream("POST", f"{url}/mcp", json=call_body(7, name, {**META, **meta}), headers=headers) as r:
        assert r.status_code == 200, r.read()
        kind = r.headers["content-type"]
        if kind.startswith("text/event-stream"):
            return kind, timed_events(r)
        return kind, [(time.monotonic(), json.loads(r.read()))]


def test_progress_streams_before_the_result_with_the_callers_token(base_url: str) -> None:
    with httpx.Client(timeout=30) as c:
        kind, events = post_modern(c, base_url, "test_tool_with_progress", {"progressToken": "tok-1"})
    assert kind.startswith("text/event-stream")
    methods = [m.get("method", "(result)") for _, m in events]
    assert methods == ["notifications/progress"] * 3 + ["(result)"], methods
    params = [m["params"] for _, m in events[:3]]
    assert [p["progressToken"] for p in params] == ["tok-1"] * 3
    assert [p["progress"] for p in params] == [0, 50, 100]
    assert all(p["total"] == 100 for p in params)
    result = events[3][1]
    assert result["id"] == 7 and result["result"]["content"][0]["text"].startswith("Progress reported")
    # Live, not buffered: the first notification arrived while the tool still paused twice (~50 ms
    # each) before answering. The Worker buffers the events (README, "Progress and log notifications").
    if TARGET != "worker":
        assert events[3][0] - events[0][0] >= 0.06, [t - events[0][0] for t, _ in events]


def test_no_progress_token_means_no_progress_and_a_json_answer(base_url: str) -> None:
    with httpx.Client(timeout=30) as c:
        kind, events = post_modern(c, base_url, "test_tool_with_progress", {})
        assert kind.startswith("application/json")
        assert len(events) == 1 and "result" in events[0][1]
        # A client that takes only JSON gets JSON even with a token (nothing could carry progress).
        kind, events = post_modern(c, base_url, "test_tool_with_progress", {"progressToken": 3}, accept="application/json")
        assert kind.startswith("application/json") and "result" in events[0][1]


def test_a_call_that_sends_nothing_still_answers_json(base_url: str) -> None:
    with httpx.Client(timeout=30) as c:
        kind, events = post_modern(c, base_url, "test_simple_text", {"progressToken": "t", LOG_LEVEL: "debug"})
    assert kind.startswith("application/json")
    assert events[0][1]["result"]["content"][0]["text"] == "This is a simple text response for testing."


def test_2026_log_messages_only_at_the_requested_level(base_url: str) -> None:
    with httpx.Client(timeout=30) as c:
        kind, events = post_modern(c, base_url, "test_tool_with_logging", {})
        assert kind.startswith("application/json"), "no logLevel: no log messages (SEP-2575)"
        kind, events = post_modern(c, base_url, "test_tool_with_logging", {LOG_LEVEL: "warning"})
        assert kind.startswith("application/json"), "info messages are below a warning floor"
        kind, events = post_modern(c, base_url, "test_tool_with_logging", {LOG_LEVEL: "info"})
        assert kind.startswith("text/event-stream")
        logs = [m["params"] for _, m in events if m.get("method") == "notifications/message"]
        assert [(p["level"], p["data"]) for p in logs] == [("info", t) for t in LOGS]
        assert "result" in events[-1][1]
        r = c.post(f"{base_url}/mcp", json=call_body(8, "test_tool_with_logging", {**META, LOG_LEVEL: "loud"}),
                   headers=modern_headers("test_tool_with_logging"))
        assert r.json()["error"]["code"] == -32602


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_python_sdk_hears_progress_in_both_eras(base_url: str, mode: str) -> None:
    seen: list[tuple[float, float | None]] = []

    async def progress(p: float, total: float | None, message: str | None) -> None:
        seen.append((p, total))

    async def run():
        async with Client(f"{base_url}/mcp", mode=mode) as c:
            r = await c.call_tool("test_tool_with_progress", {}, progress_callback=progress)
            assert r.content[0].text.startswith("Progress reported")
            # Every progress notification was handled before the call returned.
            assert seen == [(0, 100), (50, 100), (100, 100)]
            seen.clear()
            await c.call_tool("test_tool_with_progress", {})
            assert seen == [], "no callback, no token, no progress"

    asyncio.run(asyncio.wait_for(run(), timeout=60))


def test_python_sdk_logs_follow_the_session_level(base_url: str) -> None:
    logs: list[tuple[str, object]] = []

    async def on_log(params) -> None:
        logs.append((params.level, params.data))

    async def run():
        async with Client(f"{base_url}/mcp", mode="legacy", logging_callback=on_log) as c:
            await c.set_logging_level("error")
            await c.call_tool("test_tool_with_logging", {})
            assert logs == [], "info messages are below the session's error level"
            await c.set_logging_level("debug")
            await c.call_tool("test_tool_with_logging", {})
            assert logs == [("info", t) for t in LOGS]

    asyncio.run(asyncio.wait_for(run(), timeout=60))


def test_python_sdk_2026_logs_need_its_log_level(base_url: str) -> None:
    logs: list[str] = []

    async def on_log(params) -> None:
        logs.append(params.data)

    async def run():
        async with Client(f"{base_url}/mcp", mode=MODERN, logging_callback=on_log) as c:
            await c.call_tool("test_tool_with_logging", {})
            assert logs == [], "no log level in the request: no log messages"
        async with Client(f"{base_url}/mcp", mode=MODERN, logging_callback=on_log, log_level="info") as c:
            await c.call_tool("test_tool_with_logging", {})
            assert logs == LOGS

    asyncio.run(asyncio.wait_for(run(), timeout=60))
