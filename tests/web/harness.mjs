// Shared by e2e.mjs and bench.mjs: a static server for dist/ on 127.0.0.1 and a headless Chromium
// launcher (software WebGPU through SwiftShader when `webgpu`, else navigator.gpu removed).
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".svg": "image/svg+xml", ".jsonl": "application/x-ndjson", ".json": "application/json" };

/** Serves `dist` on an ephemeral port; resolves to { origin, close }. */
export async function serve(dist) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    let file = path.join(dist, decodeURIComponent(url.pathname));
    if (file.endsWith("/")) file += "index.html";
    if (!path.resolve(file).startsWith(path.resolve(dist)) || !fs.existsSync(file)) {
      res.writeHead(404); res.end("not found"); return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** Launches headless Chromium; with `webgpu`, SwiftShader's software WebGPU. */
export async function launch({ webgpu }) {
  const args = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic"];
  if (webgpu) args.push("--enable-unsafe-webgpu", "--use-webgpu-adapter=opengles", "--use-angle=swiftshader");
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args });
}

/** A new page; without WebGPU, `navigator.gpu` is removed before the app loads. */
export async function newPage(browser, { webgpu }) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
  if (!webgpu) await page.addInitScript(() => { delete Navigator.prototype.gpu; });
  return page;
}

/** Waits until the live run ends (Done or Failed). */
export const waitDone = (page, timeout) =>
  page.waitForSelector('.status[data-status="Done"], .status[data-status="Failed"]', { timeout });

/** Loads the page at `origin` and waits for its first paint: the replayed preset's accuracy and
 *  rank, and the landscape ranking its pick. Returns the seconds from navigation (the e2e test's
 *  freeze guard and bench.mjs's 2 s target both time this one wait). */
export async function firstPaint(page, origin) {
  const t0 = Date.now();
  await page.goto(`${origin}/`);
  await page.waitForSelector(".cell .acc[data-rank]", { timeout: 60_000 });
  await page.waitForSelector(".landscape-summary[data-rank]", { timeout: 60_000 });
  return (Date.now() - t0) / 1000;
}
