//! `email_outbox`: mail written in the transaction of the event that causes it, sent later.
//! One row per cause (`dedupe_key`), so a redelivered event never queues a second mail; a
//! sender claims a row with a lease before sending, so two senders never send the same row.

use chrono::{DateTime, Utc};

use super::{on_pool, on_tx, Db, DbError, DbUuid, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail<'a> {
    pub dedupe_key: &'a str,
    pub to_email: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// Holds a one-time link: never logged, and blanked once sent.
    pub sensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailRow {
    pub id: DbUuid,
    pub dedupe_key: String,
    pub to_email: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
    pub refusals: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sensitive: bool,
}

const COLUMNS: &str =
    "id, dedupe_key, to_email, subject, body, attempts, refusals, sent_at, last_error, sensitive";

/// Queues a mail unless one with the same cause is queued already. True when queued now.
pub async fn enqueue(tx: &mut Tx, m: &NewMail<'_>) -> Result<bool, DbError> {
    let inserted = on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO email_outbox (id, dedupe_key, to_email, subject, body, sensitive) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(DbUuid::new_v4())
        .bind(m.dedupe_key)
        .bind(m.to_email)
        .bind(m.subject)
        .bind(m.body)
        .bind(m.sensitive)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
    })?;
    Ok(inserted)
}

/// Takes the oldest unsent mail that is due, leasing it until `lease_until` (a sender that dies
/// mid-send leaves it to be taken again then). `None` when nothing is due. A mail the mail
/// server has refused `max_refusals` times is left for an operator.
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    max_refusals: i32,
) -> Result<Option<MailRow>, DbError> {
    let due =
        "sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= $2) AND refusals < $3";
    // The condition is checked again in the UPDATE: of two senders that picked the same row,
    // only the first to lock it gets it.
    let sql = format!(
        "UPDATE email_outbox SET next_attempt_at = $1, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM email_outbox WHERE {due} ORDER BY created_at, id LIMIT 1) AND {due} \
         RETURNING {COLUMNS}"
    );
    let row = on_pool!(db, pool => {
        sqlx::query_as::<_, MailRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(lease_until)
            .bind(now)
            .bind(max_refusals)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row)
}

/// Marks a mail sent; a sensitive one's body (its one-time link) is not kept.
pub async fn mark_sent(db: &Db, id: DbUuid) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE email_outbox SET sent_at = $1, last_error = NULL, \
             body = CASE WHEN sensitive THEN '' ELSE body END WHERE id = $2",
        )
            .bind(Utc::now())
            .bind(id)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Gives back a claimed mail that was not sent (its sender was stopped mid-send): due at once,
/// for whichever sender claims it next, rather than when its lease ends.
pub async fn release(db: &Db, id: DbUuid) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE email_outbox SET next_attempt_at = NULL WHERE id = $1 AND sent_at IS NULL")
            .bind(id)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Records a failed send; the mail is tried again from `retry_at`. `refused`: the mail server
/// refused this mail for good (counts towards giving up at `max_refusals`, when a sensitive
/// mail's body, its one-time link, is blanked: it will never be sent), rather than being out of
/// reach.
pub async fn mark_failed(
    db: &Db,
    id: DbUuid,
    error: &str,
    retry_at: DateTime<Utc>,
    refused: bool,
    max_refusals: i32,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE email_outbox SET last_error = $1, next_attempt_at = $2, refusals = refusals + $3, \
             body = CASE WHEN sensitive AND refusals + $3 >= $5 THEN '' ELSE body END \
             WHERE id = $4",
        )
            .bind(error)
            .bind(retry_at)
            .bind(i32::from(refused))
            .bind(id)
            .bind(max_refusals)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// Gives up the unsent mails holding a one-time link queued before `cutoff` (their links have
/// expired, so sending them would help nobody): the body is blanked and the mail counted as
/// refused `max_refusals` times, so no sender takes it. How many.
pub async fn abandon_expired_links(
    db: &Db,
    cutoff: DateTime<Utc>,
    max_refusals: i32,
) -> Result<u64, DbError> {
    let n = on_pool!(db, pool => {
        sqlx::query(
            "UPDATE email_outbox SET body = '', refusals = $2, \
             last_error = 'not sent before its link expired' \
             WHERE sensitive AND sent_at IS NULL AND created_at < $1 AND refusals < $2",
        )
        .bind(cutoff)
        .bind(max_refusals)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// Every queued mail, oldest first (tests and operators).
pub async fn all(db: &Db) -> Result<Vec<MailRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM email_outbox ORDER BY created_at, id");
    let rows = on_pool!(db, pool => {
        sqlx::query_as::<_, MailRow>(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(pool)
            .await
    })?;
    Ok(rows)
}

/// Mail not sent yet, and when the oldest of it was queued (for `/metrics`).
pub async fn backlog(db: &Db) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
    let backlog = on_pool!(db, pool => {
        sqlx::query_as::<_, (i64, Option<DateTime<Utc>>)>(
            "SELECT COUNT(*), MIN(created_at) FROM email_outbox WHERE sent_at IS NULL",
        )
        .fetch_one(pool)
        .await
    })?;
    Ok(backlog)
}
