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
}

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
            "INSERT INTO profiles (id, email, password_hash) VALUES ($1, $2, $3) \
             RETURNING id, email, password_hash, created_at",
        )
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .fetch_one(pool)
        .await
    });
    // The fresh v4 id cannot collide, so the email index is the only unique one this can violate.
    result.map_err(email_taken)
}

/// Creates the profile of an identity that already has an id (a Supabase user's `sub`).
pub async fn insert_with_id(db: &Db, id: DbUuid, email: &str) -> Result<ProfileRow, DbError> {
    let result = on_pool!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(
            "INSERT INTO profiles (id, email) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET email = profiles.email \
             RETURNING id, email, password_hash, created_at",
        )
        .bind(id)
        .bind(email)
        .fetch_one(pool)
        .await
    });
    // Two first requests of the same new user may race: the id conflict is absorbed above, so
    // the email index is the only unique one left to violate.
    result.map_err(email_taken)
}

/// Gives a password to a profile that had none (made by a signed-out checkout).
/// False when it already had one (another sign-up got there first).
pub async fn set_password_hash(db: &Db, id: DbUuid, hash: &str) -> Result<bool, DbError> {
    let updated = on_pool!(db, pool => {
        sqlx::query("UPDATE profiles SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash IS NULL")
            .bind(hash)
            .bind(chrono::Utc::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1)
    })?;
    Ok(updated)
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<ProfileRow>, DbError> {
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(
            "SELECT id, email, password_hash, created_at FROM profiles WHERE lower(email) = lower($1)",
        )
        .bind(email)
        .fetch_optional(pool)
        .await
    })?;
    Ok(row)
}

pub async fn find_by_id(db: &Db, id: DbUuid) -> Result<Option<ProfileRow>, DbError> {
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(
            "SELECT id, email, password_hash, created_at FROM profiles WHERE id = $1",
        )
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

/// The profile with `email`, made password-less if there is none, so that signing up later
/// claims it. Safe against a concurrent maker: the loser's insert does nothing (no unique
/// violation, which would abort a PostgreSQL transaction) and both read the one row.
pub async fn find_or_create_by_email(tx: &mut Tx, email: &str) -> Result<DbUuid, DbError> {
    let id = on_tx!(tx, conn => {
        sqlx::query("INSERT INTO profiles (id, email) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(DbUuid::new_v4())
            .bind(email)
            .execute(&mut *conn)
            .await?;
        sqlx::query_scalar::<_, DbUuid>("SELECT id FROM profiles WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_one(&mut *conn)
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
