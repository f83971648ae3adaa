//! SCEP bodies: reading the device a SCEP CSR names, and building the SCEPCHALLENGE and
//! NOTIFYING bodies step-ca sends, for simulators and tests.

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate as ParsedCertificate};

use crate::csr::{self, CsrError};
use crate::types::{CertificateRequestInfo, RequestBody, X509Certificate, X509CertificateRequest};

/// The parts of a certificate request that can name a device, read from its DER (never from
/// the derived JSON fields, which a webhook should not trust on their own).
///
/// ```
/// use smallstep_webhook::CsrIdentity;
/// use base64::Engine as _;
/// let der = base64::engine::general_purpose::STANDARD.decode(
///     "MIHRMHkCAQAwFzEVMBMGA1UEAwwMQzAyWEwwR0pKRzVKMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVxm1xJWH\
///      hZ42DKcdMmiI2XlHPBusGpyjpizesd/Hdz6GBwNM0NG5FFegzZXAkzyqOWP6vNu9X/w/dmyif7ZYBKAAMAoGCCqG\
///      SM49BAMCA0gAMEUCIQC+YTEWk+ucn2BrHl0IF3++DQXqELNrfCoz+s8RWFhyYAIgZaR2pBIYkHSUARtGBXuwm8Ud\
///      k8UqsKTZAsB8jUIRO8A=",
/// )?;
/// let identity = CsrIdentity::parse(&der)?;
/// assert_eq!(identity.common_name.as_deref(), Some("C02XL0GJJG5J"));
/// assert_eq!(identity.serial_number, None);
/// assert!(identity.uris.is_empty());
/// assert!(!identity.public_key.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct CsrIdentity {
    /// The subject's serialNumber attribute (OID 2.5.4.5), where MDMs put the device serial
    /// (`$SERIALNUMBER` in Jamf, `{{SerialNumber}}` in Intune); the last one if several.
    pub serial_number: Option<String>,
    /// The subject's common name; the last one if several, as Go reads it.
    pub common_name: Option<String>,
    /// The URI subject alternative names.
    pub uris: Vec<String>,
    /// The SubjectPublicKeyInfo, DER: what a challenge can be bound to.
    pub public_key: Vec<u8>,
}

impl CsrIdentity {
    /// Reads a DER PKCS#10 certificate request. The signature is not checked: step-ca has
    /// checked it before calling a webhook.
    ///
    /// # Errors
    ///
    /// A [`CsrError`] if `der` is not exactly one certificate request, or a name in it can't
    /// be decoded.
    pub fn parse(der: &[u8]) -> Result<Self, CsrError> {
        let details = csr::details(der)?;
        let non_empty = |text: String| Some(text).filter(|t| !t.is_empty());
        Ok(Self {
            serial_number: non_empty(details.subject.serial_number),
            common_name: non_empty(details.subject.common_name),
            uris: details.uris,
            public_key: details.public_key,
        })
    }
}

impl RequestBody {
    /// The device-naming parts of the CSR in `x509CertificateRequest.raw`.
    ///
    /// # Errors
    ///
    /// [`CsrError::Absent`] without a CSR, or another [`CsrError`] if it does not parse.
    pub fn csr_identity(&self) -> Result<CsrIdentity, CsrError> {
        CsrIdentity::parse(self.csr_der().ok_or(CsrError::Absent)?)
    }

    /// The SCEPCHALLENGE body step-ca sends when a SCEP client presents `challenge` with the
    /// DER CSR `csr_der` in transaction `transaction_id`, to provisioner `provisioner_name`.
    ///
    /// The request is described as `x509util.NewCertificateRequestFromX509` does (subject,
    /// SANs, extensions, key usages, public key, `raw`), without ACME's canonicalisation.
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, RequestKind};
    /// use time::OffsetDateTime;
    /// # let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD,
    /// #   "MIHRMHkCAQAwFzEVMBMGA1UEAwwMQzAyWEwwR0pKRzVKMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVxm1xJWHhZ42DKcdMmiI2XlHPBusGpyjpizesd/Hdz6GBwNM0NG5FFegzZXAkzyqOWP6vNu9X/w/dmyif7ZYBKAAMAoGCCqGSM49BAMCA0gAMEUCIQC+YTEWk+ucn2BrHl0IF3++DQXqELNrfCoz+s8RWFhyYAIgZaR2pBIYkHSUARtGBXuwm8Udk8UqsKTZAsB8jUIRO8A=")?;
    /// let body = RequestBody::scep_challenge(&der, "s3cret-challenge", "tx-1", "wifi", OffsetDateTime::now_utc())?;
    /// assert_eq!(body.kind(), RequestKind::ScepChallenge);
    /// assert_eq!(body.provisioner_name(), Some("wifi"));
    /// assert_eq!(body.csr_identity()?.common_name.as_deref(), Some("C02XL0GJJG5J"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`CsrError`] if `csr_der` is not a certificate request.
    pub fn scep_challenge(
        csr_der: &[u8],
        challenge: impl Into<String>,
        transaction_id: impl Into<String>,
        provisioner_name: impl Into<String>,
        now: OffsetDateTime,
    ) -> Result<Self, CsrError> {
        Ok(Self {
            provisioner_name: Some(provisioner_name.into()),
            scep_challenge: Some(challenge.into()),
            ..Self::scep(csr_der, transaction_id, now)?
        })
    }

    /// The NOTIFYING body step-ca sends after it issued `certificate_der` for `csr_der` in
    /// transaction `transaction_id`: the request, and the certificate's public key,
    /// validity and DER (no template).
    ///
    /// # Errors
    ///
    /// A [`CsrError`] if `csr_der` is not a certificate request, or
    /// [`CsrError::Malformed`] if `certificate_der` is not a certificate.
    pub fn scep_notify_success(
        csr_der: &[u8],
        certificate_der: &[u8],
        transaction_id: impl Into<String>,
        now: OffsetDateTime,
    ) -> Result<Self, CsrError> {
        let (_, certificate) =
            ParsedCertificate::from_der(certificate_der).map_err(|e| CsrError::Malformed {
                reason: format!("certificate: {e}"),
            })?;
        let validity = certificate.validity();
        let mut body = Self::scep(csr_der, transaction_id, now)?;
        let public_key_algorithm = body
            .x509_certificate_request
            .as_ref()
            .map(|request| request.public_key_algorithm.clone())
            .unwrap_or_default();
        body.x509_certificate = Some(X509Certificate {
            template: None,
            public_key: Some(certificate.public_key().raw.to_vec()),
            public_key_algorithm,
            not_before: Some(validity.not_before.to_datetime()),
            not_after: Some(validity.not_after.to_datetime()),
            raw: Some(certificate_der.to_vec()),
        });
        Ok(body)
    }

    /// The NOTIFYING body step-ca sends when issuing for `csr_der` in transaction
    /// `transaction_id` failed with `description` (`scepErrorCode` is always 0, so absent).
    ///
    /// # Errors
    ///
    /// A [`CsrError`] if `csr_der` is not a certificate request.
    pub fn scep_notify_failure(
        csr_der: &[u8],
        transaction_id: impl Into<String>,
        description: impl Into<String>,
        now: OffsetDateTime,
    ) -> Result<Self, CsrError> {
        Ok(Self {
            scep_error_description: Some(description.into()),
            ..Self::scep(csr_der, transaction_id, now)?
        })
    }

    /// What every SCEP body carries: the time, the request for `csr_der` and the
    /// transaction ID.
    fn scep(
        csr_der: &[u8],
        transaction_id: impl Into<String>,
        now: OffsetDateTime,
    ) -> Result<Self, CsrError> {
        Ok(Self {
            timestamp: Some(now),
            x509_certificate_request: Some(x509_request(csr_der)?),
            scep_transaction_id: Some(transaction_id.into()),
            ..Self::default()
        })
    }
}

/// `x509util.NewCertificateRequestFromX509`, as SCEP bodies carry it.
pub(crate) fn x509_request(csr_der: &[u8]) -> Result<X509CertificateRequest, CsrError> {
    let mut details = csr::details(csr_der)?;
    let dns_names = non_empty(std::mem::take(&mut details.dns_names));
    Ok(request_from_details(details, dns_names, csr_der))
}

/// `x509util.NewCertificateRequestFromX509` for the CSR `csr_der`, parsed as `details`,
/// with `dns_names` for its DNS names: SCEP keeps the CSR's, ACME canonicalises them.
pub(crate) fn request_from_details(
    details: csr::CsrDetails,
    dns_names: Option<Vec<String>>,
    csr_der: &[u8],
) -> X509CertificateRequest {
    let request = CertificateRequestInfo {
        version: details.version,
        subject: details.subject,
        raw_subject: Some(details.raw_subject),
        dns_names,
        email_addresses: non_empty(details.email_addresses),
        ip_addresses: Some(
            details
                .ip_addresses
                .into_iter()
                .map(csr::go_ip_string)
                .collect(),
        ),
        uris: non_empty(details.uris),
        sans: None,
        extensions: non_empty(details.extensions),
        key_usage: details.key_usage,
        ext_key_usage: details.ext_key_usage,
        unknown_ext_key_usage: non_empty(details.unknown_ext_key_usage),
        basic_constraints: details.basic_constraints,
        signature_algorithm: String::new(),
    };
    X509CertificateRequest {
        request: Some(request),
        public_key: Some(details.public_key),
        public_key_algorithm: details.public_key_algorithm.to_owned(),
        raw: Some(csr_der.to_vec()),
    }
}

/// `None` for an empty list, which Go writes as `null`.
fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    if items.is_empty() { None } else { Some(items) }
}
