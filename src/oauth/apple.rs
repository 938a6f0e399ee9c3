//! Native Sign in with Apple (spec 10 §10.5): the app sends Apple's identity token (an RS256 JWT)
//! and stackd verifies it against Apple's published keys (`--apple-jwks-url`): signature, issuer
//! `https://appleid.apple.com`, an audience among the project's bundle ids, and expiry.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use serde_json::Value;

const ISSUER: &str = "https://appleid.apple.com";
/// Apple rotates keys rarely; a token naming an unknown key refreshes them (at most once a minute).
const KEYS_TTL: Duration = Duration::from_secs(3600);
const REFRESH_AFTER_MISS: Duration = Duration::from_secs(60);
const MAX_KEYS_BYTES: usize = 64 * 1024;

pub struct AppleVerifier {
    url: String,
    http: reqwest::Client,
    /// The JWKS's keys and when they were fetched.
    keys: Mutex<Option<(Vec<Value>, Instant)>>,
}

impl AppleVerifier {
    pub fn new(url: String, timeout: Duration) -> AppleVerifier {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds");
        AppleVerifier { url, http, keys: Mutex::new(None) }
    }

    async fn fetch_keys(&self) -> Option<Vec<Value>> {
        let resp = self.http.get(&self.url).send().await.ok()?;
        let bytes = resp.bytes().await.ok()?;
        if bytes.len() > MAX_KEYS_BYTES {
            return None;
        }
        let doc: Value = serde_json::from_slice(&bytes).ok()?;
        let keys = doc.get("keys")?.as_array()?.clone();
        *self.keys.lock().expect("apple keys lock") = Some((keys.clone(), Instant::now()));
        Some(keys)
    }

    /// The key named `kid`, from the cache or a fresh fetch.
    async fn key(&self, kid: &str) -> Option<Value> {
        let cached = self.keys.lock().expect("apple keys lock").clone();
        let find = |keys: &[Value]| keys.iter().find(|k| k.get("kid").and_then(Value::as_str) == Some(kid)).cloned();
        if let Some((keys, at)) = &cached {
            if let Some(k) = find(keys).filter(|_| at.elapsed() < KEYS_TTL) {
                return Some(k);
            }
            if at.elapsed() < REFRESH_AFTER_MISS {
                return None;
            }
        }
        find(&self.fetch_keys().await?)
    }

    /// The token's claims if it is a valid Apple identity token for one of `audiences`.
    pub async fn verify(&self, token: &str, audiences: &[String], now_secs: i64) -> Option<Value> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return None;
        }
        let jwk = self.key(header.get("kid")?.as_str()?).await?;
        let n = BigNum::from_slice(&B64.decode(jwk.get("n")?.as_str()?).ok()?).ok()?;
        let e = BigNum::from_slice(&B64.decode(jwk.get("e")?.as_str()?).ok()?).ok()?;
        let key = PKey::from_rsa(Rsa::from_public_components(n, e).ok()?).ok()?;
        let mut verifier = Verifier::new(MessageDigest::sha256(), &key).ok()?;
        verifier.update(signed.as_bytes()).ok()?;
        if !verifier.verify(&B64.decode(signature).ok()?).ok()? {
            return None;
        }
        let claims: Value = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        let audience_ok = match claims.get("aud")? {
            Value::String(a) => audiences.contains(a),
            Value::Array(list) => list.iter().filter_map(Value::as_str).any(|a| audiences.iter().any(|b| b == a)),
            _ => false,
        };
        let fresh = claims.get("exp").and_then(Value::as_i64).is_some_and(|exp| exp > now_secs);
        (claims.get("iss")?.as_str()? == ISSUER && audience_ok && fresh).then_some(claims)
    }
}
