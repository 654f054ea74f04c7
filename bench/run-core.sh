#!/usr/bin/env bash
# Benchmarks native mcp-edge: the load generator's own ceiling on GET /health, then tools/call `echo`
# at 1, 16 and 64 concurrent sessions (sessionful 2025-11-25) and 64 stateless (2026-07-28).
# Everything runs on 127.0.0.1 and stops by itself. BENCH_DURATION (seconds, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${BENCH_DURATION:-10}
cargo build --release -q -p mcp-edge -p mcp-loadgen
BIN=target/release/mcp-edge
LOADGEN=target/release/mcp-loadgen
DATA=$(mktemp -d)
"$BIN" --bind 127.0.0.1:0 --data-dir "$DATA" --enable-test-tools --log-level warn >"$DATA/out" 2>"$DATA/err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$DATA/out" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$DATA/out")
[ -n "$URL" ] || { echo "mcp-edge did not start"; exit 1; }

echo "machine: $(nproc) cores; duration ${DURATION}s per run"
"$LOADGEN" --raw-get "$URL/health" --sessions 64 --duration "$DURATION" --target "generator ceiling" | tee "$DATA/ceiling"
for n in 1 16 64; do
  "$LOADGEN" --url "$URL/mcp" --sessions "$n" --duration "$DURATION" --target "mcp-edge tools/call" | tee "$DATA/run-$n"
done
"$LOADGEN" --url "$URL/mcp" --sessions 64 --duration "$DURATION" --protocol 2026-07-28 --target "mcp-edge tools/call stateless" | tee "$DATA/run-stateless"
RSS=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
echo "mcp-edge peak RSS: ${RSS} kB"
p99=$(grep -o '"p99_us":[0-9]*' "$DATA/run-64" | cut -d: -f2)
if [ "$p99" -lt 5000 ]; then verdict="within"; else verdict="OVER"; fi
echo "budget: p99 at 64 sessions = ${p99} us (${verdict} the 5 ms budget)"
