use std::error::Error as StdError;

/// An [`AddigyProvider`](crate::AddigyProvider) could not be built.
///
/// Lookup failures are not `AddigyError`s: they are [`posture_core::ProviderError`]s, which
/// say whether a retry could help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddigyError {
    /// The HTTP client could not be built (for example, a CA from `ADDIGY_CA_PATH` was
    /// refused by rustls).
    #[error("cannot build the Addigy HTTP client")]
    Client {
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl AddigyError {
    pub(crate) fn client(source: posture_http::ClientError) -> Self {
        Self::Client {
            source: Box::new(source),
        }
    }
}
