use std::error::Error as StdError;

/// An [`HttpInventoryProvider`](crate::HttpInventoryProvider) could not be built.
///
/// Lookup failures are not `HttpInventoryError`s: they are
/// [`posture_core::ProviderError`]s, which say whether a retry could help.
///
/// ```
/// let err = posture_http_inventory::HttpInventoryError::Client { source: "no roots".into() };
/// assert_eq!(err.to_string(), "cannot build the inventory's HTTP client");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpInventoryError {
    /// The HTTP client could not be built (for example, a CA from `HTTP_CA_PATH` was
    /// refused by rustls).
    #[error("cannot build the inventory's HTTP client")]
    Client {
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}
