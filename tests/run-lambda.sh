#!/usr/bin/env bash
# The AWS Lambda target, locally: starts moto (PyPI, DynamoDB in server mode) on 127.0.0.1, runs the
# DynamoDB session-store tests against it, then the Python SDK e2e suite against the `bootstrap`
# binary under `cargo lambda watch` (PyPI cargo-lambda; Function-URL requests on 127.0.0.1), each
# gateway with its own table created as infra/terraform declares it. Prints pytest's and cargo's
# summaries; exits non-zero on any failure. Installs its venv (tests/.venv-lambda) on first use.
# Arguments, when given, replace the e2e test selection (e.g. `tests/e2e/test_quota.py`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# Standalone use: the test clients' venv and the fake upstreams (tests/run-all.sh has made both).
if [ ! -x tests/.venv/bin/python ]; then
  python3 -m venv tests/.venv
  tests/.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
fi
cargo build -q --release -p mcp-edge-fake-upstream
if [ ! -x tests/.venv-lambda/bin/python ]; then python3 -m venv tests/.venv-lambda; fi
tests/.venv-lambda/bin/pip install -q --disable-pip-version-check -r tests/requirements-lambda.txt
PORT=$(tests/.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp -d)
tests/.venv-lambda/bin/moto_server -H 127.0.0.1 -p "$PORT" >"$LOG/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
echo "== DynamoDB session store against moto"
cargo test -p mcp-edge-lambda --test dynamo_store -- --ignored
echo "== Python SDK e2e against the Lambda under cargo lambda watch"
cargo build -q -p mcp-edge-lambda --bin bootstrap
MCP_EDGE_TARGET=lambda FAKE_UPSTREAM_BIN="$ROOT/target/release/fake-upstream" \
  tests/.venv/bin/python -m pytest -q -p no:cacheprovider --timeout 180 \
  -m "not native_only and not worker_only and not websocket and not client_disconnect" "${@:-tests/e2e}"
