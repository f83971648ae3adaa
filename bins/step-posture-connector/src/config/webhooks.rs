//! The webhooks' settings: IDs with their secrets (or `_FILE` forms), the mTLS-only IDs,
//! and the Jamf Pro change notifications' secret.

use std::collections::HashMap;

use smallstep_webhook::WebhookSecret;

use posture_http::env::is_guid;
use posture_settings::split_list;

use super::env::{RawEnv, declared_secret};
use super::{
    ConfigError, JamfWebhookSecret, MIN_SECRET_BYTES, ProviderChoice, WebhookEntry, auth, settings,
};

/// `JAMF_WEBHOOK_SECRET` (or `_FILE`): long enough, and set only where it can work, with
/// the Jamf provider syncing (without sync every lookup reads Jamf already).
pub(super) fn jamf_webhook_secret(
    vars: &HashMap<String, String>,
    provider: Option<&ProviderChoice>,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<JamfWebhookSecret>> {
    let setting = &settings::JAMF_WEBHOOK_SECRET;
    let get = |name: &str| vars.get(name).cloned();
    let text = match declared_secret(&get, setting, errors)? {
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

/// Entries for `WEBHOOK_MTLS_ONLY_IDS` not in `skip`: step-ca's empty `ca.json` key.
pub(super) fn mtls_only_entries(ids: &[String], skip: &[String]) -> Vec<WebhookEntry> {
    ids.iter()
        .filter(|id| !skip.contains(id))
        .map(|id| WebhookEntry {
            id: id.clone(),
            secret: WebhookSecret::ca_json_empty_key(),
            authorization: None,
        })
        .collect()
}

pub(super) fn webhook_entries(
    raw: &RawEnv,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<WebhookEntry>> {
    const SECRET_EXPECTED: &str = "the base64 secret that `step ca provisioner webhook add` printed (88 characters ending in ==)";
    let ids_text = raw.webhook_ids.as_deref().map(str::trim).unwrap_or("");
    let mtls_only = split_list(raw.webhook_mtls_only_ids.as_deref().unwrap_or(""));
    if ids_text.is_empty()
        && raw.webhook_secrets.is_none()
        && raw.webhook_secrets_file.is_none()
        && !mtls_only.is_empty()
    {
        // The credential lists pair with WEBHOOK_IDS by position: with none, they would be
        // ignored, which an operator who set them would not expect.
        let credentials: Vec<&str> = [
            &settings::WEBHOOK_BEARER_TOKENS,
            &settings::WEBHOOK_BASIC_AUTH,
        ]
        .into_iter()
        .filter(|setting| raw.webhook_credential_given(setting))
        .map(|setting| setting.name)
        .collect();
        if credentials.is_empty() {
            return Some(mtls_only_entries(&mtls_only, &[]));
        }
        for name in credentials {
            errors.push(ConfigError::secret(
                name,
                "unset with only WEBHOOK_MTLS_ONLY_IDS: its entries pair with WEBHOOK_IDS, and \
                 mTLS-only webhooks are authenticated by step-ca's client certificate",
            ));
        }
        return None;
    }
    if ids_text.is_empty() {
        errors.push(ConfigError::missing(
            "WEBHOOK_IDS",
            "a comma-separated list of step-ca webhook IDs (UUIDs)",
        ));
    }
    // Declared required: when unset, the problem says what to set.
    let secrets_text = raw
        .webhook_secret(&settings::WEBHOOK_SECRETS, errors)
        .flatten();
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
        if !is_guid(id) {
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
