use std::num::NonZeroU32;
use std::time::Duration;

use posture_http::env::{self, ConfigProblems};
use posture_http::sync::SyncSettings;
use posture_http::{BaseUrl, CommonSettings, Secret, Url};
use posture_settings::Reader;

use crate::kind::{
    API_TOKEN, API_URL, COMMON, ENRICH, MAX_REQUESTS, POLICIES, REQUIRE_COMPLIANT, SYNC_INTERVAL,
    SYNC_MAX_AGE,
};

/// The settings were invalid: every problem found, one per line.
pub type AddigyConfigError = ConfigProblems;

/// The default `ADDIGY_API_URL`.
pub const DEFAULT_API_URL: &str = "https://api.addigy.com";

/// The default `TIMEOUT`: 4 s, so step-ca's retry fits in its 10 s budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);

/// The default `ADDIGY_CACHE_TTL`: allowed answers are reused for 60 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The default `ADDIGY_NEGATIVE_CACHE_TTL`: denies are reused for 10 s.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);

/// Addigy's documented limit: 1,000 requests per 10 s per key; going over blocks the key for
/// 24 hours.
pub const ADDIGY_LIMIT_PER_10_SECONDS: u32 = 1000;

/// The default `ADDIGY_MAX_REQUESTS_PER_SECOND`: 20, at most about 200 per 10 s.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;

/// The largest `ADDIGY_MAX_REQUESTS_PER_SECOND`: 50, at most about 500 per 10 s, half of
/// Addigy's limit, leaving the rest to other integrations and replicas.
pub const MAX_REQUESTS_PER_SECOND: u32 = 50;

// Even at the most, the limiter's 1.1 s window leaves any 10 s of Addigy's at no more than
// half its limit.
const _: () = assert!(MAX_REQUESTS_PER_SECOND * 10 <= ADDIGY_LIMIT_PER_10_SECONDS / 2);

pub(crate) const RATE_EXPECTED: &str = "a whole number of requests a second from 1 to 50 (Addigy allows \
     1,000 per 10 s and blocks the key for 24 hours beyond; 50 a second is half of that)";

/// The validated settings of an [`AddigyProvider`](crate::AddigyProvider).
///
/// Build it from environment-style variables with [`AddigyConfig::from_env`], or in code
/// with [`AddigyConfig::new`] and the `with_*` setters. `Debug` never shows the token.
///
/// ```
/// use posture_addigy::AddigyConfig;
/// let config = AddigyConfig::new(posture_addigy::DEFAULT_API_URL, "s3cr3t-k3y")?
///     .with_policies(["Staff Macs"])
///     .with_require_compliant(true);
/// assert_eq!(config.devices_url().as_str(), "https://api.addigy.com/api/v2/devices");
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// # Ok::<(), posture_addigy::AddigyConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AddigyConfig {
    api_url: BaseUrl,
    api_token: Secret,
    policies: Vec<String>,
    require_compliant: bool,
    enrich: bool,
    max_requests_per_second: NonZeroU32,
    common: CommonSettings,
    sync: SyncSettings,
}

impl AddigyConfig {
    /// Settings with the required values and every default: any policy, compliance not
    /// required, enrichment on, `TIMEOUT` 4 s, cache TTLs 60 s and 10 s, at most 20 requests
    /// a second, `Retry-After` honoured up to 60 s, no extra CA.
    pub fn new(api_url: &str, api_token: impl Into<String>) -> Result<Self, AddigyConfigError> {
        let api_token = api_token.into();
        Self::from_env(posture_settings::given(&[
            (&API_URL, api_url),
            (&API_TOKEN, &api_token),
        ])?)
    }

    /// Reads the settings from environment-style variables ([`SETTINGS`](crate::SETTINGS)
    /// and `TIMEOUT`); `get` returns a variable's value, or `None` when it is unset. Every
    /// problem is reported, not just the first. Reads the files named by
    /// `ADDIGY_API_TOKEN_FILE` and `ADDIGY_CA_PATH`; does no network I/O.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use posture_addigy::AddigyConfig;
    ///
    /// let env = HashMap::from([
    ///     ("ADDIGY_API_TOKEN", "k3y"),
    ///     ("ADDIGY_POLICIES", "Staff Macs, 5b5b5b5b-0000-4000-8000-0000000000ff"),
    ///     ("ADDIGY_REQUIRE_COMPLIANT", "1"),
    /// ]);
    /// let config = AddigyConfig::from_env(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.policies().len(), 2);
    /// assert!(config.require_compliant());
    /// assert_eq!(config.max_requests_per_second(), 20);
    /// # Ok::<(), posture_addigy::AddigyConfigError>(())
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, AddigyConfigError> {
        let mut reader = Reader::new(&get);
        let api_url = posture_http::env::read_base_url(&mut reader, &API_URL);
        let api_token = reader.required_secret(&API_TOKEN);
        let policies = reader.list(&POLICIES);
        let require_compliant = reader.flag(&REQUIRE_COMPLIANT);
        let enrich = reader.flag(&ENRICH);
        let common = CommonSettings::read(&mut reader, COMMON);
        let rate = env::read_rate(&mut reader, &MAX_REQUESTS);
        let sync = SyncSettings::read(&mut reader, &SYNC_INTERVAL, &SYNC_MAX_AGE);
        reader.finish_with(|| {
            Some(Self {
                api_url: api_url?,
                api_token: Secret::new(api_token?),
                policies,
                require_compliant: require_compliant?,
                enrich: enrich?,
                max_requests_per_second: rate?,
                common: common?,
                sync,
            })
        })
    }

    /// Requires devices to be in one of these policies (IDs or names); empty allows any.
    #[must_use]
    pub fn with_policies<S: Into<String>>(mut self, policies: impl IntoIterator<Item = S>) -> Self {
        self.policies = policies
            .into_iter()
            .map(|p| p.into().trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        self
    }

    /// Sends at most `per_second` requests in any 1.1 s. Fails for 0 and above 50.
    pub fn with_max_requests_per_second(
        mut self,
        per_second: u32,
    ) -> Result<Self, AddigyConfigError> {
        self.max_requests_per_second = env::given_rate(&MAX_REQUESTS, per_second)?;
        Ok(self)
    }

    /// `ADDIGY_API_URL`.
    pub fn api_url(&self) -> &BaseUrl {
        &self.api_url
    }

    /// The device search: `<ADDIGY_API_URL>/api/v2/devices`, or `<ADDIGY_API_URL>/devices`
    /// when the URL already ends in `/api/v2` or names an organisation
    /// (`/api/v2/o/<org id>`).
    ///
    /// ```
    /// use posture_addigy::AddigyConfig;
    /// let org = AddigyConfig::new("https://api.addigy.com/api/v2/o/1234", "k")?;
    /// assert_eq!(org.devices_url().as_str(), "https://api.addigy.com/api/v2/o/1234/devices");
    /// # Ok::<(), posture_addigy::AddigyConfigError>(())
    /// ```
    pub fn devices_url(&self) -> Url {
        if self.api_url.as_str().contains("/api/v2") {
            self.api_url.join(&["devices"])
        } else {
            self.api_url.join(&["api", "v2", "devices"])
        }
    }

    /// `ADDIGY_API_TOKEN`, redacted in `Debug`.
    pub fn api_token(&self) -> &Secret {
        &self.api_token
    }

    /// `ADDIGY_POLICIES`.
    pub fn policies(&self) -> &[String] {
        &self.policies
    }

    /// `ADDIGY_MAX_REQUESTS_PER_SECOND`.
    pub fn max_requests_per_second(&self) -> u32 {
        self.max_requests_per_second.get()
    }

    pub(crate) fn max_requests_per_second_nonzero(&self) -> NonZeroU32 {
        self.max_requests_per_second
    }
}

posture_settings::flag_accessors! {
    AddigyConfig {
        /// Whether the device's `is_compliant` fact must be true.
        ///
        /// `ADDIGY_REQUIRE_COMPLIANT`.
        require_compliant / with_require_compliant,
        /// Whether allowed answers carry enrichment data.
        ///
        /// `ADDIGY_ENRICH`.
        enrich / with_enrich,
    }
}

posture_http::common_settings_accessors!(AddigyConfig);
posture_http::sync_settings_accessors!(AddigyConfig, SYNC_INTERVAL, SYNC_MAX_AGE);

/// A request rate from 1 to [`MAX_REQUESTS_PER_SECOND`].
#[cfg(test)]
mod tests {
    use posture_settings::EnvCases;

    use super::*;

    const MINIMAL: [(&str, &str); 1] = [("ADDIGY_API_TOKEN", "top-secret-token")];
    const CASES: EnvCases<'static, AddigyConfig> =
        EnvCases::new(&MINIMAL, "top-secret", |get| AddigyConfig::from_env(get));

    #[test]
    fn defaults() {
        let config = CASES.env(&MINIMAL).unwrap();
        assert_eq!(config.api_url().as_str(), DEFAULT_API_URL);
        assert_eq!(
            config.devices_url().as_str(),
            "https://api.addigy.com/api/v2/devices"
        );
        assert!(config.policies().is_empty());
        assert!(!config.require_compliant());
        assert!(config.enrich());
        let common = config.common();
        assert_eq!(common.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(common.cache_ttl(), DEFAULT_CACHE_TTL);
        assert_eq!(common.negative_cache_ttl(), DEFAULT_NEGATIVE_CACHE_TTL);
        assert_eq!(config.max_requests_per_second(), 20);
        assert_eq!(common.max_retry_after(), Duration::from_secs(60));
        assert!(!format!("{config:?}").contains("top-secret"));
    }

    #[test]
    fn new_refuses_an_empty_url_rather_than_use_the_default() {
        for blank in ["", "  "] {
            let err = AddigyConfig::new(blank, "k3y").unwrap_err().to_string();
            assert!(err.starts_with("ADDIGY_API_URL is not set"), "{err}");
        }
        let err = AddigyConfig::new("ftp://api.addigy.com", "").unwrap_err();
        assert_eq!(err.problems().len(), 2, "{err}");
    }

    #[test]
    fn the_rate_stays_well_below_addigys_limit() {
        CASES.assert_read(
            "ADDIGY_MAX_REQUESTS_PER_SECOND",
            AddigyConfig::max_requests_per_second,
            &[("1", 1), ("50", 50), (" 7 ", 7)],
        );
        for text in ["0", "51", "100", "-1", "ten"] {
            let expected = CASES.refusal("ADDIGY_MAX_REQUESTS_PER_SECOND", text);
            assert!(
                expected.starts_with("a whole number of requests a second from 1 to 50"),
                "{text}: {expected}"
            );
        }
        let config = AddigyConfig::new("https://api.addigy.com", "t").unwrap();
        assert!(config.clone().with_max_requests_per_second(0).is_err());
        assert!(config.clone().with_max_requests_per_second(51).is_err());
        assert_eq!(
            config
                .with_max_requests_per_second(5)
                .unwrap()
                .max_requests_per_second(),
            5
        );
    }

    #[test]
    fn every_variable_names_itself() {
        // Flags, numbers, paths and secret files are checked for every declared variable by
        // the declarations test (`settings_tests!`); these are the rules of their own.
        CASES.assert_refused(&[
            (
                "ADDIGY_API_URL",
                "http://api.addigy.com",
                "the Addigy API URL (",
            ),
            ("TIMEOUT", "0", "a whole number of seconds from 1 to 60"),
        ]);
        CASES.assert_required(&[("ADDIGY_API_TOKEN", "an Addigy API v2 token")]);
    }

    #[test]
    fn the_token_comes_from_a_file() {
        let path = std::env::temp_dir().join(format!("posture-addigy-{}", std::process::id()));
        std::fs::write(&path, "file-token\n").unwrap();
        let config = CASES
            .env(&[("ADDIGY_API_TOKEN_FILE", path.to_str().unwrap())])
            .unwrap();
        assert_eq!(config.api_token().expose(), "file-token");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn setters() {
        let config = AddigyConfig::new("http://127.0.0.1:9", "t")
            .unwrap()
            .with_policies([" a ", "", "b"]);
        assert_eq!(config.policies(), ["a", "b"]);
        let uncached = config
            .clone()
            .map_common(|c| c.with_negative_cache_ttl(Duration::ZERO));
        assert_eq!(uncached.common().negative_cache_ttl(), Duration::ZERO);
        let common = config.common();
        assert!(common.clone().with_timeout(Duration::ZERO).is_err());
        assert!(common.clone().with_max_retry_after(Duration::ZERO).is_err());
        assert!(AddigyConfig::new("https://api.addigy.com", "").is_err());
        assert!(AddigyConfig::new("api.addigy.com", "t").is_err());
        let every = |secs| SyncSettings::new("", "").every(Duration::from_secs(secs));
        let synced = config.clone().with_sync(every(3600)).unwrap();
        assert_eq!(synced.sync().interval(), Duration::from_secs(3600));
        let err = config.with_sync(every(60)).unwrap_err().to_string();
        assert!(err.starts_with("ADDIGY_SYNC_INTERVAL=\"60\""), "{err}");
    }
}
