//! Passwords: argon2id hashes, computed off the async runtime (they cost tens of milliseconds of
//! CPU and 19 MiB of memory each, by design), at most one per core at a time (`Hasher`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Runs argon2 at most `permits` at a time, each in a work area of its own that is kept and
/// reused. More at once would not finish sooner (each keeps a core busy) but would hold 19 MiB
/// each and delay everything else the server does: a burst of sign-ins waits its turn, briefly,
/// and past that is told to come back.
///
/// Why the work areas are kept: argon2 allocating 19 MiB per hash and freeing it after makes
/// glibc raise its mmap threshold past 19 MiB, and from then on every freed area stays in the
/// heap of the thread that used it; a burst of sign-ins left the process at ~500 MB. Reused,
/// the memory is `permits` × 19 MiB, allocated once.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Work areas not in use: never more than `permits`, since each is taken with a permit.
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
    wait: Duration,
}

impl Hasher {
    pub fn new(permits: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            areas: Arc::default(),
            wait: WAIT,
        }
    }

    /// One permit per core this process may use.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.run("hash a password", move |area| hash_in(area, &password))
            .await
    }

    /// True when `password` matches `stored`; with no stored hash, still spends the time and
    /// says no.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run("verify a password", move |area| {
            verify_in(area, &password, stored)
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        context: &'static str,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|e| ServerError::internal(context, e.to_string()))?;
        let areas = self.areas.clone();
        tokio::task::spawn_blocking(move || {
            // Held until argon2 is done, even when the request that asked for it has gone.
            let _permit = permit;
            let mut area = areas
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let result = work(&mut area);
            // What the password left in it is wiped before anyone else uses it.
            area.fill(Block::default());
            areas
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(area);
            result
        })
        .await
        .map_err(|e| ServerError::internal(context, e.to_string()))?
        .map_err(PasswordError::from)
    }
}

/// `area` grown to what `argon` needs (once: argon2's defaults for every hash we make).
fn fit<'a>(area: &'a mut Vec<Block>, argon: &Argon2) -> &'a mut [Block] {
    let blocks = argon.params().block_count();
    if area.len() < blocks {
        area.resize(blocks, Block::default());
    }
    &mut area[..blocks]
}

/// argon2 of `password` with `salt` into `out`, in `area`.
fn derive(
    argon: &Argon2,
    password: &Password,
    salt: Salt,
    out: &mut [u8],
    area: &mut Vec<Block>,
) -> Result<(), String> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| e.to_string())?;
    argon
        .hash_password_into_with_memory(password.0.as_bytes(), salt_bytes, out, fit(area, argon))
        .map_err(|e| e.to_string())
}

fn hash_in(area: &mut Vec<Block>, password: &Password) -> Result<String, ServerError> {
    let fail = |e: &dyn std::fmt::Display| ServerError::internal("hash a password", e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    derive(&argon, password, salt.as_salt(), &mut out, area).map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

fn verify_in(
    area: &mut Vec<Block>,
    password: &Password,
    stored: Option<String>,
) -> Result<bool, ServerError> {
    let fail = |e: &dyn std::fmt::Display| {
        ServerError::internal("read a stored password hash", e.to_string())
    };
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    let parsed = PasswordHash::new(&stored).map_err(|e| fail(&e))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(fail(&"no salt or no hash"));
    };
    let argon = Argon2::new(
        Algorithm::try_from(parsed.algorithm).map_err(|e| fail(&e))?,
        parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| fail(&e))?
            .unwrap_or_default(),
        Params::try_from(&parsed).map_err(|e| fail(&e))?,
    );
    let mut out = vec![0u8; expected.len()];
    derive(&argon, password, salt, &mut out, area).map_err(|e| fail(&e))?;
    // `Output` compares in constant time.
    let matches = Output::new(&out).is_ok_and(|got| got == expected);
    Ok(known && matches)
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

    async fn matches(hasher: &Hasher, password: &str, stored: Option<&str>) -> bool {
        hasher
            .verify(Password::new(password), stored.map(str::to_string))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = Hasher::per_core();
        let pw = "correct horse battery";
        let h = hasher.hash(Password::new(pw)).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(matches(&hasher, pw, Some(&h)).await);
        assert!(!matches(&hasher, "wrong horse battery", Some(&h)).await);
        assert!(!matches(&hasher, "anything", None).await);
    }

    #[tokio::test]
    async fn hashes_made_by_argon2s_own_api_and_ours_verify_each_other() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let hasher = Hasher::new(1);
        let pw = "correct horse battery";
        let theirs = |argon: Argon2| {
            argon
                .hash_password(pw.as_bytes(), &SaltString::generate(&mut OsRng))
                .unwrap()
                .to_string()
        };
        // How hashes were made before the work areas were kept: they stay valid.
        let before = theirs(Argon2::default());
        assert!(matches(&hasher, pw, Some(&before)).await);
        assert!(!matches(&hasher, "wrong horse battery", Some(&before)).await);
        let ours = hasher.hash(Password::new(pw)).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(pw.as_bytes(), &parsed)
            .is_ok());
        // Other parameters than ours (a cheaper hash) are read from the hash itself.
        let cheap = theirs(Argon2::from(Params::new(1024, 1, 1, None).unwrap()));
        assert!(matches(&hasher, pw, Some(&cheap)).await);
        // One work area, kept, and wiped.
        let areas = hasher.areas.lock().unwrap();
        assert_eq!(areas.len(), 1);
        assert!(areas[0].iter().all(|b| b.as_ref().iter().all(|x| *x == 0)));
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
        assert!(!matches(&hasher, "anything", None).await);
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
