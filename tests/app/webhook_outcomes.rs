//! What webhooks come to over many deliveries: every event three times, shuffled, ends where
//! in-order delivery does; the mail billing events cause goes out once over SMTP; and two
//! instances on one database apply an event, and send its mail, once.

use std::time::Duration;

use landing::server::db::{outbox, Table};
use serde_json::json;

use crate::harness::{
    assert_applied_once, billing_mails, copy_profiles, emulator_checkout, now, on_both_databases,
    pay_at, stored_state, Backend, SmtpSink, TestApp, STRIPE_KEY, WEBHOOK_SECRET,
};

on_both_databases!(
    backend;
    every_event_three_times_shuffled_ends_where_in_order_delivery_does,
    a_failed_renewal_and_a_trial_ending_send_one_mail_each_over_smtp,
    a_renewal_the_bank_wants_confirmed_mails_the_page_that_confirms_it_once,
);

async fn every_event_three_times_shuffled_ends_where_in_order_delivery_does(backend: Backend) {
    let live = TestApp::spawn_webhooks(backend, &[]).await;
    // A history: a one-time purchase, an upgrade, a cancellation at period end and its undoing,
    // a cancellation now, renewals, and a failed renewal.
    live.subscriber("once@example.com", "lifetime_once", "payment")
        .await;
    live.subscriber("upgrader@example.com", "starter_monthly", "subscription")
        .await;
    live.subscriber("leaver@example.com", "pro_monthly", "subscription")
        .await;
    live.subscriber("late@example.com", "pro_monthly", "subscription")
        .await;
    let subs = live
        .stripe_call(reqwest::Method::GET, "/v1/subscriptions", &[])
        .await["data"]
        .as_array()
        .unwrap()
        .clone();
    let sub_of = |email: &str| {
        let customers = subs
            .iter()
            .map(|s| s["customer"].as_str().unwrap().to_string());
        customers
            .zip(subs.iter().map(|s| s["id"].as_str().unwrap().to_string()))
            .find(|(c, _)| {
                live.stripe
                    .as_ref()
                    .unwrap()
                    .store
                    .lock()
                    .unwrap()
                    .customers[c]
                    .email
                    .as_deref()
                    == Some(email)
            })
            .map(|(_, s)| s)
            .unwrap()
    };
    let (upgrader, leaver, late) = (
        sub_of("upgrader@example.com"),
        sub_of("leaver@example.com"),
        sub_of("late@example.com"),
    );
    let pro_yearly = live
        .stripe_call(
            reqwest::Method::GET,
            "/v1/prices",
            &[("lookup_keys[]", "pro_yearly")],
        )
        .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let post = reqwest::Method::POST;
    live.stripe_call(
        post.clone(),
        &format!("/v1/subscriptions/{upgrader}"),
        &[("items[0][price]", &pro_yearly)],
    )
    .await;
    live.stripe_call(
        post.clone(),
        &format!("/v1/subscriptions/{leaver}"),
        &[("cancel_at_period_end", "true")],
    )
    .await;
    live.stripe_call(
        post.clone(),
        &format!("/v1/subscriptions/{leaver}"),
        &[("cancel_at_period_end", "false")],
    )
    .await;
    live.stripe_call(
        reqwest::Method::DELETE,
        &format!("/v1/subscriptions/{leaver}"),
        &[],
    )
    .await;
    live.control(&format!("subscriptions/{late}/fail_next_renewal"), &[])
        .await;
    live.control("advance", &[("days", "32")]).await;
    live.settle().await;
    let in_order = stored_state(&live.state.db).await;
    assert!(
        in_order.iter().any(|l| l.contains("past_due")),
        "{in_order:#?}"
    );
    assert!(
        in_order.iter().any(|l| l.contains(" canceled ")),
        "{in_order:#?}"
    );
    assert!(
        in_order.iter().any(|l| l.contains(&pro_yearly)),
        "{in_order:#?}"
    );
    assert!(
        in_order
            .iter()
            .any(|l| l.starts_with("purchase") && l.contains(" paid refunded 0 ")),
        "{in_order:#?}"
    );
    assert_eq!(
        in_order
            .iter()
            .filter(|l| l.starts_with("mail invoice.payment_failed"))
            .count(),
        1,
        "{in_order:#?}"
    );

    // A second app, fed only the replay: every event three times, shuffled, eight at a time.
    let (replayed, url) = live.replay_target(backend).await;
    copy_profiles(&live.state.db, &replayed.state.db).await;
    let events = live.stripe_events().await.len();
    let answer = live
        .control(
            "replay",
            &[
                ("times", "3"),
                ("seed", "20261127"),
                ("concurrency", "8"),
                ("url", &url),
            ],
        )
        .await;
    assert_eq!(answer["delivered"], json!(events * 3), "{answer}");
    assert_eq!(answer["gave_up"], json!(0));
    assert_eq!(stored_state(&replayed.state.db).await, in_order);

    // And the live app, given the same storm, does not move.
    let answer = live
        .control(
            "replay",
            &[
                ("times", "3"),
                ("seed", "7"),
                ("concurrency", "8"),
                ("url", &format!("{}/api/stripe/webhook", live.base)),
            ],
        )
        .await;
    assert_eq!(answer["gave_up"], json!(0));
    assert_eq!(stored_state(&live.state.db).await, in_order);
}

async fn a_failed_renewal_and_a_trial_ending_send_one_mail_each_over_smtp(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = TestApp::spawn_webhooks(
        backend,
        &[
            ("SMTP_URL", &url),
            ("MAIL_FROM", "Beacon <billing@beacon.test>"),
        ],
    )
    .await;
    app.subscriber("card@example.com", "pro_monthly", "subscription")
        .await;
    let sub = app
        .stripe_call(reqwest::Method::GET, "/v1/subscriptions", &[])
        .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.control(&format!("subscriptions/{sub}/fail_next_renewal"), &[])
        .await;
    app.control(&format!("subscriptions/{sub}/renew"), &[])
        .await;
    app.settle().await;
    // Stripe delivers again (a lost answer, a manual resend): still one mail.
    let failed = app.event_of_type("invoice.payment_failed").await;
    let id = failed["id"].as_str().unwrap();
    for _ in 0..3 {
        app.control(&format!("events/{id}/resend"), &[]).await;
    }
    let mails = smtp.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails_after = smtp.mails();
    assert_eq!(
        mails_after.len(),
        3,
        "the sign-up's link, a receipt and one failed-payment mail: {mails:#?}"
    );
    let failure: Vec<_> = mails_after
        .iter()
        .filter(|m| m.contains("Subject: Your payment did not go through"))
        .collect();
    assert_eq!(failure.len(), 1);
    assert!(
        failure[0].contains("To: card@example.com"),
        "{}",
        failure[0]
    );
    assert!(
        failure[0].contains("From: Beacon <billing@beacon.test>"),
        "{}",
        failure[0]
    );
    assert!(
        failure[0].contains(&format!("{}/billing", app.base)),
        "{}",
        failure[0]
    );
    assert!(outbox::all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .all(|m| m.sent_at.is_some()));

    // A trial (made straight at the emulator: the pricing page sells none) warns once.
    let url = emulator_checkout(
        &app.stripe_base(),
        "starter_monthly",
        "trial@example.com",
        &[("subscription_data[trial_period_days]", "14")],
    )
    .await;
    pay_at(&url, "trial@example.com").await;
    app.control("advance", &[("days", "12")]).await;
    app.settle().await;
    let mails = smtp.wait_for(5, Duration::from_secs(10)).await;
    let trial: Vec<_> = mails
        .iter()
        .filter(|m| m.contains("Subject: Your trial ends soon"))
        .collect();
    assert_eq!(trial.len(), 1, "{mails:#?}");
    assert!(trial[0].contains("To: trial@example.com"));
}

/// `invoice.payment_action_required` (a renewal that needs 3-D Secure), as Stripe sends it: the
/// subscriber is mailed the invoice's page, once however often the event comes.
async fn a_renewal_the_bank_wants_confirmed_mails_the_page_that_confirms_it_once(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    app.subscriber("sca@example.com", "pro_monthly", "subscription")
        .await;
    app.settle().await;
    let invoice = app
        .stripe_call(reqwest::Method::GET, "/v1/invoices", &[])
        .await["data"][0]
        .clone();
    let id = invoice["id"].as_str().unwrap();
    let event = json!({"id": "evt_action_required_1", "object": "event",
        "type": "invoice.payment_action_required", "created": now(), "livemode": false,
        "data": {"object": {"id": id, "object": "invoice"}}})
    .to_string();
    for _ in 0..3 {
        let (status, answer) = app.deliver_signed(&event).await;
        assert_eq!(status, 200, "{answer}");
    }
    let mails: Vec<_> = billing_mails(&app.state.db)
        .await
        .into_iter()
        .filter(|m| m.dedupe_key.starts_with("invoice.payment_action_required"))
        .collect();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to_email, "sca@example.com");
    assert_eq!(mails[0].subject, "Please confirm your payment");
    let page = invoice["hosted_invoice_url"].as_str().unwrap();
    assert!(mails[0].body.contains(page), "{}", mails[0].body);
}

/// Two instances behind one balancer on one PostgreSQL: one event delivered to both at once is
/// applied once (the database's claim decides, not either instance's memory of recent ids), and
/// the mail it causes is sent once, though both instances' senders watch the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_apply_an_event_once_and_send_its_mail_once() {
    let smtp = SmtpSink::start().await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let one = TestApp::spawn_billing_with(Backend::Postgres, &[("SMTP_URL", &smtp_url)]).await;
    let stripe = one.stripe_base();
    let two = one
        .second_instance(&[
            ("STRIPE_SECRET_KEY", STRIPE_KEY),
            ("STRIPE_API_BASE", stripe.as_str()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("SMTP_URL", smtp_url.as_str()),
        ])
        .await;
    one.subscriber("both@example.com", "pro_monthly", "subscription")
        .await;
    let event = one
        .event_of_type("checkout.session.completed")
        .await
        .to_string();
    let (at_one, at_two) = tokio::join!(
        one.deliver_at_once(vec![event.clone(); 3]),
        two.deliver_at_once(vec![event; 3])
    );
    let answers: Vec<_> = at_one.into_iter().chain(at_two).collect();
    assert_applied_once(&answers);
    assert_eq!(one.rows(Table::Subscriptions).await, 1);
    let queued = outbox::all(&one.state.db).await.unwrap();
    assert!(
        queued.iter().any(|m| m.to_email == "both@example.com"),
        "{queued:?}"
    );
    let mails = smtp.wait_for(queued.len(), Duration::from_secs(10)).await;
    // Time for a second send, were either sender to make one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        smtp.mails().len(),
        queued.len(),
        "each mail once: {mails:#?}"
    );
    assert!(outbox::all(&one.state.db)
        .await
        .unwrap()
        .iter()
        .all(|m| m.sent_at.is_some() && m.attempts == 1));
}
