//! Support for a provider's configuration tests: variables given as `(name, value)` pairs.

use std::fmt::Debug;

use crate::ConfigProblems;

/// The environment of a provider's configuration tests: the variables a minimal valid
/// configuration needs, and a piece of its secrets that no problem may show.
///
/// ```
/// use posture_settings::{EnvCases, Reader, Setting};
///
/// const TOKEN: Setting = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token");
/// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 600, "cache lifetime");
/// let parse = |get: &dyn Fn(&str) -> Option<String>| {
///     let mut reader = Reader::new(get);
///     reader.required_secret(&TOKEN);
///     reader.seconds(&TTL);
///     reader.finish()
/// };
/// let cases = EnvCases::new(&[("ACME_TOKEN", "top-secret")], "top-secret");
/// assert!(EnvCases::read(cases.minimal, parse).is_ok());
/// let text = cases.only_problem(EnvCases::read(&cases.with(&[("ACME_CACHE_TTL", "1h")]), parse));
/// assert!(text.starts_with("ACME_CACHE_TTL=\"1h\" is invalid"));
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct EnvCases<'a> {
    /// The variables a minimal valid configuration needs.
    pub minimal: &'a [(&'a str, &'a str)],
    /// Text of a secret in `minimal` that no problem may show.
    pub secret: &'a str,
}

impl<'a> EnvCases<'a> {
    /// The cases of `minimal`, whose secrets contain `secret`.
    pub const fn new(minimal: &'a [(&'a str, &'a str)], secret: &'a str) -> Self {
        Self { minimal, secret }
    }

    /// Runs `parse` with exactly the variables `pairs` set: every other one is unset.
    pub fn read<T>(
        pairs: &[(&str, &str)],
        parse: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> T,
    ) -> T {
        parse(&|name| {
            let value = pairs.iter().find(|(key, _)| *key == name);
            value.map(|(_, value)| (*value).to_owned())
        })
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

    /// The one problem `result` holds, displayed.
    ///
    /// # Panics
    ///
    /// When `result` is `Ok`, holds more than one problem, or shows the secret: each is a
    /// failed test.
    pub fn only_problem<T: Debug>(&self, result: Result<T, ConfigProblems>) -> String {
        let err = result.expect_err("the settings should be refused");
        let text = err.to_string();
        assert_eq!(err.problems().len(), 1, "{text}");
        assert!(!text.contains(self.secret), "{text}");
        text
    }
}
