use std::time::Duration;

use posture_core::DeviceMode;
use posture_http::env::{self, ConfigProblems};
use posture_http::sync::SyncSettings;
use posture_http::{BaseUrl, CommonSettings, Secret};
use posture_settings::Reader;

use crate::kind;

/// step-ca waits 10 s for a webhook answer, and retries once, 1 s after a 5xx. One attempt
/// must end within about 4 s for the retry to fit; a longer `TIMEOUT` can't.
pub const STEP_CA_ATTEMPT_BUDGET: Duration = Duration::from_secs(4);

/// The default `TIMEOUT`: 4 s, which fits [`STEP_CA_ATTEMPT_BUDGET`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);

/// The default `JAMF_CACHE_TTL`: allowed answers are reused for 60 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The default `JAMF_NEGATIVE_CACHE_TTL`: denies (not found, not in the group, not managed)
/// are reused for 10 s, so a device that was just enrolled or fixed is seen quickly.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);

/// How long department names (Jamf Pro API) are kept: 1 hour.
pub const DEPARTMENT_CACHE_TTL: Duration = Duration::from_secs(3600);

/// The default `JAMF_MAX_CONNECTIONS`: Jamf's scalability guide asks API clients for no more
/// than 5 concurrent connections, and Jamf sends no 429 or `Retry-After` to enforce it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 5;

/// The largest accepted `JAMF_MAX_CONNECTIONS`.
pub(crate) const MAX_MAX_CONNECTIONS: u64 = 50;

posture_settings::spelled_enum! {
    /// Which of Jamf's two APIs answers lookups.
    ///
    /// Jamf deprecated the Classic API's `computers` endpoints in Jamf Pro 11.15 (with a year of
    /// support, now over), and `/api/v3/computers-inventory` in 11.30 in favour of
    /// `/api/v4/computers-inventory`. [`Auto`](Self::Auto), the default, never touches a
    /// deprecated endpoint while a current one answers.
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
    #[non_exhaustive]
    pub enum JamfApi {
        /// The best endpoint this Jamf Pro has, per device family, found at the first lookup or
        /// readiness check and remembered:
        ///
        /// - computers: the Jamf Pro API's `GET /api/v4/computers-inventory`, falling back to
        ///   `/api/v3/…` and then `/api/v1/…` when the newer route answers 404. Never the Classic
        ///   API, whose computer endpoints are deprecated;
        /// - mobile devices: the Jamf Pro API's `GET /api/v2/mobile-devices/detail` (not
        ///   deprecated), falling back to the Classic `GET /JSSResource/mobiledevices/…` (not
        ///   deprecated either) on a Jamf Pro too old to have it.
        ///
        /// Both need the same privileges as the Go version's Classic calls (Read Computers,
        /// Read Mobile Devices); computer department names take `GET /api/v1/departments/{id}`
        /// (cached), which needs Read Departments.
        #[default]
        Auto = "auto",
        /// The Classic API for both families, as the Go step-posture-connector calls it, with
        /// the record subsets the provider reads:
        /// `GET /JSSResource/computers/serialnumber/{sn}/subset/General&Location&GroupsAccounts`
        /// and `GET /JSSResource/mobiledevices/serialnumber/{sn}/subset/General&Location&MobileDeviceGroups`.
        /// Its computer endpoints are deprecated by Jamf; choose it only for a Jamf Pro without
        /// the Jamf Pro API inventory endpoints.
        Classic = "classic",
        /// The Jamf Pro API only: computers as in [`Auto`](Self::Auto) (v4, v3, v1) and mobile
        /// devices through `GET /api/v2/mobile-devices/detail`, never falling back to Classic.
        Pro = "pro",
    }
    /// `JAMF_API` was none of `auto`, `classic` and `pro`.
    pub struct UnknownJamfApi("Jamf API");
    parse: any_case
}

/// The validated settings of a [`JamfProvider`](crate::JamfProvider).
///
/// Build it from environment-style variables with [`JamfConfig::from_env`], or in code with
/// [`JamfConfig::new`] and the `with_*` setters. Every field has a getter. `Debug` never shows
/// the client secret.
///
/// ```
/// use std::time::Duration;
/// use posture_core::DeviceMode;
/// use posture_jamf::{JamfApi, JamfConfig};
///
/// let config = JamfConfig::new("https://example.jamfcloud.com", "3f6f1c9e-client-id", "s3cr3t")?
///     .with_api(JamfApi::Pro)
///     .with_computer_group("Compliant Macs")
///     .with_computer_enrich(true)
///     .with_default_mode(DeviceMode::Auto)
///     .with_timeout(Duration::from_secs(3))?;
/// assert_eq!(config.computer_group(), Some("Compliant Macs"));
/// assert!(config.timeout_fits_step_ca());
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// # Ok::<(), posture_jamf::JamfConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JamfConfig {
    base_url: BaseUrl,
    client_id: String,
    client_secret: Secret,
    api: JamfApi,
    device_group: Option<String>,
    computer_group: Option<String>,
    device_enrich: bool,
    computer_enrich: bool,
    common: CommonSettings,
    default_mode: DeviceMode,
    token_renewal_margin: Duration,
    max_connections: usize,
    sync: SyncSettings,
}

pub use posture_http::env::ConfigProblem;

/// The Jamf settings were invalid. Holds every problem found, and displays them one per line.
///
/// ```
/// use posture_jamf::JamfConfig;
/// let err = JamfConfig::from_env(|name| match name {
///     "JAMF_BASE_URL" => Some("http://jamf.example.com".into()),
///     "TIMEOUT" => Some("soon".into()),
///     _ => None,
/// })
/// .unwrap_err();
/// assert_eq!(err.problems().len(), 4);
/// assert!(err.to_string().lines().any(|line| line.starts_with("TIMEOUT=\"soon\" is invalid")));
/// assert!(err.problems().iter().any(|p| p.variable == "JAMF_CLIENT_ID"));
/// ```
pub type JamfConfigError = ConfigProblems;

impl JamfConfig {
    /// Settings with the required values and every default:
    /// [`JamfApi::Auto`], at most 5 connections to Jamf at once, no compliance groups, no enrichment, `TIMEOUT` 4 s, cache TTLs 60 s and
    /// 10 s (up to 10 000 answers), default mode `mobiledevice`, no extra CA, tokens renewed
    /// 30 s before they expire.
    ///
    /// Fails when the URL is not https (or http on loopback), or the client ID or secret is
    /// empty.
    pub fn new(
        base_url: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, JamfConfigError> {
        let (client_id, client_secret) = (client_id.into(), client_secret.into());
        Self::from_env(posture_settings::given(&[
            (&kind::JAMF_BASE_URL, base_url),
            (&kind::JAMF_CLIENT_ID, &client_id),
            (&kind::JAMF_CLIENT_SECRET, &client_secret),
        ])?)
    }

    /// Reads the settings from environment-style variables; `get` returns a variable's value,
    /// or `None` when it is unset. An empty value counts as unset, and values other than the
    /// secret are trimmed.
    ///
    /// Every problem is reported, not just the first. Reads the files named by
    /// `JAMF_CLIENT_SECRET_FILE` and `JAMF_CA_PATH`; does no network I/O.
    ///
    /// | Variable | Meaning | Default |
    /// |---|---|---|
    /// | `JAMF_BASE_URL` | Jamf Pro URL; https, or http on loopback; path prefix allowed | required |
    /// | `JAMF_CLIENT_ID` | API client ID | required |
    /// | `JAMF_CLIENT_SECRET` | API client secret | required, or the file below |
    /// | `JAMF_CLIENT_SECRET_FILE` | file holding the secret (one trailing newline removed) | — |
    /// | `JAMF_DEVICE_GROUP` | mobile devices must be in this group (exact name) | none |
    /// | `JAMF_COMPUTER_GROUP` | computers must be in this group (exact name) | none |
    /// | `JAMF_DEVICE_ENRICH` | enrichment data for mobile devices (`0`/`1`, true/false) | `0` |
    /// | `JAMF_COMPUTER_ENRICH` | enrichment data for computers | `0` |
    /// | `TIMEOUT` | seconds one lookup may take, 1–60 | `4` |
    /// | `JAMF_API` | `auto`, `classic` or `pro` ([`JamfApi`]) | `auto` |
    /// | `JAMF_MAX_CONNECTIONS` | requests in flight to Jamf at once, 1–50 | `5` |
    /// | `JAMF_MAX_RETRY_AFTER` | longest `Retry-After` honoured, in seconds, 1–3600 | `60` |
    /// | `JAMF_CACHE_TTL` | seconds allowed answers are reused; `0` disables | `60` |
    /// | `JAMF_NEGATIVE_CACHE_TTL` | seconds denies are reused; `0` disables | `10` |
    /// | `JAMF_DEFAULT_MODE` | mode when the request has none: `computer`, `mobiledevice`, `auto` | `mobiledevice` |
    /// | `JAMF_CA_PATH` | PEM file of extra CA certificates for an on-premises Jamf | none |
    /// | `JAMF_SYNC_INTERVAL` | seconds between inventory syncs; `0` looks each device up | `0` |
    /// | `JAMF_SYNC_MAX_AGE` | oldest synced inventory answered from; `0` is 3 × the interval | `0` |
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use posture_jamf::{JamfApi, JamfConfig};
    ///
    /// let env = HashMap::from([
    ///     ("JAMF_BASE_URL", "https://example.jamfcloud.com/"),
    ///     ("JAMF_CLIENT_ID", "a3f1c0de-0000-4000-8000-000000000001"),
    ///     ("JAMF_CLIENT_SECRET", "s3cr3t"),
    ///     ("JAMF_COMPUTER_GROUP", "Compliant Macs"),
    ///     ("JAMF_DEVICE_ENRICH", "1"),
    /// ]);
    /// let config = JamfConfig::from_env(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.base_url().as_str(), "https://example.jamfcloud.com");
    /// assert_eq!(config.api(), JamfApi::Auto);
    /// assert!(config.device_enrich() && !config.computer_enrich());
    /// # Ok::<(), posture_jamf::JamfConfigError>(())
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, JamfConfigError> {
        let mut reader = Reader::new(&get);
        let base_url = env::read_base_url(&mut reader, &kind::JAMF_BASE_URL);
        let client_id = reader.required_text(&kind::JAMF_CLIENT_ID);
        let client_secret = env::read_secret(&mut reader, &kind::JAMF_CLIENT_SECRET).flatten();
        let device_group = reader.text(&kind::JAMF_DEVICE_GROUP).flatten();
        let computer_group = reader.text(&kind::JAMF_COMPUTER_GROUP).flatten();
        let device_enrich = reader.flag(&kind::JAMF_DEVICE_ENRICH);
        let computer_enrich = reader.flag(&kind::JAMF_COMPUTER_ENRICH);
        let common = CommonSettings::read(&mut reader, kind::COMMON);
        let api = reader
            .choice(&kind::JAMF_API)
            .and_then(|text| text.parse::<JamfApi>().ok());
        let max_connections = reader
            .number(&kind::JAMF_MAX_CONNECTIONS)
            .and_then(|n| usize::try_from(n).ok());
        let default_mode = reader
            .choice(&kind::JAMF_DEFAULT_MODE)
            .and_then(|text| text.parse::<DeviceMode>().ok());
        let sync = SyncSettings::read(&mut reader, &kind::SYNC_INTERVAL, &kind::SYNC_MAX_AGE);
        reader.finish_with(|| {
            Some(Self {
                base_url: base_url?,
                client_id: client_id?,
                client_secret: client_secret?,
                api: api?,
                device_group,
                computer_group,
                device_enrich: device_enrich?,
                computer_enrich: computer_enrich?,
                common: common?,
                default_mode: default_mode?,
                token_renewal_margin: Duration::from_secs(30),
                max_connections: max_connections?,
                sync,
            })
        })
    }

    /// Chooses the API ([`JamfApi`]).
    #[must_use]
    pub fn with_api(mut self, api: JamfApi) -> Self {
        self.api = api;
        self
    }

    /// Sets how many requests may be in flight to Jamf at once (Jamf asks for at most 5);
    /// lookups beyond it wait for a free slot within their `TIMEOUT`. Fails outside 1–50.
    pub fn with_max_connections(mut self, connections: usize) -> Result<Self, JamfConfigError> {
        kind::JAMF_MAX_CONNECTIONS
            .check(connections as u64)
            .map_err(JamfConfigError::one)?;
        self.max_connections = connections;
        Ok(self)
    }

    /// Requires mobile devices to be members of this group (exact name, as Jamf shows it).
    #[must_use]
    pub fn with_device_group(mut self, group: impl Into<String>) -> Self {
        self.device_group = Some(group.into()).filter(|g| !g.is_empty());
        self
    }

    /// Requires computers to be members of this group (exact name, as Jamf shows it).
    #[must_use]
    pub fn with_computer_group(mut self, group: impl Into<String>) -> Self {
        self.computer_group = Some(group.into()).filter(|g| !g.is_empty());
        self
    }

    /// Sets the mode used when a request names none. [`DeviceMode::Unspecified`] means the
    /// Go default, [`DeviceMode::MobileDevice`].
    #[must_use]
    pub fn with_default_mode(mut self, mode: DeviceMode) -> Self {
        self.default_mode = match mode {
            DeviceMode::Unspecified => DeviceMode::MobileDevice,
            other => other,
        };
        self
    }

    /// Sets how long before expiry a token is renewed (halved for short-lived tokens).
    #[must_use]
    pub fn with_token_renewal_margin(mut self, margin: Duration) -> Self {
        self.token_renewal_margin = margin;
        self
    }

    /// `JAMF_BASE_URL`.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }

    /// `JAMF_CLIENT_ID`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `JAMF_CLIENT_SECRET`, redacted in `Debug`.
    pub fn client_secret(&self) -> &Secret {
        &self.client_secret
    }

    /// `JAMF_API`.
    pub fn api(&self) -> JamfApi {
        self.api
    }

    /// `JAMF_MAX_CONNECTIONS`.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// `JAMF_DEVICE_GROUP`.
    pub fn device_group(&self) -> Option<&str> {
        self.device_group.as_deref()
    }

    /// `JAMF_COMPUTER_GROUP`.
    pub fn computer_group(&self) -> Option<&str> {
        self.computer_group.as_deref()
    }

    /// Whether `TIMEOUT` fits step-ca's budget ([`STEP_CA_ATTEMPT_BUDGET`]). When it doesn't,
    /// a slow Jamf makes step-ca give up before its retry; servers should warn.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use posture_jamf::JamfConfig;
    /// let config = JamfConfig::new("https://jamf.example.com", "id", "secret")?
    ///     .with_timeout(Duration::from_secs(10))?;
    /// assert!(!config.timeout_fits_step_ca());
    /// assert!(config.timeout_warning().unwrap().contains("TIMEOUT=10"));
    /// # Ok::<(), posture_jamf::JamfConfigError>(())
    /// ```
    pub fn timeout_fits_step_ca(&self) -> bool {
        self.timeout() <= STEP_CA_ATTEMPT_BUDGET
    }

    /// A one-line warning for the server to log when `TIMEOUT` doesn't fit step-ca's budget.
    pub fn timeout_warning(&self) -> Option<String> {
        (!self.timeout_fits_step_ca()).then(|| {
            format!(
                "TIMEOUT={} exceeds {} s: step-ca waits 10 s in all and retries once after 1 s, \
                 so a Jamf lookup that slow leaves no time for the retry",
                self.timeout().as_secs(),
                STEP_CA_ATTEMPT_BUDGET.as_secs()
            )
        })
    }

    /// `JAMF_DEFAULT_MODE`: never [`DeviceMode::Unspecified`].
    pub fn default_mode(&self) -> DeviceMode {
        self.default_mode
    }

    /// How long before expiry a token is renewed.
    pub fn token_renewal_margin(&self) -> Duration {
        self.token_renewal_margin
    }
}

posture_settings::flag_accessors! {
    JamfConfig {
        /// Whether allowed mobile devices carry enrichment data.
        ///
        /// `JAMF_DEVICE_ENRICH`.
        device_enrich / with_device_enrich,
        /// Whether allowed computers carry enrichment data.
        ///
        /// `JAMF_COMPUTER_ENRICH`.
        computer_enrich / with_computer_enrich,
    }
}

posture_http::common_settings_accessors!(JamfConfig, setters);
posture_http::sync_settings_accessors!(JamfConfig, kind::SYNC_INTERVAL, kind::SYNC_MAX_AGE);

#[cfg(test)]
mod tests {
    use posture_settings::EnvCases;

    use super::*;

    const MINIMAL: [(&str, &str); 3] = [
        ("JAMF_BASE_URL", "https://example.jamfcloud.com"),
        ("JAMF_CLIENT_ID", "5b8e6f44-2a0e-4a4e-9a43-0f4c9f8c1a11"),
        ("JAMF_CLIENT_SECRET", "top-secret-value"),
    ];
    const CASES: EnvCases<'static, JamfConfig> =
        EnvCases::new(&MINIMAL, "top-secret-value", |get| {
            JamfConfig::from_env(get)
        });

    fn only_problem(pairs: &[(&str, &str)]) -> String {
        let text = CASES.only_problem(pairs);
        assert!(!text.contains('\n'));
        text
    }

    #[test]
    fn defaults() {
        let config = CASES.env(&MINIMAL).unwrap();
        assert_eq!(config.api(), JamfApi::Auto);
        assert_eq!(config.max_connections(), 5);
        assert_eq!(config.max_retry_after(), Duration::from_secs(60));
        assert_eq!(config.timeout(), Duration::from_secs(4));
        assert_eq!(config.cache_ttl(), Duration::from_secs(60));
        assert_eq!(config.negative_cache_ttl(), Duration::from_secs(10));
        assert_eq!(config.default_mode(), DeviceMode::MobileDevice);
        assert_eq!(config.device_group(), None);
        assert!(!config.device_enrich() && !config.computer_enrich());
        assert!(config.extra_roots().is_empty());
        assert!(config.timeout_fits_step_ca());
        assert_eq!(config.timeout_warning(), None);
        assert!(!format!("{config:?}").contains("top-secret-value"));
    }

    #[test]
    fn go_env_file_values() {
        let config = CASES
            .env_with(&[
                ("JAMF_BASE_URL", "https://example.jamfcloud.com/"),
                ("JAMF_DEVICE_GROUP", "Compliant iPhones"),
                ("JAMF_COMPUTER_GROUP", "Compliant Macs"),
                ("JAMF_DEVICE_ENRICH", "0"),
                ("JAMF_COMPUTER_ENRICH", "1"),
                ("TIMEOUT", "10"),
            ])
            .unwrap();
        assert_eq!(config.device_group(), Some("Compliant iPhones"));
        assert_eq!(config.computer_group(), Some("Compliant Macs"));
        assert!(!config.device_enrich());
        assert!(config.computer_enrich(), "each kind reads its own flag");
        assert_eq!(config.timeout(), Duration::from_secs(10));
        assert!(!config.timeout_fits_step_ca());
        assert!(
            config
                .timeout_warning()
                .unwrap()
                .starts_with("TIMEOUT=10 exceeds 4 s")
        );
    }

    #[test]
    fn go_parse_bool_spellings() {
        CASES.assert_read(
            "JAMF_COMPUTER_ENRICH",
            JamfConfig::computer_enrich,
            &[
                ("1", true),
                ("t", true),
                ("T", true),
                ("true", true),
                ("TRUE", true),
                ("True", true),
                ("0", false),
                ("f", false),
                ("F", false),
                ("false", false),
                ("FALSE", false),
                ("False", false),
            ],
        );
        let text = only_problem(&CASES.with(&[("JAMF_DEVICE_ENRICH", "yes")]));
        assert_eq!(
            text,
            "JAMF_DEVICE_ENRICH=\"yes\" is invalid: expected 0 or 1 (or true/false)"
        );
        let text = only_problem(&CASES.with(&[("JAMF_COMPUTER_ENRICH", "2")]));
        assert!(
            text.starts_with("JAMF_COMPUTER_ENRICH=\"2\" is invalid"),
            "{text}"
        );
    }

    #[test]
    fn every_variable_names_itself() {
        // The whole message.
        for (pairs, expected) in [
            (
                CASES.with(&[("TIMEOUT", "0")]),
                "TIMEOUT=\"0\" is invalid: expected a whole number of seconds from 1 to 60",
            ),
            (
                CASES.with(&[("JAMF_API", "v1")]),
                "JAMF_API=\"v1\" is invalid: expected auto, classic or pro",
            ),
            (
                CASES.with(&[("JAMF_CACHE_TTL", "-1")]),
                "JAMF_CACHE_TTL=\"-1\" is invalid: expected a whole number of seconds from 0 to 86400 (0 disables)",
            ),
            (
                CASES.with(&[("JAMF_DEFAULT_MODE", "laptop")]),
                "JAMF_DEFAULT_MODE=\"laptop\" is invalid: expected computer, mobiledevice or auto",
            ),
        ] {
            assert_eq!(only_problem(&pairs), expected, "{pairs:?}");
        }
        for bad in ["0", "3601", "1m"] {
            let text = only_problem(&CASES.with(&[("JAMF_MAX_RETRY_AFTER", bad)]));
            assert_eq!(
                text,
                format!(
                    "JAMF_MAX_RETRY_AFTER=\"{bad}\" is invalid: expected a whole number of seconds from 1 to 3600"
                )
            );
        }
        // How the message starts.
        for (pairs, start) in [
            (
                CASES.with(&[("JAMF_BASE_URL", "http://example.jamfcloud.com")]),
                "JAMF_BASE_URL=\"http://example.jamfcloud.com\" is invalid: expected",
            ),
            (
                CASES.with(&[("TIMEOUT", "4s")]),
                "TIMEOUT=\"4s\" is invalid",
            ),
            (
                CASES.with(&[("JAMF_MAX_CONNECTIONS", "0")]),
                "JAMF_MAX_CONNECTIONS=\"0\" is invalid: expected",
            ),
            (
                CASES.with(&[("JAMF_NEGATIVE_CACHE_TTL", "ten")]),
                "JAMF_NEGATIVE_CACHE_TTL=\"ten\" is invalid",
            ),
            (
                CASES.with(&[("JAMF_CA_PATH", "/nonexistent/ca.pem")]),
                "JAMF_CA_PATH=\"/nonexistent/ca.pem\" is invalid: expected a readable PEM file",
            ),
            (
                vec![MINIMAL[0], MINIMAL[2]],
                "JAMF_CLIENT_ID is not set: expected",
            ),
            (
                vec![MINIMAL[0], MINIMAL[1]],
                "JAMF_CLIENT_SECRET is not set: expected",
            ),
            (
                vec![MINIMAL[1], MINIMAL[2]],
                "JAMF_BASE_URL is not set: expected",
            ),
        ] {
            let text = only_problem(&pairs);
            assert!(text.starts_with(start), "{text}");
        }
        // What the message says of the value.
        for (pairs, part) in [
            (
                CASES.with(&[("JAMF_BASE_URL", "http://example.jamfcloud.com")]),
                "only allowed for loopback",
            ),
            (
                CASES.with(&[("JAMF_BASE_URL", "example.jamfcloud.com")]),
                "not an absolute URL",
            ),
            (CASES.with(&[("JAMF_MAX_CONNECTIONS", "51")]), "50"),
        ] {
            let text = only_problem(&pairs);
            assert!(text.contains(part), "{text}");
        }
        // Values taken.
        for api in ["auto", "Classic", "PRO"] {
            let config = CASES.env_with(&[("JAMF_API", api)]).unwrap();
            assert_eq!(config.api().as_str(), api.to_ascii_lowercase());
        }
        let config = CASES.env_with(&[("JAMF_MAX_CONNECTIONS", "2")]).unwrap();
        assert_eq!(config.max_connections(), 2);
        let config = CASES.env_with(&[("JAMF_MAX_RETRY_AFTER", "5")]).unwrap();
        assert_eq!(config.max_retry_after(), Duration::from_secs(5));
    }

    #[test]
    fn secret_from_a_file() {
        let dir = std::env::temp_dir().join(format!("posture-jamf-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        let path_text = path.to_str().unwrap();
        let config = CASES
            .env(&[
                MINIMAL[0],
                MINIMAL[1],
                ("JAMF_CLIENT_SECRET_FILE", path_text),
            ])
            .unwrap();
        assert_eq!(config.client_secret().expose(), "from-file");

        let text = only_problem(&CASES.with(&[("JAMF_CLIENT_SECRET_FILE", path_text)]));
        assert_eq!(
            text,
            "JAMF_CLIENT_SECRET is invalid (value not shown, it is a secret): expected either JAMF_CLIENT_SECRET or JAMF_CLIENT_SECRET_FILE, not both"
        );
        let text = only_problem(&[
            MINIMAL[0],
            MINIMAL[1],
            ("JAMF_CLIENT_SECRET_FILE", "/nonexistent/s"),
        ]);
        assert!(
            text.starts_with("JAMF_CLIENT_SECRET_FILE=\"/nonexistent/s\" is invalid"),
            "{text}"
        );
        std::fs::write(&path, "\n").unwrap();
        let text = only_problem(&[
            MINIMAL[0],
            MINIMAL[1],
            ("JAMF_CLIENT_SECRET_FILE", path_text),
        ]);
        assert!(text.contains("the file is empty"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reports_every_problem() {
        let err = CASES
            .env(&[("TIMEOUT", "x"), ("JAMF_API", "y")])
            .unwrap_err();
        let variables: Vec<_> = err.problems().iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            variables,
            [
                "JAMF_BASE_URL",
                "JAMF_CLIENT_ID",
                "JAMF_CLIENT_SECRET",
                "TIMEOUT",
                "JAMF_API"
            ]
        );
        assert_eq!(err.to_string().lines().count(), 5);
    }

    #[test]
    fn setters() {
        let config = JamfConfig::new("http://127.0.0.1:9", "id", "secret")
            .unwrap()
            .with_default_mode(DeviceMode::Unspecified)
            .with_device_group("")
            .with_cache_capacity(5);
        assert_eq!(config.default_mode(), DeviceMode::MobileDevice);
        assert_eq!(config.device_group(), None);
        assert_eq!(config.cache_capacity(), 5);
        assert!(config.clone().with_timeout(Duration::ZERO).is_err());
        assert!(config.clone().with_max_connections(0).is_err());
        assert!(config.clone().with_max_retry_after(Duration::ZERO).is_err());
        assert!(
            config
                .clone()
                .with_max_retry_after(Duration::from_secs(3601))
                .is_err()
        );
        assert!(config.clone().with_max_connections(51).is_err());
        assert_eq!(config.with_max_connections(1).unwrap().max_connections(), 1);
        assert!(JamfConfig::new("https://h.example.com", " ", "s").is_err());
        assert!(JamfConfig::new("https://h.example.com", "id", "").is_err());
        assert!(JamfConfig::new("http://h.example.com", "id", "s").is_err());
    }
}
