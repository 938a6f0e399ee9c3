// Config as code: the project's settings as the JSON file `stackd project apply FILE` (and
// `stackd serve --config FILE`) reads — the admin PATCH body of /internal/projects/current plus
// the project id. Secrets the API never returns (the SMTP password) are left out.
import { h, section, copyButton } from "../ui.js";

const CONFIG_KEYS = [
  "sign_up_enabled", "credential_enabled", "magic_link_enabled", "passkey_enabled", "client_team_creation_enabled",
  "client_user_deletion_enabled", "allow_localhost", "allow_user_api_keys", "allow_team_api_keys", "create_team_on_sign_up",
  "domains", "oauth_providers", "team_creator_default_permissions", "team_member_default_permissions",
  "user_default_permissions", "oauth_account_merge_strategy", "email_config", "email_theme",
];

export function exportable(p) {
  const config = {};
  for (const k of CONFIG_KEYS) if (p.config[k] !== undefined && p.config[k] !== null) config[k] = p.config[k];
  config.oauth_providers = (p.config.oauth_providers || []).map((o) => {
    const out = { id: o.id, type: o.type };
    for (const k of ["client_id", "client_secret", "facebook_config_id", "microsoft_tenant_id", "apple_bundle_ids"]) if (o[k] !== undefined && o[k] !== null) out[k] = o[k];
    return out;
  });
  config.domains = (p.config.domains || []).map((d) => ({ domain: d.domain, handler_path: d.handler_path }));
  const e = p.config.email_config || { type: "shared" };
  config.email_config = e.type === "shared" ? { type: "shared" } : Object.fromEntries(Object.entries(e).filter(([, v]) => v !== null));
  for (const k of ["team_creator_default_permissions", "team_member_default_permissions", "user_default_permissions"])
    if (Array.isArray(config[k])) config[k] = config[k].map((x) => ({ id: typeof x === "string" ? x : x.id }));
  return { project_id: p.id, display_name: p.display_name, description: p.description ?? undefined, is_production_mode: p.is_production_mode, config };
}

export async function render({ main, call, project }) {
  const p = await call("/internal/projects/current");
  const text = JSON.stringify(exportable(p), null, 2) + "\n";
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  main.replaceChildren(
    h("h1", "Config as code"),
    section(
      "Export",
      h("p", "Keep this file in your repository and apply it with ", h("code", "stackd project apply stackd.json"), " or ", h("code", "stackd serve --config stackd.json"), ": applying it again changes nothing. The SMTP password is not included."),
      h("div.row", h("a.button", { href: url, download: `stackd-${project}.json`, id: "download-config" }, "Download stackd.json"), copyButton(text, "Copy JSON")),
      h("pre", { id: "config-json", tabindex: 0, "aria-label": "Configuration JSON" }, text),
    ),
  );
}
