"""The Tasks extension (io.modelcontextprotocol/tasks, SEP-2663) on the 2026-07-28 wire: durable task
records that survive a restart of the binary on the same data dir, parked tasks answered after the
restart, a task that was running when the process stopped reading as failed, caller ownership (another
caller's task id is unknown), TTL expiry and the bad-input answers; all but the restart run on every
target. The conformance suite's tasks-*
scenarios (tests/conformance/run-next.sh) cover the wire shapes; these cover what it cannot see."""

from __future__ import annotations

import json
import subprocess

import httpx2 as httpx
import pytest

from conftest import BIN, eventually

JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
EXT = "io.modelcontextprotocol/tasks"
WITH_TASKS = {"extensions": {EXT: {}}, "elicitation": {}}


def call(c: httpx.Client, url: str, method: str, params: dict, caps: dict | None = None, headers: dict | None = None) -> httpx.Response:
    """One 2026-07-28 request with the routing headers the spec asks for."""
    body = {**params, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": WITH_TASKS if caps is None else caps}}
    h = {**JSON, "mcp-protocol-version": "2026-07-28", "mcp-method": method}
    if method == "tools/call":
        h["mcp-name"] = params["name"]
    elif method.startswith("tasks/") and "taskId" in params:
        h["mcp-name"] = params["taskId"]
    h.update(headers or {})
    return c.post(f"{url}/mcp", content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": body}), headers=h)


def start_task(c: httpx.Client, url: str, name: str, arguments: dict, headers: dict | None = None) -> str:
    r = call(c, url, "tools/call", {"name": name, "arguments": arguments}, headers=headers)
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["resultType"] == "task" and result["status"] == "working", result
    return result["taskId"]


def get(c: httpx.Client, url: str, task_id: str, headers: dict | None = None) -> dict:
    r = call(c, url, "tasks/get", {"taskId": task_id}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def hash_key(key: str) -> str:
    out = subprocess.run([BIN, "hash-key", key], capture_output=True, text=True, timeout=30, check=True).stdout
    return next(l for l in out.splitlines() if l.startswith("hash: "))[len("hash: "):]


@pytest.mark.native_only
def test_tasks_survive_a_restart_on_the_same_data_dir(spawn) -> None:
    """A completed task keeps its result, a task parked on input_required is answered by the next
    process and completes there, and a task that was running when the process stopped reads as
    failed (its runner died with the process) instead of working forever."""
    first = spawn([])
    with httpx.Client(timeout=10) as c:
        done = start_task(c, first.url, "slow_compute", {"seconds": 0, "label": "before"})
        eventually(lambda: get(c, first.url, done)["status"] == "completed", "the quick task completes")
        parked = start_task(c, first.url, "confirm_delete", {"filename": "kept.txt"})
        eventually(lambda: get(c, first.url, parked)["status"] == "input_required", "the confirmation parks the task")
        running = start_task(c, first.url, "slow_compute", {"seconds": 300, "label": "cut short"})
        assert get(c, first.url, running)["status"] == "working"
    assert first.stop() == 0
    second = spawn([], data_dir=first.data_dir)
    with httpx.Client(timeout=10) as c:
        after = get(c, second.url, done)
        assert after["status"] == "completed"
        assert after["result"]["content"][0]["text"] == "Computed before after 0 s"
        waiting = get(c, second.url, parked)
        assert waiting["status"] == "input_required"
        (key,) = waiting["inputRequests"].keys()
        r = call(c, second.url, "tasks/update", {"taskId": parked, "inputResponses": {key: {"action": "accept", "content": {"confirm": True}}}})
        assert r.status_code == 200 and r.json()["result"]["resultType"] == "complete", r.text
        finished = eventually(lambda: (t := get(c, second.url, parked))["status"] == "completed" and t, "the answered task completes after the restart")
        assert "kept.txt" in finished["result"]["content"][0]["text"]
        lost = eventually(lambda: (t := get(c, second.url, running))["status"] != "working" and t, "the interrupted task settles", timeout=20)
        assert lost["status"] == "failed" and lost["error"]["code"] == -32603, lost
        assert "result" not in lost


def test_another_callers_task_is_unknown(spawn) -> None:
    """Tasks belong to the caller (and credentials) that created them: another API key, or the same
    key with other upstream credentials, gets -32602 for get, update and cancel alike, and its cancel
    changes nothing."""
    alice, bob = "alice-secret-key-1", "bob-secret-key-22"
    server = spawn(["--api-key", f"alice={hash_key(alice)}", "--api-key", f"bob={hash_key(bob)}"])
    a, b = {"x-api-key": alice}, {"x-api-key": bob}
    with httpx.Client(timeout=10) as c:
        task = start_task(c, server.url, "slow_compute", {"seconds": 30, "label": "mine"}, headers=a)
        for method, params in [("tasks/get", {"taskId": task}), ("tasks/cancel", {"taskId": task}), ("tasks/update", {"taskId": task, "inputResponses": {}})]:
            r = call(c, server.url, method, params, headers=b)
            assert r.status_code == 400 and r.json()["error"]["code"] == -32602, (method, r.text)
            assert task not in r.text or method != "tasks/get"
        other_creds = {**a, "x-jira-token": "other-jira-credentials"}
        r = call(c, server.url, "tasks/get", {"taskId": task}, headers=other_creds)
        assert r.status_code == 400 and r.json()["error"]["code"] == -32602, r.text
        assert get(c, server.url, task, headers=a)["status"] == "working", "bob's cancel changed nothing"
        r = call(c, server.url, "tasks/cancel", {"taskId": task}, headers=a)
        assert r.status_code == 200 and r.json()["result"] == {"resultType": "complete", "_meta": r.json()["result"]["_meta"]}
        assert get(c, server.url, task, headers=a)["status"] == "cancelled"


def test_task_ttl_and_bad_input(spawn) -> None:
    """A task is readable for its ttlMs and unknown after it; tasks/* without the extension is -32021;
    malformed parameters are -32602; a task-only tool refuses a client without the extension."""
    server = spawn(["--task-ttl", "2s"])
    with httpx.Client(timeout=10) as c:
        r = call(c, server.url, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0}})
        created = r.json()["result"]
        assert created["ttlMs"] == 2000 and created["pollIntervalMs"] > 0, created
        task = created["taskId"]
        assert get(c, server.url, task)["taskId"] == task
        eventually(lambda: call(c, server.url, "tasks/get", {"taskId": task}).status_code == 400, "the task is gone after its TTL", timeout=10)
        assert call(c, server.url, "tasks/get", {"taskId": task}).json()["error"]["code"] == -32602
        r = call(c, server.url, "tasks/get", {"taskId": task}, caps={})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32021, r.text
        assert r.json()["error"]["data"]["requiredCapabilities"]["extensions"] == {EXT: {}}
        r = call(c, server.url, "tasks/get", {})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32602, r.text
        live = start_task(c, server.url, "confirm_delete", {"filename": "x"})
        eventually(lambda: get(c, server.url, live)["status"] == "input_required", "parked")
        r = call(c, server.url, "tasks/update", {"taskId": live, "inputResponses": [1]})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32602, r.text
        r = call(c, server.url, "tasks/update", {"taskId": live, "inputResponses": {"confirm": "yes"}})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32602, r.text
        r = call(c, server.url, "tools/call", {"name": "failing_job", "arguments": {}}, caps={})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32021, r.text
        r = call(c, server.url, "tasks/get", {"taskId": live}, headers={"mcp-name": "not-this-task"})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32020, r.text
