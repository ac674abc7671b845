//! Downgrades at the period's end, the same on the site and in the portal: a subscription
//! schedule keeps the paid plan until the period ends, the renewal then bills the cheaper one,
//! and "Keep" releases the schedule so the renewal bills the plan kept.

use serde_json::{json, Value};

use landing::model::catalog::format_amount;

use crate::harness::{on_both_databases, Backend, TestApp};

on_both_databases!(
    backend;
    a_yearly_downgrade_waits_for_the_period_end_and_the_renewal_bills_starter,
    keeping_the_plan_releases_the_schedule_and_the_renewal_bills_pro,
    a_downgrade_in_the_portal_is_scheduled_for_the_period_end_too,
);

/// A Pro yearly subscriber past the free trial (a trialing subscriber's change is never
/// scheduled: nothing is charged before the trial ends anyway); returns the cookie and the
/// subscription's id.
async fn pro_yearly(app: &TestApp, email: &str) -> (String, String) {
    let cookie = app.subscriber(email, "pro_yearly", "subscription").await;
    app.settle().await;
    let sub = app.subscription_of(email).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.control(&format!("subscriptions/{sub}/renew"), &[])
        .await;
    app.settle().await;
    assert_eq!(app.subscription_of(email).await["status"], "active");
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    (cookie, sub)
}

/// The emulator's schedules of a subscription: (id, status).
fn schedules_of(app: &TestApp, sub: &str) -> Vec<(String, String)> {
    let store = app.stripe.as_ref().unwrap().store.lock().unwrap();
    store
        .subscription_schedules
        .values()
        .filter(|s| {
            s.subscription.as_deref() == Some(sub)
                || s.released_subscription.as_deref() == Some(sub)
        })
        .map(|s| (s.id.clone(), s.status.clone()))
        .collect()
}

/// Money Stripe moved for plan changes: invoices of changes, and refunds.
async fn change_money(app: &TestApp) -> (usize, usize) {
    let invoices = app.stripe_invoices().await;
    let changes = invoices
        .iter()
        .filter(|i| i["billing_reason"] == "subscription_update")
        .count();
    let refunds = app
        .stripe
        .as_ref()
        .unwrap()
        .store
        .lock()
        .unwrap()
        .refunds
        .len();
    (changes, refunds)
}

/// The renewal invoice `renewed` (the subscription a renewal answered with) ended in.
async fn renewal_of(app: &TestApp, renewed: &Value) -> Value {
    app.stripe_call(
        reqwest::Method::GET,
        &format!(
            "/v1/invoices/{}",
            renewed["latest_invoice"].as_str().unwrap()
        ),
        &[],
    )
    .await
}

/// Schedules the change to `price` as the hydrated page does; returns the preview.
async fn schedule(app: &TestApp, price: &str, cookie: &str) -> Value {
    let (status, preview) = app.change_preview(price, cookie).await;
    assert_eq!(status, 200, "{preview}");
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let (status, to) = app.change_plan(price, &when, cookie).await;
    assert_eq!(status, 200, "{to}");
    assert_eq!(to, "/billing?scheduled=1");
    preview
}

async fn a_yearly_downgrade_waits_for_the_period_end_and_the_renewal_bills_starter(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let (cookie, sub) = pro_yearly(&app, "yearly-down@example.com").await;
    let before = change_money(&app).await;
    let period_end = app.subscription_of("yearly-down@example.com").await["items"]["data"][0]
        ["current_period_end"]
        .as_i64()
        .unwrap();

    // The preview says what happens: nothing now, Starter from the period's end.
    let (status, preview) = app.change_preview("starter_yearly", &cookie).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["at_period_end"], true);
    assert_eq!(preview["charged_now"], false);
    assert_eq!(preview["due_today"], "$0");
    assert_eq!(preview["next_amount"], "$90");
    let summary = preview["summary"].as_str().unwrap();
    assert!(
        summary.contains("Changes to Starter, yearly on")
            && summary.contains("You keep Pro, yearly until then")
            && summary.contains("nothing is charged now"),
        "{summary}"
    );
    let page = app
        .page("/billing/change?price=starter_yearly", &cookie)
        .await;
    assert!(page.contains("Scheduled for"), "{page}");

    // Confirmed with JavaScript off, then the same confirmation again: one schedule.
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let fields = [
        ("price", "starter_yearly"),
        ("proration_date", when.as_str()),
    ];
    let to = app
        .browser_post("/api/billing/change", &fields, &cookie)
        .await;
    assert_eq!(to, "/billing?scheduled=1");
    let (status, to) = app.change_plan("starter_yearly", &when, &cookie).await;
    assert_eq!((status, to), (200, json!("/billing?scheduled=1")));
    let schedules = schedules_of(&app, &sub);
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    assert_eq!(schedules[0].1, "active");

    // Nothing forfeited: no charge, no credit, no refund, and Pro until the period's end.
    assert_eq!(change_money(&app).await, before);
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    app.settle().await;
    let billing = app.page("/billing", &cookie).await;
    assert!(
        billing.contains("Changes to Starter (yearly) on") && billing.contains("Keep Pro (yearly)"),
        "{billing}"
    );
    assert!(billing.contains("Renews on"), "{billing}");
    let stored = landing::server::db::schedules::all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].next_starts_at, Some(period_end));

    // The period ends: the renewal bills Starter yearly, and access becomes Starter.
    let renewed = app
        .control(&format!("subscriptions/{sub}/renew"), &[])
        .await;
    let renewal = renewal_of(&app, &renewed).await;
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(
        format_amount(renewal["amount_paid"].as_i64().unwrap(), "usd"),
        "$90"
    );
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "starter");
    let billing = app.page("/billing", &cookie).await;
    assert!(
        billing.contains("Starter (yearly)") && !billing.contains("Changes to"),
        "{billing}"
    );
    assert_eq!(change_money(&app).await, before);
}

async fn keeping_the_plan_releases_the_schedule_and_the_renewal_bills_pro(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let (cookie, sub) = pro_yearly(&app, "keeps-pro@example.com").await;
    schedule(&app, "starter_yearly", &cookie).await;
    app.settle().await;
    assert!(app
        .page("/billing", &cookie)
        .await
        .contains("Keep Pro (yearly)"));

    // Keep, with JavaScript off: the schedule is released and the page says so at once.
    let to = app.browser_post("/api/billing/keep", &[], &cookie).await;
    assert_eq!(to, "/billing?kept=1");
    let schedules = schedules_of(&app, &sub);
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].1, "released");
    let billing = app.page("/billing?kept=1", &cookie).await;
    assert!(
        billing.contains("You keep your current plan") && !billing.contains("Changes to"),
        "{billing}"
    );
    // Keeping it again (the hydrated page's call) changes nothing and says it is kept.
    let res = app.post_form("/api/billing/keep", &[], Some(&cookie)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), "/billing?kept=1");
    // Signed out, nothing is kept.
    let res = app.post_form("/api/billing/keep", &[], None).await;
    assert_eq!(res.status(), 401);

    let renewed = app
        .control(&format!("subscriptions/{sub}/renew"), &[])
        .await;
    let renewal = renewal_of(&app, &renewed).await;
    assert_eq!(
        format_amount(renewal["amount_paid"].as_i64().unwrap(), "usd"),
        "$290"
    );
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    assert!(!app.page("/billing", &cookie).await.contains("Changes to"));
}

async fn a_downgrade_in_the_portal_is_scheduled_for_the_period_end_too(backend: Backend) {
    use landing::server::billing::setup::{self, Step};

    let app = TestApp::spawn_webhooks(backend, &[]).await;
    // The portal as `landing stripe setup` configures it.
    let billing = app.state.billing.as_ref().unwrap();
    let catalog = &app.state.source_catalog;
    let account = setup::read_account(&billing.client, catalog).await.unwrap();
    let steps: Vec<Step> = setup::plan(catalog, &account, &app.base)
        .into_iter()
        .filter(|s| matches!(s, Step::CreatePortal | Step::UpdatePortal { .. }))
        .collect();
    assert!(!steps.is_empty());
    setup::apply(&billing.client, catalog, &app.base, &steps)
        .await
        .unwrap();

    let (cookie, sub) = pro_yearly(&app, "portal-down@example.com").await;
    let before = change_money(&app).await;
    let (status, _, portal) = app.portal_from(&cookie, "10.9.8.7").await;
    assert_eq!(status, 200, "{portal}");
    let url = portal["url"].as_str().unwrap();
    let starter = {
        let store = app.stripe.as_ref().unwrap().store.lock().unwrap();
        store
            .price_by_lookup_key("starter_yearly")
            .unwrap()
            .id
            .clone()
    };
    let res = app
        .client
        .post(format!("{url}/subscriptions/{sub}"))
        .form(&[("action", "switch"), ("price", starter.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());

    // Scheduled, not applied: Pro until the period's end, nothing charged.
    let schedules = schedules_of(&app, &sub);
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "pro");
    assert_eq!(change_money(&app).await, before);
    let billing = app.page("/billing?from=portal", &cookie).await;
    assert!(
        billing.contains("Changes to Starter (yearly) on") && billing.contains("Keep Pro (yearly)"),
        "{billing}"
    );

    let renewed = app
        .control(&format!("subscriptions/{sub}/renew"), &[])
        .await;
    let renewal = renewal_of(&app, &renewed).await;
    assert_eq!(
        format_amount(renewal["amount_paid"].as_i64().unwrap(), "usd"),
        "$90"
    );
    app.settle().await;
    assert_eq!(app.plan_in_force(&cookie).await, "starter");
}
