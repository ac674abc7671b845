//! The databases tests run on: a fresh one per test (a temporary SQLite file, or a PostgreSQL
//! database dropped afterwards), a private PostgreSQL server a test may stop and start, and the
//! direct reads and writes tests make beside the app.

use std::path::PathBuf;
use std::process::Stdio;

use landing::server::config::Config;
use landing::server::db::Db;
use sqlx::{Connection, Executor, PgConnection};

use super::{base_env, free_port, Backend};

/// The admin connection the PostgreSQL tests create their databases through.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
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

/// Runs a PostgreSQL tool as the `postgres` user when we are root (PostgreSQL refuses root).
fn pg_tool(name: &str) -> std::process::Command {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dirs| {
            let mut versions: Vec<PathBuf> = dirs.filter_map(|d| Some(d.ok()?.path())).collect();
            versions.sort();
            versions.pop()
        })
        .map(|v| v.join("bin").join(name))
        .unwrap_or_else(|| PathBuf::from(name));
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        let mut cmd = std::process::Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin);
        cmd
    } else {
        std::process::Command::new(bin)
    }
}

/// A PostgreSQL server of the test's own, on a free port, that the test may stop and start:
/// the machine's shared one serves every other test.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let dir = tempfile::Builder::new()
            .prefix("landing-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        // The server runs as `postgres` and must own its folder.
        let _ = std::process::Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status();
        let data = dir.path().join("data");
        let init = pg_tool("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .expect("initdb (scripts/test.sh installs PostgreSQL)");
        assert!(init.success(), "initdb failed");
        let pg = PrivatePostgres {
            port: free_port(),
            dir,
        };
        pg.up();
        pg
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        pg_tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts (again) on the same port and folder.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        assert!(
            self.pg_ctl(&["-w", "-o", &options, "-l", &log.to_string_lossy(), "start"]),
            "the private PostgreSQL did not start"
        );
    }

    /// Stops it the way a crash or an operator would: connections are cut, nothing is waited for.
    pub fn down(&self) {
        assert!(self.pg_ctl(&["-w", "-m", "immediate", "stop"]));
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
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

/// The same accounts in another database (same ids and emails): a replay is applied to the
/// site's own accounts, only its billing state starts empty.
pub async fn copy_profiles(from: &Db, to: &Db) {
    use landing::server::db::profiles;
    for (id, email) in all_profiles(from).await {
        profiles::insert_with_id(to, id, &email, None, true)
            .await
            .unwrap();
    }
}

/// Renames one of our tables, so that statements on it fail as a broken database would.
pub async fn rename(db: &Db, from: &str, to: &str) {
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    match db {
        Db::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
        Db::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
}
