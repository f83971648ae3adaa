//! mTLS: a client certificate that merely chains to step-ca's root is not enough.

use http::{HeaderMap, Method, StatusCode};
use step_posture_tests::pki::{Pki, STEP_CA_NAME};
use step_posture_tests::server::{Client, TestServer, enriching_body, enriching_signer, json};

async fn mtls_server(pki: &Pki, extra: &[(&str, &str)]) -> TestServer {
    let ca = pki.ca.display().to_string();
    let mut vars = vec![
        ("ENABLE_MTLS", "1"),
        ("TLS_CA_PATH", ca.as_str()),
        ("MTLS_ALLOWED_NAMES", STEP_CA_NAME),
    ];
    vars.extend_from_slice(extra);
    TestServer::start(pki, &vars).await.unwrap()
}

/// Whether a full webhook exchange succeeds with `client`.
async fn exchange(server: &TestServer, client: &Client) -> anyhow::Result<StatusCode> {
    let signed = enriching_signer()?.sign_body(&enriching_body("C02XL0GJJG5J", None)?);
    let (status, body) = client
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await?;
    if status == StatusCode::OK {
        assert_eq!(json(&body)["allow"], true);
    }
    Ok(status)
}

#[tokio::test]
async fn step_ca_certificate_with_an_allowed_name_passes() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[]).await;
    let client = Client::with_identity(&pki, &pki.step_ca).unwrap();
    assert_eq!(exchange(&server, &client).await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn clients_that_are_not_step_ca_are_refused_at_the_handshake() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[]).await;
    let cases = [
        ("no client certificate", Client::new(&pki).unwrap()),
        (
            "a certificate from another CA",
            Client::with_identity(&pki, &pki.other_ca).unwrap(),
        ),
        (
            "the right CA, a name not on the allowlist",
            Client::with_identity(&pki, &pki.wrong_name).unwrap(),
        ),
        (
            "a device certificate from the same CA",
            Client::with_identity(&pki, &pki.device).unwrap(),
        ),
        (
            "step-ca's name but only clientAuth",
            Client::with_identity(&pki, &pki.device_with_ca_name).unwrap(),
        ),
    ];
    for (case, client) in cases {
        let result = exchange(&server, &client).await;
        assert!(
            result.is_err(),
            "{case}: expected a TLS failure, got {result:?}"
        );
    }
    // The server is still healthy for step-ca afterwards.
    let client = Client::with_identity(&pki, &pki.step_ca).unwrap();
    let (status, _) = client
        .send(Method::GET, &server.url("/livez"), &HeaderMap::new(), "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn any_extended_key_usage_does_not_stand_in_for_server_auth() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[]).await;
    // step-ca's name and root, clientAuth for the chain check, and anyExtendedKeyUsage where
    // serverAuth should be: device templates can carry it, step-ca's own certificate does not.
    let client = Client::with_identity(&pki, &pki.any_eku_with_ca_name).unwrap();
    let result = exchange(&server, &client).await;
    assert!(result.is_err(), "expected a TLS failure, got {result:?}");
    let client = Client::with_identity(&pki, &pki.step_ca).unwrap();
    assert_eq!(exchange(&server, &client).await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn the_server_auth_requirement_can_be_turned_off() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[("MTLS_REQUIRE_SERVER_AUTH", "0")]).await;
    let client = Client::with_identity(&pki, &pki.device_with_ca_name).unwrap();
    assert_eq!(exchange(&server, &client).await.unwrap(), StatusCode::OK);
    // The name allowlist still applies.
    let client = Client::with_identity(&pki, &pki.wrong_name).unwrap();
    assert!(exchange(&server, &client).await.is_err());
}

#[tokio::test]
async fn without_an_allowlist_any_certificate_from_the_ca_with_server_auth_passes() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[("MTLS_ALLOWED_NAMES", "")]).await;
    let client = Client::with_identity(&pki, &pki.wrong_name).unwrap();
    assert_eq!(exchange(&server, &client).await.unwrap(), StatusCode::OK);
    let client = Client::with_identity(&pki, &pki.other_ca).unwrap();
    assert!(exchange(&server, &client).await.is_err());
}

#[tokio::test]
async fn expired_not_yet_valid_and_root_certificates_are_refused() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[]).await;
    for (case, identity) in [
        ("step-ca's certificate, expired", &pki.expired_step_ca),
        ("step-ca's certificate, not yet valid", &pki.future_step_ca),
        ("the root CA certificate itself", &pki.root_as_client),
    ] {
        let client = Client::with_identity(&pki, identity).unwrap();
        let result = exchange(&server, &client).await;
        assert!(
            result.is_err(),
            "{case}: expected a TLS failure, got {result:?}"
        );
    }
    let client = Client::with_identity(&pki, &pki.step_ca).unwrap();
    assert_eq!(exchange(&server, &client).await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn a_proxy_header_naming_step_ca_does_not_stand_in_for_a_certificate() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[]).await;
    // A device certificate, with headers a TLS-terminating proxy would add for step-ca.
    let client = Client::with_identity(&pki, &pki.device).unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let mut headers = signed.headers.clone();
    headers.insert(
        "x-forwarded-client-cert",
        http::HeaderValue::from_static("By=spiffe://x;Hash=00;DNS=ca.example.com"),
    );
    headers.insert(
        "x-ssl-client-verify",
        http::HeaderValue::from_static("SUCCESS"),
    );
    headers.insert(
        "x-forwarded-for",
        http::HeaderValue::from_static("10.0.0.1"),
    );
    let result = client
        .post(&server.webhook_url(), &headers, signed.body)
        .await;
    assert!(result.is_err(), "{result:?}");
}

/// A webhook defined in step-ca's `ca.json`, which signs with an empty key.
const CA_JSON_ID: &str = "5f2a1c7e-0000-4000-8000-0000000ca750";

fn ca_json_signer() -> smallstep_webhook::Signer {
    smallstep_webhook::Signer::new(
        CA_JSON_ID,
        smallstep_webhook::WebhookSecret::ca_json_empty_key(),
    )
    .unwrap()
}

#[tokio::test]
async fn an_mtls_only_webhook_passes_with_step_ca_s_certificate_and_an_unaltered_body() {
    let pki = Pki::generate().unwrap();
    let server = mtls_server(&pki, &[("WEBHOOK_MTLS_ONLY_IDS", CA_JSON_ID)]).await;
    let client = Client::with_identity(&pki, &pki.step_ca).unwrap();
    let signed = ca_json_signer().sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let (status, body) = client
        .post(&server.webhook_url(), &signed.headers, signed.body.clone())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["allow"], true, "{}", json(&body));
    // A body altered in transit no longer matches step-ca's (empty-key) signature.
    let mut altered = signed.body.clone();
    let at = altered.len() / 2;
    altered[at] ^= 0x01;
    let (status, _) = client
        .post(&server.webhook_url(), &signed.headers, altered)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Webhooks with a secret keep full HMAC authentication: the empty key is not theirs.
    let forged = smallstep_webhook::Signer::new(
        step_posture_tests::server::ENRICHING_ID,
        smallstep_webhook::WebhookSecret::ca_json_empty_key(),
    )
    .unwrap()
    .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let (status, _) = client
        .post(&server.webhook_url(), &forged.headers, forged.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Without step-ca's certificate nothing reaches the webhook.
    let device = Client::with_identity(&pki, &pki.device).unwrap();
    let signed = ca_json_signer().sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    assert!(
        device
            .post(&server.webhook_url(), &signed.headers, signed.body)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn mtls_only_webhooks_need_client_certificates_pinned_to_step_ca() {
    let pki = Pki::generate().unwrap();
    let ca = pki.ca.display().to_string();
    for extra in [
        vec![("WEBHOOK_MTLS_ONLY_IDS", CA_JSON_ID)],
        vec![
            ("WEBHOOK_MTLS_ONLY_IDS", CA_JSON_ID),
            ("ENABLE_MTLS", "1"),
            ("TLS_CA_PATH", ca.as_str()),
        ],
    ] {
        let err = TestServer::start(&pki, &extra).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("WEBHOOK_MTLS_ONLY_IDS"), "{text}");
        assert!(text.contains("MTLS_ALLOWED_NAMES"), "{text}");
    }
}
