//! The Addigy provider as a server composes it: `PROVIDER=addigy`.

use posture_core::{BuildError, BuiltProvider, Kind, ProviderSetup};
use posture_http::sync;
use posture_settings::Setting;

use crate::config::{DEFAULT_REQUESTS_PER_SECOND, MAX_REQUESTS_PER_SECOND, RATE_EXPECTED};
use crate::{AddigyConfig, AddigyProvider};

/// `PROVIDER=addigy`, for a server's list of providers: reads [`SETTINGS`] with
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
pub static KIND: Kind<AddigyConfig> =
    Kind::new("addigy", SETTINGS, |get| AddigyConfig::from_env(get));

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
posture_http::shared_settings! {
    prefix: "ADDIGY",
    service: "Addigy",
    ca_path: "extra PEM CA certificates (for a proxy or a test server)",
    own: [
        API_URL,
        API_TOKEN,
        POLICIES,
        REQUIRE_COMPLIANT,
        ENRICH,
        MAX_REQUESTS,
    ],
}
pub(crate) const MAX_REQUESTS: Setting = Setting::number(
    "ADDIGY_MAX_REQUESTS_PER_SECOND",
    DEFAULT_REQUESTS_PER_SECOND as u64,
    1,
    MAX_REQUESTS_PER_SECOND as u64,
    "requests a second",
    "client-side rate limit, at most half of Addigy's 1,000 requests per 10 s",
)
.expecting(RATE_EXPECTED);

impl ProviderSetup for AddigyConfig {
    fn summary(&self) -> Vec<String> {
        vec![
            format!(
                "ADDIGY_API_URL={} (token set, not shown) ADDIGY_POLICIES={}",
                self.api_url(),
                if self.policies().is_empty() {
                    "(any)".to_owned()
                } else {
                    self.policies().join(", ")
                }
            ),
            format!(
                "ADDIGY_REQUIRE_COMPLIANT={} ADDIGY_ENRICH={}",
                u8::from(self.require_compliant()),
                u8::from(self.enrich())
            ),
            format!(
                "{} ADDIGY_MAX_REQUESTS_PER_SECOND={}",
                self.common().summary(),
                self.max_requests_per_second()
            ),
            self.sync().summary(),
        ]
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let addigy = AddigyProvider::new(self.clone());
        sync::built("Addigy", addigy, self.sync(), |p| async move {
            p.sync_inventory().await
        })
    }
}

#[cfg(test)]
mod tests {
    use posture_core::ProviderKind;

    use super::*;

    const BASE: &[(&str, &str)] = &[("ADDIGY_API_TOKEN", "k3y")];
    posture_conformance::settings_tests! {
        kind: KIND,
        shared: ["TIMEOUT"],
        base: BASE,
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
