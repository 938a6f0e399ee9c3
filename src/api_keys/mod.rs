//! User and team API keys (spec 20 §4): keys that users and teams mint for their own customers,
//! checked by the app's backend. Only the SHA-256 of a key is stored.
//!
//! The key string carries its own id and a CRC-32 so that credential scanners recognise it:
//! `<sk|pk>_<secret:45><id:32 hex><user|team><flag>574ck4u7h<crc32:8 hex>` (102 characters).

pub mod api;
pub mod errors;
pub mod service;
pub mod store;

pub use service::ApiKeysService;

/// `user` or `team` (also the 4-character type field of the key string).
pub const USER: &str = "user";
pub const TEAM: &str = "team";

/// Fixed marker scanners look for.
const MARKER: &str = "574ck4u7h";
const SECRET_LENGTH: usize = 45;
pub const KEY_LENGTH: usize = 3 + SECRET_LENGTH + 32 + 4 + 1 + MARKER.len() + 8;

/// A key row.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: String,
    pub project_id: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub description: String,
    pub is_public: bool,
    pub key_hash: Vec<u8>,
    pub last_four: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A new key string for key `id` (spec 20 §4.3). A self-hosted server's flag is `1` (secret) or
/// `3` (public); `0`/`2` are reserved for Stack's cloud.
pub fn key_string(id: &uuid::Uuid, kind: &str, is_public: bool) -> String {
    let prefix = if is_public { "pk" } else { "sk" };
    let flag = if is_public { '3' } else { '1' };
    let body = format!("{prefix}_{}{}{kind}{flag}{MARKER}", crate::crypto::random_secret(), id.simple());
    let crc = crc32(body.as_bytes());
    format!("{body}{crc:08x}")
}

/// The key id embedded in a key string, if it has the layout.
pub fn embedded_id(key: &str) -> Option<uuid::Uuid> {
    if key.len() != KEY_LENGTH || !key.is_ascii() {
        return None;
    }
    let start = 3 + SECRET_LENGTH;
    uuid::Uuid::try_parse(&key[start..start + 32]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn key_layout() {
        let id = uuid::Uuid::new_v4();
        let key = key_string(&id, TEAM, false);
        assert_eq!(key.len(), 102);
        assert!(key.starts_with("sk_"));
        assert_eq!(&key[48..80], id.simple().to_string());
        assert_eq!(&key[80..84], "team");
        assert_eq!(&key[84..85], "1");
        assert_eq!(&key[85..94], MARKER);
        assert_eq!(key[94..].to_string(), format!("{:08x}", crc32(&key.as_bytes()[..94])));
        assert_eq!(embedded_id(&key), Some(id));
        assert!(key_string(&id, USER, true).starts_with("pk_"));
    }
}
