use std::error::Error as StdError;
use std::fmt;
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
