//! Access tokens: ES256 JWTs with Stack Auth's claims (spec 00 §4).
//!
//! Signing keys are derived per audience (`<project>`, `<project>:restricted`, `<project>:anon`) with
//! HKDF-SHA256 from the server secret into a P-256 scalar; the `kid` is derived from the public key.
//! Nothing is stored: the same secret always yields the same keys, and the JWKS publishes them.
//! Keys are derived only for well-formed audiences, and callers check that the audience's project
//! exists before verifying (see `projects::access`); the derived-key cache is bounded anyway.
//! Signatures are low-S only (signing normalizes, verification refuses high-S), so one set of
//! claims has exactly one valid token string.
//! Verification results are cached by exact token text, so a hot token costs one map lookup.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::KnownError;

/// Who a token is for; decides issuer, audience and signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Normal,
    Restricted,
    Anonymous,
}

impl TokenKind {
    pub fn audience(self, project_id: &str) -> String {
        match self {
            TokenKind::Normal => project_id.to_string(),
            TokenKind::Restricted => format!("{project_id}:restricted"),
            TokenKind::Anonymous => format!("{project_id}:anon"),
        }
    }

    pub fn issuer(self, base_url: &str, project_id: &str) -> String {
        match self {
            TokenKind::Normal => format!("{base_url}/api/v1/projects/{project_id}"),
            TokenKind::Restricted => {
                format!("{base_url}/api/v1/projects-restricted-users/{project_id}")
            }
            TokenKind::Anonymous => {
                format!("{base_url}/api/v1/projects-anonymous-users/{project_id}")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestrictedReason {
    #[serde(rename = "type")]
    pub kind: String,
}

/// Every claim of spec 00 §4.1, in its wire form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub project_id: String,
    pub branch_id: String,
    pub refresh_token_id: String,
    pub role: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub selected_team_id: Option<String>,
    pub signed_up_at: i64,
    pub is_anonymous: bool,
    pub is_restricted: bool,
    pub restricted_reason: Option<RestrictedReason>,
    pub requires_totp_mfa: bool,
}

impl AccessClaims {
    pub fn kind(&self) -> TokenKind {
        if self.is_anonymous {
            TokenKind::Anonymous
        } else if self.is_restricted {
            TokenKind::Restricted
        } else {
            TokenKind::Normal
        }
    }
}

/// Who an access token is for, as the users domain describes its user (spec 00 §4.1).
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub user_id: String,
    pub kind: TokenKind,
    pub restricted_reason: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub selected_team_id: Option<String>,
    pub signed_up_at_secs: i64,
    pub is_anonymous: bool,
    pub requires_totp_mfa: bool,
}

/// One audience's key pair and its public JWK.
pub struct AudienceKey {
    signing: SigningKey,
    verifying: VerifyingKey,
    pub kid: String,
    /// Base64url of the fixed-width 32-byte affine coordinates.
    pub x: String,
    pub y: String,
}

impl AudienceKey {
    fn derive(server_secret: &str, audience: &str) -> AudienceKey {
        let hk = Hkdf::<Sha256>::new(Some(b"stackd/access-token-signing-key/v1"), server_secret.as_bytes());
        // A 32-byte output is a valid scalar unless it is 0 or ≥ n (probability ~2^-32); then try the next counter.
        let signing = (0u32..)
            .find_map(|counter| {
                let mut okm = [0u8; 32];
                let info = [audience.as_bytes(), b"\0", &counter.to_be_bytes()].concat();
                hk.expand(&info, &mut okm).expect("32 bytes is a valid HKDF-SHA256 length");
                SigningKey::from_slice(&okm).ok()
            })
            .expect("some counter yields a valid scalar");
        let verifying = *signing.verifying_key();
        let point = verifying.to_sec1_point(false);
        let (x, y) = (point.x().expect("uncompressed point"), point.y().expect("uncompressed point"));
        let kid = B64.encode(Sha256::digest(point.as_bytes()))[..12].to_string();
        AudienceKey { signing, verifying, kid, x: B64.encode(x), y: B64.encode(y) }
    }
}

/// Verified tokens are remembered up to this many; the map is simply cleared when full. Only tokens
/// we signed get in, so each entry is small (a few hundred bytes).
const VERIFIED_CACHE_CAPACITY: usize = 8192;
/// Derived audience keys kept (three per project in use); cleared when full.
const KEY_CACHE_CAPACITY: usize = 3 * 4096;
/// The longest audience a token of ours can carry: a project id (`internal` or a UUID) plus `:restricted`.
const MAX_AUDIENCE_LEN: usize = 64;

/// The project of a token's audience (`aud` up to the first `:`), read without verifying anything,
/// or `None` if the token is not even shaped like one of ours.
pub fn unverified_audience_project(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Aud<'a> {
        #[serde(borrow)]
        aud: std::borrow::Cow<'a, str>,
    }
    let payload = B64.decode(token.split('.').nth(1)?).ok()?;
    let aud: Aud = serde_json::from_slice(&payload).ok()?;
    if aud.aud.len() > MAX_AUDIENCE_LEN {
        return None;
    }
    Some(aud.aud.split(':').next().unwrap_or_default().to_string())
}

pub struct TokenService {
    server_secret: String,
    pub base_url: String,
    pub ttl_secs: i64,
    keys: RwLock<HashMap<String, Arc<AudienceKey>>>,
    verified: RwLock<HashMap<Box<str>, Arc<AccessClaims>>>,
}

impl TokenService {
    pub fn new(server_secret: &str, base_url: &str, ttl_secs: i64) -> Self {
        TokenService {
            server_secret: server_secret.to_string(),
            base_url: base_url.to_string(),
            ttl_secs,
            keys: RwLock::new(HashMap::new()),
            verified: RwLock::new(HashMap::new()),
        }
    }

    pub fn key(&self, audience: &str) -> Arc<AudienceKey> {
        if let Some(k) = self.keys.read().expect("key cache lock").get(audience) {
            return k.clone();
        }
        let key = Arc::new(AudienceKey::derive(&self.server_secret, audience));
        let mut keys = self.keys.write().expect("key cache lock");
        if keys.len() >= KEY_CACHE_CAPACITY {
            keys.clear();
        }
        keys.insert(audience.to_string(), key.clone());
        key
    }

    /// Number of derived keys held in memory.
    pub fn cached_key_count(&self) -> usize {
        self.keys.read().expect("key cache lock").len()
    }

    /// Mints an access token for `subject` in session `session_id`, valid for the configured TTL.
    pub fn mint(&self, project_id: &str, subject: &TokenSubject, session_id: &str, now_secs: i64) -> String {
        let kind = subject.kind;
        let claims = AccessClaims {
            iss: kind.issuer(&self.base_url, project_id),
            aud: kind.audience(project_id),
            sub: subject.user_id.clone(),
            iat: now_secs,
            exp: now_secs + self.ttl_secs,
            project_id: project_id.to_string(),
            branch_id: "main".into(),
            refresh_token_id: session_id.to_string(),
            role: "authenticated".into(),
            name: subject.name.clone(),
            email: subject.email.clone(),
            email_verified: subject.email_verified,
            selected_team_id: subject.selected_team_id.clone(),
            signed_up_at: subject.signed_up_at_secs,
            is_anonymous: subject.is_anonymous,
            is_restricted: subject.restricted_reason.is_some(),
            restricted_reason: subject.restricted_reason.clone().map(|kind| RestrictedReason { kind }),
            requires_totp_mfa: subject.requires_totp_mfa,
        };
        self.sign(&claims)
    }

    /// Signs the claims with the key of their audience.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        self.sign_with(&claims.aud, claims)
    }

    /// Signs any claims with the ES256 key derived for `key_name` (its public half is
    /// `self.key(key_name)`): access tokens use their audience, the development OAuth provider its
    /// own name.
    pub fn sign_with(&self, key_name: &str, claims: &impl Serialize) -> String {
        let key = self.key(key_name);
        let header = json!({ "alg": "ES256", "kid": key.kid });
        let mut token = B64.encode(header.to_string());
        token.push('.');
        token.push_str(&B64.encode(serde_json::to_vec(claims).expect("claims serialize")));
        let signature: Signature = key.signing.sign(token.as_bytes());
        let signature = signature.normalize_s();
        token.push('.');
        token.push_str(&B64.encode(signature.to_bytes()));
        token
    }

    /// The claims of a token signed by [`Self::sign_with`] under `key_name`, if the signature holds
    /// (expiry and the rest are the caller's to check).
    pub fn verify_with(&self, key_name: &str, token: &str) -> Option<Value> {
        let (signed, signature) = token.rsplit_once('.')?;
        let signature = Signature::from_slice(&B64.decode(signature).ok()?).ok()?;
        self.key(key_name).verifying.verify(signed.as_bytes(), &signature).ok()?;
        serde_json::from_slice(&B64.decode(signed.split('.').nth(1)?).ok()?).ok()
    }

    /// The public keys of a project's JWKS, in spec order (spec 00 §4.6).
    pub fn jwks(&self, project_id: &str, include_restricted: bool, include_anonymous: bool) -> Vec<Arc<AudienceKey>> {
        let mut kinds = vec![TokenKind::Normal];
        if include_restricted || include_anonymous {
            kinds.push(TokenKind::Restricted);
        }
        if include_anonymous {
            kinds.push(TokenKind::Anonymous);
        }
        kinds.iter().map(|k| self.key(&k.audience(project_id))).collect()
    }

    /// A token verified before (one map lookup, the hot path): its claims, or its expiry error.
    /// `None` when it has not been verified yet.
    pub fn verify_cached(&self, token: &str, now_secs: i64) -> Option<Result<Arc<AccessClaims>, KnownError>> {
        let claims = self.verified.read().expect("token cache lock").get(token).cloned()?;
        Some(Self::check_expiry(claims, now_secs))
    }

    /// Verifies signature, audience/issuer consistency and expiry (spec 00 §4.5). Anonymous and
    /// restricted tokens are accepted here; callers decide whether to allow them.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Arc<AccessClaims>, KnownError> {
        if let Some(result) = self.verify_cached(token, now_secs) {
            return result;
        }
        let claims = Arc::new(self.verify_signature(token)?);
        let mut cache = self.verified.write().expect("token cache lock");
        if cache.len() >= VERIFIED_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(token.into(), claims.clone());
        drop(cache);
        Self::check_expiry(claims, now_secs)
    }

    fn check_expiry(claims: Arc<AccessClaims>, now_secs: i64) -> Result<Arc<AccessClaims>, KnownError> {
        if claims.exp <= now_secs {
            return Err(KnownError::access_token_expired(
                Some(claims.exp * 1000),
                Some(&claims.project_id),
                Some(&claims.sub),
                Some(&claims.refresh_token_id),
            ));
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<AccessClaims, KnownError> {
        let bad = KnownError::unparsable_access_token;
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let header: Value = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(bad)?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(bad());
        }
        let kid = header.get("kid").and_then(Value::as_str).ok_or_else(bad)?;
        let payload = B64.decode(p).map_err(|_| bad())?;
        let claims: AccessClaims = serde_json::from_slice(&payload).map_err(|_| bad())?;

        // The audience decides the kind; issuer and flags must agree with it. Checked before any
        // key is derived, so only well-formed audiences ever reach the key cache.
        let project = claims.aud.split(':').next().unwrap_or_default();
        let kind = claims.kind();
        let consistent = claims.aud.len() <= MAX_AUDIENCE_LEN
            && project == claims.project_id
            && claims.aud == kind.audience(project)
            && claims.iss == kind.issuer(&self.base_url, project)
            && claims.is_restricted == claims.restricted_reason.is_some()
            && (!claims.is_anonymous || claims.is_restricted)
            && claims.branch_id == "main"
            && claims.role == "authenticated";
        if !consistent {
            return Err(bad());
        }
        let signature = B64.decode(s).ok().and_then(|b| Signature::from_slice(&b).ok()).ok_or_else(bad)?;
        // (r, n - s) verifies too; accepting it would give the same claims a second token string.
        if signature.normalize_s().to_bytes() != signature.to_bytes() {
            return Err(bad());
        }
        let key = self.key(&claims.aud);
        if key.kid != kid {
            return Err(bad());
        }
        key.verifying.verify(&token.as_bytes()[..h.len() + 1 + p.len()], &signature).map_err(|_| bad())?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(svc: &TokenService, kind: TokenKind, exp: i64) -> AccessClaims {
        AccessClaims {
            iss: kind.issuer(&svc.base_url, "internal"),
            aud: kind.audience("internal"),
            sub: "u".into(),
            iat: 0,
            exp,
            project_id: "internal".into(),
            branch_id: "main".into(),
            refresh_token_id: "r".into(),
            role: "authenticated".into(),
            name: None,
            email: None,
            email_verified: false,
            selected_team_id: None,
            signed_up_at: 0,
            is_anonymous: kind == TokenKind::Anonymous,
            is_restricted: kind != TokenKind::Normal,
            restricted_reason: match kind {
                TokenKind::Normal => None,
                TokenKind::Anonymous => Some(RestrictedReason { kind: "anonymous".into() }),
                TokenKind::Restricted => Some(RestrictedReason { kind: "restricted_by_administrator".into() }),
            },
            requires_totp_mfa: false,
        }
    }

    #[test]
    fn keys_are_deterministic_and_distinct_per_audience() {
        let a = TokenService::new("s".repeat(32).as_str(), "http://x", 600);
        let b = TokenService::new("s".repeat(32).as_str(), "http://x", 600);
        assert_eq!(a.key("internal").kid, b.key("internal").kid);
        assert_ne!(a.key("internal").kid, a.key("internal:anon").kid);
        assert_eq!(a.key("internal").kid.len(), 12);
    }

    #[test]
    fn sign_then_verify_and_reject_tampering() {
        let svc = TokenService::new("s".repeat(32).as_str(), "http://x", 600);
        for kind in [TokenKind::Normal, TokenKind::Restricted, TokenKind::Anonymous] {
            let t = svc.sign(&claims(&svc, kind, 100));
            assert_eq!(svc.verify(&t, 50).unwrap().kind(), kind);
            assert_eq!(svc.verify(&t, 100).unwrap_err().code, "ACCESS_TOKEN_EXPIRED");
            let mut tampered = t.clone().into_bytes();
            let i = tampered.len() - 10;
            tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert_eq!(svc.verify(&tampered, 50).unwrap_err().code, "UNPARSABLE_ACCESS_TOKEN");
        }
        let other = TokenService::new("t".repeat(32).as_str(), "http://x", 600);
        let foreign = other.sign(&claims(&other, TokenKind::Normal, 100));
        assert_eq!(svc.verify(&foreign, 50).unwrap_err().code, "UNPARSABLE_ACCESS_TOKEN");
    }
}
