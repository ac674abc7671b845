//! The Stripe CLI's loop against the site: `stripe listen --forward-to …/api/stripe/webhook`
//! signs with its own `whsec_` secret (64 hex digits), and `stripe trigger` makes objects that
//! are not in the catalog. Both are answered 200 and recorded: never a 5xx, never a retry storm.

use landing::server::db::{events, Table};
use serde_json::json;

use crate::harness::{on_both_databases, pay_at, Backend, TestApp};

on_both_databases!(
    backend;
    a_stripe_listen_secret_and_signature_are_accepted,
    stripe_trigger_checkout_of_a_product_not_ours_is_recorded_with_200,
);

/// A secret shaped like the one `stripe listen` prints: `whsec_` and 64 hex digits (made
/// here, so no secret-looking string sits in the repository).
fn listen_secret() -> String {
    format!("whsec_{}", "0123456789abcdef".repeat(4))
}

/// Makes a price of `product` (recurring when `interval` is given) and pays a Checkout Session
/// for it with 4242, as `stripe trigger` does.
async fn buy_outside_the_catalog(app: &TestApp, product: &str, interval: Option<&str>) {
    let post = reqwest::Method::POST;
    let mut form = vec![
        ("product", product),
        ("unit_amount", "1500"),
        ("currency", "usd"),
    ];
    if let Some(interval) = interval {
        form.push(("recurring[interval]", interval));
    }
    let price = app.stripe_call(post.clone(), "/v1/prices", &form).await;
    let mode = if interval.is_some() {
        "subscription"
    } else {
        "payment"
    };
    let session = app
        .stripe_call(
            post,
            "/v1/checkout/sessions",
            &[
                ("mode", mode),
                ("line_items[0][price]", price["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "1"),
                ("success_url", "https://example.com/success"),
                ("cancel_url", "https://example.com/cancel"),
            ],
        )
        .await;
    pay_at(session["url"].as_str().unwrap(), "stripe@example.com").await;
}

fn now() -> i64 {
    landing::server::auth::jwt::now()
}

async fn a_stripe_listen_secret_and_signature_are_accepted(backend: Backend) {
    let secret = listen_secret();
    let app = TestApp::spawn_billing_with(backend, &[("STRIPE_WEBHOOK_SECRET", &secret)]).await;
    // As `stripe trigger payment_intent.succeeded` sends it: a type the site does not act on.
    let body = json!({
        "id": "evt_3QxTriggerPaymentIntent", "object": "event", "api_version": "2026-09-30.endive",
        "created": now(), "livemode": false, "pending_webhooks": 2,
        "request": {"id": "req_trigger", "idempotency_key": "stripe-cli-trigger"},
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_3QxTrigger", "object": "payment_intent", "amount": 2000,
            "currency": "usd", "status": "succeeded", "metadata": {}}}
    })
    .to_string();
    let t = now();
    let v1 = stripe_emulator::signing::signature(&secret, t, &body);
    let v0 = stripe_emulator::signing::signature("whsec_another_scheme", t, &body);
    // The CLI's header may carry a v0 (a test-mode scheme) beside v1: ignored, v1 decides.
    let header = format!("t={t},v1={v1},v0={v0}");
    let (status, answer) = app.deliver(&body, Some(header)).await;
    assert_eq!(status, 200, "{answer}");
    let wrong = stripe_emulator::signing::header("whsec_the_dashboards_secret", t, &body);
    assert_eq!(app.deliver(&body, Some(wrong)).await.0, 400);
    let logged = events::recent(&app.state.db, false, 10).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert!(logged[0].processed_at.is_some());
}

/// `stripe trigger checkout.session.completed` makes a product and a price of its own, a
/// payment-mode session for them, and pays it. The site reads the session back from Stripe,
/// finds nothing of its catalog in it, records the event, answers 200, and grants nothing.
async fn stripe_trigger_checkout_of_a_product_not_ours_is_recorded_with_200(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let product = app
        .stripe_call(
            reqwest::Method::POST,
            "/v1/products",
            &[("name", "myproduct")],
        )
        .await;
    let product = product["id"].as_str().unwrap();
    buy_outside_the_catalog(&app, product, None).await;
    // `stripe trigger customer.subscription.created` does the same with a recurring price.
    buy_outside_the_catalog(&app, product, Some("month")).await;
    app.settle().await;

    let logged = events::recent(&app.state.db, false, 100).await.unwrap();
    assert!(
        logged
            .iter()
            .any(|e| e.type_ == "checkout.session.completed"),
        "{logged:?}"
    );
    for e in &logged {
        assert!(e.processed_at.is_some(), "{} not applied", e.type_);
        assert_eq!(e.attempts, 1, "{} was retried", e.type_);
    }
    assert_eq!(
        app.rows(Table::Purchases).await,
        0,
        "nothing of ours was bought"
    );

    // The same event recorded by `stripe listen` on another account: its session is not in
    // this Stripe at all.
    let body = json!({
        "id": "evt_1QxOtherAccount", "object": "event", "api_version": "2026-09-30.endive",
        "created": now(), "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_test_a1OtherAccountSession", "object": "checkout.session",
            "mode": "payment", "status": "complete", "payment_status": "paid",
            "customer_details": {"email": "stripe@example.com"}, "amount_total": 3000,
            "currency": "usd"}}
    })
    .to_string();
    let (status, answer) = app.deliver_signed(&body).await;
    assert_eq!(status, 200, "{answer}");
    let logged = events::recent(&app.state.db, false, 100).await.unwrap();
    let other = logged
        .iter()
        .find(|e| e.id == "evt_1QxOtherAccount")
        .unwrap();
    assert!(other.processed_at.is_some() && other.attempts == 1);
    assert_eq!(app.rows(Table::Purchases).await, 0);
}
