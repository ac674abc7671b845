//! Group commit. Every caller prepares its job on its own task (a webhook delivery verifies and
//! reads Stripe), then hands it to one writer, which runs the `Step` for whatever has queued up
//! meanwhile in a single transaction and answers each caller only after that transaction
//! committed. Stripe sends bursts (a renewal run, a replay, a retry storm): a burst then costs
//! one `BEGIN`, one commit and one fsync instead of one each per event, and no delivery waits
//! for another's write lock.
//! Nothing is acknowledged before it is durable, and a quiet site sees batches of one.
//!
//! If any event of a batch fails, the batch is rolled back and every event in it is applied
//! again in a transaction of its own, so one bad event costs the others nothing but time and
//! gets its own error. If the database itself is down, every event of the batch is answered
//! with the error at once, for Stripe to retry.
//!
//! The writer knows nothing of what a job is: the step it runs is its parameter (`Step`), so
//! billing depends on this module and never the other way round.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, Notify};

use crate::server::db::{Db, Tx};
use crate::server::error::{Context, ServerError};

/// Jobs done in one transaction at most: bounds how long the write lock is held.
const MAX_BATCH: usize = 64;
/// Jobs waiting for the writer; past this, a caller waits to queue.
const QUEUE: usize = 1024;

/// What the writer does with each job, inside the batch's transaction.
pub trait Step: Send + Sync + 'static {
    type Job: Send + Sync + 'static;
    type Outcome: Send + 'static;

    /// The job's key for the recently-done set (an event's id).
    fn key(job: &Self::Job) -> &str;

    /// Does the job in `tx`. The flag says it queued work for the writer's `wake` (mail).
    fn run(
        &self,
        tx: &mut Tx,
        job: &Self::Job,
    ) -> impl Future<Output = Result<(Self::Outcome, bool), ServerError>> + Send;
}

struct Queued<S: Step> {
    job: S::Job,
    reply: oneshot::Sender<Result<S::Outcome, ServerError>>,
}

/// The handle callers queue their jobs on.
pub struct Writer<S: Step> {
    queue: mpsc::Sender<Queued<S>>,
    done: Arc<Mutex<RecentKeys>>,
}

impl<S: Step> Clone for Writer<S> {
    fn clone(&self) -> Self {
        Writer {
            queue: self.queue.clone(),
            done: self.done.clone(),
        }
    }
}

impl<S: Step> std::fmt::Debug for Writer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer { .. }")
    }
}

impl<S: Step> Writer<S> {
    /// Starts the writer on the current runtime. `wake` is told after every commit in which a
    /// step queued work (mail waiting to be sent).
    pub fn spawn(db: Db, step: S, wake: Arc<Notify>) -> Writer<S> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let done = Arc::new(Mutex::new(RecentKeys::default()));
        tokio::spawn(run(db, step, wake, done.clone(), jobs));
        Writer { queue, done }
    }

    /// Was a job with this key done by this process lately? A repeat then needs no work and no
    /// trip to the database. Only a shortcut: "no" proves nothing, and what the step does in
    /// the transaction decides.
    pub fn done_lately(&self, key: &str) -> bool {
        self.done.lock().is_ok_and(|keys| keys.contains(key))
    }

    /// Does one job and answers once its transaction is committed.
    pub async fn run(&self, job: S::Job) -> Result<S::Outcome, ServerError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ServerError::internal("group commit", "the writer has stopped".into());
        self.queue
            .send(Queued { job, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The keys of the last jobs this process did, oldest dropped first: only a shortcut for
/// repeats reaching the same instance. Several instances on one database each keep their own,
/// and what decides is the step's work in the database (for webhooks, the claim on the event's
/// id, so an event delivered to two instances at once is applied once: `tests/app/webhooks.rs`).
#[derive(Debug, Default)]
struct RecentKeys {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentKeys {
    /// Enough to catch a retry storm's redeliveries; ~40 bytes a key.
    const CAPACITY: usize = 4096;

    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: &str) {
        if self.set.contains(key) {
            return;
        }
        if self.order.len() == Self::CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(key.to_string());
        self.order.push_back(key.to_string());
    }
}

async fn run<S: Step>(
    db: Db,
    step: S,
    wake: Arc<Notify>,
    done: Arc<Mutex<RecentKeys>>,
    mut jobs: mpsc::Receiver<Queued<S>>,
) {
    let remember = |batch: &[Queued<S>]| {
        if let Ok(mut keys) = done.lock() {
            for queued in batch {
                keys.insert(S::key(&queued.job));
            }
        }
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut woke = false;
        match run_batch(&db, &step, &batch).await {
            Ok(ran) => {
                remember(&batch);
                woke = ran.wake;
                for (queued, outcome) in batch.drain(..).zip(ran.outcomes) {
                    // A caller that gave up waiting has nobody to tell; the job is done.
                    let _ = queued.reply.send(Ok(outcome));
                }
            }
            // One job, or a database that is down (each alone would wait for it again):
            // everyone gets the error, and tries again.
            Err(e) if batch.len() == 1 || e.is_database_down() => {
                tracing::warn!(jobs = batch.len(), error = %e, "group commit: batch failed");
                for queued in batch.drain(..) {
                    let _ = queued.reply.send(Err(ServerError::internal(
                        "group commit: batch",
                        e.to_string(),
                    )));
                }
            }
            Err(_) => {
                for queued in batch.drain(..) {
                    let alone = std::slice::from_ref(&queued);
                    let result = run_batch(&db, &step, alone).await.and_then(|ran| {
                        remember(alone);
                        woke |= ran.wake;
                        ran.outcomes.into_iter().next().ok_or_else(|| {
                            ServerError::internal("group commit", "a job gave no outcome".into())
                        })
                    });
                    let _ = queued.reply.send(result);
                }
            }
        }
        // Work queued by these jobs starts now rather than at its worker's next poll.
        if woke {
            wake.notify_one();
        }
    }
}

/// What a committed batch came to.
struct Ran<O> {
    outcomes: Vec<O>,
    /// Some step queued work.
    wake: bool,
}

/// Runs every job's step in one transaction; all or nothing.
async fn run_batch<S: Step>(
    db: &Db,
    step: &S,
    batch: &[Queued<S>],
) -> Result<Ran<S::Outcome>, ServerError> {
    let mut tx = db.begin().await.context("group commit: begin")?;
    let mut ran = Ran {
        outcomes: Vec::with_capacity(batch.len()),
        wake: false,
    };
    for queued in batch {
        match step.run(&mut tx, &queued.job).await {
            Ok((outcome, wake)) => {
                ran.outcomes.push(outcome);
                ran.wake |= wake;
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
    }
    tx.commit().await.context("group commit: commit")?;
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::DatabaseUrl;
    use crate::server::db::events::{self, NewEvent};
    use std::time::Duration;

    /// A step that claims its key in the event log (a real write in the batch's transaction)
    /// and fails for keys starting with `bad`, after writing.
    struct Claim;

    fn event(key: &str) -> NewEvent<'_> {
        NewEvent {
            id: key,
            type_: "test",
            stripe_created: 1,
            livemode: false,
            payload: "{}",
        }
    }

    impl Step for Claim {
        type Job = String;
        type Outcome = bool;

        fn key(job: &String) -> &str {
            job
        }

        async fn run(&self, tx: &mut Tx, job: &String) -> Result<(bool, bool), ServerError> {
            let claimed = events::claim(tx, &event(job), None, None)
                .await
                .context("test: claim")?;
            if job.starts_with("bad") {
                return Err(ServerError::internal("test", format!("{job} fails")));
            }
            Ok((claimed, job.starts_with("mail")))
        }
    }

    async fn database() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        let db = Db::connect(&DatabaseUrl::Sqlite(url)).await.unwrap();
        db.migrate().await.unwrap();
        (db, dir)
    }

    /// Is the key's claim committed? A claim of an applied event is refused.
    async fn committed(db: &Db, key: &str) -> bool {
        let mut tx = db.begin().await.unwrap();
        let claimed = events::claim(&mut tx, &event(key), None, None)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        !claimed
    }

    #[tokio::test]
    async fn jobs_queued_together_each_get_their_own_answer_and_a_bad_one_costs_the_others_nothing()
    {
        let (db, _dir) = database().await;
        let wake = Arc::new(Notify::new());
        let writer = Writer::spawn(db.clone(), Claim, wake.clone());
        let keys = ["a", "b", "bad-1", "c", "mail-d", "bad-2", "e"];
        // Queued at once, so the writer finds several waiting and takes them as one batch.
        let handles: Vec<_> = keys
            .iter()
            .map(|k| {
                let (writer, key) = (writer.clone(), k.to_string());
                tokio::spawn(async move { writer.run(key).await })
            })
            .collect();
        let mut answers = Vec::new();
        for handle in handles {
            answers.push(handle.await.unwrap());
        }
        for (key, answer) in keys.iter().zip(&answers) {
            if key.starts_with("bad") {
                assert!(answer.is_err(), "{key} must fail");
                assert!(!writer.done_lately(key));
                assert!(
                    !committed(&db, key).await,
                    "{key}'s write must be rolled back"
                );
            } else {
                assert_eq!(answer.as_ref().ok(), Some(&true), "{key} is claimed once");
                assert!(writer.done_lately(key));
                assert!(committed(&db, key).await, "{key} must be committed");
            }
        }
        // mail-d asked for the wake.
        tokio::time::timeout(Duration::from_secs(1), wake.notified())
            .await
            .expect("the writer wakes the mail sender after a commit that queued mail");
    }

    #[tokio::test]
    async fn a_repeated_job_is_answered_by_what_the_step_finds_in_the_database() {
        let (db, _dir) = database().await;
        let writer = Writer::spawn(db.clone(), Claim, Arc::new(Notify::new()));
        assert!(!writer.done_lately("x"));
        assert!(writer.run("x".to_string()).await.unwrap());
        assert!(writer.done_lately("x"));
        // The step decides, not the shortcut: the second claim finds the first.
        assert!(!writer.run("x".to_string()).await.unwrap());
    }

    #[test]
    fn the_recent_keys_forget_the_oldest_past_their_capacity() {
        let mut keys = RecentKeys::default();
        for i in 0..=RecentKeys::CAPACITY {
            keys.insert(&format!("k{i}"));
        }
        assert!(!keys.contains("k0"));
        assert!(keys.contains("k1"));
        assert!(keys.contains(&format!("k{}", RecentKeys::CAPACITY)));
        keys.insert("k1");
        assert_eq!(keys.order.len(), RecentKeys::CAPACITY);
    }
}
