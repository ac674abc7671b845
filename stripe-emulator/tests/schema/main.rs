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

mod support;

use support::*;

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
    api.post(
        "/v1/coupons",
        &[
            ("id", "SCHEMA10"),
            ("percent_off", "10"),
            ("duration", "repeating"),
            ("duration_in_months", "3"),
        ],
    )
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
    // Credit given by hand, as the Dashboard gives it.
    api.post(
        &format!("/v1/customers/{}/balance_transactions", id(&customer)),
        &[
            ("amount", "-500"),
            ("currency", "usd"),
            ("description", "Goodwill"),
        ],
    )
    .await;
    api.get(
        &format!("/v1/customers/{}/balance_transactions", id(&customer)),
        &[],
    )
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
        "/v1/invoices/create_preview",
        &[
            ("customer", &sub_customer),
            ("subscription", &sub),
            ("subscription_details[items][0][id]", &item),
            ("subscription_details[items][0][price]", &pro),
            ("subscription_details[proration_behavior]", "always_invoice"),
            ("preview_mode", "recurring"),
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
    // A downgrade at the period's end: a schedule made from the subscription, given a second
    // phase, read, then released.
    let schedule = api
        .post("/v1/subscription_schedules", &[("from_subscription", &sub)])
        .await;
    let phase = &schedule["phases"][0];
    let (start, end) = (
        phase["start_date"].to_string(),
        phase["end_date"].to_string(),
    );
    api.post(
        &format!("/v1/subscription_schedules/{}", id(&schedule)),
        &[
            ("phases[0][items][0][price]", &pro),
            ("phases[0][items][0][quantity]", "1"),
            ("phases[0][start_date]", &start),
            ("phases[0][end_date]", &end),
            ("phases[1][items][0][price]", &starter),
            ("phases[1][items][0][quantity]", "1"),
            ("phases[1][proration_behavior]", "none"),
            ("end_behavior", "release"),
        ],
    )
    .await;
    api.get(
        &format!("/v1/subscription_schedules/{}", id(&schedule)),
        &[],
    )
    .await;
    api.get(&format!("/v1/subscriptions/{sub}"), &[]).await;
    api.post(
        &format!("/v1/subscription_schedules/{}/release", id(&schedule)),
        &[],
    )
    .await;
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
                (
                    "features[subscription_update][schedule_at_period_end][conditions][0][type]",
                    "decreasing_item_amount",
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
