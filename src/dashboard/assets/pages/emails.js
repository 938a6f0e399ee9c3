// E-mail: the project's SMTP settings with a test-send, templates and themes with a live preview,
// the outbox filtered by status, and the development mailbox (messages rendered, links clickable).
import { h, field, form, table, when, section, toast, values } from "../ui.js";

const TABS = [
  ["settings", "Server settings"],
  ["templates", "Templates and themes"],
  ["outbox", "Outbox"],
  ["mailbox", "Development mailbox"],
];

export async function render(ctx) {
  const tab = ctx.id || "settings";
  const body = h("div");
  ctx.main.replaceChildren(
    h("h1", "Emails"),
    h("nav", { "aria-label": "Email sections" }, h("ul.row", { style: "list-style:none;padding:0" }, TABS.map(([id, label]) => h("li", h("a.button" + (id === tab ? "" : ".secondary"), { href: `${ctx.base}/emails/${id}`, "aria-current": id === tab ? "page" : null, style: id === tab ? "" : "background:#fff;color:var(--accent)" }, label))))),
    body,
  );
  const pages = { settings, templates, outbox, mailbox };
  await (pages[tab] || settings)({ ...ctx, main: body });
}

/** A preview frame: the rendered HTML in a sandbox (no scripts); links open in a new tab. */
function preview(html, title) {
  const frame = h("iframe.preview", { title, sandbox: "allow-popups allow-popups-to-escape-sandbox" });
  frame.srcdoc = `<base target="_blank">${html}`;
  return frame;
}

async function settings({ main, call, base, navigate }) {
  const p = await call("/internal/projects/current");
  const c = p.config.email_config;
  const smtpFields = () => [
    field({ name: "host", label: "SMTP host", value: c.host }),
    field({ name: "port", label: "Port", type: "number", value: c.port ?? 587 }),
    field({ name: "username", label: "Username", value: c.username }),
    field({ name: "password", label: "Password", type: "password", autocomplete: "off", hint: "Stored, never shown again; leave empty to keep the current one." }),
    field({ name: "sender_name", label: "Sender name", value: c.sender_name }),
    field({ name: "sender_email", label: "Sender e-mail", type: "email", value: c.sender_email }),
  ];
  const config = form({
    fields: [field({ name: "type", label: "Send through", type: "select", value: c.type, options: [{ value: "shared", label: "The server's settings (or the development mailbox)" }, { value: "standard", label: "This project's SMTP server" }] }), ...smtpFields()],
    submit: "Save e-mail settings",
    action: async (v) => {
      const email_config = v.type === "shared" ? { type: "shared" } : { type: "standard", host: v.host, port: Number(v.port), username: v.username, sender_name: v.sender_name, sender_email: v.sender_email, ...(v.password ? { password: v.password } : {}) };
      await call("/internal/projects/current", { method: "PATCH", body: { config: { email_config } } });
      toast("Saved");
      navigate(`${base}/emails/settings`);
    },
  });
  const outcome = h("div", { role: "status", id: "test-email-result" });
  const test = form({
    fields: [field({ name: "recipient_email", label: "Send a test to", type: "email", required: true }), ...smtpFields()],
    submit: "Send test e-mail",
    action: async (v) => {
      const r = await call("/internal/send-test-email", { method: "POST", body: { recipient_email: v.recipient_email, email_config: { host: v.host, port: Number(v.port), username: v.username, password: v.password, sender_name: v.sender_name, sender_email: v.sender_email } } });
      outcome.replaceChildren(r.success ? h("p.badge.ok", "Sent.") : h("p.form-error", `The server refused: ${r.error_message}`));
    },
  });
  main.replaceChildren(section("Where e-mails go", config), section("Test the SMTP settings", test, outcome));
}

async function templates({ main, call }) {
  const [{ templates: tpls }, { themes }] = await Promise.all([call("/internal/email-templates"), call("/internal/email-themes")]);
  const frame = h("div", { id: "email-preview" });
  const err = h("p.field-error", { role: "alert", hidden: true });
  const editor = h("div");
  let timer;
  const renderPreview = (body) => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        const r = await call("/emails/render-email", { method: "POST", body });
        err.hidden = true;
        frame.replaceChildren(h("p", h("strong", "Subject: "), r.subject || "—"), preview(r.html, "E-mail preview"));
      } catch (e) {
        err.hidden = false;
        err.textContent = e.message;
      }
    }, 250);
  };
  const open = (kind, item) => {
    const themeSelect = kind === "template" ? field({ name: "theme_id", label: "Theme", type: "select", value: item.theme_id || "", options: [{ value: "", label: "Project default" }, ...themes.map((t) => ({ value: t.id, label: t.display_name }))] }) : null;
    const f = form({
      fields: [themeSelect, field({ name: "tsx_source", label: `${kind === "template" ? "Template" : "Theme"} source (TSX)`, type: "textarea", value: item.tsx_source, rows: 16 })],
      submit: "Save",
      action: async (v) => {
        if (kind === "template") await call(`/internal/email-templates/${item.id}`, { method: "PATCH", body: { tsx_source: v.tsx_source, theme_id: v.theme_id || null } });
        else await call(`/internal/email-themes/${item.id}`, { method: "PATCH", body: { tsx_source: v.tsx_source } });
        toast("Saved");
      },
    });
    const update = () => {
      const v = values(f);
      renderPreview(kind === "template" ? { template_tsx_source: v.tsx_source, theme_id: v.theme_id || undefined } : { theme_tsx_source: v.tsx_source, template_id: tpls[0]?.id });
    };
    f.addEventListener("input", update);
    editor.replaceChildren(h("h2", item.display_name), h("div.split", h("div", f, err), frame));
    update();
  };
  const picker = (kind, items) =>
    h("ul.row", { style: "list-style:none;padding:0" }, items.map((it) => h("li", h("button.secondary", { type: "button", onclick: () => open(kind, it) }, it.display_name))));
  main.replaceChildren(section("Templates", picker("template", tpls)), section("Themes", picker("theme", themes)), editor);
  if (tpls[0]) open("template", tpls[0]);
}

async function outbox({ main, call }) {
  const statuses = ["", "IN_PROGRESS", "OK", "ERROR"];
  const list = h("div", { id: "outbox-list" });
  const filter = field({ name: "simple_status", label: "Status", type: "select", options: statuses.map((s) => ({ value: s, label: s || "All" })) });
  const load = async () => {
    const s = filter.querySelector("select").value;
    const r = await call("/emails/outbox", { query: { simple_status: s || undefined, limit: 100 } });
    list.replaceChildren(
      table(
        [
          { label: "To", render: (e) => (e.to.emails ? e.to.emails.join(", ") : `user ${e.to.user_id}`) },
          { label: "Subject", render: (e) => e.subject || "—" },
          { label: "Status", render: (e) => h("span.badge", e.status) },
          { label: "Attempts", render: (e) => e.attempt_count, optional: true },
          { label: "Created", render: (e) => when(e.created_at_millis), optional: true },
          { label: "Error", render: (e) => e.server_error || e.render_error || e.skipped_reason || "", optional: true },
        ],
        r.items,
        { empty: "No e-mails." },
      ),
    );
  };
  filter.querySelector("select").addEventListener("change", load);
  main.replaceChildren(section("Outbox", h("div", { style: "max-width:16rem" }, filter), list));
  await load();
}

async function mailbox({ main, call, base, sub }) {
  if (sub) {
    const m = await call(`/internal/dev-mailbox/${sub}`);
    const links = [...new DOMParser().parseFromString(m.html || "", "text/html").querySelectorAll("a[href]")].map((a) => a.href).filter((u) => /^https?:/.test(u));
    main.replaceChildren(
      h("p", h("a", { href: `${base}/emails/mailbox` }, "← All messages")),
      section(
        m.subject,
        h("p.muted", `From ${m.from} to ${m.to} · ${when(m.created_at_millis)}`),
        links.length ? h("div", { id: "mail-links" }, h("h3", "Links in this message"), h("ul", links.map((u) => h("li", h("a", { href: u, target: "_blank", rel: "noopener" }, u))))) : null,
        m.html ? preview(m.html, `E-mail: ${m.subject}`) : h("pre", m.text),
      ),
    );
    return;
  }
  const r = await call("/internal/dev-mailbox");
  main.replaceChildren(
    section(
      "Development mailbox",
      h("p.muted", "E-mails of projects on the shared e-mail settings, kept here instead of being delivered (no SMTP server configured)."),
      h("div", { id: "mailbox-list" }, table(
        [
          { label: "Subject", render: (m) => h("a", { href: `${base}/emails/mailbox/${m.id}` }, m.subject) },
          { label: "To", render: (m) => m.to },
          { label: "Received", render: (m) => when(m.created_at_millis), optional: true },
        ],
        r.items,
        { empty: "The mailbox is empty." },
      )),
    ),
  );
}
