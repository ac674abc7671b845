//! `profiles`: one row per person, the target of every other table's `user_id`.

use chrono::{DateTime, Utc};

use super::{on_pool, on_tx, violates_unique, Db, DbError, DbUuid, Tx};

/// The unique index on `lower(email)`: emails are compared case-insensitively.
const EMAIL_UNIQUE: &str = "profiles_email_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfileRow {
    pub id: DbUuid,
    pub email: String,
    /// `None` for people who came through an external identity (a Supabase token, a checkout).
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the owner proved the email; `None` while nobody has.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// The one account its email addresses (sign-in, sign-up, a reset). False for an unproven
    /// identity from elsewhere whose address another account holds.
    pub holds_email: bool,
    /// Tokens from elsewhere (Supabase) issued before this (unix ms) open nothing: set by "sign
    /// out everywhere" and a reset.
    pub tokens_valid_after_ms: Option<i64>,
}

impl ProfileRow {
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

const COLUMNS: &str =
    "id, email, password_hash, created_at, email_verified_at, holds_email, tokens_valid_after_ms";

fn email_taken(e: sqlx::Error) -> DbError {
    if violates_unique(&e, EMAIL_UNIQUE) {
        DbError::EmailTaken
    } else {
        DbError::Sqlx(e)
    }
}

/// Creates a profile. The id is chosen here so both backends agree on its form.
pub async fn insert(
    db: &Db,
    email: &str,
    password_hash: Option<&str>,
) -> Result<ProfileRow, DbError> {
    let id = DbUuid::new_v4();
    let result = on_pool!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(
            sqlx::AssertSqlSafe(format!(
            "INSERT INTO profiles (id, email, password_hash) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .fetch_one(pool)
        .await
    });
    // The fresh v4 id cannot collide, so the email index is the only unique one this can violate.
    result.map_err(email_taken)
}

/// Creates the profile of an identity from elsewhere (a Supabase user): `verified_at` when the
/// provider vouches for the email, `holds_email` when no other account holds it.
pub async fn insert_with_id(
    db: &Db,
    id: DbUuid,
    email: &str,
    verified_at: Option<DateTime<Utc>>,
    holds_email: bool,
) -> Result<ProfileRow, DbError> {
    let result = on_pool!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO profiles (id, email, email_verified_at, holds_email) VALUES ($1, $2, $3, $4) \
             RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(email)
        .bind(verified_at)
        .bind(holds_email)
        .fetch_one(pool)
        .await
    });
    // Two first requests of the same new identity may race to make it: the caller looks again.
    result.map_err(email_taken)
}

/// Marks `email` proven for profile `id`, if that is still the profile's email. True when the
/// profile now counts as proven (it may have been already).
pub async fn mark_verified(tx: &mut Tx, id: DbUuid, email: &str) -> Result<bool, DbError> {
    let done = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE profiles SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $1 \
             WHERE id = $2 AND lower(email) = lower($3) AND holds_email",
        )
        .bind(Utc::now())
        .bind(id)
        .bind(email)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
    })?;
    Ok(done)
}

/// Sets a profile's password; with `only_if_none`, only where it has none yet (a sign-up that
/// waited for its link must not overwrite a password set meanwhile). True when set.
pub async fn set_password(
    tx: &mut Tx,
    id: DbUuid,
    hash: &str,
    only_if_none: bool,
) -> Result<bool, DbError> {
    let sql = if only_if_none {
        "UPDATE profiles SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash IS NULL"
    } else {
        "UPDATE profiles SET password_hash = $1, updated_at = $2 WHERE id = $3"
    };
    let updated = on_tx!(tx, conn => {
        sqlx::query(sql)
            .bind(hash)
            .bind(Utc::now())
            .bind(id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected() == 1)
    })?;
    Ok(updated)
}

/// The account `email` addresses: the one profile that holds it, if any.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<ProfileRow>, DbError> {
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM profiles WHERE lower(email) = lower($1) AND holds_email"
        )))
        .bind(email)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row)
}

pub async fn find_by_id(db: &Db, id: DbUuid) -> Result<Option<ProfileRow>, DbError> {
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM profiles WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row)
}

/// Deletes a profile; its Stripe customer link and access rows go with it (`ON DELETE CASCADE`).
pub async fn delete(db: &Db, id: DbUuid) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => {
        sqlx::query("DELETE FROM profiles WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
    })?;
    Ok(done)
}

/// The profile whose owner has proven `email`, read inside a transaction. A profile that has
/// the email but never proved it is not its owner.
pub async fn verified_owner_of(tx: &mut Tx, email: &str) -> Result<Option<DbUuid>, DbError> {
    let id = on_tx!(tx, conn => {
        sqlx::query_scalar::<_, DbUuid>(
            "SELECT id FROM profiles \
             WHERE lower(email) = lower($1) AND email_verified_at IS NOT NULL AND holds_email",
        )
        .bind(email)
        .fetch_optional(conn)
        .await
    })?;
    Ok(id)
}

/// A profile's email, read inside a transaction (`None`: no such profile).
pub async fn email_of(tx: &mut Tx, id: DbUuid) -> Result<Option<String>, DbError> {
    let email = on_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>("SELECT email FROM profiles WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await
    })?;
    Ok(email)
}

/// Takes the password off a profile (someone who never proved the email chose it).
pub async fn clear_password(tx: &mut Tx, id: DbUuid) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE profiles SET password_hash = NULL, updated_at = $1 WHERE id = $2")
            .bind(Utc::now())
            .bind(id)
            .execute(conn)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Refuses the profile's tokens from elsewhere issued before `at_ms`.
pub async fn refuse_tokens_before(tx: &mut Tx, id: DbUuid, at_ms: i64) -> Result<(), DbError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE profiles SET tokens_valid_after_ms = $1 WHERE id = $2")
            .bind(at_ms)
            .bind(id)
            .execute(conn)
            .await
            .map(drop)
    })?;
    Ok(())
}
