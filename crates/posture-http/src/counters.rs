//! The counter samples most HTTP providers export on `/metrics`, from the stats their caches
//! and token caches keep, so every provider names and labels them alike.

use posture_core::CounterSample;

use crate::{CacheStats, TokenStats};

/// Hits then misses of each lookup cache, labelled `cache` with its name, in the order given.
///
/// ```
/// use posture_http::CacheStats;
/// let (decisions, groups) = (CacheStats::default(), CacheStats::default());
/// let samples = posture_http::cache_counters(&[("decisions", &decisions), ("groups", &groups)]);
/// let labels: Vec<_> = samples.iter().map(|s| (s.name, s.labels[0].1.as_str())).collect();
/// assert_eq!(labels, [
///     ("provider_cache_hits", "decisions"),
///     ("provider_cache_hits", "groups"),
///     ("provider_cache_misses", "decisions"),
///     ("provider_cache_misses", "groups"),
/// ]);
/// ```
pub fn cache_counters(caches: &[(&'static str, &CacheStats)]) -> Vec<CounterSample> {
    let hits = caches.iter().map(|(cache, stats)| {
        CounterSample::new(CounterSample::CACHE_HITS, stats.hits).label("cache", *cache)
    });
    let misses = caches.iter().map(|(cache, stats)| {
        CounterSample::new(CounterSample::CACHE_MISSES, stats.misses).label("cache", *cache)
    });
    hits.chain(misses).collect()
}

/// Access-token requests and failures, from a [`TokenCache`](crate::TokenCache)'s stats.
///
/// ```
/// let [requests, failures] = posture_http::token_counters(&posture_http::TokenStats::default());
/// assert_eq!((requests.name, failures.name), ("provider_token_requests", "provider_token_failures"));
/// ```
pub fn token_counters(tokens: &TokenStats) -> [CounterSample; 2] {
    [
        CounterSample::new(CounterSample::TOKEN_REQUESTS, tokens.fetches),
        CounterSample::new(CounterSample::TOKEN_FAILURES, tokens.failures),
    ]
}

/// What a provider with lookup caches and an access token exports: [`cache_counters`], then
/// [`token_counters`], then the `requests` sent to the MDM.
///
/// ```
/// use posture_http::{CacheStats, TokenStats};
/// let samples = posture_http::lookup_counters(&[("decisions", &CacheStats::default())], &TokenStats::default(), 9);
/// let names: Vec<_> = samples.iter().map(|s| s.name).collect();
/// assert_eq!(names, [
///     "provider_cache_hits",
///     "provider_cache_misses",
///     "provider_token_requests",
///     "provider_token_failures",
///     "provider_requests",
/// ]);
/// ```
pub fn lookup_counters(
    caches: &[(&'static str, &CacheStats)],
    tokens: &TokenStats,
    requests: u64,
) -> Vec<CounterSample> {
    let mut samples = cache_counters(caches);
    samples.extend(token_counters(tokens));
    samples.push(CounterSample::new(CounterSample::REQUESTS, requests));
    samples
}
