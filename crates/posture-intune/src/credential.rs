//! Certificate credentials: the app registration's certificate and its RSA key, and the
//! signed JWT client assertion the token request sends instead of a client secret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::asn1_rs::{FromDer, Oid, Sequence};
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_PKCS1_RSASSAPSS, OID_SIG_ED448,
    OID_SIG_ED25519,
};
use x509_parser::x509::AlgorithmIdentifier;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523).
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid. The Microsoft identity platform asks for a short
/// lifetime (minutes after `nbf`); each token request signs a new one, so a few minutes
/// only has to cover the request itself and some clock skew.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

posture_settings::spelled_enum! {
    /// The signature algorithm of the client assertion (`INTUNE_CLIENT_ASSERTION_ALG`): its
    /// JWS `alg` name, parsed in any case.
    ///
    /// The Microsoft identity platform's certificate-credentials documentation asks for
    /// `PS256` (RSASSA-PSS with SHA-256); `RS256` (PKCS#1 v1.5) is what older guidance and many
    /// clients use, and Entra still accepts it.
    ///
    /// ```
    /// use posture_intune::AssertionAlgorithm;
    /// assert_eq!("rs256".parse(), Ok(AssertionAlgorithm::Rs256));
    /// assert_eq!(AssertionAlgorithm::default().as_str(), "PS256");
    /// assert!("ES256".parse::<AssertionAlgorithm>().is_err());
    /// ```
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
    #[non_exhaustive]
    pub enum AssertionAlgorithm {
        /// `PS256`: RSASSA-PSS with SHA-256, the documented choice. The default.
        #[default]
        Ps256 = "PS256",
        /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256.
        Rs256 = "RS256",
    }
    /// An assertion algorithm other than `PS256` and `RS256`.
    pub struct UnknownAssertionAlgorithm("client assertion algorithm");
    parse: any_case
}

impl AssertionAlgorithm {
    fn encoding(self) -> &'static dyn RsaEncoding {
        match self {
            Self::Ps256 => &RSA_PSS_SHA256,
            Self::Rs256 => &RSA_PKCS1_SHA256,
        }
    }
}

/// Why a client certificate or its key can't be used. Nothing here holds key material.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientCertificateError {
    /// The certificate file could not be read.
    #[error("cannot read the certificate: {0}")]
    ReadCertificate(String),
    /// The certificate PEM holds no readable `CERTIFICATE` section.
    #[error("no PEM CERTIFICATE section found{0}")]
    NoCertificate(String),
    /// The certificate is not a valid X.509 certificate.
    #[error("not a valid X.509 certificate: {0}")]
    BadCertificate(String),
    /// The certificate's public key is not an RSA key.
    #[error(
        "the certificate's public key is {0}, not RSA: Entra ID accepts only RSA certificates for client assertions"
    )]
    CertificateNotRsa(String),
    /// The key file could not be read.
    #[error("cannot read the private key: {0}")]
    ReadKey(String),
    /// The key PEM holds no unencrypted private key.
    #[error(
        "no unencrypted PEM private key found (expected a PRIVATE KEY or RSA PRIVATE KEY section){0}"
    )]
    NoKey(String),
    /// The key is not an RSA key.
    #[error(
        "the private key is {0}, not RSA: Entra ID accepts only RSA keys for client assertions"
    )]
    KeyNotRsa(String),
    /// ring refused the RSA key (too small, too large, malformed).
    #[error("the RSA private key was refused: {0}")]
    KeyRejected(String),
    /// The key does not belong to the certificate.
    #[error("the private key does not belong to the certificate (their public keys differ)")]
    Mismatch,
    /// The certificate's validity starts later.
    #[error("the certificate is not valid yet: valid from {not_before} to {not_after}")]
    NotYetValid {
        /// Its `notBefore`.
        not_before: String,
        /// Its `notAfter`.
        not_after: String,
    },
    /// The certificate has expired.
    #[error("the certificate expired: valid from {not_before} to {not_after}")]
    Expired {
        /// Its `notBefore`.
        not_before: String,
        /// Its `notAfter`.
        not_after: String,
    },
}

impl ClientCertificateError {
    /// Whether the problem lies with the key (rather than the certificate).
    pub fn is_about_the_key(&self) -> bool {
        matches!(
            self,
            Self::ReadKey(_)
                | Self::NoKey(_)
                | Self::KeyNotRsa(_)
                | Self::KeyRejected(_)
                | Self::Mismatch
        )
    }
}

/// The certificate registered on the app registration and its RSA private key, which sign
/// the client assertion the token request sends instead of a client secret.
///
/// Built from PEM: the first `CERTIFICATE` section of the certificate (a chain may follow;
/// only the first counts), and a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) key.
/// The key must be RSA, the certificate must carry its public key, and the certificate must
/// be valid now. `Debug` shows the certificate, never the key.
///
/// ```
/// use posture_intune::{AssertionAlgorithm, ClientCertificate};
/// use posture_fakes::intune::TestCertificate;
///
/// let made = TestCertificate::generate()?; // a self-signed RSA certificate, from rcgen
/// let certificate = ClientCertificate::from_pem(made.cert_pem().as_bytes(), made.key_pem().as_bytes())?;
/// assert_eq!(certificate.algorithm(), AssertionAlgorithm::Ps256);
/// assert_eq!(certificate.x5t_s256(), made.x5t_s256());
/// assert!(!format!("{certificate:?}").contains("PRIVATE"));
///
/// let wrong_key = posture_fakes::intune::OTHER_TEST_RSA_KEY;
/// let err = ClientCertificate::from_pem(made.cert_pem().as_bytes(), wrong_key.as_bytes()).unwrap_err();
/// assert_eq!(err.to_string(), "the private key does not belong to the certificate (their public keys differ)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientCertificate {
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
    subject: String,
    sha256: [u8; 32],
    sha1: [u8; 20],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key: Arc<RsaKeyPair>,
    algorithm: AssertionAlgorithm,
}

impl ClientCertificate {
    /// Reads the certificate and the key from PEM files (they may be one file).
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, ClientCertificateError> {
        let cert_path = cert_path.as_ref();
        let key_path = key_path.as_ref();
        let cert_pem = std::fs::read(cert_path)
            .map_err(|err| ClientCertificateError::ReadCertificate(err.to_string()))?;
        let key_pem = std::fs::read(key_path)
            .map_err(|err| ClientCertificateError::ReadKey(err.to_string()))?;
        let mut certificate = Self::from_pem(&cert_pem, &key_pem)?;
        certificate.cert_path = Some(cert_path.to_owned());
        certificate.key_path = Some(key_path.to_owned());
        Ok(certificate)
    }

    /// Reads the certificate and the key from PEM text, checked against the current time.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, ClientCertificateError> {
        Self::from_pem_at(cert_pem, key_pem, OffsetDateTime::now_utc())
    }

    fn from_pem_at(
        cert_pem: &[u8],
        key_pem: &[u8],
        now: OffsetDateTime,
    ) -> Result<Self, ClientCertificateError> {
        let der = first_certificate(cert_pem)?;
        let key = rsa_key(key_pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|err| ClientCertificateError::BadCertificate(err.to_string()))?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
            return Err(ClientCertificateError::CertificateNotRsa(key_kind(
                &spki.algorithm.algorithm,
            )));
        }
        // Both sides are DER RSAPublicKey structures, whose encoding is unique.
        if spki.subject_public_key.data.as_ref() != key.public().as_ref() {
            return Err(ClientCertificateError::Mismatch);
        }
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        let dates = || (show_time(not_before), show_time(not_after));
        if now < not_before {
            let (not_before, not_after) = dates();
            return Err(ClientCertificateError::NotYetValid {
                not_before,
                not_after,
            });
        }
        if now > not_after {
            let (not_before, not_after) = dates();
            return Err(ClientCertificateError::Expired {
                not_before,
                not_after,
            });
        }
        let mut sha256 = [0; 32];
        sha256.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der.as_ref()).as_ref());
        let mut sha1 = [0; 20];
        sha1.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref()).as_ref(),
        );
        Ok(Self {
            cert_path: None,
            key_path: None,
            subject: cert.subject().to_string(),
            sha256,
            sha1,
            not_before,
            not_after,
            key: Arc::new(key),
            algorithm: AssertionAlgorithm::default(),
        })
    }

    /// Signs assertions with `algorithm` instead of the default, `PS256`.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The assertion's signature algorithm.
    pub fn algorithm(&self) -> AssertionAlgorithm {
        self.algorithm
    }

    /// The certificate file, when read from one (`INTUNE_CLIENT_CERT_PATH`).
    pub fn cert_path(&self) -> Option<&Path> {
        self.cert_path.as_deref()
    }

    /// The key file, when read from one (`INTUNE_CLIENT_KEY_PATH`).
    pub fn key_path(&self) -> Option<&Path> {
        self.key_path.as_deref()
    }

    /// The certificate's subject, such as `CN=step-posture-connector`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The certificate's `x5t#S256`: base64url (no padding) of the SHA-256 of its DER.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256)
    }

    /// The SHA-256 of the certificate's DER, as lower-case hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The SHA-1 thumbprint, as upper-case hex without separators: what the Entra admin
    /// center lists under Certificates & secrets.
    pub fn entra_thumbprint(&self) -> String {
        self.sha1.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// When the certificate becomes valid.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// A signed client assertion for `client_id` at the token endpoint `audience`, issued
    /// at `now` (seconds since the epoch), with a random `jti`.
    pub(crate) fn assertion_at(
        &self,
        client_id: &str,
        audience: &str,
        now: u64,
    ) -> Result<String, ring::error::Unspecified> {
        let rng = SystemRandom::new();
        let mut id = [0u8; 16];
        rng.fill(&mut id)?;
        let header = json!({
            "alg": self.algorithm.as_str(),
            "typ": "JWT",
            "x5t#S256": self.x5t_s256(),
        });
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": posture_http::guid_v4(id),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key.sign(
            self.algorithm.encoding(),
            &rng,
            signing_input.as_bytes(),
            &mut signature,
        )?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// A signed client assertion issued now.
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<String, ring::error::Unspecified> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.assertion_at(client_id, audience, now)
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("subject", &self.subject)
            .field("sha256", &self.sha256_hex())
            .field("not_after", &show_time(self.not_after))
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn first_certificate(pem: &[u8]) -> Result<CertificateDer<'static>, ClientCertificateError> {
    match CertificateDer::pem_slice_iter(pem).next() {
        Some(Ok(der)) => Ok(der),
        Some(Err(err)) => Err(ClientCertificateError::NoCertificate(format!(": {err}"))),
        None => Err(ClientCertificateError::NoCertificate(String::new())),
    }
}

fn rsa_key(pem: &[u8]) -> Result<RsaKeyPair, ClientCertificateError> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|err| {
        let encrypted = pem
            .windows(b"ENCRYPTED PRIVATE KEY".len())
            .any(|w| w == b"ENCRYPTED PRIVATE KEY");
        ClientCertificateError::NoKey(match err {
            _ if encrypted => {
                "; the key is encrypted: decrypt it first (openssl pkey -in key.pem -out plain.pem)"
                    .to_owned()
            }
            pem::Error::NoItemsFound => String::new(),
            other => format!(": {other}"),
        })
    })?;
    let rejected =
        |err: ring::error::KeyRejected| ClientCertificateError::KeyRejected(err.to_string());
    match key {
        PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(rejected),
        PrivateKeyDer::Sec1(_) => Err(ClientCertificateError::KeyNotRsa("an EC key".to_owned())),
        PrivateKeyDer::Pkcs8(der) => {
            let der = der.secret_pkcs8_der();
            match pkcs8_algorithm(der) {
                Some(oid) if oid == OID_PKCS1_RSAENCRYPTION => {
                    RsaKeyPair::from_pkcs8(der).map_err(rejected)
                }
                Some(oid) => Err(ClientCertificateError::KeyNotRsa(key_kind(&oid))),
                None => Err(ClientCertificateError::KeyRejected(
                    "not a valid PKCS#8 structure".to_owned(),
                )),
            }
        }
        _ => Err(ClientCertificateError::KeyNotRsa(
            "of an unsupported kind".to_owned(),
        )),
    }
}

/// The algorithm of a PKCS#8 `PrivateKeyInfo`: `SEQUENCE { version, algorithm, … }`.
fn pkcs8_algorithm(der: &[u8]) -> Option<Oid<'static>> {
    let (_, info) = Sequence::from_der(der).ok()?;
    let (rest, _version) = u32::from_der(&info.content).ok()?;
    let (_, alg) = AlgorithmIdentifier::from_der(rest).ok()?;
    Some(alg.algorithm.to_owned())
}

fn key_kind(oid: &Oid<'_>) -> String {
    if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        "an EC key".to_owned()
    } else if *oid == OID_SIG_ED25519 {
        "an Ed25519 key".to_owned()
    } else if *oid == OID_SIG_ED448 {
        "an Ed448 key".to_owned()
    } else if *oid == OID_PKCS1_RSASSAPSS {
        "an RSASSA-PSS-only key (ring signs with rsaEncryption keys)".to_owned()
    } else {
        format!("a key of algorithm {oid}")
    }
}

/// A certificate date in RFC 3339, such as `2024-01-01T00:00:00Z`.
pub(crate) fn show_time(time: OffsetDateTime) -> String {
    time.format(&Rfc3339)
        .unwrap_or_else(|_| time.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_fakes::intune::{
        CLIENT_ID, FakeIntune, TENANT_ID, TEST_RSA_KEY, TEST_RSA_KEY_PKCS1, TestCertificate,
    };
    use serde_json::Value;

    #[test]
    fn jtis_are_version_4_guids() {
        let id = posture_http::guid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(posture_http::env::is_guid(&posture_http::guid_v4([0; 16])));
    }

    #[test]
    fn validity_is_checked_against_the_time_given() {
        let made = TestCertificate::generate().unwrap();
        let (cert, key) = (made.cert_pem().as_bytes(), made.key_pem().as_bytes());
        let now = OffsetDateTime::now_utc();
        assert!(ClientCertificate::from_pem_at(cert, key, now).is_ok());
        let later = now + time::Duration::days(400);
        assert!(matches!(
            ClientCertificate::from_pem_at(cert, key, later),
            Err(ClientCertificateError::Expired { .. })
        ));
        let earlier = now - time::Duration::days(1);
        assert!(matches!(
            ClientCertificate::from_pem_at(cert, key, earlier),
            Err(ClientCertificateError::NotYetValid { .. })
        ));
        // The PKCS#1 form of the same key is the same key.
        let pkcs1 = ClientCertificate::from_pem(cert, TEST_RSA_KEY_PKCS1.as_bytes()).unwrap();
        assert_eq!(pkcs1.x5t_s256(), made.x5t_s256());
        assert!(rsa_key(TEST_RSA_KEY.as_bytes()).is_ok());
    }

    #[test]
    fn encrypted_keys_say_so() {
        let pem =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = rsa_key(pem)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("the key is encrypted: decrypt it first"),
            "{err}"
        );
    }

    // The fake Intune verifies client assertions as Entra does; these assertions are the
    // provider's own.

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// The certificate as the provider reads it.
    fn read(made: &TestCertificate) -> ClientCertificate {
        ClientCertificate::from_pem(made.cert_pem().as_bytes(), made.key_pem().as_bytes()).unwrap()
    }

    /// Posts a client assertion to the fake's token endpoint; returns the status and the
    /// AADSTS code of a refusal (0 for a token).
    async fn post(intune: &FakeIntune, assertion: &str) -> (u16, u64) {
        let http = posture_http::ClientOptions::new(Duration::from_secs(5))
            .build()
            .unwrap();
        let answer = http
            .post(
                posture_http::Url::parse(&format!(
                    "{}/{TENANT_ID}/oauth2/v2.0/token",
                    intune.url()
                ))
                .unwrap(),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap();
        (status, body["error_codes"][0].as_u64().unwrap_or(0))
    }

    #[tokio::test]
    async fn the_token_endpoint_verifies_assertions_as_entra_does() {
        let intune = FakeIntune::start().await.unwrap();
        let made = TestCertificate::generate().unwrap();
        intune.register_certificate(made.der()).unwrap();
        let certificate = read(&made);
        let audience = format!("{}/{TENANT_ID}/oauth2/v2.0/token", intune.url());
        let sign =
            |client: &str, aud: &str, at: u64| certificate.assertion_at(client, aud, at).unwrap();

        assert_eq!(
            post(&intune, &sign(CLIENT_ID, &audience, now())).await,
            (200, 0)
        );
        let rs256 = read(&made)
            .with_algorithm(AssertionAlgorithm::Rs256)
            .assertion_at(CLIENT_ID, &audience, now())
            .unwrap();
        assert_eq!(post(&intune, &rs256).await, (200, 0));

        // Expired, and not valid yet.
        assert_eq!(
            post(&intune, &sign(CLIENT_ID, &audience, now() - 600)).await,
            (401, 700024)
        );
        assert_eq!(
            post(&intune, &sign(CLIENT_ID, &audience, now() + 120)).await,
            (401, 700024)
        );
        // Another audience: a path prefix, another tenant, another host.
        for aud in [
            format!("{}/prefix/{TENANT_ID}/oauth2/v2.0/token", intune.url()),
            format!("{}/common/oauth2/v2.0/token", intune.url()),
            format!("https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token"),
        ] {
            assert_eq!(
                post(&intune, &sign(CLIENT_ID, &aud, now())).await,
                (401, 50013),
                "{aud}"
            );
        }
        // Another issuer.
        assert_eq!(
            post(
                &intune,
                &sign("11111111-2222-4333-8444-555555555555", &audience, now())
            )
            .await,
            (401, 700021)
        );
        // A signature that does not verify, an alg that is not the one signed with.
        let good = sign(CLIENT_ID, &audience, now());
        let (signed, signature) = good.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[10] ^= 1;
        let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(post(&intune, &tampered).await, (401, 700027));
        let relabelled = rs256.replacen(
            &URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"RS256","typ":"JWT","x5t#S256":"{}"}}"#,
                made.x5t_s256()
            )),
            &URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"PS256","typ":"JWT","x5t#S256":"{}"}}"#,
                made.x5t_s256()
            )),
            1,
        );
        assert_ne!(relabelled, rs256);
        assert_eq!(post(&intune, &relabelled).await, (401, 700027));
        // Replay of an accepted assertion.
        let once = sign(CLIENT_ID, &audience, now());
        assert_eq!(post(&intune, &once).await, (200, 0));
        assert_eq!(post(&intune, &once).await, (401, 50013));
        // Malformed.
        assert_eq!(post(&intune, "a.b").await, (401, 50027));
    }

    #[tokio::test]
    async fn only_registered_certificates_in_their_validity_are_accepted() {
        let intune = FakeIntune::start().await.unwrap();
        let audience = format!("{}/{TENANT_ID}/oauth2/v2.0/token", intune.url());
        let made = TestCertificate::generate().unwrap();
        let certificate = read(&made);
        let assertion = certificate
            .assertion_at(CLIENT_ID, &audience, now())
            .unwrap();
        assert_eq!(post(&intune, &assertion).await, (401, 700027));
        // The registered key has expired (the provider refuses such a certificate at start).
        let past = OffsetDateTime::now_utc() - time::Duration::days(30);
        let expired =
            TestCertificate::new(TEST_RSA_KEY, past - time::Duration::days(30), past).unwrap();
        intune.register_certificate(expired.der()).unwrap();
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"PS256","typ":"JWT","x5t#S256":"{}"}}"#,
            expired.x5t_s256()
        ));
        let (_, rest) = assertion.split_once('.').unwrap();
        assert_eq!(
            post(&intune, &format!("{header}.{rest}")).await,
            (401, 700027)
        );
        intune.register_certificate(made.der()).unwrap();
        assert_eq!(post(&intune, &assertion).await, (200, 0));
        assert!(intune.register_certificate(b"not DER").is_err());
    }
}
