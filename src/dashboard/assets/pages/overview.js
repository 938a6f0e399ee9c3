// The project at a glance: users, sign-ups per day (30 days), sessions, backlogs, recent sign-ups.
import { h, table, when, section } from "../ui.js";

function chart(points) {
  const max = Math.max(1, ...points.map((p) => p.activity));
  const w = 620, hgt = 160, gap = 2, bw = w / points.length - gap;
  const total = points.reduce((s, p) => s + p.activity, 0);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt + 20}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Sign-ups per day over the last 30 days: ${total} in all, at most ${max} in a day`);
  points.forEach((p, i) => {
    const bh = Math.round((p.activity / max) * hgt);
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    r.setAttribute("class", "bar");
    r.setAttribute("x", String(i * (bw + gap)));
    r.setAttribute("y", String(hgt - bh));
    r.setAttribute("width", String(bw));
    r.setAttribute("height", String(Math.max(bh, p.activity ? 1 : 0)));
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = `${p.date}: ${p.activity}`;
    r.append(t);
    svg.append(r);
  });
  const axis = document.createElementNS("http://www.w3.org/2000/svg", "line");
  for (const [k, v] of Object.entries({ x1: 0, x2: w, y1: hgt + 0.5, y2: hgt + 0.5 })) axis.setAttribute(k, String(v));
  svg.append(axis);
  for (const [i, anchor] of [[0, "start"], [points.length - 1, "end"]]) {
    const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
    label.setAttribute("x", String(anchor === "start" ? 0 : w));
    label.setAttribute("y", String(hgt + 16));
    label.setAttribute("text-anchor", anchor);
    label.setAttribute("font-size", "12");
    label.textContent = points[i].date;
    svg.append(label);
  }
  return h("div.chart", { id: "signups-chart" }, svg);
}

const card = (label, figure, id) => h("div", { id }, h("div.figure", figure.toLocaleString("en")), h("div.label", label));

export async function render({ main, call, base }) {
  const [m, recent] = await Promise.all([call("/internal/metrics"), call("/users", { query: { desc: "true", limit: 5 } })]);
  main.replaceChildren(
    h("h1", "Overview"),
    h(
      "div.cards",
      card("Users", m.total_users, "figure-users"),
      card("Active sessions", m.active_sessions, "figure-sessions"),
      card("E-mails waiting", m.email_backlog.waiting, "figure-email-backlog"),
      card("Webhook deliveries waiting", m.webhook_backlog.waiting, "figure-webhook-backlog"),
    ),
    section("Sign-ups per day, last 30 days", chart(m.daily_users)),
    section(
      "Recent sign-ups",
      table(
        [
          { label: "User", render: (u) => h("a", { href: `${base}/users/${u.id}` }, u.primary_email || u.display_name || u.id) },
          { label: "Signed up", render: (u) => when(u.signed_up_at_millis) },
        ],
        recent.items,
        { empty: "No users yet." },
      ),
    ),
  );
}
