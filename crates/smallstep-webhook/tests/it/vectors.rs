//! Known-answer tests against the step-ca vectors in `tests/data` (made by Go's own
//! `encoding/json` and `crypto/hmac`, see `tests/data/README` upstream).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use smallstep_webhook::{
    RequestBody, RequestKind, Signer, Verifier, VerifyError, WebhookSecret, to_go_json,
};
use time::macros::datetime;

use crate::{V01, V02, V03, V04, VECTORS, after, headers, hex};

fn verifier() -> Verifier {
    let built = Verifier::builder()
        .webhook(V01.webhook_id, V01.secret)
        .webhook(V02.webhook_id, V02.secret)
        .webhook(V03.webhook_id, V03.secret)
        .build();
    match built {
        Ok(verifier) => verifier,
        Err(err) => panic!("the vectors' secrets are valid: {err}"),
    }
}

fn parse(bytes: &[u8]) -> RequestBody {
    match serde_json::from_slice(bytes) {
        Ok(body) => body,
        Err(err) => panic!("body should parse: {err}"),
    }
}

#[test]
fn vector_files_are_intact() {
    for vector in VECTORS {
        let digest = ring::digest::digest(&ring::digest::SHA256, vector.body);
        assert_eq!(hex(digest.as_ref()), vector.sha256, "{}", vector.name);
    }
    let legacy = include_bytes!("../data/01-device-attest-enriching.legacy-signature.txt");
    assert_eq!(legacy.len(), 1942);
}

#[test]
fn independent_hmac_matches_vectors() {
    // Computed with ring directly, not through the crate, keyed with the decoded secret.
    for vector in VECTORS {
        let key = STANDARD.decode(vector.secret).unwrap_or_default();
        assert_eq!(key.len(), 64, "{}", vector.name);
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let tag = ring::hmac::sign(&key, vector.body);
        assert_eq!(hex(tag.as_ref()), vector.signature, "{}", vector.name);
    }
}

#[test]
fn signer_reproduces_vector_signatures() {
    for vector in VECTORS {
        let secret = WebhookSecret::from_base64(vector.secret).ok();
        let signer = secret.and_then(|s| Signer::new(vector.webhook_id, s).ok());
        let signature = signer.map(|s| s.sign(vector.body));
        assert_eq!(
            signature.as_deref(),
            Some(vector.signature),
            "{}",
            vector.name
        );
    }
}

#[test]
fn every_positive_vector_verifies_and_parses() {
    let verifier = verifier();
    for vector in VECTORS {
        let result = verifier.verify_at(
            &headers(vector.webhook_id, vector.signature),
            vector.body,
            after(vector.timestamp, 1.0),
        );
        let request = match result {
            Ok(request) => request,
            Err(err) => panic!("{}: {err}", vector.name),
        };
        assert_eq!(request.webhook_id(), vector.webhook_id);
        assert_eq!(request.body().timestamp, Some(vector.timestamp));
    }
}

#[test]
fn upper_case_signature_is_accepted() {
    let signature = V01.signature.to_ascii_uppercase();
    let result = verifier().verify_at(
        &headers(V01.webhook_id, &signature),
        V01.body,
        after(V01.timestamp, 1.0),
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn vector_contents() {
    let body = parse(V01.body);
    assert_eq!(body.kind(), RequestKind::X509Enriching);
    assert_eq!(body.permanent_identifier(), Some("C02XL0GJJG5J"));
    assert_eq!(body.provisioner_name(), Some("acme-da"));
    assert_eq!(
        body.csr_common_name().ok().flatten().as_deref(),
        Some("C02XL0GJJG5J")
    );
    let request = body.x509_certificate_request.as_ref();
    assert_eq!(request.and_then(|r| r.common_name()), Some("C02XL0GJJG5J"));
    let info = request.and_then(|r| r.request.as_ref());
    assert_eq!(
        info.and_then(|i| i.dns_names.clone()),
        Some(vec!["c02xl0gjjg5j".to_owned()])
    );
    assert_eq!(info.and_then(|i| i.ip_addresses.clone()), Some(vec![]));
    assert_eq!(info.map(|i| i.ext_key_usage.is_empty()), Some(true));
    assert_eq!(
        request.map(|r| r.public_key_algorithm.as_str()),
        Some("ECDSA")
    );

    let body = parse(V02.body);
    assert_eq!(body.kind(), RequestKind::X509Authorizing);
    assert_eq!(body.certificate_common_name(), Some("C02XL0GJJG5J"));
    assert!(
        body.csr_common_name().is_err(),
        "an authorizing body has no CSR"
    );
    let cert = body.x509_certificate.as_ref();
    assert_eq!(
        cert.and_then(|c| c.not_before),
        Some(datetime!(2025-06-02 14:19:31 UTC))
    );
    let template = cert.and_then(|c| c.template.as_ref());
    assert_eq!(
        template.map(|t| t.key_usage.clone()),
        Some(vec!["digitalSignature".to_owned()])
    );
    assert!(template.is_some_and(|t| t.serial_number.is_none()));
    let sans = template.and_then(|t| t.sans.as_ref());
    assert_eq!(
        sans.map(|s| (s[0].r#type.as_str(), s[0].value.as_str())),
        Some(("permanentIdentifier", "C02XL0GJJG5J"))
    );

    let body = parse(V03.body);
    assert_eq!(body.kind(), RequestKind::SshEnriching);
    assert_eq!(body.permanent_identifier(), None);
    assert_eq!(body.provisioner_name(), Some("admin@example.com"));
    let ssh = body.ssh_certificate_request.as_ref();
    assert_eq!(ssh.map(|s| s.key_id.as_str()), Some("alice@example.com"));
    assert_eq!(ssh.map(|s| s.r#type.as_str()), Some("user"));
    // The public key is the blob of the OpenSSH .pub line.
    let pub_line = include_str!("../data/alice_ed25519.pub");
    let blob = pub_line.split_whitespace().nth(1).unwrap_or_default();
    assert_eq!(
        ssh.and_then(|s| s.public_key.clone()),
        STANDARD.decode(blob).ok()
    );

    let body = parse(V04.body);
    assert_eq!(body.kind(), RequestKind::X509Enriching);
    assert_eq!(body.provisioner_name(), None);
    assert_eq!(body.permanent_identifier(), Some("C02XL0GJJG5J"));
}

#[test]
fn negative_vectors_are_refused() {
    let verifier = verifier();
    let now = after(V01.timestamp, 1.0);

    // HMAC keyed with the ASCII of the base64 text instead of the decoded bytes.
    let ascii_key = "0e224a483b2cb8ad1b0f93443ece706f36f9ba1286fe14668dface90cbc12740";
    assert_refused!(
        verifier.verify_at(&headers(V01.webhook_id, ascii_key), V01.body, now),
        VerifyError::SignatureMismatch
    );

    // HMAC with an empty key (a webhook defined only in ca.json).
    let empty_key = "ea0e9495f0c17afa03d0e0c87e3cb1100e545441d09d4786eea0e886134f9627";
    assert_refused!(
        verifier.verify_at(&headers(V01.webhook_id, empty_key), V01.body, now),
        VerifyError::SignatureMismatch
    );

    // The pre-v0.25.0 signature: hex(body || HMAC(key, "")), 1942 characters.
    let legacy = include_str!("../data/01-device-attest-enriching.legacy-signature.txt");
    assert_refused!(
        verifier.verify_at(&headers(V01.webhook_id, legacy.trim()), V01.body, now),
        VerifyError::MalformedSignature
    );
    // Its last 64 characters are a well-formed but wrong signature.
    let tail = &legacy.trim()[legacy.trim().len() - 64..];
    assert_refused!(
        verifier.verify_at(&headers(V01.webhook_id, tail), V01.body, now),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn each_signature_is_bound_to_its_webhook() {
    let verifier = verifier();
    let now = after(V01.timestamp, 1.0);
    // Vector 02 was signed for webhook 02; presenting it as webhook 01 fails.
    assert_refused!(
        verifier.verify_at(&headers(V01.webhook_id, V02.signature), V02.body, now),
        VerifyError::SignatureMismatch
    );
    // Vector 01's signature does not cover vector 04's body.
    assert_refused!(
        verifier.verify_at(&headers(V01.webhook_id, V01.signature), V04.body, now),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn vectors_round_trip_byte_for_byte() {
    for vector in VECTORS {
        let body = parse(vector.body);
        let written = to_go_json(&body);
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(vector.body),
            "{}",
            vector.name
        );
        assert_eq!(body.to_json(), vector.body, "{}", vector.name);
    }
}

#[test]
fn enriching_builder_reproduces_vectors_01_and_04() {
    let csr = include_str!("../data/device-C02XL0GJJG5J.csr.pem");
    let der = crate::csr::pem_to_der(csr);

    let built = RequestBody::device_attest_enriching("C02XL0GJJG5J", &der, V04.timestamp);
    let built = match built {
        Ok(body) => body,
        Err(err) => panic!("the vector CSR parses: {err}"),
    };
    assert_eq!(
        String::from_utf8_lossy(&built.to_json()),
        String::from_utf8_lossy(V04.body)
    );

    let mut built = built;
    built.provisioner_name = Some("acme-da".to_owned());
    assert_eq!(
        String::from_utf8_lossy(&built.to_json()),
        String::from_utf8_lossy(V01.body)
    );
}

#[test]
fn authorizing_builder_reproduces_vector_02() {
    let mut built = RequestBody::device_attest_authorizing("C02XL0GJJG5J", V02.timestamp);
    built.provisioner_name = Some("acme-da".to_owned());
    let sent = parse(V02.body);
    // step-ca counts validity from the order's creation, and the public key is the CSR's.
    if let (Some(cert), Some(sent_cert)) = (
        built.x509_certificate.as_mut(),
        sent.x509_certificate.as_ref(),
    ) {
        cert.not_before = sent_cert.not_before;
        cert.not_after = sent_cert.not_after;
        cert.public_key = sent_cert.public_key.clone();
        cert.public_key_algorithm = sent_cert.public_key_algorithm.clone();
    }
    assert_eq!(
        String::from_utf8_lossy(&built.to_json()),
        String::from_utf8_lossy(V02.body)
    );
}

#[test]
fn every_positive_vector_verifies_from_parts() {
    let verifier = verifier();
    for vector in VECTORS {
        let parts = smallstep_webhook::WebhookHeaders::new(
            Some(vector.webhook_id.as_bytes()),
            Some(vector.signature.as_bytes()),
            None,
        );
        let result = verifier.verify_parts_at(parts, vector.body, after(vector.timestamp, 1.0));
        match result {
            Ok(request) => assert_eq!(request.webhook_id(), vector.webhook_id),
            Err(err) => panic!("{}: {err}", vector.name),
        }
        // The same values, one of them repeated, are refused.
        let repeated = smallstep_webhook::WebhookHeaders::new(
            Some(vector.webhook_id.as_bytes()),
            smallstep_webhook::HeaderField::Repeated(vector.signature.as_bytes()),
            None,
        );
        let err = verifier
            .verify_parts_at(repeated, vector.body, after(vector.timestamp, 1.0))
            .unwrap_err();
        assert!(matches!(err, VerifyError::DuplicateSignature), "{err}");
    }
}

#[test]
fn ssh_enriching_builder_reproduces_vector_03() {
    let sent = parse(V03.body);
    let Some(request) = sent.ssh_certificate_request else {
        panic!("vector 03 has an sshCertificateRequest");
    };
    let built = RequestBody::ssh_enriching(
        smallstep_webhook::SshCertificateRequest::new(
            request.r#type,
            request.key_id,
            request.principals.unwrap_or_default(),
        )
        .with_public_key(request.public_key.unwrap_or_default()),
        V03.timestamp,
    )
    .with_provisioner_name("admin@example.com");
    assert_eq!(
        String::from_utf8_lossy(&built.to_json()),
        String::from_utf8_lossy(V03.body)
    );
}

#[test]
fn x509_authorizing_builder_reproduces_vector_02() {
    let sent = parse(V02.body);
    let Some(cert) = sent.x509_certificate.clone() else {
        panic!("vector 02 has an x509Certificate");
    };
    let (Some(template), Some(not_before), Some(not_after), Some(key)) = (
        cert.template,
        cert.not_before,
        cert.not_after,
        cert.public_key,
    ) else {
        panic!("vector 02's certificate is complete");
    };
    let mut built = RequestBody::x509_authorizing(
        smallstep_webhook::X509Certificate::new(template, not_before, not_after)
            .with_public_key(key, "ECDSA"),
        V02.timestamp,
    )
    .with_provisioner_name("acme-da");
    built.attestation_data = sent.attestation_data;
    assert_eq!(
        String::from_utf8_lossy(&built.to_json()),
        String::from_utf8_lossy(V02.body)
    );
}

#[test]
fn ssh_authorizing_and_x509_enriching_bodies_round_trip() {
    let template = smallstep_webhook::SshCertificateTemplate::new("user", "alice", ["alice"]);
    let certificate = smallstep_webhook::SshCertificate::new(template, 10, 20);
    let body = RequestBody::ssh_authorizing(certificate, V03.timestamp);
    let json = body.to_json();
    assert_eq!(
        String::from_utf8_lossy(&json),
        r#"{"timestamp":"2025-06-02T16:05:44.090172635+02:00","sshCertificate":{"nonce":null,"serial":0,"type":"user","keyId":"alice","principals":["alice"],"criticalOptions":null,"extensions":null,"reserved":null,"publicKey":null,"signatureKey":null,"validBefore":20,"validAfter":10}}"#
    );
    assert_eq!(parse(&json).kind(), RequestKind::SshAuthorizing);

    let csr = parse(V01.body).csr_der().map(<[u8]>::to_vec);
    let Some(csr) = csr else {
        panic!("vector 01 has a CSR");
    };
    let body = RequestBody::x509_enriching(&csr, V01.timestamp).unwrap();
    let reparsed = parse(&body.to_json());
    assert_eq!(reparsed.kind(), RequestKind::X509Enriching);
    assert_eq!(reparsed.csr_der(), Some(&csr[..]));
    assert_eq!(to_go_json(&reparsed), body.to_json());
}

#[test]
fn verify_errors_map_to_status_and_body() {
    use smallstep_webhook::http::StatusCode;
    let verifier = verifier();
    // A wrong signature, and a right one an hour late.
    for (signature, age) in [(V02.signature, 1.0), (V01.signature, 3600.0)] {
        let result = verifier.verify_at(
            &headers(V01.webhook_id, signature),
            V01.body,
            after(V01.timestamp, age),
        );
        let Err(err) = result else {
            panic!("refused: {signature} at {age} s");
        };
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.response_body().to_json(), br#"{"allow":false}"#);
    }
}
