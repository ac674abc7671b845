//! Fixed-window rate limits for sign-in and sign-up, per client address and per email. Kept in
//! memory: one process is the unit we run; a restart forgives everyone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Over the limit; try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited(pub Duration);

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt for `key`.
    pub fn hit(&self, key: &str) -> Result<(), Limited> {
        self.take(key, true)
    }

    /// Says whether `key` is already over the limit, without counting.
    pub fn check(&self, key: &str) -> Result<(), Limited> {
        self.take(key, false)
    }

    fn take(&self, key: &str, count: bool) -> Result<(), Limited> {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limiter lock");
        if windows.len() > 10_000 {
            // Bounded memory under a flood of distinct keys: drop the finished windows.
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(Limited(self.window - now.duration_since(entry.0)));
        }
        if count {
            entry.1 += 1;
        }
        Ok(())
    }
}

/// The limits on account actions.
#[derive(Debug)]
pub struct AuthLimits {
    /// Attempts from one address.
    pub sign_in_client: RateLimiter,
    /// Failed attempts on one account.
    pub sign_in_email: RateLimiter,
    pub sign_up_client: RateLimiter,
    pub sign_up_email: RateLimiter,
}

impl AuthLimits {
    /// `sign_ups_per_address`: sign-ups one address may make in an hour (`SIGN_UPS_PER_ADDRESS`;
    /// an office or a test run behind one address needs more than the default).
    pub fn new(sign_ups_per_address: u32) -> Self {
        let ten_minutes = Duration::from_secs(600);
        let hour = Duration::from_secs(3600);
        AuthLimits {
            sign_in_client: RateLimiter::new(30, ten_minutes),
            sign_in_email: RateLimiter::new(5, ten_minutes),
            sign_up_client: RateLimiter::new(sign_ups_per_address, hour),
            sign_up_email: RateLimiter::new(5, hour),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_past_its_limit_and_others_are_not() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.check("a").is_ok());
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_err());
        assert!(limiter.check("a").is_err());
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
}
