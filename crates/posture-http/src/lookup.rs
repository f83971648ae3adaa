//! The settings every HTTP inventory provider shares: `TIMEOUT`, the decision cache's TTLs,
//! the longest `Retry-After` honoured and extra CA certificates, read once and turned into
//! the client, the cache and the backoff.

use std::hash::Hash;
use std::time::Duration;

use posture_core::{CounterSample, Decision};
use posture_settings::{ConfigProblem, Reader, Setting};

use crate::{
    Backoff, CaBundle, CacheConfig, CacheStats, ClientError, ClientOptions,
    DEFAULT_MAX_RETRY_AFTER, LookupCache, env,
};

/// The lookup settings of one provider: `TIMEOUT`, `PREFIX_CACHE_TTL`,
/// `PREFIX_NEGATIVE_CACHE_TTL`, `PREFIX_MAX_RETRY_AFTER`, `PREFIX_CA_PATH`, and the cache's
/// capacity.
///
/// ```
/// use std::time::Duration;
/// use posture_http::LookupSettings;
///
/// let lookup = LookupSettings::default()
///     .with_cache_ttl(Duration::from_secs(30))
///     .with_timeout(Duration::from_secs(2))
///     .map_err(|problem| problem.to_string())?;
/// assert_eq!(lookup.summary("FLEET"), "FLEET_CACHE_TTL=30 s FLEET_NEGATIVE_CACHE_TTL=10 s FLEET_MAX_RETRY_AFTER=60 s");
/// assert!(lookup.clone().with_timeout(Duration::ZERO).is_err());
/// let client = lookup.client("posture-example/1")?;
/// # drop(client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LookupSettings {
    timeout: Duration,
    cache_ttl: Duration,
    negative_cache_ttl: Duration,
    cache_capacity: u64,
    max_retry_after: Duration,
    extra_roots: CaBundle,
}

impl Default for LookupSettings {
    /// `TIMEOUT` 4 s, allowed answers cached 60 s and denies 10 s (up to 10 000 answers),
    /// `Retry-After` honoured up to 60 s, no extra CA.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(4),
            cache_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(10),
            cache_capacity: 10_000,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            extra_roots: CaBundle::empty(),
        }
    }
}

impl LookupSettings {
    /// Reads `TIMEOUT` and the provider's four declared settings, in that order, keeping
    /// their problems in `reader`; `None` when one was refused.
    pub fn read(
        reader: &mut Reader<'_>,
        cache_ttl: &Setting,
        negative_cache_ttl: &Setting,
        max_retry_after: &Setting,
        ca_path: &Setting,
    ) -> Option<Self> {
        let timeout = reader.seconds(&env::TIMEOUT);
        let cache_ttl = reader.seconds(cache_ttl);
        let negative_cache_ttl = reader.seconds(negative_cache_ttl);
        let max_retry_after = reader.seconds(max_retry_after);
        let mut problems = Vec::new();
        let extra_roots = env::ca_bundle(reader.value(ca_path.name), ca_path.name, &mut problems);
        reader.problems_from(problems);
        Some(Self {
            timeout: timeout?,
            cache_ttl: cache_ttl?,
            negative_cache_ttl: negative_cache_ttl?,
            cache_capacity: 10_000,
            max_retry_after: max_retry_after?,
            extra_roots: extra_roots?,
        })
    }

    /// Sets `TIMEOUT`, how long one lookup may take. Fails outside 1–60 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigProblem> {
        if timeout < Duration::from_secs(1) || timeout > Duration::from_secs(60) {
            return Err(ConfigProblem::invalid(
                env::TIMEOUT.name,
                &timeout.as_secs_f64().to_string(),
                env::TIMEOUT.expected(),
            ));
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// Sets how long allowed answers are reused; zero disables.
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Sets how long denies are reused; zero disables.
    #[must_use]
    pub fn with_negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_cache_ttl = ttl;
        self
    }

    /// Sets how many answers the cache holds at most.
    #[must_use]
    pub fn with_cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Sets the longest `Retry-After` honoured; the problem names `variable`. Fails outside
    /// 1 s–1 h.
    pub fn with_max_retry_after(
        mut self,
        delay: Duration,
        variable: &str,
    ) -> Result<Self, ConfigProblem> {
        self.max_retry_after = env::max_retry_after_in_range(delay, variable)?;
        Ok(self)
    }

    /// Trusts these CA certificates in addition to the Mozilla roots.
    #[must_use]
    pub fn with_extra_roots(mut self, roots: CaBundle) -> Self {
        self.extra_roots = roots;
        self
    }

    /// `TIMEOUT`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long allowed answers are reused.
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// How long denies are reused.
    pub fn negative_cache_ttl(&self) -> Duration {
        self.negative_cache_ttl
    }

    /// How many answers the cache holds at most.
    pub fn cache_capacity(&self) -> u64 {
        self.cache_capacity
    }

    /// The longest `Retry-After` honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The extra CA certificates.
    pub fn extra_roots(&self) -> &CaBundle {
        &self.extra_roots
    }

    /// The `check-config` line for the variables' common `prefix`:
    /// `PREFIX_CACHE_TTL=… s PREFIX_NEGATIVE_CACHE_TTL=… s PREFIX_MAX_RETRY_AFTER=… s`.
    pub fn summary(&self, prefix: &str) -> String {
        format!(
            "{prefix}_CACHE_TTL={} s {prefix}_NEGATIVE_CACHE_TTL={} s {prefix}_MAX_RETRY_AFTER={} s",
            self.cache_ttl.as_secs(),
            self.negative_cache_ttl.as_secs(),
            self.max_retry_after.as_secs()
        )
    }

    /// The provider's HTTP client: `TIMEOUT`, the extra roots, this user agent, no redirects.
    pub fn client(&self, user_agent: &str) -> Result<reqwest::Client, ClientError> {
        ClientOptions::new(self.timeout)
            .with_extra_roots(self.extra_roots.clone())
            .with_user_agent(user_agent)
            .build()
    }

    /// The decision cache with these TTLs and capacity.
    pub fn decision_cache<K>(&self) -> LookupCache<K, Decision>
    where
        K: Hash + Eq + Send + Sync + 'static,
    {
        LookupCache::new(
            CacheConfig::new(self.cache_ttl, self.negative_cache_ttl)
                .with_max_entries(self.cache_capacity),
        )
    }

    /// The backoff honouring `Retry-After` up to the configured longest.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.max_retry_after)
    }
}

/// The counters a provider with one decision cache exports on `/metrics`: cache hits and
/// misses (labelled `cache="decisions"`) and requests sent.
///
/// ```
/// let samples = posture_http::decision_counters(&posture_http::CacheStats::default(), 3);
/// assert_eq!(samples.len(), 3);
/// ```
pub fn decision_counters(decisions: &CacheStats, requests: u64) -> Vec<CounterSample> {
    vec![
        CounterSample::new(CounterSample::CACHE_HITS, decisions.hits).label("cache", "decisions"),
        CounterSample::new(CounterSample::CACHE_MISSES, decisions.misses)
            .label("cache", "decisions"),
        CounterSample::new(CounterSample::REQUESTS, requests),
    ]
}
