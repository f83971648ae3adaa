//! The Mosyle provider as a server composes it: `PROVIDER=mosyle`.

use std::sync::Arc;

use posture_core::{
    BuildError, BuiltProvider, CounterSample, ProviderCounters, ProviderKind, ProviderSetup,
};
use posture_http::{
    CommonNames, cache_ttl_setting, max_retry_after_setting, negative_cache_ttl_setting,
};
use posture_settings::{ConfigProblems, Setting};

use crate::{MosyleConfig, MosyleProvider};

/// `PROVIDER=mosyle`, for a server's list of providers.
pub static KIND: MosyleKind = MosyleKind;

pub(crate) const API_URL: Setting = Setting::url(
    "MOSYLE_API_URL",
    "the Mosyle API URL: https://managerapi.mosyle.com/v2 (Mosyle Manager, the default) or \
     https://businessapi.mosyle.com/v1 (Mosyle Business)",
);
pub(crate) const ACCESS_TOKEN: Setting = Setting::secret(
    "MOSYLE_ACCESS_TOKEN",
    "MOSYLE_ACCESS_TOKEN_FILE",
    "the Mosyle API access token (Organization > API Integration)",
);
pub(crate) const EMAIL: Setting = Setting::text(
    "MOSYLE_EMAIL",
    "the email of the Mosyle administrator the API logs in as",
)
.required();
pub(crate) const PASSWORD: Setting = Setting::secret(
    "MOSYLE_PASSWORD",
    "MOSYLE_PASSWORD_FILE",
    "that administrator's password",
);
pub(crate) const GROUPS: Setting = Setting::list(
    "MOSYLE_GROUPS",
    "device group IDs or names the device must be in, one of them (default: any)",
);
pub(crate) const ENRICH: Setting = Setting::flag(
    "MOSYLE_ENRICH",
    true,
    "return device and user data as enrichment",
);
pub(crate) const CACHE_TTL: Setting =
    cache_ttl_setting("MOSYLE_CACHE_TTL", "how long an allowed answer is cached");
pub(crate) const NEGATIVE_CACHE_TTL: Setting =
    negative_cache_ttl_setting("MOSYLE_NEGATIVE_CACHE_TTL", "how long a deny is cached");
pub(crate) const MAX_RETRY_AFTER: Setting = max_retry_after_setting(
    "MOSYLE_MAX_RETRY_AFTER",
    "the longest Retry-After from Mosyle that is honoured",
);
pub(crate) const CA_PATH: Setting = Setting::path(
    "MOSYLE_CA_PATH",
    "extra PEM CA certificates (for a proxy or a test server)",
);
pub(crate) const SYNC_INTERVAL: Setting =
    posture_http::sync::interval_setting("MOSYLE_SYNC_INTERVAL");
pub(crate) const SYNC_MAX_AGE: Setting = posture_http::sync::max_age_setting("MOSYLE_SYNC_MAX_AGE");
/// The settings every HTTP provider shares, under this provider's names.
pub(crate) const COMMON: CommonNames =
    CommonNames::of(&CACHE_TTL, &NEGATIVE_CACHE_TTL, &MAX_RETRY_AFTER, &CA_PATH);

/// Every variable the Mosyle provider reads (besides the server's `TIMEOUT`).
pub const SETTINGS: &[Setting] = &[
    API_URL,
    ACCESS_TOKEN,
    EMAIL,
    PASSWORD,
    GROUPS,
    ENRICH,
    CACHE_TTL,
    NEGATIVE_CACHE_TTL,
    MAX_RETRY_AFTER,
    CA_PATH,
    SYNC_INTERVAL,
    SYNC_MAX_AGE,
];

/// The Mosyle provider's [`ProviderKind`]: reads [`SETTINGS`] with
/// [`MosyleConfig::from_env`].
///
/// ```
/// use posture_core::ProviderKind;
/// let get = |name: &str| match name {
///     "MOSYLE_ACCESS_TOKEN" => Some("t0ken".to_owned()),
///     "MOSYLE_EMAIL" => Some("api@school.org".to_owned()),
///     "MOSYLE_PASSWORD" => Some("s3cr3t".to_owned()),
///     _ => None,
/// };
/// let setup = posture_mosyle::KIND.configure(&get)?;
/// let summary = setup.summary().join("\n");
/// assert!(summary.contains("MOSYLE_API_URL=https://managerapi.mosyle.com/v2 (Mosyle Manager)"));
/// assert!(!summary.contains("t0ken") && !summary.contains("s3cr3t"));
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct MosyleKind;

impl ProviderKind for MosyleKind {
    fn name(&self) -> &'static str {
        "mosyle"
    }

    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }

    fn configure(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn ProviderSetup>, ConfigProblems> {
        MosyleConfig::from_env(get)
            .map(|config| Box::new(MosyleSetup(config)) as Box<dyn ProviderSetup>)
    }
}

/// A validated Mosyle configuration.
#[derive(Debug)]
struct MosyleSetup(MosyleConfig);

impl ProviderSetup for MosyleSetup {
    fn summary(&self) -> Vec<String> {
        let mosyle = &self.0;
        let groups: Vec<String> = mosyle.groups().iter().map(ToString::to_string).collect();
        vec![
            format!(
                "MOSYLE_API_URL={} ({}) MOSYLE_EMAIL={} (access token and password set, not shown)",
                mosyle.api_url(),
                mosyle.flavor(),
                mosyle.email()
            ),
            format!(
                "MOSYLE_GROUPS={} MOSYLE_ENRICH={}",
                if groups.is_empty() {
                    "(any)".to_owned()
                } else {
                    groups.join(", ")
                },
                u8::from(mosyle.enrich())
            ),
            mosyle.common().summary(),
            mosyle.sync().summary(),
        ]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let mosyle = Arc::new(
            MosyleProvider::new(self.0.clone())
                .map_err(|err| BuildError::new("cannot set up the Mosyle provider", err))?,
        );
        // Detached: the task holds a weak reference and ends with the provider.
        drop(posture_http::sync::spawn(
            &mosyle,
            self.0.sync(),
            |mosyle| async move { mosyle.sync_inventory().await },
        ));
        Ok(BuiltProvider::new(mosyle.clone()).with_counters(mosyle))
    }
}

impl ProviderCounters for MosyleProvider {
    fn samples(&self) -> Vec<CounterSample> {
        let stats = self.stats();
        let mut samples = vec![
            CounterSample::new(CounterSample::CACHE_HITS, stats.decisions.hits)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::CACHE_MISSES, stats.decisions.misses)
                .label("cache", "decisions"),
            CounterSample::new(CounterSample::REQUESTS, stats.requests),
            CounterSample::new(CounterSample::TOKEN_REQUESTS, stats.tokens.fetches),
            CounterSample::new(CounterSample::TOKEN_FAILURES, stats.tokens.failures),
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
            let _ = MosyleConfig::from_env(get);
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
    fn the_summary_names_every_setting_and_hides_the_secrets() {
        let get = |name: &str| match name {
            "MOSYLE_API_URL" => Some("https://businessapi.mosyle.com/v1".to_owned()),
            "MOSYLE_ACCESS_TOKEN" => Some("t0ken".to_owned()),
            "MOSYLE_EMAIL" => Some("api@school.org".to_owned()),
            "MOSYLE_PASSWORD" => Some("s3cr3t".to_owned()),
            "MOSYLE_GROUPS" => Some("210,Staff".to_owned()),
            _ => None,
        };
        let setup = KIND.configure(&get).unwrap();
        let summary = setup.summary().join("\n");
        assert!(summary.contains("(Mosyle Business)"), "{summary}");
        assert!(
            summary.contains("MOSYLE_GROUPS=group 210, group \"Staff\""),
            "{summary}"
        );
        assert!(
            !summary.contains("t0ken") && !summary.contains("s3cr3t"),
            "{summary}"
        );
        assert!(setup.build().is_ok());
    }
}
