// make bench, part 3: the dashboard in the same headless Chromium the browser tests use. Prints
// the bytes transferred on a first (cold) load of the overview, and the time from navigation to
// the first painted page of a 100,000-user list (and to later pages and a search). Not a test:
// nothing here asserts. Run by bench/dashboard.sh with the release binary.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, launchBrowser } from "../tests/dashboard/harness.mjs";

const bin = process.env.STACKD_BIN;
const USERS = Number(process.env.BENCH_DASHBOARD_USERS ?? 100000);
const dir = mkdtempSync(join(tmpdir(), "stackd-dashboard-bench-"));
const db = join(dir, "bench.db");
const json = { "content-type": "application/json" };
const client = { "x-stack-project-id": "internal", "x-stack-access-type": "client" };

async function post(base, path, headers, body) {
  const r = await fetch(base + path, { method: "POST", headers: { ...json, ...headers }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

const signIn = (base) => post(base, "/api/v1/auth/password/sign-in", client, { email: "bench-owner@example.com", password: "bench-password-1" });

// 1. A dashboard user and a project it owns.
let server = await startServer({ bin, db });
await post(server.baseUrl, "/api/v1/auth/password/sign-up", client, { email: "bench-owner@example.com", password: "bench-password-1" });
let tokens = await signIn(server.baseUrl);
const project = (await post(server.baseUrl, "/api/v1/internal/projects", { ...client, "x-stack-access-token": tokens.access_token }, { display_name: "Bench" })).id;
await server.stop();

// 2. 100,000 users imported into it (no server running), signed up over the last 30 days.
const started = Date.now();
await new Promise((resolve, reject) => {
  const imp = spawn(bin, ["users", "import", "-", "--project", project, "--db", db, "--batch", "5000"], { stdio: ["pipe", "ignore", "inherit"] });
  imp.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`import exited with ${code}`))));
  const now = Date.now();
  let i = 0;
  const hex = (n) => n.toString(16).padStart(12, "0");
  const write = () => {
    let ok = true;
    while (i < USERS && ok) {
      const at = now - Math.floor(((USERS - i) / USERS) * 30 * 86_400_000);
      ok = imp.stdin.write(
        JSON.stringify({
          id: `00000000-0000-4000-8000-${hex(i + 1)}`,
          display_name: `User ${i}`,
          signed_up_at_millis: at,
          contact_channels: [{ id: `00000000-0000-4000-9000-${hex(i + 1)}`, type: "email", value: `user${i}@bench.example`, is_primary: true, is_verified: true, used_for_auth: true, created_at_millis: at }],
        }) + "\n",
      );
      i++;
    }
    if (i < USERS) imp.stdin.once("drain", write);
    else imp.stdin.end();
  };
  write();
});
const importSecs = (Date.now() - started) / 1000;

// 3. The dashboard against it.
server = await startServer({ bin, db, env: { STACKD_RATE_LIMITS: "off" } });
tokens = await signIn(server.baseUrl);
const session = JSON.stringify({ access: tokens.access_token, refresh: tokens.refresh_token });
const browser = await launchBrowser();
const url = (hash) => `${server.baseUrl}/dashboard/${hash}`;

async function freshPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((s) => localStorage.setItem("stackd.dashboard.session", s), session);
  const page = await context.newPage();
  return { context, page };
}

const painted = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now())))));

// First load: every byte the browser received (headers and bodies, as the network saw them).
const { context: c0, page: p0 } = await freshPage();
const cdp = await c0.newCDPSession(p0);
await cdp.send("Network.enable");
const kinds = new Map();
const bytes = { asset: 0, api: 0, requests: 0 };
cdp.on("Network.responseReceived", (e) => kinds.set(e.requestId, new URL(e.response.url).pathname.startsWith("/api/") ? "api" : "asset"));
cdp.on("Network.loadingFinished", (e) => {
  bytes[kinds.get(e.requestId) ?? "asset"] += e.encodedDataLength;
  bytes.requests++;
});
await p0.goto(url(`#/p/${project}/overview`));
await p0.locator("#figure-users").waitFor({ timeout: 60000 });
const overviewMs = await painted(p0);
const slowestApi = await p0.evaluate(() =>
  performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/")).sort((a, b) => b.duration - a.duration)[0]);
await new Promise((r) => setTimeout(r, 300));
// The README's picture of the overview (docs/dashboard-overview.png comes from here).
if (process.env.BENCH_SCREENSHOT) await p0.screenshot({ path: process.env.BENCH_SCREENSHOT });
await c0.close();

// Time from navigation to the first painted page of the user list, cold each time.
const runs = [];
for (let k = 0; k < 5; k++) {
  const { context, page } = await freshPage();
  await page.goto(url(`#/p/${project}/users`));
  await page.locator("#user-results tbody tr").first().waitFor({ timeout: 60000 });
  runs.push(await painted(page));
  if (process.env.BENCH_DEBUG)
    console.log(await page.evaluate(() => performance.getEntriesByType("resource").map((e) => `${e.name.replace(location.origin, "")} start ${e.startTime.toFixed(0)} took ${e.duration.toFixed(0)}`).join("\n")));
  if (k === 4) {
    // Paging forward: each Next is one keyset page (50 users), however deep.
    const t0 = Date.now();
    for (let n = 0; n < 20; n++) {
      const before = await page.locator("#user-results tbody tr").first().textContent();
      await page.click("#next-page");
      await page.waitForFunction((b) => document.querySelector("#user-results tbody tr")?.textContent !== b, before);
    }
    runs.paging = (Date.now() - t0) / 20;
    const t1 = Date.now();
    await page.fill("#user-search", `user${Math.floor(USERS / 3)}@bench.example`);
    await page.press("#user-search", "Enter");
    await page.locator("#user-results tbody tr", { hasText: `user${Math.floor(USERS / 3)}@` }).waitFor({ timeout: 60000 });
    runs.search = Date.now() - t1;
    // Warm: the same browser loads the list again (files revalidated with their ETags: 304s).
    const warm = [];
    for (let n = 0; n < 5; n++) {
      await page.goto("about:blank");
      await page.goto(url(`#/p/${project}/users`));
      await page.locator("#user-results tbody tr").first().waitFor({ timeout: 60000 });
      warm.push(await painted(page));
    }
    runs.warm = warm.sort((a, b) => a - b)[2];
    // The browser's own floor on this machine: navigating to a one-line JSON response and painting it.
    const floor = [];
    for (let n = 0; n < 5; n++) {
      await page.goto("about:blank");
      await page.goto(`${server.baseUrl}/health`);
      floor.push(await painted(page));
    }
    runs.floor = floor.sort((a, b) => a - b)[2];
  }
  await context.close();
}
await browser.close();
await server.stop();
rmSync(dir, { recursive: true, force: true });

const sorted = [...runs].sort((a, b) => a - b);
const kib = (n) => (n / 1024).toFixed(1);
console.log(`
dashboard (headless Chromium ${/([\d.]+)/.exec(execFileSync(process.env.CHROMIUM ?? "/usr/bin/chromium", ["--version"], { encoding: "utf8" }))?.[1]}, release build, ${USERS.toLocaleString("en")} users imported in ${importSecs.toFixed(1)} s)
  first load of the overview:   ${kib(bytes.asset + bytes.api)} KiB transferred in ${bytes.requests} requests (pages and scripts ${kib(bytes.asset)} KiB, API ${kib(bytes.api)} KiB), painted after ${overviewMs.toFixed(0)} ms
                                (slowest call: ${new URL(slowestApi.name).pathname} ${slowestApi.duration.toFixed(0)} ms)
  first painted user list:      median ${sorted[2].toFixed(0)} ms, max ${sorted[4].toFixed(0)} ms from navigation (5 cold loads in new browser contexts, 50 users a page);
                                median ${runs.warm.toFixed(0)} ms warm (files revalidated, 304); this browser paints a
                                one-line JSON response (GET /health) ${runs.floor.toFixed(0)} ms after navigating
  next page (20 pages deep):    ${runs.paging.toFixed(0)} ms per page
  search by e-mail:             ${runs.search} ms (substring scan of ${USERS.toLocaleString("en")} users)`);
