#!/usr/bin/env bash
# The GPU checks, prepared for a session that is lent a GPU machine (which reaches no registry,
# so nothing is built there):
#   scripts/gpu-check.sh build   here: one `--features wgpu` release binary (burn's autotune with
#                                 it; `--device cpu|wgpu` picks the backend at run time), the
#                                 NB201 and DARTS fixture-test binaries of the same build, and a
#                                 `--features cuda` binary where its build can run (its build
#                                 script downloads LLVM, which CI's network forbids) into .gpu/
#   scripts/gpu-check.sh run     there (carry .gpu/): one line per check, exit 1 if one fails:
#     1. the PyTorch float64 fixtures (NB201 tiny_*, DARTS darts_*) on the GPU, at the CPU's bounds:
#        T̃, the exact trace and ∇αT̃ (tests/fixtures.rs, tests/darts_fixtures.rs);
#     2. the tiny and darts-tiny presets on the GPU against the CPU: same cell, α within 1e-3;
#     3. full scale: NB201 (C=16, N=5, b=64, 32x32) and DARTS (`--preset darts`: C=16, 8 cells,
#        b=64, 32x32) seconds per step (median of 3) and a 40-step NB201 and a full 100-step
#        DARTS search, with peak GPU memory (nvidia-smi, sampled every 0.5 s);
#   all under 10 minutes (each command has its own timeout).
#   Without nvidia-smi (Mesa's software Vulkan here, to try the script and the wgpu code paths:
#   apt mesa-vulkan-drivers, XDG_RUNTIME_DIR set) step 3 is skipped, as it would take hours;
#   GPU_CHECK_FULL=1 forces it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
out=.gpu

build() {
  mkdir -p "$out"
  cargo build --release --bin nasi --features wgpu
  cp target/release/nasi "$out/nasi-wgpu"
  local t
  for t in fixtures darts_fixtures; do
    exe=$(cargo test --release --features wgpu --test "$t" --no-run --message-format=json 2>/dev/null |
      python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')
    cp "$exe" "$out/test-$t"
  done
  if [ -z "${DOCS_RS:-}" ] && cargo build --release --bin nasi --features cuda 2>/dev/null; then
    cp target/release/nasi "$out/nasi-cuda"
  else
    echo "no CUDA build here (its build script needs to download LLVM): the wgpu checks only"
  fi
  ls -l "$out"
}

run() {
  local fail=0 dir bins=()
  dir=$(mktemp -d)
  [ -x "$out/nasi-wgpu" ] || { echo "no binaries in $out: run 'scripts/gpu-check.sh build' first"; exit 2; }
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  # 1. Fixtures on the GPU.
  local t
  for t in fixtures darts_fixtures; do
    if NASI_TEST_DEVICE=wgpu NASI_FIXTURES_DIR=tests/reference/fixtures timeout 300 "$out/test-$t" --test-threads 1 > "$dir/$t.txt" 2>&1; then
      echo "ok   $t on wgpu: $(grep -c '\.\.\. ok' "$dir/$t.txt") fixture tests within the CPU's bounds"
    else
      echo "FAIL $t on wgpu:"; grep -E "panicked|FAILED|error" "$dir/$t.txt" | head -5; fail=1
    fi
  done
  # 2. Presets: GPU against CPU, per backend built.
  bins=("$out/nasi-wgpu wgpu")
  [ -x "$out/nasi-cuda" ] && bins+=("$out/nasi-cuda cuda")
  local b exe dev p
  for b in "${bins[@]}"; do
    exe=${b% *}; dev=${b#* }
    for p in tiny darts-tiny; do
      timeout 120 "$exe" --device cpu search --preset "$p" --json --out "$dir/$p-cpu" > "$dir/$p-cpu.json"
      if ! timeout 300 "$exe" --device "$dev" search --preset "$p" --json --out "$dir/$p-$dev" > "$dir/$p-$dev.json" 2> "$dir/$p-$dev.err"; then
        echo "FAIL the $dev build did not run $p: $(tail -1 "$dir/$p-$dev.err")"; fail=1; continue
      fi
      python3 - "$dir/$p-cpu.json" "$dir/$p-$dev.json" "$p" <<'PY' || fail=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
rows = lambda t: t["normal"] + t["reduce"] if isinstance(t, dict) else t
d = max(abs(x - y) for ra, rb in zip(rows(a["alpha"]), rows(b["alpha"])) for x, y in zip(ra, rb))
ok = a["genotype"] == b["genotype"] and d < 1e-3
print(("ok  " if ok else "FAIL"), f"{sys.argv[3]} preset on {b['backend']}: same cell {a['genotype'] == b['genotype']}, max |Δα| {d:.2e} (bound 1e-3)")
sys.exit(0 if ok else 1)
PY
    done
  done
  # 3. Full scale on the best GPU backend built.
  exe=${bins[-1]% *}; dev=${bins[-1]#* }
  if ! command -v nvidia-smi >/dev/null && [ "${GPU_CHECK_FULL:-0}" != 1 ]; then
    echo "skip full scale: no nvidia-smi, so no hardware GPU to time (GPU_CHECK_FULL=1 forces it)"
    exit "$fail"
  fi
  if command -v nvidia-smi >/dev/null; then
    (while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done) > "$dir/mem.txt" &
    local sampler=$!
  fi
  local nb=(--channels 16 --cells 5 --batch 64 --size 32)
  timeout 120 "$exe" --device "$dev" bench "${nb[@]}" --repeats 3 --json > "$dir/nb-bench.json" || fail=1
  timeout 120 "$exe" --device "$dev" search "${nb[@]}" --steps 40 --json --out "$dir/nb-full" > "$dir/nb-full.json" || fail=1
  timeout 120 "$exe" --device "$dev" bench --preset darts --repeats 3 --json > "$dir/darts-bench.json" || fail=1
  timeout 240 "$exe" --device "$dev" search --preset darts --json --out "$dir/darts-full" > "$dir/darts-full.json" || fail=1
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
  python3 - "$dir" <<'PY' || true
import json, os, sys
d = sys.argv[1]
load = lambda n: json.load(open(f"{d}/{n}.json")) if os.path.getsize(f"{d}/{n}.json") else None
mem = [int(x) for x in open(f"{d}/mem.txt").read().split()] if os.path.exists(f"{d}/mem.txt") else []
for name, bench, full in [("NB201 C16 N5 b64 32x32", "nb-bench", "nb-full"), ("DARTS C16 8 cells b64 32x32", "darts-bench", "darts-full")]:
    b, s = load(bench), load(full)
    if b and s:
        print(f"full {name} on {b['backend']}: {b['sec_per_step']:.3f} s/step (median of 3); "
              f"a {s['steps']}-step search {s['seconds']:.1f} s, cell {s['genotype']}")
    else:
        print(f"FAIL full {name}: no result (timeout or error)")
print(f"peak GPU memory over the full-scale runs: {max(mem) if mem else 'unknown'} MiB")
PY
  exit "$fail"
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh build|run"; exit 2 ;;
esac
