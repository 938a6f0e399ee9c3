// The signed-in user's projects, and creating one (owned by a team of the user's).
import * as api from "../api.js";
import { h, field, form, table, when, section } from "../ui.js";

export async function render({ main, navigate, projects }) {
  const list = await projects(true);
  const create = form({
    fields: [field({ name: "display_name", label: "Project name", required: true }), field({ name: "description", label: "Description" })],
    submit: "Create project",
    action: async (v) => {
      const p = await api.me("/internal/projects", { method: "POST", body: { display_name: v.display_name, description: v.description || undefined } });
      await projects(true);
      navigate(`#/p/${p.id}/overview`);
    },
  });
  main.replaceChildren(
    h("h1", "Projects"),
    table(
      [
        { label: "Name", render: (p) => h("a", { href: `#/p/${p.id}/overview` }, p.display_name) },
        { label: "Id", render: (p) => h("code", p.id), optional: true },
        { label: "Created", render: (p) => when(p.created_at_millis), optional: true },
      ],
      list,
      { empty: "You have no projects yet: create the first one below." },
    ),
    section("New project", create),
  );
}
