"""Offline checks of infra/terraform (providers cannot be downloaded here, so `terraform validate`
cannot run): the HCL is parsed with python-hcl2 and the settings the Lambda issue names are asserted,
the DynamoDB schema matches what the store and the tests use, IAM is least-privilege, and every
environment variable the binary reads is set from a Terraform variable."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

import hcl2
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"


def clean(v):
    """python-hcl2 keeps HCL quoting and block markers; strip both."""
    if isinstance(v, dict):
        return {clean(k): clean(x) for k, x in v.items() if k != "__is_block__"}
    if isinstance(v, list):
        return [clean(x) for x in v]
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    return v


def load(name: str) -> dict:
    with open(TF / name) as f:
        return clean(hcl2.load(f))


def blocks(doc: dict, kind: str) -> dict:
    out: dict = {}
    for entry in doc.get(kind, []):
        for typ, named in entry.items():
            for name, body in named.items():
                out[(typ, name)] = body
    return out


@pytest.fixture(scope="module")
def main() -> dict:
    return load("main.tf")


@pytest.fixture(scope="module")
def variables() -> dict:
    return {name: body for entry in load("variables.tf")["variable"] for name, body in entry.items()}


def test_sessions_table_matches_the_store(main) -> None:
    table = blocks(main, "resource")[("aws_dynamodb_table", "sessions")]
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["hash_key"] == "session_id"
    assert table["attribute"] == [{"name": "session_id", "type": "S"}]
    assert table["ttl"] == [{"attribute_name": "expires_at", "enabled": True}]
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["server_side_encryption"][0]["enabled"] is True
    store = (ROOT / "stores" / "dynamodb" / "src" / "store.rs").read_text()
    assert 'pub const KEY: &str = "session_id";' in store and 'pub const EXPIRES_AT: &str = "expires_at";' in store


def test_function_and_url(main, variables) -> None:
    res = blocks(main, "resource")
    fn = res[("aws_lambda_function", "gateway")]
    assert fn["runtime"] == "provided.al2023" and fn["handler"] == "bootstrap"
    assert fn["architectures"] == ["${var.architecture}"]
    assert "arm64" in variables["architecture"]["validation"][0]["condition"]
    assert "x86_64" in variables["architecture"]["validation"][0]["condition"]
    url = res[("aws_lambda_function_url", "gateway")]
    assert url["invoke_mode"] == "${var.invoke_mode}" and variables["invoke_mode"]["default"] == "RESPONSE_STREAM"
    assert url["authorization_type"] == "${var.function_url_auth}"
    assert "AWS_IAM" in variables["function_url_auth"]["validation"][0]["condition"]
    logs = res[("aws_cloudwatch_log_group", "gateway")]
    assert logs["retention_in_days"] == "${var.log_retention_days}"
    assert variables["api_keys"]["sensitive"] is True and variables["fingerprint_key"]["sensitive"] is True


def test_iam_is_least_privilege(main) -> None:
    docs = blocks(main, "data")
    statements = docs[("aws_iam_policy_document", "access")]["statement"]
    actions = sorted(a for s in statements for a in s["actions"])
    assert actions == ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "logs:CreateLogStream", "logs:PutLogEvents"]
    for s in statements:
        assert all("*" not in a for a in s["actions"])
        assert s["resources"] != ["*"]
    by_sid = {s["sid"]: s for s in statements}
    assert by_sid["SessionItems"]["resources"] == ["${aws_dynamodb_table.sessions.arn}"]


def test_every_setting_the_binary_reads_is_configurable(main) -> None:
    """Every setting the Lambda reads (the core's settings table, `mcp-edge settings --json`) is set
    from a Terraform variable, and Terraform sets nothing else."""
    environment = main["locals"][0]["environment"] + main["locals"][0]["oauth"]
    binary = os.environ.get("MCP_EDGE_BIN", str(ROOT / "target" / "release" / "mcp-edge"))
    table = json.loads(subprocess.run([binary, "settings", "--json"], capture_output=True, text=True,
                                      timeout=60, check=True).stdout)
    read = {s["var"] for s in table if "lambda" in s["targets"]}
    # Test-only and local-emulator settings are not deployed; SSL_CERT_FILE goes through
    # extra_environment like the upstream credential fallbacks, and so do the standard OTEL_*
    # variables (the operator's; server/src/cli.rs checks the same rule).
    read -= {"MCP_EDGE_TEST_TOOLS", "MCP_EDGE_BASE_PATH", "SSL_CERT_FILE"}
    read = {v for v in read if not v.startswith("OTEL_")}
    missing = sorted(v for v in read if v + " =" not in environment)
    assert not missing, f"not set by infra/terraform: {missing}"
    extra = sorted(set(re.findall(r"(MCP_EDGE_[A-Z_]+) =", environment)) - read)
    assert not extra, f"set by infra/terraform but not read by the Lambda: {extra}"
