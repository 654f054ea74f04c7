#!/usr/bin/env bash
# Threads and RSS under bursts: 1,000 concurrent sessions opened, 1,000 GET /mcp streams held then
# closed at once, 1,000 DELETEs, 1,000 legacy /sse streams held then closed at once (each a session
# delete), against a fresh release mcp-edge; prints the peak thread count and RSS of the server
# (/proc/PID/status, sampled every 5 ms) and the slowest GET /health answer while streams closed.
# BENCH_SESSIONS (default 1000) and BENCH_CONCURRENCY (client opens in flight, default 200);
# BENCH_EDGE_BIN to measure another build. The client is tests/e2e/burst_client.py (stdlib only).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_SESSIONS:-1000}
C=${BENCH_CONCURRENCY:-200}
[ -n "${BENCH_EDGE_BIN:-}" ] || cargo build --release -q -p mcp-edge
EDGE=${BENCH_EDGE_BIN:-target/release/mcp-edge}
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(( N * 2 + 512 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$EDGE" --bind 127.0.0.1:0 --data-dir "$WORK/data" --enable-test-tools --connectors none >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 1 300); do grep -q "listening on" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$WORK/out")
[ -n "$URL" ] || { echo "mcp-edge did not start"; cat "$WORK/err"; exit 1; }
sleep 1 # start-up allocations settle before the idle reading
echo "machine: $(nproc) cores; $N sessions/streams per phase, $C client opens in flight"
python3 tests/e2e/burst_client.py "$URL" "$PID" "$N" "$C"
