"""Fixtures: start the gateway under test on 127.0.0.1: the real `mcp-edge` binary (default), or the
Cloudflare Worker under `wrangler dev` when MCP_EDGE_TARGET=worker (the bundle must be built first:
`bash workers/build.sh`), or the AWS Lambda under `cargo lambda watch` with sessions in a local
DynamoDB-compatible server when MCP_EDGE_TARGET=lambda (`bash tests/run-lambda.sh` sets it up). MCP_EDGE_URL points every base_url test at an already running target.
Tests that only make sense natively are marked `native_only`; runs against other targets deselect them
with `-m "not native_only"`."""

from __future__ import annotations

import functools
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("MCP_EDGE_BIN", str(ROOT / "target" / "release" / "mcp-edge"))
REMOTE_URL = os.environ.get("MCP_EDGE_URL")  # e.g. a `wrangler dev` or local Lambda base URL
TARGET = os.environ.get("MCP_EDGE_TARGET", "native")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "native_only: needs the native binary (deselected for other targets)")
    config.addinivalue_line("markers", "worker_only: checks the Worker's own storage (deselected natively)")
    config.addinivalue_line("markers", "lambda_only: checks the Lambda's own behaviour (deselected elsewhere)")
    config.addinivalue_line("markers", "websocket: needs /ws (deselected for the Lambda, which has none)")
    config.addinivalue_line(
        "markers",
        "sampling: a gateway tool asks the client (sampling/createMessage) on the session's GET stream during "
        "a call (2025 eras; every target, the Lambda through its session outbox and a DynamoDB mailbox)",
    )
    config.addinivalue_line(
        "markers",
        "not_worker: native and Lambda only (upstream TLS trust and proxies; the Worker's fetch has neither), "
        "deselected when MCP_EDGE_TARGET=worker",
    )
    config.addinivalue_line(
        "markers",
        "client_disconnect: needs the server to notice a client leaving a held stream (deselected for the "
        "Lambda: cargo lambda watch does not pass a disconnect on to the function)",
    )


def pytest_collection_modifyitems(config, items) -> None:
    if TARGET != "worker":
        return
    keep = [i for i in items if i.get_closest_marker("not_worker") is None]
    dropped = [i for i in items if i.get_closest_marker("not_worker") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


class NativeServer:
    """One running mcp-edge process."""

    def __init__(self, args: list[str], data_dir: str | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mcp-edge-e2e-")
        self.args = args
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_path = pathlib.Path(self.data_dir) / "stderr.log"

    def start(self) -> "Server":
        cmd = [BIN, "--bind", "127.0.0.1:0", "--data-dir", self.data_dir, "--enable-test-tools", *self.args]
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **self.env})
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"mcp-edge exited early: {self.log_path.read_text()}")
            if "listening on " in line:
                self.url = line.strip().split("listening on ", 1)[1]
                return self
        raise RuntimeError("mcp-edge did not report its address within 30 s")

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError("mcp-edge did not stop within 15 s of SIGTERM")
        return self.proc.returncode if self.proc else 0

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def eventually(check, what: str, timeout: float = 10.0, interval: float = 0.05):
    """Polls `check()` until it returns a truthy value (returned), bounded by `timeout` seconds; fails
    the test naming `what` (and the last value) when it never does. The one way tests wait."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {value!r})")
        time.sleep(interval)
        value = check()
    return value


# Fake upstreams (tests/fake-upstream) started by any test module, by URL. Every fake checks each
# request and reply against the vendor's document and records violations (they survive
# `/_fake/reset`); the autouse fixture below fails the test during which a new one was recorded.
FAKES: dict[str, int] = {}


def register_fake(url: str) -> None:
    """Watches the fake at `url` for contract violations from now on."""
    FAKES[url] = 0


def unregister_fake(url: str) -> list[str]:
    """Stops watching the fake at `url` (it is about to stop); returns the violations it recorded
    that no check has seen yet, which the caller asserts empty."""
    seen = FAKES.pop(url, 0)
    return fake_violations(url)[seen:]


def fake_violations(url: str) -> list[str]:
    """Every violation the fake at `url` has recorded since it started."""
    import urllib.request

    with urllib.request.urlopen(url + "/_fake/stats", timeout=10) as r:
        return json.loads(r.read())["violations"]


@pytest.fixture(autouse=True)
def _fake_contracts():
    """After every test: no fake upstream recorded a contract violation during it."""
    yield
    new: list[str] = []
    for url, seen in list(FAKES.items()):
        violations = fake_violations(url)
        FAKES[url] = len(violations)
        new += [f"{url}: {v}" for v in violations[seen:]]
    assert not new, f"contract violations recorded by the fake upstreams during this test: {new}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FLAGS_WITHOUT_EFFECT = {"--log-json"}  # Worker and Lambda logs are JSON lines already


@functools.cache
def settings_table() -> tuple[dict, ...]:
    """The one settings table (`mcp-edge settings --json`, from the core): each setting's flag,
    variable, list separator and targets. Flags given to a Worker or Lambda gateway become its
    variables through it."""
    out = subprocess.run([BIN, "settings", "--json"], capture_output=True, text=True, timeout=60, check=True)
    return tuple(json.loads(out.stdout))


def flags_as_variables(args: list[str], target: str) -> dict[str, str]:
    """Native flags as `target`'s variables (the same names as the native environment); a flag whose
    setting `target` does not read is refused, unless it has no effect there."""
    by_flag = {s["flag"]: s for s in settings_table() if s["flag"]}
    out: dict[str, str] = {}
    it = iter(args)
    for flag in it:
        if flag in FLAGS_WITHOUT_EFFECT:
            continue
        setting = by_flag.get(flag)
        if setting is None or target not in setting["targets"]:
            raise AssertionError(f"no {target} variable for {flag}")
        name = setting["var"]
        if setting["shape"] == "switch":
            out[name] = "true"
            continue
        value = next(it)
        sep = setting["separator"]
        out[name] = f"{out[name]}{sep}{value}" if sep and name in out else value
    return out


class ProcessGroupServer:
    """A gateway run by a tool that starts further processes (wrangler and workerd, cargo lambda and the
    function): started in its own session, stopped as a whole process group."""

    proc: subprocess.Popen[str] | None
    log_path: pathlib.Path
    tool = "the server"

    def stop(self) -> int:
        """Stops the whole process group; 0 when it stopped on request."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
                raise AssertionError(f"{self.tool} did not stop within 15 s of SIGTERM")
            return 0 if code in (0, -signal.SIGTERM, 128 + signal.SIGTERM) else code
        return self.proc.returncode if self.proc else 0

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class WorkerServer(ProcessGroupServer):
    """The Worker under one `wrangler dev` process (workerd), with Durable Object state in data_dir."""

    tool = "wrangler dev"

    def __init__(self, args: list[str], data_dir: str | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mcp-edge-worker-e2e-")
        self.vars = {**self.translate(args), **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_path = pathlib.Path(self.data_dir) / "wrangler.log"

    @staticmethod
    def translate(args: list[str], target: str = "worker") -> dict[str, str]:
        return {"MCP_EDGE_TEST_TOOLS": "true", "MCP_EDGE_ALLOWED_HOSTS": "localhost",
                **flags_as_variables(args, target)}

    def start(self) -> "WorkerServer":
        port = free_port()
        cmd = ["bash", str(ROOT / "workers" / "dev.sh"), "--persist-to", str(pathlib.Path(self.data_dir) / "state")]
        for k, v in self.vars.items():
            cmd += ["--var", f"{k}:{v}"]
        env = {**os.environ, "PORT": str(port), "INSPECTOR_PORT": str(free_port()), "MCP_EDGE_WORKER_PREBUILT": "1"}
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wrangler dev exited early: {self.logs()}")
            if "Ready on " in self.logs()[offset:]:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"wrangler dev was not ready within 60 s: {self.logs()}")



DYNAMO_HEADERS = {
    "content-type": "application/x-amz-json-1.0",
    # moto checks neither signature nor credentials; the header only has to look like SigV4.
    "authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
}


def dynamo(target: str, body: dict, endpoint: str | None = None) -> dict:
    """One DynamoDB JSON-protocol call to the local server at `endpoint` (default: the one named by
    AWS_ENDPOINT_URL_DYNAMODB)."""
    import urllib.request

    endpoint = endpoint or os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    assert endpoint.startswith("http://127.0.0.1:"), "DynamoDB tests only talk to loopback"
    req = urllib.request.Request(endpoint, data=json.dumps(body).encode(), method="POST",
                                 headers={**DYNAMO_HEADERS, "x-amz-target": f"DynamoDB_20120810.{target}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def create_session_table(name: str, endpoint: str | None = None) -> None:
    """The sessions table as infra/terraform declares it: key session_id (S), TTL on expires_at (on the
    server at `endpoint`, default AWS_ENDPOINT_URL_DYNAMODB's)."""
    tables = dynamo("ListTables", {}, endpoint).get("TableNames", [])
    if name in tables:
        return
    dynamo("CreateTable", {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                           "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
                           "AttributeDefinitions": [{"AttributeName": "session_id", "AttributeType": "S"}]},
           endpoint)
    dynamo("UpdateTimeToLive", {"TableName": name, "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires_at"}},
           endpoint)


# The path prefix in front of the function that the Lambda event does not carry (`MCP_EDGE_BASE_PATH`):
# `cargo lambda watch` serves the function at /lambda-url/bootstrap. Production Function URLs have
# none (empty): tests/run-lambda.sh runs the suite once more with MCP_EDGE_LAMBDA_BASE_PATH empty.
LAMBDA_BASE_PATH = os.environ.get("MCP_EDGE_LAMBDA_BASE_PATH", "/lambda-url/bootstrap")


class LambdaServer(ProcessGroupServer):
    """The Lambda `bootstrap` under `cargo lambda watch` (its local Runtime API and Function URL
    emulation), sessions in a table of the local DynamoDB-compatible server (moto), named by data_dir."""

    tool = "cargo lambda watch"

    def __init__(self, args: list[str], data_dir: str | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mcp-edge-lambda-e2e-")
        self.table = "sessions-" + pathlib.Path(self.data_dir).name.replace("_", "-")
        # Concurrent execution environments (cargo lambda --concurrency), each with its own memory.
        self.concurrency = "16"
        if "--lambda-concurrency" in args:
            i = args.index("--lambda-concurrency")
            self.concurrency = args[i + 1]
            args = args[:i] + args[i + 2:]
        invoke_mode = None
        if "--lambda-invoke-mode" in args:
            i = args.index("--lambda-invoke-mode")
            invoke_mode = args[i + 1]
            args = args[:i] + args[i + 2:]
        self.vars = {**WorkerServer.translate(args, "lambda"), **(env or {})}
        if invoke_mode:
            self.vars["MCP_EDGE_LAMBDA_INVOKE_MODE"] = invoke_mode
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_path = pathlib.Path(self.data_dir) / "lambda.log"

    def start(self) -> "LambdaServer":
        create_session_table(self.table)
        port = free_port()
        env_vars = {**self.vars, "MCP_EDGE_DYNAMODB_TABLE": self.table,
                    "AWS_ENDPOINT_URL_DYNAMODB": os.environ["AWS_ENDPOINT_URL_DYNAMODB"], "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
        if LAMBDA_BASE_PATH:  # unset as in production otherwise (cargo lambda refuses empty values)
            env_vars["MCP_EDGE_BASE_PATH"] = LAMBDA_BASE_PATH
        cmd = [str(ROOT / "tests" / ".venv-lambda" / "bin" / "cargo-lambda"), "lambda", "watch", "-p", "mcp-edge-lambda",
               "--bin", "bootstrap", "--invoke-address", "127.0.0.1", "--invoke-port", str(port), "--concurrency", self.concurrency,
               "--ignore-changes"]
        for k, v in env_vars.items():
            if v == "":
                continue  # cargo lambda refuses empty values; for the function, empty means unset
            assert "," not in v, f"cargo lambda splits --env-var values at commas: {k}={v}"
            cmd += ["--env-var", f"{k}={v}"]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT, start_new_session=True)
        # With a base path the function is reached under it; without one (production) at the root.
        self.url = f"http://127.0.0.1:{port}{LAMBDA_BASE_PATH}"
        deadline = time.monotonic() + 300
        import urllib.request

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cargo lambda watch exited early: {self.logs()[offset:]}")
            try:
                # cargo lambda starts the function on the first request; a client that gives up on
                # that request makes the function's runtime client fail and the instance exit, so
                # the first wait is generous.
                with urllib.request.urlopen(self.url + "/health", timeout=120) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the Lambda did not answer /health within 300 s: {self.logs()[offset:]}")



Server = {"worker": WorkerServer, "lambda": LambdaServer}.get(TARGET, NativeServer)


@pytest.fixture(scope="session")
def base_url():
    """Base URL of a gateway with test tools enabled."""
    if REMOTE_URL:
        yield REMOTE_URL.rstrip("/")
        return
    server = Server([]).start()
    yield server.url
    assert server.stop() == 0, "graceful shutdown exits 0"


@pytest.fixture
def spawn():
    """Starts extra mcp-edge processes with custom flags; stops them after the test."""
    servers: list[Server] = []

    def start(args: list[str], data_dir: str | None = None, env: dict[str, str] | None = None) -> Server:
        """`env`: extra environment variables (natively) or variables (Worker, Lambda)."""
        if REMOTE_URL:
            pytest.skip("needs a locally started mcp-edge")
        s = Server(args, data_dir, env).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
