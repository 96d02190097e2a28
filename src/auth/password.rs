//! Argon2id password hashing with the crate's defaults, which are OWASP's recommendation
//! (19 MiB memory, 2 iterations, 1 lane). CPU-heavy: call from blocking threads only.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("Argon2 with default parameters and an OS salt does not fail")
        .to_string()
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A hash to verify against when the account does not exist, so that a wrong username takes as
/// long as a wrong password and the timing does not reveal which accounts exist.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| hash("decoy password, never valid"));

pub fn spend_equal_time(password: &str) {
    let _ = verify(password, &DECOY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let first = hash("correct horse battery staple");
        let second = hash("correct horse battery staple");
        assert!(first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(first, second);
        assert!(verify("correct horse battery staple", &first));
        assert!(!verify("correct horse battery stapler", &first));
        assert!(!verify("anything", "not a phc string"));
    }
}
