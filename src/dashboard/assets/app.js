// The dashboard's shell: routing by URL fragment (#/p/<project>/<page>/<id>), the header with the
// project switcher, the navigation, and the OAuth return. Each page module exports render(ctx).
import * as api from "./api.js";
import { h, toast } from "./ui.js";

const PAGES = [
  ["overview", "Overview"],
  ["users", "Users"],
  ["teams", "Teams"],
  ["permissions", "Permissions"],
  ["keys", "Project keys"],
  ["auth", "Auth methods"],
  ["emails", "Emails"],
  ["webhooks", "Webhooks"],
  ["rules", "Sign-up rules"],
  ["config", "Config as code"],
];

const MODULES = {
  overview: "./pages/overview.js",
  users: "./pages/users.js",
  teams: "./pages/teams.js",
  permissions: "./pages/permissions.js",
  keys: "./pages/keys.js",
  auth: "./pages/auth_methods.js",
  emails: "./pages/emails.js",
  webhooks: "./pages/webhooks.js",
  rules: "./pages/rules.js",
  config: "./pages/config.js",
};

const app = document.getElementById("app");
let projectsCache = null;
let userCache = null;

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

export async function projects(reload = false) {
  if (reload || !projectsCache) projectsCache = (await api.me("/internal/projects")).items;
  return projectsCache;
}

function parse() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "p" && parts[1]) return { project: parts[1], page: parts[2] || "overview", id: parts[3], sub: parts[4] };
  return { page: parts[0] || "projects" };
}

async function header(current) {
  const list = await projects().catch(() => []);
  userCache ??= await api.me("/users/me").catch(() => null);
  const user = userCache;
  const switcher = h(
    "select",
    {
      id: "project-switcher",
      "aria-label": "Project",
      onchange: (e) => navigate(e.target.value ? `#/p/${e.target.value}/overview` : "#/projects"),
    },
    h("option", { value: "" }, "All projects"),
    list.map((p) => h("option", { value: p.id, selected: p.id === current }, p.display_name)),
  );
  const signOut = h("button.secondary", { type: "button", onclick: async () => { await api.signOut(); projectsCache = null; userCache = null; navigate("#/signin"); } }, "Sign out");
  return h(
    "header.top",
    h("a.brand", { href: "#/projects" }, "stackd"),
    switcher,
    h("span.spacer"),
    user ? h("span.muted", { id: "signed-in-as" }, user.primary_email || user.display_name || user.id) : null,
    signOut,
  );
}

function nav(project, page) {
  return h(
    "nav.side",
    { "aria-label": "Project pages" },
    h("ul", PAGES.map(([id, label]) => h("li", h("a", { href: `#/p/${encodeURIComponent(project)}/${id}`, "aria-current": id === page ? "page" : null }, label)))),
  );
}

let rendering = 0;

async function route() {
  const token = ++rendering;
  const r = parse();
  if (!api.signedIn() && r.page !== "signin") return navigate("#/signin");
  if (r.page === "signin") {
    projectsCache = userCache = null;
    const m = await import("./pages/signin.js");
    app.replaceChildren(h("main#main.centered", { tabindex: -1 }));
    return m.render({ main: app.querySelector("main"), navigate });
  }
  const main = h("main#main", { tabindex: -1 }, h("p.loading", { role: "status" }, "Loading…"));
  const top = await header(r.project);
  if (token !== rendering) return;
  if (!r.project) {
    app.replaceChildren(top, main);
    const m = await import("./pages/projects.js");
    return run(() => m.render({ main, navigate, projects }), main);
  }
  app.replaceChildren(top, h("div.layout", nav(r.project, r.page), main));
  const path = MODULES[r.page];
  if (!path) {
    main.replaceChildren(h("h1", "Not found"));
    return;
  }
  const m = await import(path);
  const ctx = { main, navigate, projects, project: r.project, base: `#/p/${encodeURIComponent(r.project)}`, id: r.id, sub: r.sub, call: (p, o) => api.admin(r.project, p, o) };
  return run(() => m.render(ctx), main);
}

async function run(render, main) {
  try {
    await render();
    const title = main.querySelector("h1");
    document.title = `${title ? title.textContent + " · " : ""}stackd dashboard`;
  } catch (e) {
    if (e instanceof api.ApiError && e.code === "NOT_SIGNED_IN") return navigate("#/signin");
    main.replaceChildren(h("h1", "Something went wrong"), h("p.form-error", { role: "alert" }, e.message || String(e)));
  }
}

/** The provider sent the browser back here with ?code&state: exchange the code, then continue. */
async function finishOAuth() {
  const params = new URLSearchParams(location.search);
  if (!params.has("state")) return;
  const pending = JSON.parse(sessionStorage.getItem("stackd.oauth") || "null");
  history.replaceState(null, "", location.pathname + (pending?.returnTo || "#/projects"));
  if (!pending || pending.state !== params.get("state")) return toast("The sign-in did not come from this page; please try again.", true);
  sessionStorage.removeItem("stackd.oauth");
  if (params.has("errorCode") || params.has("error")) return toast(`Sign-in failed: ${params.get("message") || params.get("errorCode") || params.get("error")}`, true);
  try {
    const tokens = await api.exchangeOAuthCode(pending.project, params, pending.verifier, pending.redirectUri);
    if (pending.project === "internal") api.adoptOAuthTokens(tokens);
    else sessionStorage.setItem("stackd.oauthTest", JSON.stringify({ project: pending.project, provider: pending.provider, tokens }));
  } catch (e) {
    toast(`Sign-in failed: ${e.message}`, true);
  }
}

/** Starts an OAuth sign-in of `project` with `provider` (PKCE), returning to `returnTo`. */
export async function startOAuth(project, provider, returnTo) {
  const bytes = (n) => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(n)))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const verifier = bytes(32);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const challenge = btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const state = bytes(16);
  const redirectUri = location.origin + "/dashboard/";
  sessionStorage.setItem("stackd.oauth", JSON.stringify({ project, provider, verifier, state, redirectUri, returnTo }));
  const q = new URLSearchParams({
    client_id: project,
    client_secret: "__stack_public_client__",
    redirect_uri: redirectUri,
    error_redirect_url: redirectUri,
    scope: "legacy",
    state,
    grant_type: "authorization_code",
    code_challenge: challenge,
    code_challenge_method: "S256",
    response_type: "code",
    type: "authenticate",
  });
  location.assign(`/api/v1/auth/oauth/authorize/${encodeURIComponent(provider)}?${q}`);
}

// The fragment is the router's, so the skip link moves focus itself instead of changing it.
document.querySelector("a.skip").addEventListener("click", (e) => {
  e.preventDefault();
  document.getElementById("main")?.focus();
});

window.addEventListener("hashchange", route);
finishOAuth().finally(route);
