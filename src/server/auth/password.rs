//! Passwords: argon2id hashes, computed off the async runtime (they cost tens of milliseconds of
//! CPU and 19 MiB of memory each, by design), at most one per core at a time (`Hasher`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

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

/// How long a hash or a verification waits for a free core before it is turned away.
const WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every core has been hashing for longer than the wait: try again in a moment (a 503).
    #[error("every password hasher stayed busy for {WAIT:?}")]
    Busy,
    #[error(transparent)]
    Internal(#[from] ServerError),
}

/// Runs argon2 at most `permits` at a time. More at once would not finish sooner (each keeps a
/// core busy) but would hold 19 MiB each and delay everything else the server does: a burst of
/// sign-ins waits its turn, briefly, and past that is told to come back.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Hasher {
    pub fn new(permits: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            wait: WAIT,
        }
    }

    /// One permit per core this process may use.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.run("hash a password", move || hash_now(&password))
            .await
    }

    /// True when `password` matches `stored`; with no stored hash, still spends the time and
    /// says no.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run("verify a password", move || verify_now(&password, stored))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        context: &'static str,
        work: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|e| ServerError::internal(context, e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            // Held until argon2 is done, even when the request that asked for it has gone.
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ServerError::internal(context, e.to_string()))?
        .map_err(PasswordError::from)
    }
}

fn hash_now(password: &Password) -> Result<String, ServerError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.0.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::internal("hash a password", e.to_string()))
}

fn verify_now(password: &Password, stored: Option<String>) -> Result<bool, ServerError> {
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    let parsed = PasswordHash::new(&hash)
        .map_err(|e| ServerError::internal("read a stored password hash", e.to_string()))?;
    let matches = Argon2::default()
        .verify_password(password.0.as_bytes(), &parsed)
        .is_ok();
    Ok(known && matches)
}

/// Uncapped: `Hasher::hash` takes its place.
pub async fn hash(password: Password) -> Result<String, ServerError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| ServerError::internal("hash a password", e.to_string()))?
}

/// Uncapped: `Hasher::verify` takes its place.
pub async fn verify(password: Password, stored: Option<String>) -> Result<bool, ServerError> {
    tokio::task::spawn_blocking(move || verify_now(&password, stored))
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
        let hasher = Hasher::per_core();
        let h = hasher
            .hash(Password::new("correct horse battery"))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(hasher
            .verify(Password::new("correct horse battery"), Some(h.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Password::new("wrong horse battery"), Some(h))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Password::new("anything"), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn with_every_permit_held_a_hash_or_verify_is_busy_until_one_is_free() {
        let mut hasher = Hasher::new(1);
        hasher.wait = Duration::from_millis(100);
        // A long-running hash, as far as the hasher can tell.
        let holder = hasher.permits.clone().acquire_owned().await.unwrap();
        assert!(matches!(
            hasher.hash(Password::new("correct horse battery")).await,
            Err(PasswordError::Busy)
        ));
        assert!(matches!(
            hasher.verify(Password::new("anything"), None).await,
            Err(PasswordError::Busy)
        ));
        drop(holder);
        assert!(!hasher
            .verify(Password::new("anything"), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_permit_is_held_until_argon2_is_done_even_if_the_caller_is_gone() {
        let hasher = Hasher::new(1);
        let caller = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(Password::new("correct horse battery")).await }
        });
        while hasher.permits.available_permits() == 1 {
            tokio::task::yield_now().await;
        }
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(
            hasher.permits.available_permits(),
            0,
            "argon2 still runs, and holds its core"
        );
        let freed = tokio::time::timeout(Duration::from_secs(10), async {
            while hasher.permits.available_permits() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(freed.is_ok(), "and gives it back when done");
    }
}
