// What the dashboard tests and the dashboard benchmark share: a stackd server in development mode
// on a temporary database, Debian's Chromium driven by playwright-core, and an axe-core check.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";

/** Starts `stackd serve --dev`; the server binds port 0 itself and prints its URL in its banner. */
export async function startServer({ bin = process.env.STACKD_BIN, db, extraArgs = [], env = {} } = {}) {
  if (!bin) throw new Error("STACKD_BIN must point at the stackd binary (make test-dashboard sets it)");
  const dir = mkdtempSync(join(tmpdir(), "stackd-dashboard-"));
  const child = spawn(bin, ["serve", "--dev", "--db", db ?? join(dir, "stackd.db"), "--listen", "127.0.0.1:0", ...extraArgs], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, STACKD_LOG: process.env.DASHBOARD_LOG ?? "warn", ...env },
  });
  const baseUrl = await new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`stackd did not start: ${seen}`)), 30000);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const m = seen.match(/Base URL \(SDK baseUrl\):\s+(\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`stackd exited with ${code}: ${seen}`)));
  });
  return {
    baseUrl,
    dir,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Debian Chromium, with the flags this machine's closed network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

export function outputDir() {
  const dir = process.env.DASHBOARD_OUTPUT ?? join(process.cwd(), "output");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** axe-core's WCAG 2 A/AA rules on the page as it is; returns the serious and critical violations.
 * E-mail previews are left out: their content is the project's e-mail, not the dashboard, and
 * their sandbox (no scripts) keeps axe from running inside them. */
export async function seriousViolations(page) {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).exclude("iframe.preview").analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
}
