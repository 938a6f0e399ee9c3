//! Sign-up rules (spec 10 §11): the project's CEL conditions that allow, reject, restrict or log a
//! new account before it is written. Conditions are evaluated with the `cel` crate after upstream's
//! preprocessing: `<variable>.<contains|startsWith|endsWith|matches>("<literal>")` on the top-level
//! string variables is replaced by its precomputed result, and every other use of those four
//! methods fails to evaluate (as it does upstream). A condition that fails to evaluate, or is not
//! a boolean, counts as "no match".

use std::collections::HashMap;

use cel::{Context, ExecutionError, FunctionContext, Program, Value};

use crate::error::{ApiResult, KnownError};
use crate::projects::config::SignUpRule;
use crate::projects::ProjectConfig;

/// What the rules see about a sign-up (spec 10 §11.4).
#[derive(Debug, Clone)]
pub struct SignUpContext {
    /// Normalized, `""` when there is none.
    pub email: String,
    pub country_code: String,
    /// `password`, `otp`, `oauth` or `passkey`.
    pub auth_method: String,
    /// The provider's config id for OAuth, else `""`.
    pub oauth_provider: String,
    pub risk_bot: i64,
    pub risk_free_trial_abuse: i64,
    /// `ok`, `invalid` or `error` (bot challenges are disabled in stackd: always `ok` for real sign-ups).
    pub turnstile_result: String,
}

impl SignUpContext {
    pub fn new(email: Option<&str>, auth_method: &str, oauth_provider: Option<&str>) -> SignUpContext {
        SignUpContext {
            email: email.unwrap_or_default().to_lowercase(),
            country_code: String::new(),
            auth_method: auth_method.into(),
            oauth_provider: oauth_provider.unwrap_or_default().into(),
            risk_bot: 0,
            risk_free_trial_abuse: 0,
            turnstile_result: "ok".into(),
        }
    }

    pub fn email_domain(&self) -> &str {
        self.email.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    Matched,
    NotMatched,
    Disabled,
    MissingCondition,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::NotMatched => "not_matched",
            Status::Disabled => "disabled",
            Status::MissingCondition => "missing_condition",
            Status::Error => "error",
        }
    }
}

/// One rule's evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub rule_id: String,
    pub rule: SignUpRule,
    pub status: Status,
    pub error: Option<String>,
}

/// The rules' verdict.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub evaluations: Vec<Evaluation>,
    /// `allow`, `reject`, `default-allow` or `default-reject`.
    pub decision: &'static str,
    pub decision_rule_id: Option<String>,
    /// The first matching `restrict` rule.
    pub restricted_because_of: Option<(String, Option<String>)>,
}

impl Outcome {
    pub fn should_allow(&self) -> bool {
        matches!(self.decision, "allow" | "default-allow")
    }
}

/// Rules in evaluation order: priority descending, then id ascending case-insensitively (on a
/// tie, the lower-case variant first).
pub fn ordered(config: &ProjectConfig) -> Vec<(&String, &SignUpRule)> {
    let mut rules: Vec<_> = config.sign_up_rules.iter().collect();
    rules.sort_by(|(a_id, a), (b_id, b)| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| a_id.to_lowercase().cmp(&b_id.to_lowercase()))
            .then_with(|| b_id.cmp(a_id))
    });
    rules
}

/// Evaluates every rule in order until an `allow` or `reject` rule matches.
pub fn evaluate(config: &ProjectConfig, ctx: &SignUpContext) -> Outcome {
    let mut evaluations = Vec::new();
    let mut restricted_because_of = None;
    for (id, rule) in ordered(config) {
        let (status, error) = match rule.condition.as_deref().map(str::trim) {
            _ if !rule.enabled => (Status::Disabled, None),
            None | Some("") => (Status::MissingCondition, None),
            Some(condition) => match evaluate_condition(condition, ctx) {
                Ok(true) => (Status::Matched, None),
                Ok(false) => (Status::NotMatched, None),
                Err(e) => (Status::Error, Some(e)),
            },
        };
        evaluations.push(Evaluation { rule_id: id.clone(), rule: rule.clone(), status, error });
        if status != Status::Matched {
            continue;
        }
        match rule.action.as_str() {
            "restrict" if restricted_because_of.is_none() => {
                restricted_because_of = Some((id.clone(), rule.display_name.clone()));
            }
            "allow" | "reject" => {
                let decision = if rule.action == "allow" { "allow" } else { "reject" };
                return Outcome { evaluations, decision, decision_rule_id: Some(id.clone()), restricted_because_of };
            }
            _ => {}
        }
    }
    let decision = if config.sign_up_rules_default_action == "reject" { "default-reject" } else { "default-allow" };
    Outcome { evaluations, decision, decision_rule_id: None, restricted_because_of }
}

/// What a real sign-up gets from the rules: `SIGN_UP_REJECTED`, or the admin-restriction details
/// to store when a `restrict` rule matched.
pub fn enforce(config: &ProjectConfig, ctx: &SignUpContext) -> ApiResult<Option<String>> {
    if config.sign_up_rules.is_empty() && config.sign_up_rules_default_action != "reject" {
        return Ok(None);
    }
    let outcome = evaluate(config, ctx);
    for e in outcome.evaluations.iter().filter(|e| e.status == Status::Matched) {
        tracing::info!(rule_id = %e.rule_id, action = %e.rule.action, auth_method = %ctx.auth_method, "sign-up rule matched");
    }
    if !outcome.should_allow() {
        return Err(KnownError::new(
            "SIGN_UP_REJECTED",
            403,
            "Your sign up was rejected by an administrator's sign-up rule.",
        )
        .with_details(serde_json::json!({ "message": "Your sign up was rejected by an administrator's sign-up rule." }))
        .into());
    }
    Ok(outcome.restricted_because_of.map(|(id, name)| match name.filter(|n| !n.is_empty()) {
        Some(name) => format!("Restricted by sign-up rule: {id} ({name})"),
        None => format!("Restricted by sign-up rule: {id}"),
    }))
}

/// Marks a new user as restricted by a rule (spec 10 §11.3); `restriction` comes from [`enforce`].
pub fn restrict(changes: &mut crate::users::changes::UserChanges, restriction: Option<String>) {
    if let Some(details) = restriction {
        changes.restricted_by_admin = Some(true);
        changes.restricted_by_admin_private_details = Some(Some(details));
    }
}

/// Deepest nesting of parentheses, lists and maps a condition may use.
const MAX_NESTING: usize = 32;

fn unsupported(ftx: &FunctionContext) -> Result<Value, ExecutionError> {
    Err(ftx.error(
        "only supported on email, emailDomain, countryCode, authMethod and oauthProvider with a double-quoted literal",
    ))
}

/// Evaluates one condition.
pub fn evaluate_condition(condition: &str, ctx: &SignUpContext) -> Result<bool, String> {
    let strings = [
        ("email", ctx.email.as_str()),
        ("emailDomain", ctx.email_domain()),
        ("countryCode", ctx.country_code.as_str()),
        ("authMethod", ctx.auth_method.as_str()),
        ("oauthProvider", ctx.oauth_provider.as_str()),
    ];
    // The parser recurses per nesting level; keep it far from the thread's stack limit.
    let mut depth = 0usize;
    for c in condition.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(format!("the condition nests deeper than {MAX_NESTING} levels"));
        }
    }
    let source = preprocess(condition, &strings)?;
    // The parser has `panic!`s on inputs it does not expect; a condition must never take a
    // request down with it.
    let program = std::panic::catch_unwind(|| Program::compile(&source))
        .map_err(|_| "the condition could not be parsed".to_string())?
        .map_err(|e| format!("the condition could not be parsed: {e}"))?;
    let mut context = Context::default();
    for method in ["contains", "startsWith", "endsWith", "matches"] {
        context.add_function(method, unsupported);
    }
    for (name, value) in strings {
        context.add_variable_from_value(name, value.to_string());
    }
    let scores =
        HashMap::from([("bot".to_string(), ctx.risk_bot), ("free_trial_abuse".to_string(), ctx.risk_free_trial_abuse)]);
    context.add_variable("riskScores", scores).map_err(|e| e.to_string())?;
    let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(&context)))
        .map_err(|_| "the condition could not be evaluated".to_string())?
        .map_err(|e| e.to_string())?;
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(format!("the condition evaluates to {other:?}, not a boolean")),
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replaces `<string variable>.<method>("<literal>")` by `true` / `false` (spec 10 §11.4),
/// leaving string literals and everything else untouched.
pub fn preprocess(source: &str, strings: &[(&str, &str)]) -> Result<String, String> {
    let chars: Vec<char> = source.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if c == '"' || c == '\'' {
            let start = i;
            i += 1;
            while i < n && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(n);
            out.extend(&chars[start..i]);
            continue;
        }
        let starts_word = i == 0 || !(is_ident_char(chars[i - 1]) || chars[i - 1] == '.');
        if is_ident_start(c) && starts_word {
            let start = i;
            while i < n && is_ident_char(chars[i]) {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            if let Some((_, value)) = strings.iter().find(|(name, _)| *name == ident) {
                if let Some((result, end)) = method_call(&chars, i, value)? {
                    out.push_str(if result { "true" } else { "false" });
                    i = end;
                    continue;
                }
            }
            out.push_str(&ident);
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// At `i` (just after a variable): `.method("literal")`? Its result and where it ends.
fn method_call(chars: &[char], i: usize, value: &str) -> Result<Option<(bool, usize)>, String> {
    let rest: String = chars[i..].iter().take(13).collect();
    let Some(method) =
        ["contains", "startsWith", "endsWith", "matches"].into_iter().find(|m| rest.starts_with(&format!(".{m}(\"")))
    else {
        return Ok(None);
    };
    let mut j = i + method.len() + 3;
    let mut literal = String::new();
    loop {
        match chars.get(j) {
            None => return Ok(None),
            Some('\\') if matches!(chars.get(j + 1), Some('\\') | Some('"')) => {
                literal.push(chars[j + 1]);
                j += 2;
            }
            Some('"') => break,
            Some(c) => {
                literal.push(*c);
                j += 1;
            }
        }
    }
    if chars.get(j + 1) != Some(&')') {
        return Ok(None);
    }
    let result = match method {
        "contains" => value.contains(&literal),
        "startsWith" => value.starts_with(&literal),
        "endsWith" => value.ends_with(&literal),
        _ => regex::RegexBuilder::new(&literal)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid regular expression {literal:?}: {e}"))?
            .is_match(value),
    };
    Ok(Some((result, j + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(email: &str) -> SignUpContext {
        SignUpContext::new(Some(email), "password", None)
    }

    #[test]
    fn dashboard_shaped_conditions_evaluate() {
        let c = ctx("Mallory@Evil.example");
        let yes = [
            r#"emailDomain == "evil.example""#,
            r#"email.endsWith("@evil.example")"#,
            r#"emailDomain in ["evil.example", "bad.example"]"#,
            r#"!(emailDomain in ["good.example"])"#,
            r#"email.contains("mallory") && authMethod == "password""#,
            r#"email.matches("^mal+ory@")"#,
            r#"(riskScores.bot >= 0 || countryCode == "US") && oauthProvider == """#,
            r#"email.contains("say \"hi\"") || true"#,
        ];
        for cond in yes {
            assert_eq!(evaluate_condition(cond, &c), Ok(true), "{cond}");
        }
        let no = [r#"emailDomain != "evil.example""#, r#"riskScores.bot > 50"#, r#"email.startsWith("bob")"#];
        for cond in no {
            assert_eq!(evaluate_condition(cond, &c), Ok(false), "{cond}");
        }
        for bad in
            [r#"email.matches("(")"#, "email +", "1 + 1", r#"emailDomain.size() > 1 && email.contains(emailDomain)"#]
        {
            assert!(evaluate_condition(bad, &c).is_err(), "{bad}");
        }
    }

    #[test]
    fn literals_are_not_rewritten() {
        let out = preprocess(r#"x == "email.contains(\"a\")""#, &[("email", "a")]).unwrap();
        assert_eq!(out, r#"x == "email.contains(\"a\")""#);
        assert_eq!(
            preprocess(r#"user.email.contains("a")"#, &[("email", "a")]).unwrap(),
            r#"user.email.contains("a")"#
        );
    }
}
