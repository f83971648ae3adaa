//! The request body step-ca sends, modelled on its Go structs.
//!
//! Every struct mirrors one Go type, with the same JSON names, the same field order, and
//! the same `null`-versus-omitted rules, so that [`to_go_json`](crate::to_go_json) writes
//! the bytes step-ca would. Parsing is lenient: unknown fields are ignored, and `null` or
//! a missing field gives `None` or the Go zero value.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::csr::{self, CsrError};
use crate::gojson::{self, go_bytes, go_time, multi_string, null_default, opt_multi_string};

/// The JSON body step-ca POSTs to a webhook (Go `webhook.RequestBody`).
///
/// Which members are set depends on the webhook kind and the provisioner; see
/// [`RequestBody::kind`]. The struct is `#[non_exhaustive]`: build one with
/// [`RequestBody::default`] and assign fields, or with the device-attest builders
/// [`RequestBody::device_attest_enriching`] and [`RequestBody::device_attest_authorizing`].
///
/// `Debug` redacts `scepChallenge`, which is a client's challenge password.
///
/// ```
/// use smallstep_webhook::{RequestBody, RequestKind};
/// let body: RequestBody =
///     serde_json::from_slice(include_bytes!("../tests/data/01-device-attest-enriching.json"))?;
/// assert_eq!(body.kind(), RequestKind::X509Enriching);
/// assert_eq!(body.permanent_identifier(), Some("C02XL0GJJG5J"));
/// assert_eq!(body.provisioner_name(), Some("acme-da"));
/// assert_eq!(body.csr_common_name()?.as_deref(), Some("C02XL0GJJG5J"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct RequestBody {
    /// When step-ca built the request, in the CA host's local zone (`timestamp`). This is
    /// the only freshness signal. `None` if absent; written as Go's zero time.
    #[serde(default, with = "go_time")]
    pub timestamp: Option<OffsetDateTime>,
    /// The provisioner's name (`provisionerName`). Sent in SCEPCHALLENGE bodies since
    /// v0.25.1, and in X.509/SSH bodies only by step-ca master after v0.30.2.
    #[serde(
        rename = "provisionerName",
        default,
        skip_serializing_if = "gojson::is_none_or_empty"
    )]
    pub provisioner_name: Option<String>,
    /// What step-ca verified in an ACME `device-attest-01` challenge (`attestationData`).
    #[serde(
        rename = "attestationData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attestation_data: Option<AttestationData>,
    /// The certificate request, in X.509 ENRICHING, SCEPCHALLENGE and NOTIFYING bodies
    /// (`x509CertificateRequest`).
    #[serde(
        rename = "x509CertificateRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x509_certificate_request: Option<X509CertificateRequest>,
    /// The certificate about to be signed, in X.509 AUTHORIZING and SCEP NOTIFYING
    /// success bodies (`x509Certificate`).
    #[serde(
        rename = "x509Certificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x509_certificate: Option<X509Certificate>,
    /// The SSH certificate request, in SSH ENRICHING bodies (`sshCertificateRequest`).
    #[serde(
        rename = "sshCertificateRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ssh_certificate_request: Option<SshCertificateRequest>,
    /// The SSH certificate about to be signed, in SSH AUTHORIZING bodies (`sshCertificate`).
    #[serde(
        rename = "sshCertificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ssh_certificate: Option<SshCertificate>,
    /// The client's SCEP challenge password (`scepChallenge`). A secret: don't log it.
    #[serde(
        rename = "scepChallenge",
        default,
        skip_serializing_if = "gojson::is_none_or_empty"
    )]
    pub scep_challenge: Option<String>,
    /// The SCEP transaction ID (`scepTransactionID`).
    #[serde(
        rename = "scepTransactionID",
        default,
        skip_serializing_if = "gojson::is_none_or_empty"
    )]
    pub scep_transaction_id: Option<String>,
    /// The SCEP failure code in NOTIFYING failure bodies (`scepErrorCode`; always 0, and so
    /// omitted, in practice).
    #[serde(
        rename = "scepErrorCode",
        default,
        skip_serializing_if = "gojson::is_none_or_zero"
    )]
    pub scep_error_code: Option<i64>,
    /// The SCEP failure description in NOTIFYING failure bodies (`scepErrorDescription`).
    #[serde(
        rename = "scepErrorDescription",
        default,
        skip_serializing_if = "gojson::is_none_or_empty"
    )]
    pub scep_error_description: Option<String>,
    /// The X5C provisioner's authorizing certificate (`x5cCertificate`).
    #[serde(
        rename = "x5cCertificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x5c_certificate: Option<X5cCertificate>,
    /// Who the provisioner authorized (`authorizationPrincipal`): the X5C leaf CN, an AWS
    /// or GCP instance ID, an Azure object ID.
    #[serde(
        rename = "authorizationPrincipal",
        default,
        skip_serializing_if = "gojson::is_none_or_empty"
    )]
    pub authorization_principal: Option<String>,
}

/// Which call a [`RequestBody`] belongs to, judged from the members it carries.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum RequestKind {
    /// X.509 ENRICHING: has `x509CertificateRequest`.
    X509Enriching,
    /// X.509 AUTHORIZING: has `x509Certificate`.
    X509Authorizing,
    /// SSH ENRICHING: has `sshCertificateRequest`.
    SshEnriching,
    /// SSH AUTHORIZING: has `sshCertificate`.
    SshAuthorizing,
    /// SCEPCHALLENGE: has a non-empty `scepChallenge`.
    ScepChallenge,
    /// SCEP NOTIFYING: has `scepTransactionID` but no challenge.
    ScepNotifying,
    /// None of the above.
    Unknown,
}

impl RequestBody {
    /// The permanent identifier step-ca verified in `device-attest-01`, if any.
    ///
    /// This is the only device identity in the body that the CA has checked.
    pub fn permanent_identifier(&self) -> Option<&str> {
        self.attestation_data
            .as_ref()
            .map(|a| a.permanent_identifier.as_str())
            .filter(|id| !id.is_empty())
    }

    /// The provisioner's name, if step-ca sent one.
    pub fn provisioner_name(&self) -> Option<&str> {
        self.provisioner_name.as_deref().filter(|n| !n.is_empty())
    }

    /// Which call this body belongs to.
    ///
    /// SCEP bodies are recognized first (a SCEPCHALLENGE body also carries
    /// `x509CertificateRequest`), then X.509 authorizing, X.509 enriching, SSH
    /// authorizing and SSH enriching.
    pub fn kind(&self) -> RequestKind {
        if self
            .scep_challenge
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        {
            RequestKind::ScepChallenge
        } else if self
            .scep_transaction_id
            .as_deref()
            .is_some_and(|t| !t.is_empty())
        {
            RequestKind::ScepNotifying
        } else if self.x509_certificate.is_some() {
            RequestKind::X509Authorizing
        } else if self.x509_certificate_request.is_some() {
            RequestKind::X509Enriching
        } else if self.ssh_certificate.is_some() {
            RequestKind::SshAuthorizing
        } else if self.ssh_certificate_request.is_some() {
            RequestKind::SshEnriching
        } else {
            RequestKind::Unknown
        }
    }

    /// The DER of the client's certificate request (`x509CertificateRequest.raw`), if any.
    pub fn csr_der(&self) -> Option<&[u8]> {
        self.x509_certificate_request
            .as_ref()
            .and_then(|r| r.raw.as_deref())
    }

    /// The subject common name of the client's CSR, read from the DER in
    /// `x509CertificateRequest.raw` rather than from the derived JSON fields.
    ///
    /// `Ok(None)` if the CSR has no common name. See [`csr_common_name`](crate::csr_common_name).
    ///
    /// # Errors
    ///
    /// [`CsrError::Absent`] if the body carries no CSR, or another [`CsrError`] if the DER
    /// does not parse.
    pub fn csr_common_name(&self) -> Result<Option<String>, CsrError> {
        let der = self.csr_der().ok_or(CsrError::Absent)?;
        csr::csr_common_name(der)
    }

    /// The subject common name of the certificate about to be signed
    /// (`x509Certificate.subject.commonName`), if present and non-empty.
    ///
    /// This is the rendered template's subject, before provisioner modifiers run.
    pub fn certificate_common_name(&self) -> Option<&str> {
        self.x509_certificate
            .as_ref()
            .and_then(X509Certificate::common_name)
    }

    /// Serializes the body exactly as step-ca's Go code would; see [`to_go_json`](crate::to_go_json).
    pub fn to_json(&self) -> Vec<u8> {
        gojson::to_go_json(self)
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("timestamp", &self.timestamp)
            .field("provisioner_name", &self.provisioner_name)
            .field("attestation_data", &self.attestation_data)
            .field("x509_certificate_request", &self.x509_certificate_request)
            .field("x509_certificate", &self.x509_certificate)
            .field("ssh_certificate_request", &self.ssh_certificate_request)
            .field("ssh_certificate", &self.ssh_certificate)
            .field(
                "scep_challenge",
                &self.scep_challenge.as_ref().map(|_| "[redacted]"),
            )
            .field("scep_transaction_id", &self.scep_transaction_id)
            .field("scep_error_code", &self.scep_error_code)
            .field("scep_error_description", &self.scep_error_description)
            .field("x5c_certificate", &self.x5c_certificate)
            .field("authorization_principal", &self.authorization_principal)
            .finish()
    }
}

/// What step-ca verified in an ACME `device-attest-01` challenge (Go `webhook.AttestationData`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct AttestationData {
    /// The attested permanent identifier, e.g. an Apple serial number, a YubiKey serial,
    /// or a TPM EK URI (`permanentIdentifier`). Opaque and case-sensitive.
    #[serde(
        rename = "permanentIdentifier",
        default,
        deserialize_with = "null_default"
    )]
    pub permanent_identifier: String,
}

impl AttestationData {
    /// Attestation data for `permanent_identifier`.
    pub fn new(permanent_identifier: impl Into<String>) -> Self {
        Self {
            permanent_identifier: permanent_identifier.into(),
        }
    }
}

/// The certificate request in X.509 ENRICHING and SCEP bodies (Go
/// `webhook.X509CertificateRequest`: an embedded `*x509util.CertificateRequest` plus three
/// fields of its own).
///
/// Everything here comes from the client's CSR and is client-controlled; parse
/// [`raw`](Self::raw) rather than trusting the derived fields. The one exception in ACME
/// `device-attest-01` is the public key, which step-ca checked against the attested key.
#[non_exhaustive]
#[derive(Clone, Debug, Default, Serialize)]
pub struct X509CertificateRequest {
    /// The decoded request (the embedded `*x509util.CertificateRequest`). `None` only if
    /// Go's pointer was nil, in which case none of its members is written.
    #[serde(flatten)]
    pub request: Option<CertificateRequestInfo>,
    /// The request's SubjectPublicKeyInfo, DER (`publicKey`).
    #[serde(rename = "publicKey", with = "go_bytes")]
    pub public_key: Option<Vec<u8>>,
    /// `"RSA"`, `"ECDSA"`, `"Ed25519"`, `"DSA"`, or `"0"` if unknown (`publicKeyAlgorithm`).
    #[serde(rename = "publicKeyAlgorithm")]
    pub public_key_algorithm: String,
    /// The exact CSR DER the client sent (`raw`).
    #[serde(with = "go_bytes")]
    pub raw: Option<Vec<u8>>,
}

impl X509CertificateRequest {
    /// The subject of the decoded request, if present.
    pub fn subject(&self) -> Option<&Name> {
        self.request.as_ref().map(|r| &r.subject)
    }

    /// The subject common name as step-ca decoded it, if present and non-empty.
    pub fn common_name(&self) -> Option<&str> {
        self.subject()
            .map(|s| s.common_name.as_str())
            .filter(|cn| !cn.is_empty())
    }

    /// The subject common name read from the CSR DER in [`raw`](Self::raw).
    ///
    /// # Errors
    ///
    /// [`CsrError::Absent`] if `raw` is absent, or another [`CsrError`] if it does not parse.
    pub fn csr_common_name(&self) -> Result<Option<String>, CsrError> {
        csr::csr_common_name(self.raw.as_deref().ok_or(CsrError::Absent)?)
    }
}

impl<'de> Deserialize<'de> for X509CertificateRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Outer {
            #[serde(rename = "publicKey", default, with = "go_bytes")]
            public_key: Option<Vec<u8>>,
            #[serde(
                rename = "publicKeyAlgorithm",
                default,
                deserialize_with = "null_default"
            )]
            public_key_algorithm: String,
            #[serde(default, with = "go_bytes")]
            raw: Option<Vec<u8>>,
        }
        let (outer, request): (Outer, _) = split_embedded(deserializer)?;
        Ok(Self {
            request,
            public_key: outer.public_key,
            public_key_algorithm: outer.public_key_algorithm,
            raw: outer.raw,
        })
    }
}

/// A decoded certificate request (Go `x509util.CertificateRequest`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CertificateRequestInfo {
    /// The CSR version; 0 means v1 (`version`).
    #[serde(default, deserialize_with = "null_default")]
    pub version: i64,
    /// The subject (`subject`).
    #[serde(default, deserialize_with = "null_default")]
    pub subject: Name,
    /// The subject as DER (`rawSubject`; since step-ca v0.27.0).
    #[serde(rename = "rawSubject", default, with = "go_bytes")]
    pub raw_subject: Option<Vec<u8>>,
    /// DNS names (`dnsNames`). ACME adds the lower-cased CN and sorts them.
    #[serde(rename = "dnsNames", default, deserialize_with = "opt_multi_string")]
    pub dns_names: Option<Vec<String>>,
    /// Email addresses (`emailAddresses`).
    #[serde(
        rename = "emailAddresses",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub email_addresses: Option<Vec<String>>,
    /// IP addresses as text (`ipAddresses`); `[]` rather than `null` for ACME.
    #[serde(rename = "ipAddresses", default, deserialize_with = "opt_multi_string")]
    pub ip_addresses: Option<Vec<String>>,
    /// URIs (`uris`).
    #[serde(default, deserialize_with = "opt_multi_string")]
    pub uris: Option<Vec<String>>,
    /// Typed SANs (`sans`); always `null` from a CSR.
    #[serde(default)]
    pub sans: Option<Vec<SubjectAlternativeName>>,
    /// Every requested extension (`extensions`).
    #[serde(default)]
    pub extensions: Option<Vec<Extension>>,
    /// Key usage names such as `digitalSignature` (`keyUsage`); written as `null` when
    /// empty, as Go does.
    #[serde(
        rename = "keyUsage",
        default,
        deserialize_with = "multi_string",
        serialize_with = "gojson::empty_as_null"
    )]
    pub key_usage: Vec<String>,
    /// Extended key usage names such as `clientAuth` (`extKeyUsage`); written as `[]` when
    /// empty, as Go does.
    #[serde(rename = "extKeyUsage", default, deserialize_with = "multi_string")]
    pub ext_key_usage: Vec<String>,
    /// Extended key usages without a name, as dotted OIDs (`unknownExtKeyUsage`).
    #[serde(
        rename = "unknownExtKeyUsage",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub unknown_ext_key_usage: Option<Vec<String>>,
    /// Basic constraints (`basicConstraints`).
    #[serde(rename = "basicConstraints", default)]
    pub basic_constraints: Option<BasicConstraints>,
    /// Always `""`: step-ca zeroes it (`signatureAlgorithm`).
    #[serde(
        rename = "signatureAlgorithm",
        default,
        deserialize_with = "null_default"
    )]
    pub signature_algorithm: String,
}

/// The certificate in X.509 AUTHORIZING and SCEP NOTIFYING success bodies (Go
/// `webhook.X509Certificate`: an embedded `*x509util.Certificate` plus fields of its own).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Serialize)]
pub struct X509Certificate {
    /// The rendered certificate template (the embedded `*x509util.Certificate`), captured
    /// before provisioner modifiers run. `None` in SCEP NOTIFYING success bodies, where Go's
    /// pointer is nil and none of its members is written.
    #[serde(flatten)]
    pub template: Option<CertificateTemplate>,
    /// The leaf's SubjectPublicKeyInfo, DER (`publicKey`).
    #[serde(rename = "publicKey", with = "go_bytes")]
    pub public_key: Option<Vec<u8>>,
    /// `"RSA"`, `"ECDSA"`, `"Ed25519"`, `"DSA"` or `"0"` (`publicKeyAlgorithm`).
    #[serde(rename = "publicKeyAlgorithm")]
    pub public_key_algorithm: String,
    /// The final validity start, UTC (`notBefore`).
    #[serde(rename = "notBefore", with = "go_time")]
    pub not_before: Option<OffsetDateTime>,
    /// The final validity end, UTC (`notAfter`).
    #[serde(rename = "notAfter", with = "go_time")]
    pub not_after: Option<OffsetDateTime>,
    /// The issued certificate's DER, only in SCEP NOTIFYING success bodies (`raw`).
    #[serde(with = "go_bytes")]
    pub raw: Option<Vec<u8>>,
}

impl X509Certificate {
    /// The template's subject, if present.
    pub fn subject(&self) -> Option<&Name> {
        self.template.as_ref().map(|t| &t.subject)
    }

    /// The template's subject common name, if present and non-empty.
    pub fn common_name(&self) -> Option<&str> {
        self.subject()
            .map(|s| s.common_name.as_str())
            .filter(|cn| !cn.is_empty())
    }
}

impl<'de> Deserialize<'de> for X509Certificate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Outer {
            #[serde(rename = "publicKey", default, with = "go_bytes")]
            public_key: Option<Vec<u8>>,
            #[serde(
                rename = "publicKeyAlgorithm",
                default,
                deserialize_with = "null_default"
            )]
            public_key_algorithm: String,
            #[serde(rename = "notBefore", default, with = "go_time")]
            not_before: Option<OffsetDateTime>,
            #[serde(rename = "notAfter", default, with = "go_time")]
            not_after: Option<OffsetDateTime>,
            #[serde(default, with = "go_bytes")]
            raw: Option<Vec<u8>>,
        }
        let (outer, template): (Outer, _) = split_embedded(deserializer)?;
        Ok(Self {
            template,
            public_key: outer.public_key,
            public_key_algorithm: outer.public_key_algorithm,
            not_before: outer.not_before,
            not_after: outer.not_after,
            raw: outer.raw,
        })
    }
}

/// A rendered X.509 certificate template (Go `x509util.Certificate`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CertificateTemplate {
    /// The certificate version field (`version`).
    #[serde(default, deserialize_with = "null_default")]
    pub version: i64,
    /// The subject (`subject`).
    #[serde(default, deserialize_with = "null_default")]
    pub subject: Name,
    /// The subject as DER, if the template set it (`rawSubject`).
    #[serde(rename = "rawSubject", default, with = "go_bytes")]
    pub raw_subject: Option<Vec<u8>>,
    /// The issuer, usually empty (`issuer`).
    #[serde(default, deserialize_with = "null_default")]
    pub issuer: Name,
    /// The serial number as the raw JSON integer, which may exceed 64 bits; `None` unless
    /// the template sets one (`serialNumber`).
    #[serde(rename = "serialNumber", default)]
    pub serial_number: Option<Box<RawValue>>,
    /// DNS names (`dnsNames`).
    #[serde(rename = "dnsNames", default, deserialize_with = "opt_multi_string")]
    pub dns_names: Option<Vec<String>>,
    /// Email addresses (`emailAddresses`).
    #[serde(
        rename = "emailAddresses",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub email_addresses: Option<Vec<String>>,
    /// IP addresses as text (`ipAddresses`).
    #[serde(rename = "ipAddresses", default, deserialize_with = "opt_multi_string")]
    pub ip_addresses: Option<Vec<String>>,
    /// URIs (`uris`).
    #[serde(default, deserialize_with = "opt_multi_string")]
    pub uris: Option<Vec<String>>,
    /// Typed SANs, e.g. `permanentIdentifier` (`sans`).
    #[serde(default)]
    pub sans: Option<Vec<SubjectAlternativeName>>,
    /// Extensions; a generated SAN extension comes first (`extensions`).
    #[serde(default)]
    pub extensions: Option<Vec<Extension>>,
    /// Key usage names (`keyUsage`); written as `null` when empty.
    #[serde(
        rename = "keyUsage",
        default,
        deserialize_with = "multi_string",
        serialize_with = "gojson::empty_as_null"
    )]
    pub key_usage: Vec<String>,
    /// Extended key usage names (`extKeyUsage`); written as `[]` when empty.
    #[serde(rename = "extKeyUsage", default, deserialize_with = "multi_string")]
    pub ext_key_usage: Vec<String>,
    /// Extended key usages without a name, as dotted OIDs (`unknownExtKeyUsage`).
    #[serde(
        rename = "unknownExtKeyUsage",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub unknown_ext_key_usage: Option<Vec<String>>,
    /// Subject key identifier (`subjectKeyId`).
    #[serde(rename = "subjectKeyId", default, with = "go_bytes")]
    pub subject_key_id: Option<Vec<u8>>,
    /// Authority key identifier (`authorityKeyId`).
    #[serde(rename = "authorityKeyId", default, with = "go_bytes")]
    pub authority_key_id: Option<Vec<u8>>,
    /// OCSP responder URLs (`ocspServer`).
    #[serde(rename = "ocspServer", default, deserialize_with = "opt_multi_string")]
    pub ocsp_server: Option<Vec<String>>,
    /// CA issuer URLs (`issuingCertificateURL`).
    #[serde(
        rename = "issuingCertificateURL",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub issuing_certificate_url: Option<Vec<String>>,
    /// CRL distribution points (`crlDistributionPoints`).
    #[serde(
        rename = "crlDistributionPoints",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub crl_distribution_points: Option<Vec<String>>,
    /// Certificate policy OIDs (`policyIdentifiers`).
    #[serde(
        rename = "policyIdentifiers",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub policy_identifiers: Option<Vec<String>>,
    /// Basic constraints (`basicConstraints`).
    #[serde(rename = "basicConstraints", default)]
    pub basic_constraints: Option<BasicConstraints>,
    /// Name constraints (`nameConstraints`).
    #[serde(rename = "nameConstraints", default)]
    pub name_constraints: Option<NameConstraints>,
    /// The signature algorithm name, `""` unless the template sets one (`signatureAlgorithm`).
    #[serde(
        rename = "signatureAlgorithm",
        default,
        deserialize_with = "null_default"
    )]
    pub signature_algorithm: String,
}

/// A distinguished name (Go `x509util.Name`). Every member is omitted when empty, so an
/// empty name is `{}`.
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Name {
    /// `country` (C).
    #[serde(
        default,
        deserialize_with = "multi_string",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub country: Vec<String>,
    /// `organization` (O).
    #[serde(
        default,
        deserialize_with = "multi_string",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub organization: Vec<String>,
    /// `organizationalUnit` (OU).
    #[serde(
        rename = "organizationalUnit",
        default,
        deserialize_with = "multi_string",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub organizational_unit: Vec<String>,
    /// `locality` (L).
    #[serde(
        default,
        deserialize_with = "multi_string",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub locality: Vec<String>,
    /// `province` (ST).
    #[serde(
        default,
        deserialize_with = "multi_string",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub province: Vec<String>,
    /// `streetAddress`.
    #[serde(
        rename = "streetAddress",
        default,
        deserialize_with = "multi_string",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub street_address: Vec<String>,
    /// `postalCode`.
    #[serde(
        rename = "postalCode",
        default,
        deserialize_with = "multi_string",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub postal_code: Vec<String>,
    /// `serialNumber` (the subject attribute, not the certificate serial).
    #[serde(
        rename = "serialNumber",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub serial_number: String,
    /// `commonName` (CN).
    #[serde(
        rename = "commonName",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub common_name: String,
    /// Other attributes (`extraNames`).
    #[serde(
        rename = "extraNames",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extra_names: Vec<DistinguishedName>,
}

impl Name {
    /// A name with only a common name.
    pub fn with_common_name(common_name: impl Into<String>) -> Self {
        Self {
            common_name: common_name.into(),
            ..Self::default()
        }
    }
}

/// A name attribute outside the nine standard ones (Go `x509util.DistinguishedName`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct DistinguishedName {
    /// The attribute type as a dotted OID (`type`).
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub oid: String,
    /// The value as raw JSON, usually a string (`value`).
    #[serde(default)]
    pub value: Option<Box<RawValue>>,
}

/// A typed subject alternative name (Go `x509util.SubjectAlternativeName`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SubjectAlternativeName {
    /// The SAN type: `dns`, `email`, `ip`, `uri`, `permanentIdentifier`, … (`type`).
    #[serde(default, deserialize_with = "null_default")]
    pub r#type: String,
    /// The value (`value`).
    #[serde(default, deserialize_with = "null_default")]
    pub value: String,
    /// An ASN.1 value for types whose string form is not enough (`asn1Value`, omitted when
    /// absent).
    #[serde(rename = "asn1Value", default, skip_serializing_if = "Option::is_none")]
    pub asn1_value: Option<Box<RawValue>>,
}

impl SubjectAlternativeName {
    /// A SAN of type `type` with `value`.
    pub fn new(r#type: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            r#type: r#type.into(),
            value: value.into(),
            asn1_value: None,
        }
    }
}

/// An X.509 extension (Go `x509util.Extension`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Extension {
    /// The extension OID, dotted (`id`).
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// Whether it is critical (`critical`).
    #[serde(default, deserialize_with = "null_default")]
    pub critical: bool,
    /// The DER of the extnValue (`value`).
    #[serde(default, with = "go_bytes")]
    pub value: Option<Vec<u8>>,
}

impl Extension {
    /// An extension with the given OID, criticality and DER value.
    pub fn new(id: impl Into<String>, critical: bool, value: Vec<u8>) -> Self {
        Self {
            id: id.into(),
            critical,
            value: Some(value),
        }
    }
}

/// Basic constraints (Go `x509util.BasicConstraints`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct BasicConstraints {
    /// Whether the subject is a CA (`isCA`).
    #[serde(rename = "isCA", default, deserialize_with = "null_default")]
    pub is_ca: bool,
    /// The maximum path length (`maxPathLen`).
    #[serde(rename = "maxPathLen", default, deserialize_with = "null_default")]
    pub max_path_len: i64,
}

/// Name constraints (Go `x509util.NameConstraints`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct NameConstraints {
    /// Whether the extension is critical (`critical`).
    #[serde(default, deserialize_with = "null_default")]
    pub critical: bool,
    /// `permittedDNSDomains`.
    #[serde(
        rename = "permittedDNSDomains",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub permitted_dns_domains: Option<Vec<String>>,
    /// `excludedDNSDomains`.
    #[serde(
        rename = "excludedDNSDomains",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub excluded_dns_domains: Option<Vec<String>>,
    /// `permittedIPRanges`, in CIDR form.
    #[serde(
        rename = "permittedIPRanges",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub permitted_ip_ranges: Option<Vec<String>>,
    /// `excludedIPRanges`, in CIDR form.
    #[serde(
        rename = "excludedIPRanges",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub excluded_ip_ranges: Option<Vec<String>>,
    /// `permittedEmailAddresses`.
    #[serde(
        rename = "permittedEmailAddresses",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub permitted_email_addresses: Option<Vec<String>>,
    /// `excludedEmailAddresses`.
    #[serde(
        rename = "excludedEmailAddresses",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub excluded_email_addresses: Option<Vec<String>>,
    /// `permittedURIDomains`.
    #[serde(
        rename = "permittedURIDomains",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub permitted_uri_domains: Option<Vec<String>>,
    /// `excludedURIDomains`.
    #[serde(
        rename = "excludedURIDomains",
        default,
        deserialize_with = "opt_multi_string"
    )]
    pub excluded_uri_domains: Option<Vec<String>>,
}

/// The SSH certificate request in SSH ENRICHING bodies (Go `webhook.SSHCertificateRequest`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct SshCertificateRequest {
    /// The SSH wire-format public key, the blob of an OpenSSH `.pub` line (`publicKey`).
    #[serde(rename = "publicKey", default, with = "go_bytes")]
    pub public_key: Option<Vec<u8>>,
    /// `"user"` or `"host"` as the client asked; may be empty (`type`).
    #[serde(default, deserialize_with = "null_default")]
    pub r#type: String,
    /// The requested key ID (`keyID`, capital `ID`).
    #[serde(rename = "keyID", default, deserialize_with = "null_default")]
    pub key_id: String,
    /// The requested principals (`principals`).
    #[serde(default, deserialize_with = "opt_multi_string")]
    pub principals: Option<Vec<String>>,
}

/// The SSH certificate in SSH AUTHORIZING bodies (Go `webhook.SSHCertificate`: an embedded
/// `*sshutil.Certificate` plus fields of its own).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Serialize)]
pub struct SshCertificate {
    /// The rendered template (the embedded `*sshutil.Certificate`). `None` only if Go's
    /// pointer was nil, in which case none of its members is written.
    #[serde(flatten)]
    pub template: Option<SshCertificateTemplate>,
    /// The SSH wire-format public key (`publicKey`).
    #[serde(rename = "publicKey", with = "go_bytes")]
    pub public_key: Option<Vec<u8>>,
    /// Always `null` in practice (`signatureKey`).
    #[serde(rename = "signatureKey", with = "go_bytes")]
    pub signature_key: Option<Vec<u8>>,
    /// Validity end, Unix seconds (`validBefore`).
    #[serde(rename = "validBefore")]
    pub valid_before: u64,
    /// Validity start, Unix seconds (`validAfter`).
    #[serde(rename = "validAfter")]
    pub valid_after: u64,
}

impl<'de> Deserialize<'de> for SshCertificate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Outer {
            #[serde(rename = "publicKey", default, with = "go_bytes")]
            public_key: Option<Vec<u8>>,
            #[serde(rename = "signatureKey", default, with = "go_bytes")]
            signature_key: Option<Vec<u8>>,
            #[serde(rename = "validBefore", default, deserialize_with = "null_default")]
            valid_before: u64,
            #[serde(rename = "validAfter", default, deserialize_with = "null_default")]
            valid_after: u64,
        }
        let (outer, template): (Outer, _) = split_embedded(deserializer)?;
        Ok(Self {
            template,
            public_key: outer.public_key,
            signature_key: outer.signature_key,
            valid_before: outer.valid_before,
            valid_after: outer.valid_after,
        })
    }
}

/// A rendered SSH certificate template (Go `sshutil.Certificate`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct SshCertificateTemplate {
    /// The nonce, normally `null` (`nonce`).
    #[serde(default, with = "go_bytes")]
    pub nonce: Option<Vec<u8>>,
    /// The serial, normally 0 (`serial`).
    #[serde(default, deserialize_with = "null_default")]
    pub serial: u64,
    /// `"user"` or `"host"` (`type`).
    #[serde(default, deserialize_with = "null_default")]
    pub r#type: String,
    /// The key ID (`keyId`, lower-case `d`).
    #[serde(rename = "keyId", default, deserialize_with = "null_default")]
    pub key_id: String,
    /// The principals (`principals`).
    #[serde(default, deserialize_with = "opt_multi_string")]
    pub principals: Option<Vec<String>>,
    /// Critical options, written with sorted keys (`criticalOptions`).
    #[serde(rename = "criticalOptions", default)]
    pub critical_options: Option<BTreeMap<String, String>>,
    /// Extensions, written with sorted keys (`extensions`).
    #[serde(default)]
    pub extensions: Option<BTreeMap<String, String>>,
    /// Reserved bytes (`reserved`).
    #[serde(default, with = "go_bytes")]
    pub reserved: Option<Vec<u8>>,
}

/// The X5C provisioner's authorizing certificate (Go `webhook.X5CCertificate`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct X5cCertificate {
    /// The leaf's DER (`raw`).
    #[serde(default, with = "go_bytes")]
    pub raw: Option<Vec<u8>>,
    /// The leaf's SubjectPublicKeyInfo, DER (`publicKey`).
    #[serde(rename = "publicKey", default, with = "go_bytes")]
    pub public_key: Option<Vec<u8>>,
    /// The public key algorithm name (`publicKeyAlgorithm`).
    #[serde(
        rename = "publicKeyAlgorithm",
        default,
        deserialize_with = "null_default"
    )]
    pub public_key_algorithm: String,
    /// Validity start (`notBefore`).
    #[serde(rename = "notBefore", default, with = "go_time")]
    pub not_before: Option<OffsetDateTime>,
    /// Validity end (`notAfter`).
    #[serde(rename = "notAfter", default, with = "go_time")]
    pub not_after: Option<OffsetDateTime>,
}

/// Deserializes a Go struct with an embedded pointer: the outer fields into `O`, and the
/// embedded struct's fields into `Some(E)` if any of its JSON names is present.
///
/// Go writes nothing for a nil embedded pointer, so presence of its keys is what tells
/// `Some` from `None`. `#[serde(flatten)]` can't be used here: it does not support
/// `RawValue` members and would always produce `Some`.
fn split_embedded<'de, D, O, E>(deserializer: D) -> Result<(O, Option<E>), D::Error>
where
    D: Deserializer<'de>,
    O: DeserializeOwned,
    E: DeserializeOwned,
{
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    if !raw.get().trim_start().starts_with('{') {
        return Err(de::Error::custom("expected a JSON object"));
    }
    let outer: O = serde_json::from_str(raw.get()).map_err(nested_error)?;
    let present: HashMap<String, IgnoredAny> =
        serde_json::from_str(raw.get()).map_err(nested_error)?;
    let embedded_keys = field_names::<E>();
    let embedded = if present.keys().any(|k| embedded_keys.contains(&k.as_str())) {
        Some(serde_json::from_str(raw.get()).map_err(nested_error)?)
    } else {
        None
    };
    Ok((outer, embedded))
}

/// An error from parsing a member's text on its own, for the deserializer of the whole
/// body. Its line and column are left out: serde_json would adopt them from the message,
/// and they count from the start of the member, not of the body, so the body's
/// deserializer places the error itself (at the end of that member).
fn nested_error<E: de::Error>(err: serde_json::Error) -> E {
    let what = match err.classify() {
        serde_json::error::Category::Data => "an unexpected value",
        _ => "invalid JSON",
    };
    E::custom(format_args!("{what} inside this member"))
}

/// The JSON names of a struct's fields, as its derived `Deserialize` lists them, so the
/// list of an embedded struct's keys can't drift from the struct. Empty for a type that
/// does not deserialize from a struct.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldNames) {
        Err(FieldNamesError(names)) => names,
        Ok(_) => &[],
    }
}

/// A deserializer that only asks for a struct's field names: a derived `Deserialize` passes
/// them to [`Deserializer::deserialize_struct`], which hands them back as the error.
struct FieldNames;

/// What [`FieldNames`] ends with: the field names, or none for anything but a struct.
#[derive(Debug)]
struct FieldNamesError(&'static [&'static str]);

impl fmt::Display for FieldNamesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field names {:?}", self.0)
    }
}

impl std::error::Error for FieldNamesError {}

impl de::Error for FieldNamesError {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self(&[])
    }
}

impl<'de> Deserializer<'de> for FieldNames {
    type Error = FieldNamesError;

    fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, FieldNamesError> {
        Err(FieldNamesError(&[]))
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, FieldNamesError> {
        Err(FieldNamesError(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_keys_are_the_json_names_in_field_order() {
        assert_eq!(
            field_names::<SshCertificateTemplate>(),
            [
                "nonce",
                "serial",
                "type",
                "keyId",
                "principals",
                "criticalOptions",
                "extensions",
                "reserved"
            ]
        );
        let template = field_names::<CertificateTemplate>();
        assert_eq!(template.len(), 23);
        assert_eq!(template[..3], ["version", "subject", "rawSubject"]);
        assert!(template.contains(&"issuingCertificateURL"));
        assert_eq!(field_names::<CertificateRequestInfo>().len(), 14);
        assert!(field_names::<String>().is_empty());
    }
}
