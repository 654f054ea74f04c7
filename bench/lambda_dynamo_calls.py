"""DynamoDB calls per request of the Lambda, counted by its session store and read from /metrics:
the bootstrap under `cargo lambda watch` (one execution environment) with moto on 127.0.0.1.
Run with tests/.venv/bin/python after `bash tests/run-lambda.sh` has installed tests/.venv-lambda."""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
os.environ["MCP_EDGE_TARGET"] = "lambda"
N = int(os.environ.get("BENCH_CALLS", "50"))


def post(url: str, body: dict, headers: dict) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json", "accept": "application/json, text/event-stream", **headers})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def calls(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    return {op: int(n) for op, n in re.findall(r'^mcp_edge_dynamodb_calls_total\{op="(\w+)"\} (\d+)$', text, re.M)}


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen([str(ROOT / "tests" / ".venv-lambda" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{port}"
    from conftest import LambdaServer

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    server = LambdaServer(["--lambda-concurrency", "1"]).start()
    try:
        url = server.url
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
        before = calls(url)
        for i in range(N):
            post(f"{url}/mcp", {"jsonrpc": "2.0", "id": i, "method": "tools/list", "params": {"_meta": meta}},
                 {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"})
        after = calls(url)
        stateless = {k: after[k] - before[k] for k in after}
        _, headers, _ = post(f"{url}/mcp", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}, {})
        sid = headers.get("mcp-session-id") or headers.get("Mcp-Session-Id")
        post(f"{url}/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"}, {"mcp-session-id": sid})
        before = calls(url)
        for i in range(N):
            post(f"{url}/mcp", {"jsonrpc": "2.0", "id": i + 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "x"}}}, {"mcp-session-id": sid})
        after = calls(url)
        sessionful = {k: after[k] - before[k] for k in after}
        print(f"stateless tools/list x{N}: {stateless['read'] / N:.2f} reads, {stateless['conditional_write'] / N:.2f} writes per request (budget 0 / 0)")
        print(f"sessionful tools/call x{N}: {sessionful['read'] / N:.2f} reads, {sessionful['conditional_write'] / N:.2f} conditional writes per request (budget <= 1 / <= 1)")
    finally:
        server.stop()
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    main()
