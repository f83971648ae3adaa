use std::fmt;
use std::time::Duration;

use posture_http::env::ConfigProblems;
use posture_http::sync::SyncSettings;
use posture_http::{BaseUrl, CommonSettings, Secret};
use posture_settings::Reader;

use crate::kind::{
    ACCESS_TOKEN, API_URL, COMMON, EMAIL, ENRICH, GROUPS, PASSWORD, SYNC_INTERVAL, SYNC_MAX_AGE,
};

/// The settings were invalid: every problem found, one per line.
pub type MosyleConfigError = ConfigProblems;

/// The default `MOSYLE_API_URL`: Mosyle Manager's API.
pub const DEFAULT_API_URL: &str = "https://managerapi.mosyle.com/v2";

/// Mosyle Business's API URL, also accepted as `MOSYLE_API_URL`.
pub const BUSINESS_API_URL: &str = "https://businessapi.mosyle.com/v1";

/// The default `TIMEOUT`: 4 s, so step-ca's retry fits in its 10 s budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);

/// The default `MOSYLE_CACHE_TTL`: allowed answers are reused for 60 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The default `MOSYLE_NEGATIVE_CACHE_TTL`: denies are reused for 10 s.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);

/// Which Mosyle product `MOSYLE_API_URL` names; they differ in the device-list request.
///
/// ```
/// use posture_mosyle::{Flavor, MosyleConfig};
/// let manager = MosyleConfig::new("https://managerapi.mosyle.com/v2", "t", "a@x.org", "p")?;
/// assert_eq!(manager.flavor(), Flavor::Manager);
/// let business = MosyleConfig::new("https://businessapi.mosyle.com/v1", "t", "a@x.org", "p")?;
/// assert_eq!(business.flavor(), Flavor::Business);
/// # Ok::<(), posture_mosyle::MosyleConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Flavor {
    /// Mosyle Manager (education), `https://managerapi.mosyle.com/v2`: `POST /listdevices`.
    Manager,
    /// Mosyle Business, `https://businessapi.mosyle.com/v1`: `POST /devices` with
    /// `"operation": "list"`, its `response` wrapped in a list.
    Business,
}

impl Flavor {
    /// The product of a base URL: Business for a `businessapi.` host or a path ending in
    /// `/v1`, Manager otherwise.
    pub fn of(url: &BaseUrl) -> Self {
        let host = url.host().to_ascii_lowercase();
        if host.starts_with("businessapi.") || url.as_str().ends_with("/v1") {
            Self::Business
        } else {
            Self::Manager
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Manager => "Mosyle Manager",
            Self::Business => "Mosyle Business",
        })
    }
}

/// One entry of `MOSYLE_GROUPS`: a device group's ID (all digits) or its name.
///
/// ```
/// use posture_mosyle::Group;
/// assert_eq!(Group::parse(" 210 "), Group::Id("210".into()));
/// assert_eq!(Group::parse("Staff Macs"), Group::Name("Staff Macs".into()));
/// ```
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Group {
    /// A device group ID, as Mosyle writes it (`"210"`).
    Id(String),
    /// A device group name, matched exactly.
    Name(String),
}

impl Group {
    /// An entry as written in `MOSYLE_GROUPS`: all digits is an ID, anything else a name.
    pub fn parse(entry: &str) -> Self {
        let entry = entry.trim();
        if !entry.is_empty() && entry.bytes().all(|b| b.is_ascii_digit()) {
            Self::Id(entry.to_owned())
        } else {
            Self::Name(entry.to_owned())
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "group {id}"),
            Self::Name(name) => write!(f, "group {name:?}"),
        }
    }
}

/// The validated settings of a [`MosyleProvider`](crate::MosyleProvider).
///
/// Build it from environment-style variables with [`MosyleConfig::from_env`], or in code
/// with [`MosyleConfig::new`] and the `with_*` setters. `Debug` never shows the access
/// token or the password.
///
/// ```
/// use posture_mosyle::{Group, MosyleConfig};
/// let config = MosyleConfig::new(posture_mosyle::DEFAULT_API_URL, "t0ken", "api@school.org", "s3cr3t")?
///     .with_groups([Group::parse("Staff Macs")]);
/// assert!(config.enrich());
/// let shown = format!("{config:?}");
/// assert!(!shown.contains("t0ken") && !shown.contains("s3cr3t"));
/// # Ok::<(), posture_mosyle::MosyleConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MosyleConfig {
    api_url: BaseUrl,
    access_token: Secret,
    email: String,
    password: Secret,
    groups: Vec<Group>,
    enrich: bool,
    common: CommonSettings,
    sync: SyncSettings,
}

impl MosyleConfig {
    /// Settings with the required values and every default: any group, enrichment on,
    /// `TIMEOUT` 4 s, cache TTLs 60 s and 10 s, `Retry-After` honoured up to 60 s, no extra
    /// CA.
    pub fn new(
        api_url: &str,
        access_token: impl Into<String>,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, MosyleConfigError> {
        let (access_token, email, password) = (access_token.into(), email.into(), password.into());
        Self::from_env(posture_settings::given(&[
            (&API_URL, api_url),
            (&ACCESS_TOKEN, &access_token),
            (&EMAIL, &email),
            (&PASSWORD, &password),
        ])?)
    }

    /// Reads the settings from environment-style variables ([`SETTINGS`](crate::SETTINGS)
    /// and `TIMEOUT`); `get` returns a variable's value, or `None` when it is unset. Every
    /// problem is reported, not just the first. Reads the files named by the `_FILE` forms
    /// and `MOSYLE_CA_PATH`; does no network I/O.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use posture_mosyle::{Flavor, MosyleConfig};
    ///
    /// let env = HashMap::from([
    ///     ("MOSYLE_ACCESS_TOKEN", "t0ken"),
    ///     ("MOSYLE_EMAIL", "api@school.org"),
    ///     ("MOSYLE_PASSWORD", "s3cr3t"),
    ///     ("MOSYLE_GROUPS", "210, Staff Macs"),
    /// ]);
    /// let config = MosyleConfig::from_env(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.api_url().as_str(), "https://managerapi.mosyle.com/v2");
    /// assert_eq!(config.flavor(), Flavor::Manager);
    /// assert_eq!(config.groups().len(), 2);
    /// # Ok::<(), posture_mosyle::MosyleConfigError>(())
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, MosyleConfigError> {
        let mut reader = Reader::new(&get);
        let api_url = posture_http::env::read_base_url(&mut reader, &API_URL);
        let access_token = reader.required_secret(&ACCESS_TOKEN);
        let email = reader.required_text(&EMAIL);
        let password = reader.required_secret(&PASSWORD);
        let groups: Vec<Group> = reader
            .list(&GROUPS)
            .iter()
            .map(|entry| Group::parse(entry))
            .collect();
        let enrich = reader.flag(&ENRICH);
        let common = CommonSettings::read(&mut reader, COMMON);
        let sync = SyncSettings::read(&mut reader, &SYNC_INTERVAL, &SYNC_MAX_AGE);
        reader.finish_with(|| {
            Some(Self {
                api_url: api_url?,
                access_token: Secret::new(access_token?),
                email: email?,
                password: Secret::new(password?),
                groups,
                enrich: enrich?,
                common: common?,
                sync,
            })
        })
    }

    /// Requires devices to be in one of these device groups; an empty list allows any.
    #[must_use]
    pub fn with_groups(mut self, groups: impl IntoIterator<Item = Group>) -> Self {
        self.groups = groups.into_iter().collect();
        self
    }

    /// `MOSYLE_API_URL`.
    pub fn api_url(&self) -> &BaseUrl {
        &self.api_url
    }

    /// Which product `MOSYLE_API_URL` names.
    pub fn flavor(&self) -> Flavor {
        Flavor::of(&self.api_url)
    }

    /// `MOSYLE_ACCESS_TOKEN`, redacted in `Debug`.
    pub fn access_token(&self) -> &Secret {
        &self.access_token
    }

    /// `MOSYLE_EMAIL`.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// `MOSYLE_PASSWORD`, redacted in `Debug`.
    pub fn password(&self) -> &Secret {
        &self.password
    }

    /// `MOSYLE_GROUPS`.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
}

posture_settings::flag_accessors! {
    MosyleConfig {
        /// Whether allowed answers carry enrichment data.
        ///
        /// `MOSYLE_ENRICH`.
        enrich / with_enrich,
    }
}

posture_http::common_settings_accessors!(MosyleConfig);
posture_http::sync_settings_accessors!(MosyleConfig, SYNC_INTERVAL, SYNC_MAX_AGE);

#[cfg(test)]
mod tests {
    use posture_settings::EnvCases;

    use super::*;

    const MINIMAL: [(&str, &str); 3] = [
        ("MOSYLE_ACCESS_TOKEN", "top-secret-token"),
        ("MOSYLE_EMAIL", "api@school.org"),
        ("MOSYLE_PASSWORD", "top-secret-password"),
    ];
    const CASES: EnvCases<'static, MosyleConfig> =
        EnvCases::new(&MINIMAL, "top-secret", |get| MosyleConfig::from_env(get));

    #[test]
    fn defaults() {
        let config = CASES.env(&MINIMAL).unwrap();
        assert_eq!(config.api_url().as_str(), DEFAULT_API_URL);
        assert_eq!(config.flavor(), Flavor::Manager);
        assert!(config.groups().is_empty());
        assert!(config.enrich());
        let common = config.common();
        assert_eq!(common.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(common.cache_ttl(), DEFAULT_CACHE_TTL);
        assert_eq!(common.negative_cache_ttl(), DEFAULT_NEGATIVE_CACHE_TTL);
        assert_eq!(common.max_retry_after(), Duration::from_secs(60));
        assert!(!format!("{config:?}").contains("top-secret"));
    }

    #[test]
    fn new_refuses_an_empty_url_rather_than_use_the_default() {
        let err = MosyleConfig::new(" ", "t0ken", "api@school.org", "s3cr3t")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("MOSYLE_API_URL is not set"), "{err}");
        let config = MosyleConfig::new(BUSINESS_API_URL, "t0ken", "api@school.org", "s3cr3t");
        assert_eq!(config.unwrap().flavor(), Flavor::Business);
    }

    #[test]
    fn both_products_are_accepted() {
        CASES.assert_read(
            "MOSYLE_API_URL",
            MosyleConfig::flavor,
            &[
                ("https://managerapi.mosyle.com/v2", Flavor::Manager),
                ("https://businessapi.mosyle.com/v1/", Flavor::Business),
                ("http://127.0.0.1:9/v1", Flavor::Business),
                ("http://127.0.0.1:9/v2", Flavor::Manager),
            ],
        );
    }

    #[test]
    fn groups_are_ids_or_names() {
        let config = CASES
            .env_with(&[("MOSYLE_GROUPS", "210, Staff Macs,,")])
            .unwrap();
        assert_eq!(
            config.groups(),
            [Group::Id("210".into()), Group::Name("Staff Macs".into())]
        );
    }

    #[test]
    fn every_variable_names_itself() {
        // Flags, numbers, paths and secret files are checked for every declared variable by
        // the declarations test (`settings_tests!`); these are the rules of their own.
        CASES.assert_refused(&[
            (
                "MOSYLE_API_URL",
                "http://managerapi.mosyle.com/v2",
                "the Mosyle API URL: ",
            ),
            ("TIMEOUT", "61", "a whole number of seconds from 1 to 60"),
        ]);
        CASES.assert_required(&[
            ("MOSYLE_ACCESS_TOKEN", "the Mosyle API access token"),
            ("MOSYLE_EMAIL", "the email of the Mosyle administrator"),
            ("MOSYLE_PASSWORD", "that administrator's password"),
        ]);
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = std::env::temp_dir().join(format!("posture-mosyle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        let password = dir.join("password");
        std::fs::write(&token, "file-token\n").unwrap();
        std::fs::write(&password, "file-password\n").unwrap();
        let config = CASES
            .env(&[
                ("MOSYLE_ACCESS_TOKEN_FILE", token.to_str().unwrap()),
                ("MOSYLE_EMAIL", "api@school.org"),
                ("MOSYLE_PASSWORD_FILE", password.to_str().unwrap()),
            ])
            .unwrap();
        assert_eq!(config.access_token().expose(), "file-token");
        assert_eq!(config.password().expose(), "file-password");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn setters() {
        let config = MosyleConfig::new("http://127.0.0.1:9/v2", "t", "e", "p").unwrap();
        let uncached = config
            .clone()
            .map_common(|c| c.with_cache_ttl(Duration::ZERO));
        assert_eq!(uncached.common().cache_ttl(), Duration::ZERO);
        let common = config.common();
        assert!(common.clone().with_timeout(Duration::ZERO).is_err());
        assert!(common.clone().with_max_retry_after(Duration::ZERO).is_err());
        let every = |secs| SyncSettings::new("", "").every(Duration::from_secs(secs));
        let synced = config.clone().with_sync(every(3600)).unwrap();
        assert_eq!(synced.sync().interval(), Duration::from_secs(3600));
        let err = config.clone().with_sync(every(60)).unwrap_err().to_string();
        assert!(err.starts_with("MOSYLE_SYNC_INTERVAL=\"60\""), "{err}");
        assert!(!config.with_enrich(false).enrich());
        let err = MosyleConfig::new("x", "", " ", "").unwrap_err();
        assert_eq!(err.problems().len(), 4, "{err}");
    }
}
