#!/usr/bin/env bash
# Compares one NASI step of ours (`nasi bench`) with PyTorch (exact double backward) on the same
# configs, alternating the two, and prints a markdown table with the ratio ours/PyTorch for both of
# our finite-difference schemes (central, the default, and forward with r = 1e-4).
# Each config is measured in ROUNDS rounds (ours central, PyTorch, ours forward, in turn); the table
# gives the median of the rounds, which tames this kind of shared machine's drift of ±30 %.
# A config starting with `darts` is DARTS's search network (`nasi bench --space darts` against
# benches/reference/darts_step.py; its forward scheme at r = 1e-5, where DARTS's fixtures put it).
# PyTorch is installed into .venv/ when missing (not needed by the tests).
# Usage: benches/compare.sh [repeats] [rounds] [only]   (only: run the configs containing it)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
ROUNDS=${2:-3}
ONLY=${3:-}
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
  "darts --channels 8 --cells 5 --batch 16 --size 32"
  "darts --channels 16 --cells 8 --batch 64 --size 32"
)
field() { "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
median() { "$PY" -c "import statistics,sys; print(statistics.median(float(v) for v in sys.argv[1:]))" "$@"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $("$PY" -c 'import torch; print("torch", torch.__version__, torch.get_num_threads(), "threads")')"
echo "$REPEATS timed steps per measurement, median of $ROUNDS alternating rounds"
echo
echo "| config | ours central s/step | ours forward s/step | PyTorch s/step | ours/PyTorch (central / forward) | peak RSS ours / PyTorch |"
echo "|---|---|---|---|---|---|"
for cfg in "${CONFIGS[@]}"; do
  [[ -z "$ONLY" || "$cfg" == *"$ONLY"* ]] || continue
  if [[ "$cfg" == darts* ]]; then
    flags=${cfg#darts }; ours=(--space darts); script=benches/reference/darts_step.py; radius=1e-5
  else
    flags=$cfg; ours=(); script=benches/reference/nasi_step.py; radius=1e-4
  fi
  cs=(); fs=(); ts=()
  for _ in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086
    central=$(./target/release/nasi bench "${ours[@]}" $flags --repeats "$REPEATS" --json)
    # shellcheck disable=SC2086
    torch=$("$PY" "$script" $flags --repeats "$REPEATS" --json)
    # shellcheck disable=SC2086
    forward=$(./target/release/nasi bench "${ours[@]}" $flags --fd-scheme forward --fd-radius "$radius" --repeats "$REPEATS" --json)
    cs+=("$(echo "$central" | field sec_per_step)"); fs+=("$(echo "$forward" | field sec_per_step)")
    ts+=("$(echo "$torch" | field sec_per_step)")
  done
  c=$(median "${cs[@]}"); f=$(median "${fs[@]}"); t=$(median "${ts[@]}")
  orss=$(echo "$central" | field peak_rss_bytes); trss=$(echo "$torch" | field peak_rss_bytes)
  awk -v cfg="$cfg" -v c="$c" -v f="$f" -v t="$t" -v a="$orss" -v b="$trss" 'BEGIN {
    printf "| `%s` | %.4f | %.4f | %.4f | %.2f / %.2f | %.0f / %.0f MiB |\n",
      cfg, c, f, t, c / t, f / t, a / 1048576, b / 1048576 }'
done
