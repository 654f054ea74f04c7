"""Network helpers for the TLS and proxy tests: a throwaway certificate authority (openssl CLI), a TLS
front that terminates HTTPS with a certificate of that CA and relays to a plain-HTTP fake, and a
forward proxy (CONNECT and absolute-form HTTP) that records every target it is asked for. All bind
127.0.0.1 and run on one asyncio loop in a background thread; every wait is bounded."""

from __future__ import annotations

import asyncio
import pathlib
import ssl
import subprocess
import threading

HEAD_LIMIT = 64 * 1024


def make_ca(directory: pathlib.Path, names: list[str]) -> dict[str, pathlib.Path]:
    """A CA and one server certificate for `names` (IPs and DNS names), signed by it; PEM files."""
    d = pathlib.Path(directory)
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)  # noqa: E731
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2",
        "-subj", "/CN=mcp-edge test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"), "-subj", "/CN=mcp-edge test server")
    sans = ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n for n in names)
    (d / "ext.cnf").write_text(
        f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
        "-CAcreateserial", "-out", str(d / "server.pem"), "-days", "2", "-extfile", str(d / "ext.cnf"))
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


async def _relay(a: tuple, b: tuple) -> None:
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))


class Network:
    """An asyncio loop in a daemon thread serving the TLS fronts and proxies of one test module."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: list[asyncio.base_events.Server] = []
        self.proxy_log: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def tls_front(self, target_port: int, cert: pathlib.Path, key: pathlib.Path) -> int:
        """Serves TLS on a free port, relaying each connection to 127.0.0.1:target_port."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert), str(key))

        async def handle(reader, writer):
            try:
                up = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", target_port), 10)
            except (OSError, asyncio.TimeoutError):
                writer.close()
                return
            await _relay((reader, writer), up)

        return self._serve(handle, ctx)

    def proxy(self) -> int:
        """A forward proxy on a free port; every request's target lands in `proxy_log`."""

        async def handle(reader, writer):
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
                writer.close()
                return
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            with self.lock:
                self.proxy_log.append((method, target))
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
            else:
                authority = target.split("://", 1)[1].split("/", 1)[0]
                host, _, port = authority.rpartition(":")
            try:
                up = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port or 80)), 10)
            except (OSError, ValueError, asyncio.TimeoutError):
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                writer.close()
                return
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                up[1].write(head)
                await up[1].drain()
            await _relay((reader, writer), up)

        return self._serve(handle, None)

    def _serve(self, handle, ctx) -> int:
        async def start():
            server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, limit=HEAD_LIMIT)
            self.servers.append(server)
            return server.sockets[0].getsockname()[1]

        return self._run(start())

    def proxied(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.proxy_log)

    def close(self) -> None:
        async def stop():
            for s in self.servers:
                s.close()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
