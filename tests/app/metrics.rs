//! `/metrics` on `METRICS_ADDR`, read with a Prometheus exposition-format parser: every family is
//! there, and each moves when its event happens.

use std::collections::HashMap;

use prometheus_parse::{Scrape, Value};
use serde_json::json;

use crate::harness::{on_both_databases, rename, Backend, TestApp};

on_both_databases!(
    backend;
    every_family_is_scraped_and_moves_when_its_event_happens,
);

/// One scrape: each sample's value by its name and sorted labels
/// (`name{a="1",b="2"}`), and the raw text.
struct Sampled {
    values: HashMap<String, f64>,
    text: String,
}

impl Sampled {
    /// A sample's value, or 0 when the series does not exist yet (a counter never incremented).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.values
            .get(&series(name, labels))
            .copied()
            .unwrap_or(0.0)
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.values.contains_key(&series(name, labels))
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

async fn scrape(app: &TestApp) -> Sampled {
    let url = app.metrics_url.as_deref().expect("METRICS_ADDR is set");
    let res = app.client.get(url).send().await.expect("scrape");
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    let mut values = HashMap::new();
    for sample in parsed.samples {
        let value = match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            // Bucket lines: their counts are checked through `_count`.
            Value::Histogram(_) | Value::Summary(_) => continue,
        };
        let labels: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        values.insert(series(&sample.metric, &labels), value);
    }
    Sampled { values, text }
}

async fn every_family_is_scraped_and_moves_when_its_event_happens(backend: Backend) {
    // Mail cannot leave (nothing listens on port 1), so the outbox holds what is queued.
    let app = TestApp::spawn_billing_with(
        backend,
        &[
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("SMTP_URL", "smtp://127.0.0.1:1"),
        ],
    )
    .await;
    // Not on the site's own listener.
    assert_eq!(app.get("/metrics").await.status(), 404);

    let before = scrape(&app).await;
    let database = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        before.get(
            "landing_build_info",
            &[("version", version), ("database", database)]
        ),
        1.0,
        "{}",
        before.text
    );
    assert!(before.get("landing_db_pool_max_connections", &[]) >= 1.0);
    let open = |s: &Sampled| {
        s.get("landing_db_pool_connections", &[("state", "idle")])
            + s.get("landing_db_pool_connections", &[("state", "in_use")])
    };
    assert!(open(&before) >= 1.0, "{}", before.text);
    assert_eq!(before.get("landing_outbox_pending", &[]), 0.0);
    assert_eq!(
        before.get("landing_outbox_oldest_pending_age_seconds", &[]),
        0.0
    );

    // Pages: two of pricing, one that does not exist.
    for _ in 0..2 {
        assert_eq!(app.get("/pricing").await.status(), 200);
    }
    assert_eq!(app.get("/no-such-page").await.status(), 404);

    // A purchase: the sign-up's mail, a Stripe call, then its event applied, again (a
    // duplicate), forged (rejected), of a type the site does not handle (recorded), and one
    // whose apply fails.
    app.subscriber("metrics@example.com", "pro_monthly", "subscription")
        .await;
    let completed = app
        .event_of_type("checkout.session.completed")
        .await
        .to_string();
    for _ in 0..2 {
        assert_eq!(app.deliver_signed(&completed).await.0, 200);
    }
    assert_eq!(
        app.deliver(&completed, Some("t=1,v1=00".into())).await.0,
        400
    );
    let unknown = json!({"id": "evt_metrics_unknown", "object": "event",
        "type": "radar.early_fraud_warning.created", "created": landing::server::auth::jwt::now(),
        "livemode": false, "data": {"object": {"id": "issfr_1"}}});
    assert_eq!(app.deliver_signed(&unknown.to_string()).await.0, 200);
    let created = app
        .event_of_type("customer.subscription.created")
        .await
        .to_string();
    rename(&app.state.db, "subscriptions", "subscriptions_away").await;
    assert_eq!(app.deliver_signed(&created).await.0, 500);
    rename(&app.state.db, "subscriptions_away", "subscriptions").await;

    let after = scrape(&app).await;
    let moved =
        |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    let pricing = [("route", "/pricing"), ("status", "200")];
    assert_eq!(moved("landing_http_requests_total", &pricing), 2.0);
    assert_eq!(
        moved("landing_http_request_duration_seconds_count", &pricing),
        2.0
    );
    assert!(moved("landing_http_request_duration_seconds_sum", &pricing) > 0.0);
    assert_eq!(
        moved(
            "landing_http_requests_total",
            &[("route", "other"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "landing_http_requests_total",
            &[("route", "/api/stripe/webhook"), ("status", "500")]
        ),
        1.0
    );

    let webhook = |kind: &str, outcome: &str| {
        moved(
            "landing_webhook_events_total",
            &[("type", kind), ("outcome", outcome)],
        )
    };
    assert_eq!(webhook("checkout.session.completed", "applied"), 1.0);
    assert_eq!(webhook("checkout.session.completed", "duplicate"), 1.0);
    assert_eq!(webhook("unverified", "rejected"), 1.0);
    assert_eq!(webhook("other", "recorded"), 1.0);
    assert_eq!(webhook("customer.subscription.created", "failed"), 1.0);
    assert_eq!(
        moved(
            "landing_webhook_apply_duration_seconds_count",
            &[("type", "checkout.session.completed")]
        ),
        2.0
    );

    let create = [("operation", "POST /checkout/sessions")];
    assert_eq!(
        moved(
            "landing_stripe_requests_total",
            &[create[0], ("outcome", "ok")]
        ),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(
        moved("landing_stripe_request_duration_seconds_count", &create),
        1.0
    );
    // The applied event read its session from Stripe.
    assert!(
        after
            .values
            .keys()
            .any(|k| k.starts_with("landing_stripe_requests_total{")
                && k.contains("GET /checkout/sessions/:id")),
        "{}",
        after.text
    );

    // The sign-up's verification link and the receipt wait for a mail server.
    assert!(after.get("landing_outbox_pending", &[]) >= 2.0);
    assert!(after.get("landing_outbox_oldest_pending_age_seconds", &[]) > 0.0);
    assert!(open(&after) >= 1.0);

    // Latencies are histograms with buckets, not summaries.
    for family in [
        "landing_http_request_duration_seconds",
        "landing_webhook_apply_duration_seconds",
        "landing_stripe_request_duration_seconds",
    ] {
        assert!(
            after.text.contains(&format!("# TYPE {family} histogram")),
            "{family}"
        );
        assert!(after.text.contains(&format!("{family}_bucket{{")));
    }
    assert!(after.has(
        "landing_build_info",
        &[("version", version), ("database", database)]
    ));
}
