"""OAuth 2.1 resource-server mode on every target: a local test issuer signs RS256 access tokens and
serves its JWKS on 127.0.0.1; the gateway fetches the JWKS (once, then from its cache), accepts the
issuer's tokens for this resource and refuses every other token with 401 and a `WWW-Authenticate`
challenge naming the protected-resource metadata."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from conftest import TARGET

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
        self.fetched_at: list[float] = []  # time.monotonic() of each JWKS fetch
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path != "/jwks":
                    self.send_error(404)
                    return
                issuer.fetches += 1
                issuer.fetched_at.append(time.monotonic())
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
    # One JWKS cache: natively one process, on the Worker one isolate (wrangler dev runs one), on the
    # Lambda one execution environment (cargo lambda --concurrency 1), so every count below is exact.
    one = ["--lambda-concurrency", "1"] if TARGET == "lambda" else []
    return spawn(["--oauth-issuer", issuer.url, "--oauth-audience", AUDIENCE, "--oauth-jwks-uri", issuer.url + "/jwks", *one])


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


def test_issuer_tokens_are_accepted_and_others_refused(protected, issuer) -> None:
    good = issuer.token()
    with httpx.Client(timeout=10, headers={"authorization": f"Bearer {good}"}) as c:
        r = c.post(f"{protected.url}/mcp", json=INIT, headers=JSON)
        assert r.status_code == 200, r.text
        s = {**JSON, "mcp-session-id": r.headers["mcp-session-id"]}
        assert c.post(f"{protected.url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=s).status_code == 202
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "destructive_echo", "arguments": {"message": "signed by the issuer"}}}
        r = c.post(f"{protected.url}/mcp", json=call, headers={**s, "accept": "application/json"})
        assert r.json()["result"]["content"][0]["text"] == "signed by the issuer", r.text
    assert issuer.fetches == 1, "the JWKS is fetched once by the one instance, then served from its cache"

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
        assert issuer.fetches == 1, "refusals are decided from the cached JWKS"
        # A token whose kid the JWKS does not have makes the gateway refresh the JWKS, at most once
        # per 30 s after the last fetch (shared/src/auth.rs), then refuse: twice in a row, one
        # refresh if 30 s have passed since the fetch, none if not (undecidable right at 30 s).
        unknown = issuer.token(kid="rotated-away")
        since_fetch = time.monotonic() - issuer.fetched_at[-1]
        assert c.post(f"{protected.url}/mcp", json=INIT, headers=bearer(unknown)).status_code == 401
        assert c.post(f"{protected.url}/mcp", json=INIT, headers=bearer(unknown)).status_code == 401
        until = time.monotonic() - issuer.fetched_at[0]
        refreshes = issuer.fetches - 1
        if since_fetch >= 30:
            assert refreshes == 1, f"{refreshes} refreshes for an unknown kid 30 s after the fetch"
        elif until < 30:
            assert refreshes == 0, f"{refreshes} refreshes for an unknown kid within 30 s of the fetch"
        else:
            assert refreshes in (0, 1), refreshes
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
