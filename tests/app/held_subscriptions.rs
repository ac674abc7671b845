//! A subscription held back from what its items say: a plan change that waits for the buyer's
//! bank (Stripe's pending update), and a payment of the subscription that the cardholder
//! disputes. Both through the same verified, re-read, claim-once webhook path as every event.

use serde_json::Value;

use crate::harness::{billing_mails, on_both_databases, pay_with_card, Backend, TestApp};

on_both_databases!(
    backend;
    an_upgrade_waits_for_3d_secure_and_applies_once_the_invoice_is_paid,
    an_upgrade_left_unpaid_expires_and_its_invoice_is_voided,
    a_disputed_subscription_is_held_charges_nothing_and_ends_as_the_bank_decides,
);

/// Subscribes `email` to Starter with Stripe's 3184 card (authenticated at checkout and on every
/// later payment), asks to move to Pro, and returns the cookie and the page the confirmation
/// sends the buyer to (the upgrade's invoice).
async fn upgrade_waiting_for_the_bank(app: &TestApp, email: &str) -> (String, String) {
    let cookie = app
        .starter_subscriber_authenticating_every_payment(email)
        .await;

    let (_, preview) = app.change_preview("pro_monthly", &cookie).await;
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let (status, to) = app.change_plan("pro_monthly", &when, &cookie).await;
    assert_eq!(status, 200, "{to}");
    let invoice_page = to.as_str().unwrap().to_string();
    assert!(
        invoice_page.starts_with(&format!("{}/i/in_", app.stripe_base())),
        "{invoice_page}"
    );
    app.settle().await;
    (cookie, invoice_page)
}

async fn an_upgrade_waits_for_3d_secure_and_applies_once_the_invoice_is_paid(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "waiting@example.com";
    let (cookie, invoice_page) = upgrade_waiting_for_the_bank(&app, email).await;

    // Stripe keeps the old plan until the payment: so do access and the billing page.
    let sub = app.subscription_of(email).await;
    assert!(sub["pending_update"].is_object(), "{sub}");
    assert_eq!(app.plan_in_force(&cookie).await, "starter");
    let billing = app.page("/billing", &cookie).await;
    assert!(billing.contains("Starter"), "{billing}");
    assert!(
        billing.contains("Pro (monthly) is waiting for your payment."),
        "{billing}"
    );
    assert!(
        billing.contains(&invoice_page),
        "the invoice's page is linked"
    );

    // The buyer authenticates on the invoice's page: the change applies.
    let paid = app
        .client
        .post(format!("{invoice_page}/pay"))
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_success() || paid.status().is_redirection());
    app.settle().await;
    assert!(app
        .stripe_events()
        .await
        .iter()
        .any(|e| e["type"] == "customer.subscription.pending_update_applied"));
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    let billing = app.page("/billing", &cookie).await;
    assert!(!billing.contains("waiting for your payment"), "{billing}");
}

async fn an_upgrade_left_unpaid_expires_and_its_invoice_is_voided(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "unpaid@example.com";
    let (cookie, invoice_page) = upgrade_waiting_for_the_bank(&app, email).await;
    let sub = app.subscription_of(email).await;
    let expires_at = sub["pending_update"]["expires_at"].as_i64().unwrap();
    let created = app.event_of_type("invoice.payment_action_required").await["created"]
        .as_i64()
        .unwrap();
    assert!(
        expires_at <= created + 23 * 3600 + 60,
        "Stripe keeps a pending update at most 23 hours"
    );
    let billing = app.page("/billing", &cookie).await;
    assert!(
        billing.contains("Unpaid, the change is dropped on"),
        "{billing}"
    );

    // A day passes without the payment: Stripe drops the change and voids its invoice.
    app.control("advance", &[("seconds", &(23 * 3600 + 60).to_string())])
        .await;
    app.settle().await;
    let types: Vec<String> = app
        .stripe_events()
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert!(types.contains(&"customer.subscription.pending_update_expired".to_string()));
    assert!(types.contains(&"invoice.voided".to_string()));
    let sub = app.subscription_of(email).await;
    assert!(sub["pending_update"].is_null(), "{sub}");
    assert_eq!(app.plan_in_force(&cookie).await, "starter");
    let billing = app.page("/billing", &cookie).await;
    assert!(!billing.contains("waiting for your payment"), "{billing}");
    assert!(
        billing.contains("void"),
        "the voided invoice is listed: {billing}"
    );
    // Too late to pay: the page refuses it.
    let late = app
        .client
        .post(format!("{invoice_page}/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 409);
}

/// Subscribes with Stripe's dispute card (0259): the first payment is paid, then disputed.
async fn disputed_subscriber(app: &TestApp, email: &str) -> (String, String, String) {
    let cookie = app.member(email).await;
    let (_, body) = app
        .checkout_as(&cookie, "starter_monthly", "subscription")
        .await;
    pay_with_card(body["url"].as_str().unwrap(), email, "4000000000000259").await;
    app.settle().await;
    let sub = app.subscription_of(email).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let dispute = app
        .stripe_events()
        .await
        .into_iter()
        .filter(|e| e["type"] == "charge.dispute.created")
        .map(|e| e["data"]["object"].clone())
        .find(|d| {
            let pi = d["payment_intent"].as_str().unwrap().to_string();
            let stripe = app.stripe.as_ref().unwrap();
            let store = stripe.store.lock().unwrap();
            store.payment_intents[&pi].customer.as_deref() == sub["customer"].as_str()
        })
        .expect("the first payment is disputed");
    (cookie, sub_id, dispute["id"].as_str().unwrap().to_string())
}

async fn a_disputed_subscription_is_held_charges_nothing_and_ends_as_the_bank_decides(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[("ADMIN_EMAILS", "ops@example.com")]).await;
    let (won, won_sub, won_dispute) = disputed_subscriber(&app, "won-sub@example.com").await;
    let (lost, lost_sub, lost_dispute) = disputed_subscriber(&app, "lost-sub@example.com").await;

    // While the bank decides: no access, collection paused, the operators told once each.
    for (cookie, email) in [
        (&won, "won-sub@example.com"),
        (&lost, "lost-sub@example.com"),
    ] {
        assert_eq!(app.plan_in_force(cookie).await, Value::Null, "suspended");
        let billing = app.page("/billing", cookie).await;
        assert!(
            billing.contains("A payment is disputed: access is suspended"),
            "{billing}"
        );
        let sub = app.subscription_of(email).await;
        assert_eq!(sub["pause_collection"]["behavior"], "void", "{sub}");
        assert_eq!(
            sub["status"], "active",
            "pausing collection keeps the status"
        );
    }
    let told: Vec<_> = billing_mails(&app.state.db)
        .await
        .into_iter()
        .filter(|m| m.subject.contains("is disputed"))
        .collect();
    assert_eq!(told.len(), 2, "one mail per dispute");
    assert!(told.iter().all(|m| m.to_email == "ops@example.com"));
    let types: Vec<String> = app
        .stripe_events()
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "charge.dispute.funds_withdrawn")
            .count(),
        2
    );

    // No further charge on that card: the renewal's invoice is voided, nothing is paid.
    let renewed = app
        .control(&format!("subscriptions/{won_sub}/renew"), &[])
        .await;
    let renewal = renewed["latest_invoice"].as_str().unwrap().to_string();
    let invoice = app
        .stripe_call(
            reqwest::Method::GET,
            &format!("/v1/invoices/{renewal}"),
            &[],
        )
        .await;
    assert_eq!(invoice["status"], "void", "{invoice}");
    assert_eq!(invoice["amount_paid"], 0);
    app.settle().await;
    assert_eq!(app.plan_in_force(&won).await, Value::Null);

    // Won (after review): collection resumes and access comes back.
    app.control(
        &format!("disputes/{won_dispute}/update"),
        &[("status", "under_review")],
    )
    .await;
    app.control(
        &format!("disputes/{won_dispute}/close"),
        &[("outcome", "won")],
    )
    .await;
    app.settle().await;
    assert_eq!(app.plan_in_force(&won).await, "starter", "won: access back");
    let sub = app.subscription_of("won-sub@example.com").await;
    assert!(sub["pause_collection"].is_null(), "{sub}");
    assert!(app
        .stripe_events()
        .await
        .iter()
        .any(|e| e["type"] == "charge.dispute.funds_reinstated"));

    // Lost: the money went back to the cardholder, so the subscription ends.
    app.control(
        &format!("disputes/{lost_dispute}/close"),
        &[("outcome", "lost")],
    )
    .await;
    app.settle().await;
    let sub = app.subscription_of("lost-sub@example.com").await;
    assert_eq!(sub["id"], lost_sub.as_str());
    assert_eq!(sub["status"], "canceled", "{sub}");
    assert_eq!(app.plan_in_force(&lost).await, Value::Null);
    let billing = app.page("/billing", &lost).await;
    assert!(billing.contains("disputed and lost"), "{billing}");
    // Still one mail per dispute, however many events each had.
    let told = billing_mails(&app.state.db)
        .await
        .into_iter()
        .filter(|m| m.subject.contains("is disputed"))
        .count();
    assert_eq!(told, 2);
}
