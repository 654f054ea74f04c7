"""The core's session-store contract (shared/src/store_contract.rs) against the Worker's Durable Object
store (`DoSessionStore`) under `wrangler dev`: each case runs inside a fresh `SessionObject`, through the
test-only route `/__test/store/<object>/<case>` (answered only with test tools enabled), and the
concurrent-writers case runs its writers as concurrent requests to one object, since a Durable Object
serves one request's storage operations at a time. The same cases run against the memory store
(`cargo test`), redb (`server/src/store.rs`) and DynamoDB (`lambda/tests/dynamo_store.rs`)."""

import concurrent.futures
import time
import uuid

import httpx2 as httpx
import pytest

from conftest import TARGET

pytestmark = [
    pytest.mark.worker_only,
    pytest.mark.skipif(TARGET != "worker", reason="drives the Worker's Durable Object store"),
]


def run(c: httpx.Client, object_name: str, case: str, **args: int) -> dict:
    r = c.get(f"/__test/store/{object_name}/{case}", params={"seed": 7, **args})
    assert r.status_code == 200, f"{case}: {r.status_code} {r.text}"
    return r.json()


def test_durable_object_store_keeps_the_contract(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        cases = run(c, uuid.uuid4().hex, "")["cases"]
        assert {"create", "compare_and_set", "delete_absent", "expiry"} <= set(cases), cases
        for case in cases:
            run(c, uuid.uuid4().hex, case)
        broken = c.get(f"/__test/store/{uuid.uuid4().hex}/no_such_case", params={"seed": 7})
        assert broken.status_code == 500 and "no contract case" in broken.text, broken.text


def test_durable_object_store_concurrent_writers_lose_no_update(base_url: str) -> None:
    writers, increments = 8, 10
    name = uuid.uuid4().hex
    with httpx.Client(base_url=base_url, timeout=60) as c:
        run(c, name, "setup")

        def writer(_: int) -> int:
            with httpx.Client(base_url=base_url, timeout=60) as w:
                return run(w, name, "writer", increments=increments)["conflicts"]

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(writers) as pool:
            conflicts = sum(pool.map(writer, range(writers)))
        run(c, name, "check", total=writers * increments)
        print(f"{writers * increments} increments by {writers} concurrent requests, "
              f"{conflicts} lost races retried, {time.monotonic() - started:.1f} s")
