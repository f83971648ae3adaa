//! Requests that must be refused before any provider is asked.

use std::net::{IpAddr, Ipv4Addr};

use http::{HeaderMap, HeaderValue, StatusCode};
use smallstep_webhook::{SIGNATURE_HEADER, Signer, WEBHOOK_ID_HEADER, WebhookSecret};
use step_posture_tests::pki::Pki;
use step_posture_tests::raw::post_from;
use step_posture_tests::server::{
    AUTHORIZING_SECRET, Client, ENRICHING_ID, TestServer, enriching_body, enriching_signer, json,
};

/// Sends `body` with `headers` and asserts a bare 401 `{"allow":false}`.
async fn assert_unauthorized(
    server: &TestServer,
    client: &Client,
    headers: &HeaderMap,
    body: Vec<u8>,
    case: &str,
) {
    let (status, response) = client
        .post(&server.webhook_url(), headers, body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}");
    assert_eq!(
        json(&response),
        serde_json::json!({"allow": false}),
        "{case}: no detail for the caller"
    );
}

fn valid() -> (HeaderMap, Vec<u8>) {
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body("C02XL0GJJG5J", None).unwrap());
    (signed.headers, signed.body)
}

#[tokio::test]
async fn unknown_webhook_ids_are_refused_even_when_signed_with_an_empty_key() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let (_, body) = valid();

    // A well-formed signature under the right secret, but an ID the server doesn't know.
    let stranger = Signer::new(
        "11111111-2222-4333-8444-555555555555",
        WebhookSecret::from_base64(step_posture_tests::server::ENRICHING_SECRET).unwrap(),
    )
    .unwrap();
    assert_unauthorized(
        &server,
        &client,
        &stranger.headers(&body),
        body.clone(),
        "unknown ID",
    )
    .await;

    // What a ca.json-only webhook sends: HMAC under an empty key.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"");
    let tag = ring::hmac::sign(&key, &body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut headers = HeaderMap::new();
    headers.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static(""));
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&hex).unwrap());
    assert_unauthorized(
        &server,
        &client,
        &headers,
        body.clone(),
        "empty ID, empty key",
    )
    .await;
    headers.insert(
        WEBHOOK_ID_HEADER,
        HeaderValue::from_static("11111111-2222-4333-8444-555555555555"),
    );
    assert_unauthorized(&server, &client, &headers, body, "unknown ID, empty key").await;
}

#[tokio::test]
async fn a_wrong_secret_and_a_body_signed_for_another_webhook_are_refused() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let (_, body) = valid();
    let wrong = Signer::new(ENRICHING_ID, WebhookSecret::generate().unwrap()).unwrap();
    assert_unauthorized(
        &server,
        &client,
        &wrong.headers(&body),
        body.clone(),
        "wrong secret",
    )
    .await;
    // Signed with the AUTHORIZING webhook's secret but sent under the ENRICHING ID.
    let cross = Signer::new(
        ENRICHING_ID,
        WebhookSecret::from_base64(AUTHORIZING_SECRET).unwrap(),
    )
    .unwrap();
    assert_unauthorized(
        &server,
        &client,
        &cross.headers(&body),
        body,
        "other webhook's secret",
    )
    .await;
}

#[tokio::test]
async fn malformed_signatures_are_refused() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let (headers, body) = valid();
    let good = headers
        .get(SIGNATURE_HEADER)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let legacy = format!("{}{}", "7b".repeat(body.len()), &good);
    for (case, signature) in [
        ("not hex", "z".repeat(64)),
        ("63 characters", good[..63].to_owned()),
        ("65 characters", format!("{good}0")),
        ("empty", String::new()),
        ("pre-0.25 legacy form", legacy),
        (
            "one digit changed",
            format!(
                "{}{}",
                &good[..63],
                if good.ends_with('0') { '1' } else { '0' }
            ),
        ),
    ] {
        let mut headers = headers.clone();
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
        assert_unauthorized(&server, &client, &headers, body.clone(), case).await;
    }
}

#[tokio::test]
async fn missing_and_duplicated_headers_are_refused() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let (headers, body) = valid();
    for name in [WEBHOOK_ID_HEADER, SIGNATURE_HEADER] {
        let mut missing = headers.clone();
        missing.remove(name);
        assert_unauthorized(
            &server,
            &client,
            &missing,
            body.clone(),
            &format!("missing {name}"),
        )
        .await;
        let mut duplicated = headers.clone();
        let value = duplicated.get(name).unwrap().clone();
        duplicated.append(name, value);
        assert_unauthorized(
            &server,
            &client,
            &duplicated,
            body.clone(),
            &format!("duplicated {name}"),
        )
        .await;
    }
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    for (case, offset) in [("stale", -120), ("future", 120)] {
        let mut body = enriching_body("C02XL0GJJG5J", None).unwrap();
        body.timestamp = Some(time::OffsetDateTime::now_utc() + time::Duration::seconds(offset));
        let signed = enriching_signer().unwrap().sign_body(&body);
        assert_unauthorized(&server, &client, &signed.headers, signed.body, case).await;
    }
    // Within the window (a retry a few seconds later, a little clock drift): accepted.
    for offset in [-5, 5] {
        let mut body = enriching_body("C02XL0GJJG5J", None).unwrap();
        body.timestamp = Some(time::OffsetDateTime::now_utc() + time::Duration::seconds(offset));
        let signed = enriching_signer().unwrap().sign_body(&body);
        let (status, response) = client
            .post(&server.webhook_url(), &signed.headers, signed.body)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&response)["allow"], true);
    }
}

#[tokio::test]
async fn the_timestamp_window_is_configurable() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[("MAX_REQUEST_AGE", "300")])
        .await
        .unwrap();
    let client = Client::new(&pki).unwrap();
    let mut body = enriching_body("C02XL0GJJG5J", None).unwrap();
    body.timestamp = Some(time::OffsetDateTime::now_utc() - time::Duration::seconds(120));
    let signed = enriching_signer().unwrap().sign_body(&body);
    let (status, _) = client
        .post(&server.webhook_url(), &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[("MAX_BODY_BYTES", "4096")])
        .await
        .unwrap();
    let client = Client::new(&pki).unwrap();
    let big = vec![b' '; 5000];
    let headers = enriching_signer().unwrap().headers(&big);
    let (status, response) = client
        .post(&server.webhook_url(), &headers, big)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(&response), serde_json::json!({"allow": false}));
    // A normal request still fits.
    let (headers, body) = valid();
    let (status, _) = client
        .post(&server.webhook_url(), &headers, body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn proxy_client_certificate_headers_are_ignored() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-client-cert",
        HeaderValue::from_static("Hash=trusted;DNS=ca.example.com"),
    );
    assert_unauthorized(
        &server,
        &client,
        &headers,
        b"{}".to_vec(),
        "XFCC without a signature",
    )
    .await;
}

#[tokio::test]
async fn guessing_from_one_address_is_throttled_and_signed_requests_and_other_addresses_are_not() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(
        &pki,
        &[("AUTH_FAILURE_LIMIT", "5"), ("AUTH_FAILURE_WINDOW", "3600")],
    )
    .await
    .unwrap();
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let post = |from, headers: HeaderMap, body: Vec<u8>| {
        let pki = &pki;
        let addr = server.addr();
        async move { post_from(pki, from, addr, &headers, &body).await.unwrap() }
    };
    let (signed, body) = valid();
    let guess = || Signer::new(ENRICHING_ID, WebhookSecret::generate().unwrap()).unwrap();

    // Wrong secrets, as a dictionary attack sends them: the allowance is answered 401.
    for attempt in 1..=5 {
        let (status, head, response) = post(guesser, guess().headers(&body), body.clone()).await;
        assert_eq!(status, 401, "attempt {attempt}");
        assert!(!head.contains("retry-after"), "{head}");
        assert_eq!(json(&response), serde_json::json!({"allow": false}));
    }
    // Past it, every further guess is answered 429, with when to come back.
    for attempt in 6..=8 {
        let (status, head, response) = post(guesser, guess().headers(&body), body.clone()).await;
        assert_eq!(status, 429, "attempt {attempt}");
        assert!(head.contains("\r\nretry-after: "), "{head}");
        assert_eq!(json(&response), serde_json::json!({"allow": false}));
    }

    // A correctly signed request from the throttled address is verified and allowed, also
    // while a guess from the same address is being held.
    let (held, allowed) = tokio::join!(
        post(guesser, guess().headers(&body), body.clone()),
        post(guesser, signed.clone(), body.clone()),
    );
    assert_eq!(held.0, 429);
    assert_eq!(allowed.0, 200);
    assert_eq!(json(&allowed.2)["allow"], true);
    // It did not lift the throttle either.
    assert_eq!(
        post(guesser, guess().headers(&body), body.clone()).await.0,
        429
    );

    // Another address has its own allowance, and is served as before.
    let (status, _, _) = post(other, guess().headers(&body), body.clone()).await;
    assert_eq!(status, 401);
    let (status, _, response) = post(other, signed, body).await;
    assert_eq!(status, 200);
    assert_eq!(json(&response)["allow"], true);
}
