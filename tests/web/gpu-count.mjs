// What one live NASI step costs the GPU in the browser: compute dispatches, queue submits and
// buffer read-backs (mapAsync), counted by wrapping the WebGPU prototypes in an init script.
// A run of T = 1 and a run of T = 3 of the same config: per step = (count(3) − count(1)) / 2, and
// the first step's count is count(1) (it includes the supernet's upload and warm-up).
// Usage: node tests/web/gpu-count.mjs [DIST_DIR]  (after `trunk build --release`). Prints a
// markdown table. Not part of the tests (software WebGPU is slow); see docs/performance.md.
import { launch, newPage, serve, waitDone } from "./harness.mjs";

const dist = process.argv[2] ?? "dist";
const CONFIGS = [
  { name: "tiny (C=4 N=1 b=8 8×8)", flags: { channels: 4, cells: 1, batch: 8, size: 8, refine: 0 } },
  { name: "default (C=8 N=1 b=32 16×16)", flags: { refine: 0 } },
];
const { origin, close } = await serve(dist);

function counters() {
  const c = { dispatches: 0, submits: 0, readbacks: 0 };
  window.__gpuCounts = c;
  const wrap = (proto, name, key) => {
    if (!proto || !proto[name]) return;
    const orig = proto[name];
    proto[name] = function (...args) { c[key]++; return orig.apply(this, args); };
  };
  wrap(globalThis.GPUComputePassEncoder?.prototype, "dispatchWorkgroups", "dispatches");
  wrap(globalThis.GPUQueue?.prototype, "submit", "submits");
  wrap(globalThis.GPUBuffer?.prototype, "mapAsync", "readbacks");
}

async function count(flags, steps) {
  const browser = await launch({ webgpu: true });
  try {
    const page = await newPage(browser, { webgpu: true });
    await page.addInitScript(counters);
    const hash = Object.entries({ ...flags, steps }).map(([k, v]) => `${k}=${v}`).join("&");
    const t0 = Date.now();
    await page.goto(`${origin}/#${hash}&autorun=1`);
    await waitDone(page, 600_000);
    const status = (await page.textContent(".status")) ?? "";
    if (!/WebGPU/.test(status)) throw new Error(`not on WebGPU: ${status}`);
    return { ...(await page.evaluate(() => window.__gpuCounts)), seconds: (Date.now() - t0) / 1000 };
  } finally {
    await browser.close();
  }
}

console.log("| config | first step: dispatches / submits / readbacks (s) | per later step: dispatches / submits / readbacks |");
console.log("|---|---|---|");
try {
  for (const { name, flags } of CONFIGS) {
    const one = await count(flags, 1);
    const three = await count(flags, 3);
    const per = (k) => ((three[k] - one[k]) / 2).toFixed(1);
    console.log(`| ${name} | ${one.dispatches} / ${one.submits} / ${one.readbacks} (${one.seconds.toFixed(1)} s) | ${per("dispatches")} / ${per("submits")} / ${per("readbacks")} |`);
  }
} finally {
  close();
}
