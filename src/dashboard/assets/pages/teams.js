// Teams: list and create; a team's members (with their team profiles and permissions),
// invitations (send, revoke), and adding members.
import { h, field, form, table, when, section, action, confirmDialog, toast } from "../ui.js";

export async function render(ctx) {
  return ctx.id ? detail(ctx) : list(ctx);
}

async function list({ main, call, base, navigate }) {
  const teams = await call("/teams");
  main.replaceChildren(
    h("h1", "Teams"),
    table(
      [{ label: "Team", render: (t) => h("a", { href: `${base}/teams/${t.id}` }, t.display_name) }, { label: "Created", render: (t) => when(t.created_at_millis), optional: true }],
      teams.items,
      { onOpen: (t) => navigate(`${base}/teams/${t.id}`), empty: "No teams yet." },
    ),
    section(
      "New team",
      form({
        fields: [field({ name: "display_name", label: "Team name", required: true })],
        submit: "Create team",
        action: async (v) => {
          const t = await call("/teams", { method: "POST", body: { display_name: v.display_name } });
          toast("Team created");
          navigate(`${base}/teams/${t.id}`);
        },
      }),
    ),
  );
}

/** Where invitation links should lead: the project's first trusted domain's handler, else this origin's. */
async function invitationCallback(call) {
  const p = await call("/internal/projects/current");
  const d = p.config.domains?.[0];
  const root = d ? d.domain.replace(/\/$/, "") + (d.handler_path || "/handler") : location.origin + "/handler";
  return `${root}/team-invitation`;
}

async function detail({ main, call, base, navigate, id }) {
  const [team, profiles, invitations, perms, defs, callback] = await Promise.all([
    call(`/teams/${id}`),
    call("/team-member-profiles", { query: { team_id: id } }),
    call("/team-invitations", { query: { team_id: id } }),
    call("/team-permissions", { query: { team_id: id, recursive: "true" } }),
    call("/team-permission-definitions"),
    invitationCallback(call),
  ]);
  const reload = () => navigate(`${base}/teams/${id}`);
  const byUser = new Map();
  for (const p of perms.items) byUser.set(p.user_id, [...(byUser.get(p.user_id) || []), p.id]);

  const invite = form({
    fields: [field({ name: "email", label: "E-mail", type: "email", required: true }), field({ name: "callback_url", label: "Link target (the app's invitation page)", type: "url", value: callback })],
    submit: "Send invitation",
    action: async (v) => {
      await call("/team-invitations/send-code", { method: "POST", body: { team_id: id, email: v.email, callback_url: v.callback_url } });
      toast(`Invitation sent to ${v.email}`);
      reload();
    },
  });
  const add = form({
    className: "inline",
    fields: [field({ name: "user", label: "User (e-mail or id)", required: true })],
    submit: "Add member",
    fieldFor: { USER_NOT_FOUND: "user", TEAM_MEMBERSHIP_ALREADY_EXISTS: "user" },
    action: async (v) => {
      let userId = v.user.trim();
      if (userId.includes("@")) {
        const found = await call("/users", { query: { query: userId, limit: 5 } });
        const match = found.items.find((u) => u.primary_email === userId);
        if (!match) throw Object.assign(new Error(`No user has the e-mail ${userId}.`), { code: "USER_NOT_FOUND" });
        userId = match.id;
      }
      await call(`/team-memberships/${id}/${userId}`, { method: "POST", body: {} });
      toast("Member added");
      reload();
    },
  });
  const grant = form({
    className: "inline",
    fields: [
      field({ name: "user_id", label: "Member", type: "select", options: profiles.items.map((p) => ({ value: p.user_id, label: p.user?.primary_email || p.display_name || p.user_id })) }),
      field({ name: "permission_id", label: "Permission", type: "select", options: defs.items.map((d) => d.id) }),
    ],
    submit: "Grant",
    action: async (v) => {
      await call(`/team-permissions/${id}/${v.user_id}/${encodeURIComponent(v.permission_id)}`, { method: "POST", body: {} });
      toast("Permission granted");
      reload();
    },
  });

  main.replaceChildren(
    h("div.row", h("h1", { style: "flex:1" }, team.display_name), action("Delete team", async () => {
      if (!(await confirmDialog(`Delete the team ${team.display_name}?`))) return;
      await call(`/teams/${id}`, { method: "DELETE" });
      navigate(`${base}/teams`);
    }, "danger")),
    section(
      "Members",
      h("div", { id: "team-members" }, table(
        [
          { label: "Member", render: (p) => h("a", { href: `${base}/users/${p.user_id}` }, p.user?.primary_email || p.user_id) },
          { label: "Team profile name", render: (p) => p.display_name || "—", optional: true },
          { label: "Permissions (with contained)", render: (p) => (byUser.get(p.user_id) || []).join(", ") || "—" },
          { label: "", render: (p) => action("Remove", async () => { if (await confirmDialog("Remove this member from the team?", "Remove")) { await call(`/team-memberships/${id}/${p.user_id}`, { method: "DELETE" }); reload(); } }, "secondary") },
        ],
        profiles.items,
        { empty: "No members yet." },
      )),
      add,
      profiles.items.length && defs.items.length ? grant : null,
    ),
    section(
      "Invitations",
      table(
        [
          { label: "Recipient", render: (i) => i.recipient_email },
          { label: "Expires", render: (i) => when(i.expires_at_millis), optional: true },
          { label: "", render: (i) => action("Revoke", async () => { await call(`/team-invitations/${i.id}`, { method: "DELETE", query: { team_id: id } }); reload(); }, "secondary") },
        ],
        invitations.items,
        { empty: "No open invitations." },
      ),
      invite,
    ),
  );
}
