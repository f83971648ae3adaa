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

    /// Checks, for each `(text, value)`, that `name` set to `text` on top of the minimal
    /// variables is accepted, and that `read` takes `value` from the configuration.
    ///
    /// ```
    /// use posture_settings::{ConfigProblems, EnvCases, Reader, Setting};
    ///
    /// const ENRICH: Setting = Setting::flag("ACME_ENRICH", true, "return enrichment data");
    /// fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<bool, ConfigProblems> {
    ///     let mut reader = Reader::new(get);
    ///     let enrich = reader.flag(&ENRICH);
    ///     reader.finish_with(|| enrich)
    /// }
    /// const CASES: EnvCases<'static, bool> = EnvCases::new(&[], "no secret here", parse);
    /// CASES.assert_read("ACME_ENRICH", |enrich| *enrich, &[("True", true), (" 0 ", false)]);
    /// ```
    ///
    /// # Panics
    ///
    /// When a text is refused, or `read` takes another value from it, naming the case: each
    /// is a failed test.
    #[track_caller]
    pub fn assert_read<V: PartialEq + Debug>(
        &self,
        name: &str,
        read: impl Fn(&T) -> V,
        cases: &[(&str, V)],
    ) {
        for (text, value) in cases {
            match self.env_with(&[(name, text)]) {
                Ok(config) => assert_eq!(&read(&config), value, "{name}={text:?}"),
                Err(problems) => panic!("{name}={text:?} should be accepted: {problems}"),
            }
        }
    }

    /// What a valid value looks like, as the one problem says when `name` is `text` on top of
    /// the minimal variables: the problem ([`only_problem`](Self::only_problem)) past
    /// `NAME="text" is invalid: expected ` (the text trimmed, as problems show it).
    ///
    /// ```
    /// use posture_settings::{ConfigProblems, EnvCases, Reader, Setting};
    ///
    /// const RATE: Setting = Setting::number("ACME_RATE", 10, 1, 50, "requests a second", "limit");
    /// fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigProblems> {
    ///     let mut reader = Reader::new(get);
    ///     reader.number(&RATE);
    ///     reader.finish()
    /// }
    /// const CASES: EnvCases<'static, ()> = EnvCases::new(&[], "no secret here", parse);
    /// for text in ["0", " 51 ", "ten"] {
    ///     assert_eq!(
    ///         CASES.refusal("ACME_RATE", text),
    ///         "a whole number of requests a second from 1 to 50"
    ///     );
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`only_problem`](Self::only_problem) does, and when the problem does not start so or
    /// is more than one line, naming `name` and `text`: each is a failed test.
    #[track_caller]
    pub fn refusal(&self, name: &str, text: &str) -> String {
        let problem = self.only_problem(&self.with(&[(name, text)]));
        expectation(
            &problem,
            &format!("{name}={:?} is invalid: expected ", text.trim()),
        )
    }

    /// Checks, for each `(name, text, expected)`, that `name` set to `text` on top of the
    /// minimal variables is refused saying a valid value looks like `expected…`
    /// ([`refusal`](Self::refusal) starts with `expected`).
    ///
    /// ```
    /// use posture_settings::{ConfigProblems, EnvCases, Reader, Setting};
    ///
    /// const RATE: Setting = Setting::number("ACME_RATE", 10, 1, 50, "requests a second", "limit");
    /// const TTL: Setting = Setting::seconds("ACME_CACHE_TTL", 60, 0, 600, "cache lifetime");
    /// fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigProblems> {
    ///     let mut reader = Reader::new(get);
    ///     reader.number(&RATE);
    ///     reader.seconds(&TTL);
    ///     reader.finish()
    /// }
    /// const CASES: EnvCases<'static, ()> = EnvCases::new(&[], "no secret here", parse);
    /// CASES.assert_refused(&[
    ///     ("ACME_RATE", "51", "a whole number of requests a second"),
    ///     ("ACME_CACHE_TTL", "1h", "a whole number of seconds from 0 to 600"),
    /// ]);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`refusal`](Self::refusal) does, and when what is expected starts otherwise, naming
    /// the case: each is a failed test.
    #[track_caller]
    pub fn assert_refused(&self, cases: &[(&str, &str, &str)]) {
        for (name, text, expected) in cases {
            let said = self.refusal(name, text);
            assert!(said.starts_with(expected), "{name}={text:?}: {said}");
        }
    }

    /// Checks, for each `(name, expected)`, that leaving `name` out of the minimal variables
    /// is one problem, `NAME is not set: expected …`, that starts with `expected`.
    ///
    /// ```
    /// use posture_settings::{ConfigProblems, EnvCases, Reader, Setting};
    ///
    /// const URL: Setting = Setting::url("ACME_URL", "the tenant URL").required();
    /// const TOKEN: Setting = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token");
    /// fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigProblems> {
    ///     let mut reader = Reader::new(get);
    ///     reader.required_text(&URL);
    ///     reader.required_secret(&TOKEN);
    ///     reader.finish()
    /// }
    /// const CASES: EnvCases<'static, ()> = EnvCases::new(
    ///     &[("ACME_URL", "https://acme.example"), ("ACME_TOKEN", "s3cret")],
    ///     "s3cret",
    ///     parse,
    /// );
    /// CASES.assert_required(&[
    ///     ("ACME_URL", "the tenant URL"),
    ///     ("ACME_TOKEN", "the API token (or ACME_TOKEN_FILE)"),
    /// ]);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`only_problem`](Self::only_problem) does (so also when `name` is not among the
    /// minimal variables), and when the problem says otherwise or is more than one line,
    /// naming `name`: each is a failed test.
    #[track_caller]
    pub fn assert_required(&self, cases: &[(&str, &str)]) {
        for (name, expected) in cases {
            let mut pairs = self.minimal.to_vec();
            pairs.retain(|(minimal_name, _)| minimal_name != name);
            let said = expectation(
                &self.only_problem(&pairs),
                &format!("{name} is not set: expected "),
            );
            assert!(said.starts_with(expected), "{name}: {said}");
        }
    }
}

/// What `problem` says is expected, past `start`.
///
/// # Panics
///
/// When `problem` does not start with `start`, or is more than one line (problems are
/// listed one a line): a failed test.
#[track_caller]
fn expectation(problem: &str, start: &str) -> String {
    assert!(!problem.contains('\n'), "one problem, one line: {problem}");
    match problem.strip_prefix(start) {
        Some(expected) => expected.to_owned(),
        None => panic!("the problem should start {start:?}: {problem}"),
    }
}
