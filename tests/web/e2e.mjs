// End-to-end test of the built playground (dist/) in headless Chromium with software WebGPU.
// Usage: node tests/web/e2e.mjs DIST_DIR OUT_DIR
// 1. WebGPU run: the page's WebGPU-vs-CPU check agrees within 1e-3, then a tiny live search set
//    through the URL completes; the genotype is a valid NB201 string, the cell has 6 edges, the
//    charts one point per step, no console errors, no request leaves 127.0.0.1; a screenshot.
// 2. The same without WebGPU (navigator.gpu removed): the fallback notice shows and the run
//    still completes on the CPU, with the same cell as on WebGPU.
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
// 6. The landscape, the student's own cell, the second stage, axe-core and a phone (`explore`).
import fs from "node:fs";
import path from "node:path";
import { firstPaint, launch, newPage, serve, waitDone } from "./harness.mjs";

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
    return genotype;
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
    // Which reason comes first is a race: the device-lost callback's ("Device was destroyed"), or,
    // when the step's read-back fails before it (seen once under load), the failed buffer map.
    check(/Device was destroyed|could not be mapped/.test(status) && !/Backtrace|Caused by|\n/.test(status),
      `[${name}] the message gives the browser's reason on one line, without burn's headings`);
    const kept = await page.locator(".chart-wrap circle.point").count();
    check(kept >= 1 && kept < 50, `[${name}] the steps before the loss stay on the page (${kept})`);
    check(errors.length === 0, `[${name}] no uncaught error or crash ${JSON.stringify(errors)}`);
    await page.click('button[aria-label^="reset"]');
    // The click re-renders on the next tick: wait for the new run to leave "Failed" first.
    await page.waitForSelector('.status:not([data-status="Failed"])', { timeout: 30_000 });
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

// 6. The lesson's pieces, on the CPU path: at first paint the replayed default preset shows its
//    accuracy, rank and the landscape (timed); a landscape point is hovered and shown in the cell
//    view; an edge is changed by a click, and the page scores that cell (T̃ and the exact NTK) and
//    shows its accuracy; the second stage's table is shown; axe-core finds no serious or critical
//    violation; a 390 px phone viewport does not scroll sideways; screenshots of each.
async function explore() {
  const name = "explore";
  const browser = await launch({ webgpu: false });
  try {
    const page = await newPage(browser, { webgpu: false });
    const errors = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    const paint = await firstPaint(page, origin);
    console.log(`[${name}] first paint with accuracy, rank and landscape: ${paint.toFixed(2)} s`);
    // A freeze guard, not a speed target (those live in benchmarks: tests/web/bench.mjs times the
    // first paint against its 2 s target). Measured on 2 cores: 1.2–1.9 s alone on one machine,
    // 3.91 s alone on a slower one, 2.24 s in a CI run beside other jobs; a replay that hangs or
    // recomputes the search takes far longer than 20 s.
    check(paint <= 20.0, `[${name}] the replayed preset's accuracy, rank and landscape are painted without a freeze (${paint.toFixed(2)} s, bound 20 s)`);
    const summary = (await page.textContent(".landscape-summary")) ?? "";
    check(/NASI's pick: rank \d+ of 15625 on CIFAR-10/.test(summary), `[${name}] the landscape ranks the pick: ${summary.slice(0, 120)}`);
    const refined = (await page.textContent("code.refined-genotype"))?.trim() ?? "";
    check(isNb201(refined) && (await page.locator(".refine-candidates tbody tr").count()) >= 8,
      `[${name}] the second stage's pick and candidates are shown: ${refined}`);
    // Either random search is expected to match the pick after some number of trained cells, or
    // (when the pick is at the very top: the default preset's seed-0 pick is the best cell) not
    // within 1000: then the pick must rank near the top, where the expected best of 1000 random
    // cells lies (about the top 1/1000, rank ≈ 16 of 15,625; 50 leaves room for ties).
    const randomText = (await page.textContent(".random-search-text")) ?? "";
    const pickRank = Number(await page.getAttribute(".landscape-summary", "data-rank"));
    const readable = /Random search has to train about \d+ cells/.test(randomText)
      || (/Random search does not expect to reach this accuracy within 1000 trained cells/.test(randomText) && pickRank >= 1 && pickRank <= 50);
    check((await page.locator(".random-search .expected-best").count()) === 1 && readable,
      `[${name}] the random-search baseline is drawn and read: ${randomText} (pick rank ${pickRank})`);
    await page.locator("div.landscape").screenshot({ path: path.join(out, `${name}-landscape.png`) });

    // Hover the best cell's mark, then show it in the cell view.
    await page.locator("div.landscape-plot").scrollIntoViewIfNeeded();
    const box = await page.locator(".mark.best circle").boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForSelector(".landscape-hover code[data-hover]", { timeout: 10_000 });
    const hovered = await page.getAttribute(".landscape-hover code[data-hover]", "data-hover");
    await page.click("button.load-hovered");
    await page.waitForSelector(".cell.custom", { timeout: 10_000 });
    const shown = (await page.textContent(".cell code.genotype"))?.trim();
    check(isNb201(hovered) && shown === hovered, `[${name}] a hovered landscape point is shown in the cell view (${hovered})`);
    const bestAcc = (await page.textContent(".cell .acc")) ?? "";
    check(/rank 1 of 15,625/.test(bestAcc), `[${name}] the best cell is rank 1: ${bestAcc.slice(0, 90)}`);

    // Change edge 3←0 by a click: its op cycles, the page scores the new cell and shows its accuracy.
    const before = shown;
    await page.click('.cell-svg g.edge[data-edge="3"] text');
    await page.waitForFunction((b) => document.querySelector(".cell code.genotype")?.textContent.trim() !== b, before, { timeout: 10_000 });
    const edited = (await page.textContent(".cell code.genotype"))?.trim() ?? "";
    const group3 = (g) => g.split("+")[2].split("|")[1];
    check(isNb201(edited) && group3(edited) !== group3(before) && edited.split("+")[0] === before.split("+")[0],
      `[${name}] a click on edge 3←0 changes only that edge: ${group3(before)} → ${group3(edited)}`);
    await page.waitForFunction((g) => [...document.querySelectorAll(".ntk-body dd code")].some((c) => c.textContent.trim() === g), edited, { timeout: 120_000 });
    const ntk = (await page.textContent(".ntk-body")) ?? "";
    check(/tr\(Θ\)/.test(ntk) || /trace/.test(ntk), `[${name}] the edited cell's exact NTK and T̃ are computed on the page`);
    const acc = (await page.textContent(".cell .acc")) ?? "";
    check(/CIFAR-10 \d+\.\d\d %.*rank \d+ of 15,625/.test(acc) && acc !== bestAcc, `[${name}] the edited cell's accuracy and rank are shown: ${acc.slice(0, 90)}`);
    const mine = (await page.textContent(".landscape-mine")) ?? "";
    check(/Your cell: rank \d+/.test(mine), `[${name}] the landscape ranks the student's cell: ${mine}`);
    await page.locator(".grid").screenshot({ path: path.join(out, `${name}-edited.png`) });

    // Compare: keep this run, replay the paper preset, see both and what differs.
    await page.click("button.pin");
    await page.selectOption('select[aria-label="preset"]', "paper");
    await page.waitForFunction(() => document.querySelectorAll(".compare-run .compare-genotype").length === 2, null, { timeout: 120_000 });
    await waitDone(page, 120_000);
    const diff = (await page.locator(".compare-diff li").allTextContents()).join(" | ");
    check(/Settings: .*steps 160 \(kept: 40\)/.test(diff) && /Cells|Accuracy/.test(diff), `[${name}] the comparison names what differs: ${diff.slice(0, 200)}`);
    await page.locator("div.compare").screenshot({ path: path.join(out, `${name}-compare.png`) });

    // Accessibility: axe-core in the page, serious and critical violations only.
    const axePath = path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules/axe-core/axe.min.js");
    const runAxe = async (p) => {
      await p.addScriptTag({ path: axePath });
      return p.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ["violations"] });
        return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
          .map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0]?.target}`);
      });
    };
    const axe = await runAxe(page);

    // Lesson mode, stepped through to the end: each step highlights one panel.
    const lesson = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await lesson.addInitScript(() => { delete Navigator.prototype.gpu; });
    lesson.on("pageerror", (e) => errors.push(String(e)));
    await lesson.goto(`${origin}/#lesson=1`);
    await lesson.waitForSelector('.lesson[data-step="1"]', { timeout: 60_000 });
    let stepped = 1, highlighted = 0;
    for (let k = 2; k <= 8; k++) {
      highlighted += (await lesson.locator(".lesson-focus").count()) === 1 ? 1 : 0;
      await lesson.click("button.lesson-next");
      await lesson.waitForSelector(`.lesson[data-step="${k}"]`, { timeout: 5_000 });
      stepped = k;
      if (k === 4) await lesson.screenshot({ path: path.join(out, `${name}-lesson.png`) });
    }
    highlighted += (await lesson.locator(".lesson-focus").count()) === 1 ? 1 : 0;
    const last = (await lesson.textContent(".lesson-progress")) ?? "";
    check(stepped === 8 && highlighted === 8 && /step 8 of 8/.test(last), `[${name}] lesson mode steps through 8 steps, each highlighting one part (${highlighted}): ${last}`);
    check(/lesson=8/.test(await lesson.evaluate(() => location.hash)), `[${name}] the address keeps the lesson's step`);
    axe.push(...(await runAxe(lesson)).map((v) => `lesson: ${v}`));
    await lesson.click("button.lesson-finish");
    check((await lesson.locator(".lesson").count()) === 0, `[${name}] Finish leaves lesson mode`);
    await lesson.close();
    console.log(`[${name}] axe-core serious/critical: ${axe.length ? axe.join("; ") : "none"}`);
    check(axe.length === 0, `[${name}] axe-core: 0 serious or critical violations (${axe.join("; ")})`);

    // A phone: 390 px wide, no sideways scrolling.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    // On failure, name the elements that stick out (outside a scrolling box of their own).
    const over = wide <= 390 ? [] : await page.evaluate(() => [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > 390.5 && !el.parentElement?.closest("table"))
      .slice(0, 8).map((el) => `${el.tagName.toLowerCase()}.${el.getAttribute("class") ?? ""} ${Math.round(el.getBoundingClientRect().right)}`)
      .concat((() => {
        // Text that overflows its box does not widen the box: look at the text itself.
        const out = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n && out.length < 5; n = walk.nextNode()) {
          const r = document.createRange(); r.selectNodeContents(n);
          const right = Math.max(0, ...[...r.getClientRects()].map((q) => q.right));
          if (right > 390.5 && !n.parentElement.closest("table")) out.push(`text "${n.textContent.slice(0, 40)}" in ${n.parentElement.tagName.toLowerCase()}.${n.parentElement.getAttribute("class") ?? ""} ${Math.round(right)}`);
        }
        return out;
      })()));
    check(wide <= 390, `[${name}] a 390 px viewport does not scroll sideways (content ${wide} px${over.length ? ": " + over.join(", ") : ""})`);
    await page.screenshot({ path: path.join(out, `${name}-phone.png`), fullPage: true });
    check(errors.length === 0, `[${name}] no console errors ${JSON.stringify(errors)}`);
    fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ firstPaint: paint, axe, phoneWidth: wide }, null, 1));
  } finally {
    await browser.close();
  }
}

// E2E_ONLY=explore (or darts, shared-link, webgpu, cpu-fallback, device-lost) runs one scenario.
const only = process.env.E2E_ONLY;
const want = (n) => !only || only === n;
try {
  if (want("explore")) await explore();
  if (want("darts")) {
    const onGpu = await darts("darts-webgpu", { webgpu: true });
    const onCpu = await darts("darts-cpu", { webgpu: false });
    check(onGpu === onCpu, `[darts] WebGPU and the CPU derive the same genotype`);
  }
  if (want("shared-link")) await sharedLink();
  const cellGpu = want("webgpu") ? await run("webgpu", { webgpu: true }) : null;
  const cellCpu = want("cpu-fallback") ? await run("cpu-fallback", { webgpu: false }) : null;
  if (cellGpu && cellCpu) {
    // The default's forward difference in f32 on WebGPU and on the CPU: the same cell.
    check(cellGpu === cellCpu, `[webgpu] WebGPU and the CPU pick the same cell (${cellGpu} / ${cellCpu})`);
  }
  if (want("device-lost")) await deviceLost();
} finally {
  close();
}
console.log(`browser: ${checks - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
