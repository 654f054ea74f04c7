"""OAuth 2.1 resource-server mode on every target: a local test issuer signs RS256 access tokens and
serves its JWKS on 127.0.0.1; the gateway fetches the JWKS (once, then from its cache), accepts the
issuer's tokens for this resource and refuses every other token with 401 and a `WWW-Authenticate`
challenge naming the protected-resource metadata."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

AUDIENCE = "https://mcp.example.test/mcp"
JSON = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}}}


class Issuer:
    """A token issuer: an RSA key pair, its JWKS served over HTTP on loopback, and a fetch counter."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path != "/jwks":
                    self.send_error(404)
                    return
                issuer.fetches += 1
                body = json.dumps(issuer.jwks).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, *, key=None, kid: str | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, "scope": "mcp:read mcp:write", **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer():
    i = Issuer()
    yield i
    i.stop()


@pytest.fixture
def protected(spawn, issuer):
    return spawn(["--oauth-issuer", issuer.url, "--oauth-audience", AUDIENCE, "--oauth-jwks-uri", issuer.url + "/jwks"])


def bearer(token: str) -> dict:
    return {**JSON, "authorization": f"Bearer {token}"}


def test_metadata_and_challenge(protected, issuer) -> None:
    with httpx.Client(timeout=10) as c:
        meta = c.get(f"{protected.url}/.well-known/oauth-protected-resource")
        assert meta.status_code == 200
        assert meta.json()["authorization_servers"] == [issuer.url]
        assert meta.json()["resource"].endswith("/mcp")
        r = c.post(f"{protected.url}/mcp", json=INIT, headers=JSON)
        assert r.status_code == 401 and r.json()["error"]["code"] == -32004
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith("Bearer resource_metadata=") and "/.well-known/oauth-protected-resource" in challenge


def instances(server) -> int:
    """Gateway instances with their own JWKS cache: one natively and per Worker isolate, one per
    execution environment on the Lambda."""
    return int(getattr(server, "concurrency", 1))


def test_issuer_tokens_are_accepted_and_others_refused(protected, issuer) -> None:
    good = issuer.token()
    caches = instances(protected)

    async def with_token() -> None:
        http = httpx.AsyncClient(headers={"authorization": f"Bearer {good}"})
        async with streamable_http_client(f"{protected.url}/mcp", http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                r = await session.call_tool("destructive_echo", {"message": "signed by the issuer"})
                assert r.content[0].text == "signed by the issuer"

    asyncio.run(with_token())
    assert 1 <= issuer.fetches <= caches, "the JWKS is fetched once per instance, then served from its cache"

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "another audience": issuer.token(aud="https://other.example.test/mcp"),
        "another issuer": issuer.token(iss="https://evil.example.test"),
        "expired": issuer.token(exp=int(time.time()) - 3600),
        "forged signature": issuer.token(key=other_key),
        "no scope": issuer.token(scope="profile"),
    }
    with httpx.Client(timeout=10) as c:
        for why, token in refused.items():
            r = c.post(f"{protected.url}/mcp", json=INIT, headers=bearer(token))
            assert r.status_code == 401, (why, r.status_code, r.text)
            assert 'error="invalid_token"' in r.headers["www-authenticate"], why
            assert r.json()["error"]["code"] == -32004, why
        assert issuer.fetches <= caches, "refusals are decided from the cached JWKS"
        # A token whose kid the JWKS does not have makes the gateway refresh the JWKS (at most once
        # per 30 s), then refuse.
        before = issuer.fetches
        unknown = issuer.token(kid="rotated-away")
        assert c.post(f"{protected.url}/mcp", json=INIT, headers=bearer(unknown)).status_code == 401
        assert c.post(f"{protected.url}/mcp", json=INIT, headers=bearer(unknown)).status_code == 401
        assert issuer.fetches - before <= min(2, caches), "an unknown kid refreshes the JWKS at most once per interval"
        # A read-only token lists and calls read-only tools only.
        reader = issuer.token(scope="mcp:read", sub="reader")
        r = c.post(f"{protected.url}/mcp", json=INIT, headers=bearer(reader))
        assert r.status_code == 200
        s = {**bearer(reader), "mcp-session-id": r.headers["mcp-session-id"]}
        tools = c.post(f"{protected.url}/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=s).json()["result"]["tools"]
        names = {t["name"] for t in tools}
        assert "echo" in names and "destructive_echo" not in names
    logs = protected.logs()
    assert good not in logs and reader not in logs, "tokens never reach the logs"
