// The embedded dashboard driven in headless Chromium (Debian's package, playwright-core) against
// the real stackd binary: the acceptance flows of the dashboard issue, a screenshot of every page
// at 1280 px and 390 px under the output folder, an axe-core check of every page (no serious or
// critical violations), keyboard use, and no request to any origin but stackd's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { startServer, launchBrowser, outputDir, seriousViolations } from "./harness.mjs";

let server;
let browser;
let context;
let page;
let origin;
const out = outputDir();
const foreignRequests = [];
const pageErrors = [];
const checkedPages = new Map(); // name → hash, for the narrow-screen pass

before(async () => {
  server = await startServer({ extraArgs: ["--webhook-retry-schedule", "300ms,300ms"] });
  origin = new URL(server.baseUrl).origin;
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:") && !url.startsWith("about:")) foreignRequests.push(url);
  });
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const url = (hash = "") => `${server.baseUrl}/dashboard/${hash}`;

/** Waits for the page's heading, saves a screenshot and checks the page with axe-core. */
async function checkPage(name, heading) {
  await page.locator("main h1", { hasText: heading }).first().waitFor();
  await page.waitForFunction(() => !document.querySelector("[aria-busy=true], p.loading"));
  await page.screenshot({ path: join(out, `${name}-1280.png`), fullPage: true });
  assert.deepEqual(await seriousViolations(page), [], `axe-core on ${name}`);
  checkedPages.set(name, { hash: new URL(page.url()).hash, heading });
}

async function go(hash, name, heading) {
  await page.goto(url(hash));
  await checkPage(name, heading);
}

function startReceiver() {
  const received = [];
  const srv = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: JSON.parse(body) });
      res.end("ok");
    });
  });
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${srv.address().port}/hook`, received, close: () => srv.close() })));
}

async function eventually(what, check, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let project;
let aliceId;

test("sign up, sign out and sign in again as a user of the internal project", async () => {
  await page.goto(url());
  await checkPage("sign-in", "Sign in to stackd");
  // A wrong password on an unknown account: the API's message next to the field.
  await page.fill("input[name=email]", "owner@example.com");
  await page.fill("input[name=password]", "password-123");
  await page.click("form button[type=submit]");
  await page.locator(".form-error, .field-error:not([hidden])").first().waitFor();

  await page.click("#switch-mode");
  await page.fill("input[name=email]", "owner@example.com");
  await page.fill("input[name=password]", "short");
  await page.click("form button[type=submit]");
  const pwError = page.locator(".fieldbox:has(input[name=password]) .field-error:not([hidden])");
  await pwError.waitFor();
  assert.match(await pwError.textContent(), /password/i);
  assert.equal(await page.getAttribute("input[name=password]", "aria-invalid"), "true");

  await page.fill("input[name=password]", "password-123");
  await page.click("form button[type=submit]");
  await checkPage("projects-empty", "Projects");
  assert.equal(await page.textContent("#signed-in-as"), "owner@example.com");

  await page.click("text=Sign out");
  await checkPage("sign-in-again", "Sign in to stackd");
  await page.fill("input[name=email]", "owner@example.com");
  await page.fill("input[name=password]", "password-123");
  await page.click("form button[type=submit]");
  await checkPage("projects", "Projects");
});

test("create a project; the switcher and the overview show it", async () => {
  await page.fill("input[name=display_name]", "Acme");
  await page.click("text=Create project");
  await checkPage("overview-empty", "Overview");
  project = decodeURIComponent(new URL(page.url()).hash.split("/")[2]);
  assert.match(project, /^[0-9a-f-]{36}$/);
  assert.equal(await page.locator("#project-switcher option:checked").textContent(), "Acme");
  assert.equal(await page.textContent("#figure-users .figure"), "0");
});

test("create a user, edit its metadata (invalid JSON refused by field), a duplicate e-mail refused by field", async () => {
  await go(`#/p/${project}/users/new`, "user-create", "Create user");
  await page.fill("input[name=primary_email]", "alice@acme.test");
  await page.fill("input[name=display_name]", "Alice");
  await page.fill("input[name=password]", "password-123");
  await page.click("form button[type=submit]");
  await checkPage("user-detail", "alice@acme.test");
  aliceId = new URL(page.url()).hash.split("/").pop();

  const server = page.locator("textarea[name=server_metadata]");
  await server.fill('{"plan": "pro",');
  const err = page.locator(".fieldbox:has(textarea[name=server_metadata]) .field-error");
  await err.waitFor();
  assert.match(await err.textContent(), /Not valid JSON/);
  await page.click("#metadata-form button[type=submit]");
  await page.locator("#metadata-form .field-error:not([hidden])", { hasText: "server_metadata" }).waitFor();
  await server.fill('{"plan": "pro", "seats": 5}');
  await page.click("#metadata-form button[type=submit]");
  await page.locator("text=Metadata saved").waitFor();
  await page.reload();
  await checkPage("user-detail-saved", "alice@acme.test");
  assert.deepEqual(JSON.parse(await page.inputValue("textarea[name=server_metadata]")), { plan: "pro", seats: 5 });

  await go(`#/p/${project}/users/new`, "user-create-again", "Create user");
  await page.fill("input[name=primary_email]", "alice@acme.test");
  await page.click("form button[type=submit]");
  const dup = page.locator(".fieldbox:has(input[name=primary_email]) .field-error");
  await dup.waitFor();
  assert.notEqual(await dup.textContent(), "");
  assert.equal(await page.getAttribute("input[name=primary_email]", "aria-invalid"), "true");

  await go(`#/p/${project}/users`, "users", "Users");
  await page.fill("#user-search", "alice");
  await page.locator("#user-results a", { hasText: "alice@acme.test" }).waitFor();
});

test("create a team, invite someone, open the invitation in the development mailbox", async () => {
  await go(`#/p/${project}/teams`, "teams-empty", "Teams");
  await page.fill("input[name=display_name]", "Core");
  await page.click("text=Create team");
  await checkPage("team-detail", "Core");
  await page.fill("input[name=user]", "alice@acme.test");
  await page.click("text=Add member");
  await page.locator("#team-members", { hasText: "alice@acme.test" }).waitFor();
  await page.fill("input[name=email]", "bob@acme.test");
  await page.click("text=Send invitation");
  await page.locator("td", { hasText: "bob@acme.test" }).waitFor();

  await go(`#/p/${project}/emails/mailbox`, "mailbox", "Emails");
  const message = page.locator("#mailbox-list tr", { hasText: "bob@acme.test" }).locator("a");
  await eventually("the invitation in the mailbox", async () => {
    if (await message.count()) return true;
    await page.reload();
    await page.locator("#mailbox-list").waitFor();
    return false;
  });
  await message.first().click();
  await checkPage("mailbox-message", "Emails");
  const link = page.locator("#mail-links a").first();
  assert.match(await link.getAttribute("href"), /team-invitation\?code=/);
  const frame = page.frameLocator("iframe.preview");
  await frame.locator("a").first().waitFor();
});

test("grant a nested permission and see the contained one inherited", async () => {
  await go(`#/p/${project}/permissions`, "permissions", "Permissions");
  const projectForm = page.locator("section", { hasText: "Project permissions" }).locator("form").first();
  await projectForm.locator("input[name=id]").fill("read");
  await projectForm.locator("button[type=submit]").click();
  await page.locator("#project-permission-tree code", { hasText: "read" }).waitFor();
  const again = page.locator("section", { hasText: "Project permissions" }).locator("form").first();
  await again.locator("input[name=id]").fill("admin");
  await again.locator('input[name="contains:read"]').check();
  await again.locator("button[type=submit]").click();
  await page.locator("#project-permission-tree li:has(> code:text-is('admin')) li code", { hasText: "read" }).waitFor();
  await checkPage("permissions-tree", "Permissions");
  // A duplicate id: the API's error next to the id field.
  const dupForm = page.locator("section", { hasText: "Project permissions" }).locator("form").first();
  await dupForm.locator("input[name=id]").fill("admin");
  await dupForm.locator("button[type=submit]").click();
  await dupForm.locator(".fieldbox:has(input[name=id]) .field-error:not([hidden])").waitFor();

  await go(`#/p/${project}/users/${aliceId}`, "user-permissions", "alice@acme.test");
  await page.selectOption("select[name=permission_id]", "admin");
  await page.click("text=Grant");
  const rows = page.locator("#user-permissions tr");
  await rows.filter({ hasText: "admin" }).filter({ hasText: "granted" }).waitFor();
  await rows.filter({ hasText: "read" }).filter({ hasText: "inherited" }).waitFor();
});

test("create a key set, use it with curl, revoke it", async () => {
  await go(`#/p/${project}/keys`, "keys", "Project keys");
  await page.fill("input[name=description]", "backend");
  await page.click("text=Create keys");
  const ssk = await page.locator('#new-keys code[data-key="secret_server_key"]').textContent();
  assert.match(ssk, /^ssk_/);
  await page.screenshot({ path: join(out, "keys-created-1280.png"), fullPage: true });
  const curl = (key) =>
    execFileSync("curl", ["-s", "-w", "\n%{http_code}", `${server.baseUrl}/api/v1/users`, "-H", `x-stack-project-id: ${project}`, "-H", "x-stack-access-type: server", "-H", `x-stack-secret-server-key: ${key}`], { encoding: "utf8" });
  const [body, status] = curl(ssk).split("\n");
  assert.equal(status, "200");
  assert.ok(JSON.parse(body).items.some((u) => u.primary_email === "alice@acme.test"));

  await page.click("text=Done");
  await page.locator("td", { hasText: "backend" }).waitFor();
  await page.locator("tr", { hasText: "backend" }).locator("text=Revoke").click();
  await page.locator("dialog button.danger").click();
  await page.locator("tr", { hasText: "backend" }).locator("text=revoked").waitFor();
  const [, after] = curl(ssk).split("\n");
  assert.equal(after, "401");
});

test("enable an OAuth provider and sign in through the development provider", async () => {
  await go(`#/p/${project}/auth`, "auth-methods", "Auth methods");
  // The app's own credentials are required for type standard: the error lands on the client id.
  await page.check('input[name="gitlab:enabled"]');
  await page.click("text=Save OAuth providers");
  await page.locator('.fieldbox:has(input[name="gitlab:client_id"]) .field-error:not([hidden])').waitFor();
  await page.uncheck('input[name="gitlab:enabled"]');
  await page.check('input[name="github:enabled"]');
  await page.click("text=Save OAuth providers");
  await page.locator("button", { hasText: "Try github" }).waitFor();
  await page.click("text=Try github");
  await page.waitForURL(/\/dev-oauth\/github\/authorize/);
  await page.screenshot({ path: join(out, "dev-oauth-provider-1280.png"), fullPage: true });
  await page.fill("#email", "carol@acme.test");
  await page.fill("#name", "Carol");
  await page.click("button[value=allow]");
  await page.locator("#oauth-test-result").waitFor();
  assert.match(await page.textContent("#oauth-test-result"), /github as carol@acme.test/);
  await checkPage("auth-methods-tried", "Auth methods");
});

test("add a webhook endpoint and see deliveries: a test event and a real user.created", async () => {
  const rx = await startReceiver();
  try {
    await go(`#/p/${project}/webhooks`, "webhooks", "Webhooks");
    await page.fill("input[name=url]", rx.url);
    await page.fill("input[name=description]", "receiver");
    await page.click("text=Add endpoint");
    await checkPage("webhook-endpoint", rx.url);
    await page.click("text=Reveal");
    await page.locator("#endpoint-secret", { hasText: "whsec_" }).waitFor();
    await page.click("text=Send test event");
    await page.locator("#webhook-attempts .badge.ok").first().waitFor();
    assert.ok(rx.received.some((r) => r.body.type === "stack.test"));

    await go(`#/p/${project}/users/new`, "user-create-webhook", "Create user");
    await page.fill("input[name=primary_email]", "dave@acme.test");
    await page.click("form button[type=submit]");
    await page.locator("main h1", { hasText: "dave@acme.test" }).waitFor();
    await eventually("user.created at the receiver", () => rx.received.some((r) => r.body.type === "user.created" && r.body.data.primary_email === "dave@acme.test"));
    await page.goto(url(`#/p/${project}/webhooks`));
    await page.locator("a", { hasText: rx.url }).click();
    await page.locator("#webhook-attempts tr").nth(2).waitFor();
    await checkPage("webhook-deliveries", rx.url);
  } finally {
    rx.close();
  }
});

test("the remaining pages: overview with figures, emails, sign-up rules with the tester, config export", async () => {
  await go(`#/p/${project}/overview`, "overview", "Overview");
  assert.equal(await page.textContent("#figure-users .figure"), "3");
  assert.match(await page.getAttribute("#signups-chart svg", "aria-label"), /3 in all/);
  await page.screenshot({ path: join(out, "overview.png") });

  await go(`#/p/${project}/emails/settings`, "email-settings", "Emails");
  await page.locator("form", { hasText: "Send test e-mail" }).locator("input[name=recipient_email]").fill("not-an-email");
  await page.click("text=Send test e-mail");
  await page.locator('.fieldbox:has(input[name=recipient_email]) .field-error:not([hidden])').waitFor();
  await go(`#/p/${project}/emails/templates`, "email-templates", "Emails");
  await page.frameLocator("#email-preview iframe").locator("body").waitFor();
  await go(`#/p/${project}/emails/outbox`, "email-outbox", "Emails");
  await page.locator("#outbox-list td").first().waitFor();
  await page.selectOption("select[name=simple_status]", "OK");
  await page.locator("#outbox-list").waitFor();

  await go(`#/p/${project}/rules`, "sign-up-rules", "Sign-up rules");
  await page.click("text=Save rules");
  await page.locator("text=Rules saved").waitFor();
  await page.fill("input[name=email]", "mallory@example.org");
  await page.click("form button:text-is('Test')");
  await page.locator("#rules-test-result .badge", { hasText: "reject" }).waitFor();
  await page.fill("textarea[name=rules]", '{"r": {"enabled": true, "priority": 0, "condition": "true", "action": {"type": "explode"}}}');
  await page.click("text=Save rules");
  await page.locator(".fieldbox:has(textarea[name=rules]) .field-error:not([hidden])").waitFor();
  await checkPage("sign-up-rules-error", "Sign-up rules");

  await go(`#/p/${project}/config`, "config", "Config as code");
  const exported = JSON.parse(await page.textContent("#config-json"));
  assert.equal(exported.project_id, project);
  assert.deepEqual(exported.config.oauth_providers, [{ id: "github", type: "shared" }]);
  // The file is the admin PATCH body plus the id: the API takes it back unchanged.
  const { project_id, ...patch } = exported;
  const accepted = await page.evaluate(async ([p, body]) => {
    const session = JSON.parse(localStorage.getItem("stackd.dashboard.session"));
    const r = await fetch("/api/v1/internal/projects/current", {
      method: "PATCH",
      headers: { "content-type": "application/json", "x-stack-project-id": p, "x-stack-access-type": "admin", "x-stack-admin-access-token": session.access },
      body: JSON.stringify(body),
    });
    return r.status;
  }, [project_id, patch]);
  assert.equal(accepted, 200);
});

test("sign in to the dashboard itself through the development OAuth provider", async () => {
  const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const p = await other.newPage();
  p.on("request", (r) => {
    if (!r.url().startsWith(origin) && !/^(data|blob|about):/.test(r.url())) foreignRequests.push(r.url());
  });
  try {
    await p.goto(url());
    await p.locator("main h1", { hasText: "Sign in to stackd" }).waitFor();
    await p.click("button:text-is('GitHub')");
    await p.waitForURL(/\/dev-oauth\/github\/authorize/);
    await p.fill("#email", "erin@example.com");
    await p.fill("#name", "Erin");
    await p.click("button[value=allow]");
    await p.locator("main h1", { hasText: "Projects" }).waitFor();
    assert.equal(await p.textContent("#signed-in-as"), "erin@example.com");
    // A different dashboard user: the owner's project is not among hers.
    assert.equal(await p.locator("#project-switcher option", { hasText: "Acme" }).count(), 0);
  } finally {
    await other.close();
  }
});

test("keyboard: skip link, navigation links and table rows work without a mouse", async () => {
  await page.goto(url(`#/p/${project}/overview`));
  await page.reload();
  await page.locator("main h1").waitFor();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "main");
  await page.focus('nav.side a:text-is("Users")');
  await page.keyboard.press("Enter");
  await page.locator("main h1", { hasText: "Users" }).waitFor();
  await page.focus("#user-results tbody tr:has-text('alice@acme.test')");
  await page.keyboard.press("Enter");
  await page.locator("main h1", { hasText: "alice@acme.test" }).waitFor();
  // Delete asks first; Escape cancels.
  await page.click("text=Delete user");
  await page.keyboard.press("Escape");
  await page.locator("dialog").waitFor({ state: "detached" });
  assert.equal(await page.locator("main h1").textContent(), "alice@acme.test");
});

test("every page at 390 px wide: screenshots and axe-core", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [name, { hash, heading }] of checkedPages) {
    if (name.startsWith("sign-in")) continue;
    await page.goto(url(hash));
    await page.locator("main h1", { hasText: heading }).first().waitFor();
    await page.waitForFunction(() => !document.querySelector("[aria-busy=true], p.loading"));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `${name} scrolls sideways at 390 px by ${overflow} px`);
    await page.screenshot({ path: join(out, `${name}-390.png`), fullPage: true });
    assert.deepEqual(await seriousViolations(page), [], `axe-core on ${name} at 390 px`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("no request left stackd's origin, and no script error", () => {
  assert.deepEqual(foreignRequests, []);
  assert.deepEqual(pageErrors, []);
});
