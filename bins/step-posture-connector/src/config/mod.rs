//! Configuration: environment variables and a `.env` file, parsed once into a validated
//! [`Config`].
//!
//! The variable names and meanings are the Go step-posture-connector's, so an existing
//! `.env` keeps working. Everything new has a default.
//!
//! This file holds the validated types; reading them is split by concern: `env` (the
//! variables' raw text and the declared readers), `dotenv` (the `.env` file), `validate`
//! (the whole configuration), `tls`, `webhooks` (with `auth` for their `Authorization`
//! companions), `scep`, and `settings` (the declarations).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use posture_core::ProviderSetup;
use smallstep_webhook::{Authorization, WebhookSecret};

mod auth;
mod dotenv;
mod env;
mod scep;
pub(crate) mod settings;
mod tls;
mod validate;
mod webhooks;

use crate::providers::Providers;
pub use dotenv::gather_environment;
use env::RawEnv;
#[cfg(test)]
use validate::per_address;
use validate::validate;
use webhooks::webhook_entries;

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

#[cfg(test)]
mod tests {
    use super::auth::tests::{errors, temp_file, vars};
    use super::*;

    #[test]
    fn max_connections_per_address_defaults_to_a_quarter_and_zero_turns_it_off() {
        let mut errors = Vec::new();
        let mut per_address_of = |text: Option<&str>, max_connections: u64| {
            let get = |_: &str| text.map(str::to_owned);
            per_address(&mut env::Declared::new(&get), max_connections, &mut errors)
        };
        assert_eq!(per_address_of(None, 1024), Some(256));
        assert_eq!(per_address_of(None, 2), Some(1));
        assert_eq!(per_address_of(Some("0"), 16), Some(0));
        assert_eq!(per_address_of(Some(" 16 "), 16), Some(16));
        assert_eq!(per_address_of(Some("17"), 16), None);
        assert_eq!(per_address_of(Some("-1"), 16), None);
        assert_eq!(Limits::default().max_connections_per_address, 256);
        assert_eq!(errors.len(), 2, "{errors:?}");
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
            let (_dir, path) = temp_file("secrets", format!("{strong}\n{weak}\n"));
            let mut vars = vars(&[("WEBHOOK_SECRETS_FILE", &path)]);
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
