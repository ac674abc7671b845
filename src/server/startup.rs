//! Start-up as a library: build the state, build the router, serve until told to stop. Tests use
//! the same functions on port 0 with a fresh database.

use std::future::Future;
use std::net::SocketAddr;
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
use tokio::net::TcpListener;

use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::auth::jwt::Signer;
use super::auth::limits::AuthLimits;
use super::auth::session::{me_from_headers, refresh_session, same_origin, AuthUser};
use super::auth::sessions::Sessions;
use super::auth::supabase::SupabaseVerifier;
use super::billing::account::Billing;
use super::billing::catalog::{self, CatalogError};
use super::billing::checkout::current_price;
use super::billing::{self};
use super::config::Config;
use super::db::Db;
use super::error::ServerError;
use super::infra::page_cache::{self, MemberPages, Members};
use super::mail::{self, Mailer};
use super::metrics::{Metrics, Readings};
use super::security::SecurityHeaders;
use super::state::{AppState, Shared};
use crate::app::{shell, App};
use crate::model::auth::{CurrentUser, Me};
use crate::model::catalog::Catalog;
use crate::model::error::AppError;

/// The largest request body a form or the JSON API may send (a 413 or 400 past it).
pub const BODY_LIMIT: usize = 64 * 1024;
/// The largest Stripe event we take.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("DATABASE_URL: cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error(
        "DATABASE_URL: the schema is newer than this build (migration {0} was applied by a newer \
         version); run that version or a newer one"
    )]
    SchemaNewer(i64),
    #[error("PLANS_FILE: {0}")]
    Catalog(#[source] CatalogError),
    #[error("LEPTOS_SITE_ADDR: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("METRICS_ADDR: cannot listen on {addr}: {source}")]
    MetricsBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Mail(String),
    #[error("cannot read the revoked sessions: {0}")]
    Sessions(String),
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
}

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

/// Opens and migrates the database and loads the catalog: everything a request will need.
pub async fn build_state(config: Config) -> Result<AppState, StartupError> {
    let catalog = catalog::load(&config.plans_file).map_err(StartupError::Catalog)?;
    let db = Db::connect(&config.database)
        .await
        .map_err(StartupError::Connect)?;
    // Several instances starting together migrate once: on PostgreSQL sqlx holds an advisory
    // lock while it migrates, and the others find the work done.
    db.migrate().await.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => StartupError::SchemaNewer(v),
        e => StartupError::Migrate(e),
    })?;
    let metrics = config.metrics_addr.map(|_| {
        Arc::new(Metrics::new(match db.backend() {
            super::db::Backend::Sqlite => "sqlite",
            super::db::Backend::Postgres => "postgres",
        }))
    });
    let (billing, shown) = start_billing(&config, &catalog, metrics.clone()).await;
    let mail_wake = Arc::new(tokio::sync::Notify::new());
    let webhook_writer = super::infra::group_commit::Writer::spawn(
        db.clone(),
        billing::webhook::ApplyEvents {
            mail: billing::webhook::MailContext {
                site: config.site_url.origin(),
                operators: config.admin_emails.clone(),
            },
        },
        mail_wake.clone(),
    );
    let plan_reads = billing::plan_reads::PlanReads::spawn(db.clone());
    let sessions = Sessions::new(Signer::new(
        config.auth_jwt_secret.clone(),
        config.site_url.origin(),
    ));
    sessions
        .load(&db)
        .await
        .map_err(|e| StartupError::Sessions(e.to_string()))?;
    Sessions::spawn_watcher(&sessions, db.clone());
    let supabase = config.supabase.clone().map(|c| {
        Arc::new(SupabaseVerifier::new(
            c,
            super::auth::supabase::DEFAULT_REFETCH_INTERVAL,
        ))
    });
    let shared_limits = match &db {
        Db::Postgres(pool) => Some(pool.clone()),
        Db::Sqlite(_) => None,
    };
    Ok(AppState::new(Shared {
        db,
        leptos_options: config.leptos.clone(),
        catalog: Arc::new(shown),
        source_catalog: Arc::new(catalog),
        limits: Arc::new(AuthLimits::new(
            config.sign_ups_per_address,
            config.checkouts_per_address,
            shared_limits.as_ref(),
        )),
        hasher: super::auth::password::Hasher::per_core(),
        billing,
        config: Arc::new(config),
        mail_wake,
        webhook_writer,
        plan_reads,
        page_cache: Default::default(),
        sessions,
        supabase,
        draining: Default::default(),
        metrics,
    }))
}

/// What runs beside the server: the outbox sender.
pub struct Background {
    /// Steers the mail sender, and says which mail it holds.
    mail_control: Arc<mail::Control>,
    mail: tokio::task::JoinHandle<()>,
    /// Where a mail cut short by the stop is given back.
    db: Db,
    /// Deletes the shared rate limits' ended buckets (PostgreSQL only).
    sweeper: Option<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub fn start(state: &AppState) -> Result<Self, StartupError> {
        let mailer = Mailer::from_config(&state.config).map_err(StartupError::Mail)?;
        let mail_control = Arc::new(mail::Control::default());
        let mail = mail::spawn_worker(
            state.db.clone(),
            mailer,
            state.mail_wake.clone(),
            mail_control.clone(),
        );
        let sweeper = state.limits.spawn_sweeper();
        Ok(Background {
            mail_control,
            mail,
            db: state.db.clone(),
            sweeper,
        })
    }

    /// Asks the workers to stop without waiting for them (from a `Drop`).
    pub fn request_stop(&self) {
        self.mail_control.request_stop();
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
    }

    /// Lets a send in progress finish (for up to `grace`), then stops. The sender claims
    /// nothing more, so no mail stays leased to this instance: one still being sent when the
    /// grace ends is given back, due at once for whichever instance claims it next (if the
    /// mail server had in fact taken it, it goes out twice: at least once, never lost).
    pub async fn stop(mut self, grace: Duration) {
        self.request_stop();
        if tokio::time::timeout(grace, &mut self.mail).await.is_ok() {
            return;
        }
        self.mail.abort();
        let _ = (&mut self.mail).await;
        let Some(id) = self.mail_control.in_hand() else {
            return;
        };
        match super::db::outbox::release(&self.db, id).await {
            Ok(()) => tracing::warn!(
                "a mail was still being sent {} s after the stop; it was given back for another instance to send",
                grace.as_secs()
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "a mail was still being sent {} s after the stop and cannot be given back; it is sent again once its lease ends",
                grace.as_secs()
            ),
        }
    }
}

/// Connects billing and resolves the catalog's prices in Stripe. Stripe being unreachable does
/// not stop the site: pages show the file's prices and checkout looks the prices up again.
async fn start_billing(
    config: &Config,
    file: &Catalog,
    metrics: Option<Arc<Metrics>>,
) -> (Option<Arc<Billing>>, Catalog) {
    let Some(mut client) = billing::client::Stripe::from_config(config) else {
        return (None, file.clone());
    };
    if let Some(metrics) = metrics {
        client = client.with_metrics(metrics);
    }
    match catalog::resolve(&client, file).await {
        Ok(index) => {
            let (shown, drift) = catalog::reconcile(file, &index);
            for d in &drift {
                tracing::warn!("catalog drift: {d}");
            }
            (Some(Arc::new(Billing::new(client, Some(index)))), shown)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot look the catalog up in Stripe; showing plans.toml's prices");
            (Some(Arc::new(Billing::new(client, None))), file.clone())
        }
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
        .layer(middleware::from_fn(super::error::server_fn_status))
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
            super::security::add_headers,
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
        .unwrap_or(super::metrics::UNMATCHED_ROUTE);
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
    match super::db::outbox::backlog(&state.db).await {
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
            super::metrics::CONTENT_TYPE,
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
            uri = %request.uri(),
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

/// Serves until `shutdown` resolves, then lets requests in flight finish for up to `grace` (see
/// `server::infra::http`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    super::infra::http::serve(listener, router, shutdown, grace).await
}

/// The production path: listen on `LEPTOS_SITE_ADDR`, stop cleanly on Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<(), StartupError> {
    let addr = config.leptos.site_addr;
    let state = build_state(config).await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(StartupError::Serve)?;
    tracing::info!(
        "listening on http://{bound} (database: {:?}, site: {})",
        state.db.backend(),
        state.config.site_url.origin()
    );
    if state.config.stripe_secret_key.is_some() && state.config.stripe_webhook_secrets.is_empty() {
        tracing::warn!(
            "STRIPE_SECRET_KEY is set without STRIPE_WEBHOOK_SECRET: every webhook will be answered 503 until it is set (`landing doctor` says more)"
        );
    }
    // What `landing doctor` would say about Stripe, without holding the start back.
    if state.billing.is_some() {
        crate::server::doctor::check_at_start();
    }
    let metrics = serve_metrics(&state).await?;
    let db = state.db.clone();
    let background = Background::start(&state)?;
    let grace = state.config.shutdown_grace;
    let draining = state.clone();
    let stopped_at = Arc::new(std::sync::OnceLock::new());
    let shutdown = {
        let stopped_at = stopped_at.clone();
        async move {
            shutdown_signal().await;
            let _ = stopped_at.set(std::time::Instant::now());
            // Before the listener closes: a balancer's health check on a kept-alive connection
            // hears 503 and sends no more.
            draining
                .draining
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let served = serve(listener, build_router(state), shutdown, grace).await;
    // What is left of the grace goes to the mail being sent, then to closing the database.
    let left = || {
        stopped_at.get().map_or(grace, |t: &std::time::Instant| {
            grace.saturating_sub(t.elapsed())
        })
    };
    background.stop(left()).await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    served.map_err(StartupError::Serve)?;
    // Closing waits for connections in use; a request cut at the grace may still hold one, and
    // its transaction is rolled back when the process ends.
    if tokio::time::timeout(left().max(Duration::from_secs(1)), db.close())
        .await
        .is_err()
    {
        tracing::warn!("a database connection was still in use at the end of the grace");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves `/metrics` on `METRICS_ADDR` until the process ends (a scrape during the drain still
/// answers); `None` when it is unset.
async fn serve_metrics(
    state: &AppState,
) -> Result<Option<tokio::task::JoinHandle<()>>, StartupError> {
    let (Some(addr), Some(router)) = (state.config.metrics_addr, metrics_router(state)) else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::MetricsBind { addr, source })?;
    let bound = listener.local_addr().map_err(StartupError::Serve)?;
    tracing::info!("metrics on http://{bound}/metrics");
    Ok(Some(tokio::spawn(async move {
        let forever = std::future::pending::<()>();
        if let Err(e) = serve(listener, router, forever, Duration::ZERO).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    })))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// The signed-in page cache asks the site who the cookie names and which plan their pages mark.
impl Members for AppState {
    type User = crate::server::db::DbUuid;

    fn signed_in(&self, headers: &axum::http::HeaderMap) -> Option<(Self::User, String)> {
        let (claims, user) = super::auth::session::cookie_claims(&self.sessions, headers)?;
        // A token due for renewal takes the usual path, through the session refresh.
        if super::auth::session::renewal_due(&claims) {
            return None;
        }
        Some((user, claims.email?))
    }

    async fn plan(&self, user: Self::User) -> Result<Option<String>, ServerError> {
        current_price(self, user).await
    }
}
