"""The rest of the Tasks extension (io.modelcontextprotocol/tasks, SEP-2663) on every target: status
notifications (`notifications/tasks`, the `DetailedTask` as `tasks/get` would answer) on a
`subscriptions/listen` stream that names its `taskIds`, for the caller's own tasks only; and a long
connector operation as a task, `gitlab_wait_for_pipeline`, against the GitLab fake (a pipeline started
through the API moves created -> pending -> running -> success one state per read, so the wait ends by
request count, not by clock), with `tasks/cancel` stopping its polls (read from the fake's request
counter)."""

from __future__ import annotations

import json
import os
import queue
import threading
import time

import httpx2 as httpx
import pytest

from conftest import eventually
from test_connectors import GITLAB_TOKEN, LOCAL, Fake
from test_tasks import EXT, WITH_TASKS, call, get, hash_key, start_task

SUB_ID = "io.modelcontextprotocol/subscriptionId"


class Listen:
    """A raw `subscriptions/listen` stream read on a thread: its JSON frames, into a queue."""

    def __init__(self, url: str, rpc_id, notifications: dict, headers: dict, caps: dict | None = None):
        self.frames: queue.Queue = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=60))
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": WITH_TASKS if caps is None else caps}
        body = {"jsonrpc": "2.0", "id": rpc_id, "method": "subscriptions/listen",
                "params": {"_meta": meta, "notifications": notifications}}
        h = {"content-type": "application/json", "accept": "application/json, text/event-stream",
             "mcp-protocol-version": "2026-07-28", "mcp-method": "subscriptions/listen", **headers}
        self.thread = threading.Thread(target=self._run, args=(url, body, h), daemon=True)
        self.thread.start()

    def _run(self, url: str, body: dict, headers: dict) -> None:
        try:
            with self.client.stream("POST", f"{url}/mcp", json=body, headers=headers) as r:
                if r.status_code != 200:
                    self.frames.put({"status": r.status_code, "body": json.loads(r.read())})
                    return
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        self.frames.put(json.loads(line[5:].strip()))
        except Exception as e:  # closed by the test: the thread ends
            self.frames.put({"closed": str(e)})

    def next(self, timeout: float = 15) -> dict:
        return self.frames.get(timeout=timeout)

    def until(self, done, timeout: float = 15) -> list[dict]:
        """Frames up to and including the first for which `done(frame)` holds (bounded in time)."""
        seen: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no matching frame within {timeout} s; saw {seen}"
            frame = self.frames.get(timeout=left)
            seen.append(frame)
            assert "closed" not in frame, seen
            if done(frame):
                return seen

    def close(self) -> None:
        self.client.close()
        self.thread.join(timeout=10)


def task_note(task_id: str, status: str):
    return lambda f: f.get("method") == "notifications/tasks" and f["params"]["taskId"] == task_id \
        and f["params"]["status"] == status


def test_status_notifications_reach_only_the_owners_listen_stream(spawn) -> None:
    """Alice and Bob each listen naming both their tasks: each acknowledgement keeps only the caller's
    own task, Bob hears his task park and complete, Alice hears hers cancelled (the DetailedTask, with
    the subscription id), and neither stream ever carries the other's task. Naming taskIds without
    declaring the extension is refused (-32021)."""
    alice, bob = "alice-secret-key-1", "bob-secret-key-22"
    server = spawn(["--api-key", f"alice={hash_key(alice)}", "--api-key", f"bob={hash_key(bob)}"])
    a, b = {"x-api-key": alice}, {"x-api-key": bob}
    streams: list[Listen] = []
    with httpx.Client(timeout=10) as c:
        mine = start_task(c, server.url, "slow_compute", {"seconds": 300, "label": "alice"}, headers=a)
        his = start_task(c, server.url, "confirm_delete", {"filename": "bob.txt"}, headers=b)
        eventually(lambda: get(c, server.url, his, headers=b)["status"] == "input_required", "bob's task parks")
        try:
            refused = Listen(server.url, 7, {"taskIds": [mine]}, a, caps={})
            streams.append(refused)
            r = refused.next()
            assert r.get("status") == 400 and r["body"]["error"]["code"] == -32021, r
            assert r["body"]["error"]["data"]["requiredCapabilities"]["extensions"] == {EXT: {}}

            la = Listen(server.url, "alice-sub", {"taskIds": [his, mine, "no-such-task"]}, a)
            lb = Listen(server.url, 42, {"taskIds": [mine, his]}, b)
            streams += [la, lb]
            ack_a, ack_b = la.next(), lb.next()
            assert ack_a["method"] == "notifications/subscriptions/acknowledged", ack_a
            assert ack_a["params"]["notifications"]["taskIds"] == [mine], ack_a
            assert ack_a["params"]["_meta"][SUB_ID] == "alice-sub"
            assert ack_b["params"]["notifications"]["taskIds"] == [his], ack_b

            (key,) = get(c, server.url, his, headers=b)["inputRequests"].keys()
            r = call(c, server.url, "tasks/update", {"taskId": his, "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}}, headers=b)
            assert r.status_code == 200, r.text
            heard_b = lb.until(task_note(his, "completed"))
            done = heard_b[-1]["params"]
            assert done["_meta"][SUB_ID] == 42 and "resultType" not in done, done
            assert "bob.txt" in done["result"]["content"][0]["text"], done
            polled = get(c, server.url, his, headers=b)
            assert {k: v for k, v in done.items() if k != "_meta"} == {k: v for k, v in polled.items() if k not in ("_meta", "resultType")}, \
                "a notification carries what tasks/get answers"

            r = call(c, server.url, "tasks/cancel", {"taskId": mine}, headers=a)
            assert r.status_code == 200, r.text
            heard_a = la.until(task_note(mine, "cancelled"))
            assert heard_a[-1]["params"]["_meta"][SUB_ID] == "alice-sub"
            assert heard_a[-1]["params"]["statusMessage"], heard_a[-1]
            # Bob's task changed before Alice's (and comes first in her taskIds): had it leaked into her
            # stream, it would precede her own notification.
            assert all(f["params"]["taskId"] == mine for f in heard_a), heard_a
            assert all(f["params"]["taskId"] == his for f in heard_b), heard_b
            assert [f["params"]["status"] for f in heard_b][-1] == "completed"
        finally:
            for s in streams:
                s.close()


@pytest.fixture(scope="module")
def gitlab():
    if os.environ.get("MCP_EDGE_URL"):
        pytest.skip("starts its own gateway next to a local fake")
    fake = Fake("gitlab", GITLAB_TOKEN, name="gitlab-tasks")
    yield fake
    fake.stop()


def gl(fake) -> dict:
    return {"X-GitLab-API-URL": fake.url, "Private-Token": GITLAB_TOKEN}


def pipeline_reads(fake, pipeline: int) -> int:
    """How many times the fake was asked for the pipeline (its request log keeps the last 50)."""
    return sum(1 for r in fake.stats()["recent"] if r["method"] == "GET" and r["path"] == f"/api/v4/projects/1/pipelines/{pipeline}")


def test_a_pipeline_wait_runs_as_a_task_and_cancel_stops_its_polls(spawn, gitlab) -> None:
    """`gitlab_wait_for_pipeline` is listed with execution.taskSupport "optional"; as a task it goes
    working -> completed with the pipeline's final status after exactly the reads the fake needs to
    finish it, polling at the configured interval; a cancelled wait on a pipeline that never ends makes
    no further reads."""
    gitlab.control("/_fake/reset", {})
    server = spawn(LOCAL + ["--toolsets", "all", "--gitlab-pipeline-poll", "200ms"])
    h = gl(gitlab)
    with httpx.Client(timeout=10) as c:
        tools, cursor = [], None
        for _ in range(20):
            r = call(c, server.url, "tools/list", {"cursor": cursor} if cursor else {}, headers=h)
            page = r.json()["result"]
            tools += page["tools"]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        (wait,) = [t for t in tools if t["name"] == "gitlab_wait_for_pipeline"]
        assert wait["execution"]["taskSupport"] == "optional", wait
        assert wait["annotations"]["readOnlyHint"] is True

        r = call(c, server.url, "tools/call", {"name": "gitlab_create_pipeline", "arguments": {"projectId": 1, "ref": "main"}}, headers=h)
        created = r.json()["result"]["structuredContent"]
        assert created["status"] == "created", created
        task = start_task(c, server.url, "gitlab_wait_for_pipeline", {"projectId": 1, "pipelineId": created["id"]}, headers=h)
        done = eventually(lambda: (t := get(c, server.url, task, headers=h))["status"] != "working" and t, "the wait ends", timeout=20)
        assert done["status"] == "completed", done
        out = done["result"]["structuredContent"]
        assert out["pipeline"]["status"] == "success" and out["pipeline"]["id"] == created["id"], out
        assert out["looks"] == 3 == pipeline_reads(gitlab, created["id"]), (out, gitlab.stats()["recent"][-5:])

        # Pipeline 103 is seeded running and never moves: the wait polls until cancelled.
        task = start_task(c, server.url, "gitlab_wait_for_pipeline", {"projectId": 1, "pipelineId": 103, "timeoutSeconds": 120}, headers=h)
        eventually(lambda: pipeline_reads(gitlab, 103) >= 3, "the wait polls the running pipeline", timeout=20)
        r = call(c, server.url, "tasks/cancel", {"taskId": task}, headers=h)
        assert r.status_code == 200, r.text
        assert get(c, server.url, task, headers=h)["status"] == "cancelled"

        # Stopped: the fake's request counter stays still for 1.5 s (7 poll intervals) once it has
        # settled; a wait that kept polling never settles and fails here.
        samples: list[tuple[float, int]] = []

        def settled() -> bool:
            samples.append((time.monotonic(), gitlab.stats()["requests"]))
            now, count = samples[-1]
            still = [t for t, n in samples if n == count]
            return now - min(still) >= 1.5

        eventually(settled, "no pipeline reads after the cancel", timeout=15, interval=0.1)
        assert get(c, server.url, task, headers=h)["status"] == "cancelled"
