//! The SCEP gate's settings (`SCEP_*`), read from the variables directly.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;

use posture_settings::{Reader, Setting, spelled_list};

use super::env::declared_secret;

use super::ConfigError;

/// The shortest static challenge accepted.
const MIN_STATIC_CHALLENGE: usize = 16;
/// The shortest signing key accepted, in decoded bytes.
const MIN_CHALLENGE_KEY: usize = 32;

posture_settings::spelled_enum! {
    /// How a SCEP client's challenge password can pass (`SCEP_CHALLENGE`).
    #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
    #[non_exhaustive]
    pub enum ChallengeMethod {
        /// One shared password, `SCEP_STATIC_CHALLENGE`.
        Static = "static",
        /// Challenges this server issues and signs with `SCEP_CHALLENGE_KEY`.
        Signed = "signed",
        /// Microsoft Intune's SCEP validation service.
        Intune = "intune",
    }
    /// A `SCEP_CHALLENGE` entry that is not a [`ChallengeMethod`].
    pub struct UnknownChallengeMethod("challenge method");
    parse: any_case
}

posture_settings::spelled_enum! {
    /// Where the device's identifier is read from in a SCEP CSR (`SCEP_IDENTIFIER`).
    #[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
    #[non_exhaustive]
    pub enum IdentifierSource {
        /// The subject's serialNumber attribute (OID 2.5.4.5).
        SerialNumber = "serialNumber",
        /// The subject's common name.
        CommonName = "commonName",
        /// A URI subject alternative name.
        Uri = "uri",
    }
    /// A `SCEP_IDENTIFIER` entry that is not an [`IdentifierSource`].
    pub struct UnknownIdentifierSource("identifier source");
    parse: any_case
}

/// A secret that never shows in `Debug`.
#[derive(Clone)]
pub struct Hidden(pub(crate) Vec<u8>);

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} bytes, not shown]", self.0.len())
    }
}

impl Hidden {
    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// Basic credentials for the challenge-issuing routes (`SCEP_ISSUER_BASIC_AUTH`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IssuerCredentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Hidden,
}

/// The SCEP gate's settings; present when `SCEP_CHALLENGE` is set.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ScepSettings {
    /// `SCEP_CHALLENGE`: the methods a challenge may pass, in order.
    pub methods: Vec<ChallengeMethod>,
    /// `SCEP_STATIC_CHALLENGE` (or `_FILE`).
    pub static_challenge: Option<Hidden>,
    /// `SCEP_CHALLENGE_KEY` (or `_FILE`): signing keys, the one that signs first.
    pub challenge_keys: Vec<Hidden>,
    /// `SCEP_CHALLENGE_TTL`.
    pub challenge_ttl: Duration,
    /// `SCEP_IDENTIFIER`.
    pub identifiers: Vec<IdentifierSource>,
    /// `SCEP_POSTURE`.
    pub posture: bool,
    /// `SCEP_ISSUER_BASIC_AUTH` (or `_FILE`).
    pub issuer_credentials: Option<IssuerCredentials>,
    /// `SCEP_ISSUER_ADDR`: a TLS listener of its own for the issuing routes, without client
    /// certificates, so an MDM in the cloud can reach them while the webhook port stays
    /// private.
    pub issuer_addr: Option<SocketAddr>,
    /// With `intune` in `SCEP_CHALLENGE`: the Intune tenant and app (`INTUNE_*`), and
    /// `INTUNE_SCEP_SCOPE` / `INTUNE_SCEP_SERVICE_URL`.
    pub intune: Option<Box<posture_intune::scep::IntuneScepConfig>>,
}

posture_settings::declare! {
    /// the Intune SCEP validation service's resource with /.default
    const INTUNE_SCEP_SCOPE = text("INTUNE_SCEP_SCOPE");
    /// the validation service URL, instead of discovering it through Graph
    const INTUNE_SCEP_SERVICE_URL = url("INTUNE_SCEP_SERVICE_URL");
}

/// The variables of Intune SCEP validation beside the Intune provider's.
pub(crate) const INTUNE_SCEP_SETTINGS: &[Setting] = &[INTUNE_SCEP_SCOPE, INTUNE_SCEP_SERVICE_URL];

posture_settings::declare! {
    /// how long a signed challenge stays valid
    const SCEP_CHALLENGE_TTL = seconds("SCEP_CHALLENGE_TTL", 3600, 60, 7 * 86_400);
    /// also ask the provider about the device the CSR names
    const SCEP_POSTURE = flag("SCEP_POSTURE", true);
    /// the challenge methods, in order: static, signed and/or intune
    const SCEP_CHALLENGE = text("SCEP_CHALLENGE");
    /// the one challenge password every device sends
    const SCEP_STATIC_CHALLENGE = secret("SCEP_STATIC_CHALLENGE", "SCEP_STATIC_CHALLENGE_FILE")
        .optional();
    /// signing keys of signed challenges, the one that signs first
    const SCEP_CHALLENGE_KEY = secret("SCEP_CHALLENGE_KEY", "SCEP_CHALLENGE_KEY_FILE").optional();
    /// where the CSR names the device, in order (default: serialNumber, then CN)
    const SCEP_IDENTIFIER = list("SCEP_IDENTIFIER");
    /// username:password the MDM sends to the challenge-issuing routes
    const SCEP_ISSUER_BASIC_AUTH = secret("SCEP_ISSUER_BASIC_AUTH", "SCEP_ISSUER_BASIC_AUTH_FILE")
        .optional();
    /// a TLS listener of its own for the challenge-issuing routes
    const SCEP_ISSUER_ADDR = text("SCEP_ISSUER_ADDR")
        .expecting("an IP address and port such as 0.0.0.0:9444");
}

/// Every `SCEP_*` variable; `SCEP_CHALLENGE` first, which the others need.
pub(crate) const SCEP_SETTINGS: &[Setting] = &[
    SCEP_CHALLENGE,
    SCEP_STATIC_CHALLENGE,
    SCEP_CHALLENGE_KEY,
    SCEP_CHALLENGE_TTL,
    SCEP_IDENTIFIER,
    SCEP_POSTURE,
    SCEP_ISSUER_BASIC_AUTH,
    SCEP_ISSUER_ADDR,
];

/// Reads the `SCEP_*` variables. `Some(None)` when `SCEP_CHALLENGE` is unset (no SCEP gate);
/// `None` after recording every problem.
pub(crate) fn scep_settings(
    vars: &HashMap<String, String>,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<ScepSettings>> {
    let value = |name: &str| {
        vars.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(methods_text) = value("SCEP_CHALLENGE") else {
        let stray: Vec<&str> = posture_settings::variable_names(&SCEP_SETTINGS[1..])
            .iter()
            .copied()
            .filter(|name| value(name).is_some())
            .collect();
        if !stray.is_empty() {
            errors.push(ConfigError::missing(
                "SCEP_CHALLENGE",
                format!(
                    "static, signed and/or intune, since {} {} set",
                    stray.join(", "),
                    if stray.len() == 1 { "is" } else { "are" }
                ),
            ));
            return None;
        }
        return Some(None);
    };
    let before = errors.len();
    let methods = match spelled_list(&methods_text, &ChallengeMethod::NAMES, "challenge method") {
        Ok(methods) => methods,
        Err(expected) => {
            errors.push(ConfigError::invalid(
                SCEP_CHALLENGE.name,
                &methods_text,
                expected,
            ));
            return None;
        }
    };
    let get = |name: &str| vars.get(name).cloned();
    let intune = if methods.contains(&ChallengeMethod::Intune) {
        match posture_intune::scep::IntuneScepConfig::from_env(|name| vars.get(name).cloned()) {
            Ok(config) => Some(Box::new(config)),
            Err(err) => {
                // With PROVIDER=intune the provider reports the same problems: once is enough.
                for problem in err.problems() {
                    let known = errors
                        .iter()
                        .any(|e| e.variable == problem.variable && e.expected == problem.expected);
                    if !known && problem.variable != "TIMEOUT" {
                        errors.push(problem.clone());
                    }
                }
                None
            }
        }
    } else {
        for name in posture_settings::variable_names(INTUNE_SCEP_SETTINGS) {
            if let Some(text) = value(name) {
                errors.push(ConfigError::invalid(
                    name,
                    &text,
                    "unset unless SCEP_CHALLENGE lists intune",
                ));
            }
        }
        None
    };

    let static_challenge = declared_secret(&get, &SCEP_STATIC_CHALLENGE, errors);
    let static_challenge = match (methods.contains(&ChallengeMethod::Static), static_challenge) {
        (true, Some(Some(text))) if text.trim().chars().count() < MIN_STATIC_CHALLENGE => {
            errors.push(ConfigError::secret(
                "SCEP_STATIC_CHALLENGE",
                format!("at least {MIN_STATIC_CHALLENGE} characters"),
            ));
            None
        }
        (true, Some(Some(text))) => Some(Hidden(text.trim().as_bytes().to_vec())),
        (true, Some(None)) => {
            errors.push(ConfigError::missing(
                "SCEP_STATIC_CHALLENGE",
                "the shared challenge password (or SCEP_STATIC_CHALLENGE_FILE), since \
                 SCEP_CHALLENGE lists static",
            ));
            None
        }
        (false, Some(Some(_))) => {
            errors.push(ConfigError::secret(
                "SCEP_STATIC_CHALLENGE",
                "unset unless SCEP_CHALLENGE lists static",
            ));
            None
        }
        _ => None,
    };

    let keys = declared_secret(&get, &SCEP_CHALLENGE_KEY, errors);
    let challenge_keys = match (methods.contains(&ChallengeMethod::Signed), keys) {
        (true, Some(Some(text))) => challenge_keys(&text, errors),
        (true, Some(None)) => {
            errors.push(ConfigError::missing(
                "SCEP_CHALLENGE_KEY",
                "a base64 key of at least 32 bytes (openssl rand -base64 32), or \
                 SCEP_CHALLENGE_KEY_FILE, since SCEP_CHALLENGE lists signed",
            ));
            Vec::new()
        }
        (false, Some(Some(_))) => {
            errors.push(ConfigError::secret(
                "SCEP_CHALLENGE_KEY",
                "unset unless SCEP_CHALLENGE lists signed",
            ));
            Vec::new()
        }
        _ => Vec::new(),
    };

    let mut reader = Reader::new(&get);
    let challenge_ttl = reader.seconds(&SCEP_CHALLENGE_TTL);
    let posture = reader.flag(&SCEP_POSTURE);
    let identifiers = reader.spelled_list(
        &SCEP_IDENTIFIER,
        &IdentifierSource::NAMES,
        "identifier source",
        || vec![IdentifierSource::SerialNumber, IdentifierSource::CommonName],
    );
    errors.extend(reader.take_problems());

    let issuer_credentials = match declared_secret(&get, &SCEP_ISSUER_BASIC_AUTH, errors) {
        Some(Some(text)) => issuer_credentials(text.trim(), errors),
        _ => None,
    };
    let issuer_addr = reader.parsed(&SCEP_ISSUER_ADDR, |text| {
        text.parse::<SocketAddr>()
            .map_err(|_| SCEP_ISSUER_ADDR.expected())
    });
    errors.extend(reader.take_problems());
    if matches!(issuer_addr, Some(Some(_))) && issuer_credentials.is_none() {
        errors.push(ConfigError::missing(
            SCEP_ISSUER_BASIC_AUTH.name,
            "user:password for the challenge-issuing routes, since SCEP_ISSUER_ADDR serves them",
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(Some(ScepSettings {
        methods,
        static_challenge,
        challenge_keys,
        challenge_ttl: challenge_ttl?,
        identifiers: identifiers?,
        posture: posture?,
        issuer_credentials,
        issuer_addr: issuer_addr?,
        intune,
    }))
}

/// Comma- or newline-separated base64 keys, the signing one first.
fn challenge_keys(text: &str, errors: &mut Vec<ConfigError>) -> Vec<Hidden> {
    let mut keys = Vec::new();
    let mut items = 0;
    for (index, item) in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .enumerate()
    {
        items += 1;
        match base64::engine::general_purpose::STANDARD.decode(item) {
            Ok(bytes) if bytes.len() >= MIN_CHALLENGE_KEY => keys.push(Hidden(bytes)),
            Ok(bytes) => errors.push(ConfigError::secret(
                format!("SCEP_CHALLENGE_KEY item {}", index + 1),
                format!(
                    "at least {MIN_CHALLENGE_KEY} bytes once decoded, not {} (openssl rand -base64 32)",
                    bytes.len()
                ),
            )),
            Err(_) => errors.push(ConfigError::secret(
                format!("SCEP_CHALLENGE_KEY item {}", index + 1),
                "standard base64 (openssl rand -base64 32)",
            )),
        }
    }
    if items == 0 {
        errors.push(ConfigError::secret(
            "SCEP_CHALLENGE_KEY",
            "at least one base64 key of at least 32 bytes (openssl rand -base64 32)",
        ));
    }
    keys
}

fn issuer_credentials(text: &str, errors: &mut Vec<ConfigError>) -> Option<IssuerCredentials> {
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && password.chars().count() >= 16 => {
            Some(IssuerCredentials {
                username: user.to_owned(),
                password: Hidden(password.as_bytes().to_vec()),
            })
        }
        _ => {
            errors.push(ConfigError::secret(
                "SCEP_ISSUER_BASIC_AUTH",
                "user:password, with a password of at least 16 characters",
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> (Option<Option<ScepSettings>>, Vec<String>) {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut errors = Vec::new();
        let settings = scep_settings(&vars, &mut errors);
        (settings, errors.iter().map(ToString::to_string).collect())
    }

    const KEY: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    #[test]
    fn unset_means_no_gate_and_stray_settings_are_an_error() {
        assert!(matches!(parse(&[]), (Some(None), errors) if errors.is_empty()));
        let (settings, errors) = parse(&[("SCEP_CHALLENGE_KEY", KEY)]);
        assert!(settings.is_none());
        assert!(
            errors[0].starts_with("SCEP_CHALLENGE is not set"),
            "{errors:?}"
        );
    }

    #[test]
    fn defaults_and_values() {
        let (settings, errors) = parse(&[
            ("SCEP_CHALLENGE", "signed, static"),
            ("SCEP_CHALLENGE_KEY", KEY),
            ("SCEP_STATIC_CHALLENGE", "a-long-shared-challenge"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let settings = settings.unwrap().unwrap();
        assert_eq!(
            settings.methods,
            [ChallengeMethod::Signed, ChallengeMethod::Static]
        );
        assert_eq!(settings.challenge_ttl, Duration::from_secs(3600));
        assert_eq!(
            settings.identifiers,
            [IdentifierSource::SerialNumber, IdentifierSource::CommonName]
        );
        assert!(settings.posture);
        assert_eq!(settings.challenge_keys.len(), 1);
        assert!(!format!("{settings:?}").contains("a-long-shared-challenge"));
    }

    #[test]
    fn lists_take_any_case_once_each_and_name_what_is_not_one() {
        let (settings, errors) = parse(&[
            ("SCEP_CHALLENGE", "Signed, signed"),
            ("SCEP_CHALLENGE_KEY", KEY),
            ("SCEP_IDENTIFIER", "URI, serialnumber, uri"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let settings = settings.unwrap().unwrap();
        assert_eq!(settings.methods, [ChallengeMethod::Signed]);
        assert_eq!(
            settings.identifiers,
            [IdentifierSource::Uri, IdentifierSource::SerialNumber]
        );
        for (pairs, expected) in [
            (
                vec![("SCEP_CHALLENGE", "static, ndes")],
                "SCEP_CHALLENGE=\"static, ndes\" is invalid: expected a comma-separated list of \
                 static, signed, intune (\"ndes\" is not one)",
            ),
            (
                vec![("SCEP_CHALLENGE", ",")],
                "SCEP_CHALLENGE=\",\" is invalid: expected at least one challenge method",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", KEY),
                    ("SCEP_IDENTIFIER", " , "),
                ],
                "SCEP_IDENTIFIER=\",\" is invalid: expected at least one identifier source",
            ),
        ] {
            let (settings, errors) = parse(&pairs);
            assert!(settings.is_none(), "{pairs:?}");
            assert_eq!(errors, [expected], "{pairs:?}");
        }
    }

    #[test]
    fn secrets_are_read_as_every_declared_secret_is() {
        let (_dir, path) =
            crate::config::auth::tests::temp_file("challenge", "a-long-shared-challenge\n");
        let path = path.as_str();
        let (settings, errors) = parse(&[
            ("SCEP_CHALLENGE", "static"),
            ("SCEP_STATIC_CHALLENGE_FILE", path),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let settings = settings.unwrap().unwrap();
        assert_eq!(
            settings.static_challenge.unwrap().expose(),
            b"a-long-shared-challenge"
        );
        let (_, errors) = parse(&[
            ("SCEP_CHALLENGE", "static"),
            ("SCEP_STATIC_CHALLENGE", "a-long-shared-challenge"),
            ("SCEP_STATIC_CHALLENGE_FILE", path),
        ]);
        assert_eq!(
            errors,
            [
                "SCEP_STATIC_CHALLENGE is invalid (value not shown, it is a secret): expected either \
              SCEP_STATIC_CHALLENGE or SCEP_STATIC_CHALLENGE_FILE, not both"
            ]
        );
    }

    #[test]
    fn every_problem_names_its_variable_and_hides_secrets() {
        for (pairs, expected) in [
            (
                vec![("SCEP_CHALLENGE", "ndes")],
                "SCEP_CHALLENGE=\"ndes\" is invalid",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "static"),
                    ("SCEP_STATIC_CHALLENGE", "short"),
                ],
                "SCEP_STATIC_CHALLENGE is invalid (value not shown",
            ),
            (
                vec![("SCEP_CHALLENGE", "static")],
                "SCEP_STATIC_CHALLENGE is not set",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", "c2hvcnQ="),
                ],
                "SCEP_CHALLENGE_KEY item 1 is invalid (value not shown",
            ),
            (
                vec![("SCEP_CHALLENGE", "signed")],
                "SCEP_CHALLENGE_KEY is not set",
            ),
            (
                vec![("SCEP_CHALLENGE", "signed"), ("SCEP_CHALLENGE_KEY", "  ")],
                "SCEP_CHALLENGE_KEY is not set",
            ),
            (
                vec![("SCEP_CHALLENGE", "signed"), ("SCEP_CHALLENGE_KEY", " , ")],
                "SCEP_CHALLENGE_KEY is invalid (value not shown, it is a secret): expected at \
                 least one base64 key",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", KEY),
                    ("SCEP_CHALLENGE_TTL", "5"),
                ],
                "SCEP_CHALLENGE_TTL=\"5\" is invalid",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", KEY),
                    ("SCEP_IDENTIFIER", "udid"),
                ],
                "SCEP_IDENTIFIER=\"udid\" is invalid",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", KEY),
                    ("SCEP_ISSUER_BASIC_AUTH", "jamf:short"),
                ],
                "SCEP_ISSUER_BASIC_AUTH is invalid (value not shown",
            ),
            (
                vec![("SCEP_CHALLENGE", "intune")],
                "INTUNE_TENANT_ID is not set",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "intune"),
                    ("INTUNE_TENANT_ID", "8d6e3f8b-55a4-4a1f-9d0b-3c6f2b9e1a10"),
                    ("INTUNE_CLIENT_ID", "6731de76-14a6-49ae-97bc-6eba6914391e"),
                    ("INTUNE_CLIENT_SECRET", KEY),
                    ("INTUNE_SCEP_SERVICE_URL", "ftp://x"),
                ],
                "INTUNE_SCEP_SERVICE_URL=\"ftp://x\" is invalid",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", KEY),
                    (
                        "INTUNE_SCEP_SCOPE",
                        "https://api.manage.microsoft.com//.default",
                    ),
                ],
                "unset unless SCEP_CHALLENGE lists intune",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", KEY),
                    ("SCEP_ISSUER_ADDR", "0.0.0.0:9444"),
                ],
                "SCEP_ISSUER_BASIC_AUTH is not set",
            ),
            (
                vec![
                    ("SCEP_CHALLENGE", "signed"),
                    ("SCEP_CHALLENGE_KEY", KEY),
                    ("SCEP_ISSUER_BASIC_AUTH", "jamf:issuer-password-0123456789"),
                    ("SCEP_ISSUER_ADDR", "port 9444"),
                ],
                "SCEP_ISSUER_ADDR=\"port 9444\" is invalid",
            ),
        ] {
            let (settings, errors) = parse(&pairs);
            assert!(settings.is_none(), "{pairs:?}");
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{pairs:?}: {errors:?}"
            );
            assert!(errors.iter().all(|e| !e.contains(KEY)), "{errors:?}");
        }
    }
}
