use std::time::Duration;

use posture_http::CommonSettings;
use posture_http::env::{ConfigProblem, ConfigProblems};
use posture_http::header::{HeaderName, HeaderValue};
use posture_settings::Reader;

use crate::kind::{COMMON, ENRICH, HEADERS, MATCH, RECORD, REQUIRE, URL};
use crate::template::{Condition, UrlTemplate, check_pointer};

/// The default `HTTP_CACHE_TTL`: allowed answers are reused for 60 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The default `HTTP_NEGATIVE_CACHE_TTL`: denies are reused for 10 s.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);

/// Headers the client sets itself, or that would change how the request is framed.
const RESERVED: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

/// The validated settings of an [`HttpInventoryProvider`](crate::HttpInventoryProvider).
///
/// Build it from environment-style variables with [`HttpInventoryConfig::from_env`], or in
/// code with [`HttpInventoryConfig::new`] and the `with_*` setters. `Debug` shows header
/// names, never their values.
///
/// ```
/// use posture_http_inventory::{Condition, HttpInventoryConfig, UrlTemplate};
///
/// let url = UrlTemplate::parse("https://assets.example.com/api/v1/hardware/byserial/{identifier}")?;
/// let config = HttpInventoryConfig::new(url, "/serial")?
///     .with_headers("Authorization: Bearer s3cr3t")?
///     .with_record("/rows/0")?
///     .with_require([Condition::parse("/status_label/status_meta=deployed")?]);
/// assert_eq!(config.header_names(), ["authorization"]);
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpInventoryConfig {
    url: UrlTemplate,
    headers: Vec<(HeaderName, HeaderValue)>,
    record: String,
    match_pointer: String,
    require: Vec<Condition>,
    enrich: Vec<(String, String)>,
    lookup: CommonSettings,
}

impl HttpInventoryConfig {
    /// Settings with the required values and every default: no extra header, the whole
    /// answer is the record, no condition, no enrichment, `TIMEOUT` 4 s, cache TTLs 60 s and
    /// 10 s (up to 10 000 answers), `Retry-After` honoured up to 60 s.
    pub fn new(url: UrlTemplate, match_pointer: &str) -> Result<Self, ConfigProblems> {
        check_pointer(match_pointer)
            .and_then(|()| {
                if match_pointer.is_empty() {
                    Err("the field to compare with the identifier, such as /serial".to_owned())
                } else {
                    Ok(())
                }
            })
            .map_err(|why| {
                ConfigProblems::one(ConfigProblem::invalid(MATCH.name, match_pointer, why))
            })?;
        Ok(Self {
            url,
            headers: Vec::new(),
            record: String::new(),
            match_pointer: match_pointer.to_owned(),
            require: Vec::new(),
            enrich: Vec::new(),
            lookup: CommonSettings::defaults(COMMON),
        })
    }

    /// Reads the settings ([`SETTINGS`](crate::SETTINGS) and `TIMEOUT`) from
    /// environment-style variables; `get` returns a variable's value, or `None` when it is
    /// unset. Every problem is reported, each naming its variable; a problem with
    /// `HTTP_HEADERS` names the line and the header, never a value. Reads the files named by
    /// `HTTP_HEADERS_FILE` and `HTTP_CA_PATH`; does no network I/O.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use posture_http_inventory::HttpInventoryConfig;
    ///
    /// let env = HashMap::from([
    ///     ("HTTP_URL", "https://assets.example.com/api/v1/hardware/byserial/{identifier}"),
    ///     ("HTTP_HEADERS", "Authorization: Bearer s3cr3t\nX-Tenant: acme"),
    ///     ("HTTP_RECORD", "/rows/0"),
    ///     ("HTTP_MATCH", "/serial"),
    ///     ("HTTP_REQUIRE", "/status_label/status_meta=deployed"),
    ///     ("HTTP_ENRICH", "user=/assigned_to/username,location=/location/name"),
    /// ]);
    /// let config = HttpInventoryConfig::from_env(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.header_names(), ["authorization", "x-tenant"]);
    /// assert_eq!(config.enrich()[1], ("location".to_owned(), "/location/name".to_owned()));
    ///
    /// let err = HttpInventoryConfig::from_env(|name| match name {
    ///     "HTTP_URL" => Some("https://assets.example.com/hardware".into()),
    ///     _ => None,
    /// })
    /// .unwrap_err()
    /// .to_string();
    /// assert!(err.contains("HTTP_URL=\"https://assets.example.com/hardware\" is invalid"), "{err}");
    /// assert!(err.contains("HTTP_MATCH is not set"), "{err}");
    /// # Ok::<(), posture_settings::ConfigProblems>(())
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
        let mut reader = Reader::new(&get);
        let url = reader.required_text(&URL).and_then(|text| {
            UrlTemplate::parse(&text)
                .map_err(|why| {
                    reader.problem(ConfigProblem::invalid(
                        URL.name,
                        &posture_http::redact_userinfo(&text),
                        format!("{} ({why})", URL.expected()),
                    ));
                })
                .ok()
        });
        let headers = match reader.secret(&HEADERS) {
            Some(Some(text)) => parse_headers(&text)
                .map_err(|why| {
                    reader.problem(ConfigProblem::secret(
                        HEADERS.name,
                        format!("{} ({why})", HEADERS.doc),
                    ));
                })
                .ok(),
            Some(None) => Some(Vec::new()),
            None => None,
        };
        let record = reader.text(&RECORD).flatten().unwrap_or_default();
        if let Err(why) = check_pointer(&record) {
            reader.problem(ConfigProblem::invalid(RECORD.name, &record, why));
        }
        let match_pointer = reader.required_text(&MATCH);
        if let Some(Err(why)) = match_pointer.as_deref().map(check_pointer) {
            let text = match_pointer.clone().unwrap_or_default();
            reader.problem(ConfigProblem::invalid(MATCH.name, &text, why));
        }
        let mut require = Vec::new();
        for entry in reader.list(&REQUIRE) {
            match Condition::parse(&entry) {
                Ok(condition) => require.push(condition),
                Err(why) => reader.problem(ConfigProblem::invalid(
                    REQUIRE.name,
                    &entry,
                    format!("pointer=value or pointer, such as /status_label/status_meta=deployed ({why})"),
                )),
            }
        }
        let enrich = match reader.value(ENRICH.name).as_deref() {
            None | Some("0") => Vec::new(),
            Some(_) => {
                let mut pairs: Vec<(String, String)> = Vec::new();
                for entry in reader.list(&ENRICH) {
                    match parse_pair(&entry, &pairs) {
                        Ok(pair) => pairs.push(pair),
                        Err(why) => {
                            reader.problem(ConfigProblem::invalid(ENRICH.name, &entry, why))
                        }
                    }
                }
                pairs
            }
        };
        let lookup = CommonSettings::read(&mut reader, COMMON);
        reader.finish_with(|| {
            Some(Self {
                url: url?,
                headers: headers?,
                record,
                match_pointer: match_pointer?,
                require,
                enrich,
                lookup: lookup?,
            })
        })
    }

    /// Sends these headers, one `Name: value` a line, with every request.
    pub fn with_headers(mut self, lines: &str) -> Result<Self, ConfigProblems> {
        self.headers = parse_headers(lines)
            .map_err(|why| ConfigProblems::one(ConfigProblem::secret(HEADERS.name, why)))?;
        Ok(self)
    }

    /// Reads the device record at this JSON pointer of the answer (`""`: the whole answer).
    pub fn with_record(mut self, pointer: &str) -> Result<Self, ConfigProblems> {
        check_pointer(pointer).map_err(|why| {
            ConfigProblems::one(ConfigProblem::invalid(RECORD.name, pointer, why))
        })?;
        self.record = pointer.to_owned();
        Ok(self)
    }

    /// Requires every one of these conditions.
    #[must_use]
    pub fn with_require(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.require = conditions.into_iter().collect();
        self
    }

    /// Builds the enrichment data from these `name=pointer` pairs.
    pub fn with_enrich(mut self, pairs: &str) -> Result<Self, ConfigProblems> {
        let mut parsed: Vec<(String, String)> = Vec::new();
        for entry in posture_settings::split_list(pairs) {
            let pair = parse_pair(&entry, &parsed).map_err(|why| {
                ConfigProblems::one(ConfigProblem::invalid(ENRICH.name, &entry, why))
            })?;
            parsed.push(pair);
        }
        self.enrich = parsed;
        Ok(self)
    }

    /// Sets `TIMEOUT`, the cache TTLs, the longest `Retry-After` honoured and extra CA
    /// certificates.
    #[must_use]
    pub fn with_lookup(mut self, lookup: CommonSettings) -> Self {
        self.lookup = lookup;
        self
    }

    /// `HTTP_URL`.
    pub fn url(&self) -> &UrlTemplate {
        &self.url
    }

    /// The names of the `HTTP_HEADERS`, lower-cased, in order; the values are never shown.
    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(name, _)| name.as_str()).collect()
    }

    pub(crate) fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// `HTTP_RECORD`.
    pub fn record(&self) -> &str {
        &self.record
    }

    /// `HTTP_MATCH`.
    pub fn match_pointer(&self) -> &str {
        &self.match_pointer
    }

    /// `HTTP_REQUIRE`.
    pub fn require(&self) -> &[Condition] {
        &self.require
    }

    /// `HTTP_ENRICH`: name and pointer.
    pub fn enrich(&self) -> &[(String, String)] {
        &self.enrich
    }

    /// `TIMEOUT`, `HTTP_CACHE_TTL`, `HTTP_NEGATIVE_CACHE_TTL`, `HTTP_MAX_RETRY_AFTER` and
    /// `HTTP_CA_PATH`.
    pub fn lookup(&self) -> &CommonSettings {
        &self.lookup
    }
}

/// `Name: value` lines (blank lines and `#` comments skipped), names and values checked as
/// HTTP header names and values; values are marked sensitive. The error names the line and
/// the header, never a value.
fn parse_headers(text: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {n} is not Name: value"));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("line {n} does not start with a valid header name"))?;
        if RESERVED.contains(&name.as_str()) {
            return Err(format!("line {n}: {name} is set by the client itself"));
        }
        let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
            format!("line {n} ({name}) has a value that is not a valid HTTP header value")
        })?;
        value.set_sensitive(true);
        headers.push((name, value));
    }
    Ok(headers)
}

/// One `name=pointer` pair of `HTTP_ENRICH`, its name not already used.
fn parse_pair(entry: &str, earlier: &[(String, String)]) -> Result<(String, String), String> {
    let Some((name, pointer)) = entry.split_once('=') else {
        return Err("name=pointer, such as user=/assigned_to/username".to_owned());
    };
    let (name, pointer) = (name.trim(), pointer.trim());
    if name.is_empty() {
        return Err("name=pointer with a name, such as user=/assigned_to/username".to_owned());
    }
    if earlier.iter().any(|(n, _)| n == name) {
        return Err(format!("each name once ({name} is named twice)"));
    }
    check_pointer(pointer)?;
    Ok((name.to_owned(), pointer.to_owned()))
}

#[cfg(test)]
mod tests {
    use posture_settings::EnvCases;

    use super::*;

    const CASES: EnvCases<'static, HttpInventoryConfig> = EnvCases::new(
        &[
            (
                "HTTP_URL",
                "https://assets.example.com/api/v1/hardware/byserial/{identifier}",
            ),
            ("HTTP_MATCH", "/serial"),
            ("HTTP_HEADERS", "Authorization: Bearer top-secret-token"),
        ],
        "top-secret-token",
        |get| HttpInventoryConfig::from_env(get),
    );

    /// The minimal variables with `pairs` set; an empty value unsets the variable.
    fn full<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut pairs = CASES.with(pairs);
        pairs.retain(|(_, value)| !value.is_empty());
        pairs
    }

    #[test]
    fn defaults() {
        let config = CASES.env(&full(&[])).unwrap();
        assert_eq!(config.record(), "");
        assert_eq!(config.match_pointer(), "/serial");
        assert!(config.require().is_empty() && config.enrich().is_empty());
        assert_eq!(config.lookup().timeout(), Duration::from_secs(4));
        assert_eq!(config.lookup().cache_ttl(), DEFAULT_CACHE_TTL);
        assert_eq!(
            config.lookup().negative_cache_ttl(),
            DEFAULT_NEGATIVE_CACHE_TTL
        );
        assert!(!format!("{config:?}").contains("top-secret-token"));
        assert!(
            CASES
                .env(&full(&[("HTTP_ENRICH", "0")]))
                .unwrap()
                .enrich()
                .is_empty()
        );
        assert!(
            CASES
                .env(&full(&[("HTTP_HEADERS", "")]))
                .unwrap()
                .header_names()
                .is_empty()
        );
    }

    #[test]
    fn every_variable_names_itself() {
        // Flags, numbers, paths and secret files are checked for every declared variable by
        // the declarations test (`settings_tests!`); these are the rules of their own.
        for (pairs, start) in [
            (
                vec![("HTTP_URL", "http://assets.example.com/{identifier}")],
                "HTTP_URL=\"http://assets.example.com/{identifier}\" is invalid: expected the lookup URL",
            ),
            (
                vec![("HTTP_URL", "https://assets.example.com/{serial}")],
                "HTTP_URL=\"https://assets.example.com/{serial}\" is invalid",
            ),
            (
                vec![(
                    "HTTP_URL",
                    "https://user:pw@assets.example.com/{identifier}",
                )],
                "HTTP_URL=\"https://[redacted]@assets.example.com/{identifier}\" is invalid",
            ),
            (vec![("HTTP_MATCH", "")], "HTTP_MATCH is not set"),
            (
                vec![("HTTP_MATCH", "serial")],
                "HTTP_MATCH=\"serial\" is invalid",
            ),
            (
                vec![("HTTP_RECORD", "rows/0")],
                "HTTP_RECORD=\"rows/0\" is invalid",
            ),
            (
                vec![("HTTP_REQUIRE", "/a=b,status=deployed")],
                "HTTP_REQUIRE=\"status=deployed\" is invalid",
            ),
            (
                vec![("HTTP_ENRICH", "user=/a,user=/b")],
                "HTTP_ENRICH=\"user=/b\" is invalid: expected each name once",
            ),
            (
                vec![("HTTP_ENRICH", "1")],
                "HTTP_ENRICH=\"1\" is invalid: expected name=pointer",
            ),
            (
                vec![("HTTP_HEADERS", "Authorization Bearer top-secret-token")],
                "HTTP_HEADERS is invalid (value not shown, it is a secret): expected extra request headers",
            ),
            (
                vec![("HTTP_HEADERS", "X-Ok: 1\nBad Name: top-secret-token")],
                "HTTP_HEADERS is invalid (value not shown, it is a secret)",
            ),
            (
                vec![("HTTP_HEADERS", "Host: top-secret-token")],
                "HTTP_HEADERS is invalid",
            ),
            (vec![("TIMEOUT", "0")], "TIMEOUT=\"0\" is invalid"),
        ] {
            let text = CASES.only_problem(&full(&pairs));
            assert!(text.starts_with(start), "{text}");
        }
    }

    #[test]
    fn headers_from_a_file_with_comments() {
        let dir =
            std::env::temp_dir().join(format!("posture-http-inventory-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("headers");
        std::fs::write(
            &path,
            "# Snipe-IT\nAuthorization: Bearer top-secret-token\n\nX-Tenant:acme\n",
        )
        .unwrap();
        let config = CASES
            .env(&full(&[
                ("HTTP_HEADERS", ""),
                ("HTTP_HEADERS_FILE", path.to_str().unwrap()),
            ]))
            .unwrap();
        assert_eq!(config.header_names(), ["authorization", "x-tenant"]);
        assert!(config.headers().iter().all(|(_, v)| v.is_sensitive()));
        let text = CASES.only_problem(&full(&[("HTTP_HEADERS_FILE", path.to_str().unwrap())]));
        assert!(text.contains("not both"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
