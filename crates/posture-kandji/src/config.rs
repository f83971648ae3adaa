use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use posture_http::env::{self, ConfigProblems};
use posture_http::sync::SyncSettings;
use posture_http::{BaseUrl, CommonSettings, Secret};
use posture_settings::Reader;

use crate::kind;

/// The settings were invalid: every problem found, one per line.
pub type KandjiConfigError = ConfigProblems;

/// The default `TIMEOUT`: 4 s, so step-ca's retry fits in its 10 s budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);

/// The default `KANDJI_CACHE_TTL`: allowed answers are reused for 60 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The default `KANDJI_NEGATIVE_CACHE_TTL`: denies are reused for 10 s.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);

/// Kandji's limit per tenant, `X-RateLimit-Limit-Second: 50`, and the default and largest
/// `KANDJI_MAX_REQUESTS_PER_SECOND`.
pub const MAX_REQUESTS_PER_SECOND: u32 = 50;

/// One entry of `KANDJI_BLUEPRINTS`: a blueprint's ID or its name.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Blueprint {
    /// A blueprint ID (a GUID, matched in any case against `blueprint_id`).
    Id(String),
    /// A blueprint name (matched exactly against `blueprint_name`).
    Name(String),
}

impl Blueprint {
    /// An entry as written in `KANDJI_BLUEPRINTS`: a GUID is an ID, anything else a name.
    ///
    /// ```
    /// use posture_kandji::Blueprint;
    /// assert_eq!(
    ///     Blueprint::parse("AB102B9D-8E9C-420D-A498-F2A1123091C7"),
    ///     Blueprint::Id("ab102b9d-8e9c-420d-a498-f2a1123091c7".into())
    /// );
    /// assert_eq!(Blueprint::parse("Engineering Macs"), Blueprint::Name("Engineering Macs".into()));
    /// ```
    pub fn parse(entry: &str) -> Self {
        let entry = entry.trim();
        if env::is_guid(entry) {
            Self::Id(entry.to_ascii_lowercase())
        } else {
            Self::Name(entry.to_owned())
        }
    }

    /// Whether a device in the blueprint with this ID and name matches the entry.
    pub fn matches(&self, id: &str, name: &str) -> bool {
        match self {
            Self::Id(wanted) => id.trim().eq_ignore_ascii_case(wanted),
            Self::Name(wanted) => name == wanted,
        }
    }
}

impl fmt::Display for Blueprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Name(name) => write!(f, "{name:?}"),
        }
    }
}

/// Which family of API hosts `KANDJI_API_URL` names.
///
/// Kandji is now Iru. Tenants' API hosts are `<tenant>.api.iru.com` (US) and
/// `<tenant>.api.eu.iru.com` (EU); the older `<tenant>.api.kandji.io`,
/// `<tenant>.api.eu.kandji.io` and `<tenant>.clients.kandji.io` still answer, but Iru's own
/// tools warn that kandji.io support will stop in a future version.
///
/// ```
/// use posture_kandji::ApiHost;
/// assert_eq!(ApiHost::of("acme.api.eu.iru.com"), ApiHost::Iru);
/// assert_eq!(ApiHost::of("acme.api.kandji.io"), ApiHost::Kandji);
/// assert_eq!(ApiHost::of("127.0.0.1"), ApiHost::Other);
/// ```
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ApiHost {
    /// An `iru.com` host: `<tenant>.api.iru.com` or `<tenant>.api.eu.iru.com`.
    Iru,
    /// A `kandji.io` host, which Iru says will stop being supported.
    Kandji,
    /// Neither: a proxy, a test server.
    Other,
}

impl ApiHost {
    /// The family of a host name (any case, a trailing dot ignored).
    pub fn of(host: &str) -> Self {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host == "iru.com" || host.ends_with(".iru.com") {
            Self::Iru
        } else if host == "kandji.io" || host.ends_with(".kandji.io") {
            Self::Kandji
        } else {
            Self::Other
        }
    }
}

impl fmt::Display for ApiHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Iru => "iru.com",
            Self::Kandji => "kandji.io",
            Self::Other => "neither iru.com nor kandji.io",
        })
    }
}

/// The Iru host of a tenant's kandji.io API host, where the mapping is Iru's documented one:
/// `<t>.api.kandji.io` → `<t>.api.iru.com`, `<t>.api.eu.kandji.io` → `<t>.api.eu.iru.com`.
fn iru_host(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    [
        (".api.eu.kandji.io", ".api.eu.iru.com"),
        (".api.kandji.io", ".api.iru.com"),
    ]
    .into_iter()
    .find_map(|(kandji, iru)| {
        let tenant = host.strip_suffix(kandji)?;
        let single_label = !tenant.is_empty()
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        single_label.then(|| format!("{tenant}{iru}"))
    })
}

/// The validated settings of a [`KandjiProvider`](crate::KandjiProvider).
///
/// Build it from environment-style variables with [`KandjiConfig::from_env`], or in code with
/// [`KandjiConfig::new`] and the `with_*` setters. `Debug` never shows the API token.
///
/// ```
/// use posture_kandji::{Blueprint, KandjiConfig};
///
/// let config = KandjiConfig::new("https://example.api.iru.com", "s3cr3t-token")?
///     .with_blueprints([Blueprint::parse("Engineering Macs")])
///     .with_require_agent(true);
/// assert!(config.require_mdm());
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// # Ok::<(), posture_kandji::KandjiConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KandjiConfig {
    api_url: BaseUrl,
    api_token: Secret,
    blueprints: Vec<Blueprint>,
    require_mdm: bool,
    require_agent: bool,
    deny_missing: bool,
    enrich: bool,
    common: CommonSettings,
    max_requests_per_second: NonZeroU32,
    sync: SyncSettings,
}

pub(crate) const RATE_EXPECTED: &str = "a whole number of requests a second from 1 to 50 (Kandji allows \
     50 a second per tenant)";

impl KandjiConfig {
    /// Settings with the required values and every default: any blueprint, MDM required,
    /// agent not required, missing devices not denied, enrichment on, `TIMEOUT` 4 s, cache
    /// TTLs 60 s and 10 s (up to 10 000 answers), at most 50 requests a second, no extra CA.
    pub fn new(api_url: &str, api_token: impl Into<String>) -> Result<Self, KandjiConfigError> {
        let api_token = api_token.into();
        Self::from_env(posture_settings::given(&[
            (&kind::KANDJI_API_URL, api_url),
            (&kind::KANDJI_API_TOKEN, &api_token),
        ])?)
    }

    /// Reads the settings from environment-style variables; `get` returns a variable's value,
    /// or `None` when it is unset. An empty value counts as unset, and values other than the
    /// token are trimmed. Every problem is reported, not just the first. Reads the files named
    /// by `KANDJI_API_TOKEN_FILE` and `KANDJI_CA_PATH`; does no network I/O.
    ///
    /// | Variable | Meaning | Default |
    /// |---|---|---|
    /// | `KANDJI_API_URL` | the tenant's API URL, such as `https://example.api.iru.com` | required |
    /// | `KANDJI_API_TOKEN` | an API token | required, or the file below |
    /// | `KANDJI_API_TOKEN_FILE` | file holding the token (one trailing newline removed) | — |
    /// | `KANDJI_BLUEPRINTS` | comma-separated blueprint IDs or names a device must be in | any |
    /// | `KANDJI_REQUIRE_MDM` | deny devices whose MDM is not enabled | `1` |
    /// | `KANDJI_REQUIRE_AGENT` | deny Macs without the Kandji agent | `0` |
    /// | `KANDJI_DENY_MISSING` | deny devices Kandji flags as missing (`is_missing`) | `0` |
    /// | `KANDJI_ENRICH` | return enrichment data with allowed answers | `1` |
    /// | `KANDJI_CACHE_TTL` | seconds allowed answers are reused; `0` disables | `60` |
    /// | `KANDJI_NEGATIVE_CACHE_TTL` | seconds denies are reused; `0` disables | `10` |
    /// | `KANDJI_MAX_REQUESTS_PER_SECOND` | requests a second at most, 1–50 | `50` |
    /// | `KANDJI_MAX_RETRY_AFTER` | longest `Retry-After` honoured, in seconds, 1–3600 | `60` |
    /// | `KANDJI_CA_PATH` | PEM file of extra CA certificates (a TLS-inspecting proxy) | none |
    /// | `KANDJI_SYNC_INTERVAL` | seconds between inventory syncs; `0` looks each device up | `0` |
    /// | `KANDJI_SYNC_MAX_AGE` | oldest synced inventory answered from; `0` is 3 × the interval | `0` |
    /// | `TIMEOUT` | seconds one lookup may take, 1–60 | `4` |
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use posture_kandji::KandjiConfig;
    ///
    /// let env = HashMap::from([
    ///     ("KANDJI_API_URL", "https://example.api.iru.com"),
    ///     ("KANDJI_API_TOKEN", "s3cr3t"),
    ///     ("KANDJI_BLUEPRINTS", "Engineering Macs, ab102b9d-8e9c-420d-a498-f2a1123091c7"),
    ///     ("KANDJI_REQUIRE_AGENT", "True"),
    /// ]);
    /// let config = KandjiConfig::from_env(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.blueprints().len(), 2);
    /// assert!(config.require_agent());
    /// # Ok::<(), posture_kandji::KandjiConfigError>(())
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, KandjiConfigError> {
        let mut reader = Reader::new(&get);
        let api_url = env::read_base_url(&mut reader, &kind::KANDJI_API_URL);
        let api_token = env::read_secret(&mut reader, &kind::KANDJI_API_TOKEN).flatten();
        let blueprints: Vec<Blueprint> = reader
            .list(&kind::KANDJI_BLUEPRINTS)
            .iter()
            .map(|entry| Blueprint::parse(entry))
            .collect();
        let require_mdm = reader.flag(&kind::KANDJI_REQUIRE_MDM);
        let require_agent = reader.flag(&kind::KANDJI_REQUIRE_AGENT);
        let deny_missing = reader.flag(&kind::KANDJI_DENY_MISSING);
        let enrich = reader.flag(&kind::KANDJI_ENRICH);
        let common = CommonSettings::read(&mut reader, kind::COMMON);
        let max_requests_per_second =
            env::read_rate(&mut reader, &kind::KANDJI_MAX_REQUESTS_PER_SECOND);
        let sync = SyncSettings::read(&mut reader, &kind::SYNC_INTERVAL, &kind::SYNC_MAX_AGE);
        reader.finish_with(|| {
            Some(Self {
                api_url: api_url?,
                api_token: api_token?,
                blueprints,
                require_mdm: require_mdm?,
                require_agent: require_agent?,
                deny_missing: deny_missing?,
                enrich: enrich?,
                common: common?,
                max_requests_per_second: max_requests_per_second?,
                sync,
            })
        })
    }

    /// Requires devices to be in one of these blueprints; an empty list allows any.
    #[must_use]
    pub fn with_blueprints(mut self, blueprints: impl IntoIterator<Item = Blueprint>) -> Self {
        self.blueprints = blueprints.into_iter().collect();
        self
    }

    /// Sends at most `per_second` requests a second (any second: the limit slides). Fails
    /// for 0 and above Kandji's 50.
    pub fn with_max_requests_per_second(
        mut self,
        per_second: u32,
    ) -> Result<Self, KandjiConfigError> {
        self.max_requests_per_second =
            env::given_rate(&kind::KANDJI_MAX_REQUESTS_PER_SECOND, per_second)?;
        Ok(self)
    }

    /// `KANDJI_API_URL`.
    pub fn api_url(&self) -> &BaseUrl {
        &self.api_url
    }

    /// `KANDJI_API_TOKEN`, redacted in `Debug`.
    pub fn api_token(&self) -> &Secret {
        &self.api_token
    }

    /// `KANDJI_BLUEPRINTS`.
    pub fn blueprints(&self) -> &[Blueprint] {
        &self.blueprints
    }

    /// `KANDJI_MAX_REQUESTS_PER_SECOND`.
    pub fn max_requests_per_second(&self) -> u32 {
        self.max_requests_per_second.get()
    }

    pub(crate) fn max_requests_per_second_nonzero(&self) -> NonZeroU32 {
        self.max_requests_per_second
    }

    /// The family of `KANDJI_API_URL`'s host.
    pub fn api_host(&self) -> ApiHost {
        ApiHost::of(self.api_url.host())
    }

    /// For a kandji.io `KANDJI_API_URL`, the same tenant's Iru URL: `https://<t>.api.iru.com`
    /// for `https://<t>.api.kandji.io`, `https://<t>.api.eu.iru.com` for
    /// `https://<t>.api.eu.kandji.io`. `None` for other hosts, the legacy
    /// `<t>.clients.kandji.io` among them: Iru documents no mapping for it.
    ///
    /// ```
    /// use posture_kandji::KandjiConfig;
    /// let config = KandjiConfig::new("https://acme.api.eu.kandji.io", "t")?;
    /// assert_eq!(config.iru_api_url().as_deref(), Some("https://acme.api.eu.iru.com"));
    /// # Ok::<(), posture_kandji::KandjiConfigError>(())
    /// ```
    pub fn iru_api_url(&self) -> Option<String> {
        iru_host(self.api_url.host()).map(|host| format!("https://{host}"))
    }

    /// What to change before it breaks, one warning a line: a kandji.io `KANDJI_API_URL`,
    /// which Iru says will stop working. The server logs these at start-up and
    /// `check-config` prints them.
    ///
    /// ```
    /// use posture_kandji::KandjiConfig;
    /// let old = KandjiConfig::new("https://acme.api.kandji.io", "t")?;
    /// assert!(old.warnings()[0].contains("set KANDJI_API_URL=https://acme.api.iru.com"));
    /// assert!(KandjiConfig::new("https://acme.api.iru.com", "t")?.warnings().is_empty());
    /// # Ok::<(), posture_kandji::KandjiConfigError>(())
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        match self.move_advice() {
            Some(advice) => vec![format!(
                "KANDJI_API_URL ({}) is a kandji.io host, and Iru (formerly Kandji) says \
                 kandji.io support will stop working in a future version: {advice}",
                self.api_url
            )],
            None => Vec::new(),
        }
    }

    /// For a kandji.io host, what to set instead.
    pub(crate) fn move_advice(&self) -> Option<String> {
        if self.api_host() != ApiHost::Kandji {
            return None;
        }
        Some(match self.iru_api_url() {
            Some(url) => format!("set KANDJI_API_URL={url}, the same tenant's Iru host"),
            None => "set KANDJI_API_URL to the API URL Iru shows under Settings > Access \
                     (https://<tenant>.api.iru.com, or https://<tenant>.api.eu.iru.com for EU \
                     tenants)"
                .to_owned(),
        })
    }
}

posture_settings::flag_accessors! {
    KandjiConfig {
        /// Whether devices must have MDM enabled.
        ///
        /// `KANDJI_REQUIRE_MDM`.
        require_mdm / with_require_mdm,
        /// Whether Macs must have the Kandji agent installed.
        ///
        /// `KANDJI_REQUIRE_AGENT`.
        require_agent / with_require_agent,
        /// Whether devices Kandji flags as missing (`is_missing`: not checked in for longer
        /// than the tenant's threshold) are denied.
        ///
        /// `KANDJI_DENY_MISSING`.
        deny_missing / with_deny_missing,
        /// Whether allowed answers carry the enrichment data. Off, an allow has no data: for a
        /// template that doesn't use it, the user's name and email need not reach step-ca.
        ///
        /// `KANDJI_ENRICH`.
        enrich / with_enrich,
    }
}

posture_http::common_settings_accessors!(KandjiConfig, setters);
posture_http::sync_settings_accessors!(KandjiConfig, kind::SYNC_INTERVAL, kind::SYNC_MAX_AGE);

#[cfg(test)]
mod tests {
    use posture_settings::EnvCases;

    use super::*;

    const MINIMAL: [(&str, &str); 2] = [
        ("KANDJI_API_URL", "https://example.api.iru.com"),
        ("KANDJI_API_TOKEN", "top-secret-token"),
    ];
    const CASES: EnvCases<'static, KandjiConfig> =
        EnvCases::new(&MINIMAL, "top-secret-token", |get| {
            KandjiConfig::from_env(get)
        });

    #[test]
    fn new_refuses_what_the_variables_refuse_with_the_same_problems() {
        for (url, token) in [
            ("ftp://example.api.iru.com", "t0ken"),
            ("https://example.api.iru.com", ""),
            ("", "  "),
        ] {
            let built = KandjiConfig::new(url, token).unwrap_err();
            let read = CASES
                .env(&[("KANDJI_API_URL", url), ("KANDJI_API_TOKEN", token)])
                .unwrap_err();
            assert_eq!(built, read, "{url:?} {token:?}");
        }
        let config = KandjiConfig::new(" https://example.api.iru.com ", "t0ken").unwrap();
        assert_eq!(config.api_url().as_str(), "https://example.api.iru.com");
        assert_eq!(config.max_requests_per_second(), MAX_REQUESTS_PER_SECOND);
    }

    #[test]
    fn defaults() {
        let config = CASES.env(&MINIMAL).unwrap();
        assert!(config.blueprints().is_empty());
        assert!(config.require_mdm());
        assert!(!config.require_agent());
        assert!(!config.deny_missing());
        assert!(config.enrich());
        assert_eq!(config.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(config.cache_ttl(), DEFAULT_CACHE_TTL);
        assert_eq!(config.negative_cache_ttl(), DEFAULT_NEGATIVE_CACHE_TTL);
        assert_eq!(config.max_retry_after(), Duration::from_secs(60));
        assert_eq!(config.max_requests_per_second(), 50);
        assert!(config.warnings().is_empty());
        assert!(!format!("{config:?}").contains("top-secret-token"));
    }

    #[test]
    fn every_host_family_is_accepted_and_kandji_io_is_told_to_move() {
        for (url, host, iru) in [
            ("https://acme.api.iru.com", ApiHost::Iru, None),
            ("https://acme.api.eu.iru.com/", ApiHost::Iru, None),
            (
                "https://acme.api.kandji.io",
                ApiHost::Kandji,
                Some("https://acme.api.iru.com"),
            ),
            (
                "https://ACME.api.eu.kandji.io.",
                ApiHost::Kandji,
                Some("https://acme.api.eu.iru.com"),
            ),
            ("https://acme.clients.kandji.io", ApiHost::Kandji, None),
            ("https://kandji.example.com", ApiHost::Other, None),
            (
                "https://acme.api.iru.com.evil.example",
                ApiHost::Other,
                None,
            ),
            ("http://127.0.0.1:8080", ApiHost::Other, None),
        ] {
            let config = CASES.env_with(&[("KANDJI_API_URL", url)]).unwrap();
            assert_eq!(config.api_host(), host, "{url}");
            assert_eq!(config.iru_api_url().as_deref(), iru, "{url}");
            let warnings = config.warnings();
            if host == ApiHost::Kandji {
                assert_eq!(warnings.len(), 1, "{url}");
                let advice = match iru {
                    Some(iru) => format!("set KANDJI_API_URL={iru}, the same tenant's Iru host"),
                    None => "set KANDJI_API_URL to the API URL Iru shows under Settings > Access"
                        .to_owned(),
                };
                assert!(warnings[0].contains(&advice), "{}", warnings[0]);
                assert!(
                    warnings[0].contains("kandji.io support will stop"),
                    "{}",
                    warnings[0]
                );
            } else {
                assert!(warnings.is_empty(), "{url}: {warnings:?}");
            }
        }
    }

    #[test]
    fn the_request_rate_is_bounded_by_kandjis() {
        CASES.assert_read(
            "KANDJI_MAX_REQUESTS_PER_SECOND",
            KandjiConfig::max_requests_per_second,
            &[("1", 1), ("50", 50), (" 7 ", 7)],
        );
        for text in ["0", "51", "-1", "ten", "1.5"] {
            assert_eq!(
                CASES.refusal("KANDJI_MAX_REQUESTS_PER_SECOND", text),
                "a whole number of requests a second from 1 to 50 (Kandji allows 50 a second per \
                 tenant)",
                "{text}"
            );
        }
        let config = KandjiConfig::new("https://x.api.iru.com", "t").unwrap();
        assert_eq!(
            config
                .clone()
                .with_max_requests_per_second(5)
                .unwrap()
                .max_requests_per_second(),
            5
        );
        assert!(config.clone().with_max_requests_per_second(0).is_err());
        assert!(config.with_max_requests_per_second(51).is_err());
    }

    #[test]
    fn blueprints_are_ids_or_names() {
        let config = CASES
            .env_with(&[(
                "KANDJI_BLUEPRINTS",
                " Engineering Macs ,AB102B9D-8E9C-420D-A498-F2A1123091C7,,",
            )])
            .unwrap();
        assert_eq!(
            config.blueprints(),
            [
                Blueprint::Name("Engineering Macs".into()),
                Blueprint::Id("ab102b9d-8e9c-420d-a498-f2a1123091c7".into())
            ]
        );
        let id = &config.blueprints()[1];
        assert!(id.matches("AB102B9D-8E9C-420D-A498-F2A1123091C7", "whatever"));
        let name = &config.blueprints()[0];
        assert!(name.matches("x", "Engineering Macs"));
        assert!(!name.matches("x", "engineering macs"));
    }

    #[test]
    fn every_variable_names_itself() {
        // Flags, numbers, paths and secret files are checked for every declared variable by
        // the declarations test (`settings_tests!`); these are the rules of their own.
        CASES.assert_refused(&[
            (
                "KANDJI_API_URL",
                "http://example.api.iru.com",
                "the Kandji (Iru) API URL",
            ),
            ("TIMEOUT", "61", "a whole number of seconds from 1 to 60"),
        ]);
        CASES.assert_required(&[
            ("KANDJI_API_URL", "the Kandji (Iru) API URL"),
            (
                "KANDJI_API_TOKEN",
                "a Kandji API token (Settings > Access > API Token) (or KANDJI_API_TOKEN_FILE)",
            ),
        ]);
    }

    #[test]
    fn string_booleans_in_any_go_spelling() {
        CASES.assert_read(
            "KANDJI_REQUIRE_MDM",
            KandjiConfig::require_mdm,
            &[("True", true), ("FALSE", false), ("1", true), ("f", false)],
        );
    }

    #[test]
    fn missing_devices_and_enrichment_are_switches() {
        let config = CASES
            .env_with(&[("KANDJI_DENY_MISSING", "1"), ("KANDJI_ENRICH", "false")])
            .unwrap();
        assert!(config.deny_missing());
        assert!(!config.enrich());
    }

    #[test]
    fn setters() {
        let config = KandjiConfig::new("http://127.0.0.1:9", "t")
            .unwrap()
            .with_require_mdm(false)
            .with_cache_capacity(3);
        assert!(!config.require_mdm());
        assert_eq!(config.cache_capacity(), 3);
        assert!(config.with_timeout(Duration::ZERO).is_err());
        assert!(KandjiConfig::new("https://x.api.kandji.io", "").is_err());
        assert!(KandjiConfig::new("x.api.kandji.io", "t").is_err());
    }
}
