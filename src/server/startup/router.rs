//! The router: the app's pages and server functions, the JSON API, the webhook, health checks
//! and `/metrics`, with the layers every request passes (security headers, compression,
//! timeouts, request spans and counts).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{
    file_and_error_handler_with_context, generate_route_list_with_exclusions_and_ssg_and_context,
    AxumRouteListing, LeptosRoutes,
};
use std::time::Duration;

use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::{BODY_LIMIT, WEBHOOK_BODY_LIMIT};
use crate::app::{shell, App};
use crate::model::auth::{CurrentUser, Me};
use crate::model::error::AppError;
use crate::server::auth::session::{me_from_headers, refresh_session, same_origin, AuthUser};
use crate::server::billing::{self};
use crate::server::infra::page_cache::{self, MemberPages};
use crate::server::metrics::{Metrics, Readings};
use crate::server::security::SecurityHeaders;
use crate::server::state::AppState;

/// Checkout's `success_url` when the site is its own return address: on to the success page
/// with the session, or to the app without one.
async fn welcome(
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Redirect {
    match query
        .get("session_id")
        .filter(|id| !id.is_empty() && *id != "{CHECKOUT_SESSION_ID}")
    {
        Some(id) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("session_id", id)
                .finish();
            axum::response::Redirect::to(&format!("/success?{query}"))
        }
        None => axum::response::Redirect::to("/app"),
    }
}

/// The app's routes, found by rendering it once per process. Leptos flips a process-global
/// "suppress resource loads" flag while it does this, and a resource first polled meanwhile by a
/// render in progress waits forever (leptos-rs/leptos#4773): the cause of rare 30 s hangs when
/// tests started apps beside running ones. The routes depend only on `App`, never on the state.
fn route_list(context: impl Fn() + Clone + Send + Sync + 'static) -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES
        .get_or_init(|| {
            generate_route_list_with_exclusions_and_ssg_and_context(App, None, context).0
        })
        .clone()
}

pub fn build_router(state: AppState) -> Router {
    // What every render may read: pages take the catalog (and, later, the state) from context.
    let context = {
        let state = state.clone();
        move || {
            provide_context(state.catalog.clone());
            provide_context(state.config.billing_mode());
            // Who is signed in, for the header: from the request's cookie (absent while the
            // route list is generated, when there is no request).
            let me = use_context::<Parts>()
                .and_then(|parts| me_from_headers(&state.sessions, &parts.headers));
            provide_context(CurrentUser(me));
            provide_context(state.clone());
        }
    };
    let routes = route_list(context.clone());
    let options = state.leptos_options.clone();

    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/me", get(me))
        .route("/api/entitlements", get(billing::api::entitlements))
        // A Checkout's cancel URL as API clients often write it: back to pricing, which says
        // that nothing was charged.
        .route(
            "/cancel",
            get(|| async { axum::response::Redirect::to("/pricing?canceled=1") }),
        )
        // A success URL as API clients often write it: with a session id, the success page;
        // without (or with Stripe's placeholder unfilled), on to the product.
        .route("/welcome", get(welcome))
        .route(
            "/api/stripe/create-checkout",
            post(billing::api::create_checkout),
        )
        .route(
            "/api/stripe/create-portal",
            post(billing::api::create_portal),
        )
        // Stripe's events are larger than anything a form or the JSON API sends.
        .route(
            "/api/stripe/webhook",
            post(billing::webhook::receive).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            context, shell,
        ))
        .method_not_allowed_fallback(method_not_allowed);
    // Only `/metrics` needs the route on the answer: without it, no layer at all.
    let app = match state.metrics {
        Some(_) => app.route_layer(middleware::from_fn(note_route)),
        None => app,
    };
    let app = app
        .route_layer(middleware::from_fn(record_route))
        .layer(middleware::from_fn(crate::server::error::server_fn_status))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            refresh_session,
        ))
        .layer(middleware::from_fn_with_state(
            state.config.clone(),
            same_origin,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CompressionLayer::new())
        // Nothing we serve should take this long: a stuck request answers 408 instead of hanging.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state.clone());
    // Layers on a router run after its routing; these run before it, on every request.
    let outer = Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn_with_state(
            MemberPages {
                cache: state.page_cache.clone(),
                members: state.clone(),
            },
            page_cache::serve_member_cached::<AppState>,
        ))
        .layer(middleware::from_fn_with_state(
            state.page_cache.clone(),
            page_cache::serve_cached,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(SecurityHeaders::new(&state.config)),
            crate::server::security::add_headers,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(RequestSpans::new())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        );
    // Without `METRICS_ADDR` there is no layer at all, not one that checks and does nothing.
    match state.metrics.clone() {
        Some(metrics) => outer.layer(middleware::from_fn_with_state(metrics, count_request)),
        None => outer,
    }
}

/// Counts a request and its latency by route and status: the page cache's route, or the one
/// the router matched (`record_route` leaves it on the answer), or `other`.
async fn count_request(
    State(metrics): State<Arc<Metrics>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let cached = page_cache::cached_route(&request);
    let response = next.run(request).await;
    let route = cached
        .or_else(|| {
            response
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|r| r.as_str())
        })
        .unwrap_or(crate::server::metrics::UNMATCHED_ROUTE);
    metrics.request(route, response.status().as_u16(), started.elapsed());
    response
}

/// `/metrics` and nothing else, for `METRICS_ADDR`; `None` when metrics are off.
pub fn metrics_router(state: &AppState) -> Option<Router> {
    state.metrics.as_ref()?;
    Some(
        Router::new()
            .route("/metrics", get(scrape))
            .with_state(state.clone()),
    )
}

/// The exposition, with the outbox and the pool read now.
async fn scrape(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(metrics) = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (pool_size, pool_idle, pool_max) = state.db.pool_use();
    let mut readings = Readings {
        pool_size,
        pool_idle,
        pool_max,
        ..Readings::default()
    };
    match crate::server::db::outbox::backlog(&state.db).await {
        Ok((pending, oldest)) => {
            readings.outbox_pending = Some(pending);
            readings.oldest_pending_age =
                oldest.map(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default());
        }
        // The rest is still worth serving; the outbox gauges keep their last values.
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox backlog"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::server::metrics::CONTENT_TYPE,
        )],
        metrics.render(readings),
    )
        .into_response()
}

/// Each request's span: its method, URI, an id (the balancer's `X-Request-Id`, or this
/// instance's prefix and a count) and, once routed, its route. Nothing is formatted when the
/// span is off (`RUST_LOG` above info).
#[derive(Clone)]
struct RequestSpans {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestSpans {
    fn new() -> Self {
        RequestSpans {
            prefix: uuid::Uuid::new_v4().simple().to_string()[..8].into(),
            next: Default::default(),
        }
    }
}

impl<B> tower_http::trace::MakeSpan<B> for RequestSpans {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> tracing::Span {
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            // Credential-bearing parameters (`token`, `session_id`, …) never reach the log.
            uri = %crate::server::infra::redact::RedactedUri(request.uri()),
            request_id = tracing::field::Empty,
            route = tracing::field::Empty,
        );
        if !span.is_disabled() {
            match request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
            {
                Some(id) => span.record("request_id", id),
                None => {
                    let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    span.record("request_id", format!("{}-{n}", self.prefix))
                }
            };
        }
        span
    }
}

/// Names the matched route in the request's span (`/api/stripe/webhook`, not its URI).
async fn record_route(
    route: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    if let Some(route) = route {
        tracing::Span::current().record("route", route.as_str());
    }
    next.run(request).await
}

/// Leaves the matched route on the answer, for `/metrics`' request counts, which are taken
/// outside the router (`count_request`).
async fn note_route(
    route: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// A known path asked with a method it does not take (axum's own answer has no body).
async fn method_not_allowed(method: axum::http::Method) -> AppError {
    AppError::MethodNotAllowed(format!("{method} is not allowed here"))
}

/// Who the session token belongs to: the smallest use of the `AuthUser` extractor, for API
/// clients checking a token.
async fn me(user: AuthUser) -> axum::Json<Me> {
    axum::Json(Me {
        id: user.id.to_string(),
        email: user.email,
    })
}

/// The process is alive.
async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: its database answers.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Err(_) => {
            tracing::warn!("readiness check: database did not answer within 2 s");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
