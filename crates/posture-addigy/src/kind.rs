//! The Addigy provider as a server composes it: `PROVIDER=addigy`.

use std::sync::Arc;

use posture_core::{
    BuildError, BuiltProvider, CounterSample, ProviderCounters, ProviderKind, ProviderSetup,
};
use posture_http::{
    CommonNames, cache_ttl_setting, max_retry_after_setting, negative_cache_ttl_setting,
};
use posture_settings::{ConfigProblems, Setting};

use crate::config::{DEFAULT_REQUESTS_PER_SECOND, MAX_REQUESTS_PER_SECOND, RATE_EXPECTED};
use crate::{AddigyConfig, AddigyProvider};

/// `PROVIDER=addigy`, for a server's list of providers.
pub static KIND: AddigyKind = AddigyKind;

pub(crate) const API_URL: Setting = Setting::url(
    "ADDIGY_API_URL",
    "the Addigy API URL, https://api.addigy.com (the default)",
);
pub(crate) const API_TOKEN: Setting = Setting::secret(
    "ADDIGY_API_TOKEN",
    "ADDIGY_API_TOKEN_FILE",
    "an Addigy API v2 token (Account > Integrations > API & Webhooks > V2)",
);
pub(crate) const POLICIES: Setting = Setting::list(
    "ADDIGY_POLICIES",
    "policy IDs or names the device must be in, one of them (default: any)",
);
pub(crate) const REQUIRE_COMPLIANT: Setting = Setting::flag(
    "ADDIGY_REQUIRE_COMPLIANT",
    false,
    "require the device's is_compliant fact to be true",
);
pub(crate) const ENRICH: Setting = Setting::flag(
    "ADDIGY_ENRICH",
    true,
    "return device and user data as enrichment",
);
pub(crate) const CACHE_TTL: Setting =
    cache_ttl_setting("ADDIGY_CACHE_TTL", "how long an allowed answer is cached");
pub(crate) const NEGATIVE_CACHE_TTL: Setting =
    negative_cache_ttl_setting("ADDIGY_NEGATIVE_CACHE_TTL", "how long a deny is cached");
pub(crate) const MAX_REQUESTS: Setting = Setting::number(
    "ADDIGY_MAX_REQUESTS_PER_SECOND",
    DEFAULT_REQUESTS_PER_SECOND as u64,
    1,
    MAX_REQUESTS_PER_SECOND as u64,
    "requests a second",
    "client-side rate limit, at most half of Addigy's 1,000 requests per 10 s",
)
.expecting(RATE_EXPECTED);
pub(crate) const MAX_RETRY_AFTER: Setting = max_retry_after_setting(
    "ADDIGY_MAX_RETRY_AFTER",
    "the longest Retry-After from Addigy that is honoured",
);
pub(crate) const CA_PATH: Setting = Setting::path(
    "ADDIGY_CA_PATH",
    "extra PEM CA certificates (for a proxy or a test server)",
);
/// The settings every HTTP provider shares, under this provider's names.
pub(crate) const COMMON: CommonNames =
    CommonNames::of(&CACHE_TTL, &NEGATIVE_CACHE_TTL, &MAX_RETRY_AFTER, &CA_PATH);

pub(crate) const SYNC_INTERVAL: Setting =
    posture_http::sync::interval_setting("ADDIGY_SYNC_INTERVAL");
pub(crate) const SYNC_MAX_AGE: Setting = posture_http::sync::max_age_setting("ADDIGY_SYNC_MAX_AGE");

/// Every variable the Addigy provider reads (besides the server's `TIMEOUT`).
pub const SETTINGS: &[Setting] = &[
    API_URL,
    API_TOKEN,
    POLICIES,
    REQUIRE_COMPLIANT,
    ENRICH,
    CACHE_TTL,
    NEGATIVE_CACHE_TTL,
    MAX_REQUESTS,
    MAX_RETRY_AFTER,
    CA_PATH,
    SYNC_INTERVAL,
    SYNC_MAX_AGE,
];

/// The Addigy provider's [`ProviderKind`]: reads [`SETTINGS`] with
/// [`AddigyConfig::from_env`].
///
/// ```
/// use posture_core::ProviderKind;
/// let get = |name: &str| (name == "ADDIGY_API_TOKEN").then(|| "k3y".to_owned());
/// let setup = posture_addigy::KIND.configure(&get)?;
/// let summary = setup.summary().join("\n");
/// assert!(summary.contains("ADDIGY_API_URL=https://api.addigy.com (token set, not shown)"));
/// assert!(!summary.contains("k3y"));
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct AddigyKind;

impl ProviderKind for AddigyKind {
    fn name(&self) -> &'static str {
        "addigy"
    }

    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }

    fn configure(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn ProviderSetup>, ConfigProblems> {
        AddigyConfig::from_env(get)
            .map(|config| Box::new(AddigySetup(config)) as Box<dyn ProviderSetup>)
    }
}

/// A validated Addigy configuration.
#[derive(Debug)]
struct AddigySetup(AddigyConfig);

impl ProviderSetup for AddigySetup {
    fn summary(&self) -> Vec<String> {
        let addigy = &self.0;
        vec![
            format!(
                "ADDIGY_API_URL={} (token set, not shown) ADDIGY_POLICIES={}",
                addigy.api_url(),
                if addigy.policies().is_empty() {
                    "(any)".to_owned()
                } else {
                    addigy.policies().join(", ")
                }
            ),
            format!(
                "ADDIGY_REQUIRE_COMPLIANT={} ADDIGY_ENRICH={}",
                u8::from(addigy.require_compliant()),
                u8::from(addigy.enrich())
            ),
            format!(
                "{} ADDIGY_MAX_REQUESTS_PER_SECOND={}",
                addigy.common().summary(),
                addigy.max_requests_per_second()
            ),
            addigy.sync().summary(),
        ]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let addigy = Arc::new(
            AddigyProvider::new(self.0.clone())
                .map_err(|err| BuildError::new("cannot set up the Addigy provider", err))?,
        );
        // Detached: the task holds a weak reference and ends with the provider.
        drop(posture_http::sync::spawn(
            &addigy,
            self.0.sync(),
            |addigy| async move { addigy.sync_inventory().await },
        ));
        Ok(BuiltProvider::new(addigy.clone()).with_counters(addigy))
    }
}

impl ProviderCounters for AddigyProvider {
    fn samples(&self) -> Vec<CounterSample> {
        let stats = self.stats();
        let mut samples = vec![
            CounterSample::new(CounterSample::CACHE_HITS, stats.decisions.hits)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::CACHE_MISSES, stats.decisions.misses)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::REQUESTS, stats.requests),
            CounterSample::new(
                (
                    "provider_auth_fallbacks",
                    "Requests repeated with the other way of sending the API token after a 401.",
                ),
                stats.auth_fallbacks,
            ),
        ];
        samples.extend(self.inventory().samples());
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_match_what_the_parser_reads() {
        let asked = posture_settings::variables_read(|get| {
            let _ = AddigyConfig::from_env(get);
        });
        let mut declared: Vec<&str> = posture_settings::variable_names(SETTINGS);
        declared.push("TIMEOUT");
        declared.sort_unstable();
        assert_eq!(
            asked.iter().map(String::as_str).collect::<Vec<_>>(),
            declared
        );
    }

    #[test]
    fn the_summary_names_every_setting_and_hides_the_token() {
        let get = |name: &str| match name {
            "ADDIGY_API_TOKEN" => Some("k3y".to_owned()),
            "ADDIGY_POLICIES" => Some("Staff, 5b5b5b5b-0000-4000-8000-0000000000ff".to_owned()),
            "ADDIGY_REQUIRE_COMPLIANT" => Some("1".to_owned()),
            _ => None,
        };
        let setup = KIND.configure(&get).unwrap();
        let summary = setup.summary().join("\n");
        assert!(
            summary.contains("ADDIGY_POLICIES=Staff, 5b5b5b5b-0000-4000-8000-0000000000ff"),
            "{summary}"
        );
        assert!(summary.contains("ADDIGY_REQUIRE_COMPLIANT=1"), "{summary}");
        assert!(
            summary.contains("ADDIGY_MAX_REQUESTS_PER_SECOND=20"),
            "{summary}"
        );
        assert!(!summary.contains("k3y"), "{summary}");
        assert!(setup.build().is_ok());
    }
}
