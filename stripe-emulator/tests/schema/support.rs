//! The client that keeps every answer, and the parse of each with async-stripe's types.

use serde_json::Value;

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    /// Every answer, for the parse at the end.
    pub seen: Vec<(String, Value)>,
}

impl Api {
    pub async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Value {
        let url = format!("{}{path}", self.base);
        let request = self
            .http
            .request(method.clone(), &url)
            .basic_auth("sk_test_schema", Some(""));
        let request = if method == reqwest::Method::GET {
            request.query(form)
        } else {
            request.form(form)
        };
        let res = request.send().await.unwrap();
        let status = res.status();
        let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        self.seen.push((format!("{method} {path}"), body.clone()));
        body
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Value {
        self.call(reqwest::Method::POST, path, form).await
    }

    pub async fn get(&mut self, path: &str, query: &[(&str, &str)]) -> Value {
        self.call(reqwest::Method::GET, path, query).await
    }

    /// Pays an open Checkout Session on the hosted page with a test card.
    pub async fn pay(&self, session: &str, card: &str) {
        let res = self
            .http
            .post(format!("{}/c/pay/{session}", self.base))
            .form(&[
                ("email", "schema@example.com"),
                ("name", "Ada Schema"),
                ("card_number", card),
                ("expiry", "12 / 34"),
                ("cvc", "123"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    }

    pub async fn control(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        serde_json::from_str(&res.text().await.unwrap()).unwrap()
    }
}

/// Each of these fields, where present and set, is an id (Stripe expands only on request).
pub fn ids_only(v: &Value, fields: &[&str]) {
    for field in fields {
        match v.get(*field) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => panic!("`{field}` is not an id: {other}"),
        }
    }
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Parses `json` as the async-stripe type for its `object`; `None` for a type we do not check.
pub fn parse(object: &str, json: &str) -> Option<Result<(), String>> {
    fn read<T: miniserde::Deserialize>(json: &str) -> Result<(), String> {
        miniserde::json::from_str::<T>(json)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    Some(match object {
        "product" => read::<stripe_shared::Product>(json),
        "price" => read::<stripe_shared::Price>(json),
        "customer" => read::<stripe_shared::Customer>(json),
        "coupon" => read::<stripe_shared::Coupon>(json),
        "customer_balance_transaction" => read::<stripe_shared::CustomerBalanceTransaction>(json),
        "promotion_code" => read::<stripe_shared::PromotionCode>(json),
        "checkout.session" => read::<stripe_shared::CheckoutSession>(json),
        "item" => read::<stripe_shared::CheckoutSessionItem>(json),
        "subscription" => read::<stripe_shared::Subscription>(json),
        "subscription_item" => read::<stripe_shared::SubscriptionItem>(json),
        "subscription_schedule" => read::<stripe_shared::SubscriptionSchedule>(json),
        "invoice" => read::<stripe_shared::Invoice>(json),
        "line_item" => read::<stripe_shared::InvoiceLineItem>(json),
        "payment_intent" => read::<stripe_shared::PaymentIntent>(json),
        "charge" => read::<stripe_shared::Charge>(json),
        "refund" => read::<stripe_shared::Refund>(json),
        "dispute" => read::<stripe_shared::Dispute>(json),
        "discount" => read::<stripe_shared::Discount>(json),
        "event" => read::<stripe_shared::Event>(json),
        "webhook_endpoint" => read::<stripe_misc::WebhookEndpoint>(json),
        "billing_portal.session" => read::<stripe_billing::BillingPortalSession>(json),
        "billing_portal.configuration" => read::<stripe_billing::BillingPortalConfiguration>(json),
        "plan" => read::<stripe_shared::Plan>(json),
        _ => return None,
    })
}

/// Every object in `v`, nested ones included (expansions, list items, an event's object).
pub fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            if map.get("object").and_then(Value::as_str).is_some() {
                out.push(v);
            }
            // `previous_attributes` holds only the fields that changed, as on Stripe.
            for (key, child) in map {
                if key != "previous_attributes" {
                    walk(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        _ => {}
    }
}
