//! Start-up checks: bad credentials, an unreachable URL, a URL that isn't Jamf, bad settings.

use std::sync::Arc;
use std::time::Duration;

use posture_core::PostureProvider;
use posture_fakes::jamf::{CLIENT_ID, CLIENT_SECRET, FakeJamf};
use posture_fakes::{Fault, TokenFault};
use posture_jamf::{JamfConfig, JamfProvider};

use posture_conformance::support::{refused_readiness, unready};

use crate::support::{config, fake};
use posture_conformance::backoff::all_unready;

#[tokio::test]
async fn a_good_configuration_is_ready() {
    let jamf = fake().await;
    let jamf_provider = JamfProvider::new(config(&jamf)).unwrap();
    assert_eq!(jamf.stats().token_requests, 0, "new() does no I/O");
    jamf_provider.check_ready().await.unwrap();
    jamf_provider.check_ready().await.unwrap();
    assert_eq!(jamf.stats().token_requests, 1, "a valid token is reused");
}

#[tokio::test]
async fn the_go_env_file_variables_work() {
    let jamf = fake().await;
    let mut env = jamf.env_vars();
    env.extend([
        (
            "JAMF_COMPUTER_GROUP".to_owned(),
            "Compliant Macs".to_owned(),
        ),
        ("JAMF_DEVICE_ENRICH".to_owned(), "1".to_owned()),
        ("TIMEOUT".to_owned(), "2".to_owned()),
    ]);
    let config =
        JamfConfig::from_env(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap();
    JamfProvider::new(config)
        .unwrap()
        .check_ready()
        .await
        .unwrap();
}

#[tokio::test]
async fn refused_credentials_name_the_settings() {
    let jamf = fake().await;
    for (id, secret) in [(CLIENT_ID, "wrong-secret"), ("wrong-id", CLIENT_SECRET)] {
        let config = JamfConfig::new(&jamf.base_url(), id, secret).unwrap();
        let text = refused_readiness(&JamfProvider::new(config).unwrap()).await;
        assert!(
            text.contains("JAMF_CLIENT_ID / JAMF_CLIENT_SECRET"),
            "{text}"
        );
        assert!(text.contains("invalid_client"), "{text}");
        assert!(
            !text.contains("wrong-secret") && !text.contains(CLIENT_SECRET),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_url_names_jamf_base_url_and_the_cause() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let config = JamfConfig::new(&url, CLIENT_ID, CLIENT_SECRET)
        .unwrap()
        .with_timeout(Duration::from_secs(2))
        .unwrap();
    let text = unready(&JamfProvider::new(config).unwrap()).await;
    assert!(text.contains(&format!("JAMF_BASE_URL ({url})")), "{text}");
    assert!(text.contains("cannot be reached"), "{text}");
    assert!(
        text.to_lowercase().contains("connect"),
        "the cause is shown: {text}"
    );
}

#[tokio::test]
async fn a_url_that_is_not_jamf_says_so() {
    for fault in [
        TokenFault::NotFoundPage,
        TokenFault::HtmlPage,
        TokenFault::NotAToken,
    ] {
        let jamf = fake().await;
        jamf.set_token_fault(Some(fault.clone()));
        let text = refused_readiness(&JamfProvider::new(config(&jamf)).unwrap()).await;
        assert!(
            text.starts_with(&format!(
                "JAMF_BASE_URL ({}) does not look like Jamf Pro",
                jamf.base_url()
            )),
            "{fault:?}: {text}"
        );
    }
}

#[tokio::test]
async fn a_failing_token_endpoint_is_transient() {
    let jamf = fake().await;
    jamf.set_token_fault(Some(TokenFault::Status(503)));
    unready(&JamfProvider::new(config(&jamf)).unwrap()).await;
}

/// A provider of `jamf` that 200 readiness probes at once have found unready.
async fn probed(jamf: &FakeJamf) -> Arc<JamfProvider> {
    let jamf_provider = Arc::new(JamfProvider::new(config(jamf)).unwrap());
    all_unready(&jamf_provider, 200).await;
    jamf_provider
}

/// `/readyz` needs no authentication: however many probes arrive while Jamf fails, Jamf
/// sees one readiness check (a token, and a read per device family), and its failure is
/// reused for the next ones.
#[tokio::test]
async fn readiness_probes_while_jamf_fails_make_one_check() {
    let jamf = fake().await;
    jamf.set_fault(Some(Fault::Status(500)));
    let jamf_provider = probed(&jamf).await;
    let stats = jamf.stats();
    assert_eq!(stats.token_requests, 1, "{stats:?}");
    assert!(stats.lookup_requests <= 2, "{stats:?}");
    for _ in 0..3 {
        all_unready(&jamf_provider, 50).await;
    }
    assert_eq!(jamf.stats(), stats, "the failure was not reused");
}

/// The same while the token endpoint fails: the token is checked at every probe, but a
/// failed fetch is reused too, so the probes don't each send one.
#[tokio::test]
async fn readiness_probes_while_the_token_endpoint_fails_make_one_token_request() {
    let jamf = fake().await;
    jamf.set_token_fault(Some(TokenFault::Status(500)));
    let jamf_provider = probed(&jamf).await;
    for _ in 0..20 {
        all_unready(&jamf_provider, 1).await;
    }
    let stats = jamf.stats();
    assert_eq!(
        (stats.token_requests, stats.lookup_requests),
        (1, 0),
        "{stats:?}"
    );
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let env = |url: &'static str| {
        move |name: &str| match name {
            "JAMF_BASE_URL" => Some(url.to_owned()),
            "JAMF_CLIENT_ID" => Some(CLIENT_ID.to_owned()),
            "JAMF_CLIENT_SECRET" => Some(CLIENT_SECRET.to_owned()),
            _ => None,
        }
    };
    let err = JamfConfig::from_env(env("http://example.jamfcloud.com")).unwrap_err();
    assert_eq!(err.problems().len(), 1);
    assert_eq!(err.problems()[0].variable, "JAMF_BASE_URL");
    assert!(
        err.to_string()
            .contains("use https://example.jamfcloud.com"),
        "{err}"
    );
    assert!(JamfConfig::from_env(env("http://127.0.0.1:8080")).is_ok());
    assert!(JamfConfig::from_env(env("http://localhost:8080/jamf/")).is_ok());
    assert!(JamfConfig::from_env(env("https://example.jamfcloud.com")).is_ok());
}

#[test]
fn an_extra_ca_from_jamf_ca_path_is_used() {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    let path = std::env::temp_dir().join(format!("posture-jamf-ca-{}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    let path_text = path.to_str().unwrap().to_owned();
    let config = JamfConfig::from_env(|name| match name {
        "JAMF_BASE_URL" => Some("https://jamf.example.com:8443/".to_owned()),
        "JAMF_CLIENT_ID" => Some(CLIENT_ID.to_owned()),
        "JAMF_CLIENT_SECRET" => Some(CLIENT_SECRET.to_owned()),
        "JAMF_CA_PATH" => Some(path_text.clone()),
        _ => None,
    })
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(config.extra_roots().len(), 1);
    JamfProvider::new(config).unwrap();
}
