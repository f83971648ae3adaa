//! Properties: sign-then-verify round-trips, any single-byte change is refused, and
//! nothing panics on arbitrary input.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use smallstep_webhook::{
    RequestBody, SIGNATURE_HEADER, Signer, Verifier, VerifyError, WEBHOOK_ID_HEADER, WebhookSecret,
    csr_common_name, to_go_json,
};
use time::OffsetDateTime;

const ID: &str = "b4a1d3c2-0000-4000-8000-000000000001";

fn setup(key: &[u8]) -> (Signer, Verifier) {
    let secret = WebhookSecret::from_bytes(key).unwrap_or_else(|e| panic!("{e}"));
    let verifier = Verifier::builder()
        .webhook(ID, &secret.to_base64())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let signer = Signer::new(ID, secret).unwrap_or_else(|e| panic!("{e}"));
    (signer, verifier)
}

prop_compose! {
    fn arb_time()(secs in 0_i64..4_102_444_800, nanos in 0_u32..1_000_000_000, offset_min in -720_i32..=840) -> OffsetDateTime {
        let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .replace_nanosecond(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let offset = time::UtcOffset::from_whole_seconds(offset_min * 60).unwrap_or(time::UtcOffset::UTC);
        t.checked_to_offset(offset).unwrap_or(t)
    }
}

prop_compose! {
    fn arb_body()(
        identifier in "\\PC{0,40}",
        provisioner in proptest::option::of("\\PC{0,20}"),
        authorizing in any::<bool>(),
        principal in proptest::option::of("[a-z<>&\u{2028}\"\\\\]{1,10}"),
        now in arb_time(),
    ) -> RequestBody {
        let mut body = if authorizing {
            RequestBody::device_attest_authorizing(identifier, now)
        } else {
            let mut body = RequestBody::default();
            body.timestamp = Some(now);
            body.attestation_data = Some(smallstep_webhook::AttestationData::new(identifier));
            body
        };
        body.provisioner_name = provisioner;
        body.authorization_principal = principal;
        body
    }
}

fn headers(signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static(ID));
    if let Ok(value) = HeaderValue::from_str(signature) {
        headers.insert(SIGNATURE_HEADER, value);
    }
    headers
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sign_then_verify_round_trips(body in arb_body(), key in proptest::collection::vec(any::<u8>(), 1..100)) {
        let (signer, verifier) = setup(&key);
        let request = signer.sign_body(&body);
        let now = body.timestamp.map(std::time::SystemTime::from).unwrap_or(std::time::UNIX_EPOCH);
        let verified = verifier.verify_at(&request.headers, &request.body, now);
        prop_assert!(verified.is_ok(), "{:?}", verified);
        let parsed = verified.map(|v| v.into_body()).unwrap_or_default();
        // What was parsed writes back to the signed bytes, and keeps the identity.
        prop_assert_eq!(to_go_json(&parsed), request.body);
        prop_assert_eq!(parsed.permanent_identifier(), body.permanent_identifier());
        prop_assert_eq!(parsed.timestamp, body.timestamp);
    }

    #[test]
    fn raw_bytes_sign_then_authenticate(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let (signer, verifier) = setup(b"0123456789abcdef0123456789abcdef");
        let id = verifier.authenticate(&signer.headers(&bytes), &bytes).ok();
        prop_assert_eq!(id.as_deref(), Some(ID));
    }

    #[test]
    fn any_single_byte_change_to_the_body_is_refused(
        body in arb_body(),
        index in any::<prop::sample::Index>(),
        xor in 1_u8..=255,
    ) {
        let (signer, verifier) = setup(b"k");
        let request = signer.sign_body(&body);
        let mut tampered = request.body.clone();
        let i = index.index(tampered.len());
        tampered[i] ^= xor;
        let now = body.timestamp.map(std::time::SystemTime::from).unwrap_or(std::time::UNIX_EPOCH);
        let result = verifier.verify_at(&request.headers, &tampered, now);
        prop_assert!(matches!(result, Err(VerifyError::SignatureMismatch)), "{:?}", result);
    }

    #[test]
    fn any_single_byte_change_to_the_signature_is_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..500),
        index in 0_usize..64,
        replacement in any::<u8>(),
    ) {
        let (signer, verifier) = setup(b"k");
        let signature = signer.sign(&bytes);
        let mut tampered = signature.into_bytes();
        prop_assume!(!tampered[index].eq_ignore_ascii_case(&replacement));
        tampered[index] = replacement;
        let tampered = String::from_utf8_lossy(&tampered).into_owned();
        let result = verifier.authenticate(&headers(&tampered), &bytes);
        prop_assert!(
            matches!(
                result,
                Err(VerifyError::SignatureMismatch | VerifyError::MalformedSignature | VerifyError::MissingSignature)
            ),
            "{:?}",
            result
        );
    }

    #[test]
    fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<RequestBody>(&bytes);
        let _ = serde_json::from_slice::<smallstep_webhook::ResponseBody>(&bytes);
        let _ = csr_common_name(&bytes);
        let (signer, verifier) = setup(b"k");
        let _ = verifier.verify_at(&signer.headers(&bytes), &bytes, std::time::SystemTime::now());
        let _ = verifier.verify_at(&headers(&String::from_utf8_lossy(&bytes)), &bytes, std::time::SystemTime::now());
    }

    #[test]
    fn parsing_json_shaped_input_never_panics(json in json_value()) {
        let text = json.to_string();
        if let Ok(body) = serde_json::from_str::<RequestBody>(&text) {
            // Whatever parsed also serializes.
            let _ = to_go_json(&body);
            let _ = body.kind();
            let _ = body.csr_common_name();
        }
        let wrapped = format!(r#"{{"x509CertificateRequest":{text},"x509Certificate":{text},"sshCertificate":{text}}}"#);
        let _ = serde_json::from_str::<RequestBody>(&wrapped);
    }

    #[test]
    fn csr_parsing_never_panics_on_mutated_der(index in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let der = crate::csr::pem_to_der(include_str!("../data/device-C02XL0GJJG5J.csr.pem"));
        let mut mutated = der.clone();
        let i = index.index(mutated.len());
        mutated[i] = byte;
        let _ = csr_common_name(&mutated);
        let _ = RequestBody::device_attest_enriching("x", &mutated, OffsetDateTime::UNIX_EPOCH);
        let _ = csr_common_name(&der[..cut.index(der.len())]);
    }
}

/// Arbitrary JSON, biased towards the field names step-ca uses.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("timestamp".to_owned()),
        Just("raw".to_owned()),
        Just("publicKey".to_owned()),
        Just("subject".to_owned()),
        Just("commonName".to_owned()),
        Just("dnsNames".to_owned()),
        Just("serialNumber".to_owned()),
        Just("notBefore".to_owned()),
        Just("validBefore".to_owned()),
        Just("extensions".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
        Just(serde_json::Value::String("AQI=".to_owned())),
        Just(serde_json::Value::String("2025-06-02T14:21:07Z".to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| serde_json::Value::Object(pairs.into_iter().collect())),
        ]
    })
}
