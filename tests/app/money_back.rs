//! Money going back: refunds and disputes of a one-time purchase, through the same verified,
//! re-read, claim-once webhook path as every event.

use serde_json::Value;

use crate::harness::{billing_mails, on_both_databases, Backend, TestApp};

on_both_databases!(
    backend;
    a_partial_refund_keeps_lifetime_and_a_full_one_ends_it,
    a_dispute_suspends_lifetime_until_it_is_won_and_a_lost_one_ends_it,
    a_refund_that_fails_gives_access_back_and_a_prevented_dispute_counts_as_won,
);

/// A refund the bank could not complete leaves the money with us: Lifetime comes back. A dispute
/// `prevented` (settled before any chargeback) takes nothing away either.
async fn a_refund_that_fails_gives_access_back_and_a_prevented_dispute_counts_as_won(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let cookie = app
        .lifetime_buyer("failed-refund@example.com", "4242424242424242")
        .await;
    let pi = app.payment_intent_of("failed-refund@example.com").await;
    let refund = app
        .stripe_call(
            reqwest::Method::POST,
            "/v1/refunds",
            &[("payment_intent", &pi)],
        )
        .await;
    app.settle().await;
    assert_eq!(
        app.plan_in_force(&cookie).await,
        Value::Null,
        "refunded in full"
    );
    let id = refund["id"].as_str().unwrap();
    let failed = app.control(&format!("refunds/{id}/fail"), &[]).await;
    assert_eq!(failed["status"], "failed");
    app.settle().await;
    assert_eq!(
        app.plan_in_force(&cookie).await,
        "lifetime",
        "the money stayed with us: access is back"
    );
    assert!(!app.page("/billing", &cookie).await.contains("Refunded"));

    let disputed = app
        .lifetime_buyer("prevented@example.com", "4000000000000259")
        .await;
    assert_eq!(app.plan_in_force(&disputed).await, Value::Null, "suspended");
    let pi = app.payment_intent_of("prevented@example.com").await;
    let dispute = app
        .stripe_events()
        .await
        .into_iter()
        .find(|e| {
            e["type"] == "charge.dispute.created"
                && e["data"]["object"]["payment_intent"] == pi.as_str()
        })
        .map(|e| e["data"]["object"]["id"].as_str().unwrap().to_string())
        .unwrap();
    app.control(
        &format!("disputes/{dispute}/close"),
        &[("outcome", "prevented")],
    )
    .await;
    app.settle().await;
    assert_eq!(
        app.plan_in_force(&disputed).await,
        "lifetime",
        "no chargeback happened"
    );
    assert!(app
        .page("/billing", &disputed)
        .await
        .contains("no chargeback"));
}

async fn a_partial_refund_keeps_lifetime_and_a_full_one_ends_it(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let cookie = app
        .lifetime_buyer("refund@example.com", "4242424242424242")
        .await;
    assert_eq!(app.plan_in_force(&cookie).await, "lifetime");
    let pi = app.payment_intent_of("refund@example.com").await;

    app.stripe_call(
        reqwest::Method::POST,
        "/v1/refunds",
        &[("payment_intent", &pi), ("amount", "10000")],
    )
    .await;
    app.settle().await;
    assert_eq!(
        app.plan_in_force(&cookie).await,
        "lifetime",
        "a partial refund keeps it"
    );
    let billing = app.page("/billing", &cookie).await;
    assert!(billing.contains("paid, $100 refunded"), "{billing}");

    app.stripe_call(
        reqwest::Method::POST,
        "/v1/refunds",
        &[("payment_intent", &pi)],
    )
    .await;
    app.settle().await;
    assert_eq!(
        app.plan_in_force(&cookie).await,
        Value::Null,
        "a full refund ends it"
    );
    let billing = app.page("/billing", &cookie).await;
    assert!(billing.contains("Refunded"), "{billing}");
    assert!(app
        .page("/app", &cookie)
        .await
        .contains("This area is for subscribers"));
}

async fn a_dispute_suspends_lifetime_until_it_is_won_and_a_lost_one_ends_it(backend: Backend) {
    let app = TestApp::spawn_webhooks(
        backend,
        &[("ADMIN_EMAILS", "ops@example.com,finance@example.com")],
    )
    .await;
    // Stripe's dispute card: paid, then disputed.
    let won = app
        .lifetime_buyer("won@example.com", "4000000000000259")
        .await;
    let lost = app
        .lifetime_buyer("lost@example.com", "4000000000000259")
        .await;
    for cookie in [&won, &lost] {
        assert_eq!(
            app.plan_in_force(cookie).await,
            Value::Null,
            "suspended while disputed"
        );
    }
    let billing = app.page("/billing", &won).await;
    assert!(billing.contains("disputed: access suspended"), "{billing}");
    // Each operator is told of each dispute, once.
    let told: Vec<_> = billing_mails(&app.state.db)
        .await
        .into_iter()
        .filter(|m| m.subject.contains("is disputed"))
        .map(|m| m.to_email)
        .collect();
    assert_eq!(told.len(), 4, "{told:?}");
    assert_eq!(told.iter().filter(|t| *t == "ops@example.com").count(), 2);

    let events = app.stripe_events().await;
    let disputes: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "charge.dispute.created")
        .map(|e| e["data"]["object"]["id"].as_str().unwrap().to_string())
        .collect();
    let won_pi = app.payment_intent_of("won@example.com").await;
    let dispute_of = |pi: &str| {
        events
            .iter()
            .find(|e| {
                e["type"] == "charge.dispute.created" && e["data"]["object"]["payment_intent"] == pi
            })
            .map(|e| e["data"]["object"]["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let won_dispute = dispute_of(&won_pi);
    let lost_dispute = disputes
        .iter()
        .find(|d| **d != won_dispute)
        .unwrap()
        .clone();
    app.control(
        &format!("disputes/{won_dispute}/close"),
        &[("outcome", "won")],
    )
    .await;
    app.control(
        &format!("disputes/{lost_dispute}/close"),
        &[("outcome", "lost")],
    )
    .await;
    app.settle().await;
    assert_eq!(
        app.plan_in_force(&won).await,
        "lifetime",
        "a won dispute restores it"
    );
    assert_eq!(
        app.plan_in_force(&lost).await,
        Value::Null,
        "a lost one ends it"
    );
    assert!(app
        .page("/billing", &lost)
        .await
        .contains("disputed and lost"));

    // Delivered again, as Stripe retries: no second mail.
    let created = events
        .iter()
        .find(|e| e["type"] == "charge.dispute.created")
        .unwrap();
    let id = created["id"].as_str().unwrap();
    app.control(&format!("events/{id}/resend"), &[]).await;
    app.settle().await;
    let told = billing_mails(&app.state.db)
        .await
        .into_iter()
        .filter(|m| m.subject.contains("is disputed"))
        .count();
    assert_eq!(told, 4);
}
