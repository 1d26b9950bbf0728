// End-to-end test of the built playground (dist/) in headless Chromium with software WebGPU.
// Usage: node tests/web/e2e.mjs DIST_DIR OUT_DIR
// 1. WebGPU run: the page's WebGPU-vs-CPU check agrees within 1e-3, then a tiny live search set
//    through the URL completes; the genotype is a valid NB201 string, the cell has 6 edges, the
//    charts one point per step, no console errors, no request leaves 127.0.0.1; a screenshot.
// 2. The same without WebGPU (navigator.gpu removed): the fallback notice shows and the run
//    still completes on the CPU.
// 3. A lost GPU: the WebGPU device is destroyed after the first step of a live run; the run stops
//    with a message naming the lost device (no hang, no crash), its steps stay on the page, and
//    Reset reruns on the CPU with a notice saying why.
// 4. A shared link without autorun (the README's `#seed=3&steps=20&channels=4`): the form shows
//    the link's settings, the address keeps them, a recorded run is replayed with a notice naming
//    how its settings differ; a link whose config is far over the page's memory budget fails with
//    a message instead of freezing the tab.
//    The bundled NAS-Bench-201 table gives the replayed cell's accuracy and rank without a file.
// 5. DARTS: the darts-tiny preset replayed at first paint (both cells drawn, 8 edges each, the
//    weight chart's 28 rows, a Genotype(...) line with its evaluation network's parameters), then
//    a live DARTS search on WebGPU and on the CPU (the darts-tiny layout shrunk to what software
//    WebGPU steps in two minutes: C=2, 3 cells, b=2, 8×8, T=1), which derive the same genotype.
import fs from "node:fs";
import path from "node:path";
import { launch, newPage, serve, waitDone } from "./harness.mjs";

const [dist, out] = [process.argv[2] ?? "dist", process.argv[3] ?? "target/e2e"];
fs.mkdirSync(out, { recursive: true });
const STEPS = 5;
const HASH = `#channels=4&cells=1&batch=8&size=8&steps=${STEPS}&autorun=1`;
const OPS = "(none|skip_connect|nor_conv_1x1|nor_conv_3x3|avg_pool_3x3)";
// A valid NB201 string: three `+`-joined groups; group i lists i inputs `op~0|op~1|…`.
const isNb201 = (s) => {
  const groups = s.split("+");
  return groups.length === 3 && groups.every((g, i) =>
    new RegExp("^\\|" + Array.from({ length: i + 1 }, (_, j) => `${OPS}~${j}\\|`).join("") + "$").test(g));
};
const { origin, close } = await serve(dist);

const failures = [];
let checks = 0;
const check = (ok, what) => { checks++; console.log(`${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) failures.push(what); };

async function run(name, { webgpu }) {
  const browser = await launch({ webgpu });
  try {
    const page = await newPage(browser, { webgpu });
    const errors = [], foreign = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) foreign.push(r.url()); });
    const hash = webgpu ? `${HASH}&selftest=1` : HASH;
    const t0 = Date.now();
    await page.goto(`${origin}/${hash}`);
    await waitDone(page, 600_000);
    const seconds = (Date.now() - t0) / 1000;
    const status = await page.textContent(".status");
    console.log(`[${name}] ${status} (${seconds.toFixed(1)} s)`);
    check((await page.getAttribute(".status", "data-status")) === "Done", `[${name}] the live run completes`);
    const genotype = (await page.textContent("code.genotype"))?.trim() ?? "";
    check(isNb201(genotype), `[${name}] genotype is a valid NB201 string: ${genotype}`);
    check((await page.locator(".cell-svg g.edge").count()) === 6, `[${name}] the cell SVG has 6 edges`);
    check((await page.locator(".chart-wrap circle.point").count()) === STEPS, `[${name}] the trace chart has ${STEPS} points`);
    check((await page.locator('.chart-wrap g.alpha-row').count()) === 6, `[${name}] the weight chart has 6 edge rows`);
    if (webgpu) {
      await page.waitForSelector(".gpu-check", { timeout: 300_000 });
      const notices = (await page.locator(".notice").allTextContents()).join(" | ");
      const backend = await page.getAttribute(".gpu-check", "data-backend");
      check(backend === "WebGPU" && !/CPU/.test(notices), `[${name}] the page ran on WebGPU (${backend}; notices: ${notices})`);
      const err = await page.getAttribute(".gpu-check", "data-error");
      const tr = Number(await page.getAttribute(".gpu-check", "data-trace-rel"));
      const gr = Number(await page.getAttribute(".gpu-check", "data-grad-rel"));
      console.log(`[${name}] WebGPU vs CPU: T~ rel ${tr}, grad rel ${gr}${err ? ", error " + err : ""}`);
      check(!err && tr <= 1e-3 && gr <= 1e-3, `[${name}] WebGPU matches the CPU within 1e-3 (T~ ${tr}, grad ${gr})`);
    } else {
      const notices = (await page.locator(".notice").allTextContents()).join(" | ");
      check(/no WebGPU/.test(notices), `[${name}] the fallback notice is shown: ${notices}`);
      check(/running on the CPU/.test(notices), `[${name}] the run used the CPU`);
    }
    check(errors.length === 0, `[${name}] no console errors ${JSON.stringify(errors)}`);
    check(foreign.length === 0, `[${name}] no request to other origins ${JSON.stringify(foreign)}`);
    await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
    fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ seconds, status, genotype }, null, 1));
  } finally {
    await browser.close();
  }
}

async function deviceLost() {
  const name = "device-lost";
  const browser = await launch({ webgpu: true });
  try {
    const page = await newPage(browser, { webgpu: true });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // Keep every GPUDevice the page creates, so the test can destroy it (as a driver reset would).
    await page.addInitScript(() => {
      const request = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await request.apply(this, args);
        (window.__devices ??= []).push(device);
        return device;
      };
    });
    await page.goto(`${origin}/#channels=4&cells=1&batch=8&size=8&steps=50&autorun=1`);
    await page.waitForSelector(".chart-wrap circle.point", { timeout: 300_000 });
    const destroyed = await page.evaluate(() => (window.__devices ?? []).map((d) => d.destroy()).length);
    check(destroyed > 0, `[${name}] the page's GPU device was destroyed (${destroyed})`);
    await waitDone(page, 300_000);
    const status = (await page.textContent(".status")) ?? "";
    console.log(`[${name}] ${status}`);
    check((await page.getAttribute(".status", "data-status")) === "Failed" && /GPU device was lost/.test(status),
      `[${name}] the run stops with a message naming the lost device`);
    check(/Device was destroyed/.test(status) && !/Backtrace|Caused by/.test(status),
      `[${name}] the message gives the browser's reason on one line, without burn's headings`);
    const kept = await page.locator(".chart-wrap circle.point").count();
    check(kept >= 1 && kept < 50, `[${name}] the steps before the loss stay on the page (${kept})`);
    check(errors.length === 0, `[${name}] no uncaught error or crash ${JSON.stringify(errors)}`);
    await page.click('button[aria-label^="reset"]');
    await waitDone(page, 300_000);
    const notices = (await page.locator(".notice").allTextContents()).join(" | ");
    check((await page.getAttribute(".status", "data-status")) === "Done" && /device was lost earlier/.test(notices),
      `[${name}] Reset reruns on the CPU with a notice: ${notices}`);
    await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  } finally {
    await browser.close();
  }
}

async function sharedLink() {
  const name = "shared-link";
  const browser = await launch({ webgpu: false });
  try {
    const page = await newPage(browser, { webgpu: false });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const t0 = Date.now();
    await page.goto(`${origin}/#seed=3&steps=20&channels=4`);
    await page.waitForSelector(".cell .acc[data-rank]", { timeout: 60_000 });
    const acc = (await page.textContent(".cell .acc")) ?? "";
    console.log(`[${name}] accuracy and rank shown ${((Date.now() - t0) / 1000).toFixed(2)} s after navigation`);
    check(/CIFAR-10 \d+\.\d\d %.*rank \d+ of 15,625/.test(acc) && /bundled/.test(acc),
      `[${name}] the replayed cell's benchmark accuracy and rank show without loading a file: ${acc}`);
    await page.waitForSelector(".notice >> text=Shown:", { timeout: 120_000 });
    const value = (key) => page.inputValue(`input[name="${key}"]`);
    const form = [await value("seed"), await value("steps"), await value("channels")];
    check(form.join(",") === "3,20,4", `[${name}] the form shows the link's settings (${form})`);
    const notices = (await page.locator(".notice").allTextContents()).join(" | ");
    check(/seed 0 \(the form: 3\)/.test(notices), `[${name}] the notice names the replayed run's settings: ${notices}`);
    await page.waitForTimeout(500);
    const hash = await page.evaluate(() => location.hash);
    check(/seed=3/.test(hash) && /steps=20/.test(hash) && /channels=4/.test(hash), `[${name}] the address keeps the link's settings (${hash})`);
    await page.goto(`${origin}/#batch=4096&channels=64&autorun=1`);
    await page.reload();
    await waitDone(page, 60_000);
    const status = (await page.textContent(".status")) ?? "";
    check((await page.getAttribute(".status", "data-status")) === "Failed" && /needs about .* GB of memory/.test(status),
      `[${name}] a config over the page's memory budget fails with a message: ${status}`);
    check(errors.length === 0, `[${name}] no uncaught error ${JSON.stringify(errors)}`);
  } finally {
    await browser.close();
  }
}

async function darts(name, { webgpu }) {
  const browser = await launch({ webgpu });
  try {
    const errors = [];
    const watch = (page) => {
      page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
      page.on("pageerror", (e) => errors.push(String(e)));
    };
    const isDarts = (g) => /^Genotype\(normal=\[(\('[a-z_0-9]+', \d\)(, )?){8}\], normal_concat=\[2, 3, 4, 5\], reduce=\[(\('[a-z_0-9]+', \d\)(, )?){8}\], reduce_concat=\[2, 3, 4, 5\]\)$/.test(g);
    if (webgpu) {
      const page = await newPage(browser, { webgpu });
      watch(page);
      await page.goto(`${origin}/#preset=darts-tiny`);
      await waitDone(page, 60_000);
      const genotype = (await page.textContent("code.genotype"))?.trim() ?? "";
      check(isDarts(genotype), `[${name}] the replayed darts-tiny preset shows a DARTS genotype: ${genotype}`);
      check((await page.locator(".cell-svg g.cell").count()) === 2 && (await page.locator(".cell-svg g.edge").count()) === 16,
        `[${name}] both cells are drawn, 8 edges each`);
      check((await page.locator(".chart-wrap g.alpha-row").count()) === 28, `[${name}] the weight chart has 28 rows (14 per cell)`);
      const params = Number(await page.getAttribute(".cell [data-params]", "data-params"));
      check(params > 1e6, `[${name}] the evaluation network's parameters are shown (${params})`);
      check((await page.inputValue('select[name="space"]')) === "darts", `[${name}] the space selector shows DARTS`);
      await page.screenshot({ path: path.join(out, `${name}-replay.png`), fullPage: true });
      await page.close();
    }
    const page = await newPage(browser, { webgpu });
    watch(page);
    const t0 = Date.now();
    await page.goto(`${origin}/#space=darts&channels=2&cells=3&batch=2&size=8&steps=1&fd-radius=0.00003&autorun=1`);
    await waitDone(page, 600_000);
    const seconds = (Date.now() - t0) / 1000;
    const status = await page.textContent(".status");
    console.log(`[${name}] ${status} (${seconds.toFixed(1)} s)`);
    check((await page.getAttribute(".status", "data-status")) === "Done", `[${name}] a live DARTS search completes`);
    const genotype = (await page.textContent("code.genotype"))?.trim() ?? "";
    check(isDarts(genotype), `[${name}] it derives a DARTS genotype: ${genotype}`);
    check((await page.locator(".chart-wrap g.alpha-row").count()) === 28, `[${name}] the weight chart has 28 rows`);
    check(webgpu ? /WebGPU/.test(status) : /CPU/.test(status), `[${name}] on ${webgpu ? "WebGPU" : "the CPU"}: ${status}`);
    check(errors.length === 0, `[${name}] no console errors ${JSON.stringify(errors)}`);
    await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
    return genotype;
  } finally {
    await browser.close();
  }
}

try {
  const onGpu = await darts("darts-webgpu", { webgpu: true });
  const onCpu = await darts("darts-cpu", { webgpu: false });
  check(onGpu === onCpu, `[darts] WebGPU and the CPU derive the same genotype`);
  await sharedLink();
  await run("webgpu", { webgpu: true });
  await run("cpu-fallback", { webgpu: false });
  await deviceLost();
} finally {
  close();
}
console.log(`browser: ${checks - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
