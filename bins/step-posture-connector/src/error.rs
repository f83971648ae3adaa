//! [`ServerError`], the error of the library's fallible entry points.

use std::error::Error as StdError;
use std::fmt;

use crate::config::ConfigErrors;

/// Why a command, a server start-up or a client call failed.
///
/// The variant says what kind of thing went wrong; its text (`{err}`) says what was being
/// done, and [`source`](std::error::Error::source) leads to the underlying causes. The
/// alternate form, `{err:#}`, writes the whole chain on one line, `what: why: deeper why`,
/// as the command line prints it.
///
/// ```
/// use std::collections::HashMap;
/// use step_posture_connector::ServerError;
/// use step_posture_connector::config::Config;
///
/// let vars: HashMap<String, String> = [("PROVIDER".to_owned(), "file".to_owned())].into();
/// // Invalid variables are a configuration error, every problem listed.
/// let err: ServerError = Config::from_vars(&vars).unwrap_err().into();
/// assert!(matches!(err, ServerError::Config(ref problems) if !problems.0.is_empty()));
/// assert!(err.to_string().contains("TLS_CERT_PATH"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid; every problem is listed, one per line.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The provider could not be built, did not become ready in time, or failed a lookup.
    #[error(transparent)]
    Provider(Cause),
    /// A certificate, key or other TLS setting could not be loaded or used.
    #[error(transparent)]
    Tls(Cause),
    /// A socket could not be bound, or a connection or request failed.
    #[error(transparent)]
    Network(Cause),
    /// Anything else, such as command-line input that is not valid or a file that could not
    /// be written.
    #[error(transparent)]
    Other(Cause),
}

impl ServerError {
    /// The process exit status for this error: 2 for configuration errors, 1 otherwise.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => EXIT_CONFIG,
            _ => 1,
        }
    }
}

/// Exit status for configuration errors.
pub(crate) const EXIT_CONFIG: u8 = 2;

/// What failed and why, behind a [`ServerError`] variant: its text is the outermost
/// message, its [`source`](std::error::Error::source) the next cause.
pub struct Cause(Box<dyn StdError + Send + Sync + 'static>);

impl Cause {
    /// A cause that is only a message.
    pub(crate) fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string().into())
    }

    /// The message and causes of `err` (crate-private: no `anyhow` type in the public API).
    pub(crate) fn from_anyhow(err: anyhow::Error) -> Self {
        Self(err.into())
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    /// `{}` is the outermost message; `{:#}` adds every cause, separated by `: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        if f.alternate() {
            let mut cause = self.0.source();
            while let Some(err) = cause {
                write!(f, ": {err}")?;
                cause = err.source();
            }
        }
        Ok(())
    }
}

impl StdError for Cause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// Turns any error into a [`ServerError`] of the kind given, inside the crate: `kind` is a
/// variant, such as `ServerError::Tls`.
pub(crate) trait OrFail<T> {
    /// `Err(err)` becomes `Err(kind(err))`, the chain of causes kept.
    fn or_fail(self, kind: fn(Cause) -> ServerError) -> Result<T, ServerError>;
}

impl<T, E: Into<anyhow::Error>> OrFail<T> for Result<T, E> {
    fn or_fail(self, kind: fn(Cause) -> ServerError) -> Result<T, ServerError> {
        self.map_err(|err| kind(Cause::from_anyhow(err.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alternate_form_is_the_whole_chain_like_anyhow() {
        let inner = std::io::Error::other("permission denied");
        let err = anyhow::Error::new(inner)
            .context("reading key.pem")
            .context("TLS configuration");
        let expected = format!("{err:#}");
        let ours = ServerError::Tls(Cause::from_anyhow(err));
        assert_eq!(format!("{ours:#}"), expected);
        assert_eq!(ours.to_string(), "TLS configuration");
        // Wrapped again by a caller's anyhow, the chain reads the same.
        assert_eq!(format!("{:#}", anyhow::Error::new(ours)), expected);
    }

    #[test]
    fn configuration_errors_exit_with_2() {
        let err = ServerError::from(ConfigErrors(Vec::new()));
        assert_eq!(err.exit_code(), EXIT_CONFIG);
        assert_eq!(ServerError::Other(Cause::msg("x")).exit_code(), 1);
    }
}
