//! `TestApp`'s billing requests to the app: Checkout (the JSON route, the buy form), the plan in
//! force and plan changes, and webhooks delivered as Stripe signs them.

use std::time::Duration;

use landing::server::db::events;
use reqwest::header::{ACCEPT, COOKIE, ORIGIN};
use serde_json::{json, Value};

use super::{answer_of, pay, pay_with_card, TestApp, WEBHOOK_SECRET};

/// Now, as the app's tokens and Stripe's signatures count time.
pub fn now() -> i64 {
    landing::server::auth::jwt::now()
}

/// A `Stripe-Signature` header for `body`, signed with `secret` at `t`.
pub fn signed(secret: &str, t: i64, body: &str) -> String {
    stripe_emulator::signing::header(secret, t, body)
}

impl TestApp {
    // ---- Checkout ----
    pub async fn create_checkout(&self, body: Value, bearer: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/api/stripe/create-checkout"))
            .json(&body);
        if let Some(token) = bearer {
            req = req.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/stripe/create-checkout` as a signed-in browser calls it: its status and JSON
    /// answer.
    pub async fn checkout_as(&self, cookie: &str, price: &str, mode: &str) -> (u16, Value) {
        let res = self
            .client
            .post(self.url("/api/stripe/create-checkout"))
            .header(reqwest::header::COOKIE, cookie)
            .header(reqwest::header::ORIGIN, &self.base)
            .json(&self.body(price, mode))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub fn body(&self, price: &str, mode: &str) -> Value {
        json!({
            "priceId": price,
            "mode": mode,
            "successUrl": format!("{}/success?session_id={{CHECKOUT_SESSION_ID}}", self.base),
            "cancelUrl": format!("{}/pricing", self.base),
        })
    }

    /// Posts the pricing page's buy form, as a browser (`text/html`) or the island's fetch.
    pub async fn buy_form(&self, price: &str, accept: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/checkout"))
            .header(ACCEPT, accept)
            .header(ORIGIN, &self.base)
            .form(&[("price", price)])
            .send()
            .await
            .unwrap()
    }

    /// A Checkout for Pro through the JSON route, as the client a proxy says it forwards.
    pub async fn checkout_from(&self, forwarded_for: &str) -> (u16, Option<String>, Value) {
        let res = self
            .client
            .post(self.url("/api/stripe/create-checkout"))
            .header("x-forwarded-for", forwarded_for)
            .json(&self.body("pro_monthly", "subscription"))
            .send()
            .await
            .unwrap();
        answer_of(res).await
    }

    /// The JSON API's portal (`POST /api/stripe/create-portal`) for `cookie`, from the client
    /// `forwarded_for` names: the status, `Retry-After` and the body.
    pub async fn portal_from(
        &self,
        cookie: &str,
        forwarded_for: &str,
    ) -> (u16, Option<String>, Value) {
        let res = self
            .client
            .post(self.url("/api/stripe/create-portal"))
            .header("cookie", cookie)
            .header("origin", &self.base)
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({ "returnUrl": self.url("/billing") }))
            .send()
            .await
            .unwrap();
        answer_of(res).await
    }

    // ---- Plans and entitlements ----
    pub async fn entitlements(&self, header: (&str, String)) -> (u16, Value) {
        self.get_json("/api/entitlements", header).await
    }

    /// The change page's preview, as the page's server function answers it.
    pub async fn change_preview(&self, price: &str, cookie: &str) -> (u16, Value) {
        let res = self
            .post_form(
                "/api/billing/change/preview",
                &[("price", price)],
                Some(cookie),
            )
            .await;
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// Confirms a change as the hydrated page does (`fetch`, JSON answer).
    pub async fn change_plan(
        &self,
        price: &str,
        proration_date: &str,
        cookie: &str,
    ) -> (u16, Value) {
        let fields = [("price", price), ("proration_date", proration_date)];
        let res = self
            .post_form("/api/billing/change", &fields, Some(cookie))
            .await;
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn plan_in_force(&self, cookie: &str) -> Value {
        self.in_force(cookie).await["plan"].clone()
    }

    pub async fn in_force(&self, cookie: &str) -> Value {
        let (status, body) = self
            .get_json("/api/entitlements", (COOKIE.as_str(), cookie.to_string()))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Buys Lifetime signed out, paying as `email`, and waits for its webhooks.
    pub async fn signed_out_lifetime(&self, email: &str) {
        let (_, checkout) = self
            .create_checkout(self.body("lifetime_once", "payment"), None)
            .await;
        pay(self, checkout["url"].as_str().unwrap(), email).await;
        self.settle().await;
    }

    /// Buys Lifetime with `card` while signed in; returns the cookie.
    pub async fn lifetime_buyer(&self, email: &str, card: &str) -> String {
        let cookie = self.member(email).await;
        let (_, body) = self.checkout_as(&cookie, "lifetime_once", "payment").await;
        pay_with_card(body["url"].as_str().unwrap(), email, card).await;
        self.settle().await;
        cookie
    }

    /// Signs up and in through the JSON routes; returns the session cookie.
    /// A member who subscribes to Starter, monthly, with Stripe's 3184 card: authenticated at
    /// checkout (done here), and on every payment after. Returns the session cookie.
    pub async fn starter_subscriber_authenticating_every_payment(&self, email: &str) -> String {
        let cookie = self.member(email).await;
        let (_, body) = self
            .checkout_as(&cookie, "starter_monthly", "subscription")
            .await;
        let to = pay_with_card(body["url"].as_str().unwrap(), email, "4000002760003184").await;
        assert!(to.starts_with("/c/3ds/"), "{to}");
        let done = self
            .client
            .post(format!("{}{to}", self.stripe_base()))
            .form(&[("action", "complete")])
            .send()
            .await
            .unwrap();
        assert!(done.status().is_success() || done.status().is_redirection());
        self.settle().await;
        assert_eq!(self.plan_in_force(&cookie).await, "starter");
        cookie
    }

    pub async fn subscriber_without_purchase(&self, email: &str) -> String {
        self.member(email).await
    }

    /// Signs up and pays for `price` on the emulator's checkout page; returns the cookie.
    pub async fn subscriber(&self, email: &str, price: &str, mode: &str) -> String {
        let cookie = self.subscriber_without_purchase(email).await;
        let (_, body) = self.checkout_as(&cookie, price, mode).await;
        pay(self, body["url"].as_str().expect("checkout url"), email).await;
        cookie
    }

    // ---- Webhooks ----
    /// Posts a webhook body with the given `Stripe-Signature` (none when `None`).
    pub async fn deliver(&self, body: &str, signature: Option<String>) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/api/stripe/webhook"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Delivers every body at once, signed, each on its own connection; the answers in order.
    pub async fn deliver_at_once(&self, bodies: Vec<String>) -> Vec<(u16, Value)> {
        let tasks: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let (client, url) = (self.client.clone(), self.url("/api/stripe/webhook"));
                tokio::spawn(async move {
                    let res = client
                        .post(url)
                        .header("stripe-signature", signed(WEBHOOK_SECRET, now(), &body))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = res.status().as_u16();
                    (status, res.json::<Value>().await.unwrap_or(Value::Null))
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    }

    /// Delivers a body signed as Stripe signs it, now, with the test secret.
    pub async fn deliver_signed(&self, body: &str) -> (u16, Value) {
        self.deliver(body, Some(signed(WEBHOOK_SECRET, now(), body)))
            .await
    }

    /// Waits until the app has applied every event the emulator made (webhooks are async).
    pub async fn settle(&self) {
        let want = self.stripe_events().await.len() as i64;
        for _ in 0..300 {
            let applied = events::recent(&self.state.db, false, 10_000)
                .await
                .unwrap()
                .iter()
                .filter(|e| e.processed_at.is_some())
                .count() as i64;
            if applied >= want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the app did not apply all {want} events in 15 s");
    }
}

/// Every delivery of one event answered 200, and exactly one of them applied it.
pub fn assert_applied_once(answers: &[(u16, Value)]) {
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let applied = answers
        .iter()
        .filter(|(_, body)| body["duplicate"] == false)
        .count();
    assert_eq!(applied, 1, "{answers:?}");
}
