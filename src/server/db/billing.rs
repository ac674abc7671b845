//! `purchases` and `subscriptions`: what people bought, kept in step with Stripe.

use chrono::Utc;

use super::{on_pool, Db, DbError, DbUuid};

/// A one-time payment, keyed by its Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPurchase<'a> {
    pub checkout_session_id: &'a str,
    pub payment_intent_id: Option<&'a str>,
    pub user_id: Option<DbUuid>,
    pub stripe_customer_id: Option<&'a str>,
    pub price_id: &'a str,
    pub amount_total: i64,
    pub currency: &'a str,
    pub status: &'a str,
    pub email: Option<&'a str>,
}

/// Records a purchase once; a second delivery of the same session only moves its status on
/// (`unpaid` → `paid`), never back.
pub async fn record_purchase(db: &Db, p: &NewPurchase<'_>) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO purchases (id, checkout_session_id, payment_intent_id, user_id, stripe_customer_id, \
             price_id, amount_total, currency, status, email) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (checkout_session_id) DO UPDATE SET \
             status = CASE WHEN purchases.status = 'paid' THEN purchases.status ELSE excluded.status END, \
             payment_intent_id = COALESCE(purchases.payment_intent_id, excluded.payment_intent_id), \
             user_id = COALESCE(purchases.user_id, excluded.user_id), \
             stripe_customer_id = COALESCE(purchases.stripe_customer_id, excluded.stripe_customer_id), \
             updated_at = $11",
        )
        .bind(DbUuid::new_v4())
        .bind(p.checkout_session_id)
        .bind(p.payment_intent_id)
        .bind(p.user_id)
        .bind(p.stripe_customer_id)
        .bind(p.price_id)
        .bind(p.amount_total)
        .bind(p.currency)
        .bind(p.status)
        .bind(p.email)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// A subscription's state as Stripe reported it at `stripe_created` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub user_id: Option<DbUuid>,
    pub stripe_customer_id: String,
    pub status: String,
    pub price_id: String,
    pub quantity: i64,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub trial_end: Option<i64>,
    pub stripe_created: i64,
}

/// Stores a subscription's state unless what is stored is newer: deliveries come in any order,
/// and the row must end at Stripe's latest state whatever the order. Returns whether it applied.
pub async fn upsert_subscription(db: &Db, s: &SubscriptionRow) -> Result<bool, DbError> {
    let applied = on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO subscriptions (id, user_id, stripe_customer_id, status, price_id, quantity, \
             current_period_end, cancel_at_period_end, canceled_at, trial_end, stripe_created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET \
             user_id = COALESCE(excluded.user_id, subscriptions.user_id), \
             stripe_customer_id = excluded.stripe_customer_id, status = excluded.status, \
             price_id = excluded.price_id, quantity = excluded.quantity, \
             current_period_end = excluded.current_period_end, \
             cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at, \
             trial_end = excluded.trial_end, stripe_created = excluded.stripe_created, updated_at = $12 \
             WHERE excluded.stripe_created >= subscriptions.stripe_created",
        )
        .bind(&s.id)
        .bind(s.user_id)
        .bind(&s.stripe_customer_id)
        .bind(&s.status)
        .bind(&s.price_id)
        .bind(s.quantity)
        .bind(s.current_period_end)
        .bind(s.cancel_at_period_end)
        .bind(s.canceled_at)
        .bind(s.trial_end)
        .bind(s.stripe_created)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
    })?;
    Ok(applied)
}

pub async fn subscriptions_for_user(
    db: &Db,
    user: DbUuid,
) -> Result<Vec<SubscriptionRow>, DbError> {
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, SubscriptionRow>(
            "SELECT id, user_id, stripe_customer_id, status, price_id, quantity, current_period_end, \
             cancel_at_period_end, canceled_at, trial_end, stripe_created \
             FROM subscriptions WHERE user_id = $1 ORDER BY stripe_created DESC",
        )
        .bind(user)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows)
}

/// (checkout session, price, status) of a user's one-time purchases, newest first.
pub async fn purchases_for_user(
    db: &Db,
    user: DbUuid,
) -> Result<Vec<(String, String, String)>, DbError> {
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT checkout_session_id, price_id, status FROM purchases WHERE user_id = $1 ORDER BY created_at DESC",
        )
        .bind(user)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows)
}
