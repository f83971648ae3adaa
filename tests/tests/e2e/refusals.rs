//! Requests that must be refused before any provider is asked.

use http::{HeaderMap, HeaderValue, StatusCode};
use smallstep_webhook::{SIGNATURE_HEADER, Signer, WEBHOOK_ID_HEADER, WebhookSecret};
use step_posture_tests::deployment::Expect;
use step_posture_tests::raw::{loopback, post_from};
use step_posture_tests::server::{
    AUTHORIZING_SECRET, ENRICHING_ID, ENRICHING_SECRET, enriching_body, enriching_signer, json,
    signed_enriching,
};

/// A bare 401 `{"allow":false}`: no detail for the caller.
fn unauthorized() -> Expect {
    Expect::refused(StatusCode::UNAUTHORIZED)
}

fn valid() -> (HeaderMap, Vec<u8>) {
    signed_enriching("C02XL0GJJG5J").unwrap()
}

/// A webhook ID the server does not know.
const STRANGER_ID: &str = "11111111-2222-4333-8444-555555555555";

/// Starts a file-provider server and sends `body` with each case's headers: every one gets
/// a bare 401.
async fn all_refused(body: &[u8], cases: Vec<(String, HeaderMap)>) {
    let d = crate::start(&[]).await;
    for (case, headers) in cases {
        d.expect_post(&case, &headers, body.to_vec(), &unauthorized())
            .await;
    }
}

#[tokio::test]
async fn unknown_ids_wrong_secrets_and_bodies_signed_for_another_webhook_are_refused() {
    let (_, body) = valid();
    let signer = |id, secret| Signer::new(id, secret).unwrap().headers(&body);
    // What a ca.json-only webhook sends: HMAC under an empty key.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"");
    let tag = ring::hmac::sign(&key, &body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let empty_key = |id: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static(id));
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&hex).unwrap());
        headers
    };
    let secret = |base64: &str| WebhookSecret::from_base64(base64).unwrap();
    let cases = [
        // A well-formed signature under the right secret, but an ID the server doesn't know.
        ("unknown ID", signer(STRANGER_ID, secret(ENRICHING_SECRET))),
        ("empty ID, empty key", empty_key("")),
        ("unknown ID, empty key", empty_key(STRANGER_ID)),
        (
            "wrong secret",
            signer(ENRICHING_ID, WebhookSecret::generate().unwrap()),
        ),
        // Signed with the AUTHORIZING webhook's secret but sent under the ENRICHING ID.
        (
            "other webhook's secret",
            signer(ENRICHING_ID, secret(AUTHORIZING_SECRET)),
        ),
    ];
    let cases = cases.map(|(case, headers)| (case.to_owned(), headers));
    all_refused(&body, cases.into()).await;
}

#[tokio::test]
async fn malformed_signatures_are_refused() {
    let (headers, body) = valid();
    let good = headers
        .get(SIGNATURE_HEADER)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let legacy = format!("{}{}", "7b".repeat(body.len()), &good);
    let last = if good.ends_with('0') { '1' } else { '0' };
    let signatures = [
        ("not hex", "z".repeat(64)),
        ("63 characters", good[..63].to_owned()),
        ("65 characters", format!("{good}0")),
        ("empty", String::new()),
        ("pre-0.25 legacy form", legacy),
        ("one digit changed", format!("{}{last}", &good[..63])),
    ];
    let cases = signatures.map(|(case, signature)| {
        let mut headers = headers.clone();
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
        (case.to_owned(), headers)
    });
    all_refused(&body, cases.into()).await;
}

#[tokio::test]
async fn missing_and_duplicated_headers_are_refused() {
    let (headers, body) = valid();
    let mut cases = Vec::new();
    for name in [WEBHOOK_ID_HEADER, SIGNATURE_HEADER] {
        let mut missing = headers.clone();
        missing.remove(name);
        cases.push((format!("missing {name}"), missing));
        let mut duplicated = headers.clone();
        let value = duplicated.get(name).unwrap().clone();
        duplicated.append(name, value);
        cases.push((format!("duplicated {name}"), duplicated));
    }
    all_refused(&body, cases).await;
}

/// A request for a listed device, signed, its timestamp `offset` seconds from now.
fn timestamped(offset: i64) -> (HeaderMap, Vec<u8>) {
    let mut body = enriching_body("C02XL0GJJG5J", None).unwrap();
    body.timestamp = Some(time::OffsetDateTime::now_utc() + time::Duration::seconds(offset));
    let signed = enriching_signer().unwrap().sign_body(&body);
    (signed.headers, signed.body)
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused() {
    let d = crate::start(&[]).await;
    for (offset, expected) in [
        (-120, unauthorized()),
        (120, unauthorized()),
        // Within the window (a retry a few seconds later, a little clock drift): accepted.
        (-5, Expect::allowed()),
        (5, Expect::allowed()),
    ] {
        let (headers, body) = timestamped(offset);
        d.expect_post(&format!("{offset} s"), &headers, body, &expected)
            .await;
    }
}

#[tokio::test]
async fn the_timestamp_window_is_configurable() {
    let d = crate::start(&[("MAX_REQUEST_AGE", "300")]).await;
    let (headers, body) = timestamped(-120);
    d.expect_post("-120 s", &headers, body, &Expect::allowed())
        .await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let d = crate::start(&[("MAX_BODY_BYTES", "4096")]).await;
    let big = vec![b' '; 5000];
    let headers = enriching_signer().unwrap().headers(&big);
    let too_large = Expect::refused(StatusCode::PAYLOAD_TOO_LARGE);
    d.expect_post("5000 bytes", &headers, big, &too_large).await;
    // A normal request still fits.
    let (headers, body) = valid();
    d.expect_post("a normal request", &headers, body, &Expect::allowed())
        .await;
}

#[tokio::test]
async fn proxy_client_certificate_headers_are_ignored() {
    let d = crate::start(&[]).await;
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-client-cert",
        HeaderValue::from_static("Hash=trusted;DNS=ca.example.com"),
    );
    d.expect_post("XFCC without a signature", &headers, "{}", &unauthorized())
        .await;
}

#[tokio::test]
async fn guessing_from_one_address_is_throttled_and_signed_requests_and_other_addresses_are_not() {
    let d = crate::start(&[("AUTH_FAILURE_LIMIT", "5"), ("AUTH_FAILURE_WINDOW", "3600")]).await;
    let guesser = loopback(1);
    let other = loopback(2);
    let post = |from, headers: HeaderMap, body: Vec<u8>| {
        let pki = &d.pki;
        let addr = d.server.addr();
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
