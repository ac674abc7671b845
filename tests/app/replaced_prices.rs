//! A price `landing stripe setup` replaces while the site runs (plans.toml's amount changed):
//! the running site sells the new price and gives its buyers access from the webhook alone,
//! with no restart and no resync; subscribers on the old price keep their plan; setup archives
//! the old price, and the doctor names one left active.

use std::path::Path;
use std::time::Duration;

use reqwest::header::COOKIE;
use serde_json::Value;

use crate::harness::{
    emulator_checkout, env_with, landing, manifest_path, on_both_databases, pay_at, Backend,
    TestApp, STRIPE_KEY, WEBHOOK_SECRET,
};

on_both_databases!(
    backend;
    a_price_replaced_while_the_site_runs_is_sold_at_once_and_its_subscribers_keep_their_plan,
    a_flood_of_events_for_unknown_prices_reads_the_catalog_again_at_most_once_a_window,
);

/// plans.toml with Pro, monthly at `amount` (2900 in the file), written in `dir`.
fn plans_with_pro_monthly_at(dir: &Path, amount: i64) -> String {
    let text = std::fs::read_to_string(manifest_path("plans.toml"))
        .unwrap()
        .replace("amount = 2900,", &format!("amount = {amount},"));
    let path = dir.join(format!("plans-{amount}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs the `landing` binary against the app's emulator and database, as an operator would.
async fn operator(app: &TestApp, dir: &Path, plans: &str, args: &[&str]) -> String {
    let (stripe, database) = (app.stripe_base(), app.database_url());
    let env = env_with(&[
        ("STRIPE_SECRET_KEY", STRIPE_KEY),
        ("STRIPE_API_BASE", stripe.as_str()),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("SITE_URL", app.base.as_str()),
        ("DATABASE_URL", database.as_str()),
        ("PLANS_FILE", plans),
    ]);
    let out = landing(&env, dir).args(args).output().await.unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn price_id(app: &TestApp, lookup_key: &str) -> String {
    let store = app.stripe.as_ref().unwrap().store.lock().unwrap();
    store.price_by_lookup_key(lookup_key).unwrap().id.clone()
}

/// Waits (webhooks are delivered in the background) until `cookie`'s plan is `plan`.
async fn until_plan(app: &TestApp, cookie: &str, plan: &str) {
    for _ in 0..300 {
        if app.plan_in_force(cookie).await == plan {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {plan} in 15 s: {}", app.in_force(cookie).await);
}

async fn a_price_replaced_while_the_site_runs_is_sold_at_once_and_its_subscribers_keep_their_plan(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let kept = app
        .subscriber("kept@example.com", "pro_monthly", "subscription")
        .await;
    // Past Pro's free trial (a trialing subscriber's change is never charged now), paying $29.
    let sub = app.subscription_of("kept@example.com").await;
    let id = sub["id"].as_str().unwrap().to_string();
    app.control(&format!("subscriptions/{id}/renew"), &[]).await;
    app.settle().await;
    assert_eq!(
        app.subscription_of("kept@example.com").await["status"],
        "active"
    );
    assert_eq!(app.plan_in_force(&kept).await, "pro");
    let old = price_id(&app, "pro_monthly");

    // Pro, monthly goes from $29 to $39; setup replaces the price while the site runs.
    let plans = plans_with_pro_monthly_at(dir.path(), 3900);
    let out = operator(&app, dir.path(), &plans, &["stripe", "setup"]).await;
    assert!(
        out.contains("+ price pro_monthly, replacing") && out.contains("the old one is archived"),
        "{out}"
    );
    let new = price_id(&app, "pro_monthly");
    assert_ne!(new, old);
    {
        let store = app.stripe.as_ref().unwrap().store.lock().unwrap();
        assert!(!store.prices[&old].active, "setup archived the old price");
        assert!(store.prices[&new].active);
    }

    // A buyer of the new price from Stripe's Checkout (a Payment Link, another instance's
    // page): the webhook alone gives access, although this instance's index predates the price.
    let buyer = app.member("new@example.com").await;
    let (_, me) = app.me_with((COOKIE.as_str(), buyer.clone())).await;
    let url = emulator_checkout(
        &app.stripe_base(),
        "pro_monthly",
        "new@example.com",
        &[("client_reference_id", me["id"].as_str().unwrap())],
    )
    .await;
    pay_at(&url, "new@example.com").await;
    until_plan(&app, &buyer, "pro").await;
    let sub = app.subscription_of("new@example.com").await;
    assert_eq!(sub["items"]["data"][0]["price"]["id"], new.as_str());

    // The subscriber on the replaced price keeps Pro: its entitlements, its name, and a change
    // page that knows what they pay ($29, monthly), so a move to Starter is no charge today.
    let in_force = app.in_force(&kept).await;
    assert_eq!(in_force["plan"], "pro", "{in_force}");
    assert_eq!(in_force["entitlements"]["monitors"], 100, "{in_force}");
    assert!(app.page("/app", &kept).await.contains("Pro (monthly)"));
    let (status, preview) = app.change_preview("starter_monthly", &kept).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["from"], "Pro, monthly");
    assert_eq!(preview["charged_now"], false, "{preview}");
    assert_eq!(preview["due_today"], "$0");
    // To the new Pro price: dearer than the $29 they pay, so charged now.
    let (status, preview) = app.change_preview("pro_monthly", &kept).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["charged_now"], true, "{preview}");
    assert_eq!(preview["next_amount"], "$39");
    // The pricing page marks their plan: Pro, monthly.
    assert!(app
        .page("/pricing", &kept)
        .await
        .contains("Your current plan"));

    // A second change while the site runs: the site's own Checkout, asked for the key before
    // its index has seen the change, sells the price the key names now, never the archived one.
    let plans = plans_with_pro_monthly_at(dir.path(), 4900);
    let out = operator(&app, dir.path(), &plans, &["stripe", "setup"]).await;
    assert!(out.contains("+ price pro_monthly, replacing"), "{out}");
    let newest = price_id(&app, "pro_monthly");
    let later = app.member("later@example.com").await;
    let (status, body) = app.checkout_as(&later, "pro_monthly", "subscription").await;
    assert_eq!(status, 200, "{body}");
    crate::harness::pay(&app, body["url"].as_str().unwrap(), "later@example.com").await;
    until_plan(&app, &later, "pro").await;
    let sub: Value = app.subscription_of("later@example.com").await;
    assert_eq!(sub["items"]["data"][0]["price"]["id"], newest.as_str());

    // Someone makes the first replaced price active again in the Dashboard: the doctor names it.
    app.stripe
        .as_ref()
        .unwrap()
        .store
        .lock()
        .unwrap()
        .prices
        .get_mut(&old)
        .unwrap()
        .active = true;
    let report = operator(&app, dir.path(), &plans, &["doctor"]).await;
    assert!(
        report.lines().any(|l| l.starts_with("warn")
            && l.contains(&format!(
                "price {old} of plan pro (2900 usd / month): active"
            ))),
        "{report}"
    );
    assert!(
        !report.contains(&format!("price {new} ")),
        "an archived one is not named: {report}"
    );
}

/// Stripe calls the app made for `operation` ("GET /products"), by its metrics.
async fn calls(app: &TestApp, operation: &str) -> f64 {
    let url = app.metrics_url.as_deref().expect("METRICS_ADDR is set");
    let text = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("landing_stripe_requests_total{")
                && l.contains(&format!("operation=\"{operation}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A paid payment-mode Checkout for a new one-time price of `product`, made straight at the
/// emulator (as the Dashboard or `stripe trigger` would make them).
async fn sale_of(app: &TestApp, product: &str, email: &str) {
    let price = app
        .stripe_call(
            reqwest::Method::POST,
            "/v1/prices",
            &[
                ("product", product),
                ("unit_amount", "3000"),
                ("currency", "usd"),
            ],
        )
        .await;
    let session = app
        .stripe_call(
            reqwest::Method::POST,
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", price["id"].as_str().unwrap()),
                ("line_items[0][quantity]", "1"),
                ("success_url", "http://127.0.0.1:3000/success"),
                ("cancel_url", "http://127.0.0.1:3000/pricing"),
            ],
        )
        .await;
    pay_at(session["url"].as_str().unwrap(), email).await;
}

async fn a_flood_of_events_for_unknown_prices_reads_the_catalog_again_at_most_once_a_window(
    backend: Backend,
) {
    let app = TestApp::spawn_webhooks(backend, &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let reads_at_start = calls(&app, "GET /products").await;

    // Sales of another business's product on the same account: every plan's product is
    // known, so reading the catalog again could not make them ours, and nothing is read.
    let theirs = app
        .stripe_call(reqwest::Method::POST, "/v1/products", &[("name", "theirs")])
        .await;
    sale_of(&app, theirs["id"].as_str().unwrap(), "theirs@example.com").await;
    app.settle().await;
    let event = app.event_of_type("checkout.session.completed").await;
    let bodies = (0..20)
        .map(|i| {
            let mut copy = event.clone();
            copy["id"] = Value::from(format!("evt_theirs_{i}"));
            copy.to_string()
        })
        .collect();
    for (status, answer) in app.deliver_at_once(bodies).await {
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(calls(&app, "GET /products").await, reads_at_start);
    assert_eq!(app.rows(landing::server::db::Table::Purchases).await, 0);

    // Ten sales of new prices of Pro's product, one after another, each unknown to the index
    // when its event arrives: each is read before it is judged, and found ours, but the
    // catalog is read at most once a window, not once an event.
    let pro = {
        let store = app.stripe.as_ref().unwrap().store.lock().unwrap();
        store
            .price_by_lookup_key("pro_monthly")
            .unwrap()
            .product
            .clone()
    };
    let started = std::time::Instant::now();
    for i in 0..10 {
        sale_of(&app, &pro, &format!("ours{i}@example.com")).await;
    }
    // Not `settle`: the twenty deliveries above count as applied events too.
    for _ in 0..400 {
        if app.rows(landing::server::db::Table::Purchases).await == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let windows = started.elapsed().as_secs_f64() / 5.0;
    let reads = calls(&app, "GET /products").await - reads_at_start;
    assert!(
        reads >= 1.0 && reads <= windows.ceil() + 1.0,
        "{reads} reads of the catalog in {windows:.1} windows"
    );
    assert_eq!(app.rows(landing::server::db::Table::Purchases).await, 10);
}
