//! Building the bodies step-ca sends in ACME `device-attest-01`, for simulators and tests.

use std::net::IpAddr;

use time::{Duration, OffsetDateTime, UtcOffset};

use crate::csr::{self, CsrError};
use crate::types::{
    AttestationData, CertificateRequestInfo, CertificateTemplate, Extension, Name, RequestBody,
    SubjectAlternativeName, X509Certificate, X509CertificateRequest,
};

/// OID of the subjectAltName extension.
const SUBJECT_ALT_NAME_OID: &str = "2.5.29.17";
/// DER of OID 1.3.6.1.5.5.7.8.3 (RFC 4043 permanentIdentifier), tag and length included.
const PERMANENT_IDENTIFIER_OID_DER: [u8; 10] =
    [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x03];

impl RequestBody {
    /// The ENRICHING body step-ca sends when an ACME `device-attest-01` order for
    /// `permanent_identifier` is finalized with the DER CSR `csr_der`, at time `now`.
    ///
    /// Like step-ca (`NewCertificateRequestFromX509`, then ACME `canonicalize`): the subject,
    /// raw subject, requested extensions, SANs, key usages and public key come from the
    /// CSR; `dnsNames` gets the lower-cased CN added, de-duplicated and sorted; the
    /// `ipAddresses` list is never `null`; `raw` is the CSR DER. `provisionerName` is left
    /// unset, as released step-ca versions send it; set the field to mimic step-ca master.
    ///
    /// ```
    /// use smallstep_webhook::RequestBody;
    /// use base64::Engine as _;
    /// use time::macros::datetime;
    ///
    /// // The CSR and timestamp of vector 04 (a body as step-ca v0.30.2 sends it).
    /// let vector = include_bytes!("../tests/data/04-device-attest-enriching-v0.30.2.json");
    /// let sent: RequestBody = serde_json::from_slice(vector)?;
    /// let csr = sent.csr_der().ok_or("no csr")?;
    /// let built = RequestBody::device_attest_enriching(
    ///     "C02XL0GJJG5J",
    ///     csr,
    ///     datetime!(2025-06-02 14:21:07.482913377 UTC),
    /// )?;
    /// assert_eq!(built.to_json(), vector);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`CsrError`] if `csr_der` is not a certificate request.
    pub fn device_attest_enriching(
        permanent_identifier: impl Into<String>,
        csr_der: &[u8],
        now: OffsetDateTime,
    ) -> Result<Self, CsrError> {
        let details = csr::details(csr_der)?;
        let common_name = details.subject.common_name.clone();

        // ACME canonicalize: the CN joins the DNS names, or the IPs if it is an IP.
        let mut dns_names = details.dns_names;
        let mut ip_addresses = details.ip_addresses;
        if !common_name.is_empty() {
            match common_name.parse::<IpAddr>() {
                Ok(ip) => ip_addresses.push(ip),
                Err(_) => dns_names.push(common_name),
            }
        }
        let mut dns_names: Vec<String> = dns_names.iter().map(|n| n.to_lowercase()).collect();
        dns_names.sort();
        dns_names.dedup();
        ip_addresses.sort_by_key(csr::ip_sort_key);
        ip_addresses.dedup_by_key(|ip| csr::ip_sort_key(ip));

        // x509util: with an empty subject, the SAN extension is made critical.
        let subject_is_empty = details.raw_subject.len() <= 2;
        let mut extensions = details.extensions;
        if subject_is_empty {
            for ext in &mut extensions {
                if ext.id == SUBJECT_ALT_NAME_OID {
                    ext.critical = true;
                }
            }
        }

        let request = CertificateRequestInfo {
            version: details.version,
            subject: details.subject,
            raw_subject: Some(details.raw_subject),
            dns_names: Some(dns_names),
            email_addresses: non_empty(details.email_addresses),
            ip_addresses: Some(ip_addresses.into_iter().map(csr::go_ip_string).collect()),
            uris: non_empty(details.uris),
            sans: None,
            extensions: non_empty(extensions),
            key_usage: details.key_usage,
            ext_key_usage: details.ext_key_usage,
            unknown_ext_key_usage: non_empty(details.unknown_ext_key_usage),
            basic_constraints: details.basic_constraints,
            signature_algorithm: String::new(),
        };
        let x509 = X509CertificateRequest {
            request: Some(request),
            public_key: Some(details.public_key),
            public_key_algorithm: details.public_key_algorithm.to_owned(),
            raw: Some(csr_der.to_vec()),
        };
        let body = Self {
            timestamp: Some(now),
            attestation_data: Some(AttestationData::new(permanent_identifier)),
            x509_certificate_request: Some(x509),
            ..Self::default()
        };
        Ok(body)
    }

    /// The AUTHORIZING body step-ca sends for an ACME `device-attest-01` order for
    /// `permanent_identifier`, at time `now`, with its default attested-leaf template.
    ///
    /// The template has the identifier as subject common name (step-ca copies the CSR's,
    /// which must equal it), a `permanentIdentifier` SAN in both `sans` and a generated
    /// subjectAltName extension, key usage `digitalSignature` and extended key usage
    /// `clientAuth`. `notBefore` is `now` minus one minute and `notAfter` `now` plus 24
    /// hours, in UTC and whole seconds (step-ca counts from the order's creation, which
    /// precedes `now`). `publicKey` is unset (`null`) and `publicKeyAlgorithm` empty: set
    /// them on [`RequestBody::x509_certificate`] to the leaf key if it matters.
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, RequestKind};
    /// use time::macros::datetime;
    /// let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", datetime!(2025-06-02 14:21:07.5 UTC));
    /// assert_eq!(body.kind(), RequestKind::X509Authorizing);
    /// assert_eq!(body.certificate_common_name(), Some("C02XL0GJJG5J"));
    /// let cert = body.x509_certificate.as_ref().ok_or("no certificate")?;
    /// assert_eq!(cert.not_before, Some(datetime!(2025-06-02 14:20:07 UTC)));
    /// assert_eq!(cert.not_after, Some(datetime!(2025-06-03 14:21:07 UTC)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn device_attest_authorizing(
        permanent_identifier: impl Into<String>,
        now: OffsetDateTime,
    ) -> Self {
        let identifier = permanent_identifier.into();
        let subject = Name::with_common_name(identifier.clone());
        let san_critical = identifier.is_empty();

        let template = CertificateTemplate {
            subject,
            sans: Some(vec![SubjectAlternativeName::new(
                "permanentIdentifier",
                identifier.clone(),
            )]),
            extensions: Some(vec![Extension::new(
                SUBJECT_ALT_NAME_OID,
                san_critical,
                permanent_identifier_san_der(&identifier),
            )]),
            key_usage: vec!["digitalSignature".to_owned()],
            ext_key_usage: vec!["clientAuth".to_owned()],
            ..CertificateTemplate::default()
        };

        let start = now
            .checked_to_offset(UtcOffset::UTC)
            .map(OffsetDateTime::truncate_to_second);
        let certificate = X509Certificate {
            template: Some(template),
            not_before: start.and_then(|t| t.checked_sub(Duration::MINUTE)),
            not_after: start.and_then(|t| t.checked_add(Duration::DAY)),
            ..X509Certificate::default()
        };

        Self {
            timestamp: Some(now),
            attestation_data: Some(AttestationData::new(identifier)),
            x509_certificate: Some(certificate),
            ..Self::default()
        }
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    if items.is_empty() { None } else { Some(items) }
}

/// The DER of a GeneralNames holding one RFC 4043 permanentIdentifier otherName, as
/// x509util's `createSubjectAltNameExtension` builds it.
pub(crate) fn permanent_identifier_san_der(identifier: &str) -> Vec<u8> {
    let value = der(0x0c, identifier.as_bytes()); // UTF8String
    let permanent_identifier = der(0x30, &value); // PermanentIdentifier SEQUENCE
    let explicit = der(0xa0, &permanent_identifier); // [0] EXPLICIT
    let mut other_name = PERMANENT_IDENTIFIER_OID_DER.to_vec();
    other_name.extend_from_slice(&explicit);
    let other_name = der(0xa0, &other_name); // [0] otherName
    der(0x30, &other_name) // GeneralNames SEQUENCE
}

/// One DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.extend_from_slice(&[len as u8]);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn san_der_matches_vector() {
        let expected = base64::engine::general_purpose::STANDARD
            .decode("MB6gHAYIKwYBBQUHCAOgEDAODAxDMDJYTDBHSkpHNUo=")
            .ok();
        assert_eq!(Some(permanent_identifier_san_der("C02XL0GJJG5J")), expected);
    }

    #[test]
    fn der_long_lengths() {
        assert_eq!(der(0x04, &[0; 0x7f])[..2], [0x04, 0x7f]);
        assert_eq!(der(0x04, &[0; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(der(0x04, &[0; 0x1234])[..4], [0x04, 0x82, 0x12, 0x34]);
    }
}
