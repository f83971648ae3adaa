//! Support for a provider's configuration tests: variables given as `(name, value)` pairs.

use std::fmt::Debug;

use crate::ConfigProblems;

/// A variable lookup, as a provider's `from_env` takes it.
pub type Lookup<'l> = &'l dyn Fn(&str) -> Option<String>;

/// The environment of a provider's configuration tests: the variables a minimal valid
/// configuration needs, a piece of its secrets that no problem may show, and the parser.
///
/// ```
/// use posture_settings::{ConfigProblems, EnvCases, Reader, Setting};
///
/// const TOKEN: Setting = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token");
/// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 600, "cache lifetime");
/// fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigProblems> {
///     let mut reader = Reader::new(get);
///     reader.required_secret(&TOKEN);
///     reader.seconds(&TTL);
///     reader.finish()
/// }
/// const CASES: EnvCases<'static, ()> =
///     EnvCases::new(&[("ACME_TOKEN", "top-secret")], "top-secret", parse);
/// assert!(CASES.env(CASES.minimal).is_ok());
/// let text = CASES.only_problem(&CASES.with(&[("ACME_CACHE_TTL", "1h")]));
/// assert!(text.starts_with("ACME_CACHE_TTL=\"1h\" is invalid"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct EnvCases<'a, T> {
    /// The variables a minimal valid configuration needs.
    pub minimal: &'a [(&'a str, &'a str)],
    /// Text of a secret in `minimal` that no problem may show.
    pub secret: &'a str,
    /// The provider's parser, such as its `from_env`.
    pub parse: fn(Lookup<'_>) -> Result<T, ConfigProblems>,
}

impl<'a, T: Debug> EnvCases<'a, T> {
    /// The cases of `parse`, valid with `minimal`, whose secrets contain `secret`.
    pub const fn new(
        minimal: &'a [(&'a str, &'a str)],
        secret: &'a str,
        parse: fn(Lookup<'_>) -> Result<T, ConfigProblems>,
    ) -> Self {
        Self {
            minimal,
            secret,
            parse,
        }
    }

    /// Parses with exactly the variables `pairs` set: every other one is unset.
    pub fn env(&self, pairs: &[(&str, &str)]) -> Result<T, ConfigProblems> {
        (self.parse)(&crate::vars(pairs))
    }

    /// Parses the minimal variables with `extra` set ([`with`](Self::with)).
    pub fn env_with(&self, extra: &[(&str, &str)]) -> Result<T, ConfigProblems> {
        self.env(&self.with(extra))
    }

    /// The minimal variables with `extra` set, replacing those of the same name.
    pub fn with<'b>(&self, extra: &[(&'b str, &'b str)]) -> Vec<(&'b str, &'b str)>
    where
        'a: 'b,
    {
        let mut pairs: Vec<(&'b str, &'b str)> = self.minimal.to_vec();
        pairs.retain(|(name, _)| !extra.iter().any(|(extra_name, _)| extra_name == name));
        pairs.extend_from_slice(extra);
        pairs
    }

    /// The one problem that parsing `pairs` finds, displayed.
    ///
    /// # Panics
    ///
    /// When the settings are accepted, have more than one problem, or a problem shows the
    /// secret: each is a failed test.
    pub fn only_problem(&self, pairs: &[(&str, &str)]) -> String {
        let err = self.env(pairs).expect_err("the settings should be refused");
        let text = err.to_string();
        assert_eq!(err.problems().len(), 1, "{text}");
        assert!(!text.contains(self.secret), "{text}");
        text
    }
}
