//! Throwaway certificates for the demo mode: a CA and a server certificate signed by it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{OrFail as _, ServerError};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// PEM text of a generated CA and a server certificate for `localhost`, `127.0.0.1` and `::1`.
#[derive(Debug)]
#[non_exhaustive]
pub struct DemoPki {
    /// The CA certificate (what clients trust).
    pub ca_pem: String,
    /// The server certificate.
    pub cert_pem: String,
    /// The server's private key.
    pub key_pem: String,
    /// The server certificate in DER, for its fingerprint.
    pub cert_der: Vec<u8>,
}

/// Generates a fresh CA and server certificate; a failure is a [`ServerError::Tls`].
///
/// ```
/// let pki = step_posture_connector::pki::generate_demo_pki()?;
/// assert!(pki.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// # Ok::<(), step_posture_connector::ServerError>(())
/// ```
pub fn generate_demo_pki() -> Result<DemoPki, ServerError> {
    generate().or_fail(ServerError::Tls)
}

fn generate() -> Result<DemoPki, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "step-posture-connector demo CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "step-posture-connector demo");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    Ok(DemoPki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    })
}
