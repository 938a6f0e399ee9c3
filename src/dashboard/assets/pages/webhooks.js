// Webhooks through the project's Svix-compatible API (the token from /webhooks/svix-token, as
// upstream's dashboard hands it to Svix's portal): endpoints, their signing secrets (reveal,
// rotate), deliveries with every attempt, resend, and a test event.
import * as api from "../api.js";
import { h, field, form, table, section, action, confirmDialog, toast } from "../ui.js";

const ATTEMPT = { 0: "delivered", 1: "pending", 2: "failed", 3: "sending" };

export async function render(ctx) {
  const svix = await api.svix(ctx.project);
  return ctx.id ? endpoint(ctx, svix) : list(ctx, svix);
}

async function list({ main, base, navigate }, svix) {
  const eps = await svix("/endpoint");
  main.replaceChildren(
    h("h1", "Webhooks"),
    section(
      "Endpoints",
      table(
        [
          { label: "URL", render: (e) => h("a", { href: `${base}/webhooks/${e.id}` }, e.url) },
          { label: "Description", render: (e) => e.description || "—", optional: true },
          { label: "State", render: (e) => (e.disabled ? "disabled" : "enabled") },
        ],
        eps.data,
        { onOpen: (e) => navigate(`${base}/webhooks/${e.id}`), empty: "No endpoints yet." },
      ),
    ),
    section(
      "New endpoint",
      form({
        fields: [field({ name: "url", label: "URL", type: "url", required: true, placeholder: "https://api.example.com/stack-webhooks" }), field({ name: "description", label: "Description" })],
        submit: "Add endpoint",
        action: async (v) => {
          const e = await svix("/endpoint", { method: "POST", body: { url: v.url, description: v.description || "" } });
          toast("Endpoint added");
          navigate(`${base}/webhooks/${e.id}`);
        },
      }),
    ),
  );
}

async function endpoint({ main, base, navigate, call, id }, svix) {
  const [e, attempts] = await Promise.all([svix(`/endpoint/${id}`), svix(`/attempt/endpoint/${id}`, {})]);
  const reload = () => navigate(`${base}/webhooks/${id}`);
  const secretBox = h("code", { id: "endpoint-secret" }, "••••••••••••");
  main.replaceChildren(
    h("p", h("a", { href: `${base}/webhooks` }, "← All endpoints")),
    h("div.row", h("h1", { style: "flex:1;overflow-wrap:anywhere" }, e.url), action("Delete endpoint", async () => {
      if (!(await confirmDialog("Delete this endpoint? Its pending deliveries are dropped."))) return;
      await svix(`/endpoint/${id}`, { method: "DELETE" });
      navigate(`${base}/webhooks`);
    }, "danger")),
    section(
      "Signing secret",
      h("p", secretBox),
      h(
        "div.row",
        action("Reveal", async () => { secretBox.textContent = (await svix(`/endpoint/${id}/secret`)).key; }, "secondary"),
        action("Rotate", async () => {
          if (!(await confirmDialog("Rotate the secret? The old one keeps working for 24 hours.", "Rotate"))) return;
          await svix(`/endpoint/${id}/secret/rotate`, { method: "POST", body: {} });
          secretBox.textContent = (await svix(`/endpoint/${id}/secret`)).key;
          toast("Secret rotated");
        }, "secondary"),
      ),
    ),
    section(
      "Deliveries",
      h(
        "div.row",
        action("Send test event", async () => {
          const r = await call("/internal/send-test-webhook", { method: "POST", body: { endpoint_id: id } });
          toast(r.success ? "Test event delivered" : `Test event failed: ${r.error_message}`, !r.success);
          reload();
        }),
        action("Refresh", async () => reload(), "secondary"),
      ),
      h("div", { id: "webhook-attempts" }, table(
        [
          { label: "Message", render: (a) => h("code", a.msgId) },
          { label: "Result", render: (a) => h(`span.badge.${a.status === 0 ? "ok" : "bad"}`, `${ATTEMPT[a.status] ?? a.status} · HTTP ${a.responseStatusCode}`) },
          { label: "When", render: (a) => new Date(a.timestamp).toLocaleString(), optional: true },
          { label: "Trigger", render: (a) => (a.triggerType === 1 ? "resend" : "scheduled"), optional: true },
          { label: "", render: (a) => action("Resend", async () => { await svix(`/msg/${a.msgId}/endpoint/${id}/resend`, { method: "POST", body: {} }); toast("Resent"); reload(); }, "secondary") },
        ],
        attempts.data,
        { empty: "No deliveries yet." },
      )),
    ),
  );
}
