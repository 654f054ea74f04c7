"""Connection budgets, shutdown and WebSocket close codes of the native server (issue 14, items 2, 5, 6):
slowloris heads, idle keep-alive, stalled and trickling bodies, an over-limit `Content-Length`, 401 before
the body, the connection cap and its `/health` reserve, the descriptor limit, RSS under a stalled-body
attack, the shutdown grace period and a second signal, and WebSocket close codes 1009 and 1001.

Every attack is bounded in count and time; timeouts are configured small (1–2 s) so the suite is fast.
Figures (close times, RSS) are printed with `-s`."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import resource
import signal
import socket
import subprocess
import textwrap
import threading
import time

import httpx2 as httpx
import pytest
import websockets

from conftest import BIN, register_fake, unregister_fake

pytestmark = [
    pytest.mark.native_only,  # sockets, descriptors and signals of the native binary
    pytest.mark.skipif(os.environ.get("MCP_EDGE_URL") is not None, reason="starts its own mcp-edge"),
]

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAKE_BIN = os.environ.get("FAKE_UPSTREAM_BIN", str(ROOT / "target" / "release" / "fake-upstream"))
TIME_SERVER = ROOT / "tests/.venv-stdio/bin/mcp-server-time"
GITLAB_TOKEN = "glpat-connections-test-0b7e"
JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "conn", "version": "1"}},
}
# `mcp-edge hash-key alice-key-1234` (the salted hash of the key the tests send).
ALICE_KEY = "alice-key-1234"


def hash_key(key: str) -> str:
    out = subprocess.run([BIN, "hash-key", key], capture_output=True, text=True, timeout=10, check=True).stdout
    return out.strip().split("hash: ", 1)[1]


def addr(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def raw(url: str, timeout: float = 5) -> socket.socket:
    s = socket.create_connection(addr(url), timeout=timeout)
    return s


def read_response(s: socket.socket, limit: float = 5) -> tuple[int, bytes]:
    """Reads until the peer closes or `limit` seconds pass; returns the status and everything read."""
    s.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            if b"\r\n\r\n" in data and b"connection: close" not in data.lower():
                break
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


def closed_within(s: socket.socket, limit: float) -> float | None:
    """Seconds until the peer closes `s` (reads and discards), or None if it stays open for `limit`."""
    started = time.monotonic()
    s.settimeout(0.1)
    while time.monotonic() - started < limit:
        try:
            if not s.recv(65536):
                return time.monotonic() - started
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def tools_list(url: str, headers: dict | None = None) -> list[str]:
    """A whole MCP exchange on a fresh session: initialize, initialized, tools/list."""
    h = {**JSON, **(headers or {})}
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{url}/mcp", json=INIT, headers=h)
        assert r.status_code == 200, r.text
        sid = r.headers["mcp-session-id"]
        h["mcp-session-id"] = sid
        h["mcp-protocol-version"] = "2025-06-18"
        assert c.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h).status_code == 202
        r = c.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=h)
        assert r.status_code == 200, r.text
        return [t["name"] for t in r.json()["result"]["tools"]]


def test_slowloris_heads_are_closed_within_the_header_timeout_while_others_are_served(spawn):
    gw = spawn(["--header-timeout", "1s", "--idle-timeout", "2s"])
    conns = [raw(gw.url) for _ in range(200)]
    first_byte = []
    for s in conns:
        s.sendall(b"G")
        first_byte.append(time.monotonic())
        s.setblocking(False)
    normal: dict = {}

    def normal_client() -> None:
        # Runs while the attack goes on: /health and a whole MCP exchange.
        try:
            normal["health"] = httpx.get(f"{gw.url}/health", timeout=5).status_code
            normal["tools"] = tools_list(gw.url)
        except Exception as e:  # reported by the assertion below
            normal["error"] = repr(e)

    client = threading.Thread(target=normal_client)
    client.start()
    closed_after: dict[int, float] = {}
    started = time.monotonic()
    # One more byte per connection every 0.1 s, never finishing the head; bounded to 4 s.
    while len(closed_after) < len(conns) and time.monotonic() - started < 4:
        for i, s in enumerate(conns):
            if i in closed_after:
                continue
            try:
                if s.recv(1) == b"":
                    closed_after[i] = time.monotonic() - first_byte[i]
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed_after[i] = time.monotonic() - first_byte[i]
                continue
            try:
                s.send(b"E")
            except BlockingIOError:
                pass
            except OSError:
                closed_after[i] = time.monotonic() - first_byte[i]
        time.sleep(0.1)
    client.join(timeout=10)
    for s in conns:
        s.close()
    assert normal.get("health") == 200 and "echo" in normal.get("tools", []), normal
    assert len(closed_after) == len(conns), f"{len(conns) - len(closed_after)} slowloris connections still open after 4 s"
    worst = max(closed_after.values())
    print(f"\nslowloris: {len(conns)} connections closed {min(closed_after.values()):.2f}–{worst:.2f} s after their first byte (header timeout 1 s)")
    assert min(closed_after.values()) > 0.9, "not before the header timeout"
    assert worst < 2.5, f"closed only after {worst:.2f} s"


def test_idle_and_kept_alive_connections_close_after_the_idle_timeout(spawn):
    gw = spawn(["--idle-timeout", "1s", "--header-timeout", "5s"])
    after_request = raw(gw.url)
    after_request.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    after_request.settimeout(5)
    assert after_request.recv(65536).startswith(b"HTTP/1.1 200")
    kept = closed_within(after_request, 5)
    silent = raw(gw.url)
    waited = closed_within(silent, 5)
    print(f"\nidle: kept-alive connection closed {kept:.2f} s after its answer, a silent one after {waited:.2f} s (idle timeout 1 s)")
    assert kept is not None and 0.8 < kept < 3.0
    assert waited is not None and 0.8 < waited < 3.0


def test_a_stalled_body_gets_408_within_the_body_budget(spawn):
    gw = spawn(["--body-timeout", "2s", "--body-min-rate", "1000"])
    s = raw(gw.url)
    head = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n"
    started = time.monotonic()
    s.sendall(head.encode() + b'{"jsonrpc":')
    status, data = read_response(s, 6)
    elapsed = time.monotonic() - started
    print(f"\nstalled body: {status} after {elapsed:.2f} s (min rate 1000 B/s, 1 s grace)")
    assert status == 408 and b"slower than 1000 bytes/s" in data, data[:300]
    assert 0.8 < elapsed < 2.5
    # A body trickling at a fine rate still has to end within the total budget.
    s = raw(gw.url)
    s.sendall(head.encode())
    started = time.monotonic()
    status, data = 0, b""
    for _ in range(40):  # 1 KiB per 0.1 s, well over the minimum rate, for longer than the 2 s total
        try:
            s.sendall(b" " * 1024)
        except OSError:
            break
        time.sleep(0.1)
        if time.monotonic() - started > 2.5:
            break
    status, data = read_response(s, 3)
    elapsed = time.monotonic() - started
    assert status == 408 and b"within 2000 ms" in data, data[:300]
    assert elapsed < 4.0


def test_an_oversized_content_length_gets_413_before_any_body(spawn):
    gw = spawn(["--max-body-bytes", "1000"])
    s = raw(gw.url)
    started = time.monotonic()
    s.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
    status, data = read_response(s, 5)
    assert status == 413 and b"exceeds 1000 bytes" in data, data[:300]
    assert time.monotonic() - started < 2, "answered without waiting for the body"
    assert closed_within(s, 2) is not None, "the connection closes (the body is never read)"
    # Bridged and REST routes use the same admission.
    s = raw(gw.url)
    s.sendall(b"POST /tools/call HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
    status, _ = read_response(s, 5)
    assert status == 413


def test_an_unauthenticated_client_gets_401_before_its_body(spawn):
    gw = spawn(["--api-key", f"alice={hash_key(ALICE_KEY)}"])
    for path in ("/mcp", "/messages?sessionId=00", "/tools/call"):
        s = raw(gw.url)
        started = time.monotonic()
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n".encode())
        status, data = read_response(s, 5)
        assert status == 401, (path, data[:300])
        assert b"www-authenticate" in data.lower()
        assert time.monotonic() - started < 2
    assert "echo" in tools_list(gw.url, {"authorization": f"Bearer {ALICE_KEY}"})


def test_rss_stays_bounded_under_100_stalled_4mb_bodies(spawn):
    gw = spawn(["--api-key", f"alice={hash_key(ALICE_KEY)}", "--body-timeout", "2s"])
    pid = gw.proc.pid
    before = rss_kib(pid)
    head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4194304\r\n\r\n"
    chunk = b" " * 65536
    conns, peak, answered = [], before, 0
    for _ in range(100):
        s = raw(gw.url)
        s.sendall(head)
        s.setblocking(False)
        for _ in range(64):  # up to the whole 4 MiB, as far as the socket takes it; then stall
            try:
                s.send(chunk)
            except (BlockingIOError, OSError):
                break
        conns.append(s)
        peak = max(peak, rss_kib(pid))
    for s in conns:
        s.setblocking(True)
        status, _ = read_response(s, 3)
        answered += status == 401
        peak = max(peak, rss_kib(pid))
        s.close()
    after = rss_kib(pid)
    print(f"\nstalled 4 MiB bodies ×100 with an API key set: RSS {before} KiB before, peak {peak} KiB, {after} KiB after; {answered} answered 401")
    assert answered == 100
    assert peak - before < 32 * 1024, f"RSS grew by {(peak - before) // 1024} MiB"


def test_over_the_connection_cap_health_answers_and_the_rest_is_shed(spawn):
    gw = spawn(["--max-connections", "20", "--idle-timeout", "30s", "--header-timeout", "30s"])
    held = [raw(gw.url) for _ in range(20)]
    time.sleep(0)  # the accept loop takes them in order; the probes below come after
    # Bounded poll: the server has taken all 20 (a 21st request is shed) within 5 s.
    deadline = time.monotonic() + 5
    while True:
        r = httpx.post(f"{gw.url}/mcp", json=INIT, headers=JSON, timeout=5)
        if r.status_code == 503 or time.monotonic() > deadline:
            break
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert "too many open connections" in r.json()["error"]["message"]
    assert httpx.get(f"{gw.url}/health", timeout=5).status_code == 200, "the reserve still answers /health"
    for s in held:
        s.close()
    deadline = time.monotonic() + 5
    while httpx.post(f"{gw.url}/mcp", json=INIT, headers=JSON, timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "slots come back when connections close"
        time.sleep(0.05)


def test_with_a_small_descriptor_limit_300_half_open_connections_do_not_hang_health(tmp_path):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    cmd = [BIN, "--bind", "127.0.0.1:0", "--data-dir", str(tmp_path), "--header-timeout", "20s", "--idle-timeout", "20s"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=limit)
    conns: list[socket.socket] = []
    try:
        line = proc.stdout.readline()
        assert "listening on " in line, line
        url = line.strip().split("listening on ", 1)[1]
        for _ in range(300):
            try:
                s = raw(url, timeout=2)
                s.sendall(b"GET /health HTTP/1.1\r\n")  # never finished
                conns.append(s)
            except OSError:
                break
        timings = []
        for _ in range(3):
            started = time.monotonic()
            r = httpx.get(f"{url}/health", timeout=5)
            timings.append(time.monotonic() - started)
            assert r.status_code in (200, 503), r.text
        print(f"\nfd limit 256, {len(conns)} half-open connections: /health answered in {max(timings):.3f} s at worst ({r.status_code})")
        assert proc.poll() is None, "the server is still running"
    finally:
        for s in conns:
            s.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


class SlowGitlab:
    """The fake GitLab (tests/fake-upstream), answering its next request after a delay."""

    def __init__(self, delay_ms: int) -> None:
        cmd = [FAKE_BIN, "--service", "gitlab", "--bind", "127.0.0.1:0", "--token", GITLAB_TOKEN]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert "listening on " in line, line
        self.url = line.strip().split("listening on ", 1)[1]
        register_fake(self.url)  # conftest checks its contract violations after every test
        httpx.post(f"{self.url}/_fake/faults", json={"delay_ms": delay_ms, "count": 1}, timeout=5)

    def requests(self) -> int:
        return httpx.get(f"{self.url}/_fake/stats", timeout=5).json()["requests"]

    def stop(self) -> None:
        unchecked = unregister_fake(self.url)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        assert unchecked == [], f"contract violations seen by the fake: {unchecked}"


LOCAL = ["--upstream-allow-http", "127.0.0.1", "--upstream-allow-private", "127.0.0.1"]


def slow_call(gw, fake: SlowGitlab) -> dict:
    """Starts a tool call that waits on the slow fake; returns a dict filled with its answer later."""
    headers = {**JSON, "x-gitlab-api-url": fake.url, "private-token": GITLAB_TOKEN}
    with httpx.Client(timeout=10) as c:
        r = c.post(f"{gw.url}/mcp", json=INIT, headers=headers)
        headers["mcp-session-id"] = r.headers["mcp-session-id"]
        headers["mcp-protocol-version"] = "2025-06-18"
        c.post(f"{gw.url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    answer: dict = {}
    before = fake.requests()

    def run() -> None:
        body = {"jsonrpc": "2.0", "id": 42, "method": "tools/call", "params": {"name": "gitlab_get_project", "arguments": {"projectId": 1}}}
        try:
            r = httpx.post(f"{gw.url}/mcp", json=body, headers=headers, timeout=60)
            answer["status"], answer["body"] = r.status_code, r.text
        except httpx.HTTPError as e:
            answer["error"] = repr(e)

    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + 10
    while fake.requests() <= before:
        assert time.monotonic() < deadline, "the call reached the fake upstream"
        time.sleep(0.05)
    return answer


def test_shutdown_cancels_in_flight_calls_after_the_grace_period(spawn):
    fake = SlowGitlab(30_000)
    try:
        gw = spawn([*LOCAL, "--tool-timeout", "60s", "--upstream-timeout", "60s", "--shutdown-grace", "1s"])
        answer = slow_call(gw, fake)
        started = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        code = gw.proc.wait(timeout=15)
        took = time.monotonic() - started
        deadline = time.monotonic() + 5
        while not answer and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"\nshutdown with a 30 s upstream call in flight, grace 1 s: exited {code} after {took:.2f} s; the call got {answer.get('status')}")
        assert code == 0
        assert 0.9 < took < 3.5, f"exited after {took:.2f} s"
        assert answer.get("status") == 503, answer
        err = json.loads(answer["body"])
        assert err["id"] == 42 and err["error"]["code"] == -32603 and "shutting down" in err["error"]["message"]
    finally:
        fake.stop()


def test_a_second_signal_exits_at_once(spawn):
    fake = SlowGitlab(30_000)
    try:
        gw = spawn([*LOCAL, "--tool-timeout", "60s", "--upstream-timeout", "60s", "--shutdown-grace", "30s"])
        slow_call(gw, fake)
        gw.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while "shutting down" not in gw.logs():
            assert time.monotonic() < deadline, "the first signal was noticed"
            time.sleep(0.02)
        assert gw.proc.poll() is None, "the first signal waits for the in-flight call"
        started = time.monotonic()
        gw.proc.send_signal(signal.SIGINT)
        code = gw.proc.wait(timeout=10)
        took = time.monotonic() - started
        print(f"\nsecond signal during a 30 s grace: exited {code} after {took:.3f} s")
        assert code == 128 + signal.SIGINT
        assert took < 1.0
    finally:
        fake.stop()


def test_websocket_over_the_limit_closes_with_1009(spawn):
    gw = spawn(["--max-body-bytes", "1000"])
    url = gw.url.replace("http://", "ws://") + "/ws"

    async def main() -> list[int]:
        codes = []
        for size in (1500, 200_000):  # within the reader's slack, and far over it
            async with websockets.connect(url, subprotocols=["mcp"], max_size=None) as ws:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * size}}))
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                codes.append(ws.close_code)
                assert "exceeds 1000 bytes" in (ws.close_reason or "")
        return codes

    assert asyncio.run(main()) == [1009, 1009]


def test_shutdown_closes_websockets_with_1001(spawn):
    gw = spawn([])
    url = gw.url.replace("http://", "ws://") + "/ws"

    async def main() -> tuple[int | None, float]:
        async with websockets.connect(url, subprotocols=["mcp"]) as ws:
            await ws.send(json.dumps({**INIT, "params": {**INIT["params"], "protocolVersion": "2025-06-18"}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["id"] == 1
            started = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            return ws.close_code, time.monotonic() - started

    code, took = asyncio.run(main())
    assert code == 1001 and took < 3
    assert gw.proc.wait(timeout=10) == 0


def test_shutdown_ends_held_streams_and_exits_without_waiting_for_the_grace(spawn):
    gw = spawn(["--shutdown-grace", "20s"])
    s = raw(gw.url)
    s.sendall(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    s.settimeout(5)
    seen = b""
    for _ in range(20):  # headers and the endpoint event may come in separate reads
        seen += s.recv(65536)
        if b"event: endpoint" in seen:
            break
    assert b"event: endpoint" in seen, seen
    started = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    ended = closed_within(s, 5)
    code = gw.proc.wait(timeout=10)
    took = time.monotonic() - started
    print(f"\nshutdown with a held SSE stream: stream ended after {ended:.2f} s, exited {code} after {took:.2f} s (grace 20 s)")
    assert ended is not None and ended < 2
    assert code == 0 and took < 3, "nothing in flight: no need to wait for the grace period"


def bridge_config(tmp: pathlib.Path) -> str:
    assert TIME_SERVER.exists(), "tests/run-all.sh installs mcp-server-time into tests/.venv-stdio"
    path = tmp / "bridge.toml"
    path.write_text(textwrap.dedent(f"""
        [servers.time]
        command = "{TIME_SERVER}"
        args = ["--local-timezone", "UTC"]
        isolation = "shared"
        """))
    return str(path)


def test_bridged_websocket_closes_with_1009_and_1001(spawn, tmp_path):
    gw = spawn(["--stdio-config", bridge_config(tmp_path), "--max-body-bytes", "1000"])
    url = gw.url.replace("http://", "ws://") + "/servers/time/ws"

    async def main() -> tuple[int | None, int | None]:
        async with websockets.connect(url, subprotocols=["mcp"], max_size=None) as ws:
            await ws.send("x" * 5000)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            too_big = ws.close_code
        async with websockets.connect(url, subprotocols=["mcp"]) as ws:
            await ws.send(json.dumps(INIT))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))["id"] == 1
            gw.proc.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            going_away = ws.close_code
        return too_big, going_away

    assert asyncio.run(main()) == (1009, 1001)
    assert gw.proc.wait(timeout=10) == 0


def ws_frames(s: socket.socket, limit: float) -> tuple[list[tuple[int, bytes]], float | None]:
    """Reads server frames (unmasked, RFC 6455 §5.2) without ever answering one, until the peer closes
    the TCP connection or `limit` seconds pass; returns the frames and when the connection closed."""
    started = time.monotonic()
    s.settimeout(0.2)
    data = b""
    closed = None
    while time.monotonic() - started < limit:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            closed = time.monotonic() - started
            break
        if not chunk:
            closed = time.monotonic() - started
            break
        data += chunk
    frames = []
    while len(data) >= 2:
        opcode, length, at = data[0] & 0x0F, data[1] & 0x7F, 2
        if length == 126:
            length, at = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            length, at = int.from_bytes(data[2:10], "big"), 10
        frames.append((opcode, data[at:at + length]))
        data = data[at + length:]
    return frames, closed


def raw_ws_upgrade(url: str, path: str = "/ws") -> socket.socket:
    """A WebSocket handshake by hand (subprotocol `mcp`, so no greeting frame), 101 checked."""
    s = raw(url)
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\n\r\n".encode()
    )
    head = b""
    s.settimeout(5)
    for _ in range(4096):  # one byte at a time, so no frame byte is read with the head
        if b"\r\n\r\n" in head:
            break
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def test_websocket_peer_that_stops_answering_pings_is_closed_after_the_timeout(spawn):
    gw = spawn(["--ws-ping-interval", "500ms", "--ws-ping-timeout", "1s"])
    s = raw_ws_upgrade(gw.url)
    frames, closed = ws_frames(s, 10)
    s.close()
    opcodes = [op for op, _ in frames]
    print(f"\nsilent WebSocket peer: closed after {closed} s (ping every 0.5 s, timeout 1 s), frames {opcodes}")
    assert 0x9 in opcodes, "the server pinged"
    assert opcodes[-1] == 0x8, "the server sent a close frame"
    payload = frames[-1][1]
    assert int.from_bytes(payload[:2], "big") == 1011
    assert b"keepalive ping timeout" in payload[2:]
    # First ping at 0.5 s, unanswered until 1.5 s, plus at most the close wait (1 s) and slack.
    assert closed is not None and 1.0 < closed < 4.5

    # A peer that answers pings (the websockets library does) stays open through several timeouts.
    url = gw.url.replace("http://", "ws://") + "/ws"

    async def answering() -> str:
        async with websockets.connect(url, subprotocols=["mcp"], ping_interval=None) as ws:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 3.5)  # nothing is sent to it; it must not be closed either
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"}))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))["id"]

    assert asyncio.run(answering()) == 7


def test_websocket_connection_cap_refuses_with_503_and_retry_after(spawn, tmp_path):
    gw = spawn(["--ws-max-connections", "2", "--stdio-config", bridge_config(tmp_path)])
    base = gw.url.replace("http://", "ws://")

    async def main() -> None:
        first = await websockets.connect(base + "/ws", subprotocols=["mcp"])
        second = await websockets.connect(base + "/servers/time/ws", subprotocols=["mcp"])
        for path in ("/ws", "/servers/time/ws"):  # one cap across WebSocket endpoints
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await websockets.connect(base + path, subprotocols=["mcp"], open_timeout=10)
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            error = json.loads(response.body)["error"]
            assert "at most 2" in error["message"], error
        # Plain HTTP is not counted against the WebSocket cap.
        async with httpx.AsyncClient() as client:
            assert (await client.get(gw.url + "/health")).status_code == 200
        await second.close()
        # The place comes back once the socket is done (bounded poll: the server notices the close).
        deadline = time.monotonic() + 10
        while True:
            try:
                third = await websockets.connect(base + "/ws", subprotocols=["mcp"], open_timeout=10)
                break
            except websockets.exceptions.InvalidStatus as e:
                assert e.response.status_code == 503
                assert time.monotonic() < deadline, "the closed socket's place never came back"
                await asyncio.sleep(0.05)
        await third.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
        assert json.loads(await asyncio.wait_for(third.recv(), 10))["id"] == 3
        await third.close()
        await first.close()

    asyncio.run(main())
