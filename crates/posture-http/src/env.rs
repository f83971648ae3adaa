//! What every MDM provider reads beside its own declarations: the server's `TIMEOUT`, tenant
//! URLs with [`BaseUrl`]'s rules, secrets as [`Secret`]s, extra CA bundles and request
//! rates, each through a [`Reader`] so that problems name the variable, the value and what
//! was expected, and every problem is reported at once.
//!
//! ```
//! use posture_http::env;
//! use posture_settings::{Reader, Setting};
//!
//! const URL: Setting = Setting::url("ACME_URL", "the tenant URL").required();
//! const TOKEN: Setting = Setting::secret("ACME_TOKEN", "ACME_TOKEN_FILE", "the API token");
//! const CA: Setting = Setting::path("ACME_CA_PATH", "extra PEM CA certificates");
//!
//! let get = |name: &str| match name {
//!     "ACME_URL" => Some("https://acme.example.com/".to_owned()),
//!     "ACME_CA_PATH" => Some("/nonexistent/ca.pem".to_owned()),
//!     _ => None,
//! };
//! let mut reader = Reader::new(&get);
//! let url = env::read_base_url(&mut reader, &URL);
//! let token = env::read_secret(&mut reader, &TOKEN);
//! let roots = env::read_ca_bundle(&mut reader, &CA);
//! assert!(url.is_some() && token.is_none() && roots.is_none());
//! let problems = reader.finish().unwrap_err().to_string();
//! let lines: Vec<&str> = problems.lines().collect();
//! assert_eq!(lines[0], "ACME_TOKEN is not set: expected the API token (or ACME_TOKEN_FILE)");
//! assert!(lines[1].starts_with("ACME_CA_PATH=\"/nonexistent/ca.pem\" is invalid"));
//! ```

use posture_settings::Reader;
pub use posture_settings::Setting;
pub use posture_settings::{ConfigProblem, ConfigProblems};
// For `shared_settings!`, which expands in the provider's crate.
#[doc(hidden)]
pub use posture_settings::declare;

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
    let Some(path) = reader.value(setting.name) else {
        return Some(CaBundle::empty());
    };
    match CaBundle::from_pem_file(&path) {
        Ok(bundle) => Some(bundle),
        Err(err) => {
            reader.problem(ConfigProblem::invalid(
                setting.name,
                &path,
                format!("a readable PEM file of CA certificates ({err})"),
            ));
            None
        }
    }
}

use crate::{BaseUrl, CaBundle, Secret};

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

/// Whether `text` is a DNS name: at most 253 bytes, dot-separated labels of 1 to 63 ASCII
/// letters, digits and hyphens. (No wildcard, no trailing dot.)
///
/// ```
/// assert!(posture_http::env::is_dns_name("ca.example.com"));
/// assert!(posture_http::env::is_dns_name("localhost"));
/// assert!(!posture_http::env::is_dns_name("*.example.com"));
/// assert!(!posture_http::env::is_dns_name("ca..example.com"));
/// ```
pub fn is_dns_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
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
    fn url_passwords_never_reach_a_problem() {
        const URL: Setting = Setting::url("ACME_URL", "a URL");
        let password = "Hunter2-Url-Password";
        for text in [
            format!("https://admin:{password}@jamf.example.com"),
            format!("http://admin:{password}@jamf.example.com"),
            format!("https://admin:{password}@jamf example.com"),
            format!("admin:{password}@jamf.example.com"),
            format!("{password}@jamf.example.com"),
            format!("https://admin:{password}/x@jamf.example.com"),
        ] {
            let get = |_: &str| Some(text.clone());
            let mut reader = Reader::new(&get);
            assert!(read_base_url(&mut reader, &URL).is_none());
            let problems = reader.take_problems();
            let shown = format!("{} {:?}", problems[0], problems[0]);
            assert!(!shown.contains(password), "{text}: {shown}");
            assert!(shown.contains("ACME_URL"), "{shown}");
        }
    }

    #[test]
    fn values_name_their_variable() {
        const URL: Setting = Setting::url("U", "a URL");
        const CA: Setting = Setting::path("C", "extra CA certificates");
        const RATE: Setting = Setting::number("R", 20, 1, 50, "requests a second", "limit");
        let get = |name: &str| match name {
            "U" => Some("http://x.example.com".to_owned()),
            "C" => Some("/nonexistent.pem".to_owned()),
            "R" => Some("0".to_owned()),
            _ => None,
        };
        let mut reader = Reader::new(&get);
        assert!(read_base_url(&mut reader, &URL).is_none());
        assert!(read_ca_bundle(&mut reader, &CA).is_none());
        assert!(read_rate(&mut reader, &RATE).is_none());
        let lines: Vec<String> = reader
            .take_problems()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(lines[0].starts_with("U=\"http://x.example.com\" is invalid: expected a URL ("));
        assert!(lines[1].starts_with("C=\"/nonexistent.pem\" is invalid: expected a readable PEM"));
        assert_eq!(
            lines[2],
            "R=\"0\" is invalid: expected a whole number of requests a second from 1 to 50"
        );
    }

    #[test]
    fn an_unset_ca_path_is_an_empty_bundle() {
        const CA: Setting = Setting::path("C", "extra CA certificates");
        let mut reader = Reader::new(&|_| None);
        assert!(read_ca_bundle(&mut reader, &CA).is_some());
        assert!(reader.finish().is_ok());
    }
}
