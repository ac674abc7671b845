//! `rate_limits`: the counters of `auth::limits` when several instances share one PostgreSQL.
//! Buckets are fixed windows on the database's clock, so instances whose clocks drift still
//! count into the same row.

use sqlx::PgPool;

/// The start of the bucket of `$3` seconds that `now()` falls in.
macro_rules! bucket {
    () => {
        "to_timestamp(floor(extract(epoch FROM now()) / $3::float8) * $3::float8)"
    };
}

/// Counts one hit on `key` in the current bucket, unless the bucket already holds `limit`.
/// The bucket's hits with this one when counted, `None` when not. One statement: the check and
/// the count cannot be split by another instance's hit.
pub async fn hit(
    pool: &PgPool,
    limiter: &str,
    key: &[u8],
    window_secs: f64,
    limit: i32,
) -> Result<Option<i32>, sqlx::Error> {
    let counted = sqlx::query_scalar::<_, i32>(concat!(
        "INSERT INTO rate_limits (limiter, key_hash, window_start, hits, expires_at) \
         SELECT $1, $2, b.start, 1, b.start + make_interval(secs => $3::float8) \
         FROM (SELECT ",
        bucket!(),
        " AS start) b \
         ON CONFLICT (limiter, key_hash, window_start) \
         DO UPDATE SET hits = rate_limits.hits + 1 WHERE rate_limits.hits < $4 \
         RETURNING hits"
    ))
    .bind(limiter)
    .bind(key)
    .bind(window_secs)
    .bind(limit)
    .fetch_optional(pool)
    .await?;
    Ok(counted)
}

/// Takes back one hit on `key` in the current bucket (none if the bucket has ended).
pub async fn refund(
    pool: &PgPool,
    limiter: &str,
    key: &[u8],
    window_secs: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE rate_limits SET hits = hits - 1 \
         WHERE limiter = $1 AND key_hash = $2 AND hits > 0 AND window_start = ",
        bucket!()
    ))
    .bind(limiter)
    .bind(key)
    .bind(window_secs)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes the buckets that have ended; how many.
pub async fn sweep(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM rate_limits WHERE expires_at <= now()")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
