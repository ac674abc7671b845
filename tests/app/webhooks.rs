//! `POST /api/stripe/webhook` under Stripe's delivery contract (at least once, any order,
//! retried), against the emulator's real events: signatures, duplicates, concurrency, a
//! database failure mid-apply, shuffled replay, and the mail it causes.

use std::time::Duration;

use landing::server::db::{events, outbox, Db, Table};
use serde_json::{json, Value};

use crate::harness::{billing_mails, copy_profiles, stored_state, SmtpSink};
use crate::support::{
    emulator_checkout, on_both_databases, pay, pay_at, Backend, TestApp, STRIPE_KEY, WEBHOOK_SECRET,
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
    every_event_three_times_shuffled_ends_where_in_order_delivery_does,
    a_failed_renewal_and_a_trial_ending_send_one_mail_each_over_smtp,
    a_renewal_the_bank_wants_confirmed_mails_the_page_that_confirms_it_once,
);

fn now() -> i64 {
    landing::server::auth::jwt::now()
}

/// Every delivery of one event answered 200, and exactly one of them applied it.
fn assert_applied_once(answers: &[(u16, Value)]) {
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let applied = answers
        .iter()
        .filter(|(_, body)| body["duplicate"] == false)
        .count();
    assert_eq!(applied, 1, "{answers:?}");
}

fn signed(secret: &str, t: i64, body: &str) -> String {
    stripe_emulator::signing::header(secret, t, body)
}

impl TestApp {
    /// Posts a webhook body with the given `Stripe-Signature` (none when `None`).
    pub(crate) async fn deliver(&self, body: &str, signature: Option<String>) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/api/stripe/webhook"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Delivers every body at once, signed, each on its own connection; the answers in order.
    async fn deliver_at_once(&self, bodies: Vec<String>) -> Vec<(u16, Value)> {
        let tasks: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let (client, url) = (self.client.clone(), self.url("/api/stripe/webhook"));
                tokio::spawn(async move {
                    let res = client
                        .post(url)
                        .header("stripe-signature", signed(WEBHOOK_SECRET, now(), &body))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = res.status().as_u16();
                    (status, res.json::<Value>().await.unwrap_or(Value::Null))
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    }

    /// Delivers a body signed as Stripe signs it, now, with the test secret.
    pub(crate) async fn deliver_signed(&self, body: &str) -> (u16, Value) {
        self.deliver(body, Some(signed(WEBHOOK_SECRET, now(), body)))
            .await
    }

    pub(crate) fn stripe_base(&self) -> String {
        self.stripe.as_ref().expect("billing on").base_url.clone()
    }

    /// A call to the emulator's API (`form` as Stripe's form encoding).
    pub(crate) async fn stripe_call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Value {
        let req = self
            .client
            .request(method.clone(), format!("{}{path}", self.stripe_base()))
            .bearer_auth(STRIPE_KEY);
        let req = if method == reqwest::Method::POST {
            req.form(form)
        } else {
            req.query(form)
        };
        let res = req.send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// A control of the emulator (`/_emulator/…`).
    pub(crate) async fn control(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let res = self
            .client
            .post(format!("{}/_emulator/{path}", self.stripe_base()))
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// Every event the emulator has made, oldest first, as delivered (the raw JSON).
    pub(crate) async fn stripe_events(&self) -> Vec<Value> {
        let mut list = self
            .stripe_call(reqwest::Method::GET, "/v1/events", &[])
            .await["data"]
            .as_array()
            .unwrap()
            .clone();
        list.reverse();
        list
    }

    pub(crate) async fn event_of_type(&self, kind: &str) -> Value {
        self.stripe_events()
            .await
            .into_iter()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} event"))
    }

    /// Signs up and in through the JSON routes; returns the session cookie.
    pub(crate) async fn subscriber_without_purchase(&self, email: &str) -> String {
        self.member(email).await
    }

    /// Signs up and pays for `price` on the emulator's checkout page; returns the cookie.
    pub(crate) async fn subscriber(&self, email: &str, price: &str, mode: &str) -> String {
        let cookie = self.subscriber_without_purchase(email).await;
        let (_, body) = self.checkout_as(&cookie, price, mode).await;
        pay(self, body["url"].as_str().expect("checkout url"), email).await;
        cookie
    }

    /// Waits until the app has applied every event the emulator made (webhooks are async).
    pub(crate) async fn settle(&self) {
        let want = self.stripe_events().await.len() as i64;
        for _ in 0..300 {
            let applied = events::recent(&self.state.db, false, 10_000)
                .await
                .unwrap()
                .iter()
                .filter(|e| e.processed_at.is_some())
                .count() as i64;
            if applied >= want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the app did not apply all {want} events in 15 s");
    }
}

pub(crate) async fn rename(db: &Db, from: &str, to: &str) {
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    match db {
        Db::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
}

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
    let fails = |e: &Value| e["type"].as_str().unwrap().starts_with("invoice.");
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
