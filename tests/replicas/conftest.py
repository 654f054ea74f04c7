"""Two native mcp-edge replicas on one shared session store, for tests/replicas.

Each test gets a `pair` fixture per backend: `redis` (a real `redis-server` from Debian's package,
started per test on a free loopback port, with a password) or `dynamodb` (moto in server mode,
one request at a time as tests/moto-serial.py explains, started once per run; a fresh table per test,
laid out as infra/terraform declares it). `pair(args)` starts replicas A and B with the same arguments
and `--fingerprint-key`, as a Deployment's pods would be configured. `Routing` is an httpx transport
that sends each request of one client to A or B by a rule, standing in for a load balancer without
session affinity, and records where each request went."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import httpx2 as httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("MCP_EDGE_BIN", str(ROOT / "target/release/mcp-edge"))
MOTO_PYTHON = os.environ.get("MOTO_PYTHON", str(ROOT / "tests/.venv-lambda/bin/python"))
REDIS_PASSWORD = "replica-test-pw-5e1f"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check, what: str, timeout: float = 10.0, interval: float = 0.05):
    """Polls `check()` until it returns a truthy value, bounded; fails naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {value!r})")
        time.sleep(interval)
        value = check()
    return value


class Replica:
    """One running mcp-edge process."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="mcp-edge-replica-")
        self.log_path = pathlib.Path(self.data_dir) / "stderr.log"
        cmd = [BIN, "--bind", "127.0.0.1:0", "--data-dir", self.data_dir, "--enable-test-tools", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(self.log_path, "a"), text=True,
                                     env={**os.environ, **env})
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"mcp-edge exited early: {self.logs()}")
            if "listening on " in line:
                self.url = line.strip().split("listening on ", 1)[1]
                self.port = int(self.url.rsplit(":", 1)[1])
                return
        raise RuntimeError("mcp-edge did not report its address within 30 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


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


DYNAMO_HEADERS = {
    "content-type": "application/x-amz-json-1.0",
    # moto checks neither signature nor credentials; the header only has to look like SigV4.
    "authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
}


def dynamo(endpoint: str, target: str, body: dict) -> dict:
    req = urllib.request.Request(endpoint, data=json.dumps(body).encode(), method="POST",
                                 headers={**DYNAMO_HEADERS, "x-amz-target": f"DynamoDB_20120810.{target}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


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
            dynamo(endpoint, "CreateTable", {
                "TableName": table, "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "session_id", "AttributeType": "S"}]})
            dynamo(endpoint, "UpdateTimeToLive", {"TableName": table, "TimeToLiveSpecification": {
                "Enabled": True, "AttributeName": "expires_at"}})
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
