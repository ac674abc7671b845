//! `/billing`, `/app` and `/admin/events` as a browser without JavaScript sees them, over the
//! emulator's real webhooks.

use landing::server::db::events;
use reqwest::header::{ACCEPT, COOKIE, ORIGIN};
use serde_json::Value;

use crate::harness::{on_both_databases, rename, Backend, TestApp};

on_both_databases!(
    backend;
    billing_and_app_show_the_plan_and_the_portal_opens,
    operators_see_failures_and_retry_them,
    entitlements_follow_the_plan_for_the_cookie_and_the_bearer_alike,
    a_cancellation_date_set_in_the_dashboard_shows_and_ends_the_plan_then,
);

/// `cancel_at`, as an operator sets it in Stripe's Dashboard: `/billing` says when the plan ends
/// (not "Renews on"), and on that day it ends.
async fn a_cancellation_date_set_in_the_dashboard_shows_and_ends_the_plan_then(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let email = "cancel-at@example.com";
    let cookie = app
        .subscriber(email, "starter_yearly", "subscription")
        .await;
    app.settle().await;
    assert!(app.page("/billing", &cookie).await.contains("Renews on"));
    let sub = app.subscription_of(email).await;
    let id = sub["id"].as_str().unwrap().to_string();
    let at = crate::harness::now() + 40 * 86_400;
    let updated = app
        .stripe_call(
            reqwest::Method::POST,
            &format!("/v1/subscriptions/{id}"),
            &[("cancel_at", &at.to_string())],
        )
        .await;
    assert_eq!(updated["cancel_at"], at, "{updated}");
    app.settle().await;
    let page = app.page("/billing", &cookie).await;
    let day = chrono::DateTime::from_timestamp(at, 0).unwrap();
    let shown = day.format("%B %-d, %Y");
    assert!(page.contains(&format!("Cancels on {shown}")), "{page}");
    assert!(!page.contains("Renews on"), "{page}");
    assert_eq!(app.plan_in_force(&cookie).await, "starter");

    app.control("advance", &[("days", "41")]).await;
    app.settle().await;
    assert_eq!(app.in_force(&cookie).await["status"], "none");
    assert_eq!(app.subscription_of(email).await["status"], "canceled");
}

async fn entitlements_follow_the_plan_for_the_cookie_and_the_bearer_alike(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let (status, body) = app.entitlements(("x-nothing", String::new())).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );

    // Signed in, nothing bought: every entitlement the catalog names, at 0.
    let member = app.subscriber_without_purchase("free@example.com").await;
    let (status, body) = app.entitlements((COOKIE.as_str(), member)).await;
    assert_eq!(status, 200);
    assert_eq!(body["plan"], Value::Null);
    assert_eq!(body["status"], "none");
    assert_eq!(body["entitlements"]["monitors"], 0);
    assert_eq!(body["entitlements"].as_object().unwrap().len(), 5, "{body}");

    // Starter and Pro give different things; the Bearer token answers as the cookie does.
    let starter = app
        .subscriber("starter@example.com", "starter_monthly", "subscription")
        .await;
    let pro = app
        .subscriber("pro@example.com", "pro_yearly", "subscription")
        .await;
    let lifetime = app
        .subscriber("once@example.com", "lifetime_once", "payment")
        .await;
    app.settle().await;
    let bearer = |cookie: &str| {
        let token = cookie.trim_start_matches("landing_session=").to_string();
        ("authorization", format!("Bearer {token}"))
    };
    for (cookie, plan, status, monitors, interval) in [
        (&starter, "starter", "active", 10, 60),
        // Pro starts with its free trial, which gives Pro's entitlements.
        (&pro, "pro", "trialing", 100, 30),
        (&lifetime, "lifetime", "paid", 100, 30),
    ] {
        for header in [(COOKIE.as_str(), cookie.clone()), bearer(cookie)] {
            let (code, body) = app.entitlements(header).await;
            assert_eq!(code, 200, "{body}");
            assert_eq!(body["plan"], plan, "{body}");
            assert_eq!(body["status"], status);
            assert_eq!(body["entitlements"]["monitors"], monitors);
            assert_eq!(body["entitlements"]["check_interval_seconds"], interval);
        }
    }
    // A one-time purchase has its receipt: a paid invoice with its page, on `/billing`.
    let page = app.page("/billing", &lifetime).await;
    assert!(
        page.contains(&format!("{}/i/in_", app.stripe_base())),
        "{page}"
    );
    assert!(page.contains("$299"), "{page}");
    // `/app` shows the same.
    let page = app.page("/app", &starter).await;
    assert!(page.contains("Your plan includes"), "{page}");
    assert!(
        page.contains("<dt>Monitors</dt>") && page.contains("<dd>10</dd>"),
        "{page}"
    );
}

async fn billing_and_app_show_the_plan_and_the_portal_opens(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let (_, signed_out) = app.get_text("/billing").await;
    assert!(signed_out.contains("to see your plan, invoices and purchases"));
    let (_, closed) = app.get_text("/app").await;
    assert!(closed.contains("This area is for subscribers"));

    // Signed in, nothing bought: the JSON API's words, a way to pricing, no portal.
    let other = app.subscriber_without_purchase("window@example.com").await;
    let page = app.page("/billing", &other).await;
    assert!(
        page.contains("You don&#x27;t have a billing account yet. Make a purchase first.")
            || page.contains("You don't have a billing account yet. Make a purchase first."),
        "{page}"
    );
    assert!(page.contains("See pricing"));
    assert!(!page.contains("Manage billing"));
    let to = app.browser_post("/api/billing/portal", &[], &other).await;
    assert!(to.starts_with("/billing?error="), "{to}");

    let cookie = app
        .subscriber("member@example.com", "starter_monthly", "subscription")
        .await;
    app.settle().await;
    let page = app.page("/billing", &cookie).await;
    assert!(page.contains("Starter (monthly)"), "{page}");
    assert!(page.contains("Active"));
    assert!(page.contains("Renews on "));
    assert!(page.contains("Manage billing"));
    assert!(
        page.contains(&format!("{}/i/in_", app.stripe_base())),
        "the invoice's hosted page: {page}"
    );
    let app_page = app.page("/app", &cookie).await;
    assert!(app_page.contains("Your workspace"));
    assert!(app_page.contains("Starter (monthly)"));

    let portal = app.browser_post("/api/billing/portal", &[], &cookie).await;
    assert!(
        portal.starts_with(&format!("{}/p/session/", app.stripe_base())),
        "{portal}"
    );

    // Canceled in Stripe: the page that the portal returns to shows it at once.
    let sub: Value = app
        .stripe_call(reqwest::Method::GET, "/v1/subscriptions", &[])
        .await;
    let id = sub["data"][0]["id"].as_str().unwrap();
    app.stripe_call(
        reqwest::Method::DELETE,
        &format!("/v1/subscriptions/{id}"),
        &[],
    )
    .await;
    let page = app.page("/billing?from=portal", &cookie).await;
    assert!(page.contains("Canceled"), "{page}");
    assert!(page.contains("Ended on "));
    assert!(page.contains("You have no active plan."));
    assert!(app
        .page("/app", &cookie)
        .await
        .contains("This area is for subscribers"));
}

async fn operators_see_failures_and_retry_them(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[("ADMIN_EMAILS", "Ops@Example.com")]).await;
    let ops = app.proven_member("ops@example.com").await;
    let member = app.subscriber_without_purchase("member@example.com").await;
    assert!(
        app.page("/admin/events", &member)
            .await
            .contains("This page is for the site&#x27;s operators")
            || app
                .page("/admin/events", &member)
                .await
                .contains("This page is for the site's operators")
    );

    // Purchases fail to store while the table is away: the event stays unapplied.
    rename(&app.state.db, "purchases", "purchases_away").await;
    app.subscriber("buyer@example.com", "lifetime_once", "payment")
        .await;
    let failed = loop {
        let failed = events::recent(&app.state.db, true, 10).await.unwrap();
        if let Some(e) = failed
            .into_iter()
            .find(|e| e.type_ == "checkout.session.completed")
        {
            break e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let page = app.page("/admin/events?failed=1", &ops).await;
    assert!(page.contains(&failed.id), "{page}");
    assert!(page.contains("not applied"));
    assert!(page.contains(&format!("Retry {}", failed.id)));

    rename(&app.state.db, "purchases_away", "purchases").await;
    let back = app
        .browser_post("/api/admin/retry", &[("id", &failed.id)], &ops)
        .await;
    assert!(back.starts_with("/admin/events?notice="), "{back}");
    assert!(back.contains("applied"), "{back}");
    assert!(events::recent(&app.state.db, true, 10)
        .await
        .unwrap()
        .iter()
        .all(|e| e.id != failed.id));
    let page = app.page("/admin/events", &ops).await;
    assert!(page.contains(&failed.id));
    // A member cannot retry.
    let res = app
        .client
        .post(app.url("/api/admin/retry"))
        .header(ACCEPT, "application/json")
        .header(ORIGIN, &app.base)
        .header(COOKIE, &member)
        .form(&[("id", failed.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
