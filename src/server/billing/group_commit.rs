//! Group commit for webhooks. Every delivery verifies and reads Stripe on its own task, then hands
//! what it read to one writer, which applies whatever has queued up meanwhile in a single
//! transaction and answers each delivery only after that transaction committed. Stripe sends
//! bursts (a renewal run, a replay, a retry storm): a burst then costs one `BEGIN`, one commit
//! and one fsync instead of one each per event, and no delivery waits for another's write lock.
//! Nothing is acknowledged before it is durable, and a quiet site sees batches of one.
//!
//! If any event of a batch fails, the batch is rolled back and every event in it is applied
//! again in a transaction of its own, so one bad event costs the others nothing but time and
//! gets its own error. If the database itself is down, every event of the batch is answered
//! with the error at once, for Stripe to retry.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, Notify};

use super::webhook::{apply_claimed, Fresh, MailContext, Outcome};
use crate::server::db::events::{self, NewEvent};
use crate::server::db::{Db, Tx};
use crate::server::error::{Context, ServerError};

/// Events applied in one transaction at most: bounds how long the write lock is held.
const MAX_BATCH: usize = 64;
/// Deliveries waiting for the writer; past this, a delivery waits to queue.
const QUEUE: usize = 1024;

/// An event as the log keeps it, owned so it can wait in the queue.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: String,
    pub type_: String,
    pub stripe_created: i64,
    pub livemode: bool,
    pub payload: String,
}

impl EventRecord {
    pub fn as_new(&self) -> NewEvent<'_> {
        NewEvent {
            id: &self.id,
            type_: &self.type_,
            stripe_created: self.stripe_created,
            livemode: self.livemode,
            payload: &self.payload,
        }
    }
}

struct Job {
    record: EventRecord,
    fresh: Fresh,
    reply: oneshot::Sender<Result<Outcome, ServerError>>,
}

/// The handle deliveries queue their events on.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    applied: Arc<Mutex<RecentIds>>,
}

impl Writer {
    /// Starts the writer on the current runtime. `mail` says where mails link to and who the
    /// operators are; `mail_wake` is told after every commit that queued mail may be waiting.
    pub fn spawn(db: Db, mail: MailContext, mail_wake: Arc<Notify>) -> Writer {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let applied = Arc::new(Mutex::new(RecentIds::default()));
        tokio::spawn(run(db, mail, mail_wake, applied.clone(), jobs));
        Writer { queue, applied }
    }

    /// Was this event applied by this process lately? A redelivery then needs no read from
    /// Stripe and no trip to the database. Only a shortcut: "no" proves nothing, and the claim
    /// in the applying transaction decides.
    pub fn applied_lately(&self, id: &str) -> bool {
        self.applied.lock().is_ok_and(|ids| ids.contains(id))
    }

    /// Applies one event (claimed, stored, its mail queued) and answers once it is committed.
    pub async fn apply(&self, record: EventRecord, fresh: Fresh) -> Result<Outcome, ServerError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            record,
            fresh,
            reply,
        };
        let stopped = || ServerError::internal("webhook", "the webhook writer has stopped".into());
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The ids of the last events this process applied (or found applied), oldest dropped first:
/// only a shortcut for redeliveries to the same instance. Several instances on one database each
/// keep their own, and what decides is the database's claim on the event's id, so an event
/// delivered to two instances at once is applied once (tested in `tests/app/webhooks.rs`).
#[derive(Debug, Default)]
struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// Enough to catch a retry storm's redeliveries; ~40 bytes an id.
    const CAPACITY: usize = 4096;

    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: &str) {
        if self.set.contains(id) {
            return;
        }
        if self.order.len() == Self::CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
    }
}

async fn run(
    db: Db,
    mail: MailContext,
    mail_wake: Arc<Notify>,
    applied: Arc<Mutex<RecentIds>>,
    mut jobs: mpsc::Receiver<Job>,
) {
    let remember = |jobs: &[Job]| {
        if let Ok(mut ids) = applied.lock() {
            for job in jobs {
                ids.insert(&job.record.id);
            }
        }
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut mailed = false;
        match apply_batch(&db, &mail, &batch).await {
            Ok(done) => {
                remember(&batch);
                mailed = done.mailed;
                for (job, outcome) in batch.drain(..).zip(done.outcomes) {
                    // A delivery that gave up waiting has nobody to tell; the event is applied.
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // One event, or a database that is down (each alone would wait for it again):
            // everyone gets the error, and Stripe retries.
            Err(e) if batch.len() == 1 || e.is_database_down() => {
                tracing::warn!(events = batch.len(), error = %e, "webhook batch failed");
                for job in batch.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(ServerError::internal("webhook: batch", e.to_string())));
                }
            }
            Err(_) => {
                for job in batch.drain(..) {
                    let alone = std::slice::from_ref(&job);
                    let result = apply_batch(&db, &mail, alone).await.map(|done| {
                        remember(alone);
                        mailed |= done.mailed;
                        done.outcomes
                            .into_iter()
                            .next()
                            .unwrap_or(Outcome::Recorded)
                    });
                    let _ = job.reply.send(result);
                }
            }
        }
        // Mail queued by these events goes out now rather than at the sender's next poll.
        if mailed {
            mail_wake.notify_one();
        }
    }
}

/// What a committed batch came to.
#[derive(Debug, Default)]
struct Batch {
    outcomes: Vec<Outcome>,
    /// Some event queued mail.
    mailed: bool,
}

/// Claims and applies every job's event in one transaction; all or nothing.
async fn apply_batch(db: &Db, mail: &MailContext, batch: &[Job]) -> Result<Batch, ServerError> {
    let mut tx = db.begin().await.context("webhook: begin")?;
    match apply_each(&mut tx, mail, batch).await {
        Ok(done) => {
            tx.commit().await.context("webhook: commit")?;
            Ok(done)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn apply_each(tx: &mut Tx, mail: &MailContext, batch: &[Job]) -> Result<Batch, ServerError> {
    let mut done = Batch::default();
    for job in batch {
        // Known before the transaction, so the claim records it in the same statement.
        let claimed = events::claim(tx, &job.record.as_new(), job.fresh.note())
            .await
            .context("webhook: claim")?;
        let outcome = if claimed {
            let applied = apply_claimed(tx, mail, &job.record.type_, &job.fresh).await?;
            done.mailed |= applied.mailed;
            applied.outcome
        } else {
            // Applied already: by an earlier batch, another process, or a copy of the same
            // event earlier in this batch.
            Outcome::Duplicate
        };
        done.outcomes.push(outcome);
    }
    Ok(done)
}
