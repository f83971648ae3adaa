use std::time::Duration;

use posture_http::env::{self, ConfigProblem, ConfigProblems};
use posture_http::sync::SyncSettings;
use posture_http::{BaseUrl, CommonSettings, Secret};
use posture_settings::Reader;

use crate::kind::{
    API_TOKEN, COMMON, ENRICH, LABELS, POLICIES, REQUIRE_CONNECTED, SYNC_INTERVAL, SYNC_MAX_AGE,
    TEAMS, URL,
};

/// The default `TIMEOUT`: 4 s, so step-ca's retry fits in its 10 s budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);

/// The default `FLEET_CACHE_TTL`: allowed answers are reused for 60 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The default `FLEET_NEGATIVE_CACHE_TTL`: denies are reused for 10 s.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);

/// `FLEET_POLICIES=*`: every policy the host has must pass.
pub const ALL_POLICIES: &str = "*";

/// The validated settings of a [`FleetProvider`](crate::FleetProvider).
///
/// Build it from environment-style variables with [`FleetConfig::from_env`], or in code with
/// [`FleetConfig::new`] and the `with_*` setters. `Debug` never shows the API token.
///
/// ```
/// use posture_fleet::FleetConfig;
///
/// let config = FleetConfig::new("https://fleet.example.com", "s3cr3t-token")?
///     .with_teams(["Engineering"])
///     .with_policies(["*"]);
/// assert!(config.require_connected());
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// # Ok::<(), posture_settings::ConfigProblems>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FleetConfig {
    url: BaseUrl,
    api_token: Secret,
    require_connected: bool,
    teams: Vec<String>,
    labels: Vec<String>,
    policies: Vec<String>,
    enrich: bool,
    lookup: CommonSettings,
    sync: SyncSettings,
}

impl FleetConfig {
    /// Settings with the required values and every default: connected to this Fleet
    /// required, any team, no label or policy required, enrichment on, `TIMEOUT` 4 s, cache
    /// TTLs 60 s and 10 s (up to 10 000 answers), `Retry-After` honoured up to 60 s.
    pub fn new(url: &str, api_token: impl Into<String>) -> Result<Self, ConfigProblems> {
        let api_token = api_token.into();
        Self::from_env(posture_settings::given(&[
            (&URL, url),
            (&API_TOKEN, &api_token),
        ])?)
    }

    /// Reads the settings ([`SETTINGS`](crate::SETTINGS) and `TIMEOUT`) from
    /// environment-style variables; `get` returns a variable's value, or `None` when it is
    /// unset. Every problem is reported, each naming its variable. Reads the files named by
    /// `FLEET_API_TOKEN_FILE` and `FLEET_CA_PATH`; does no network I/O.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use posture_fleet::FleetConfig;
    ///
    /// let env = HashMap::from([
    ///     ("FLEET_URL", "https://fleet.example.com"),
    ///     ("FLEET_API_TOKEN", "s3cr3t"),
    ///     ("FLEET_TEAMS", "Engineering, 7"),
    ///     ("FLEET_POLICIES", "*"),
    /// ]);
    /// let config = FleetConfig::from_env(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.teams(), ["Engineering", "7"]);
    /// assert!(config.requires_every_policy());
    ///
    /// let err = FleetConfig::from_env(|name| (name == "FLEET_URL").then(|| "http://fleet.example.com".into()))
    ///     .unwrap_err()
    ///     .to_string();
    /// assert!(err.starts_with("FLEET_URL=\"http://fleet.example.com\" is invalid"), "{err}");
    /// assert!(err.contains("FLEET_API_TOKEN is not set"), "{err}");
    /// # Ok::<(), posture_settings::ConfigProblems>(())
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigProblems> {
        let mut reader = Reader::new(&get);
        let url = env::read_base_url(&mut reader, &URL);
        let api_token = reader.required_secret(&API_TOKEN);
        let require_connected = reader.flag(&REQUIRE_CONNECTED);
        let teams = reader.list(&TEAMS);
        let labels = reader.list(&LABELS);
        let policies = reader.list(&POLICIES);
        if policies.len() > 1 && policies.iter().any(|p| p == ALL_POLICIES) {
            reader.problem(ConfigProblem::invalid(
                POLICIES.name,
                &policies.join(","),
                "either * (every policy of the host) or a list of policy names or ids, not both",
            ));
        }
        let enrich = reader.flag(&ENRICH);
        let lookup = CommonSettings::read(&mut reader, COMMON);
        let sync = SyncSettings::read(&mut reader, &SYNC_INTERVAL, &SYNC_MAX_AGE);
        reader.finish_with(|| {
            Some(Self {
                url: url?,
                api_token: Secret::new(api_token?),
                require_connected: require_connected?,
                teams,
                labels,
                policies,
                enrich: enrich?,
                lookup: lookup?,
                sync,
            })
        })
    }

    /// Requires the host to be in one of these teams (names or ids); empty allows any.
    #[must_use]
    pub fn with_teams<I: IntoIterator<Item = S>, S: Into<String>>(mut self, teams: I) -> Self {
        self.teams = teams.into_iter().map(Into::into).collect();
        self
    }

    /// Requires the host to carry every one of these labels (names or ids).
    #[must_use]
    pub fn with_labels<I: IntoIterator<Item = S>, S: Into<String>>(mut self, labels: I) -> Self {
        self.labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Requires the host to pass these policies (names or ids), or with `["*"]` every policy
    /// it has.
    #[must_use]
    pub fn with_policies<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        policies: I,
    ) -> Self {
        self.policies = policies.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `TIMEOUT`, the cache TTLs, the longest `Retry-After` honoured and extra CA
    /// certificates.
    #[must_use]
    pub fn with_lookup(mut self, lookup: CommonSettings) -> Self {
        self.lookup = lookup;
        self
    }

    /// `FLEET_URL`.
    pub fn url(&self) -> &BaseUrl {
        &self.url
    }

    /// `FLEET_API_TOKEN`, redacted in `Debug`.
    pub fn api_token(&self) -> &Secret {
        &self.api_token
    }

    /// `FLEET_TEAMS`.
    pub fn teams(&self) -> &[String] {
        &self.teams
    }

    /// `FLEET_LABELS`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// `FLEET_POLICIES`.
    pub fn policies(&self) -> &[String] {
        &self.policies
    }

    /// Whether `FLEET_POLICIES` is `*`.
    pub fn requires_every_policy(&self) -> bool {
        self.policies.iter().any(|p| p == ALL_POLICIES)
    }

    /// `TIMEOUT`, `FLEET_CACHE_TTL`, `FLEET_NEGATIVE_CACHE_TTL`, `FLEET_MAX_RETRY_AFTER` and
    /// `FLEET_CA_PATH`.
    pub fn lookup(&self) -> &CommonSettings {
        &self.lookup
    }
}

posture_settings::flag_accessors! {
    FleetConfig {
        /// Whether the host's MDM must be this Fleet (`mdm.connected_to_fleet`).
        ///
        /// `FLEET_REQUIRE_CONNECTED`.
        require_connected / with_require_connected,
        /// Whether allowed answers carry enrichment data.
        ///
        /// `FLEET_ENRICH`.
        enrich / with_enrich,
    }
}

posture_http::sync_settings_accessors!(FleetConfig, SYNC_INTERVAL, SYNC_MAX_AGE);

#[cfg(test)]
mod tests {
    use posture_settings::EnvCases;

    use super::*;

    const CASES: EnvCases<'static, FleetConfig> = EnvCases::new(
        &[
            ("FLEET_URL", "https://fleet.example.com"),
            ("FLEET_API_TOKEN", "top-secret-token"),
        ],
        "top-secret-token",
        |get| FleetConfig::from_env(get),
    );

    #[test]
    fn sync_settings_meet_their_variables_bounds() {
        let hourly = SyncSettings::new("", "").every(Duration::from_secs(3600));
        let config = FleetConfig::new("https://fleet.example.com", "t")
            .unwrap()
            .with_sync(hourly)
            .unwrap();
        assert_eq!(config.sync().oldest(), Duration::from_secs(3 * 3600));
        let too_often = SyncSettings::new("", "").every(Duration::from_secs(10));
        let err = config.with_sync(too_often).unwrap_err().to_string();
        assert!(
            err.starts_with("FLEET_SYNC_INTERVAL=\"10\" is invalid"),
            "{err}"
        );
    }

    #[test]
    fn defaults() {
        let config = CASES.env_with(&[]).unwrap();
        assert!(config.require_connected());
        assert!(config.enrich());
        assert!(config.teams().is_empty() && config.labels().is_empty());
        assert!(!config.requires_every_policy());
        assert_eq!(config.lookup().timeout(), DEFAULT_TIMEOUT);
        assert_eq!(config.lookup().cache_ttl(), DEFAULT_CACHE_TTL);
        assert_eq!(
            config.lookup().negative_cache_ttl(),
            DEFAULT_NEGATIVE_CACHE_TTL
        );
        assert_eq!(config.lookup().max_retry_after(), Duration::from_secs(60));
        assert!(!format!("{config:?}").contains("top-secret-token"));
    }

    #[test]
    fn every_variable_names_itself() {
        // Flags, numbers, paths and secret files are checked for every declared variable by
        // the declarations test (`settings_tests!`); these are the rules of their own.
        CASES.assert_refused(&[
            (
                "FLEET_URL",
                "http://fleet.example.com",
                "the Fleet server's URL",
            ),
            ("TIMEOUT", "61", "a whole number of seconds from 1 to 60"),
            ("FLEET_POLICIES", "*,Gatekeeper", "either *"),
        ]);
        let err = FleetConfig::from_env(|_| None).unwrap_err().to_string();
        assert!(err.contains("FLEET_URL is not set"), "{err}");
        assert!(err.contains("FLEET_API_TOKEN is not set"), "{err}");
    }

    #[test]
    fn lists_and_setters() {
        let config = CASES
            .env_with(&[
                ("FLEET_TEAMS", " Engineering , 3,,"),
                ("FLEET_LABELS", "wifi-allowed"),
                ("FLEET_POLICIES", "Gatekeeper enabled,12"),
                ("FLEET_REQUIRE_CONNECTED", "false"),
            ])
            .unwrap();
        assert_eq!(config.teams(), ["Engineering", "3"]);
        assert_eq!(config.labels(), ["wifi-allowed"]);
        assert_eq!(config.policies(), ["Gatekeeper enabled", "12"]);
        assert!(!config.require_connected());
        assert!(FleetConfig::new("fleet.example.com", "t").is_err());
        assert!(FleetConfig::new("https://fleet.example.com", "").is_err());
        let config = FleetConfig::new("http://127.0.0.1:9", "t")
            .unwrap()
            .with_lookup(CommonSettings::defaults(COMMON).with_cache_ttl(Duration::ZERO));
        assert_eq!(config.lookup().cache_ttl(), Duration::ZERO);
    }
}
