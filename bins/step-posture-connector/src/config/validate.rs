//! Validation of the whole configuration: every variable read, every problem collected.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use posture_settings::{Reader, Setting};

use posture_settings::split_list;

use super::env::{Declared, RawEnv};
use super::tls::tls_settings;
use super::webhooks::{jamf_webhook_secret, webhook_entries};
use super::{
    AuthThrottleSettings, Config, ConfigError, Limits, LogFormat, PER_ADDRESS_SHARE,
    ProviderChoice, ProviderMember, scep, settings,
};
use crate::providers::Providers;

pub(super) fn validate(
    raw: RawEnv,
    vars: &HashMap<String, String>,
    providers: &Providers,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let get = |name: &str| vars.get(name).cloned();
    let mut declared = Declared::new(&get);
    let timeout = declared.read(Reader::seconds, &settings::TIMEOUT, errors);
    let provider = provider_choice(&raw, &mut declared, vars, providers, errors);
    let tls = tls_settings(&raw, &mut declared, errors);
    let webhooks = webhook_entries(&raw, errors);
    let port = declared.read(Reader::number, &settings::PORT, errors);
    let bind = declared
        .read(
            |reader, setting| reader.parsed(setting, |text| parsed_as(setting, text)),
            &settings::BIND_ADDRESS,
            errors,
        )
        .map(|bind| bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    let logging_level = declared
        .read(Reader::choice, &settings::LOGGING_LEVEL, errors)
        .and_then(|level| level.parse::<u8>().ok());
    let log_format = declared
        .read(Reader::choice, &settings::LOG_FORMAT, errors)
        .map(|format| match format {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        });
    let defaults = Limits::default();
    let max_body_bytes = declared.read(Reader::number, &settings::MAX_BODY_BYTES, errors);
    let max_connections = declared.read(Reader::number, &settings::MAX_CONNECTIONS, errors);
    let max_connections_per_address = per_address(
        &mut declared,
        max_connections.unwrap_or(defaults.max_connections as u64),
        errors,
    );
    let handshake_timeout =
        declared.read(Reader::seconds, &settings::TLS_HANDSHAKE_TIMEOUT, errors);
    let header_read_timeout =
        declared.read(Reader::seconds, &settings::HEADER_READ_TIMEOUT, errors);
    let idle_timeout = declared.read(Reader::seconds, &settings::IDLE_TIMEOUT, errors);
    let max_headers = declared.read(Reader::number, &settings::MAX_HEADERS, errors);
    let max_header_bytes = declared.read(Reader::number, &settings::MAX_HEADER_BYTES, errors);
    let max_request_age = declared.read(Reader::seconds, &settings::MAX_REQUEST_AGE, errors);
    let max_clock_skew = declared.read(Reader::seconds, &settings::MAX_CLOCK_SKEW, errors);
    let metrics_addr = declared.read(
        |reader, setting| reader.parsed(setting, |text| parsed_as(setting, text)),
        &settings::METRICS_ADDR,
        errors,
    );
    let reload_interval = declared.read(Reader::seconds, &settings::RELOAD_INTERVAL, errors);
    let scep = scep::scep_settings(vars, errors);
    if !split_list(raw.webhook_mtls_only_ids.as_deref().unwrap_or("")).is_empty() {
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
    let reload_settle = declared.read(Reader::seconds, &settings::RELOAD_SETTLE, errors);
    let jamf_webhook_secret = jamf_webhook_secret(vars, provider.as_ref(), errors);
    let auth_failure_limit = declared.read(Reader::number, &settings::AUTH_FAILURE_LIMIT, errors);
    let auth_failure_window =
        declared.read(Reader::seconds, &settings::AUTH_FAILURE_WINDOW, errors);

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

/// `MAX_CONNECTIONS_PER_ADDRESS`: 0 (no limit) up to `MAX_CONNECTIONS`; a quarter of it by
/// default.
pub(super) fn per_address(
    declared: &mut Declared<'_>,
    max_connections: u64,
    errors: &mut Vec<ConfigError>,
) -> Option<u64> {
    declared
        .read(
            |reader, setting| {
                reader.parsed(setting, |text| {
                    text.parse::<u64>()
                        .ok()
                        .filter(|n| *n <= max_connections)
                        .ok_or_else(|| {
                            format!(
                                "0 (no limit) or a number of connections from 1 to \
                                 MAX_CONNECTIONS ({max_connections})"
                            )
                        })
                })
            },
            &settings::MAX_CONNECTIONS_PER_ADDRESS,
            errors,
        )
        .map(|n| n.unwrap_or(max_connections.div_ceil(PER_ADDRESS_SHARE as u64)))
}

/// `text` as a `T` (an address), or what `setting` expects.
fn parsed_as<T: std::str::FromStr>(setting: &Setting, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| setting.expected())
}

/// What `PROVIDER` may name, given the kinds the server was built with.
pub(super) fn provider_expected(providers: &Providers) -> String {
    let names = providers.names();
    let list = match names.as_slice() {
        [] => "a provider".to_owned(),
        names => posture_settings::one_of(names),
    };
    match names.as_slice() {
        [first, second, ..] => format!(
            "{list}, or several of them separated by commas (such as {first},{second}) with POLICY=all or any"
        ),
        _ => list,
    }
}

pub(super) fn provider_choice(
    raw: &RawEnv,
    declared: &mut Declared<'_>,
    vars: &HashMap<String, String>,
    providers: &Providers,
    errors: &mut Vec<ConfigError>,
) -> Option<ProviderChoice> {
    let text = raw.provider.as_deref().map(str::trim).unwrap_or("");
    let policy = declared
        .read(Reader::choice, &settings::POLICY, errors)
        .and_then(|name| name.parse::<posture_core::Policy>().ok());
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
