//! Reading the server's own variables: their raw text ([`RawEnv`]), the declared ones
//! through [`Declared`], and the small parsers the checks share.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use posture_settings::{Reader, Setting};

use super::{ConfigError, settings};

/// The text of the server's own variables, as given (untrimmed; `None` when unset), for the
/// checks that need more than a declaration: lists that must line up, paths, addresses.
#[derive(Debug, Default)]
pub(super) struct RawEnv {
    pub(super) provider: Option<String>,
    pub(super) policy: Option<String>,
    pub(super) tls_cert_path: Option<String>,
    pub(super) tls_key_path: Option<String>,
    pub(super) tls_ca_path: Option<String>,
    pub(super) mtls_allowed_names: Option<String>,
    pub(super) webhook_ids: Option<String>,
    pub(super) webhook_secrets: Option<String>,
    pub(super) webhook_secrets_file: Option<String>,
    pub(super) webhook_mtls_only_ids: Option<String>,
    pub(super) webhook_bearer_tokens: Option<String>,
    pub(super) webhook_bearer_tokens_file: Option<String>,
    pub(super) webhook_basic_auth: Option<String>,
    pub(super) webhook_basic_auth_file: Option<String>,
    pub(super) bind_address: Option<String>,
    pub(super) max_connections_per_address: Option<String>,
    pub(super) metrics_addr: Option<String>,
}

impl RawEnv {
    /// The declared variables ([`SETTINGS`], `_FILE` forms included) that `ours` picks.
    pub(super) fn read(vars: &HashMap<String, String>, ours: impl Fn(&str) -> bool) -> Self {
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

/// Reads declared variables, moving each problem into the server's list as it is found, so
/// problems come in the order the variables are read.
pub(super) struct Declared<'a> {
    reader: Reader<'a>,
}

impl<'a> Declared<'a> {
    pub(super) fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            reader: Reader::new(get),
        }
    }

    /// Reads `setting` with `read`, the [`Reader`] method for its kind (such as
    /// `Reader::seconds`).
    pub(super) fn read<T>(
        &mut self,
        read: fn(&mut Reader<'a>, &Setting) -> Option<T>,
        setting: &Setting,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let value = read(&mut self.reader, setting);
        errors.extend(self.reader.take_problems());
        value
    }
}

pub(super) fn required_path(
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

pub(super) fn number(
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

pub(super) fn is_dns_name(text: &str) -> bool {
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
