"""Fixtures: start the real `mcp-edge` binary on 127.0.0.1 (or use MCP_EDGE_URL for another target)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("MCP_EDGE_BIN", str(ROOT / "target" / "release" / "mcp-edge"))
REMOTE_URL = os.environ.get("MCP_EDGE_URL")  # e.g. a `wrangler dev` or local Lambda base URL


class Server:
    """One running mcp-edge process."""

    def __init__(self, args: list[str], data_dir: str | None = None) -> None:
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mcp-edge-e2e-")
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_path = pathlib.Path(self.data_dir) / "stderr.log"

    def start(self) -> "Server":
        cmd = [BIN, "--bind", "127.0.0.1:0", "--data-dir", self.data_dir, "--enable-test-tools", *self.args]
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
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

    def start(args: list[str], data_dir: str | None = None) -> Server:
        if REMOTE_URL:
            pytest.skip("needs a locally started mcp-edge")
        s = Server(args, data_dir).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
