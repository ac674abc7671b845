//! Every call to Stripe safe to retry: each fault the emulator can plan (500, 429, 409
//! `lock_timeout`, a hang past the client's timeout, the work done and the connection dropped)
//! put in front of each call a buyer or subscriber waits on. One fault is tried through: the
//! buyer succeeds, and Stripe did the work once. A fault that lasts is answered 503 with
//! `Retry-After` ("try again"), never another 5xx, and the work was still done at most once.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{answer_of, on_both_databases, pay, Backend, TestApp};

on_both_databases!(
    backend;
    a_checkout_survives_each_fault_and_creates_one_session,
    a_portal_session_survives_each_fault,
    a_plan_change_survives_each_fault_and_changes_the_plan_once,
    resync_waits_out_stripes_rate_limit,
);

/// One try may take 500 ms: a buyer's three tries fit in 2.5 s.
const TIMEOUT_MS: &str = "500";

/// Each fault once, as `(kind, extra parameters)`: the hang outlasts one try.
const FAULTS: [(&str, &[(&str, &str)]); 5] = [
    ("error", &[]),
    ("rate_limit", &[]),
    ("lock_timeout", &[]),
    ("hang", &[("seconds", "1")]),
    ("drop", &[]),
];

async fn app(backend: Backend, webhooks: bool) -> TestApp {
    let vars = [("STRIPE_TIMEOUT_MS", TIMEOUT_MS)];
    if webhooks {
        TestApp::spawn_webhooks(backend, &vars).await
    } else {
        TestApp::spawn_billing_with(backend, &vars).await
    }
}

/// Plans `count` faults of `kind` on `method path…` in the app's emulator.
async fn plan(
    app: &TestApp,
    kind: &str,
    method: &str,
    path: &str,
    count: u32,
    extra: &[(&str, &str)],
) {
    let count = count.to_string();
    let mut form = vec![
        ("kind", kind),
        ("method", method),
        ("path", path),
        ("count", count.as_str()),
    ];
    form.extend_from_slice(extra);
    let res = app
        .client
        .post(format!("{}/_emulator/faults", app.stripe_base()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{kind} planned");
}

async fn clear(app: &TestApp) {
    app.client
        .delete(format!("{}/_emulator/faults", app.stripe_base()))
        .send()
        .await
        .unwrap();
    // Hung requests finish their work meanwhile.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
}

/// A lasting fault's answer: 503, `Retry-After`, and words that say to try again.
fn assert_try_again(status: u16, retry_after: Option<&str>, body: &Value, what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)),
        "{what}: Retry-After"
    );
    assert!(body.to_string().contains("try again"), "{what}: {body}");
}

async fn post_json(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut req = app
        .client
        .post(app.url(path))
        .header("origin", &app.base)
        .json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    answer_of(res).await
}

/// A server function posted as the hydrated page does: status, `Retry-After`, JSON answer.
async fn server_fn(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    cookie: &str,
) -> (u16, Option<String>, Value) {
    let res = app.post_form(path, form, Some(cookie)).await;
    answer_of(res).await
}

async fn a_checkout_survives_each_fault_and_creates_one_session(backend: Backend) {
    let app = app(backend, false).await;
    let body = app.body("pro_monthly", "subscription");
    for (kind, extra) in FAULTS {
        let before = app.checkout_sessions();
        plan(&app, kind, "POST", "/v1/checkout/sessions", 1, extra).await;
        let (status, _, answer) =
            post_json(&app, "/api/stripe/create-checkout", None, body.clone()).await;
        assert_eq!(status, 200, "{kind}: {answer}");
        let id = answer["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        clear(&app).await;
        assert_eq!(app.checkout_sessions(), before + 1, "{kind}: one session");
        assert!(
            app.stripe_session_ids().contains(&id),
            "{kind}: the buyer's"
        );

        // A fault that outlasts the buyer's patience.
        let before = app.checkout_sessions();
        plan(&app, kind, "POST", "/v1/checkout/sessions", 20, extra).await;
        let (status, retry_after, answer) =
            post_json(&app, "/api/stripe/create-checkout", None, body.clone()).await;
        assert_try_again(status, retry_after.as_deref(), &answer, kind);
        clear(&app).await;
        let made = app.checkout_sessions() - before;
        assert!(made <= 1, "{kind}: {made} sessions for one attempt");
        if kind == "drop" {
            assert_eq!(
                made, 1,
                "the dropped answer's work was done once, whatever the retries"
            );
        }
    }
}

async fn a_portal_session_survives_each_fault(backend: Backend) {
    let app = app(backend, true).await;
    let cookie = app
        .subscriber(
            "portal-faults@example.com",
            "starter_monthly",
            "subscription",
        )
        .await;
    app.settle().await;
    let back = json!({"returnUrl": app.url("/billing")});
    for (kind, extra) in FAULTS {
        plan(&app, kind, "POST", "/v1/billing_portal/sessions", 1, extra).await;
        let (status, _, answer) = post_json(
            &app,
            "/api/stripe/create-portal",
            Some(&cookie),
            back.clone(),
        )
        .await;
        assert_eq!(status, 200, "{kind}: {answer}");
        assert!(
            answer["url"].as_str().unwrap().contains("/p/session/"),
            "{kind}"
        );
        clear(&app).await;

        plan(&app, kind, "POST", "/v1/billing_portal/sessions", 20, extra).await;
        let (status, retry_after, answer) = post_json(
            &app,
            "/api/stripe/create-portal",
            Some(&cookie),
            back.clone(),
        )
        .await;
        assert_try_again(status, retry_after.as_deref(), &answer, kind);
        clear(&app).await;
    }
}

/// Invoices Stripe made for plan changes, and how many of them were paid.
async fn change_invoices(app: &TestApp) -> (usize, usize) {
    let invoices = app.stripe_invoices().await;
    let changes: Vec<&Value> = invoices
        .iter()
        .filter(|i| i["billing_reason"] == "subscription_update")
        .collect();
    let paid = changes.iter().filter(|i| i["status"] == "paid").count();
    (changes.len(), paid)
}

async fn a_plan_change_survives_each_fault_and_changes_the_plan_once(backend: Backend) {
    let app = app(backend, true).await;
    let cookie = app
        .subscriber(
            "change-faults@example.com",
            "starter_monthly",
            "subscription",
        )
        .await;
    app.settle().await;
    // Up and down again, one fault per call: each change is made, and charged, once.
    let mut to = "pro_monthly";
    for (kind, extra) in FAULTS {
        plan(&app, kind, "POST", "/v1/invoices/create_preview", 1, extra).await;
        let (status, preview) = app.change_preview(to, &cookie).await;
        assert_eq!(status, 200, "{kind} preview: {preview}");
        clear(&app).await;
        let when = preview["proration_date"].as_i64().unwrap().to_string();
        let before = change_invoices(&app).await;
        plan(&app, kind, "POST", "/v1/subscriptions/", 1, extra).await;
        let (status, answer) = app.change_plan(to, &when, &cookie).await;
        assert_eq!(status, 200, "{kind} confirm: {answer}");
        clear(&app).await;
        let plan_now = if to == "pro_monthly" {
            "pro"
        } else {
            "starter"
        };
        assert_eq!(app.plan_in_force(&cookie).await, plan_now, "{kind}");
        let after = change_invoices(&app).await;
        if to == "pro_monthly" {
            assert_eq!(
                after,
                (before.0 + 1, before.1 + 1),
                "{kind}: one upgrade, charged once"
            );
        } else {
            assert_eq!(after, before, "{kind}: a downgrade charges nothing");
        }
        to = if to == "pro_monthly" {
            "starter_monthly"
        } else {
            "pro_monthly"
        };
    }

    // Lasting faults: the preview and the confirmation say "try again", and change nothing
    // twice.
    plan(
        &app,
        "rate_limit",
        "POST",
        "/v1/invoices/create_preview",
        20,
        &[],
    )
    .await;
    let (status, retry_after, preview) = server_fn(
        &app,
        "/api/billing/change/preview",
        &[("price", to)],
        &cookie,
    )
    .await;
    assert_try_again(status, retry_after.as_deref(), &preview, "preview");
    clear(&app).await;
    let (_, preview) = app.change_preview(to, &cookie).await;
    let when = preview["proration_date"].as_i64().unwrap().to_string();
    let before = change_invoices(&app).await;
    plan(&app, "drop", "POST", "/v1/subscriptions/", 20, &[]).await;
    let fields = [("price", to), ("proration_date", when.as_str())];
    let (status, retry_after, answer) =
        server_fn(&app, "/api/billing/change", &fields, &cookie).await;
    assert_try_again(status, retry_after.as_deref(), &answer, "confirm");
    clear(&app).await;
    let after = change_invoices(&app).await;
    assert!(
        after.0 - before.0 <= 1 && after.1 - before.1 <= 1,
        "at most one change: {before:?} → {after:?}"
    );
}

async fn resync_waits_out_stripes_rate_limit(backend: Backend) {
    let app = app(backend, false).await;
    let (_, body) = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await;
    pay(
        &app,
        body["url"].as_str().unwrap(),
        "resync-faults@example.com",
    )
    .await;
    // Every other read refused for a while: an operator's resync waits and goes on.
    plan(&app, "rate_limit", "GET", "/v1/", 6, &[("every", "2")]).await;
    let report = landing::server::billing::resync::all(&app.state)
        .await
        .expect("resync goes on through 429s");
    assert_eq!(report.customers, 1);
    assert_eq!(report.sessions, 1);
    let left: Value = app
        .client
        .get(format!("{}/_emulator/faults", app.stripe_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        left["faults"].as_array().unwrap().len() <= 1,
        "the faults fired: {left}"
    );
}
