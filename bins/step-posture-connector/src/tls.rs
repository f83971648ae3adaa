//! TLS: PEM loading, the server configuration, and client-certificate checks.
//!
//! Only the *ring* crypto provider is used. The protocol versions are TLS 1.2 and 1.3, and
//! every cipher suite offered is an ECDHE key exchange with an AEAD cipher (AES-GCM or
//! ChaCha20-Poly1305).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::{MtlsSettings, TlsSettings};

/// Why the TLS configuration could not be built. Each message names the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or held nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the certificate, key or CA.
    #[error("{what}: {reason}")]
    Rustls {
        /// Which part was refused.
        what: String,
        /// rustls's reason.
        reason: String,
    },
}

/// The ring provider, restricted to ECDHE + AEAD suites (which is all ring offers today; the
/// filter keeps it so if that ever changes).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| match suite {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(suite) => {
            let name = format!("{:?}", suite.common.suite);
            name.contains("ECDHE") && (name.contains("GCM") || name.contains("CHACHA20_POLY1305"))
        }
    });
    Arc::new(provider)
}

/// Reads every certificate in a PEM file.
pub(crate) fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |reason: String| TlsError::Pem {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| pem_error(format!("cannot read certificates: {err}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error(format!("invalid PEM certificate: {err}")))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE block found".to_owned()));
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub(crate) fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| TlsError::Pem {
        path: path.display().to_string(),
        reason: format!("no usable private key: {err}"),
    })
}

/// A built server configuration and what readiness checks need to know about it.
#[derive(Clone)]
pub struct TlsState {
    /// The rustls configuration for new connections.
    pub config: Arc<ServerConfig>,
    /// When the server certificate expires.
    pub not_after: Option<SystemTime>,
    /// SHA-256 of the server certificate, as lowercase hex.
    pub fingerprint: String,
}

impl fmt::Debug for TlsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsState")
            .field("not_after", &self.not_after)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TlsState {
    /// Whether the server certificate is within its validity period.
    pub fn certificate_is_current(&self) -> bool {
        self.not_after
            .is_none_or(|not_after| SystemTime::now() < not_after)
    }
}

/// Builds the server configuration from the settings' files.
pub fn build_server_config(settings: &TlsSettings) -> Result<TlsState, TlsError> {
    let certs = load_certificates(&settings.cert_path)?;
    let key = load_private_key(&settings.key_path)?;
    let not_after = certs.first().and_then(|leaf| certificate_not_after(leaf));
    let fingerprint = certs
        .first()
        .map(|leaf| sha256_hex(leaf))
        .unwrap_or_default();
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| TlsError::Rustls {
            what: "protocol versions".to_owned(),
            reason: err.to_string(),
        })?;
    let builder = match &settings.mtls {
        None => builder.with_no_client_auth(),
        Some(mtls) => builder.with_client_cert_verifier(client_verifier(mtls, provider)?),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|err| TlsError::Rustls {
            what: format!(
                "{} with {}",
                settings.cert_path.display(),
                settings.key_path.display()
            ),
            reason: err.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsState {
        config: Arc::new(config),
        not_after,
        fingerprint,
    })
}

fn client_verifier(
    mtls: &MtlsSettings,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certificates(&mtls.ca_path)? {
        roots.add(cert).map_err(|err| TlsError::Pem {
            path: mtls.ca_path.display().to_string(),
            reason: format!("not a usable CA certificate: {err}"),
        })?;
    }
    let algorithms = provider.signature_verification_algorithms;
    let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|err| TlsError::Rustls {
            what: mtls.ca_path.display().to_string(),
            reason: err.to_string(),
        })?;
    Ok(Arc::new(StepCaClientVerifier {
        chain,
        algorithms,
        allowed_names: mtls.allowed_names.clone(),
        require_server_auth: mtls.require_server_auth,
    }))
}

/// Chain verification plus the checks that tell step-ca's own certificate apart from the
/// device certificates the same CA issues: a DNS SAN on the allowlist, and the serverAuth
/// extended key usage.
#[derive(Debug)]
struct StepCaClientVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    /// The signature algorithms `chain` checks with: the crypto provider's.
    algorithms: WebPkiSupportedAlgorithms,
    allowed_names: Vec<String>,
    require_server_auth: bool,
}

impl ClientCertVerifier for StepCaClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .chain
            .verify_client_cert(end_entity, intermediates, now)?;
        check_client_identity(end_entity, &self.allowed_names, self.require_server_auth).map_err(
            |reason| {
                tracing::warn!(%reason, "client certificate refused");
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                )
            },
        )?;
        Ok(verified)
    }

    handshake_signature_checks!();
}

impl StepCaClientVerifier {
    /// The algorithms `chain` was built with, so the handshake signature is checked as it
    /// would check it.
    fn signature_algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.algorithms
    }
}

/// One handshake-signature method of a rustls verifier: `$verify` (rustls's TLS 1.2 or 1.3
/// check) with the type's `signature_algorithms()`.
macro_rules! signature_check {
    ($name:ident, $verify:path) => {
        fn $name(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            $verify(message, cert, dss, self.signature_algorithms())
        }
    };
}
pub(crate) use signature_check;

/// The handshake-signature methods of a rustls client or server verifier, checked with the
/// type's `signature_algorithms()` exactly as rustls's own WebPKI verifiers check them. The
/// verifiers here differ only in how they judge the certificate itself.
macro_rules! handshake_signature_checks {
    () => {
        $crate::tls::signature_check!(
            verify_tls12_signature,
            rustls::crypto::verify_tls12_signature
        );
        $crate::tls::signature_check!(
            verify_tls13_signature,
            rustls::crypto::verify_tls13_signature
        );
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.signature_algorithms().supported_schemes()
        }
    };
}
pub(crate) use handshake_signature_checks;

/// Checks a chain-verified client certificate against the name allowlist and EKU rule: with
/// `require_server_auth`, the serverAuth extended key usage itself (anyExtendedKeyUsage does
/// not count).
pub(crate) fn check_client_identity(
    der: &[u8],
    allowed_names: &[String],
    require_server_auth: bool,
) -> Result<(), String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|err| format!("client certificate does not parse: {err}"))?;
    if require_server_auth {
        // serverAuth itself: anyExtendedKeyUsage is what a permissive device template might
        // add, and step-ca's own certificate never needs it.
        let has_server_auth = cert
            .extended_key_usage()
            .ok()
            .flatten()
            .is_some_and(|eku| eku.value.server_auth);
        if !has_server_auth {
            return Err(
                "client certificate lacks the serverAuth extended key usage that step-ca's own \
                 certificate carries"
                    .to_owned(),
            );
        }
    }
    if allowed_names.is_empty() {
        return Ok(());
    }
    let dns_names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let allowed = allowed_names.iter().any(|allowed| {
        dns_names
            .iter()
            .any(|name| *name == allowed.to_ascii_lowercase())
    });
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "client certificate names {dns_names:?} are not in MTLS_ALLOWED_NAMES"
        ))
    }
}

fn certificate_not_after(der: &[u8]) -> Option<SystemTime> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let seconds = cert.validity().not_after.timestamp();
    let seconds = u64::try_from(seconds).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
