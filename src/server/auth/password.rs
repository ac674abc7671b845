//! Passwords: argon2id hashes, computed off the async runtime (they cost tens of milliseconds of
//! CPU by design).

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::email::Email;
use crate::server::error::ServerError;

const MIN_LEN: usize = 10;

/// Passwords people pick first; refused whatever their length.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "1234567890",
    "12345678910",
    "123456789",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "letmein123",
    "welcome123",
    "administrator",
    "abc1234567",
    "0987654321",
    "1q2w3e4r5t",
];

/// A password as typed: never printed.
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub fn new(raw: &str) -> Self {
        Password(raw.to_string())
    }

    pub fn is_strong_for(&self, email: &Email) -> bool {
        let pw = self.0.as_str();
        let lower = pw.to_lowercase();
        let distinct = {
            let mut chars: Vec<char> = pw.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            chars.len()
        };
        pw.chars().count() >= MIN_LEN
            && pw.len() <= 1024
            && distinct >= 4
            && !COMMON.contains(&lower.as_str())
            && lower != email.as_str()
            && lower != email.as_str().split('@').next().unwrap_or_default()
    }
}

/// An argon2id hash of nothing anyone can type, so unknown emails cost the same time to check.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4cNXHDq4mN6l1kGmE0Ag6B3MvUk0Dz6N1D8oNf7m6Yk";

pub async fn hash(password: Password) -> Result<String, ServerError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ServerError::internal("hash a password", e.to_string()))
    })
    .await
    .map_err(|e| ServerError::internal("hash a password", e.to_string()))?
}

/// True when `password` matches `stored`; with no stored hash, still spends the time and says no.
pub async fn verify(password: Password, stored: Option<String>) -> Result<bool, ServerError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| ServerError::internal("read a stored password hash", e.to_string()))?;
        let matches = Argon2::default()
            .verify_password(password.0.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|e| ServerError::internal("verify a password", e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in [
            "short",
            "aaaaaaaaaaaa",
            "Password123",
            "ada@example.com",
            "ADA@EXAMPLE.COM",
            "1234567890",
        ] {
            assert!(!Password::new(weak).is_strong_for(&email()), "{weak}");
        }
        assert!(Password::new("correct horse battery").is_strong_for(&email()));
    }

    #[test]
    fn a_password_never_prints() {
        assert!(!format!("{:?}", Password::new("hunter2-secret")).contains("hunter2"));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let h = hash(Password::new("correct horse battery")).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify(Password::new("correct horse battery"), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify(Password::new("wrong horse battery"), Some(h))
            .await
            .unwrap());
        assert!(!verify(Password::new("anything"), None).await.unwrap());
    }
}
