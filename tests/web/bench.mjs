// Browser against native: one live NASI step in headless Chromium (software WebGPU via SwiftShader,
// and the wasm CPU fallback) against `nasi bench` on the native CPU, for the page's tiny preset and
// C=16 N=1 b=16, and the first paint of the replayed preset (target 2 s). Prints a markdown table.
// Not part of the tests (slow); see docs/performance.md.
// Usage: node tests/web/bench.mjs [DIST_DIR] [TIMEOUT_S]   (after `trunk build --release` and
//        `cargo build --release`)
import { execFileSync } from "node:child_process";
import { firstPaint, launch, newPage, serve, waitDone } from "./harness.mjs";

const dist = process.argv[2] ?? "dist";
const timeout = Number(process.argv[3] ?? 600) * 1000;
const STEPS = 3; // the last step is reported: shader compilation and warm-up land in the first ones
// The second stage is off: this times NASI steps only.
const CONFIGS = [
  { name: "tiny preset (C=4 N=1 b=8 8×8)", flags: { channels: 4, cells: 1, batch: 8, size: 8, refine: 0 } },
  { name: "C=16 N=1 b=16 16×16", flags: { channels: 16, cells: 1, batch: 16, size: 16, refine: 0 } },
];
// BENCH_CPU_ONLY=1 skips software WebGPU (slow) and times the wasm CPU fallback alone.
const cpuOnly = process.env.BENCH_CPU_ONLY === "1";

const { origin, close } = await serve(dist);

async function browserStep(flags, webgpu) {
  const browser = await launch({ webgpu });
  try {
    const page = await newPage(browser, { webgpu });
    const hash = Object.entries({ ...flags, steps: STEPS }).map(([k, v]) => `${k}=${v}`).join("&");
    await page.goto(`${origin}/#${hash}&autorun=1`);
    try {
      await waitDone(page, timeout);
    } catch {
      return { text: `> ${timeout / 1000} s (timed out)` };
    }
    const status = (await page.textContent(".status")) ?? "";
    const m = status.match(/([0-9]+) ms\/step/);
    const backend = (status.match(/live on ([A-Za-z]+)/) ?? [])[1];
    if (!m) return { text: `no timing (${status})` };
    return { ms: Number(m[1]), text: `${m[1]} ms (${backend})` };
  } finally {
    await browser.close();
  }
}

function nativeStep(flags) {
  const args = ["bench", "--repeats", "5", "--json"];
  for (const [k, v] of Object.entries(flags)) args.push(`--${k}`, String(v));
  const out = execFileSync("target/release/nasi", args, { encoding: "utf8" });
  return JSON.parse(out).sec_per_step * 1000;
}

// The page's first paint (the replayed preset with its accuracy, rank and landscape), on the CPU
// path, median of 3 loads: its target is 2 s (the lesson's first screen).
async function medianFirstPaint() {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const browser = await launch({ webgpu: false });
    try {
      times.push(await firstPaint(await newPage(browser, { webgpu: false }), origin));
    } finally {
      await browser.close();
    }
  }
  times.sort((a, b) => a - b);
  return times[1];
}

const ratio = (b, n) => (b.ms ? `${(b.ms / n).toFixed(1)}×` : "—");
console.log("| config | native CPU | browser WebGPU (SwiftShader) | ratio | browser wasm CPU | ratio |");
console.log("|---|---|---|---|---|---|");
try {
  for (const c of CONFIGS) {
    const native = nativeStep(c.flags);
    const gpu = cpuOnly ? { text: "not run" } : await browserStep(c.flags, true);
    const cpu = await browserStep(c.flags, false);
    console.log(`| ${c.name} | ${native.toFixed(0)} ms | ${gpu.text} | ${ratio(gpu, native)} | ${cpu.text} | ${ratio(cpu, native)} |`);
  }
  const paint = await medianFirstPaint();
  console.log(`\nfirst paint (replayed preset with accuracy, rank and landscape, median of 3): ${paint.toFixed(2)} s (target 2 s: ${paint <= 2 ? "met" : "missed"})`);
} finally {
  close();
}
