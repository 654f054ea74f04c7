"""`subscriptions/listen` (2026-07-28, SEP-2575): the official Python SDK's `Client.listen()` hearing a
list change, and the stream's shape on the wire (acknowledgement first, subscription ids on every
frame, only the notification types asked for, `listChanged` in `server/discover`, precise refusals and
the per-caller stream quota). The changes come from the conformance fixtures
`test_trigger_tool_change` / `test_trigger_prompt_change` (test tools)."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time

import httpx2 as httpx
import pytest
from mcp.client import Client
from mcp.shared.subscriptions import PromptsListChanged, ToolsListChanged

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}
SUB_ID = "io.modelcontextprotocol/subscriptionId"


def headers(method: str, name: str | None = None) -> dict[str, str]:
    h = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    if name:
        h["mcp-name"] = name
    return h


def trigger(c: httpx.Client, url: str, tool: str) -> None:
    body = {"jsonrpc": "2.0", "id": 90, "method": "tools/call", "params": {"name": tool, "arguments": {}, "_meta": META}}
    r = c.post(f"{url}/mcp", json=body, headers=headers("tools/call", tool))
    assert r.status_code == 200, r.text
    assert r.json()["result"]["content"][0]["text"] == "Mutation triggered"


def listen_body(rpc_id, notifications: dict) -> dict:
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "subscriptions/listen", "params": {"_meta": META, "notifications": notifications}}


class Listen:
    """A raw listen stream read on a thread: JSON frames from its SSE `data:` lines, into a queue."""

    def __init__(self, url: str, rpc_id, notifications: dict):
        self.frames: queue.Queue = queue.Queue()
        self.status: queue.Queue = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=60))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, rpc_id, notifications), daemon=True)
        self.thread.start()

    def _run(self, url: str, rpc_id, notifications: dict) -> None:
        try:
            with self.client.stream("POST", f"{url}/mcp", json=listen_body(rpc_id, notifications), headers=headers("subscriptions/listen")) as r:
                self.status.put((r.status_code, r.headers.get("content-type", "")))
                for line in r.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith("data:"):
                        self.frames.put(json.loads(line[5:].strip()))
        except Exception as e:  # the stream is closed by the test: the thread ends
            self.frames.put({"closed": str(e)})

    def next(self, timeout: float = 10) -> dict:
        return self.frames.get(timeout=timeout)

    def close(self) -> None:
        self.stop.set()
        self.client.close()
        self.thread.join(timeout=10)


def test_python_sdk_listen_hears_the_tool_list_change(base_url: str) -> None:
    async def run() -> None:
        async with Client(f"{base_url}/mcp", mode=MODERN) as c, Client(f"{base_url}/mcp", mode=MODERN) as other:
            async with c.listen(tools_list_changed=True) as sub:
                assert sub.honored.tools_list_changed is True
                assert not sub.honored.prompts_list_changed
                # A change made by another client's request reaches this stream.
                r = await other.call_tool("test_trigger_tool_change", {})
                assert r.content[0].text == "Mutation triggered"
                event = await asyncio.wait_for(sub.__anext__(), timeout=15)
                assert isinstance(event, ToolsListChanged)
                # Refetch on change, as the SDK documents.
                names = {t.name for t in (await c.list_tools()).tools}
                assert "test_trigger_tool_change" in names

    asyncio.run(run())


def test_python_sdk_listen_gets_only_what_it_asked_for(base_url: str) -> None:
    async def run() -> None:
        async with Client(f"{base_url}/mcp", mode=MODERN) as c, Client(f"{base_url}/mcp", mode=MODERN) as other:
            async with c.listen(prompts_list_changed=True) as sub:
                await other.call_tool("test_trigger_tool_change", {})
                await other.call_tool("test_trigger_prompt_change", {})
                # The tool change is never delivered: the first event is the prompt change.
                event = await asyncio.wait_for(sub.__anext__(), timeout=15)
                assert isinstance(event, PromptsListChanged)

    asyncio.run(run())


def test_the_stream_acknowledges_first_and_tags_every_frame(base_url: str) -> None:
    listen = Listen(base_url, 41, {"toolsListChanged": True, "resourceSubscriptions": ["test://static/hello"]})
    try:
        status, content_type = listen.status.get(timeout=10)
        assert status == 200 and content_type.startswith("text/event-stream")
        ack = listen.next()
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"]["_meta"][SUB_ID] == 41
        # A watchable resource subscription is honoured (test_resource_subscriptions.py checks updates).
        assert ack["params"]["notifications"] == {"toolsListChanged": True, "resourceSubscriptions": ["test://static/hello"]}
        with httpx.Client(timeout=10) as c:
            trigger(c, base_url, "test_trigger_prompt_change")
            trigger(c, base_url, "test_trigger_tool_change")
        frame = listen.next(timeout=15)
        assert frame == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed", "params": {"_meta": {SUB_ID: 41}}}
    finally:
        listen.close()


def test_discover_advertises_list_changed_and_the_handshake_does_not(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{base_url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": META}}, headers=headers("server/discover"))
        caps = r.json()["result"]["capabilities"]
        assert caps["tools"]["listChanged"] is True
        assert caps["prompts"]["listChanged"] is True
        assert caps["resources"]["listChanged"] is True
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        r = c.post(f"{base_url}/mcp", json=init, headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
        body = r.json() if r.headers["content-type"].startswith("application/json") else json.loads(r.text.split("data:", 1)[1])
        # A 2025 session gets no list-changed notifications, so the handshake does not promise them.
        assert body["result"]["capabilities"]["tools"]["listChanged"] is False


@pytest.mark.parametrize(
    "notifications",
    [None, [], {"toolsListChanged": "yes"}, {"resourceSubscriptions": "test://static/hello"}, {"resourceSubscriptions": ["u"] * 65}],
)
def test_a_bad_filter_is_invalid_params_with_the_request_id(base_url: str, notifications) -> None:
    params = {"_meta": META} if notifications is None else {"_meta": META, "notifications": notifications}
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{base_url}/mcp", json={"jsonrpc": "2.0", "id": 77, "method": "subscriptions/listen", "params": params}, headers=headers("subscriptions/listen"))
        assert r.status_code == 400, r.text
        assert r.json()["id"] == 77
        assert r.json()["error"]["code"] == -32602


def test_listen_streams_over_the_per_caller_quota_are_refused_with_429(spawn) -> None:
    server = spawn(["--max-streams-per-session", "1"])
    first = Listen(server.url, 1, {"toolsListChanged": True})
    try:
        assert first.status.get(timeout=10)[0] == 200
        assert first.next()["method"] == "notifications/subscriptions/acknowledged"
        with httpx.Client(timeout=10) as c:
            r = c.post(f"{server.url}/mcp", json=listen_body(2, {"toolsListChanged": True}), headers=headers("subscriptions/listen"))
            assert r.status_code == 429, r.text
            assert r.json()["id"] == 2
            assert "limit 1" in r.json()["error"]["message"]
            # Plain requests are not streams and go on working.
            trigger(c, server.url, "test_trigger_tool_change")
        assert first.next(timeout=15)["method"] == "notifications/tools/list_changed"
    finally:
        first.close()


@pytest.mark.client_disconnect
def test_a_closed_listen_stream_gives_its_place_back(spawn) -> None:
    server = spawn(["--max-streams-per-session", "1", "--keepalive", "1s"])
    first = Listen(server.url, 1, {"toolsListChanged": True})
    assert first.next()["method"] == "notifications/subscriptions/acknowledged"
    first.close()
    # The server notices the client leaving (at once natively); where the holder cannot (a Worker
    # request context ends with its client), the place lapses after one lease (10 keep-alives, 10 s
    # here). Poll, bounded, until the place is free.
    deadline = time.monotonic() + 30
    status = 429
    with httpx.Client(timeout=httpx.Timeout(10, read=30)) as c:
        while status == 429 and time.monotonic() < deadline:
            with c.stream("POST", f"{server.url}/mcp", json=listen_body(3, {}), headers=headers("subscriptions/listen")) as again:
                status = again.status_code
            if status == 429:
                time.sleep(0.2)
    assert status == 200, "the closed listen stream's place came back"
