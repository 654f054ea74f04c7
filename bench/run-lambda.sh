#!/usr/bin/env bash
# The Lambda's budgets, printed (never asserted): the stripped `bootstrap` size (dist profile: fat LTO,
# one codegen unit, panic=abort, stripped) against 15 MB, and the cold-start proxy (process start to
# first answered request against a minimal local Runtime API, bench/lambda_coldstart.py) against
# 30 ms; then DynamoDB calls per request from the store's own counters (bench/lambda_dynamo_calls.py).
# Loopback only. BENCH_RUNS (default 20), BENCH_CALLS (default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --profile dist -p mcp-edge-lambda --bin bootstrap
BIN=target/dist/bootstrap
size=$(stat -c %s "$BIN")
verdict=$(awk -v s="$size" 'BEGIN { print (s < 15 * 1000 * 1000) ? "within" : "OVER" }')
zipped=$(python3 -c 'import io,sys,zipfile; b=io.BytesIO(); z=zipfile.ZipFile(b,"w",zipfile.ZIP_DEFLATED); z.write(sys.argv[1],"bootstrap"); z.close(); print(len(b.getvalue()))' "$BIN")
printf 'bootstrap (x86_64, dist profile, stripped): %.1f MB, %.1f MB zipped; budget 15 MB: %s\n' \
  "$(awk -v s="$size" 'BEGIN { print s / 1e6 }')" "$(awk -v s="$zipped" 'BEGIN { print s / 1e6 }')" "$verdict"
python3 bench/lambda_coldstart.py "$BIN" "${BENCH_RUNS:-20}"
# DynamoDB calls per request (needs tests/.venv and tests/.venv-lambda: `bash tests/run-lambda.sh` once).
tests/.venv/bin/python bench/lambda_dynamo_calls.py
