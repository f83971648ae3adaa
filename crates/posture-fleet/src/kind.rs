//! The Fleet provider as a server composes it: `PROVIDER=fleet`.

use posture_core::Kind;
use posture_settings::listed;

use crate::{FleetConfig, FleetProvider};

posture_http::shared_settings! {
    prefix: "FLEET",
    service: "Fleet",
    ca_path: "extra PEM CA certificates (a private CA, a proxy, a test server)",
    own: {
        /// the Fleet server's URL, such as https://fleet.example.com
        pub(crate) const URL = url("FLEET_URL").required();
        /// the API token of a Fleet API-only user (observer role)
        pub(crate) const API_TOKEN = secret("FLEET_API_TOKEN", "FLEET_API_TOKEN_FILE");
        /// require the host's MDM to be this Fleet (mdm.connected_to_fleet)
        pub(crate) const REQUIRE_CONNECTED = flag("FLEET_REQUIRE_CONNECTED", true);
        /// team (fleet) names or ids the host must be in (default: any)
        pub(crate) const TEAMS = list("FLEET_TEAMS");
        /// label names or ids the host must carry, all of them
        pub(crate) const LABELS = list("FLEET_LABELS");
        /// policy names or ids the host must pass; * for every policy of the host
        pub(crate) const POLICIES = list("FLEET_POLICIES");
        /// return host, team, label and end-user data as enrichment
        pub(crate) const ENRICH = flag("FLEET_ENRICH", true);
    }
}

/// `PROVIDER=fleet`, for a server's list of providers: reads [`SETTINGS`] with
/// [`FleetConfig::from_env`].
///
/// ```
/// use posture_core::ProviderKind;
/// let get = |name: &str| match name {
///     "FLEET_URL" => Some("https://fleet.example.com".to_owned()),
///     "FLEET_API_TOKEN" => Some("s3cr3t".to_owned()),
///     _ => None,
/// };
/// let setup = posture_fleet::KIND.configure(&get).unwrap();
/// assert_eq!(
///     setup.summary(),
///     [
///         "teams allowed: (any); labels required: (none); policies that must pass: (none)",
///         "inventory sync: off (FLEET_SYNC_INTERVAL=0), every device is looked up live",
///     ]
/// );
/// ```
pub static KIND: Kind<FleetConfig> = Kind::new("fleet", SETTINGS, |get| FleetConfig::from_env(get));

posture_http::synced_setup! {
    FleetConfig => FleetProvider, "Fleet",
    summary: |config| vec![format!(
        "teams allowed: {}; labels required: {}; policies that must pass: {}",
        listed(config.teams(), "any"),
        listed(config.labels(), "none"),
        listed(config.policies(), "none"),
    )],
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &[(&str, &str)] = &[
        ("FLEET_URL", "https://fleet.example.com"),
        ("FLEET_API_TOKEN", "t0ken"),
    ];
    posture_conformance::settings_tests! {
        kind: KIND,
        shared: ["TIMEOUT"],
        base: BASE,
    }
}
