//! `TestApp`: the real app started in the test's process on 127.0.0.1 port 0 against a fresh
//! database (and, with billing on, a fresh Stripe emulator), stopped on drop; the configuration it
//! starts from and the ways to start it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use landing::server::config::Config;
use landing::server::startup;
use landing::server::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Backend, TestDatabase};

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789";
pub const STRIPE_KEY: &str = "sk_test_landing_tests";
pub const WEBHOOK_SECRET: &str = "whsec_landing_tests_0123456789";

pub fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The configuration a test server runs with, before per-test overrides.
pub fn base_env(database_url: &str, site_url: &str) -> HashMap<String, String> {
    HashMap::from([
        ("DATABASE_URL".into(), database_url.into()),
        ("SITE_URL".into(), site_url.into()),
        ("AUTH_JWT_SECRET".into(), JWT_SECRET.into()),
        (
            "PLANS_FILE".into(),
            manifest_path("plans.toml").display().to_string(),
        ),
        (
            "LEPTOS_SITE_ROOT".into(),
            manifest_path("target/site").display().to_string(),
        ),
        ("RUST_LOG".into(), "warn".into()),
        // A stopping binary closes its listener at once (the restart tests set a linger).
        ("SHUTDOWN_LINGER_SECONDS".into(), "0".into()),
    ])
}

pub struct TestApp {
    /// The local Stripe, when the test runs with billing on.
    pub stripe: Option<stripe_emulator::Emulator>,
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    /// `http://…/metrics` when the app runs with `METRICS_ADDR` (its own listener).
    pub metrics_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    background: Option<startup::Background>,
    // Last: the database outlives the server that uses it.
    _database: TestDatabase,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts the app with billing on, against a fresh emulator seeded with `plans.toml`.
    pub async fn spawn_billing(backend: Backend) -> Self {
        Self::spawn_billing_with(backend, &[]).await
    }

    pub async fn spawn_billing_with(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        Self::spawn_stripe(backend, overrides, false, 3, Duration::from_millis(200)).await
    }

    /// Billing on, and the emulator delivering its webhooks to the app (signed with
    /// `WEBHOOK_SECRET`; a failed delivery is retried twice, 200 ms then 400 ms later).
    pub async fn spawn_webhooks(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        Self::spawn_stripe(backend, overrides, true, 3, Duration::from_millis(200)).await
    }

    /// Webhooks on, and deliveries retried `attempts` times, from `backoff` doubling: what a
    /// storm needs to outlast a fault.
    pub async fn spawn_webhooks_retrying(
        backend: Backend,
        attempts: u32,
        backoff: Duration,
    ) -> Self {
        Self::spawn_stripe(backend, &[], true, attempts, backoff).await
    }

    async fn spawn_stripe(
        backend: Backend,
        overrides: &[(&str, &str)],
        webhooks: bool,
        attempts: u32,
        backoff: Duration,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        // The emulator sells what the site does: its own plans.toml, or the one the test names.
        let catalog = overrides
            .iter()
            .find(|(k, _)| *k == "PLANS_FILE")
            .map_or_else(|| manifest_path("plans.toml"), |(_, v)| PathBuf::from(v));
        let emulator = stripe_emulator::spawn(stripe_emulator::Options {
            catalog: Some(catalog),
            webhook: webhooks.then(|| {
                (
                    format!("{base}/api/stripe/webhook"),
                    WEBHOOK_SECRET.to_string(),
                )
            }),
            retry: stripe_emulator::webhooks::RetryPolicy {
                max_attempts: attempts,
                first_backoff: backoff,
                timeout: Duration::from_secs(10),
            },
            ..Default::default()
        })
        .await
        .expect("emulator starts");
        let mut vars: Vec<(&str, &str)> = vec![
            ("STRIPE_SECRET_KEY", STRIPE_KEY),
            ("STRIPE_API_BASE", emulator.base_url.as_str()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ];
        vars.extend_from_slice(overrides);
        let mut app = Self::spawn_on(listener, backend, &vars).await;
        app.stripe = Some(emulator);
        app
    }

    /// Starts the app with some variables set on top of the test defaults.
    pub async fn spawn_with(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        Self::spawn_on(listener, backend, overrides).await
    }

    /// Starts the app on a listener bound beforehand (when its URL must be known first).
    pub async fn spawn_on(
        listener: TcpListener,
        backend: Backend,
        overrides: &[(&str, &str)],
    ) -> Self {
        let database = TestDatabase::create(backend).await;
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut env = base_env(&database.url(), &base);
        for (k, v) in overrides {
            env.insert((*k).to_string(), (*v).to_string());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        let state = startup::build_state(config).await.expect("app starts");
        let (tx, rx) = oneshot::channel::<()>();
        let router = startup::build_router(state.clone());
        let background = startup::Background::start(&state).expect("mail sender starts");
        let grace = state.config.shutdown_grace;
        tokio::spawn(async move {
            startup::serve(
                listener,
                router,
                async {
                    let _ = rx.await;
                },
                grace,
            )
            .await
            .expect("server runs");
        });
        let metrics_url = match startup::metrics_router(&state) {
            Some(router) => {
                let addr = state.config.metrics_addr.expect("metrics on");
                let listener = TcpListener::bind(addr)
                    .await
                    .expect("bind the metrics port");
                let url = format!("http://{}/metrics", listener.local_addr().unwrap());
                tokio::spawn(startup::serve(
                    listener,
                    router,
                    std::future::pending(),
                    Duration::ZERO,
                ));
                Some(url)
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(45))
            .build()
            .unwrap();
        TestApp {
            stripe: None,
            base,
            state,
            client,
            metrics_url,
            shutdown: Some(tx),
            background: Some(background),
            _database: database,
        }
    }

    /// Stops the mail sender as a stopping instance does, letting a send finish for `grace`.
    pub async fn stop_background(&mut self, grace: Duration) {
        if let Some(background) = self.background.take() {
            background.stop(grace).await;
        }
    }

    /// The database this app runs on, for a second instance on the same one.
    pub fn database_url(&self) -> String {
        self._database.url()
    }

    /// Another instance on this app's PostgreSQL, as behind one balancer: the same database and
    /// site address (so the same tokens' issuer and origin), with `overrides` on top.
    pub async fn second_instance(&self, overrides: &[(&str, &str)]) -> TestApp {
        let (database, site) = (self.database_url(), self.base.clone());
        let mut all = vec![
            ("DATABASE_URL", database.as_str()),
            ("SITE_URL", site.as_str()),
        ];
        all.extend_from_slice(overrides);
        TestApp::spawn_with(Backend::Postgres, &all).await
    }

    /// A second app on a fresh database that this app's emulator delivers to (an endpoint of
    /// its own, all events), and that endpoint's URL: what a replay is sent to.
    pub async fn replay_target(&self, backend: Backend) -> (TestApp, String) {
        self.replay_target_with(backend, &[]).await
    }

    pub async fn replay_target_with(
        &self,
        backend: Backend,
        overrides: &[(&str, &str)],
    ) -> (TestApp, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (url, secret) = self
            .endpoint_for(listener.local_addr().unwrap().port())
            .await;
        let base = self.stripe_base();
        let mut vars = vec![
            ("STRIPE_SECRET_KEY", STRIPE_KEY),
            ("STRIPE_API_BASE", base.as_str()),
            ("STRIPE_WEBHOOK_SECRET", secret.as_str()),
        ];
        vars.extend_from_slice(overrides);
        let app = TestApp::spawn_on(listener, backend, &vars).await;
        (app, url)
    }

    /// Rows in one of our tables now.
    pub async fn rows(&self, table: landing::server::db::Table) -> i64 {
        self.state.db.count_rows(table).await.expect("count rows")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(background) = self.background.take() {
            background.request_stop();
        }
    }
}
