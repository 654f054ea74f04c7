"""Bursts of concurrent session and stream opens/closes against a native mcp-edge, watching the
server's thread count and RSS from /proc/PID/status. Standard library only (asyncio sockets), so the
same code drives `bench/run-resources.sh` and the loose regression test in test_resources.py.

Phases (each bounded in count and time): N `initialize` (+ `notifications/initialized`), N held
`GET /mcp` streams, all of them closed at once, N `DELETE /mcp`, N held legacy `GET /sse` streams,
all closed at once (each close ends its session: a store delete). At most `concurrency` opens are
in flight at a time; the streams stay open together. While the streams close, `GET /health` is
timed on its own connection, so a stalled runtime shows as a slow answer.

CLI: python burst_client.py URL PID [N] [CONCURRENCY]  — prints one JSON line of figures."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from urllib.parse import urlsplit

PROTOCOL = "2025-11-25"
PHASE_TIMEOUT = 120.0


def proc_status(pid: int) -> tuple[int, int]:
    """(threads, RSS in kB) of `pid`."""
    threads = rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return threads, rss


class Sampler:
    """Samples threads and RSS of a process every 5 ms on a thread, keeping the peaks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_threads = 0
        self.peak_rss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.005)

    def sample(self) -> None:
        threads, rss = proc_status(self.pid)
        self.peak_threads = max(self.peak_threads, threads)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()


class Target:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1", "bursts only go to loopback"
        self.host = parts.hostname
        self.port = parts.port or 80
        self.authority = f"{self.host}:{self.port}"

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.authority}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def exchange(t: Target, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection (`Connection: close`); the whole answer."""
    reader, writer = await asyncio.open_connection(t.host, t.port)
    try:
        writer.write(t.request(method, path, {**headers, "Connection": "close"}, body))
        await writer.drain()
        status, head = await read_head(reader)
        rest = await reader.read()
        return status, head, rest
    finally:
        writer.close()


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def open_session(t: Target, i: int) -> str:
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": f"burst-{i}", "version": "1"}}}
    status, head, _ = await exchange(t, "POST", "/mcp", MCP_HEADERS, json.dumps(init).encode())
    sid = head.get("mcp-session-id")
    assert status == 200 and sid, f"initialize answered {status}"
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    status, _, _ = await exchange(t, "POST", "/mcp", {**MCP_HEADERS, "Mcp-Session-Id": sid, "MCP-Protocol-Version": PROTOCOL},
                                  json.dumps(note).encode())
    assert status == 202, f"notifications/initialized answered {status}"
    return sid


async def open_stream(t: Target, path: str, headers: dict[str, str]) -> asyncio.StreamWriter:
    """Opens a held SSE stream; returns its writer (closing it ends the stream)."""
    reader, writer = await asyncio.open_connection(t.host, t.port)
    writer.write(t.request("GET", path, {"Accept": "text/event-stream", **headers}))
    await writer.drain()
    status, head = await read_head(reader)
    assert status == 200 and head.get("content-type", "").startswith("text/event-stream"), f"GET {path} answered {status}"
    return writer


async def bounded(n: int, concurrency: int, make):
    """Runs make(i) for i in 0..n with at most `concurrency` in flight; the results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int):
        async with gate:
            return await make(i)

    return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), PHASE_TIMEOUT)


async def health_probe(t: Target, stop: asyncio.Event) -> float:
    """Times `GET /health` in a loop until `stop`; the slowest answer in ms."""
    worst = 0.0
    while not stop.is_set():
        started = time.monotonic()
        status, _, _ = await asyncio.wait_for(exchange(t, "GET", "/health", {}), 30)
        assert status == 200
        worst = max(worst, (time.monotonic() - started) * 1000)
        await asyncio.sleep(0.005)
    return worst


async def close_all(t: Target, writers: list[asyncio.StreamWriter], settle) -> float:
    """Closes every stream at once while timing /health; waits (bounded) until `settle()` is true."""
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(t, stop))
    await asyncio.sleep(0.05)
    for w in writers:
        w.close()
    deadline = time.monotonic() + PHASE_TIMEOUT
    while not await settle():
        assert time.monotonic() < deadline, "the server did not notice the closed streams in time"
        await asyncio.sleep(0.02)
    stop.set()
    return await probe


async def metric(t: Target, name: str) -> float:
    _, _, body = await exchange(t, "GET", "/metrics", {})
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} missing from /metrics")


async def burst(url: str, pid: int, n: int = 1000, concurrency: int = 200) -> dict:
    t = Target(url)
    out: dict = {"n": n, "concurrency": concurrency}
    base_threads, base_rss = proc_status(pid)
    out.update(idle_threads=base_threads, idle_rss_kb=base_rss)
    with Sampler(pid) as s:
        started = time.monotonic()
        sids = await bounded(n, concurrency, lambda i: open_session(t, i))
        out["initialize_s"] = round(time.monotonic() - started, 2)
        headers = lambda sid: {"Mcp-Session-Id": sid, "MCP-Protocol-Version": PROTOCOL}  # noqa: E731
        streams = await bounded(n, concurrency, lambda i: open_stream(t, "/mcp", headers(sids[i])))
        out["open_streams"] = await metric(t, "mcp_edge_active_streams")

        async def streams_gone() -> bool:
            return await metric(t, "mcp_edge_active_streams") == 0

        out["health_worst_ms_closing_streams"] = round(await close_all(t, streams, streams_gone), 1)

        async def delete(i: int) -> None:
            status, _, _ = await exchange(t, "DELETE", "/mcp", headers(sids[i]))
            assert status in (200, 204), f"DELETE answered {status}"

        started = time.monotonic()
        await bounded(n, concurrency, delete)
        out["delete_s"] = round(time.monotonic() - started, 2)
        legacy = await bounded(n, concurrency, lambda i: open_stream(t, "/sse", {}))

        async def legacy_gone() -> bool:
            return await metric(t, "mcp_edge_active_sessions") <= 0

        started = time.monotonic()
        out["health_worst_ms_closing_legacy"] = round(await close_all(t, legacy, legacy_gone), 1)
        out["legacy_close_s"] = round(time.monotonic() - started, 2)
    out.update(peak_threads=s.peak_threads, peak_rss_kb=s.peak_rss_kb)
    threads, rss = proc_status(pid)
    out.update(end_threads=threads, end_rss_kb=rss)
    return out


def report(r: dict) -> str:
    """The figures as text lines."""
    n = r["n"]
    return "\n".join([
        f"idle: {r['idle_threads']} threads, {r['idle_rss_kb']} kB RSS",
        f"{n} initialize: {r['initialize_s']} s; {n} DELETE: {r['delete_s']} s; {n} legacy closes settled in {r['legacy_close_s']} s",
        f"slowest GET /health while {n} GET streams closed: {r['health_worst_ms_closing_streams']} ms; "
        f"while {n} legacy streams closed: {r['health_worst_ms_closing_legacy']} ms",
        f"peak: {r['peak_threads']} threads, {r['peak_rss_kb']} kB RSS; after: {r['end_threads']} threads, {r['end_rss_kb']} kB RSS",
    ])


if __name__ == "__main__":
    url, pid = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    result = asyncio.run(burst(url, pid, n, concurrency))
    print(report(result))
    print(json.dumps(result))
