//! One subscription per customer, and changing plan on our site: the refusal of a second
//! subscription on both entry points, and plan changes charged as Stripe's preview said.

use landing::model::catalog::format_amount;
use serde_json::Value;

use crate::harness::{billing_mails, on_both_databases, Backend, TestApp};

on_both_databases!(
    backend;
    a_subscriber_is_sent_to_change_plan_instead_of_a_second_checkout,
    upgrades_are_charged_now_and_downgrades_wait_for_the_renewal_as_previewed,
    a_trial_converts_or_fails_at_its_end_and_is_given_once,
    a_trialing_subscriber_who_changes_plan_keeps_the_trial_and_pays_the_new_price_at_its_end,
    the_plan_decides_how_many_monitors_and_the_eleventh_on_starter_is_refused,
    a_card_that_always_authenticates_gets_one_mail_per_renewal_and_the_invoice_page_on_upgrade,
);

async fn a_subscriber_is_sent_to_change_plan_instead_of_a_second_checkout(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let cookie = app
        .subscriber("one@example.com", "starter_monthly", "subscription")
        .await;
    app.settle().await;
    let sessions_before = app.checkout_sessions();

    // The JSON route (`POST /api/stripe/create-checkout`): 409, and where to change plan instead.
    let (status, body) = app
        .checkout_as(&cookie, "pro_monthly", "subscription")
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["changeUrl"],
        format!("{}/billing/change?price=pro_monthly", app.base)
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("You already subscribe to Starter"),
        "{body}"
    );
    // The same price again: the billing page, where the plan is.
    let (status, body) = app
        .checkout_as(&cookie, "starter_monthly", "subscription")
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["changeUrl"], format!("{}/billing", app.base));

    // The buy server function: a plain form is redirected to the change page; fetch gets 409.
    let to = app
        .browser_post("/api/checkout", &[("price", "pro_yearly")], &cookie)
        .await;
    assert_eq!(to, "/billing/change?price=pro_yearly");
    let res = app
        .post_form("/api/checkout", &[("price", "pro_yearly")], Some(&cookie))
        .await;
    assert_eq!(res.status(), 409);

    // No Checkout was opened for any of them; a one-time plan stays buyable.
    let sessions_after = app.checkout_sessions();
    assert_eq!(sessions_after, sessions_before);
    let res = app
        .post_form(
            "/api/checkout",
            &[("price", "lifetime_once")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), 200);

    // The pricing page: the current price has no button, the others switch.
    let page = app.page("/pricing", &cookie).await;
    assert!(page.contains("Your current plan"), "{page}");
    assert!(
        page.contains(r#"href="/billing/change?price=pro_monthly""#)
            && page.contains("Switch to Pro"),
        "{page}"
    );
    assert!(!page.contains("Subscribe to"), "{page}");
    assert!(page.contains("Buy Lifetime"), "{page}");
    let yearly = app.page("/pricing?interval=year", &cookie).await;
    assert!(
        yearly.contains(r#"href="/billing/change?price=starter_yearly""#),
        "{yearly}"
    );
}

async fn upgrades_are_charged_now_and_downgrades_wait_for_the_renewal_as_previewed(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let cookie = app
        .subscriber("changes@example.com", "starter_monthly", "subscription")
        .await;
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "starter");

    // Upgrade: the preview, then the change at the preview's moment, charged what it showed.
    let (status, preview) = app.change_preview("pro_monthly", &cookie).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["charged_now"], true);
    assert_eq!(preview["from"], "Starter, monthly");
    assert_eq!(preview["to"], "Pro, monthly");
    assert_eq!(preview["next_amount"], "$29");
    let page = app.page("/billing/change?price=pro_monthly", &cookie).await;
    assert!(
        page.contains("Due today") && page.contains(preview["due_today"].as_str().unwrap()),
        "{page}"
    );
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let (status, to) = app.change_plan("pro_monthly", &when, &cookie).await;
    assert_eq!(status, 200, "{to}");
    assert_eq!(to, "/billing?changed=1");
    // Shown at once, before any webhook is waited for.
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    assert!(app.page("/billing", &cookie).await.contains("Pro"));
    let invoices = app.stripe_invoices().await;
    let upgrade = invoices
        .iter()
        .find(|i| i["billing_reason"] == "subscription_update")
        .expect("the upgrade's invoice");
    assert_eq!(upgrade["status"], "paid");
    assert_eq!(
        format_amount(upgrade["amount_paid"].as_i64().unwrap(), "usd"),
        preview["due_today"].as_str().unwrap()
    );

    // A preview too old is shown again, and nothing changes.
    let stale = (preview["proration_date"].as_i64().unwrap() - 3600).to_string();
    let (status, body) = app.change_plan("starter_monthly", &stale, &cookie).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    // So is a change to the plan one already has, and to a one-time price.
    assert_eq!(app.change_preview("pro_monthly", &cookie).await.0, 409);
    assert_eq!(app.change_preview("lifetime_once", &cookie).await.0, 400);

    // Downgrade: scheduled for the period's end, nothing today, Pro until then, and the
    // renewal charges what the preview said. A plain form (JavaScript off) is redirected to the
    // billing page.
    let (_, preview) = app.change_preview("starter_monthly", &cookie).await;
    assert_eq!(preview["charged_now"], false);
    assert_eq!(preview["at_period_end"], true);
    assert_eq!(preview["due_today"], "$0");
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let to = app
        .browser_post(
            "/api/billing/change",
            &[("price", "starter_monthly"), ("proration_date", &when)],
            &cookie,
        )
        .await;
    assert_eq!(to, "/billing?scheduled=1");
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    let subs = app
        .stripe_call(reqwest::Method::GET, "/v1/subscriptions", &[])
        .await;
    let sub = subs["data"][0]["id"].as_str().unwrap().to_string();
    let renewed = app
        .control(&format!("subscriptions/{sub}/renew"), &[])
        .await;
    let renewal = app
        .stripe_call(
            reqwest::Method::GET,
            &format!(
                "/v1/invoices/{}",
                renewed["latest_invoice"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(
        format_amount(renewal["amount_paid"].as_i64().unwrap(), "usd"),
        preview["next_amount"].as_str().unwrap()
    );
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "starter");

    // Monthly to yearly is the same flow: a new yearly period, charged now as previewed.
    let (_, preview) = app.change_preview("starter_yearly", &cookie).await;
    assert_eq!(preview["charged_now"], true);
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    assert_eq!(
        app.change_plan("starter_yearly", &when, &cookie).await.0,
        200
    );
    let subs = app
        .stripe_call(reqwest::Method::GET, "/v1/subscriptions", &[])
        .await;
    let newest = app
        .stripe_call(
            reqwest::Method::GET,
            &format!(
                "/v1/invoices/{}",
                subs["data"][0]["latest_invoice"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(newest["billing_reason"], "subscription_update");
    assert_eq!(
        format_amount(newest["amount_paid"].as_i64().unwrap(), "usd"),
        preview["due_today"].as_str().unwrap()
    );
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "starter");
    let billing = app.page("/billing", &cookie).await;
    assert!(billing.contains("Starter"), "{billing}");
}

async fn a_trial_converts_or_fails_at_its_end_and_is_given_once(backend: Backend) {
    const DAY: i64 = 86_400;
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let pricing = app.get_text("/pricing").await.1;
    assert!(pricing.contains("14-day free trial"), "{pricing}");

    // Pro offers 14 days free: Checkout asks for the card and charges nothing yet.
    let converts = app
        .subscriber("converts@example.com", "pro_monthly", "subscription")
        .await;
    let fails = app
        .subscriber("fails@example.com", "pro_yearly", "subscription")
        .await;
    app.settle().await;
    let sub = app.subscription_of("converts@example.com").await;
    assert_eq!(sub["status"], "trialing");
    assert_eq!(
        sub["trial_end"].as_i64().unwrap() - sub["trial_start"].as_i64().unwrap(),
        14 * DAY
    );
    let body = app.in_force(&converts).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("pro"), Some("trialing"))
    );
    let billing = app.page("/billing", &converts).await;
    assert!(billing.contains("Trial ends on"), "{billing}");
    // A subscriber is not offered a trial again on the pricing page.
    assert!(!app.page("/pricing", &converts).await.contains("free trial"));

    // Three days before the end, one warning each; at the end, one pays and one fails.
    app.control("advance", &[("days", "12")]).await;
    app.settle().await;
    let warnings = billing_mails(&app.state.db)
        .await
        .into_iter()
        .filter(|m| m.subject == "Your trial ends soon")
        .count();
    assert_eq!(warnings, 2);
    let failing = app.subscription_of("fails@example.com").await;
    let id = failing["id"].as_str().unwrap().to_string();
    app.control(&format!("subscriptions/{id}/fail_next_renewal"), &[])
        .await;
    app.control("advance", &[("days", "3")]).await;
    app.settle().await;
    let body = app.in_force(&converts).await;
    assert_eq!(body["status"], "active", "{body}");
    let invoices = app
        .stripe_call(reqwest::Method::GET, "/v1/invoices", &[("limit", "100")])
        .await;
    let paid_pro = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["amount_paid"] == 2900 && i["billing_reason"] == "subscription_cycle");
    assert!(paid_pro, "the trial's end charged the monthly price");
    let body = app.in_force(&fails).await;
    assert_eq!(body["status"], "past_due", "{body}");
    assert_eq!(body["plan"], "pro", "the grace period keeps the plan");
    // While the renewal is unpaid, a change would open a second unpaid invoice: refused, with
    // the open invoice's page to pay first.
    let (status, refused) = app.change_preview("starter_monthly", &fails).await;
    assert_eq!(status, 409, "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains("pay the open invoice first") && text.contains("/i/"),
        "{text}"
    );
    let (status, refused) = app.change_plan("starter_monthly", "0", &fails).await;
    assert_eq!(status, 409, "{refused}");

    // One trial per person: subscribing again after a cancellation starts paid at once.
    let sub = app.subscription_of("converts@example.com").await;
    let id = sub["id"].as_str().unwrap().to_string();
    app.stripe_call(
        reqwest::Method::DELETE,
        &format!("/v1/subscriptions/{id}"),
        &[],
    )
    .await;
    app.settle().await;
    assert_eq!(app.in_force(&converts).await["status"], "none");
    let (status, url) = app
        .checkout_as(&converts, "pro_monthly", "subscription")
        .await;
    assert_eq!(status, 200, "{url}");
    crate::harness::pay(&app, url["url"].as_str().unwrap(), "converts@example.com").await;
    app.settle().await;
    assert_eq!(app.in_force(&converts).await["status"], "active");
}

async fn a_trialing_subscriber_who_changes_plan_keeps_the_trial_and_pays_the_new_price_at_its_end(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "upgrades-on-trial@example.com";
    let cookie = app.subscriber(email, "pro_monthly", "subscription").await;
    app.settle().await;
    let before = app.subscription_of(email).await;
    assert_eq!(before["status"], "trialing");
    let trial_end = before["trial_end"].as_i64().unwrap();
    let invoices = app.stripe_invoices().await.len();

    // The preview: nothing today, the yearly price at the trial's end.
    let (status, preview) = app.change_preview("pro_yearly", &cookie).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["charged_now"], false);
    assert_eq!(preview["due_today"], format_amount(0, "usd"));
    assert_eq!(preview["next_amount"], format_amount(29_000, "usd"));
    let until = preview["next_date"].as_str().unwrap();
    let summary = preview["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("no charge until {until}")),
        "{summary}"
    );
    let page = app.page("/billing/change?price=pro_yearly", &cookie).await;
    assert!(page.contains("no charge until"), "{page}");

    // The confirmation charges nothing and keeps the trial and its end.
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let (status, to) = app.change_plan("pro_yearly", &when, &cookie).await;
    assert_eq!(status, 200, "{to}");
    let after = app.subscription_of(email).await;
    assert_eq!(after["status"], "trialing");
    assert_eq!(after["trial_end"].as_i64(), Some(trial_end));
    assert_eq!(
        after["items"]["data"][0]["price"]["lookup_key"],
        "pro_yearly"
    );
    assert_eq!(
        app.stripe_invoices().await.len(),
        invoices,
        "nothing invoiced"
    );
    app.settle().await;
    let body = app.in_force(&cookie).await;
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("pro"), Some("trialing"))
    );

    // At the trial's end, the yearly price is billed.
    app.control("advance", &[("days", "15")]).await;
    app.settle().await;
    assert_eq!(app.in_force(&cookie).await["status"], "active");
    let renewed = app.subscription_of(email).await;
    let first = app
        .stripe_call(
            reqwest::Method::GET,
            &format!(
                "/v1/invoices/{}",
                renewed["latest_invoice"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(first["billing_reason"], "subscription_cycle");
    assert_eq!(
        format_amount(first["amount_paid"].as_i64().unwrap(), "usd"),
        preview["next_amount"].as_str().unwrap()
    );
}

async fn the_plan_decides_how_many_monitors_and_the_eleventh_on_starter_is_refused(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let add = |cookie: String, url: String| {
        let app = &app;
        async move {
            let res = app
                .post_form("/api/app/monitors", &[("url", url.as_str())], Some(&cookie))
                .await;
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // No plan: nothing to add, and the answer says where the plans are.
    let nobody = app.member("nobody@example.com").await;
    let (status, body) = add(nobody.clone(), "https://example.com".into()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("/pricing"), "{body}");

    let starter = app
        .subscriber("ten@example.com", "starter_monthly", "subscription")
        .await;
    app.settle().await;
    assert_eq!(add(starter.clone(), "not a url".into()).await.0, 400);
    for i in 0..10 {
        let (status, body) = add(starter.clone(), format!("https://example.com/{i}")).await;
        assert_eq!(status, 200, "monitor {i}: {body}");
    }
    let (status, body) = add(starter.clone(), "https://example.com/11".into()).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.to_string().contains("Your plan includes 10 monitors"),
        "{body}"
    );
    // Without JavaScript: back to /app with the reason, which the page shows with the plans.
    let to = app
        .browser_post(
            "/api/app/monitors",
            &[("url", "https://example.com/12")],
            &starter,
        )
        .await;
    assert!(to.starts_with("/app?error="), "{to}");
    let page = app.page(&to, &starter).await;
    assert!(page.contains("10 of 10 monitors"), "{page}");
    assert!(page.contains("Your plan includes 10 monitors"), "{page}");
    assert!(page.contains(r#"href="/pricing""#));

    // Pro includes 100.
    let pro = app
        .subscriber("hundred@example.com", "pro_monthly", "subscription")
        .await;
    app.settle().await;
    for i in 0..11 {
        assert_eq!(
            add(pro.clone(), format!("https://example.com/{i}")).await.0,
            200
        );
    }
    assert!(app.page("/app", &pro).await.contains("11 of 100 monitors"));
}

async fn a_card_that_always_authenticates_gets_one_mail_per_renewal_and_the_invoice_page_on_upgrade(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "sca@example.com";
    let cookie = app
        .starter_subscriber_authenticating_every_payment(email)
        .await;

    // The renewal waits for the customer: one mail with the invoice's page, however many
    // times the event is delivered.
    let sub = app.subscription_of(email).await;
    let id = sub["id"].as_str().unwrap().to_string();
    app.control(&format!("subscriptions/{id}/renew"), &[]).await;
    app.settle().await;
    let asked = |mails: Vec<landing::server::db::outbox::MailRow>| {
        mails
            .into_iter()
            .filter(|m| m.dedupe_key.starts_with("invoice.payment_action_required"))
            .collect::<Vec<_>>()
    };
    let mails = asked(billing_mails(&app.state.db).await);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .body
            .contains(&format!("{}/i/in_", app.stripe_base())),
        "{}",
        mails[0].body
    );
    let event = app
        .stripe_events()
        .await
        .into_iter()
        .find(|e| e["type"] == "invoice.payment_action_required")
        .unwrap();
    let event_id = event["id"].as_str().unwrap().to_string();
    app.control(&format!("events/{event_id}/resend"), &[]).await;
    app.settle().await;
    assert_eq!(asked(billing_mails(&app.state.db).await).len(), 1);

    // Paid on the invoice's page: active again. An upgrade then needs the customer too, and
    // the confirmation sends them to the invoice's page.
    let invoice = event["data"]["object"]["id"].as_str().unwrap().to_string();
    app.client
        .post(format!("{}/i/{invoice}/pay", app.stripe_base()))
        .send()
        .await
        .unwrap();
    app.settle().await;
    let (_, preview) = app.change_preview("pro_monthly", &cookie).await;
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let (status, to) = app.change_plan("pro_monthly", &when, &cookie).await;
    assert_eq!(status, 200, "{to}");
    assert!(
        to.as_str()
            .unwrap()
            .starts_with(&format!("{}/i/in_", app.stripe_base())),
        "{to}"
    );
}
