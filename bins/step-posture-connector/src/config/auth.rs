//! The optional per-webhook `Authorization` credentials (`WEBHOOK_BEARER_TOKENS`,
//! `WEBHOOK_BASIC_AUTH` and their `_FILE` forms), and bounded reads of secret files.
//!
//! Both lists pair with `WEBHOOK_IDS` by position; an empty entry means that webhook sends no
//! `Authorization` header. step-ca sends a bearer token *or* basic credentials, so a webhook
//! with both is refused. When credentials are configured, the header is required in addition
//! to the HMAC, never instead of it.

use std::io::Read;
use std::path::Path;

use smallstep_webhook::Authorization;

use super::{ConfigError, RawEnv, WebhookEntry};

/// The largest secret file read. Secrets are a few hundred bytes; the cap keeps a path such
/// as `/dev/zero` from exhausting memory.
pub(super) const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a secrets file of at most [`MAX_SECRET_FILE_BYTES`], as UTF-8.
pub(super) fn read_secret_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let mut text = String::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|err| err.to_string())?;
    if text.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!("larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// One of the two credential lists: its variable names and how an entry is read.
struct List {
    variable: &'static str,
    file_variable: &'static str,
    expected: &'static str,
    parse: fn(&str) -> Result<Authorization, String>,
}

const BEARER: List = List {
    variable: "WEBHOOK_BEARER_TOKENS",
    file_variable: "WEBHOOK_BEARER_TOKENS_FILE",
    expected: "bearer tokens without spaces, comma-separated in the order of WEBHOOK_IDS (an empty entry for a webhook without one)",
    parse: |token| Authorization::bearer(token).map_err(|err| err.to_string()),
};

const BASIC: List = List {
    variable: "WEBHOOK_BASIC_AUTH",
    file_variable: "WEBHOOK_BASIC_AUTH_FILE",
    expected: "username:password entries, comma-separated in the order of WEBHOOK_IDS (an empty entry for a webhook without one)",
    parse: |entry| match entry.split_once(':') {
        Some((user, password)) => {
            Authorization::basic(user, password).map_err(|err| err.to_string())
        }
        None => Err("no colon between username and password".to_owned()),
    },
};

/// Reads both credential lists and sets each entry's `authorization`. Returns whether every
/// value was valid; problems go to `errors`, never with the secret value.
pub(super) fn apply_authorizations(
    raw: &RawEnv,
    entries: &mut [WebhookEntry],
    errors: &mut Vec<ConfigError>,
) -> bool {
    let ids: Vec<&str> = raw
        .webhook_ids
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    let bearer = read_list(
        &BEARER,
        &raw.webhook_bearer_tokens,
        &raw.webhook_bearer_tokens_file,
        &ids,
        errors,
    );
    let basic = read_list(
        &BASIC,
        &raw.webhook_basic_auth,
        &raw.webhook_basic_auth_file,
        &ids,
        errors,
    );
    let (Some(bearer), Some(basic)) = (bearer, basic) else {
        return false;
    };
    let mut ok = true;
    for (index, id) in ids.iter().enumerate() {
        let chosen = match (&bearer[index], &basic[index]) {
            (Some(_), Some(_)) => {
                errors.push(ConfigError::invalid_secret(
                    format!("WEBHOOK_BEARER_TOKENS and WEBHOOK_BASIC_AUTH item {} (for webhook ID {id})", index + 1),
                    "a bearer token or basic credentials for a webhook, not both (step-ca sends one Authorization header)",
                ));
                ok = false;
                continue;
            }
            (Some(auth), None) | (None, Some(auth)) => Some(auth.clone()),
            (None, None) => None,
        };
        if let Some(entry) = entries.iter_mut().find(|entry| entry.id == *id) {
            entry.authorization = chosen;
        }
    }
    ok
}

/// One list, as many entries as `ids`: `None` where an entry is empty. `None` overall when
/// the list is invalid (reported in `errors`); all `None` when it is not set.
fn read_list(
    list: &List,
    inline: &Option<String>,
    file: &Option<String>,
    ids: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<Option<Authorization>>> {
    let text = match (inline, file) {
        (None, None) => return Some(vec![None; ids.len()]),
        (Some(text), None) => text.clone(),
        (None, Some(path)) => match read_secret_file(Path::new(path)) {
            // A file may hold one entry per line.
            Ok(text) => text.trim_end().replace('\n', ","),
            Err(err) => {
                errors.push(ConfigError::invalid(
                    list.file_variable,
                    path,
                    format!("a readable file of {} ({err})", list.expected),
                ));
                return None;
            }
        },
        (Some(_), Some(_)) => {
            errors.push(ConfigError::invalid_secret(
                format!("{} and {}", list.variable, list.file_variable),
                "only one of the two",
            ));
            return None;
        }
    };
    if text.trim().is_empty() {
        return Some(vec![None; ids.len()]);
    }
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.len() != ids.len() {
        errors.push(ConfigError::invalid_secret(
            list.variable,
            format!(
                "{} ({} entries for {} webhook IDs)",
                list.expected,
                items.len(),
                ids.len()
            ),
        ));
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (index, (item, id)) in items.iter().zip(ids).enumerate() {
        if item.is_empty() {
            out.push(None);
            continue;
        }
        match (list.parse)(item) {
            Ok(auth) => out.push(Some(auth)),
            Err(why) => {
                errors.push(ConfigError::invalid_secret(
                    format!("{} item {} (for webhook ID {id})", list.variable, index + 1),
                    format!("{} ({why})", list.expected),
                ));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}
