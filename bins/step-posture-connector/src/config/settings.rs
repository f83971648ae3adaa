//! The server's own variables, each declared once. Parsing, problem messages, the list of
//! known variables and the documentation check come from these declarations.

use posture_settings::Setting;

posture_settings::declare! {
    /// which provider answers lookups; several, comma-separated, combine under POLICY
    pub(crate) const PROVIDER = text("PROVIDER").required();
    /// how several providers combine: all must allow, or any one
    pub(crate) const POLICY = choice("POLICY", &posture_core::Policy::NAMES, Some("all"));
    /// the path of the server's PEM certificate chain
    pub(crate) const TLS_CERT_PATH = path("TLS_CERT_PATH").required();
    /// the path of the server's PEM private key
    pub(crate) const TLS_KEY_PATH = path("TLS_KEY_PATH").required();
    /// the path of the PEM CA certificate(s) client certificates must chain to (required with ENABLE_MTLS=1)
    pub(crate) const TLS_CA_PATH = path("TLS_CA_PATH");
    /// require a client certificate from TLS_CA_PATH
    pub(crate) const ENABLE_MTLS = flag("ENABLE_MTLS", false);
    /// DNS names one of which the client certificate must carry (step-ca's)
    pub(crate) const MTLS_ALLOWED_NAMES = list("MTLS_ALLOWED_NAMES");
    /// require the serverAuth EKU on client certificates, which step-ca has and devices don't
    pub(crate) const MTLS_REQUIRE_SERVER_AUTH = flag("MTLS_REQUIRE_SERVER_AUTH", true);
    /// a comma-separated list of step-ca webhook IDs (UUIDs)
    pub(crate) const WEBHOOK_IDS = list("WEBHOOK_IDS");
    /// a comma-separated list of webhook secrets, in the order of WEBHOOK_IDS
    pub(crate) const WEBHOOK_SECRETS = secret("WEBHOOK_SECRETS", "WEBHOOK_SECRETS_FILE");
    /// webhook IDs without a secret, authenticated by step-ca's client certificate alone
    pub(crate) const WEBHOOK_MTLS_ONLY_IDS = list("WEBHOOK_MTLS_ONLY_IDS");
    /// bearer tokens step-ca must also send, in the order of WEBHOOK_IDS
    pub(crate) const WEBHOOK_BEARER_TOKENS = secret(
        "WEBHOOK_BEARER_TOKENS", "WEBHOOK_BEARER_TOKENS_FILE"
    )
        .optional();
    /// username:password pairs step-ca must also send, in the order of WEBHOOK_IDS
    pub(crate) const WEBHOOK_BASIC_AUTH = secret("WEBHOOK_BASIC_AUTH", "WEBHOOK_BASIC_AUTH_FILE")
        .optional();
    /// where to listen
    pub(crate) const PORT = number("PORT", 9443, 0, 65_535, "ports")
        .expecting("a TCP port from 1 to 65535 (0 picks a free one)");
    /// an IP address such as 0.0.0.0, 127.0.0.1 or ::
    pub(crate) const BIND_ADDRESS = text("BIND_ADDRESS");
    /// 0 decisions only, 1 verbose, 2 debug
    pub(crate) const LOGGING_LEVEL = choice("LOGGING_LEVEL", &["0", "1", "2"], Some("0"))
        .expecting("0 (decisions only), 1 (verbose) or 2 (debug)");
    /// log lines as text or one JSON object each
    pub(crate) const LOG_FORMAT = choice("LOG_FORMAT", &["text", "json"], Some("text"));
}
/// `TIMEOUT`: declared once in posture-http, since every MDM provider reads it too.
pub(crate) const TIMEOUT: Setting = posture_http::env::TIMEOUT;
posture_settings::declare! {
    /// the largest request body accepted; larger gets 413
    pub(crate) const MAX_BODY_BYTES = number(
        "MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024, "bytes"
    ).expecting("a byte count from 1024 to 16777216");
    /// how old a request's timestamp may be
    pub(crate) const MAX_REQUEST_AGE = seconds("MAX_REQUEST_AGE", 60, 1, 3600);
    /// how far in the future a request's timestamp may be
    pub(crate) const MAX_CLOCK_SKEW = seconds("MAX_CLOCK_SKEW", 60, 0, 3600)
        .expecting("a whole number of seconds from 0 to 3600");
    /// connections served at once
    pub(crate) const MAX_CONNECTIONS = number("MAX_CONNECTIONS", 1024, 1, 1_000_000, "connections")
        .expecting("a number of connections from 1 to 1000000");
    // Text, not a number: its default and bound depend on MAX_CONNECTIONS.
    /// connections one client address may hold; 0 for no limit (default: a quarter of MAX_CONNECTIONS)
    pub(crate) const MAX_CONNECTIONS_PER_ADDRESS = text("MAX_CONNECTIONS_PER_ADDRESS");
    /// how long a TLS handshake may take
    pub(crate) const TLS_HANDSHAKE_TIMEOUT = seconds("TLS_HANDSHAKE_TIMEOUT", 10, 1, 300);
    /// how long a client may take to send its request headers
    pub(crate) const HEADER_READ_TIMEOUT = seconds("HEADER_READ_TIMEOUT", 10, 1, 300);
    /// where to serve /metrics over plain HTTP, such as 127.0.0.1:9464; empty for none
    pub(crate) const METRICS_ADDR = text("METRICS_ADDR")
        .expecting("an IP address and port such as 127.0.0.1:9464 or [::]:9464, or empty for no metrics");
    /// how often to look for changed files
    pub(crate) const RELOAD_INTERVAL = seconds("RELOAD_INTERVAL", 5, 0, 3600)
        .expecting("a whole number of seconds from 0 to 3600");
    /// how long a changed file must stay unchanged before it is reloaded
    pub(crate) const RELOAD_SETTLE = seconds("RELOAD_SETTLE", 1, 0, 300)
        .expecting("a whole number of seconds from 0 to 300");
    /// how long a kept-alive connection may wait for its next request
    pub(crate) const IDLE_TIMEOUT = seconds("IDLE_TIMEOUT", 120, 1, 3600);
    /// most header fields a request may carry
    pub(crate) const MAX_HEADERS = number("MAX_HEADERS", 64, 16, 1024, "header fields")
        .expecting("a number of header fields from 16 to 1024");
    /// the largest request header block
    pub(crate) const MAX_HEADER_BYTES = number(
        "MAX_HEADER_BYTES", 16 * 1024, 4096, 1024 * 1024, "bytes"
    ).expecting("a byte count from 4096 to 1048576");
    /// failed authentications a client address may make per window; 0 turns throttling off
    pub(crate) const AUTH_FAILURE_LIMIT = number(
        "AUTH_FAILURE_LIMIT", 10, 0, 100_000, "failed authentications"
    ).expecting("a number of failed authentications per client address from 0 (no throttling) to 100000");
    /// the window over which AUTH_FAILURE_LIMIT refills
    pub(crate) const AUTH_FAILURE_WINDOW = seconds("AUTH_FAILURE_WINDOW", 60, 1, 86_400);
    // Set, it turns on POST /webhook/jamf-events.
    /// the secret Jamf Pro webhooks send (Basic password or bearer token) to POST /webhook/jamf-events; needs PROVIDER with jamf and JAMF_SYNC_INTERVAL above 0
    pub(crate) const JAMF_WEBHOOK_SECRET = secret("JAMF_WEBHOOK_SECRET", "JAMF_WEBHOOK_SECRET_FILE")
        .optional();
}

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
