//! Reading CSR common names, and the enriching builder on CSRs made with rcgen.

use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};
use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;
use smallstep_webhook::{CsrError, RequestBody, RequestKind, csr_common_name};
use time::macros::datetime;

use crate::V01;

/// Decodes a PEM CSR.
pub(crate) fn pem_to_der(pem: &str) -> Vec<u8> {
    match CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()) {
        Ok(der) => der.as_ref().to_vec(),
        Err(err) => panic!("PEM CSR: {err}"),
    }
}

/// A fresh P-256 CSR for `params`.
fn make_csr(params: &CertificateParams) -> Vec<u8> {
    let made = KeyPair::generate().and_then(|key| params.serialize_request(&key));
    match made {
        Ok(csr) => csr.der().as_ref().to_vec(),
        Err(err) => panic!("rcgen: {err}"),
    }
}

fn params(sans: &[&str], dn: DistinguishedName) -> CertificateParams {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    match CertificateParams::new(sans) {
        Ok(mut params) => {
            params.distinguished_name = dn;
            params
        }
        Err(err) => panic!("rcgen params: {err}"),
    }
}

#[test]
fn vector_csr_common_name() {
    let der = pem_to_der(include_str!("../data/device-C02XL0GJJG5J.csr.pem"));
    assert!(matches!(csr_common_name(&der), Ok(Some(cn)) if cn == "C02XL0GJJG5J"));

    // The PEM file is the CSR whose DER is `raw` in vector 01.
    let body: Option<RequestBody> = serde_json::from_slice(V01.body).ok();
    assert_eq!(
        body.as_ref().and_then(|b| b.csr_der()),
        Some(der.as_slice())
    );
}

#[test]
fn csr_without_common_name_gives_none() {
    let der = make_csr(&params(&["device.example"], DistinguishedName::new()));
    assert!(matches!(csr_common_name(&der), Ok(None)));

    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Example Inc");
    let der = make_csr(&params(&[], dn));
    assert!(matches!(csr_common_name(&der), Ok(None)));
}

#[test]
fn common_name_string_types() {
    for value in [
        DnValue::Utf8String("Ünïcode-CN".to_owned()),
        DnValue::BmpString("Ünïcode-CN".try_into().unwrap_or_else(|_| panic!("bmp"))),
    ] {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, value);
        let der = make_csr(&params(&[], dn));
        assert!(matches!(csr_common_name(&der), Ok(Some(cn)) if cn == "Ünïcode-CN"));
    }
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        DnValue::PrintableString("ABC 123".try_into().unwrap_or_else(|_| panic!("printable"))),
    );
    let der = make_csr(&params(&[], dn));
    assert!(matches!(csr_common_name(&der), Ok(Some(cn)) if cn == "ABC 123"));
}

#[test]
fn garbage_is_an_error() {
    assert!(matches!(
        csr_common_name(b""),
        Err(CsrError::Malformed { .. })
    ));
    assert!(matches!(
        csr_common_name(b"garbage"),
        Err(CsrError::Malformed { .. })
    ));
    let der = pem_to_der(include_str!("../data/device-C02XL0GJJG5J.csr.pem"));
    assert!(matches!(
        csr_common_name(&der[..der.len() - 1]),
        Err(CsrError::Malformed { .. })
    ));
    let mut trailing = der;
    trailing.extend_from_slice(b"xx");
    assert!(matches!(
        csr_common_name(&trailing),
        Err(CsrError::TrailingData { len: 2 })
    ));
    // A certificate is not a CSR.
    let cert = rcgen::generate_simple_self_signed(vec!["a.example".to_owned()]);
    let cert = cert
        .map(|c| c.cert.der().as_ref().to_vec())
        .unwrap_or_default();
    assert!(csr_common_name(&cert).is_err());
    // Messages are lowercase and do not echo input.
    let message = csr_common_name(b"garbage")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with("malformed certificate request"),
        "{message}"
    );
}

#[test]
fn body_without_csr() {
    let body = RequestBody::default();
    assert!(matches!(body.csr_common_name(), Err(CsrError::Absent)));
}

#[test]
fn enriching_builder_canonicalizes_like_acme() {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Device-42");
    dn.push(DnType::OrganizationName, "Example Inc");
    let der = make_csr(&params(
        &[
            "Zeta.Example",
            "alpha.example",
            "device-42",
            "10.0.0.2",
            "10.0.0.1",
        ],
        dn,
    ));
    let now = datetime!(2025-06-02 16:05:44.5 +02:00);
    let body = match RequestBody::device_attest_enriching("Device-42", &der, now) {
        Ok(body) => body,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(body.kind(), RequestKind::X509Enriching);
    assert_eq!(body.timestamp, Some(now));
    assert_eq!(body.permanent_identifier(), Some("Device-42"));
    assert_eq!(
        body.csr_common_name().ok().flatten().as_deref(),
        Some("Device-42")
    );
    assert_eq!(body.csr_der(), Some(der.as_slice()));

    let request = body.x509_certificate_request.as_ref();
    let info = request.and_then(|r| r.request.as_ref());
    assert_eq!(
        info.and_then(|i| i.dns_names.clone()),
        Some(vec![
            "alpha.example".to_owned(),
            "device-42".to_owned(),
            "zeta.example".to_owned()
        ])
    );
    assert_eq!(
        info.and_then(|i| i.ip_addresses.clone()),
        Some(vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()])
    );
    assert_eq!(
        info.map(|i| i.subject.organization.clone()),
        Some(vec!["Example Inc".to_owned()])
    );
    let extensions = info.and_then(|i| i.extensions.clone()).unwrap_or_default();
    assert!(
        extensions
            .iter()
            .any(|e| e.id == "2.5.29.17" && !e.critical)
    );
    assert_eq!(
        request.map(|r| r.public_key_algorithm.as_str()),
        Some("ECDSA")
    );
    // The SPKI DER starts with a SEQUENCE and holds the EC public key OID.
    let spki = request
        .and_then(|r| r.public_key.clone())
        .unwrap_or_default();
    assert_eq!(spki.first(), Some(&0x30));

    // The body survives JSON: serialize as Go would, parse, serialize again.
    let json = body.to_json();
    let again: Option<RequestBody> = serde_json::from_slice(&json).ok();
    assert_eq!(again.map(|b| b.to_json()), Some(json));
}

#[test]
fn enriching_builder_with_empty_subject_marks_san_critical() {
    let der = make_csr(&params(&["device.example"], DistinguishedName::new()));
    let body = RequestBody::device_attest_enriching("ID1", &der, datetime!(2025-01-01 0:00 UTC));
    let info = body
        .ok()
        .and_then(|b| b.x509_certificate_request)
        .and_then(|r| r.request);
    let extensions = info
        .as_ref()
        .and_then(|i| i.extensions.clone())
        .unwrap_or_default();
    assert!(extensions.iter().any(|e| e.id == "2.5.29.17" && e.critical));
    assert_eq!(
        info.and_then(|i| i.dns_names),
        Some(vec!["device.example".to_owned()])
    );
}

#[test]
fn enriching_builder_refuses_garbage() {
    let body = RequestBody::device_attest_enriching("x", b"nope", datetime!(2025-01-01 0:00 UTC));
    assert!(matches!(body, Err(CsrError::Malformed { .. })));
}
