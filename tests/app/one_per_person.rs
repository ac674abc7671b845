//! One trial and one live subscription per person, whoever checks out signed out; and a
//! one-time plan beside a subscription: the larger entitlements in force, and Lifetime bought
//! by a subscriber ending the subscription at its period's end.

use reqwest::Method;
use serde_json::Value;

use crate::harness::{billing_mails, now, on_both_databases, pay_at, Backend, TestApp};

on_both_databases!(
    backend;
    a_past_subscriber_checking_out_signed_out_gets_no_second_trial,
    a_second_live_subscription_bought_signed_out_is_cancelled_and_the_buyer_told_why,
    lifetime_bought_by_a_subscriber_ends_the_subscription_at_its_period_end_and_nothing_more_is_charged,
    a_lifetime_owner_who_subscribes_keeps_lifetimes_larger_entitlements,
);

const DAY: i64 = 86_400;

/// Every subscription Stripe has for customers with `email`, newest first.
async fn subscriptions_of(app: &TestApp, email: &str) -> Vec<Value> {
    let customers = app
        .stripe_call(Method::GET, "/v1/customers", &[("email", email)])
        .await;
    let mut subs = Vec::new();
    for customer in customers["data"].as_array().unwrap() {
        let id = customer["id"].as_str().unwrap();
        let found = app
            .stripe_call(
                Method::GET,
                "/v1/subscriptions",
                &[("customer", id), ("status", "all")],
            )
            .await;
        subs.extend(found["data"].as_array().unwrap().iter().cloned());
    }
    subs.sort_by_key(|s| std::cmp::Reverse(s["created"].as_i64().unwrap_or(0)));
    subs
}

/// Buys `price` signed out, paying as `email` on the emulator's Checkout page.
async fn buy_signed_out(app: &TestApp, price: &str, mode: &str, email: &str) {
    let (status, checkout) = app.create_checkout(app.body(price, mode), None).await;
    assert_eq!(status, 200, "{checkout}");
    pay_at(checkout["url"].as_str().unwrap(), email).await;
    // The site's calls to Stripe cause events of their own: wait for those too.
    app.settle().await;
    app.settle().await;
}

fn mails_with_subject(mails: &[landing::server::db::outbox::MailRow], subject: &str) -> usize {
    mails.iter().filter(|m| m.subject == subject).count()
}

async fn a_past_subscriber_checking_out_signed_out_gets_no_second_trial(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "twice@example.com";
    let cookie = app.proven_member(email).await;
    let (_, checkout) = app
        .checkout_as(&cookie, "pro_monthly", "subscription")
        .await;
    pay_at(checkout["url"].as_str().unwrap(), email).await;
    app.settle().await;
    let first = subscriptions_of(&app, email).await.remove(0);
    assert_eq!(first["status"], "trialing");
    let id = first["id"].as_str().unwrap().to_string();
    app.stripe_call(Method::DELETE, &format!("/v1/subscriptions/{id}"), &[])
        .await;
    app.settle().await;
    assert_eq!(app.in_force(&cookie).await["status"], "none");

    // Signed out, the pricing page and Checkout offer the trial to anyone…
    let (_, pricing) = app.get_text("/pricing").await;
    assert!(pricing.contains("14-day free trial"), "{pricing}");
    buy_signed_out(&app, "pro_monthly", "subscription", email).await;

    // …but the subscription lands on an account that had one: its trial is ended and the
    // price billed now.
    let second = subscriptions_of(&app, email).await.remove(0);
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["status"], "active", "{second}");
    assert!(second["trial_end"].as_i64().unwrap() <= now() + 5);
    let invoices = app
        .stripe_call(
            Method::GET,
            "/v1/invoices",
            &[("subscription", second["id"].as_str().unwrap())],
        )
        .await;
    let paid: i64 = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["amount_paid"].as_i64().unwrap())
        .sum();
    assert_eq!(paid, 2900, "the first month is charged at once: {invoices}");
    let body = app.in_force(&cookie).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("pro"), Some("active")),
        "{body}"
    );
    let billing = app.page("/billing", &cookie).await;
    assert!(!billing.contains("Trial ends on"), "{billing}");
    // The buyer is told why, once, however often the events arrive.
    let completed: Vec<Value> = app
        .stripe_events()
        .await
        .into_iter()
        .filter(|e| e["type"] == "checkout.session.completed")
        .collect();
    assert_eq!(completed.len(), 2);
    // Both again, the signed-in first one too: neither is judged by what came after it.
    for event in &completed {
        let id = event["id"].as_str().unwrap().to_string();
        app.control(&format!("events/{id}/resend"), &[]).await;
    }
    app.settle().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.settle().await;
    let mails = billing_mails(&app.state.db).await;
    let told: Vec<_> = mails
        .iter()
        .filter(|m| m.subject == "Your subscription started without a free trial")
        .collect();
    assert_eq!(told.len(), 1, "{mails:?}");
    assert_eq!(
        mails_with_subject(&mails, "Your second subscription was cancelled"),
        0,
        "{mails:?}"
    );
    assert_eq!(told[0].to_email, email);
    assert!(told[0].body.contains("one per person"), "{}", told[0].body);
}

async fn a_second_live_subscription_bought_signed_out_is_cancelled_and_the_buyer_told_why(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[("ADMIN_EMAILS", "ops@example.com")]).await;
    let email = "has-one@example.com";
    let cookie = app
        .subscriber(email, "starter_monthly", "subscription")
        .await;
    app.prove(email).await;
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "starter");

    // Pro with its trial, signed out: cancelled at once, nothing was charged.
    buy_signed_out(&app, "pro_monthly", "subscription", email).await;
    let subs = subscriptions_of(&app, email).await;
    let pro = &subs[0];
    assert_eq!(pro["status"], "canceled", "{pro}");
    let body = app.in_force(&cookie).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("starter"), Some("active")),
        "the subscription they had is untouched: {body}"
    );
    let mails = billing_mails(&app.state.db).await;
    let told: Vec<_> = mails
        .iter()
        .filter(|m| m.subject == "Your second subscription was cancelled")
        .collect();
    assert_eq!(told.len(), 1, "{mails:?}");
    assert_eq!(told[0].to_email, email);
    assert!(
        told[0].body.contains("You already subscribe to Starter")
            && told[0].body.contains("Nothing was charged"),
        "{}",
        told[0].body
    );

    // A yearly Starter, signed out, charged at Checkout: cancelled, never renewed, and the
    // operators asked to refund what it took.
    buy_signed_out(&app, "starter_yearly", "subscription", email).await;
    let yearly = subscriptions_of(&app, email).await.remove(0);
    assert_eq!(yearly["status"], "canceled", "{yearly}");
    let mails = billing_mails(&app.state.db).await;
    assert_eq!(
        mails_with_subject(&mails, "Your second subscription was cancelled"),
        2
    );
    let refund = mails
        .iter()
        .find(|m| m.subject == "Refund $90: a second subscription was cancelled")
        .unwrap_or_else(|| panic!("{mails:?}"));
    assert_eq!(refund.to_email, "ops@example.com");
    assert!(refund.body.contains(yearly["id"].as_str().unwrap()));
    assert_eq!(app.plan_in_force(&cookie).await, "starter");
    let live = subscriptions_of(&app, email)
        .await
        .into_iter()
        .filter(|s| s["status"] != "canceled")
        .count();
    assert_eq!(live, 1, "one live subscription per person");
}

async fn lifetime_bought_by_a_subscriber_ends_the_subscription_at_its_period_end_and_nothing_more_is_charged(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "goes-lifetime@example.com";
    let cookie = app
        .subscriber(email, "starter_monthly", "subscription")
        .await;
    app.settle().await;
    let sub = subscriptions_of(&app, email).await.remove(0);
    let period_end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();

    // The page says so before the buyer pays.
    let pricing = app.page("/pricing", &cookie).await;
    assert!(
        pricing.contains("ends your Starter subscription at the end of its current period"),
        "{pricing}"
    );
    let (status, checkout) = app.checkout_as(&cookie, "lifetime_once", "payment").await;
    assert_eq!(status, 200, "{checkout}");
    pay_at(checkout["url"].as_str().unwrap(), email).await;
    app.settle().await;
    app.settle().await;

    // Lifetime's access now; the subscription runs to its period's end and stops.
    let body = app.in_force(&cookie).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("lifetime"), Some("paid")),
        "{body}"
    );
    assert_eq!(body["entitlements"]["monitors"], 100);
    let sub = subscriptions_of(&app, email).await.remove(0);
    assert_eq!(sub["cancel_at_period_end"], true, "{sub}");
    assert_eq!(sub["status"], "active");
    let billing = app.page("/billing", &cookie).await;
    assert!(billing.contains("Cancels on"), "{billing}");
    let mails = billing_mails(&app.state.db).await;
    let told = mails
        .iter()
        .find(|m| m.subject.starts_with("Your Starter subscription ends on"))
        .unwrap_or_else(|| panic!("{mails:?}"));
    assert!(
        told.body.contains("nothing more is charged"),
        "{}",
        told.body
    );

    let invoices_before = app.stripe_invoices().await.len();
    app.control("advance", &[("days", "40")]).await;
    app.settle().await;
    assert!(now() + 40 * DAY > period_end);
    let sub = subscriptions_of(&app, email).await.remove(0);
    assert_eq!(sub["status"], "canceled", "{sub}");
    assert_eq!(
        app.stripe_invoices().await.len(),
        invoices_before,
        "no renewal was invoiced"
    );
    let body = app.in_force(&cookie).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("lifetime"), Some("paid")),
        "{body}"
    );
}

async fn a_lifetime_owner_who_subscribes_keeps_lifetimes_larger_entitlements(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "owns-lifetime@example.com";
    let cookie = app.lifetime_buyer(email, "4242424242424242").await;
    assert_eq!(app.in_force(&cookie).await["entitlements"]["monitors"], 100);

    let (status, checkout) = app
        .checkout_as(&cookie, "starter_monthly", "subscription")
        .await;
    assert_eq!(status, 200, "{checkout}");
    pay_at(checkout["url"].as_str().unwrap(), email).await;
    app.settle().await;
    app.settle().await;

    let sub = subscriptions_of(&app, email).await.remove(0);
    assert_eq!(sub["status"], "active");
    assert_eq!(
        sub["cancel_at_period_end"], false,
        "a subscription bought after the purchase is the buyer's choice"
    );
    let body = app.in_force(&cookie).await;
    assert_eq!(body["plan"], "lifetime", "{body}");
    assert_eq!(body["entitlements"]["monitors"], 100);
    assert_eq!(body["entitlements"]["history_days"], 90);
    let product = app.page("/app", &cookie).await;
    assert!(product.contains("Lifetime"), "{product}");
    // The eleventh monitor, past Starter's ten, is allowed.
    for n in 0..11 {
        let url = format!("https://site-{n}.example.com");
        let res = app
            .post_form("/api/app/monitors", &[("url", url.as_str())], Some(&cookie))
            .await;
        assert_eq!(res.status().as_u16(), 200, "monitor {n}");
    }
}
