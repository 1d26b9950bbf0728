#!/usr/bin/env bash
# The GPU checks, prepared for a session that is lent a GPU machine (which reaches no registry,
# so nothing is built there):
#   scripts/gpu-check.sh build   here: release binaries for the CPU and for --features wgpu
#                                 (autotune included with the feature) into .gpu/ (git-ignored)
#   scripts/gpu-check.sh run     there (carry .gpu/): the tiny preset on the GPU against the CPU
#                                 (same cell, α within 1e-3), then the full NB201 proxy (C=16, N=5,
#                                 b=64, 32x32): seconds per step, a 40-step search, peak GPU memory
# `run` prints one line per check and exits 1 if a check fails; it stays under 10 minutes.
# DARTS's checks join it when its supernet searches (see the DARTS issue).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
out=.gpu

build() {
  mkdir -p "$out"
  cargo build --release --bin nasi
  cp target/release/nasi "$out/nasi-cpu"
  cargo build --release --bin nasi --features wgpu
  cp target/release/nasi "$out/nasi-wgpu"
  ls -l "$out"
}

run() {
  local cpu="$out/nasi-cpu" gpu="$out/nasi-wgpu" fail=0 dir
  dir=$(mktemp -d)
  [ -x "$cpu" ] && [ -x "$gpu" ] || { echo "no binaries in $out: run 'scripts/gpu-check.sh build' first"; exit 2; }
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  timeout 120 "$cpu" search --preset tiny --json --out "$dir/cpu" > "$dir/cpu.json"
  if ! timeout 300 "$gpu" search --preset tiny --json --out "$dir/gpu" > "$dir/gpu.json" 2> "$dir/gpu.err"; then
    echo "FAIL the wgpu build did not run: $(tail -1 "$dir/gpu.err")"; exit 1
  fi
  python3 - "$dir/cpu.json" "$dir/gpu.json" <<'PY' || fail=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
d = max(abs(x - y) for ra, rb in zip(a["alpha"], b["alpha"]) for x, y in zip(ra, rb))
ok = a["genotype"] == b["genotype"] and d < 1e-3
print(("ok  " if ok else "FAIL"), f"tiny preset on {b['backend']}: same cell {a['genotype'] == b['genotype']}, max |Δα| {d:.2e} (bound 1e-3)")
sys.exit(0 if ok else 1)
PY
  local full=(--channels 16 --cells 5 --batch 64 --size 32)
  if command -v nvidia-smi >/dev/null; then
    (while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done) > "$dir/mem.txt" &
    local sampler=$!
  fi
  timeout 240 "$gpu" bench "${full[@]}" --repeats 5 --json > "$dir/bench.json" || fail=1
  timeout 240 "$gpu" search "${full[@]}" --steps 40 --json --out "$dir/full" > "$dir/full.json" || fail=1
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
  python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
b = json.load(open(f"{d}/bench.json")); s = json.load(open(f"{d}/full.json"))
mem = [int(x) for x in open(f"{d}/mem.txt").read().split()] if os.path.exists(f"{d}/mem.txt") else []
print(f"full NB201 proxy C16 N5 b64 32x32 on {b['backend']}: {b['sec_per_step']:.3f} s/step (median of 5); "
      f"a 40-step search {s['seconds']:.1f} s, cell {s['genotype']}; peak GPU memory {max(mem) if mem else 'unknown'} MiB")
PY
  exit "$fail"
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh build|run"; exit 2 ;;
esac
