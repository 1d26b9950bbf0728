#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, all native tests (gradient proofs and
# PyTorch-fixture agreement included), the CLI smoke runs, and the CUDA type-check.
# Reads the NB201 tables from ../shared/data (test data, not part of the project).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --release --all-targets -- -D warnings

step "cargo test --release"
cargo test --release

step "CUDA type-check (DOCS_RS=1: its build script would download an LLVM bundle)"
DOCS_RS=1 cargo check --features cuda

step "all checks passed"
