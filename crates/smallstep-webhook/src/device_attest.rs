//! A light view of a request body: only what a device-attest webhook decides on.
//!
//! Parsing a whole [`RequestBody`](crate::RequestBody) builds every member step-ca sends
//! (the certificate request's subject, SANs, extensions, public key, …), most of it only to
//! be dropped. A server that only needs the attested identifier, the provisioner, the CSR
//! and the certificate's common name reads those and skips the rest, which still has to be
//! well-formed JSON. The fields read follow the same rules as in [`RequestBody`]: `null`
//! reads as absent, and an empty string as no value.

use std::time::SystemTime;

use http::HeaderMap;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::csr::{self, CsrError};
use crate::gojson::{go_bytes, go_time, null_default};
use crate::headers::WebhookHeaders;
use crate::verify::{Verifier, VerifyError};

/// What a device-attest decision needs from a verified step-ca request body.
///
/// Get one from [`Verifier::verify_device_attest`]. Its accessors answer exactly as the
/// [`RequestBody`](crate::RequestBody) methods of the same names would for the same body.
///
/// ```
/// use smallstep_webhook::{RequestBody, Signer, Verifier, WebhookSecret};
/// let secret = WebhookSecret::generate()?;
/// let verifier = Verifier::builder()
///     .webhook("d09736a5-780b-476e-abdb-e2e4c0439cf9", &secret.to_base64())
///     .build()?;
/// let signer = Signer::new("d09736a5-780b-476e-abdb-e2e4c0439cf9", secret)?;
/// let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", std::time::SystemTime::now().into());
/// let request = signer.sign_body(&body);
///
/// let view = verifier.verify_device_attest(&request.headers, &request.body)?;
/// assert_eq!(view.webhook_id(), "d09736a5-780b-476e-abdb-e2e4c0439cf9");
/// assert_eq!(view.permanent_identifier(), Some("C02XL0GJJG5J"));
/// assert!(view.has_certificate() && !view.has_certificate_request());
/// assert_eq!(view.certificate_common_name(), Some("C02XL0GJJG5J"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default)]
pub struct DeviceAttestRequest {
    webhook_id: String,
    body: View,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct View {
    #[serde(default, with = "go_time")]
    timestamp: Option<OffsetDateTime>,
    #[serde(rename = "provisionerName", default, deserialize_with = "null_default")]
    provisioner_name: String,
    #[serde(rename = "attestationData", default)]
    attestation_data: Option<AttestationView>,
    #[serde(rename = "x509CertificateRequest", default)]
    x509_certificate_request: Option<CertificateRequestView>,
    #[serde(rename = "x509Certificate", default)]
    x509_certificate: Option<CertificateView>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct AttestationView {
    #[serde(
        rename = "permanentIdentifier",
        default,
        deserialize_with = "null_default"
    )]
    permanent_identifier: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct CertificateRequestView {
    #[serde(default, with = "go_bytes")]
    raw: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct CertificateView {
    #[serde(default)]
    subject: Option<NameView>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct NameView {
    #[serde(rename = "commonName", default, deserialize_with = "null_default")]
    common_name: String,
}

fn non_empty(text: &str) -> Option<&str> {
    Some(text).filter(|text| !text.is_empty())
}

impl DeviceAttestRequest {
    /// The authenticated webhook ID.
    pub fn webhook_id(&self) -> &str {
        &self.webhook_id
    }

    /// When step-ca built the request.
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        self.body.timestamp
    }

    /// The permanent identifier step-ca verified in `device-attest-01`, if any. See
    /// [`RequestBody::permanent_identifier`](crate::RequestBody::permanent_identifier).
    pub fn permanent_identifier(&self) -> Option<&str> {
        self.body
            .attestation_data
            .as_ref()
            .and_then(|a| non_empty(&a.permanent_identifier))
    }

    /// The provisioner's name, if step-ca sent one.
    pub fn provisioner_name(&self) -> Option<&str> {
        non_empty(&self.body.provisioner_name)
    }

    /// Whether the body carries `x509CertificateRequest` (an ENRICHING call).
    pub fn has_certificate_request(&self) -> bool {
        self.body.x509_certificate_request.is_some()
    }

    /// Whether the body carries `x509Certificate` (an AUTHORIZING call).
    pub fn has_certificate(&self) -> bool {
        self.body.x509_certificate.is_some()
    }

    /// The DER of the client's certificate request (`x509CertificateRequest.raw`), if any.
    pub fn csr_der(&self) -> Option<&[u8]> {
        self.body
            .x509_certificate_request
            .as_ref()
            .and_then(|r| r.raw.as_deref())
    }

    /// The subject common name of the client's CSR, read from its DER. See
    /// [`RequestBody::csr_common_name`](crate::RequestBody::csr_common_name).
    ///
    /// # Errors
    ///
    /// [`CsrError::Absent`] if the body carries no CSR, or another [`CsrError`] if the DER
    /// does not parse.
    pub fn csr_common_name(&self) -> Result<Option<String>, CsrError> {
        csr::csr_common_name(self.csr_der().ok_or(CsrError::Absent)?)
    }

    /// The subject common name of the certificate about to be signed
    /// (`x509Certificate.subject.commonName`), if present and non-empty.
    pub fn certificate_common_name(&self) -> Option<&str> {
        self.body
            .x509_certificate
            .as_ref()
            .and_then(|c| c.subject.as_ref())
            .and_then(|s| non_empty(&s.common_name))
    }
}

impl Verifier {
    /// Verifies a request against the system clock and reads only what a device-attest
    /// decision needs. See [`Verifier::verify_device_attest_at`].
    ///
    /// # Errors
    ///
    /// See [`Verifier::verify_at`].
    pub fn verify_device_attest(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<DeviceAttestRequest, VerifyError> {
        self.verify_device_attest_at(headers, body, SystemTime::now())
    }

    /// Runs the checks of [`Verifier::verify_at`], in the same order and with the same
    /// errors, but reads the body into a [`DeviceAttestRequest`] instead of a whole
    /// [`RequestBody`](crate::RequestBody): members it does not read are skipped, though
    /// the body must still be one well-formed JSON object.
    ///
    /// # Errors
    ///
    /// See [`Verifier::verify_at`].
    pub fn verify_device_attest_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<DeviceAttestRequest, VerifyError> {
        self.verify_device_attest_parts_at(WebhookHeaders::from_header_map(headers), body, now)
    }

    /// [`Verifier::verify_device_attest_at`] for header values taken from any framework:
    /// see [`WebhookHeaders`].
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, Signer, Verifier, WebhookHeaders, WebhookSecret};
    /// let secret = WebhookSecret::generate()?;
    /// let verifier = Verifier::builder()
    ///     .webhook("d09736a5-780b-476e-abdb-e2e4c0439cf9", &secret.to_base64())
    ///     .build()?;
    /// let signer = Signer::new("d09736a5-780b-476e-abdb-e2e4c0439cf9", secret)?;
    /// let now = std::time::SystemTime::now();
    /// let request = signer.sign_body(&RequestBody::device_attest_authorizing("C02XL0GJJG5J", now.into()));
    /// let view = verifier.verify_device_attest_parts_at(
    ///     WebhookHeaders::from_header_map(&request.headers),
    ///     &request.body,
    ///     now,
    /// )?;
    /// assert_eq!(view.permanent_identifier(), Some("C02XL0GJJG5J"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`Verifier::verify_at`].
    pub fn verify_device_attest_parts_at(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<DeviceAttestRequest, VerifyError> {
        let (webhook_id, view) =
            self.verify_as(headers, body, now, |view: &View| view.timestamp)?;
        Ok(DeviceAttestRequest {
            webhook_id,
            body: view,
        })
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::verify::parse_object;
    use crate::{RequestBody, SIGNATURE_HEADER, Signer, WEBHOOK_ID_HEADER, WebhookSecret};

    const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
    const SECRET: &str =
        "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

    fn verifier() -> Verifier {
        Verifier::builder().webhook(ID, SECRET).build().unwrap()
    }

    fn signer() -> Signer {
        Signer::new(ID, WebhookSecret::from_base64(SECRET).unwrap()).unwrap()
    }

    /// The view and the whole body agree on every vector step-ca sent.
    #[test]
    fn agrees_with_the_whole_body_on_the_vectors() {
        for vector in [
            &include_bytes!("../tests/data/01-device-attest-enriching.json")[..],
            &include_bytes!("../tests/data/02-device-attest-authorizing.json")[..],
            &include_bytes!("../tests/data/03-ssh-enriching.json")[..],
            &include_bytes!("../tests/data/04-device-attest-enriching-v0.30.2.json")[..],
        ] {
            let full: RequestBody = serde_json::from_slice(vector).unwrap();
            let view = DeviceAttestRequest {
                webhook_id: ID.to_owned(),
                body: parse_object(vector).unwrap(),
            };
            assert_eq!(view.timestamp(), full.timestamp);
            assert_eq!(view.permanent_identifier(), full.permanent_identifier());
            assert_eq!(view.provisioner_name(), full.provisioner_name());
            assert_eq!(
                view.has_certificate_request(),
                full.x509_certificate_request.is_some()
            );
            assert_eq!(view.has_certificate(), full.x509_certificate.is_some());
            assert_eq!(view.csr_der(), full.csr_der());
            assert_eq!(
                view.csr_common_name().ok().flatten(),
                full.csr_common_name().ok().flatten()
            );
            assert_eq!(
                view.certificate_common_name(),
                full.certificate_common_name()
            );
        }
    }

    #[test]
    fn nulls_and_empty_strings_read_as_absent() {
        let body = br#"{"timestamp":"2025-06-02T14:21:07Z","provisionerName":"",
            "attestationData":{"permanentIdentifier":null},
            "x509CertificateRequest":{"raw":null},"x509Certificate":{"subject":{"commonName":""}}}"#;
        let view: View = parse_object(body).unwrap();
        let view = DeviceAttestRequest {
            webhook_id: ID.to_owned(),
            body: view,
        };
        assert_eq!(view.permanent_identifier(), None);
        assert_eq!(view.provisioner_name(), None);
        assert!(view.has_certificate_request() && view.has_certificate());
        assert!(matches!(view.csr_common_name(), Err(CsrError::Absent)));
        assert_eq!(view.certificate_common_name(), None);

        let view: View = parse_object(br#"{"x509CertificateRequest":null}"#).unwrap();
        assert!(view.x509_certificate_request.is_none());
    }

    #[test]
    fn checks_like_verify_at() {
        let verifier = verifier();
        let now = SystemTime::now();
        let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", now.into());
        let signed = signer().sign_body(&body);
        assert!(
            verifier
                .verify_device_attest_at(&signed.headers, &signed.body, now)
                .is_ok()
        );

        // A wrong signature, a stale timestamp, a body that is not an object, and skipped
        // members that are not well-formed JSON are refused as by verify_at.
        let mut headers = signed.headers.clone();
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_static("00"));
        assert!(matches!(
            verifier.verify_device_attest_at(&headers, &signed.body, now),
            Err(VerifyError::MalformedSignature)
        ));
        let later = now + std::time::Duration::from_secs(3600);
        assert!(matches!(
            verifier.verify_device_attest_at(&signed.headers, &signed.body, later),
            Err(VerifyError::StaleTimestamp { .. })
        ));
        for bad in [
            &b"[1]"[..],
            b"{\"sshCertificate\":{,}}",
            b"{\"timestamp\":5}",
        ] {
            let signed_bad = signer().headers(bad);
            let err = verifier
                .verify_device_attest_at(&signed_bad, bad, now)
                .unwrap_err();
            assert!(err.is_malformed_body(), "{bad:?}: {err}");
        }
        let no_time = br#"{"attestationData":{"permanentIdentifier":"X"}}"#;
        assert!(matches!(
            verifier.verify_device_attest_at(&signer().headers(no_time), no_time, now),
            Err(VerifyError::MissingTimestamp)
        ));
        assert!(signed.headers.contains_key(WEBHOOK_ID_HEADER));
    }
}
