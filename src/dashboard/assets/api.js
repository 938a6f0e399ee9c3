// The dashboard's only way to the server: stackd's public API on this origin. The signed-in user
// belongs to the `internal` project; its access token is sent as x-stack-admin-access-token to
// administer the projects its teams own, exactly as the admin SDK does.

const BASE = "/api/v1";
const INTERNAL = "internal";
const STORE_KEY = "stackd.dashboard.session";

/** A KnownError (or any non-2xx answer) from the API. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || `Request failed (${status})`);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let session = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
let refreshing = null;

function saveSession(s) {
  session = s;
  if (s) localStorage.setItem(STORE_KEY, JSON.stringify(s));
  else localStorage.removeItem(STORE_KEY);
}

export const signedIn = () => session !== null;

async function send(path, { method = "GET", body, query, headers = {} } = {}) {
  let url = BASE + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    const s = q.toString();
    if (s) url += "?" + s;
  }
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const code = (data && data.code) || res.headers.get("x-stack-known-error") || null;
    const message = (data && (data.error || data.message)) || (typeof data === "string" && data) || res.statusText;
    throw new ApiError(res.status, code, message, data && data.details);
  }
  return data;
}

const clientHeaders = () => ({ "x-stack-project-id": INTERNAL, "x-stack-access-type": "client" });

async function refresh() {
  if (!session) throw new ApiError(401, "NOT_SIGNED_IN", "Please sign in.");
  refreshing ??= send("/auth/sessions/current/refresh", {
    method: "POST",
    headers: { ...clientHeaders(), "x-stack-refresh-token": session.refresh },
  })
    .then((r) => saveSession({ ...session, access: r.access_token }))
    .catch((e) => {
      saveSession(null);
      throw e;
    })
    .finally(() => (refreshing = null));
  return refreshing;
}

const EXPIRED = new Set(["ACCESS_TOKEN_EXPIRED", "ADMIN_ACCESS_TOKEN_EXPIRED"]);

/** A call with the signed-in user's token; an expired token is refreshed once and the call repeated. */
async function withToken(path, opts, headersFor) {
  if (!session) throw new ApiError(401, "NOT_SIGNED_IN", "Please sign in.");
  try {
    return await send(path, { ...opts, headers: { ...(opts.headers || {}), ...headersFor(session.access) } });
  } catch (e) {
    if (!(e instanceof ApiError) || !EXPIRED.has(e.code)) throw e;
    await refresh();
    return send(path, { ...opts, headers: { ...(opts.headers || {}), ...headersFor(session.access) } });
  }
}

/** The signed-in user's own calls on `internal` (who am I, my projects). */
export const me = (path, opts = {}) =>
  withToken(path, opts, (access) => ({ ...clientHeaders(), "x-stack-access-token": access }));

/** Admin calls on one project. */
export const admin = (projectId, path, opts = {}) =>
  withToken(path, opts, (access) => ({
    "x-stack-project-id": projectId,
    "x-stack-access-type": "admin",
    "x-stack-admin-access-token": access,
  }));

/** Client calls on a project without a session (the OAuth sign-in tester). */
export const anonymousClient = (projectId, path, opts = {}) =>
  send(path, { ...opts, headers: { ...(opts.headers || {}), "x-stack-project-id": projectId, "x-stack-access-type": "client" } });

function tokensFrom(r) {
  saveSession({ access: r.access_token, refresh: r.refresh_token });
}

export async function signIn(email, password) {
  tokensFrom(await send("/auth/password/sign-in", { method: "POST", headers: clientHeaders(), body: { email, password } }));
}

export async function signUp(email, password) {
  tokensFrom(
    await send("/auth/password/sign-up", {
      method: "POST",
      headers: clientHeaders(),
      body: { email, password, verification_callback_url: location.origin + "/dashboard/" },
    }),
  );
}

/** Finishes an OAuth sign-in: the code from the provider's redirect, exchanged with the PKCE verifier. */
export async function exchangeOAuthCode(projectId, params, verifier, redirectUri) {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: projectId,
    client_secret: "__stack_public_client__",
  });
  const res = await fetch(BASE + "/auth/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-stack-project-id": projectId },
    body: form,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.code || data.error, data.message || data.error_description || "OAuth sign-in failed");
  return data;
}

export function adoptOAuthTokens(data) {
  tokensFrom({ access_token: data.access_token, refresh_token: data.refresh_token });
}

export async function signOut() {
  try {
    await withToken("/auth/sessions/current", { method: "DELETE" }, (access) => ({
      ...clientHeaders(),
      "x-stack-access-token": access,
      "x-stack-refresh-token": session.refresh,
    }));
  } catch {
    // Signed out locally either way.
  }
  saveSession(null);
}

/** The Svix-compatible webhook API of a project: a token from /webhooks/svix-token, then Bearer calls. */
export async function svix(projectId) {
  const { token, url } = await admin(projectId, "/webhooks/svix-token", { method: "POST", body: {} });
  const root = new URL(url, location.origin).pathname.replace(/\/$/, "");
  return async (path, { method = "GET", body } = {}) => {
    const init = { method, headers: { authorization: `Bearer ${token}` } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(`${root}/api/v1/app/${encodeURIComponent(projectId)}${path}`, init);
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new ApiError(res.status, data && data.code, (data && (data.detail || data.message)) || res.statusText);
    return data;
  };
}
