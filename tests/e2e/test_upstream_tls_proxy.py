"""Upstream TLS trust and forward proxies, natively and on the Lambda (not the Worker: its fetch has
neither): a GitLab fake behind a TLS front whose certificate
a throwaway private CA signed is refused without that CA (a tool error naming the certificate problem
and `--upstream-ca-file`) and reached with it; an unreadable CA file stops startup naming the file.
With `HTTPS_PROXY`/`HTTP_PROXY` set, allowed targets go through a recording proxy (CONNECT for https,
absolute-form for http), `NO_PROXY` hosts go direct, and targets the SSRF guard refuses never reach the
proxy, including a host name that resolves to loopback (checked here before the proxy would resolve it).
"""

from __future__ import annotations

import asyncio
import pathlib
import socket
import subprocess
import tempfile

import pytest

from conftest import BIN
from netfixtures import Network, make_ca
from test_connectors import GITLAB_TOKEN, Fake, call, connect, ok

pytestmark = [
    pytest.mark.not_worker,
    pytest.mark.skipif(bool(__import__("os").environ.get("MCP_EDGE_URL")), reason="starts its own gateways"),
]
PRIVATE = ["--upstream-allow-private", "127.0.0.1"]
NO_PROXY_ENV = {"HTTPS_PROXY": "", "https_proxy": "", "HTTP_PROXY": "", "http_proxy": "", "ALL_PROXY": "",
                "all_proxy": "", "NO_PROXY": "", "no_proxy": ""}


def upstream_only(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Proxy log entries without the Lambda's own DynamoDB calls (the AWS SDK honours HTTP_PROXY too)."""
    store = __import__("os").environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    return [e for e in entries if not (store and e[1].startswith(store))]


def loopback_alias() -> str | None:
    """A host name (not `localhost`, which the guard refuses by name) that resolves to loopback here."""
    names = [socket.gethostname()]
    hosts = pathlib.Path("/etc/hosts")
    if hosts.exists():
        for line in hosts.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if parts and parts[0].startswith("127."):
                names += parts[1:]
    for name in names:
        if name.lower() == "localhost" or name.lower().endswith(".localhost"):
            continue
        try:
            addrs = {a[4][0] for a in socket.getaddrinfo(name, None)}
        except OSError:
            continue
        if addrs and all(a.startswith("127.") or a == "::1" for a in addrs):
            return name
    return None


@pytest.fixture(scope="module")
def net():
    directory = pathlib.Path(tempfile.mkdtemp(prefix="mcp-edge-tls-"))
    network = Network()
    gitlab = Fake("gitlab", GITLAB_TOKEN, name="gitlab-tls")
    alias = loopback_alias()
    pki = make_ca(directory, ["127.0.0.1", *([alias] if alias else [])])
    port = int(gitlab.url.rsplit(":", 1)[1])
    front = network.tls_front(port, pki["cert"], pki["key"])
    yield {"pki": pki, "gitlab": gitlab, "https": f"https://127.0.0.1:{front}", "front_port": front,
           "alias": alias, "net": network}
    gitlab.stop()
    network.close()


async def project(url: str, gateway_url: str):
    async with connect(gateway_url, {"X-GitLab-API-URL": url, "Private-Token": GITLAB_TOKEN}) as s:
        return await call(s, "gitlab_get_project", {"projectId": 1})


def test_private_ca_is_refused_without_the_ca_file_and_trusted_with_it(spawn, net):
    plain = spawn(PRIVATE, env=NO_PROXY_ENV)
    result, text = asyncio.run(project(net["https"], plain.url))
    assert result.is_error, text
    assert "certificate" in text and "UnknownIssuer" in text, text
    assert "--upstream-ca-file" in text and "MCP_EDGE_UPSTREAM_CA_FILE" in text, text
    trusted = spawn([*PRIVATE, "--upstream-ca-file", str(net["pki"]["ca"])], env=NO_PROXY_ENV)
    proj = ok(*asyncio.run(project(net["https"], trusted.url)))
    assert proj["pathWithNamespace"] == "demo-group/demo-project"
    # The variable works as the flag does.
    by_env = spawn(PRIVATE, env={**NO_PROXY_ENV, "MCP_EDGE_UPSTREAM_CA_FILE": str(net["pki"]["ca"])})
    assert ok(*asyncio.run(project(net["https"], by_env.url)))["id"] == 1


@pytest.mark.native_only  # runs the binary directly (the Lambda's startup error is its init failing)
def test_unreadable_ca_file_is_a_startup_error_naming_the_file(tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    for path, why in ((missing, "No such file"), (empty, "no PEM certificate")):
        for mode in ([], ["stdio"]):
            r = subprocess.run([BIN, "--bind", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
                                "--upstream-ca-file", str(path), *mode],
                               capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            assert r.returncode != 0, r
            assert str(path) in r.stderr and why in r.stderr, r.stderr
            assert "listening" not in r.stdout and r.stdout == "", r.stdout


def test_proxy_carries_allowed_targets_and_never_sees_refused_ones(spawn, net):
    network: Network = net["net"]
    proxy = f"http://127.0.0.1:{network.proxy()}"
    gitlab_http = net["gitlab"].url
    gw = spawn([*PRIVATE, "--upstream-allow-http", "127.0.0.1", "--upstream-ca-file", str(net["pki"]["ca"])],
               env={**NO_PROXY_ENV, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy})
    start = len(network.proxied())
    # https through a CONNECT tunnel (TLS end to end with the fake's front).
    assert ok(*asyncio.run(project(net["https"], gw.url)))["id"] == 1
    seen = network.proxied()[start:]
    assert ("CONNECT", f"127.0.0.1:{net['front_port']}") in seen, seen
    # plain http as an absolute-form request.
    assert ok(*asyncio.run(project(gitlab_http, gw.url)))["id"] == 1
    seen = network.proxied()[start:]
    assert any(m == "GET" and t.startswith(gitlab_http + "/api/v4/projects/1") for m, t in seen), seen
    # Refused by the guard: never reaches the proxy.
    before = len(network.proxied())
    for url, why in (("https://169.254.169.254", "cloud metadata"), ("https://10.0.0.7", "private")):
        result, text = asyncio.run(project(url, gw.url))
        assert result.is_error and why in text, text
    assert upstream_only(network.proxied()[before:]) == [], "refused targets never reach the proxy"


@pytest.mark.native_only  # two allow-private hosts: a comma, which cargo lambda's --env-var cannot carry
def test_proxy_never_sees_a_name_that_resolves_to_loopback(spawn, net):
    """Without the check before the proxy, the proxy would resolve the name and connect to loopback."""
    alias = net["alias"]
    if not alias:
        pytest.skip("no host name besides localhost resolves to loopback here (/etc/hosts)")
    network: Network = net["net"]
    proxy = f"http://127.0.0.1:{network.proxy()}"
    gw = spawn([*PRIVATE, "--upstream-ca-file", str(net["pki"]["ca"])],
               env={**NO_PROXY_ENV, "HTTPS_PROXY": proxy})
    before = len(network.proxied())
    result, text = asyncio.run(project(f"https://{alias}:{net['front_port']}", gw.url))
    assert result.is_error and "loopback" in text and alias in text, text
    assert network.proxied()[before:] == [], "the refused name never reached the proxy"
    # Named in --upstream-allow-private, the same name may go through the proxy.
    trusting = spawn(["--upstream-allow-private", f"127.0.0.1,{alias}", "--upstream-ca-file", str(net["pki"]["ca"])],
                     env={**NO_PROXY_ENV, "HTTPS_PROXY": proxy})
    assert ok(*asyncio.run(project(f"https://{alias}:{net['front_port']}", trusting.url)))["id"] == 1
    assert ("CONNECT", f"{alias}:{net['front_port']}") in network.proxied()[before:]


def test_no_proxy_hosts_go_direct(spawn, net):
    network: Network = net["net"]
    proxy = f"http://127.0.0.1:{network.proxy()}"
    gw = spawn([*PRIVATE, "--upstream-ca-file", str(net["pki"]["ca"])],
               env={**NO_PROXY_ENV, "HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1"})
    before = len(network.proxied())
    assert ok(*asyncio.run(project(net["https"], gw.url)))["id"] == 1
    assert upstream_only(network.proxied()[before:]) == [], "NO_PROXY host went direct"
