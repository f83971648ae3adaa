//! The Jamf provider as a server composes it: `PROVIDER=jamf`.

use std::sync::Arc;

use posture_core::{
    BuildError, BuiltProvider, CounterSample, Kind, ProviderCounters, ProviderSetup,
};
use posture_settings::ConfigProblems;

use crate::config::{DEFAULT_MAX_CONNECTIONS, MAX_MAX_CONNECTIONS};
use crate::{JamfConfig, JamfProvider};

posture_http::shared_settings! {
    prefix: "JAMF",
    service: "Jamf Pro",
    ca_path: "extra PEM CA certificates for a Jamf Pro server with a private CA",
    own: {
        /// the Jamf Pro URL, such as https://example.jamfcloud.com
        pub(crate) const JAMF_BASE_URL = url("JAMF_BASE_URL").required();
        /// the client ID of a Jamf Pro API client (Settings > API roles and clients)
        pub(crate) const JAMF_CLIENT_ID = text("JAMF_CLIENT_ID").required();
        /// the client secret of the Jamf Pro API client
        pub(crate) const JAMF_CLIENT_SECRET = secret("JAMF_CLIENT_SECRET", "JAMF_CLIENT_SECRET_FILE");
        /// which API reads devices: auto finds the newest route the server has
        pub(crate) const JAMF_API = choice("JAMF_API", &crate::JamfApi::NAMES, Some("auto"));
        /// a computer group the computer must belong to
        pub(crate) const JAMF_COMPUTER_GROUP = text("JAMF_COMPUTER_GROUP");
        /// a mobile-device group the device must belong to
        pub(crate) const JAMF_DEVICE_GROUP = text("JAMF_DEVICE_GROUP");
        /// return user and department data for computers
        pub(crate) const JAMF_COMPUTER_ENRICH = flag("JAMF_COMPUTER_ENRICH", false);
        /// return user and department data for mobile devices
        pub(crate) const JAMF_DEVICE_ENRICH = flag("JAMF_DEVICE_ENRICH", false);
        /// the device family when step-ca's URL names none
        pub(crate) const JAMF_DEFAULT_MODE = choice(
            "JAMF_DEFAULT_MODE", &["computer", "mobiledevice", "auto"], Some("mobiledevice")
        );
        /// concurrent connections to Jamf Pro (Jamf asks for at most 5)
        pub(crate) const JAMF_MAX_CONNECTIONS = number(
            "JAMF_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS as u64, 1, MAX_MAX_CONNECTIONS, "connections"
        );
    }
}

/// `PROVIDER=jamf`, for a server's list of providers: reads [`SETTINGS`] with
/// [`JamfConfig::from_env`].
pub static KIND: Kind<JamfConfig> = Kind::new("jamf", SETTINGS, |get| {
    JamfConfig::from_env(get).map_err(|err| ConfigProblems::new(err.problems().to_vec()))
});

impl ProviderSetup for JamfConfig {
    fn summary(&self) -> Vec<String> {
        // Every other setting is in the declared summary; the endpoints in use are in the
        // provider's report once it is ready.
        vec![self.sync().summary()]
    }

    fn warnings(&self) -> Vec<String> {
        match (self.sync().is_on(), self.api()) {
            (true, crate::JamfApi::Classic) => vec![
                "JAMF_SYNC_INTERVAL is set but JAMF_API=classic: the Classic API can't list \
                 devices in pages with their groups, so nothing is synced and every device is \
                 looked up live"
                    .to_owned(),
            ],
            _ => Vec::new(),
        }
    }

    fn build(&self) -> Result<BuiltProvider, BuildError> {
        let jamf = Arc::new(
            JamfProvider::new(self.clone())
                .map_err(|err| BuildError::new("cannot set up the Jamf provider", err))?,
        );
        // Detached: the task holds a weak reference and ends with the provider.
        drop(posture_http::sync::spawn(
            &jamf,
            self.sync(),
            |jamf| async move { jamf.sync_inventory().await },
        ));
        let built = BuiltProvider::new(jamf.clone()).with_counters(jamf.clone());
        // Change notifications refresh the synced inventory; without sync every lookup
        // already reads Jamf.
        Ok(if self.sync().is_on() {
            built.with_refresher(jamf)
        } else {
            built
        })
    }
}

impl ProviderCounters for JamfProvider {
    fn samples(&self) -> Vec<CounterSample> {
        let stats = self.stats();
        let caches = [
            ("decisions", &stats.decisions),
            ("departments", &stats.departments),
        ];
        let mut samples = posture_http::lookup_counters(&caches, &stats.token, stats.jamf_requests);
        samples.push(CounterSample::new(
            (
                "provider_connection_waits",
                "Requests that waited for a free connection slot (JAMF_MAX_CONNECTIONS).",
            ),
            stats.connection_waits,
        ));
        samples.extend(self.inventory().samples());
        samples
    }
}

impl JamfConfig {
    /// Checks every bounded value against its declaration in [`SETTINGS`], so that a
    /// configuration built in code meets the bounds a variable would, with the same problem
    /// messages. [`JamfProvider::new`] runs it.
    pub fn check_bounds(&self) -> Result<(), ConfigProblems> {
        self.common().check_bounds([JAMF_MAX_CONNECTIONS
            .check(self.max_connections() as u64)
            .map(drop)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables a minimal valid configuration needs.
    const BASE: &[(&str, &str)] = &[
        ("JAMF_BASE_URL", "https://example.jamfcloud.com"),
        ("JAMF_CLIENT_ID", "id"),
        ("JAMF_CLIENT_SECRET", "s3cret"),
    ];

    posture_conformance::settings_tests! {
        kind: KIND,
        shared: ["TIMEOUT"],
        base: BASE,
        config: JamfConfig,
        provider: JamfProvider,
        cache_ttl: "JAMF_CACHE_TTL",
    }
}
