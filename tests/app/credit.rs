//! Honest amounts: credit on the customer's balance, shown on `/billing` from what the webhook
//! stored and spent by the next renewals, and the change page's renewal line taken from Stripe's
//! preview, with the coupon's discount and the credit applied.

use serde_json::{json, Value};

use crate::harness::{on_both_databases, pay, Backend, TestApp};

on_both_databases!(
    backend;
    a_yearly_plan_switched_to_monthly_in_the_dashboard_leaves_credit_that_the_next_renewals_spend,
    the_change_page_renews_at_what_stripe_will_charge_after_the_coupon_and_the_credit,
);

/// `/billing`'s credit line, if it shows one.
fn credit_line(page: &str) -> Option<String> {
    let start = page.find("Credit balance: ")?;
    let rest = &page[start..];
    let end = rest.find("</p>")?;
    Some(rest[..end].replace("<!-- -->", "").replace("<!>", ""))
}

/// The newest invoice Stripe has for the subscription.
async fn latest_invoice(app: &TestApp, sub: &str) -> Value {
    let subscription = app
        .stripe_call(
            reqwest::Method::GET,
            &format!("/v1/subscriptions/{sub}"),
            &[],
        )
        .await;
    let id = subscription["latest_invoice"].as_str().unwrap();
    app.stripe_call(reqwest::Method::GET, &format!("/v1/invoices/{id}"), &[])
        .await
}

async fn price_id(app: &TestApp, lookup_key: &str) -> String {
    let prices = app
        .stripe_call(
            reqwest::Method::GET,
            "/v1/prices",
            &[("lookup_keys[]", lookup_key)],
        )
        .await;
    prices["data"][0]["id"].as_str().unwrap().to_string()
}

async fn a_yearly_plan_switched_to_monthly_in_the_dashboard_leaves_credit_that_the_next_renewals_spend(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "yearly@example.com";
    let cookie = app
        .subscriber(email, "starter_yearly", "subscription")
        .await;
    app.settle().await;
    assert_eq!(credit_line(&app.page("/billing", &cookie).await), None);

    // An operator switches the yearly plan to monthly at once in the Dashboard: the unused year
    // ($90) pays for the new month ($9), and the rest is the customer's credit.
    let sub = app.subscription_of(email).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let item = sub["items"]["data"][0]["id"].as_str().unwrap().to_string();
    let monthly = price_id(&app, "starter_monthly").await;
    app.stripe_call(
        reqwest::Method::POST,
        &format!("/v1/subscriptions/{sub_id}"),
        &[
            ("items[0][id]", item.as_str()),
            ("items[0][price]", monthly.as_str()),
            ("proration_behavior", "always_invoice"),
        ],
    )
    .await;
    let change = latest_invoice(&app, &sub_id).await;
    assert_eq!(change["billing_reason"], "subscription_update");
    assert_eq!(change["amount_paid"], 0, "{change}");
    assert_eq!(change["ending_balance"], -8100, "{change}");
    app.settle().await;
    let page = app.page("/billing", &cookie).await;
    assert_eq!(
        credit_line(&page).as_deref(),
        Some("Credit balance: $81 — used by your next invoices"),
        "{page}"
    );

    // The change page knows the credit pays for what comes: an upgrade to Pro costs nothing
    // today, and its renewal is paid from what is left.
    let (status, preview) = app.change_preview("pro_monthly", &cookie).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["due_today"], "$0");
    assert_eq!(preview["next_amount"], "$29, paid from your credit");
    assert!(
        preview["summary"]
            .as_str()
            .unwrap()
            .contains("it renews at $29, paid from your credit"),
        "{preview}"
    );

    // Month by month, the renewals are paid from the credit until it is spent ($9 × 9 = $81),
    // and /billing's credit falls with them.
    for month in 1..=10_i64 {
        app.control("advance", &[("days", "30")]).await;
        app.settle().await;
        let renewal = latest_invoice(&app, &sub_id).await;
        assert_eq!(
            renewal["billing_reason"], "subscription_cycle",
            "month {month}"
        );
        assert_eq!(renewal["status"], "paid", "month {month}");
        let charged = if month <= 9 { 0 } else { 900 };
        assert_eq!(renewal["amount_paid"], charged, "month {month}: {renewal}");
        let left = (8100 - 900 * month).max(0);
        let page = app.page("/billing", &cookie).await;
        let want = (left > 0).then(|| {
            format!(
                "Credit balance: {} — used by your next invoices",
                landing::model::catalog::format_amount(left, "usd")
            )
        });
        assert_eq!(credit_line(&page), want, "month {month}");
    }
    assert_eq!(app.plan_in_force(&cookie).await, "starter");
}

/// A subscriber to Starter, monthly, who bought with `coupon` applied.
async fn subscriber_with_coupon(app: &TestApp, email: &str, coupon: &str) -> String {
    let cookie = app.subscriber_without_purchase(email).await;
    let mut body = app.body("starter_monthly", "subscription");
    body["couponId"] = json!(coupon);
    let res = app
        .client
        .post(app.url("/api/stripe/create-checkout"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(reqwest::header::ORIGIN, &app.base)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    pay(app, answer["url"].as_str().unwrap(), email).await;
    app.settle().await;
    cookie
}

/// The change to yearly as the page previews it, for a subscriber who bought with a 20% coupon
/// of `duration`.
async fn yearly_preview_with_coupon(backend: Backend, duration: &str) -> (TestApp, String, Value) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    app.stripe_call(
        reqwest::Method::POST,
        "/v1/coupons",
        &[
            ("id", "LAUNCH20"),
            ("percent_off", "20"),
            ("duration", duration),
        ],
    )
    .await;
    let email = format!("{duration}@example.com");
    let cookie = subscriber_with_coupon(&app, &email, "LAUNCH20").await;
    let first = app.stripe_invoices().await[0].clone();
    assert_eq!(
        first["amount_paid"], 720,
        "the first month is 20% off: {first}"
    );
    let (status, preview) = app.change_preview("starter_yearly", &cookie).await;
    assert_eq!(status, 200, "{preview}");
    (app, cookie, preview)
}

async fn the_change_page_renews_at_what_stripe_will_charge_after_the_coupon_and_the_credit(
    backend: Backend,
) {
    // A coupon used once: the yearly renewal is the full $90.
    let (_, _, once) = yearly_preview_with_coupon(backend, "once").await;
    assert_eq!(once["next_amount"], "$90", "{once}");

    // A coupon for ever keeps its 20% off every renewal: $72.
    let (app, cookie, forever) = yearly_preview_with_coupon(backend, "forever").await;
    assert_eq!(forever["next_amount"], "$72", "{forever}");
    let page = app
        .page("/billing/change?price=starter_yearly", &cookie)
        .await;
    assert!(page.contains("$72"), "{page}");
    assert!(page.contains("renews on"), "{page}");

    // $100 of credit given in the Dashboard: today's $64.80 is paid from it, and the $35.20
    // left takes as much off the first renewal.
    let customer = app.subscription_of("forever@example.com").await["customer"]
        .as_str()
        .unwrap()
        .to_string();
    app.stripe_call(
        reqwest::Method::POST,
        &format!("/v1/customers/{customer}/balance_transactions"),
        &[("amount", "-10000"), ("currency", "usd")],
    )
    .await;
    app.settle().await;
    let billing = app.page("/billing", &cookie).await;
    assert_eq!(
        credit_line(&billing).as_deref(),
        Some("Credit balance: $100 — used by your next invoices"),
        "{billing}"
    );
    let (_, with_credit) = app.change_preview("starter_yearly", &cookie).await;
    assert_eq!(with_credit["due_today"], "$0", "{with_credit}");
    assert_eq!(
        with_credit["next_amount"], "$36.80 ($72 less your credit)",
        "{with_credit}"
    );
    // Read from what the webhook stored: the billing page costs no customer read.
    let before = app.stripe_requests(Some("GET"), "/v1/customers");
    app.page("/billing", &cookie).await;
    assert_eq!(app.stripe_requests(Some("GET"), "/v1/customers"), before);
}
