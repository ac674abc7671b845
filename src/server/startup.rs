//! Start-up as a library: build the state, build the router, serve until told to stop. Tests use
//! the same functions on port 0 with a fresh database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use std::time::Duration;
use tokio::net::TcpListener;

use super::auth::jwt::Signer;
use super::auth::limits::{AuthLimits, PerAddress};
use super::auth::sessions::Sessions;
use super::auth::supabase::SupabaseVerifier;
use super::billing::account::Billing;
use super::billing::catalog::{self, CatalogError};
use super::billing::checkout::current_price;
use super::billing::visitor_reads::budget::VisitorReads;
use super::billing::{self};
use super::config::Config;
use super::db::Db;
use super::error::ServerError;
use super::infra::http::Stop;
use super::infra::page_cache::Members;
use super::mail::{self, Mailer};
use super::metrics::Metrics;
use super::state::{AppState, Shared};
use crate::model::catalog::Catalog;

mod router;

pub use router::{build_router, metrics_router};

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
    let catalog = Arc::new(catalog);
    let (billing, shown) = start_billing(&config, &catalog, metrics.clone()).await;
    if let Some(billing) = &billing {
        Billing::spawn_refresh(billing);
    }
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
    let sessions = Sessions::new(
        Signer::new(config.auth_jwt_secret.clone(), config.site_url.origin()),
        config.session_max_days * 86_400,
        config.site_url.is_https(),
    );
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
    let visitor_reads = VisitorReads::new(config.checkouts_per_address, shared_limits.as_ref());
    Ok(AppState::new(Shared {
        db,
        leptos_options: config.leptos.clone(),
        catalog: Arc::new(shown),
        source_catalog: catalog,
        limits: Arc::new(AuthLimits::new(
            PerAddress {
                sign_ups: config.sign_ups_per_address,
                sign_ins: config.sign_ins_per_address,
                checkouts: config.checkouts_per_address,
            },
            shared_limits.as_ref(),
        )),
        hasher: super::auth::password::Hasher::per_core(),
        billing,
        config: Arc::new(config),
        mail_wake,
        webhook_writer,
        plan_reads,
        page_cache: Default::default(),
        visitor_reads,
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
    file: &Arc<Catalog>,
    metrics: Option<Arc<Metrics>>,
) -> (Option<Arc<Billing>>, Catalog) {
    let Some(mut client) = billing::client::Stripe::from_config(config) else {
        return (None, Catalog::clone(file));
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
            (
                Some(Arc::new(Billing::new(client, file.clone(), Some(index)))),
                shown,
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot look the catalog up in Stripe; showing plans.toml's prices");
            (
                Some(Arc::new(Billing::new(client, file.clone(), None))),
                Catalog::clone(file),
            )
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
    let stop = Stop {
        linger: Duration::ZERO,
        grace,
    };
    super::infra::http::serve(listener, router, shutdown, stop).await
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
    let stop = Stop {
        linger: state.config.shutdown_linger,
        grace,
    };
    let router = build_router(state);
    let served = super::infra::http::serve(listener, router, shutdown, stop).await;
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
