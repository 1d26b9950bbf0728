#!/usr/bin/env bash
# Regenerates www/presets/*.jsonl: the page's presets (src/web/mod.rs `preset`), recorded by the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
tmp=$(mktemp -d)
./target/release/nasi search --quiet --out "$tmp/default" >/dev/null
./target/release/nasi search --quiet --steps 10 --batch 8 --channels 4 --size 8 --out "$tmp/tiny" >/dev/null
cp "$tmp/default/trajectory.jsonl" www/presets/default.jsonl
cp "$tmp/tiny/trajectory.jsonl" www/presets/tiny.jsonl
rm -rf "$tmp"
