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
    a_scheduled_downgrade_survives_each_fault_in_front_of_each_schedule_call,
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
    // An upgrade per fault, each by a Starter subscriber of its own (a downgrade waits for the
    // period's end: see the schedules' test): each change is made, and charged, once.
    let to = "pro_monthly";
    for (kind, extra) in FAULTS {
        let cookie = app
            .subscriber(
                &format!("change-faults-{kind}@example.com"),
                "starter_monthly",
                "subscription",
            )
            .await;
        app.settle().await;
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
        assert_eq!(app.plan_in_force(&cookie).await, "pro", "{kind}");
        let after = change_invoices(&app).await;
        assert_eq!(
            after,
            (before.0 + 1, before.1 + 1),
            "{kind}: one upgrade, charged once"
        );
    }

    // Lasting faults: the preview and the confirmation say "try again", and change nothing
    // twice.
    let cookie = app
        .subscriber(
            "change-faults-lasting@example.com",
            "starter_monthly",
            "subscription",
        )
        .await;
    app.settle().await;
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

/// The live schedules (`not_started` or `active`) of one subscription, and all it ever had.
fn schedules_of(app: &TestApp, sub: &str) -> (usize, usize) {
    let store = app.stripe.as_ref().unwrap().store.lock().unwrap();
    let ours: Vec<_> = store
        .subscription_schedules
        .values()
        .filter(|s| {
            s.subscription.as_deref() == Some(sub)
                || s.released_subscription.as_deref() == Some(sub)
        })
        .collect();
    (ours.iter().filter(|s| s.is_live()).count(), ours.len())
}

/// The live schedule of `sub` has a phase after the current one (the change is scheduled).
fn change_scheduled(app: &TestApp, sub: &str) -> bool {
    let store = app.stripe.as_ref().unwrap().store.lock().unwrap();
    store.schedule_of(sub).is_some_and(|s| s.phases.len() == 2)
}

async fn a_scheduled_downgrade_survives_each_fault_in_front_of_each_schedule_call(
    backend: Backend,
) {
    let app = app(backend, true).await;
    let email = "schedule-faults@example.com";
    let cookie = app.subscriber(email, "pro_yearly", "subscription").await;
    app.settle().await;
    let sub = app.subscription_of(email).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Past the free trial: a trialing subscriber's change is never scheduled.
    app.control(&format!("subscriptions/{sub}/renew"), &[])
        .await;
    app.settle().await;
    let invoices = app.stripe_invoices().await.len();
    let confirm = |cookie: String| {
        let app = &app;
        async move {
            let (status, preview) = app.change_preview("starter_yearly", &cookie).await;
            assert_eq!(status, 200, "{preview}");
            let when = preview["proration_date"].as_i64().unwrap().to_string();
            let fields = [
                ("price", "starter_yearly"),
                ("proration_date", when.as_str()),
            ];
            server_fn(app, "/api/billing/change", &fields, &cookie).await
        }
    };
    let keep = |cookie: String| {
        let app = &app;
        async move { server_fn(app, "/api/billing/keep", &[], &cookie).await }
    };
    for (kind, extra) in FAULTS {
        // Creating the schedule.
        let (_, made) = schedules_of(&app, &sub);
        plan(&app, kind, "POST", "/v1/subscription_schedules", 1, extra).await;
        let (status, _, answer) = confirm(cookie.clone()).await;
        assert_eq!(
            (status, answer),
            (200, json!("/billing?scheduled=1")),
            "{kind} create"
        );
        clear(&app).await;
        assert_eq!(
            schedules_of(&app, &sub),
            (1, made + 1),
            "{kind}: one schedule"
        );
        assert!(change_scheduled(&app, &sub), "{kind}");

        // Releasing it (Keep).
        let schedule = app
            .stripe
            .as_ref()
            .unwrap()
            .store
            .lock()
            .unwrap()
            .schedule_of(&sub)
            .unwrap()
            .id
            .clone();
        let release = format!("/v1/subscription_schedules/{schedule}/release");
        plan(&app, kind, "POST", &release, 1, extra).await;
        let (status, _, answer) = keep(cookie.clone()).await;
        assert_eq!(
            (status, answer),
            (200, json!("/billing?kept=1")),
            "{kind} release"
        );
        clear(&app).await;
        assert_eq!(
            schedules_of(&app, &sub),
            (0, made + 1),
            "{kind}: released once"
        );

        // Updating a schedule the subscription already has (made in the Dashboard, say).
        let made_by_hand = app
            .stripe_call(
                reqwest::Method::POST,
                "/v1/subscription_schedules",
                &[("from_subscription", sub.as_str())],
            )
            .await;
        let id = made_by_hand["id"].as_str().unwrap().to_string();
        plan(
            &app,
            kind,
            "POST",
            &format!("/v1/subscription_schedules/{id}"),
            1,
            extra,
        )
        .await;
        let (status, _, answer) = confirm(cookie.clone()).await;
        assert_eq!(
            (status, answer),
            (200, json!("/billing?scheduled=1")),
            "{kind} update"
        );
        clear(&app).await;
        assert_eq!(
            schedules_of(&app, &sub),
            (1, made + 2),
            "{kind}: the same schedule"
        );
        assert!(change_scheduled(&app, &sub), "{kind}");
        let (status, _, _) = keep(cookie.clone()).await;
        assert_eq!(status, 200);
    }
    // No card charged for any of it, and Pro still in force.
    assert_eq!(
        app.stripe_invoices().await.len(),
        invoices,
        "nothing invoiced"
    );
    assert_eq!(app.plan_in_force(&cookie).await, "pro");

    // A lasting fault on each call: "try again", and never more than one live schedule.
    for path in ["/v1/subscription_schedules", "/v1/subscription_schedules/"] {
        plan(&app, "error", "POST", path, 20, &[]).await;
        let (status, retry_after, answer) = confirm(cookie.clone()).await;
        assert_try_again(status, retry_after.as_deref(), &answer, path);
        clear(&app).await;
        assert!(schedules_of(&app, &sub).0 <= 1, "{path}");
    }
    // A schedule left with its current phase only: confirming again finishes the change.
    let (status, _, answer) = confirm(cookie.clone()).await;
    assert_eq!((status, answer), (200, json!("/billing?scheduled=1")));
    assert_eq!(schedules_of(&app, &sub).0, 1);
    assert!(change_scheduled(&app, &sub));
    plan(
        &app,
        "error",
        "POST",
        "/v1/subscription_schedules/",
        20,
        &[],
    )
    .await;
    let (status, retry_after, answer) = keep(cookie.clone()).await;
    assert_try_again(status, retry_after.as_deref(), &answer, "keep");
    clear(&app).await;
    assert_eq!(
        app.stripe_invoices().await.len(),
        invoices,
        "nothing invoiced"
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
