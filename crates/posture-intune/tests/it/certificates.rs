//! Certificate credentials: the signed client assertion, and the certificate checks made
//! when the settings are read.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use posture_core::PostureProvider;
use posture_fakes::intune::{
    FakeIntune, FakeManagedDevice, OTHER_TEST_RSA_KEY, TEST_RSA_KEY, TEST_RSA_KEY_PKCS1,
    TestCertificate,
};
use posture_intune::{AssertionAlgorithm, IntuneConfig, IntuneConfigError, IntuneProvider};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use posture_conformance::support::refused_readiness;

use crate::support::{decide, fake};

const MAC: &str = "C02XL0GJJG5J";

/// A directory of its own for one test's files, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("posture-intune-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn from_vars(vars: &[(String, String)]) -> Result<IntuneConfig, IntuneConfigError> {
    let map: HashMap<&str, &str> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    IntuneConfig::from_env(|name| map.get(name).map(|v| (*v).to_owned()))
}

fn with(mut vars: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    vars
}

/// The only problem `vars` have, as text.
fn problem(vars: &[(String, String)]) -> String {
    let err = from_vars(vars).unwrap_err();
    assert_eq!(err.problems().len(), 1, "{err}");
    err.to_string()
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The form fields of every token request the fake received.
fn token_forms(intune: &FakeIntune) -> Vec<HashMap<String, String>> {
    intune
        .requests_to("/oauth2/v2.0/token")
        .into_iter()
        .map(|r| {
            posture_fakes::server::parse_pairs(&r.body)
                .into_iter()
                .collect()
        })
        .collect()
}

async fn registered(certificate: &TestCertificate) -> FakeIntune {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    intune.register_certificate(certificate.der()).unwrap();
    intune
}

fn files(dir: &Dir, certificate: &TestCertificate) -> (PathBuf, PathBuf) {
    certificate.write_to(&dir.0).unwrap()
}

#[tokio::test]
async fn a_certificate_signs_the_assertion_with_each_algorithm_and_devices_are_looked_up() {
    let dir = Dir::new("algorithms");
    let certificate = TestCertificate::generate().unwrap();
    let (cert_path, key_path) = files(&dir, &certificate);
    for (setting, alg) in [
        (None, "PS256"),
        (Some("rs256"), "RS256"),
        (Some("PS256"), "PS256"),
    ] {
        let intune = registered(&certificate).await;
        let mut vars = intune.certificate_env_vars(&cert_path, &key_path);
        if let Some(setting) = setting {
            vars = with(vars, &[("INTUNE_CLIENT_ASSERTION_ALG", setting)]);
        }
        let config = from_vars(&vars).unwrap();
        assert!(config.client_secret().is_none());
        let read = config.client_certificate().unwrap();
        assert_eq!(read.algorithm().as_str(), alg);
        assert_eq!(read.cert_path(), Some(cert_path.as_path()));
        assert_eq!(read.x5t_s256(), certificate.x5t_s256());
        assert!(!format!("{config:?}").contains("PRIVATE KEY"), "{config:?}");

        let intune_provider = IntuneProvider::new(config).unwrap();
        intune_provider.check_ready().await.unwrap();
        assert!(decide(&intune_provider, MAC).await.is_allowed());
        // A revoked token is renewed with a new assertion.
        intune.revoke_tokens();
        intune_provider.clear_cache();
        assert!(decide(&intune_provider, MAC).await.is_allowed());

        let forms = token_forms(&intune);
        assert_eq!(forms.len(), 2, "{forms:?}");
        let mut ids = Vec::new();
        for form in &forms {
            assert_eq!(form["grant_type"], "client_credentials");
            assert_eq!(form["client_id"], posture_fakes::intune::CLIENT_ID);
            assert_eq!(
                form["client_assertion_type"],
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            );
            assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
            assert!(!form.contains_key("client_secret"), "{form:?}");
            let parts: Vec<&str> = form["client_assertion"].split('.').collect();
            assert_eq!(parts.len(), 3);
            let header = decode(parts[0]);
            assert_eq!(header["alg"], alg);
            assert_eq!(header["typ"], "JWT");
            assert_eq!(header["x5t#S256"], certificate.x5t_s256());
            let claims = decode(parts[1]);
            assert_eq!(
                claims["aud"],
                format!(
                    "{}/{}/oauth2/v2.0/token",
                    intune.url(),
                    posture_fakes::intune::TENANT_ID
                )
            );
            assert_eq!(claims["iss"], posture_fakes::intune::CLIENT_ID);
            assert_eq!(claims["sub"], posture_fakes::intune::CLIENT_ID);
            let (nbf, iat, exp) = (
                claims["nbf"].as_i64().unwrap(),
                claims["iat"].as_i64().unwrap(),
                claims["exp"].as_i64().unwrap(),
            );
            let now = OffsetDateTime::now_utc().unix_timestamp();
            assert!(nbf == iat && (now - 60..=now).contains(&nbf), "{claims}");
            assert!(exp > now && exp - nbf <= 600, "{claims}");
            let jti = claims["jti"].as_str().unwrap().to_owned();
            assert!(posture_http::env::is_guid(&jti), "{jti}");
            ids.push(jti);
        }
        assert_ne!(ids[0], ids[1]);
    }
}

#[tokio::test]
async fn pkcs1_keys_are_accepted() {
    let dir = Dir::new("pkcs1");
    let certificate = TestCertificate::generate().unwrap();
    let cert_path = dir.write("client.crt", certificate.cert_pem());
    let key_path = dir.write("client.key", TEST_RSA_KEY_PKCS1);
    let intune = registered(&certificate).await;
    let config = from_vars(&intune.certificate_env_vars(&cert_path, &key_path)).unwrap();
    let intune_provider = IntuneProvider::new(config).unwrap();
    assert!(decide(&intune_provider, MAC).await.is_allowed());
    // One file holding both also works.
    let both = dir.write(
        "both.pem",
        &format!("{}{}", certificate.cert_pem(), TEST_RSA_KEY_PKCS1),
    );
    assert!(from_vars(&intune.certificate_env_vars(&both, &both)).is_ok());
}

#[tokio::test]
async fn a_key_that_is_not_the_certificates_is_a_config_error() {
    let dir = Dir::new("mismatch");
    let certificate = TestCertificate::generate().unwrap();
    let cert_path = dir.write("client.crt", certificate.cert_pem());
    let key_path = dir.write("other.key", OTHER_TEST_RSA_KEY);
    let intune = fake().await;
    let text = problem(&intune.certificate_env_vars(&cert_path, &key_path));
    assert_eq!(
        text,
        format!(
            "INTUNE_CLIENT_KEY_PATH={:?} is invalid: expected a PEM file holding the RSA private key \
             of INTUNE_CLIENT_CERT_PATH (the private key does not belong to the certificate (their \
             public keys differ))",
            key_path.display().to_string()
        )
    );
    assert!(!text.contains("BEGIN"), "{text}");
}

#[tokio::test]
async fn certificates_outside_their_validity_are_config_errors_naming_the_dates() {
    let dir = Dir::new("validity");
    let intune = fake().await;
    let now = OffsetDateTime::now_utc();
    for (not_before, not_after, what) in [
        (
            now - Duration::days(400),
            now - Duration::days(35),
            "the certificate expired: valid from",
        ),
        (
            now + Duration::days(2),
            now + Duration::days(300),
            "the certificate is not valid yet: valid from",
        ),
    ] {
        let certificate = TestCertificate::new(TEST_RSA_KEY, not_before, not_after).unwrap();
        let (cert_path, key_path) = files(&dir, &certificate);
        let text = problem(&intune.certificate_env_vars(&cert_path, &key_path));
        let date = |t: OffsetDateTime| {
            t.replace_nanosecond(0)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        assert!(
            text.starts_with(&format!(
                "INTUNE_CLIENT_CERT_PATH={:?} is invalid: expected a PEM file holding the \
                 certificate registered on the app registration (Certificates & secrets), valid now",
                cert_path.display().to_string()
            )),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(
                "({what} {} to {})",
                date(not_before),
                date(not_after)
            )),
            "{text}"
        );
    }
}

#[tokio::test]
async fn keys_that_are_not_rsa_and_unreadable_files_are_named() {
    let dir = Dir::new("not-rsa");
    let intune = fake().await;
    let certificate = TestCertificate::generate().unwrap();
    let (cert_path, _) = files(&dir, &certificate);
    let ec = rcgen::KeyPair::generate().unwrap();
    let ec_key = dir.write("ec.key", &ec.serialize_pem());
    let text = problem(&intune.certificate_env_vars(&cert_path, &ec_key));
    assert!(
        text.ends_with(
            "(the private key is an EC key, not RSA: Entra ID accepts only RSA keys for client assertions)"
        ),
        "{text}"
    );
    // An EC certificate with an RSA key: the certificate is named.
    let ec_certificate = TestCertificate::new(
        &ec.serialize_pem(),
        OffsetDateTime::now_utc() - Duration::hours(1),
        OffsetDateTime::now_utc() + Duration::days(1),
    )
    .unwrap();
    let ec_cert = dir.write("ec.crt", ec_certificate.cert_pem());
    let rsa_key = dir.write("rsa.key", TEST_RSA_KEY);
    let text = problem(&intune.certificate_env_vars(&ec_cert, &rsa_key));
    assert!(text.starts_with("INTUNE_CLIENT_CERT_PATH="), "{text}");
    assert!(
        text.contains("the certificate's public key is an EC key, not RSA"),
        "{text}"
    );

    let garbage = dir.write("garbage.pem", "not a pem file");
    let text = problem(&intune.certificate_env_vars(&cert_path, &garbage));
    assert!(
        text.starts_with(&format!(
            "INTUNE_CLIENT_KEY_PATH={:?} is invalid",
            garbage.display().to_string()
        )),
        "{text}"
    );
    assert!(
        text.contains("no unencrypted PEM private key found"),
        "{text}"
    );
    let text = problem(&intune.certificate_env_vars(&garbage, &rsa_key));
    assert!(text.contains("no PEM CERTIFICATE section found"), "{text}");
    let text = problem(&with(
        intune.certificate_env_vars(&cert_path, &rsa_key),
        &[("INTUNE_CLIENT_ASSERTION_ALG", "ES256")],
    ));
    assert_eq!(
        text,
        "INTUNE_CLIENT_ASSERTION_ALG=\"ES256\" is invalid: expected PS256 (the default, as Microsoft documents) or RS256"
    );
}

#[tokio::test]
async fn entra_refuses_a_certificate_it_does_not_know_naming_the_settings() {
    let dir = Dir::new("unregistered");
    let now = OffsetDateTime::now_utc();
    let registered_one = TestCertificate::generate().unwrap();
    let unregistered = TestCertificate::new(
        OTHER_TEST_RSA_KEY,
        now - Duration::hours(1),
        now + Duration::days(9),
    )
    .unwrap();
    let intune = registered(&registered_one).await;
    let (cert_path, key_path) = files(&dir, &unregistered);
    let config = from_vars(&intune.certificate_env_vars(&cert_path, &key_path)).unwrap();
    let text = refused_readiness(&IntuneProvider::new(config).unwrap()).await;
    assert!(
        text.starts_with(
            "the Microsoft identity platform refused the app credentials INTUNE_TENANT_ID / \
             INTUNE_CLIENT_ID / INTUNE_CLIENT_CERT_PATH / INTUNE_CLIENT_KEY_PATH (401 Unauthorized: \
             invalid_client: AADSTS700027: The certificate with identifier used to sign the client \
             assertion is not registered on application."
        ),
        "{text}"
    );
    assert!(text.contains(&unregistered.x5t_s256()), "{text}");
    assert!(text.ends_with("check the tenant, the app registration and that the certificate is uploaded to the app registration (Certificates & secrets) and current"), "{text}");
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let dir = Dir::new("replay");
    let certificate = TestCertificate::generate().unwrap();
    let intune = registered(&certificate).await;
    let (cert_path, key_path) = files(&dir, &certificate);
    let config = from_vars(&intune.certificate_env_vars(&cert_path, &key_path)).unwrap();
    IntuneProvider::new(config)
        .unwrap()
        .check_ready()
        .await
        .unwrap();
    let sent = intune.requests_to("/oauth2/v2.0/token").remove(0);
    let http = posture_http::ClientOptions::new(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let replay = http
        .post(posture_http::Url::parse(&format!("{}{}", intune.url(), sent.path)).unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(sent.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 401);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 50013);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
}

#[test]
fn the_default_algorithm_is_the_documented_one() {
    assert_eq!(AssertionAlgorithm::default().as_str(), "PS256");
    let certificate = TestCertificate::generate().unwrap();
    let read = crate::support::client_certificate(&certificate);
    assert_eq!(read.algorithm(), AssertionAlgorithm::Ps256);
    assert_eq!(read.entra_thumbprint().len(), 40);
    assert_eq!(read.sha256_hex().len(), 64);
}
