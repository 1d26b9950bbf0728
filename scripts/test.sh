#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, all native tests (gradient proofs and
# PyTorch-fixture agreement included), the CLI smoke runs, the CUDA type-check, the release web
# build and the browser end-to-end test (installing trunk, wasm-bindgen-cli, binaryen's wasm-opt,
# Chromium and playwright-core when missing), and every command of the README's shell blocks.
# Reads the NB201 tables from ../shared/data (test data, not part of the project).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Each heading names the minutes since the start, so a slow CI run shows which step took the time.
t0=$(date +%s)
step() { printf '\n== [%3d min] %s\n' "$((($(date +%s) - t0) / 60))" "$*"; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --release --all-targets -- -D warnings

step "cargo clippy for the browser build (wasm32: the playground's code) -- -D warnings"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
cargo clippy --target wasm32-unknown-unknown --lib --bin nasi-web -- -D warnings

step "cargo test --release"
cargo test --release

step "CUDA type-check (DOCS_RS=1: its build script would download an LLVM bundle)"
DOCS_RS=1 cargo check --features cuda

step "web: build the release page (trunk; wasm-opt from npm binaryen)"
source scripts/web-tools.sh
ensure_web_tools
ensure_wasm_opt
trunk build --release --offline
wasm=$(ls dist/*.wasm)
echo "release wasm: $(stat -c %s "$wasm") bytes, gzip $(gzip -9 -c "$wasm" | wc -c) bytes"

step "web: end-to-end in headless Chromium with software WebGPU"
ensure_chromium
(cd tests/web && npm ci --no-audit --no-fund --silent)
node tests/web/e2e.mjs dist target/e2e

step "the README's commands, as written (scripts/readme-commands.sh)"
scripts/readme-commands.sh

step "all checks passed"
