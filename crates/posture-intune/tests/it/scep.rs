//! Intune SCEP validation against the fake: tokens, discovery, the three actions and their
//! failures.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use posture_conformance::support::{permanent, transient};
use posture_fakes::intune::{FakeIntune, ScepAnswer};
use posture_http::BaseUrl;
use posture_intune::scep::{
    DEFAULT_SCEP_SCOPE, HRESULT_DENIED, IntuneScepClient, IntuneScepConfig, IssuedCertificate,
    ScepVerdict,
};

use crate::support;

fn csr() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["device.example".to_owned()]).unwrap();
    STANDARD.encode(params.serialize_request(&key).unwrap().der())
}

fn issued() -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["device.example".to_owned()]).unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[tokio::test]
async fn validates_and_notifies_with_the_documented_shapes() {
    let intune = FakeIntune::start().await.unwrap();
    let client = IntuneScepClient::new(&IntuneScepConfig::new(support::config(&intune))).unwrap();
    let url = client.check_ready().await.unwrap();
    assert_eq!(url.as_str(), intune.scep_service_url());
    let scopes = intune.token_scopes();
    assert!(
        scopes.contains(&"https://graph.microsoft.com/.default".to_owned()),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&DEFAULT_SCEP_SCOPE.to_owned()),
        "{scopes:?}"
    );

    let csr = csr();
    assert_eq!(
        client.validate_request("tx-1", &csr).await.unwrap(),
        ScepVerdict::Success
    );
    let der = issued();
    let cert = IssuedCertificate::from_der(&der).unwrap();
    assert_eq!(
        client
            .success_notification("tx-1", &csr, &cert)
            .await
            .unwrap(),
        ScepVerdict::Success
    );
    assert_eq!(
        client
            .failure_notification("tx-2", &csr, HRESULT_DENIED, "posture denied")
            .await
            .unwrap(),
        ScepVerdict::Success
    );
    let calls = intune.scep_calls();
    let actions: Vec<&str> = calls.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "validateRequest",
            "successNotification",
            "failureNotification"
        ]
    );
    for call in &calls {
        assert_eq!(call.refused, None, "{call:?}");
        assert_eq!(call.api_version.as_deref(), Some("2018-02-20"));
    }
    assert_ne!(calls[0].client_request_id, calls[1].client_request_id);
    assert_eq!(calls[0].body["request"]["certificateRequest"], csr.as_str());
    assert_eq!(
        calls[1].body["notification"]["certificateThumbprint"],
        cert.thumbprint.as_str()
    );
    assert_eq!(calls[2].body["notification"]["hResult"], 0x8009_4004_i64);
    // Discovery is cached: one endpoints request for all of the above.
    let discoveries = intune.requests_to("/endpoints").len();
    assert_eq!(discoveries, 1);
}

#[tokio::test]
async fn refusals_are_verdicts_and_outages_are_transient() {
    let intune = FakeIntune::start().await.unwrap();
    let client = IntuneScepClient::new(&IntuneScepConfig::new(support::config(&intune))).unwrap();
    let csr = csr();
    intune.set_scep_answer(ScepAnswer::Code("ChallengeExpired".into()));
    assert_eq!(
        client.validate_request("tx", &csr).await.unwrap(),
        ScepVerdict::Rejected {
            code: "ChallengeExpired".into(),
            description: "refused by the fake".into()
        }
    );
    for status in [429, 500, 503] {
        intune.set_scep_answer(ScepAnswer::Status(status));
        transient(client.validate_request("tx", &csr).await);
    }
    intune.set_scep_answer(ScepAnswer::Status(403));
    let err = permanent(client.validate_request("tx", &csr).await);
    assert!(err.message().contains("scep_challenge_provider"), "{err}");
}

#[tokio::test]
async fn a_fixed_service_url_skips_discovery_and_a_graph_token_is_refused_by_the_service() {
    let intune = FakeIntune::start().await.unwrap();
    let config = IntuneScepConfig::new(support::config(&intune))
        .with_service_url(BaseUrl::parse(&intune.scep_service_url()).unwrap());
    let client = IntuneScepClient::new(&config).unwrap();
    client.validate_request("tx", &csr()).await.unwrap();
    assert!(intune.requests_to("/endpoints").is_empty());

    // A scope for Graph gets a Graph token, which the service refuses (twice: one renewal).
    let wrong = IntuneScepConfig::new(support::config(&intune))
        .with_scope("https://graph.microsoft.com/.default");
    let client = IntuneScepClient::new(&wrong).unwrap();
    let err = client.validate_request("tx", &csr()).await.unwrap_err();
    assert!(err.message().contains("INTUNE_SCEP_SCOPE"), "{err}");
}

#[test]
fn settings_from_the_environment() {
    let base = [
        ("INTUNE_TENANT_ID", posture_fakes::intune::TENANT_ID),
        ("INTUNE_CLIENT_ID", posture_fakes::intune::CLIENT_ID),
        ("INTUNE_CLIENT_SECRET", "s3cret-value"),
    ];
    let get = |extra: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            base.iter()
                .chain(extra.iter())
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let config = IntuneScepConfig::from_env(get(&[])).unwrap();
    assert_eq!(config.scope(), DEFAULT_SCEP_SCOPE);
    assert!(config.service_url().is_none());
    let err = IntuneScepConfig::from_env(get(&[
        ("INTUNE_SCEP_SCOPE", "https://api.manage.microsoft.com/"),
        ("INTUNE_SCEP_SERVICE_URL", "not a url"),
    ]))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("INTUNE_SCEP_SCOPE"), "{text}");
    assert!(text.contains("INTUNE_SCEP_SERVICE_URL"), "{text}");
    assert!(!text.contains("s3cret-value"), "{text}");
}
