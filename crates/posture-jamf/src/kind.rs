//! The Jamf provider as a server composes it: `PROVIDER=jamf`.

use std::sync::Arc;

use posture_core::{
    BuildError, BuiltProvider, CounterSample, ProviderCounters, ProviderKind, ProviderSetup,
};
use posture_http::DEFAULT_MAX_RETRY_AFTER;
use posture_settings::{ConfigProblems, Setting};

use crate::config::{
    DEFAULT_CACHE_TTL, DEFAULT_MAX_CONNECTIONS, DEFAULT_NEGATIVE_CACHE_TTL, MAX_MAX_CONNECTIONS,
    MAX_TTL_SECS,
};
use crate::{JamfConfig, JamfProvider};

/// `PROVIDER=jamf`, for a server's list of providers.
pub static KIND: JamfKind = JamfKind;

/// Every variable the Jamf provider reads (besides the server's `TIMEOUT`).
pub const SETTINGS: &[Setting] = &[
    Setting::url(
        "JAMF_BASE_URL",
        "the Jamf Pro URL, such as https://example.jamfcloud.com",
    )
    .required(),
    Setting::text(
        "JAMF_CLIENT_ID",
        "the API client ID (Settings > API roles and clients)",
    )
    .required(),
    Setting::secret(
        "JAMF_CLIENT_SECRET",
        "JAMF_CLIENT_SECRET_FILE",
        "the API client secret",
    ),
    Setting::choice(
        "JAMF_API",
        &["auto", "classic", "pro"],
        Some("auto"),
        "which API reads devices: auto finds the newest route the server has",
    ),
    Setting::text(
        "JAMF_COMPUTER_GROUP",
        "a computer group the computer must belong to",
    ),
    Setting::text(
        "JAMF_DEVICE_GROUP",
        "a mobile-device group the device must belong to",
    ),
    Setting::flag(
        "JAMF_COMPUTER_ENRICH",
        false,
        "return user and department data for computers",
    ),
    Setting::flag(
        "JAMF_DEVICE_ENRICH",
        false,
        "return user and department data for mobile devices",
    ),
    Setting::choice(
        "JAMF_DEFAULT_MODE",
        &["computer", "mobiledevice", "auto"],
        Some("mobiledevice"),
        "the device family when step-ca's URL names none",
    ),
    Setting::number(
        "JAMF_MAX_CONNECTIONS",
        DEFAULT_MAX_CONNECTIONS as u64,
        1,
        MAX_MAX_CONNECTIONS,
        "connections",
        "concurrent connections to Jamf Pro (Jamf asks for at most 5)",
    ),
    Setting::seconds(
        "JAMF_CACHE_TTL",
        DEFAULT_CACHE_TTL.as_secs(),
        0,
        MAX_TTL_SECS,
        "how long an allow or a managed device's decision is cached",
    ),
    Setting::seconds(
        "JAMF_NEGATIVE_CACHE_TTL",
        DEFAULT_NEGATIVE_CACHE_TTL.as_secs(),
        0,
        MAX_TTL_SECS,
        "how long a device-not-found answer is cached",
    ),
    Setting::seconds(
        "JAMF_MAX_RETRY_AFTER",
        DEFAULT_MAX_RETRY_AFTER.as_secs(),
        1,
        3600,
        "the longest Retry-After from Jamf that is honoured",
    ),
    Setting::path(
        "JAMF_CA_PATH",
        "extra PEM CA certificates for a Jamf Pro server with a private CA",
    ),
];

/// The Jamf provider's [`ProviderKind`]: reads [`SETTINGS`] with [`JamfConfig::from_env`].
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct JamfKind;

impl ProviderKind for JamfKind {
    fn name(&self) -> &'static str {
        "jamf"
    }

    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }

    fn configure(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn ProviderSetup>, ConfigProblems> {
        JamfConfig::from_env(get)
            .map(|config| Box::new(JamfSetup(config)) as Box<dyn ProviderSetup>)
            .map_err(|err| ConfigProblems::new(err.problems().to_vec()))
    }
}

/// A validated Jamf configuration.
#[derive(Debug)]
struct JamfSetup(JamfConfig);

impl ProviderSetup for JamfSetup {
    fn summary(&self) -> Vec<String> {
        let jamf = &self.0;
        let group = |g: Option<&str>| g.map_or_else(|| "(none)".to_owned(), |g| format!("{g:?}"));
        vec![
            format!(
                "JAMF_BASE_URL={} JAMF_API={} JAMF_CLIENT_ID={} (secret set, not shown) JAMF_MAX_CONNECTIONS={}",
                jamf.base_url().as_str(),
                jamf.api(),
                jamf.client_id(),
                jamf.max_connections()
            ),
            format!(
                "JAMF_COMPUTER_GROUP={} JAMF_DEVICE_GROUP={} JAMF_COMPUTER_ENRICH={} JAMF_DEVICE_ENRICH={}",
                group(jamf.computer_group()),
                group(jamf.device_group()),
                u8::from(jamf.computer_enrich()),
                u8::from(jamf.device_enrich())
            ),
            format!(
                "JAMF_DEFAULT_MODE={} JAMF_CACHE_TTL={} s JAMF_NEGATIVE_CACHE_TTL={} s JAMF_MAX_RETRY_AFTER={} s",
                jamf.default_mode(),
                jamf.cache_ttl().as_secs(),
                jamf.negative_cache_ttl().as_secs(),
                jamf.max_retry_after().as_secs()
            ),
        ]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let jamf = Arc::new(
            JamfProvider::new(self.0.clone())
                .map_err(|err| BuildError::new("cannot set up the Jamf provider", err))?,
        );
        Ok(BuiltProvider::new(jamf.clone()).with_counters(jamf))
    }
}

impl ProviderCounters for JamfProvider {
    fn samples(&self) -> Vec<CounterSample> {
        let stats = self.stats();
        vec![
            CounterSample::new(CounterSample::CACHE_HITS, stats.decisions.hits)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::CACHE_HITS, stats.departments.hits)
                .label("cache", "departments"),
            CounterSample::new(CounterSample::CACHE_MISSES, stats.decisions.misses)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::CACHE_MISSES, stats.departments.misses)
                .label("cache", "departments"),
            CounterSample::new(CounterSample::TOKEN_REQUESTS, stats.token.fetches),
            CounterSample::new(CounterSample::TOKEN_FAILURES, stats.token.failures),
            CounterSample::new(CounterSample::REQUESTS, stats.jamf_requests),
            CounterSample::new(
                (
                    "provider_connection_waits",
                    "Requests that waited for a free connection slot (JAMF_MAX_CONNECTIONS).",
                ),
                stats.connection_waits,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_match_what_the_parser_reads() {
        let asked = posture_settings::variables_read(|get| {
            let _ = JamfConfig::from_env(get);
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
