//! The Kandji provider as a server composes it: `PROVIDER=kandji`.

use posture_core::Kind;
use posture_settings::ConfigProblems;

use crate::config::{MAX_REQUESTS_PER_SECOND, RATE_EXPECTED};
use crate::{KandjiConfig, KandjiProvider};

posture_http::shared_settings! {
    prefix: "KANDJI",
    service: "Kandji",
    ca_path: "extra PEM CA certificates (for a proxy or a test server)",
    own: {
        /// the Kandji (Iru) API URL of the tenant, such as https://example.api.iru.com (EU: https://example.api.eu.iru.com)
        pub(crate) const KANDJI_API_URL = url("KANDJI_API_URL").required();
        /// a Kandji API token (Settings > Access > API Token)
        pub(crate) const KANDJI_API_TOKEN = secret("KANDJI_API_TOKEN", "KANDJI_API_TOKEN_FILE");
        /// blueprint names or IDs the device must be assigned to (default: any)
        pub(crate) const KANDJI_BLUEPRINTS = list("KANDJI_BLUEPRINTS");
        /// require the MDM profile to be installed
        pub(crate) const KANDJI_REQUIRE_MDM = flag("KANDJI_REQUIRE_MDM", true);
        /// require the Kandji agent to be installed
        pub(crate) const KANDJI_REQUIRE_AGENT = flag("KANDJI_REQUIRE_AGENT", false);
        /// deny devices Kandji marks as missing
        pub(crate) const KANDJI_DENY_MISSING = flag("KANDJI_DENY_MISSING", false);
        /// return user and device data as enrichment
        pub(crate) const KANDJI_ENRICH = flag("KANDJI_ENRICH", true);
        /// client-side rate limit below Kandji's 50 a second
        pub(crate) const KANDJI_MAX_REQUESTS_PER_SECOND = number(
            "KANDJI_MAX_REQUESTS_PER_SECOND", MAX_REQUESTS_PER_SECOND as u64, 1, MAX_REQUESTS_PER_SECOND as u64, "requests a second"
        ).expecting(RATE_EXPECTED);
    }
}

/// `PROVIDER=kandji`, for a server's list of providers: reads [`SETTINGS`] with
/// [`KandjiConfig::from_env`].
pub static KIND: Kind<KandjiConfig> =
    Kind::new("kandji", SETTINGS, |get| KandjiConfig::from_env(get));

posture_http::synced_setup! {
    KandjiConfig => KandjiProvider, "Kandji",
    summary: |config| vec![format!(
        "blueprints allowed: {}",
        posture_settings::listed(config.blueprints(), "any")
    )],
    warnings: KandjiConfig::warnings,
}

impl KandjiConfig {
    /// Checks every bounded value against its declaration in [`SETTINGS`], so that a
    /// configuration built in code meets the bounds a variable would, with the same problem
    /// messages. [`KandjiProvider::new`] runs it.
    pub fn check_bounds(&self) -> Result<(), ConfigProblems> {
        self.common().check_bounds([KANDJI_MAX_REQUESTS_PER_SECOND
            .check(u64::from(self.max_requests_per_second()))
            .map(drop)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables a minimal valid configuration needs.
    const BASE: &[(&str, &str)] = &[
        ("KANDJI_API_URL", "https://example.api.iru.com"),
        ("KANDJI_API_TOKEN", "t0ken"),
    ];

    posture_conformance::settings_tests! {
        kind: KIND,
        shared: ["TIMEOUT"],
        base: BASE,
        config: KandjiConfig,
        provider: KandjiProvider,
        cache_ttl: "KANDJI_CACHE_TTL",
    }
}
