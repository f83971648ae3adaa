use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use posture_http::env::{self, ConfigProblem, ConfigProblems};
use posture_http::{BaseUrl, CaBundle, Secret};

/// The settings were invalid: every problem found, one per line.
pub type IntuneConfigError = ConfigProblems;

/// The default `TIMEOUT`: 4 s, so step-ca's retry fits in its 10 s budget.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);

/// The default `INTUNE_CACHE_TTL`: allowed answers are reused for 60 s.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// The default `INTUNE_NEGATIVE_CACHE_TTL`: denies are reused for 10 s, so a device that was
/// just enrolled or made compliant is seen quickly.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(10);

/// The default `INTUNE_AUTHORITY_URL`: the Microsoft identity platform, global cloud.
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";

/// The default `INTUNE_GRAPH_URL`: Microsoft Graph, global cloud.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

/// How long the Entra ID object ID of a device is kept (it never changes for a device).
pub const ENTRA_OBJECT_CACHE_TTL: Duration = Duration::from_secs(3600);

const MAX_TIMEOUT_SECS: u64 = 60;
const MAX_TTL_SECS: u64 = 86_400;

/// A `complianceState` of an Intune managed device (Microsoft Graph v1.0 enum).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ComplianceState {
    /// `unknown`.
    Unknown,
    /// `compliant`.
    Compliant,
    /// `noncompliant`.
    Noncompliant,
    /// `conflict`.
    Conflict,
    /// `error`.
    Error,
    /// `inGracePeriod`: failing a policy, but within its grace period.
    InGracePeriod,
    /// `configManager`: compliance is managed by Configuration Manager.
    ConfigManager,
}

impl ComplianceState {
    /// Every state, in Graph's order.
    pub const ALL: [Self; 7] = [
        Self::Unknown,
        Self::Compliant,
        Self::Noncompliant,
        Self::Conflict,
        Self::Error,
        Self::InGracePeriod,
        Self::ConfigManager,
    ];

    /// Graph's spelling, such as `inGracePeriod`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Compliant => "compliant",
            Self::Noncompliant => "noncompliant",
            Self::Conflict => "conflict",
            Self::Error => "error",
            Self::InGracePeriod => "inGracePeriod",
            Self::ConfigManager => "configManager",
        }
    }
}

impl fmt::Display for ComplianceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compliance state that Graph doesn't define.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error(
    "unknown compliance state {0:?}: expected unknown, compliant, noncompliant, conflict, error, inGracePeriod or configManager"
)]
pub struct UnknownComplianceState(pub String);

impl FromStr for ComplianceState {
    type Err = UnknownComplianceState;

    /// Parses Graph's spelling, in any case.
    ///
    /// ```
    /// use posture_intune::ComplianceState;
    /// assert_eq!("InGracePeriod".parse(), Ok(ComplianceState::InGracePeriod));
    /// assert!("ok".parse::<ComplianceState>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownComplianceState(s.to_owned()))
    }
}

/// The validated settings of an [`IntuneProvider`](crate::IntuneProvider).
///
/// Build it from environment-style variables with [`IntuneConfig::from_env`], or in code with
/// [`IntuneConfig::new`] and the `with_*` setters. `Debug` never shows the client secret.
///
/// ```
/// use posture_intune::{ComplianceState, IntuneConfig};
///
/// let config = IntuneConfig::new("contoso.onmicrosoft.com", "6731de76-14a6-49ae-97bc-6eba6914391e", "s3cr3t")?
///     .with_allowed_states([ComplianceState::Compliant, ComplianceState::InGracePeriod])
///     .with_group_id("c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01")?;
/// assert_eq!(config.scope(), "https://graph.microsoft.com/.default");
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// # Ok::<(), posture_intune::IntuneConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IntuneConfig {
    tenant_id: String,
    client_id: String,
    client_secret: Secret,
    authority_url: BaseUrl,
    graph_url: BaseUrl,
    allowed_states: Vec<ComplianceState>,
    group_id: Option<String>,
    enrich: bool,
    timeout: Duration,
    cache_ttl: Duration,
    negative_cache_ttl: Duration,
    cache_capacity: u64,
    extra_roots: CaBundle,
    token_renewal_margin: Duration,
    max_retry_after: Duration,
}

const TENANT_EXPECTED: &str =
    "the Entra ID tenant: its ID (a GUID) or a verified domain such as contoso.onmicrosoft.com";
const CLIENT_ID_EXPECTED: &str =
    "the application (client) ID of the Entra ID app registration (a GUID)";
const GROUP_EXPECTED: &str =
    "the object ID (a GUID) of the Entra ID group compliant devices must belong to";

impl IntuneConfig {
    /// Settings with the required values and every default: the global cloud's authority
    /// and Graph URLs, allowed state `compliant`, no group, enrichment on, `TIMEOUT` 4 s, cache TTLs 60 s
    /// and 10 s (up to 10 000 answers), no extra CA, tokens renewed 5 minutes before expiry.
    ///
    /// Fails when the tenant or client ID is malformed or the secret is empty.
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        client_secret: impl Into<String>,
    ) -> Result<Self, IntuneConfigError> {
        let mut problems = Vec::new();
        let tenant_id = tenant(Some(tenant_id.trim().to_owned()), &mut problems);
        let client_id = guid(
            Some(client_id.trim().to_owned()),
            "INTUNE_CLIENT_ID",
            CLIENT_ID_EXPECTED,
            &mut problems,
        );
        let client_secret = Secret::new(client_secret);
        if client_secret.is_empty() {
            problems.push(ConfigProblem::missing(
                "INTUNE_CLIENT_SECRET",
                "a client secret of the app registration",
            ));
        }
        match (tenant_id, client_id) {
            (Some(tenant_id), Some(client_id)) if problems.is_empty() => Ok(Self::with_defaults(
                tenant_id,
                client_id,
                client_secret,
                parse_url("INTUNE_AUTHORITY_URL", DEFAULT_AUTHORITY_URL)?,
                parse_url("INTUNE_GRAPH_URL", DEFAULT_GRAPH_URL)?,
            )),
            _ => Err(ConfigProblems::new(problems)),
        }
    }

    fn with_defaults(
        tenant_id: String,
        client_id: String,
        client_secret: Secret,
        authority_url: BaseUrl,
        graph_url: BaseUrl,
    ) -> Self {
        Self {
            tenant_id,
            client_id,
            client_secret,
            authority_url,
            graph_url,
            allowed_states: vec![ComplianceState::Compliant],
            group_id: None,
            enrich: true,
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
            negative_cache_ttl: DEFAULT_NEGATIVE_CACHE_TTL,
            cache_capacity: 10_000,
            extra_roots: CaBundle::empty(),
            token_renewal_margin: Duration::from_secs(300),
            max_retry_after: posture_http::DEFAULT_MAX_RETRY_AFTER,
        }
    }

    /// Reads the settings from environment-style variables; `get` returns a variable's value,
    /// or `None` when it is unset. An empty value counts as unset, and values other than the
    /// secret are trimmed. Every problem is reported, not just the first. Reads the files
    /// named by `INTUNE_CLIENT_SECRET_FILE` and `INTUNE_CA_PATH`; does no network I/O.
    ///
    /// | Variable | Meaning | Default |
    /// |---|---|---|
    /// | `INTUNE_TENANT_ID` | tenant ID (GUID) or verified domain | required |
    /// | `INTUNE_CLIENT_ID` | application (client) ID of the app registration | required |
    /// | `INTUNE_CLIENT_SECRET` | a client secret of the app | required, or the file below |
    /// | `INTUNE_CLIENT_SECRET_FILE` | file holding the secret (one trailing newline removed) | — |
    /// | `INTUNE_AUTHORITY_URL` | Microsoft identity platform URL | `https://login.microsoftonline.com` |
    /// | `INTUNE_GRAPH_URL` | Microsoft Graph URL; the token scope is `<origin>/.default` | `https://graph.microsoft.com` |
    /// | `INTUNE_ALLOWED_COMPLIANCE_STATES` | comma-separated `complianceState`s that allow | `compliant` |
    /// | `INTUNE_GROUP_ID` | object ID of an Entra ID group devices must be in | none |
    /// | `INTUNE_ENRICH` | return enrichment data with allowed answers | `1` |
    /// | `INTUNE_CACHE_TTL` | seconds allowed answers are reused; `0` disables | `60` |
    /// | `INTUNE_NEGATIVE_CACHE_TTL` | seconds denies are reused; `0` disables | `10` |
    /// | `INTUNE_MAX_RETRY_AFTER` | longest `Retry-After` honoured, in seconds, 1–3600 | `60` |
    /// | `INTUNE_CA_PATH` | PEM file of extra CA certificates (a TLS-inspecting proxy) | none |
    /// | `TIMEOUT` | seconds one lookup may take, 1–60 | `4` |
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use posture_intune::IntuneConfig;
    ///
    /// let env = HashMap::from([
    ///     ("INTUNE_TENANT_ID", "8d6e3f8b-55a4-4a1f-9d0b-3c6f2b9e1a10"),
    ///     ("INTUNE_CLIENT_ID", "6731de76-14a6-49ae-97bc-6eba6914391e"),
    ///     ("INTUNE_CLIENT_SECRET", "s3cr3t"),
    ///     ("INTUNE_ALLOWED_COMPLIANCE_STATES", "compliant, inGracePeriod"),
    /// ]);
    /// let config = IntuneConfig::from_env(|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.allowed_states().len(), 2);
    /// assert_eq!(config.graph_url().as_str(), "https://graph.microsoft.com");
    /// # Ok::<(), posture_intune::IntuneConfigError>(())
    /// ```
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, IntuneConfigError> {
        let mut problems = Vec::new();
        let value = |name: &str| env::value(&get, name);

        let tenant_id = tenant(value("INTUNE_TENANT_ID"), &mut problems);
        let client_id = guid(
            value("INTUNE_CLIENT_ID"),
            "INTUNE_CLIENT_ID",
            CLIENT_ID_EXPECTED,
            &mut problems,
        );
        let client_secret = env::secret(
            &get,
            "INTUNE_CLIENT_SECRET",
            "INTUNE_CLIENT_SECRET_FILE",
            "a client secret of the app registration",
            &mut problems,
        );
        let authority_url = env::base_url(
            Some(value("INTUNE_AUTHORITY_URL").unwrap_or_else(|| DEFAULT_AUTHORITY_URL.to_owned())),
            "INTUNE_AUTHORITY_URL",
            "the Microsoft identity platform URL, such as https://login.microsoftonline.com",
            &mut problems,
        );
        let graph_url = env::base_url(
            Some(value("INTUNE_GRAPH_URL").unwrap_or_else(|| DEFAULT_GRAPH_URL.to_owned())),
            "INTUNE_GRAPH_URL",
            "the Microsoft Graph URL, such as https://graph.microsoft.com",
            &mut problems,
        );
        let allowed_states = states(value("INTUNE_ALLOWED_COMPLIANCE_STATES"), &mut problems);
        let group_id = match value("INTUNE_GROUP_ID") {
            None => Some(None),
            text => guid(text, "INTUNE_GROUP_ID", GROUP_EXPECTED, &mut problems).map(Some),
        };
        let enrich = env::boolean(value("INTUNE_ENRICH"), "INTUNE_ENRICH", true, &mut problems);
        let timeout = env::seconds(
            value("TIMEOUT"),
            "TIMEOUT",
            DEFAULT_TIMEOUT,
            1,
            MAX_TIMEOUT_SECS,
            &mut problems,
        );
        let cache_ttl = env::seconds(
            value("INTUNE_CACHE_TTL"),
            "INTUNE_CACHE_TTL",
            DEFAULT_CACHE_TTL,
            0,
            MAX_TTL_SECS,
            &mut problems,
        );
        let negative_cache_ttl = env::seconds(
            value("INTUNE_NEGATIVE_CACHE_TTL"),
            "INTUNE_NEGATIVE_CACHE_TTL",
            DEFAULT_NEGATIVE_CACHE_TTL,
            0,
            MAX_TTL_SECS,
            &mut problems,
        );
        let max_retry_after = env::max_retry_after(
            value("INTUNE_MAX_RETRY_AFTER"),
            "INTUNE_MAX_RETRY_AFTER",
            &mut problems,
        );
        let extra_roots = env::ca_bundle(value("INTUNE_CA_PATH"), "INTUNE_CA_PATH", &mut problems);

        match (
            tenant_id,
            client_id,
            client_secret,
            authority_url,
            graph_url,
            allowed_states,
            group_id,
            enrich,
            timeout,
            cache_ttl,
            negative_cache_ttl,
            extra_roots,
            max_retry_after,
        ) {
            (
                Some(tenant_id),
                Some(client_id),
                Some(client_secret),
                Some(authority_url),
                Some(graph_url),
                Some(allowed_states),
                Some(group_id),
                Some(enrich),
                Some(timeout),
                Some(cache_ttl),
                Some(negative_cache_ttl),
                Some(extra_roots),
                Some(max_retry_after),
            ) if problems.is_empty() => Ok(Self {
                allowed_states,
                group_id,
                enrich,
                timeout,
                cache_ttl,
                negative_cache_ttl,
                extra_roots,
                max_retry_after,
                ..Self::with_defaults(
                    tenant_id,
                    client_id,
                    client_secret,
                    authority_url,
                    graph_url,
                )
            }),
            _ => Err(ConfigProblems::new(problems)),
        }
    }

    /// Sets the Microsoft identity platform URL (a national cloud, or a fake in tests).
    pub fn with_authority_url(mut self, url: &str) -> Result<Self, IntuneConfigError> {
        self.authority_url = parse_url("INTUNE_AUTHORITY_URL", url)?;
        Ok(self)
    }

    /// Sets the Microsoft Graph URL (a national cloud, or a fake in tests).
    pub fn with_graph_url(mut self, url: &str) -> Result<Self, IntuneConfigError> {
        self.graph_url = parse_url("INTUNE_GRAPH_URL", url)?;
        Ok(self)
    }

    /// Sets the compliance states that allow. An empty set keeps the default, `compliant`.
    #[must_use]
    pub fn with_allowed_states(
        mut self,
        states: impl IntoIterator<Item = ComplianceState>,
    ) -> Self {
        let mut allowed: Vec<ComplianceState> = Vec::new();
        for state in states {
            if !allowed.contains(&state) {
                allowed.push(state);
            }
        }
        if !allowed.is_empty() {
            self.allowed_states = allowed;
        }
        self
    }

    /// Requires devices to be members of this Entra ID group (its object ID).
    pub fn with_group_id(mut self, group_id: &str) -> Result<Self, IntuneConfigError> {
        let mut problems = Vec::new();
        self.group_id = guid(
            Some(group_id.trim().to_owned()),
            "INTUNE_GROUP_ID",
            GROUP_EXPECTED,
            &mut problems,
        );
        match problems.pop() {
            Some(problem) => Err(ConfigProblems::one(problem)),
            None => Ok(self),
        }
    }

    /// Whether allowed answers carry the enrichment data. Off, an allow has no data: for a
    /// template that doesn't use it, the user's UPN and email need not reach step-ca.
    #[must_use]
    pub fn with_enrich(mut self, enrich: bool) -> Self {
        self.enrich = enrich;
        self
    }

    /// Sets how long one lookup may take, all Graph calls included. Fails for zero.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, IntuneConfigError> {
        if timeout.is_zero() {
            return Err(ConfigProblems::one(ConfigProblem::invalid(
                "TIMEOUT",
                "0",
                format!("a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}"),
            )));
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// Sets the longest `Retry-After` honoured (`INTUNE_MAX_RETRY_AFTER`): when Graph asks
    /// for a longer wait, one request probes after this long. Fails outside 1 s–1 h.
    pub fn with_max_retry_after(mut self, delay: Duration) -> Result<Self, IntuneConfigError> {
        self.max_retry_after = env::max_retry_after_in_range(delay, "INTUNE_MAX_RETRY_AFTER")
            .map_err(ConfigProblems::one)?;
        Ok(self)
    }

    /// Sets how long allowed answers are reused; zero disables.
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Sets how long denies are reused; zero disables.
    #[must_use]
    pub fn with_negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_cache_ttl = ttl;
        self
    }

    /// Sets how many answers the cache holds at most.
    #[must_use]
    pub fn with_cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Trusts these CA certificates in addition to the Mozilla roots.
    #[must_use]
    pub fn with_extra_roots(mut self, roots: CaBundle) -> Self {
        self.extra_roots = roots;
        self
    }

    /// Sets how long before expiry a token is renewed (halved for short-lived tokens).
    #[must_use]
    pub fn with_token_renewal_margin(mut self, margin: Duration) -> Self {
        self.token_renewal_margin = margin;
        self
    }

    /// `INTUNE_TENANT_ID`.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// `INTUNE_CLIENT_ID`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `INTUNE_CLIENT_SECRET`, redacted in `Debug`.
    pub fn client_secret(&self) -> &Secret {
        &self.client_secret
    }

    /// `INTUNE_AUTHORITY_URL`.
    pub fn authority_url(&self) -> &BaseUrl {
        &self.authority_url
    }

    /// `INTUNE_GRAPH_URL`.
    pub fn graph_url(&self) -> &BaseUrl {
        &self.graph_url
    }

    /// The token scope: the Graph URL's origin followed by `/.default`, as the
    /// client-credentials grant requires (`https://graph.microsoft.com/.default`).
    pub fn scope(&self) -> String {
        let origin = self.graph_url.join(&[]).origin().ascii_serialization();
        format!("{origin}/.default")
    }

    /// `INTUNE_ALLOWED_COMPLIANCE_STATES`.
    pub fn allowed_states(&self) -> &[ComplianceState] {
        &self.allowed_states
    }

    /// `INTUNE_GROUP_ID`, lower-cased.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }

    /// `INTUNE_ENRICH`.
    pub fn enrich(&self) -> bool {
        self.enrich
    }

    /// `TIMEOUT`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `INTUNE_CACHE_TTL`.
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// `INTUNE_NEGATIVE_CACHE_TTL`.
    pub fn negative_cache_ttl(&self) -> Duration {
        self.negative_cache_ttl
    }

    /// `INTUNE_MAX_RETRY_AFTER`.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The most answers the cache holds.
    pub fn cache_capacity(&self) -> u64 {
        self.cache_capacity
    }

    /// `INTUNE_CA_PATH`, read.
    pub fn extra_roots(&self) -> &CaBundle {
        &self.extra_roots
    }

    /// How long before expiry a token is renewed.
    pub fn token_renewal_margin(&self) -> Duration {
        self.token_renewal_margin
    }
}

fn parse_url(variable: &str, text: &str) -> Result<BaseUrl, IntuneConfigError> {
    BaseUrl::parse(text).map_err(|err| {
        ConfigProblems::one(ConfigProblem::invalid(
            variable,
            text,
            format!("an https:// URL ({err})"),
        ))
    })
}

fn tenant(value: Option<String>, problems: &mut Vec<ConfigProblem>) -> Option<String> {
    let text = env::required(value, "INTUNE_TENANT_ID", TENANT_EXPECTED, problems)?;
    let lower = text.to_ascii_lowercase();
    if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
        problems.push(ConfigProblem::invalid(
            "INTUNE_TENANT_ID",
            &text,
            format!("{TENANT_EXPECTED}; the client-credentials grant needs a specific tenant"),
        ));
        return None;
    }
    let domain_like = lower.contains('.')
        && lower.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if env::is_guid(&lower) || domain_like {
        Some(lower)
    } else {
        problems.push(ConfigProblem::invalid(
            "INTUNE_TENANT_ID",
            &text,
            TENANT_EXPECTED,
        ));
        None
    }
}

fn guid(
    value: Option<String>,
    variable: &str,
    expected: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<String> {
    let text = env::required(value, variable, expected, problems)?;
    if env::is_guid(&text) {
        Some(text.to_ascii_lowercase())
    } else {
        problems.push(ConfigProblem::invalid(variable, &text, expected));
        None
    }
}

fn states(
    value: Option<String>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Vec<ComplianceState>> {
    let Some(text) = value else {
        return Some(vec![ComplianceState::Compliant]);
    };
    let mut allowed = Vec::new();
    for item in env::list(Some(text.clone())) {
        match item.parse::<ComplianceState>() {
            Ok(state) if !allowed.contains(&state) => allowed.push(state),
            Ok(_) => {}
            Err(_) => {
                problems.push(ConfigProblem::invalid(
                    "INTUNE_ALLOWED_COMPLIANCE_STATES",
                    &text,
                    format!(
                        "a comma-separated list of unknown, compliant, noncompliant, conflict, \
                         error, inGracePeriod, configManager ({item:?} is not one)"
                    ),
                ));
                return None;
            }
        }
    }
    if allowed.is_empty() {
        problems.push(ConfigProblem::invalid(
            "INTUNE_ALLOWED_COMPLIANCE_STATES",
            &text,
            "at least one compliance state, such as compliant",
        ));
        return None;
    }
    Some(allowed)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const MINIMAL: [(&str, &str); 3] = [
        ("INTUNE_TENANT_ID", "8d6e3f8b-55a4-4a1f-9d0b-3c6f2b9e1a10"),
        ("INTUNE_CLIENT_ID", "6731de76-14a6-49ae-97bc-6eba6914391e"),
        ("INTUNE_CLIENT_SECRET", "top-secret-value"),
    ];

    fn env(pairs: &[(&str, &str)]) -> Result<IntuneConfig, IntuneConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        IntuneConfig::from_env(|name| map.get(name).cloned())
    }

    fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut pairs = MINIMAL.to_vec();
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend_from_slice(extra);
        pairs
    }

    fn only_problem(pairs: &[(&str, &str)]) -> String {
        let err = env(pairs).unwrap_err();
        assert_eq!(err.problems().len(), 1, "{err}");
        let text = err.to_string();
        assert!(!text.contains("top-secret-value"), "{text}");
        text
    }

    #[test]
    fn defaults() {
        let config = env(&MINIMAL).unwrap();
        assert_eq!(config.authority_url().as_str(), DEFAULT_AUTHORITY_URL);
        assert_eq!(config.graph_url().as_str(), DEFAULT_GRAPH_URL);
        assert_eq!(config.scope(), "https://graph.microsoft.com/.default");
        assert_eq!(config.allowed_states(), [ComplianceState::Compliant]);
        assert_eq!(config.group_id(), None);
        assert!(config.enrich());
        assert_eq!(config.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(config.cache_ttl(), DEFAULT_CACHE_TTL);
        assert_eq!(config.negative_cache_ttl(), DEFAULT_NEGATIVE_CACHE_TTL);
        assert_eq!(config.max_retry_after(), Duration::from_secs(60));
        assert!(!format!("{config:?}").contains("top-secret-value"));
    }

    #[test]
    fn national_clouds_and_fakes_derive_the_scope() {
        let config = env(&with(&[
            ("INTUNE_AUTHORITY_URL", "https://login.microsoftonline.us/"),
            ("INTUNE_GRAPH_URL", "https://graph.microsoft.us"),
            ("INTUNE_TENANT_ID", "Contoso.onmicrosoft.us"),
            ("INTUNE_GROUP_ID", "C5A6B9A1-7F3E-4A55-9C1E-2F0F3A1D9E01"),
        ]))
        .unwrap();
        assert_eq!(config.scope(), "https://graph.microsoft.us/.default");
        assert_eq!(config.tenant_id(), "contoso.onmicrosoft.us");
        assert_eq!(
            config.group_id(),
            Some("c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01")
        );
        let fake = config.with_graph_url("http://127.0.0.1:4321/").unwrap();
        assert_eq!(fake.scope(), "http://127.0.0.1:4321/.default");
    }

    #[test]
    fn compliance_states() {
        let config = env(&with(&[(
            "INTUNE_ALLOWED_COMPLIANCE_STATES",
            "Compliant, ingraceperiod,compliant",
        )]))
        .unwrap();
        assert_eq!(
            config.allowed_states(),
            [ComplianceState::Compliant, ComplianceState::InGracePeriod]
        );
        let text = only_problem(&with(&[(
            "INTUNE_ALLOWED_COMPLIANCE_STATES",
            "compliant,ok",
        )]));
        assert!(
            text.starts_with("INTUNE_ALLOWED_COMPLIANCE_STATES=\"compliant,ok\" is invalid: expected a comma-separated list"),
            "{text}"
        );
        assert!(text.contains("\"ok\" is not one"), "{text}");
        let text = only_problem(&with(&[("INTUNE_ALLOWED_COMPLIANCE_STATES", ",")]));
        assert!(text.contains("at least one compliance state"), "{text}");
    }

    #[test]
    fn every_variable_names_itself() {
        for (pairs, start) in [
            (
                with(&[("INTUNE_TENANT_ID", "common")]),
                "INTUNE_TENANT_ID=\"common\" is invalid",
            ),
            (
                with(&[("INTUNE_TENANT_ID", "not a tenant")]),
                "INTUNE_TENANT_ID=\"not a tenant\" is invalid",
            ),
            (
                with(&[("INTUNE_CLIENT_ID", "app")]),
                "INTUNE_CLIENT_ID=\"app\" is invalid",
            ),
            (
                with(&[("INTUNE_GROUP_ID", "Compliant Macs")]),
                "INTUNE_GROUP_ID=\"Compliant Macs\" is invalid: expected the object ID",
            ),
            (
                with(&[("INTUNE_GRAPH_URL", "http://graph.microsoft.com")]),
                "INTUNE_GRAPH_URL=\"http://graph.microsoft.com\" is invalid",
            ),
            (
                with(&[("INTUNE_AUTHORITY_URL", "login")]),
                "INTUNE_AUTHORITY_URL=\"login\" is invalid",
            ),
            (
                with(&[("INTUNE_CACHE_TTL", "-1")]),
                "INTUNE_CACHE_TTL=\"-1\" is invalid: expected a whole number of seconds from 0 to 86400 (0 disables)",
            ),
            (
                with(&[("INTUNE_NEGATIVE_CACHE_TTL", "x")]),
                "INTUNE_NEGATIVE_CACHE_TTL=\"x\" is invalid",
            ),
            (with(&[("TIMEOUT", "0")]), "TIMEOUT=\"0\" is invalid"),
            (
                with(&[("INTUNE_MAX_RETRY_AFTER", "3601")]),
                "INTUNE_MAX_RETRY_AFTER=\"3601\" is invalid: expected a whole number of seconds from 1 to 3600",
            ),
            (
                with(&[("INTUNE_ENRICH", "yes")]),
                "INTUNE_ENRICH=\"yes\" is invalid: expected 0 or 1",
            ),
            (
                with(&[("INTUNE_CA_PATH", "/nonexistent/ca.pem")]),
                "INTUNE_CA_PATH=\"/nonexistent/ca.pem\" is invalid",
            ),
            (vec![MINIMAL[1], MINIMAL[2]], "INTUNE_TENANT_ID is not set"),
            (vec![MINIMAL[0], MINIMAL[2]], "INTUNE_CLIENT_ID is not set"),
            (
                vec![MINIMAL[0], MINIMAL[1]],
                "INTUNE_CLIENT_SECRET is not set: expected a client secret of the app registration (or INTUNE_CLIENT_SECRET_FILE)",
            ),
        ] {
            let text = only_problem(&pairs);
            assert!(text.starts_with(start), "{text}");
        }
    }

    #[test]
    fn reports_every_problem() {
        let err = env(&[("TIMEOUT", "x")]).unwrap_err();
        let variables: Vec<_> = err.problems().iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            variables,
            [
                "INTUNE_TENANT_ID",
                "INTUNE_CLIENT_ID",
                "INTUNE_CLIENT_SECRET",
                "TIMEOUT"
            ]
        );
    }

    #[test]
    fn enrichment_is_a_switch() {
        assert!(!env(&with(&[("INTUNE_ENRICH", "0")])).unwrap().enrich());
        assert!(env(&with(&[("INTUNE_ENRICH", "true")])).unwrap().enrich());
    }

    #[test]
    fn setters() {
        let config = IntuneConfig::new("contoso.onmicrosoft.com", MINIMAL[1].1, "s")
            .unwrap()
            .with_allowed_states([])
            .with_cache_capacity(5);
        assert_eq!(config.allowed_states(), [ComplianceState::Compliant]);
        assert_eq!(config.cache_capacity(), 5);
        assert!(config.clone().with_timeout(Duration::ZERO).is_err());
        assert!(config.with_group_id("x").is_err());
        assert!(IntuneConfig::new("t", MINIMAL[1].1, "s").is_err());
        assert!(IntuneConfig::new(MINIMAL[0].1, MINIMAL[1].1, "").is_err());
    }
}
