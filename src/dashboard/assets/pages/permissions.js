// Team and project permission definitions, drawn as the containment tree they form (a permission
// holds those it contains, and a user granted it holds them all); create, edit, delete.
import { h, field, form, section, action, confirmDialog, toast } from "../ui.js";

const KINDS = [
  ["project", "Project permissions", "/project-permission-definitions"],
  ["team", "Team permissions", "/team-permission-definitions"],
];

/** Nested lists from the definitions: roots are those no other definition contains. */
function tree(defs) {
  const byId = new Map(defs.map((d) => [d.id, d]));
  const contained = new Set(defs.flatMap((d) => d.contained_permission_ids));
  const node = (id, path) => {
    const d = byId.get(id);
    const kids = d && !path.has(id) ? d.contained_permission_ids : [];
    const next = new Set(path).add(id);
    return h("li", h("code", id), d?.description ? h("span.muted", ` — ${d.description}`) : null, kids.length ? h("ul", kids.map((k) => node(k, next))) : null);
  };
  const roots = defs.filter((d) => !contained.has(d.id));
  return h("div.tree", h("ul", (roots.length ? roots : defs).map((d) => node(d.id, new Set()))));
}

function containsField(defs, selected = [], self) {
  const options = defs.filter((d) => d.id !== self);
  return h(
    "fieldset",
    h("legend", "Contains"),
    options.length ? options.map((d) => field({ name: `contains:${d.id}`, label: d.id, type: "checkbox", value: selected.includes(d.id) })) : h("p.muted", "No other permissions yet."),
  );
}

const containedFrom = (v) => Object.entries(v).filter(([k, on]) => k.startsWith("contains:") && on).map(([k]) => k.slice(9));

export async function render({ main, call, navigate, base }) {
  const lists = await Promise.all(KINDS.map(([, , path]) => call(path)));
  const reload = () => navigate(`${base}/permissions`);
  main.replaceChildren(
    h("h1", "Permissions"),
    ...KINDS.map(([kind, title, path], i) => {
      const defs = lists[i].items;
      const editable = defs.filter((d) => !d.id.startsWith("$"));
      return section(
        title,
        h("div", { id: `${kind}-permission-tree` }, defs.length ? tree(defs) : h("p.muted", "None defined.")),
        h("h3", "New"),
        form({
          fields: [field({ name: "id", label: "Id", required: true, hint: "Letters, digits, _ : and -" }), field({ name: "description", label: "Description" }), containsField(defs)],
          submit: `Create ${kind} permission`,
          fieldFor: { PERMISSION_ID_ALREADY_EXISTS: "id", CONTAINED_PERMISSION_NOT_FOUND: "id" },
          action: async (v) => {
            await call(path, { method: "POST", body: { id: v.id, description: v.description || undefined, contained_permission_ids: containedFrom(v) } });
            toast("Permission created");
            reload();
          },
        }),
        editable.length ? h("h3", "Edit") : null,
        editable.map((d) =>
          h(
            "details",
            h("summary", h("code", d.id)),
            form({
              fields: [field({ name: "description", label: "Description", value: d.description }), containsField(defs, d.contained_permission_ids, d.id)],
              submit: "Save",
              action: async (v) => {
                await call(`${path}/${encodeURIComponent(d.id)}`, { method: "PATCH", body: { description: v.description, contained_permission_ids: containedFrom(v) } });
                toast("Saved");
                reload();
              },
              extra: action("Delete", async () => {
                if (!(await confirmDialog(`Delete ${d.id}? Everyone holding it loses it.`))) return;
                await call(`${path}/${encodeURIComponent(d.id)}`, { method: "DELETE" });
                reload();
              }, "danger"),
            }),
          ),
        ),
      );
    }),
  );
}
