//! `stripe_events`: the durable log of Stripe's events. An event is applied at most once: its id
//! is claimed in the transaction that applies it, so a duplicate (even a concurrent one) finds
//! it claimed, and a failed attempt leaves only its count and error behind.

use chrono::{DateTime, Utc};

use super::{on_pool, on_tx, Db, DbError, Tx};

/// An event as received: what the log keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub type_: &'a str,
    pub stripe_created: i64,
    pub livemode: bool,
    pub payload: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub type_: String,
    pub stripe_created: i64,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, type, stripe_created, received_at, processed_at, attempts, last_error";

/// Claims the event for this transaction and marks it applied (with `note` saying why nothing
/// was done, when nothing will be): true when it is ours to apply (new, or earlier attempts
/// failed), false when it was applied already. The mark is only as durable as the transaction:
/// if the apply fails, the rollback takes it back. A concurrent claim of the same id waits here
/// for ours to commit or roll back (PostgreSQL's unique index, SQLite's write lock).
///
/// One row per statement, on purpose: a statement of several events' payloads outgrows a TCP
/// send buffer, and sqlx 0.9.0 leaves Nagle's algorithm on, so its tail then waits for
/// PostgreSQL's delayed ACK, 40 ms (transact-rs/sqlx#4335); batching claims saved nothing
/// measurable on SQLite either.
pub async fn claim(tx: &mut Tx, e: &NewEvent<'_>, note: Option<&str>) -> Result<bool, DbError> {
    let claimed = on_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>(
            "INSERT INTO stripe_events (id, type, stripe_created, livemode, payload, attempts, processed_at, last_error) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET attempts = stripe_events.attempts + 1, \
             processed_at = excluded.processed_at, last_error = excluded.last_error \
             WHERE stripe_events.processed_at IS NULL RETURNING id",
        )
        .bind(e.id)
        .bind(e.type_)
        .bind(e.stripe_created)
        .bind(e.livemode)
        .bind(e.payload)
        .bind(Utc::now())
        .bind(note)
        .fetch_optional(conn)
        .await
    })?;
    Ok(claimed.is_some())
}

/// Records a failed attempt, outside the rolled-back transaction, so the log shows it.
pub async fn record_failure(db: &Db, e: &NewEvent<'_>, error: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO stripe_events (id, type, stripe_created, livemode, payload, attempts, last_error) \
             VALUES ($1, $2, $3, $4, $5, 1, $6) \
             ON CONFLICT (id) DO UPDATE SET attempts = stripe_events.attempts + 1, \
             last_error = excluded.last_error WHERE stripe_events.processed_at IS NULL",
        )
        .bind(e.id)
        .bind(e.type_)
        .bind(e.stripe_created)
        .bind(e.livemode)
        .bind(e.payload)
        .bind(error)
        .execute(pool)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// The newest events, at most `limit`; only the unapplied ones when `failed_only`.
pub async fn recent(db: &Db, failed_only: bool, limit: i64) -> Result<Vec<EventRow>, DbError> {
    let filter = if failed_only {
        "WHERE processed_at IS NULL"
    } else {
        ""
    };
    // Safe to splice: both filters are constants.
    let sql = format!(
        "SELECT {COLUMNS} FROM stripe_events {filter} ORDER BY received_at DESC, id DESC LIMIT $1"
    );
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(limit)
            .fetch_all(pool)
            .await
    })?;
    Ok(rows)
}

/// The stored payload of an event, to apply it again (the admin's retry).
pub async fn payload(db: &Db, id: &str) -> Result<Option<String>, DbError> {
    let payload = on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>("SELECT payload FROM stripe_events WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
    })?;
    Ok(payload)
}
