#!/usr/bin/env bash
# Fuzzes every parser a user's input reaches (tests/fuzz.rs) for longer than `cargo test` does:
# each test runs rounds of NASI_FUZZ_CASES cases (default 20000) with fresh seeds until
# SECONDS_EACH (first argument, default 600) have passed. Not part of CI (scripts/test.sh runs
# the same tests with 2000 cases from a fixed seed).
# Usage: scripts/fuzz.sh [SECONDS_EACH]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${1:-600}
seed=${NASI_FUZZ_SEED:-$(date +%s)}
cargo test --release --test fuzz --no-run
tests=$(cargo test --release --test fuzz -- --list 2>/dev/null | sed -n 's/: test$//p')
for t in $tests; do
  echo "== $t: ${seconds} s per property, seeds from $seed"
  NASI_FUZZ_SECONDS=$seconds NASI_FUZZ_CASES=${NASI_FUZZ_CASES:-20000} NASI_FUZZ_SEED=$seed \
    cargo test --release -q --test fuzz -- --exact "$t" --nocapture
done
echo "fuzz: every parser clean"
