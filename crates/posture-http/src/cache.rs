use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use posture_core::{Decision, ProviderError};

/// How long a fetched answer may be reused.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum CacheClass {
    /// A positive answer (the device was found and allowed): kept for the positive TTL.
    Positive,
    /// A negative answer (not found, or denied): kept for the negative TTL, usually shorter
    /// so a device just enrolled or just made compliant is seen quickly.
    Negative,
    /// Not kept at all (only shared with concurrent callers of the same key).
    Uncached,
}

impl CacheClass {
    /// [`Positive`](Self::Positive) for a positive answer, else [`Negative`](Self::Negative).
    ///
    /// ```
    /// use posture_http::CacheClass;
    /// assert_eq!(CacheClass::positive_if(true), CacheClass::Positive);
    /// assert_eq!(CacheClass::positive_if(false), CacheClass::Negative);
    /// ```
    pub fn positive_if(positive: bool) -> Self {
        if positive {
            Self::Positive
        } else {
            Self::Negative
        }
    }
}

/// The TTLs and size of a [`LookupCache`].
///
/// ```
/// use std::time::Duration;
/// use posture_http::CacheConfig;
/// let config = CacheConfig::new(Duration::from_secs(60), Duration::from_secs(10));
/// assert!(config.is_enabled());
/// assert!(!CacheConfig::disabled().is_enabled());
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// How long positive answers are kept; zero keeps none.
    pub positive_ttl: Duration,
    /// How long negative answers are kept; zero keeps none.
    pub negative_ttl: Duration,
    /// How many entries at most; the least recently used go first.
    pub max_entries: u64,
}

impl CacheConfig {
    /// TTLs for positive and negative answers, and at most 10 000 entries.
    pub const fn new(positive_ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            positive_ttl,
            negative_ttl,
            max_entries: 10_000,
        }
    }

    /// Keeps nothing; concurrent lookups of one key are still coalesced.
    pub const fn disabled() -> Self {
        Self::new(Duration::ZERO, Duration::ZERO)
    }

    /// Sets the maximum number of entries.
    #[must_use]
    pub const fn with_max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Whether any answer is kept.
    pub fn is_enabled(&self) -> bool {
        !self.positive_ttl.is_zero() || !self.negative_ttl.is_zero()
    }

    fn ttl(&self, class: CacheClass) -> Duration {
        match class {
            CacheClass::Positive => self.positive_ttl,
            CacheClass::Negative => self.negative_ttl,
            CacheClass::Uncached => Duration::ZERO,
        }
    }
}

/// Counters kept by a [`LookupCache`], for metrics.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from a stored entry.
    pub hits: u64,
    /// Lookups that ran the upstream fetch.
    pub misses: u64,
    /// Lookups that waited for a concurrent fetch of the same key and shared its result.
    pub coalesced: u64,
    /// Upstream fetches that failed (never stored).
    pub errors: u64,
    /// Entries currently held (approximate; expired entries linger until cleanup).
    pub entries: u64,
}

/// A cache of upstream answers with per-entry TTLs and single-flight fetching.
///
/// - Positive and negative answers have separate TTLs ([`CacheConfig`]); a TTL of zero keeps
///   no answer of that class.
/// - Concurrent lookups of the same key run one fetch and share its result.
/// - Errors are never stored: each later lookup fetches again. Callers that were waiting
///   for the failed fetch receive a copy of its error.
///
/// ```
/// use std::time::Duration;
/// use posture_http::{CacheClass, CacheConfig, LookupCache};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), posture_core::ProviderError> {
/// let cache: LookupCache<String, u32> =
///     LookupCache::new(CacheConfig::new(Duration::from_secs(60), Duration::from_secs(10)));
/// let answer = cache
///     .get_or_fetch("C02XL0GJJG5J".to_owned(), async { Ok((7, CacheClass::Positive)) })
///     .await?;
/// assert_eq!(answer, 7);
/// let again = cache
///     .get_or_fetch("C02XL0GJJG5J".to_owned(), async { Ok((8, CacheClass::Positive)) })
///     .await?;
/// assert_eq!(again, 7); // served from the cache
/// assert_eq!(cache.stats().hits, 1);
/// # Ok(())
/// # }
/// ```
pub struct LookupCache<K, V> {
    config: CacheConfig,
    inner: moka::future::Cache<K, Stored<V>>,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    errors: AtomicU64,
}

#[derive(Clone)]
struct Stored<V> {
    value: V,
    class: CacheClass,
}

struct PerEntryTtl(CacheConfig);

impl<K, V> moka::Expiry<K, Stored<V>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &Stored<V>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(self.0.ttl(value.class))
    }
}

impl<K, V> LookupCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        let inner = moka::future::Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(PerEntryTtl(config))
            .build();
        Self {
            config,
            inner,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Returns the stored answer for `key`, or runs `fetch` (once, however many callers ask
    /// for `key` at the same time) and stores its answer for the TTL of its [`CacheClass`].
    ///
    /// `fetch` is only polled on a miss. An `Err` is returned to every caller that shared
    /// the fetch and stored for none.
    pub async fn get_or_fetch<F>(&self, key: K, fetch: F) -> Result<V, ProviderError>
    where
        F: Future<Output = Result<(V, CacheClass), ProviderError>>,
    {
        if let Some(stored) = self.inner.get(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(stored.value);
        }
        let ran = AtomicBool::new(false);
        let result = self
            .inner
            .try_get_with(key, async {
                ran.store(true, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                match fetch.await {
                    Ok((value, class)) => Ok(Stored { value, class }),
                    Err(err) => {
                        self.errors.fetch_add(1, Ordering::Relaxed);
                        Err(err)
                    }
                }
            })
            .await;
        if !ran.load(Ordering::Relaxed) {
            self.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        match result {
            Ok(stored) => Ok(stored.value),
            Err(shared) => Err(unshare(shared)),
        }
    }

    /// Removes the answer for `key`.
    pub async fn invalidate(&self, key: &K) {
        self.inner.invalidate(key).await;
    }

    /// Removes every answer.
    pub fn clear(&self) {
        self.inner.invalidate_all();
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            entries: self.inner.entry_count(),
        }
    }
}

impl<K> LookupCache<K, Decision>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    /// A provider's decision for `key`: the stored one, or the one `fetch` makes, run once
    /// for all concurrent callers under `timeout` (past it, [`timed_out`](crate::timed_out)
    /// for `service`). Allows are kept for the positive TTL, denies for the negative one;
    /// errors are never kept.
    ///
    /// `fetch` makes its future only on a miss, and that future lives on the heap: a
    /// provider's request state is large, a miss costs a network request anyway, and
    /// nesting it in the cache's own future would deepen every caller's stack.
    pub async fn decide<F, Fut>(
        &self,
        key: K,
        service: &str,
        timeout: Duration,
        fetch: F,
    ) -> Result<Decision, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Decision, ProviderError>>,
    {
        self.get_or_fetch(key, async {
            let decision = tokio::time::timeout(timeout, Box::pin(fetch()))
                .await
                .map_err(|_| crate::timed_out(service, timeout))??;
            let class = CacheClass::positive_if(decision.is_allowed());
            Ok((decision, class))
        })
        .await
    }
}

impl<K, V> fmt::Debug for LookupCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookupCache")
            .field("config", &self.config)
            .field("entries", &self.inner.entry_count())
            .finish_non_exhaustive()
    }
}

/// Gets an owned error back from moka's shared one: the original when this caller was the
/// only holder, otherwise a copy with the same kind, message and `Retry-After`, whose source
/// is the original's source.
fn unshare(shared: Arc<ProviderError>) -> ProviderError {
    Arc::try_unwrap(shared).unwrap_or_else(|shared| copy_error(&shared))
}

/// A copy of a shared error with the same kind, message and `Retry-After`, whose source
/// chain is the original's (so [`find_cause`] still finds what the original carried).
pub(crate) fn copy_error(shared: &Arc<ProviderError>) -> ProviderError {
    let message = shared.message().to_owned();
    ProviderError::reworded(Arc::clone(shared), message)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::sync::atomic::AtomicUsize;

    use crate::find_cause;
    use crate::testing::{assert_transient, concurrently};

    use super::*;

    fn cache(positive_ms: u64, negative_ms: u64) -> Arc<LookupCache<String, String>> {
        Arc::new(LookupCache::new(CacheConfig::new(
            Duration::from_millis(positive_ms),
            Duration::from_millis(negative_ms),
        )))
    }

    /// [`fetch_counted`], which must succeed.
    async fn fetch_ok(
        cache: &LookupCache<String, String>,
        key: &str,
        class: CacheClass,
        count: &AtomicUsize,
    ) -> String {
        fetch_counted(cache, key, class, count).await.unwrap()
    }

    async fn fetch_counted(
        cache: &LookupCache<String, String>,
        key: &str,
        class: CacheClass,
        count: &AtomicUsize,
    ) -> Result<String, ProviderError> {
        cache
            .get_or_fetch(key.to_owned(), async {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok((format!("answer-{n}"), class))
            })
            .await
    }

    #[tokio::test]
    async fn positive_and_negative_ttls_are_separate() {
        let cache = cache(60_000, 400);
        let count = AtomicUsize::new(0);
        fetch_ok(&cache, "found", CacheClass::Positive, &count).await;
        fetch_ok(&cache, "missing", CacheClass::Negative, &count).await;
        fetch_ok(&cache, "found", CacheClass::Positive, &count).await;
        fetch_ok(&cache, "missing", CacheClass::Negative, &count).await;
        assert_eq!(count.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(600)).await;
        fetch_ok(&cache, "found", CacheClass::Positive, &count).await;
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "positive entry still fresh"
        );
        let again = fetch_ok(&cache, "missing", CacheClass::Negative, &count).await;
        assert_eq!(again, "answer-3", "negative entry expired");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (3, 3));
    }

    #[tokio::test]
    async fn zero_ttl_keeps_nothing() {
        let cache = cache(0, 0);
        assert!(!cache.config().is_enabled());
        let count = AtomicUsize::new(0);
        for _ in 0..3 {
            fetch_ok(&cache, "k", CacheClass::Positive, &count).await;
        }
        assert_eq!(count.load(Ordering::SeqCst), 3);
        let uncached = self::cache(60_000, 60_000);
        fetch_ok(&uncached, "k", CacheClass::Uncached, &count).await;
        fetch_ok(&uncached, "k", CacheClass::Uncached, &count).await;
        assert_eq!(count.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_of_one_key_are_coalesced() {
        for cache in [cache(60_000, 60_000), cache(0, 0)] {
            let count = Arc::new(AtomicUsize::new(0));
            let results = concurrently(50, || {
                let (cache, count) = (cache.clone(), count.clone());
                async move { fetch_counted(&cache, "same", CacheClass::Positive, &count).await }
            })
            .await;
            for result in results {
                assert_eq!(result.unwrap(), "answer-1");
            }
            assert_eq!(count.load(Ordering::SeqCst), 1);
            let stats = cache.stats();
            assert_eq!(stats.misses, 1);
            assert_eq!(stats.hits + stats.coalesced, 49);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_are_shared_but_never_stored() {
        let cache = cache(60_000, 60_000);
        let count = Arc::new(AtomicUsize::new(0));
        let results = concurrently(10, || {
            let (cache, count) = (cache.clone(), count.clone());
            async move {
                cache
                    .get_or_fetch("k".to_owned(), async move {
                        count.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Err(ProviderError::transient("upstream 503")
                            .with_retry_after(Duration::from_secs(1))
                            .with_source(std::io::Error::other("reset")))
                    })
                    .await
            }
        })
        .await;
        for result in results {
            let err = result.unwrap_err();
            assert_transient(&err, "upstream 503", Duration::from_secs(1));
            assert_eq!(
                err.source().map(ToString::to_string).as_deref(),
                Some("reset")
            );
            // Every caller, the one that fetched and the copies, can find the cause by type.
            let cause = find_cause::<std::io::Error>(&err).map(ToString::to_string);
            assert_eq!(cause.as_deref(), Some("reset"));
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let value = fetch_ok(&cache, "k", CacheClass::Positive, &count).await;
        assert_eq!(value, "answer-2");
        assert_eq!(cache.stats().errors, 1);
    }
}
