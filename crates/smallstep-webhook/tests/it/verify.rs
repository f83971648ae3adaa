//! Every way a request is refused, and the order of the checks.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use smallstep_webhook::{
    Authorization, ConfigError, RequestBody, SIGNATURE_HEADER, SecretError, Signer, Verifier,
    VerifierBuilder, VerifyError, WEBHOOK_ID_HEADER, WebhookSecret,
};

use crate::{ID_01, SECRET_01, SECRET_02, V01, after, headers};

fn build(builder: VerifierBuilder) -> Verifier {
    match builder.build() {
        Ok(verifier) => verifier,
        Err(err) => panic!("{err}"),
    }
}

fn verifier() -> Verifier {
    build(Verifier::builder().webhook(ID_01, SECRET_01))
}

fn secret(base64: &str) -> WebhookSecret {
    match WebhookSecret::from_base64(base64) {
        Ok(secret) => secret,
        Err(err) => panic!("{err}"),
    }
}

fn signer(id: &str, base64: &str) -> Signer {
    match Signer::new(id, secret(base64)) {
        Ok(signer) => signer,
        Err(err) => panic!("{err}"),
    }
}

/// `headers` with `value` as their one `Authorization` header.
fn authorized(headers: &HeaderMap, value: HeaderValue) -> HeaderMap {
    let mut headers = headers.clone();
    headers.insert("authorization", value);
    headers
}

fn now() -> std::time::SystemTime {
    after(V01.timestamp, 1.0)
}

fn verify(verifier: &Verifier, headers: &HeaderMap, body: &[u8]) -> Result<String, VerifyError> {
    verifier
        .verify_at(headers, body, now())
        .map(|r| r.webhook_id().to_owned())
}

#[test]
fn header_names_are_case_insensitive() {
    let mut headers = HeaderMap::new();
    // As Go sends them: X-Smallstep-Webhook-Id, X-Smallstep-Signature.
    headers.insert("X-Smallstep-Webhook-Id", HeaderValue::from_static(ID_01));
    headers.insert(
        "X-SMALLSTEP-SIGNATURE",
        HeaderValue::from_static(V01.signature),
    );
    assert_eq!(
        verify(&verifier(), &headers, V01.body).ok().as_deref(),
        Some(ID_01)
    );
}

#[test]
fn missing_and_duplicated_headers() {
    let verifier = verifier();
    let mut only_signature = HeaderMap::new();
    only_signature.insert(SIGNATURE_HEADER, HeaderValue::from_static(V01.signature));
    assert!(matches!(
        verify(&verifier, &only_signature, V01.body),
        Err(VerifyError::MissingWebhookId)
    ));

    let mut only_id = HeaderMap::new();
    only_id.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static(ID_01));
    assert!(matches!(
        verify(&verifier, &only_id, V01.body),
        Err(VerifyError::MissingSignature)
    ));
    assert!(matches!(
        verify(&verifier, &HeaderMap::new(), V01.body),
        Err(VerifyError::MissingWebhookId)
    ));

    let mut two_ids = headers(ID_01, V01.signature);
    two_ids.append(WEBHOOK_ID_HEADER, HeaderValue::from_static(ID_01));
    assert!(matches!(
        verify(&verifier, &two_ids, V01.body),
        Err(VerifyError::DuplicateWebhookId)
    ));

    let mut two_signatures = headers(ID_01, V01.signature);
    two_signatures.append(SIGNATURE_HEADER, HeaderValue::from_static(V01.signature));
    assert!(matches!(
        verify(&verifier, &two_signatures, V01.body),
        Err(VerifyError::DuplicateSignature)
    ));
}

#[test]
fn malformed_signatures() {
    let verifier = verifier();
    let good = V01.signature;
    let cases = [
        String::new(),
        good[..63].to_owned(),
        format!("{good}0"),
        format!("{}g", &good[..63]),
        format!(" {}", &good[..63]),
        format!("sha256={good}"),
        good.replacen('5', "-", 1),
        "z".repeat(64),
    ];
    for signature in cases {
        assert_refused!(
            verify(&verifier, &headers(ID_01, &signature), V01.body),
            VerifyError::MalformedSignature,
            "{signature:?}"
        );
    }
    // Non-ASCII bytes in the header value.
    let mut headers = headers(ID_01, good);
    if let Ok(value) = HeaderValue::from_bytes(&[0xff; 64]) {
        headers.insert(SIGNATURE_HEADER, value);
    }
    assert!(matches!(
        verify(&verifier, &headers, V01.body),
        Err(VerifyError::MalformedSignature)
    ));
}

#[test]
fn signature_format_is_checked_before_the_id() {
    assert_refused!(
        verify(&verifier(), &headers("unknown", "xyz"), V01.body),
        VerifyError::MalformedSignature
    );
}

#[test]
fn unknown_webhook_ids() {
    let verifier = verifier();
    assert_refused!(
        verify(&verifier, &headers("other-id", V01.signature), V01.body),
        VerifyError::UnknownWebhook
    );
    // An empty ID, as a ca.json-only webhook sends, with the empty-key signature.
    let empty_key = "ea0e9495f0c17afa03d0e0c87e3cb1100e545441d09d4786eea0e886134f9627";
    assert_refused!(
        verify(&verifier, &headers("", empty_key), V01.body),
        VerifyError::UnknownWebhook
    );
    assert_refused!(
        verify(&verifier, &headers("nobody", empty_key), V01.body),
        VerifyError::UnknownWebhook
    );
    // IDs are matched exactly.
    let upper = ID_01.to_ascii_uppercase();
    assert_refused!(
        verify(&verifier, &headers(&upper, V01.signature), V01.body),
        VerifyError::UnknownWebhook
    );
}

#[test]
fn wrong_secret() {
    let verifier = build(Verifier::builder().webhook(ID_01, SECRET_02));
    assert_refused!(
        verify(&verifier, &headers(ID_01, V01.signature), V01.body),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn body_signed_for_another_webhook() {
    let verifier = build(
        Verifier::builder()
            .webhook(ID_01, SECRET_01)
            .webhook("other", SECRET_02),
    );
    let request = signer("other", SECRET_02).sign_body(&fresh_body());
    // Swap in webhook 01's ID: the signature was made with the other secret.
    let mut headers = request.headers.clone();
    headers.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static(ID_01));
    assert_refused!(
        verifier.verify_at(&headers, &request.body, now()),
        VerifyError::SignatureMismatch
    );
    // Unchanged, it verifies as "other".
    let result = verifier.verify_at(&request.headers, &request.body, now());
    assert_eq!(
        result.ok().map(|r| r.webhook_id().to_owned()).as_deref(),
        Some("other")
    );
}

fn fresh_body() -> RequestBody {
    RequestBody::device_attest_authorizing("C02XL0GJJG5J", V01.timestamp)
}

#[test]
fn freshness_window() {
    let verifier = verifier();
    let headers = headers(ID_01, V01.signature);
    let at = |secs: f64| verifier.verify_at(&headers, V01.body, after(V01.timestamp, secs));
    assert!(at(0.0).is_ok());
    assert!(at(1.0).is_ok(), "step-ca's retry a second later");
    assert!(at(60.0).is_ok());
    assert!(at(-60.0).is_ok(), "a CA clock ahead of ours");
    assert!(matches!(
        at(61.0),
        Err(VerifyError::StaleTimestamp { age, max_age }) if age.as_secs() == 61 && max_age.as_secs() == 60
    ));
    assert!(matches!(
        at(-61.0),
        Err(VerifyError::FutureTimestamp { ahead, .. }) if ahead.as_secs() == 61
    ));
    assert!(matches!(
        at(-86_400.0 * 365.0 * 30.0),
        Err(VerifyError::FutureTimestamp { .. })
    ));
    assert!(matches!(
        at(86_400.0 * 365.0),
        Err(VerifyError::StaleTimestamp { .. })
    ));
    let message = at(3600.0).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "request timestamp is 3600s old, more than the 60s allowed"
    );

    // Configurable in both directions.
    let strict = build(
        Verifier::builder()
            .webhook(ID_01, SECRET_01)
            .max_age(Duration::from_secs(10))
            .max_future(Duration::from_secs(2)),
    );
    let at = |secs: f64| strict.verify_at(&headers, V01.body, after(V01.timestamp, secs));
    assert!(at(9.5).is_ok());
    assert!(matches!(at(10.5), Err(VerifyError::StaleTimestamp { .. })));
    assert!(at(-1.5).is_ok());
    assert!(matches!(at(-2.5), Err(VerifyError::FutureTimestamp { .. })));
    // A clock before the Unix epoch still measures ages the right way round.
    let before_epoch = |secs: i64| {
        let signer = signer(ID_01, SECRET_01);
        let timestamp = time::OffsetDateTime::UNIX_EPOCH - time::Duration::seconds(secs);
        signer.sign_body(&RequestBody::device_attest_authorizing(
            "C02XL0GJJG5J",
            timestamp,
        ))
    };
    let at_epoch_minus = |request: &smallstep_webhook::SignedRequest, secs: u64| {
        strict.verify_at(
            &request.headers,
            &request.body,
            std::time::UNIX_EPOCH - Duration::from_secs(secs),
        )
    };
    assert!(at_epoch_minus(&before_epoch(8), 5).is_ok(), "3 s old");
    assert!(matches!(
        at_epoch_minus(&before_epoch(20), 5),
        Err(VerifyError::StaleTimestamp { age, .. }) if age.as_secs() == 15
    ));
    assert!(matches!(
        at_epoch_minus(&before_epoch(5), 10),
        Err(VerifyError::FutureTimestamp { ahead, .. }) if ahead.as_secs() == 5
    ));
    assert!(at_epoch_minus(&headers_request(), 5).is_err());
}

/// V01 as a signed request, for the checks that only need some authentic body.
fn headers_request() -> smallstep_webhook::SignedRequest {
    signer(ID_01, SECRET_01).sign_body(&fresh_body())
}

#[test]
fn missing_timestamp_is_refused() {
    let signer = signer(ID_01, SECRET_01);
    let body = br#"{"attestationData":{"permanentIdentifier":"C02XL0GJJG5J"}}"#;
    let result = verifier().verify_at(&signer.headers(body), body, now());
    assert_refused!(result, VerifyError::MissingTimestamp);
    assert!(result.is_err_and(|e| e.is_timestamp() && e.is_unauthenticated()));
    let body = br#"{"timestamp":null}"#;
    assert_refused!(
        verifier().verify_at(&signer.headers(body), body, now()),
        VerifyError::MissingTimestamp
    );
}

#[test]
fn malformed_body_after_a_valid_signature() {
    let signer = signer(ID_01, SECRET_01);
    // The reason names the JSON problem by category and position, never by content.
    for (body, reason) in [
        (&b"not json"[..], "body is not a JSON object"),
        (b"", "body is not a JSON object"),
        (b"[]", "body is not a JSON object"),
        (
            b"{\"timestamp\":",
            "unexpected end of JSON at line 1 column 13",
        ),
        (b"{\"timestamp\" 1}", "invalid JSON at line 1 column 14"),
        (
            br#"{"timestamp":"yesterday"}"#,
            "unexpected JSON value at line 1 column 25",
        ),
        (
            br#"{"x509CertificateRequest":{"raw":"***"}}"#,
            "unexpected JSON value at line 1 column 40",
        ),
        (
            br#"{"scepChallenge":"hunter2","scepErrorCode":"x"}"#,
            "unexpected JSON value at line 1 column 46",
        ),
    ] {
        let result = verifier().verify_at(&signer.headers(body), body, now());
        match result {
            Err(err) => {
                assert!(err.is_malformed_body(), "{err:?}");
                assert!(!err.is_unauthenticated());
                assert!(!err.is_timestamp());
                let message = err.to_string();
                assert_eq!(message, format!("malformed request body: {reason}"));
                assert!(!message.contains("hunter2"), "{message}");
            }
            Ok(ok) => panic!("{ok:?}"),
        }
    }
    // The same garbage with a bad signature is an authentication failure, not a parse error.
    assert_refused!(
        verify(&verifier(), &headers(ID_01, V01.signature), b"not json"),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn bearer_token_required_in_addition_to_the_hmac() {
    let bearer = |t: &str| match Authorization::bearer(t) {
        Ok(a) => a,
        Err(err) => panic!("{err}"),
    };
    let verifier = build(
        Verifier::builder()
            .webhook(ID_01, SECRET_01)
            .authorization(ID_01, bearer("s3cret-token")),
    );
    let base = headers(ID_01, V01.signature);

    // Missing.
    assert_refused!(
        verify(&verifier, &base, V01.body),
        VerifyError::MissingAuthorization
    );

    // Right token.
    let ok = authorized(&base, HeaderValue::from_static("Bearer s3cret-token"));
    assert!(verify(&verifier, &ok, V01.body).is_ok());
    let lower_scheme = authorized(&base, HeaderValue::from_static("bearer s3cret-token"));
    assert!(verify(&verifier, &lower_scheme, V01.body).is_ok());

    // Wrong tokens, near misses, wrong scheme.
    for value in [
        "Bearer s3cret-tokeN",
        "Bearer s3cret-toke",
        "Bearer s3cret-token2",
        "Bearer ",
        "Bearer",
        "s3cret-token",
        "Basic s3cret-token",
        "Token s3cret-token",
    ] {
        let wrong = authorized(&base, HeaderValue::from_static(value));
        assert_refused!(
            verify(&verifier, &wrong, V01.body),
            VerifyError::AuthorizationMismatch,
            "{value:?}"
        );
    }

    // Duplicated.
    let mut twice = ok.clone();
    twice.append(
        "authorization",
        HeaderValue::from_static("Bearer s3cret-token"),
    );
    assert_refused!(
        verify(&verifier, &twice, V01.body),
        VerifyError::DuplicateAuthorization
    );

    // The token never replaces the signature.
    let mut token_only = ok;
    token_only.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_static(
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
    );
    assert_refused!(
        verify(&verifier, &token_only, V01.body),
        VerifyError::SignatureMismatch
    );

    // The Signer sends it, and that verifies.
    let signer = signer(ID_01, SECRET_01).with_authorization(bearer("s3cret-token"));
    let request = signer.sign_body(&fresh_body());
    assert!(
        verifier
            .verify_at(&request.headers, &request.body, now())
            .is_ok()
    );
}

#[test]
fn basic_auth_required_in_addition_to_the_hmac() {
    let basic = |u: &str, p: &str| match Authorization::basic(u, p) {
        Ok(a) => a,
        Err(err) => panic!("{err}"),
    };
    let verifier = build(
        Verifier::builder()
            .webhook(ID_01, SECRET_01)
            .authorization(ID_01, basic("step", "pa:ss")),
    );
    let base = headers(ID_01, V01.signature);
    assert_refused!(
        verify(&verifier, &base, V01.body),
        VerifyError::MissingAuthorization
    );

    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"));
    let encode = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let ok = authorized(&base, value(&format!("Basic {}", encode("step:pa:ss"))));
    assert!(verify(&verifier, &ok, V01.body).is_ok());

    for credentials in [
        format!("Basic {}", encode("step:pa:sS")),
        format!("Basic {}", encode("step:pa:")),
        format!("Basic {}", encode("Step:pa:ss")),
        format!("Basic {}", encode("step:pa:ss ")),
        "Basic not-base64!".to_owned(),
        format!("Bearer {}", encode("step:pa:ss")),
        "Basic".to_owned(),
    ] {
        let wrong = authorized(&base, value(&credentials));
        assert_refused!(
            verify(&verifier, &wrong, V01.body),
            VerifyError::AuthorizationMismatch,
            "{credentials:?}"
        );
    }
    let mut twice = ok;
    twice.append(
        "authorization",
        value(&format!("Basic {}", encode("step:pa:ss"))),
    );
    assert_refused!(
        verify(&verifier, &twice, V01.body),
        VerifyError::DuplicateAuthorization
    );

    // Authorization is per webhook: another webhook without it needs none.
    let verifier = build(
        Verifier::builder()
            .webhook(ID_01, SECRET_01)
            .webhook("other", SECRET_02)
            .authorization("other", basic("step", "pa:ss")),
    );
    assert!(verify(&verifier, &base, V01.body).is_ok());
}

#[test]
fn authorization_is_checked_before_the_hmac() {
    let verifier = build(Verifier::builder().webhook(ID_01, SECRET_01).authorization(
        ID_01,
        Authorization::bearer("t").unwrap_or_else(|e| panic!("{e}")),
    ));
    // Bad signature and no Authorization: the Authorization failure is reported.
    let headers = headers(ID_01, &"0".repeat(64));
    assert_refused!(
        verify(&verifier, &headers, V01.body),
        VerifyError::MissingAuthorization
    );
}

#[test]
fn constant_time_paths_accept_only_exact_values() {
    // Signatures differing from the right one in one nibble at each position: the
    // comparison (ring::hmac::verify) must look at every byte.
    let verifier = verifier();
    let good = V01.signature;
    for i in 0..good.len() {
        let mut bad = good.as_bytes().to_vec();
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8_lossy(&bad).into_owned();
        assert_refused!(
            verify(&verifier, &headers(ID_01, &bad), V01.body),
            VerifyError::SignatureMismatch,
            "{i}"
        );
    }
    // Tokens differing in one character at each position.
    let token = "abcdefghijklmnopqrstuvwxyz0123456789";
    let verifier = build(Verifier::builder().webhook(ID_01, SECRET_01).authorization(
        ID_01,
        Authorization::bearer(token).unwrap_or_else(|e| panic!("{e}")),
    ));
    for i in 0..token.len() {
        let mut bad = token.as_bytes().to_vec();
        bad[i] = b'_';
        let mut headers = headers(ID_01, V01.signature);
        let value = format!("Bearer {}", String::from_utf8_lossy(&bad));
        headers.insert(
            "authorization",
            HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("-")),
        );
        assert_refused!(
            verify(&verifier, &headers, V01.body),
            VerifyError::AuthorizationMismatch,
            "{i}"
        );
    }
}

#[test]
fn configuration_errors_name_the_webhook_not_the_secret() {
    let err = Verifier::builder().webhook("hook-a", "").build().err();
    assert!(matches!(
        &err,
        Some(ConfigError::InvalidSecret { id, source: SecretError::Empty }) if id == "hook-a"
    ));
    let err = Verifier::builder()
        .webhook("hook-b", "not base64!")
        .build()
        .err();
    assert!(matches!(
        &err,
        Some(ConfigError::InvalidSecret { id, source: SecretError::NotBase64 }) if id == "hook-b"
    ));
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(message, r#"secret of webhook "hook-b" is invalid"#);
    // Decodes to nothing.
    assert!(WebhookSecret::from_base64("  \n").is_err());
    assert!(WebhookSecret::from_bytes(b"").is_err());

    let err = Verifier::builder().webhook("", SECRET_01).build().err();
    assert!(matches!(err, Some(ConfigError::EmptyId)));
    for id in ["a\nb", " padded", "caf\u{e9}", "del\u{7f}"] {
        let err = Verifier::builder().webhook(id, SECRET_01).build().err();
        assert!(matches!(err, Some(ConfigError::InvalidId { .. })), "{id:?}");
        let err = Signer::new(id, secret(SECRET_01)).err();
        assert!(matches!(err, Some(ConfigError::InvalidId { .. })), "{id:?}");
    }
    // A tab is text in a header value, and both ways of handing headers over read it.
    let id = "tab\there";
    let verifier = build(Verifier::builder().webhook(id, SECRET_01));
    let request = signer(id, SECRET_01).sign_body(&fresh_body());
    assert_eq!(
        verify(&verifier, &request.headers, &request.body)
            .ok()
            .as_deref(),
        Some(id)
    );
    let signature = signer(id, SECRET_01).sign(&request.body);
    let parts = smallstep_webhook::WebhookHeaders::new(
        Some(id.as_bytes()),
        Some(signature.as_bytes()),
        None,
    );
    assert!(
        verifier
            .verify_parts_at(parts, &request.body, now())
            .is_ok()
    );
    let err = Verifier::builder()
        .webhook("dup", SECRET_01)
        .webhook("dup", SECRET_02)
        .build()
        .err();
    assert!(matches!(&err, Some(ConfigError::DuplicateId { id }) if id == "dup"));
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(!message.contains(SECRET_01) && !message.contains(SECRET_02));

    let token = Authorization::bearer("t").unwrap_or_else(|e| panic!("{e}"));
    let err = Verifier::builder()
        .webhook("a", SECRET_01)
        .authorization("b", token.clone())
        .build()
        .err();
    assert!(matches!(&err, Some(ConfigError::AuthorizationWithoutWebhook { id }) if id == "b"));
    let err = Verifier::builder()
        .webhook("a", SECRET_01)
        .authorization("a", token.clone())
        .authorization("a", token)
        .build()
        .err();
    assert!(matches!(
        err,
        Some(ConfigError::DuplicateAuthorization { .. })
    ));

    assert!(Authorization::bearer("").is_err());
    assert!(Authorization::bearer("two words").is_err());
    assert!(Authorization::bearer("line\nbreak").is_err());
    assert!(Authorization::basic("", "").is_err());
    assert!(Authorization::basic("", "only-password").is_ok());
}

#[test]
fn nothing_secret_in_debug_output() {
    let verifier = build(Verifier::builder().webhook(ID_01, SECRET_01).authorization(
        ID_01,
        Authorization::bearer("tok3n").unwrap_or_else(|e| panic!("{e}")),
    ));
    let debug = format!("{verifier:?}");
    assert!(debug.contains(ID_01), "{debug}");
    let builder = Verifier::builder().webhook(ID_01, SECRET_01);
    assert!(format!("{builder:?}").contains(ID_01), "{builder:?}");
    let signer = signer(ID_01, SECRET_01)
        .with_authorization(Authorization::basic("user", "pw").unwrap_or_else(|e| panic!("{e}")));
    for debug in [
        debug,
        format!("{builder:?}"),
        format!("{signer:?}"),
        format!("{:?}", secret(SECRET_01)),
    ] {
        for secret in [SECRET_01, "tok3n", "dXNlcjpwdw==", "user:pw", "48, 103"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
    // The Authorization header value is marked sensitive.
    let headers = signer.headers(b"{}");
    assert!(
        headers
            .get("authorization")
            .is_some_and(HeaderValue::is_sensitive)
    );
}

#[test]
fn verify_uses_the_system_clock() {
    // Vector 01 is from 2025: long stale by the system clock.
    assert_refused!(
        verifier().verify(&headers(ID_01, V01.signature), V01.body),
        VerifyError::StaleTimestamp { .. }
    );
    // A body stamped now verifies.
    let body = RequestBody::device_attest_authorizing("X", time::OffsetDateTime::now_utc());
    let request = signer(ID_01, SECRET_01).sign_body(&body);
    assert!(verifier().verify(&request.headers, &request.body).is_ok());
}

#[test]
fn authenticate_only() {
    let id = verifier().authenticate(&headers(ID_01, V01.signature), V01.body);
    assert_eq!(id.ok().as_deref(), Some(ID_01));
    assert!(verifier().has_webhook(ID_01));
    assert!(!verifier().has_webhook("x"));
    assert_eq!(verifier().webhook_ids().collect::<Vec<_>>(), vec![ID_01]);
}
