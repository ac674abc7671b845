//! Every object the emulator sends is one Stripe could send: after a history that touches every
//! resource, each object it answered with (and each inside a list, an expansion or an event) is
//! parsed with async-stripe's own types. They are generated from Stripe's schema for our pinned
//! API version and read the way async-stripe's client reads Stripe: a field the schema marks
//! required (null allowed or not) must be present, with its type.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::Router;
use serde_json::Value;
use stripe_emulator::{spawn, Options};

struct Api {
    base: String,
    http: reqwest::Client,
    /// Every answer, for the parse at the end.
    seen: Vec<(String, Value)>,
}

impl Api {
    async fn call(&mut self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
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

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Value {
        self.call(reqwest::Method::POST, path, form).await
    }

    async fn get(&mut self, path: &str, query: &[(&str, &str)]) -> Value {
        self.call(reqwest::Method::GET, path, query).await
    }

    /// Pays an open Checkout Session on the hosted page with a test card.
    async fn pay(&self, session: &str, card: &str) {
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

    async fn control(&self, path: &str, form: &[(&str, &str)]) -> Value {
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
fn ids_only(v: &Value, fields: &[&str]) {
    for field in fields {
        match v.get(*field) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => panic!("`{field}` is not an id: {other}"),
        }
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Parses `json` as the async-stripe type for its `object`; `None` for a type we do not check.
fn parse(object: &str, json: &str) -> Option<Result<(), String>> {
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
        "promotion_code" => read::<stripe_shared::PromotionCode>(json),
        "checkout.session" => read::<stripe_shared::CheckoutSession>(json),
        "item" => read::<stripe_shared::CheckoutSessionItem>(json),
        "subscription" => read::<stripe_shared::Subscription>(json),
        "subscription_item" => read::<stripe_shared::SubscriptionItem>(json),
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
fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
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

#[tokio::test]
async fn every_object_the_emulator_sends_parses_with_stripes_generated_types() {
    // An endpoint for every event, recording the bodies it is sent.
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let sink = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let emulator = spawn(Options {
        catalog: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plans.toml")),
        webhook: Some((hook, "whsec_schema".into())),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut api = Api {
        base: emulator.base_url.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        seen: Vec::new(),
    };

    // The catalog side: a product, a price, a coupon and a promotion code.
    let product = api
        .post(
            "/v1/products",
            &[("name", "Extra"), ("metadata[plan]", "extra")],
        )
        .await;
    api.post(
        &format!("/v1/products/{}", id(&product)),
        &[("name", "Extra seats")],
    )
    .await;
    let price = api
        .post(
            "/v1/prices",
            &[
                ("product", &id(&product)),
                ("unit_amount", "500"),
                ("currency", "usd"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    api.post(
        &format!("/v1/prices/{}", id(&price)),
        &[("active", "false")],
    )
    .await;
    api.post("/v1/coupons", &[("id", "SCHEMA10"), ("percent_off", "10")])
        .await;
    api.post(
        "/v1/promotion_codes",
        &[
            ("promotion[type]", "coupon"),
            ("promotion[coupon]", "SCHEMA10"),
            ("code", "SAVE10"),
        ],
    )
    .await;
    api.get("/v1/coupons/SCHEMA10", &[]).await;
    api.get("/v1/promotion_codes", &[]).await;
    api.get("/v1/products", &[]).await;
    // Expandable fields are ids unless `expand[]` asks, on lists too.
    let plain = api.get("/v1/prices", &[]).await;
    assert!(plain["data"][0]["product"].is_string(), "{plain}");
    let expanded = api.get("/v1/prices", &[("expand[]", "data.product")]).await;
    assert_eq!(expanded["data"][0]["product"]["object"], "product");

    // A customer, created and updated.
    let customer = api
        .post("/v1/customers", &[("email", "schema@example.com")])
        .await;
    api.post(
        &format!("/v1/customers/{}", id(&customer)),
        &[("name", "Ada Schema")],
    )
    .await;
    api.get("/v1/customers", &[("email", "schema@example.com")])
        .await;

    let lookup = |api: &Api, key: &str| {
        let store = emulator.store.lock().unwrap();
        let _ = api;
        store.price_by_lookup_key(key).unwrap().id.clone()
    };
    let urls = [
        (
            "success_url",
            "https://shop.test/success?session_id={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "https://shop.test/pricing"),
    ];

    // A one-time purchase with a receipt, then refunded in part.
    let lifetime = lookup(&api, "lifetime_once");
    let mut form = vec![
        ("mode", "payment"),
        ("line_items[0][price]", lifetime.as_str()),
        ("line_items[0][quantity]", "1"),
        ("invoice_creation[enabled]", "true"),
        ("customer", customer["id"].as_str().unwrap()),
    ];
    form.extend_from_slice(&urls);
    let once = api.post("/v1/checkout/sessions", &form).await;
    api.pay(&id(&once), "4242 4242 4242 4242").await;
    let once = api
        .get(
            &format!("/v1/checkout/sessions/{}", id(&once)),
            &[("expand[]", "line_items")],
        )
        .await;
    let pi = once["payment_intent"].as_str().unwrap().to_string();
    let intent = api.get(&format!("/v1/payment_intents/{pi}"), &[]).await;
    let refund = api
        .post(
            "/v1/refunds",
            &[("payment_intent", &pi), ("amount", "1000")],
        )
        .await;
    api.get(&format!("/v1/refunds/{}", id(&refund)), &[]).await;
    let charge = intent["latest_charge"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| refund["charge"].as_str().unwrap().to_string());
    let read_charge = api.get(&format!("/v1/charges/{charge}"), &[]).await;
    ids_only(&read_charge, &["customer", "payment_intent"]);
    ids_only(&refund, &["charge", "payment_intent"]);

    // A disputed payment, then won.
    let mut form = vec![
        ("mode", "payment"),
        ("line_items[0][price]", lifetime.as_str()),
        ("line_items[0][quantity]", "1"),
    ];
    form.extend_from_slice(&urls);
    let disputed = api.post("/v1/checkout/sessions", &form).await;
    api.pay(&id(&disputed), "4000 0000 0000 0259").await;
    let dispute = {
        let store = emulator.store.lock().unwrap();
        store.disputes.keys().next().unwrap().clone()
    };
    api.get(&format!("/v1/disputes/{dispute}"), &[]).await;
    api.control(
        &format!("/_emulator/disputes/{dispute}/close"),
        &[("outcome", "won")],
    )
    .await;

    // A subscription with a coupon, its invoices, a preview and a change of plan.
    let starter = lookup(&api, "starter_monthly");
    let mut form = vec![
        ("mode", "subscription"),
        ("line_items[0][price]", starter.as_str()),
        ("line_items[0][quantity]", "1"),
        ("discounts[0][coupon]", "SCHEMA10"),
    ];
    form.extend_from_slice(&urls);
    let sub_session = api.post("/v1/checkout/sessions", &form).await;
    api.pay(&id(&sub_session), "4242 4242 4242 4242").await;
    let sub_session = api
        .get(
            &format!("/v1/checkout/sessions/{}", id(&sub_session)),
            &[("expand[]", "line_items"), ("expand[]", "subscription")],
        )
        .await;
    let sub = sub_session["subscription"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sub_customer = sub_session["customer"].as_str().unwrap().to_string();
    let read = api.get(&format!("/v1/subscriptions/{sub}"), &[]).await;
    ids_only(&read, &["customer", "latest_invoice"]);
    let item = read["items"]["data"][0]["id"].as_str().unwrap().to_string();
    let pro = lookup(&api, "pro_monthly");
    api.post(
        "/v1/invoices/create_preview",
        &[
            ("customer", &sub_customer),
            ("subscription", &sub),
            ("subscription_details[items][0][id]", &item),
            ("subscription_details[items][0][price]", &pro),
            ("subscription_details[proration_behavior]", "always_invoice"),
        ],
    )
    .await;
    api.post(
        &format!("/v1/subscriptions/{sub}"),
        &[
            ("items[0][id]", &item),
            ("items[0][price]", &pro),
            ("proration_behavior", "always_invoice"),
        ],
    )
    .await;
    api.control("/_emulator/advance", &[("days", "32")]).await;
    api.get("/v1/subscriptions", &[("customer", &sub_customer)])
        .await;
    let invoices = api
        .get("/v1/invoices", &[("customer", &sub_customer)])
        .await;
    let invoice = invoices["data"][0]["id"].as_str().unwrap().to_string();
    let read_invoice = api.get(&format!("/v1/invoices/{invoice}"), &[]).await;
    ids_only(&read_invoice, &["customer"]);
    let mut form = vec![
        ("mode", "payment"),
        ("line_items[0][price]", lifetime.as_str()),
        ("line_items[0][quantity]", "1"),
    ];
    form.extend_from_slice(&urls);
    let abandoned = api.post("/v1/checkout/sessions", &form).await;
    api.post(
        &format!("/v1/checkout/sessions/{}/expire", id(&abandoned)),
        &[],
    )
    .await;
    api.get("/v1/checkout/sessions", &[]).await;

    // The portal: a configuration, changed, and a session that uses it.
    let config = api
        .post(
            "/v1/billing_portal/configurations",
            &[
                ("features[invoice_history][enabled]", "true"),
                ("features[subscription_update][enabled]", "true"),
                (
                    "features[subscription_update][default_allowed_updates][0]",
                    "price",
                ),
                (
                    "features[subscription_update][products][0][product]",
                    read["items"]["data"][0]["price"]["product"]
                        .as_str()
                        .unwrap(),
                ),
                (
                    "features[subscription_update][products][0][prices][0]",
                    &starter,
                ),
                ("features[subscription_cancel][enabled]", "true"),
                ("features[subscription_cancel][mode]", "at_period_end"),
                (
                    "business_profile[terms_of_service_url]",
                    "https://shop.test/terms",
                ),
            ],
        )
        .await;
    api.post(
        &format!("/v1/billing_portal/configurations/{}", id(&config)),
        &[("features[subscription_cancel][mode]", "immediately")],
    )
    .await;
    api.get("/v1/billing_portal/configurations", &[]).await;
    api.post(
        "/v1/billing_portal/sessions",
        &[("customer", &sub_customer), ("configuration", &id(&config))],
    )
    .await;

    // Webhook endpoints, created and changed.
    let endpoint = api
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "https://shop.test/api/stripe/webhook"),
                ("enabled_events[]", "invoice.paid"),
                ("api_version", stripe_emulator::objects::API_VERSION),
            ],
        )
        .await;
    api.post(
        &format!("/v1/webhook_endpoints/{}", id(&endpoint)),
        &[("disabled", "true")],
    )
    .await;
    api.get("/v1/webhook_endpoints", &[]).await;
    api.get("/v1/events", &[("limit", "100")]).await;

    // What was delivered: every event, and the object in it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let delivered: Vec<Value> = received
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let mut answers: Vec<(String, &Value)> = api.seen.iter().map(|(w, v)| (w.clone(), v)).collect();
    answers.extend(
        delivered
            .iter()
            .map(|v| ("a delivered event".to_string(), v)),
    );

    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (whence, answer) in &answers {
        let mut objects = Vec::new();
        walk(answer, &mut objects);
        for object in objects {
            let kind = object["object"].as_str().unwrap();
            if kind == "list" {
                for key in ["data", "has_more", "url"] {
                    if object.get(key).is_none() {
                        failures.push(format!("{whence}: a list without `{key}`: {object}"));
                    }
                }
                continue;
            }
            match parse(kind, &object.to_string()) {
                Some(Ok(())) => *checked.entry(kind.to_string()).or_default() += 1,
                Some(Err(e)) => {
                    failures.push(format!("{whence}: {kind} {}: {e}: {object}", object["id"]))
                }
                None => failures.push(format!("{whence}: `{kind}` has no check here")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for kind in [
        "product",
        "price",
        "customer",
        "coupon",
        "promotion_code",
        "checkout.session",
        "item",
        "subscription",
        "subscription_item",
        "invoice",
        "line_item",
        "payment_intent",
        "charge",
        "refund",
        "dispute",
        "event",
        "webhook_endpoint",
        "billing_portal.session",
        "billing_portal.configuration",
    ] {
        assert!(
            checked.contains_key(kind),
            "no {kind} was checked: {checked:?}"
        );
    }
    // The events Stripe sends for API calls reached the endpoint.
    let types: Vec<&str> = delivered
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for wanted in [
        "product.created",
        "product.updated",
        "price.created",
        "price.updated",
        "coupon.created",
        "promotion_code.created",
        "customer.created",
        "customer.updated",
        "checkout.session.expired",
        "billing_portal.configuration.created",
        "billing_portal.configuration.updated",
    ] {
        assert!(types.contains(&wanted), "no {wanted} in {types:?}");
    }
}
