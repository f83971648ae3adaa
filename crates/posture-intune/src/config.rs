use std::time::Duration;

use posture_http::env::{self, ConfigProblem, ConfigProblems};
use posture_http::sync::SyncSettings;
use posture_http::{BaseUrl, CommonSettings, Secret};
use posture_settings::{Reader, Setting};

use crate::credential::{AssertionAlgorithm, ClientCertificate, ClientCertificateError};
use crate::kind;

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

posture_settings::spelled_enum! {
    /// A `complianceState` of an Intune managed device (Microsoft Graph v1.0 enum), in
    /// Graph's order and spelling (parsed in any case).
    ///
    /// ```
    /// use posture_intune::ComplianceState;
    /// assert_eq!("InGracePeriod".parse(), Ok(ComplianceState::InGracePeriod));
    /// assert!("ok".parse::<ComplianceState>().is_err());
    /// ```
    #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
    #[non_exhaustive]
    pub enum ComplianceState {
        /// `unknown`.
        Unknown = "unknown",
        /// `compliant`.
        Compliant = "compliant",
        /// `noncompliant`.
        Noncompliant = "noncompliant",
        /// `conflict`.
        Conflict = "conflict",
        /// `error`.
        Error = "error",
        /// `inGracePeriod`: failing a policy, but within its grace period.
        InGracePeriod = "inGracePeriod",
        /// `configManager`: compliance is managed by Configuration Manager.
        ConfigManager = "configManager",
    }
    /// A compliance state that Graph doesn't define.
    pub struct UnknownComplianceState("compliance state");
    parse: any_case
}

posture_settings::spelled_enum! {
    /// A `managementAgent` of an Intune managed device (Microsoft Graph v1.0
    /// `managementAgentType`): what manages the device.
    ///
    /// A certificate for a device is meant for a device under MDM management, so the default
    /// ([`ManagementAgent::MDM_MANAGED`]) is every agent that includes an MDM channel: Intune MDM
    /// alone or alongside Exchange ActiveSync, the Intune PC client, Configuration Manager
    /// co-management with MDM, Jamf (partner compliance: Jamf Pro is the device's MDM), Android
    /// Enterprise's Cloud DPC and Microsoft 365's basic MDM. Left out: `eas` (Exchange
    /// ActiveSync only: a mailbox connection, no device management), `configurationManagerClient`
    /// (Configuration Manager alone, without an MDM channel Intune can see) and `unknown`.
    ///
    /// ```
    /// use posture_intune::ManagementAgent;
    /// assert_eq!("EASMDM".parse(), Ok(ManagementAgent::EasMdm));
    /// assert!(ManagementAgent::MDM_MANAGED.contains(&ManagementAgent::Jamf));
    /// assert!(!ManagementAgent::MDM_MANAGED.contains(&ManagementAgent::Eas));
    /// ```
    #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
    #[non_exhaustive]
    pub enum ManagementAgent {
        /// `eas`: Exchange ActiveSync only.
        Eas = "eas",
        /// `mdm`: Intune MDM.
        Mdm = "mdm",
        /// `easMdm`: Exchange ActiveSync and Intune MDM.
        EasMdm = "easMdm",
        /// `intuneClient`: the Intune PC client.
        IntuneClient = "intuneClient",
        /// `easIntuneClient`: Exchange ActiveSync and the Intune PC client.
        EasIntuneClient = "easIntuneClient",
        /// `configurationManagerClient`: Configuration Manager alone.
        ConfigurationManagerClient = "configurationManagerClient",
        /// `configurationManagerClientMdm`: Configuration Manager and MDM (co-management).
        ConfigurationManagerClientMdm = "configurationManagerClientMdm",
        /// `configurationManagerClientMdmEas`: Configuration Manager, MDM and Exchange
        /// ActiveSync.
        ConfigurationManagerClientMdmEas = "configurationManagerClientMdmEas",
        /// `unknown`.
        Unknown = "unknown",
        /// `jamf`: managed by Jamf Pro, its attributes reported to Intune (partner compliance).
        Jamf = "jamf",
        /// `googleCloudDevicePolicyController`: Android Enterprise, managed through Google's
        /// Cloud DPC.
        GoogleCloudDevicePolicyController = "googleCloudDevicePolicyController",
        /// `microsoft365ManagedMdm`: Basic Mobility and Security of Microsoft 365, through
        /// Intune.
        Microsoft365ManagedMdm = "microsoft365ManagedMdm",
    }
    /// A management agent that Graph doesn't define.
    pub struct UnknownManagementAgent("management agent");
    parse: any_case
}

impl ManagementAgent {
    /// The default `INTUNE_ALLOWED_MANAGEMENT_AGENTS`: every agent that means the device is
    /// MDM-managed.
    pub const MDM_MANAGED: [Self; 9] = [
        Self::Mdm,
        Self::EasMdm,
        Self::IntuneClient,
        Self::EasIntuneClient,
        Self::ConfigurationManagerClientMdm,
        Self::ConfigurationManagerClientMdmEas,
        Self::Jamf,
        Self::GoogleCloudDevicePolicyController,
        Self::Microsoft365ManagedMdm,
    ];
}

/// The agents, comma-separated.
pub(crate) fn agent_list(agents: &[ManagementAgent]) -> String {
    agents
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the app registration proves its identity to the Microsoft identity platform.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum IntuneCredential {
    /// A client secret (`INTUNE_CLIENT_SECRET` or `INTUNE_CLIENT_SECRET_FILE`).
    Secret(Secret),
    /// A certificate and its RSA key (`INTUNE_CLIENT_CERT_PATH`, `INTUNE_CLIENT_KEY_PATH`):
    /// the token request carries a signed client assertion instead of a secret.
    Certificate(ClientCertificate),
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
    credential: IntuneCredential,
    authority_url: BaseUrl,
    graph_url: BaseUrl,
    scope: Option<String>,
    allowed_states: Vec<ComplianceState>,
    allowed_agents: Vec<ManagementAgent>,
    group_id: Option<String>,
    enrich: bool,
    common: CommonSettings,
    token_renewal_margin: Duration,
    sync: SyncSettings,
}

const CERT_PATH: &str = kind::CLIENT_CERT_PATH.name;
const KEY_PATH: &str = kind::CLIENT_KEY_PATH.name;
const CERT_EXPECTED: &str = "a PEM file holding the certificate registered on the app registration (Certificates & secrets)";
const KEY_EXPECTED: &str = "a PEM file holding the RSA private key of INTUNE_CLIENT_CERT_PATH";
/// The Microsoft Graph hosts of Microsoft's clouds: global, US Government L4, US Government
/// L5 (DoD) and China (21Vianet). Each is its cloud's Graph resource.
const GRAPH_HOSTS: [&str; 4] = [
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
];

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
        let client_secret = client_secret.into();
        Self::from_env(posture_settings::given(&[
            (&kind::TENANT_ID, tenant_id),
            (&kind::CLIENT_ID, client_id),
            (&kind::CLIENT_SECRET, &client_secret),
        ])?)
    }

    /// Reads the settings from environment-style variables; `get` returns a variable's value,
    /// or `None` when it is unset. An empty value counts as unset, and values other than the
    /// secret are trimmed. Every problem is reported, not just the first. Reads the files
    /// named by `INTUNE_CLIENT_SECRET_FILE`, `INTUNE_CLIENT_CERT_PATH`,
    /// `INTUNE_CLIENT_KEY_PATH` and `INTUNE_CA_PATH`; does no network I/O.
    ///
    /// Exactly one credential: a secret (`INTUNE_CLIENT_SECRET` or its file) or a
    /// certificate (`INTUNE_CLIENT_CERT_PATH` and `INTUNE_CLIENT_KEY_PATH` together). A
    /// certificate must be RSA, match its key and be valid now.
    ///
    /// | Variable | Meaning | Default |
    /// |---|---|---|
    /// | `INTUNE_TENANT_ID` | tenant ID (GUID) or verified domain | required |
    /// | `INTUNE_CLIENT_ID` | application (client) ID of the app registration | required |
    /// | `INTUNE_CLIENT_SECRET` | a client secret of the app | required, or the file below, or a certificate |
    /// | `INTUNE_CLIENT_SECRET_FILE` | file holding the secret (one trailing newline removed) | — |
    /// | `INTUNE_CLIENT_CERT_PATH` | PEM certificate registered on the app (RSA) | — |
    /// | `INTUNE_CLIENT_KEY_PATH` | PEM private key of that certificate (PKCS#8 or PKCS#1) | — |
    /// | `INTUNE_CLIENT_ASSERTION_ALG` | `PS256` or `RS256`, the assertion's signature | `PS256` |
    /// | `INTUNE_AUTHORITY_URL` | Microsoft identity platform URL, no path | `https://login.microsoftonline.com` |
    /// | `INTUNE_GRAPH_URL` | Microsoft Graph URL, no path | `https://graph.microsoft.com` |
    /// | `INTUNE_SCOPE` | token scope | the Graph resource of the `INTUNE_GRAPH_URL` cloud, else `https://graph.microsoft.com/.default` |
    /// | `INTUNE_ALLOWED_MANAGEMENT_AGENTS` | comma-separated `managementAgent`s that count as managed | [`ManagementAgent::MDM_MANAGED`] |
    /// | `INTUNE_ALLOWED_COMPLIANCE_STATES` | comma-separated `complianceState`s that allow | `compliant` |
    /// | `INTUNE_GROUP_ID` | object ID of an Entra ID group devices must be in | none |
    /// | `INTUNE_ENRICH` | return enrichment data with allowed answers | `1` |
    /// | `INTUNE_CACHE_TTL` | seconds allowed answers are reused; `0` disables | `60` |
    /// | `INTUNE_NEGATIVE_CACHE_TTL` | seconds denies are reused; `0` disables | `10` |
    /// | `INTUNE_MAX_RETRY_AFTER` | longest `Retry-After` honoured, in seconds, 1–3600 | `60` |
    /// | `INTUNE_CA_PATH` | PEM file of extra CA certificates (a TLS-inspecting proxy) | none |
    /// | `INTUNE_SYNC_INTERVAL` | seconds between inventory syncs; `0` looks each device up | `0` |
    /// | `INTUNE_SYNC_MAX_AGE` | oldest synced inventory answered from; `0` is 3 × the interval | `0` |
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
        let mut reader = Reader::new(&get);
        let tenant_id = reader.required_parsed(&kind::TENANT_ID, tenant);
        let client_id =
            reader.required_parsed(&kind::CLIENT_ID, |text| guid(&kind::CLIENT_ID, text));
        let credential = credential(&get, &mut reader);
        let authority_url = reader.required_parsed(&kind::AUTHORITY_URL, authority);
        let graph_url = reader.required_parsed(&kind::GRAPH_URL, graph);
        let scope = reader.parsed(&kind::SCOPE, scope);
        let allowed_states = reader.spelled_list(
            &kind::ALLOWED_COMPLIANCE_STATES,
            &ComplianceState::NAMES,
            "compliance state, such as compliant",
            || vec![ComplianceState::Compliant],
        );
        let allowed_agents = reader.spelled_list(
            &kind::ALLOWED_MANAGEMENT_AGENTS,
            &ManagementAgent::NAMES,
            "management agent, such as mdm",
            || ManagementAgent::MDM_MANAGED.to_vec(),
        );
        let group_id = reader.parsed(&kind::GROUP_ID, |text| guid(&kind::GROUP_ID, text));
        // The variables with plain types, read by their declarations.
        let enrich = reader.flag(&kind::INTUNE_ENRICH);
        let common = CommonSettings::read(&mut reader, kind::COMMON);
        let sync = SyncSettings::read(&mut reader, &kind::SYNC_INTERVAL, &kind::SYNC_MAX_AGE);
        reader.finish_with(|| {
            Some(Self {
                tenant_id: tenant_id?,
                client_id: client_id?,
                credential: credential?,
                authority_url: authority_url?,
                graph_url: graph_url?,
                scope: scope?,
                allowed_states: allowed_states?,
                allowed_agents: allowed_agents?,
                group_id: group_id?,
                enrich: enrich?,
                common: common?,
                token_renewal_margin: Duration::from_secs(300),
                sync,
            })
        })
    }

    /// Sets the Microsoft identity platform URL (a national cloud, or a fake in tests). It
    /// must have no path: the client adds `/{tenant}/oauth2/v2.0/token`.
    pub fn with_authority_url(mut self, url: &str) -> Result<Self, IntuneConfigError> {
        self.authority_url = kind::AUTHORITY_URL
            .given(url, authority)
            .map_err(ConfigProblems::one)?;
        Ok(self)
    }

    /// Sets the Microsoft Graph URL (a national cloud, a proxy, or a fake in tests). It must
    /// have no path: the client adds `/v1.0`. Unless a scope was set, the token scope follows
    /// the host (see [`scope`](Self::scope)).
    pub fn with_graph_url(mut self, url: &str) -> Result<Self, IntuneConfigError> {
        self.graph_url = kind::GRAPH_URL
            .given(url, graph)
            .map_err(ConfigProblems::one)?;
        Ok(self)
    }

    /// Sets the token scope (`INTUNE_SCOPE`), such as `https://graph.microsoft.us/.default`.
    pub fn with_scope(mut self, scope_text: &str) -> Result<Self, IntuneConfigError> {
        self.scope = Some(
            kind::SCOPE
                .given(scope_text, scope)
                .map_err(ConfigProblems::one)?,
        );
        Ok(self)
    }

    /// Authenticates with a certificate and its key instead of the client secret.
    #[must_use]
    pub fn with_client_certificate(mut self, certificate: ClientCertificate) -> Self {
        self.credential = IntuneCredential::Certificate(certificate);
        self
    }

    /// Sets the management agents that count as managed. An empty set keeps the default,
    /// [`ManagementAgent::MDM_MANAGED`].
    #[must_use]
    pub fn with_allowed_management_agents(
        mut self,
        agents: impl IntoIterator<Item = ManagementAgent>,
    ) -> Self {
        let mut allowed: Vec<ManagementAgent> = Vec::new();
        for agent in agents {
            if !allowed.contains(&agent) {
                allowed.push(agent);
            }
        }
        if !allowed.is_empty() {
            self.allowed_agents = allowed;
        }
        self
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
        let group_id = kind::GROUP_ID
            .given(group_id, |text| guid(&kind::GROUP_ID, text))
            .map_err(ConfigProblems::one)?;
        self.group_id = Some(group_id);
        Ok(self)
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

    /// How the app authenticates: a client secret or a certificate.
    pub fn credential(&self) -> &IntuneCredential {
        &self.credential
    }

    /// `INTUNE_CLIENT_SECRET`, redacted in `Debug`; `None` with a certificate.
    pub fn client_secret(&self) -> Option<&Secret> {
        match &self.credential {
            IntuneCredential::Secret(secret) => Some(secret),
            IntuneCredential::Certificate(_) => None,
        }
    }

    /// `INTUNE_CLIENT_CERT_PATH` and `INTUNE_CLIENT_KEY_PATH`, read; `None` with a secret.
    pub fn client_certificate(&self) -> Option<&ClientCertificate> {
        match &self.credential {
            IntuneCredential::Certificate(certificate) => Some(certificate),
            IntuneCredential::Secret(_) => None,
        }
    }

    /// `INTUNE_AUTHORITY_URL`.
    pub fn authority_url(&self) -> &BaseUrl {
        &self.authority_url
    }

    /// `INTUNE_GRAPH_URL`.
    pub fn graph_url(&self) -> &BaseUrl {
        &self.graph_url
    }

    /// The token scope: `INTUNE_SCOPE`, or else the Graph resource of the cloud whose Graph
    /// host `INTUNE_GRAPH_URL` names (`https://graph.microsoft.us/.default` for
    /// `graph.microsoft.us`, …), or else — a proxy, a fake — the global cloud's
    /// `https://graph.microsoft.com/.default`. The scope names a resource registered in
    /// Entra ID, never an arbitrary host: Entra refuses others (`AADSTS500011`).
    pub fn scope(&self) -> String {
        self.scope
            .clone()
            .unwrap_or_else(|| default_scope(&self.graph_url))
    }

    /// Whether the scope was set (`INTUNE_SCOPE`) rather than derived.
    pub fn scope_is_set(&self) -> bool {
        self.scope.is_some()
    }

    /// `INTUNE_ALLOWED_MANAGEMENT_AGENTS`.
    pub fn allowed_management_agents(&self) -> &[ManagementAgent] {
        &self.allowed_agents
    }

    /// `INTUNE_ALLOWED_COMPLIANCE_STATES`.
    pub fn allowed_states(&self) -> &[ComplianceState] {
        &self.allowed_states
    }

    /// `INTUNE_GROUP_ID`, lower-cased.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }

    /// How long before expiry a token is renewed.
    pub fn token_renewal_margin(&self) -> Duration {
        self.token_renewal_margin
    }
}

posture_settings::flag_accessors! {
    IntuneConfig {
        /// Whether allowed answers carry the enrichment data. Off, an allow has no data: for a
        /// template that doesn't use it, the user's UPN and email need not reach step-ca.
        ///
        /// `INTUNE_ENRICH`.
        enrich / with_enrich,
    }
}

posture_http::common_settings_accessors!(IntuneConfig, setters);
posture_http::sync_settings_accessors!(IntuneConfig, kind::SYNC_INTERVAL, kind::SYNC_MAX_AGE);

/// `INTUNE_AUTHORITY_URL`: the client adds the token endpoint's path itself.
fn authority(text: &str) -> Result<BaseUrl, String> {
    root_url(text, &kind::AUTHORITY_URL, "/{tenant}/oauth2/v2.0/token")
}

/// `INTUNE_GRAPH_URL`: the client adds Graph's `/v1.0` itself.
fn graph(text: &str) -> Result<BaseUrl, String> {
    root_url(text, &kind::GRAPH_URL, "/v1.0")
}

/// An `https://` URL without a path, since the client adds `adds` and a path would be
/// doubled.
fn root_url(text: &str, setting: &Setting, adds: &str) -> Result<BaseUrl, String> {
    let what = setting.expected();
    let url = env::parse_base_url(setting, text)?;
    let path = url.join(&[]).path().to_owned();
    if path.is_empty() || path == "/" {
        Ok(url)
    } else {
        Err(format!(
            "{what}, without a path: leave {path} out, the client adds {adds} itself"
        ))
    }
}

/// The `.default` scope of the Graph resource of `graph`'s cloud.
fn default_scope(graph: &BaseUrl) -> String {
    let host = graph.host().trim_end_matches('.').to_ascii_lowercase();
    let resource = GRAPH_HOSTS
        .iter()
        .find(|known| **known == host)
        .unwrap_or(&GRAPH_HOSTS[0]);
    format!("https://{resource}/.default")
}

fn scope(text: &str) -> Result<String, String> {
    let resource = text.strip_suffix("/.default").unwrap_or_default();
    if resource.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(kind::SCOPE.expected());
    }
    Ok(text.to_owned())
}

/// The credential: a secret (inline or in a file) or a certificate and its key, exactly one.
fn credential(
    get: &impl Fn(&str) -> Option<String>,
    reader: &mut Reader<'_>,
) -> Option<IntuneCredential> {
    // Given as the secret reader counts it: a value or a file name that is not blank.
    let secret_given = get(kind::CLIENT_SECRET.name).is_some_and(|v| !v.trim().is_empty())
        || kind::CLIENT_SECRET
            .file_form()
            .is_some_and(|file| reader.value(file).is_some());
    let algorithm = reader.value(kind::CLIENT_ASSERTION_ALG.name);
    match (
        secret_given,
        reader.value(CERT_PATH),
        reader.value(KEY_PATH),
    ) {
        (false, None, None) => {
            reader.problem(ConfigProblem::missing(
                kind::CLIENT_SECRET.name,
                "a client secret of the app registration (or INTUNE_CLIENT_SECRET_FILE, or a \
                 certificate: INTUNE_CLIENT_CERT_PATH and INTUNE_CLIENT_KEY_PATH)",
            ));
            None
        }
        (true, None, None) => {
            if let Some(alg) = algorithm {
                reader.problem(ConfigProblem::invalid(
                    kind::CLIENT_ASSERTION_ALG.name,
                    &alg,
                    "no value with a client secret: it applies to certificate credentials \
                     (INTUNE_CLIENT_CERT_PATH and INTUNE_CLIENT_KEY_PATH) only",
                ));
            }
            env::read_secret(reader, &kind::CLIENT_SECRET)
                .flatten()
                .map(IntuneCredential::Secret)
        }
        (true, cert, key) => {
            let (variable, path) = match (cert, key) {
                (Some(cert), _) => (CERT_PATH, cert),
                (None, Some(key)) => (KEY_PATH, key),
                (None, None) => return None,
            };
            reader.problem(ConfigProblem::invalid(
                variable,
                &path,
                "either a client secret (INTUNE_CLIENT_SECRET or INTUNE_CLIENT_SECRET_FILE) or \
                 a certificate (INTUNE_CLIENT_CERT_PATH and INTUNE_CLIENT_KEY_PATH), not both",
            ));
            None
        }
        (false, Some(_), None) => {
            reader.problem(ConfigProblem::missing(KEY_PATH, KEY_EXPECTED));
            None
        }
        (false, None, Some(_)) => {
            reader.problem(ConfigProblem::missing(CERT_PATH, CERT_EXPECTED));
            None
        }
        (false, Some(cert), Some(key)) => {
            let algorithm = match algorithm {
                None => AssertionAlgorithm::default(),
                Some(text) => match text.parse() {
                    Ok(alg) => alg,
                    Err(_) => {
                        reader.problem(ConfigProblem::invalid(
                            kind::CLIENT_ASSERTION_ALG.name,
                            &text,
                            "PS256 (the default, as Microsoft documents) or RS256",
                        ));
                        return None;
                    }
                },
            };
            match ClientCertificate::from_pem_files(&cert, &key) {
                Ok(certificate) => Some(IntuneCredential::Certificate(
                    certificate.with_algorithm(algorithm),
                )),
                Err(err) => {
                    reader.problem(certificate_problem(&err, &cert, &key));
                    None
                }
            }
        }
    }
}

/// Names the file at fault: the key's problems name `INTUNE_CLIENT_KEY_PATH`, the
/// certificate's `INTUNE_CLIENT_CERT_PATH`.
fn certificate_problem(err: &ClientCertificateError, cert: &str, key: &str) -> ConfigProblem {
    if err.is_about_the_key() {
        ConfigProblem::invalid(KEY_PATH, key, format!("{KEY_EXPECTED} ({err})"))
    } else {
        ConfigProblem::invalid(
            CERT_PATH,
            cert,
            format!("{CERT_EXPECTED}, valid now ({err})"),
        )
    }
}

/// The tenant, lower-cased: a GUID or a verified domain, never one of the multi-tenant
/// aliases the client-credentials grant refuses.
fn tenant(text: &str) -> Result<String, String> {
    let expected = kind::TENANT_ID.expected();
    let lower = text.to_ascii_lowercase();
    if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
        return Err(format!(
            "{expected}; the client-credentials grant needs a specific tenant"
        ));
    }
    let domain_like = lower.contains('.') && env::is_dns_name(&lower);
    if env::is_guid(&lower) || domain_like {
        Ok(lower)
    } else {
        Err(expected)
    }
}

/// A GUID, lower-cased.
fn guid(setting: &Setting, text: &str) -> Result<String, String> {
    if env::is_guid(text) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(setting.expected())
    }
}

#[cfg(test)]
mod tests {
    use posture_settings::EnvCases;

    use super::*;

    const MINIMAL: [(&str, &str); 3] = [
        ("INTUNE_TENANT_ID", "8d6e3f8b-55a4-4a1f-9d0b-3c6f2b9e1a10"),
        ("INTUNE_CLIENT_ID", "6731de76-14a6-49ae-97bc-6eba6914391e"),
        ("INTUNE_CLIENT_SECRET", "top-secret-value"),
    ];
    const CASES: EnvCases<'static, IntuneConfig> =
        EnvCases::new(&MINIMAL, "top-secret-value", |get| {
            IntuneConfig::from_env(get)
        });

    #[test]
    fn defaults() {
        let config = CASES.env(&MINIMAL).unwrap();
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
    fn the_scope_is_a_graph_resource_whatever_the_graph_host() {
        for (graph, scope) in [
            (
                "https://graph.microsoft.com",
                "https://graph.microsoft.com/.default",
            ),
            (
                "https://GRAPH.microsoft.us/",
                "https://graph.microsoft.us/.default",
            ),
            (
                "https://dod-graph.microsoft.us",
                "https://dod-graph.microsoft.us/.default",
            ),
            (
                "https://microsoftgraph.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn/.default",
            ),
            // A proxy or a fake: the host is no resource Entra knows.
            (
                "https://graph-proxy.example.com:8443",
                "https://graph.microsoft.com/.default",
            ),
            (
                "http://127.0.0.1:4321",
                "https://graph.microsoft.com/.default",
            ),
        ] {
            let config = CASES.env_with(&[("INTUNE_GRAPH_URL", graph)]).unwrap();
            assert_eq!(config.scope(), scope, "{graph}");
            assert!(!config.scope_is_set());
        }
        let config = CASES
            .env_with(&[
                ("INTUNE_GRAPH_URL", "https://graph-proxy.example.com"),
                ("INTUNE_SCOPE", " https://graph.microsoft.us/.default "),
            ])
            .unwrap();
        assert_eq!(config.scope(), "https://graph.microsoft.us/.default");
        assert!(config.scope_is_set());
        let set = IntuneConfig::new(MINIMAL[0].1, MINIMAL[1].1, "s")
            .unwrap()
            .with_scope("00000003-0000-0000-c000-000000000000/.default")
            .unwrap()
            .with_graph_url("https://graph.microsoft.us")
            .unwrap();
        assert_eq!(set.scope(), "00000003-0000-0000-c000-000000000000/.default");
        for bad in [
            "https://graph.microsoft.com",
            "/.default",
            "https://graph.microsoft.com/User.Read",
        ] {
            let expected = CASES.refusal("INTUNE_SCOPE", bad);
            assert!(
                expected.starts_with("the resource of Microsoft Graph followed by /.default"),
                "{bad}: {expected}"
            );
        }
    }

    #[test]
    fn urls_with_a_path_are_refused() {
        let text = CASES
            .only_problem(&CASES.with(&[("INTUNE_GRAPH_URL", "https://graph.microsoft.com/v1.0")]));
        assert_eq!(
            text,
            "INTUNE_GRAPH_URL=\"https://graph.microsoft.com/v1.0\" is invalid: expected the Microsoft \
             Graph URL, such as https://graph.microsoft.com, without a path: leave /v1.0 out, the \
             client adds /v1.0 itself"
        );
        let text = CASES.only_problem(&CASES.with(&[(
            "INTUNE_AUTHORITY_URL",
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/",
        )]));
        assert!(
            text.starts_with("INTUNE_AUTHORITY_URL=\"https://login.microsoftonline.com/contoso.onmicrosoft.com/\" is invalid"),
            "{text}"
        );
        assert!(text.contains("leave /contoso.onmicrosoft.com out, the client adds /{tenant}/oauth2/v2.0/token itself"), "{text}");
        let config = IntuneConfig::new(MINIMAL[0].1, MINIMAL[1].1, "s").unwrap();
        let err = config
            .with_graph_url("http://127.0.0.1:1/prefix")
            .unwrap_err();
        assert!(err.to_string().contains("without a path"), "{err}");
    }

    #[test]
    fn management_agents() {
        let config = CASES.env(&MINIMAL).unwrap();
        assert_eq!(
            config.allowed_management_agents(),
            ManagementAgent::MDM_MANAGED
        );
        let config = CASES
            .env_with(&[("INTUNE_ALLOWED_MANAGEMENT_AGENTS", "MDM, eas,mdm")])
            .unwrap();
        assert_eq!(
            config.allowed_management_agents(),
            [ManagementAgent::Mdm, ManagementAgent::Eas]
        );
        let text =
            CASES.only_problem(&CASES.with(&[("INTUNE_ALLOWED_MANAGEMENT_AGENTS", "mdm,intune")]));
        assert!(
            text.starts_with(
                "INTUNE_ALLOWED_MANAGEMENT_AGENTS=\"mdm,intune\" is invalid: expected a comma-separated list of eas, mdm, easMdm, intuneClient, easIntuneClient, configurationManagerClient, configurationManagerClientMdm, configurationManagerClientMdmEas, unknown, jamf, googleCloudDevicePolicyController, microsoft365ManagedMdm"
            ),
            "{text}"
        );
        assert!(text.ends_with("(\"intune\" is not one)"), "{text}");
        let text = CASES.only_problem(&CASES.with(&[("INTUNE_ALLOWED_MANAGEMENT_AGENTS", " , ")]));
        assert!(text.contains("at least one management agent"), "{text}");
        for agent in ManagementAgent::ALL {
            assert_eq!(agent.as_str().parse(), Ok(agent));
        }
    }

    #[test]
    fn national_clouds_and_fakes_derive_the_scope() {
        let config = CASES
            .env_with(&[
                ("INTUNE_AUTHORITY_URL", "https://login.microsoftonline.us/"),
                ("INTUNE_GRAPH_URL", "https://graph.microsoft.us"),
                ("INTUNE_TENANT_ID", "Contoso.onmicrosoft.us"),
                ("INTUNE_GROUP_ID", "C5A6B9A1-7F3E-4A55-9C1E-2F0F3A1D9E01"),
            ])
            .unwrap();
        assert_eq!(config.scope(), "https://graph.microsoft.us/.default");
        assert_eq!(config.tenant_id(), "contoso.onmicrosoft.us");
        assert_eq!(
            config.group_id(),
            Some("c5a6b9a1-7f3e-4a55-9c1e-2f0f3a1d9e01")
        );
        let fake = config.with_graph_url("http://127.0.0.1:4321/").unwrap();
        assert_eq!(fake.scope(), "https://graph.microsoft.com/.default");
    }

    #[test]
    fn compliance_states() {
        let config = CASES
            .env_with(&[(
                "INTUNE_ALLOWED_COMPLIANCE_STATES",
                "Compliant, ingraceperiod,compliant",
            )])
            .unwrap();
        assert_eq!(
            config.allowed_states(),
            [ComplianceState::Compliant, ComplianceState::InGracePeriod]
        );
        let text = CASES
            .only_problem(&CASES.with(&[("INTUNE_ALLOWED_COMPLIANCE_STATES", "compliant,ok")]));
        assert!(
            text.starts_with("INTUNE_ALLOWED_COMPLIANCE_STATES=\"compliant,ok\" is invalid: expected a comma-separated list"),
            "{text}"
        );
        assert!(text.contains("\"ok\" is not one"), "{text}");
        let text = CASES.only_problem(&CASES.with(&[("INTUNE_ALLOWED_COMPLIANCE_STATES", ",")]));
        assert!(text.contains("at least one compliance state"), "{text}");
    }

    #[test]
    fn every_variable_names_itself() {
        // Flags, numbers, paths and secret files are checked for every declared variable by
        // the declarations test (`settings_tests!`); these are the rules of their own.
        CASES.assert_refused(&[
            ("INTUNE_TENANT_ID", "common", "the Entra ID tenant: "),
            ("INTUNE_TENANT_ID", "not a tenant", "the Entra ID tenant: "),
            ("INTUNE_CLIENT_ID", "app", "the application (client) ID"),
            ("INTUNE_GROUP_ID", "Compliant Macs", "the object ID"),
            (
                "INTUNE_GRAPH_URL",
                "http://graph.microsoft.com",
                "the Microsoft Graph URL",
            ),
            (
                "INTUNE_AUTHORITY_URL",
                "login",
                "the Microsoft identity platform URL",
            ),
            ("TIMEOUT", "0", "a whole number of seconds from 1 to 60"),
            (
                "INTUNE_CLIENT_ASSERTION_ALG",
                "PS256",
                "no value with a client secret",
            ),
        ]);
        CASES.assert_required(&[
            ("INTUNE_TENANT_ID", "the Entra ID tenant: "),
            ("INTUNE_CLIENT_ID", "the application (client) ID"),
            (
                "INTUNE_CLIENT_SECRET",
                "a client secret of the app registration (or INTUNE_CLIENT_SECRET_FILE, or a \
                 certificate: INTUNE_CLIENT_CERT_PATH and INTUNE_CLIENT_KEY_PATH)",
            ),
        ]);
        // What the tables above cannot say: a blank value, or several variables set at once.
        for (pairs, start) in [
            (
                CASES.with(&[("INTUNE_CLIENT_SECRET", "  ")]),
                "INTUNE_CLIENT_SECRET is not set: expected a client secret",
            ),
            (
                CASES.with(&[
                    ("INTUNE_CLIENT_CERT_PATH", "/etc/intune.crt"),
                    ("INTUNE_CLIENT_KEY_PATH", "/etc/intune.key"),
                ]),
                "INTUNE_CLIENT_CERT_PATH=\"/etc/intune.crt\" is invalid: expected either a client secret (INTUNE_CLIENT_SECRET or INTUNE_CLIENT_SECRET_FILE) or a certificate (INTUNE_CLIENT_CERT_PATH and INTUNE_CLIENT_KEY_PATH), not both",
            ),
            (
                vec![
                    MINIMAL[0],
                    MINIMAL[1],
                    ("INTUNE_CLIENT_CERT_PATH", "/etc/intune.crt"),
                ],
                "INTUNE_CLIENT_KEY_PATH is not set: expected a PEM file holding the RSA private key of INTUNE_CLIENT_CERT_PATH",
            ),
            (
                vec![
                    MINIMAL[0],
                    MINIMAL[1],
                    ("INTUNE_CLIENT_KEY_PATH", "/etc/intune.key"),
                ],
                "INTUNE_CLIENT_CERT_PATH is not set: expected a PEM file holding the certificate",
            ),
            (
                vec![
                    MINIMAL[0],
                    MINIMAL[1],
                    ("INTUNE_CLIENT_CERT_PATH", "/nonexistent.crt"),
                    ("INTUNE_CLIENT_KEY_PATH", "/nonexistent.key"),
                ],
                "INTUNE_CLIENT_CERT_PATH=\"/nonexistent.crt\" is invalid: expected a PEM file holding the certificate registered on the app registration (Certificates & secrets), valid now (cannot read the certificate:",
            ),
        ] {
            let text = CASES.only_problem(&pairs);
            assert!(text.starts_with(start), "{text}");
        }
    }

    #[test]
    fn reports_every_problem() {
        let err = CASES.env(&[("TIMEOUT", "x")]).unwrap_err();
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
        assert!(!CASES.env_with(&[("INTUNE_ENRICH", "0")]).unwrap().enrich());
        assert!(
            CASES
                .env_with(&[("INTUNE_ENRICH", "true")])
                .unwrap()
                .enrich()
        );
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
