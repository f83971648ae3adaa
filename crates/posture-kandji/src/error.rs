use std::error::Error as StdError;

/// A [`KandjiProvider`](crate::KandjiProvider) could not be built.
///
/// Lookup failures are not `KandjiError`s: they are [`posture_core::ProviderError`]s, which
/// say whether a retry could help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KandjiError {
    /// A value set in code is outside the bounds its variable has
    /// ([`check_bounds`](crate::KandjiConfig::check_bounds)).
    #[error("invalid configuration: {0}")]
    Config(#[from] posture_settings::ConfigProblems),
    /// The HTTP client could not be built (for example, a CA from `KANDJI_CA_PATH` was
    /// refused by rustls).
    #[error("cannot build the Kandji HTTP client")]
    Client {
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl KandjiError {
    pub(crate) fn client(source: posture_http::ClientError) -> Self {
        Self::Client {
            source: Box::new(source),
        }
    }
}
