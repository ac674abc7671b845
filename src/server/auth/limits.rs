//! Fixed-window rate limits for sign-in, sign-up and Checkout, per client (`ClientKey`) and per
//! email. Kept in memory: one process is the unit we run; a restart forgives everyone.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::email::Email;
use crate::server::client_addr::ClientKey;

/// The most keys one limiter holds. At ~40 bytes a key (keys are kept as hashes, whatever their
/// length) this is a few megabytes, however many distinct keys arrive.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    max_keys: usize,
    windows: Mutex<Windows>,
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
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_max_keys(limit, window, MAX_KEYS)
    }

    fn with_max_keys(limit: u32, window: Duration, max_keys: usize) -> Self {
        RateLimiter {
            limit,
            window,
            max_keys: max_keys.max(1),
            windows: Mutex::new(Windows {
                seed: RandomState::new(),
                by_key: HashMap::new(),
            }),
        }
    }

    /// Counts one attempt for `key`, or refuses it past the limit. The check and the count are
    /// one step under the lock, so attempts arriving together cannot all pass before any counts:
    /// call it before the work it guards.
    pub fn hit(&self, key: &str) -> Result<(), Limited> {
        self.take(key)
    }

    /// Takes back one attempt `hit` counted in the current window: what it guarded turned out
    /// not to be what the limit counts (a sign-in that was right was not a failure).
    pub fn refund(&self, key: &str) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let hash = windows.seed.hash_one(key);
        if let Some(w) = windows.by_key.get_mut(&hash) {
            if now.duration_since(w.start) < self.window {
                w.count = w.count.saturating_sub(1);
            }
        }
    }

    fn take(&self, key: &str) -> Result<(), Limited> {
        let now = Instant::now();
        // Counters only: a panic elsewhere while the lock was held leaves nothing half-done.
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let hash = windows.seed.hash_one(key);
        if !windows.by_key.contains_key(&hash) && windows.by_key.len() >= self.max_keys {
            self.make_room(&mut windows.by_key, now);
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

    /// Drops the finished windows and, if that is not enough, the oldest ones, until a sixteenth
    /// of the table is free (so a flood of new keys pays for one pass per many keys, not one per
    /// key).
    ///
    /// Why the oldest are dropped rather than new keys refused: refusing would let whoever fills
    /// the table lock every new client out. Dropping lets a client start afresh only once more
    /// distinct keys than `max_keys` have arrived since its window began, and whoever commands
    /// that many keys already has `max_keys` times the limit to spend.
    fn make_room(&self, by_key: &mut HashMap<u64, Window>, now: Instant) {
        by_key.retain(|_, w| now.duration_since(w.start) < self.window);
        let keep = self.max_keys - self.max_keys.div_ceil(16);
        if by_key.len() <= keep {
            return;
        }
        let mut starts: Vec<Instant> = by_key.values().map(|w| w.start).collect();
        let excess = by_key.len() - keep;
        let (_, cutoff, _) = starts.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        by_key.retain(|_, w| w.start > cutoff);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .len()
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
    /// defaults.
    pub fn new(sign_ups_per_address: u32, checkouts_per_address: u32) -> Self {
        let ten_minutes = Duration::from_secs(600);
        let hour = Duration::from_secs(3600);
        AuthLimits {
            sign_in_client: RateLimiter::new(30, ten_minutes),
            sign_in_failures: RateLimiter::new(5, ten_minutes),
            sign_in_account: RateLimiter::new(100, ten_minutes),
            sign_up_client: RateLimiter::new(sign_ups_per_address, hour),
            sign_up_email: RateLimiter::new(5, hour),
            checkout_client: RateLimiter::new(checkouts_per_address, ten_minutes),
        }
    }

    /// Counts a sign-in to `email` from `client` as a failure before its password is checked
    /// (so guesses sent together cannot all be checked before any is counted). Refused past 5
    /// failures from this client on this account in 10 minutes; past 100 from everywhere, let
    /// through after `delay`.
    pub fn begin_sign_in(
        &self,
        email: &Email,
        client: &ClientKey,
    ) -> Result<SignInAttempt, Limited> {
        // A newline is in neither an email nor a client key: the pair reads one way only.
        let pair = format!("{}\n{}", email.as_str(), client.as_str());
        self.sign_in_failures.hit(&pair)?;
        let account = email.as_str().to_string();
        let on_account = self.sign_in_account.hit(&account).is_ok();
        Ok(SignInAttempt {
            pair,
            account,
            on_account,
            delay: (!on_account).then_some(SLOWED_SIGN_IN),
        })
    }

    /// The password was right: the attempt was no failure.
    pub fn signed_in(&self, attempt: SignInAttempt) {
        self.sign_in_failures.refund(&attempt.pair);
        if attempt.on_account {
            self.sign_in_account.refund(&attempt.account);
        }
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

    #[test]
    fn a_key_is_refused_past_its_limit_and_others_are_not() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_err());
        assert!(limiter.hit("b").is_ok());
    }

    #[test]
    fn a_window_ends() {
        let limiter = RateLimiter::new(1, Duration::from_millis(20));
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.hit("a").is_ok());
    }

    #[test]
    fn attempts_sent_together_are_counted_before_any_passes() {
        let limiter = Arc::new(RateLimiter::new(5, Duration::from_secs(60)));
        let threads: Vec<_> = (0..64)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || limiter.hit("a").is_ok())
            })
            .collect();
        let passed = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(passed, 5);
    }

    #[test]
    fn a_refund_gives_one_attempt_back() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        assert!(limiter.hit("a").is_ok());
        limiter.refund("a");
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_err());
        limiter.refund("never seen");
        assert_eq!(limiter.len(), 1, "a refund creates nothing");
    }

    #[test]
    fn a_flood_of_distinct_keys_never_holds_more_than_the_cap() {
        let limiter = RateLimiter::with_max_keys(1, Duration::from_secs(60), 1_000);
        for i in 0..20_000 {
            assert!(
                limiter.hit(&format!("flood-{i}")).is_ok(),
                "new keys are let in"
            );
            assert!(limiter.len() <= 1_000);
        }
        // The newest keep their count.
        assert!(limiter.hit("flood-19999").is_err());
    }

    #[test]
    fn finished_windows_are_dropped_before_any_live_one() {
        let limiter = RateLimiter::with_max_keys(1, Duration::from_millis(300), 100);
        for i in 0..99 {
            limiter.hit(&format!("old-{i}")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(350));
        limiter.hit("live").unwrap();
        limiter.hit("new").unwrap();
        assert_eq!(limiter.len(), 2, "only the finished windows went");
        assert!(
            limiter.hit("live").is_err(),
            "the live window kept its count"
        );
    }

    #[test]
    fn failed_sign_ins_lock_out_one_client_not_the_owner() {
        let limits = AuthLimits::new(10, 20);
        let ada = email("ada@example.com");
        let (stranger, owner) = (client("198.51.100.7"), client("203.0.113.9"));
        for _ in 0..5 {
            let _failed = limits.begin_sign_in(&ada, &stranger).unwrap();
        }
        assert!(limits.begin_sign_in(&ada, &stranger).is_err());
        // The owner, elsewhere, signs in; and their success costs them nothing.
        for _ in 0..10 {
            let attempt = limits.begin_sign_in(&ada, &owner).unwrap();
            assert_eq!(attempt.delay, None);
            limits.signed_in(attempt);
        }
        // Another account from the stranger's address is its own count.
        assert!(limits
            .begin_sign_in(&email("bob@example.com"), &stranger)
            .is_ok());
    }

    #[test]
    fn many_clients_failing_on_one_account_slow_it_down_and_never_lock_it() {
        let limits = AuthLimits::new(10, 20);
        let ada = email("ada@example.com");
        for i in 0..100 {
            let attempt = limits
                .begin_sign_in(&ada, &client(&format!("10.0.{}.{}", i / 250, i % 250)))
                .unwrap();
            assert_eq!(attempt.delay, None, "attempt {i}");
        }
        let owner = client("203.0.113.9");
        let attempt = limits.begin_sign_in(&ada, &owner).unwrap();
        assert_eq!(attempt.delay, Some(SLOWED_SIGN_IN));
        limits.signed_in(attempt);
        // Slowed, not counted: a success gives back only what was taken.
        let attempt = limits.begin_sign_in(&ada, &owner).unwrap();
        assert_eq!(attempt.delay, Some(SLOWED_SIGN_IN));
        limits.signed_in(attempt);
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let limits = AuthLimits::new(10, 20);
        let buyer = client("2001:db8:1:2::1");
        for _ in 0..10 {
            assert!(limits.sign_up_client.hit(buyer.as_str()).is_ok());
        }
        // Another address in the same /64 is the same client.
        let same = client("2001:db8:1:2::ffff");
        assert!(limits.sign_up_client.hit(same.as_str()).is_err());
        assert!(limits
            .sign_up_client
            .hit(client("2001:db8:1:3::1").as_str())
            .is_ok());
    }
}
