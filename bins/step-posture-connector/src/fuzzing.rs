//! Entry points for fuzzing the server (built with `--cfg fuzzing`, as `cargo fuzz` builds
//! it).
//!
//! The SCEP gate is internal: [`App::with_scep`] is not public, so that a server's SCEP
//! settings come from its configuration only. [`app`] builds the [`App`] a server answers
//! webhooks with for a [`Config`] — the verifier, `TIMEOUT`, `MAX_BODY_BYTES`, the SCEP gate,
//! the throttle and the provider, as [`Server::bind`](crate::commands::Server::bind) builds
//! them — without TLS or a socket, so that the fuzz targets in the repository's `fuzz/` send
//! SCEPCHALLENGE and NOTIFYING bodies through [`handle`](crate::handler::handle);
//! [`file_config`] writes the files of such a configuration, with the file provider.
//! [`ChallengeIssuer`] issues signed challenges from the configuration's keys, as
//! `challenge issue` does, and [`ChallengeVerifier`] runs the signed-challenge issuer and
//! verifier at a time of the caller's choosing. Nothing in the server calls them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Config;
use crate::error::{OrFail as _, ServerError};
use crate::handler::App;
use crate::metrics::Metrics;
use crate::providers;
use crate::scep::ScepGate;
use crate::scep::challenge::{self, SignedChallenges};

/// The handler a server started with `config` answers webhooks with, and its provider
/// built as `serve` builds it (the file provider loads its file; no provider is asked
/// whether it is ready). The certificate's readiness condition and the Jamf events route,
/// which need the listener and a syncing Jamf provider, are left out.
pub fn app(config: &Config) -> Result<App, ServerError> {
    let parts = providers::build(&config.provider).or_fail(ServerError::Provider)?;
    let metrics = Metrics::new(
        config.webhooks.iter().map(|w| w.id.as_str()),
        parts.provider.name(),
    );
    crate::commands::app_for(config, parts.provider, Arc::new(metrics))
}

/// The configuration of a server with the file provider over `devices` (a JSON device
/// file) and one webhook, `webhook_id` signing with `webhook_secret`, then `extra`; its files
/// are written into `dir`. The TLS files it names exist but hold no certificate, since
/// [`app`] reads none. `Err` names a file that could not be written, or what the
/// configuration lacks.
pub fn file_config(
    dir: &Path,
    devices: &str,
    (webhook_id, webhook_secret): (&str, &str),
    extra: &[(&str, &str)],
) -> Result<Config, ServerError> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .with_context(|| format!("writing {}", path.display()))
            .or_fail(ServerError::Other)?;
        Ok::<_, ServerError>(path.display().to_string())
    };
    let mut vars: HashMap<String, String> = [
        ("PROVIDER", "file".to_owned()),
        ("FILE_PATH", write("devices.json", devices)?),
        ("FILE_TYPE", "json".to_owned()),
        ("TLS_CERT_PATH", write("cert.pem", "not read")?),
        ("TLS_KEY_PATH", write("key.pem", "not read")?),
        ("WEBHOOK_IDS", webhook_id.to_owned()),
        ("WEBHOOK_SECRETS", webhook_secret.to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    vars.extend(
        extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    Ok(Config::from_vars(&vars)?)
}

/// Issues signed challenges with the first `SCEP_CHALLENGE_KEY` of a configuration, valid
/// for its `SCEP_CHALLENGE_TTL`, as `step-posture-connector challenge issue` does.
#[derive(Debug)]
pub struct ChallengeIssuer(ScepGate);

impl ChallengeIssuer {
    /// The issuer of `config`'s SCEP gate; `None` when `SCEP_CHALLENGE` does not list
    /// `signed`.
    pub fn new(config: &Config) -> Option<Self> {
        let gate = ScepGate::new(config.scep.as_ref()?).ok()?;
        gate.signed().is_some().then_some(Self(gate))
    }

    /// A new challenge, bound to `identifier` when given; `None` when it can't be issued
    /// (an identifier too long for the 255 characters a challenge may have).
    pub fn issue(&self, identifier: Option<&str>) -> Option<String> {
        self.0.signed()?.issue(identifier).ok()
    }
}

/// The signed-challenge issuer and verifier on their own, at a time given in Unix seconds,
/// with the replay memory of one server.
#[derive(Debug)]
pub struct ChallengeVerifier(SignedChallenges);

impl ChallengeVerifier {
    /// Challenges signed with the first of `keys` (any verifies), valid for at most `ttl`.
    pub fn new(keys: &[&[u8]], ttl: Duration) -> Self {
        Self(SignedChallenges::new(keys, ttl))
    }

    /// A challenge issued at `now`, valid for `ttl`, bound to `identifier` when given.
    /// `Err` says why none was issued.
    pub fn issue_at(
        &self,
        identifier: Option<&str>,
        now: u64,
        ttl: Duration,
    ) -> Result<String, String> {
        self.0
            .issue_at(identifier, now, ttl)
            .map_err(|e| e.to_string())
    }

    /// Checks `challenge` at `now` for a CSR naming `identifier` with the public key
    /// `public_key`, as the SCEP gate does; `Ok` with the device the challenge is bound to,
    /// if any. `Err` says why it was refused.
    pub fn verify_at(
        &self,
        challenge: &str,
        identifier: &str,
        public_key: &[u8],
        now: u64,
    ) -> Result<Option<String>, String> {
        self.0
            .verify_at(challenge, identifier, public_key, now)
            .map(|verified| verified.bound_to)
            .map_err(|e| e.to_string())
    }
}

/// Whether every character of `text` is in the ASN.1 PrintableString repertoire, which
/// Windows encodes challenge passwords in.
pub fn is_printable_string(text: &str) -> bool {
    challenge::is_printable_string(text)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use smallstep_webhook::{RequestBody, Signer, WebhookSecret};

    use super::*;
    use crate::handler::{SCEP_CHALLENGE_PATH, handle};

    const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
    const SECRET: &str =
        "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

    fn csr(serial: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]),
            rcgen::DnValue::PrintableString(serial.try_into().unwrap()),
        );
        let key = rcgen::KeyPair::generate().unwrap();
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    #[tokio::test]
    async fn the_app_of_a_configuration_serves_its_scep_gate() {
        let dir = tempfile::tempdir().unwrap();
        let config = file_config(
            dir.path(),
            r#"{"devices":[{"identifier":"C02XL0GJJG5J"}]}"#,
            (ID, SECRET),
            &[
                ("SCEP_CHALLENGE", "signed"),
                (
                    "SCEP_CHALLENGE_KEY",
                    "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
                ),
            ],
        )
        .unwrap();
        let app = Arc::new(app(&config).unwrap());
        let issuer = ChallengeIssuer::new(&config).unwrap();
        let signer = Signer::new(ID, WebhookSecret::from_base64(SECRET).unwrap()).unwrap();
        let ask = |serial: &str, challenge: String| {
            let body = RequestBody::scep_challenge(
                &csr(serial),
                challenge,
                "tx-1",
                "scep",
                time::OffsetDateTime::now_utc(),
            )
            .unwrap();
            let signed = signer.sign_body(&body);
            let mut request = http::Request::post(SCEP_CHALLENGE_PATH)
                .body(Full::new(Bytes::from(signed.body)))
                .unwrap();
            *request.headers_mut() = signed.headers;
            let app = app.clone();
            async move {
                let Ok(response) = handle(app, request).await;
                response.into_body().collect().await.unwrap().to_bytes()
            }
        };
        let bound = issuer.issue(Some("C02XL0GJJG5J")).unwrap();
        assert_eq!(
            ask("C02XL0GJJG5J", bound.clone()).await,
            r#"{"allow":true}"#
        );
        assert_eq!(ask("C02OTHER0001", bound).await, r#"{"allow":false}"#);
        assert_eq!(
            ask("C02XL0GJJG5J", "a-guessed-challenge".to_owned()).await,
            r#"{"allow":false}"#
        );
    }

    #[test]
    fn the_verifier_runs_at_the_time_given() {
        let verifier = ChallengeVerifier::new(
            &[b"0123456789abcdef0123456789abcdef"],
            Duration::from_secs(60),
        );
        let challenge = verifier
            .issue_at(Some("C02XL0GJJG5J"), 1_000, Duration::from_secs(60))
            .unwrap();
        assert!(is_printable_string(&challenge));
        assert_eq!(
            verifier.verify_at(&challenge, "C02XL0GJJG5J", b"k", 1_010),
            Ok(Some("C02XL0GJJG5J".to_owned()))
        );
        assert!(
            verifier
                .verify_at(&challenge, "C02XL0GJJG5J", b"k", 1_060)
                .is_err()
        );
        assert!(
            verifier
                .verify_at(&challenge, "C02XL0GJJG5J", b"other", 1_010)
                .is_err()
        );
    }
}
