//! Secrets, hashes and passwords.
//!
//! Secrets we hand out (refresh tokens, project keys) are high-entropy random strings, so a single
//! SHA-256 is enough to store them: only the hash is kept, lookups go by hash, and comparisons of
//! hashes run in constant time. Passwords are hashed with argon2id; imported bcrypt hashes verify.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Lowercase Crockford base32, the alphabet of every Stack Auth secret (spec 00 §4.7).
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn crockford(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    // 5 bits per character from one random byte each: uniform because 256 is a multiple of 32.
    bytes.iter().map(|b| CROCKFORD[(b & 31) as usize] as char).collect()
}

/// The 45-character random string `R` (225 bits) used for refresh tokens and project keys.
pub fn random_secret() -> String {
    crockford(45)
}

/// A request id: 16 Crockford characters (80 bits), kept inline so logging it allocates nothing.
#[derive(Clone, Copy)]
pub struct RequestId([u8; 16]);

impl RequestId {
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        RequestId(bytes.map(|b| CROCKFORD[(b & 31) as usize]))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("Crockford characters are ASCII")
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub type SecretHash = [u8; 32];

pub fn hash_secret(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The last four characters of a secret, shown in listings instead of the secret itself.
pub fn last_four(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

pub mod password {
    use std::cell::RefCell;

    use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
    use argon2::{Algorithm, Argon2, Block, Params, Version};

    /// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    const M_COST_KIB: u32 = 19 * 1024;
    /// Imported hashes asking for more memory than this do not verify (a guard, not a format rule).
    const MAX_M_COST_KIB: u32 = 256 * 1024;

    thread_local! {
        /// argon2's working memory, kept by each thread that hashes (the hashing pool's few
        /// threads) instead of 19 MiB allocated, faulted in and freed per password.
        static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    }

    fn with_blocks<R>(m_cost_kib: u32, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let n = m_cost_kib as usize; // one block is 1 KiB
        if m_cost_kib > M_COST_KIB {
            // A stronger imported hash: its memory is freed again right after.
            return f(&mut vec![Block::default(); n]);
        }
        BLOCKS.with(|blocks| {
            let mut blocks = blocks.borrow_mut();
            if blocks.len() < n {
                blocks.resize(n, Block::default());
            }
            f(&mut blocks[..n])
        })
    }

    /// Runs argon2 with `params` over `password` and the raw `salt` into `out`.
    fn compute(
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> bool {
        let m_cost = params.m_cost();
        let argon2 = Argon2::new(algorithm, version, params);
        with_blocks(m_cost, |blocks| argon2.hash_password_into_with_memory(password, salt, out, blocks).is_ok())
    }

    pub fn hash(password: &str) -> String {
        let salt = SaltString::generate(&mut rand::thread_rng());
        let params = Params::new(M_COST_KIB, 2, 1, Some(32)).expect("valid argon2 params");
        let mut salt_bytes = [0u8; 64];
        let raw_salt = salt.as_salt().decode_b64(&mut salt_bytes).expect("a generated salt decodes");
        let mut out = [0u8; 32];
        assert!(compute(Algorithm::Argon2id, Version::V0x13, params.clone(), password.as_bytes(), raw_salt, &mut out));
        PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).expect("argon2 params encode"),
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).expect("32 bytes is a valid output length")),
        }
        .to_string()
    }

    /// Verifies a password against a stored argon2 (PHC string) or bcrypt (`$2a$`/`$2b$`/`$2y$`) hash.
    pub fn verify(password: &str, stored: &str) -> bool {
        if stored.starts_with("$2") {
            return bcrypt::verify(password, stored).unwrap_or(false);
        }
        let Ok(parsed) = PasswordHash::new(stored) else { return false };
        let (Ok(algorithm), Some(expected), Some(salt)) =
            (Algorithm::try_from(parsed.algorithm), parsed.hash, parsed.salt)
        else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::V0x13,
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let Ok(params) = Params::try_from(&parsed) else { return false };
        if params.m_cost() > MAX_M_COST_KIB {
            return false;
        }
        let mut salt_bytes = [0u8; 64];
        let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else { return false };
        let mut out = vec![0u8; expected.len()];
        compute(algorithm, version, params, password.as_bytes(), raw_salt, &mut out)
            && super::hashes_equal(&out, expected.as_bytes())
    }

    /// Burns the same time as a real verification, so unknown e-mails cannot be told apart by timing.
    pub fn verify_dummy(password: &str) {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let stored = DUMMY.get_or_init(|| hash("stackd-timing-equaliser"));
        let _ = verify(password, stored);
    }

    /// An importable bcrypt hash in Modular Crypt Format with cost ≤ 16 (spec 10 §0.4).
    pub fn is_importable_bcrypt(hash: &str) -> bool {
        let b = hash.as_bytes();
        if b.len() != 60 || !hash.starts_with("$2") || !matches!(b[2], b'a' | b'b' | b'y') || b[3] != b'$' {
            return false;
        }
        match hash[4..6].parse::<u32>() {
            Ok(cost) => (4..=16).contains(&cost) && b[6] == b'$',
            Err(_) => false,
        }
    }
}

/// Authenticated encryption of small secrets kept at rest (provider tokens), under a key derived
/// from the server secret for one purpose: ChaCha20-Poly1305 with a random nonce, stored as
/// nonce ‖ ciphertext ‖ tag. Changing the server secret makes old sealed values unreadable.
pub struct Sealer {
    key: ring::aead::LessSafeKey,
}

impl Sealer {
    pub fn new(server_secret: &str, purpose: &str) -> Sealer {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"stackd/sealing-key/v1"), server_secret.as_bytes());
        let mut okm = [0u8; 32];
        hk.expand(purpose.as_bytes(), &mut okm).expect("32 bytes is a valid HKDF-SHA256 length");
        let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &okm).expect("32-byte key");
        Sealer { key: ring::aead::LessSafeKey::new(key) }
    }

    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::empty(),
                &mut data,
            )
            .expect("sealing cannot fail for small inputs");
        [nonce.as_slice(), &data].concat()
    }

    /// `None` when the value was not sealed by this key (or was tampered with).
    pub fn open(&self, sealed: &[u8]) -> Option<String> {
        if sealed.len() < 12 {
            return None;
        }
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(&sealed[..12]).ok()?;
        let mut data = sealed[12..].to_vec();
        let plain = self.key.open_in_place(nonce, ring::aead::Aad::empty(), &mut data).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_key() {
        let sealer = Sealer::new("a server secret that is long enough!!", "purpose");
        let sealed = sealer.seal("gho_provider_token");
        assert!(!sealed.windows(5).any(|w| w == b"gho_p"));
        assert_eq!(sealer.open(&sealed).as_deref(), Some("gho_provider_token"));
        assert_eq!(Sealer::new("a server secret that is long enough!!", "other").open(&sealed), None);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(sealer.open(&tampered), None);
    }

    #[test]
    fn secrets_use_the_crockford_alphabet() {
        let s = random_secret();
        assert_eq!(s.len(), 45);
        assert!(s.bytes().all(|c| CROCKFORD.contains(&c)));
        assert_ne!(s, random_secret());
    }

    #[test]
    fn passwords_round_trip_and_bcrypt_imports_verify() {
        let h = password::hash("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(password::verify("correct horse", &h));
        assert!(!password::verify("wrong", &h));
        let b = bcrypt::hash("hunter22", 4).unwrap();
        assert!(password::is_importable_bcrypt(&b));
        assert!(password::verify("hunter22", &b));
        assert!(!password::is_importable_bcrypt("$argon2id$v=19$m=1,t=1,p=1$abc$def"));
    }

    /// Our hashing keeps argon2's memory per thread; the PHC strings must still be exactly what
    /// the argon2 crate's own hasher makes and checks, whatever their parameters.
    #[test]
    fn argon2_hashes_agree_with_the_reference_hasher() {
        use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
        let ours = password::hash("pässword");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2::Argon2::default().verify_password("pässword".as_bytes(), &parsed).is_ok());
        for (algorithm, m_cost) in [(argon2::Algorithm::Argon2id, 8 * 1024), (argon2::Algorithm::Argon2i, 32 * 1024)] {
            let params = argon2::Params::new(m_cost, 1, 1, None).unwrap();
            let reference = argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
                .hash_password(b"imported", &SaltString::generate(&mut rand::thread_rng()))
                .unwrap()
                .to_string();
            assert!(password::verify("imported", &reference), "{reference}");
            assert!(!password::verify("imported!", &reference));
        }
        assert!(!password::verify("x", "$argon2id$v=19$m=1048576,t=1,p=1$c29tZXNhbHQ$aGFzaA"));
        assert!(!password::verify("x", "not a hash"));
    }
}
