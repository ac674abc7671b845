//! Prometheus metrics for operators, served on `METRICS_ADDR` (a listener apart from the site's,
//! so they are never public by accident).
//!
//! The recorder belongs to this instance's state; nothing is installed as the process's global
//! recorder. With `METRICS_ADDR` unset none of this exists: no recorder, no request layer, no
//! upkeep task, and the hot paths skip one `Option` check.
//!
//! Families (all prefixed `landing_`):
//! - `http_requests_total`, `http_request_duration_seconds`: per route and status;
//! - `webhook_events_total` (per event type and outcome), `webhook_apply_duration_seconds`;
//! - `stripe_requests_total` (per operation and outcome), `stripe_request_duration_seconds`;
//! - `outbox_pending`, `outbox_oldest_pending_age_seconds`: read from the database per scrape;
//! - `db_pool_connections` (by state), `db_pool_max_connections`: read per scrape;
//! - `build_info`: the version and the database backend, as labels of a constant 1.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// What `register_*` asks for; the Prometheus recorder ignores it.
const META: Metadata<'static> = Metadata::new("landing", Level::INFO, None);

/// Latency buckets, in seconds: from a page served from memory (~50 µs) to a slow Stripe call.
const BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Histogram samples wait in lock-free buckets until folded into the exposition's counts: this
/// often, and at every scrape, so memory stays bounded when nobody scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// A label value for requests that matched no route (static files, 404s): routes are a closed
/// set, URIs are not.
pub const UNMATCHED_ROUTE: &str = "other";

/// The families with their help text: (name, unit, help).
const FAMILIES: &[(&str, Option<Unit>, &str)] = &[
    (
        "landing_http_requests_total",
        None,
        "Requests answered, by matched route and status.",
    ),
    (
        "landing_http_request_duration_seconds",
        Some(Unit::Seconds),
        "Time to answer a request (to its response head), by matched route and status.",
    ),
    (
        "landing_webhook_events_total",
        None,
        "Stripe events received, by type and outcome (applied, duplicate, recorded, failed, rejected).",
    ),
    (
        "landing_webhook_apply_duration_seconds",
        Some(Unit::Seconds),
        "Time from a verified event to its answer (read from Stripe, applied, committed), by type.",
    ),
    (
        "landing_stripe_requests_total",
        None,
        "Calls to Stripe's API, by operation and outcome (ok, refused, failed, timeout, unreachable).",
    ),
    (
        "landing_stripe_request_duration_seconds",
        Some(Unit::Seconds),
        "Time of a call to Stripe's API, by operation.",
    ),
    (
        "landing_outbox_pending",
        None,
        "Mail queued and not sent yet (including mail the mail server refused).",
    ),
    (
        "landing_outbox_oldest_pending_age_seconds",
        Some(Unit::Seconds),
        "Age of the oldest mail not sent yet; 0 when none waits.",
    ),
    (
        "landing_db_pool_connections",
        None,
        "This instance's database connections, by state (idle, in_use).",
    ),
    (
        "landing_db_pool_max_connections",
        None,
        "The most connections this instance's pool opens.",
    ),
    (
        "landing_build_info",
        None,
        "Always 1: the build's version and database backend as labels.",
    ),
];

/// How a call to Stripe ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeOutcome {
    Ok,
    /// Stripe answered 4xx.
    Refused,
    /// Stripe answered 5xx.
    Failed,
    Timeout,
    Unreachable,
}

impl StripeOutcome {
    fn as_str(self) -> &'static str {
        match self {
            StripeOutcome::Ok => "ok",
            StripeOutcome::Refused => "refused",
            StripeOutcome::Failed => "failed",
            StripeOutcome::Timeout => "timeout",
            StripeOutcome::Unreachable => "unreachable",
        }
    }
}

/// What a scrape reads at the moment it is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Readings {
    /// `None` when the outbox could not be read: its gauges keep their last values.
    pub outbox_pending: Option<i64>,
    /// The age of the oldest mail not sent; `None` when none waits.
    pub oldest_pending_age: Option<Duration>,
    pub pool_size: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A recorder with every family described and `build_info` set.
    pub fn new(backend: &str) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        for (name, unit, help) in FAMILIES {
            let name = metrics::KeyName::from_const_str(name);
            // All three `describe_*` land in one table; the kind comes from registration.
            recorder.describe_counter(name, *unit, (*help).into());
        }
        let metrics = Metrics {
            handle: recorder.handle(),
            recorder,
        };
        metrics
            .gauge(
                "landing_build_info",
                vec![
                    Label::from_static_parts("version", env!("CARGO_PKG_VERSION")),
                    Label::new("database", backend.to_owned()),
                ],
            )
            .set(1.0);
        metrics
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &META)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &META)
    }

    fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder
            .register_histogram(&Key::from_parts(name, labels), &META)
    }

    /// A request answered: `route` is the matched route (or `UNMATCHED_ROUTE`).
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        let labels = vec![
            Label::new("route", route.to_owned()),
            Label::new("status", status.to_string()),
        ];
        self.histogram("landing_http_request_duration_seconds", labels.clone())
            .record(took.as_secs_f64());
        self.counter("landing_http_requests_total", labels)
            .increment(1);
    }

    /// A Stripe event answered. `kind` is a handled type or `other` (the label set stays closed);
    /// `took` is `None` for an event refused before it was verified.
    pub fn webhook(&self, kind: &'static str, outcome: &'static str, took: Option<Duration>) {
        if let Some(took) = took {
            self.histogram(
                "landing_webhook_apply_duration_seconds",
                vec![Label::from_static_parts("type", kind)],
            )
            .record(took.as_secs_f64());
        }
        self.counter(
            "landing_webhook_events_total",
            vec![
                Label::from_static_parts("type", kind),
                Label::from_static_parts("outcome", outcome),
            ],
        )
        .increment(1);
    }

    /// A call to Stripe: `operation` is its method and path with ids cut out
    /// (`GET /subscriptions/:id`, see `operation`).
    pub fn stripe_call(&self, operation: String, outcome: StripeOutcome, took: Duration) {
        self.histogram(
            "landing_stripe_request_duration_seconds",
            vec![Label::new("operation", operation.clone())],
        )
        .record(took.as_secs_f64());
        self.counter(
            "landing_stripe_requests_total",
            vec![
                Label::new("operation", operation),
                Label::from_static_parts("outcome", outcome.as_str()),
            ],
        )
        .increment(1);
    }

    /// The exposition, with the scrape-time readings set first.
    pub fn render(&self, readings: Readings) -> String {
        if let Some(pending) = readings.outbox_pending {
            self.gauge("landing_outbox_pending", vec![])
                .set(pending as f64);
            self.gauge("landing_outbox_oldest_pending_age_seconds", vec![])
                .set(readings.oldest_pending_age.unwrap_or_default());
        }
        let in_use = readings.pool_size.saturating_sub(readings.pool_idle);
        for (state, n) in [("idle", readings.pool_idle), ("in_use", in_use)] {
            self.gauge(
                "landing_db_pool_connections",
                vec![Label::from_static_parts("state", state)],
            )
            .set(n);
        }
        self.gauge("landing_db_pool_max_connections", vec![])
            .set(readings.pool_max);
        self.handle.render()
    }

    /// Folds histogram samples into their buckets every `UPKEEP_EVERY`.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        })
    }
}

/// A Stripe call's label: the method and path, each id replaced by `:id`. Stripe's ids carry
/// digits or capitals (`sub_1Pq…`); the path's own words never do (`billing_portal`).
pub fn operation(method: &str, path: &str) -> String {
    let mut out = String::with_capacity(method.len() + path.len() + 1);
    out.push_str(method);
    out.push(' ');
    let path = path.split('?').next().unwrap_or("");
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let is_id = segment
            .bytes()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        out.push_str(if is_id && i > 1 { ":id" } else { segment });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_names_the_path_without_its_ids() {
        assert_eq!(
            operation("POST", "/v1/checkout/sessions"),
            "POST /v1/checkout/sessions"
        );
        assert_eq!(
            operation("GET", "/v1/subscriptions/sub_1PqRsT2u"),
            "GET /v1/subscriptions/:id"
        );
        assert_eq!(
            operation("POST", "/v1/billing_portal/configurations/bpc_9Zx"),
            "POST /v1/billing_portal/configurations/:id"
        );
        assert_eq!(
            operation(
                "GET",
                "/v1/checkout/sessions/cs_test_a1/line_items?limit=100"
            ),
            "GET /v1/checkout/sessions/:id/line_items"
        );
    }

    #[test]
    fn a_render_holds_every_family_once_its_events_happen() {
        let metrics = Metrics::new("sqlite");
        metrics.request("/pricing", 200, Duration::from_micros(40));
        metrics.webhook("invoice.paid", "applied", Some(Duration::from_millis(2)));
        metrics.stripe_call(
            operation("GET", "/v1/invoices/in_1A"),
            StripeOutcome::Ok,
            Duration::from_millis(30),
        );
        let text = metrics.render(Readings {
            outbox_pending: Some(2),
            oldest_pending_age: Some(Duration::from_secs(7)),
            pool_size: 3,
            pool_idle: 1,
            pool_max: 10,
        });
        for (name, _, _) in FAMILIES {
            assert!(
                text.contains(&format!("# HELP {name}")),
                "{name} in\n{text}"
            );
        }
        assert!(text.contains(r#"landing_http_requests_total{route="/pricing",status="200"} 1"#));
        assert!(text.contains(r#"landing_db_pool_connections{state="in_use"} 2"#));
        assert!(text.contains("landing_outbox_oldest_pending_age_seconds 7"));
        assert!(text.contains(r#"operation="GET /v1/invoices/:id""#));
    }
}
