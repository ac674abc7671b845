//! `identities`: sign-ins from elsewhere (a Supabase user), each linked to one profile by
//! provider and subject.

use super::{on_pool, on_tx, Db, DbError, DbUuid, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityRow {
    pub user_id: DbUuid,
    pub email: String,
    pub email_proven: bool,
    pub detached_at_ms: Option<i64>,
}

pub async fn find(db: &Db, provider: &str, subject: &str) -> Result<Option<IdentityRow>, DbError> {
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, IdentityRow>(
            "SELECT user_id, email, email_proven, detached_at_ms FROM identities \
             WHERE provider = $1 AND subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row)
}

/// An identity as the provider last described it.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub provider: &'a str,
    pub subject: &'a str,
    pub user_id: DbUuid,
    pub email: &'a str,
    pub email_proven: bool,
}

/// Links an identity to a profile (again, if it was detached).
pub async fn link(tx: &mut Tx, l: &Link<'_>) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO identities (provider, subject, user_id, email, email_proven) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (provider, subject) DO UPDATE SET user_id = excluded.user_id, \
             email = excluded.email, email_proven = excluded.email_proven, detached_at_ms = NULL",
        )
        .bind(l.provider)
        .bind(l.subject)
        .bind(l.user_id)
        .bind(l.email)
        .bind(l.email_proven)
        .execute(conn)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// Detaches the identities nobody vouched for that carry `email` or open `user`, but `keep`
/// (provider, subject): someone else proved the address. How many.
pub async fn detach_unproven(
    tx: &mut Tx,
    email: &str,
    user: DbUuid,
    keep: Option<(&str, &str)>,
    now_ms: i64,
) -> Result<u64, DbError> {
    let (provider, subject) = keep.unwrap_or(("", ""));
    let n = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE identities SET detached_at_ms = $1 \
             WHERE (lower(email) = lower($2) OR user_id = $3) AND NOT email_proven \
             AND detached_at_ms IS NULL AND NOT (provider = $4 AND subject = $5)",
        )
        .bind(now_ms)
        .bind(email)
        .bind(user)
        .bind(provider)
        .bind(subject)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// Detaches every identity of `user`, but `keep`: a proven identity took the account over from
/// whoever had it unproven.
pub async fn detach_all_of(
    tx: &mut Tx,
    user: DbUuid,
    keep: (&str, &str),
    now_ms: i64,
) -> Result<u64, DbError> {
    let n = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE identities SET detached_at_ms = $1 \
             WHERE user_id = $2 AND detached_at_ms IS NULL AND NOT (provider = $3 AND subject = $4)",
        )
        .bind(now_ms)
        .bind(user)
        .bind(keep.0)
        .bind(keep.1)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// Notes that an identity proved its email here (by a link followed while signed in with it).
pub async fn mark_proven(tx: &mut Tx, provider: &str, subject: &str) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE identities SET email_proven = TRUE WHERE provider = $1 AND subject = $2")
            .bind(provider)
            .bind(subject)
            .execute(conn)
            .await
            .map(drop)
    })?;
    Ok(())
}
