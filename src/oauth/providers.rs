//! The twelve provider types (spec 10 §10.1): where each one's endpoints are, which scopes it
//! asks for, and how its user info becomes [`ProviderUser`]. Types that speak OpenID Connect are
//! reached through their issuer's discovery document; the rest have fixed endpoints and their own
//! user-info shapes. Any type can be pointed at another OpenID Connect issuer (`--oauth-issuer`,
//! the development provider).

use serde_json::Value;

/// How a provider's endpoints are found.
#[derive(Debug, Clone, Copy)]
pub enum Endpoints {
    /// OpenID Connect discovery at `<issuer>/.well-known/openid-configuration`.
    Discovery { issuer: &'static str },
    /// Fixed endpoints (providers without discovery).
    Fixed { authorize: &'static str, token: &'static str, userinfo: &'static str },
}

/// One provider type's built-in description.
#[derive(Debug, Clone, Copy)]
pub struct ProviderType {
    pub name: &'static str,
    pub endpoints: Endpoints,
    /// Scopes always requested (space-separated).
    pub base_scope: &'static str,
    /// PKCE (S256) towards the provider; LinkedIn refuses it.
    pub pkce: bool,
    /// Whether an e-mail the provider reports counts as verified when it says nothing, and whether
    /// its own verification flag is believed at all.
    pub email_verified: EmailTrust,
    /// Apple answers the callback with a form POST.
    pub form_post: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EmailTrust {
    /// Use the provider's `email_verified` (or equivalent) flag.
    ProviderFlag,
    /// Never verified (facebook, microsoft, spotify, x).
    Never,
    /// Always verified (twitch, the development provider).
    Always,
}

const fn fixed(authorize: &'static str, token: &'static str, userinfo: &'static str) -> Endpoints {
    Endpoints::Fixed { authorize, token, userinfo }
}

pub const PROVIDER_TYPES: &[ProviderType] = &[
    ProviderType {
        name: "google",
        endpoints: Endpoints::Discovery { issuer: "https://accounts.google.com" },
        base_scope:
            "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
        pkce: true,
        email_verified: EmailTrust::ProviderFlag,
        form_post: false,
    },
    ProviderType {
        name: "github",
        endpoints: fixed(
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/user",
        ),
        base_scope: "user:email",
        pkce: true,
        email_verified: EmailTrust::ProviderFlag,
        form_post: false,
    },
    ProviderType {
        name: "microsoft",
        // `{tenant}` is replaced by the provider's `microsoftTenantId` (default `consumers`).
        endpoints: Endpoints::Discovery { issuer: "https://login.microsoftonline.com/{tenant}/v2.0" },
        base_scope: "User.Read openid email profile",
        pkce: true,
        email_verified: EmailTrust::Never,
        form_post: false,
    },
    ProviderType {
        name: "spotify",
        endpoints: fixed(
            "https://accounts.spotify.com/authorize",
            "https://accounts.spotify.com/api/token",
            "https://api.spotify.com/v1/me",
        ),
        base_scope: "user-read-email user-read-private",
        pkce: true,
        email_verified: EmailTrust::Never,
        form_post: false,
    },
    ProviderType {
        name: "facebook",
        endpoints: fixed(
            "https://www.facebook.com/v19.0/dialog/oauth",
            "https://graph.facebook.com/v19.0/oauth/access_token",
            "https://graph.facebook.com/v19.0/me?fields=id,name,email,picture",
        ),
        base_scope: "openid public_profile email",
        pkce: true,
        email_verified: EmailTrust::Never,
        form_post: false,
    },
    ProviderType {
        name: "discord",
        endpoints: fixed(
            "https://discord.com/oauth2/authorize",
            "https://discord.com/api/oauth2/token",
            "https://discord.com/api/users/@me",
        ),
        base_scope: "identify email",
        pkce: true,
        email_verified: EmailTrust::ProviderFlag,
        form_post: false,
    },
    ProviderType {
        name: "gitlab",
        endpoints: fixed(
            "https://gitlab.com/oauth/authorize",
            "https://gitlab.com/oauth/token",
            "https://gitlab.com/api/v4/user",
        ),
        base_scope: "read_user",
        pkce: true,
        email_verified: EmailTrust::ProviderFlag,
        form_post: false,
    },
    ProviderType {
        name: "bitbucket",
        endpoints: fixed(
            "https://bitbucket.org/site/oauth2/authorize",
            "https://bitbucket.org/site/oauth2/access_token",
            "https://api.bitbucket.org/2.0/user",
        ),
        base_scope: "account email",
        pkce: true,
        email_verified: EmailTrust::ProviderFlag,
        form_post: false,
    },
    ProviderType {
        name: "linkedin",
        endpoints: Endpoints::Discovery { issuer: "https://www.linkedin.com/oauth" },
        base_scope: "openid profile email",
        pkce: false,
        email_verified: EmailTrust::ProviderFlag,
        form_post: false,
    },
    ProviderType {
        name: "apple",
        endpoints: Endpoints::Discovery { issuer: "https://appleid.apple.com" },
        base_scope: "name email",
        pkce: true,
        email_verified: EmailTrust::ProviderFlag,
        form_post: true,
    },
    ProviderType {
        name: "x",
        endpoints: fixed(
            "https://twitter.com/i/oauth2/authorize",
            "https://api.twitter.com/2/oauth2/token",
            "https://api.twitter.com/2/users/me?user.fields=profile_image_url",
        ),
        base_scope: "users.read offline.access tweet.read",
        pkce: true,
        email_verified: EmailTrust::Never,
        form_post: false,
    },
    ProviderType {
        name: "twitch",
        endpoints: fixed(
            "https://id.twitch.tv/oauth2/authorize",
            "https://id.twitch.tv/oauth2/token",
            "https://api.twitch.tv/helix/users",
        ),
        base_scope: "user:read:email",
        pkce: true,
        email_verified: EmailTrust::Always,
        form_post: false,
    },
];

pub fn provider_type(name: &str) -> Option<&'static ProviderType> {
    PROVIDER_TYPES.iter().find(|p| p.name == name)
}

/// The provider's user, normalized (spec 10 §10.1).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderUser {
    pub account_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub profile_image_url: Option<String>,
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn flag(v: &Value, pointer: &str) -> bool {
    match v.pointer(pointer) {
        Some(Value::Bool(b)) => *b,
        // Apple sends `"true"` as a string.
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// Turns a provider's user-info document (or ID-token claims) into a [`ProviderUser`]. `openid`
/// selects the standard OpenID Connect claims, whatever the type. `None` when it names no account.
pub fn normalize(kind: &ProviderType, openid: bool, info: &Value) -> Option<ProviderUser> {
    let (account_id, display_name, email, verified, picture) = if openid {
        (
            text(info, "/sub"),
            text(info, "/name").or_else(|| text(info, "/preferred_username")),
            text(info, "/email"),
            flag(info, "/email_verified"),
            text(info, "/picture"),
        )
    } else {
        match kind.name {
            "github" => (
                text(info, "/id"),
                text(info, "/name").or_else(|| text(info, "/login")),
                text(info, "/email"),
                // The e-mail on the profile is one the user made public; GitHub only lists verified ones there.
                text(info, "/email").is_some(),
                text(info, "/avatar_url"),
            ),
            "spotify" => (
                text(info, "/id"),
                text(info, "/display_name"),
                text(info, "/email"),
                false,
                text(info, "/images/0/url"),
            ),
            "facebook" => {
                (text(info, "/id"), text(info, "/name"), text(info, "/email"), false, text(info, "/picture/data/url"))
            }
            "discord" => {
                let avatar = match (text(info, "/id"), text(info, "/avatar")) {
                    (Some(id), Some(hash)) => Some(format!("https://cdn.discordapp.com/avatars/{id}/{hash}.png")),
                    _ => None,
                };
                (
                    text(info, "/id"),
                    text(info, "/global_name").or_else(|| text(info, "/username")),
                    text(info, "/email"),
                    flag(info, "/verified"),
                    avatar,
                )
            }
            "gitlab" => (
                text(info, "/id"),
                text(info, "/name"),
                text(info, "/email"),
                text(info, "/confirmed_at").is_some(),
                text(info, "/avatar_url"),
            ),
            "bitbucket" => (
                text(info, "/uuid").or_else(|| text(info, "/account_id")),
                text(info, "/display_name"),
                text(info, "/email"),
                flag(info, "/email_verified"),
                text(info, "/links/avatar/href"),
            ),
            "x" => {
                (text(info, "/data/id"), text(info, "/data/name"), None, false, text(info, "/data/profile_image_url"))
            }
            "twitch" => (
                text(info, "/data/0/id"),
                text(info, "/data/0/display_name"),
                text(info, "/data/0/email"),
                true,
                text(info, "/data/0/profile_image_url"),
            ),
            _ => (
                text(info, "/sub").or_else(|| text(info, "/id")),
                text(info, "/name"),
                text(info, "/email"),
                flag(info, "/email_verified"),
                text(info, "/picture"),
            ),
        }
    };
    let account_id = account_id?;
    let email = email.filter(|e| crate::users::email::is_valid_email(e));
    let email_verified = email.is_some()
        && match kind.email_verified {
            EmailTrust::ProviderFlag => verified,
            EmailTrust::Never => false,
            EmailTrust::Always => true,
        };
    Some(ProviderUser { account_id, display_name, email, email_verified, profile_image_url: picture })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_info_is_normalized_per_type() {
        let github = provider_type("github").unwrap();
        let u = normalize(github, false, &json!({"id": 42, "login": "octo", "name": null, "email": "O@x.io"})).unwrap();
        assert_eq!(u.account_id, "42");
        assert_eq!(u.display_name.as_deref(), Some("octo"));
        assert!(u.email_verified);
        let twitch = provider_type("twitch").unwrap();
        let u =
            normalize(twitch, false, &json!({"data": [{"id": "7", "display_name": "T", "email": "t@x.io"}]})).unwrap();
        assert!(u.email_verified);
        let spotify = provider_type("spotify").unwrap();
        let u = normalize(spotify, true, &json!({"sub": "s", "email": "s@x.io", "email_verified": true})).unwrap();
        assert!(!u.email_verified, "spotify e-mails never count as verified");
        assert!(normalize(github, false, &json!({"login": "no id"})).is_none());
        let bad = normalize(github, false, &json!({"id": 1, "email": "not an email"})).unwrap();
        assert_eq!(bad.email, None);
    }
}
