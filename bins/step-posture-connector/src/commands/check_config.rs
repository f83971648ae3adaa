//! `check-config`: the configuration validated and the provider bootstrapped, summarised
//! with secrets redacted.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;

use super::{build_provider, build_verifier, ready_with_tls};
use crate::config::Config;
use crate::error::{OrFail as _, ServerError};
use crate::handler::{JAMF_EVENTS_PATH, SCEP_CHALLENGE_PATH, SCEP_NOTIFY_PATH};
use crate::providers::Providers;
use crate::reload::{self};
use crate::tls::TlsState;

/// `check-config`: validates the configuration, loads the TLS files, bootstraps the
/// provider, and returns a summary with secrets redacted, as the command prints it.
///
/// ```
/// use std::collections::HashMap;
/// use step_posture_connector::ServerError;
/// use step_posture_connector::commands::check_config;
/// use step_posture_connector::providers::Providers;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let vars: HashMap<String, String> = [("PROVIDER".to_owned(), "nosuch".to_owned())].into();
/// let err = check_config(&vars, &Providers::builtin()).await.unwrap_err();
/// assert!(matches!(err, ServerError::Config(_)));
/// assert!(err.to_string().contains("PROVIDER"));
/// # });
/// ```
pub async fn check_config(
    vars: &HashMap<String, String>,
    providers: &Providers,
) -> Result<String, ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    // The same steps, in the same order and with the same errors, as `Server::bind`.
    let provider = build_provider(&config.provider).or_fail(ServerError::Provider)?;
    let tls = ready_with_tls(provider.as_ref(), &config).await?;
    build_verifier(&config).or_fail(ServerError::Other)?;
    let mut report = provider.report();
    if let Some(intune) = config.scep.as_ref().and_then(|s| s.intune.as_deref()) {
        let line = check_intune_scep(intune, config.timeout).await;
        report.push(line.or_fail(ServerError::Network)?);
    }
    Ok(summary(&config, &tls, &report))
}

fn summary(config: &Config, tls: &TlsState, report: &[String]) -> String {
    let mut lines = vec!["configuration OK".to_owned()];
    let choice = &config.provider;
    if let [only] = choice.members.as_slice() {
        lines.push(format!("provider: {} (ready)", only.name));
    } else {
        lines.push(format!(
            "providers: {} with POLICY={} (ready)",
            choice.names().join(","),
            choice.policy
        ));
    }
    for member in &choice.members {
        lines.extend(wrap_settings(&member.declared));
        lines.extend(
            member
                .setup
                .summary()
                .into_iter()
                .map(|line| format!("  {line}")),
        );
    }
    for line in report {
        lines.push(format!("  {line}"));
    }
    lines.push(format!("listen: {}", config.listen));
    lines.push(format!(
        "TLS certificate: {} (SHA-256 {}){}",
        config.tls.cert_path.display(),
        tls.fingerprint,
        if tls.certificate_is_current() {
            ""
        } else {
            " EXPIRED"
        }
    ));
    match &config.tls.mtls {
        None => lines.push("mTLS: off".to_owned()),
        Some(mtls) => lines.push(format!(
            "mTLS: on, CA {}, allowed names {:?}, serverAuth EKU {}",
            mtls.ca_path.display(),
            mtls.allowed_names,
            if mtls.require_server_auth {
                "required"
            } else {
                "not required"
            }
        )),
    }
    for entry in &config.webhooks {
        let authorization = match &entry.authorization {
            Some(auth) if auth.is_bearer() => ", bearer token required",
            Some(_) => ", basic credentials required",
            None => "",
        };
        lines.push(format!(
            "webhook: {} (secret set, not shown{authorization})",
            entry.id
        ));
    }
    lines.push(scep_summary(config.scep.as_ref()));
    if config.jamf_webhook_secret.is_some() {
        lines.push(format!(
            "Jamf change notifications: POST {JAMF_EVENTS_PATH} on the webhook port \
             (JAMF_WEBHOOK_SECRET as Basic password or bearer token)"
        ));
    }
    lines.push(format!("TIMEOUT: {} s", config.timeout.as_secs()));
    lines.push(match config.metrics_addr {
        Some(addr) => format!("metrics: http://{addr}/metrics (also /livez and /readyz)"),
        None => "metrics: off (set METRICS_ADDR to serve them)".to_owned(),
    });
    lines.push(match config.auth_throttle {
        Some(throttle) => format!(
            "failed authentications: {} per client address per {} s, then answered 429",
            throttle.limit,
            throttle.window.as_secs()
        ),
        None => "failed authentications: not throttled (AUTH_FAILURE_LIMIT=0)".to_owned(),
    });
    lines.push(if config.reload_interval.is_zero() {
        "reload: on SIGHUP only (RELOAD_INTERVAL=0)".to_owned()
    } else {
        format!(
            "reload: on SIGHUP and when the files change (checked every {} s)",
            config.reload_interval.as_secs()
        )
    });
    lines.push(format!(
        "  a changed file is loaded once unchanged for RELOAD_SETTLE={} s (SIGHUP waits up to {} s)",
        config.reload_settle.as_secs(),
        (config.reload_settle * reload::SIGHUP_SETTLE_FACTOR).as_secs()
    ));
    for warning in config.warnings() {
        lines.push(format!("warning: {warning}"));
    }
    lines.join("\n")
}

/// Obtains both tokens (Graph and the Intune API) and resolves the service URL, as the
/// first SCEPCHALLENGE would.
async fn check_intune_scep(
    config: &posture_intune::scep::IntuneScepConfig,
    timeout: Duration,
) -> anyhow::Result<String> {
    let client = posture_intune::scep::IntuneScepClient::new(config)
        .context("the Intune SCEP validation client")?;
    // Two tokens and a discovery: three calls in a row.
    let url = tokio::time::timeout(timeout * 3, client.check_ready())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "Intune SCEP validation: no answer within {} s",
                (timeout * 3).as_secs()
            )
        })?
        .context("Intune SCEP validation (SCEP_CHALLENGE=intune)")?;
    Ok(format!(
        "SCEP intune: tokens for Microsoft Graph and {} obtained; ScepRequestValidationFEService at {url}{}",
        config.scope(),
        if config.service_url().is_some() {
            " (INTUNE_SCEP_SERVICE_URL)"
        } else {
            " (discovered)"
        }
    ))
}

fn scep_summary(scep: Option<&crate::config::ScepSettings>) -> String {
    let Some(scep) = scep else {
        return format!(
            "SCEP: off (set SCEP_CHALLENGE to serve {SCEP_CHALLENGE_PATH} and {SCEP_NOTIFY_PATH})"
        );
    };
    let join = |items: Vec<&str>| items.join(",");
    let mut line = format!(
        "SCEP: SCEP_CHALLENGE={} SCEP_IDENTIFIER={} SCEP_POSTURE={}",
        join(scep.methods.iter().map(|m| m.as_str()).collect()),
        join(scep.identifiers.iter().map(|i| i.as_str()).collect()),
        u8::from(scep.posture)
    );
    if scep.static_challenge.is_some() {
        line.push_str(" static challenge set (not shown)");
    }
    if !scep.challenge_keys.is_empty() {
        line.push_str(&format!(
            " SCEP_CHALLENGE_TTL={} s, {} signing key(s) (not shown)",
            scep.challenge_ttl.as_secs(),
            scep.challenge_keys.len()
        ));
    }
    if let Some(intune) = scep.intune.as_deref() {
        line.push_str(&format!(
            " INTUNE_SCEP_SCOPE={} INTUNE_SCEP_SERVICE_URL={}",
            intune.scope(),
            intune
                .service_url()
                .map_or("(discovered through Microsoft Graph)", |u| u.as_str())
        ));
    }
    match &scep.issuer_credentials {
        Some(credentials) => line.push_str(&format!(
            "; issuing routes {} and {} for user {:?}",
            crate::scep::issuer::JAMF_PATH,
            crate::scep::issuer::NDES_PATH,
            credentials.username
        )),
        None => line.push_str("; issuing routes off (SCEP_ISSUER_BASIC_AUTH unset)"),
    }
    line
}

/// `NAME=value` entries on indented lines of about 100 characters.
fn wrap_settings(entries: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for entry in entries {
        match lines.last_mut() {
            Some(line) if line.len() + entry.len() < 100 => {
                line.push(' ');
                line.push_str(entry);
            }
            _ => lines.push(format!("  {entry}")),
        }
    }
    lines
}
