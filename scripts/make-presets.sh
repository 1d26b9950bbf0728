#!/usr/bin/env bash
# Regenerates www/presets/*.jsonl: the page's presets (src/config.rs `preset`, `PRESETS`), recorded
# by the CLI with `--preset NAME`. tests/presets.rs checks that they equal a fresh search.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
tmp=$(mktemp -d)
for name in default paper tiny darts-tiny; do
  ./target/release/nasi search --quiet --preset "$name" --out "$tmp/$name" >/dev/null
  cp "$tmp/$name/trajectory.jsonl" "www/presets/$name.jsonl"
done
rm -rf "$tmp"
