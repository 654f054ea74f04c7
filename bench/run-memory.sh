#!/usr/bin/env bash
# Memory per stateful session: mcp-edge beside an echo server on the official Rust MCP SDK (rmcp
# 3.11.0, bench/rmcp-echo, built here), both driven by the same load generator. For each N
# (BENCH_MEMORY_SESSIONS, default "64 384 1000") and each server, a fresh process: its idle RSS,
# then N sessions each `initialize` + `notifications/initialized` + one `tools/call echo`; RSS while
# the N keep-alive connections are still open, and again after the client has closed them (the
# sessions stay: mcp-edge keeps them for --session-ttl, rmcp for its 5-minute keep-alive). Prints
# bytes per session (RSS growth / N) for both and the ratio. Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${BENCH_MEMORY_SESSIONS:-"64 384 1000"}
cargo build --release -q -p mcp-edge -p mcp-loadgen
cargo build --release -q --manifest-path bench/rmcp-echo/Cargo.toml --target-dir target
EDGE=${BENCH_EDGE_BIN:-target/release/mcp-edge}
RMCP=target/release/rmcp-echo
LOADGEN=target/release/mcp-loadgen
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# start NAME: starts a fresh server, sets PID and URL (the MCP endpoint).
start() {
  local out="$WORK/$1.out"
  rm -rf "$WORK/data"
  case $1 in
    mcp-edge) "$EDGE" --bind 127.0.0.1:0 --data-dir "$WORK/data" --enable-test-tools --connectors none >"$out" 2>"$WORK/$1.err" & ;;
    rmcp) "$RMCP" 127.0.0.1:0 >"$out" 2>"$WORK/$1.err" & ;;
  esac
  PID=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.1; done
  URL="$(sed -n 's/.*listening on //p' "$out")/mcp"
  [ "$URL" != "/mcp" ] || { echo "$1 did not start"; cat "$WORK/$1.err"; exit 1; }
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

echo "machine: $(nproc) cores; peer: rmcp 3.11.0 (StreamableHttpService + LocalSessionManager, stateful)"
printf '%-9s %6s %9s %9s %9s %15s %15s\n' server N idle_kB held_kB after_kB B/session_held B/session_after
declare -A PER
for n in $SIZES; do
  for server in mcp-edge rmcp; do
    start "$server"
    sleep 1 # let start-up allocations settle before the idle reading
    idle=$(rss "$PID")
    rm -f "$WORK/load.out" "$WORK/load.err"
    "$LOADGEN" --url "$URL" --sessions "$n" --max-requests 1 --duration 60 --hold 3 --target "$server" \
      >"$WORK/load.out" 2>"$WORK/load.err" &
    load=$!
    for _ in $(seq 1 1200); do grep -qs holding "$WORK/load.err" && break; kill -0 $load 2>/dev/null || break; sleep 0.1; done
    grep -qs holding "$WORK/load.err" || { echo "load generator failed against $server"; cat "$WORK/load.err" "$WORK/load.out"; exit 1; }
    held=$(rss "$PID")
    wait $load
    grep -q " 0 errors" "$WORK/load.out" || { echo "errors against $server:"; head -1 "$WORK/load.out"; exit 1; }
    sleep 1 # connections closing
    after=$(rss "$PID")
    stop
    ph=$(( (held - idle) * 1024 / n )); pa=$(( (after - idle) * 1024 / n ))
    PER[$server/$n]=$pa
    printf '%-9s %6s %9s %9s %9s %15s %15s\n' "$server" "$n" "$idle" "$held" "$after" "$ph" "$pa"
  done
  awk -v e="${PER[mcp-edge/$n]}" -v r="${PER[rmcp/$n]}" -v n="$n" \
    'BEGIN { printf "  N=%s: bytes per idle session, mcp-edge / rmcp = %.2f\n", n, (r > 0 ? e / r : 0) }'
done
