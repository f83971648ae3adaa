//! Why an MDM provider could not be built.

use posture_settings::ConfigProblems;

use crate::ClientError;

/// An MDM provider could not be built: each provider crate's `…Error` (`JamfError`,
/// `FleetError`, …) is this type.
///
/// Lookup failures are not build errors: they are [`posture_core::ProviderError`]s, which
/// say whether a retry could help.
///
/// ```
/// use posture_http::ProviderBuildError;
/// use posture_settings::{ConfigProblem, ConfigProblems};
///
/// let too_long = ConfigProblem::invalid("ACME_CACHE_TTL", "90000", "at most 86400 seconds");
/// let err = ProviderBuildError::from(ConfigProblems::one(too_long));
/// assert_eq!(
///     err.to_string(),
///     "invalid configuration: ACME_CACHE_TTL=\"90000\" is invalid: expected at most 86400 seconds"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderBuildError {
    /// A value set in code is outside the bounds its variable has (the configuration's
    /// `check_bounds`).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigProblems),
    /// The provider's HTTP client could not be built (for example, a CA from its
    /// `*_CA_PATH` was refused by rustls).
    #[error("cannot build the HTTP client for {service}")]
    Client {
        /// The service the client talks to, such as `Jamf Pro`.
        service: &'static str,
        /// Why.
        #[source]
        source: ClientError,
    },
}

impl ProviderBuildError {
    /// Wraps the error of building the client for `service`, for `map_err`.
    pub fn client(service: &'static str) -> impl FnOnce(ClientError) -> Self {
        move |source| Self::Client { service, source }
    }
}
