// Project keys: key sets for the project's backends (secrets shown once, with a copy button),
// listed by their last characters, revoked.
import { h, field, form, table, when, section, action, confirmDialog, copyButton, toast } from "../ui.js";

export async function render({ main, call, navigate, base, project }) {
  const sets = await call("/internal/api-keys");
  const shown = h("div", { id: "new-keys" });
  const create = form({
    fields: [
      field({ name: "description", label: "Description", required: true }),
      field({ name: "days", label: "Expires after (days)", type: "number", value: "365" }),
      field({ name: "has_publishable_client_key", label: "Publishable client key", type: "checkbox", value: true }),
      field({ name: "has_secret_server_key", label: "Secret server key", type: "checkbox", value: true }),
      field({ name: "has_super_secret_admin_key", label: "Super secret admin key", type: "checkbox", value: false }),
    ],
    submit: "Create keys",
    fieldFor: { SCHEMA_ERROR: "description" },
    action: async (v) => {
      const days = Number(v.days || 365);
      const k = await call("/internal/api-keys", {
        method: "POST",
        body: { description: v.description, expires_at_millis: Date.now() + days * 86_400_000, has_publishable_client_key: v.has_publishable_client_key, has_secret_server_key: v.has_secret_server_key, has_super_secret_admin_key: v.has_super_secret_admin_key },
      });
      const line = (label, value, name) => (value ? h("div", h("strong", label), " ", h("code", { "data-key": name }, value), " ", copyButton(value)) : null);
      shown.replaceChildren(
        h(
          "div.secret",
          { role: "status" },
          h("p", h("strong", "Copy these now: they are not shown again.")),
          h("div", h("strong", "Project id"), " ", h("code", project)),
          line("Publishable client key", k.publishable_client_key, "publishable_client_key"),
          line("Secret server key", k.secret_server_key, "secret_server_key"),
          line("Super secret admin key", k.super_secret_admin_key, "super_secret_admin_key"),
          h("button.secondary", { type: "button", onclick: () => navigate(`${base}/keys`) }, "Done"),
        ),
      );
      shown.querySelector("button")?.focus();
    },
  });
  const last4 = (k) => (k ? `…${k.last_four}` : "—");
  main.replaceChildren(
    h("h1", "Project keys"),
    shown,
    section(
      "Key sets",
      table(
        [
          { label: "Description", render: (s) => s.description },
          { label: "Keys", render: (s) => [s.publishable_client_key ? `pck ${last4(s.publishable_client_key)} ` : "", s.secret_server_key ? `ssk ${last4(s.secret_server_key)} ` : "", s.super_secret_admin_key ? `sak ${last4(s.super_secret_admin_key)}` : ""] },
          { label: "Expires", render: (s) => when(s.expires_at_millis), optional: true },
          { label: "State", render: (s) => (s.manually_revoked_at_millis ? "revoked" : s.expires_at_millis < Date.now() ? "expired" : "active") },
          {
            label: "",
            render: (s) =>
              s.manually_revoked_at_millis
                ? ""
                : action("Revoke", async () => {
                    if (!(await confirmDialog(`Revoke "${s.description}"? Backends using these keys stop working at once.`, "Revoke"))) return;
                    await call(`/internal/api-keys/${s.id}`, { method: "PATCH", body: { revoked: true } });
                    toast("Keys revoked");
                    navigate(`${base}/keys`);
                  }, "secondary"),
          },
        ],
        sets.items,
        { empty: "No key sets yet." },
      ),
    ),
    section("New key set", create),
  );
}
