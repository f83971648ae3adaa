use std::error::Error as StdError;

/// An [`IntuneProvider`](crate::IntuneProvider) could not be built.
///
/// Lookup failures are not `IntuneError`s: they are [`posture_core::ProviderError`]s, which
/// say whether a retry could help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntuneError {
    /// A value set in code is outside the bounds its variable has
    /// ([`check_bounds`](crate::IntuneConfig::check_bounds)).
    #[error("invalid configuration: {0}")]
    Config(#[from] posture_settings::ConfigProblems),
    /// The HTTP client could not be built (for example, a CA from `INTUNE_CA_PATH` was
    /// refused by rustls).
    #[error("cannot build the Microsoft Graph HTTP client")]
    Client {
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl IntuneError {
    pub(crate) fn client(source: posture_http::ClientError) -> Self {
        Self::Client {
            source: Box::new(source),
        }
    }
}
