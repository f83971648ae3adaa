//! Reading a provider's settings from environment-style variables, with problems that name
//! the variable, the value and what was expected.
//!
//! Every provider reads the same kinds of values (a URL, a secret or a secret file, a
//! boolean, a number of seconds, a CA bundle, a list) and reports problems in the server's
//! format. The helpers here push a [`ConfigProblem`] and return `None` on a bad value, so a
//! provider can collect every problem before it fails:
//!
//! ```
//! use std::time::Duration;
//! use posture_http::env::{self, ConfigProblem, ConfigProblems};
//!
//! let get = |name: &str| match name {
//!     "ACME_URL" => Some("https://acme.example.com/".to_owned()),
//!     "ACME_CACHE_TTL" => Some("soon".to_owned()),
//!     _ => None,
//! };
//! let mut problems = Vec::new();
//! let url = env::base_url(env::value(&get, "ACME_URL"), "ACME_URL", "the tenant URL", &mut problems);
//! let ttl = env::seconds(env::value(&get, "ACME_CACHE_TTL"), "ACME_CACHE_TTL",
//!     Duration::from_secs(60), 0, 86_400, &mut problems);
//! let token = env::secret(&get, "ACME_TOKEN", "ACME_TOKEN_FILE", "the API token", &mut problems);
//! assert!(url.is_some() && ttl.is_none() && token.is_none());
//! let err = ConfigProblems::new(problems);
//! assert_eq!(err.to_string().lines().collect::<Vec<_>>(), [
//!     "ACME_CACHE_TTL=\"soon\" is invalid: expected a whole number of seconds from 0 to 86400 (0 disables)",
//!     "ACME_TOKEN is not set: expected the API token (or ACME_TOKEN_FILE)",
//! ]);
//! ```

use std::path::Path;
use std::time::Duration;

use posture_settings::Reader;
pub use posture_settings::Setting;
pub use posture_settings::{
    BOOL_EXPECTED, ConfigProblem, ConfigProblems, parse_bool, seconds_expected,
};

/// The server's `TIMEOUT` as providers read it: whole seconds from 1 to 60, 4 by default, so
/// step-ca's retry fits in its 10 s budget. Providers read it with their own variables (it
/// bounds each lookup) but do not declare it: it is the server's.
///
/// ```
/// use posture_settings::Reader;
/// let get = |_: &str| Some("7".to_owned());
/// let mut reader = Reader::new(&get);
/// assert_eq!(reader.seconds(&posture_http::env::TIMEOUT), Some(std::time::Duration::from_secs(7)));
/// ```
pub const TIMEOUT: Setting = Setting::seconds(
    "TIMEOUT",
    4,
    1,
    60,
    "seconds one request may take to decide, provider call included",
);

/// A tenant URL declared by `setting` (its declared default when unset), read through
/// `reader` with [`BaseUrl`]'s rules ([`parse_base_url`]); missing is a problem.
pub fn read_base_url(reader: &mut Reader<'_>, setting: &Setting) -> Option<BaseUrl> {
    reader.required_parsed(setting, |text| parse_base_url(setting, text))
}

/// `text` as the URL `setting` declares ([`BaseUrl`] rules), or what was expected and why
/// not, for [`Reader::parsed`]; a problem made of it shows a URL's user information
/// redacted, as every problem about a `*_URL` variable does.
///
/// ```
/// use posture_settings::Setting;
/// const URL: Setting = Setting::url("ACME_URL", "the Acme API URL");
/// assert!(posture_http::env::parse_base_url(&URL, "https://acme.example").is_ok());
/// let why = posture_http::env::parse_base_url(&URL, "ftp://acme.example").unwrap_err();
/// assert!(why.starts_with("the Acme API URL ("), "{why}");
/// ```
pub fn parse_base_url(setting: &Setting, text: &str) -> Result<BaseUrl, String> {
    BaseUrl::parse(text).map_err(|err| format!("{} ({err})", setting.expected()))
}

/// A secret declared by `setting` (inline or its `_FILE` form), read through `reader`;
/// required or not as declared.
pub fn read_secret(reader: &mut Reader<'_>, setting: &Setting) -> Option<Option<Secret>> {
    reader.secret(setting).map(|secret| secret.map(Secret::new))
}

/// A PEM CA bundle named by the path variable `setting`; empty when unset.
pub fn read_ca_bundle(reader: &mut Reader<'_>, setting: &Setting) -> Option<CaBundle> {
    let mut problems = Vec::new();
    let bundle = ca_bundle(reader.value(setting.name), setting.name, &mut problems);
    reader.problems_from(problems);
    bundle
}

use crate::{BaseUrl, CaBundle, DEFAULT_MAX_RETRY_AFTER, MAX_RETRY_AFTER, Secret, redact_userinfo};

/// A requests-a-second limit read by the number declaration `setting` (its default when
/// unset); a refused value is a problem kept in `reader`.
///
/// ```
/// use posture_settings::{Reader, Setting};
/// const RATE: Setting = Setting::number("ACME_RATE", 20, 1, 50, "requests a second", "limit");
/// let get = |_: &str| Some("8".to_owned());
/// let mut reader = Reader::new(&get);
/// assert_eq!(posture_http::env::read_rate(&mut reader, &RATE).map(|n| n.get()), Some(8));
/// ```
pub fn read_rate(reader: &mut Reader<'_>, setting: &Setting) -> Option<std::num::NonZeroU32> {
    reader
        .number(setting)
        .and_then(|n| u32::try_from(n).ok())
        .and_then(std::num::NonZeroU32::new)
}

/// A requests-a-second limit given in code (a builder's argument) for the number `setting`:
/// within its declared bounds and not 0, else the problem a variable with that value gets.
///
/// ```
/// use posture_settings::Setting;
/// const RATE: Setting = Setting::number("ACME_RATE", 50, 1, 50, "requests a second", "limit")
///     .expecting("1 to 50");
/// assert_eq!(posture_http::env::given_rate(&RATE, 8).unwrap().get(), 8);
/// let err = posture_http::env::given_rate(&RATE, 51).unwrap_err();
/// assert_eq!(err.to_string(), "ACME_RATE=\"51\" is invalid: expected 1 to 50");
/// ```
pub fn given_rate(
    setting: &Setting,
    per_second: u32,
) -> Result<std::num::NonZeroU32, ConfigProblems> {
    setting
        .check(u64::from(per_second))
        .ok()
        .and_then(|_| std::num::NonZeroU32::new(per_second))
        .ok_or_else(|| {
            ConfigProblems::one(ConfigProblem::invalid(
                setting.name,
                &per_second.to_string(),
                setting.expected(),
            ))
        })
}

/// A variable's value, trimmed; `None` when unset or empty.
pub fn value(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A required value: pushes a "not set" problem when it is missing.
pub fn required(
    value: Option<String>,
    variable: &str,
    expected: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<String> {
    if value.is_none() {
        problems.push(ConfigProblem::missing(variable, expected));
    }
    value
}

/// A tenant URL ([`BaseUrl`] rules); `expected` describes it, such as "the Jamf Pro URL, such
/// as `https://example.jamfcloud.com`". Missing is a problem. A refused URL is shown with its
/// user information redacted ([`redact_userinfo`]).
pub fn base_url(
    value: Option<String>,
    variable: &str,
    expected: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<BaseUrl> {
    let text = required(value, variable, expected, problems)?;
    match BaseUrl::parse(&text) {
        Ok(url) => Some(url),
        Err(err) => {
            problems.push(ConfigProblem::invalid(
                variable,
                &redact_userinfo(&text),
                format!("{expected} ({err})"),
            ));
            None
        }
    }
}

/// A secret given inline in `variable` or in the file named by `file_variable` (one trailing
/// newline removed), not both. The inline value is taken as it is, untrimmed.
pub fn secret(
    get: &impl Fn(&str) -> Option<String>,
    variable: &str,
    file_variable: &str,
    expected: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Secret> {
    let inline = get(variable).filter(|v| !v.is_empty());
    let file = value(get, file_variable);
    match (inline, file) {
        (Some(secret), None) => Some(Secret::new(secret)),
        (None, Some(path)) => match read_secret_file(Path::new(&path)) {
            Ok(secret) => Some(secret),
            Err(reason) => {
                problems.push(ConfigProblem::invalid(
                    file_variable,
                    &path,
                    format!("a readable file holding {expected} ({reason})"),
                ));
                None
            }
        },
        (Some(_), Some(_)) => {
            problems.push(ConfigProblem::secret(
                variable,
                format!("either {variable} or {file_variable}, not both"),
            ));
            None
        }
        (None, None) => {
            problems.push(ConfigProblem::missing(
                variable,
                format!("{expected} (or {file_variable})"),
            ));
            None
        }
    }
}

/// Reads a secret file with [`posture_settings::read_secret_file`] (at most 64 KiB, one
/// trailing newline removed, not empty). On failure, returns the reason (never the content).
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    posture_settings::read_secret_file(path).map(Secret::new)
}

/// A boolean in [`parse_bool`]'s spellings; `default` when unset.
pub fn boolean(
    value: Option<String>,
    variable: &str,
    default: bool,
    problems: &mut Vec<ConfigProblem>,
) -> Option<bool> {
    match value {
        None => Some(default),
        Some(text) => parse_bool(&text).or_else(|| {
            problems.push(ConfigProblem::invalid(variable, &text, BOOL_EXPECTED));
            None
        }),
    }
}

/// A whole number of seconds from `min` to `max`; `default` when unset. When `min` is 0 the
/// message says that 0 disables.
pub fn seconds(
    value: Option<String>,
    variable: &str,
    default: Duration,
    min: u64,
    max: u64,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Duration> {
    if value.is_none() {
        return Some(default);
    }
    number(
        value,
        variable,
        min,
        min,
        max,
        &seconds_expected(min, max),
        problems,
    )
    .map(Duration::from_secs)
}

/// A provider's `*_MAX_RETRY_AFTER`: the longest `Retry-After` its [`Backoff`](crate::Backoff)
/// honours, a whole number of seconds from 1 to 3600 ([`MAX_RETRY_AFTER`]);
/// [`DEFAULT_MAX_RETRY_AFTER`] when unset.
///
/// ```
/// use std::time::Duration;
/// let mut problems = Vec::new();
/// let read = |text: Option<&str>, problems: &mut Vec<_>| {
///     posture_http::env::max_retry_after(text.map(Into::into), "JAMF_MAX_RETRY_AFTER", problems)
/// };
/// assert_eq!(read(None, &mut problems), Some(Duration::from_secs(60)));
/// assert_eq!(read(Some("5"), &mut problems), Some(Duration::from_secs(5)));
/// assert_eq!(read(Some("7200"), &mut problems), None);
/// assert_eq!(
///     problems[0].to_string(),
///     "JAMF_MAX_RETRY_AFTER=\"7200\" is invalid: expected a whole number of seconds from 1 to 3600"
/// );
/// ```
pub fn max_retry_after(
    value: Option<String>,
    variable: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Duration> {
    seconds(
        value,
        variable,
        DEFAULT_MAX_RETRY_AFTER,
        1,
        MAX_RETRY_AFTER.as_secs(),
        problems,
    )
}

/// Checks a `*_MAX_RETRY_AFTER` given in code rather than read with [`max_retry_after`]:
/// from 1 s to [`MAX_RETRY_AFTER`]; the problem names `variable`.
///
/// ```
/// use std::time::Duration;
/// use posture_http::env::max_retry_after_in_range;
/// assert!(max_retry_after_in_range(Duration::from_secs(1), "KANDJI_MAX_RETRY_AFTER").is_ok());
/// let problem = max_retry_after_in_range(Duration::ZERO, "KANDJI_MAX_RETRY_AFTER").unwrap_err();
/// assert_eq!(
///     problem.to_string(),
///     "KANDJI_MAX_RETRY_AFTER=\"0\" is invalid: expected a whole number of seconds from 1 to 3600"
/// );
/// ```
pub fn max_retry_after_in_range(
    delay: Duration,
    variable: &str,
) -> Result<Duration, ConfigProblem> {
    if (Duration::from_secs(1)..=MAX_RETRY_AFTER).contains(&delay) {
        return Ok(delay);
    }
    Err(ConfigProblem::invalid(
        variable,
        &delay.as_secs_f64().to_string(),
        seconds_expected(1, MAX_RETRY_AFTER.as_secs()),
    ))
}

/// A whole number from `min` to `max`; `default` when unset. `expected` says what the
/// number counts and its bounds, such as "a whole number of requests a second from 1 to 50".
///
/// ```
/// let mut problems = Vec::new();
/// let expected = "a whole number of requests a second from 1 to 50";
/// assert_eq!(posture_http::env::number(None, "RATE", 50, 1, 50, expected, &mut problems), Some(50));
/// assert_eq!(posture_http::env::number(Some("8".into()), "RATE", 50, 1, 50, expected, &mut problems), Some(8));
/// assert_eq!(posture_http::env::number(Some("51".into()), "RATE", 50, 1, 50, expected, &mut problems), None);
/// assert_eq!(
///     problems[0].to_string(),
///     "RATE=\"51\" is invalid: expected a whole number of requests a second from 1 to 50"
/// );
/// ```
pub fn number(
    value: Option<String>,
    variable: &str,
    default: u64,
    min: u64,
    max: u64,
    expected: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<u64> {
    match value {
        None => Some(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                problems.push(ConfigProblem::invalid(variable, &text, expected));
                None
            }
        },
    }
}

/// A PEM file of extra CA certificates; an empty bundle when unset.
pub fn ca_bundle(
    value: Option<String>,
    variable: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<CaBundle> {
    match value {
        None => Some(CaBundle::empty()),
        Some(path) => match CaBundle::from_pem_file(&path) {
            Ok(bundle) => Some(bundle),
            Err(err) => {
                problems.push(ConfigProblem::invalid(
                    variable,
                    &path,
                    format!("a readable PEM file of CA certificates ({err})"),
                ));
                None
            }
        },
    }
}

/// A comma-separated list: items trimmed, empty items dropped.
///
/// ```
/// assert_eq!(posture_http::env::list(Some(" a, ,b ".to_owned())), ["a", "b"]);
/// ```
pub fn list(value: Option<String>) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `text` is a GUID in the 8-4-4-4-12 hex form (any case).
///
/// ```
/// assert!(posture_http::env::is_guid("0f0f0f0f-1111-2222-3333-444444444444"));
/// assert!(!posture_http::env::is_guid("0f0f0f0f11112222333344444444444a"));
/// ```
pub fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_inline_or_from_a_file_never_both() {
        let dir = std::env::temp_dir().join(format!("posture-http-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "from-file\r\n").unwrap();
        let path_text = path.to_str().unwrap().to_owned();

        let mut problems = Vec::new();
        let get = |name: &str| (name == "S_FILE").then(|| path_text.clone());
        let secret = secret(&get, "S", "S_FILE", "the secret", &mut problems).unwrap();
        assert_eq!(secret.expose(), "from-file");

        let both = |name: &str| match name {
            "S" => Some("inline".to_owned()),
            "S_FILE" => Some(path_text.clone()),
            _ => None,
        };
        assert!(super::secret(&both, "S", "S_FILE", "the secret", &mut problems).is_none());
        assert_eq!(
            problems[0].to_string(),
            "S is invalid (value not shown, it is a secret): expected either S or S_FILE, not both"
        );

        std::fs::write(&path, "\n").unwrap();
        assert!(super::secret(&get, "S", "S_FILE", "the secret", &mut problems).is_none());
        assert!(problems[1].to_string().contains("the file is empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn url_passwords_never_reach_a_problem() {
        let password = "Hunter2-Url-Password";
        for text in [
            format!("https://admin:{password}@jamf.example.com"),
            format!("http://admin:{password}@jamf.example.com"),
            format!("https://admin:{password}@jamf example.com"),
            format!("admin:{password}@jamf.example.com"),
            format!("{password}@jamf.example.com"),
            format!("https://admin:{password}/x@jamf.example.com"),
        ] {
            let mut problems = Vec::new();
            assert!(base_url(Some(text.clone()), "ACME_URL", "a URL", &mut problems).is_none());
            let shown = format!("{} {:?}", problems[0], problems[0]);
            assert!(!shown.contains(password), "{text}: {shown}");
            assert!(shown.contains("ACME_URL"), "{shown}");
        }
    }

    #[test]
    fn values_name_their_variable() {
        let mut problems = Vec::new();
        assert_eq!(boolean(None, "B", true, &mut problems), Some(true));
        assert_eq!(boolean(Some("yes".into()), "B", true, &mut problems), None);
        assert_eq!(
            seconds(Some("0".into()), "T", Duration::ZERO, 1, 60, &mut problems),
            None
        );
        assert!(
            base_url(
                Some("http://x.example.com".into()),
                "U",
                "a URL",
                &mut problems
            )
            .is_none()
        );
        assert!(ca_bundle(Some("/nonexistent.pem".into()), "C", &mut problems).is_none());
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines[0],
            "B=\"yes\" is invalid: expected 0 or 1 (or true/false)"
        );
        assert_eq!(
            lines[1],
            "T=\"0\" is invalid: expected a whole number of seconds from 1 to 60"
        );
        assert!(lines[2].starts_with("U=\"http://x.example.com\" is invalid: expected a URL ("));
        assert!(lines[3].starts_with("C=\"/nonexistent.pem\" is invalid: expected a readable PEM"));
    }
}
