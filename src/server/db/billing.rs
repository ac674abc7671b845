//! `purchases`, `subscriptions` and `invoices`: what people bought, kept in step with Stripe.
//!
//! Subscriptions and invoices are stored as Stripe last reported them. Every write carries
//! `synced_at_ms`, when that report was read, and never replaces a later read: deliveries come
//! in any order and may overlap, and the rows must end at Stripe's latest state whatever happens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{on_pool, on_tx, Db, DbError, DbUuid, Tx};

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
/// (`unpaid` → `paid` or `failed`), never back from `paid`.
pub async fn record_purchase(tx: &mut Tx, p: &NewPurchase<'_>) -> Result<(), DbError> {
    on_tx!(tx, conn => {
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
        .execute(conn)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// A subscription as Stripe reported it when read at `synced_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub user_id: Option<DbUuid>,
    pub stripe_customer_id: String,
    pub status: String,
    pub price_id: String,
    pub quantity: i64,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// When it is set to end, if it is (Stripe's `cancel_at`).
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub trial_end: Option<i64>,
    /// The subscription's own `created` (unix seconds).
    pub stripe_created: i64,
    pub synced_at_ms: i64,
    /// A plan change waiting for its invoice's payment (Stripe's `pending_update`, made by
    /// `payment_behavior=pending_if_incomplete`): the price the item will have once
    /// `pending_invoice_id` is paid, until `pending_expires_at` (unix seconds), when Stripe
    /// drops it. All `None` when the read showed none (applied, expired, or never made).
    pub pending_price_id: Option<String>,
    pub pending_invoice_id: Option<String>,
    pub pending_expires_at: Option<i64>,
}

const SUBSCRIPTION_COLUMNS: &str = "id, user_id, stripe_customer_id, status, price_id, quantity, \
    current_period_start, current_period_end, cancel_at_period_end, canceled_at, trial_end, \
    stripe_created, synced_at_ms, cancel_at, pending_price_id, pending_invoice_id, pending_expires_at";

/// The subscription upsert as `INSERT … SELECT … WHERE <guard>`, so that a statement before it
/// in the same batch can decide whether it runs (`events::claim`): parameters `$1`–`$18`, bound
/// by `bind_subscription!`. A later read already stored wins.
macro_rules! upsert_subscription_sql {
    ($guard:literal) => {
        concat!(
            "INSERT INTO subscriptions (id, user_id, stripe_customer_id, status, price_id, quantity, \
             current_period_start, current_period_end, cancel_at_period_end, canceled_at, trial_end, \
             stripe_created, synced_at_ms, cancel_at, pending_price_id, pending_invoice_id, \
             pending_expires_at) \
             SELECT $1, COALESCE($2, (SELECT user_id FROM stripe_customers WHERE stripe_customer_id = $3)), \
             $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17, $18 WHERE ",
            $guard,
            " ON CONFLICT (id) DO UPDATE SET \
             user_id = COALESCE(excluded.user_id, subscriptions.user_id), \
             stripe_customer_id = excluded.stripe_customer_id, status = excluded.status, \
             price_id = excluded.price_id, quantity = excluded.quantity, \
             current_period_start = excluded.current_period_start, \
             current_period_end = excluded.current_period_end, \
             cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at, \
             trial_end = excluded.trial_end, stripe_created = excluded.stripe_created, \
             synced_at_ms = excluded.synced_at_ms, cancel_at = excluded.cancel_at, \
             pending_price_id = excluded.pending_price_id, \
             pending_invoice_id = excluded.pending_invoice_id, \
             pending_expires_at = excluded.pending_expires_at, updated_at = $14 \
             WHERE excluded.synced_at_ms >= subscriptions.synced_at_ms"
        )
    };
}
pub(super) use upsert_subscription_sql;

/// Binds a `SubscriptionRow` to `upsert_subscription_sql!`'s `$1`–`$18`.
macro_rules! bind_subscription {
    ($query:expr, $s:expr) => {
        $query
            .bind(&$s.id)
            .bind($s.user_id)
            .bind(&$s.stripe_customer_id)
            .bind(&$s.status)
            .bind(&$s.price_id)
            .bind($s.quantity)
            .bind($s.current_period_start)
            .bind($s.current_period_end)
            .bind($s.cancel_at_period_end)
            .bind($s.canceled_at)
            .bind($s.trial_end)
            .bind($s.stripe_created)
            .bind($s.synced_at_ms)
            .bind(chrono::Utc::now())
            .bind($s.cancel_at)
            .bind(&$s.pending_price_id)
            .bind(&$s.pending_invoice_id)
            .bind($s.pending_expires_at)
    };
}
pub(super) use bind_subscription;

/// Stores a subscription's state unless a later read is stored. Returns whether it applied.
/// Without a `user_id`, the subscription belongs to whoever its customer is linked to.
pub async fn upsert_subscription(tx: &mut Tx, s: &SubscriptionRow) -> Result<bool, DbError> {
    let applied = on_tx!(tx, conn => {
        bind_subscription!(sqlx::query(upsert_subscription_sql!("true")), s)
            .execute(conn)
            .await
            .map(|r| r.rows_affected() > 0)
    })?;
    Ok(applied)
}

/// Gives a customer's subscriptions and purchases that arrived before the customer was linked
/// (events come in any order) to the profile the customer now belongs to.
pub async fn claim_for_user(tx: &mut Tx, customer: &str, user: DbUuid) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE subscriptions SET user_id = $1 WHERE stripe_customer_id = $2 AND user_id IS NULL")
            .bind(user)
            .bind(customer)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE purchases SET user_id = $1 WHERE stripe_customer_id = $2 AND user_id IS NULL")
            .bind(user)
            .bind(customer)
            .execute(&mut *conn)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Hands `user` the one-time purchases paid under `email` by nobody signed in: called once the
/// user has proven that email.
pub async fn claim_purchases_by_email(
    tx: &mut Tx,
    email: &str,
    user: DbUuid,
) -> Result<u64, DbError> {
    let n = on_tx!(tx, conn => {
        sqlx::query("UPDATE purchases SET user_id = $1 WHERE user_id IS NULL AND lower(email) = lower($2)")
            .bind(user)
            .bind(email)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// The rows of `sql`, with `$1` bound to `user` and `$2` to `limit` when given. The SQL is ours,
/// built from constants in this module.
async fn fetch_rows<T>(
    db: &Db,
    sql: String,
    user: Option<DbUuid>,
    limit: Option<i64>,
) -> Result<Vec<T>, DbError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    let rows = on_pool!(db, pool => {
        let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql));
        if let Some(user) = user {
            query = query.bind(user);
        }
        if let Some(limit) = limit {
            query = query.bind(limit);
        }
        query.fetch_all(pool).await
    })?;
    Ok(rows)
}

/// The user's customer (`$1` is the user): a row of theirs may predate the customer's link.
const THEIR_CUSTOMER: &str =
    "stripe_customer_id IN (SELECT stripe_customer_id FROM stripe_customers WHERE user_id = $1)";

/// A user's subscriptions, newest first: their own rows and their customer's.
pub async fn subscriptions_for_user(
    db: &Db,
    user: DbUuid,
) -> Result<Vec<SubscriptionRow>, DbError> {
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = $1 OR {THEIR_CUSTOMER} \
         ORDER BY stripe_created DESC, id"
    );
    fetch_rows(db, sql, Some(user), None).await
}

/// The price of each user's newest live (active, trialing or past-due) subscription, their own
/// rows and their customer's: the one thing the marketing pages show of a signed-in person's
/// billing, read for a batch of people at once (`billing::plan_reads`). Users without one are
/// not in the map.
pub async fn live_prices_for_users(
    db: &Db,
    users: &[DbUuid],
) -> Result<HashMap<DbUuid, String>, DbError> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let list = (1..=users.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let live = "s.status IN ('active', 'trialing', 'past_due')";
    let sql = format!(
        "SELECT c.user_id AS owner, s.id, s.price_id, s.stripe_created FROM subscriptions s \
         JOIN stripe_customers c ON c.stripe_customer_id = s.stripe_customer_id \
         WHERE c.user_id IN ({list}) AND {live} \
         UNION ALL \
         SELECT s.user_id AS owner, s.id, s.price_id, s.stripe_created FROM subscriptions s \
         WHERE s.user_id IN ({list}) AND {live}"
    );
    let rows: Vec<(DbUuid, String, String, i64)> = on_pool!(db, pool => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for user in users {
            query = query.bind(*user);
        }
        query.fetch_all(pool).await
    })?;
    // Newest first, as `subscriptions_for_user` orders them: by creation, then by id.
    let mut newest: HashMap<DbUuid, (i64, String, String)> = HashMap::new();
    for (owner, id, price, created) in rows {
        let better = newest
            .get(&owner)
            .is_none_or(|(c, i, _)| created > *c || (created == *c && id < *i));
        if better {
            newest.insert(owner, (created, id, price));
        }
    }
    Ok(newest
        .into_iter()
        .map(|(owner, (_, _, price))| (owner, price))
        .collect())
}

/// Is this subscription stored (ours, whatever its price is now)?
pub async fn subscription_known(db: &Db, id: &str) -> Result<bool, DbError> {
    let sql = "SELECT COUNT(*) FROM subscriptions WHERE id = $1";
    let count: i64 = match db {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await?,
        Db::Postgres(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await?,
    };
    Ok(count > 0)
}

/// Every stored subscription, for comparing stored state (tests, `landing resync`).
pub async fn all_subscriptions(db: &Db) -> Result<Vec<SubscriptionRow>, DbError> {
    let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY id");
    fetch_rows(db, sql, None, None).await
}

/// A one-time purchase as the billing page shows it, with what went back of its payment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PurchaseRow {
    pub checkout_session_id: String,
    pub stripe_customer_id: Option<String>,
    pub price_id: String,
    pub amount_total: i64,
    pub currency: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Refunded of its charge so far (0 when none, or its charge is not stored yet).
    pub amount_refunded: i64,
    /// Its charge's dispute, if any: `needs_response`, `under_review`, `won`, `lost`, ….
    pub dispute_status: Option<String>,
}

/// The purchase's charge is found by payment intent (one charge each in Checkout's payment
/// mode; the largest figures if Stripe ever made more).
const PURCHASE_COLUMNS: &str =
    "checkout_session_id, stripe_customer_id, price_id, amount_total, currency, status, created_at, \
     COALESCE((SELECT MAX(c.amount_refunded) FROM charges c WHERE c.payment_intent_id = purchases.payment_intent_id), 0) AS amount_refunded, \
     (SELECT MAX(c.dispute_status) FROM charges c WHERE c.payment_intent_id = purchases.payment_intent_id) AS dispute_status";

/// A user's one-time purchases, newest first.
pub async fn purchases_for_user(db: &Db, user: DbUuid) -> Result<Vec<PurchaseRow>, DbError> {
    let sql = format!(
        "SELECT {PURCHASE_COLUMNS} FROM purchases WHERE user_id = $1 OR {THEIR_CUSTOMER} \
         ORDER BY created_at DESC, checkout_session_id"
    );
    fetch_rows(db, sql, Some(user), None).await
}

pub async fn all_purchases(db: &Db) -> Result<Vec<PurchaseRow>, DbError> {
    let sql = format!("SELECT {PURCHASE_COLUMNS} FROM purchases ORDER BY checkout_session_id");
    fetch_rows(db, sql, None, None).await
}

/// An invoice as Stripe reported it when read at `synced_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: String,
    pub stripe_customer_id: String,
    pub subscription_id: Option<String>,
    pub number: Option<String>,
    pub status: String,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub stripe_created: i64,
    pub synced_at_ms: i64,
}

const INVOICE_COLUMNS: &str =
    "id, stripe_customer_id, subscription_id, number, status, amount_due, \
    amount_paid, currency, hosted_invoice_url, stripe_created, synced_at_ms";

/// Stores an invoice unless a later read is stored. Returns whether it applied.
pub async fn upsert_invoice(tx: &mut Tx, i: &InvoiceRow) -> Result<bool, DbError> {
    let applied = on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO invoices (id, stripe_customer_id, subscription_id, number, status, amount_due, \
             amount_paid, currency, hosted_invoice_url, stripe_created, synced_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET \
             stripe_customer_id = excluded.stripe_customer_id, subscription_id = excluded.subscription_id, \
             number = excluded.number, status = excluded.status, amount_due = excluded.amount_due, \
             amount_paid = excluded.amount_paid, currency = excluded.currency, \
             hosted_invoice_url = excluded.hosted_invoice_url, stripe_created = excluded.stripe_created, \
             synced_at_ms = excluded.synced_at_ms, updated_at = $12 \
             WHERE excluded.synced_at_ms >= invoices.synced_at_ms",
        )
        .bind(&i.id)
        .bind(&i.stripe_customer_id)
        .bind(&i.subscription_id)
        .bind(&i.number)
        .bind(&i.status)
        .bind(i.amount_due)
        .bind(i.amount_paid)
        .bind(&i.currency)
        .bind(&i.hosted_invoice_url)
        .bind(i.stripe_created)
        .bind(i.synced_at_ms)
        .bind(Utc::now())
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0)
    })?;
    Ok(applied)
}

/// A user's invoices (through their customer), newest first, at most `limit`.
pub async fn invoices_for_user(
    db: &Db,
    user: DbUuid,
    limit: i64,
) -> Result<Vec<InvoiceRow>, DbError> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE {THEIR_CUSTOMER} \
         ORDER BY stripe_created DESC, id DESC LIMIT $2"
    );
    fetch_rows(db, sql, Some(user), Some(limit)).await
}

pub async fn all_invoices(db: &Db) -> Result<Vec<InvoiceRow>, DbError> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices ORDER BY id");
    fetch_rows(db, sql, None, None).await
}

/// A charge's refunds as Stripe reported them when read at `synced_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRow<'a> {
    pub id: &'a str,
    pub payment_intent_id: Option<&'a str>,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: &'a str,
    pub synced_at_ms: i64,
}

/// Stores a charge's refunds, unless a later read is stored already.
pub async fn upsert_charge(tx: &mut Tx, c: &ChargeRow<'_>) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO charges (id, payment_intent_id, amount, amount_refunded, currency, refund_synced_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET \
             payment_intent_id = COALESCE(charges.payment_intent_id, excluded.payment_intent_id), \
             amount = excluded.amount, amount_refunded = excluded.amount_refunded, \
             currency = excluded.currency, refund_synced_at_ms = excluded.refund_synced_at_ms \
             WHERE excluded.refund_synced_at_ms >= charges.refund_synced_at_ms",
        )
        .bind(c.id)
        .bind(c.payment_intent_id)
        .bind(c.amount)
        .bind(c.amount_refunded)
        .bind(c.currency)
        .bind(c.synced_at_ms)
        .execute(conn)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// Stores the status of a charge's dispute (the charge row must exist), unless a later read
/// is stored already.
pub async fn set_dispute(
    tx: &mut Tx,
    charge_id: &str,
    dispute_id: &str,
    status: &str,
    synced_at_ms: i64,
) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE charges SET dispute_id = $2, dispute_status = $3, dispute_synced_at_ms = $4 \
             WHERE id = $1 AND dispute_synced_at_ms <= $4",
        )
        .bind(charge_id)
        .bind(dispute_id)
        .bind(status)
        .bind(synced_at_ms)
        .execute(conn)
        .await
        .map(drop)
    })?;
    Ok(())
}
