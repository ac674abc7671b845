//! Subscription schedules: the change a subscription makes at its period's end, as the latest
//! read of its schedule from Stripe found it.

use super::{on_pool, on_tx, Db, DbError, DbUuid, Tx};

/// A schedule as Stripe reported it when read at `synced_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: String,
    pub subscription_id: String,
    pub status: String,
    /// The price of the phase after the current one, and when it starts.
    pub next_price_id: Option<String>,
    pub next_starts_at: Option<i64>,
    pub synced_at_ms: i64,
}

/// Stores a schedule's state unless a later read is stored. Returns whether it applied.
pub async fn upsert(tx: &mut Tx, s: &ScheduleRow) -> Result<bool, DbError> {
    let applied = on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO subscription_schedules \
             (id, subscription_id, status, next_price_id, next_starts_at, synced_at_ms, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET subscription_id = excluded.subscription_id, \
             status = excluded.status, next_price_id = excluded.next_price_id, \
             next_starts_at = excluded.next_starts_at, synced_at_ms = excluded.synced_at_ms, \
             updated_at = excluded.updated_at \
             WHERE excluded.synced_at_ms >= subscription_schedules.synced_at_ms",
        )
        .bind(&s.id)
        .bind(&s.subscription_id)
        .bind(&s.status)
        .bind(&s.next_price_id)
        .bind(s.next_starts_at)
        .bind(s.synced_at_ms)
        .bind(chrono::Utc::now())
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0)
    })?;
    Ok(applied)
}

/// The schedules still managing a user's subscriptions (`not_started` or `active`) that have a
/// change to come, newest read first.
pub async fn pending_for_user(db: &Db, user: DbUuid) -> Result<Vec<ScheduleRow>, DbError> {
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, ScheduleRow>(
            "SELECT id, subscription_id, status, next_price_id, next_starts_at, synced_at_ms \
             FROM subscription_schedules \
             WHERE status IN ('not_started', 'active') AND next_price_id IS NOT NULL \
             AND subscription_id IN (SELECT id FROM subscriptions WHERE user_id = $1 \
               OR stripe_customer_id IN \
               (SELECT stripe_customer_id FROM stripe_customers WHERE user_id = $1)) \
             ORDER BY synced_at_ms DESC, id",
        )
        .bind(user)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows)
}

/// Every stored schedule, for comparing stored state (tests).
pub async fn all(db: &Db) -> Result<Vec<ScheduleRow>, DbError> {
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, ScheduleRow>(
            "SELECT id, subscription_id, status, next_price_id, next_starts_at, synced_at_ms \
             FROM subscription_schedules ORDER BY id",
        )
        .fetch_all(pool)
        .await
    })?;
    Ok(rows)
}
