//! `stripe_events`: the durable log of Stripe's events. An event is applied at most once: its id
//! is claimed in the transaction that applies it, so a duplicate (even a concurrent one) finds
//! it claimed, and a failed attempt leaves only its count and error behind.

use chrono::{DateTime, Utc};

use super::billing::{
    bind_subscription, upsert_subscription, upsert_subscription_sql, SubscriptionRow,
};
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

/// The claim, with its seven parameters named: `RETURNING id` answers only a claim that took.
macro_rules! claim_sql {
    ($id:literal, $type:literal, $created:literal, $livemode:literal, $payload:literal, $at:literal, $note:literal) => {
        concat!(
            "INSERT INTO stripe_events (id, type, stripe_created, livemode, payload, attempts, processed_at, last_error) \
             VALUES (", $id, ", ", $type, ", ", $created, ", ", $livemode, ", ", $payload, ", 1, ", $at, ", ", $note, ") \
             ON CONFLICT (id) DO UPDATE SET attempts = stripe_events.attempts + 1, \
             processed_at = excluded.processed_at, last_error = excluded.last_error \
             WHERE stripe_events.processed_at IS NULL RETURNING id"
        )
    };
}

/// Binds the claim's parameters, in `claim_sql!`'s order.
macro_rules! bind_claim {
    ($query:expr, $e:expr, $note:expr) => {
        $query
            .bind($e.id)
            .bind($e.type_)
            .bind($e.stripe_created)
            .bind($e.livemode)
            .bind($e.payload)
            .bind(Utc::now())
            .bind($note)
    };
}

/// SQLite only (PostgreSQL prepares one statement at a time): the claim, then the
/// subscription's upsert if the claim changed a row. The upsert's parameters come first.
const CLAIM_STORING_SUBSCRIPTION: &str = concat!(
    claim_sql!("$19", "$20", "$21", "$22", "$23", "$24", "$25"),
    "; ",
    upsert_subscription_sql!("changes() = 1")
);

/// Claims the event for this transaction and marks it applied (with `note` saying why nothing
/// was done, when nothing will be): true when it is ours to apply (new, or earlier attempts
/// failed), false when it was applied already. The mark is only as durable as the transaction:
/// if the apply fails, the rollback takes it back. A concurrent claim of the same id waits here
/// for ours to commit or roll back (PostgreSQL's unique index, SQLite's write lock).
///
/// `storing`, a subscription the event is about, is upserted only when the claim takes: on SQLite
/// in the claim's own round trip to the database's thread (half of a subscription event's
/// trips), on PostgreSQL as the next statement.
///
/// One event per statement, on purpose: a statement of several events' payloads outgrows a TCP
/// send buffer, and sqlx 0.9.0 leaves Nagle's algorithm on, so its tail then waits for
/// PostgreSQL's delayed ACK, 40 ms (transact-rs/sqlx#4335); batching claims saved nothing
/// measurable on SQLite either.
pub async fn claim(
    tx: &mut Tx,
    e: &NewEvent<'_>,
    note: Option<&str>,
    storing: Option<&SubscriptionRow>,
) -> Result<bool, DbError> {
    if let (Tx::Sqlite(t), Some(row)) = (&mut *tx, storing) {
        // One batch: the claim's own count of changed rows (`changes()`, 1 when claimed, 0 when
        // applied already) guards the upsert. Changed rows in all: 0 when not claimed.
        let done = bind_claim!(
            bind_subscription!(sqlx::query(CLAIM_STORING_SUBSCRIPTION), row),
            e,
            note
        )
        .execute(&mut **t)
        .await?;
        return Ok(done.rows_affected() > 0);
    }
    let claimed = on_tx!(tx, conn => {
        bind_claim!(sqlx::query_scalar::<_, String>(claim_sql!("$1", "$2", "$3", "$4", "$5", "$6", "$7")), e, note)
            .fetch_optional(conn)
            .await
    })?;
    let claimed = claimed.is_some();
    if let (true, Some(row)) = (claimed, storing) {
        upsert_subscription(tx, row).await?;
    }
    Ok(claimed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::DatabaseUrl;
    use crate::server::db::billing::all_subscriptions;

    fn event(id: &str) -> NewEvent<'_> {
        NewEvent {
            id,
            type_: "customer.subscription.updated",
            stripe_created: 1,
            livemode: false,
            payload: "{}",
        }
    }

    fn subscription(status: &str, synced_at_ms: i64) -> SubscriptionRow {
        SubscriptionRow {
            id: "sub_1".into(),
            user_id: None,
            stripe_customer_id: "cus_1".into(),
            status: status.into(),
            price_id: "price_1".into(),
            quantity: 1,
            current_period_start: Some(1),
            current_period_end: Some(2),
            cancel_at_period_end: false,
            cancel_at: None,
            canceled_at: None,
            trial_end: None,
            stripe_created: 1,
            synced_at_ms,
            pending_price_id: None,
            pending_invoice_id: None,
            pending_expires_at: None,
        }
    }

    /// Claims `id` storing `row` in a transaction of its own: whether the claim took.
    async fn claim_storing(db: &Db, id: &str, row: &SubscriptionRow) -> bool {
        let mut tx = db.begin().await.unwrap();
        let claimed = claim(&mut tx, &event(id), None, Some(row)).await.unwrap();
        tx.commit().await.unwrap();
        claimed
    }

    async fn stored_status(db: &Db) -> Vec<String> {
        let rows = all_subscriptions(db).await.unwrap();
        rows.into_iter().map(|s| s.status).collect()
    }

    /// SQLite's one-batch claim: the upsert runs only when the claim takes, and keeps the rule
    /// that a later read already stored wins.
    #[tokio::test]
    async fn a_claim_stores_its_subscription_only_when_it_takes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("events.db").display());
        let db = Db::connect(&DatabaseUrl::Sqlite(url)).await.unwrap();
        db.migrate().await.unwrap();

        assert!(claim_storing(&db, "evt_1", &subscription("active", 10)).await);
        assert_eq!(stored_status(&db).await, ["active"]);
        // The same event again: refused, and its (newer) state is not stored.
        assert!(!claim_storing(&db, "evt_1", &subscription("canceled", 20)).await);
        assert_eq!(stored_status(&db).await, ["active"]);
        // A new event with an older read: claimed, but the newer state stays.
        assert!(claim_storing(&db, "evt_2", &subscription("past_due", 5)).await);
        assert_eq!(stored_status(&db).await, ["active"]);
        // A new event with a newer read: claimed and stored.
        assert!(claim_storing(&db, "evt_3", &subscription("canceled", 30)).await);
        assert_eq!(stored_status(&db).await, ["canceled"]);
        // A claim rolled back takes its upsert with it.
        let mut tx = db.begin().await.unwrap();
        assert!(claim(
            &mut tx,
            &event("evt_4"),
            None,
            Some(&subscription("active", 40))
        )
        .await
        .unwrap());
        tx.rollback().await.unwrap();
        assert_eq!(stored_status(&db).await, ["canceled"]);
    }
}
