// Auth methods: password, OTP (magic link), passkeys, sign-up, OAuth providers (shared keys or the
// app's own client id / secret), trusted domains and localhost, and the account merge strategy.
import { startOAuth } from "../app.js";
import { h, field, form, section, action, toast } from "../ui.js";

const PROVIDERS = ["apple", "bitbucket", "discord", "facebook", "github", "gitlab", "google", "linkedin", "microsoft", "spotify", "twitch", "x"];
const SHARED = ["github", "google", "microsoft", "spotify"];

export async function render({ main, call, navigate, base, project }) {
  const p = await call("/internal/projects/current");
  const c = p.config;
  const reload = () => navigate(`${base}/auth`);
  const enabled = new Map(c.oauth_providers.map((o) => [o.id, o]));
  const save = async (config) => {
    await call("/internal/projects/current", { method: "PATCH", body: { config } });
    toast("Saved");
    reload();
  };

  const methods = form({
    fields: [
      field({ name: "credential_enabled", label: "E-mail and password", type: "checkbox", value: c.credential_enabled }),
      field({ name: "magic_link_enabled", label: "One-time codes and magic links by e-mail (OTP)", type: "checkbox", value: c.magic_link_enabled }),
      field({ name: "passkey_enabled", label: "Passkeys", type: "checkbox", value: c.passkey_enabled }),
      field({ name: "sign_up_enabled", label: "New users may sign up", type: "checkbox", value: c.sign_up_enabled }),
      field({
        name: "oauth_account_merge_strategy",
        label: "When an OAuth account's e-mail belongs to an existing user",
        type: "select",
        value: c.oauth_account_merge_strategy,
        options: [
          { value: "link_method", label: "Link it to that user" },
          { value: "raise_error", label: "Refuse the sign-in" },
          { value: "allow_duplicates", label: "Create a separate user" },
        ],
      }),
    ],
    submit: "Save sign-in methods",
    action: (v) => save(v),
  });

  // One row per provider: on/off, shared keys (where the server has them) or the app's own.
  const providerIndex = [];
  const oauth = form({
    fields: PROVIDERS.map((id) => {
      const o = enabled.get(id);
      return h(
        "fieldset",
        { id: `provider-${id}` },
        h("legend", id),
        field({ name: `${id}:enabled`, label: `Enable ${id}`, type: "checkbox", value: !!o }),
        field({
          name: `${id}:type`,
          label: "Credentials",
          type: "select",
          value: o?.type || (SHARED.includes(id) ? "shared" : "standard"),
          options: SHARED.includes(id) ? [{ value: "shared", label: "Shared (development keys)" }, { value: "standard", label: "This app's own" }] : [{ value: "standard", label: "This app's own" }],
        }),
        field({ name: `${id}:client_id`, label: "Client id", value: o?.client_id || "" }),
        field({ name: `${id}:client_secret`, label: "Client secret", type: "password", value: o?.client_secret || "", autocomplete: "off" }),
      );
    }),
    submit: "Save OAuth providers",
    fieldFor: (err) => {
      const m = /oauth_providers\[(\d+)\](?:\.(\w+))?/.exec(err.message || "");
      if (!m) return null;
      const id = providerIndex[Number(m[1])];
      return `${id}:${m[2] && m[2] !== "id" && m[2] !== "type" ? m[2] : "client_id"}`;
    },
    action: async (v) => {
      providerIndex.length = 0;
      const list = [];
      for (const id of PROVIDERS) {
        if (!v[`${id}:enabled`]) continue;
        providerIndex.push(id);
        const type = v[`${id}:type`];
        list.push(type === "shared" ? { id, type } : { id, type, client_id: v[`${id}:client_id`], client_secret: v[`${id}:client_secret`] });
      }
      await save({ oauth_providers: list });
    },
  });

  const domains = form({
    fields: [
      field({ name: "allow_localhost", label: "Trust localhost (development)", type: "checkbox", value: c.allow_localhost }),
      field({ name: "domains", label: "Trusted domains, one per line (e.g. https://app.example.com)", type: "textarea", value: c.domains.map((d) => d.domain).join("\n") }),
    ],
    submit: "Save domains",
    action: (v) =>
      save({
        allow_localhost: v.allow_localhost,
        domains: v.domains.split("\n").map((s) => s.trim()).filter(Boolean).map((domain) => ({ domain, handler_path: c.domains.find((d) => d.domain === domain)?.handler_path || "/handler" })),
      }),
  });

  // The result of "Try sign-in", handed over by the shell after the provider's redirect.
  const tried = JSON.parse(sessionStorage.getItem("stackd.oauthTest") || "null");
  let result = null;
  if (tried && tried.project === project) {
    sessionStorage.removeItem("stackd.oauthTest");
    const sub = JSON.parse(atob(tried.tokens.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
    const u = await call(`/users/${sub}`);
    result = h("p.secret", { role: "status", id: "oauth-test-result" }, `Signed in with ${tried.provider} as ${u.primary_email || u.id}.`);
  }

  main.replaceChildren(
    h("h1", "Auth methods"),
    result,
    section("Sign-in methods", methods),
    section(
      "OAuth providers",
      c.oauth_providers.length
        ? h("div.row", h("span", "Try a sign-in as a user of this project:"), c.oauth_providers.map((o) => action(`Try ${o.id}`, () => startOAuth(project, o.id, `${base}/auth`), "secondary")))
        : null,
      oauth,
    ),
    section("Domains", domains),
  );
}
