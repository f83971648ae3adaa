//! Configuration: environment variables and a `.env` file, parsed once into a validated
//! [`Config`].
//!
//! The variable names and meanings are the Go step-posture-connector's, so an existing
//! `.env` keeps working. Everything new has a default.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use posture_core::ProviderSetup;
use posture_settings::{Reader, Setting};
use smallstep_webhook::{Authorization, WebhookSecret};

mod auth;
mod scep;
pub(crate) mod settings;

use crate::providers::Providers;

#[cfg(test)]
pub(crate) use scep::scep_settings;
pub use scep::{ChallengeMethod, Hidden, IdentifierSource, IssuerCredentials, ScepSettings};
pub(crate) use scep::{INTUNE_SCEP_SETTINGS, SCEP_SETTINGS};
pub(crate) use settings::SETTINGS;

/// step-ca waits 10 s for a webhook, including one retry made 1 s after a 5xx. An attempt
/// must finish within this for the retry to fit.
pub const STEP_CA_ATTEMPT_BUDGET: Duration = Duration::from_secs(4);

/// step-ca's HTTP client keeps idle connections for 90 s. Closing ours later than that
/// means step-ca always drops an idle connection first and never sends a request on one we
/// have just closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// `MAX_CONNECTIONS` by default.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `MAX_CONNECTIONS_PER_ADDRESS` is by default `MAX_CONNECTIONS` divided by this, rounded
/// up: one address cannot take every slot, while a load balancer or a few step-ca instances
/// behind one address still get plenty.
const PER_ADDRESS_SHARE: usize = 4;

/// The shortest webhook secret accepted, in decoded bytes: 256 bits, as much as HMAC-SHA256
/// can use. step-ca generates 64 random bytes; anything shorter was chosen by hand, and a
/// dictionary attack found such a secret in a few thousand guesses.
pub const MIN_SECRET_BYTES: usize = 32;

/// The text of the server's own variables, as given (untrimmed; `None` when unset), for the
/// checks that need more than a declaration: lists that must line up, paths, addresses.
#[derive(Debug, Default)]
struct RawEnv {
    provider: Option<String>,
    policy: Option<String>,
    tls_cert_path: Option<String>,
    tls_key_path: Option<String>,
    tls_ca_path: Option<String>,
    mtls_allowed_names: Option<String>,
    webhook_ids: Option<String>,
    webhook_secrets: Option<String>,
    webhook_secrets_file: Option<String>,
    webhook_mtls_only_ids: Option<String>,
    webhook_bearer_tokens: Option<String>,
    webhook_bearer_tokens_file: Option<String>,
    webhook_basic_auth: Option<String>,
    webhook_basic_auth_file: Option<String>,
    bind_address: Option<String>,
    max_connections_per_address: Option<String>,
    metrics_addr: Option<String>,
}

impl RawEnv {
    /// The declared variables ([`SETTINGS`], `_FILE` forms included) that `ours` picks.
    fn read(vars: &HashMap<String, String>, ours: impl Fn(&str) -> bool) -> Self {
        let get = |name: &str| {
            if ours(name) {
                vars.get(name).cloned()
            } else {
                None
            }
        };
        Self {
            provider: get(settings::PROVIDER.name),
            policy: get(settings::POLICY.name),
            tls_cert_path: get(settings::TLS_CERT_PATH.name),
            tls_key_path: get(settings::TLS_KEY_PATH.name),
            tls_ca_path: get(settings::TLS_CA_PATH.name),
            mtls_allowed_names: get(settings::MTLS_ALLOWED_NAMES.name),
            webhook_ids: get(settings::WEBHOOK_IDS.name),
            webhook_secrets: get(settings::WEBHOOK_SECRETS.name),
            webhook_secrets_file: settings::WEBHOOK_SECRETS.file_form().and_then(get),
            webhook_mtls_only_ids: get(settings::WEBHOOK_MTLS_ONLY_IDS.name),
            webhook_bearer_tokens: get(settings::WEBHOOK_BEARER_TOKENS.name),
            webhook_bearer_tokens_file: settings::WEBHOOK_BEARER_TOKENS.file_form().and_then(get),
            webhook_basic_auth: get(settings::WEBHOOK_BASIC_AUTH.name),
            webhook_basic_auth_file: settings::WEBHOOK_BASIC_AUTH.file_form().and_then(get),
            bind_address: get(settings::BIND_ADDRESS.name),
            max_connections_per_address: get(settings::MAX_CONNECTIONS_PER_ADDRESS.name),
            metrics_addr: get(settings::METRICS_ADDR.name),
        }
    }
}

/// The validated configuration of a server.
#[derive(Debug)]
#[non_exhaustive]
pub struct Config {
    /// Which provider answers lookups, with its settings.
    pub provider: ProviderChoice,
    /// Server certificate, key and optional client authentication.
    pub tls: TlsSettings,
    /// The webhooks step-ca calls us with, in the order configured.
    pub webhooks: Vec<WebhookEntry>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// `LOGGING_LEVEL`: 0 decisions only, 1 verbose, 2 debug.
    pub logging_level: u8,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `TIMEOUT`: how long one request may take to decide, provider call included.
    pub timeout: Duration,
    /// Resource limits of the HTTP server.
    pub limits: Limits,
    /// How old a request's timestamp may be.
    pub max_request_age: Duration,
    /// How far in the future a request's timestamp may be.
    pub max_clock_skew: Duration,
    /// `METRICS_ADDR`: where to serve `/metrics` (and `/livez`, `/readyz`) over plain HTTP;
    /// `None` (the default) serves no metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// `RELOAD_INTERVAL`: how often to look for changed TLS and device files; zero turns
    /// the polling off (SIGHUP still reloads).
    pub reload_interval: Duration,
    /// The SCEP gate (`SCEP_CHALLENGE` and the other `SCEP_*` variables); `None` when
    /// `SCEP_CHALLENGE` is unset.
    pub scep: Option<ScepSettings>,
    /// The files the webhooks are read from (`WEBHOOK_SECRETS_FILE`,
    /// `WEBHOOK_BEARER_TOKENS_FILE`, `WEBHOOK_BASIC_AUTH_FILE`): a change to one reloads the
    /// webhooks.
    pub webhook_files: Vec<PathBuf>,
    /// `RELOAD_SETTLE`: how long a changed file must stay unchanged (size, modification
    /// time and identity) before it is reloaded, so that a file still being written is not
    /// loaded half done. SIGHUP waits for it too, at most
    /// ten times as long.
    pub reload_settle: Duration,
    /// `AUTH_FAILURE_LIMIT` and `AUTH_FAILURE_WINDOW`: how many failed authentications a
    /// client address may make before its failures are throttled; `None` when
    /// `AUTH_FAILURE_LIMIT=0` turns throttling off.
    pub auth_throttle: Option<AuthThrottleSettings>,
    /// `JAMF_WEBHOOK_SECRET` (or `_FILE`): serve `POST /webhook/jamf-events`, Jamf Pro
    /// change notifications that refresh one device of the synced Jamf inventory. Only with
    /// `PROVIDER` naming `jamf` and `JAMF_SYNC_INTERVAL` above 0.
    pub jamf_webhook_secret: Option<JamfWebhookSecret>,
}

/// The secret Jamf Pro webhooks authenticate with (`JAMF_WEBHOOK_SECRET`): at least
/// [`JamfWebhookSecret::MIN_LEN`] characters, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct JamfWebhookSecret(String);

impl JamfWebhookSecret {
    /// The shortest secret accepted.
    pub const MIN_LEN: usize = 16;

    /// The secret, to compare requests with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JamfWebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JamfWebhookSecret([not shown])")
    }
}

/// How failed authentications are throttled per client address: a token bucket per
/// address, `limit` failures per `window`, then answered 429.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct AuthThrottleSettings {
    /// `AUTH_FAILURE_LIMIT`: failures an address may make per window before it is throttled.
    pub limit: u32,
    /// `AUTH_FAILURE_WINDOW`: the window; the allowance refills evenly over it.
    pub window: Duration,
}

impl Default for AuthThrottleSettings {
    fn default() -> Self {
        Self {
            limit: 10,
            window: Duration::from_secs(60),
        }
    }
}

/// The providers chosen with `PROVIDER` (and `POLICY` when there are several), validated
/// but not built.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProviderChoice {
    /// `POLICY`: `all` (the default) or `any`; used when `members` holds several.
    pub policy: posture_core::Policy,
    /// The providers, in the order `PROVIDER` lists them.
    pub members: Vec<ProviderMember>,
}

/// One provider named in `PROVIDER`, validated.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProviderMember {
    /// Its name, as `PROVIDER` spells it.
    pub name: &'static str,
    /// Its declared variables as set, secrets redacted, for `check-config`
    /// ([`posture_settings::summary`]).
    pub declared: Vec<String>,
    /// What it will build.
    pub setup: Box<dyn ProviderSetup>,
}

impl ProviderChoice {
    /// The provider's name, as `PROVIDER` spells it; `combined` for several.
    pub fn name(&self) -> &'static str {
        match self.members.as_slice() {
            [only] => only.name,
            _ => "combined",
        }
    }

    /// The members' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.members.iter().map(|member| member.name).collect()
    }

    /// The files the members read when built, watched for reloads.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.members
            .iter()
            .flat_map(|member| member.setup.watched_files())
            .collect()
    }
}

/// TLS settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsSettings {
    /// `TLS_CERT_PATH`: the PEM certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// `TLS_KEY_PATH`: the PEM private key.
    pub key_path: PathBuf,
    /// Client-certificate authentication, when `ENABLE_MTLS` is on.
    pub mtls: Option<MtlsSettings>,
}

/// Client-certificate (mTLS) settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MtlsSettings {
    /// `TLS_CA_PATH`: PEM roots a client certificate must chain to.
    pub ca_path: PathBuf,
    /// `MTLS_ALLOWED_NAMES`: DNS names, one of which the client certificate must carry as a
    /// SAN, compared exactly (ASCII case-insensitively); wildcards are refused at start-up.
    /// Empty means any certificate that chains to the CA.
    pub allowed_names: Vec<String>,
    /// `MTLS_REQUIRE_SERVER_AUTH`: require the serverAuth extended key usage, which step-ca's
    /// own certificate has and device certificates don't.
    pub require_server_auth: bool,
}

/// One step-ca webhook: its ID, secret and optional `Authorization` credentials.
#[non_exhaustive]
pub struct WebhookEntry {
    /// The webhook ID (a UUID) step-ca sends in `X-Smallstep-Webhook-ID`.
    pub id: String,
    /// The decoded secret.
    pub secret: WebhookSecret,
    /// `WEBHOOK_BEARER_TOKENS` / `WEBHOOK_BASIC_AUTH`: credentials step-ca must also send in
    /// `Authorization`, checked in addition to the HMAC.
    pub authorization: Option<Authorization>,
}

impl fmt::Debug for WebhookEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEntry")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("authorization", &self.authorization)
            .finish()
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Server resource limits.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// `MAX_BODY_BYTES`: the largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// `MAX_CONNECTIONS`: connections served at once. Past it, the connection idle longest
    /// is closed to admit a new one; with none idle, new ones wait to be accepted.
    pub max_connections: usize,
    /// `MAX_CONNECTIONS_PER_ADDRESS`: connections one client address (one IPv6 /64) may
    /// hold at once; more are closed at once. 0: no limit.
    pub max_connections_per_address: usize,
    /// `TLS_HANDSHAKE_TIMEOUT`.
    pub handshake_timeout: Duration,
    /// `HEADER_READ_TIMEOUT`: how long a client may take to send its request headers: from
    /// the accept for a connection's first request (TLS handshake included), from their
    /// first byte for a later HTTP/1.1 request.
    pub header_read_timeout: Duration,
    /// `IDLE_TIMEOUT`: how long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// `MAX_HEADERS`: most header fields a request may carry.
    pub max_headers: usize,
    /// `MAX_HEADER_BYTES`: largest request header block (request line included, for
    /// HTTP/1.1; the header list size, for HTTP/2).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS.div_ceil(PER_ADDRESS_SHARE),
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// One configuration problem, naming the variable, the value (never a secret's) and what
/// was expected: the same type every provider reports.
pub use posture_settings::ConfigProblem as ConfigError;

/// Every problem found in the configuration, one per line.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{err}")?;
        }
        Ok(())
    }
}

/// The variables of the process environment and of `.env` in `dir`, the environment
/// winning. Nothing is written to the process environment.
pub fn gather_environment(dir: &Path) -> Result<HashMap<String, String>, ConfigErrors> {
    let mut vars = HashMap::new();
    let dotenv = dir.join(".env");
    match dotenvy::from_path_iter(&dotenv) {
        Ok(iter) => {
            for item in iter {
                match item {
                    Ok((key, value)) => {
                        vars.insert(key, value);
                    }
                    Err(err) => {
                        return Err(ConfigErrors(vec![ConfigError::missing(
                            dotenv.display().to_string(),
                            format!("a readable KEY=value file ({err})"),
                        )]));
                    }
                }
            }
        }
        Err(dotenvy::Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(ConfigErrors(vec![ConfigError::missing(
                dotenv.display().to_string(),
                format!("a readable KEY=value file ({err})"),
            )]));
        }
    }
    for (key, value) in std::env::vars_os() {
        if let (Ok(key), Ok(value)) = (key.into_string(), value.into_string()) {
            vars.insert(key, value);
        }
    }
    Ok(vars)
}

impl Config {
    /// Validates a set of variables. Every problem is reported, not just the first.
    /// `PROVIDER` may name the built-in providers ([`Providers::builtin`]).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        Self::from_vars_with(vars, &Providers::builtin())
    }

    /// Validates a set of variables, `PROVIDER` naming any of `providers`. Every problem is
    /// reported, not just the first.
    pub fn from_vars_with(
        vars: &HashMap<String, String>,
        providers: &Providers,
    ) -> Result<Self, ConfigErrors> {
        let raw = RawEnv::read(vars, |_| true);
        let mut errors = Vec::new();
        let config = validate(raw, vars, providers, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// Reads only the webhook settings (`WEBHOOK_IDS`, `WEBHOOK_SECRETS` and their
    /// `Authorization` companions, or their `_FILE` forms), for a reload that rotates them.
    pub fn webhooks_from_vars(
        vars: &HashMap<String, String>,
    ) -> Result<Vec<WebhookEntry>, ConfigErrors> {
        let raw = RawEnv::read(vars, |key| key.starts_with("WEBHOOK_"));
        let mut errors = Vec::new();
        match webhook_entries(&raw, &mut errors) {
            Some(entries) if errors.is_empty() => Ok(entries),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// Warnings about settings that work but are probably not what the operator wants.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.timeout > STEP_CA_ATTEMPT_BUDGET {
            warnings.push(format!(
                "TIMEOUT={} leaves no room for step-ca's retry: step-ca allows 10 s in all, \
                 retrying once 1 s after a 5xx, so an attempt should take at most {} s",
                self.timeout.as_secs(),
                STEP_CA_ATTEMPT_BUDGET.as_secs()
            ));
        }
        if let Some(mtls) = &self.tls.mtls
            && mtls.allowed_names.is_empty()
        {
            warnings.push(
                "ENABLE_MTLS=1 without MTLS_ALLOWED_NAMES: any certificate from the CA is \
                 accepted, including the device certificates it issues; set \
                 MTLS_ALLOWED_NAMES to step-ca's DNS name"
                    .to_owned(),
            );
        }
        if self.tls.mtls.is_none() {
            warnings.push(
                "mTLS is off: only the webhook HMAC authenticates step-ca; consider \
                 ENABLE_MTLS=1 with TLS_CA_PATH and MTLS_ALLOWED_NAMES"
                    .to_owned(),
            );
        }
        for member in &self.provider.members {
            warnings.extend(member.setup.warnings());
        }
        warnings
    }
}

/// Every variable a server with `providers` reads: its own, the SCEP gate's and each
/// provider's, `_FILE` forms included. Fuzzing, property tests and the deployment
/// checks take their names from here.
pub fn known_variables(providers: &Providers) -> Vec<&'static str> {
    let mut names = posture_settings::variable_names(SETTINGS);
    names.extend(posture_settings::variable_names(SCEP_SETTINGS));
    names.extend(posture_settings::variable_names(INTUNE_SCEP_SETTINGS));
    for name in providers.variable_names() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn validate(
    raw: RawEnv,
    vars: &HashMap<String, String>,
    providers: &Providers,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let get = |name: &str| vars.get(name).cloned();
    let mut declared = Declared::new(&get);
    let timeout = declared.seconds(&settings::TIMEOUT, errors);
    let provider = provider_choice(&raw, vars, providers, errors);
    let tls = tls_settings(&raw, &mut declared, errors);
    let webhooks = webhook_entries(&raw, errors);
    let port = declared.number(&settings::PORT, errors);
    let bind = match raw.bind_address.as_deref().map(str::trim) {
        None | Some("") => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                errors.push(ConfigError::invalid(
                    "BIND_ADDRESS",
                    text,
                    "an IP address such as 0.0.0.0, 127.0.0.1 or ::",
                ));
                None
            }
        },
    };
    let logging_level = declared
        .choice(&settings::LOGGING_LEVEL, errors)
        .and_then(|level| level.parse::<u8>().ok());
    let log_format = declared
        .choice(&settings::LOG_FORMAT, errors)
        .map(|format| match format {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        });
    let defaults = Limits::default();
    let max_body_bytes = declared.number(&settings::MAX_BODY_BYTES, errors);
    let max_connections = declared.number(&settings::MAX_CONNECTIONS, errors);
    let max_connections_per_address = per_address(
        &raw.max_connections_per_address,
        max_connections.unwrap_or(defaults.max_connections as u64),
        errors,
    );
    let handshake_timeout = declared.seconds(&settings::TLS_HANDSHAKE_TIMEOUT, errors);
    let header_read_timeout = declared.seconds(&settings::HEADER_READ_TIMEOUT, errors);
    let idle_timeout = declared.seconds(&settings::IDLE_TIMEOUT, errors);
    let max_headers = declared.number(&settings::MAX_HEADERS, errors);
    let max_header_bytes = declared.number(&settings::MAX_HEADER_BYTES, errors);
    let max_request_age = declared.seconds(&settings::MAX_REQUEST_AGE, errors);
    let max_clock_skew = declared.seconds(&settings::MAX_CLOCK_SKEW, errors);
    let metrics_addr = metrics_address(&raw.metrics_addr, errors);
    let reload_interval = declared.seconds(&settings::RELOAD_INTERVAL, errors);
    let scep = scep::scep_settings(vars, errors);
    if !list(&raw.webhook_mtls_only_ids).is_empty() {
        let pinned = tls
            .as_ref()
            .and_then(|tls| tls.mtls.as_ref())
            .is_some_and(|mtls| !mtls.allowed_names.is_empty());
        if !pinned {
            errors.push(ConfigError::invalid(
                "WEBHOOK_MTLS_ONLY_IDS",
                raw.webhook_mtls_only_ids.as_deref().unwrap_or(""),
                "set only with ENABLE_MTLS=1 and a non-empty MTLS_ALLOWED_NAMES: these webhooks \
                 carry no secret, so only step-ca's pinned client certificate authenticates them",
            ));
        }
    }
    let reload_settle = declared.seconds(&settings::RELOAD_SETTLE, errors);
    let jamf_webhook_secret = jamf_webhook_secret(vars, provider.as_ref(), errors);
    let auth_failure_limit = declared.number(&settings::AUTH_FAILURE_LIMIT, errors);
    let auth_failure_window = declared.seconds(&settings::AUTH_FAILURE_WINDOW, errors);

    Some(Config {
        provider: provider?,
        tls: tls?,
        webhooks: webhooks?,
        listen: SocketAddr::new(bind?, u16::try_from(port?).ok()?),
        logging_level: logging_level?,
        log_format: log_format?,
        timeout: timeout?,
        limits: Limits {
            max_body_bytes: usize::try_from(max_body_bytes?).ok()?,
            max_connections: usize::try_from(max_connections?).ok()?,
            max_connections_per_address: usize::try_from(max_connections_per_address?).ok()?,
            handshake_timeout: handshake_timeout?,
            header_read_timeout: header_read_timeout?,
            idle_timeout: idle_timeout?,
            max_headers: usize::try_from(max_headers?).ok()?,
            max_header_bytes: usize::try_from(max_header_bytes?).ok()?,
        },
        max_request_age: max_request_age?,
        max_clock_skew: max_clock_skew?,
        metrics_addr: metrics_addr?,
        reload_interval: reload_interval?,
        scep: scep?,
        webhook_files: [
            &raw.webhook_secrets_file,
            &raw.webhook_bearer_tokens_file,
            &raw.webhook_basic_auth_file,
        ]
        .into_iter()
        .flatten()
        .map(|path| PathBuf::from(path.trim()))
        .collect(),
        reload_settle: reload_settle?,
        auth_throttle: match (
            u32::try_from(auth_failure_limit?).ok()?,
            auth_failure_window?,
        ) {
            (0, _) => None,
            (limit, window) => Some(AuthThrottleSettings { limit, window }),
        },
        jamf_webhook_secret: jamf_webhook_secret?,
    })
}

/// `JAMF_WEBHOOK_SECRET` (or `_FILE`): long enough, and set only where it can work, with
/// the Jamf provider syncing (without sync every lookup reads Jamf already).
fn jamf_webhook_secret(
    vars: &HashMap<String, String>,
    provider: Option<&ProviderChoice>,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<JamfWebhookSecret>> {
    let setting = &settings::JAMF_WEBHOOK_SECRET;
    let text = match scep::secret(vars, setting.name, "JAMF_WEBHOOK_SECRET_FILE", errors)? {
        None => return Some(None),
        Some(text) => text.trim().to_owned(),
    };
    let mut ok = true;
    if text.chars().count() < JamfWebhookSecret::MIN_LEN {
        errors.push(ConfigError::secret(
            setting.name,
            format!(
                "a secret of at least {} characters, as set in the Jamf Pro webhook",
                JamfWebhookSecret::MIN_LEN
            ),
        ));
        ok = false;
    }
    let with_jamf = provider.is_none_or(|choice| choice.names().contains(&"jamf"));
    if !with_jamf {
        errors.push(ConfigError::secret(
            setting.name,
            "unset unless PROVIDER includes jamf: it authenticates Jamf Pro change \
             notifications, which refresh the synced Jamf inventory",
        ));
        ok = false;
    }
    let syncing = vars
        .get("JAMF_SYNC_INTERVAL")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|secs| secs > 0);
    if with_jamf && !syncing {
        errors.push(ConfigError::secret(
            setting.name,
            "unset unless JAMF_SYNC_INTERVAL is above 0: change notifications refresh the \
             synced Jamf inventory, and without sync every lookup reads Jamf Pro already",
        ));
        ok = false;
    }
    ok.then_some(Some(JamfWebhookSecret(text)))
}

/// `MAX_CONNECTIONS_PER_ADDRESS`: 0 (no limit) up to `MAX_CONNECTIONS`; a quarter of it by
/// default.
fn per_address(
    value: &Option<String>,
    max_connections: u64,
    errors: &mut Vec<ConfigError>,
) -> Option<u64> {
    number(
        value,
        "MAX_CONNECTIONS_PER_ADDRESS",
        max_connections.div_ceil(PER_ADDRESS_SHARE as u64),
        0,
        max_connections,
        &format!(
            "0 (no limit) or a number of connections from 1 to MAX_CONNECTIONS ({max_connections})"
        ),
        errors,
    )
}

/// `METRICS_ADDR`: empty or unset means no metrics listener.
fn metrics_address(
    value: &Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<SocketAddr>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => Some(Some(addr)),
            Err(_) => {
                errors.push(ConfigError::invalid(
                    "METRICS_ADDR",
                    text,
                    "an IP address and port such as 127.0.0.1:9464 or [::]:9464, or empty for no metrics",
                ));
                None
            }
        },
    }
}

/// What `PROVIDER` may name, given the kinds the server was built with.
fn provider_expected(providers: &Providers) -> String {
    let names = providers.names();
    let list = match names.as_slice() {
        [] => "a provider".to_owned(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    match names.as_slice() {
        [first, second, ..] => format!(
            "{list}, or several of them separated by commas (such as {first},{second}) with POLICY=all or any"
        ),
        _ => list,
    }
}

fn provider_choice(
    raw: &RawEnv,
    vars: &HashMap<String, String>,
    providers: &Providers,
    errors: &mut Vec<ConfigError>,
) -> Option<ProviderChoice> {
    let text = raw.provider.as_deref().map(str::trim).unwrap_or("");
    let policy = match raw.policy.as_deref().map(str::trim) {
        None | Some("") => Some(posture_core::Policy::All),
        Some(text) => match text.parse::<posture_core::Policy>() {
            Ok(policy) => Some(policy),
            Err(_) => {
                errors.push(ConfigError::invalid("POLICY", text, "all or any"));
                None
            }
        },
    };
    if text.is_empty() {
        errors.push(ConfigError::missing(
            "PROVIDER",
            provider_expected(providers),
        ));
        return None;
    }
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    let mut kinds = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let Some(kind) = providers.get(name) else {
            errors.push(ConfigError::invalid(
                "PROVIDER",
                text,
                provider_expected(providers),
            ));
            return None;
        };
        if names[..i].contains(name) {
            errors.push(ConfigError::invalid(
                "PROVIDER",
                text,
                format!("each provider once ({name} is named twice)"),
            ));
            return None;
        }
        kinds.push(kind);
    }
    let get = |name: &str| vars.get(name).cloned();
    let mut members = Vec::with_capacity(kinds.len());
    for kind in kinds {
        match kind.configure(&get) {
            Ok(setup) => members.push(ProviderMember {
                name: kind.name(),
                declared: posture_settings::summary(kind.settings(), &get),
                setup,
            }),
            // `TIMEOUT` is shared, and the server reports it already.
            Err(problems) => errors.extend(
                problems
                    .problems()
                    .iter()
                    .filter(|problem| problem.variable != "TIMEOUT")
                    .cloned(),
            ),
        }
    }
    let policy = policy?;
    (members.len() == names.len()).then_some(ProviderChoice { policy, members })
}

fn tls_settings(
    raw: &RawEnv,
    declared: &mut Declared<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<TlsSettings> {
    let cert_path = required_path(
        &raw.tls_cert_path,
        "TLS_CERT_PATH",
        "the path of the server's PEM certificate chain",
        errors,
    );
    let key_path = required_path(
        &raw.tls_key_path,
        "TLS_KEY_PATH",
        "the path of the server's PEM private key",
        errors,
    );
    let enable_mtls = declared.flag(&settings::ENABLE_MTLS, errors);
    let require_server_auth = declared.flag(&settings::MTLS_REQUIRE_SERVER_AUTH, errors);
    let allowed_names = list(&raw.mtls_allowed_names);
    for name in &allowed_names {
        if name.contains('*') {
            // Names are compared literally with the certificate's DNS names, so a wildcard
            // would match only a certificate that itself says `*.example.com`: refused rather
            // than silently never (or wrongly) matching.
            errors.push(ConfigError::invalid(
                "MTLS_ALLOWED_NAMES",
                name,
                "exact DNS names such as ca.example.com; wildcards are not supported (each \
                 entry is compared literally with the client certificate's DNS names, so list \
                 step-ca's name itself)",
            ));
        } else if !is_dns_name(name) {
            errors.push(ConfigError::invalid(
                "MTLS_ALLOWED_NAMES",
                name,
                "comma-separated DNS names such as ca.example.com",
            ));
        }
    }
    let mtls = match enable_mtls? {
        false => None,
        true => {
            let ca_path = required_path(
                &raw.tls_ca_path,
                "TLS_CA_PATH",
                "the path of the PEM CA certificate(s) client certificates must chain to (required with ENABLE_MTLS=1)",
                errors,
            );
            Some(MtlsSettings {
                ca_path: ca_path?,
                allowed_names,
                require_server_auth: require_server_auth?,
            })
        }
    };
    Some(TlsSettings {
        cert_path: cert_path?,
        key_path: key_path?,
        mtls,
    })
}

/// Entries for `WEBHOOK_MTLS_ONLY_IDS` not in `skip`: step-ca's empty `ca.json` key.
fn mtls_only_entries(ids: &[String], skip: &[String]) -> Vec<WebhookEntry> {
    ids.iter()
        .filter(|id| !skip.contains(id))
        .map(|id| WebhookEntry {
            id: id.clone(),
            secret: WebhookSecret::ca_json_empty_key(),
            authorization: None,
        })
        .collect()
}

fn webhook_entries(raw: &RawEnv, errors: &mut Vec<ConfigError>) -> Option<Vec<WebhookEntry>> {
    const SECRET_EXPECTED: &str = "the base64 secret that `step ca provisioner webhook add` printed (88 characters ending in ==)";
    let ids_text = raw.webhook_ids.as_deref().map(str::trim).unwrap_or("");
    let mtls_only = list(&raw.webhook_mtls_only_ids);
    if ids_text.is_empty()
        && raw.webhook_secrets.is_none()
        && raw.webhook_secrets_file.is_none()
        && !mtls_only.is_empty()
    {
        return Some(mtls_only_entries(&mtls_only, &[]));
    }
    if ids_text.is_empty() {
        errors.push(ConfigError::missing(
            "WEBHOOK_IDS",
            "a comma-separated list of step-ca webhook IDs (UUIDs)",
        ));
    }
    let secrets_text = match (&raw.webhook_secrets, &raw.webhook_secrets_file) {
        (Some(inline), None) => Some(inline.clone()),
        (None, Some(path)) => match auth::read_secret_file(Path::new(path)) {
            Ok(text) => Some(text),
            Err(err) => {
                errors.push(ConfigError::invalid(
                    "WEBHOOK_SECRETS_FILE",
                    path,
                    format!("a readable file of webhook secrets ({err})"),
                ));
                return None;
            }
        },
        (Some(_), Some(_)) => {
            errors.push(ConfigError::secret(
                "WEBHOOK_SECRETS and WEBHOOK_SECRETS_FILE",
                "only one of the two",
            ));
            return None;
        }
        (None, None) => {
            errors.push(ConfigError::missing(
                "WEBHOOK_SECRETS",
                "a comma-separated list of webhook secrets, in the order of WEBHOOK_IDS (or WEBHOOK_SECRETS_FILE)",
            ));
            return None;
        }
    };
    if ids_text.is_empty() {
        return None;
    }
    let ids: Vec<&str> = ids_text.split(',').map(str::trim).collect();
    let secrets_text = secrets_text?;
    let secrets: Vec<&str> = secrets_text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.len() != secrets.len() {
        errors.push(ConfigError::invalid(
            "WEBHOOK_IDS",
            ids_text,
            format!(
                "as many IDs as WEBHOOK_SECRETS has secrets ({} IDs, {} secrets)",
                ids.len(),
                secrets.len()
            ),
        ));
        return None;
    }
    let mut entries = Vec::with_capacity(ids.len());
    let mut ok = true;
    for (index, (id, secret)) in ids.iter().zip(&secrets).enumerate() {
        if !is_uuid(id) {
            errors.push(ConfigError::invalid(
                "WEBHOOK_IDS",
                id,
                "webhook IDs as step-ca prints them (UUIDs such as d09736a5-780b-476e-abdb-e2e4c0439cf9)",
            ));
            ok = false;
            continue;
        }
        if ids[..index].contains(id) {
            errors.push(ConfigError::invalid(
                "WEBHOOK_IDS",
                id,
                "each webhook ID once",
            ));
            ok = false;
            continue;
        }
        match WebhookSecret::from_base64(secret) {
            Ok(secret) if secret.len() < MIN_SECRET_BYTES => {
                // Not the length either: it would narrow a guesser's search.
                errors.push(ConfigError::secret(
                    format!("WEBHOOK_SECRETS item {} (for webhook ID {id})", index + 1),
                    format!(
                        "a secret of at least {MIN_SECRET_BYTES} bytes once base64-decoded, \
                         such as the 64 random bytes `step ca provisioner webhook add` \
                         prints (88 characters ending in ==); a shorter or human-chosen \
                         secret can be found by guessing"
                    ),
                ));
                ok = false;
            }
            Ok(secret) => entries.push(WebhookEntry {
                id: (*id).to_owned(),
                secret,
                authorization: None,
            }),
            Err(_) => {
                errors.push(ConfigError::secret(
                    format!("WEBHOOK_SECRETS item {} (for webhook ID {id})", index + 1),
                    SECRET_EXPECTED,
                ));
                ok = false;
            }
        }
    }
    if !auth::apply_authorizations(raw, &mut entries, errors) {
        ok = false;
    }
    let known: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    for id in mtls_only.iter().filter(|id| known.contains(id)) {
        errors.push(ConfigError::invalid(
            "WEBHOOK_MTLS_ONLY_IDS",
            id,
            "IDs that are not also in WEBHOOK_IDS: a webhook has a secret or is mTLS-only",
        ));
        ok = false;
    }
    entries.extend(mtls_only_entries(&mtls_only, &known));
    ok.then_some(entries)
}

/// Reads declared variables, moving each problem into the server's list as it is found, so
/// problems come in the order the variables are read.
struct Declared<'a> {
    reader: Reader<'a>,
}

impl<'a> Declared<'a> {
    fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            reader: Reader::new(get),
        }
    }

    fn collect<T>(&mut self, value: Option<T>, errors: &mut Vec<ConfigError>) -> Option<T> {
        errors.extend(self.reader.take_problems());
        value
    }

    fn number(&mut self, setting: &Setting, errors: &mut Vec<ConfigError>) -> Option<u64> {
        let value = self.reader.number(setting);
        self.collect(value, errors)
    }

    fn seconds(&mut self, setting: &Setting, errors: &mut Vec<ConfigError>) -> Option<Duration> {
        let value = self.reader.seconds(setting);
        self.collect(value, errors)
    }

    fn flag(&mut self, setting: &Setting, errors: &mut Vec<ConfigError>) -> Option<bool> {
        let value = self.reader.flag(setting);
        self.collect(value, errors)
    }

    fn choice(&mut self, setting: &Setting, errors: &mut Vec<ConfigError>) -> Option<&'static str> {
        let value = self.reader.choice(setting);
        self.collect(value, errors)
    }
}

fn required_path(
    value: &Option<String>,
    variable: &str,
    expected: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<PathBuf> {
    match value.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(ConfigError::missing(variable, expected));
            None
        }
        Some(path) => {
            if Path::new(path).is_file() {
                Some(PathBuf::from(path))
            } else {
                errors.push(ConfigError::invalid(
                    variable,
                    path,
                    format!("{expected}; no readable file is there"),
                ));
                None
            }
        }
    }
}

fn number(
    value: &Option<String>,
    variable: &str,
    default: u64,
    min: u64,
    max: u64,
    expected: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<u64> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Some(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                errors.push(ConfigError::invalid(variable, text, expected));
                None
            }
        },
    }
}

fn list(value: &Option<String>) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_dns_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::auth::tests::{errors, vars};
    use super::*;

    #[test]
    fn max_connections_per_address_defaults_to_a_quarter_and_zero_turns_it_off() {
        let mut errors = Vec::new();
        assert_eq!(per_address(&None, 1024, &mut errors), Some(256));
        assert_eq!(per_address(&None, 2, &mut errors), Some(1));
        assert_eq!(per_address(&Some("0".into()), 16, &mut errors), Some(0));
        assert_eq!(per_address(&Some(" 16 ".into()), 16, &mut errors), Some(16));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(Limits::default().max_connections_per_address, 256);
        assert_eq!(per_address(&Some("17".into()), 16, &mut errors), None);
        assert_eq!(per_address(&Some("-1".into()), 16, &mut errors), None);
        let text = ConfigErrors(errors).to_string();
        assert!(
            text.contains(
                "MAX_CONNECTIONS_PER_ADDRESS=\"17\" is invalid: expected 0 (no limit) or a \
                 number of connections from 1 to MAX_CONNECTIONS (16)"
            ),
            "{text}"
        );
        assert!(
            text.contains("MAX_CONNECTIONS_PER_ADDRESS=\"-1\" is invalid"),
            "{text}"
        );
    }

    fn base64_of(bytes: &[u8]) -> String {
        WebhookSecret::from_bytes(bytes).unwrap().to_base64()
    }

    #[test]
    fn secrets_shorter_than_32_bytes_are_refused_naming_the_webhook_id() {
        const ID2: &str = "eeff6319-8883-419b-8d9b-0fe227dbe6b4";
        let strong = base64_of(&[7; 64]);
        for short in [1, 16, 31] {
            let weak = base64_of(&vec![b'x'; short]);
            let secrets = format!("{strong},{weak}");
            let text = errors(&[("WEBHOOK_SECRETS", &secrets)]);
            assert!(
                text.contains(&format!(
                    "WEBHOOK_SECRETS item 2 (for webhook ID {ID2}) is invalid (value not shown, it is a secret): expected"
                )),
                "{text}"
            );
            assert!(text.contains("at least 32 bytes"), "{text}");
            assert!(!text.contains(&weak) && !text.contains(&strong), "{text}");
            assert_eq!(text.lines().count(), 1, "{text}");

            // The same from a secrets file.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("secrets");
            std::fs::write(&path, format!("{strong}\n{weak}\n")).unwrap();
            let mut vars = vars(&[("WEBHOOK_SECRETS_FILE", &path.display().to_string())]);
            vars.remove("WEBHOOK_SECRETS");
            let text = Config::from_vars(&vars).unwrap_err().to_string();
            assert!(text.contains(&format!("for webhook ID {ID2}")), "{text}");
            assert!(text.contains("at least 32 bytes"), "{text}");
        }
        let exactly = base64_of(&[b'x'; 32]);
        let config = Config::from_vars(&vars(&[(
            "WEBHOOK_SECRETS",
            &format!("{strong},{exactly}"),
        )]))
        .unwrap();
        assert_eq!(config.webhooks[1].secret.len(), 32);
    }

    #[test]
    fn wildcard_allowed_names_are_refused_naming_the_variable_and_value() {
        for value in ["*.example.com", "*", "ca.*.com"] {
            let list = format!("ca.example.com,{value}");
            let text = errors(&[
                ("ENABLE_MTLS", "1"),
                (
                    "TLS_CA_PATH",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
                ),
                ("MTLS_ALLOWED_NAMES", &list),
            ]);
            assert!(
                text.contains(&format!("MTLS_ALLOWED_NAMES={value:?} is invalid")),
                "{text}"
            );
            assert!(text.contains("wildcard"), "{text}");
            assert!(!text.contains("\"ca.example.com\""), "{text}");
        }
        let config = Config::from_vars(&vars(&[
            ("ENABLE_MTLS", "1"),
            (
                "TLS_CA_PATH",
                concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            ),
            ("MTLS_ALLOWED_NAMES", "ca.example.com, CA2.example.com"),
        ]))
        .unwrap();
        let mtls = config.tls.mtls.unwrap();
        assert_eq!(mtls.allowed_names, ["ca.example.com", "CA2.example.com"]);
    }

    #[test]
    fn the_jamf_webhook_secret_needs_a_syncing_jamf_and_is_never_shown() {
        const SECRET: &str = "a-jamf-webhook-secret-long-enough";
        let jamf = [
            ("PROVIDER", "jamf"),
            ("JAMF_BASE_URL", "https://example.jamfcloud.com"),
            ("JAMF_CLIENT_ID", "id"),
            ("JAMF_CLIENT_SECRET", "s3cret"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = jamf.to_vec();
            all.extend_from_slice(extra);
            all
        };
        let syncing = with(&[
            ("JAMF_SYNC_INTERVAL", "3600"),
            ("JAMF_WEBHOOK_SECRET", SECRET),
        ]);
        let config = Config::from_vars(&vars(&syncing)).unwrap();
        let secret = config.jamf_webhook_secret.as_ref().unwrap();
        assert_eq!(secret.expose(), SECRET);
        assert!(!format!("{config:?}").contains(SECRET));

        let text = errors(&with(&[("JAMF_WEBHOOK_SECRET", SECRET)]));
        assert!(text.contains("JAMF_SYNC_INTERVAL is above 0"), "{text}");
        let text = errors(&[("JAMF_WEBHOOK_SECRET", SECRET)]);
        assert!(text.contains("PROVIDER includes jamf"), "{text}");
        let text = errors(&with(&[
            ("JAMF_SYNC_INTERVAL", "3600"),
            ("JAMF_WEBHOOK_SECRET", "short"),
        ]));
        assert!(text.contains("at least 16 characters"), "{text}");
        assert!(!text.contains("short"), "{text}");
        // Unset: off.
        let config = Config::from_vars(&vars(&jamf)).unwrap();
        assert!(config.jamf_webhook_secret.is_none());
    }
}
