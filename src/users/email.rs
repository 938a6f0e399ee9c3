//! E-mail address rules (spec 10 §0.3): normalization and upstream's two validations. Imports
//! nothing from the users domain, so its store and its change set can both use it.

/// Trim, lower-case, exactly one `@` (spec 10 §0.3). `None` if it is not an address at all.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    (e.matches('@').count() == 1).then_some(e)
}

/// Upstream's lenient check, yup's `email()` (the HTML living standard's pattern): a local part of
/// letters, digits and ``.!#$%&'*+/=?^_`{|}~-``, then dot-separated domain labels of letters, digits
/// and inner hyphens. So `invalid_email@gmai` passes, as upstream, while control characters, bidi
/// overrides, spaces, quoted local parts and address literals (`a@[127.0.0.1]`) cannot.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok =
        !local.is_empty() && local.bytes().all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    local_ok && domain.split('.').all(label_ok)
}

/// The stricter sign-up check: at most 256 characters, no leading/trailing/double dots in the local
/// part, a dotted domain with a TLD of 2+ characters.
pub fn is_valid_sign_up_email(email: &str) -> bool {
    if !is_valid_email(email) || email.len() > 256 {
        return false;
    }
    let (local, domain) = email.split_once('@').unwrap_or_default();
    let local_ok = local.split('.').all(|part| !part.is_empty());
    let tld_ok = domain.contains('.') && domain.rsplit('.').next().is_some_and(|tld| tld.len() >= 2);
    local_ok && tld_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalize_and_validate() {
        assert_eq!(normalize_email("  Foo@Example.COM ").as_deref(), Some("foo@example.com"));
        assert!(normalize_email("a@b@c").is_none());
        assert!(is_valid_email("a@b.co"));
        assert!(is_valid_email("invalid_email@gmai"), "upstream accepts dotless domains");
        assert!(!is_valid_email("a b@c.de"));
        assert!(!is_valid_email("a\u{7}b@c.de"), "control character");
        assert!(!is_valid_email("ab@c\u{202e}ed.com"), "bidi override");
        assert!(!is_valid_email("a@[127.0.0.1]"), "address literal");
        assert!(!is_valid_email("\"a b\"@c.de"), "quoted local part");
        assert!(!is_valid_email("a@-c.de"));
        assert!(!is_valid_email(" a@c.de"), "not trimmed, as upstream");
        assert!(!is_valid_sign_up_email("invalid_email@gmai"));
        assert!(is_valid_sign_up_email("first.last@example.com"));
        assert!(!is_valid_sign_up_email("first..last@example.com"));
        assert!(!is_valid_sign_up_email(".first@example.com"));
        assert!(!is_valid_sign_up_email("me@example.c"));
    }
}
