// Users: search and keyset paging (the API's cursor, so page 2,000 costs what page 1 does), the
// detail page (profile, contact channels, metadata, sessions, teams, permissions, OAuth links,
// passkey / TOTP state), create, edit, delete.
import { h, field, form, table, when, section, action, confirmDialog, jsonEditor, parseJson, badge, toast } from "../ui.js";

const PAGE = 50;
const emailErrors = { USER_EMAIL_ALREADY_EXISTS: "primary_email", PASSWORD_TOO_SHORT: "password", PASSWORD_TOO_LONG: "password", PASSWORD_REQUIREMENTS_NOT_MET: "password" };

export async function render(ctx) {
  if (ctx.id === "new") return create(ctx);
  if (ctx.id) return detail(ctx);
  return list(ctx);
}

async function list({ main, call, base, navigate }) {
  const state = { query: sessionStorage.getItem("stackd.users.query") || "", cursors: [null] };
  const search = h("input", { type: "search", id: "user-search", name: "query", value: state.query, placeholder: "E-mail, name or id", "aria-label": "Search users" });
  const results = h("div", { id: "user-results", "aria-live": "polite" });
  const pager = h("div.pager");
  main.replaceChildren(
    h("div.row", h("h1", { style: "flex:1" }, "Users"), h("a.button", { href: `${base}/users/new` }, "Create user")),
    h("form.inline", { role: "search", onsubmit: (e) => { e.preventDefault(); state.cursors = [null]; load(); } }, h("div", { style: "flex:1;min-width:12rem" }, search), h("button", { type: "submit" }, "Search")),
    results,
    pager,
  );
  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.cursors = [null]; load(); }, 300);
  });
  async function load() {
    state.query = search.value.trim();
    sessionStorage.setItem("stackd.users.query", state.query);
    const cursor = state.cursors[state.cursors.length - 1];
    results.setAttribute("aria-busy", "true");
    const page = await call("/users", { query: { limit: PAGE, desc: "true", order_by: "signed_up_at", cursor, query: state.query || undefined } });
    results.removeAttribute("aria-busy");
    results.replaceChildren(
      table(
        [
          { label: "E-mail", render: (u) => h("a", { href: `${base}/users/${u.id}` }, u.primary_email || "(none)") },
          { label: "Name", render: (u) => u.display_name || "—" },
          { label: "Signed up", render: (u) => when(u.signed_up_at_millis), optional: true },
          { label: "Sign-in", render: (u) => [u.has_password ? "password " : "", u.otp_auth_enabled ? "OTP " : "", u.passkey_auth_enabled ? "passkey " : "", u.oauth_providers.map((p) => p.id).join(" ")], optional: true },
        ],
        page.items,
        { onOpen: (u) => navigate(`${base}/users/${u.id}`), empty: state.query ? "No user matches." : "No users yet." },
      ),
    );
    const next = page.pagination?.next_cursor;
    pager.replaceChildren(
      h("button.secondary", { type: "button", disabled: state.cursors.length === 1, onclick: () => { state.cursors.pop(); load(); } }, "Previous"),
      h("span.muted", `Page ${state.cursors.length}`),
      h("button.secondary", { type: "button", id: "next-page", disabled: !next, onclick: () => { state.cursors.push(next); load(); } }, "Next"),
    );
  }
  await load();
}

async function create({ main, call, base, navigate }) {
  main.replaceChildren(
    h("h1", "Create user"),
    form({
      fields: [
        field({ name: "primary_email", label: "E-mail", type: "email" }),
        field({ name: "display_name", label: "Display name" }),
        field({ name: "password", label: "Password (optional)", type: "password", autocomplete: "new-password" }),
        field({ name: "primary_email_verified", label: "E-mail verified", type: "checkbox" }),
      ],
      submit: "Create user",
      fieldFor: emailErrors,
      action: async (v) => {
        const body = { display_name: v.display_name || undefined, primary_email: v.primary_email || undefined, primary_email_verified: v.primary_email_verified };
        if (v.primary_email) body.primary_email_auth_enabled = true;
        if (v.password) body.password = v.password;
        const u = await call("/users", { method: "POST", body });
        toast("User created");
        navigate(`${base}/users/${u.id}`);
      },
    }),
  );
}

async function detail({ main, call, base, navigate, id }) {
  const [u, channels, sessions, teams, perms, direct, links, defs] = await Promise.all([
    call(`/users/${id}`),
    call("/contact-channels", { query: { user_id: id } }),
    call("/auth/sessions", { query: { user_id: id } }),
    call("/teams", { query: { user_id: id } }),
    call("/project-permissions", { query: { user_id: id, recursive: "true" } }),
    call("/project-permissions", { query: { user_id: id } }),
    call("/oauth-providers", { query: { user_id: id } }),
    call("/project-permission-definitions"),
  ]);
  const reload = () => navigate(`${base}/users/${id}`);
  const directIds = new Set(direct.items.map((p) => p.id));

  const profile = form({
    fields: [
      field({ name: "display_name", label: "Display name", value: u.display_name }),
      field({ name: "primary_email", label: "Primary e-mail", type: "email", value: u.primary_email }),
      field({ name: "primary_email_verified", label: "E-mail verified", type: "checkbox", value: u.primary_email_verified }),
      field({ name: "restricted_by_admin", label: "Restricted by an admin", type: "checkbox", value: u.restricted_by_admin }),
    ],
    submit: "Save profile",
    fieldFor: emailErrors,
    action: async (v) => {
      await call(`/users/${id}`, { method: "PATCH", body: { display_name: v.display_name || null, primary_email: v.primary_email || null, primary_email_verified: v.primary_email_verified, restricted_by_admin: v.restricted_by_admin } });
      toast("Saved");
      reload();
    },
  });

  const metadata = form({
    fields: [
      jsonEditor({ name: "client_metadata", label: "Client metadata (the user can read and write it)", value: u.client_metadata }),
      jsonEditor({ name: "client_read_only_metadata", label: "Client read-only metadata", value: u.client_read_only_metadata }),
      jsonEditor({ name: "server_metadata", label: "Server metadata (never sent to clients)", value: u.server_metadata }),
    ],
    submit: "Save metadata",
    action: async (v) => {
      const body = {};
      for (const k of ["client_metadata", "client_read_only_metadata", "server_metadata"]) body[k] = parseJson(v[k], k);
      await call(`/users/${id}`, { method: "PATCH", body });
      toast("Metadata saved");
      reload();
    },
  });
  metadata.id = "metadata-form";

  const grant = form({
    className: "inline",
    fields: [field({ name: "permission_id", label: "Permission", type: "select", options: defs.items.map((d) => d.id) })],
    submit: "Grant",
    action: async (v) => {
      await call(`/project-permissions/${id}/${encodeURIComponent(v.permission_id)}`, { method: "POST", body: {} });
      toast("Permission granted");
      reload();
    },
  });

  main.replaceChildren(
    h("div.row", h("h1", { style: "flex:1" }, u.primary_email || u.display_name || "User"), action("Delete user", async () => {
      if (!(await confirmDialog(`Delete ${u.primary_email || u.id}? Their sessions, teams memberships and data go with them.`))) return;
      await call(`/users/${id}`, { method: "DELETE" });
      toast("User deleted");
      navigate(`${base}/users`);
    }, "danger")),
    h("p.muted", "Id ", h("code", u.id), ` · signed up ${when(u.signed_up_at_millis)} · last active ${when(u.last_active_at_millis)}`),
    section(
      "Sign-in methods",
      h("p.row", badge(u.has_password, "password set", "no password"), badge(u.otp_auth_enabled, "OTP on", "OTP off"), badge(u.passkey_auth_enabled, "passkey registered", "no passkey"), badge(u.requires_totp_mfa, "TOTP required", "no TOTP")),
    ),
    section("Profile", profile),
    section("Metadata", metadata),
    section(
      "Contact channels",
      table([{ label: "Value", render: (c) => c.value }, { label: "Primary", render: (c) => (c.is_primary ? "yes" : "no") }, { label: "Verified", render: (c) => badge(c.is_verified, "verified", "unverified") }, { label: "Used to sign in", render: (c) => (c.used_for_auth ? "yes" : "no"), optional: true }], channels.items),
    ),
    section(
      "Sessions",
      table(
        [
          { label: "Created", render: (s) => when(s.created_at) },
          { label: "Last used", render: (s) => when(s.last_used_at), optional: true },
          { label: "", render: (s) => action("Revoke", async () => { await call(`/auth/sessions/${s.id}`, { method: "DELETE", query: { user_id: id } }); toast("Session revoked"); reload(); }, "secondary") },
        ],
        sessions.items,
        { empty: "No active sessions." },
      ),
    ),
    section("Teams", table([{ label: "Team", render: (t) => h("a", { href: `${base}/teams/${t.id}` }, t.display_name) }], teams.items, { empty: "Not in any team." })),
    section(
      "Project permissions",
      h("div", { id: "user-permissions" }, table([{ label: "Permission", render: (p) => h("code", p.id) }, { label: "How", render: (p) => (directIds.has(p.id) ? "granted" : "inherited") }, { label: "", render: (p) => (directIds.has(p.id) ? action("Revoke", async () => { await call(`/project-permissions/${id}/${encodeURIComponent(p.id)}`, { method: "DELETE" }); reload(); }, "secondary") : "") }], perms.items, { empty: "No project permissions." })),
      defs.items.length ? grant : h("p.muted", "Define project permissions first (Permissions page)."),
    ),
    section("OAuth accounts", table([{ label: "Provider", render: (l) => l.provider_config_id || l.type }, { label: "Account", render: (l) => l.email || l.account_id }, { label: "Sign-in", render: (l) => (l.allow_sign_in ? "yes" : "no"), optional: true }], links.items, { empty: "No linked OAuth accounts." })),
  );
}
