"""Two native mcp-edge replicas on one shared session store, for tests/replicas.

Each test gets a `pair` fixture per backend: `redis` (a real `redis-server` from Debian's package,
started per test on a free loopback port, with a password) or `dynamodb` (moto in server mode,
one request at a time as tests/moto-serial.py explains, started once per run; a fresh table per test,
laid out as infra/terraform declares it). `pair(args)` starts replicas A and B with the same arguments
and `--fingerprint-key`, as a Deployment's pods would be configured. `Routing` is an httpx transport
that sends each request of one client to A or B by a rule, standing in for a load balancer without
session affinity, and records where each request went."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.request

import httpx2 as httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MOTO_PYTHON = os.environ.get("MOTO_PYTHON", str(ROOT / "tests/.venv-lambda/bin/python"))
REDIS_PASSWORD = "replica-test-pw-5e1f"


# The process, polling and DynamoDB helpers of tests/e2e (loaded under its own name: both files are
# `conftest` to pytest).
_spec = importlib.util.spec_from_file_location("e2e_conftest", ROOT / "tests/e2e/conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)
free_port, eventually = e2e.free_port, e2e.eventually


class Replica(e2e.NativeServer):
    """One running mcp-edge process (started at once), its data directory removed when it stops."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__(args, data_dir=tempfile.mkdtemp(prefix="mcp-edge-replica-"), env=env)
        self.start()
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> int:
        try:
            return super().stop()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class Routing(httpx.AsyncBaseTransport):
    """Sends each request to replica 0 (A) or 1 (B): `route(method, n)` picks, n counting requests.
    Records (method, replica) per request in `log`."""

    def __init__(self, ports: list[int], route) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.ports = ports
        self.route = route
        self.n = 0
        self.log: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        i = self.route(request.method, self.n)
        self.n += 1
        self.log.append((request.method, i))
        request.url = request.url.copy_with(port=self.ports[i])
        request.headers["host"] = f"127.0.0.1:{self.ports[i]}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def alternating():
    """Requests alternate between A and B, and a GET (an SSE reconnect) always goes to the replica that
    did not take the last POST: the worst case for a store-less replica."""
    last_post = {"i": None}

    def route(method: str, n: int) -> int:
        if method == "GET" and last_post["i"] is not None:
            return 1 - last_post["i"]
        i = n % 2
        if method == "POST":
            last_post["i"] = i
        return i

    return route


@pytest.fixture(scope="session")
def moto():
    """moto serving DynamoDB on loopback, one request at a time (tests/moto-serial.py)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
    proc = subprocess.Popen([MOTO_PYTHON, str(ROOT / "tests/moto-serial.py"), str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(endpoint + "/", timeout=1)
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    try:
        eventually(up, "moto answers", timeout=20, interval=0.1)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--requirepass", REDIS_PASSWORD],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            return self.cli("PING") == "PONG"

        eventually(answers, "redis-server answers", timeout=10)

    def cli(self, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--no-auth-warning", "-a", REDIS_PASSWORD, *args],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(params=["redis", "dynamodb"])
def backend(request):
    return request.param


@pytest.fixture
def pair(backend, request):
    """`pair(args)` -> (A, B): two replicas on one fresh shared store of `backend`."""
    started: list[Replica] = []
    redis: list[RedisServer] = []

    def start(args: list[str] | None = None) -> tuple[Replica, Replica]:
        args = [*(args or []), "--fingerprint-key", "replicas-share-this-key"]
        if backend == "redis":
            server = RedisServer()
            redis.append(server)
            env = {"MCP_EDGE_SESSION_STORE": "redis",
                   "MCP_EDGE_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{server.port}"}
        else:
            endpoint = request.getfixturevalue("moto")
            table = f"replicas-{int(time.time() * 1000)}-{len(started)}"
            e2e.create_session_table(table, endpoint)
            env = {"MCP_EDGE_SESSION_STORE": "dynamodb", "MCP_EDGE_DYNAMODB_TABLE": table,
                   "AWS_ENDPOINT_URL_DYNAMODB": endpoint, "AWS_ACCESS_KEY_ID": "local",
                   "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
        a = Replica(args, env)
        started.append(a)
        b = Replica(args, env)
        started.append(b)
        return a, b

    start.redis = redis
    yield start
    for r in started:
        r.stop()
    for s in redis:
        s.stop()
