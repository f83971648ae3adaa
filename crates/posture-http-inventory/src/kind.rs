//! The generic HTTP inventory provider as a server composes it: `PROVIDER=http`.

use std::sync::Arc;

use posture_core::{
    BuildError, BuiltProvider, CounterSample, ProviderCounters, ProviderKind, ProviderSetup,
};
use posture_http::{
    CommonNames, cache_ttl_setting, max_retry_after_setting, negative_cache_ttl_setting,
};
use posture_settings::{ConfigProblems, Setting};

use crate::{HttpInventoryConfig, HttpInventoryProvider};

/// `PROVIDER=http`, for a server's list of providers.
pub static KIND: HttpInventoryKind = HttpInventoryKind;

pub(crate) const URL: Setting = Setting::url(
    "HTTP_URL",
    "the lookup URL with {identifier} (and optionally {mode}), such as \
     https://assets.example.com/api/v1/hardware/byserial/{identifier}",
)
.required();
pub(crate) const HEADERS: Setting = Setting::secret(
    "HTTP_HEADERS",
    "HTTP_HEADERS_FILE",
    "extra request headers, one Name: value a line (such as Authorization: Bearer …)",
)
.optional();
pub(crate) const RECORD: Setting = Setting::text(
    "HTTP_RECORD",
    "a JSON pointer to the device record in the answer, such as /rows/0 (default: the whole answer)",
);
pub(crate) const MATCH: Setting = Setting::text(
    "HTTP_MATCH",
    "a JSON pointer, in the record, to the field that must equal the identifier, such as /serial",
)
.required();
pub(crate) const REQUIRE: Setting = Setting::list(
    "HTTP_REQUIRE",
    "conditions that must all hold, pointer=value or pointer (must be true), comma-separated",
);
pub(crate) const ENRICH: Setting = Setting::list(
    "HTTP_ENRICH",
    "name=pointer pairs building the enrichment data, comma-separated (0 or unset: none)",
);
pub(crate) const CACHE_TTL: Setting =
    cache_ttl_setting("HTTP_CACHE_TTL", "how long an allowed answer is cached");
pub(crate) const NEGATIVE_CACHE_TTL: Setting =
    negative_cache_ttl_setting("HTTP_NEGATIVE_CACHE_TTL", "how long a deny is cached");
pub(crate) const MAX_RETRY_AFTER: Setting = max_retry_after_setting(
    "HTTP_MAX_RETRY_AFTER",
    "the longest Retry-After from the inventory that is honoured",
);
pub(crate) const CA_PATH: Setting = Setting::path(
    "HTTP_CA_PATH",
    "extra PEM CA certificates (a private CA, a proxy, a test server)",
);

/// The settings every HTTP provider shares, under this provider's names.
pub(crate) const COMMON: CommonNames =
    CommonNames::of(&CACHE_TTL, &NEGATIVE_CACHE_TTL, &MAX_RETRY_AFTER, &CA_PATH);

/// Every variable the generic HTTP inventory provider reads (besides the server's
/// `TIMEOUT`).
pub const SETTINGS: &[Setting] = &[
    URL,
    HEADERS,
    RECORD,
    MATCH,
    REQUIRE,
    ENRICH,
    CACHE_TTL,
    NEGATIVE_CACHE_TTL,
    MAX_RETRY_AFTER,
    CA_PATH,
];

/// The generic HTTP inventory's [`ProviderKind`]: reads [`SETTINGS`] with
/// [`HttpInventoryConfig::from_env`].
///
/// ```
/// use posture_core::ProviderKind;
/// let get = |name: &str| match name {
///     "HTTP_URL" => Some("https://assets.example.com/api/v1/hardware/byserial/{identifier}".to_owned()),
///     "HTTP_HEADERS" => Some("Authorization: Bearer s3cr3t".to_owned()),
///     "HTTP_MATCH" => Some("/serial".to_owned()),
///     _ => None,
/// };
/// let setup = posture_http_inventory::KIND.configure(&get).unwrap();
/// let summary = setup.summary().join("\n");
/// assert!(summary.contains("HTTP_HEADERS: authorization (values not shown)"), "{summary}");
/// assert!(!summary.contains("s3cr3t"));
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct HttpInventoryKind;

impl ProviderKind for HttpInventoryKind {
    fn name(&self) -> &'static str {
        "http"
    }

    fn settings(&self) -> &'static [Setting] {
        SETTINGS
    }

    fn configure(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn ProviderSetup>, ConfigProblems> {
        HttpInventoryConfig::from_env(get)
            .map(|config| Box::new(HttpSetup(config)) as Box<dyn ProviderSetup>)
    }
}

/// A validated configuration.
#[derive(Debug)]
struct HttpSetup(HttpInventoryConfig);

impl ProviderSetup for HttpSetup {
    fn summary(&self) -> Vec<String> {
        // The variables themselves are in the declared summary check-config prints, header
        // values redacted; what is derived from them follows.
        let c = &self.0;
        let names = c.header_names();
        vec![
            format!(
                "HTTP_HEADERS: {} (values not shown)",
                if names.is_empty() {
                    "(none)".to_owned()
                } else {
                    names.join(", ")
                }
            ),
            format!(
                "device record: {}; must equal the identifier: {}",
                if c.record().is_empty() {
                    "the whole answer"
                } else {
                    c.record()
                },
                c.match_pointer()
            ),
        ]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let provider =
            Arc::new(HttpInventoryProvider::new(self.0.clone()).map_err(|err| {
                BuildError::new("cannot set up the HTTP inventory provider", err)
            })?);
        Ok(BuiltProvider::new(provider.clone()).with_counters(provider))
    }
}

impl ProviderCounters for HttpInventoryProvider {
    fn samples(&self) -> Vec<CounterSample> {
        let stats = self.stats();
        posture_http::decision_counters(&stats.decisions, stats.requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_match_what_the_parser_reads() {
        let asked = posture_settings::variables_read(|get| {
            let _ = HttpInventoryConfig::from_env(get);
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
