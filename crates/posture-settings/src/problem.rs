//! Configuration problems that name the variable, the value and what was expected.

use std::borrow::Cow;
use std::fmt;

/// One configuration problem: which variable, the bad value (never for secrets) and what was
/// expected.
///
/// It displays on one line in the server's format:
/// `TIMEOUT="abc" is invalid: expected …`, `JAMF_BASE_URL is not set: expected …`, or
/// `JAMF_CLIENT_SECRET is invalid (value not shown, it is a secret): expected …`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ConfigProblem {
    /// The variable, such as `JAMF_BASE_URL`.
    pub variable: String,
    /// The value as given; `None` when the variable is missing or the value is secret.
    pub value: Option<String>,
    /// What a valid value looks like, and why this one isn't.
    pub expected: String,
    /// Whether the value was withheld because it is secret.
    pub secret: bool,
}

impl ConfigProblem {
    /// A required variable is not set.
    pub fn missing(variable: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            value: None,
            expected: expected.into(),
            secret: false,
        }
    }

    /// A variable has a value that can't be used.
    ///
    /// A value that may be a URL with a user name or password — one holding `@` after a `:`,
    /// or any value with `@` of a variable whose name ends in `_URL` — is stored with its user
    /// information replaced by `[redacted]` ([`redact_userinfo`]), so a password typed into a
    /// URL is never shown.
    ///
    /// ```
    /// use posture_settings::ConfigProblem;
    /// let problem = ConfigProblem::invalid("JAMF_BASE_URL", "https://me:pa55@jamf.example.com", "no credentials");
    /// assert_eq!(problem.value.as_deref(), Some("https://[redacted]@jamf.example.com"));
    /// let problem = ConfigProblem::invalid("KANDJI_API_URL", "t0ken@example.api.iru.com", "a URL");
    /// assert_eq!(problem.value.as_deref(), Some("[redacted]@example.api.iru.com"));
    /// let problem = ConfigProblem::invalid("JAMF_DEVICE_GROUP", "ops@example.com", "a group");
    /// assert_eq!(problem.value.as_deref(), Some("ops@example.com"));
    /// ```
    pub fn invalid(variable: impl Into<String>, value: &str, expected: impl Into<String>) -> Self {
        let variable = variable.into();
        Self {
            value: Some(shown_value(&variable, value).into_owned()),
            variable,
            expected: expected.into(),
            secret: false,
        }
    }

    /// A secret variable is wrong; its value is not shown.
    pub fn secret(variable: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            value: None,
            expected: expected.into(),
            secret: true,
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.value, self.secret) {
            // Again here: the fields are public, so a value may not have come through
            // `invalid`.
            (Some(value), _) => write!(
                f,
                "{}={:?} is invalid: expected {}",
                self.variable,
                shown_value(&self.variable, value),
                self.expected
            ),
            (None, true) => write!(
                f,
                "{} is invalid (value not shown, it is a secret): expected {}",
                self.variable, self.expected
            ),
            (None, false) => write!(
                f,
                "{} is not set: expected {}",
                self.variable, self.expected
            ),
        }
    }
}

/// `value` as a problem shows it: with the user information of anything that may be a URL
/// with credentials redacted.
pub(crate) fn shown_value<'a>(variable: &str, value: &'a str) -> Cow<'a, str> {
    let may_hold_userinfo = value
        .rfind('@')
        .is_some_and(|at| variable.ends_with("_URL") || value[..at].contains(':'));
    if may_hold_userinfo {
        redact_userinfo(value)
    } else {
        Cow::Borrowed(value)
    }
}

/// A provider's settings were invalid. Holds every problem found, and displays them one per
/// line.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigProblems {
    problems: Vec<ConfigProblem>,
}

impl ConfigProblems {
    /// Wraps the problems found.
    pub fn new(problems: Vec<ConfigProblem>) -> Self {
        Self { problems }
    }

    /// One problem.
    pub fn one(problem: ConfigProblem) -> Self {
        Self {
            problems: vec![problem],
        }
    }

    /// `Ok` when every check passed, else every problem found, in order.
    ///
    /// ```
    /// use posture_settings::{ConfigProblem, ConfigProblems};
    /// let checks = [Ok(()), Err(ConfigProblem::invalid("A", "0", "more than 0"))];
    /// assert_eq!(ConfigProblems::from_checks(checks).unwrap_err().problems().len(), 1);
    /// ```
    pub fn from_checks<T>(
        checks: impl IntoIterator<Item = Result<T, ConfigProblem>>,
    ) -> Result<(), Self> {
        let problems: Vec<ConfigProblem> = checks.into_iter().filter_map(Result::err).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Self::new(problems))
        }
    }

    /// The problems, in the order the variables were read.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// `text` with the user information of a URL (user name and password) replaced by
/// `[redacted]`, for showing a URL that may carry credentials in an error or a log line.
///
/// It works on text that does not parse as a URL too, and errs on the side of hiding:
/// everything from the start of the authority (after `scheme:` and any slashes) to the *last*
/// `@` is hidden, so a password holding `/`, `@` or spaces is hidden whole. Text without `@`
/// is returned as it is.
///
/// ```
/// use posture_settings::redact_userinfo;
/// assert_eq!(
///     redact_userinfo("https://admin:pa55@jamf.example.com/jamf"),
///     "https://[redacted]@jamf.example.com/jamf"
/// );
/// assert_eq!(redact_userinfo("https://a:p/w@x@h.example.com"), "https://[redacted]@h.example.com");
/// assert_eq!(redact_userinfo("admin:pa55@jamf.example.com"), "admin:[redacted]@jamf.example.com");
/// assert_eq!(redact_userinfo("https://jamf.example.com"), "https://jamf.example.com");
/// ```
pub fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let Some(at) = text.rfind('@') else {
        return Cow::Borrowed(text);
    };
    let start = authority_start(text).min(at);
    Cow::Owned(format!("{}[redacted]{}", &text[..start], &text[at..]))
}

/// Where a URL's authority starts: after a leading `scheme:` and the slashes (or
/// backslashes, which URL parsers take for slashes) that follow it; 0 without a scheme.
fn authority_start(text: &str) -> usize {
    let leading = text.len() - text.trim_start().len();
    let rest = &text[leading..];
    let Some(colon) = rest.find(':') else {
        return leading;
    };
    let scheme = &rest[..colon];
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return leading;
    }
    let after = &rest[colon + 1..];
    let slashes = after.len() - after.trim_start_matches(['/', '\\']).len();
    leading + colon + 1 + slashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_built_by_hand_still_hides_url_passwords() {
        let password = "Hunter2-Url-Password";
        let problem = ConfigProblem {
            variable: "OTHER".to_owned(),
            value: Some(format!("https://u:{password}@h.example.com")),
            expected: "x".to_owned(),
            secret: false,
        };
        assert!(!problem.to_string().contains(password), "{problem}");
    }
}
