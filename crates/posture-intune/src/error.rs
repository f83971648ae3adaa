/// An [`IntuneProvider`](crate::IntuneProvider) could not be built: a value set in code outside its
/// variable's bounds, or an HTTP client that could not be made. Every MDM provider shares
/// this type.
///
/// Lookup failures are not `IntuneError`s: they are [`posture_core::ProviderError`]s, which
/// say whether a retry could help.
pub type IntuneError = posture_http::ProviderBuildError;
