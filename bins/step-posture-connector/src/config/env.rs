//! Reading the server's own variables: their raw text ([`RawEnv`]) for the checks that span
//! several, the declared ones through [`Declared`], and declared secrets through the settings
//! layer's one secret reader ([`declared_secret`]).

use std::collections::HashMap;

use posture_settings::{Reader, Setting};

use super::{ConfigError, settings};

/// The text of the server's own variables, as given (untrimmed; `None` when unset), for the
/// checks that need more than a declaration: the provider list, and the webhook lists that
/// must line up.
#[derive(Debug, Default)]
pub(super) struct RawEnv {
    pub(super) provider: Option<String>,
    pub(super) mtls_allowed_names: Option<String>,
    pub(super) webhook_ids: Option<String>,
    pub(super) webhook_secrets: Option<String>,
    pub(super) webhook_secrets_file: Option<String>,
    pub(super) webhook_mtls_only_ids: Option<String>,
    pub(super) webhook_bearer_tokens: Option<String>,
    pub(super) webhook_bearer_tokens_file: Option<String>,
    pub(super) webhook_basic_auth: Option<String>,
    pub(super) webhook_basic_auth_file: Option<String>,
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
            mtls_allowed_names: get(settings::MTLS_ALLOWED_NAMES.name),
            webhook_ids: get(settings::WEBHOOK_IDS.name),
            webhook_secrets: get(settings::WEBHOOK_SECRETS.name),
            webhook_secrets_file: settings::WEBHOOK_SECRETS.file_form().and_then(get),
            webhook_mtls_only_ids: get(settings::WEBHOOK_MTLS_ONLY_IDS.name),
            webhook_bearer_tokens: get(settings::WEBHOOK_BEARER_TOKENS.name),
            webhook_bearer_tokens_file: settings::WEBHOOK_BEARER_TOKENS.file_form().and_then(get),
            webhook_basic_auth: get(settings::WEBHOOK_BASIC_AUTH.name),
            webhook_basic_auth_file: settings::WEBHOOK_BASIC_AUTH.file_form().and_then(get),
        }
    }
}

impl RawEnv {
    /// The raw text of one of the webhook credential variables (`WEBHOOK_SECRETS`,
    /// `WEBHOOK_BEARER_TOKENS`, `WEBHOOK_BASIC_AUTH` or a `_FILE` form of them).
    pub(super) fn webhook_credential(&self, name: &str) -> Option<&str> {
        [
            (
                &settings::WEBHOOK_SECRETS,
                &self.webhook_secrets,
                &self.webhook_secrets_file,
            ),
            (
                &settings::WEBHOOK_BEARER_TOKENS,
                &self.webhook_bearer_tokens,
                &self.webhook_bearer_tokens_file,
            ),
            (
                &settings::WEBHOOK_BASIC_AUTH,
                &self.webhook_basic_auth,
                &self.webhook_basic_auth_file,
            ),
        ]
        .into_iter()
        .find_map(|(declared, inline, file)| {
            if name == declared.name {
                Some(inline)
            } else if declared.file_form() == Some(name) {
                Some(file)
            } else {
                None
            }
        })?
        .as_deref()
    }

    /// Whether `setting`, one of the webhook credentials, is set in either form.
    pub(super) fn webhook_credential_given(&self, setting: &Setting) -> bool {
        self.webhook_credential(setting.name).is_some()
            || setting
                .file_form()
                .is_some_and(|file| self.webhook_credential(file).is_some())
    }

    /// One of the webhook credential secrets, inline or from its `_FILE` form, read by
    /// [`declared_secret`].
    pub(super) fn webhook_secret(
        &self,
        setting: &Setting,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Option<String>> {
        let get = |name: &str| self.webhook_credential(name).map(str::to_owned);
        declared_secret(&get, setting, errors)
    }
}

/// A declared secret, inline or from its `_FILE` form (a size-capped read), as every
/// provider reads its own: `Some(None)` when neither is set and it is optional, `None` after
/// recording the problem.
pub(super) fn declared_secret(
    get: &dyn Fn(&str) -> Option<String>,
    setting: &Setting,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<String>> {
    let mut reader = Reader::new(get);
    let secret = reader.secret(setting);
    errors.extend(reader.take_problems());
    secret
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

    /// Reads `setting` with `read`: the [`Reader`] method for its kind (such as
    /// `Reader::seconds`), or [`Reader::parsed`] with the value's own rules.
    pub(super) fn read<T>(
        &mut self,
        read: impl FnOnce(&mut Reader<'a>, &Setting) -> Option<T>,
        setting: &Setting,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let value = read(&mut self.reader, setting);
        errors.extend(self.reader.take_problems());
        value
    }
}
