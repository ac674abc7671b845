//! Answers kept for a short time, so that a burst of the same question (a page reloaded in a
//! loop) asks a metered service once. Whoever asks while the first asker waits for the answer
//! waits with it: N requests arriving together cost one call, like N in a row. Only what the
//! caller hands back as `Ok` is kept; an error is not, and the next asker tries again.
//!
//! Bounded: past `max_entries`, the entries whose time is up go first, then the oldest, so a
//! flood of distinct keys costs memory up to the bound and no further.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

#[derive(Debug)]
struct Entry<V> {
    /// When the first asker arrived: the age of an answer still being fetched.
    asked: Instant,
    /// The answer and when it came; empty while the first asker waits, or after it failed.
    cell: Arc<OnceCell<(Instant, V)>>,
}

impl<V> Entry<V> {
    /// An answer older than `ttl` is stale; so is an ask that has had no answer for that long
    /// (its asker was cancelled or hangs): either way the next asker starts afresh.
    fn is_stale(&self, now: Instant, ttl: Duration) -> bool {
        let since = self.cell.get().map_or(self.asked, |(at, _)| *at);
        now.duration_since(since) >= ttl
    }
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        TtlCache {
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`: kept if younger than the TTL, else `fetch`ed (once, for everyone
    /// asking meanwhile) and kept if it is `Ok`.
    pub async fn get_or_fetch<E, F, Fut>(&self, key: K, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = self.cell(key);
        let (_, value) = cell
            .get_or_try_init(|| async { Ok((Instant::now(), fetch().await?)) })
            .await?;
        Ok(value.clone())
    }

    /// Forgets `key`'s answer: something changed that it did not see.
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        // Only a map of answers: a panic elsewhere while it was held leaves nothing half-done.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cell that holds (or will hold) `key`'s answer. The lock is held only here, never
    /// across the fetch.
    fn cell(&self, key: K) -> Arc<OnceCell<(Instant, V)>> {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.get(&key) {
            if !entry.is_stale(now, self.ttl) {
                return entry.cell.clone();
            }
        } else if entries.len() >= self.max_entries {
            self.make_room(&mut entries, now);
        }
        let cell = Arc::new(OnceCell::new());
        entries.insert(
            key,
            Entry {
                asked: now,
                cell: cell.clone(),
            },
        );
        cell
    }

    /// Drops the stale entries and, if that is not enough, the oldest, until a sixteenth of the
    /// bound is free (one pass pays for many inserts).
    fn make_room(&self, entries: &mut HashMap<K, Entry<V>>, now: Instant) {
        entries.retain(|_, e| !e.is_stale(now, self.ttl));
        let keep = self.max_entries - self.max_entries.div_ceil(16);
        if entries.len() <= keep {
            return;
        }
        let mut asked: Vec<Instant> = entries.values().map(|e| e.asked).collect();
        let excess = entries.len() - keep;
        let (_, cutoff, _) = asked.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        entries.retain(|_, e| e.asked > cutoff);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fetch that counts its calls and answers `answer`.
    async fn counted(
        calls: &AtomicUsize,
        answer: Result<u32, &'static str>,
    ) -> Result<u32, &'static str> {
        calls.fetch_add(1, Ordering::SeqCst);
        answer
    }

    #[tokio::test]
    async fn a_second_ask_within_the_ttl_is_answered_from_memory() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let calls = AtomicUsize::new(0);
        for _ in 0..100 {
            let got = cache.get_or_fetch("a", || counted(&calls, Ok(7))).await;
            assert_eq!(got, Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            cache.get_or_fetch("b", || counted(&calls, Ok(8))).await,
            Ok(8)
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "another key is its own answer"
        );
    }

    #[tokio::test]
    async fn an_answer_is_fetched_again_once_its_time_is_up_or_it_is_forgotten() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        let calls = AtomicUsize::new(0);
        cache
            .get_or_fetch("a", || counted(&calls, Ok(1)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(
            cache.get_or_fetch("a", || counted(&calls, Ok(2))).await,
            Ok(2)
        );
        cache.forget(&"a");
        assert_eq!(
            cache.get_or_fetch("a", || counted(&calls, Ok(3))).await,
            Ok(3)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_error_is_not_kept() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let calls = AtomicUsize::new(0);
        let failed = cache
            .get_or_fetch("a", || counted(&calls, Err("down")))
            .await;
        assert_eq!(failed, Err("down"));
        assert_eq!(
            cache.get_or_fetch("a", || counted(&calls, Ok(1))).await,
            Ok(1)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn askers_arriving_together_share_one_fetch() {
        let cache = Arc::new(TtlCache::new(Duration::from_secs(60), 10));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_fetch("a", || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok::<_, ()>(5)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(5));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_flood_of_distinct_keys_never_holds_more_than_the_bound() {
        let cache = TtlCache::new(Duration::from_secs(60), 100);
        let calls = AtomicUsize::new(0);
        for i in 0..5_000 {
            cache
                .get_or_fetch(i, || counted(&calls, Ok(i)))
                .await
                .unwrap();
            assert!(cache.len() <= 100);
        }
        // The newest are kept.
        cache
            .get_or_fetch(4_999, || counted(&calls, Ok(0)))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 5_000);
    }
}
