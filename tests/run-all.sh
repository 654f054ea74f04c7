#!/usr/bin/env bash
# Runs every test of the repository. Installs what it needs on first use (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "core compiles to wasm32"
cargo check -p mcp-edge-core --target wasm32-unknown-unknown
step "cargo test"
cargo test --workspace
