//! Which database a test runs on, `on_both_databases!` that runs it on each, and how big the
//! reliability tests run.

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
            use crate::harness::{Backend, TestApp};

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
            use crate::harness::Backend;

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
            use crate::harness::{Backend, TestApp};

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
