//! The Addigy provider as a server composes it: `PROVIDER=addigy`.

use posture_core::Kind;

use crate::config::{DEFAULT_REQUESTS_PER_SECOND, MAX_REQUESTS_PER_SECOND, RATE_EXPECTED};
use crate::{AddigyConfig, AddigyProvider};

posture_http::shared_settings! {
    prefix: "ADDIGY",
    service: "Addigy",
    ca_path: "extra PEM CA certificates (for a proxy or a test server)",
    own: {
        /// the Addigy API URL
        pub(crate) const API_URL = url("ADDIGY_API_URL").defaulting_to(crate::DEFAULT_API_URL);
        /// an Addigy API v2 token (Account > Integrations > API & Webhooks > V2)
        pub(crate) const API_TOKEN = secret("ADDIGY_API_TOKEN", "ADDIGY_API_TOKEN_FILE");
        /// policy IDs or names the device must be in, one of them (default: any)
        pub(crate) const POLICIES = list("ADDIGY_POLICIES");
        /// require the device's is_compliant fact to be true
        pub(crate) const REQUIRE_COMPLIANT = flag("ADDIGY_REQUIRE_COMPLIANT", false);
        /// return device and user data as enrichment
        pub(crate) const ENRICH = flag("ADDIGY_ENRICH", true);
        /// client-side rate limit, at most half of Addigy's 1,000 requests per 10 s
        pub(crate) const MAX_REQUESTS = number(
            "ADDIGY_MAX_REQUESTS_PER_SECOND", DEFAULT_REQUESTS_PER_SECOND as u64, 1, MAX_REQUESTS_PER_SECOND as u64, "requests a second"
        ).expecting(RATE_EXPECTED);
    }
}

/// `PROVIDER=addigy`, for a server's list of providers: reads [`SETTINGS`] with
/// [`AddigyConfig::from_env`].
///
/// ```
/// use posture_core::ProviderKind;
/// let get = |name: &str| (name == "ADDIGY_API_TOKEN").then(|| "k3y".to_owned());
/// let setup = posture_addigy::KIND.configure(&get)?;
/// let summary = setup.summary().join("\n");
/// assert!(summary.contains("policies allowed: (any)"));
/// let declared = posture_settings::summary(posture_addigy::SETTINGS, &get).join("\n");
/// assert!(declared.contains("ADDIGY_API_TOKEN=(set, not shown)") && !declared.contains("k3y"));
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
pub static KIND: Kind<AddigyConfig> =
    Kind::new("addigy", SETTINGS, |get| AddigyConfig::from_env(get));

posture_http::synced_setup! {
    AddigyConfig => AddigyProvider, "Addigy",
    summary: |config| vec![format!(
        "policies allowed: {}",
        posture_settings::listed(config.policies(), "any")
    )],
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
    fn the_summary_lists_the_policies_and_the_declared_one_hides_the_token() {
        let get = posture_settings::vars(&[
            ("ADDIGY_API_TOKEN", "k3y"),
            (
                "ADDIGY_POLICIES",
                "Staff, 5b5b5b5b-0000-4000-8000-0000000000ff",
            ),
            ("ADDIGY_REQUIRE_COMPLIANT", "1"),
        ]);
        let setup = KIND.configure(&get).unwrap();
        assert_eq!(
            setup.summary()[0],
            "policies allowed: Staff, 5b5b5b5b-0000-4000-8000-0000000000ff"
        );
        let declared = posture_settings::summary(SETTINGS, &get).join("\n");
        assert!(
            declared.contains("ADDIGY_REQUIRE_COMPLIANT=1"),
            "{declared}"
        );
        assert!(
            declared.contains("ADDIGY_MAX_REQUESTS_PER_SECOND=20 (default)"),
            "{declared}"
        );
        assert!(!declared.contains("k3y"), "{declared}");
        assert!(setup.build().is_ok());
    }
}
