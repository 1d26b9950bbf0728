#!/usr/bin/env bash
# Regenerates the ablation table of docs/results.md: each row runs `nasi reproduce` over seeds
# 0-4 with one setting changed from the defaults and prints a markdown row with the command,
# NB201 test accuracy (mean ± population std) on CIFAR-10 / CIFAR-100 / ImageNet16-120 and the
# mean wall time per search. The search never reads the table; it is used only to report.
# Usage: [SEEDS=5-9] scripts/ablation.sh [TABLE] [ROWS...]
#   ROWS: flag strings (default: the documented set); SEEDS: default 0-4 (5-9 is the held-out check).
set -euo pipefail
cd "$(dirname "$0")/.."
TABLE=${1:-../shared/data/nb201_test_acc_200ep.csv}
SEEDS=${SEEDS:-0-4}
shift || true
cargo build --release -q
if [ $# -gt 0 ]; then ROWS=("$@"); else ROWS=(
  ""
  "--steps 100"
  "--steps 160"
  "--tau 0.5"
  "--tau 1"
  "--tau 4"
  "--hard"
  "--mu 2"
  "--mu 2 --nu 1.0"
  "--batch 64"
  "--cells 2"
  "--channels 16"
  "--size 32"
  "--fd-scheme forward --fd-radius 1e-4"
); fi
echo "| flags (on top of the defaults) | CIFAR-10 | CIFAR-100 | ImageNet16-120 | s/search |"
echo "|---|---|---|---|---|"
for row in "${ROWS[@]}"; do
  # shellcheck disable=SC2086
  json=$(./target/release/nasi reproduce --seeds "$SEEDS" --nb201 "$TABLE" --json $row)
  echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin); m, s = r["mean"], r["std"]
secs = sum(x["seconds"] for x in r["runs"]) / len(r["runs"])
cell = lambda k: "%.2f ± %.2f" % (m[k], s[k])
flags = sys.argv[1] or "(defaults)"
print("| `%s` | %s | %s | %s | %.1f |" % (flags, cell("cifar10"), cell("cifar100"), cell("imagenet16"), secs))
' "$row"
done
