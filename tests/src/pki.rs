//! A throwaway PKI shaped like a step-ca deployment.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tempfile::TempDir;

/// The DNS name step-ca's own certificate carries in these tests.
pub const STEP_CA_NAME: &str = "ca.example.com";

/// A certificate and key written to files.
#[derive(Clone, Debug)]
pub struct Identity {
    /// PEM certificate.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Certificates for every case the tests need, in a temporary directory.
#[derive(Debug)]
pub struct Pki {
    dir: TempDir,
    /// The step-ca root: trusted by the server for client certificates and by clients for
    /// the server's certificate.
    pub ca: PathBuf,
    /// The webhook server's certificate (localhost, 127.0.0.1), signed by the root.
    pub server: Identity,
    /// step-ca's own TLS leaf: serverAuth + clientAuth, DNS name [`STEP_CA_NAME`].
    pub step_ca: Identity,
    /// A certificate from the same root with the right EKUs but another name.
    pub wrong_name: Identity,
    /// A device certificate from the same root: clientAuth only, CN = a serial, no DNS name.
    pub device: Identity,
    /// A device-style certificate carrying step-ca's DNS name but only clientAuth.
    pub device_with_ca_name: Identity,
    /// A certificate from an unrelated root, with step-ca's name and EKUs.
    pub other_ca: Identity,
    /// step-ca's name with clientAuth and anyExtendedKeyUsage in place of serverAuth.
    pub any_eku_with_ca_name: Identity,
    /// step-ca's certificate as it was, expired yesterday: right root, name and EKUs.
    pub expired_step_ca: Identity,
    /// step-ca's certificate not valid until tomorrow.
    pub future_step_ca: Identity,
    /// The root certificate itself, with its key, presented as a client certificate.
    pub root_as_client: Identity,
}

impl Pki {
    /// Generates everything.
    pub fn generate() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let now = time::OffsetDateTime::now_utc();
        let fresh = (
            now - time::Duration::hours(1),
            now + time::Duration::days(1),
        );
        let root = issuer("Test step-ca Root")?;
        let foreign = issuer("Unrelated Root")?;
        let ca = dir.path().join("root.pem");
        std::fs::write(&ca, root.pem())?;
        let mint = |name, issuer, sans: &[&str], ekus: &[ExtendedKeyUsagePurpose], validity| {
            leaf(dir.path(), name, issuer, sans, ekus, validity)
        };
        let server_auth = [ExtendedKeyUsagePurpose::ServerAuth];
        let client_auth = [ExtendedKeyUsagePurpose::ClientAuth];
        let both = [server_auth[0].clone(), client_auth[0].clone()];
        let any = [client_auth[0].clone(), ExtendedKeyUsagePurpose::Any];
        let local = ["localhost", "127.0.0.1"];
        let step_ca_name = [STEP_CA_NAME];
        let server = mint("server", &root, &local, &server_auth, fresh)?;
        let step_ca = mint("step-ca", &root, &step_ca_name, &both, fresh)?;
        let wrong_name = mint("wrong-name", &root, &["evil.example.com"], &both, fresh)?;
        let device = mint("device", &root, &[], &client_auth, fresh)?;
        let device_with_ca_name =
            mint("device-ca-name", &root, &step_ca_name, &client_auth, fresh)?;
        let other_ca = mint("other-ca", &foreign, &step_ca_name, &both, fresh)?;
        let any_eku_with_ca_name = mint("any-eku-ca-name", &root, &step_ca_name, &any, fresh)?;
        let day = time::Duration::days(1);
        let expired = (now - day * 2, now - day);
        let expired_step_ca = mint("expired-step-ca", &root, &step_ca_name, &both, expired)?;
        let future = (now + day, now + day * 2);
        let future_step_ca = mint("future-step-ca", &root, &step_ca_name, &both, future)?;
        let root_as_client = Identity {
            cert: dir.path().join("root-as-client.pem"),
            key: dir.path().join("root-as-client-key.pem"),
        };
        std::fs::write(&root_as_client.cert, root.pem())?;
        std::fs::write(&root_as_client.key, root.key().serialize_pem())?;
        Ok(Self {
            dir,
            ca,
            server,
            step_ca,
            wrong_name,
            device,
            device_with_ca_name,
            other_ca,
            any_eku_with_ca_name,
            expired_step_ca,
            future_step_ca,
            root_as_client,
        })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn issuer(name: &str) -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// A leaf certificate from `issuer`, valid from the first to the second time, written to
/// `dir` as `<name>.pem` and `<name>-key.pem`.
fn leaf(
    dir: &Path,
    name: &str,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    sans: &[&str],
    ekus: &[ExtendedKeyUsagePurpose],
    (not_before, not_after): (time::OffsetDateTime, time::OffsetDateTime),
) -> anyhow::Result<Identity> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for san in sans {
        params.subject_alt_names.push(match san.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*san).try_into()?),
        });
    }
    params.distinguished_name.push(
        DnType::CommonName,
        sans.first().copied().unwrap_or("C02XL0GJJG5J"),
    );
    params.extended_key_usages = ekus.to_vec();
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = not_before;
    params.not_after = not_after;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    let identity = Identity {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    std::fs::write(&identity.cert, cert.pem())?;
    std::fs::write(&identity.key, key.serialize_pem())?;
    Ok(identity)
}
