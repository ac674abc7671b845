//! Prometheus metrics for operators, served on `METRICS_ADDR` (a listener apart from the site's,
//! so they are never public by accident), in the OpenMetrics text format that Prometheus reads.
//!
//! The registry belongs to this instance's state (no global). Every histogram has fixed buckets:
//! recording one adds to a count, so memory does not grow with traffic and nothing needs
//! sweeping. With `METRICS_ADDR` unset none of this exists: no registry, no request layer, and
//! the hot paths skip one `Option` check.
//!
//! Families (all prefixed `landing_`):
//! - `http_requests_total`, `http_request_duration_seconds`: per route and status;
//! - `webhook_events_total` (per event type and outcome), `webhook_apply_duration_seconds`;
//! - `stripe_requests_total` (per operation and outcome), `stripe_request_duration_seconds`;
//! - `stripe_retries_total`: calls tried again, per operation and the reason;
//! - `outbox_pending`, `outbox_oldest_pending_age_seconds`: read from the database per scrape;
//! - `db_pool_connections` (by state), `db_pool_max_connections`: read per scrape;
//! - `build_info`: the version and the database backend, as labels of a constant 1.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Latency buckets, in seconds: from a page served from memory (~50 µs) to a slow Stripe call.
const BUCKETS: [f64; 17] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// A label value for requests that matched no route (static files, 404s): routes are a closed
/// set, URIs are not.
pub const UNMATCHED_ROUTE: &str = "other";

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    r#type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventTypeLabels {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StripeLabels {
    operation: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    operation: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    database: &'static str,
}

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

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_latency: Family<RequestLabels, Histogram>,
    events: Family<EventLabels, Counter>,
    apply_latency: Family<EventTypeLabels, Histogram>,
    stripe_calls: Family<StripeLabels, Counter>,
    stripe_latency: Family<OperationLabels, Histogram>,
    stripe_retries: Family<RetryLabels, Counter>,
    password_checks: Family<CheckLabels, Counter>,
    outbox_pending: Gauge,
    oldest_pending: Gauge<f64, AtomicU64>,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
}

impl Metrics {
    /// Every family registered, and `build_info` set. `database` names the backend.
    pub fn new(database: &'static str) -> Self {
        let mut registry = Registry::with_prefix("landing");
        let metrics = Metrics {
            requests: Family::default(),
            request_latency: Family::new_with_constructor(latency),
            events: Family::default(),
            apply_latency: Family::new_with_constructor(latency),
            stripe_calls: Family::default(),
            stripe_latency: Family::new_with_constructor(latency),
            stripe_retries: Family::default(),
            password_checks: Family::default(),
            outbox_pending: Gauge::default(),
            oldest_pending: Gauge::default(),
            pool: Family::default(),
            pool_max: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "Requests answered, by matched route and status.",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer a request (to its response head), by matched route and status.",
            Unit::Seconds,
            metrics.request_latency.clone(),
        );
        registry.register(
            "webhook_events",
            "Stripe events received, by type and outcome (applied, duplicate, recorded, failed, rejected).",
            metrics.events.clone(),
        );
        registry.register_with_unit(
            "webhook_apply_duration",
            "Time from a verified event to its answer (read from Stripe, applied, committed), by type.",
            Unit::Seconds,
            metrics.apply_latency.clone(),
        );
        registry.register(
            "stripe_requests",
            "Calls to Stripe's API, by operation and outcome (ok, refused, failed, timeout, unreachable).",
            metrics.stripe_calls.clone(),
        );
        registry.register_with_unit(
            "stripe_request_duration",
            "Time of a call to Stripe's API, by operation.",
            Unit::Seconds,
            metrics.stripe_latency.clone(),
        );
        registry.register(
            "stripe_retries",
            "Calls to Stripe tried again, by operation and why the try before failed (timeout, unreachable, conflict, rate_limited, failed).",
            metrics.stripe_retries.clone(),
        );
        registry.register(
            "password_checks",
            "Passwords checked against an account (sign-in, a confirmation page), by outcome (right, wrong): what guessing reaches past the limits.",
            metrics.password_checks.clone(),
        );
        registry.register(
            "outbox_pending",
            "Mail queued and not sent yet (including mail the mail server refused).",
            metrics.outbox_pending.clone(),
        );
        registry.register_with_unit(
            "outbox_oldest_pending_age",
            "Age of the oldest mail not sent yet; 0 when none waits.",
            Unit::Seconds,
            metrics.oldest_pending.clone(),
        );
        registry.register(
            "db_pool_connections",
            "This instance's database connections, by state (idle, in_use).",
            metrics.pool.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The most connections this instance's pool opens.",
            metrics.pool_max.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                database,
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1: the build's version and database backend as labels.",
            build,
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// A request answered: `route` is the matched route (or `UNMATCHED_ROUTE`).
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        let labels = RequestLabels {
            route: route.to_owned(),
            status,
        };
        self.request_latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// A Stripe event answered. `kind` is a handled type or `other` (the label set stays closed);
    /// `took` is `None` for an event refused before it was verified.
    pub fn webhook(&self, kind: &'static str, outcome: &'static str, took: Option<Duration>) {
        if let Some(took) = took {
            self.apply_latency
                .get_or_create(&EventTypeLabels { r#type: kind })
                .observe(took.as_secs_f64());
        }
        self.events
            .get_or_create(&EventLabels {
                r#type: kind,
                outcome,
            })
            .inc();
    }

    /// A call to Stripe: `operation` is its method and path with ids cut out
    /// (`GET /subscriptions/:id`, see `operation`).
    pub fn stripe_call(&self, operation: String, outcome: StripeOutcome, took: Duration) {
        let labels = StripeLabels {
            operation,
            outcome: outcome.as_str(),
        };
        self.stripe_calls.get_or_create(&labels).inc();
        self.stripe_latency
            .get_or_create(&OperationLabels {
                operation: labels.operation,
            })
            .observe(took.as_secs_f64());
    }

    /// A call to Stripe tried again; `reason` is why the try before failed (`timeout`,
    /// `unreachable`, `conflict`, `rate_limited`, `failed`).
    pub fn stripe_retry(&self, operation: String, reason: &'static str) {
        self.stripe_retries
            .get_or_create(&RetryLabels { operation, reason })
            .inc();
    }

    /// A password checked with argon2 (past every limit); `right` when it matched.
    pub fn password_checked(&self, right: bool) {
        let outcome = if right { "right" } else { "wrong" };
        self.password_checks
            .get_or_create(&CheckLabels { outcome })
            .inc();
    }

    /// The exposition, with the scrape-time readings set first.
    pub fn render(&self, readings: Readings) -> String {
        if let Some(pending) = readings.outbox_pending {
            self.outbox_pending.set(pending);
            self.oldest_pending.set(
                readings
                    .oldest_pending_age
                    .unwrap_or_default()
                    .as_secs_f64(),
            );
        }
        let in_use = readings.pool_size.saturating_sub(readings.pool_idle);
        for (state, n) in [("idle", readings.pool_idle), ("in_use", in_use)] {
            self.pool
                .get_or_create(&PoolLabels { state })
                .set(i64::from(n));
        }
        self.pool_max.set(i64::from(readings.pool_max));
        let mut text = String::new();
        // Writing to a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
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
        for family in [
            "http_requests",
            "http_request_duration_seconds",
            "webhook_events",
            "webhook_apply_duration_seconds",
            "stripe_requests",
            "stripe_request_duration_seconds",
            "outbox_pending",
            "outbox_oldest_pending_age_seconds",
            "db_pool_connections",
            "db_pool_max_connections",
            "build_info",
        ] {
            assert!(
                text.contains(&format!("# HELP landing_{family} ")),
                "{family} in\n{text}"
            );
        }
        assert!(
            text.contains(r#"landing_http_requests_total{route="/pricing",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"landing_db_pool_connections{state="in_use"} 2"#),
            "{text}"
        );
        assert!(
            text.contains("landing_outbox_oldest_pending_age_seconds 7.0"),
            "{text}"
        );
        assert!(
            text.contains(r#"operation="GET /v1/invoices/:id""#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
