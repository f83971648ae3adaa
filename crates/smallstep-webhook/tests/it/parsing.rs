//! Parsing leniency and Go-exact serialization beyond the four vectors.

use smallstep_webhook::{RequestBody, RequestKind, ResponseBody, to_go_json};
use time::macros::datetime;

fn parse(json: &str) -> RequestBody {
    match serde_json::from_str(json) {
        Ok(body) => body,
        Err(err) => panic!("should parse: {err}\n{json}"),
    }
}

/// Parses `json` and checks that writing it back gives the same bytes.
fn round_trip(json: &str) -> RequestBody {
    let body = parse(json);
    assert_eq!(String::from_utf8_lossy(&to_go_json(&body)), json);
    body
}

#[test]
fn timestamps_keep_nanoseconds_and_offsets() {
    let body = round_trip(r#"{"timestamp":"2025-06-02T16:05:44.090172635+02:00"}"#);
    assert_eq!(
        body.timestamp,
        Some(datetime!(2025-06-02 16:05:44.090172635 +02:00))
    );
    round_trip(r#"{"timestamp":"2025-06-02T09:05:44.5-07:00"}"#);
    round_trip(r#"{"timestamp":"2025-06-02T14:05:44.000000001Z"}"#);
    round_trip(r#"{"timestamp":"2025-06-02T14:05:44Z"}"#);
    round_trip(r#"{"timestamp":"2025-12-31T23:59:59.12+05:45"}"#);
    // Go trims trailing zeros and writes a zero offset as Z.
    let body = parse(r#"{"timestamp":"2025-06-02T14:05:44.500000000+00:00"}"#);
    assert_eq!(body.to_json(), br#"{"timestamp":"2025-06-02T14:05:44.5Z"}"#);
}

#[test]
fn missing_timestamp_is_none_and_writes_go_zero_time() {
    let body = parse("{}");
    assert_eq!(body.timestamp, None);
    assert_eq!(body.kind(), RequestKind::Unknown);
    assert_eq!(body.to_json(), br#"{"timestamp":"0001-01-01T00:00:00Z"}"#);
    let body = parse(r#"{"timestamp":null}"#);
    assert_eq!(body.timestamp, None);
}

#[test]
fn body_without_provisioner_name() {
    let body = round_trip(
        r#"{"timestamp":"2025-06-02T14:21:07Z","attestationData":{"permanentIdentifier":"X"}}"#,
    );
    assert_eq!(body.provisioner_name(), None);
    assert_eq!(body.permanent_identifier(), Some("X"));
    // An empty name counts as absent, and Go's omitempty drops it.
    let body = parse(r#"{"timestamp":"2025-06-02T14:21:07Z","provisionerName":""}"#);
    assert_eq!(body.provisioner_name(), None);
    assert_eq!(body.to_json(), br#"{"timestamp":"2025-06-02T14:21:07Z"}"#);
}

#[test]
fn unknown_fields_are_ignored() {
    let body = parse(
        r#"{"future":{"x":[1,2,{"y":null}]},"timestamp":"2025-06-02T14:21:07Z","token":"t",
            "attestationData":{"permanentIdentifier":"ABC","format":"apple"},
            "x509CertificateRequest":{"subject":{"commonName":"ABC","newAttr":1},"newField":true,"raw":null}}"#,
    );
    assert_eq!(body.permanent_identifier(), Some("ABC"));
    assert_eq!(body.kind(), RequestKind::X509Enriching);
    let request = body.x509_certificate_request.as_ref();
    assert_eq!(request.and_then(|r| r.common_name()), Some("ABC"));
}

#[test]
fn null_fields_are_accepted() {
    let body = parse(
        r#"{"timestamp":"2025-06-02T14:21:07Z","provisionerName":null,"attestationData":null,
            "x509CertificateRequest":{"version":null,"subject":null,"rawSubject":null,"dnsNames":null,
              "emailAddresses":null,"ipAddresses":null,"uris":null,"sans":null,"extensions":null,
              "keyUsage":null,"extKeyUsage":null,"unknownExtKeyUsage":null,"basicConstraints":null,
              "signatureAlgorithm":null,"publicKey":null,"publicKeyAlgorithm":null,"raw":null},
            "x509Certificate":null,"sshCertificateRequest":null,"sshCertificate":null,
            "scepChallenge":null,"scepTransactionID":null,"scepErrorCode":null,
            "scepErrorDescription":null,"x5cCertificate":null,"authorizationPrincipal":null}"#,
    );
    assert_eq!(body.permanent_identifier(), None);
    assert_eq!(body.kind(), RequestKind::X509Enriching);
    let request = body.x509_certificate_request.as_ref();
    assert!(request.is_some_and(|r| r.request.is_some() && r.raw.is_none()));
    assert!(body.csr_common_name().is_err());
    // Go's zero values come back out.
    assert_eq!(
        String::from_utf8_lossy(&body.to_json()),
        r#"{"timestamp":"2025-06-02T14:21:07Z","x509CertificateRequest":{"version":0,"subject":{},"rawSubject":null,"dnsNames":null,"emailAddresses":null,"ipAddresses":null,"uris":null,"sans":null,"extensions":null,"keyUsage":null,"extKeyUsage":[],"unknownExtKeyUsage":null,"basicConstraints":null,"signatureAlgorithm":"","publicKey":null,"publicKeyAlgorithm":"","raw":null}}"#
    );
}

#[test]
fn multi_strings_accept_a_single_string() {
    let body = parse(
        r#"{"x509CertificateRequest":{"subject":{"country":"US","commonName":"a"},"dnsNames":"a.example","keyUsage":"digitalSignature"}}"#,
    );
    let info = body
        .x509_certificate_request
        .and_then(|r| r.request)
        .unwrap_or_default();
    assert_eq!(info.subject.country, vec!["US".to_owned()]);
    assert_eq!(info.dns_names, Some(vec!["a.example".to_owned()]));
    assert_eq!(info.key_usage, vec!["digitalSignature".to_owned()]);
}

#[test]
fn scep_notifying_success_without_template() {
    // The embedded *x509util.Certificate is nil: only the outer fields are written.
    let body = round_trip(
        r#"{"timestamp":"2025-06-02T14:21:07.1Z","x509CertificateRequest":{"publicKey":"AQI=","publicKeyAlgorithm":"RSA","raw":"AwQ="},"x509Certificate":{"publicKey":"AQI=","publicKeyAlgorithm":"RSA","notBefore":"2025-06-02T14:20:07Z","notAfter":"2026-06-02T14:20:07Z","raw":"BQY="},"scepTransactionID":"tx-1"}"#,
    );
    assert_eq!(body.kind(), RequestKind::ScepNotifying);
    let cert = body.x509_certificate.as_ref();
    assert!(cert.is_some_and(|c| c.template.is_none()));
    assert_eq!(cert.and_then(|c| c.raw.clone()), Some(vec![5, 6]));
    assert!(
        body.x509_certificate_request
            .as_ref()
            .is_some_and(|r| r.request.is_none())
    );
}

#[test]
fn scep_failure_and_challenge_bodies() {
    let body = round_trip(
        r#"{"timestamp":"2025-06-02T14:21:07Z","scepTransactionID":"tx-2","scepErrorCode":3,"scepErrorDescription":"bad \u003cthing\u003e \u0026 more"}"#,
    );
    assert_eq!(body.scep_error_code, Some(3));
    assert_eq!(
        body.scep_error_description.as_deref(),
        Some("bad <thing> & more")
    );
    let body = round_trip(
        r#"{"timestamp":"2025-06-02T14:21:07Z","provisionerName":"scep","scepChallenge":"hunter2","scepTransactionID":"tx-3"}"#,
    );
    assert_eq!(body.kind(), RequestKind::ScepChallenge);
    let debug = format!("{body:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    // Go's omitempty drops a zero error code.
    let body = parse(r#"{"timestamp":"2025-06-02T14:21:07Z","scepErrorCode":0}"#);
    assert_eq!(body.to_json(), br#"{"timestamp":"2025-06-02T14:21:07Z"}"#);
}

#[test]
fn x509_certificate_with_every_member() {
    round_trip(
        r#"{"timestamp":"2025-06-02T14:21:07Z","x509Certificate":{"version":3,"subject":{"country":["US"],"organization":["Example"],"organizationalUnit":["IT"],"locality":["SF"],"province":["CA"],"streetAddress":["1 Main"],"postalCode":["94000"],"serialNumber":"SN1","commonName":"dev","extraNames":[{"type":"1.2.840.113549.1.9.1","value":"a@example.com"},{"type":"2.5.4.42","value":null}]},"rawSubject":"MAA=","issuer":{"commonName":"CA"},"serialNumber":340282366920938463463374607431768211457,"dnsNames":["a.example"],"emailAddresses":["a@example.com"],"ipAddresses":["10.0.0.1","::1"],"uris":["spiffe://x/y"],"sans":[{"type":"dns","value":"a.example"},{"type":"x","value":"y","asn1Value":{"int":5}}],"extensions":[{"id":"1.2.3","critical":true,"value":""}],"keyUsage":["digitalSignature","keyEncipherment"],"extKeyUsage":[],"unknownExtKeyUsage":["1.2.3.4"],"subjectKeyId":"AQ==","authorityKeyId":"Ag==","ocspServer":["http://ocsp"],"issuingCertificateURL":["http://ca"],"crlDistributionPoints":["http://crl"],"policyIdentifiers":["2.23.140.1.2.1"],"basicConstraints":{"isCA":false,"maxPathLen":-1},"nameConstraints":{"critical":true,"permittedDNSDomains":["example.com"],"excludedDNSDomains":null,"permittedIPRanges":["10.0.0.0/8"],"excludedIPRanges":null,"permittedEmailAddresses":null,"excludedEmailAddresses":null,"permittedURIDomains":null,"excludedURIDomains":[]},"signatureAlgorithm":"SHA256-RSA","publicKey":null,"publicKeyAlgorithm":"RSA","notBefore":"2025-06-02T14:20:07Z","notAfter":"2025-06-03T14:20:07Z","raw":null}}"#,
    );
}

#[test]
fn big_serial_numbers_are_kept_exactly() {
    let body =
        parse(r#"{"x509Certificate":{"serialNumber":340282366920938463463374607431768211457}}"#);
    let serial = body
        .x509_certificate
        .and_then(|c| c.template)
        .and_then(|t| t.serial_number)
        .map(|raw| raw.get().to_owned());
    assert_eq!(
        serial.as_deref(),
        Some("340282366920938463463374607431768211457")
    );
}

#[test]
fn ssh_certificate_bodies() {
    let body = round_trip(
        r#"{"timestamp":"2025-06-02T16:05:44.09+02:00","sshCertificate":{"nonce":null,"serial":18446744073709551615,"type":"host","keyId":"web-1","principals":["web-1.example"],"criticalOptions":{"force-command":"/bin/true","source-address":"10.0.0.0/8"},"extensions":{"permit-pty":""},"reserved":null,"publicKey":"AAAA","signatureKey":null,"validBefore":18446744073709551615,"validAfter":1748872000},"x5cCertificate":{"raw":"AQI=","publicKey":"AwQ=","publicKeyAlgorithm":"Ed25519","notBefore":"2025-06-01T00:00:00Z","notAfter":"2025-07-01T00:00:00Z"},"authorizationPrincipal":"web-1"}"#,
    );
    assert_eq!(body.kind(), RequestKind::SshAuthorizing);
    let cert = body.ssh_certificate.as_ref();
    assert_eq!(cert.map(|c| c.valid_before), Some(u64::MAX));
    assert_eq!(
        cert.and_then(|c| c.template.as_ref())
            .map(|t| t.key_id.as_str()),
        Some("web-1")
    );
    // Map keys are written sorted, as Go does, whatever order they came in.
    let body = parse(
        r#"{"sshCertificate":{"criticalOptions":{"z":"1","a":"2"},"validBefore":1,"validAfter":0}}"#,
    );
    let json = String::from_utf8_lossy(&body.to_json()).into_owned();
    assert!(
        json.contains(r#""criticalOptions":{"a":"2","z":"1"}"#),
        "{json}"
    );
}

#[test]
fn strings_are_escaped_like_go() {
    let mut body = RequestBody::default();
    body.timestamp = Some(datetime!(2025-06-02 14:21:07 UTC));
    body.provisioner_name = Some("a<b>&c\u{2028}\u{2029}\"\\\n\u{1}é".to_owned());
    assert_eq!(
        String::from_utf8_lossy(&body.to_json()),
        "{\"timestamp\":\"2025-06-02T14:21:07Z\",\"provisionerName\":\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\\\\\n\\u0001é\"}"
    );
}

#[test]
fn bad_encodings_are_refused() {
    assert!(serde_json::from_str::<RequestBody>(r#"{"timestamp":"yesterday"}"#).is_err());
    assert!(serde_json::from_str::<RequestBody>(r#"{"timestamp":12}"#).is_err());
    assert!(
        serde_json::from_str::<RequestBody>(r#"{"x509CertificateRequest":{"raw":"***"}}"#).is_err()
    );
    assert!(
        serde_json::from_str::<RequestBody>(r#"{"x509CertificateRequest":{"raw":"AQI"}}"#).is_err(),
        "base64 without padding is refused, as Go's StdEncoding does"
    );
    assert!(serde_json::from_str::<RequestBody>(r#"{"x509CertificateRequest":[]}"#).is_err());
    assert!(serde_json::from_str::<RequestBody>(r#"{"x509Certificate":["a"]}"#).is_err());
    assert!(serde_json::from_str::<RequestBody>(r#"{"sshCertificate":"x"}"#).is_err());
}

#[test]
fn parse_from_value_too() {
    let value: serde_json::Value = serde_json::from_slice(crate::V02.body).unwrap_or_default();
    let body: Option<RequestBody> = serde_json::from_value(value).ok();
    assert_eq!(body.map(|b| b.to_json()), Some(crate::V02.body.to_vec()));
}

#[test]
fn response_bodies() {
    assert_eq!(ResponseBody::allow().to_json(), br#"{"allow":true}"#);
    assert_eq!(ResponseBody::default().to_json(), br#"{"allow":false}"#);
    let deny = ResponseBody::deny("deviceNotEnrolled", "Device <not> enrolled");
    assert_eq!(
        String::from_utf8_lossy(&deny.to_json()),
        r#"{"allow":false,"error":{"code":"deviceNotEnrolled","message":"Device \u003cnot\u003e enrolled"}}"#
    );
    let raw = serde_json::value::RawValue::from_string(r#"{ "role" : "eng" }"#.to_owned());
    let allow = raw.map(ResponseBody::allow_with_data).unwrap_or_default();
    assert_eq!(allow.to_json(), br#"{"allow":true,"data":{"role":"eng"}}"#);
    assert!(allow.is_allowed());

    // Reading what other servers answer, in Go's field order, with a trailing newline.
    let parsed: Option<ResponseBody> =
        serde_json::from_str("{\"data\":{\"role\":\"eng\"},\"allow\":true}\n").ok();
    assert_eq!(
        parsed.map(|p| p.to_json()),
        Some(br#"{"allow":true,"data":{"role":"eng"}}"#.to_vec())
    );
    let parsed: Option<ResponseBody> =
        serde_json::from_str(r#"{"allow":false,"error":{"code":"x","message":"y"},"extra":1}"#)
            .ok();
    let error = parsed.and_then(|p| p.error);
    assert_eq!(
        error.map(|e| (e.code, e.message)),
        Some(("x".to_owned(), "y".to_owned()))
    );
    assert!(serde_json::from_str::<ResponseBody>(r#"{"allow":"yes"}"#).is_err());
}
