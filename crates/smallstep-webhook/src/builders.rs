//! Building the bodies step-ca sends (ACME `device-attest-01`, other X.509 and SSH
//! provisioners), for simulators and tests. The SCEP bodies are in `scep.rs`.

use std::net::IpAddr;

use time::{Duration, OffsetDateTime, UtcOffset};

use crate::csr::{self, CsrError};
use crate::scep::{request_from_details, x509_request};
use crate::types::{
    AttestationData, CertificateTemplate, Extension, Name, RequestBody, SshCertificate,
    SshCertificateRequest, SshCertificateTemplate, SubjectAlternativeName, X509Certificate,
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
        let mut details = csr::details(csr_der)?;
        let common_name = details.subject.common_name.clone();

        // ACME canonicalize: the CN joins the DNS names, or the IPs if it is an IP.
        let mut dns_names = std::mem::take(&mut details.dns_names);
        let ip_addresses = &mut details.ip_addresses;
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
        if details.raw_subject.len() <= 2 {
            for ext in &mut details.extensions {
                if ext.id == SUBJECT_ALT_NAME_OID {
                    ext.critical = true;
                }
            }
        }

        // ACME's DNS names are never null, even when there are none.
        let x509 = request_from_details(details, Some(dns_names), csr_der);
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

impl RequestBody {
    /// The X.509 ENRICHING body step-ca sends for the DER CSR `csr_der` at time `now`, from
    /// a provisioner other than ACME (JWK, OIDC, X5C, K8sSA, …).
    ///
    /// The request is described as `x509util.NewCertificateRequestFromX509` does (subject,
    /// raw subject, SANs, extensions, key usages, public key, `raw`), without ACME's
    /// canonicalisation: the CN is not added to `dnsNames`. `provisionerName` is left unset
    /// as released step-ca versions send it; add it with
    /// [`RequestBody::with_provisioner_name`].
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, RequestKind};
    /// # let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD,
    /// #   "MIHRMHkCAQAwFzEVMBMGA1UEAwwMQzAyWEwwR0pKRzVKMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVxm1xJWHhZ42DKcdMmiI2XlHPBusGpyjpizesd/Hdz6GBwNM0NG5FFegzZXAkzyqOWP6vNu9X/w/dmyif7ZYBKAAMAoGCCqGSM49BAMCA0gAMEUCIQC+YTEWk+ucn2BrHl0IF3++DQXqELNrfCoz+s8RWFhyYAIgZaR2pBIYkHSUARtGBXuwm8Udk8UqsKTZAsB8jUIRO8A=")?;
    /// let body = RequestBody::x509_enriching(&der, time::OffsetDateTime::now_utc())?
    ///     .with_provisioner_name("jwk@example.com");
    /// assert_eq!(body.kind(), RequestKind::X509Enriching);
    /// assert_eq!(body.csr_common_name()?.as_deref(), Some("C02XL0GJJG5J"));
    /// assert_eq!(body.permanent_identifier(), None); // not a device-attest order
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`CsrError`] if `csr_der` is not a certificate request.
    pub fn x509_enriching(csr_der: &[u8], now: OffsetDateTime) -> Result<Self, CsrError> {
        Ok(Self {
            timestamp: Some(now),
            x509_certificate_request: Some(x509_request(csr_der)?),
            ..Self::default()
        })
    }

    /// The X.509 AUTHORIZING body step-ca sends at time `now` for `certificate`: the
    /// rendered template and the final validity (see [`X509Certificate::new`]).
    ///
    /// ```
    /// use smallstep_webhook::{CertificateTemplate, Name, RequestBody, RequestKind, X509Certificate};
    /// use time::macros::datetime;
    /// let mut template = CertificateTemplate::default();
    /// template.subject = Name::with_common_name("alice@example.com");
    /// template.email_addresses = Some(vec!["alice@example.com".to_owned()]);
    /// let certificate = X509Certificate::new(
    ///     template,
    ///     datetime!(2025-06-02 14:00 UTC),
    ///     datetime!(2025-06-03 14:00 UTC),
    /// );
    /// let body = RequestBody::x509_authorizing(certificate, datetime!(2025-06-02 14:00:01 UTC));
    /// assert_eq!(body.kind(), RequestKind::X509Authorizing);
    /// assert_eq!(body.certificate_common_name(), Some("alice@example.com"));
    /// ```
    pub fn x509_authorizing(certificate: X509Certificate, now: OffsetDateTime) -> Self {
        Self {
            timestamp: Some(now),
            x509_certificate: Some(certificate),
            ..Self::default()
        }
    }

    /// The SSH ENRICHING body step-ca sends for `request` at time `now`.
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, RequestKind, SshCertificateRequest};
    /// let request = SshCertificateRequest::new("user", "alice@example.com", ["alice"]);
    /// let body = RequestBody::ssh_enriching(request, time::OffsetDateTime::now_utc());
    /// assert_eq!(body.kind(), RequestKind::SshEnriching);
    /// ```
    pub fn ssh_enriching(request: SshCertificateRequest, now: OffsetDateTime) -> Self {
        Self {
            timestamp: Some(now),
            ssh_certificate_request: Some(request),
            ..Self::default()
        }
    }

    /// The SSH AUTHORIZING body step-ca sends for `certificate` at time `now`.
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, RequestKind, SshCertificate, SshCertificateTemplate};
    /// let template = SshCertificateTemplate::new("user", "alice@example.com", ["alice"]);
    /// let certificate = SshCertificate::new(template, 1_748_872_800, 1_748_959_200);
    /// let body = RequestBody::ssh_authorizing(certificate, time::OffsetDateTime::now_utc());
    /// assert_eq!(body.kind(), RequestKind::SshAuthorizing);
    /// ```
    pub fn ssh_authorizing(certificate: SshCertificate, now: OffsetDateTime) -> Self {
        Self {
            timestamp: Some(now),
            ssh_certificate: Some(certificate),
            ..Self::default()
        }
    }

    /// The same body with `provisionerName` set, as step-ca master sends it in X.509 and
    /// SSH bodies (and every release in SCEPCHALLENGE bodies).
    ///
    /// ```
    /// use smallstep_webhook::RequestBody;
    /// let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", time::OffsetDateTime::now_utc())
    ///     .with_provisioner_name("acme-da");
    /// assert_eq!(body.provisioner_name(), Some("acme-da"));
    /// ```
    #[must_use]
    pub fn with_provisioner_name(mut self, name: impl Into<String>) -> Self {
        self.provisioner_name = Some(name.into());
        self
    }
}

impl X509Certificate {
    /// The `x509Certificate` member of an X.509 AUTHORIZING body: the rendered `template`
    /// and the final validity bounds, which step-ca writes in UTC (converted here).
    ///
    /// `publicKey` is unset (`null`) and `publicKeyAlgorithm` empty until
    /// [`X509Certificate::with_public_key`]; `raw` is `null`, as in every AUTHORIZING call.
    ///
    /// ```
    /// use smallstep_webhook::{CertificateTemplate, X509Certificate};
    /// use time::macros::datetime;
    /// let certificate = X509Certificate::new(
    ///     CertificateTemplate::default(),
    ///     datetime!(2025-06-02 16:00 +02:00),
    ///     datetime!(2025-06-03 14:00 UTC),
    /// );
    /// assert_eq!(certificate.not_before, Some(datetime!(2025-06-02 14:00 UTC)));
    /// ```
    pub fn new(
        template: CertificateTemplate,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Self {
        Self {
            template: Some(template),
            not_before: not_before.checked_to_offset(UtcOffset::UTC),
            not_after: not_after.checked_to_offset(UtcOffset::UTC),
            ..Self::default()
        }
    }

    /// The same certificate with the leaf's SubjectPublicKeyInfo DER and its algorithm
    /// name (`"ECDSA"`, `"RSA"`, `"Ed25519"`).
    #[must_use]
    pub fn with_public_key(mut self, spki_der: Vec<u8>, algorithm: impl Into<String>) -> Self {
        self.public_key = Some(spki_der);
        self.public_key_algorithm = algorithm.into();
        self
    }
}

impl SshCertificateRequest {
    /// An SSH certificate request for a `cert_type` (`"user"` or `"host"`) certificate with
    /// `key_id` and `principals`; `publicKey` is `null` until
    /// [`SshCertificateRequest::with_public_key`].
    ///
    /// ```
    /// use smallstep_webhook::SshCertificateRequest;
    /// let request = SshCertificateRequest::new("user", "alice@example.com", ["alice"]);
    /// assert_eq!(request.key_id, "alice@example.com");
    /// assert_eq!(request.principals.as_deref(), Some(&["alice".to_owned()][..]));
    /// ```
    pub fn new<P: Into<String>>(
        cert_type: impl Into<String>,
        key_id: impl Into<String>,
        principals: impl IntoIterator<Item = P>,
    ) -> Self {
        Self {
            public_key: None,
            r#type: cert_type.into(),
            key_id: key_id.into(),
            principals: Some(principals.into_iter().map(Into::into).collect()),
        }
    }

    /// The same request with the SSH wire-format public key (the blob of an OpenSSH
    /// `.pub` line, base64-decoded).
    #[must_use]
    pub fn with_public_key(mut self, ssh_wire: Vec<u8>) -> Self {
        self.public_key = Some(ssh_wire);
        self
    }
}

impl SshCertificateTemplate {
    /// A rendered SSH template for a `cert_type` (`"user"` or `"host"`) certificate with
    /// `key_id` and `principals`; nonce, serial, options, extensions and reserved bytes are
    /// unset, as step-ca's templates leave them.
    ///
    /// ```
    /// use smallstep_webhook::SshCertificateTemplate;
    /// let template = SshCertificateTemplate::new("host", "web1", ["web1.example.com"]);
    /// assert_eq!(template.r#type, "host");
    /// ```
    pub fn new<P: Into<String>>(
        cert_type: impl Into<String>,
        key_id: impl Into<String>,
        principals: impl IntoIterator<Item = P>,
    ) -> Self {
        // step-ca renders the template from the request's type, key ID and principals.
        let request = SshCertificateRequest::new(cert_type, key_id, principals);
        Self {
            r#type: request.r#type,
            key_id: request.key_id,
            principals: request.principals,
            ..Self::default()
        }
    }
}

impl SshCertificate {
    /// The `sshCertificate` member of an SSH AUTHORIZING body: the rendered `template` and
    /// the final validity in Unix seconds. `publicKey` and `signatureKey` are `null` (step-ca
    /// never sets `signatureKey`); set the key with [`SshCertificate::with_public_key`].
    ///
    /// ```
    /// use smallstep_webhook::{SshCertificate, SshCertificateTemplate};
    /// let certificate = SshCertificate::new(SshCertificateTemplate::default(), 10, 20);
    /// assert_eq!((certificate.valid_after, certificate.valid_before), (10, 20));
    /// ```
    pub fn new(template: SshCertificateTemplate, valid_after: u64, valid_before: u64) -> Self {
        Self {
            template: Some(template),
            public_key: None,
            signature_key: None,
            valid_before,
            valid_after,
        }
    }

    /// The same certificate with the SSH wire-format public key.
    #[must_use]
    pub fn with_public_key(mut self, ssh_wire: Vec<u8>) -> Self {
        self.public_key = Some(ssh_wire);
        self
    }
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
