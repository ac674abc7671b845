//! Starting the app for a test: a fresh database per test (a temporary SQLite file, or a new
//! PostgreSQL database dropped afterwards), the server on 127.0.0.1 port 0, stopped on drop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use landing::server::config::Config;
use landing::server::startup;
use landing::server::state::AppState;
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL; after `billing;`
/// the app runs with billing on, against a fresh Stripe emulator; after `backend;` each
/// `async fn(Backend)` starts what it needs itself.
macro_rules! on_both_databases {
    (billing; $($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::support::{Backend, TestApp};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name(TestApp::spawn_billing(Backend::Sqlite).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$name(TestApp::spawn_billing(Backend::Postgres).await).await
            }
        }
    )*};
    (backend; $($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::support::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name(Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$name(Backend::Postgres).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::support::{Backend, TestApp};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name(TestApp::spawn(Backend::Sqlite).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$name(TestApp::spawn(Backend::Postgres).await).await
            }
        }
    )*};
}
pub(crate) use on_both_databases;

/// How big the reliability tests (storms, faults, hostile input) run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// The normal test run: every part, smaller.
    Short,
    /// `RELIABILITY=full` (scripts/reliability.sh): the sizes the issue asks for.
    Full,
}

pub fn scale() -> Scale {
    match std::env::var("RELIABILITY").as_deref() {
        Ok("full") => Scale::Full,
        _ => Scale::Short,
    }
}

/// The admin connection the PostgreSQL tests create their databases through.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

pub fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A database that exists for one test.
pub enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => TestDatabase::Sqlite(tempfile::tempdir().expect("temp dir")),
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("landing_test_{}", uuid_simple());
                let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at TEST_POSTGRES_URL is needed for these tests: {e}")
                });
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .await
                    .expect("create test database");
                TestDatabase::Postgres { admin_url, name }
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(dir) => {
                format!("sqlite://{}", dir.path().join("landing.db").display())
            }
            TestDatabase::Postgres { admin_url, name } => {
                let mut url = url::Url::parse(admin_url).expect("admin url");
                url.set_path(name);
                url.to_string()
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            )))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

fn uuid_simple() -> String {
    uuid::Uuid::new_v4().simple().to_string()
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
    ])
}

/// An emulator on port 0 with `plans.toml`'s products and prices, sending no webhooks.
pub async fn catalog_emulator() -> stripe_emulator::Emulator {
    stripe_emulator::spawn(stripe_emulator::Options {
        catalog: Some(manifest_path("plans.toml")),
        ..Default::default()
    })
    .await
    .unwrap()
}

pub const STRIPE_KEY: &str = "sk_test_landing_tests";
pub const WEBHOOK_SECRET: &str = "whsec_landing_tests_0123456789";

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
        let emulator = stripe_emulator::spawn(stripe_emulator::Options {
            catalog: Some(manifest_path("plans.toml")),
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

    /// The emulator's record of a Checkout Session.
    pub fn stripe_session(&self, id: &str) -> stripe_emulator::store::Session {
        let stripe = self.stripe.as_ref().expect("billing on");
        let store = stripe.store.lock().unwrap();
        store.sessions.get(id).cloned().expect("session exists")
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

    /// Rows in one of our tables now.
    pub async fn rows(&self, table: landing::server::db::Table) -> i64 {
        self.state.db.count_rows(table).await.expect("count rows")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET and return (status, body).
    /// A GET with one header (a cookie, a Bearer token): the status and the JSON body.
    pub async fn get_json(&self, path: &str, header: (&str, String)) -> (u16, Value) {
        let res = self
            .client
            .get(self.url(path))
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.text().await.expect("body"))
    }

    /// GET as whoever holds the session `cookie` (`name=value`) and return the body.
    pub async fn page_as(&self, path: &str, cookie: &str) -> String {
        let res = self
            .client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        res.text().await.expect("body")
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

/// A database opened as the app opens it, from its URL.
pub async fn open_db(url: &str) -> landing::server::db::Db {
    let env = base_env(url, "http://127.0.0.1:3000");
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
    landing::server::db::Db::connect(&config.database)
        .await
        .expect("the database opens")
}

/// `customers::link` in a transaction of its own, as a test needs it.
pub async fn link(
    db: &landing::server::db::Db,
    user: landing::server::db::DbUuid,
    customer: &str,
) -> Result<(), landing::server::db::DbError> {
    let mut tx = db.begin().await.expect("begin");
    let result = landing::server::db::customers::link(&mut tx, user, customer, true)
        .await
        .map(drop);
    tx.commit().await.expect("commit");
    result
}

/// Whose customer this is, read in a transaction of its own.
pub async fn owner_of(
    db: &landing::server::db::Db,
    customer: &str,
) -> Option<landing::server::db::DbUuid> {
    let mut tx = db.begin().await.expect("begin");
    let owner = landing::server::db::customers::user_for_customer(&mut tx, customer)
        .await
        .expect("lookup");
    tx.commit().await.expect("commit");
    owner
}

/// Every profile's id and email.
pub async fn all_profiles(
    db: &landing::server::db::Db,
) -> Vec<(landing::server::db::DbUuid, String)> {
    use landing::server::db::{Db, DbUuid};
    let sql = "SELECT id, email FROM profiles ORDER BY email";
    match db {
        Db::Sqlite(pool) => {
            sqlx::query_as::<_, (DbUuid, String)>(sql)
                .fetch_all(pool)
                .await
        }
        Db::Postgres(pool) => {
            sqlx::query_as::<_, (DbUuid, String)>(sql)
                .fetch_all(pool)
                .await
        }
    }
    .unwrap()
}

/// Checkout helpers shared by the checkout and webhook tests.
impl TestApp {
    pub async fn create_checkout(&self, body: Value, bearer: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/api/stripe/create-checkout"))
            .json(&body);
        if let Some(token) = bearer {
            req = req.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/stripe/create-checkout` as a signed-in browser calls it: its status and JSON
    /// answer.
    pub async fn checkout_as(&self, cookie: &str, price: &str, mode: &str) -> (u16, Value) {
        let res = self
            .client
            .post(self.url("/api/stripe/create-checkout"))
            .header(reqwest::header::COOKIE, cookie)
            .header(reqwest::header::ORIGIN, &self.base)
            .json(&self.body(price, mode))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub fn body(&self, price: &str, mode: &str) -> Value {
        json!({
            "priceId": price,
            "mode": mode,
            "successUrl": format!("{}/success?session_id={{CHECKOUT_SESSION_ID}}", self.base),
            "cancelUrl": format!("{}/pricing", self.base),
        })
    }

    pub fn token_for(&self, id: landing::server::db::DbUuid, email: &str) -> String {
        self.state.sessions.issue_unstored(id, email)
    }
}

/// Pays a Checkout URL with 4242 on the emulator's page; returns the success path on our site.
pub async fn pay(app: &TestApp, url: &str, email: &str) -> String {
    let location = pay_at(url, email).await;
    location.strip_prefix(&app.base).unwrap().to_string()
}

/// Pays a Checkout URL with 4242; returns where the emulator sends the buyer.
pub async fn pay_at(url: &str, email: &str) -> String {
    pay_with_card(url, email, "4242424242424242").await
}

/// Pays a Checkout URL with one of Stripe's test cards; returns where the buyer is sent.
pub async fn pay_with_card(url: &str, email: &str, card: &str) -> String {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(url)
        .form(&[
            ("email", email),
            ("card_number", card),
            ("expiry", "12/34"),
            ("cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "payment: {}", res.status());
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The session cookie (`landing_session=…`) a response sets.
pub fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("landing_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("session cookie")
}

/// A subscription Checkout Session made straight at the emulator (as a Stripe dashboard or
/// another app would), for `email`, with `extra` parameters; returns its URL.
pub async fn emulator_checkout(
    stripe_base: &str,
    lookup_key: &str,
    email: &str,
    extra: &[(&str, &str)],
) -> String {
    emulator_session(stripe_base, "subscription", lookup_key, email, extra).await
}

/// A Checkout Session in `mode` made straight at the emulator; returns its URL.
pub async fn emulator_session(
    stripe_base: &str,
    mode: &str,
    lookup_key: &str,
    email: &str,
    extra: &[(&str, &str)],
) -> String {
    let http = reqwest::Client::new();
    let prices: Value = http
        .get(format!("{stripe_base}/v1/prices"))
        .query(&[("lookup_keys[]", lookup_key)])
        .bearer_auth(STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let price = prices["data"][0]["id"].as_str().unwrap();
    let mut form = vec![
        ("mode", mode),
        ("line_items[0][price]", price),
        ("line_items[0][quantity]", "1"),
        ("customer_email", email),
        ("success_url", "http://127.0.0.1:3000/success"),
        ("cancel_url", "http://127.0.0.1:3000/pricing"),
    ];
    form.extend_from_slice(extra);
    let session: Value = http
        .post(format!("{stripe_base}/v1/checkout/sessions"))
        .bearer_auth(STRIPE_KEY)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["url"].as_str().expect("a session URL").to_string()
}

/// Accounts as tests need them.
impl TestApp {
    /// Posts a form to a server function as `fetch` would (JSON answers, no redirect).
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("accept", "application/json")
            .header("origin", &self.base)
            .form(fields);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    /// Signs up, then signs in with the password (the account's email stays unproven);
    /// returns the session cookie.
    pub async fn member(&self, email: &str) -> String {
        let fields = [("email", email), ("password", "correct horse battery")];
        let res = self.post_form("/api/auth/sign_up", &fields, None).await;
        assert!(res.status().is_success(), "sign-up: {}", res.status());
        let res = self.post_form("/api/auth/sign_in", &fields, None).await;
        assert!(res.status().is_success(), "sign-in: {}", res.status());
        session_cookie(&res)
    }

    /// A member whose email counts as proven, as following the mailed link makes it (the link
    /// itself is tested in `identity`); returns the session cookie.
    pub async fn proven_member(&self, email: &str) -> String {
        let cookie = self.member(email).await;
        self.prove(email).await;
        cookie
    }

    /// What following a verification link does to the profile with `email`.
    pub async fn prove(&self, email: &str) {
        use landing::server::db::profiles;
        let profile = profiles::find_by_email(&self.state.db, email)
            .await
            .unwrap()
            .expect("a profile with that email");
        let mut tx = self.state.db.begin().await.unwrap();
        assert!(profiles::mark_verified(&mut tx, profile.id, email)
            .await
            .unwrap());
        let parsed = landing::server::auth::email::Email::parse(email).unwrap();
        landing::server::billing::sync::claim_email(&mut tx, profile.id, &parsed)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// The first link to `path` (`/verify-email`, `/reset-password`) in a mail's text, as a path
/// with its query; quoted-printable soft breaks and `=3D` are undone first.
pub fn link_in(mail: &str, path: &str) -> Option<String> {
    let text = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text.find(&format!("{path}?token="))?;
    let rest = &text[at..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}
