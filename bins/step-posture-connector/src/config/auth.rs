//! The optional per-webhook `Authorization` credentials (`WEBHOOK_BEARER_TOKENS`,
//! `WEBHOOK_BASIC_AUTH` and their `_FILE` forms), read as every declared secret is.
//!
//! Both lists pair with `WEBHOOK_IDS` by position; an empty entry means that webhook sends no
//! `Authorization` header. step-ca sends a bearer token *or* basic credentials, so a webhook
//! with both is refused. When credentials are configured, the header is required in addition
//! to the HMAC, never instead of it.

use posture_settings::Setting;
use smallstep_webhook::Authorization;

use super::{ConfigError, RawEnv, WebhookEntry, settings};

/// One of the two credential lists: its declaration and how an entry is read.
struct List {
    setting: &'static Setting,
    expected: &'static str,
    parse: fn(&str) -> Result<Authorization, String>,
}

const BEARER: List = List {
    setting: &settings::WEBHOOK_BEARER_TOKENS,
    expected: "bearer tokens without spaces, comma-separated in the order of WEBHOOK_IDS (an empty entry for a webhook without one)",
    parse: |token| Authorization::bearer(token).map_err(|err| err.to_string()),
};

const BASIC: List = List {
    setting: &settings::WEBHOOK_BASIC_AUTH,
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
    let bearer = read_list(&BEARER, raw, &ids, errors);
    let basic = read_list(&BASIC, raw, &ids, errors);
    let (Some(bearer), Some(basic)) = (bearer, basic) else {
        return false;
    };
    let mut ok = true;
    for (index, id) in ids.iter().enumerate() {
        let chosen = match (&bearer[index], &basic[index]) {
            (Some(_), Some(_)) => {
                errors.push(ConfigError::secret(
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
    raw: &RawEnv,
    ids: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<Option<Authorization>>> {
    // Elsewhere a blank variable counts as unset; here unset turns the check off, so a
    // `_FILE` variable left blank (a template that expanded to nothing) is refused instead.
    if let Some(file) = list.setting.file_form()
        && raw
            .webhook_credential(file)
            .is_some_and(|path| path.trim().is_empty())
    {
        errors.push(ConfigError::invalid(
            file,
            "",
            format!(
                "the path of a file of {}; unset it for no credentials",
                list.expected
            ),
        ));
        return None;
    }
    // A file may hold one entry per line.
    let text = match raw.webhook_secret(list.setting, errors)? {
        None => return Some(vec![None; ids.len()]),
        Some(text) => text.trim_end().replace('\n', ","),
    };
    if text.trim().is_empty() {
        return Some(vec![None; ids.len()]);
    }
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.len() != ids.len() {
        errors.push(ConfigError::secret(
            list.setting.name,
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
                errors.push(ConfigError::secret(
                    format!(
                        "{} item {} (for webhook ID {id})",
                        list.setting.name,
                        index + 1
                    ),
                    format!("{} ({why})", list.expected),
                ));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashMap;

    use crate::config::Config;

    const ID1: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
    const ID2: &str = "eeff6319-8883-419b-8d9b-0fe227dbe6b4";
    const SECRET: &str =
        "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

    /// A working file-provider configuration with two webhooks, and `extra` on top.
    pub(in crate::config) fn vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
        // Any existing file passes the path checks; nothing is loaded here.
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let mut vars: HashMap<String, String> = [
            ("PROVIDER", "file"),
            ("FILE_PATH", file),
            ("FILE_TYPE", "json"),
            ("TLS_CERT_PATH", file),
            ("TLS_KEY_PATH", file),
            ("WEBHOOK_IDS", &format!("{ID1},{ID2}")),
            ("WEBHOOK_SECRETS", &format!("{SECRET},{SECRET}")),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        vars
    }

    /// `contents` written to the file `name` in a fresh temporary directory, with its path;
    /// the file lasts as long as the directory returned.
    pub(in crate::config) fn temp_file(
        name: &str,
        contents: impl AsRef<[u8]>,
    ) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        (dir, path.display().to_string())
    }

    /// The errors `extra` on top of [`vars`] causes; panics if it is accepted.
    pub(in crate::config) fn errors(extra: &[(&str, &str)]) -> String {
        match Config::from_vars(&vars(extra)) {
            Ok(_) => panic!("{extra:?} was accepted"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn credentials_pair_with_webhook_ids_and_empty_entries_mean_none() {
        let config = Config::from_vars(&vars(&[
            ("WEBHOOK_BEARER_TOKENS", "tok,"),
            ("WEBHOOK_BASIC_AUTH", ",user:pa:ss"),
        ]))
        .unwrap();
        let first = config.webhooks[0].authorization.as_ref().unwrap();
        let second = config.webhooks[1].authorization.as_ref().unwrap();
        assert!(first.is_bearer());
        assert_eq!(first.header_value(), "Bearer tok");
        assert!(second.is_basic());
        // "user:pa:ss": the password keeps its colon.
        assert_eq!(second.header_value(), "Basic dXNlcjpwYTpzcw==");
        // Secrets never reach the debug output.
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("tok\"") && !debug.contains("dXNlcjpwYTpzcw"),
            "{debug}"
        );
        let none = Config::from_vars(&vars(&[])).unwrap();
        assert!(none.webhooks.iter().all(|w| w.authorization.is_none()));
        let blank = Config::from_vars(&vars(&[("WEBHOOK_BEARER_TOKENS", " ")])).unwrap();
        assert!(blank.webhooks.iter().all(|w| w.authorization.is_none()));
    }

    #[test]
    fn credential_files_hold_one_entry_per_line() {
        let (_dir, path) = temp_file("tokens", "first\nsecond\n");
        let config = Config::from_vars(&vars(&[("WEBHOOK_BEARER_TOKENS_FILE", &path)])).unwrap();
        assert_eq!(
            config.webhooks[1]
                .authorization
                .as_ref()
                .unwrap()
                .header_value(),
            "Bearer second"
        );
    }

    #[test]
    fn credentials_with_only_mtls_only_webhooks_are_refused_not_ignored() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let mut vars = vars(&[
            ("ENABLE_MTLS", "1"),
            ("TLS_CA_PATH", file),
            ("MTLS_ALLOWED_NAMES", "ca.example.com"),
            ("WEBHOOK_MTLS_ONLY_IDS", ID1),
            ("WEBHOOK_BASIC_AUTH_FILE", file),
        ]);
        vars.remove("WEBHOOK_IDS");
        vars.remove("WEBHOOK_SECRETS");
        let text = Config::from_vars(&vars).unwrap_err().to_string();
        assert!(
            text.contains(
                "WEBHOOK_BASIC_AUTH is invalid (value not shown, it is a secret): expected unset \
                 with only WEBHOOK_MTLS_ONLY_IDS"
            ),
            "{text}"
        );
        vars.remove("WEBHOOK_BASIC_AUTH_FILE");
        let config = Config::from_vars(&vars).unwrap();
        assert_eq!(config.webhooks.len(), 1);
    }

    #[test]
    fn an_empty_credentials_file_is_refused_not_taken_for_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        for blank in ["\n", " \n\n"] {
            std::fs::write(&path, blank).unwrap();
            let path = path.to_str().unwrap();
            for variable in ["WEBHOOK_BEARER_TOKENS_FILE", "WEBHOOK_BASIC_AUTH_FILE"] {
                let text = errors(&[(variable, path)]);
                assert!(
                    text.contains(&format!("{variable}=\"{path}\" is invalid")),
                    "{text}"
                );
                assert!(text.contains("the file is empty"), "{text}");
            }
        }
        for blank in ["", "  "] {
            let text = errors(&[("WEBHOOK_BEARER_TOKENS_FILE", blank)]);
            assert!(
                text.contains(
                    "WEBHOOK_BEARER_TOKENS_FILE=\"\" is invalid: expected the path of a file of \
                     bearer tokens"
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_credentials_are_reported_without_their_value() {
        let text = errors(&[("WEBHOOK_BEARER_TOKENS", "only-one")]);
        assert!(text.contains("WEBHOOK_BEARER_TOKENS"), "{text}");
        assert!(text.contains("1 entries for 2 webhook IDs"), "{text}");
        assert!(!text.contains("only-one"), "{text}");

        let text = errors(&[("WEBHOOK_BEARER_TOKENS", "has space,ok")]);
        assert!(text.contains("WEBHOOK_BEARER_TOKENS item 1"), "{text}");
        assert!(!text.contains("has space"), "{text}");

        let text = errors(&[("WEBHOOK_BASIC_AUTH", "nocolon,")]);
        assert!(text.contains("WEBHOOK_BASIC_AUTH item 1"), "{text}");
        assert!(!text.contains("nocolon"), "{text}");

        let text = errors(&[
            ("WEBHOOK_BEARER_TOKENS", "a,"),
            ("WEBHOOK_BASIC_AUTH", "u:p,"),
        ]);
        assert!(text.contains("not both"), "{text}");

        let text = errors(&[
            ("WEBHOOK_BEARER_TOKENS", "a,b"),
            ("WEBHOOK_BEARER_TOKENS_FILE", "/nonexistent"),
        ]);
        assert!(
            text.contains(
                "WEBHOOK_BEARER_TOKENS is invalid (value not shown, it is a secret): expected \
                 either WEBHOOK_BEARER_TOKENS or WEBHOOK_BEARER_TOKENS_FILE, not both"
            ),
            "{text}"
        );

        let text = errors(&[("WEBHOOK_BASIC_AUTH_FILE", "/nonexistent/basic")]);
        assert!(
            text.contains("WEBHOOK_BASIC_AUTH_FILE=\"/nonexistent/basic\""),
            "{text}"
        );
    }

    #[test]
    fn secret_files_are_read_up_to_a_bound() {
        let (_dir, path) = temp_file(
            "big",
            vec![b'a'; posture_settings::MAX_SECRET_FILE_BYTES as usize + 1],
        );
        let mut vars = vars(&[("WEBHOOK_SECRETS_FILE", &path)]);
        vars.remove("WEBHOOK_SECRETS");
        let text = Config::from_vars(&vars).unwrap_err().to_string();
        assert!(text.contains("larger than 65536 bytes"), "{text}");
        // A device that never ends, such as /dev/zero, is refused rather than read forever.
        if std::path::Path::new("/dev/zero").exists() {
            vars.insert("WEBHOOK_SECRETS_FILE".to_owned(), "/dev/zero".to_owned());
            let text = Config::from_vars(&vars).unwrap_err().to_string();
            assert!(text.contains("larger than"), "{text}");
        }
    }

    #[test]
    fn limits_have_documented_defaults_and_bounds() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.limits.idle_timeout.as_secs(), 120);
        assert!(
            config.limits.idle_timeout.as_secs() > 90,
            "longer than step-ca's idle timeout"
        );
        assert_eq!(config.limits.max_headers, 64);
        assert_eq!(config.limits.max_header_bytes, 16 * 1024);
        let config = Config::from_vars(&vars(&[
            ("IDLE_TIMEOUT", "300"),
            ("MAX_HEADERS", "32"),
            ("MAX_HEADER_BYTES", "8192"),
        ]))
        .unwrap();
        assert_eq!(config.limits.idle_timeout.as_secs(), 300);
        assert_eq!(config.limits.max_headers, 32);
        assert_eq!(config.limits.max_header_bytes, 8192);
        for (name, value) in [
            ("IDLE_TIMEOUT", "0"),
            ("MAX_HEADERS", "8"),
            ("MAX_HEADERS", "many"),
            ("MAX_HEADER_BYTES", "100"),
        ] {
            let text = errors(&[(name, value)]);
            assert!(
                text.contains(&format!("{name}={value:?} is invalid")),
                "{text}"
            );
        }
    }
}
