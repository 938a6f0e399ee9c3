//! The OAuth client towards identity providers (the "inner" flow of spec 10 §10): discovery, the
//! authorization URL, the code exchange, user info and token refresh. Failures are classified the
//! way §10.3 step 4 needs them: a refused grant, a denial, bad client credentials, or a provider
//! that is temporarily unavailable (network errors, timeouts, 429 and 5xx).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::oauth::providers::{normalize, Endpoints, ProviderType, ProviderUser};

/// Discovery documents kept, and for how long.
const DISCOVERY_CACHE_ENTRIES: usize = 64;
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Largest provider answer read (user info, token responses, discovery).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// User-info requests are tried this many times before the provider counts as unavailable.
const USER_INFO_ATTEMPTS: u32 = 3;

/// A provider as one project uses it: endpoints and credentials resolved.
#[derive(Debug, Clone)]
pub struct ResolvedProvider {
    pub kind: &'static ProviderType,
    /// The user info (or ID token) carries standard OpenID Connect claims.
    pub openid: bool,
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: Option<String>,
    pub client_id: String,
    pub client_secret: String,
}

/// Why talking to a provider failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderFailure {
    /// `invalid_grant`: the code (or refresh token) was refused.
    InvalidGrant,
    /// The user (or the provider) denied access.
    AccessDenied,
    /// `invalid_client`: the configured credentials are wrong.
    InvalidClient,
    /// Network error, timeout, 429, 5xx, `server_error`, `temporarily_unavailable`.
    Unavailable(String),
    /// Any other protocol error.
    Other(String),
}

impl ProviderFailure {
    /// The classification of an OAuth `error` code (from a token response or a callback).
    pub fn from_error_code(code: &str, description: Option<&str>) -> ProviderFailure {
        match code {
            "invalid_grant" => ProviderFailure::InvalidGrant,
            "access_denied" | "consent_required" => ProviderFailure::AccessDenied,
            "invalid_client" | "unauthorized_client" => ProviderFailure::InvalidClient,
            "server_error" | "temporarily_unavailable" => ProviderFailure::Unavailable(code.to_string()),
            other => ProviderFailure::Other(match description {
                Some(d) => format!("{other}: {d}"),
                None => other.to_string(),
            }),
        }
    }
}

/// A token response.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Seconds from now.
    pub expires_in: Option<i64>,
    /// Space-separated, when the provider says which scopes it granted.
    pub scope: Option<String>,
    pub id_token: Option<String>,
}

#[derive(Debug, Clone)]
struct Discovery {
    authorize: String,
    token: String,
    userinfo: Option<String>,
}

pub struct ProviderClient {
    http: reqwest::Client,
    discovery: Mutex<HashMap<String, (Discovery, Instant)>>,
}

fn unavailable(e: impl std::fmt::Display) -> ProviderFailure {
    ProviderFailure::Unavailable(e.to_string())
}

impl ProviderClient {
    pub fn new(timeout: Duration) -> ProviderClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stackd/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        ProviderClient { http, discovery: Mutex::new(HashMap::new()) }
    }

    /// Reads a response body up to the size limit, as JSON (or form-encoded, which GitHub may send).
    async fn body(resp: reqwest::Response) -> Result<(u16, Value), ProviderFailure> {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(unavailable)?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(ProviderFailure::Other("the provider's answer is too large".into()));
        }
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            let pairs: serde_json::Map<String, Value> = url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            Value::Object(pairs)
        });
        Ok((status, value))
    }

    /// The endpoints of an OpenID Connect issuer (cached for an hour, bounded).
    async fn discover(&self, issuer: &str) -> Result<Discovery, ProviderFailure> {
        if let Some((d, at)) = self.discovery.lock().expect("discovery lock").get(issuer) {
            if at.elapsed() < DISCOVERY_TTL {
                return Ok(d.clone());
            }
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let resp = self.http.get(&url).header("accept", "application/json").send().await.map_err(unavailable)?;
        let (status, doc) = Self::body(resp).await?;
        if status == 429 || status >= 500 {
            return Err(ProviderFailure::Unavailable(format!("discovery answered {status}")));
        }
        let field = |name: &str| doc.get(name).and_then(Value::as_str).map(String::from);
        let (Some(authorize), Some(token)) = (field("authorization_endpoint"), field("token_endpoint")) else {
            return Err(ProviderFailure::Other(format!("{url} is not an OpenID Connect discovery document")));
        };
        let d = Discovery { authorize, token, userinfo: field("userinfo_endpoint") };
        let mut cache = self.discovery.lock().expect("discovery lock");
        if cache.len() >= DISCOVERY_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(issuer.to_string(), (d.clone(), Instant::now()));
        Ok(d)
    }

    /// Resolves a provider's endpoints: an OpenID Connect issuer given by the server (`issuer`),
    /// or the type's built-in ones.
    pub async fn resolve(
        &self,
        kind: &'static ProviderType,
        issuer: Option<&str>,
        microsoft_tenant: Option<&str>,
        client_id: String,
        client_secret: String,
    ) -> Result<ResolvedProvider, ProviderFailure> {
        let (openid, authorize_url, token_url, userinfo_url) = match (issuer, kind.endpoints) {
            (Some(issuer), _) => {
                let d = self.discover(issuer).await?;
                (true, d.authorize, d.token, d.userinfo)
            }
            (None, Endpoints::Discovery { issuer }) => {
                let issuer = issuer.replace("{tenant}", microsoft_tenant.unwrap_or("consumers"));
                let d = self.discover(&issuer).await?;
                (true, d.authorize, d.token, d.userinfo)
            }
            (None, Endpoints::Fixed { authorize, token, userinfo }) => {
                (false, authorize.to_string(), token.to_string(), Some(userinfo.to_string()))
            }
        };
        Ok(ResolvedProvider { kind, openid, authorize_url, token_url, userinfo_url, client_id, client_secret })
    }

    /// Posts to the token endpoint (client_secret_post; X wants HTTP Basic).
    async fn token_request(
        &self,
        p: &ResolvedProvider,
        mut form: Vec<(&str, &str)>,
    ) -> Result<TokenSet, ProviderFailure> {
        let mut req = self.http.post(&p.token_url).header("accept", "application/json");
        if p.kind.name == "x" && !p.openid {
            req = req.basic_auth(&p.client_id, Some(&p.client_secret));
        } else {
            form.push(("client_id", &p.client_id));
            form.push(("client_secret", &p.client_secret));
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let resp = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(unavailable)?;
        let (status, doc) = Self::body(resp).await?;
        if let Some(code) = doc.get("error").and_then(Value::as_str) {
            if status == 429 || status >= 500 {
                return Err(ProviderFailure::Unavailable(code.to_string()));
            }
            return Err(ProviderFailure::from_error_code(code, doc.get("error_description").and_then(Value::as_str)));
        }
        if status == 429 || status >= 500 {
            return Err(ProviderFailure::Unavailable(format!("the token endpoint answered {status}")));
        }
        let text = |name: &str| doc.get(name).and_then(Value::as_str).map(String::from);
        let Some(access_token) = text("access_token").filter(|t| !t.is_empty()) else {
            return Err(ProviderFailure::Other(format!(
                "the token endpoint answered {status} without an access token"
            )));
        };
        let expires_in = match doc.get("expires_in") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        Ok(TokenSet {
            access_token,
            refresh_token: text("refresh_token"),
            expires_in,
            scope: text("scope"),
            id_token: text("id_token"),
        })
    }

    /// Exchanges the provider's authorization code.
    pub async fn exchange_code(
        &self,
        p: &ResolvedProvider,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<TokenSet, ProviderFailure> {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token_request(p, form).await
    }

    /// Exchanges a provider refresh token for a new access token.
    pub async fn refresh(&self, p: &ResolvedProvider, refresh_token: &str) -> Result<TokenSet, ProviderFailure> {
        self.token_request(p, vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// One user-info request: `Ok(None)` when the provider refuses the token (401/403).
    async fn user_info_once(
        &self,
        p: &ResolvedProvider,
        url: &str,
        token: &str,
    ) -> Result<Option<Value>, ProviderFailure> {
        let mut req = self.http.get(url).bearer_auth(token).header("accept", "application/json");
        if p.kind.name == "twitch" && !p.openid {
            req = req.header("client-id", &p.client_id);
        }
        let resp = req.send().await.map_err(unavailable)?;
        let (status, doc) = Self::body(resp).await?;
        match status {
            200..=299 => Ok(Some(doc)),
            401 | 403 => Ok(None),
            429 | 500.. => Err(ProviderFailure::Unavailable(format!("user info answered {status}"))),
            other => Err(ProviderFailure::Other(format!("user info answered {other}"))),
        }
    }

    /// The provider's user for a fresh token set: from the user-info endpoint (tried three times),
    /// or from the ID token's claims when the provider has no user-info endpoint (Apple). The ID
    /// token came straight from the provider's token endpoint over the connection we opened, which
    /// OpenID Connect Core §3.1.3.7 accepts in place of checking its signature.
    pub async fn user(&self, p: &ResolvedProvider, tokens: &TokenSet) -> Result<ProviderUser, ProviderFailure> {
        let info =
            match &p.userinfo_url {
                Some(url) => {
                    let mut last = ProviderFailure::Unavailable("user info".into());
                    let mut found = None;
                    for attempt in 0..USER_INFO_ATTEMPTS {
                        if attempt > 0 {
                            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                        }
                        match self.user_info_once(p, url, &tokens.access_token).await {
                            Ok(Some(doc)) => {
                                found = Some(doc);
                                break;
                            }
                            Ok(None) => {
                                return Err(ProviderFailure::Other("the provider refused its own access token".into()))
                            }
                            Err(e @ ProviderFailure::Unavailable(_)) => last = e,
                            Err(e) => return Err(e),
                        }
                    }
                    found.ok_or(last)?
                }
                None => tokens.id_token.as_deref().and_then(unverified_jwt_claims).ok_or_else(|| {
                    ProviderFailure::Other("the provider sent neither user info nor an ID token".into())
                })?,
            };
        let mut user = normalize(p.kind, p.openid, &info)
            .ok_or_else(|| ProviderFailure::Other("the provider's user info names no account".into()))?;
        if p.kind.name == "github" && !p.openid && user.email.is_none() {
            // A private e-mail is only in the e-mail list (needs the `user:email` scope).
            if let Ok(Some(Value::Array(emails))) =
                self.user_info_once(p, "https://api.github.com/user/emails", &tokens.access_token).await
            {
                if let Some(primary) = emails.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))) {
                    user.email = primary.get("email").and_then(Value::as_str).map(String::from);
                    user.email_verified = primary.get("verified") == Some(&Value::Bool(true));
                }
            }
        }
        Ok(user)
    }

    /// Whether the provider still accepts an access token (its user-info endpoint answers).
    /// Providers without one are trusted until the token's expiry.
    pub async fn accepts(&self, p: &ResolvedProvider, access_token: &str) -> Result<bool, ProviderFailure> {
        match &p.userinfo_url {
            Some(url) => Ok(self.user_info_once(p, url, access_token).await?.is_some()),
            None => Ok(true),
        }
    }
}

/// The claims of a JWT, without checking its signature (see [`ProviderClient::user`]).
fn unverified_jwt_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
