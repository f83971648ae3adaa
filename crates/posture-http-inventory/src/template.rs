//! `HTTP_URL`, the URL template, and the JSON pointers of `HTTP_RECORD`, `HTTP_MATCH`,
//! `HTTP_REQUIRE` and `HTTP_ENRICH`.

use std::fmt;

use posture_http::{BaseUrl, Url, percent_encode_into};
use serde_json::Value;

/// One piece of a [`UrlTemplate`].
#[derive(Clone, Debug, Eq, PartialEq)]
enum Part {
    Literal(String),
    Identifier,
    Mode,
}

/// `HTTP_URL`: a URL with `{identifier}` and optionally `{mode}`, each replaced by its value
/// percent-encoded (every byte but ASCII letters, digits and `-._~`), so a value can't add a
/// path segment, a query parameter or a fragment. A value that would make a `.` or `..`
/// segment of the path, alone or with the text around it, is refused: the URL parser reads
/// those as steps up the path however they are encoded.
///
/// Rules, checked at configure time: `https://`, or `http://` for loopback hosts only; no
/// user name or password; no fragment; no `.` or `..` path segment; `{identifier}` at least
/// once; no other `{…}`; and no placeholder in the scheme or the host (the host must be the
/// same whatever the values, as the URL parser reads it).
///
/// ```
/// use posture_http_inventory::UrlTemplate;
///
/// let template = UrlTemplate::parse("https://assets.example.com/api/v1/hardware/byserial/{identifier}")?;
/// assert_eq!(
///     template.expand("C02XL0GJJG5J", "computer")?.as_str(),
///     "https://assets.example.com/api/v1/hardware/byserial/C02XL0GJJG5J"
/// );
/// let query = UrlTemplate::parse("https://cmdb.example.com/devices?serial={identifier}&kind={mode}")?;
/// assert_eq!(query.expand("a/b?c", "")?.query(), Some("serial=a%2Fb%3Fc&kind="));
///
/// assert!(UrlTemplate::parse("http://assets.example.com/{identifier}").is_err());
/// assert!(UrlTemplate::parse("https://assets.example.com/hardware").is_err());
/// assert!(UrlTemplate::parse("https://{identifier}.example.com/").is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Eq, PartialEq)]
pub struct UrlTemplate {
    text: String,
    parts: Vec<Part>,
}

impl UrlTemplate {
    /// Parses and checks a template; the error says what is wrong (it never quotes the
    /// text).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.chars().any(|c| c.is_ascii_control()) {
            // The URL parser drops tabs and line breaks and trims other control characters
            // from the ends, so the text would not say what is requested.
            return Err("a control character in the URL".to_owned());
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err("a } without its {".to_owned());
            }
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                return Err("a { without its }".to_owned());
            };
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            parts.push(match &rest[open + 1..close] {
                "identifier" => Part::Identifier,
                "mode" => Part::Mode,
                other => {
                    return Err(format!(
                        "unknown placeholder {{{other}}}: only {{identifier}} and {{mode}} are \
                         replaced"
                    ));
                }
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if !parts.contains(&Part::Identifier) {
            return Err("no {identifier} placeholder: the URL must name the device".to_owned());
        }
        // The scheme and the authority must come before any placeholder.
        let Some(Part::Literal(head)) = parts.first() else {
            return Err("a placeholder where the scheme belongs".to_owned());
        };
        let after_scheme = head.find("://").map(|i| i + 3);
        let authority_ends = after_scheme.and_then(|start| head[start..].find(['/', '?']));
        if authority_ends.is_none() {
            return Err(
                "a placeholder in the host: only the path and the query may have them".to_owned(),
            );
        }
        let template = Self {
            text: text.to_owned(),
            parts,
        };
        if has_dot_segment(&template.fill("IDENTIFIER", "auto")) {
            return Err("a . or .. segment in the path".to_owned());
        }
        let sample = template.expand("IDENTIFIER", "auto")?;
        // The text before the first placeholder holds the authority as written, but the URL
        // parser may read the host from further on (it skips a third slash, and drops tabs
        // and line breaks): the host must come out the same whatever the values.
        let other = template.expand("0", "computer")?;
        if (sample.scheme(), sample.host_str(), sample.port())
            != (other.scheme(), other.host_str(), other.port())
        {
            return Err(
                "a placeholder in the host: only the path and the query may have them".to_owned(),
            );
        }
        if !sample.username().is_empty() || sample.password().is_some() {
            return Err(
                "the URL must not contain a user name or password: send credentials \
                        with HTTP_HEADERS"
                    .to_owned(),
            );
        }
        if sample.fragment().is_some() {
            return Err("the URL must not contain a fragment".to_owned());
        }
        let origin = format!(
            "{}://{}",
            sample.scheme(),
            sample.host_str().unwrap_or_default()
        );
        BaseUrl::parse(&origin).map_err(|err| err.to_string())?;
        Ok(template)
    }

    /// The URL for one lookup. `Err` for values that would make a `.` or `..` segment of the
    /// path (no serial number does), and for a template that no longer parses as a URL,
    /// which [`parse`](Self::parse) has ruled out.
    pub fn expand(&self, identifier: &str, mode: &str) -> Result<Url, String> {
        let url = self.fill(identifier, mode);
        if has_dot_segment(&url) {
            return Err(
                "the value would make a . or .. segment of the path, a step up the path".to_owned(),
            );
        }
        Url::parse(&url).map_err(|err| format!("not an absolute URL ({err})"))
    }

    /// The template's text with the values, percent-encoded, in place of the placeholders.
    /// Spaces of the text are written `%20`, as the URL parser writes them, so that one
    /// before an empty value at the end is kept rather than trimmed away.
    fn fill(&self, identifier: &str, mode: &str) -> String {
        let mut url = String::with_capacity(self.text.len() + identifier.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => url.push_str(&text.replace(' ', "%20")),
                Part::Identifier => percent_encode_into(&mut url, identifier, b""),
                Part::Mode => percent_encode_into(&mut url, mode, b""),
            }
        }
        url
    }

    /// Whether the template has `{mode}`.
    pub fn uses_mode(&self) -> bool {
        self.parts.contains(&Part::Mode)
    }

    /// The template as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UrlTemplate({:?})", self.text)
    }
}

/// Whether the path of `url`, read as the URL parser of an `http` or `https` URL reads it
/// (`\` a separator like `/`; a template has no control characters to drop), has a `.` or
/// `..` segment, in any of the spellings it takes for one (`%2e` is a dot).
fn has_dot_segment(url: &str) -> bool {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    // The authority runs to the first separator; the path is what follows.
    let Some(start) = rest.find(['/', '\\']) else {
        return false;
    };
    const DOT_SEGMENTS: [&str; 6] = [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"];
    rest[start..].split(['/', '\\']).any(|segment| {
        DOT_SEGMENTS
            .iter()
            .any(|dot| segment.eq_ignore_ascii_case(dot))
    })
}

/// Checks an RFC 6901 JSON pointer as `serde_json::Value::pointer` reads it: empty (the
/// whole value) or `/`-separated tokens, `~` only in `~0` and `~1`.
///
/// ```
/// use posture_http_inventory::check_pointer;
/// assert!(check_pointer("/rows/0").is_ok());
/// assert!(check_pointer("").is_ok());
/// assert!(check_pointer("rows/0").is_err());
/// assert!(check_pointer("/a~2b").is_err());
/// ```
pub fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err("a JSON pointer starts with / (such as /rows/0)".to_owned());
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("~ in a JSON pointer must be ~0 (for ~) or ~1 (for /)".to_owned());
        }
    }
    Ok(())
}

/// One `HTTP_REQUIRE` condition.
///
/// ```
/// use posture_http_inventory::Condition;
/// use serde_json::json;
///
/// let deployed = Condition::parse("/status_label/status_meta=deployed")?;
/// assert!(deployed.holds(&json!({"status_label": {"status_meta": "deployed"}})));
/// let flag = Condition::parse("/mdm/enrolled")?;
/// assert!(flag.holds(&json!({"mdm": {"enrolled": true}})));
/// assert!(!flag.holds(&json!({"mdm": {"enrolled": "true"}})));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Condition {
    /// `pointer=value`: the field's text (a string as it is, a number or boolean as JSON
    /// writes it) equals the value.
    Equals {
        /// Where the field is in the record.
        pointer: String,
        /// The text it must equal.
        value: String,
    },
    /// `pointer`: the field is JSON `true`.
    IsTrue {
        /// Where the field is in the record.
        pointer: String,
    },
}

impl Condition {
    /// Parses `pointer=value` or `pointer`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let condition = match text.split_once('=') {
            Some((pointer, value)) => Self::Equals {
                pointer: pointer.trim().to_owned(),
                value: value.trim().to_owned(),
            },
            None => Self::IsTrue {
                pointer: text.to_owned(),
            },
        };
        if condition.pointer().is_empty() {
            return Err(
                "a condition needs a JSON pointer, such as /status_label/status_meta".to_owned(),
            );
        }
        check_pointer(condition.pointer())?;
        Ok(condition)
    }

    /// The pointer the condition reads.
    pub fn pointer(&self) -> &str {
        match self {
            Self::Equals { pointer, .. } | Self::IsTrue { pointer } => pointer,
        }
    }

    /// Whether `record` satisfies the condition.
    pub fn holds(&self, record: &Value) -> bool {
        match self {
            Self::Equals { pointer, value } => {
                record.pointer(pointer).and_then(text).as_deref() == Some(value.as_str())
            }
            Self::IsTrue { pointer } => record.pointer(pointer) == Some(&Value::Bool(true)),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Equals { pointer, value } => write!(f, "{pointer}={value}"),
            Self::IsTrue { pointer } => f.write_str(pointer),
        }
    }
}

/// A field's text: a string as it is, a number or a boolean as JSON writes it; `None` for
/// `null`, objects, arrays and absent fields.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a field holds, for a deny message: `"pending"`, `42`, `missing`.
pub(crate) fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "missing".to_owned(),
        Some(value) => {
            let mut shown = value.to_string();
            if shown.len() > 80 {
                let mut cut = 77;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
                shown.push_str("...");
            }
            shown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panics unless every one of `templates` is refused when configured.
    #[track_caller]
    fn assert_refused(templates: &[&str]) {
        for text in templates {
            let refused = UrlTemplate::parse(text);
            assert!(refused.is_err(), "{text:?}: {refused:?}");
        }
    }

    /// Found by the `mdm_responses` fuzz target: with a third slash the URL parser skips
    /// the empty authority and reads the host from what follows, placeholder included.
    #[test]
    fn a_placeholder_behind_an_empty_authority_is_in_the_host() {
        assert_refused(&[
            "https:///{identifier}.devices.example.com/api",
            "https:///devices-{identifier}.example.com/api",
        ]);
        // The host is read the same way whatever the values, so an empty authority
        // followed by a fixed host is still a fixed host.
        let fixed =
            UrlTemplate::parse("https:///assets.example.com/hardware/{identifier}").unwrap();
        assert_eq!(
            fixed.expand("C02XL0GJJG5J", "").unwrap().host_str(),
            Some("assets.example.com")
        );
    }

    /// A value that makes a dot segment, alone or with the text around it, would move the
    /// request up the path (`%2e` is a dot to the URL parser too).
    #[test]
    fn a_value_never_steps_through_the_path() {
        let status =
            UrlTemplate::parse("https://assets.example.com/api/{identifier}/status").unwrap();
        for value in [".", ".."] {
            let expanded = status.expand(value, "");
            assert!(expanded.is_err(), "{value}: {expanded:?}");
        }
        let dotted = UrlTemplate::parse("https://assets.example.com/api/.{identifier}/x").unwrap();
        assert!(dotted.expand(".", "").is_err());
        let percent = UrlTemplate::parse("https://assets.example.com/api/%{identifier}/x").unwrap();
        assert!(percent.expand("2e", "").is_err());
        assert_eq!(
            percent.expand("2f", "").unwrap().path(),
            "/api/%2f/x",
            "a value that makes no dot segment goes in as it is"
        );
        // In the query, dots are plain text.
        let query =
            UrlTemplate::parse("https://cmdb.example.com/devices?serial={identifier}").unwrap();
        assert_eq!(query.expand("..", "").unwrap().query(), Some("serial=.."));
        // Templates with dot segments of their own are refused when configured.
        assert!(UrlTemplate::parse("https://assets.example.com/api/../{identifier}").is_err());
        assert!(UrlTemplate::parse("https://assets.example.com/api/%2E/{identifier}").is_err());
    }

    /// Found by the `mdm_responses` fuzz target: the URL parser trims control characters
    /// and spaces from the ends of a URL, so text before an empty value at the end could
    /// vanish, here making `/.` of `/. ` and stepping up the path.
    #[test]
    fn the_text_around_an_empty_value_stays() {
        assert_refused(&[
            "https://\t/{identifier}.example.com/",
            "https://assets.example.com/api/.\0{identifier}",
            "https://assets.example.com/api/\n{identifier}",
        ]);
        let spaced =
            UrlTemplate::parse("https://assets.example.com/api/. {mode}/{identifier}").unwrap();
        assert_eq!(
            spaced.expand("C02XL0GJJG5J", "").unwrap().path(),
            "/api/.%20/C02XL0GJJG5J"
        );
        let trailing =
            UrlTemplate::parse("https://assets.example.com/api/{identifier}/. {mode}").unwrap();
        assert_eq!(
            trailing.expand("C02XL0GJJG5J", "").unwrap().path(),
            "/api/C02XL0GJJG5J/.%20"
        );
    }
}
