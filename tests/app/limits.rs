//! Per-client limits, keyed by who the client is: the TCP peer, or behind a trusted proxy the
//! address it names in `X-Forwarded-For`; a header from anyone else is ignored.

use reqwest::header::{RETRY_AFTER, SET_COOKIE};
use serde_json::Value;

use crate::support::{on_both_databases, Backend, TestApp};

on_both_databases!(
    backend;
    behind_a_trusted_proxy_each_client_has_its_own_checkout_and_sign_in_limits,
    without_a_trusted_proxy_forwarded_for_changes_nothing,
);

const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// A Checkout for Pro through the JSON route, as the client a proxy says it forwards.
    async fn checkout_from(&self, forwarded_for: &str) -> (u16, Option<String>, Value) {
        let res = self
            .client
            .post(self.url("/api/stripe/create-checkout"))
            .header("x-forwarded-for", forwarded_for)
            .json(&self.body("pro_monthly", "subscription"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        (status, retry_after, res.json().await.unwrap_or(Value::Null))
    }

    async fn sign_in_from(&self, forwarded_for: &str, email: &str, password: &str) -> u16 {
        self.client
            .post(self.url("/api/auth/sign_in"))
            .header("accept", "application/json")
            .header("origin", &self.base)
            .header("x-forwarded-for", forwarded_for)
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// How many Checkout Sessions the emulator has.
    pub(crate) fn checkout_sessions(&self) -> usize {
        let stripe = self.stripe.as_ref().expect("billing on");
        stripe.store.lock().unwrap().sessions.len()
    }
}

async fn behind_a_trusted_proxy_each_client_has_its_own_checkout_and_sign_in_limits(
    backend: Backend,
) {
    let app = TestApp::spawn_billing_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("CHECKOUTS_PER_ADDRESS", "2"),
        ],
    )
    .await;
    let (ann, bob) = ("198.51.100.7", "198.51.100.8");

    // Checkout: two per client, then a 429 that says when to come back, and Stripe is spared.
    for _ in 0..2 {
        let (status, _, body) = app.checkout_from(ann).await;
        assert_eq!(status, 200, "{body}");
    }
    let created = app.checkout_sessions();
    let (status, retry_after, body) = app.checkout_from(ann).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Too many checkouts from your address"),
        "{body}"
    );
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    // What Ann writes left of the proxy's own hop is hers to invent: still Ann.
    let (status, _, _) = app.checkout_from(&format!("{bob}, {ann}")).await;
    assert_eq!(status, 429);
    assert_eq!(app.checkout_sessions(), created, "no call reached Stripe");
    // Bob, behind the same proxy, is another client.
    let (status, _, body) = app.checkout_from(bob).await;
    assert_eq!(status, 200, "{body}");

    // Sign-in: a stranger's wrong passwords lock the stranger out, not the owner.
    let email = "owner@example.com";
    app.member(email).await;
    for _ in 0..5 {
        assert_eq!(app.sign_in_from(ann, email, "wrong password!").await, 401);
    }
    assert_eq!(app.sign_in_from(ann, email, PASSWORD).await, 429);
    assert_eq!(app.sign_in_from(bob, email, PASSWORD).await, 200);
}

async fn without_a_trusted_proxy_forwarded_for_changes_nothing(backend: Backend) {
    let app = TestApp::spawn_billing_with(backend, &[("CHECKOUTS_PER_ADDRESS", "2")]).await;
    // Every request comes from 127.0.0.1, whatever the header claims.
    for forged in ["198.51.100.1", "198.51.100.2"] {
        let (status, _, body) = app.checkout_from(forged).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, _) = app.checkout_from("198.51.100.3").await;
    assert_eq!(status, 429);

    let email = "owner@example.com";
    app.member(email).await;
    for i in 0..5 {
        let forged = format!("203.0.113.{i}");
        assert_eq!(
            app.sign_in_from(&forged, email, "wrong password!").await,
            401
        );
    }
    assert_eq!(app.sign_in_from("203.0.113.99", email, PASSWORD).await, 429);
    // The refusal sets no cookie: no session was started.
    let res = app
        .client
        .post(app.url("/api/auth/sign_in"))
        .header("accept", "application/json")
        .header("origin", &app.base)
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().get(SET_COOKIE).is_none());
}
