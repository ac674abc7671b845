//! `stripe_customers`: which Stripe customer pays for which profile (the table the Next.js integration defines).

use chrono::Utc;

use super::{on_pool, on_tx, violates_unique, Db, DbError, DbUuid, Tx};

/// `stripe_customer_id` is unique: one profile per Stripe customer.
const CUSTOMER_UNIQUE: &str = "stripe_customers_stripe_customer_id_key";

/// Links `user_id` to `customer_id` (one row per user, as the unique index on `user_id` demands).
/// With `replace`, the user's previous customer gives way (their own new checkout); without it,
/// a user who has a customer keeps it (a customer found by email never displaces theirs). A
/// customer already linked to another user is refused: that would hand one person's billing to
/// another. True when `customer_id` is now the user's.
pub async fn link(
    tx: &mut Tx,
    user_id: DbUuid,
    customer_id: &str,
    replace: bool,
) -> Result<bool, DbError> {
    // Looked up first rather than left to the unique index: on PostgreSQL a violation aborts the
    // whole transaction, and the webhook's transaction has more to do.
    match user_for_customer(tx, customer_id).await? {
        Some(owner) if owner == user_id => return Ok(true),
        Some(_) => return Err(DbError::CustomerTaken),
        None => {}
    }
    let sql = if replace {
        "INSERT INTO stripe_customers (id, user_id, stripe_customer_id) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE \
         SET stripe_customer_id = excluded.stripe_customer_id, updated_at = $4"
    } else {
        "INSERT INTO stripe_customers (id, user_id, stripe_customer_id, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING"
    };
    let result = on_tx!(tx, conn => {
        sqlx::query(sql)
        .bind(DbUuid::new_v4())
        .bind(user_id)
        .bind(customer_id)
        .bind(Utc::now())
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
    });
    // `ON CONFLICT (user_id)` absorbs the user index, so on SQLite too the only unique violation
    // left is the customer id (linked concurrently by another transaction).
    match result {
        Ok(linked) => Ok(linked),
        Err(e) if violates_unique(&e, CUSTOMER_UNIQUE) => Err(DbError::CustomerTaken),
        Err(e) => Err(DbError::Sqlx(e)),
    }
}

/// The portal's lookup: the Stripe customer of a signed-in user.
pub async fn customer_id_for_user(db: &Db, user_id: DbUuid) -> Result<Option<String>, DbError> {
    let id = on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>(
            "SELECT stripe_customer_id FROM stripe_customers WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await
    })?;
    Ok(id)
}

/// The reverse lookup a webhook needs: whose customer is this?
pub async fn user_for_customer(tx: &mut Tx, customer_id: &str) -> Result<Option<DbUuid>, DbError> {
    let id = on_tx!(tx, conn => {
        sqlx::query_scalar::<_, DbUuid>(
            "SELECT user_id FROM stripe_customers WHERE stripe_customer_id = $1",
        )
        .bind(customer_id)
        .fetch_optional(conn)
        .await
    })?;
    Ok(id)
}

/// Every customer we know of, for `landing resync --all`.
pub async fn all_customer_ids(db: &Db) -> Result<Vec<String>, DbError> {
    let ids = on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>(
            "SELECT stripe_customer_id FROM stripe_customers \
             UNION SELECT stripe_customer_id FROM subscriptions \
             UNION SELECT stripe_customer_id FROM purchases WHERE stripe_customer_id IS NOT NULL \
             ORDER BY 1",
        )
        .fetch_all(pool)
        .await
    })?;
    Ok(ids)
}

/// A customer's balance as Stripe reported it when read at `synced_at_ms`: negative is credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub balance: i64,
    pub currency: Option<String>,
}

/// Stores a customer's balance, unless a later read is stored already.
pub async fn store_balance(
    tx: &mut Tx,
    customer_id: &str,
    balance: &Balance,
    synced_at_ms: i64,
) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO customer_balances (stripe_customer_id, balance, currency, synced_at_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (stripe_customer_id) DO UPDATE \
             SET balance = excluded.balance, currency = excluded.currency, \
                 synced_at_ms = excluded.synced_at_ms \
             WHERE customer_balances.synced_at_ms <= excluded.synced_at_ms",
        )
        .bind(customer_id)
        .bind(balance.balance)
        .bind(balance.currency.as_deref())
        .bind(synced_at_ms)
        .execute(conn)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// The stored balance of the user's Stripe customer, if one was ever read.
pub async fn balance_for_user(db: &Db, user_id: DbUuid) -> Result<Option<Balance>, DbError> {
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, (i64, Option<String>)>(
            "SELECT b.balance, b.currency FROM customer_balances b \
             JOIN stripe_customers c ON c.stripe_customer_id = b.stripe_customer_id \
             WHERE c.user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row.map(|(balance, currency)| Balance { balance, currency }))
}

/// Every stored balance, by customer id, for comparing two databases fed the same events.
pub async fn all_balances(db: &Db) -> Result<Vec<(String, Balance)>, DbError> {
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, (String, i64, Option<String>)>(
            "SELECT stripe_customer_id, balance, currency FROM customer_balances \
             ORDER BY stripe_customer_id",
        )
        .fetch_all(pool)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, balance, currency)| (id, Balance { balance, currency }))
        .collect())
}
