// The official Stack Auth JS SDK (@stackframe/js 2.8.108) against the stackd binary, and access
// tokens verified with an independent JWT library (jose) through our JWKS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { StackAdminApp, StackClientApp, StackServerApp, stackAppInternalsSymbol } from "@stackframe/js";
import { createRemoteJWKSet, jwtVerify, decodeJwt } from "jose";
import { Svix, Webhook } from "svix";

const PROJECT_ID = "internal";
const PUBLISHABLE_CLIENT_KEY = "this-publishable-client-key-is-for-local-development-only";
const SECRET_SERVER_KEY = "this-secret-server-key-is-for-local-development-only";
// The SDK refuses tokens living under 20 s; 25 s lets the expiry test wait it out quickly.
const TOKEN_TTL_SECONDS = 25;

let server;
let baseUrl;
let dir;

// The server binds port 0 itself and prints its base URL in the development banner, so no port
// is chosen here and then raced for.
function baseUrlFromBanner(child) {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`stackd did not start; it printed: ${seen}`)), 20000);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const m = seen.match(/Base URL \(SDK baseUrl\):\s+(\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`stackd exited with ${code}; it printed: ${seen}`)));
  });
}

before(async () => {
  const bin = process.env.STACKD_BIN;
  assert.ok(bin, "STACKD_BIN must point at the stackd binary (make test-sdk sets it)");
  dir = mkdtempSync(join(tmpdir(), "stackd-sdk-"));
  server = spawn(bin, ["serve", "--dev", "--db", join(dir, "stackd.db"), "--listen", "127.0.0.1:0", "--access-token-ttl", `${TOKEN_TTL_SECONDS}s`,
    // Short webhook retries, so the outage test takes a second.
    "--webhook-retry-schedule", "300ms,300ms,300ms,300ms,300ms"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, STACKD_LOG: process.env.SDK_LOG ?? "warn" },
  });
  baseUrl = await baseUrlFromBanner(server);
  const health = await fetch(`${baseUrl}/health`);
  assert.equal(health.status, 200);
});

after(async () => {
  if (server) {
    const exited = new Promise((r) => server.once("exit", (code, signal) => r({ code, signal })));
    server.kill("SIGTERM");
    // SIGTERM is a graceful stop: in-flight requests finish, the database is closed, exit code 0.
    assert.deepEqual(await exited, { code: 0, signal: null });
  }
  rmSync(dir, { recursive: true, force: true });
});

const clientApp = () => new StackClientApp({ projectId: PROJECT_ID, publishableClientKey: PUBLISHABLE_CLIENT_KEY, baseUrl, tokenStore: "memory" });
const serverApp = () =>
  new StackServerApp({ projectId: PROJECT_ID, publishableClientKey: PUBLISHABLE_CLIENT_KEY, secretServerKey: SECRET_SERVER_KEY, baseUrl, tokenStore: "memory" });

// A browser without JavaScript: follows redirects by hand and keeps cookies, so the test sees every
// step of the OAuth flow.
function browser() {
  const jar = new Map();
  async function go(url, init = {}) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) } });
    for (const set of res.headers.getSetCookie()) {
      const [pair, ...attrs] = set.split(";");
      const [k, v] = pair.split("=");
      if (attrs.some((a) => a.trim() === "Max-Age=0")) jar.delete(k); else jar.set(k, v);
    }
    return res;
  }
  return { go };
}

// OAuth sign-in as the SDK drives it: its own getOAuthUrl builds the authorize URL, the browser
// walks through the development provider's consent page, and its own callOAuthCallback exchanges
// the code (with the PKCE verifier) at /auth/oauth/token.
async function oauthSignIn(app, { provider, email, type = "authenticate", providerScope }) {
  const iface = app._interface;
  const verifier = randomBytes(32).toString("base64url");
  const codeChallenge = createHash("sha256").update(verifier).digest("base64url");
  const state = randomBytes(16).toString("hex");
  const redirectUrl = "http://localhost:3000/handler/oauth-callback";
  const url = await iface.getOAuthUrl({
    provider, redirectUrl, errorRedirectUrl: "http://localhost:3000/handler/error", codeChallenge, state, type,
    session: await app._getSession(), providerScope,
  });
  const b = browser();
  const start = await b.go(url);
  assert.equal(start.status, 307, await start.text());
  const providerUrl = new URL(start.headers.get("location"));
  const consent = await b.go(providerUrl);
  assert.equal(consent.status, 200);
  assert.match(await consent.text(), /Development only/);
  const form = new URLSearchParams(providerUrl.searchParams);
  form.set("email", email);
  form.set("name", "SDK OAuth");
  form.set("action", "allow");
  const back = await b.go(providerUrl.origin + providerUrl.pathname, { method: "POST", body: form });
  assert.equal(back.status, 303);
  const done = await b.go(back.headers.get("location"));
  const location = new URL(done.headers.get("location"));
  if (location.searchParams.has("errorCode")) return { error: location.searchParams.get("errorCode") };
  assert.equal(done.status, 303);
  assert.equal(location.searchParams.get("state"), state);
  const result = await iface.callOAuthCallback({ oauthParams: location.searchParams, redirectUri: redirectUrl, codeVerifier: verifier, state });
  await app[stackAppInternalsSymbol].signInWithTokens({ accessToken: result.accessToken, refreshToken: result.refreshToken });
  return result;
}

test("OAuth: sign in with GitHub through the development provider, then sign in again", async () => {
  const app = clientApp();
  const first = await oauthSignIn(app, { provider: "github", email: "sdk-oauth@example.com" });
  assert.equal(first.newUser, true);
  const user = await app.getUser({ or: "throw" });
  assert.equal(user.primaryEmail, "sdk-oauth@example.com");
  assert.equal(user.displayName, "SDK OAuth");
  assert.equal(user.primaryEmailVerified, true);
  // The SDK's refresh goes through the same token endpoint.
  assert.ok(await app.getAccessToken());

  const again = clientApp();
  const second = await oauthSignIn(again, { provider: "github", email: "sdk-oauth@example.com" });
  assert.equal(second.newUser, false);
  assert.equal((await again.getUser()).id, user.id);
});

test("OAuth: connected accounts hand the app the provider's access token", async () => {
  // In development mode the shared providers are served by the development provider, whose
  // tokens the app may have (with real shared credentials it would get
  // OAUTH_ACCESS_TOKEN_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS).
  const app = clientApp();
  await oauthSignIn(app, { provider: "google", email: "sdk-connected@example.com" });
  const user = await app.getUser({ or: "throw" });
  const accounts = await user.listConnectedAccounts();
  assert.equal(accounts.length, 1);
  assert.equal(accounts[0].provider, "google");
  const account = await user.getConnectedAccount({ provider: "google", providerAccountId: accounts[0].providerAccountId });
  const token = await account.getAccessToken();
  assert.equal(token.status, "ok");
  // It is the development provider's own token: its user-info endpoint accepts it.
  const info = await fetch(`${baseUrl}/dev-oauth/google/userinfo`, { headers: { authorization: `Bearer ${token.data.accessToken}` } });
  assert.equal(info.status, 200);
  assert.equal((await info.json()).email, "sdk-connected@example.com");
  // Scopes it was never granted: no token.
  const missing = await account.getAccessToken({ scopes: ["https://www.googleapis.com/auth/drive"] });
  assert.equal(missing.status, "error");
});

test("sign-up rules: an admin's CEL rule rejects a sign-up", async () => {
  const project = await adminApp().getProject();
  await project.updateConfig({
    "auth.signUpRules.sdk_block": { enabled: true, priority: 1, condition: 'emailDomain == "blocked.example"', action: { type: "reject", message: "internal note" } },
  });
  try {
    // The SDK throws this one (it is not among the errors signUpWithCredential returns).
    await assert.rejects(
      clientApp().signUpWithCredential({ email: "someone@blocked.example", password: "password-123", noRedirect: true, noVerificationCallback: true }),
      (e) => e.errorCode === "SIGN_UP_REJECTED" && !e.message.includes("internal note"),
    );
    const allowed = await clientApp().signUpWithCredential({ email: "someone@fine.example", password: "password-123", noRedirect: true, noVerificationCallback: true });
    assert.equal(allowed.status, "ok");
  } finally {
    await project.updateConfig({ "auth.signUpRules.sdk_block": null });
  }
});

test("server app: createUser, listUsers, getUser, update, delete", async () => {
  const app = serverApp();
  const user = await app.createUser({
    primaryEmail: "sdk-server@example.com",
    primaryEmailAuthEnabled: true,
    password: "password-123",
    displayName: "Server Made",
    serverMetadata: { tier: "gold" },
  });
  assert.equal(user.primaryEmail, "sdk-server@example.com");
  assert.equal(user.displayName, "Server Made");
  assert.deepEqual(user.serverMetadata, { tier: "gold" });

  const listed = await app.listUsers();
  assert.ok(listed.some((u) => u.id === user.id));

  await user.update({ displayName: "Renamed", clientReadOnlyMetadata: { plan: "pro" } });
  const fetched = await app.getUser(user.id);
  assert.equal(fetched.displayName, "Renamed");
  assert.deepEqual(fetched.clientReadOnlyMetadata, { plan: "pro" });

  // The created user can sign in from a client app.
  const client = clientApp();
  const signIn = await client.signInWithCredential({ email: "sdk-server@example.com", password: "password-123", noRedirect: true });
  assert.equal(signIn.status, "ok");

  await fetched.delete();
  assert.equal(await app.getUser(user.id), null);
});

test("client app: sign up, sign in, read and update the user, sign out", async () => {
  const app = clientApp();
  const signUp = await app.signUpWithCredential({ email: "sdk-client@example.com", password: "password-123", noRedirect: true, noVerificationCallback: true });
  assert.equal(signUp.status, "ok");
  let user = await app.getUser();
  assert.equal(user.primaryEmail, "sdk-client@example.com");

  const duplicate = await clientApp().signUpWithCredential({ email: "sdk-client@example.com", password: "password-123", noRedirect: true, noVerificationCallback: true });
  assert.equal(duplicate.status, "error");
  assert.equal(duplicate.error.errorCode, "USER_EMAIL_ALREADY_EXISTS");

  await user.signOut();
  assert.equal(await app.getUser(), null);

  const wrong = await app.signInWithCredential({ email: "sdk-client@example.com", password: "wrong-password", noRedirect: true });
  assert.equal(wrong.status, "error");
  assert.equal(wrong.error.errorCode, "EMAIL_PASSWORD_MISMATCH");

  const signIn = await app.signInWithCredential({ email: "sdk-client@example.com", password: "password-123", noRedirect: true });
  assert.equal(signIn.status, "ok");
  user = await app.getUser();
  await user.update({ displayName: "Client Name", clientMetadata: { theme: "dark" } });
  const reread = await app.getUser();
  assert.equal(reread.displayName, "Client Name");
  assert.deepEqual(reread.clientMetadata, { theme: "dark" });
  // The SDK refreshes after an update, so the new token carries the new name.
  const token = await app.getAccessToken();
  assert.equal(decodeJwt(token).name, "Client Name");

  // The server sees what the client wrote.
  const seen = await serverApp().getUser(reread.id);
  assert.deepEqual(seen.clientMetadata, { theme: "dark" });

  await reread.signOut();
  assert.equal(await app.getUser(), null);
});

test("access tokens verify against the JWKS with jose", async () => {
  const app = clientApp();
  await app.signUpWithCredential({ email: "sdk-jwks@example.com", password: "password-123", noRedirect: true, noVerificationCallback: true });
  const token = await app.getAccessToken();
  const jwks = createRemoteJWKSet(new URL(`${baseUrl}/api/v1/projects/${PROJECT_ID}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: `${baseUrl}/api/v1/projects/${PROJECT_ID}`,
    audience: PROJECT_ID,
    algorithms: ["ES256"],
  });
  assert.equal(protectedHeader.alg, "ES256");
  assert.equal(payload.email, "sdk-jwks@example.com");
  // A token whose signature was altered does not verify.
  const tampered = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
  await assert.rejects(jwtVerify(tampered, jwks));
});

test("the SDK refreshes an expired access token and carries on", async () => {
  const app = clientApp();
  await app.signUpWithCredential({ email: "sdk-refresh@example.com", password: "password-123", noRedirect: true, noVerificationCallback: true });
  const first = await app.getAccessToken();
  const firstClaims = decodeJwt(first);
  // Wait until the token has really expired.
  const waitMs = firstClaims.exp * 1000 - Date.now() + 1000;
  await new Promise((r) => setTimeout(r, Math.max(waitMs, 0)));
  const user = await app.getUser();
  assert.equal(user.primaryEmail, "sdk-refresh@example.com");
  const second = await app.getAccessToken();
  assert.notEqual(second, first);
  assert.ok(decodeJwt(second).exp > firstClaims.exp);
  assert.equal(decodeJwt(second).refresh_token_id, firstClaims.refresh_token_id, "same session, no rotation");
});

// --- E-mail flows: the server runs without SMTP, so mail lands in the development mailbox, read
// back through the admin API (the "delivered mail" of these tests).
const CALLBACK_URL = "http://localhost:3000/handler/callback";
const SUPER_SECRET_ADMIN_KEY = "this-super-secret-admin-key-is-for-local-development-only";

async function mailTo(address, { count = 1, timeoutMs = 10000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${baseUrl}/api/v1/internal/dev-mailbox?to=${encodeURIComponent(address)}`, {
      headers: {
        "x-stack-access-type": "admin",
        "x-stack-project-id": PROJECT_ID,
        "x-stack-super-secret-admin-key": SUPER_SECRET_ADMIN_KEY,
      },
    });
    assert.equal(r.status, 200);
    const { items } = await r.json();
    if (items.length >= count) return items[items.length - 1];
    if (Date.now() > deadline) throw new Error(`no e-mail to ${address} arrived`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

function codeIn(message) {
  const m = message.text.match(/code=([0-9a-z]{45})/);
  assert.ok(m, `the e-mail has a link with a code: ${message.text}`);
  return m[1];
}

test("sendForgotPasswordEmail, then reset with the mailed code and sign in with the new password", async () => {
  const app = clientApp();
  await app.signUpWithCredential({ email: "sdk-reset@example.com", password: "old-password-1", noRedirect: true, noVerificationCallback: true });
  const sent = await clientApp().sendForgotPasswordEmail("sdk-reset@example.com", { callbackUrl: CALLBACK_URL });
  assert.equal(sent.status, "ok");
  const mail = await mailTo("sdk-reset@example.com");
  assert.match(mail.subject, /^Reset your password at /);
  const code = codeIn(mail);
  assert.equal((await app.verifyPasswordResetCode(code)).status, "ok");
  assert.equal((await app.resetPassword({ code, password: "new-password-1" })).status, "ok");
  const old = await clientApp().signInWithCredential({ email: "sdk-reset@example.com", password: "old-password-1", noRedirect: true });
  assert.equal(old.status, "error");
  const fresh = await clientApp().signInWithCredential({ email: "sdk-reset@example.com", password: "new-password-1", noRedirect: true });
  assert.equal(fresh.status, "ok");
  // The code is used up.
  const again = await app.resetPassword({ code, password: "third-password-1" });
  assert.equal(again.status, "error");
});

test("magic link: sendMagicLinkEmail, then sign in with the mailed code", async () => {
  const app = clientApp();
  const sent = await app.sendMagicLinkEmail("sdk-magic@example.com", { callbackUrl: CALLBACK_URL });
  assert.equal(sent.status, "ok");
  assert.equal(sent.data.nonce.length, 39);
  const mail = await mailTo("sdk-magic@example.com");
  const code = codeIn(mail);
  assert.ok(mail.subject.endsWith(code.slice(0, 6).toUpperCase()));
  const signedIn = await app.signInWithMagicLink(code, { noRedirect: true });
  assert.equal(signedIn.status, "ok");
  const user = await app.getUser();
  assert.equal(user.primaryEmail, "sdk-magic@example.com");
  assert.equal(user.primaryEmailVerified, true);
});

test("contact channel: create, sendVerificationEmail, verify with the mailed code", async () => {
  const app = clientApp();
  await app.signUpWithCredential({ email: "sdk-channels@example.com", password: "password-123", noRedirect: true, noVerificationCallback: true });
  const user = await app.getUser();
  const channel = await user.createContactChannel({ type: "email", value: "sdk-second@example.com", usedForAuth: false });
  assert.equal(channel.isVerified, false);
  await channel.sendVerificationEmail({ callbackUrl: CALLBACK_URL });
  const code = codeIn(await mailTo("sdk-second@example.com"));
  assert.equal((await app.verifyEmail(code)).status, "ok");
  const channels = await user.listContactChannels();
  assert.equal(channels.find((c) => c.value === "sdk-second@example.com").isVerified, true);

  // The primary address through the user's sendVerificationEmail.
  await user.sendVerificationEmail({ callbackUrl: CALLBACK_URL });
  const primaryCode = codeIn(await mailTo("sdk-channels@example.com"));
  assert.equal((await app.verifyEmail(primaryCode)).status, "ok");
  const serverView = await serverApp().getUser(user.id);
  assert.equal(serverView.primaryEmailVerified, true);
});

test("updatePassword", async () => {
  const app = clientApp();
  await app.signUpWithCredential({ email: "sdk-update@example.com", password: "password-123", noRedirect: true, noVerificationCallback: true });
  const user = await app.getUser();
  // The SDK returns (does not throw) these errors, and nothing on success.
  const wrong = await user.updatePassword({ oldPassword: "not-the-password", newPassword: "new-password-1" });
  assert.equal(wrong.errorCode, "PASSWORD_CONFIRMATION_MISMATCH");
  const ok = await user.updatePassword({ oldPassword: "password-123", newPassword: "new-password-1" });
  assert.equal(ok, undefined);
  // This session survives the change.
  assert.equal((await app.getUser()).id, user.id);
  const fresh = await clientApp().signInWithCredential({ email: "sdk-update@example.com", password: "new-password-1", noRedirect: true });
  assert.equal(fresh.status, "ok");
});

test("sendEmail from the server app", async () => {
  const server = serverApp();
  const user = await server.createUser({ primaryEmail: "sdk-send@example.com", primaryEmailAuthEnabled: true, displayName: "Reader" });
  await server.sendEmail({ userIds: [user.id], subject: "Release notes", html: "<p>Hello {{ userDisplayName }}</p>" });
  const mail = await mailTo("sdk-send@example.com");
  assert.equal(mail.subject, "Release notes");
  assert.match(mail.html, /Hello Reader/);
  await assert.rejects(server.sendEmail({ userIds: ["8e6a9c0e-0000-4000-8000-000000000000"], html: "<p>x</p>" }), (e) => {
    assert.match(String(e), /USER_ID_DOES_NOT_EXIST/);
    return true;
  });
});

// --- Teams, permissions and API keys.

async function adminPost(path, body) {
  const r = await fetch(`${baseUrl}/api/v1${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-stack-access-type": "admin",
      "x-stack-project-id": PROJECT_ID,
      "x-stack-super-secret-admin-key": SUPER_SECRET_ADMIN_KEY,
    },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 201, await r.clone().text());
}

async function signedUp(email) {
  const app = clientApp();
  const r = await app.signUpWithCredential({ email, password: "password-123", noRedirect: true, noVerificationCallback: true });
  assert.equal(r.status, "ok");
  return { app, user: await app.getUser({ or: "throw" }) };
}

test("teams: create, update, list, select, addUser, removeUser, leave", async () => {
  const { app, user } = await signedUp("sdk-team-owner@example.com");
  const team = await user.createTeam({ displayName: "SDK Team" });
  assert.equal(team.displayName, "SDK Team");
  await team.update({ displayName: "SDK Team 2", clientMetadata: { plan: "pro" } });
  const teams = await user.listTeams();
  assert.deepEqual(teams.map((t) => t.displayName), ["SDK Team 2"]);
  assert.deepEqual(teams[0].clientMetadata, { plan: "pro" });

  await user.setSelectedTeam(team);
  assert.equal((await app.getUser()).selectedTeam.id, team.id);

  const server = serverApp();
  const member = await server.createUser({ primaryEmail: "sdk-team-member@example.com", primaryEmailAuthEnabled: true, password: "password-123" });
  const serverTeam = await server.getTeam(team.id);
  await serverTeam.addUser(member.id);
  const users = await serverTeam.listUsers();
  assert.deepEqual(users.map((u) => u.id).sort(), [user.id, member.id].sort());
  const clientMembers = await team.listUsers();
  assert.equal(clientMembers.length, 2);
  await serverTeam.removeUser(member.id);
  assert.deepEqual((await serverTeam.listUsers()).map((u) => u.id), [user.id]);

  await user.leaveTeam(team);
  assert.deepEqual(await user.listTeams(), []);
  assert.equal((await app.getUser()).selectedTeam, null);
});

test("teams: inviteUser, then accept the mailed invitation", async () => {
  const { user: owner } = await signedUp("sdk-inviter@example.com");
  const team = await owner.createTeam({ displayName: "Invite Team" });
  await team.inviteUser({ email: "sdk-invitee@example.com", callbackUrl: CALLBACK_URL });
  const mail = await mailTo("sdk-invitee@example.com");
  assert.equal(mail.subject, "You have been invited to join Invite Team");
  const code = codeIn(mail);
  const invitations = await team.listInvitations();
  assert.deepEqual(invitations.map((i) => i.recipientEmail), ["sdk-invitee@example.com"]);

  const { app, user: invitee } = await signedUp("sdk-invitee@example.com");
  assert.equal((await app.verifyTeamInvitationCode(code)).status, "ok");
  const details = await app.getTeamInvitationDetails(code);
  assert.equal(details.status, "ok");
  assert.equal(details.data.teamDisplayName, "Invite Team");
  assert.equal((await app.acceptTeamInvitation(code)).status, "ok");
  assert.deepEqual((await invitee.listTeams()).map((t) => t.id), [team.id]);
  assert.equal(await invitee.hasPermission(team, "$read_members"), true, "member defaults, recursively");
  assert.equal(await invitee.hasPermission(team, "$delete_team"), false);
  assert.equal((await app.acceptTeamInvitation(code)).status, "error");
});

test("permissions: grant, has, list (recursive) and revoke, in team and project scope", async () => {
  await adminPost("/team-permission-definitions", { id: "sdk_editor", contained_permission_ids: ["$update_team"] });
  await adminPost("/project-permission-definitions", { id: "sdk_reports", contained_permission_ids: [] });
  await adminPost("/project-permission-definitions", { id: "sdk_admin", contained_permission_ids: ["sdk_reports"] });
  const server = serverApp();
  const { user } = await signedUp("sdk-perms@example.com");
  const team = await server.createTeam({ displayName: "Perm Team" });
  await team.addUser(user.id);
  const serverUser = await server.getUser(user.id);

  assert.equal(await user.hasPermission(team, "$update_team"), false);
  await serverUser.grantPermission(team, "sdk_editor");
  assert.equal(await user.hasPermission(team, "$update_team"), true);
  const direct = (await user.listPermissions(team, { recursive: false })).map((p) => p.id).sort();
  assert.deepEqual(direct, ["sdk_editor", "team_member"]);
  const all = (await user.listPermissions(team, { recursive: true })).map((p) => p.id).sort();
  assert.deepEqual(all, ["$invite_members", "$read_members", "$update_team", "sdk_editor", "team_member"]);
  await serverUser.revokePermission(team, "sdk_editor");
  assert.equal(await user.hasPermission(team, "$update_team"), false);

  await serverUser.grantPermission("sdk_admin");
  assert.equal(await user.hasPermission("sdk_reports"), true);
  assert.deepEqual((await user.listPermissions({ recursive: true })).map((p) => p.id).sort(), ["sdk_admin", "sdk_reports"]);
  await serverUser.revokePermission("sdk_admin");
  assert.equal(await user.hasPermission("sdk_reports"), false);
});

test("API keys: user and team keys, created, listed, checked by the server app, revoked", async () => {
  const { user } = await signedUp("sdk-keys@example.com");
  const server = serverApp();
  const key = await user.createApiKey({ description: "CI", expiresAt: null, isPublic: false });
  assert.match(key.value, /^sk_[0-9a-z]{45}[0-9a-f]{32}user1574ck4u7h[0-9a-f]{8}$/);
  const listed = await user.listApiKeys();
  assert.deepEqual(listed.map((k) => k.description), ["CI"]);
  assert.equal(listed[0].value.lastFour, key.value.slice(-4));
  assert.equal((await server.getUser({ apiKey: key.value })).id, user.id);

  const team = await user.createTeam({ displayName: "Key Team" });
  const teamKey = await team.createApiKey({ description: "deploy", expiresAt: null, isPublic: false });
  assert.equal((await server.getTeam({ apiKey: teamKey.value })).id, team.id);
  assert.equal(await server.getUser({ apiKey: teamKey.value }), null, "a team key is not a user key");

  await listed[0].revoke();
  assert.equal(await server.getUser({ apiKey: key.value }), null);
  const [revoked] = await user.listApiKeys();
  assert.ok(revoked.manuallyRevokedAt instanceof Date);
});

// --- Many projects: a dashboard user (a user of `internal`) and the projects its teams own.

test("admin: a dashboard user creates a project, configures it, and mints and revokes keys a server app uses", async () => {
  const { user } = await signedUp("sdk-dashboard@example.com");
  const team = await user.createTeam({ displayName: "SDK Owners" });
  const project = await user.createProject({ displayName: "SDK Project", teamId: team.id });
  assert.equal(project.displayName, "SDK Project");
  assert.ok((await user.listOwnedProjects()).some((p) => p.id === project.id));

  // The owned project's admin app authenticates with the user's admin access token.
  const admin = project.app;
  await project.update({ description: "made by the SDK suite", config: { signUpEnabled: false, allowUserApiKeys: true } });
  const read = await admin.getProject();
  assert.equal(read.description, "made by the SDK suite");
  assert.equal(read.config.signUpEnabled, false);
  assert.equal(read.config.allowUserApiKeys, true);

  // The config API (what getConfig / updateConfig call) and the legacy view agree.
  assert.equal((await project.getConfig()).auth.allowSignUp, false);
  await project.updateConfig({ "auth.otp.allowSignIn": true, "domains.trustedDomains.prod": { baseUrl: "https://sdk.example", handlerPath: "/handler" } });
  const config = await project.getConfig();
  assert.equal(config.auth.otp.allowSignIn, true);
  assert.equal(config.domains.trustedDomains.prod.baseUrl, "https://sdk.example");
  const reread = await admin.getProject();
  assert.equal(reread.config.magicLinkEnabled, true);
  assert.deepEqual(reread.config.domains.map((d) => d.domain), ["https://sdk.example"]);
  assert.deepEqual(JSON.parse(JSON.stringify(await project.getConfigOverride("environment"))).auth, { otp: { allowSignIn: true } });

  const key = await admin.createInternalApiKey({
    description: "sdk backend",
    expiresAt: new Date(Date.now() + 86_400_000),
    hasPublishableClientKey: true,
    hasSecretServerKey: true,
    hasSuperSecretAdminKey: false,
  });
  assert.match(key.secretServerKey, /^ssk_[0-9a-z]{45}$/);
  const server = new StackServerApp({
    projectId: project.id,
    publishableClientKey: key.publishableClientKey,
    secretServerKey: key.secretServerKey,
    baseUrl,
    tokenStore: "memory",
  });
  const created = await server.createUser({ primaryEmail: "sdk-tenant@example.com" });
  assert.deepEqual((await server.listUsers()).map((u) => u.id), [created.id]);

  const [listed] = await admin.listInternalApiKeys();
  assert.equal(listed.description, "sdk backend");
  await listed.revoke();
  await assert.rejects(server.listUsers(), (e) => {
    assert.match(String(e), /INVALID_SECRET_SERVER_KEY/);
    return true;
  });
});

// --- Webhooks: the npm `svix` package manages endpoints against stackd (token and URL from
// /webhooks/svix-token), and its Webhook.verify checks what a real receiver got.

function startReceiver({ delayMs = 0 } = {}) {
  const received = [];
  const acknowledged = { count: 0 };
  let status = 200;
  const srv = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body, answered: status });
      setTimeout(() => {
        res.statusCode = status;
        res.end("ok");
        acknowledged.count++;
      }, delayMs);
    });
  });
  return new Promise((resolve) =>
    srv.listen(0, "127.0.0.1", () =>
      resolve({ url: `http://127.0.0.1:${srv.address().port}/hook`, received, acknowledged, answer: (s) => (status = s), close: () => srv.close() }),
    ),
  );
}

async function waitFor(what, pred, ms = 15000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const adminApp = () =>
  new StackAdminApp({ projectId: PROJECT_ID, publishableClientKey: PUBLISHABLE_CLIENT_KEY, secretServerKey: SECRET_SERVER_KEY, superSecretAdminKey: SUPER_SECRET_ADMIN_KEY, baseUrl, tokenStore: "memory" });

async function svixClient(admin) {
  // The admin SDK's own call (its dashboard hands this token to Svix's portal).
  const { token, url } = await admin._interface.getSvixToken();
  assert.ok(url.startsWith(baseUrl), url);
  return new Svix(token, { serverUrl: url });
}

test("webhooks: the svix client manages endpoints and Webhook.verify accepts every delivery", async () => {
  const admin = adminApp();
  const svix = await svixClient(admin);
  const rx = await startReceiver();
  const ep = await svix.endpoint.create(PROJECT_ID, { url: rx.url, description: "sdk receiver" });
  assert.match(ep.id, /^ep_/);
  assert.ok((await svix.endpoint.list(PROJECT_ID)).data.some((e) => e.id === ep.id));
  assert.equal((await svix.endpoint.get(PROJECT_ID, ep.id)).description, "sdk receiver");
  const { key } = await svix.endpoint.getSecret(PROJECT_ID, ep.id);
  const receiver = new Webhook(key);

  const server = serverApp();
  const user = await server.createUser({ primaryEmail: "sdk-webhook@example.com" });
  const other = await server.createUser({ primaryEmail: "sdk-webhook-2@example.com" });
  const team = await server.createTeam({ displayName: "Hooked", creatorUserId: user.id });
  await team.addUser(other.id);
  await admin.createTeamPermissionDefinition({ id: "sdk_hooked", description: "webhook test" });
  await (await server.getUser(other.id)).grantPermission(team, "sdk_hooked");
  await user.update({ displayName: "Hooked User" });
  await team.removeUser(other.id);

  const types = ["user.created", "team.created", "team_membership.created", "team_permission.created", "user.updated", "team_membership.deleted"];
  const of = (type) => rx.received.filter((r) => JSON.parse(r.body).type === type).map((r) => JSON.parse(r.body).data);
  await waitFor("every event type", () => types.every((t) => of(t).length > 0));
  for (const r of rx.received) {
    receiver.verify(r.body, r.headers); // throws on a bad signature or a stale timestamp
    assert.deepEqual(Object.keys(JSON.parse(r.body)).sort(), ["data", "type"]);
  }
  assert.throws(() => receiver.verify(rx.received[0].body + " ", rx.received[0].headers), "a changed body fails");
  assert.throws(() => new Webhook(`whsec_${Buffer.alloc(24, 7).toString("base64")}`).verify(rx.received[0].body, rx.received[0].headers));

  assert.ok(of("user.created").some((d) => d.id === user.id && d.primary_email === "sdk-webhook@example.com"));
  assert.ok(of("team.created").some((d) => d.id === team.id && d.display_name === "Hooked"));
  assert.ok(of("team_membership.created").some((d) => d.team_id === team.id && d.user_id === other.id));
  assert.ok(of("team_permission.created").some((d) => d.id === "sdk_hooked" && d.team_id === team.id && d.user_id === other.id));
  assert.ok(of("user.updated").some((d) => d.id === user.id && d.display_name === "Hooked User"));
  assert.ok(of("team_membership.deleted").some((d) => d.team_id === team.id && d.user_id === other.id));

  // History through the client: messages and their attempts.
  const messages = await svix.message.list(PROJECT_ID);
  const msg = messages.data.find((m) => m.eventType === "team.created" && m.payload.data.id === team.id);
  assert.ok(msg, "the team.created message is listed");
  const attempts = await svix.messageAttempt.listByMsg(PROJECT_ID, msg.id);
  assert.equal(attempts.data[0].responseStatusCode, 200);
  assert.equal(attempts.data[0].endpointId, ep.id);

  // The dashboard's test button.
  const result = await admin.sendTestWebhook({ endpointId: ep.id });
  assert.equal(result.status, "ok");
  await waitFor("the test event", () => of("stack.test").length === 1);
  assert.equal(of("stack.test")[0].endpointUrl, rx.url);

  await svix.endpoint.delete(PROJECT_ID, ep.id);
  rx.close();
});

test("webhooks: a receiver that answers 500 for a while gets the event after it recovers", async () => {
  const svix = await svixClient(adminApp());
  const rx = await startReceiver();
  rx.answer(500);
  const ep = await svix.endpoint.create(PROJECT_ID, { url: rx.url, eventTypes: ["user.created"] });
  const { key } = await svix.endpoint.getSecret(PROJECT_ID, ep.id);
  const user = await serverApp().createUser({ primaryEmail: "sdk-webhook-outage@example.com" });
  await waitFor("two failed attempts", () => rx.received.length >= 2);
  rx.answer(200);
  await waitFor("the delivery after recovery", () => rx.received.some((r) => r.answered === 200));
  const ids = new Set(rx.received.map((r) => r.headers["svix-id"]));
  assert.equal(ids.size, 1, "every retry carries the same svix-id");
  const delivered = rx.received.find((r) => r.answered === 200);
  new Webhook(key).verify(delivered.body, delivered.headers);
  assert.equal(JSON.parse(delivered.body).data.id, user.id);
  await svix.endpoint.delete(PROJECT_ID, ep.id);
  rx.close();
});

test("webhooks: a server killed (SIGKILL) mid-delivery delivers every event after it restarts", async () => {
  const db = join(dir, "sigkill.db");
  const start = async () => {
    const child = spawn(process.env.STACKD_BIN, ["serve", "--dev", "--db", db, "--listen", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, STACKD_LOG: "error" },
    });
    return { child, url: await baseUrlFromBanner(child) };
  };
  let { child, url } = await start();
  const admin = new StackAdminApp({ projectId: PROJECT_ID, publishableClientKey: PUBLISHABLE_CLIENT_KEY, secretServerKey: SECRET_SERVER_KEY, superSecretAdminKey: SUPER_SECRET_ADMIN_KEY, baseUrl: url, tokenStore: "memory" });
  const { token, url: svixUrl } = await admin._interface.getSvixToken();
  const svix = new Svix(token, { serverUrl: svixUrl });
  // Each answer takes 400 ms, so deliveries are still in flight when the server is killed.
  const rx = await startReceiver({ delayMs: 400 });
  const ep = await svix.endpoint.create(PROJECT_ID, { url: rx.url, eventTypes: ["user.created"] });
  const { key } = await svix.endpoint.getSecret(PROJECT_ID, ep.id);
  const server = new StackServerApp({ projectId: PROJECT_ID, publishableClientKey: PUBLISHABLE_CLIENT_KEY, secretServerKey: SECRET_SERVER_KEY, baseUrl: url, tokenStore: "memory" });
  const USERS = 30;
  const ids = [];
  for (let i = 0; i < USERS; i++) ids.push((await server.createUser({ primaryEmail: `sigkill-${i}@example.com` })).id);
  await waitFor("the first deliveries", () => rx.received.length > 0);
  const killed = new Promise((r) => child.once("exit", (code, signal) => r(signal)));
  child.kill("SIGKILL");
  assert.equal(await killed, "SIGKILL");
  assert.ok(rx.acknowledged.count < USERS, "killed before every delivery was acknowledged");

  ({ child, url } = await start());
  const delivered = () => new Set(rx.received.map((r) => JSON.parse(r.body).data.id));
  await waitFor("every event after the restart", () => ids.every((id) => delivered().has(id)));
  const receiver = new Webhook(key);
  for (const r of rx.received) receiver.verify(r.body, r.headers);
  assert.equal(new Set(rx.received.map((r) => r.headers["svix-id"])).size, USERS, "one svix-id per event, retries included");
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  rx.close();
});
