//! When a call to Stripe is tried again, and how long its caller may wait in all.
//!
//! Stripe asks clients to retry connection errors, timeouts, 409 (a lock held by another request)
//! and 429 (its rate limit) and 5xx with exponential backoff, and says so per answer with the
//! `Stripe-Should-Retry` header, which wins over the status. A retry is safe because every POST
//! carries one Idempotency-Key for all its tries (see `Stripe::call`): Stripe does the work at
//! most once and replays its first answer.

use std::time::Duration;

use super::StripeError;

/// Who waits on a call, which sets how long it may take and how often it is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// A buyer or subscriber waits on the page: 3 tries within one try's timeout plus 2 s, then
    /// "Stripe is busy, try again" (503 with `Retry-After`).
    Buyer,
    /// A webhook's read: 2 tries, then the event fails with a 5xx and Stripe delivers it again.
    Webhook,
    /// `resync`, `setup`, `doctor`: an operator's command waits (8 tries, backing off to 30 s)
    /// and goes on.
    Operator,
}

/// The limits one `Patience` sets, for a per-try timeout.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    pub tries: u32,
    /// How long one try may take.
    pub timeout: Duration,
    /// How long all the tries and the waits between them may take.
    pub budget: Duration,
    first_delay: Duration,
    max_delay: Duration,
}

impl Patience {
    pub(super) fn policy(self, timeout: Duration) -> Policy {
        match self {
            Patience::Buyer => Policy {
                tries: 3,
                timeout,
                budget: timeout + Duration::from_secs(2),
                first_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(1),
            },
            Patience::Webhook => Policy {
                tries: 2,
                timeout,
                budget: timeout * 2 + Duration::from_secs(1),
                first_delay: Duration::from_millis(300),
                max_delay: Duration::from_secs(1),
            },
            Patience::Operator => Policy {
                tries: 8,
                timeout,
                budget: timeout * 8 + Duration::from_secs(120),
                first_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(30),
            },
        }
    }
}

impl Policy {
    /// The wait before try `next` (2, 3, …): doubling from the first delay, capped, with "full
    /// jitter" (a random part of it) so that many clients refused together do not come back
    /// together.
    pub fn delay(&self, next: u32) -> Duration {
        let doubled = self
            .first_delay
            .saturating_mul(1 << (next.saturating_sub(2)).min(16))
            .min(self.max_delay);
        let random = uuid::Uuid::new_v4().as_u128() as u64;
        let half = doubled / 2;
        half + Duration::from_nanos(random % (half.as_nanos() as u64).max(1))
    }
}

/// Why one try failed, as far as retrying goes.
#[derive(Debug)]
pub(super) struct Failure {
    pub error: StripeError,
    /// Stripe's `Stripe-Should-Retry` header, when it sent one.
    pub should_retry: Option<bool>,
    /// Stripe's `Request-Id`, for the log.
    pub request_id: Option<String>,
}

impl Failure {
    /// Is trying the same request again (with the same key) worth it?
    pub fn retryable(&self) -> bool {
        if let Some(told) = self.should_retry {
            return told;
        }
        self.error.is_transient()
    }

    /// The `reason` label of a retry in `/metrics`.
    pub fn reason(&self) -> &'static str {
        match &self.error {
            StripeError::Timeout => "timeout",
            StripeError::Unreachable(_) => "unreachable",
            StripeError::Api { status: 409, .. } => "conflict",
            StripeError::Api { status: 429, .. } => "rate_limited",
            StripeError::Api { .. } => "failed",
            StripeError::BadAnswer(_) => "bad_answer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_and_stay_under_the_cap() {
        let policy = Patience::Operator.policy(Duration::from_secs(8));
        for next in 2..=12 {
            let full =
                (Duration::from_millis(500) * (1 << (next - 2))).min(Duration::from_secs(30));
            let d = policy.delay(next);
            assert!(
                d >= full / 2 && d <= full,
                "try {next}: {d:?} against {full:?}"
            );
        }
    }

    #[test]
    fn a_buyer_waits_a_few_seconds_an_operator_minutes() {
        let t = Duration::from_secs(8);
        assert_eq!(Patience::Buyer.policy(t).budget, Duration::from_secs(10));
        assert!(Patience::Webhook.policy(t).tries < Patience::Buyer.policy(t).tries);
        assert!(Patience::Operator.policy(t).budget >= Duration::from_secs(120));
    }

    #[test]
    fn stripe_should_retry_wins_over_the_status() {
        let failure = |status, should_retry| Failure {
            error: StripeError::Api {
                status,
                message: None,
                param: None,
                code: None,
            },
            should_retry,
            request_id: None,
        };
        assert!(failure(429, None).retryable());
        assert!(failure(409, None).retryable());
        assert!(failure(503, None).retryable());
        assert!(!failure(400, None).retryable());
        assert!(!failure(429, Some(false)).retryable());
        assert!(failure(400, Some(true)).retryable());
        let timeout = Failure {
            error: StripeError::Timeout,
            should_retry: None,
            request_id: None,
        };
        assert!(timeout.retryable());
    }
}
