"""Resource subscriptions in both eras: 2025 `resources/subscribe` / `resources/unsubscribe` with
`notifications/resources/updated` on the session's standalone `GET /mcp` stream, and 2026-07-28
`subscriptions/listen` with `resourceSubscriptions` (the official Python SDK's `Client.listen()`, and
the raw frames for the subscription id). Changes come from the test tool
`test_update_watched_resource`, which changes `test://watched-resource` and every
`test://watched/{name}` at once, so one stream subscribed to several tells them apart.

No sleeps: every expectation is a bounded wait on the stream's frames. Absence is shown by order:
the session stream's poll reports its subscriptions in subscription order, so a URI that should not
be reported (unsubscribed, or another session's) would arrive before the one that must."""

from __future__ import annotations

import asyncio
import json
import queue
import threading

import httpx2 as httpx
from mcp.client import Client
from mcp.shared.subscriptions import ResourceUpdated

from test_listen import SUB_ID, Listen, trigger

VERSION = "2025-11-25"
UPDATED = "notifications/resources/updated"
WATCHED = "test://watched-resource"
ACCEPT = "application/json, text/event-stream"
MAX_SUBSCRIPTIONS = 32


def message(r: httpx.Response) -> dict:
    """The JSON-RPC reply of a POST, whether sent as JSON or as one SSE event."""
    if r.headers.get("content-type", "").startswith("application/json"):
        return r.json()
    data = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])


class Session:
    """A raw 2025 session over Streamable HTTP."""

    def __init__(self, c: httpx.Client, url: str):
        self.c, self.url = c, url
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "subs", "version": "1"}},
        }
        r = c.post(f"{url}/mcp", json=init, headers={"content-type": "application/json", "accept": ACCEPT})
        assert r.status_code == 200, r.text
        self.init = message(r)["result"]
        self.sid = r.headers["mcp-session-id"]
        r = c.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers())
        assert r.status_code == 202, r.text

    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json", "accept": ACCEPT, "mcp-session-id": self.sid, "mcp-protocol-version": VERSION}

    def request(self, method: str, params: dict) -> dict:
        r = self.c.post(f"{self.url}/mcp", json={"jsonrpc": "2.0", "id": 5, "method": method, "params": params}, headers=self.headers())
        return message(r)

    def subscribe(self, uri: str) -> dict:
        return self.request("resources/subscribe", {"uri": uri})

    def update(self) -> None:
        r = self.request("tools/call", {"name": "test_update_watched_resource", "arguments": {}})
        assert r["result"]["content"][0]["text"] == "Mutation triggered", r

    def close(self) -> None:
        self.c.delete(f"{self.url}/mcp", headers=self.headers())


class Stream:
    """The session's standalone GET stream read on a thread: its JSON frames into a queue."""

    def __init__(self, s: Session):
        self.frames: queue.Queue = queue.Queue()
        self.opened: queue.Queue = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=60))
        self.stop = threading.Event()
        headers = {"accept": "text/event-stream", "mcp-session-id": s.sid, "mcp-protocol-version": VERSION}
        self.thread = threading.Thread(target=self._run, args=(f"{s.url}/mcp", headers), daemon=True)
        self.thread.start()
        assert self.opened.get(timeout=10) == 200

    def _run(self, url: str, headers: dict) -> None:
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                self.opened.put(r.status_code)
                for line in r.iter_lines():
                    if self.stop.is_set():
                        return
                    # An empty `data:` is the priming event (a resumption point), not a message.
                    if line.startswith("data:") and line[5:].strip():
                        self.frames.put(json.loads(line[5:].strip()))
        except Exception as e:  # closed by the test: the thread ends
            self.opened.put(None)
            self.frames.put({"closed": str(e)})

    def next_update(self, timeout: float = 15) -> str:
        frame = self.frames.get(timeout=timeout)
        assert frame.get("method") == UPDATED, frame
        assert set(frame["params"]) == {"uri"}, frame
        return frame["params"]["uri"]

    def close(self) -> None:
        # A daemon thread: it ends when its read fails on the closed client (or with the process);
        # waiting for it would only wait for the next keep-alive.
        self.stop.set()
        self.client.close()
        self.thread.join(timeout=1)


def test_a_subscribed_change_reaches_the_session_stream_and_an_unsubscribed_one_does_not(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        s = Session(c, base_url)
        assert s.init["capabilities"]["resources"]["subscribe"] is True
        stream = Stream(s)
        try:
            # b first, then a; b is then unsubscribed. Were b still subscribed, its update would come
            # first in the poll that reports a.
            for uri in ("test://watched/b", "test://watched/a"):
                assert s.subscribe(uri) == {"jsonrpc": "2.0", "id": 5, "result": {}}
            assert s.request("resources/unsubscribe", {"uri": "test://watched/b"})["result"] == {}
            s.update()
            assert stream.next_update() == "test://watched/a"
            # Once per change: the next change is the next frame, again a only.
            s.update()
            assert stream.next_update() == "test://watched/a"
        finally:
            s.close()  # ends the session, and with it the stream
            stream.close()


def test_another_sessions_subscription_never_reaches_this_session(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        mine, other = Session(c, base_url), Session(c, base_url)
        stream = Stream(mine)
        try:
            # The other session subscribes first to a URI this one never asks for.
            assert other.subscribe("test://watched/theirs")["result"] == {}
            assert mine.subscribe("test://watched/mine")["result"] == {}
            for _ in range(2):
                mine.update()
                assert stream.next_update() == "test://watched/mine"
        finally:
            mine.close()
            other.close()
            stream.close()


def test_subscribe_refuses_unknown_uris_and_more_than_the_bound(base_url: str) -> None:
    with httpx.Client(timeout=10) as c:
        s = Session(c, base_url)
        try:
            r = s.subscribe("test://no-such-resource")
            assert r["error"]["code"] == -32002, r
            assert r["error"]["data"] == {"uri": "test://no-such-resource"}, r
            r = s.request("resources/subscribe", {})
            assert r["error"]["code"] == -32602, r
            for i in range(MAX_SUBSCRIPTIONS):
                assert s.subscribe(f"test://echo/{i}")["result"] == {}, i
            # Subscribing again to a held URI is no new subscription.
            assert s.subscribe("test://echo/0")["result"] == {}
            r = s.subscribe(WATCHED)
            assert r["error"]["code"] == -32602, r
            assert f"{MAX_SUBSCRIPTIONS} resource subscriptions" in r["error"]["message"], r
            assert s.request("resources/unsubscribe", {"uri": "test://echo/0"})["result"] == {}
            assert s.subscribe(WATCHED)["result"] == {}
        finally:
            s.close()


def test_python_sdk_listen_hears_a_subscribed_resource_update(base_url: str) -> None:
    async def run() -> None:
        async with Client(f"{base_url}/mcp", mode="2026-07-28") as c, Client(f"{base_url}/mcp", mode="2026-07-28") as other:
            async with c.listen(resource_subscriptions=[WATCHED, "test://no-such-resource"]) as sub:
                # Only what the gateway can watch is honoured.
                assert set(sub.honored.resource_subscriptions or ()) == {WATCHED}
                r = await other.call_tool("test_update_watched_resource", {})
                assert r.content[0].text == "Mutation triggered"
                event = await asyncio.wait_for(sub.__anext__(), timeout=15)
                assert isinstance(event, ResourceUpdated)
                assert event.uri == WATCHED

    asyncio.run(run())


def test_listen_updates_carry_the_subscription_id_and_only_subscribed_uris(base_url: str) -> None:
    listen = Listen(base_url, 77, {"resourceSubscriptions": ["test://watched/listen"]})
    try:
        status, _ = listen.status.get(timeout=10)
        assert status == 200
        ack = listen.next()
        assert ack["params"]["notifications"] == {"resourceSubscriptions": ["test://watched/listen"]}
        with httpx.Client(timeout=10) as c:
            # A list change is not asked for: the first frame after it is the resource update.
            trigger(c, base_url, "test_trigger_tool_change")
            trigger(c, base_url, "test_update_watched_resource")
        frame = listen.next(timeout=15)
        assert frame == {
            "jsonrpc": "2.0",
            "method": UPDATED,
            "params": {"uri": "test://watched/listen", "_meta": {SUB_ID: 77}},
        }
    finally:
        listen.close()
