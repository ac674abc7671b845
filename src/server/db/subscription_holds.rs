//! What holds a subscription back from what its items say: a plan change waiting for its
//! invoice's payment (the `pending_*` columns of `subscriptions`, written with the rest of the
//! subscription's row by its upsert), and a disputed payment of one of its invoices
//! (`charges.subscription_id` with the charge's dispute).
//!
//! Both are stored as Stripe last reported them, each write stamped with when its read was
//! sent and never replacing a later read, so deliveries in any order end at Stripe's state.

use super::{on_pool, on_tx, Db, DbError, DbUuid, Tx};

/// A change waiting for payment, as `/billing` shows it: the price it moves to, until when,
/// and the invoice's page where the buyer pays (once the invoice is stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingChange {
    pub subscription_id: String,
    pub price_id: String,
    pub expires_at: Option<i64>,
    pub hosted_invoice_url: Option<String>,
}

/// The pending changes as `PendingChange` reads them, up to a `WHERE` that more conditions join.
macro_rules! pending_changes_where {
    () => {
        "SELECT s.id AS subscription_id, s.pending_price_id AS price_id, \
         s.pending_expires_at AS expires_at, i.hosted_invoice_url \
         FROM subscriptions s LEFT JOIN invoices i ON i.id = s.pending_invoice_id \
         WHERE s.pending_price_id IS NOT NULL"
    };
}

/// The user's subscriptions' pending changes (their own rows and their customer's).
pub async fn pending_changes_for_user(
    db: &Db,
    user: DbUuid,
) -> Result<Vec<PendingChange>, DbError> {
    let sql = concat!(
        pending_changes_where!(),
        " AND (s.user_id = $1 OR s.stripe_customer_id IN \
         (SELECT stripe_customer_id FROM stripe_customers WHERE user_id = $1)) ORDER BY s.id"
    );
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, PendingChange>(sql).bind(user).fetch_all(pool).await
    })?;
    Ok(rows)
}

/// Records that a charge paid an invoice of `subscription_id` (the charge row must exist).
pub async fn link_charge(
    tx: &mut Tx,
    charge_id: &str,
    subscription_id: &str,
) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE charges SET subscription_id = $2 WHERE id = $1")
            .bind(charge_id)
            .bind(subscription_id)
            .execute(conn)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// A dispute of one of a subscription's payments, as last read.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionDispute {
    pub subscription_id: String,
    pub dispute_status: String,
}

/// The disputes of the user's subscriptions' payments.
pub async fn disputes_for_user(db: &Db, user: DbUuid) -> Result<Vec<SubscriptionDispute>, DbError> {
    let sql = "SELECT c.subscription_id, c.dispute_status FROM charges c \
               JOIN subscriptions s ON s.id = c.subscription_id \
               WHERE c.dispute_status IS NOT NULL AND (s.user_id = $1 OR s.stripe_customer_id IN \
               (SELECT stripe_customer_id FROM stripe_customers WHERE user_id = $1)) \
               ORDER BY c.dispute_synced_at_ms";
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, SubscriptionDispute>(sql).bind(user).fetch_all(pool).await
    })?;
    Ok(rows)
}

/// Every stored pending change, for comparing stored state (tests).
pub async fn all_pending_changes(db: &Db) -> Result<Vec<PendingChange>, DbError> {
    let sql = concat!(pending_changes_where!(), " ORDER BY s.id");
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, PendingChange>(sql).fetch_all(pool).await
    })?;
    Ok(rows)
}

/// Every stored dispute of a subscription's payment, for comparing stored state (tests).
pub async fn all_subscription_disputes(db: &Db) -> Result<Vec<SubscriptionDispute>, DbError> {
    let sql = "SELECT subscription_id, dispute_status FROM charges \
               WHERE subscription_id IS NOT NULL AND dispute_status IS NOT NULL \
               ORDER BY subscription_id, dispute_id";
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, SubscriptionDispute>(sql).fetch_all(pool).await
    })?;
    Ok(rows)
}
