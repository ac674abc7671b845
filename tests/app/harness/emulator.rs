//! The Stripe emulator from the test's side: what `TestApp` reads from its store and asks of its
//! API and controls, paying on its checkout page, and sessions made straight at it.

use serde_json::Value;

use super::{manifest_path, TestApp, STRIPE_KEY};

/// An emulator on port 0 with `plans.toml`'s products and prices, sending no webhooks.
pub async fn catalog_emulator() -> stripe_emulator::Emulator {
    stripe_emulator::spawn(stripe_emulator::Options {
        catalog: Some(manifest_path("plans.toml")),
        ..Default::default()
    })
    .await
    .unwrap()
}

impl TestApp {
    // ---- Its store ----
    /// The emulator's record of a Checkout Session.
    pub fn stripe_session(&self, id: &str) -> stripe_emulator::store::Session {
        let stripe = self.stripe.as_ref().expect("billing on");
        let store = stripe.store.lock().unwrap();
        store.sessions.get(id).cloned().expect("session exists")
    }

    /// Session id from a Checkout URL the emulator made.
    pub fn session_of(&self, url: &str) -> stripe_emulator::store::Session {
        self.stripe_session(url.rsplit('/').next().unwrap())
    }

    /// The ids of the Checkout Sessions the emulator holds.
    pub fn stripe_session_ids(&self) -> Vec<String> {
        let stripe = self.stripe.as_ref().expect("billing on");
        let store = stripe.store.lock().unwrap();
        store.sessions.keys().cloned().collect()
    }

    /// How many Checkout Sessions the emulator has.
    pub fn checkout_sessions(&self) -> usize {
        let stripe = self.stripe.as_ref().expect("billing on");
        stripe.store.lock().unwrap().sessions.len()
    }

    /// How many API requests the emulator has served with `method` (any, if `None`) on a path
    /// starting with `prefix`: what the app has cost the Stripe account's rate limit.
    pub fn stripe_requests(&self, method: Option<&str>, prefix: &str) -> u64 {
        let stripe = self.stripe.as_ref().expect("billing on");
        let seen = stripe.traffic.requests(method, prefix);
        seen["count"].as_u64().expect("a count")
    }

    // ---- Its API and controls ----
    pub fn stripe_base(&self) -> String {
        self.stripe.as_ref().expect("billing on").base_url.clone()
    }

    /// A call to the emulator's API (`form` as Stripe's form encoding).
    pub async fn stripe_call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Value {
        let req = self
            .client
            .request(method.clone(), format!("{}{path}", self.stripe_base()))
            .bearer_auth(STRIPE_KEY);
        let req = if method == reqwest::Method::POST {
            req.form(form)
        } else {
            req.query(form)
        };
        let res = req.send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// A control of the emulator (`/_emulator/…`). It may take minutes (a full-size storm's
    /// replay delivers 15,000 events, on a machine busy with the other storm): the client's
    /// usual 45 s is no bound for it.
    pub async fn control(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let res = self
            .client
            .post(format!("{}/_emulator/{path}", self.stripe_base()))
            .timeout(std::time::Duration::from_secs(900))
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// Every event the emulator has made, oldest first, as delivered (the raw JSON).
    pub async fn stripe_events(&self) -> Vec<Value> {
        let mut list: Vec<Value> = Vec::new();
        loop {
            // Page by page, as Stripe lists: ten at a time unless asked for more.
            let after = list.last().map(|e| e["id"].as_str().unwrap().to_string());
            let mut query = vec![("limit", "100")];
            if let Some(after) = after.as_deref() {
                query.push(("starting_after", after));
            }
            let page = self
                .stripe_call(reqwest::Method::GET, "/v1/events", &query)
                .await;
            list.extend(page["data"].as_array().unwrap().iter().cloned());
            if page["has_more"] != true {
                break;
            }
        }
        list.reverse();
        list
    }

    pub async fn event_of_type(&self, kind: &str) -> Value {
        self.stripe_events()
            .await
            .into_iter()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} event"))
    }

    /// Creates a coupon in the emulator, as the Stripe dashboard would.
    pub async fn stripe_coupon(&self, id: &str, percent_off: &str) {
        let stripe = self.stripe.as_ref().unwrap();
        let res = reqwest::Client::new()
            .post(format!("{}/v1/coupons", stripe.base_url))
            .bearer_auth("sk_test_x")
            .form(&[("id", id), ("percent_off", percent_off)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    /// The emulator's invoices, newest first.
    pub async fn stripe_invoices(&self) -> Vec<Value> {
        let list = self
            .stripe_call(reqwest::Method::GET, "/v1/invoices", &[("limit", "100")])
            .await;
        list["data"].as_array().unwrap().clone()
    }

    /// The emulator's subscription for a customer email.
    pub async fn subscription_of(&self, email: &str) -> Value {
        let customers = self
            .stripe_call(reqwest::Method::GET, "/v1/customers", &[("email", email)])
            .await;
        let customer = customers["data"][0]["id"].as_str().unwrap().to_string();
        let subs = self
            .stripe_call(
                reqwest::Method::GET,
                "/v1/subscriptions",
                &[("customer", &customer), ("status", "all")],
            )
            .await;
        subs["data"][0].clone()
    }

    /// The payment intent of the emulator's newest complete Checkout for `email`.
    pub async fn payment_intent_of(&self, email: &str) -> String {
        let sessions = self
            .stripe_call(
                reqwest::Method::GET,
                "/v1/checkout/sessions",
                &[("limit", "100")],
            )
            .await;
        sessions["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["customer_details"]["email"] == email && s["status"] == "complete")
            .and_then(|s| s["payment_intent"].as_str())
            .expect("a paid session")
            .to_string()
    }

    /// Registers a webhook endpoint at this app's emulator for a site on `port`; returns its
    /// URL and signing secret.
    pub async fn endpoint_for(&self, port: u16) -> (String, String) {
        let url = format!("http://127.0.0.1:{port}/api/stripe/webhook");
        let endpoint = self
            .stripe_call(
                reqwest::Method::POST,
                "/v1/webhook_endpoints",
                &[("url", &url), ("enabled_events[]", "*")],
            )
            .await;
        (url, endpoint["secret"].as_str().unwrap().to_string())
    }
}

/// Pays a Checkout URL with 4242 on the emulator's page; returns the success path on our site.
pub async fn pay(app: &TestApp, url: &str, email: &str) -> String {
    let location = pay_at(url, email).await;
    location.strip_prefix(&app.base).unwrap().to_string()
}

/// Pays a Checkout URL with 4242; returns where the emulator sends the buyer.
pub async fn pay_at(url: &str, email: &str) -> String {
    pay_with_card(url, email, "4242424242424242").await
}

/// Pays a Checkout URL with one of Stripe's test cards; returns where the buyer is sent.
pub async fn pay_with_card(url: &str, email: &str, card: &str) -> String {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(url)
        .form(&[
            ("email", email),
            ("card_number", card),
            ("expiry", "12/34"),
            ("cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "payment: {}", res.status());
    res.headers()["location"].to_str().unwrap().to_string()
}

/// A subscription Checkout Session made straight at the emulator (as a Stripe dashboard or
/// another app would), for `email`, with `extra` parameters; returns its URL.
pub async fn emulator_checkout(
    stripe_base: &str,
    lookup_key: &str,
    email: &str,
    extra: &[(&str, &str)],
) -> String {
    emulator_session(stripe_base, "subscription", lookup_key, email, extra).await
}

/// A Checkout Session in `mode` made straight at the emulator; returns its URL.
pub async fn emulator_session(
    stripe_base: &str,
    mode: &str,
    lookup_key: &str,
    email: &str,
    extra: &[(&str, &str)],
) -> String {
    let http = reqwest::Client::new();
    let prices: Value = http
        .get(format!("{stripe_base}/v1/prices"))
        .query(&[("lookup_keys[]", lookup_key)])
        .bearer_auth(STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let price = prices["data"][0]["id"].as_str().unwrap();
    let mut form = vec![
        ("mode", mode),
        ("line_items[0][price]", price),
        ("line_items[0][quantity]", "1"),
        ("customer_email", email),
        ("success_url", "http://127.0.0.1:3000/success"),
        ("cancel_url", "http://127.0.0.1:3000/pricing"),
    ];
    form.extend_from_slice(extra);
    let session: Value = http
        .post(format!("{stripe_base}/v1/checkout/sessions"))
        .bearer_auth(STRIPE_KEY)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["url"].as_str().expect("a session URL").to_string()
}
