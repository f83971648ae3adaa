//! The device-attest rules and the `mode` query parameter.

use posture_core::{DenyCode, DeviceMode, LookupRequest, WebhookKind};
use smallstep_webhook::DeviceAttestRequest;

use crate::answer::Answer;

/// The URL's `mode` query parameter was not `computer`, `mobiledevice` or `auto`.
///
/// ```
/// use posture_webhook::mode_from_query;
/// let err = mode_from_query(Some("mode=laptop")).unwrap_err();
/// assert_eq!(err.0, "laptop");
/// assert_eq!(err.to_string(), r#"unknown mode "laptop": expected computer, mobiledevice or auto"#);
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct InvalidMode(pub String);

impl std::fmt::Display for InvalidMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown mode {:?}: expected computer, mobiledevice or auto",
            self.0
        )
    }
}

impl std::error::Error for InvalidMode {}

/// The device mode a request's query string asks for: the last `mode=` parameter, or
/// [`DeviceMode::Unspecified`] without one (or with an empty one).
///
/// The query is not covered by step-ca's signature, so it may only choose *which*
/// inventory to ask, never the identifier.
///
/// ```
/// use posture_webhook::mode_from_query;
/// use posture_webhook::posture_core::DeviceMode;
/// assert_eq!(mode_from_query(None), Ok(DeviceMode::Unspecified));
/// assert_eq!(mode_from_query(Some("x=1&mode=mobiledevice")), Ok(DeviceMode::MobileDevice));
/// ```
///
/// # Errors
///
/// [`InvalidMode`] with the value (at most 32 characters) for any other `mode`.
pub fn mode_from_query(query: Option<&str>) -> Result<DeviceMode, InvalidMode> {
    let mut mode = DeviceMode::Unspecified;
    for pair in query.unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "mode" {
            mode = value
                .parse()
                .map_err(|_| InvalidMode(value.chars().take(32).collect()))?;
        }
    }
    Ok(mode)
}

/// The provider request for a verified device-attest body, or the deny it deserves.
///
/// The rules: `attestationData.permanentIdentifier` must be present and non-empty; the
/// body must carry a CSR (ENRICHING) or a certificate (AUTHORIZING); and the subject
/// common name, read from the CSR's DER or from the certificate template, must be empty
/// or equal to the identifier.
///
/// ```
/// use posture_webhook::device_attest_request;
/// use posture_webhook::posture_core::WebhookKind;
/// use posture_webhook::smallstep_webhook::{RequestBody, Signer, Verifier, WebhookSecret};
///
/// let secret = WebhookSecret::generate()?;
/// let verifier = Verifier::builder().webhook("id-1", &secret.to_base64()).build()?;
/// let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", std::time::SystemTime::now().into());
/// let signed = Signer::new("id-1", secret)?.sign_body(&body);
/// let verified = verifier.verify_device_attest(&signed.headers, &signed.body)?;
///
/// let request = device_attest_request(&verified).map_err(|deny| deny.record().reason.clone())?;
/// assert_eq!(request.identifier(), "C02XL0GJJG5J");
/// assert_eq!(request.kind(), WebhookKind::Authorizing);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A deny [`Answer`]: `missingIdentifier`, `badRequest` (no CSR or certificate, or a CSR
/// that does not parse) or `identifierMismatch`.
pub fn device_attest_request(body: &DeviceAttestRequest) -> Result<LookupRequest, Box<Answer>> {
    let deny = |code, message: String| Err(Box::new(Answer::deny(code, message)));
    let identifier = match body.permanent_identifier() {
        Some(id) if !id.is_empty() => id,
        _ => {
            return deny(
                DenyCode::MISSING_IDENTIFIER,
                "the request has no attestationData.permanentIdentifier: attach this webhook \
                 to an ACME provisioner with the device-attest-01 challenge"
                    .to_owned(),
            );
        }
    };
    let (kind, common_name) = if body.has_certificate_request() {
        match body.csr_common_name() {
            Ok(cn) => (WebhookKind::Enriching, cn),
            Err(err) => {
                return deny(
                    DenyCode::BAD_REQUEST,
                    format!("the certificate request cannot be read: {err}"),
                );
            }
        }
    } else if body.has_certificate() {
        (
            WebhookKind::Authorizing,
            body.certificate_common_name().map(str::to_owned),
        )
    } else {
        return deny(
            DenyCode::BAD_REQUEST,
            "the request carries neither x509CertificateRequest nor x509Certificate".to_owned(),
        );
    };
    if let Some(cn) = common_name.as_deref()
        && !cn.is_empty()
        && cn != identifier
    {
        return deny(
            DenyCode::IDENTIFIER_MISMATCH,
            format!(
                "subject common name {cn:?} differs from the attested identifier {identifier:?}"
            ),
        );
    }
    let mut request = LookupRequest::new(identifier).with_kind(kind);
    if let Some(provisioner) = body.provisioner_name() {
        request = request.with_provisioner(provisioner);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_query() {
        assert_eq!(mode_from_query(None), Ok(DeviceMode::Unspecified));
        assert_eq!(
            mode_from_query(Some("mode=computer")),
            Ok(DeviceMode::Computer)
        );
        assert_eq!(
            mode_from_query(Some("x=1&mode=mobiledevice")),
            Ok(DeviceMode::MobileDevice)
        );
        assert_eq!(mode_from_query(Some("mode=auto")), Ok(DeviceMode::Auto));
        assert_eq!(mode_from_query(Some("mode=")), Ok(DeviceMode::Unspecified));
        assert_eq!(
            mode_from_query(Some("mode=laptop")),
            Err(InvalidMode("laptop".to_owned()))
        );
        let long = format!("mode={}", "x".repeat(100));
        assert_eq!(mode_from_query(Some(&long)).unwrap_err().0.len(), 32);
    }
}
