// Sign-in and sign-up as a user of the `internal` project: password, or an OAuth provider the
// project has enabled (in --dev, the development provider).
import * as api from "../api.js";
import { startOAuth } from "../app.js";
import { h, field, form } from "../ui.js";

const LABELS = { github: "GitHub", google: "Google", microsoft: "Microsoft", spotify: "Spotify", gitlab: "GitLab", discord: "Discord", facebook: "Facebook", apple: "Apple", bitbucket: "Bitbucket", linkedin: "LinkedIn", x: "X", twitch: "Twitch" };

export async function render({ main, navigate }) {
  let mode = "signin";
  const emailFor = { USER_EMAIL_ALREADY_EXISTS: "email", EMAIL_PASSWORD_MISMATCH: "password", PASSWORD_TOO_SHORT: "password", PASSWORD_TOO_LONG: "password", PASSWORD_REQUIREMENTS_NOT_MET: "password" };
  const project = await api.anonymousClient("internal", "/projects/current").catch(() => null);
  const providers = project?.config?.enabled_oauth_providers?.map((p) => p.id) || [];
  const draw = () => {
    const f = form({
      fields: [
        field({ name: "email", label: "E-mail", type: "email", autocomplete: "email", required: true }),
        field({ name: "password", label: "Password", type: "password", autocomplete: mode === "signin" ? "current-password" : "new-password", required: true }),
      ],
      submit: mode === "signin" ? "Sign in" : "Create account",
      fieldFor: emailFor,
      action: async (v) => {
        if (mode === "signin") await api.signIn(v.email, v.password);
        else await api.signUp(v.email, v.password);
        navigate("#/projects");
      },
    });
    main.replaceChildren(
      h("h1", mode === "signin" ? "Sign in to stackd" : "Create a dashboard account"),
      project ? null : h("p.form-error", { role: "alert" }, "This server has no `internal` project, whose users sign in here. Development mode (--dev) creates it with public development keys; this version has no other way to create it."),
      f,
      providers.length
        ? h("div", h("h2", "Or continue with"), h("div.row", providers.map((p) => h("button.secondary", { type: "button", onclick: () => startOAuth("internal", p, "#/projects") }, LABELS[p] || p))))
        : null,
      h(
        "p",
        mode === "signin" ? "No account yet? " : "Have an account? ",
        h("button.secondary", { type: "button", id: "switch-mode", onclick: () => { mode = mode === "signin" ? "signup" : "signin"; draw(); } }, mode === "signin" ? "Create one" : "Sign in"),
      ),
    );
    f.querySelector("input").focus();
  };
  draw();
}
