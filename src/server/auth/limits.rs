//! Fixed-window rate limits for sign-in, sign-up and Checkout, per client (`ClientKey`) and per
//! email.
//!
//! Where they are counted follows the database: on PostgreSQL, which several instances may
//! share, in the database (`db::limits`: one upsert per attempt, so N instances still allow the
//! limit once, not N times); on SQLite, a one-process set-up, in memory, where a restart forgives
//! everyone.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::email::Email;
use crate::server::client_addr::ClientKey;
use crate::server::db;

/// The most keys one limiter holds. At ~40 bytes a key (keys are kept as hashes, whatever their
/// length) this is a few megabytes, however many distinct keys arrive.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimiter {
    /// Names the limiter's rows in the shared store, and its warnings.
    name: &'static str,
    limit: u32,
    window: Duration,
    store: Store,
}

#[derive(Debug)]
enum Store {
    Memory {
        max_keys: usize,
        windows: Mutex<Windows>,
    },
    /// Every instance on this PostgreSQL counts in the same rows.
    Shared(PgPool),
}

#[derive(Debug)]
struct Windows {
    /// Keys hashed with a key random to this process: no one can aim two keys at one entry.
    seed: RandomState,
    by_key: HashMap<u64, Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

/// Over the limit; try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited(pub Duration);

impl RateLimiter {
    /// A limiter counting in this process's memory.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_max_keys(limit, window, MAX_KEYS)
    }

    fn with_max_keys(limit: u32, window: Duration, max_keys: usize) -> Self {
        RateLimiter {
            name: "memory",
            limit,
            window,
            store: Store::Memory {
                max_keys: max_keys.max(1),
                windows: Mutex::new(Windows {
                    seed: RandomState::new(),
                    by_key: HashMap::new(),
                }),
            },
        }
    }

    /// A limiter counting in `pool`'s `rate_limits` under `name`, or in memory without a pool.
    pub fn in_store(
        name: &'static str,
        limit: u32,
        window: Duration,
        pool: Option<&PgPool>,
    ) -> Self {
        match pool {
            Some(pool) => RateLimiter {
                name,
                limit,
                window,
                store: Store::Shared(pool.clone()),
            },
            None => RateLimiter {
                name,
                ..Self::new(limit, window)
            },
        }
    }

    /// Counts one attempt for `key`, or refuses it past the limit. The check and the count are
    /// one step (under the lock, or one statement), so attempts arriving together cannot all
    /// pass before any counts: call it before the work it guards.
    ///
    /// A shared store the database cannot reach lets the attempt through, with a warning: what
    /// the limits guard needs the same database, and fails on its own.
    pub async fn hit(&self, key: &str) -> Result<(), Limited> {
        let pool = match &self.store {
            Store::Memory { .. } => return self.take(key),
            Store::Shared(pool) => pool,
        };
        let limit = i32::try_from(self.limit).unwrap_or(i32::MAX);
        let window = self.window.as_secs_f64();
        match db::limits::hit(pool, self.name, &shared_key(key), window, limit).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Limited(self.rest_of_bucket())),
            Err(e) => {
                tracing::warn!(limiter = self.name, error = %e, "rate limit not counted");
                Ok(())
            }
        }
    }

    /// Takes back one attempt `hit` counted in the current window: what it guarded turned out
    /// not to be what the limit counts (a sign-in that was right was not a failure).
    pub async fn refund(&self, key: &str) {
        let windows = match &self.store {
            Store::Memory { windows, .. } => windows,
            Store::Shared(pool) => {
                let window = self.window.as_secs_f64();
                if let Err(e) = db::limits::refund(pool, self.name, &shared_key(key), window).await
                {
                    tracing::warn!(limiter = self.name, error = %e, "rate limit not refunded");
                }
                return;
            }
        };
        let now = Instant::now();
        let mut windows = windows.lock().unwrap_or_else(PoisonError::into_inner);
        let hash = windows.seed.hash_one(key);
        if let Some(w) = windows.by_key.get_mut(&hash) {
            if now.duration_since(w.start) < self.window {
                w.count = w.count.saturating_sub(1);
            }
        }
    }

    /// How long until the shared store's current bucket ends (on this instance's clock, which
    /// is close enough for a `Retry-After`).
    fn rest_of_bucket(&self) -> Duration {
        let window = self.window.as_millis().max(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        Duration::from_millis((window - now % window) as u64)
    }

    fn take(&self, key: &str) -> Result<(), Limited> {
        let Store::Memory { max_keys, windows } = &self.store else {
            unreachable!("only memory limiters take in this process");
        };
        let now = Instant::now();
        // Counters only: a panic elsewhere while the lock was held leaves nothing half-done.
        let mut windows = windows.lock().unwrap_or_else(PoisonError::into_inner);
        let hash = windows.seed.hash_one(key);
        if !windows.by_key.contains_key(&hash) && windows.by_key.len() >= *max_keys {
            make_room(&mut windows.by_key, now, self.window, *max_keys);
        }
        let window = windows.by_key.entry(hash).or_insert(Window {
            start: now,
            count: 0,
        });
        let elapsed = now.duration_since(window.start);
        if elapsed >= self.window {
            *window = Window {
                start: now,
                count: 0,
            };
        } else if window.count >= self.limit {
            return Err(Limited(self.window - elapsed));
        }
        window.count += 1;
        Ok(())
    }
}

/// Drops the finished windows and, if that is not enough, the oldest ones, until a sixteenth of
/// the table is free (so a flood of new keys pays for one pass per many keys, not one per key).
///
/// Why the oldest are dropped rather than new keys refused: refusing would let whoever fills the
/// table lock every new client out. Dropping lets a client start afresh only once more distinct
/// keys than `max_keys` have arrived since its window began, and whoever commands that many keys
/// already has `max_keys` times the limit to spend.
fn make_room(by_key: &mut HashMap<u64, Window>, now: Instant, window: Duration, max_keys: usize) {
    by_key.retain(|_, w| now.duration_since(w.start) < window);
    let keep = max_keys - max_keys.div_ceil(16);
    if by_key.len() <= keep {
        return;
    }
    let mut starts: Vec<Instant> = by_key.values().map(|w| w.start).collect();
    let excess = by_key.len() - keep;
    let (_, cutoff, _) = starts.select_nth_unstable(excess - 1);
    let cutoff = *cutoff;
    by_key.retain(|_, w| w.start > cutoff);
}

/// A key as the shared store keeps it: 16 bytes of its SHA-256, so emails and addresses are not
/// stored as they are, and every instance hashes a key alike.
fn shared_key(key: &str) -> [u8; 16] {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[cfg(test)]
impl RateLimiter {
    fn len(&self) -> usize {
        match &self.store {
            Store::Memory { windows, .. } => windows
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .by_key
                .len(),
            Store::Shared(_) => 0,
        }
    }
}

/// How long a sign-in waits before its password is checked once its account has had more
/// failures from everywhere than `sign_in_account` allows.
pub const SLOWED_SIGN_IN: Duration = Duration::from_secs(2);

/// The limits on account actions.
#[derive(Debug)]
pub struct AuthLimits {
    /// Sign-in attempts from one client.
    pub sign_in_client: RateLimiter,
    /// Failed attempts on one account from one client: past it, that client is refused for the
    /// account, and nobody else is.
    sign_in_failures: RateLimiter,
    /// Failed attempts on one account from all clients together: past it, sign-ins to the
    /// account are slowed down, never refused, so strangers cannot lock the owner out.
    sign_in_account: RateLimiter,
    pub sign_up_client: RateLimiter,
    pub sign_up_email: RateLimiter,
    /// Checkout Sessions created for one client: each one is a call on the Stripe account's
    /// own API rate limit, which a flood must not spend.
    pub checkout_client: RateLimiter,
}

/// A sign-in attempt, counted as a failure until `AuthLimits::signed_in` says otherwise.
#[derive(Debug)]
#[must_use = "a sign-in that succeeds must be given back with `AuthLimits::signed_in`"]
pub struct SignInAttempt {
    pair: String,
    account: String,
    /// Whether it was counted on the account (it is not once the account is being slowed).
    on_account: bool,
    /// How long to wait before checking the password.
    pub delay: Option<Duration>,
}

impl AuthLimits {
    /// `sign_ups_per_address`: sign-ups one address may make in an hour (`SIGN_UPS_PER_ADDRESS`);
    /// `checkouts_per_address`: Checkout Sessions one address may create in 10 minutes
    /// (`CHECKOUTS_PER_ADDRESS`). An office or a test run behind one address needs more than the
    /// defaults. `shared`: the PostgreSQL every instance counts in (none on SQLite: memory).
    pub fn new(
        sign_ups_per_address: u32,
        checkouts_per_address: u32,
        shared: Option<&PgPool>,
    ) -> Self {
        let ten_minutes = Duration::from_secs(600);
        let hour = Duration::from_secs(3600);
        let limiter = |name, limit, window| RateLimiter::in_store(name, limit, window, shared);
        AuthLimits {
            sign_in_client: limiter("sign_in_client", 30, ten_minutes),
            sign_in_failures: limiter("sign_in_failures", 5, ten_minutes),
            sign_in_account: limiter("sign_in_account", 100, ten_minutes),
            sign_up_client: limiter("sign_up_client", sign_ups_per_address, hour),
            sign_up_email: limiter("sign_up_email", 5, hour),
            checkout_client: limiter("checkout_client", checkouts_per_address, ten_minutes),
        }
    }

    /// Counts a sign-in to `email` from `client` as a failure before its password is checked
    /// (so guesses sent together cannot all be checked before any is counted). Refused past 5
    /// failures from this client on this account in 10 minutes; past 100 from everywhere, let
    /// through after `delay`.
    pub async fn begin_sign_in(
        &self,
        email: &Email,
        client: &ClientKey,
    ) -> Result<SignInAttempt, Limited> {
        // A newline is in neither an email nor a client key: the pair reads one way only.
        let pair = format!("{}\n{}", email.as_str(), client.as_str());
        self.sign_in_failures.hit(&pair).await?;
        let account = email.as_str().to_string();
        let on_account = self.sign_in_account.hit(&account).await.is_ok();
        Ok(SignInAttempt {
            pair,
            account,
            on_account,
            delay: (!on_account).then_some(SLOWED_SIGN_IN),
        })
    }

    /// The password was right: the attempt was no failure.
    pub async fn signed_in(&self, attempt: SignInAttempt) {
        self.sign_in_failures.refund(&attempt.pair).await;
        if attempt.on_account {
            self.sign_in_account.refund(&attempt.account).await;
        }
    }

    /// Deletes the shared store's ended buckets every minute, for as long as the task runs
    /// (nothing to do when counting in memory).
    pub fn spawn_sweeper(&self) -> Option<tokio::task::JoinHandle<()>> {
        let Store::Shared(pool) = &self.sign_in_client.store else {
            return None;
        };
        let pool = pool.clone();
        Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Err(e) = db::limits::sweep(&pool).await {
                    tracing::warn!(error = %e, "cannot sweep ended rate-limit buckets");
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::IpAddr;
    use std::sync::Arc;

    fn client(ip: &str) -> ClientKey {
        ClientKey::of(ip.parse::<IpAddr>().unwrap())
    }

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_key_is_refused_past_its_limit_and_others_are_not() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.hit("a").await.is_ok());
        assert!(limiter.hit("a").await.is_ok());
        assert!(limiter.hit("a").await.is_err());
        assert!(limiter.hit("b").await.is_ok());
    }

    #[tokio::test]
    async fn a_window_ends() {
        let limiter = RateLimiter::new(1, Duration::from_millis(20));
        assert!(limiter.hit("a").await.is_ok());
        assert!(limiter.hit("a").await.is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.hit("a").await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn attempts_sent_together_are_counted_before_any_passes() {
        let limiter = Arc::new(RateLimiter::new(5, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.hit("a").await.is_ok() })
            })
            .collect();
        let mut passed = 0;
        for task in tasks {
            passed += usize::from(task.await.unwrap());
        }
        assert_eq!(passed, 5);
    }

    #[tokio::test]
    async fn a_refund_gives_one_attempt_back() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        assert!(limiter.hit("a").await.is_ok());
        limiter.refund("a").await;
        assert!(limiter.hit("a").await.is_ok());
        assert!(limiter.hit("a").await.is_err());
        limiter.refund("never seen").await;
        assert_eq!(limiter.len(), 1, "a refund creates nothing");
    }

    #[tokio::test]
    async fn a_flood_of_distinct_keys_never_holds_more_than_the_cap() {
        let limiter = RateLimiter::with_max_keys(1, Duration::from_secs(60), 1_000);
        for i in 0..20_000 {
            assert!(
                limiter.hit(&format!("flood-{i}")).await.is_ok(),
                "new keys are let in"
            );
            assert!(limiter.len() <= 1_000);
        }
        // The newest keep their count.
        assert!(limiter.hit("flood-19999").await.is_err());
    }

    #[tokio::test]
    async fn finished_windows_are_dropped_before_any_live_one() {
        let limiter = RateLimiter::with_max_keys(1, Duration::from_millis(300), 100);
        for i in 0..99 {
            limiter.hit(&format!("old-{i}")).await.unwrap();
        }
        std::thread::sleep(Duration::from_millis(350));
        limiter.hit("live").await.unwrap();
        limiter.hit("new").await.unwrap();
        assert_eq!(limiter.len(), 2, "only the finished windows went");
        assert!(
            limiter.hit("live").await.is_err(),
            "the live window kept its count"
        );
    }

    #[tokio::test]
    async fn failed_sign_ins_lock_out_one_client_not_the_owner() {
        let limits = AuthLimits::new(10, 20, None);
        let ada = email("ada@example.com");
        let (stranger, owner) = (client("198.51.100.7"), client("203.0.113.9"));
        for _ in 0..5 {
            let _failed = limits.begin_sign_in(&ada, &stranger).await.unwrap();
        }
        assert!(limits.begin_sign_in(&ada, &stranger).await.is_err());
        // The owner, elsewhere, signs in; and their success costs them nothing.
        for _ in 0..10 {
            let attempt = limits.begin_sign_in(&ada, &owner).await.unwrap();
            assert_eq!(attempt.delay, None);
            limits.signed_in(attempt).await;
        }
        // Another account from the stranger's address is its own count.
        assert!(limits
            .begin_sign_in(&email("bob@example.com"), &stranger)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn many_clients_failing_on_one_account_slow_it_down_and_never_lock_it() {
        let limits = AuthLimits::new(10, 20, None);
        let ada = email("ada@example.com");
        for i in 0..100 {
            let attempt = limits
                .begin_sign_in(&ada, &client(&format!("10.0.{}.{}", i / 250, i % 250)))
                .await
                .unwrap();
            assert_eq!(attempt.delay, None, "attempt {i}");
        }
        let owner = client("203.0.113.9");
        let attempt = limits.begin_sign_in(&ada, &owner).await.unwrap();
        assert_eq!(attempt.delay, Some(SLOWED_SIGN_IN));
        limits.signed_in(attempt).await;
        // Slowed, not counted: a success gives back only what was taken.
        let attempt = limits.begin_sign_in(&ada, &owner).await.unwrap();
        assert_eq!(attempt.delay, Some(SLOWED_SIGN_IN));
        limits.signed_in(attempt).await;
    }

    #[tokio::test]
    async fn an_ipv6_client_is_its_64() {
        let limits = AuthLimits::new(10, 20, None);
        let buyer = client("2001:db8:1:2::1");
        for _ in 0..10 {
            assert!(limits.sign_up_client.hit(buyer.as_str()).await.is_ok());
        }
        // Another address in the same /64 is the same client.
        let same = client("2001:db8:1:2::ffff");
        assert!(limits.sign_up_client.hit(same.as_str()).await.is_err());
        assert!(limits
            .sign_up_client
            .hit(client("2001:db8:1:3::1").as_str())
            .await
            .is_ok());
    }
}
