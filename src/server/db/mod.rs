//! Storage. The only place with SQL.
//!
//! The backend is chosen at run time by `DATABASE_URL`. `sqlx::Any` cannot decode SQLite booleans
//! and has no uuid or time types, so we hold either pool and run the same SQL text on both
//! (`$1` placeholders and `ON CONFLICT` mean the same in SQLite and PostgreSQL).

pub mod accounts;
pub mod billing;
pub mod customers;
pub mod events;
pub mod identities;
pub mod limits;
pub mod monitors;
pub mod outbox;
pub mod profiles;
pub mod schedules;
pub mod subscription_holds;
mod uuid;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

pub use self::uuid::DbUuid;
use super::config::DatabaseUrl;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds. The body is compiled once per
/// backend, so a query must be valid for both.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::server::db::Db::Sqlite($pool) => $body,
            $crate::server::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A transaction on either backend: what one webhook's changes are applied in.
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection (see `on_pool!`).
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::server::db::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::server::db::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("this Stripe customer already belongs to another account")]
    CustomerTaken,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

/// Is `err` a unique violation of `constraint`? PostgreSQL names the constraint; SQLite does not,
/// so on SQLite the caller's statement must have only one unique index that it can violate.
fn violates_unique(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint().is_none_or(|name| name == constraint)
        }
        _ => false,
    }
}

/// How the database's schema compares with this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub pending: Vec<i64>,
    pub unknown: Vec<i64>,
}

impl Db {
    /// Opens the pool. A SQLite file (and its folder) is created on first run.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, sqlx::Error> {
        match url {
            DatabaseUrl::Sqlite(raw) => {
                let options = SqliteConnectOptions::from_str(raw)?
                    .create_if_missing(true)
                    // WAL lets readers run beside the one writer; FULL sync (the default) keeps an
                    // acknowledged webhook durable across power loss, which billing needs.
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let dir = options
                    .get_filename()
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map(|d| d.to_path_buf());
                if let Some(dir) = dir {
                    tokio::fs::create_dir_all(&dir).await?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    // A file cannot drop a connection: no ping (a round trip to the connection's
                    // thread) before every use.
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                Ok(Db::Sqlite(pool))
            }
            DatabaseUrl::Postgres(secret) => {
                let options = PgConnectOptions::from_str(secret.expose())?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// A consistent copy of a SQLite database into a new file at `path`, taken while the site
    /// runs: `VACUUM INTO` reads one snapshot (WAL lets the writer go on meanwhile) and writes a
    /// compact database that opens on its own, with no `-wal` file beside it. Copying the file
    /// itself could catch a write half-done. (PostgreSQL is copied with `pg_dump`.)
    pub async fn backup_into(&self, path: &str) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(pool) => sqlx::query("VACUUM INTO $1")
                .bind(path)
                .execute(pool)
                .await
                .map(drop),
            Db::Postgres(_) => Err(sqlx::Error::Configuration(
                "a PostgreSQL database is copied with pg_dump".into(),
            )),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// This build's migrations for the backend: append-only, one folder per dialect.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self {
            Db::Sqlite(_) => sqlx::migrate!("./migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
        }
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let migrator = self.migrator();
        on_pool!(self, pool => migrator.run(pool).await)
    }

    /// Migrations this build knows that the database has not applied, and versions the
    /// database has that this build does not know (a newer build migrated it).
    pub async fn migration_status(&self) -> Result<MigrationStatus, sqlx::Error> {
        let known: Vec<i64> = self.migrator().iter().map(|m| m.version).collect();
        let applied: Result<Vec<i64>, sqlx::Error> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await
        });
        let applied = match applied {
            Ok(v) => v,
            // No table yet: nothing was ever applied.
            Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(MigrationStatus {
            pending: known
                .iter()
                .filter(|v| !applied.contains(v))
                .copied()
                .collect(),
            unknown: applied
                .iter()
                .filter(|v| !known.contains(v))
                .copied()
                .collect(),
        })
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// deferred transaction that reads and then writes fails with "database is locked" when
    /// another writer got in between, instead of waiting its turn.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => pool.begin_with("BEGIN IMMEDIATE").await.map(Tx::Sqlite),
            Db::Postgres(pool) => pool.begin().await.map(Tx::Postgres),
        }
    }

    /// A round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    /// Rows in one of our tables; used by the storage tests to see the schema.
    pub async fn count_rows(&self, table: Table) -> Result<i64, sqlx::Error> {
        // Safe to splice: the name comes from the closed `Table` enum, never from input.
        let sql = format!("SELECT COUNT(*) FROM {}", table.name());
        on_pool!(self, pool => {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
        })
    }

    /// The pool's connections: (open, idle, most it opens).
    pub fn pool_use(&self) -> (u32, u32, u32) {
        on_pool!(self, pool => (
            pool.size(),
            u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            pool.options().get_max_connections(),
        ))
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// The tables of the schema, so a table name never comes from input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Profiles,
    StripeCustomers,
    Subscriptions,
    Purchases,
    StripeEvents,
    EmailOutbox,
    Invoices,
    Sessions,
    AuthTokens,
    Identities,
    EmailCustomers,
    Charges,
    Monitors,
}

impl Table {
    pub const ALL: [Table; 13] = [
        Table::Profiles,
        Table::StripeCustomers,
        Table::Subscriptions,
        Table::Purchases,
        Table::StripeEvents,
        Table::EmailOutbox,
        Table::Invoices,
        Table::Sessions,
        Table::AuthTokens,
        Table::Identities,
        Table::EmailCustomers,
        Table::Charges,
        Table::Monitors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Profiles => "profiles",
            Table::StripeCustomers => "stripe_customers",
            Table::Subscriptions => "subscriptions",
            Table::Purchases => "purchases",
            Table::StripeEvents => "stripe_events",
            Table::EmailOutbox => "email_outbox",
            Table::Invoices => "invoices",
            Table::Sessions => "sessions",
            Table::AuthTokens => "auth_tokens",
            Table::Identities => "identities",
            Table::EmailCustomers => "email_customers",
            Table::Charges => "charges",
            Table::Monitors => "monitors",
        }
    }
}
