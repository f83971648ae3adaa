//! Reading PKCS#10 certificate requests with `x509-parser`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use x509_parser::asn1_rs::Tag;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::types::{BasicConstraints, DistinguishedName, Extension, Name};

/// Why a certificate request could not be read.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// The request body carries no CSR (`x509CertificateRequest.raw` is absent).
    #[error("request body carries no certificate request")]
    Absent,
    /// The bytes are not a DER PKCS#10 certificate request.
    #[error("malformed certificate request: {reason}")]
    Malformed {
        /// What the parser reported.
        reason: String,
    },
    /// The DER request is followed by more bytes.
    #[error("certificate request is followed by {len} trailing bytes")]
    TrailingData {
        /// How many bytes follow the request.
        len: usize,
    },
    /// The subject common name is not in a string type that can be decoded.
    #[error("subject common name is not a decodable string")]
    CommonName,
}

/// Reads the subject common name of a DER PKCS#10 certificate request.
///
/// Returns `Ok(None)` if the subject has no common name. If it has several, the last one
/// is returned, as Go's `pkix.Name` (and so step-ca) reads it. UTF8String, PrintableString,
/// IA5String, NumericString, BMPString and T61String (if UTF-8) values are decoded.
/// The signature is not checked: step-ca has checked it before calling a webhook.
///
/// ```
/// use smallstep_webhook::csr_common_name;
/// use base64::Engine as _;
/// let der = base64::engine::general_purpose::STANDARD.decode(
///     "MIHRMHkCAQAwFzEVMBMGA1UEAwwMQzAyWEwwR0pKRzVKMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVxm1xJWH\
///      hZ42DKcdMmiI2XlHPBusGpyjpizesd/Hdz6GBwNM0NG5FFegzZXAkzyqOWP6vNu9X/w/dmyif7ZYBKAAMAoGCCqG\
///      SM49BAMCA0gAMEUCIQC+YTEWk+ucn2BrHl0IF3++DQXqELNrfCoz+s8RWFhyYAIgZaR2pBIYkHSUARtGBXuwm8Ud\
///      k8UqsKTZAsB8jUIRO8A=",
/// )?;
/// assert_eq!(csr_common_name(&der)?.as_deref(), Some("C02XL0GJJG5J"));
/// assert!(csr_common_name(b"not a csr").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`CsrError::Malformed`] or [`CsrError::TrailingData`] if `der` is not exactly one
/// certificate request, and [`CsrError::CommonName`] if the common name can't be decoded.
pub fn csr_common_name(der: &[u8]) -> Result<Option<String>, CsrError> {
    let csr = parse(der)?;
    last_common_name(&csr.certification_request_info.subject)
}

fn parse(der: &[u8]) -> Result<X509CertificationRequest<'_>, CsrError> {
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|e| CsrError::Malformed {
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CsrError::TrailingData { len: rest.len() });
    }
    Ok(csr)
}

fn last_common_name(subject: &X509Name<'_>) -> Result<Option<String>, CsrError> {
    match subject.iter_common_name().last() {
        Some(attr) => attr_string(attr).map(Some).ok_or(CsrError::CommonName),
        None => Ok(None),
    }
}

/// Decodes a directory string the way Go's `crypto/x509` does.
fn attr_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let bytes = attr.as_slice();
    match attr.attr_value().tag() {
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        Tag::T61String => std::str::from_utf8(bytes).ok().map(str::to_owned),
        _ => attr.as_str().ok().map(str::to_owned),
    }
}

/// What the device-attest enriching builder takes from a CSR, following step-ca's
/// `x509util.NewCertificateRequestFromX509` and ACME `canonicalize` (best effort).
#[derive(Debug, Default)]
pub(crate) struct CsrDetails {
    pub(crate) version: i64,
    pub(crate) subject: Name,
    pub(crate) raw_subject: Vec<u8>,
    pub(crate) dns_names: Vec<String>,
    pub(crate) email_addresses: Vec<String>,
    pub(crate) ip_addresses: Vec<IpAddr>,
    pub(crate) uris: Vec<String>,
    pub(crate) extensions: Vec<Extension>,
    pub(crate) key_usage: Vec<String>,
    pub(crate) ext_key_usage: Vec<String>,
    pub(crate) unknown_ext_key_usage: Vec<String>,
    pub(crate) basic_constraints: Option<BasicConstraints>,
    pub(crate) public_key: Vec<u8>,
    pub(crate) public_key_algorithm: &'static str,
}

pub(crate) fn details(der: &[u8]) -> Result<CsrDetails, CsrError> {
    let csr = parse(der)?;
    let info = &csr.certification_request_info;
    let mut out = CsrDetails {
        version: i64::from(info.version.0),
        subject: name(&info.subject)?,
        raw_subject: info.subject.as_raw().to_vec(),
        public_key: info.subject_pki.raw.to_vec(),
        public_key_algorithm: public_key_algorithm(
            &info.subject_pki.algorithm.algorithm.to_id_string(),
        ),
        ..CsrDetails::default()
    };
    for attr in info.iter_attributes() {
        let ParsedCriAttribute::ExtensionRequest(request) = attr.parsed_attribute() else {
            continue;
        };
        for ext in &request.extensions {
            out.extensions.push(Extension::new(
                ext.oid.to_id_string(),
                ext.critical,
                ext.value.to_vec(),
            ));
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for general_name in &san.general_names {
                        match general_name {
                            GeneralName::DNSName(n) => out.dns_names.push((*n).to_owned()),
                            GeneralName::RFC822Name(n) => {
                                out.email_addresses.push((*n).to_owned());
                            }
                            GeneralName::URI(n) => out.uris.push((*n).to_owned()),
                            GeneralName::IPAddress(bytes) => {
                                if let Some(ip) = ip_from_bytes(bytes) {
                                    out.ip_addresses.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::KeyUsage(usage) => {
                    const NAMES: [&str; 9] = [
                        "digitalSignature",
                        "contentCommitment",
                        "keyEncipherment",
                        "dataEncipherment",
                        "keyAgreement",
                        "certSign",
                        "crlSign",
                        "encipherOnly",
                        "decipherOnly",
                    ];
                    for (bit, name) in NAMES.iter().enumerate() {
                        if (usage.flags >> bit) & 1 == 1 {
                            out.key_usage.push((*name).to_owned());
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let known = [
                        (eku.any, "any"),
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "ocspSigning"),
                    ];
                    for (set, name) in known {
                        if set {
                            out.ext_key_usage.push(name.to_owned());
                        }
                    }
                    for oid in &eku.other {
                        let oid = oid.to_id_string();
                        match ext_key_usage_name(&oid) {
                            Some(name) => out.ext_key_usage.push(name.to_owned()),
                            None => out.unknown_ext_key_usage.push(oid),
                        }
                    }
                }
                ParsedExtension::BasicConstraints(bc) => {
                    out.basic_constraints = Some(BasicConstraints {
                        is_ca: bc.ca,
                        max_path_len: bc.path_len_constraint.map_or(-1, i64::from),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Converts a subject to x509util's `Name`, like Go's `pkix.Name.FillFromRDNSequence`.
fn name(subject: &X509Name<'_>) -> Result<Name, CsrError> {
    let mut out = Name::default();
    for rdn in subject.iter() {
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let Some(value) = attr_string(attr) else {
                if oid == "2.5.4.3" {
                    return Err(CsrError::CommonName);
                }
                continue;
            };
            match oid.as_str() {
                "2.5.4.6" => out.country.push(value),
                "2.5.4.10" => out.organization.push(value),
                "2.5.4.11" => out.organizational_unit.push(value),
                "2.5.4.7" => out.locality.push(value),
                "2.5.4.8" => out.province.push(value),
                "2.5.4.9" => out.street_address.push(value),
                "2.5.4.17" => out.postal_code.push(value),
                "2.5.4.5" => out.serial_number = value,
                "2.5.4.3" => out.common_name = value,
                _ => {
                    out.extra_names.push(DistinguishedName {
                        oid,
                        value: serde_json::value::to_raw_value(&value).ok(),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => {
            let octets: [u8; 4] = bytes.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

/// Go's `x509.PublicKeyAlgorithm.String()` for a SubjectPublicKeyInfo algorithm OID.
fn public_key_algorithm(oid: &str) -> &'static str {
    match oid {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.10045.2.1" => "ECDSA",
        "1.3.101.112" => "Ed25519",
        "1.2.840.10040.4.1" => "DSA",
        _ => "0",
    }
}

/// x509util's names for the extended key usages x509-parser reports as "other".
fn ext_key_usage_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.3.6.1.5.5.7.3.5" => "ipsecEndSystem",
        "1.3.6.1.5.5.7.3.6" => "ipsecTunnel",
        "1.3.6.1.5.5.7.3.7" => "ipsecUser",
        "1.3.6.1.4.1.311.10.3.3" => "microsoftServerGatedCrypto",
        "2.16.840.1.113730.4.1" => "netscapeServerGatedCrypto",
        "1.3.6.1.4.1.311.2.1.22" => "microsoftCommercialCodeSigning",
        "1.3.6.1.4.1.311.61.1.1" => "microsoftKernelCodeSigning",
        _ => return None,
    })
}

/// Formats an IP address as Go's `net.IP.String()` does (IPv4-mapped addresses as IPv4).
pub(crate) fn go_ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Go's 16-byte form of an IP, used to sort addresses as step-ca does.
pub(crate) fn ip_sort_key(ip: &IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}
