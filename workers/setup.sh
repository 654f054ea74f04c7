#!/usr/bin/env bash
# Installs the Worker toolchain from the registries only (idempotent): the wasm32 target (rustup),
# worker-build and wasm-bindgen-cli (crates.io; the wasm-bindgen version must equal the crate's), and
# wrangler, Node 22 and binaryen (npm, into ./node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null
have() { "$HOME/.cargo/bin/$1" --version 2>/dev/null | grep -q "$2"; }
have worker-build 0.8.7 || cargo install worker-build --version 0.8.7 --locked
# Not --locked: its lockfile names a crate version the registry no longer serves.
have wasm-bindgen 0.2.130 || cargo install wasm-bindgen-cli --version 0.2.130
# Not `npm ci`: the registry here lacks workerd's macOS/Windows builds, which npm ci insists on finding in
# the lock file; npm install skips optional packages it cannot fetch and leaves the lock untouched.
npm install --no-save --no-audit --no-fund --loglevel=error
