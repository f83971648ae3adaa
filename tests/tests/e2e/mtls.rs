//! mTLS: a client certificate that merely chains to step-ca's root is not enough.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use smallstep_webhook::{Signer, WebhookSecret};
use step_posture_tests::deployment::{Deployment, Expect};
use step_posture_tests::pki::{Identity, Pki, STEP_CA_NAME};
use step_posture_tests::server::{
    Client, ENRICHING_ID, Options, TestServer, enriching_body, signed_enriching,
};

async fn mtls_server(extra: &[(&str, &str)]) -> Deployment {
    let pki = Pki::generate().unwrap();
    let ca = pki.ca.display().to_string();
    let mut vars = vec![
        ("ENABLE_MTLS", "1"),
        ("TLS_CA_PATH", ca.as_str()),
        ("MTLS_ALLOWED_NAMES", STEP_CA_NAME),
    ];
    vars.extend_from_slice(extra);
    Deployment::with_pki(pki, &vars, Options::default())
        .await
        .unwrap()
}

/// Whether a full webhook exchange succeeds with a client presenting `identity` (`None`: no
/// client certificate).
async fn exchange(d: &Deployment, identity: Option<&Identity>) -> anyhow::Result<StatusCode> {
    let client = match identity {
        Some(identity) => Client::with_identity(&d.pki, identity)?,
        None => Client::new(&d.pki)?,
    };
    let (headers, body) = signed_enriching("C02XL0GJJG5J")?;
    let (status, body) = client.post_json(&d.url(""), &headers, body).await?;
    if status == StatusCode::OK {
        assert_eq!(body["allow"], true);
    }
    Ok(status)
}

/// The `served` clients' exchanges succeed; the `refused` ones fail at the handshake.
async fn expect_clients(
    d: &Deployment,
    served: &[(&str, &Identity)],
    refused: &[(&str, &Identity)],
) {
    for (case, identity) in served {
        let status = exchange(d, Some(identity)).await;
        assert_eq!(status.unwrap(), StatusCode::OK, "{case}");
    }
    for (case, identity) in refused {
        let result = exchange(d, Some(identity)).await;
        assert!(
            result.is_err(),
            "{case}: expected a TLS failure, got {result:?}"
        );
    }
}

#[tokio::test]
async fn clients_that_are_not_step_ca_are_refused_at_the_handshake() {
    let d = mtls_server(&[]).await;
    let pki = &d.pki;
    let result = exchange(&d, None).await;
    assert!(
        result.is_err(),
        "no client certificate: expected a TLS failure, got {result:?}"
    );
    // anyExtendedKeyUsage stands where serverAuth should be, with step-ca's name and root
    // and clientAuth for the chain check: device templates can carry it, step-ca's own
    // certificate does not.
    expect_clients(
        &d,
        &[("step-ca, an allowed name", &pki.step_ca)],
        &[
            ("another CA", &pki.other_ca),
            ("right CA, name not allowed", &pki.wrong_name),
            ("a device of the same CA", &pki.device),
            ("only clientAuth, step-ca's name", &pki.device_with_ca_name),
            ("anyExtendedKeyUsage", &pki.any_eku_with_ca_name),
            ("step-ca's, expired", &pki.expired_step_ca),
            ("step-ca's, not yet valid", &pki.future_step_ca),
            ("the root CA itself", &pki.root_as_client),
        ],
    )
    .await;
    // The server is still healthy for step-ca afterwards.
    let client = Client::with_identity(pki, &pki.step_ca).unwrap();
    let (status, _) = client
        .send(Method::GET, &d.server.url("/livez"), &HeaderMap::new(), "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    expect_clients(&d, &[("step-ca, afterwards", &pki.step_ca)], &[]).await;
}

/// One of a [`Pki`]'s identities.
type Pick = fn(&Pki) -> &Identity;

/// Each setting loosens only its own check. Without the serverAuth requirement, step-ca's
/// name with clientAuth only passes, and the name allowlist still applies; without an
/// allowlist, any name from the CA with serverAuth passes, and another CA's does not.
#[tokio::test]
async fn the_server_auth_requirement_and_the_allowlist_can_each_be_turned_off() {
    let cases: [((&str, &str), Pick, Pick); 2] = [
        (
            ("MTLS_REQUIRE_SERVER_AUTH", "0"),
            |pki| &pki.device_with_ca_name,
            |pki| &pki.wrong_name,
        ),
        (
            ("MTLS_ALLOWED_NAMES", ""),
            |pki| &pki.wrong_name,
            |pki| &pki.other_ca,
        ),
    ];
    for (setting, served, refused) in cases {
        let d = mtls_server(&[setting]).await;
        let (served, refused) = (served(&d.pki), refused(&d.pki));
        expect_clients(&d, &[(setting.0, served)], &[(setting.0, refused)]).await;
    }
}

#[tokio::test]
async fn a_proxy_header_naming_step_ca_does_not_stand_in_for_a_certificate() {
    let d = mtls_server(&[]).await;
    // A device certificate, with headers a TLS-terminating proxy would add for step-ca.
    let client = Client::with_identity(&d.pki, &d.pki.device).unwrap();
    let (mut headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
    for (name, value) in [
        (
            "x-forwarded-client-cert",
            "By=spiffe://x;Hash=00;DNS=ca.example.com",
        ),
        ("x-ssl-client-verify", "SUCCESS"),
        ("x-forwarded-for", "10.0.0.1"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let result = client.post(&d.url(""), &headers, body).await;
    assert!(result.is_err(), "{result:?}");
}

/// A webhook defined in step-ca's `ca.json`, which signs with an empty key.
const CA_JSON_ID: &str = "5f2a1c7e-0000-4000-8000-0000000ca750";

fn ca_json_signer() -> Signer {
    Signer::new(CA_JSON_ID, WebhookSecret::ca_json_empty_key()).unwrap()
}

#[tokio::test]
async fn an_mtls_only_webhook_passes_with_step_ca_s_certificate_and_an_unaltered_body() {
    let d = mtls_server(&[("WEBHOOK_MTLS_ONLY_IDS", CA_JSON_ID)]).await;
    let client = Client::with_identity(&d.pki, &d.pki.step_ca).unwrap();
    let signed = ca_json_signer().sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    // A body altered in transit no longer matches step-ca's (empty-key) signature.
    let mut altered = signed.body.clone();
    let at = altered.len() / 2;
    altered[at] ^= 0x01;
    // Webhooks with a secret keep full HMAC authentication: the empty key is not theirs.
    let forged = Signer::new(ENRICHING_ID, WebhookSecret::ca_json_empty_key())
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let unauthorized = || Expect::status(StatusCode::UNAUTHORIZED);
    for (case, headers, body, expected) in [
        (
            "unaltered",
            &signed.headers,
            signed.body.clone(),
            Expect::allowed(),
        ),
        (
            "altered in transit",
            &signed.headers,
            altered,
            unauthorized(),
        ),
        (
            "the empty key for ENRICHING",
            &forged.headers,
            forged.body,
            unauthorized(),
        ),
    ] {
        let answer = client.post_json(&d.url(""), headers, body).await;
        expected.check(case, &answer.unwrap());
    }
    // Without step-ca's certificate nothing reaches the webhook.
    let device = Client::with_identity(&d.pki, &d.pki.device).unwrap();
    let signed = ca_json_signer().sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let result = device.post(&d.url(""), &signed.headers, signed.body).await;
    assert!(result.is_err(), "{result:?}");
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
