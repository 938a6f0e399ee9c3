//! `POST /internal/sign-up-rules-test` (spec 10 §11.5): evaluates the project's sign-up rules
//! against a described sign-up, with every rule's status, without signing anybody up.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};

use crate::auth::sign_up_rules::{self, SignUpContext};
use crate::auth::AuthService;
use crate::error::{ApiResult, KnownError};
use crate::projects::access::AdminAuth;
use crate::web::Tag;

pub struct SignUpRulesApi {
    pub auth: Arc<AuthService>,
}

#[derive(Object, Clone)]
pub struct RuleRiskScores {
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub bot: i64,
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub free_trial_abuse: i64,
}

/// A sign-up to evaluate the rules against.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SignUpRulesTestBody {
    /// The e-mail address (required; `null` for none).
    pub email: MaybeUndefined<String>,
    /// `password`, `otp`, `oauth` or `passkey`.
    pub auth_method: String,
    /// The OAuth provider's config id (required; `null` for none).
    pub oauth_provider: MaybeUndefined<String>,
    /// ISO 3166-1 alpha-2 code (required; `null`: unknown).
    pub country_code: MaybeUndefined<String>,
    /// `ok`, `invalid` (default) or `error`.
    pub turnstile_result: Option<String>,
    /// Default: 0 and 0.
    pub risk_scores: Option<RuleRiskScores>,
}

#[derive(Object)]
pub struct SignUpRulesTestContext {
    pub email: Option<String>,
    pub email_domain: Option<String>,
    pub country_code: Option<String>,
    pub auth_method: String,
    pub oauth_provider: Option<String>,
    pub turnstile_result: String,
    pub risk_scores: RuleRiskScores,
}

#[derive(Object)]
pub struct RuleActionView {
    /// `allow`, `reject`, `restrict` or `log`.
    #[oai(rename = "type")]
    pub kind: String,
    pub message: Option<String>,
}

#[derive(Object)]
pub struct RuleEvaluationView {
    pub rule_id: String,
    pub display_name: String,
    pub enabled: bool,
    pub condition: String,
    /// `matched`, `not_matched`, `disabled`, `missing_condition` or `error`.
    pub status: String,
    pub action: RuleActionView,
    /// Why the condition could not be evaluated (status `error`).
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

#[derive(Object)]
pub struct RulesOutcomeView {
    pub should_allow: bool,
    /// `allow`, `reject`, `default-allow` or `default-reject`.
    pub decision: String,
    pub decision_rule_id: Option<String>,
    pub restricted_because_of_rule_id: Option<String>,
}

#[derive(Object)]
pub struct SignUpRulesTestResult {
    pub context: SignUpRulesTestContext,
    /// In evaluation order, up to the rule that decided.
    pub evaluations: Vec<RuleEvaluationView>,
    pub outcome: RulesOutcomeView,
}

fn required(v: MaybeUndefined<String>, name: &str) -> ApiResult<Option<String>> {
    match v {
        MaybeUndefined::Undefined => Err(KnownError::schema(&format!("body.{name} must be defined")).into()),
        MaybeUndefined::Null => Ok(None),
        MaybeUndefined::Value(s) => Ok(Some(s)),
    }
}

#[OpenApi(tag = "Tag::Auth")]
impl SignUpRulesApi {
    /// Evaluates the project's sign-up rules for a described sign-up (admin only): the context the
    /// conditions saw, each rule's status in order, and the decision. Signs nobody up.
    #[oai(path = "/internal/sign-up-rules-test", method = "post", operation_id = "test_sign_up_rules")]
    async fn test(&self, auth: AdminAuth, body: Json<SignUpRulesTestBody>) -> ApiResult<Json<SignUpRulesTestResult>> {
        let (auth, b) = (auth.0, body.0);
        let email = required(b.email, "email")?;
        let oauth_provider = required(b.oauth_provider, "oauth_provider")?;
        let country_code = required(b.country_code, "country_code")?.map(|c| c.to_uppercase());
        if !["password", "otp", "oauth", "passkey"].contains(&b.auth_method.as_str()) {
            return Err(KnownError::schema(
                "body.auth_method must be one of the following values: password, otp, oauth, passkey",
            )
            .into());
        }
        if country_code.as_ref().is_some_and(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic())) {
            return Err(KnownError::schema("body.country_code must be a 2-letter country code").into());
        }
        let turnstile = b.turnstile_result.unwrap_or_else(|| "invalid".into());
        if !["ok", "invalid", "error"].contains(&turnstile.as_str()) {
            return Err(KnownError::schema(
                "body.turnstile_result must be one of the following values: ok, invalid, error",
            )
            .into());
        }
        let scores = b.risk_scores.unwrap_or(RuleRiskScores { bot: 0, free_trial_abuse: 0 });
        let mut ctx = SignUpContext::new(email.as_deref(), &b.auth_method, oauth_provider.as_deref());
        ctx.country_code = country_code.clone().unwrap_or_default();
        ctx.risk_bot = scores.bot;
        ctx.risk_free_trial_abuse = scores.free_trial_abuse;
        ctx.turnstile_result = turnstile.clone();
        let outcome = sign_up_rules::evaluate(&auth.project().config, &ctx);
        let evaluations = outcome
            .evaluations
            .iter()
            .map(|e| RuleEvaluationView {
                rule_id: e.rule_id.clone(),
                display_name: e.rule.display_name.clone().unwrap_or_default(),
                enabled: e.rule.enabled,
                condition: e.rule.condition.clone().unwrap_or_default(),
                status: e.status.as_str().into(),
                action: RuleActionView { kind: e.rule.action.clone(), message: e.rule.message.clone() },
                error: e.error.clone(),
            })
            .collect();
        let has_email = !ctx.email.is_empty();
        Ok(Json(SignUpRulesTestResult {
            context: SignUpRulesTestContext {
                email: has_email.then(|| ctx.email.clone()),
                email_domain: has_email.then(|| ctx.email_domain().to_string()),
                country_code,
                auth_method: ctx.auth_method.clone(),
                oauth_provider,
                turnstile_result: turnstile,
                risk_scores: scores,
            },
            evaluations,
            outcome: RulesOutcomeView {
                should_allow: outcome.should_allow(),
                decision: outcome.decision.into(),
                decision_rule_id: outcome.decision_rule_id.clone(),
                restricted_because_of_rule_id: outcome.restricted_because_of.map(|(id, _)| id),
            },
        }))
    }
}
