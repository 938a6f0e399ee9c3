// Sign-up rules: the rules as JSON (`auth.signUpRules` of the config API) beside a tester that
// evaluates them for a made-up sign-up (POST /internal/sign-up-rules-test) — the saved rules.
import { h, field, form, section, table, parseJson, toast } from "../ui.js";

const EXAMPLE = {
  block_example_org: { enabled: true, displayName: "Block example.org", priority: 1, condition: 'emailDomain == "example.org"', action: { type: "reject", message: "Sign-ups from example.org are closed." } },
};

export async function render({ main, call, navigate, base }) {
  const config = JSON.parse((await call("/internal/config")).config_string);
  const rules = config.auth?.signUpRules || {};
  const defaultAction = config.auth?.signUpRulesDefaultAction || "allow";
  const result = h("div", { id: "rules-test-result", "aria-live": "polite" });

  const editor = form({
    fields: [
      field({ name: "rules", label: "Rules (id → rule; conditions in CEL over email, emailDomain, countryCode, authMethod, oauthProvider, riskScores)", type: "textarea", rows: 14, value: JSON.stringify(Object.keys(rules).length ? rules : EXAMPLE, null, 2) }),
      field({ name: "default_action", label: "When no rule matches", type: "select", value: defaultAction, options: ["allow", "reject"] }),
    ],
    submit: "Save rules",
    fieldFor: (e) => (/signUpRules|rules/.test(e.message || "") ? "rules" : null),
    action: async (v) => {
      const parsed = parseJson(v.rules, "rules");
      const patch = { "auth.signUpRules": parsed, "auth.signUpRulesDefaultAction": v.default_action };
      await call("/internal/config/override/environment", { method: "PATCH", body: { config_override_string: JSON.stringify(patch) } });
      toast("Rules saved");
      navigate(`${base}/rules`);
    },
  });

  const tester = form({
    fields: [
      field({ name: "email", label: "E-mail", type: "email", value: "someone@example.org" }),
      field({ name: "auth_method", label: "Sign-in method", type: "select", options: ["password", "otp", "oauth", "passkey"] }),
      field({ name: "oauth_provider", label: "OAuth provider (for oauth)" }),
      field({ name: "country_code", label: "Country code", placeholder: "e.g. DE" }),
    ],
    submit: "Test",
    action: async (v) => {
      const r = await call("/internal/sign-up-rules-test", {
        method: "POST",
        body: { email: v.email || null, auth_method: v.auth_method, oauth_provider: v.oauth_provider || null, country_code: v.country_code || null },
      });
      result.replaceChildren(
        h("p", h("strong", "Decision: "), h(`span.badge.${r.outcome.should_allow ? "ok" : "bad"}`, r.outcome.decision), r.outcome.decision_rule_id ? ` (rule ${r.outcome.decision_rule_id})` : ""),
        table(
          [
            { label: "Rule", render: (e) => e.display_name || e.rule_id },
            { label: "Result", render: (e) => e.status },
            { label: "Action", render: (e) => e.action?.type || "—" },
            { label: "Error", render: (e) => e.error || "", optional: true },
          ],
          r.evaluations,
          { empty: "No rules." },
        ),
      );
    },
  });

  main.replaceChildren(h("h1", "Sign-up rules"), h("div.split", section("Rules", editor), section("Tester (uses the saved rules)", tester, result)));
}
