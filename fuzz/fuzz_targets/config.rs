//! The configuration parser, `Config::from_vars`, on arbitrary variables.
//!
//! Input: lines. A line starting with a byte below 0x80 sets one of the variables the server
//! and the Jamf provider read (the byte picks which) to the rest of the line; any other line is
//! a raw `KEY=VALUE`. The values `@cert`, `@key`, `@devices` and `@secrets` become paths of real
//! files, so the fuzzer can reach configurations that validate.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use step_posture_connector::config::Config;

const NAMES: &[&str] = &[
    "PROVIDER",
    "TLS_CERT_PATH",
    "TLS_KEY_PATH",
    "TLS_CA_PATH",
    "ENABLE_MTLS",
    "MTLS_ALLOWED_NAMES",
    "MTLS_REQUIRE_SERVER_AUTH",
    "WEBHOOK_IDS",
    "WEBHOOK_SECRETS",
    "WEBHOOK_SECRETS_FILE",
    "WEBHOOK_BEARER_TOKENS",
    "WEBHOOK_BEARER_TOKENS_FILE",
    "WEBHOOK_BASIC_AUTH",
    "WEBHOOK_BASIC_AUTH_FILE",
    "PORT",
    "BIND_ADDRESS",
    "LOGGING_LEVEL",
    "LOG_FORMAT",
    "TIMEOUT",
    "FILE_PATH",
    "FILE_TYPE",
    "MAX_BODY_BYTES",
    "MAX_REQUEST_AGE",
    "MAX_CLOCK_SKEW",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_ADDRESS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "TLS_HANDSHAKE_TIMEOUT",
    "HEADER_READ_TIMEOUT",
    "IDLE_TIMEOUT",
    "RELOAD_SETTLE",
    "RELOAD_ALLOW_SHRINK",
    "JAMF_BASE_URL",
    "JAMF_CLIENT_ID",
    "JAMF_CLIENT_SECRET",
    "JAMF_CLIENT_SECRET_FILE",
    "JAMF_DEVICE_GROUP",
    "JAMF_COMPUTER_GROUP",
    "JAMF_DEVICE_ENRICH",
    "JAMF_COMPUTER_ENRICH",
    "JAMF_API",
    "JAMF_MAX_CONNECTIONS",
    "JAMF_MAX_RETRY_AFTER",
    "JAMF_CACHE_TTL",
    "JAMF_NEGATIVE_CACHE_TTL",
    "JAMF_DEFAULT_MODE",
    "JAMF_CA_PATH",
    // Last, so the committed seeds' bytes keep naming the same variables.
    "AUTH_FAILURE_LIMIT",
    "AUTH_FAILURE_WINDOW",
];

struct Files {
    cert: PathBuf,
    key: PathBuf,
    devices: PathBuf,
    secrets: PathBuf,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("spc-fuzz-config-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            let _ = std::fs::write(&path, text);
            path
        };
        Files {
            cert: write("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            key: write("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"),
            devices: write("devices.json", r#"{"devices":[{"identifier":"A"}]}"#),
            secrets: write(
                "secrets",
                "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==\n",
            ),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let files = files();
    let mut vars = HashMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&first, rest)) = line.split_first() else {
            continue;
        };
        let (key, value) = if first < 0x80 {
            (
                NAMES[usize::from(first) % NAMES.len()].to_owned(),
                String::from_utf8_lossy(rest).into_owned(),
            )
        } else {
            let text = String::from_utf8_lossy(rest).into_owned();
            match text.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (text, String::new()),
            }
        };
        let value = match value.as_str() {
            "@cert" => files.cert.display().to_string(),
            "@key" => files.key.display().to_string(),
            "@devices" => files.devices.display().to_string(),
            "@secrets" => files.secrets.display().to_string(),
            _ => value,
        };
        vars.insert(key, value);
    }
    match Config::from_vars(&vars) {
        Ok(config) => {
            let _ = config.warnings();
            let _ = format!("{config:?}");
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error names at least one problem");
            let text = errors.to_string();
            assert!(!text.is_empty());
        }
    }
});
