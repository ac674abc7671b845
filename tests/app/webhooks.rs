//! `POST /api/stripe/webhook` under Stripe's delivery contract (at least once, any order,
//! retried), against the emulator's real events: signatures, secret rotation, duplicates,
//! concurrency, a database failure mid-apply, and the portal route (what many deliveries come to
//! is in `webhook_outcomes`).

use landing::server::billing::webhook::handled_event_types;
use landing::server::db::{events, Table};
use serde_json::{json, Value};

use crate::harness::{
    assert_applied_once, billing_mails, now, on_both_databases, rename, signed, Backend, TestApp,
    WEBHOOK_SECRET,
};

on_both_databases!(
    billing;
    bad_stale_and_missing_signatures_are_refused_with_400_and_change_nothing,
    duplicates_and_unknown_types_answer_200_and_change_nothing,
    an_event_of_the_other_mode_is_recorded_and_not_applied,
    the_same_event_delivered_concurrently_is_applied_once,
    a_database_error_mid_apply_answers_500_and_a_redelivery_applies_it_once,
    failing_events_among_concurrent_deliveries_fail_alone,
    the_portal_route_answers_the_seeds_shapes_and_finds_a_payer_without_webhooks,
);

on_both_databases!(
    backend;
    both_secrets_of_a_rotation_are_accepted,
);

async fn bad_stale_and_missing_signatures_are_refused_with_400_and_change_nothing(app: TestApp) {
    let body = json!({"id": "evt_x1", "object": "event", "type": "customer.created", "created": now(), "data": {"object": {"id": "cus_x"}}}).to_string();
    let t = now();
    let attempts = [
        None,
        Some("garbage".to_string()),
        Some(format!("t={t}")),
        Some(signed("whsec_someone_else", t, &body)),
        // Signed for other bytes.
        Some(signed(WEBHOOK_SECRET, t, &body.replace("cus_x", "cus_y"))),
        // A replay of an old delivery, and one from the future (past 300 s even if the test
        // takes a few seconds to get there).
        Some(signed(WEBHOOK_SECRET, t - 301, &body)),
        Some(signed(WEBHOOK_SECRET, t + 310, &body)),
        // Times at either end of i64, where `now - t` overflows, and past it.
        Some(signed(WEBHOOK_SECRET, i64::MIN, &body)),
        Some(signed(WEBHOOK_SECRET, i64::MAX, &body)),
        Some("t=-9223372036854775809,v1=00".to_string()),
        Some("t=9223372036854775808,v1=00".to_string()),
    ];
    for signature in attempts {
        let (status, answer) = app.deliver(&body, signature.clone()).await;
        assert_eq!(status, 400, "{signature:?}");
        assert_eq!(answer, json!({"error": "Invalid signature"}));
    }
    assert_eq!(app.rows(Table::StripeEvents).await, 0);
    // Signed correctly but not an event: refused too.
    let (status, answer) = app.deliver_signed("[1, 2]").await;
    assert_eq!((status, answer), (400, json!({"error": "Invalid payload"})));
    // The same event signed well is taken, within the tolerance either side.
    let (status, _) = app
        .deliver(&body, Some(signed(WEBHOOK_SECRET, t - 290, &body)))
        .await;
    assert_eq!(status, 200);
}

async fn both_secrets_of_a_rotation_are_accepted(backend: Backend) {
    let app = TestApp::spawn_billing_with(
        backend,
        &[(
            "STRIPE_WEBHOOK_SECRET",
            "whsec_old_secret, whsec_new_secret",
        )],
    )
    .await;
    let body = |id: &str| {
        json!({"id": id, "type": "customer.created", "created": now(), "data": {"object": {"id": "cus_r"}}}).to_string()
    };
    let t = now();
    for (id, secret) in [
        ("evt_r1", "whsec_old_secret"),
        ("evt_r2", "whsec_new_secret"),
    ] {
        let (status, _) = app
            .deliver(&body(id), Some(signed(secret, t, &body(id))))
            .await;
        assert_eq!(status, 200, "{secret}");
    }
    // Stripe signs with both during a rotation: one good v1 among others is enough.
    let b = body("evt_r3");
    let other = stripe_emulator::signing::signature("whsec_retired", t, &b);
    let good = stripe_emulator::signing::signature("whsec_new_secret", t, &b);
    let (status, _) = app
        .deliver(&b, Some(format!("t={t},v1={other},v1={good}")))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.deliver(&b, Some(format!("t={t},v1={other}"))).await;
    assert_eq!(status, 400);
    assert_eq!(app.rows(Table::StripeEvents).await, 3);
}

async fn duplicates_and_unknown_types_answer_200_and_change_nothing(app: TestApp) {
    let body = json!({"id": "evt_unknown_1", "object": "event", "type": "radar.early_fraud_warning.created", "created": now(), "livemode": false, "data": {"object": {"id": "issfr_1"}}}).to_string();
    let (status, first) = app.deliver_signed(&body).await;
    assert_eq!(status, 200);
    assert_eq!(first, json!({"received": true, "duplicate": false}));
    let (status, second) = app.deliver_signed(&body).await;
    assert_eq!(status, 200);
    assert_eq!(second["duplicate"], true);
    let logged = events::recent(&app.state.db, false, 10).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].type_, "radar.early_fraud_warning.created");
    assert!(logged[0].processed_at.is_some());
    assert_eq!(logged[0].attempts, 1);

    // A real checkout's event, twice: stored once.
    app.subscriber("dup@example.com", "pro_monthly", "subscription")
        .await;
    let event = app
        .event_of_type("checkout.session.completed")
        .await
        .to_string();
    for _ in 0..2 {
        assert_eq!(app.deliver_signed(&event).await.0, 200);
    }
    assert_eq!(app.rows(Table::Subscriptions).await, 1);
    assert_eq!(app.rows(Table::StripeCustomers).await, 1);
    assert_eq!(
        app.rows(Table::EmailOutbox).await,
        2,
        "the sign-up's verification link and one receipt"
    );
}

/// A live event at a site with a test key (an endpoint secret shared between modes).
async fn an_event_of_the_other_mode_is_recorded_and_not_applied(app: TestApp) {
    app.subscriber("mode@example.com", "pro_monthly", "subscription")
        .await;
    let mut event = app.event_of_type("checkout.session.completed").await;
    event["livemode"] = json!(true);
    let (status, answer) = app.deliver_signed(&event.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(app.rows(Table::Subscriptions).await, 0);
    assert_eq!(app.rows(Table::StripeCustomers).await, 0);
    let logged = events::recent(&app.state.db, false, 10).await.unwrap();
    assert!(logged[0].processed_at.is_some());
    assert!(
        logged[0].last_error.as_deref().unwrap().contains("mode"),
        "{logged:?}"
    );
}

async fn the_same_event_delivered_concurrently_is_applied_once(app: TestApp) {
    app.subscriber("both@example.com", "pro_monthly", "subscription")
        .await;
    let event = app
        .event_of_type("checkout.session.completed")
        .await
        .to_string();
    // Six deliveries of one event at once, each on its own connection.
    let answers = app.deliver_at_once(vec![event; 6]).await;
    assert_applied_once(&answers);
    let logged = events::recent(&app.state.db, false, 10).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(app.rows(Table::Subscriptions).await, 1);
    let mail = billing_mails(&app.state.db).await;
    assert_eq!(mail.len(), 1, "one receipt: {mail:?}");
    assert_eq!(mail[0].to_email, "both@example.com");
}

async fn a_database_error_mid_apply_answers_500_and_a_redelivery_applies_it_once(app: TestApp) {
    app.subscriber("fault@example.com", "pro_monthly", "subscription")
        .await;
    let event = app.event_of_type("checkout.session.completed").await;
    let id = event["id"].as_str().unwrap().to_string();
    let body = event.to_string();

    // The customer link and the profile lookup work; storing the subscription fails.
    rename(&app.state.db, "subscriptions", "subscriptions_away").await;
    let (status, answer) = app.deliver_signed(&body).await;
    assert_eq!(status, 500, "{answer}");
    assert!(
        !answer.to_string().contains("subscriptions_away"),
        "no internals: {answer}"
    );
    rename(&app.state.db, "subscriptions_away", "subscriptions").await;

    // Rolled back: no customer link, no mail; the log keeps the attempt and its error.
    assert_eq!(app.rows(Table::StripeCustomers).await, 0);
    assert_eq!(billing_mails(&app.state.db).await.len(), 0);
    let failed = events::recent(&app.state.db, true, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, id);
    assert_eq!(failed[0].attempts, 1);
    assert!(failed[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("subscription"));

    let (status, answer) = app.deliver_signed(&body).await;
    assert_eq!((status, answer["duplicate"].clone()), (200, json!(false)));
    let (status, answer) = app.deliver_signed(&body).await;
    assert_eq!((status, answer["duplicate"].clone()), (200, json!(true)));
    let logged = events::recent(&app.state.db, false, 10).await.unwrap();
    assert_eq!(logged[0].attempts, 2);
    assert!(logged[0].processed_at.is_some());
    assert!(events::recent(&app.state.db, true, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.rows(Table::Subscriptions).await, 1);
    assert_eq!(app.rows(Table::StripeCustomers).await, 1);
    assert_eq!(
        app.rows(Table::EmailOutbox).await,
        2,
        "the sign-up's verification link and one receipt"
    );
}

/// Deliveries arriving together share a transaction (group commit): events that cannot be
/// applied must fail on their own and take none of the others down with them.
async fn failing_events_among_concurrent_deliveries_fail_alone(app: TestApp) {
    app.subscriber("once@example.com", "lifetime_once", "payment")
        .await;
    for i in 0..3 {
        app.subscriber(
            &format!("sub{i}@example.com"),
            "pro_monthly",
            "subscription",
        )
        .await;
    }
    let events = app.stripe_events().await;
    // The invoice events the site handles (it is not subscribed to `invoice.created`).
    let fails = |e: &Value| {
        let kind = e["type"].as_str().unwrap();
        kind.starts_with("invoice.") && handled_event_types().any(|t| t == kind)
    };
    assert!(events.iter().any(fails) && !events.iter().all(fails));
    // Storing an invoice now fails; everything else still works.
    rename(&app.state.db, "invoices", "invoices_away").await;
    let bodies = || events.iter().map(Value::to_string).collect::<Vec<_>>();
    let answers = app.deliver_at_once(bodies()).await;
    for (event, (status, _)) in events.iter().zip(&answers) {
        let want = if fails(event) { 500 } else { 200 };
        assert_eq!(*status, want, "{}", event["type"]);
    }
    assert_eq!(app.rows(Table::Subscriptions).await, 3);
    assert_eq!(app.rows(Table::Purchases).await, 1);
    assert_eq!(billing_mails(&app.state.db).await.len(), 4);
    let failed = events::recent(&app.state.db, true, 100).await.unwrap();
    assert_eq!(failed.len(), events.iter().filter(|e| fails(e)).count());

    rename(&app.state.db, "invoices_away", "invoices").await;
    let answers = app.deliver_at_once(bodies()).await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    assert!(events::recent(&app.state.db, true, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(app.rows(Table::Invoices).await >= 3);
    assert_eq!(billing_mails(&app.state.db).await.len(), 4);
}

async fn the_portal_route_answers_the_seeds_shapes_and_finds_a_payer_without_webhooks(
    app: TestApp,
) {
    let portal = |cookie: Option<String>, body: Value| {
        let mut req = app
            .client
            .post(app.url("/api/stripe/create-portal"))
            .header("origin", &app.base)
            .json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let back = json!({"returnUrl": app.url("/billing")});
    assert_eq!(
        portal(None, back.clone()).await,
        (401, json!({"error": "Not signed in"}))
    );
    // Signed in, nothing bought yet.
    let nobody = Some(app.subscriber_without_purchase("nobody@example.com").await);
    assert_eq!(
        portal(nobody.clone(), json!({})).await,
        (400, json!({"error": "Return URL is required"}))
    );
    assert_eq!(
        portal(nobody.clone(), back.clone()).await,
        (
            400,
            json!({"error": "You don't have a billing account yet. Make a purchase first."})
        )
    );
    let (status, _) = portal(nobody, json!({"returnUrl": "https://evil.example/billing"})).await;
    assert_eq!(status, 400);

    // A payer whose webhook never came (this app gets none) and who never saw the success
    // page: Stripe is asked, the customer linked, the portal opened.
    let payer = app
        .subscriber("payer@example.com", "starter_monthly", "subscription")
        .await;
    // Found by email only once its owner has proven it.
    app.prove("payer@example.com").await;
    assert_eq!(app.rows(Table::StripeCustomers).await, 0);
    let (status, answer) = portal(Some(payer), back).await;
    assert_eq!(status, 200, "{answer}");
    let url = answer["url"].as_str().unwrap();
    assert!(url.starts_with(&app.stripe_base()), "{url}");
    assert_eq!(app.rows(Table::StripeCustomers).await, 1);
    assert_eq!(app.rows(Table::Subscriptions).await, 1);
}
