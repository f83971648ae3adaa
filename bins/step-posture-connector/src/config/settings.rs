//! The server's own variables, each declared once. Parsing, problem messages, the list of
//! known variables and the documentation check come from these declarations.

use posture_settings::Setting;

/// `PROVIDER`.
pub(crate) const PROVIDER: Setting = Setting::text(
    "PROVIDER",
    "which provider answers lookups; several, comma-separated, combine under POLICY",
)
.required();
/// `POLICY`.
pub(crate) const POLICY: Setting = Setting::choice(
    "POLICY",
    &posture_core::Policy::NAMES,
    Some("all"),
    "how several providers combine: all must allow, or any one",
);
/// `TLS_CERT_PATH`.
pub(crate) const TLS_CERT_PATH: Setting = Setting::path(
    "TLS_CERT_PATH",
    "the path of the server's PEM certificate chain",
)
.required();
/// `TLS_KEY_PATH`.
pub(crate) const TLS_KEY_PATH: Setting =
    Setting::path("TLS_KEY_PATH", "the path of the server's PEM private key").required();
/// `TLS_CA_PATH`.
pub(crate) const TLS_CA_PATH: Setting = Setting::path(
    "TLS_CA_PATH",
    "the path of the PEM CA certificate(s) client certificates must chain to (required with ENABLE_MTLS=1)",
);
/// `ENABLE_MTLS`.
pub(crate) const ENABLE_MTLS: Setting = Setting::flag(
    "ENABLE_MTLS",
    false,
    "require a client certificate from TLS_CA_PATH",
);
/// `MTLS_ALLOWED_NAMES`.
pub(crate) const MTLS_ALLOWED_NAMES: Setting = Setting::list(
    "MTLS_ALLOWED_NAMES",
    "DNS names one of which the client certificate must carry (step-ca's)",
);
/// `MTLS_REQUIRE_SERVER_AUTH`.
pub(crate) const MTLS_REQUIRE_SERVER_AUTH: Setting = Setting::flag(
    "MTLS_REQUIRE_SERVER_AUTH",
    true,
    "require the serverAuth EKU on client certificates, which step-ca has and devices don't",
);
/// `WEBHOOK_IDS`.
pub(crate) const WEBHOOK_IDS: Setting = Setting::list(
    "WEBHOOK_IDS",
    "a comma-separated list of step-ca webhook IDs (UUIDs)",
);
/// `WEBHOOK_SECRETS` (a list, in the order of `WEBHOOK_IDS`).
pub(crate) const WEBHOOK_SECRETS: Setting = Setting::secret(
    "WEBHOOK_SECRETS",
    "WEBHOOK_SECRETS_FILE",
    "a comma-separated list of webhook secrets, in the order of WEBHOOK_IDS",
);
/// `WEBHOOK_MTLS_ONLY_IDS`.
pub(crate) const WEBHOOK_MTLS_ONLY_IDS: Setting = Setting::list(
    "WEBHOOK_MTLS_ONLY_IDS",
    "webhook IDs without a secret, authenticated by step-ca's client certificate alone",
);
/// `WEBHOOK_BEARER_TOKENS`.
pub(crate) const WEBHOOK_BEARER_TOKENS: Setting = Setting::secret(
    "WEBHOOK_BEARER_TOKENS",
    "WEBHOOK_BEARER_TOKENS_FILE",
    "bearer tokens step-ca must also send, in the order of WEBHOOK_IDS",
)
.optional();
/// `WEBHOOK_BASIC_AUTH`.
pub(crate) const WEBHOOK_BASIC_AUTH: Setting = Setting::secret(
    "WEBHOOK_BASIC_AUTH",
    "WEBHOOK_BASIC_AUTH_FILE",
    "username:password pairs step-ca must also send, in the order of WEBHOOK_IDS",
)
.optional();
/// `PORT`.
pub(crate) const PORT: Setting =
    Setting::number("PORT", 9443, 0, 65_535, "ports", "where to listen")
        .expecting("a TCP port from 1 to 65535 (0 picks a free one)");
/// `BIND_ADDRESS`.
pub(crate) const BIND_ADDRESS: Setting = Setting::text(
    "BIND_ADDRESS",
    "an IP address such as 0.0.0.0, 127.0.0.1 or ::",
);
/// `LOGGING_LEVEL`.
pub(crate) const LOGGING_LEVEL: Setting = Setting::choice(
    "LOGGING_LEVEL",
    &["0", "1", "2"],
    Some("0"),
    "0 decisions only, 1 verbose, 2 debug",
)
.expecting("0 (decisions only), 1 (verbose) or 2 (debug)");
/// `LOG_FORMAT`.
pub(crate) const LOG_FORMAT: Setting = Setting::choice(
    "LOG_FORMAT",
    &["text", "json"],
    Some("text"),
    "log lines as text or one JSON object each",
);
/// `TIMEOUT`: declared once in posture-http, since every MDM provider reads it too.
pub(crate) const TIMEOUT: Setting = posture_http::env::TIMEOUT;
/// `MAX_BODY_BYTES`.
pub(crate) const MAX_BODY_BYTES: Setting = Setting::number(
    "MAX_BODY_BYTES",
    64 * 1024,
    1024,
    16 * 1024 * 1024,
    "bytes",
    "the largest request body accepted; larger gets 413",
)
.expecting("a byte count from 1024 to 16777216");
/// `MAX_REQUEST_AGE`.
pub(crate) const MAX_REQUEST_AGE: Setting = Setting::seconds(
    "MAX_REQUEST_AGE",
    60,
    1,
    3600,
    "how old a request's timestamp may be",
);
/// `MAX_CLOCK_SKEW`.
pub(crate) const MAX_CLOCK_SKEW: Setting = Setting::seconds(
    "MAX_CLOCK_SKEW",
    60,
    0,
    3600,
    "how far in the future a request's timestamp may be",
)
.expecting("a whole number of seconds from 0 to 3600");
/// `MAX_CONNECTIONS`.
pub(crate) const MAX_CONNECTIONS: Setting = Setting::number(
    "MAX_CONNECTIONS",
    1024,
    1,
    1_000_000,
    "connections",
    "connections served at once",
)
.expecting("a number of connections from 1 to 1000000");
/// `MAX_CONNECTIONS_PER_ADDRESS` (its default and bound depend on `MAX_CONNECTIONS`).
pub(crate) const MAX_CONNECTIONS_PER_ADDRESS: Setting = Setting::text(
    "MAX_CONNECTIONS_PER_ADDRESS",
    "connections one client address may hold; 0 for no limit (default: a quarter of MAX_CONNECTIONS)",
);
/// `TLS_HANDSHAKE_TIMEOUT`.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Setting = Setting::seconds(
    "TLS_HANDSHAKE_TIMEOUT",
    10,
    1,
    300,
    "how long a TLS handshake may take",
);
/// `HEADER_READ_TIMEOUT`.
pub(crate) const HEADER_READ_TIMEOUT: Setting = Setting::seconds(
    "HEADER_READ_TIMEOUT",
    10,
    1,
    300,
    "how long a client may take to send its request headers",
);
/// `METRICS_ADDR`.
pub(crate) const METRICS_ADDR: Setting = Setting::text(
    "METRICS_ADDR",
    "where to serve /metrics over plain HTTP, such as 127.0.0.1:9464; empty for none",
)
.expecting("an IP address and port such as 127.0.0.1:9464 or [::]:9464, or empty for no metrics");
/// `RELOAD_INTERVAL`.
pub(crate) const RELOAD_INTERVAL: Setting = Setting::seconds(
    "RELOAD_INTERVAL",
    5,
    0,
    3600,
    "how often to look for changed files",
)
.expecting("a whole number of seconds from 0 to 3600");
/// `RELOAD_SETTLE`.
pub(crate) const RELOAD_SETTLE: Setting = Setting::seconds(
    "RELOAD_SETTLE",
    1,
    0,
    300,
    "how long a changed file must stay unchanged before it is reloaded",
)
.expecting("a whole number of seconds from 0 to 300");
/// `IDLE_TIMEOUT`.
pub(crate) const IDLE_TIMEOUT: Setting = Setting::seconds(
    "IDLE_TIMEOUT",
    120,
    1,
    3600,
    "how long a kept-alive connection may wait for its next request",
);
/// `MAX_HEADERS`.
pub(crate) const MAX_HEADERS: Setting = Setting::number(
    "MAX_HEADERS",
    64,
    16,
    1024,
    "header fields",
    "most header fields a request may carry",
)
.expecting("a number of header fields from 16 to 1024");
/// `MAX_HEADER_BYTES`.
pub(crate) const MAX_HEADER_BYTES: Setting = Setting::number(
    "MAX_HEADER_BYTES",
    16 * 1024,
    4096,
    1024 * 1024,
    "bytes",
    "the largest request header block",
)
.expecting("a byte count from 4096 to 1048576");
/// `AUTH_FAILURE_LIMIT`.
pub(crate) const AUTH_FAILURE_LIMIT: Setting = Setting::number(
    "AUTH_FAILURE_LIMIT",
    10,
    0,
    100_000,
    "failed authentications",
    "failed authentications a client address may make per window; 0 turns throttling off",
)
.expecting(
    "a number of failed authentications per client address from 0 (no throttling) to 100000",
);
/// `AUTH_FAILURE_WINDOW`.
pub(crate) const AUTH_FAILURE_WINDOW: Setting = Setting::seconds(
    "AUTH_FAILURE_WINDOW",
    60,
    1,
    86_400,
    "the window over which AUTH_FAILURE_LIMIT refills",
);
/// `JAMF_WEBHOOK_SECRET` (or `_FILE`): turns on `POST /webhook/jamf-events`.
pub(crate) const JAMF_WEBHOOK_SECRET: Setting = Setting::secret(
    "JAMF_WEBHOOK_SECRET",
    "JAMF_WEBHOOK_SECRET_FILE",
    "the secret Jamf Pro webhooks send (Basic password or bearer token) to POST \
     /webhook/jamf-events; needs PROVIDER with jamf and JAMF_SYNC_INTERVAL above 0",
)
.optional();

/// Every variable the server reads itself (the SCEP gate's are in
/// [`SCEP_SETTINGS`](super::SCEP_SETTINGS); providers declare their own).
pub(crate) const SETTINGS: &[Setting] = &[
    PROVIDER,
    POLICY,
    TLS_CERT_PATH,
    TLS_KEY_PATH,
    TLS_CA_PATH,
    ENABLE_MTLS,
    MTLS_ALLOWED_NAMES,
    MTLS_REQUIRE_SERVER_AUTH,
    WEBHOOK_IDS,
    WEBHOOK_SECRETS,
    WEBHOOK_MTLS_ONLY_IDS,
    WEBHOOK_BEARER_TOKENS,
    WEBHOOK_BASIC_AUTH,
    PORT,
    BIND_ADDRESS,
    LOGGING_LEVEL,
    LOG_FORMAT,
    TIMEOUT,
    MAX_BODY_BYTES,
    MAX_REQUEST_AGE,
    MAX_CLOCK_SKEW,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_ADDRESS,
    TLS_HANDSHAKE_TIMEOUT,
    HEADER_READ_TIMEOUT,
    METRICS_ADDR,
    RELOAD_INTERVAL,
    RELOAD_SETTLE,
    IDLE_TIMEOUT,
    MAX_HEADERS,
    MAX_HEADER_BYTES,
    AUTH_FAILURE_LIMIT,
    AUTH_FAILURE_WINDOW,
    JAMF_WEBHOOK_SECRET,
];
