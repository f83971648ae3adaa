//! Types, HMAC verification and signing for the step-ca certificate-authority webhook
//! protocol.
//!
//! step-ca POSTs a JSON [`RequestBody`] to each webhook configured on a provisioner, signs
//! the exact body bytes with HMAC-SHA256 under the webhook's secret, and expects a
//! [`ResponseBody`] back. This crate:
//!
//! - verifies requests with a [`Verifier`]: headers, optional `Authorization`, the
//!   signature over the raw bytes, *then* parsing and the timestamp's freshness. It works
//!   on an [`http::HeaderMap`] and a byte slice, so any framework can use it;
//! - models every body step-ca sends (X.509 and SSH, enriching and authorizing, SCEP, X5C)
//!   with lenient parsing, and writes them back byte-for-byte as Go would
//!   ([`to_go_json`]);
//! - reads a CSR's common name ([`csr_common_name`]) with the pure-Rust `x509-parser`;
//! - signs requests exactly as step-ca does ([`Signer`]), for tests and simulators.
//!
//! Verify first, then use the body:
//!
//! ```
//! use std::time::SystemTime;
//! use http::{HeaderMap, HeaderValue};
//! use smallstep_webhook::{
//!     RequestKind, ResponseBody, Verifier, SIGNATURE_HEADER, WEBHOOK_ID_HEADER,
//! };
//!
//! // The webhook as `step ca provisioner webhook add` printed it.
//! let verifier = Verifier::builder()
//!     .webhook(
//!         "d09736a5-780b-476e-abdb-e2e4c0439cf9",
//!         "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==",
//!     )
//!     .build()?;
//!
//! // A request exactly as step-ca sent it: raw body bytes and headers.
//! let body = include_bytes!("../tests/data/01-device-attest-enriching.json");
//! let mut headers = HeaderMap::new();
//! headers.insert(
//!     WEBHOOK_ID_HEADER,
//!     HeaderValue::from_static("d09736a5-780b-476e-abdb-e2e4c0439cf9"),
//! );
//! headers.insert(
//!     SIGNATURE_HEADER,
//!     HeaderValue::from_static("5f5382c18582d0610cbd2a67d64115b32e0ec610359db1a23f6c02b00cf0e7ff"),
//! );
//!
//! // One second after step-ca stamped it (use `verifier.verify` for the system clock).
//! let now = SystemTime::from(time::macros::datetime!(2025-06-02 14:21:08 UTC));
//! let request = match verifier.verify_at(&headers, body, now) {
//!     Ok(request) => request,
//!     Err(err) if err.is_malformed_body() => return Ok(()), // authentic: answer a deny
//!     Err(err) => return Err(err.into()),                   // answer 401
//! };
//!
//! let body = request.body();
//! assert_eq!(body.kind(), RequestKind::X509Enriching);
//! assert_eq!(body.provisioner_name(), Some("acme-da"));
//! // The attested identifier is what step-ca verified; the CSR is client-controlled.
//! let device = body.permanent_identifier().ok_or("not a device-attest order")?;
//! assert_eq!(device, "C02XL0GJJG5J");
//! assert_eq!(body.csr_common_name()?.as_deref(), Some(device));
//!
//! let response = ResponseBody::allow_with_value(&serde_json::json!({ "device": device }));
//! assert_eq!(response.to_json(), br#"{"allow":true,"data":{"device":"C02XL0GJJG5J"}}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Status codes
//!
//! step-ca reads the body only of a 2xx answer: a 4xx or 5xx reaches the client as a bare
//! number, and a 5xx is retried once, about a second later, with the identical body. So:
//!
//! | situation | status | body |
//! |---|---|---|
//! | every decision: allow, and every deny, including an authentic body that is malformed or of the wrong kind | `200` | [`ResponseBody::allow`] (with data) or [`ResponseBody::deny`] |
//! | authentication failed: headers, webhook ID, `Authorization`, signature or timestamp ([`VerifyError::status`]) | `401` | [`ResponseBody::deny_without_reason`] |
//! | body larger than the server accepts | `413` | [`ResponseBody::deny_without_reason`] |
//! | body could not be read (the connection failed mid-body) | `400` | [`ResponseBody::deny_without_reason`] |
//! | no decision now (a backend is down or slow): step-ca retries once | `503` | [`ResponseBody::deny_without_reason`] |
//!
//! [`VerifyError::status`] and [`VerifyError::response_body`] give the first two rows for
//! a failed verification. Never give the caller the reason for a refusal; log it.
//!
//! # Without `http` 1
//!
//! [`Verifier::verify_parts`] takes the header values as [`WebhookHeaders`], built from any
//! framework's header type; mind its note on header maps that keep only the last value of
//! a repeated header. [`http`] and [`time`] are re-exported for the types of theirs that
//! appear here.
//!
//! # Crate features
//!
//! None. The crate depends on `ring` for HMAC and randomness, `http` for header maps and
//! `x509-parser` for CSRs; it has no async runtime or HTTP server dependency.

mod builders;
mod csr;
mod device_attest;
mod gojson;
mod headers;
mod response;
mod scep;
mod secret;
mod sign;
mod types;
mod verify;

pub use csr::{CsrError, csr_common_name};
pub use device_attest::DeviceAttestRequest;
pub use gojson::to_go_json;
pub use headers::{HeaderField, WebhookHeaders};
/// The `http` crate (version 1), whose types appear in this crate's API.
pub use http;
pub use response::{ResponseBody, ResponseError};
pub use scep::CsrIdentity;
pub use secret::{Authorization, AuthorizationError, SecretError, WebhookSecret};
pub use sign::{SignedRequest, Signer};
/// The `time` crate, whose [`OffsetDateTime`](time::OffsetDateTime) appears in this
/// crate's API.
pub use time;
pub use types::{
    AttestationData, BasicConstraints, CertificateRequestInfo, CertificateTemplate,
    DistinguishedName, Extension, Name, NameConstraints, RequestBody, RequestKind, SshCertificate,
    SshCertificateRequest, SshCertificateTemplate, SubjectAlternativeName, X5cCertificate,
    X509Certificate, X509CertificateRequest,
};
pub use verify::{
    ConfigError, DEFAULT_TIMESTAMP_TOLERANCE, REQUEST_ID_HEADER, SIGNATURE_HEADER, VerifiedRequest,
    Verifier, VerifierBuilder, VerifyError, WEBHOOK_ID_HEADER,
};

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
