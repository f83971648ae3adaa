use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Whether retrying a failed lookup could succeed.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The backend was unreachable, timed out, rate-limited us or answered 5xx. A retry a
    /// moment later may succeed, so the server answers 503 and step-ca retries once.
    Transient,
    /// Retrying will not help: bad credentials, a missing privilege, an answer we cannot
    /// understand, a broken configuration.
    Permanent,
}

/// A provider could not reach a decision.
///
/// This is not a deny: a deny is a [`Decision`](crate::Decision). An error means the
/// provider does not know. Servers fail closed on it.
///
/// ```
/// use std::time::Duration;
/// use posture_core::ProviderError;
/// let err = ProviderError::transient("jamf answered 429").with_retry_after(Duration::from_secs(2));
/// assert!(err.is_transient());
/// assert_eq!(err.to_string(), "jamf answered 429");
/// ```
#[derive(Debug)]
pub struct ProviderError {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ProviderError {
    /// A transient failure.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// A failure of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Records how long the backend asked us to wait (from `Retry-After`).
    #[must_use]
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// Whether the failure is transient or permanent.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether a retry could succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    /// How long the backend asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The message, without the source chain.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An error of the same kind and `Retry-After` as `original`, with `message`, whose
    /// source chain is `original`'s: it reads `message: cause`, without `original`'s own
    /// message. `original` may be shared, for example between callers that waited on one
    /// lookup; [`find_cause`] looks through the copy.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use posture_core::ProviderError;
    /// let original = ProviderError::transient("answered 503")
    ///     .with_source(std::io::Error::other("connection reset"));
    /// let named = ProviderError::reworded(original, "jamf: answered 503");
    /// assert!(named.is_transient());
    /// assert_eq!(named.source().map(ToString::to_string).as_deref(), Some("connection reset"));
    /// ```
    pub fn reworded(original: impl Into<Arc<Self>>, message: impl Into<String>) -> Self {
        let original = original.into();
        let mut err = Self::new(original.kind(), message);
        err.retry_after = original.retry_after();
        if original.source().is_some() {
            err = err.with_source(SourceOf(original));
        }
        err
    }
}

/// The first error of type `T` in `err`'s source chain, looking through the copies
/// [`ProviderError::reworded`] makes (whose chain only displays the original's). Providers
/// use it to recognise a cause they attached, a missing privilege say, however the error
/// was passed on.
///
/// ```
/// use posture_core::{ProviderError, find_cause};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("no privilege")]
/// struct NoPrivilege;
///
/// let err = ProviderError::permanent("denied").with_source(NoPrivilege);
/// let named = ProviderError::reworded(err, "jamf: denied");
/// assert!(find_cause::<NoPrivilege>(&named).is_some());
/// assert!(find_cause::<std::io::Error>(&named).is_none());
/// ```
pub fn find_cause<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = match current.downcast_ref::<SourceOf>() {
            Some(copy) => copy.0.source(),
            None => current.source(),
        };
    }
    None
}

/// Stands for an error's source, so a reworded copy's chain reads `message: cause` without
/// repeating the original's message.
#[derive(Debug)]
struct SourceOf(Arc<ProviderError>);

impl fmt::Display for SourceOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.source() {
            Some(source) => fmt::Display::fmt(source, f),
            None => Ok(()),
        }
    }
}

impl StdError for SourceOf {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source().and_then(StdError::source)
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ProviderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

impl From<crate::InvalidEnrichment> for ProviderError {
    fn from(err: crate::InvalidEnrichment) -> Self {
        Self::permanent("provider produced invalid enrichment data").with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_source_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        let err = ProviderError::transient("jamf unreachable").with_source(io);
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("timed out")
        );
        assert_eq!(err.kind(), ErrorKind::Transient);
    }
}
