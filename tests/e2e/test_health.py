"""Health checks (issue 19): `/health` stays cheap; `/health?deep=1` and `/ready` report the session
store, the native bridge's children and, for each upstream with environment credentials, its
reachability and latency (seed 001's `status` + `services` map, plus `active_streams`), never taking
much longer than `--health-budget` even when an upstream hangs. Runs on every target (the bridge
test natively only); the upstreams are the fakes of tests/fake-upstream."""

from __future__ import annotations

import json
import pathlib
import textwrap
import time

import httpx2 as httpx
import pytest

from conftest import TARGET
from test_connectors import CONF_TOKEN, EMAIL, GITLAB_TOKEN, JIRA_TOKEN, LOCAL, Fake

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIME_SERVER = ROOT / "tests/.venv-stdio/bin/mcp-server-time"


@pytest.fixture(scope="module")
def fakes():
    made = {
        "jira": Fake("jira", JIRA_TOKEN, EMAIL),
        "confluence": Fake("confluence", CONF_TOKEN, EMAIL),
        "gitlab": Fake("gitlab", GITLAB_TOKEN, name="gitlab-health"),
    }
    yield made
    for f in made.values():
        f.stop()


def get(url: str, timeout: float = 30) -> tuple[int, dict, float]:
    started = time.monotonic()
    r = httpx.get(url, timeout=timeout)
    return r.status_code, r.json(), time.monotonic() - started


def test_plain_health_is_cheap_and_deep_reports_the_store(spawn) -> None:
    gw = spawn([])
    status, body, _ = get(gw.url + "/health")
    assert status == 200 and body["status"] == "ok"
    assert isinstance(body["active_streams"], int)
    assert "store" not in body and "services" not in body, "plain /health probes nothing"
    for path in ("/health?deep=1", "/ready"):
        status, body, took = get(gw.url + path)
        assert status == 200, body
        assert body["status"] == "ok"
        assert body["store"]["status"] == "ok" and isinstance(body["store"]["latency_ms"], int)
        assert body["services"] == {} and body["upstreams"] == {}, "no environment credentials: nothing probed"
        assert isinstance(body["active_streams"], int)
        assert body["budget_ms"] == 2000
        if TARGET == "worker":  # sessions live in Durable Objects: one is asked
            assert body["durable_objects"]["status"] == "ok", body
            assert isinstance(body["durable_objects"]["latency_ms"], int)


def test_deep_health_probes_each_configured_upstream(spawn, fakes) -> None:
    gw = spawn(LOCAL, env={
        "JIRA_URL": fakes["jira"].url, "JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": JIRA_TOKEN,
        "CONFLUENCE_URL": fakes["confluence"].url, "CONFLUENCE_EMAIL": EMAIL, "CONFLUENCE_API_TOKEN": CONF_TOKEN,
        # The wrong token: GitLab answers 401, reported as an unauthorized upstream.
        "GITLAB_API_URL": fakes["gitlab"].url, "GITLAB_TOKEN": "glpat-not-the-right-one",
    })
    status, body, took = get(gw.url + "/health?deep=1")
    print(f"\ndeep health with 3 upstreams: {took * 1000:.0f} ms, {json.dumps(body['upstreams'])}")
    assert status == 200, "an upstream problem degrades the report but does not make the instance unready"
    assert body["status"] == "degraded"
    assert body["services"] == {"jira": "ok", "confluence": "ok", "gitlab": "error"}
    assert body["upstreams"]["jira"]["status"] == "ok" and body["upstreams"]["jira"]["http_status"] == 200
    assert isinstance(body["upstreams"]["jira"]["latency_ms"], int)
    assert body["upstreams"]["gitlab"] == {**body["upstreams"]["gitlab"], "status": "error", "error": "unauthorized", "http_status": 401}
    text = json.dumps(body)
    for secret in (JIRA_TOKEN, CONF_TOKEN, "glpat-not-the-right-one", EMAIL):
        assert secret not in text, "no credential in the report"
    # The report is reused for a few seconds by the instance that made it: a second check sends
    # nothing upstream. (Each Lambda execution environment has its own memory, and the emulator runs
    # 16: the second request may land in another one, which probes again.)
    before = fakes["jira"].stats()["requests"]
    assert before >= 1
    status, again, _ = get(gw.url + "/health?deep=1")
    assert again["services"] == body["services"]
    if TARGET != "lambda":
        assert fakes["jira"].stats()["requests"] == before


def test_deep_health_answers_within_its_budget_when_an_upstream_hangs(spawn, fakes) -> None:
    gw = spawn(LOCAL + ["--health-budget", "1s"], env={
        "GITLAB_API_URL": fakes["gitlab"].url, "GITLAB_TOKEN": GITLAB_TOKEN,
    })
    fakes["gitlab"].control("/_fake/faults", {"delay_ms": 8000, "count": 1})
    status, body, took = get(gw.url + "/health?deep=1")
    print(f"\ndeep health with a hanging upstream (8 s), budget 1 s: answered in {took * 1000:.0f} ms")
    assert status == 200 and body["status"] == "degraded"
    assert body["services"] == {"gitlab": "error"}
    assert body["upstreams"]["gitlab"]["error"] == "timeout"
    assert body["budget_ms"] == 1000 and body["took_ms"] < 2000
    assert took < 4, "the report does not wait for the hanging upstream"


@pytest.mark.native_only
def test_deep_health_reports_the_bridged_children(spawn, tmp_path) -> None:
    assert TIME_SERVER.exists(), "tests/run-all.sh installs mcp-server-time into tests/.venv-stdio"
    config = tmp_path / "bridge.toml"
    config.write_text(textwrap.dedent(f"""
        [servers.time]
        command = "{TIME_SERVER}"
        args = ["--local-timezone", "UTC"]
        isolation = "shared"
        """))
    gw = spawn(["--stdio-config", str(config)])
    status, body, _ = get(gw.url + "/ready")
    assert status == 200 and body["status"] == "ok"
    time_server = body["bridge"]["servers"]["time"]
    assert body["bridge"]["status"] == "ok"
    assert time_server["status"] == "ok" and time_server["running_children"] == 0, "children start on demand"
    assert time_server["restart_budget"] >= 1 and time_server["recent_crashes"] == 0
