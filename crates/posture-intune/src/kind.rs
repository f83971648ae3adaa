//! The Intune provider as a server composes it: `PROVIDER=intune`.

use posture_core::{CounterSample, Kind, ProviderCounters};
use posture_http::colon_hex;
use posture_settings::ConfigProblems;

use crate::{IntuneConfig, IntuneProvider};

posture_http::shared_settings! {
    prefix: "INTUNE",
    service: "Microsoft Graph",
    ca_path: "extra PEM CA certificates (for a proxy or a test server)",
    own: {
        /// the Entra tenant: its ID (a GUID) or a verified domain
        pub(crate) const TENANT_ID = text("INTUNE_TENANT_ID")
            .required()
            .expecting("the Entra ID tenant: its ID (a GUID) or a verified domain such as contoso.onmicrosoft.com");
        /// the app registration's application (client) ID (a GUID)
        pub(crate) const CLIENT_ID = text("INTUNE_CLIENT_ID")
            .required()
            .expecting("the application (client) ID of the Entra ID app registration (a GUID)");
        /// the app registration's client secret (or use a certificate)
        pub(crate) const CLIENT_SECRET = secret("INTUNE_CLIENT_SECRET", "INTUNE_CLIENT_SECRET_FILE")
            .optional();
        /// the PEM certificate registered on the app registration, instead of a secret
        pub(crate) const CLIENT_CERT_PATH = path("INTUNE_CLIENT_CERT_PATH");
        /// the PEM RSA private key of INTUNE_CLIENT_CERT_PATH
        pub(crate) const CLIENT_KEY_PATH = path("INTUNE_CLIENT_KEY_PATH");
        /// the signature algorithm of certificate assertions
        pub(crate) const CLIENT_ASSERTION_ALG = choice("INTUNE_CLIENT_ASSERTION_ALG", &crate::AssertionAlgorithm::NAMES, Some("PS256"));
        /// the Microsoft identity platform URL, no path
        pub(crate) const AUTHORITY_URL = url("INTUNE_AUTHORITY_URL")
            .expecting("the Microsoft identity platform URL, such as https://login.microsoftonline.com")
            .defaulting_to(crate::DEFAULT_AUTHORITY_URL);
        /// the Microsoft Graph URL, no path
        pub(crate) const GRAPH_URL = url("INTUNE_GRAPH_URL")
            .expecting("the Microsoft Graph URL, such as https://graph.microsoft.com")
            .defaulting_to(crate::DEFAULT_GRAPH_URL);
        /// the Graph resource with /.default; by default the one of INTUNE_GRAPH_URL
        pub(crate) const SCOPE = text("INTUNE_SCOPE").expecting(
            "the resource of Microsoft Graph followed by /.default, such as \
             https://graph.microsoft.com/.default (the client-credentials grant takes only .default scopes)"
        );
        /// compliance states that allow (default: compliant)
        pub(crate) const ALLOWED_COMPLIANCE_STATES = list("INTUNE_ALLOWED_COMPLIANCE_STATES");
        /// management agents that count as managed (default: every MDM agent)
        pub(crate) const ALLOWED_MANAGEMENT_AGENTS = list("INTUNE_ALLOWED_MANAGEMENT_AGENTS");
        /// an Entra group (object ID) the device must belong to
        pub(crate) const GROUP_ID = text("INTUNE_GROUP_ID")
            .expecting("the object ID (a GUID) of the Entra ID group compliant devices must belong to");
        /// return user and device data as enrichment
        pub(crate) const INTUNE_ENRICH = flag("INTUNE_ENRICH", true);
    }
}

/// `PROVIDER=intune`, for a server's list of providers: reads [`SETTINGS`] with
/// [`IntuneConfig::from_env`].
pub static KIND: Kind<IntuneConfig> =
    Kind::new("intune", SETTINGS, |get| IntuneConfig::from_env(get));

posture_http::synced_setup! {
    IntuneConfig => IntuneProvider, "Intune",
    summary: |config| {
        let credential = match config.client_certificate() {
            // The certificate's fingerprints and validity, never the key.
            Some(cert) => format!(
                "client certificate: SHA-256 {}, Entra thumbprint {}, valid until {}, signing with {}",
                colon_hex(&cert.sha256_hex()),
                cert.entra_thumbprint(),
                cert.not_after().date(),
                cert.algorithm()
            ),
            None => "client secret (not shown)".to_owned(),
        };
        let states: Vec<&str> = config.allowed_states().iter().map(|s| s.as_str()).collect();
        let agents: Vec<&str> = config
            .allowed_management_agents()
            .iter()
            .map(|a| a.as_str())
            .collect();
        vec![
            credential,
            format!(
                "scope {}{}; compliance states allowed: {}; management agents allowed: {}",
                config.scope(),
                if config.scope_is_set() {
                    ""
                } else {
                    " (default)"
                },
                states.join(","),
                agents.join(",")
            ),
        ]
    },
}

impl ProviderCounters for IntuneProvider {
    fn samples(&self) -> Vec<CounterSample> {
        let stats = self.stats();
        let caches = [
            ("decisions", &stats.decisions),
            ("entra_devices", &stats.entra_devices),
        ];
        let mut samples =
            posture_http::lookup_counters(&caches, &stats.token, stats.graph_requests);
        samples.extend(self.inventory().samples());
        samples
    }
}

impl IntuneConfig {
    /// Checks every bounded value against its declaration in [`SETTINGS`], so that a
    /// configuration built in code meets the bounds a variable would, with the same problem
    /// messages. [`IntuneProvider::new`] runs it.
    pub fn check_bounds(&self) -> Result<(), ConfigProblems> {
        self.common().check_bounds([])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables a minimal valid configuration needs.
    const BASE: &[(&str, &str)] = &[
        ("INTUNE_TENANT_ID", "0f0f0f0f-1111-2222-3333-444444444444"),
        ("INTUNE_CLIENT_ID", "0f0f0f0f-1111-2222-3333-555555555555"),
        ("INTUNE_CLIENT_SECRET", "s3cret"),
    ];

    posture_conformance::settings_tests! {
        kind: KIND,
        shared: ["TIMEOUT"],
        base: BASE,
        config: IntuneConfig,
        provider: IntuneProvider,
        cache_ttl: "INTUNE_CACHE_TTL",
    }
}
