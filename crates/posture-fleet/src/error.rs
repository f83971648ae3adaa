use std::error::Error as StdError;

/// A [`FleetProvider`](crate::FleetProvider) could not be built.
///
/// Lookup failures are not `FleetError`s: they are [`posture_core::ProviderError`]s, which
/// say whether a retry could help.
///
/// ```
/// let err = posture_fleet::FleetError::Client { source: "no roots".into() };
/// assert_eq!(err.to_string(), "cannot build the Fleet HTTP client");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The HTTP client could not be built (for example, a CA from `FLEET_CA_PATH` was
    /// refused by rustls).
    #[error("cannot build the Fleet HTTP client")]
    Client {
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl FleetError {
    pub(crate) fn client(source: posture_http::ClientError) -> Self {
        Self::Client {
            source: Box::new(source),
        }
    }
}
