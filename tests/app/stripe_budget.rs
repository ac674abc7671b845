//! Visitors cannot spend the Stripe account's API budget: the pages that read Stripe for a
//! visitor (the success page, `/billing` back from the portal, the portal's look-up by email)
//! cost one read however often they are loaded, counted in the emulator; and past its limit a
//! client costs Stripe nothing more and is told so.

use std::time::Instant;

use landing::server::billing::visitor_reads::budget::KEPT;
use landing::server::db::Table;

use crate::harness::{on_both_databases, pay, Backend, TestApp};

on_both_databases!(
    backend;
    a_thousand_loads_of_a_missing_session_cost_one_stripe_read,
    the_first_load_of_a_paid_session_stores_the_purchase_and_reloads_read_nothing,
    a_thousand_reloads_back_from_the_portal_cost_one_refresh,
    past_its_limits_a_client_costs_stripe_nothing_and_is_told_so,
);

const SESSIONS: &str = "/v1/checkout/sessions";

/// How many times an answer may have been read since `started`: once per `KEPT` begun (a loop
/// outlasts one when the whole suite shares the cores).
fn windows_since(started: Instant) -> u64 {
    1 + started.elapsed().as_secs() / KEPT.as_secs()
}

async fn a_thousand_loads_of_a_missing_session_cost_one_stripe_read(backend: Backend) {
    let app = TestApp::spawn_billing(backend).await;
    let before = app.stripe_requests(Some("GET"), SESSIONS);
    let started = Instant::now();
    for i in 0..1_000 {
        let (_, html) = app.get_text("/success?session_id=cs_missing").await;
        if i % 100 == 0 {
            assert!(html.contains("We could not find this purchase"), "{html}");
            assert!(html.contains("This checkout session does not exist."));
        }
    }
    let reads = app.stripe_requests(Some("GET"), SESSIONS) - before;
    assert!(
        (1..=windows_since(started)).contains(&reads),
        "Stripe's 404 is kept: {reads} reads"
    );
}

async fn the_first_load_of_a_paid_session_stores_the_purchase_and_reloads_read_nothing(
    backend: Backend,
) {
    // No webhooks: only the success page can store the purchase.
    let app = TestApp::spawn_billing(backend).await;
    let (_, made) = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await;
    let path = pay(&app, made["url"].as_str().unwrap(), "buyer@example.com").await;
    assert_eq!(app.rows(Table::Purchases).await, 0);
    let before = app.stripe_requests(Some("GET"), SESSIONS);
    let started = Instant::now();
    for _ in 0..100 {
        let (status, html) = app.get_text(&path).await;
        assert_eq!(status, 200);
        assert!(html.contains("your purchase is confirmed"), "{html}");
    }
    assert_eq!(
        app.rows(Table::Purchases).await,
        1,
        "the first load stored it"
    );
    let reads = app.stripe_requests(Some("GET"), SESSIONS) - before;
    assert!((1..=windows_since(started)).contains(&reads), "{reads}");
}

async fn a_thousand_reloads_back_from_the_portal_cost_one_refresh(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let pro = app
        .subscriber("pro@example.com", "pro_monthly", "subscription")
        .await;
    let starter = app
        .subscriber("starter@example.com", "starter_monthly", "subscription")
        .await;
    app.settle().await;

    let before = app.stripe_requests(None, "/v1/");
    let started = Instant::now();
    app.page("/billing?from=portal", &pro).await;
    let refresh = app.stripe_requests(None, "/v1/") - before;
    // Subscriptions, invoices, Checkout Sessions listed, and the one completed session read.
    assert!((1..=5).contains(&refresh), "{refresh} Stripe calls");
    for i in 1..1_000 {
        let page = app.page("/billing?from=portal", &pro).await;
        if i % 100 == 0 {
            assert!(page.contains("Pro (monthly)"), "{page}");
            assert!(!page.contains("could not be read from Stripe"), "{page}");
        }
    }
    let calls = app.stripe_requests(None, "/v1/") - before;
    assert!(
        calls <= refresh * windows_since(started),
        "{calls} Stripe calls for 1,000 reloads"
    );

    // Another subscriber's reload is their own refresh, showing their own plan.
    let before = app.stripe_requests(None, "/v1/");
    let page = app.page("/billing?from=portal", &starter).await;
    assert!(page.contains("Starter (monthly)"), "{page}");
    assert!(!page.contains("Pro (monthly)"), "{page}");
    assert_eq!(app.stripe_requests(None, "/v1/") - before, refresh);

    // Opening the portal forgets the last refresh: coming back reads what was changed there.
    let portal = app.browser_post("/api/billing/portal", &[], &pro).await;
    assert!(portal.starts_with(&app.stripe_base()), "{portal}");
    let before = app.stripe_requests(None, "/v1/");
    app.page("/billing?from=portal", &pro).await;
    assert_eq!(app.stripe_requests(None, "/v1/") - before, refresh);
}

async fn past_its_limits_a_client_costs_stripe_nothing_and_is_told_so(backend: Backend) {
    // Two Stripe reads per client and path: CHECKOUTS_PER_ADDRESS sets it.
    let app = TestApp::spawn_billing_with(
        backend,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("CHECKOUTS_PER_ADDRESS", "2"),
        ],
    )
    .await;
    let (ann, bob) = ("198.51.100.7", "198.51.100.8");

    // The success page: two sessions read, then a 429 that says when and reassures, unread.
    for id in ["cs_missing_1", "cs_missing_2"] {
        let (status, _, html) = app
            .get_from(&format!("/success?session_id={id}"), None, ann)
            .await;
        assert_ne!(status, 429);
        assert!(html.contains("We could not find this purchase"), "{html}");
    }
    let read = app.stripe_requests(Some("GET"), SESSIONS);
    for i in 3..50 {
        let path = format!("/success?session_id=cs_missing_{i}");
        let (status, retry_after, html) = app.get_from(&path, None, ann).await;
        assert_eq!(status, 429, "{html}");
        let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
        assert!((1..=600).contains(&wait), "{wait}");
        assert!(
            html.contains("We cannot confirm this purchase just now"),
            "{html}"
        );
        assert!(
            html.contains("Too many purchase confirmations from your address"),
            "{html}"
        );
        assert!(html.contains("your payment is safe"), "{html}");
    }
    assert_eq!(app.stripe_requests(Some("GET"), SESSIONS), read, "no read");
    // What is kept is still answered: it costs Stripe nothing.
    let (status, _, html) = app
        .get_from("/success?session_id=cs_missing_1", None, ann)
        .await;
    assert_ne!(status, 429);
    assert!(html.contains("We could not find this purchase"), "{html}");
    // Bob is another client.
    let (status, _, _) = app
        .get_from("/success?session_id=cs_missing_3", None, bob)
        .await;
    assert_ne!(status, 429);
    assert_eq!(app.stripe_requests(Some("GET"), SESSIONS), read + 1);

    // The billing page back from the portal: past two refreshes, the stored state, said so.
    let mut members = Vec::new();
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        members.push(app.proven_member(email).await);
    }
    let customers = || app.stripe_requests(Some("GET"), "/v1/customers");
    let before = customers();
    for member in &members[..2] {
        let (status, _, page) = app
            .get_from("/billing?from=portal", Some(member), ann)
            .await;
        assert_eq!(status, 200);
        assert!(!page.contains("could not be read from Stripe"), "{page}");
    }
    assert_eq!(customers() - before, 2, "each looked up by email once");
    let (status, _, page) = app
        .get_from("/billing?from=portal", Some(&members[2]), ann)
        .await;
    assert_eq!(status, 200, "the page works from stored state");
    assert!(page.contains("could not be read from Stripe"), "{page}");
    assert!(page.contains("You have no active plan."), "{page}");
    assert_eq!(customers() - before, 2, "no look-up past the limit");

    // The portal: "no billing account" found once by email and then kept; past two, a 429.
    let before = customers();
    for _ in 0..2 {
        let (status, _, body) = app.portal_from(&members[2], ann).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(customers() - before, 1, "the empty answer is kept");
    let (status, retry_after, body) = app.portal_from(&members[2], ann).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some());
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Too many billing portal visits from your address"),
        "{body}"
    );
    assert_eq!(customers() - before, 1);
}
