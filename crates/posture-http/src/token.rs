use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use posture_core::{ErrorKind, ProviderError};
use tokio::time::Instant;

use crate::Secret;

/// A bearer token handed out by a [`TokenCache`].
///
/// Cloning is cheap. `Debug` never shows the token ([`Secret`] redacts it).
#[derive(Clone, Debug)]
pub struct AccessToken {
    value: Arc<Secret>,
    generation: u64,
}

impl AccessToken {
    /// The token text, for an `Authorization: Bearer` header. Never log it.
    pub fn secret(&self) -> &str {
        self.value.expose()
    }

    /// Which fetch produced the token (1 for the first). Passed back to
    /// [`TokenCache::invalidate`] so a late 401 can't discard a newer token.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// What a token endpoint returned: the token and how long it lives. `Debug` never shows
/// the token.
#[derive(Clone, Debug)]
pub struct FetchedToken {
    value: Secret,
    lifetime: Duration,
}

impl FetchedToken {
    /// A token valid for `lifetime` from when the fetch started.
    pub fn new(value: impl Into<String>, lifetime: Duration) -> Self {
        Self {
            value: Secret::new(value),
            lifetime,
        }
    }

    /// How long the token lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

/// Counters kept by a [`TokenCache`], for metrics.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct TokenStats {
    /// Token requests made (successful or not).
    pub fetches: u64,
    /// Token requests that failed.
    pub failures: u64,
    /// Tokens discarded through [`TokenCache::invalidate`] (after a 401).
    pub invalidations: u64,
    /// Callers that waited for a fetch that failed and got its error instead of fetching
    /// again.
    pub shared_failures: u64,
}

/// A single-flight cache for one OAuth-style bearer token.
///
/// - A token is renewed before it expires: when less than the margin is left, or half its
///   lifetime for tokens shorter than twice the margin.
/// - Any number of concurrent callers that find no valid token cause exactly one fetch; the
///   others wait for it and share its token, or its error.
/// - [`invalidate`](Self::invalidate) drops the token after the backend refused it (a 401),
///   but only if no newer token has replaced it meanwhile.
///
/// ```
/// use std::time::Duration;
/// use posture_http::{FetchedToken, TokenCache};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), posture_core::ProviderError> {
/// let cache = TokenCache::new(Duration::from_secs(30));
/// let fetch = || async { Ok(FetchedToken::new("eyJhbGciOi", Duration::from_secs(600))) };
/// let first = cache.get(fetch).await?;
/// let second = cache.get(fetch).await?; // served from the cache
/// assert_eq!(first.generation(), second.generation());
/// assert_eq!(cache.stats().fetches, 1);
///
/// cache.invalidate(&second); // the backend answered 401
/// let third = cache.get(fetch).await?;
/// assert_eq!(third.generation(), 2);
/// # Ok(())
/// # }
/// ```
pub struct TokenCache {
    margin: Duration,
    current: Mutex<Option<Entry>>,
    refresh: tokio::sync::Mutex<Attempts>,
    attempts_finished: AtomicU64,
    generation: AtomicU64,
    fetches: AtomicU64,
    failures: AtomicU64,
    invalidations: AtomicU64,
    shared_failures: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    token: AccessToken,
    renew_at: Instant,
}

#[derive(Default)]
struct Attempts {
    finished: u64,
    last_failure: Option<Failure>,
}

#[derive(Clone)]
struct Failure {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn of(err: &ProviderError) -> Self {
        Self {
            kind: err.kind(),
            message: err.message().to_owned(),
            retry_after: err.retry_after(),
        }
    }

    fn to_error(&self) -> ProviderError {
        let err = ProviderError::new(self.kind, self.message.clone());
        match self.retry_after {
            Some(delay) => err.with_retry_after(delay),
            None => err,
        }
    }
}

impl TokenCache {
    /// A cache that renews tokens `margin` before they expire.
    pub fn new(margin: Duration) -> Self {
        Self {
            margin,
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(Attempts::default()),
            attempts_finished: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            shared_failures: AtomicU64::new(0),
        }
    }

    /// The renewal margin.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// Returns the cached token if it is still fresh; otherwise fetches one with `fetch`,
    /// making sure concurrent callers share a single fetch.
    ///
    /// If the fetch fails, the callers that were waiting for it get a copy of its error
    /// (same kind, message and `Retry-After`, without the source chain) instead of each
    /// trying again. If the fetching caller is cancelled, the next waiter fetches.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<AccessToken, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, ProviderError>>,
    {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        // Fetches that finished before we queued can't be ours to share; one that finishes
        // while we wait is.
        let seen = self.attempts_finished.load(Ordering::Acquire);
        let mut attempts = self.refresh.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        if attempts.finished != seen
            && let Some(failure) = &attempts.last_failure
        {
            self.shared_failures.fetch_add(1, Ordering::Relaxed);
            return Err(failure.to_error());
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let started_at = Instant::now();
        let result = fetch().await;
        attempts.finished += 1;
        self.attempts_finished
            .store(attempts.finished, Ordering::Release);
        match result {
            Ok(fetched) => {
                attempts.last_failure = None;
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                let lead = self.margin.min(fetched.lifetime / 2);
                let renew_at = started_at + fetched.lifetime.saturating_sub(lead);
                let token = AccessToken {
                    value: Arc::new(fetched.value),
                    generation,
                };
                *self.lock_current() = Some(Entry {
                    token: token.clone(),
                    renew_at,
                });
                tracing::debug!(
                    generation,
                    lifetime_s = fetched.lifetime.as_secs(),
                    "fetched a new access token"
                );
                Ok(token)
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                attempts.last_failure = Some(Failure::of(&err));
                Err(err)
            }
        }
    }

    /// Drops `token` if it is still the cached one, so the next [`get`](Self::get) fetches a
    /// new token. Returns whether it was dropped.
    pub fn invalidate(&self, token: &AccessToken) -> bool {
        let mut current = self.lock_current();
        match &*current {
            Some(entry) if entry.token.generation == token.generation => {
                *current = None;
                self.invalidations.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(generation = token.generation, "access token invalidated");
                true
            }
            _ => false,
        }
    }

    /// Drops whatever token is cached.
    pub fn clear(&self) {
        *self.lock_current() = None;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> TokenStats {
        TokenStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            shared_failures: self.shared_failures.load(Ordering::Relaxed),
        }
    }

    fn fresh(&self) -> Option<AccessToken> {
        let current = self.lock_current();
        let entry = current.as_ref()?;
        (Instant::now() < entry.renew_at).then(|| entry.token.clone())
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<Entry>> {
        // The guarded value is replaced whole, so a panic elsewhere cannot leave it torn.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::testing::{assert_transient, concurrently};

    #[test]
    fn debug_never_shows_a_token() {
        let fetched = FetchedToken::new("tok-3n-s3cret", Duration::from_secs(60));
        let shown = format!("{fetched:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("lifetime"),
            "{shown}"
        );
        let token = AccessToken {
            value: Arc::new(Secret::new("tok-3n-s3cret")),
            generation: 7,
        };
        let shown = format!("{token:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("generation: 7"),
            "{shown}"
        );
    }

    fn counting_fetch(
        counter: &Arc<AtomicUsize>,
        lifetime: Duration,
    ) -> impl Future<Output = Result<FetchedToken, ProviderError>> + use<> {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(FetchedToken::new(format!("token-{n}"), lifetime))
        }
    }

    /// A token from `cache`, which counts a fetch in `counter` when it has none fresh.
    async fn counted(
        cache: &TokenCache,
        counter: &Arc<AtomicUsize>,
        lifetime: Duration,
    ) -> AccessToken {
        cache
            .get(|| counting_fetch(counter, lifetime))
            .await
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn renews_before_expiry_with_margin() {
        let cache = TokenCache::new(Duration::from_secs(30));
        let count = Arc::new(AtomicUsize::new(0));
        let lifetime = Duration::from_secs(300);
        let first = counted(&cache, &count, lifetime).await;
        assert_eq!(first.secret(), "token-1");
        tokio::time::advance(Duration::from_secs(260)).await;
        let still = counted(&cache, &count, lifetime).await;
        assert_eq!(still.secret(), "token-1");
        // 300 s lifetime, 30 s margin: renewed from 270 s on.
        tokio::time::advance(Duration::from_secs(11)).await;
        let renewed = counted(&cache, &count, lifetime).await;
        assert_eq!(renewed.secret(), "token-2");
        assert_eq!(renewed.generation(), 2);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn short_tokens_renew_at_half_life() {
        let cache = TokenCache::new(Duration::from_secs(30));
        let count = Arc::new(AtomicUsize::new(0));
        let lifetime = Duration::from_secs(10);
        counted(&cache, &count, lifetime).await;
        tokio::time::advance(Duration::from_secs(4)).await;
        counted(&cache, &count, lifetime).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        counted(&cache, &count, lifetime).await;
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(30)));
        let count = Arc::new(AtomicUsize::new(0));
        let generations = concurrently(100, || {
            let (cache, count) = (cache.clone(), count.clone());
            async move {
                counted(&cache, &count, Duration::from_secs(600))
                    .await
                    .generation()
            }
        })
        .await;
        for generation in generations {
            assert_eq!(generation, 1);
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().fetches, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_share_a_failure_then_the_next_call_retries() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(30)));
        let count = Arc::new(AtomicUsize::new(0));
        let errors = concurrently(20, || {
            let (cache, count) = (cache.clone(), count.clone());
            async move {
                cache
                    .get(|| async move {
                        count.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err::<FetchedToken, _>(
                            ProviderError::transient("token endpoint down")
                                .with_retry_after(Duration::from_secs(2)),
                        )
                    })
                    .await
                    .unwrap_err()
            }
        })
        .await;
        for err in errors {
            assert_transient(&err, "token endpoint down", Duration::from_secs(2));
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().shared_failures, 19);
        assert_eq!(cache.stats().failures, 1);

        // Failures are not cached: the next caller fetches again.
        let token = counted(&cache, &count, Duration::from_secs(60)).await;
        assert_eq!(token.generation(), 1);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn invalidate_ignores_stale_tokens() {
        let cache = TokenCache::new(Duration::from_secs(1));
        let count = Arc::new(AtomicUsize::new(0));
        let old = counted(&cache, &count, Duration::from_secs(60)).await;
        assert!(cache.invalidate(&old));
        let new = counted(&cache, &count, Duration::from_secs(60)).await;
        // A second 401 answered to a request made with the old token must not drop the new.
        assert!(!cache.invalidate(&old));
        let again = counted(&cache, &count, Duration::from_secs(60)).await;
        assert_eq!(again.generation(), new.generation());
        assert_eq!(cache.stats().invalidations, 1);
        assert!(!format!("{again:?}").contains("token-"));
    }

    #[tokio::test]
    async fn a_cancelled_fetch_lets_the_next_caller_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(1)));
        let slow = tokio::time::timeout(
            Duration::from_millis(10),
            cache.get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(FetchedToken::new("never", Duration::from_secs(60)))
            }),
        )
        .await;
        assert!(slow.is_err());
        let token = cache
            .get(|| async { Ok(FetchedToken::new("quick", Duration::from_secs(60))) })
            .await
            .unwrap();
        assert_eq!(token.secret(), "quick");
    }
}
