#!/usr/bin/env bash
# Benchmarks native mcp-edge: the load generator's own ceiling on GET /health, then tools/call `echo`
# at 1, 16 and 64 concurrent sessions (sessionful 2025-11-25) and 64 stateless (2026-07-28), then
# `tools/list` with every connector toolset enabled (budget: p50 < 0.3 ms) and with the default compact
# set, one sequential session, credentials for every service in headers (their hosts are never called).
# Last, the same 64-session run with span export on against off (budget: p99 at most +10 %).
# Everything runs on 127.0.0.1 and stops by itself. BENCH_DURATION (seconds, default 10);
# BENCH_PARTS (default "calls list trace"): `calls` runs the ceiling and tools/call rows, `list` the
# tools/list rows, `trace` the tracing-on against tracing-off row.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${BENCH_DURATION:-10}
PARTS=${BENCH_PARTS:-"calls list trace"}
part() { [[ " $PARTS " == *" $1 "* ]]; }
cargo build --release -q -p mcp-edge -p mcp-loadgen
BIN=${MCP_EDGE_BIN:-target/release/mcp-edge}  # MCP_EDGE_BIN: compare another build with the same generator
LOADGEN=target/release/mcp-loadgen
DATA=$(mktemp -d)
"$BIN" --bind 127.0.0.1:0 --data-dir "$DATA" --enable-test-tools --toolsets all --log-level warn >"$DATA/out" 2>"$DATA/err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$DATA/out" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$DATA/out")
[ -n "$URL" ] || { echo "mcp-edge did not start"; exit 1; }

echo "machine: $(nproc) cores; duration ${DURATION}s per run"
if part calls; then
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
fi
if part trace; then
# Tracing: the same 64-session tools/call run against a second gateway exporting every span
# (`always_on`, each request a new root: the most costly case) over OTLP/HTTP to a local receiver,
# right after a tracing-off run of the first gateway. Budget: p99 grows by at most 10 %.
RECV_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$RECV_PORT" >"$DATA/recv.log" 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
RPID=$!
DATA2=$(mktemp -d)
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RECV_PORT" OTEL_TRACES_SAMPLER=always_on \
  "$BIN" --bind 127.0.0.1:0 --data-dir "$DATA2" --enable-test-tools --toolsets all --log-level warn >"$DATA2/out" 2>"$DATA2/err" &
PID2=$!
trap 'kill $PID $PID2 $RPID 2>/dev/null || true; rm -rf "$DATA" "$DATA2"' EXIT
for _ in $(seq 1 100); do grep -q 'listening on' "$DATA2/out" && break; sleep 0.1; done
URL2=$(sed -n 's/.*listening on //p' "$DATA2/out")
[ -n "$URL2" ] || { echo "mcp-edge (tracing on) did not start"; exit 1; }
"$LOADGEN" --url "$URL/mcp" --sessions 64 --duration "$DURATION" --target "mcp-edge tools/call tracing off" | tee "$DATA/trace-off"
"$LOADGEN" --url "$URL2/mcp" --sessions 64 --duration "$DURATION" --target "mcp-edge tools/call tracing on" | tee "$DATA/trace-on"
off=$(grep -o '"p99_us":[0-9]*' "$DATA/trace-off" | cut -d: -f2)
on=$(grep -o '"p99_us":[0-9]*' "$DATA/trace-on" | cut -d: -f2)
SPANS=$(curl -s "$URL2/metrics" | grep '^mcp_edge_trace_spans_total' | tr '\n' ' ')
ratio=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')
if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.10) }'; then verdict="within"; else verdict="OVER"; fi
echo "budget: p99 at 64 sessions, tracing on ${on} us / off ${off} us = ${ratio} (${verdict} the 1.10 budget); ${SPANS}; load: $(uptime | sed 's/.*load/load/')"
fi
part list || exit 0
# tools/list: every toolset (the server's configuration), then narrowed to the default compact set.
CREDS=(--header "X-Jira-URL: https://jira.example.com" --header "X-Jira-Token: t" --header "X-Jira-Email: b@example.com"
  --header "X-Confluence-URL: https://wiki.example.com/wiki" --header "X-Confluence-Token: t" --header "X-Confluence-Email: b@example.com"
  --header "X-GitLab-API-URL: https://gitlab.example.com" --header "Private-Token: t")
LISTED=$(curl -s "$URL/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/list' -H 'X-GitLab-API-URL: https://gitlab.example.com' \
  -H 'Private-Token: t' -H 'X-Jira-URL: https://jira.example.com' -H 'X-Jira-Token: t' -H 'X-Jira-Email: b@example.com' \
  -H 'X-Confluence-URL: https://wiki.example.com/wiki' -H 'X-Confluence-Token: t' -H 'X-Confluence-Email: b@example.com' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}')
echo "tools/list, every toolset: $(grep -o '"inputSchema"' <<<"$LISTED" | wc -l) tools, $(wc -c <<<"$LISTED") bytes"
# The server's CPU time per request beside the latency: on a shared machine it is the steadier figure.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
list_run() { # label out-file extra-loadgen-args...
  local label=$1 out=$2; shift 2
  local before; before=$(cpu_ticks)
  "$LOADGEN" --url "$URL/mcp" --sessions 1 --duration "$DURATION" "${CREDS[@]}" "$@" \
    --target "$label" | tee "$out"
  local n; n=$(grep -o '"requests":[0-9]*' "$out" | cut -d: -f2)
  echo "  server CPU per request: $(( ($(cpu_ticks) - before) * 1000000 / $(getconf CLK_TCK) / n )) us"
}
list_run "mcp-edge tools/list every toolset" "$DATA/list-all" --method tools/list
list_run "mcp-edge tools/list default toolsets" "$DATA/list-default" --method tools/list --header "X-MCP-Toolsets: jira,confluence,gitlab,cross"
# The floor of any request on this session path (session load and save, HTTP), same headers.
list_run "mcp-edge tools/call echo (floor)" "$DATA/list-floor" --method tools/call
p50=$(grep -o '"p50_us":[0-9]*' "$DATA/list-all" | cut -d: -f2)
if [ "$p50" -lt 300 ]; then verdict="within"; else verdict="OVER"; fi
floor=$(grep -o '"p50_us":[0-9]*' "$DATA/list-floor" | cut -d: -f2)
echo "budget: tools/list p50 with every toolset = ${p50} us (${verdict} the 0.3 ms budget; echo on the same path: ${floor} us); load: $(uptime | sed 's/.*load/load/')"
