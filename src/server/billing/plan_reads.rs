//! Which plan a signed-in person has, read in batches. Every signed-in marketing page asks it,
//! and a query on its own costs two round trips to the database's connection (the query, and
//! the check sqlx makes when the connection goes back to the pool): `perf` showed those trips,
//! mostly threads waking each other, as about 40 % of a signed-in `/pricing`. So lookups go to
//! one reader, which answers whatever has queued up meanwhile with a single query. A quiet site
//! sees batches of one; under load a burst costs one query.
//!
//! No answer is older than its request: a lookup is queued after its request arrived, and the
//! query that answers it starts after it was queued.

use tokio::sync::{mpsc, oneshot};

use crate::server::db::{billing, Db, DbError, DbUuid};

/// People looked up by one query at most (one bind each).
const MAX_BATCH: usize = 64;
/// Lookups waiting for the reader; past this, a lookup waits to queue.
const QUEUE: usize = 1024;

struct Lookup {
    user: DbUuid,
    reply: oneshot::Sender<Option<String>>,
}

/// The handle lookups queue on.
#[derive(Clone, Debug)]
pub struct PlanReads {
    db: Db,
    queue: mpsc::Sender<Lookup>,
}

impl PlanReads {
    /// Starts the reader on the current runtime.
    pub fn spawn(db: Db) -> PlanReads {
        let (queue, lookups) = mpsc::channel(QUEUE);
        tokio::spawn(run(db.clone(), lookups));
        PlanReads { db, queue }
    }

    /// The price of the user's newest live subscription, if they have one.
    pub async fn live_price(&self, user: DbUuid) -> Result<Option<String>, DbError> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Lookup { user, reply }).await.is_ok() {
            if let Ok(price) = answer.await {
                return Ok(price);
            }
        }
        // The batch's query failed (or the reader stopped): asked alone, so that this request
        // gets the error itself and the caller logs it with its own context.
        let mut prices = billing::live_prices_for_users(&self.db, &[user]).await?;
        Ok(prices.remove(&user))
    }
}

async fn run(db: Db, mut lookups: mpsc::Receiver<Lookup>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while lookups.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut users: Vec<DbUuid> = batch.iter().map(|l| l.user).collect();
        users.sort_unstable();
        users.dedup();
        match billing::live_prices_for_users(&db, &users).await {
            Ok(prices) => {
                for lookup in batch.drain(..) {
                    // A request that gave up waiting has nobody to tell.
                    let _ = lookup.reply.send(prices.get(&lookup.user).cloned());
                }
            }
            // Dropping the replies sends every lookup of the batch to ask on its own.
            Err(_) => batch.clear(),
        }
    }
}
