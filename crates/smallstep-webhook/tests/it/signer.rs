//! The signer produces what step-ca sends, and what it signs verifies.

use http::HeaderValue;
use smallstep_webhook::{
    Authorization, REQUEST_ID_HEADER, RequestBody, RequestKind, SIGNATURE_HEADER, Signer, Verifier,
    WEBHOOK_ID_HEADER, WebhookSecret,
};
use time::macros::datetime;

use crate::{ID_03, SECRET_03, V03, after};

fn pair() -> (Signer, Verifier) {
    let secret = WebhookSecret::generate().unwrap_or_else(|e| panic!("{e}"));
    let verifier = Verifier::builder()
        .webhook("hook", &secret.to_base64())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let signer = Signer::new("hook", secret).unwrap_or_else(|e| panic!("{e}"));
    (signer, verifier)
}

#[test]
fn sign_then_verify() {
    let (signer, verifier) = pair();
    let now = datetime!(2026-01-02 03:04:05.006 +01:00);
    let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", now);
    let request = signer.sign_body(&body);
    let verified = verifier.verify_at(&request.headers, &request.body, after(now, 2.0));
    let verified = verified.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.webhook_id(), "hook");
    assert_eq!(verified.body().to_json(), request.body);
    assert_eq!(verified.body().kind(), RequestKind::X509Authorizing);
    let (id, parsed) = verified.into_parts();
    assert_eq!(id, "hook");
    assert_eq!(parsed.certificate_common_name(), Some("C02XL0GJJG5J"));
}

#[test]
fn headers_are_what_step_ca_sends() {
    let secret = WebhookSecret::from_base64(SECRET_03).unwrap_or_else(|e| panic!("{e}"));
    let signer = Signer::new(ID_03, secret).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(signer.webhook_id(), ID_03);
    let headers = signer.headers(V03.body);
    assert_eq!(headers.len(), 2);
    assert_eq!(
        headers.get(SIGNATURE_HEADER).map(HeaderValue::as_bytes),
        Some(V03.signature.as_bytes())
    );
    assert_eq!(
        headers
            .get("X-Smallstep-Webhook-ID")
            .map(HeaderValue::as_bytes),
        Some(ID_03.as_bytes())
    );
    assert!(headers.get("content-type").is_none());
    assert!(headers.get(REQUEST_ID_HEADER).is_none());
    assert!(headers.get("authorization").is_none());

    // The signer's headers verify the vector.
    let verifier = Verifier::builder()
        .webhook(ID_03, SECRET_03)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let verified = verifier.verify_at(&headers, V03.body, after(V03.timestamp, 1.0));
    assert!(verified.is_ok(), "{verified:?}");

    // With basic auth, the header is Go's SetBasicAuth form.
    let signer = signer
        .with_authorization(Authorization::basic("user", "pass").unwrap_or_else(|e| panic!("{e}")));
    let headers = signer.headers(V03.body);
    assert_eq!(headers.len(), 3);
    assert_eq!(
        headers.get("authorization").map(HeaderValue::as_bytes),
        Some(&b"Basic dXNlcjpwYXNz"[..])
    );
}

#[test]
fn signatures_are_lowercase_hex() {
    let (signer, _) = pair();
    for body in [&b""[..], b"{}", &[0xff; 1000]] {
        let signature = signer.sign(body);
        assert_eq!(signature.len(), 64);
        assert!(
            signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
    // HMAC-SHA256 of "" under key "key" (RFC 4231-style known answer from common tooling).
    let key = WebhookSecret::from_bytes(b"key").unwrap_or_else(|e| panic!("{e}"));
    let signer = Signer::new("k", key).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        signer.sign(b"The quick brown fox jumps over the lazy dog"),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

#[test]
fn signer_refuses_bad_ids() {
    let secret = WebhookSecret::generate().unwrap_or_else(|e| panic!("{e}"));
    assert!(Signer::new("", secret.clone()).is_err());
    assert!(Signer::new("a\r\nX-Evil: 1", secret.clone()).is_err());
    assert!(Signer::new(" padded ", secret).is_err());
}

#[test]
fn builder_bodies_read_back() {
    let (signer, verifier) = pair();
    let csr = crate::csr::pem_to_der(include_str!("../data/device-C02XL0GJJG5J.csr.pem"));
    let now = time::OffsetDateTime::now_utc();
    let body = RequestBody::device_attest_enriching("C02XL0GJJG5J", &csr, now)
        .unwrap_or_else(|e| panic!("{e}"));
    let request = signer.sign_body(&body);
    let verified = verifier
        .verify(&request.headers, &request.body)
        .unwrap_or_else(|e| panic!("{e}"));
    let body = verified.body();
    assert_eq!(body.kind(), RequestKind::X509Enriching);
    assert_eq!(
        body.csr_common_name().ok().flatten().as_deref(),
        Some("C02XL0GJJG5J")
    );
    assert_eq!(body.permanent_identifier(), Some("C02XL0GJJG5J"));

    let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", now);
    let request = signer.sign_body(&body);
    let verified = verifier
        .verify(&request.headers, &request.body)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        verified.body().certificate_common_name(),
        Some("C02XL0GJJG5J")
    );
    assert_eq!(
        verified.into_body().permanent_identifier(),
        Some("C02XL0GJJG5J")
    );
    let _ = WEBHOOK_ID_HEADER;
}

#[test]
fn generated_secrets_differ() {
    let a = WebhookSecret::generate()
        .map(|s| s.to_base64())
        .unwrap_or_default();
    let b = WebhookSecret::generate()
        .map(|s| s.to_base64())
        .unwrap_or_default();
    assert_eq!(a.len(), 88);
    assert!(a.ends_with("=="));
    assert_ne!(a, b);
}
