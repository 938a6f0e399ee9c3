//! E-mail templates and themes (spec 20 §5.3), rendered with minijinja.
//!
//! Upstream's sources are TSX run in a sandbox; stackd's are minijinja HTML (a deliberate
//! difference, see the README). A template source may define three blocks: `subject`, `body` (the
//! HTML; without it the whole source is the body) and `text` (the plain-text part; without it the
//! HTML is reduced to text). A theme wraps the body: it prints `{{ content }}` where the body goes.
//! HTML is auto-escaped; the subject and text are rendered by a second, non-escaping environment
//! from the same source. Rendering is bounded by minijinja's fuel, so a looping custom template
//! fails with `EMAIL_RENDERING_ERROR` instead of holding the worker.

use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;

use crate::error::KnownError;

/// What a template may print, besides its caller's variables (which are also top-level names).
#[derive(Serialize, Clone, Debug, Default)]
pub struct RenderContext {
    pub project_display_name: String,
    pub user_display_name: Option<String>,
    pub project_logo_url: Option<String>,
    pub project_logo_full_url: Option<String>,
    pub project_logo_dark_mode_url: Option<String>,
    pub project_logo_full_dark_mode_url: Option<String>,
    pub unsubscribe_link: Option<String>,
    /// The caller's variables (a JSON object).
    pub variables: serde_json::Map<String, serde_json::Value>,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

pub struct BuiltinTemplate {
    pub key: &'static str,
    pub id: &'static str,
    pub display_name: &'static str,
    pub source: &'static str,
}

pub struct BuiltinTheme {
    pub id: &'static str,
    pub display_name: &'static str,
    pub source: &'static str,
}

pub const EMAIL_VERIFICATION: &str = "e7d009ce-8d47-4528-b245-5bf119f2ffa3";
pub const PASSWORD_RESET: &str = "a70fb3a4-56c1-4e42-af25-49d25603abd0";
pub const MAGIC_LINK: &str = "822687fe-8d0a-4467-a0d1-416b6e639478";
pub const TEAM_INVITATION: &str = "e84de395-2076-4831-9c19-8e9a96a868e4";
pub const SIGN_IN_INVITATION: &str = "066dd73c-36da-4fd0-b6d6-ebf87683f8bc";
pub const PAYMENT_RECEIPT: &str = "70372aee-0441-4d80-974c-2e858e40123a";
pub const PAYMENT_FAILED: &str = "f64b1afe-27ec-4a28-a277-7178f3261f9a";

pub const THEME_LIGHT: &str = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac";
pub const THEME_DARK: &str = "a0172b5d-cff0-463b-83bb-85124697373a";
pub const THEME_COLORFUL: &str = "c7e2d94f-8a1b-4e6d-b3f5-9d0a2e7c1b8f";

/// The built-in templates: spec 20 §5.3's ids, subjects and variables.
pub const BUILTIN_TEMPLATES: &[BuiltinTemplate] = &[
    BuiltinTemplate {
        key: "email_verification",
        id: EMAIL_VERIFICATION,
        display_name: "Email Verification",
        source: include_str!("templates/email_verification.html"),
    },
    BuiltinTemplate {
        key: "password_reset",
        id: PASSWORD_RESET,
        display_name: "Password Reset",
        source: include_str!("templates/password_reset.html"),
    },
    BuiltinTemplate {
        key: "magic_link",
        id: MAGIC_LINK,
        display_name: "Magic Link/OTP",
        source: include_str!("templates/magic_link.html"),
    },
    BuiltinTemplate {
        key: "team_invitation",
        id: TEAM_INVITATION,
        display_name: "Team Invitation",
        source: include_str!("templates/team_invitation.html"),
    },
    BuiltinTemplate {
        key: "sign_in_invitation",
        id: SIGN_IN_INVITATION,
        display_name: "Sign In Invitation",
        source: include_str!("templates/sign_in_invitation.html"),
    },
    BuiltinTemplate {
        key: "payment_receipt",
        id: PAYMENT_RECEIPT,
        display_name: "Payment Receipt",
        source: include_str!("templates/payment_receipt.html"),
    },
    BuiltinTemplate {
        key: "payment_failed",
        id: PAYMENT_FAILED,
        display_name: "Payment Failed",
        source: include_str!("templates/payment_failed.html"),
    },
];

pub const BUILTIN_THEMES: &[BuiltinTheme] = &[
    BuiltinTheme { id: THEME_LIGHT, display_name: "Default Light", source: include_str!("templates/theme_light.html") },
    BuiltinTheme { id: THEME_DARK, display_name: "Default Dark", source: include_str!("templates/theme_dark.html") },
    BuiltinTheme {
        id: THEME_COLORFUL,
        display_name: "Default Colorful",
        source: include_str!("templates/theme_colorful.html"),
    },
];

/// What a new custom template starts from.
pub const STARTER_TEMPLATE: &str = "{% block subject %}A message from {{ projectDisplayName }}{% endblock %}\n\
{% block body %}<h1>Hello{% if userDisplayName %}, {{ userDisplayName }}{% endif %}!</h1>\n<p>Write your message here.</p>{% endblock %}\n";
/// What a new custom theme starts from.
pub const STARTER_THEME: &str = include_str!("templates/theme_light.html");

/// Built-in templates whose variables carry a one-time code or link: once such an e-mail is sent,
/// the outbox keeps only a redacted copy, so a database backup holds no usable code.
pub fn carries_secret(id: &str) -> bool {
    [EMAIL_VERIFICATION, PASSWORD_RESET, MAGIC_LINK, TEAM_INVITATION, SIGN_IN_INVITATION].contains(&id)
}

pub fn builtin_template(id: &str) -> Option<&'static BuiltinTemplate> {
    BUILTIN_TEMPLATES.iter().find(|t| t.id == id)
}

pub fn builtin_theme(id: &str) -> Option<&'static BuiltinTheme> {
    BUILTIN_THEMES.iter().find(|t| t.id == id)
}

/// Work budget of one render (minijinja instructions): generous for any real e-mail.
const FUEL: u64 = 200_000;
/// Sources larger than this are refused before parsing.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;

fn environment(escape: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    let mode = if escape { AutoEscape::Html } else { AutoEscape::None };
    env.set_auto_escape_callback(move |_| mode);
    env
}

fn rendering_error(e: impl std::fmt::Display) -> KnownError {
    let text = e.to_string();
    KnownError::new("EMAIL_RENDERING_ERROR", 400, format!("The e-mail could not be rendered: {text}"))
        .with_details(serde_json::json!({ "error": text }))
}

/// Every name a template can print: the auto variables, then the caller's (caller wins), also
/// under `variables`; `user` and `project` as upstream's props.
fn values(ctx: &RenderContext) -> Value {
    let mut vars = serde_json::Map::new();
    vars.insert("projectDisplayName".into(), ctx.project_display_name.clone().into());
    vars.insert("userDisplayName".into(), ctx.user_display_name.clone().unwrap_or_default().into());
    for (k, v) in &ctx.variables {
        vars.insert(k.clone(), v.clone());
    }
    let mut top = vars.clone();
    top.insert("variables".into(), serde_json::Value::Object(vars));
    top.insert("user".into(), serde_json::json!({ "displayName": ctx.user_display_name }));
    top.insert("project".into(), serde_json::json!({ "displayName": ctx.project_display_name }));
    top.insert(
        "projectLogos".into(),
        serde_json::json!({
            "logoUrl": ctx.project_logo_url,
            "logoFullUrl": ctx.project_logo_full_url,
            "logoDarkModeUrl": ctx.project_logo_dark_mode_url,
            "logoFullDarkModeUrl": ctx.project_logo_full_dark_mode_url,
        }),
    );
    top.insert("unsubscribeLink".into(), ctx.unsubscribe_link.clone().into());
    Value::from_serialize(serde_json::Value::Object(top))
}

/// Renders `block` of `source`, or `None` if the source has no such block.
fn render_block(env: &Environment<'_>, source: &str, block: &str, ctx: &Value) -> Result<Option<String>, KnownError> {
    let template = env.template_from_str(source).map_err(rendering_error)?;
    let mut captured = template.render_captured(ctx).map_err(rendering_error)?;
    match captured.with_state_mut(|state| state.render_block(block)) {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.kind() == minijinja::ErrorKind::UnknownBlock => Ok(None),
        Err(e) => Err(rendering_error(e)),
    }
}

/// Reduces HTML to readable text: tags dropped, links kept as `text (url)`, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut pending_href: Option<String> = None;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[start + 1..start + end];
        let name = tag.trim_start_matches('/').split([' ', '\n', '\t', '/']).next().unwrap_or("").to_ascii_lowercase();
        if tag.starts_with('/') {
            if name == "a" {
                if let Some(href) = pending_href.take() {
                    out.push_str(&format!(" ({href})"));
                }
            }
            if matches!(name.as_str(), "p" | "div" | "h1" | "h2" | "h3" | "tr" | "li" | "table") {
                out.push('\n');
            }
        } else if name == "br" {
            out.push('\n');
        } else if name == "a" {
            pending_href = tag
                .split("href=\"")
                .nth(1)
                .and_then(|h| h.split('"').next())
                .map(|h| h.replace("&#x2f;", "/").replace("&amp;", "&"));
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&");
    let lines: Vec<&str> = decoded.lines().map(str::trim).collect();
    let mut text = String::new();
    let mut blank = true;
    for line in lines {
        if line.is_empty() {
            if !blank {
                text.push('\n');
            }
            blank = true;
        } else {
            text.push_str(line);
            text.push('\n');
            blank = false;
        }
    }
    text.trim().to_string()
}

/// Renders a template source inside a theme source (`None` = no theme).
pub fn render(
    template: &str,
    theme: Option<&str>,
    ctx: &RenderContext,
    subject_override: Option<&str>,
) -> Result<Rendered, KnownError> {
    if template.len() > MAX_SOURCE_BYTES || theme.is_some_and(|t| t.len() > MAX_SOURCE_BYTES) {
        return Err(rendering_error("the source is larger than 256 KiB"));
    }
    let values = values(ctx);
    let html_env = environment(true);
    let text_env = environment(false);
    let body = match render_block(&html_env, template, "body", &values)? {
        Some(b) => b,
        None => html_env.render_str(template, &values).map_err(rendering_error)?,
    };
    let subject = match subject_override {
        Some(s) => s.to_string(),
        None => render_block(&text_env, template, "subject", &values)?
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| ctx.project_display_name.clone()),
    };
    let text = match render_block(&text_env, template, "text", &values)? {
        Some(t) => t.trim().to_string(),
        None => html_to_text(&body),
    };
    let html = match theme {
        None => body,
        Some(theme) => {
            let themed = minijinja::context! { content => Value::from_safe_string(body), ..values };
            html_env.render_str(theme, &themed).map_err(rendering_error)?
        }
    };
    Ok(Rendered { subject, html, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RenderContext {
        let mut variables = serde_json::Map::new();
        variables.insert("magicLink".into(), "https://app.example/cb?code=abc&x=<1>".into());
        variables.insert("otp".into(), "ABC123".into());
        RenderContext { project_display_name: "Acme & Co".into(), variables, ..Default::default() }
    }

    #[test]
    fn builtins_render_in_every_theme() {
        for t in BUILTIN_TEMPLATES {
            for theme in BUILTIN_THEMES {
                let r = render(t.source, Some(theme.source), &ctx(), None).unwrap();
                assert!(!r.subject.is_empty() && !r.html.is_empty() && !r.text.is_empty(), "{}", t.key);
            }
        }
    }

    #[test]
    fn magic_link_subject_escaping_and_text() {
        let r = render(builtin_template(MAGIC_LINK).unwrap().source, Some(STARTER_THEME), &ctx(), None).unwrap();
        assert_eq!(r.subject, "Sign in to Acme & Co: Your code is ABC123");
        assert!(r.html.contains("Acme &amp; Co"));
        assert!(r.html.contains("cb?code=abc&amp;x=&lt;1&gt;"));
        assert!(r.text.contains("https://app.example/cb?code=abc&x=<1>"));
        assert!(r.text.contains("ABC123"));
    }

    #[test]
    fn broken_and_endless_templates_are_rendering_errors() {
        let e = render("{% if %}", None, &ctx(), None).unwrap_err();
        assert_eq!(e.code, "EMAIL_RENDERING_ERROR");
        let e = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            None,
            &ctx(),
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, "EMAIL_RENDERING_ERROR");
    }

    #[test]
    fn html_to_text_keeps_links() {
        assert_eq!(
            html_to_text("<p>Hi &amp; bye</p><a href=\"https://x/?a=1&amp;b=2\">Go</a>"),
            "Hi & bye\nGo (https://x/?a=1&b=2)"
        );
    }
}
