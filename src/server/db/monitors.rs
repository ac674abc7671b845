//! `monitors`: the URLs a customer watches (the product's one resource this site manages).

use super::{on_pool, Db, DbError, DbUuid};

/// A user's monitors' URLs, oldest first.
pub async fn urls_for_user(db: &Db, user: DbUuid) -> Result<Vec<String>, DbError> {
    let urls = on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>(
            "SELECT url FROM monitors WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user)
        .fetch_all(pool)
        .await
    })?;
    Ok(urls)
}

/// Adds a monitor unless the user has `limit` already (counted in the same statement); true
/// when it was added.
pub async fn add_within(db: &Db, user: DbUuid, url: &str, limit: i64) -> Result<bool, DbError> {
    let added = on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO monitors (id, user_id, url) SELECT $1, $2, $3 \
             WHERE (SELECT COUNT(*) FROM monitors WHERE user_id = $2) < $4",
        )
        .bind(DbUuid::new_v4())
        .bind(user)
        .bind(url)
        .bind(limit)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0)
    })?;
    Ok(added)
}
