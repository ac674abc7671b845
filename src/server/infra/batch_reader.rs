//! Answers many lookups with one read. A lookup that costs a round trip on its own (a query,
//! and the check sqlx makes when the connection goes back to the pool) costs the same round
//! trip for a batch, so lookups queue for one reader task, which answers whatever has queued up
//! meanwhile with a single read. A quiet site sees batches of one; under load a burst costs
//! one read.
//!
//! No answer is older than its lookup: a lookup is queued after its caller asked, and the read
//! that answers it starts after it was queued. What is read is handed in as a function, so this
//! knows nothing about what it reads.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

use tokio::sync::{mpsc, oneshot};

/// Keys read together at most.
pub const MAX_BATCH: usize = 64;
/// Lookups waiting for the reader; past this, a lookup waits to queue.
const QUEUE: usize = 1024;

struct Lookup<K, V> {
    key: K,
    reply: oneshot::Sender<Option<V>>,
}

/// The handle lookups queue on. Cloning it shares the reader.
pub struct BatchReader<K, V> {
    queue: mpsc::Sender<Lookup<K, V>>,
}

impl<K, V> Clone for BatchReader<K, V> {
    fn clone(&self) -> Self {
        BatchReader {
            queue: self.queue.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for BatchReader<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReader")
            .field("queued", &(QUEUE - self.queue.capacity()))
            .finish()
    }
}

/// The batch's read failed, or the reader has stopped: the caller asks on its own, so that it
/// gets the error itself and logs it with its own context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unanswered;

impl<K, V> BatchReader<K, V>
where
    K: Copy + Ord + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Starts the reader on the current runtime. `read` gets each batch's distinct keys, sorted,
    /// and answers with the values it found; a key it leaves out has no value.
    pub fn spawn<F, Fut, E: 'static>(read: F) -> BatchReader<K, V>
    where
        F: Fn(Vec<K>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<K, V>, E>> + Send + 'static,
    {
        let (queue, lookups) = mpsc::channel(QUEUE);
        tokio::spawn(run(read, lookups));
        BatchReader { queue }
    }

    /// The key's value, if it has one, read in the next batch.
    pub async fn get(&self, key: K) -> Result<Option<V>, Unanswered> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Lookup { key, reply })
            .await
            .map_err(|_| Unanswered)?;
        answer.await.map_err(|_| Unanswered)
    }
}

async fn run<K, V, F, Fut, E>(read: F, mut lookups: mpsc::Receiver<Lookup<K, V>>)
where
    K: Copy + Ord + Hash,
    V: Clone,
    F: Fn(Vec<K>) -> Fut,
    Fut: Future<Output = Result<HashMap<K, V>, E>>,
{
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while lookups.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut keys: Vec<K> = batch.iter().map(|l: &Lookup<K, V>| l.key).collect();
        keys.sort_unstable();
        keys.dedup();
        match read(keys).await {
            Ok(values) => {
                for lookup in batch.drain(..) {
                    // A caller that gave up waiting has nobody to tell.
                    let _ = lookup.reply.send(values.get(&lookup.key).cloned());
                }
            }
            // Dropping the replies tells every lookup of the batch to ask on its own.
            Err(_) => batch.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::sync::Semaphore;

    use super::*;

    #[derive(Default)]
    struct Seen {
        /// Reads started, counted before they wait at the gate.
        started: AtomicUsize,
        /// The keys of each read, in order.
        batches: Mutex<Vec<Vec<u32>>>,
    }

    /// A reader that answers `key * 10` for even keys and fails any batch holding 13, once
    /// `gate` lets it: holding the gate lets lookups pile up behind the read in progress.
    fn reader(seen: Arc<Seen>, gate: Arc<Semaphore>) -> BatchReader<u32, u32> {
        BatchReader::spawn(move |keys: Vec<u32>| {
            let seen = seen.clone();
            let gate = gate.clone();
            async move {
                seen.started.fetch_add(1, Ordering::SeqCst);
                gate.acquire().await.expect("gate open").forget();
                seen.batches.lock().unwrap().push(keys.clone());
                if keys.contains(&13) {
                    return Err("13 is unlucky");
                }
                Ok(keys
                    .into_iter()
                    .filter(|k| k % 2 == 0)
                    .map(|k| (k, k * 10))
                    .collect::<HashMap<_, _>>())
            }
        })
    }

    fn open() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(Semaphore::MAX_PERMITS))
    }

    #[tokio::test]
    async fn a_lone_lookup_is_answered_and_a_missing_key_has_no_value() {
        let seen = Arc::new(Seen::default());
        let reads = reader(seen.clone(), open());
        assert_eq!(reads.get(4).await, Ok(Some(40)));
        assert_eq!(reads.get(3).await, Ok(None));
        assert_eq!(*seen.batches.lock().unwrap(), vec![vec![4], vec![3]]);
    }

    #[tokio::test]
    async fn lookups_that_queue_meanwhile_share_one_read_of_distinct_sorted_keys() {
        let seen = Arc::new(Seen::default());
        let gate = Arc::new(Semaphore::new(0));
        let reads = reader(seen.clone(), gate.clone());
        let ask = |key: u32| {
            let reads = reads.clone();
            tokio::spawn(async move { reads.get(key).await })
        };
        // The first lookup's read waits at the gate; the others queue behind it.
        let first = ask(2);
        while seen.started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let waiting: Vec<_> = [8, 6, 8, 5].into_iter().map(ask).collect();
        while reads.queue.capacity() > QUEUE - 4 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(2);
        assert_eq!(first.await.unwrap(), Ok(Some(20)));
        let mut answers = Vec::new();
        for lookup in waiting {
            answers.push(lookup.await.unwrap());
        }
        assert_eq!(
            answers,
            [Ok(Some(80)), Ok(Some(60)), Ok(Some(80)), Ok(None)]
        );
        assert_eq!(*seen.batches.lock().unwrap(), vec![vec![2], vec![5, 6, 8]]);
    }

    #[tokio::test]
    async fn a_failed_read_leaves_its_batch_unanswered_and_the_next_is_read_again() {
        let reads = reader(Arc::new(Seen::default()), open());
        assert_eq!(reads.get(13).await, Err(Unanswered));
        assert_eq!(reads.get(12).await, Ok(Some(120)));
    }

    #[test]
    fn a_stopped_reader_leaves_lookups_unanswered() {
        let first = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let reads = first.block_on(async { reader(Arc::new(Seen::default()), open()) });
        // The reader runs on the runtime that started it, and stops with it.
        drop(first);
        let second = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(second.block_on(reads.get(2)), Err(Unanswered));
    }
}
