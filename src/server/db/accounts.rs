//! `sessions`, `auth_tokens` and `email_customers`: what makes an account trustworthy. A session
//! row per token family (revoked by signing out), single-use mailed links stored as hashes, and
//! the Stripe customers that wait under an email until someone proves it.

use super::{on_pool, on_tx, Db, DbError, DbUuid, Tx};

/// Records a new session for `user`.
pub async fn insert_session(db: &Db, sid: &str, user: DbUuid) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("INSERT INTO sessions (id, user_id) VALUES ($1, $2)")
            .bind(sid)
            .bind(user)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Revokes one session; its owner must be `user` (a token names both). True when it was live.
pub async fn revoke_session(
    db: &Db,
    sid: &str,
    user: DbUuid,
    now_ms: i64,
) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => {
        sqlx::query(
            "UPDATE sessions SET revoked_at_ms = $1 \
             WHERE id = $2 AND user_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(sid)
        .bind(user)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
    })?;
    Ok(done)
}

/// Revokes every live session of `user` but `keep` (the one asking, when it stays signed in);
/// returns the sessions it revoked.
pub async fn revoke_sessions_of(
    tx: &mut Tx,
    user: DbUuid,
    keep: Option<&str>,
    now_ms: i64,
) -> Result<Vec<String>, DbError> {
    let ids = on_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>(
            "UPDATE sessions SET revoked_at_ms = $1 \
             WHERE user_id = $2 AND revoked_at_ms IS NULL AND id <> $3 RETURNING id",
        )
        .bind(now_ms)
        .bind(user)
        .bind(keep.unwrap_or(""))
        .fetch_all(conn)
        .await
    })?;
    Ok(ids)
}

/// Sessions revoked after `since_ms`, with when: what each instance polls for.
pub async fn revoked_since(db: &Db, since_ms: i64) -> Result<Vec<(String, i64)>, DbError> {
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT id, revoked_at_ms FROM sessions WHERE revoked_at_ms > $1",
        )
        .bind(since_ms)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows)
}

/// What a mailed link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

/// A link to be mailed, as stored: never the token itself.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub token_hash: &'a str,
    pub purpose: Purpose,
    pub user_id: DbUuid,
    pub email: &'a str,
    pub expires_at_ms: i64,
}

pub async fn insert_token(tx: &mut Tx, t: &NewToken<'_>) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, purpose, user_id, email, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.token_hash)
        .bind(t.purpose.as_str())
        .bind(t.user_id)
        .bind(t.email)
        .bind(t.expires_at_ms)
        .execute(conn)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// A link that was followed in time, for the first time (or, read with `live_token`, that
/// still can be).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UsedToken {
    pub user_id: DbUuid,
    pub email: String,
}

/// Uses up a link: one statement, so two followers of the same link cannot both succeed.
/// `None` for a link that is unknown, expired, already used or meant for something else.
pub async fn use_token(
    tx: &mut Tx,
    token_hash: &str,
    purpose: Purpose,
    now_ms: i64,
) -> Result<Option<UsedToken>, DbError> {
    let row = on_tx!(tx, conn => {
        sqlx::query_as::<_, UsedToken>(
            "UPDATE auth_tokens SET used_at_ms = $1 \
             WHERE token_hash = $2 AND purpose = $3 AND used_at_ms IS NULL AND expires_at_ms > $1 \
             RETURNING user_id, email",
        )
        .bind(now_ms)
        .bind(token_hash)
        .bind(purpose.as_str())
        .fetch_optional(conn)
        .await
    })?;
    Ok(row)
}

/// Uses up every other live link of `user` for `purpose` (a reset done ends the other reset
/// links mailed before it).
pub async fn use_up_tokens_of(
    tx: &mut Tx,
    user: DbUuid,
    purpose: Purpose,
    now_ms: i64,
) -> Result<u64, DbError> {
    let n = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE auth_tokens SET used_at_ms = $1 \
             WHERE user_id = $2 AND purpose = $3 AND used_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(user)
        .bind(purpose.as_str())
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// A link that is live (known, unused, unexpired), without using it up: whose it is.
pub async fn live_token(
    db: &Db,
    token_hash: &str,
    purpose: Purpose,
    now_ms: i64,
) -> Result<Option<UsedToken>, DbError> {
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, UsedToken>(
            "SELECT user_id, email FROM auth_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at_ms IS NULL AND expires_at_ms > $3",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now_ms)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row)
}

/// Notes that `customer` was met under `email`, nobody having proven it yet.
pub async fn remember_email_customer(
    tx: &mut Tx,
    customer: &str,
    email: &str,
) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO email_customers (stripe_customer_id, email) VALUES ($1, $2) \
             ON CONFLICT (stripe_customer_id) DO NOTHING",
        )
        .bind(customer)
        .bind(email)
        .execute(conn)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// The customers waiting under `email` for its proof; marks them claimed by `user`.
pub async fn claim_email_customers(
    tx: &mut Tx,
    email: &str,
    user: DbUuid,
) -> Result<Vec<String>, DbError> {
    let ids = on_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>(
            "UPDATE email_customers SET claimed_by = $1 \
             WHERE lower(email) = lower($2) AND claimed_by IS NULL RETURNING stripe_customer_id",
        )
        .bind(user)
        .bind(email)
        .fetch_all(conn)
        .await
    })?;
    Ok(ids)
}
