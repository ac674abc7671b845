//! Which plan a signed-in person has, read in batches. Every signed-in marketing page asks it,
//! and a query on its own costs two round trips to the database's connection (the query, and
//! the check sqlx makes when the connection goes back to the pool): `perf` showed those trips,
//! mostly threads waking each other, as about 40 % of a signed-in `/pricing`. So lookups go
//! through a `BatchReader`, which answers whatever has queued up meanwhile with one query.

use crate::server::db::{billing, Db, DbError, DbUuid};
use crate::server::infra::batch_reader::BatchReader;

/// The handle lookups queue on.
#[derive(Clone, Debug)]
pub struct PlanReads {
    db: Db,
    reader: BatchReader<DbUuid, String>,
}

impl PlanReads {
    /// Starts the reader on the current runtime.
    pub fn spawn(db: Db) -> PlanReads {
        let reading = db.clone();
        let reader = BatchReader::spawn(move |users: Vec<DbUuid>| {
            let db = reading.clone();
            async move { billing::live_prices_for_users(&db, &users).await }
        });
        PlanReads { db, reader }
    }

    /// The price of the user's newest live subscription, if they have one.
    pub async fn live_price(&self, user: DbUuid) -> Result<Option<String>, DbError> {
        if let Ok(price) = self.reader.get(user).await {
            return Ok(price);
        }
        // The batch's query failed (or the reader stopped): asked alone, so that this request
        // gets the error itself and the caller logs it with its own context.
        let mut prices = billing::live_prices_for_users(&self.db, &[user]).await?;
        Ok(prices.remove(&user))
    }
}
