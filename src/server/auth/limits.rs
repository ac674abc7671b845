//! Fixed-window rate limits for sign-in, sign-up and Checkout, per client (`ClientKey`) and per
//! email.
//!
//! Where they are counted follows the database: on PostgreSQL, which several instances may
//! share, in the database (`db::limits`: one upsert per attempt, so N instances still allow the
//! limit once, not N times); on SQLite, a one-process set-up, in memory, where a restart forgives
//! everyone.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Limited(self.rest_of_bucket())),
            Err(e) => {
                tracing::warn!(limiter = self.name, error = %e, "rate limit not counted");
                Ok(())
            }
        }
    }

    /// Counts one event for `key` and answers how many this window holds with it, never
    /// refusing (a limiter used as a counter). A shared store the database cannot reach
    /// answers 1, with a warning.
    pub async fn count(&self, key: &str) -> u32 {
        let pool = match &self.store {
            Store::Memory { .. } => return self.take_counting(key, false).map_or(u32::MAX, |n| n),
            Store::Shared(pool) => pool,
        };
        let window = self.window.as_secs_f64();
        match db::limits::hit(pool, self.name, &shared_key(key), window, i32::MAX).await {
            Ok(hits) => hits.map_or(u32::MAX, |h| u32::try_from(h).unwrap_or(0)),
            Err(e) => {
                tracing::warn!(limiter = self.name, error = %e, "event not counted");
                1
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
        self.take_counting(key, true).map(drop)
    }

    /// Counts one for `key` in memory, refused past the limit when `limited`; the window's
    /// count with it.
    fn take_counting(&self, key: &str, limited: bool) -> Result<u32, Limited> {
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
        } else if limited && window.count >= self.limit {
            return Err(Limited(self.window - elapsed));
        }
        window.count = window.count.saturating_add(1);
        Ok(window.count)
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

/// Failed password checks an account may have in an hour (from everywhere) before each further
/// check waits: one second more per failure past these, up to `MAX_DELAY`.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait before one password check of an account.
pub const MAX_DELAY: Duration = Duration::from_secs(15);
/// Sign-ins that may wait for an account's turn while one is checked; more are refused (429).
pub const MAX_WAITING: usize = 2;

/// How long the check of an account's password waits, `failures` (this one included) having
/// been counted on it this hour.
pub fn delay_after(failures: u32) -> Duration {
    let over = failures.saturating_sub(FREE_FAILURES);
    Duration::from_secs(u64::from(over)).min(MAX_DELAY)
}

/// The most password checks one account can get in an hour on one instance, however many
/// addresses guess: the free ones, then one per delay as it grows to `MAX_DELAY` and stays.
pub fn worst_case_checks_per_hour() -> u32 {
    let hour = Duration::from_secs(3600);
    let (mut spent, mut checks) = (Duration::ZERO, 0u32);
    loop {
        let next = spent + delay_after(checks + 1);
        if next > hour {
            return checks;
        }
        spent = next;
        checks += 1;
    }
}

/// One password check at a time per account (on this instance), with room for `MAX_WAITING`
/// more to wait: a flood against one account holds one hasher core, never all of them, and
/// everyone else's sign-in goes on.
#[derive(Debug, Default)]
struct Turns {
    by_account: Mutex<HashMap<String, Arc<Turn>>>,
}

#[derive(Debug, Default)]
struct Turn {
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Sign-ins holding or waiting for the turn.
    queued: AtomicUsize,
}

/// An account's turn, held until the password is checked; the next waiter goes then.
#[derive(Debug)]
struct HeldTurn {
    turns: Arc<Turns>,
    account: String,
    turn: Arc<Turn>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for `account`'s turn, or refuses at once when `MAX_WAITING` already wait.
    async fn take(self: &Arc<Self>, account: &str) -> Result<HeldTurn, Limited> {
        let turn = {
            let mut map = self
                .by_account
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let turn = map.entry(account.to_string()).or_default().clone();
            if turn.queued.load(Ordering::SeqCst) > MAX_WAITING {
                return Err(Limited(MAX_DELAY));
            }
            turn.queued.fetch_add(1, Ordering::SeqCst);
            turn
        };
        let mut held = HeldTurn {
            turns: self.clone(),
            account: account.to_string(),
            turn: turn.clone(),
            guard: None,
        };
        held.guard = Some(turn.lock.clone().lock_owned().await);
        Ok(held)
    }
}

impl Drop for HeldTurn {
    fn drop(&mut self) {
        // The turn goes to the next waiter first; then this sign-in stops counting.
        drop(self.guard.take());
        let mut map = self
            .turns
            .by_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The last one out takes the account's entry away: the map holds only live turns.
        if self.turn.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            map.remove(&self.account);
        }
    }
}

/// The limits on account actions.
#[derive(Debug)]
pub struct AuthLimits {
    /// Sign-in attempts from one client, and from its network (IPv4 /24, IPv6 /48).
    sign_in_client: RateLimiter,
    sign_in_network: RateLimiter,
    /// Failed attempts on one account from one client: past it, that client is refused for the
    /// account, and nobody else is.
    sign_in_failures: RateLimiter,
    /// Failed attempts on one account from all clients together, counted (never refused): each
    /// past `FREE_FAILURES` makes the next check wait longer.
    sign_in_account: RateLimiter,
    turns: Arc<Turns>,
    sign_up_client: RateLimiter,
    sign_up_network: RateLimiter,
    /// Sign-ups, resends and reset requests for one email: its inbox is not flooded.
    pub sign_up_email: RateLimiter,
    /// Checkout Sessions created for one client and network: each one is a call on the Stripe
    /// account's own API rate limit, which a flood must not spend.
    checkout_client: RateLimiter,
    checkout_network: RateLimiter,
}

/// A sign-in attempt, counted as a failure until `AuthLimits::signed_in` says otherwise. It
/// holds the account's turn until it is dropped.
#[derive(Debug)]
#[must_use = "a sign-in that succeeds must be given back with `AuthLimits::signed_in`"]
pub struct SignInAttempt {
    pair: String,
    account: String,
    /// How long it waited for its turn and its delay.
    pub waited: Duration,
    _turn: HeldTurn,
}

/// A network's limit, from its clients': three clients' worth.
const PER_NETWORK: u32 = 3;

/// What one client address may do: sign-ups an hour (`SIGN_UPS_PER_ADDRESS`), sign-ins per 10
/// minutes (`SIGN_INS_PER_ADDRESS`), Checkout Sessions per 10 minutes (`CHECKOUTS_PER_ADDRESS`).
/// An office or a test run behind one address needs more than the defaults.
#[derive(Debug, Clone, Copy)]
pub struct PerAddress {
    pub sign_ups: u32,
    pub sign_ins: u32,
    pub checkouts: u32,
}

impl AuthLimits {
    /// `per_address`: what one address may do; a network (IPv4 /24, IPv6 /48) gets three
    /// addresses' worth. `shared`: the PostgreSQL every instance counts in (none on SQLite:
    /// memory).
    pub fn new(per_address: PerAddress, shared: Option<&PgPool>) -> Self {
        let ten_minutes = Duration::from_secs(600);
        let hour = Duration::from_secs(3600);
        let limiter = |name, limit, window| RateLimiter::in_store(name, limit, window, shared);
        let network = |n: u32| n.saturating_mul(PER_NETWORK);
        AuthLimits {
            sign_in_client: limiter("sign_in_client", per_address.sign_ins, ten_minutes),
            sign_in_network: limiter(
                "sign_in_network",
                network(per_address.sign_ins),
                ten_minutes,
            ),
            sign_in_failures: limiter("sign_in_failures", 5, ten_minutes),
            sign_in_account: limiter("sign_in_account", u32::MAX, hour),
            turns: Arc::default(),
            sign_up_client: limiter("sign_up_client", per_address.sign_ups, hour),
            sign_up_network: limiter("sign_up_network", network(per_address.sign_ups), hour),
            sign_up_email: limiter("sign_up_email", 5, hour),
            checkout_client: limiter("checkout_client", per_address.checkouts, ten_minutes),
            checkout_network: limiter(
                "checkout_network",
                network(per_address.checkouts),
                ten_minutes,
            ),
        }
    }

    /// One sign-up (or resend, or reset request: `what` keeps their counts apart) from `client`.
    pub async fn sign_up_from(&self, what: &str, client: &ClientKey) -> Result<(), Limited> {
        self.sign_up_client
            .hit(&format!("{what}{}", client.as_str()))
            .await?;
        self.sign_up_network
            .hit(&format!("{what}{}", client.network()))
            .await
    }

    /// One Checkout Session for `client`.
    pub async fn checkout_from(&self, client: &ClientKey) -> Result<(), Limited> {
        self.checkout_client.hit(client.as_str()).await?;
        self.checkout_network.hit(client.network()).await
    }

    /// One sign-in (or password typed on a confirmation page) from `client`.
    pub async fn sign_in_from(&self, client: &ClientKey) -> Result<(), Limited> {
        self.sign_in_client.hit(client.as_str()).await?;
        self.sign_in_network.hit(client.network()).await
    }

    /// Makes ready to check a password of `email`'s account from `client`: refused past 5
    /// failures from this client on this account in 10 minutes, or when `MAX_WAITING` sign-ins
    /// already wait for the account's turn. Otherwise it waits for the turn, counts itself as a
    /// failure on the account (so guesses sent together cannot all be checked before any is
    /// counted), and waits `delay_after` that count. A success gives the counts back.
    pub async fn begin_sign_in(
        &self,
        email: &Email,
        client: &ClientKey,
    ) -> Result<SignInAttempt, Limited> {
        let started = tokio::time::Instant::now();
        // A newline is in neither an email nor a client key: the pair reads one way only.
        let pair = format!("{}\n{}", email.as_str(), client.as_str());
        self.sign_in_failures.hit(&pair).await?;
        let account = email.as_str().to_string();
        let turn = match self.turns.take(&account).await {
            Ok(turn) => turn,
            Err(limited) => {
                // No password was checked: nothing to count against the pair.
                self.sign_in_failures.refund(&pair).await;
                return Err(limited);
            }
        };
        let failures = self.sign_in_account.count(&account).await;
        tokio::time::sleep(delay_after(failures)).await;
        Ok(SignInAttempt {
            pair,
            account,
            waited: started.elapsed(),
            _turn: turn,
        })
    }

    /// The password was right: the attempt was no failure.
    pub async fn signed_in(&self, attempt: SignInAttempt) {
        self.sign_in_failures.refund(&attempt.pair).await;
        self.sign_in_account.refund(&attempt.account).await;
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

    /// The configuration's defaults.
    const DEFAULTS: PerAddress = PerAddress {
        sign_ups: 10,
        sign_ins: 30,
        checkouts: 20,
    };

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

    #[tokio::test(start_paused = true)]
    async fn failed_sign_ins_lock_out_one_client_not_the_owner() {
        let limits = AuthLimits::new(DEFAULTS, None);
        let ada = email("ada@example.com");
        let (stranger, owner) = (client("198.51.100.7"), client("203.0.113.9"));
        for _ in 0..5 {
            let _failed = limits.begin_sign_in(&ada, &stranger).await.unwrap();
        }
        assert!(limits.begin_sign_in(&ada, &stranger).await.is_err());
        // The owner, elsewhere, signs in, waiting the second the sixth failure earned; and
        // their successes cost them nothing.
        for _ in 0..10 {
            let attempt = limits.begin_sign_in(&ada, &owner).await.unwrap();
            assert_eq!(attempt.waited, Duration::from_secs(1));
            limits.signed_in(attempt).await;
        }
        // Another account from the stranger's address is its own count.
        let bob = limits
            .begin_sign_in(&email("bob@example.com"), &stranger)
            .await
            .unwrap();
        assert_eq!(bob.waited, Duration::ZERO);
    }

    #[test]
    fn each_failure_past_five_waits_a_second_more_up_to_fifteen() {
        assert_eq!(delay_after(1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES + 1), Duration::from_secs(1));
        assert_eq!(delay_after(FREE_FAILURES + 9), Duration::from_secs(9));
        assert_eq!(delay_after(1_000), MAX_DELAY);
        // The README's figure.
        assert_eq!(worst_case_checks_per_hour(), 252);
    }

    #[tokio::test(start_paused = true)]
    async fn one_check_at_a_time_per_account_and_only_two_may_wait() {
        let limits = Arc::new(AuthLimits::new(DEFAULTS, None));
        let ada = email("ada@example.com");
        let first = limits
            .begin_sign_in(&ada, &client("198.51.100.1"))
            .await
            .unwrap();
        let waiting: Vec<_> = (2..=3)
            .map(|i| {
                let (limits, ada) = (limits.clone(), ada.clone());
                tokio::spawn(async move {
                    let who = client(&format!("198.51.100.{i}"));
                    let _attempt = limits.begin_sign_in(&ada, &who).await.unwrap();
                })
            })
            .collect();
        tokio::task::yield_now().await;
        // Two wait for Ada's turn: a third is refused at once, and it cost no failure.
        let refused = limits.begin_sign_in(&ada, &client("198.51.100.4")).await;
        assert_eq!(refused.unwrap_err(), Limited(MAX_DELAY));
        // Bob's account is not held up by Ada's.
        let bob = limits
            .begin_sign_in(&email("bob@example.com"), &client("198.51.100.4"))
            .await
            .unwrap();
        assert_eq!(bob.waited, Duration::ZERO);
        drop(first);
        for task in waiting {
            task.await.unwrap();
        }
        assert!(limits
            .turns
            .by_account
            .lock()
            .unwrap()
            .contains_key("bob@example.com"));
        drop(bob);
        assert!(
            limits.turns.by_account.lock().unwrap().is_empty(),
            "no turn left behind"
        );
    }

    #[tokio::test]
    async fn an_ipv6_client_is_its_64_and_its_48_holds_four_clients() {
        let limits = AuthLimits::new(DEFAULTS, None);
        let buyer = client("2001:db8:1:2::1");
        for _ in 0..10 {
            assert!(limits.sign_up_from("", &buyer).await.is_ok());
        }
        // Another address in the same /64 is the same client.
        assert!(limits
            .sign_up_from("", &client("2001:db8:1:2::ffff"))
            .await
            .is_err());
        // Other /64s of the same /48 share its 30.
        let mut passed = 0;
        for i in 3..100 {
            let other = client(&format!("2001:db8:1:{i:x}::1"));
            passed += usize::from(limits.sign_up_from("", &other).await.is_ok());
        }
        assert_eq!(passed, 20);
        assert!(limits
            .sign_up_from("", &client("2001:db8:2::1"))
            .await
            .is_ok());
    }
}
