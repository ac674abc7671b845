//! Webhook delivery as Stripe does it: each event POSTed to every endpoint that wants its type,
//! signed (`Stripe-Signature`), retried with backoff on a non-2xx answer or a timeout, and every
//! attempt written to the delivery log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::objects::Delivery;
use crate::signing;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt; doubled for each one after.
    pub first_backoff: Duration,
    /// How long an endpoint may take to answer.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            first_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct Deliverer {
    store: Arc<Mutex<Store>>,
    client: reqwest::Client,
    policy: RetryPolicy,
}

/// What one delivery (with its retries) came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    GaveUp,
}

impl Deliverer {
    pub fn new(store: Arc<Mutex<Store>>, policy: RetryPolicy) -> Self {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .build()
            .expect("an HTTP client without TLS always builds");
        Deliverer {
            store,
            client,
            policy,
        }
    }

    /// Delivers new events in the order they were made; a failed first attempt is retried in the
    /// background so one slow endpoint does not hold the others back.
    pub async fn run(self, mut events: UnboundedReceiver<String>) {
        while let Some(event_id) = events.recv().await {
            for (url, secret) in self.endpoints_for(&event_id) {
                if self.attempt(&event_id, &url, &secret, 1).await {
                    continue;
                }
                let me = self.clone();
                let event_id = event_id.clone();
                tokio::spawn(async move {
                    me.retry_from(&event_id, &url, &secret, 2).await;
                });
            }
        }
    }

    fn endpoints_for(&self, event_id: &str) -> Vec<(String, String)> {
        let store = self.store.lock().expect("store lock");
        let Some(event) = store.event(event_id) else {
            return Vec::new();
        };
        store
            .endpoints
            .values()
            .filter(|e| e.wants(&event.type_))
            .map(|e| (e.url.clone(), e.secret.clone()))
            .collect()
    }

    /// Delivers once more to every endpoint (with retries); used by resend and replay.
    pub async fn deliver_now(&self, event_id: &str, only_url: Option<&str>) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for (url, secret) in self.endpoints_for(event_id) {
            if only_url.is_some_and(|u| u != url) {
                continue;
            }
            outcomes.push(self.retry_from(event_id, &url, &secret, 1).await);
        }
        outcomes
    }

    async fn retry_from(&self, event_id: &str, url: &str, secret: &str, first: u32) -> Outcome {
        for attempt in first..=self.policy.max_attempts {
            if attempt > 1 {
                let factor = 2u32.saturating_pow(attempt - 2);
                tokio::time::sleep(self.policy.first_backoff.saturating_mul(factor)).await;
            }
            if self.attempt(event_id, url, secret, attempt).await {
                return Outcome::Delivered;
            }
        }
        Outcome::GaveUp
    }

    /// One POST; true when the endpoint answered 2xx.
    async fn attempt(&self, event_id: &str, url: &str, secret: &str, attempt: u32) -> bool {
        let (payload, event_type) = {
            let store = self.store.lock().expect("store lock");
            let Some(event) = store.event(event_id) else {
                return true;
            };
            (
                event.json(store.pending_webhooks(&event.type_)).to_string(),
                event.type_.clone(),
            )
        };
        // Signed with the wall clock, never the emulated one: receivers check it against theirs.
        let now = wall_clock();
        let result = self
            .client
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", signing::header(secret, now, &payload))
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(payload)
            .send()
            .await;
        let (status, response, error) = match result {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.bytes().await {
                    Ok(body) => {
                        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
                        (Some(status), Some(text.into_owned()), None)
                    }
                    Err(e) => (Some(status), None, Some(format!("answer cut off: {e}"))),
                }
            }
            Err(e) if e.is_timeout() => (None, None, Some("timed out".to_string())),
            Err(e) => (None, None, Some(format!("could not connect: {e}"))),
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        if !ok {
            tracing::info!(
                event_id,
                url,
                attempt,
                ?status,
                ?error,
                "webhook delivery failed"
            );
        }
        self.store
            .lock()
            .expect("store lock")
            .deliveries
            .push(Delivery {
                event_id: event_id.to_string(),
                event_type,
                endpoint_url: url.to_string(),
                attempt,
                status,
                response,
                error,
                at: now,
            });
        ok
    }
}

pub fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A small deterministic generator (splitmix64): the same seed gives the same replay order.
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_shuffles_the_same_way_and_another_seed_differently() {
        let base: Vec<u32> = (0..50).collect();
        let (mut a, mut b, mut c) = (base.clone(), base.clone(), base.clone());
        SeededRng::new(7).shuffle(&mut a);
        SeededRng::new(7).shuffle(&mut b);
        SeededRng::new(8).shuffle(&mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, base);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, base, "a permutation");
    }
}
