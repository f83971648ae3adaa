//! The Mosyle provider as a server composes it: `PROVIDER=mosyle`.

use posture_core::Kind;

use crate::{MosyleConfig, MosyleProvider};

posture_http::shared_settings! {
    prefix: "MOSYLE",
    service: "Mosyle",
    ca_path: "extra PEM CA certificates (for a proxy or a test server)",
    own: {
        /// the Mosyle API URL: the default for Mosyle Manager, or https://businessapi.mosyle.com/v1 for Mosyle Business
        pub(crate) const API_URL = url("MOSYLE_API_URL").defaulting_to(crate::DEFAULT_API_URL);
        /// the Mosyle API access token (Organization > API Integration)
        pub(crate) const ACCESS_TOKEN = secret("MOSYLE_ACCESS_TOKEN", "MOSYLE_ACCESS_TOKEN_FILE");
        /// the email of the Mosyle administrator the API logs in as
        pub(crate) const EMAIL = text("MOSYLE_EMAIL").required();
        /// that administrator's password
        pub(crate) const PASSWORD = secret("MOSYLE_PASSWORD", "MOSYLE_PASSWORD_FILE");
        /// device group IDs or names the device must be in, one of them (default: any)
        pub(crate) const GROUPS = list("MOSYLE_GROUPS");
        /// return device and user data as enrichment
        pub(crate) const ENRICH = flag("MOSYLE_ENRICH", true);
    }
}

/// `PROVIDER=mosyle`, for a server's list of providers: reads [`SETTINGS`] with
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
/// assert!(summary.contains("product: Mosyle Manager; groups allowed: (any)"));
/// let declared = posture_settings::summary(posture_mosyle::SETTINGS, &get).join("\n");
/// assert!(!declared.contains("t0ken") && !declared.contains("s3cr3t"));
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
pub static KIND: Kind<MosyleConfig> =
    Kind::new("mosyle", SETTINGS, |get| MosyleConfig::from_env(get));

posture_http::synced_setup! {
    MosyleConfig => MosyleProvider, "Mosyle",
    summary: |config| vec![format!(
        "product: {}; groups allowed: {}",
        config.flavor(),
        posture_settings::listed(config.groups(), "any")
    )],
}

#[cfg(test)]
mod tests {
    use posture_core::ProviderKind;

    use super::*;

    const BASE: &[(&str, &str)] = &[
        ("MOSYLE_ACCESS_TOKEN", "t0ken"),
        ("MOSYLE_EMAIL", "api@school.org"),
        ("MOSYLE_PASSWORD", "s3cr3t"),
    ];
    posture_conformance::settings_tests! {
        kind: KIND,
        shared: ["TIMEOUT"],
        base: BASE,
    }

    #[test]
    fn the_summary_names_the_product_and_groups_and_the_declared_one_hides_the_secrets() {
        let get = posture_settings::vars(&[
            ("MOSYLE_API_URL", "https://businessapi.mosyle.com/v1"),
            ("MOSYLE_ACCESS_TOKEN", "t0ken"),
            ("MOSYLE_EMAIL", "api@school.org"),
            ("MOSYLE_PASSWORD", "s3cr3t"),
            ("MOSYLE_GROUPS", "210,Staff"),
        ]);
        let setup = KIND.configure(&get).unwrap();
        assert_eq!(
            setup.summary()[0],
            "product: Mosyle Business; groups allowed: group 210, group \"Staff\""
        );
        let declared = posture_settings::summary(SETTINGS, &get).join("\n");
        assert!(
            declared.contains("MOSYLE_EMAIL=api@school.org"),
            "{declared}"
        );
        assert!(
            !declared.contains("t0ken") && !declared.contains("s3cr3t"),
            "{declared}"
        );
        assert!(setup.build().is_ok());
    }
}
