use std::fmt;
use std::net::IpAddr;

use url::Url;

/// The validated base URL of an MDM tenant, such as `https://example.jamfcloud.com` or
/// `https://mdm.example.com:8443/jamf`.
///
/// Rules:
/// - `https://` is required; `http://` is accepted only when the host is loopback
///   (`127.0.0.0/8`, `::1` or `localhost`), so tests can run a plain-HTTP fake on
///   `127.0.0.1`;
/// - a path prefix is kept and a trailing slash is ignored, so `https://h/jamf/` and
///   `https://h/jamf` are the same base;
/// - user names, passwords, queries and fragments are refused: credentials belong in their
///   own settings, and the others would be silently dropped;
/// - the scheme must be followed by `//`.
///
/// No error message quotes the text, so a refused URL's password is never shown; show the
/// text itself with [`redact_userinfo`](crate::redact_userinfo).
///
/// ```
/// use posture_http::BaseUrl;
/// let base = BaseUrl::parse("https://example.jamfcloud.com/")?;
/// assert_eq!(base.as_str(), "https://example.jamfcloud.com");
/// assert_eq!(
///     base.join(&["api", "oauth", "token"]).as_str(),
///     "https://example.jamfcloud.com/api/oauth/token"
/// );
///
/// let prefixed = BaseUrl::parse("https://mdm.example.com/jamf/")?;
/// assert_eq!(prefixed.join(&["JSSResource", "computers"]).path(), "/jamf/JSSResource/computers");
///
/// assert!(BaseUrl::parse("http://127.0.0.1:8080").is_ok());
/// assert!(BaseUrl::parse("http://example.jamfcloud.com").is_err());
/// # Ok::<(), posture_http::BaseUrlError>(())
/// ```
#[derive(Clone, Eq, Hash, PartialEq)]
pub struct BaseUrl {
    url: Url,
    display: String,
}

/// Why a base URL was refused.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BaseUrlError {
    /// The text is not an absolute URL.
    #[error("not an absolute URL ({reason}): expected https://host[:port][/path]")]
    Malformed {
        /// What the URL parser said.
        reason: String,
    },
    /// The scheme is neither `https` nor `http`.
    #[error("unsupported scheme {scheme:?}: expected https://host[:port][/path]")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// `http://` was used for a host that is not loopback.
    #[error(
        "plain http:// is only allowed for loopback hosts (127.0.0.1, ::1, localhost): use https://{host}"
    )]
    InsecureScheme {
        /// The host, to suggest the https URL.
        host: String,
    },
    /// The URL carries a user name or password.
    #[error(
        "the URL must not contain a user name or password: put credentials in their own settings"
    )]
    HasCredentials,
    /// The URL carries a query string or a fragment.
    #[error(
        "the URL must not contain a query string or fragment: expected https://host[:port][/path]"
    )]
    HasQueryOrFragment,
}

impl BaseUrl {
    /// Parses and checks a base URL. Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, BaseUrlError> {
        let text = text.trim();
        let mut url = Url::parse(text).map_err(|err| BaseUrlError::Malformed {
            reason: err.to_string(),
        })?;
        // Without `//`, what the parser took for a scheme is usually a user name
        // (`admin:password@host`) or a host (`host:443`): neither is worth naming.
        if !text[url.scheme().len()..].starts_with("://") {
            return Err(BaseUrlError::Malformed {
                reason: "no :// after the scheme".to_owned(),
            });
        }
        let Some(host) = url.host_str().map(str::to_owned) else {
            return Err(BaseUrlError::Malformed {
                reason: "no host".to_owned(),
            });
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            "http" => return Err(BaseUrlError::InsecureScheme { host }),
            other => {
                return Err(BaseUrlError::UnsupportedScheme {
                    scheme: other.to_owned(),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BaseUrlError::HasCredentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(BaseUrlError::HasQueryOrFragment);
        }
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        let display = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { url, display })
    }

    /// The base as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// Whether the base uses plain HTTP (only possible for loopback hosts).
    pub fn is_plain_http(&self) -> bool {
        self.url.scheme() == "http"
    }

    /// The host name or address.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// Appends path segments to the base. Each segment is percent-encoded as needed, so a
    /// value taken from a request (a serial number) cannot add segments or a query.
    ///
    /// ```
    /// # use posture_http::BaseUrl;
    /// let base = BaseUrl::parse("https://jamf.example.com")?;
    /// let url = base.join(&["JSSResource", "computers", "serialnumber", "A/B?C"]);
    /// assert_eq!(url.path(), "/JSSResource/computers/serialnumber/A%2FB%3FC");
    /// # Ok::<(), posture_http::BaseUrlError>(())
    /// ```
    pub fn join(&self, segments: &[&str]) -> Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }
}

fn is_loopback_host(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BaseUrl").field(&self.display).finish()
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl std::str::FromStr for BaseUrl {
    type Err = BaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Appends `value` to `out` percent-encoded for a URL's query or path segment: RFC 3986's
/// unreserved bytes (`A-Z a-z 0-9 - . _ ~`) and those in `also_keep` as they are, every other
/// byte (UTF-8 included) as `%XX` with upper-case hex digits. A vendor that wants a separator
/// left alone (Microsoft Graph's `$select=id,deviceName`) names it in `also_keep`, which holds
/// ASCII bytes only.
///
/// ```
/// let mut query = String::from("$filter=");
/// posture_http::percent_encode_into(&mut query, "serialNumber eq 'C02 ü'", b"");
/// assert_eq!(query, "$filter=serialNumber%20eq%20%27C02%20%C3%BC%27");
///
/// let mut select = String::new();
/// posture_http::percent_encode_into(&mut select, "id,deviceName", b",");
/// assert_eq!(select, "id,deviceName");
/// ```
pub fn percent_encode_into(out: &mut String, value: &str, also_keep: &[u8]) {
    debug_assert!(
        also_keep.is_ascii(),
        "only ASCII bytes can be kept unencoded"
    );
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || also_keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_settings::redact_userinfo;
    use std::borrow::Cow;

    #[test]
    fn accepts_https_with_and_without_trailing_slash_and_prefix() {
        for (text, expected) in [
            (
                "https://tenant.jamfcloud.com",
                "https://tenant.jamfcloud.com",
            ),
            (
                "https://tenant.jamfcloud.com/",
                "https://tenant.jamfcloud.com",
            ),
            (
                "  https://tenant.jamfcloud.com//  ",
                "https://tenant.jamfcloud.com",
            ),
            (
                "https://mdm.example.com:8443/jamf",
                "https://mdm.example.com:8443/jamf",
            ),
            (
                "https://mdm.example.com:8443/jamf/",
                "https://mdm.example.com:8443/jamf",
            ),
        ] {
            let base = BaseUrl::parse(text).unwrap();
            assert_eq!(base.as_str(), expected, "{text}");
            assert!(!base.is_plain_http());
        }
        let base = BaseUrl::parse("https://mdm.example.com/jamf/").unwrap();
        assert_eq!(
            base.join(&["api", "v1", "departments", "7"]).as_str(),
            "https://mdm.example.com/jamf/api/v1/departments/7"
        );
        let root = BaseUrl::parse("https://mdm.example.com/").unwrap();
        assert_eq!(root.join(&["api"]).as_str(), "https://mdm.example.com/api");
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:1234",
            "http://127.8.9.10",
            "http://[::1]:8080/prefix",
            "http://localhost:9000",
            "http://LOCALHOST",
        ] {
            let base = BaseUrl::parse(ok).unwrap();
            assert!(base.is_plain_http(), "{ok}");
        }
        for bad in [
            "http://tenant.jamfcloud.com",
            "http://10.0.0.1",
            "http://[::2]",
            "http://localhost.example.com",
            "http://128.0.0.1",
        ] {
            let err = BaseUrl::parse(bad).unwrap_err();
            assert!(
                matches!(err, BaseUrlError::InsecureScheme { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("https://"), "{err}");
        }
    }

    #[test]
    fn refuses_what_would_be_lost_or_leaked() {
        assert_eq!(
            BaseUrl::parse("https://user:pw@h.example.com"),
            Err(BaseUrlError::HasCredentials)
        );
        assert_eq!(
            BaseUrl::parse("https://h.example.com/?a=b"),
            Err(BaseUrlError::HasQueryOrFragment)
        );
        assert!(matches!(
            BaseUrl::parse("ftp://h.example.com"),
            Err(BaseUrlError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            BaseUrl::parse("tenant.jamfcloud.com"),
            Err(BaseUrlError::Malformed { .. })
        ));
        assert!(matches!(
            BaseUrl::parse(""),
            Err(BaseUrlError::Malformed { .. })
        ));
    }

    #[test]
    fn redaction_hides_every_form_of_user_information() {
        let password = "Pa55-word";
        for (text, shown) in [
            (
                "https://admin:Pa55-word@h.example.com",
                "https://[redacted]@h.example.com",
            ),
            (
                "https://:Pa55-word@h.example.com/x",
                "https://[redacted]@h.example.com/x",
            ),
            (
                "https://Pa55-word@h.example.com",
                "https://[redacted]@h.example.com",
            ),
            (
                "https://a:Pa55-word/x@h.example.com",
                "https://[redacted]@h.example.com",
            ),
            (
                "https://a:Pa55-word@@h.example.com",
                "https://[redacted]@h.example.com",
            ),
            (
                "https:a:Pa55-word@h.example.com",
                "https:[redacted]@h.example.com",
            ),
            ("https:\\\\a:Pa55-word@h", "https:\\\\[redacted]@h"),
            ("a:Pa55-word@h.example.com", "a:[redacted]@h.example.com"),
            ("Pa55-word@h.example.com", "[redacted]@h.example.com"),
            ("  https://a:Pa55-word@h", "  https://[redacted]@h"),
            ("//a:Pa55-word@h", "[redacted]@h"),
        ] {
            let redacted = redact_userinfo(text);
            assert_eq!(redacted, shown, "{text}");
            assert!(!redacted.contains(password), "{text}");
            assert_eq!(redact_userinfo(&redacted), redacted, "idempotent: {text}");
        }
        assert!(matches!(
            redact_userinfo("https://h.example.com/a"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn errors_never_quote_the_text() {
        for text in [
            "https://admin:Pa55-word@h.example.com",
            "http://admin:Pa55-word@h.example.com",
            "ftp://admin:Pa55-word@h.example.com",
            "https://admin:Pa55-word@h example.com",
            "https:admin:Pa55-word@h.example.com",
            "admin:Pa55-word@h.example.com",
            "Pa55-word@h.example.com",
        ] {
            let err = BaseUrl::parse(text).unwrap_err().to_string();
            assert!(!err.contains("Pa55-word"), "{text}: {err}");
        }
        // A host with a port but no scheme is not taken for a scheme.
        assert!(matches!(
            BaseUrl::parse("h.example.com:443"),
            Err(BaseUrlError::Malformed { .. })
        ));
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes_and_those_asked_for() {
        let printable: String = (b' '..=b'~').map(char::from).collect();
        let mut encoded = String::new();
        percent_encode_into(&mut encoded, &printable, b"");
        assert_eq!(
            encoded,
            "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F\
             %40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~"
        );
        let mut kept = String::new();
        percent_encode_into(&mut kept, "a,b$c\u{7f}\u{100}", b",$");
        assert_eq!(kept, "a,b$c%7F%C4%80");
    }

    #[test]
    fn join_encodes_segments() {
        let base = BaseUrl::parse("https://h.example.com").unwrap();
        let url = base.join(&["a b", "..", "x#y"]);
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        assert!(url.path().starts_with("/a%20b/"), "{}", url.path());
    }
}
