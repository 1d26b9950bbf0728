#!/usr/bin/env bash
# Compares one NASI step of ours (`nasi bench`) with PyTorch (exact double backward) on the same
# configs, alternating the two, and prints a markdown table with the ratio ours/PyTorch.
# PyTorch is installed into .venv/ when missing (not needed by the tests).
# Usage: benches/compare.sh [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
PY=.venv/bin/python
if ! [ -x "$PY" ] || ! "$PY" -c "import torch" 2>/dev/null; then
  python3 -m venv .venv
  "$PY" -m pip install -q torch numpy
fi
cargo build --release -q
CONFIGS=(
  "--channels 16 --cells 1 --batch 64 --size 32"
  "--channels 16 --cells 5 --batch 64 --size 32"
  "--channels 8 --cells 1 --batch 16 --size 32"
  "--channels 8 --cells 1 --batch 32 --size 16"
)
field() { "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $("$PY" -c 'import torch; print("torch", torch.__version__, torch.get_num_threads(), "threads")')"
echo
echo "| config | ours s/step | PyTorch s/step | ours/PyTorch | ours peak RSS | PyTorch peak RSS |"
echo "|---|---|---|---|---|---|"
for cfg in "${CONFIGS[@]}"; do
  # shellcheck disable=SC2086
  ours=$(./target/release/nasi bench $cfg --repeats "$REPEATS" --json)
  # shellcheck disable=SC2086
  torch=$("$PY" benches/reference/nasi_step.py $cfg --repeats "$REPEATS" --json)
  o=$(echo "$ours" | field sec_per_step); t=$(echo "$torch" | field sec_per_step)
  orss=$(echo "$ours" | field peak_rss_bytes); trss=$(echo "$torch" | field peak_rss_bytes)
  awk -v c="$cfg" -v o="$o" -v t="$t" -v a="$orss" -v b="$trss" 'BEGIN {
    printf "| `%s` | %.4f | %.4f | %.2f | %.0f MiB | %.0f MiB |\n", c, o, t, o / t, a / 1048576, b / 1048576 }'
done
