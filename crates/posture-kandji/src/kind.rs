//! The Kandji provider as a server composes it: `PROVIDER=kandji`.

use std::sync::Arc;

use posture_core::{
    BuildError, BuiltProvider, CounterSample, ProviderCounters, ProviderKind, ProviderSetup,
};
use posture_http::DEFAULT_MAX_RETRY_AFTER;
use posture_settings::{ConfigProblems, Setting};

use crate::config::{
    DEFAULT_CACHE_TTL, DEFAULT_NEGATIVE_CACHE_TTL, MAX_REQUESTS_PER_SECOND, MAX_TTL_SECS,
};
use crate::{KandjiConfig, KandjiProvider};

/// `PROVIDER=kandji`, for a server's list of providers.
pub static KIND: KandjiKind = KandjiKind;

/// Every variable the Kandji provider reads (besides the server's `TIMEOUT`).
pub const SETTINGS: &[Setting] = &[
    Setting::url(
        "KANDJI_API_URL",
        "the Kandji (Iru) API URL of the tenant, such as https://example.api.kandji.io",
    )
    .required(),
    Setting::secret(
        "KANDJI_API_TOKEN",
        "KANDJI_API_TOKEN_FILE",
        "a Kandji API token (Settings > Access > API Token)",
    ),
    Setting::list(
        "KANDJI_BLUEPRINTS",
        "blueprint names or IDs the device must be assigned to (default: any)",
    ),
    Setting::flag(
        "KANDJI_REQUIRE_MDM",
        true,
        "require the MDM profile to be installed",
    ),
    Setting::flag(
        "KANDJI_REQUIRE_AGENT",
        false,
        "require the Kandji agent to be installed",
    ),
    Setting::flag(
        "KANDJI_DENY_MISSING",
        false,
        "deny devices Kandji marks as missing",
    ),
    Setting::flag(
        "KANDJI_ENRICH",
        true,
        "return user and device data as enrichment",
    ),
    Setting::seconds(
        "KANDJI_CACHE_TTL",
        DEFAULT_CACHE_TTL.as_secs(),
        0,
        MAX_TTL_SECS,
        "how long a decision is cached",
    ),
    Setting::seconds(
        "KANDJI_NEGATIVE_CACHE_TTL",
        DEFAULT_NEGATIVE_CACHE_TTL.as_secs(),
        0,
        MAX_TTL_SECS,
        "how long a device-not-found answer is cached",
    ),
    Setting::number(
        "KANDJI_MAX_REQUESTS_PER_SECOND",
        MAX_REQUESTS_PER_SECOND as u64,
        1,
        MAX_REQUESTS_PER_SECOND as u64,
        "requests a second",
        "client-side rate limit below Kandji's 50 a second",
    ),
    Setting::seconds(
        "KANDJI_MAX_RETRY_AFTER",
        DEFAULT_MAX_RETRY_AFTER.as_secs(),
        1,
        3600,
        "the longest Retry-After from Kandji that is honoured",
    ),
    Setting::path(
        "KANDJI_CA_PATH",
        "extra PEM CA certificates (for a proxy or a test server)",
    ),
];

/// The Kandji provider's [`ProviderKind`]: reads [`SETTINGS`] with
/// [`KandjiConfig::from_env`].
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct KandjiKind;

impl ProviderKind for KandjiKind {
    fn name(&self) -> &'static str {
        "kandji"
    }

    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }

    fn configure(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn ProviderSetup>, ConfigProblems> {
        KandjiConfig::from_env(get)
            .map(|config| Box::new(KandjiSetup(config)) as Box<dyn ProviderSetup>)
            .map_err(|err| ConfigProblems::new(err.problems().to_vec()))
    }
}

/// A validated Kandji configuration.
#[derive(Debug)]
struct KandjiSetup(KandjiConfig);

impl ProviderSetup for KandjiSetup {
    fn summary(&self) -> Vec<String> {
        let kandji = &self.0;
        let blueprints: Vec<String> = kandji
            .blueprints()
            .iter()
            .map(ToString::to_string)
            .collect();
        vec![
            format!(
                "KANDJI_API_URL={} (token set, not shown) KANDJI_BLUEPRINTS={}",
                kandji.api_url(),
                if blueprints.is_empty() {
                    "(any)".to_owned()
                } else {
                    blueprints.join(",")
                }
            ),
            format!(
                "KANDJI_REQUIRE_MDM={} KANDJI_REQUIRE_AGENT={} KANDJI_DENY_MISSING={} KANDJI_ENRICH={}",
                u8::from(kandji.require_mdm()),
                u8::from(kandji.require_agent()),
                u8::from(kandji.deny_missing()),
                u8::from(kandji.enrich()),
            ),
            format!(
                "KANDJI_CACHE_TTL={} s KANDJI_NEGATIVE_CACHE_TTL={} s KANDJI_MAX_REQUESTS_PER_SECOND={} KANDJI_MAX_RETRY_AFTER={} s",
                kandji.cache_ttl().as_secs(),
                kandji.negative_cache_ttl().as_secs(),
                kandji.max_requests_per_second(),
                kandji.max_retry_after().as_secs()
            ),
        ]
    }

    fn warnings(&self) -> Vec<String> {
        self.0.warnings()
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let kandji = Arc::new(
            KandjiProvider::new(self.0.clone())
                .map_err(|err| BuildError::new("cannot set up the Kandji provider", err))?,
        );
        Ok(BuiltProvider::new(kandji.clone()).with_counters(kandji))
    }
}

impl ProviderCounters for KandjiProvider {
    fn samples(&self) -> Vec<CounterSample> {
        let stats = self.stats();
        let mut samples = vec![
            CounterSample::new(CounterSample::CACHE_HITS, stats.decisions.hits)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::CACHE_MISSES, stats.decisions.misses)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::REQUESTS, stats.kandji_requests),
        ];
        if let Some(left) = stats.hourly_quota_left {
            samples.push(CounterSample::gauge(
                (
                    "provider_hourly_quota_left",
                    "Requests left in the MDM's hourly quota, as its last answer said.",
                ),
                left,
            ));
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_match_what_the_parser_reads() {
        let asked = posture_settings::variables_read(|get| {
            let _ = KandjiConfig::from_env(get);
        });
        let mut declared: Vec<&str> = posture_settings::variable_names(SETTINGS);
        declared.push("TIMEOUT");
        declared.sort_unstable();
        assert_eq!(
            asked.iter().map(String::as_str).collect::<Vec<_>>(),
            declared
        );
    }
}
