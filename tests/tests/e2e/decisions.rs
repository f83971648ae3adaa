//! What listed, unlisted and malformed device requests get.

use http::{HeaderMap, Method, StatusCode};
use smallstep_webhook::RequestBody;
use step_posture_tests::pki::Pki;
use step_posture_tests::server::{
    Client, DEVICES_CSV, TestServer, authorizing_signer, enriching_body, enriching_signer, json,
};

#[tokio::test]
async fn a_listed_device_is_allowed_with_its_data_from_json() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let (status, body) = Client::new(&pki)
        .unwrap()
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        serde_json::json!({"allow": true, "data": {"user": {"email_address": "alice@example.com", "department": "Engineering"}, "groups": ["Compliant Macs"]}})
    );
    server.stop().await;
}

#[tokio::test]
async fn a_listed_device_is_allowed_with_its_data_from_csv() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start_with_devices(&pki, "devices.csv", DEVICES_CSV, &[])
        .await
        .unwrap();
    let client = Client::new(&pki).unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("13804722", None).unwrap());
    let (status, body) = client
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        serde_json::json!({"allow": true, "data": {"email_address": "ops@example.com", "department": "Operations, Keys"}})
    );
    server.stop().await;
}

#[tokio::test]
async fn a_device_without_data_is_allowed_without_data() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("13804722", None).unwrap());
    let (status, body) = Client::new(&pki)
        .unwrap()
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body), serde_json::json!({"allow": true}));
}

#[tokio::test]
async fn an_unlisted_device_is_denied_with_an_error_object() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02UNKNOWN00", None).unwrap());
    let (status, body) = Client::new(&pki)
        .unwrap()
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let body = json(&body);
    assert_eq!(body["allow"], false);
    assert_eq!(body["error"]["code"], "deviceNotFound");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("C02UNKNOWN00"),
        "{body}"
    );
}

#[tokio::test]
async fn an_authorizing_body_works_on_the_same_route() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let now = time::OffsetDateTime::now_utc();
    for (serial, allowed) in [("F4KQ2J9XN7", true), ("C02UNKNOWN00", false)] {
        let signed = authorizing_signer()
            .unwrap()
            .sign_body(&RequestBody::device_attest_authorizing(serial, now));
        let (status, body) = client
            .post(&server.webhook_url(), &signed.headers, signed.body)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&body)["allow"], allowed, "{serial}");
    }
}

#[tokio::test]
async fn a_csr_without_a_common_name_is_accepted() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", Some("")).unwrap());
    let (status, body) = Client::new(&pki)
        .unwrap()
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["allow"], true);
}

#[tokio::test]
async fn a_common_name_that_differs_from_the_identifier_is_denied() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", Some("F4KQ2J9XN7")).unwrap());
    let (_, body) = client
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(json(&body)["error"]["code"], "identifierMismatch");

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
    let signed = authorizing_signer().unwrap().sign_body(&body);
    let (_, body) = client
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(json(&body)["error"]["code"], "identifierMismatch");
}

#[tokio::test]
async fn missing_attestation_data_is_denied() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let mut body = enriching_body("C02XL0GJJG5J", None).unwrap();
    body.attestation_data = None;
    let signed = enriching_signer().unwrap().sign_body(&body);
    let (status, body) = Client::new(&pki)
        .unwrap()
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["error"]["code"], "missingIdentifier");
}

#[tokio::test]
async fn authentic_but_broken_json_is_denied() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    for broken in [&b"{\"timestamp\":"[..], b"[]", b"not json", b""] {
        let headers = enriching_signer().unwrap().headers(broken);
        let (status, body) = client
            .post(&server.webhook_url(), &headers, broken.to_vec())
            .await
            .unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{:?}",
            String::from_utf8_lossy(broken)
        );
        assert_eq!(json(&body)["error"]["code"], "badRequest");
    }
}

#[tokio::test]
async fn an_ssh_body_is_not_a_device_attest_request() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let body = format!(
        "{{\"timestamp\":\"{}\",\"sshCertificateRequest\":{{\"type\":\"user\",\"keyID\":\"alice\",\"principals\":[\"alice\"]}}}}",
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let headers = enriching_signer().unwrap().headers(body.as_bytes());
    let (_, response) = Client::new(&pki)
        .unwrap()
        .post(&server.webhook_url(), &headers, body)
        .await
        .unwrap();
    assert_eq!(json(&response)["error"]["code"], "missingIdentifier");
}

#[tokio::test]
async fn the_mode_query_is_checked() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    for (query, expected) in [
        ("?mode=computer", "allow"),
        ("?mode=mobiledevice", "allow"),
        ("?mode=auto", "allow"),
        ("?mode=laptop", "invalidMode"),
    ] {
        let signed = enriching_signer()
            .unwrap()
            .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
        let url = server.url(&format!("/webhook/device-attest{query}"));
        let (status, body) = client
            .post(&url, &signed.headers, signed.body)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        let body = json(&body);
        if expected == "allow" {
            assert_eq!(body["allow"], true, "{query}");
        } else {
            assert_eq!(body["error"]["code"], expected, "{query}");
        }
    }
}

#[tokio::test]
async fn step_ca_retry_of_the_identical_request_gets_the_same_answer() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let first = client
        .post(&server.webhook_url(), &signed.headers, signed.body.clone())
        .await
        .unwrap();
    let second = client
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(first.0, StatusCode::OK);
}

#[tokio::test]
async fn health_endpoints_other_paths_and_methods() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let none = HeaderMap::new();
    let (status, _) = client
        .send(Method::GET, &server.url("/livez"), &none, "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, body) = client
        .send(Method::GET, &server.url("/readyz"), &none, "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let (status, _) = client
        .send(Method::GET, &server.webhook_url(), &none, "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = client
        .send(Method::PUT, &server.webhook_url(), &none, "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = client
        .post(&server.url("/webhook/other"), &none, "")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = client.post(&server.url("/"), &none, "").await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
}
