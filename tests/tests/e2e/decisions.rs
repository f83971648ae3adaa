//! What listed, unlisted and malformed device requests get.

use http::{HeaderMap, Method, StatusCode};
use serde_json::json;
use smallstep_webhook::RequestBody;
use step_posture_tests::deployment::{Deployment, Expect};
use step_posture_tests::server::{
    DEVICES_CSV, Options, authorizing_signer, enriching_body, enriching_signer, signed_enriching,
};

#[tokio::test]
async fn listed_devices_are_allowed_with_their_data_and_unlisted_ones_denied() {
    let d = crate::start(&[]).await;
    d.expect(&[
        (
            "C02XL0GJJG5J",
            Expect::body(
                json!({"allow": true, "data": {"user": {"email_address": "alice@example.com", "department": "Engineering"}, "groups": ["Compliant Macs"]}}),
            ),
        ),
        // A device without data is allowed without data.
        ("13804722", Expect::body(json!({"allow": true}))),
        // An unlisted one is denied with an error object naming it.
        (
            "C02UNKNOWN00",
            Expect::denied("deviceNotFound").containing("C02UNKNOWN00"),
        ),
    ])
    .await;
    d.server.stop().await;
}

#[tokio::test]
async fn a_listed_device_is_allowed_with_its_data_from_csv() {
    let options = Options {
        devices: Some(("devices.csv", DEVICES_CSV)),
        ..Options::default()
    };
    let d = Deployment::start_with(&[], options).await.unwrap();
    let data = json!({"email_address": "ops@example.com", "department": "Operations, Keys"});
    d.expect(&[(
        "13804722",
        Expect::body(json!({"allow": true, "data": data})),
    )])
    .await;
    d.server.stop().await;
}

#[tokio::test]
async fn an_authorizing_body_works_on_the_same_route() {
    let d = crate::start(&[]).await;
    let now = time::OffsetDateTime::now_utc();
    let signer = authorizing_signer().unwrap();
    for (serial, expected) in [
        ("F4KQ2J9XN7", Expect::allowed()),
        ("C02UNKNOWN00", Expect::denied("deviceNotFound")),
    ] {
        let body = RequestBody::device_attest_authorizing(serial, now);
        let answer = d.post_signed("", &signer, &body).await.unwrap();
        expected.check(serial, &answer);
    }
}

/// The CSR's common name, when there is one, must be the identifier asked about.
#[tokio::test]
async fn a_common_name_is_absent_or_the_identifier() {
    let d = crate::start(&[]).await;
    let signer = enriching_signer().unwrap();
    for (common_name, expected) in [
        ("", Expect::allowed()),
        ("F4KQ2J9XN7", Expect::denied("identifierMismatch")),
    ] {
        let body = enriching_body("C02XL0GJJG5J", Some(common_name)).unwrap();
        let answer = d.post_signed("", &signer, &body).await.unwrap();
        expected.check(common_name, &answer);
    }

    // The authorizing form reads the CN from the rendered certificate.
    let mut body =
        RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc());
    if let Some(template) = body
        .x509_certificate
        .as_mut()
        .and_then(|c| c.template.as_mut())
    {
        template.subject = smallstep_webhook::Name::with_common_name("F4KQ2J9XN7");
    }
    let signer = authorizing_signer().unwrap();
    let answer = d.post_signed("", &signer, &body).await.unwrap();
    Expect::denied("identifierMismatch").check("authorizing", &answer);
}

/// Authentic bodies that name no device: no attestation data, an SSH request, broken JSON.
#[tokio::test]
async fn authentic_bodies_without_a_device_identifier_are_denied() {
    let d = crate::start(&[]).await;
    let mut no_attestation = enriching_body("C02XL0GJJG5J", None).unwrap();
    no_attestation.attestation_data = None;
    let ssh = format!(
        "{{\"timestamp\":\"{}\",\"sshCertificateRequest\":{{\"type\":\"user\",\"keyID\":\"alice\",\"principals\":[\"alice\"]}}}}",
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let signer = enriching_signer().unwrap();
    for (case, body, code) in [
        (
            "no attestation data",
            signer.sign_body(&no_attestation).body,
            "missingIdentifier",
        ),
        ("an SSH request", ssh.into_bytes(), "missingIdentifier"),
        ("cut short", b"{\"timestamp\":".to_vec(), "badRequest"),
        ("an array", b"[]".to_vec(), "badRequest"),
        ("not JSON", b"not json".to_vec(), "badRequest"),
        ("empty", Vec::new(), "badRequest"),
    ] {
        let headers = signer.headers(&body);
        d.expect_post(case, &headers, body, &Expect::denied(code))
            .await;
    }
}

#[tokio::test]
async fn the_mode_query_is_checked() {
    let d = crate::start(&[]).await;
    for (query, expected) in [
        ("?mode=computer", Expect::allowed()),
        ("?mode=mobiledevice", Expect::allowed()),
        ("?mode=auto", Expect::allowed()),
        ("?mode=laptop", Expect::denied("invalidMode")),
    ] {
        d.expect_at(query, &[("C02XL0GJJG5J", expected)]).await;
    }
}

#[tokio::test]
async fn step_ca_retry_of_the_identical_request_gets_the_same_answer() {
    let d = crate::start(&[]).await;
    let (headers, body) = signed_enriching("C02XL0GJJG5J").unwrap();
    let url = d.url("");
    let first = d.client.post(&url, &headers, body.clone()).await.unwrap();
    let second = d.client.post(&url, &headers, body).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.0, StatusCode::OK);
}

#[tokio::test]
async fn health_endpoints_other_paths_and_methods() {
    let d = crate::start(&[]).await;
    let none = HeaderMap::new();
    for (method, path, expected) in [
        (Method::GET, "/livez", StatusCode::OK),
        (Method::GET, "/readyz", StatusCode::OK),
        (
            Method::GET,
            "/webhook/device-attest",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::PUT,
            "/webhook/device-attest",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::POST, "/webhook/other", StatusCode::NOT_FOUND),
        (Method::POST, "/", StatusCode::NOT_FOUND),
    ] {
        let url = d.server.url(path);
        let (status, body) = d
            .client
            .send(method.clone(), &url, &none, "")
            .await
            .unwrap();
        assert_eq!(status, expected, "{method} {path}: {body:?}");
    }
}
