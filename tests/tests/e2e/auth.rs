//! The optional per-webhook `Authorization` header: required in addition to the HMAC when
//! configured, never instead of it.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, StatusCode};
use smallstep_webhook::{Authorization, RequestBody};
use step_posture_tests::pki::Pki;
use step_posture_tests::server::{
    Client, ENRICHING_ID, TestServer, authorizing_signer, enriching_body, enriching_signer, json,
};

const TOKEN: &str = "s3cr3t-bearer-token";
const USER: &str = "step-ca";
const PASSWORD: &str = "pa:ss;word";

/// The ENRICHING webhook needs a bearer token, the AUTHORIZING one basic credentials.
async fn server(pki: &Pki) -> TestServer {
    // The password holds a colon: only the first one separates it from the user name. The
    // credentials come from a file, one entry per line (the first, empty, is ENRICHING's).
    let dir = tempfile::tempdir().unwrap();
    let basic = dir.path().join("basic");
    std::fs::write(&basic, format!("\n{USER}:{PASSWORD}\n")).unwrap();
    let basic = basic.display().to_string();
    let tokens = format!("{TOKEN},");
    let server = TestServer::start(
        pki,
        &[
            ("WEBHOOK_BEARER_TOKENS", tokens.as_str()),
            ("WEBHOOK_BASIC_AUTH_FILE", basic.as_str()),
        ],
    )
    .await
    .unwrap();
    drop(dir);
    server
}

async fn post(
    server: &TestServer,
    client: &Client,
    headers: HeaderMap,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let (status, body) = client
        .post(&server.webhook_url(), &headers, body)
        .await
        .unwrap();
    (status, json(&body))
}

fn with_authorization(mut headers: HeaderMap, value: Option<&str>) -> HeaderMap {
    headers.remove(AUTHORIZATION);
    if let Some(value) = value {
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    headers
}

#[tokio::test]
async fn a_bearer_token_is_required_and_checked_when_configured() {
    let pki = Pki::generate().unwrap();
    let server = server(&pki).await;
    let client = Client::new(&pki).unwrap();
    let signer = enriching_signer()
        .unwrap()
        .with_authorization(Authorization::bearer(TOKEN).unwrap());
    let signed = signer.sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());

    let (status, body) = post(
        &server,
        &client,
        signed.headers.clone(),
        signed.body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allow"], true);
    // The scheme is case-insensitive, as HTTP says.
    let lower = with_authorization(signed.headers.clone(), Some(&format!("bearer {TOKEN}")));
    assert_eq!(
        post(&server, &client, lower, signed.body.clone()).await.0,
        StatusCode::OK
    );

    for (case, value) in [
        ("missing", None),
        ("wrong token", Some("Bearer not-the-token".to_owned())),
        ("token with a byte more", Some(format!("Bearer {TOKEN}x"))),
        (
            "token prefix",
            Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        ),
        ("basic instead of bearer", Some(format!("Basic {TOKEN}"))),
        ("no scheme", Some(TOKEN.to_owned())),
        ("empty", Some(String::new())),
    ] {
        let headers = with_authorization(signed.headers.clone(), value.as_deref());
        let (status, body) = post(&server, &client, headers, signed.body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(body, serde_json::json!({"allow": false}), "{case}");
    }
    // Two Authorization headers, one of them right: refused.
    let mut twice = signed.headers.clone();
    twice.append(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
    assert_eq!(
        post(&server, &client, twice, signed.body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_right_token_does_not_replace_the_hmac() {
    let pki = Pki::generate().unwrap();
    let server = server(&pki).await;
    let client = Client::new(&pki).unwrap();
    let signer = enriching_signer()
        .unwrap()
        .with_authorization(Authorization::bearer(TOKEN).unwrap());
    let signed = signer.sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    // Right token, body changed after signing.
    let mut tampered = signed.body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    let (status, _) = post(&server, &client, signed.headers.clone(), tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Right token, no signature at all.
    let mut unsigned = signed.headers.clone();
    unsigned.remove(smallstep_webhook::SIGNATURE_HEADER);
    let (status, _) = post(&server, &client, unsigned, signed.body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Right token and signature, but the body was signed for the other webhook.
    let other = authorizing_signer()
        .unwrap()
        .with_authorization(Authorization::bearer(TOKEN).unwrap());
    let mut headers = other.headers(&signed.body);
    headers.insert(
        smallstep_webhook::WEBHOOK_ID_HEADER,
        HeaderValue::from_static(ENRICHING_ID),
    );
    let (status, _) = post(&server, &client, headers, signed.body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn basic_credentials_are_required_and_checked_when_configured() {
    let pki = Pki::generate().unwrap();
    let server = server(&pki).await;
    let client = Client::new(&pki).unwrap();
    let body =
        RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc());
    let right = authorizing_signer()
        .unwrap()
        .with_authorization(Authorization::basic(USER, PASSWORD).unwrap());
    let signed = right.sign_body(&body);
    let (status, response) = post(
        &server,
        &client,
        signed.headers.clone(),
        signed.body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["allow"], true);

    let wrong_password = Authorization::basic(USER, "wrong").unwrap();
    let wrong_user = Authorization::basic("someone", PASSWORD).unwrap();
    let bearer = Authorization::bearer(TOKEN).unwrap();
    for (case, value) in [
        ("missing", None),
        (
            "wrong password",
            Some(wrong_password.header_value().to_str().unwrap().to_owned()),
        ),
        (
            "wrong user",
            Some(wrong_user.header_value().to_str().unwrap().to_owned()),
        ),
        (
            "a bearer token instead",
            Some(bearer.header_value().to_str().unwrap().to_owned()),
        ),
        ("not base64", Some("Basic !!!".to_owned())),
        (
            "unencoded credentials",
            Some(format!("Basic {USER}:{PASSWORD}")),
        ),
    ] {
        let headers = with_authorization(signed.headers.clone(), value.as_deref());
        let (status, body) = post(&server, &client, headers, signed.body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(body, serde_json::json!({"allow": false}), "{case}");
    }
}

#[tokio::test]
async fn webhooks_without_credentials_need_no_authorization_header() {
    let pki = Pki::generate().unwrap();
    // Only the AUTHORIZING webhook has a token here; the ENRICHING one has an empty entry.
    let tokens = format!(",{TOKEN}");
    let server = TestServer::start(&pki, &[("WEBHOOK_BEARER_TOKENS", tokens.as_str())])
        .await
        .unwrap();
    let client = Client::new(&pki).unwrap();
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    let (status, _) = post(
        &server,
        &client,
        signed.headers.clone(),
        signed.body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // An Authorization header nobody asked for changes nothing.
    let headers = with_authorization(signed.headers, Some("Bearer whatever"));
    let (status, _) = post(&server, &client, headers, signed.body).await;
    assert_eq!(status, StatusCode::OK);
    // The AUTHORIZING webhook needs its token.
    let body =
        RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc());
    let signed = authorizing_signer().unwrap().sign_body(&body);
    let (status, _) = post(&server, &client, signed.headers, signed.body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
