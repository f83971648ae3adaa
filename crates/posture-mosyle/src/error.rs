use std::error::Error as StdError;

/// A [`MosyleProvider`](crate::MosyleProvider) could not be built.
///
/// Lookup failures are not `MosyleError`s: they are [`posture_core::ProviderError`]s, which
/// say whether a retry could help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MosyleError {
    /// The HTTP client could not be built (for example, a CA from `MOSYLE_CA_PATH` was
    /// refused by rustls).
    #[error("cannot build the Mosyle HTTP client")]
    Client {
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl MosyleError {
    pub(crate) fn client(source: posture_http::ClientError) -> Self {
        Self::Client {
            source: Box::new(source),
        }
    }
}
