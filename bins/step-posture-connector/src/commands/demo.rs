//! `demo`: a throwaway PKI, webhook and device list in a fresh private directory, served
//! on loopback.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use smallstep_webhook::WebhookSecret;

use super::serve::run_server;
use super::{random_bytes, random_uuid};
use crate::config::Config;
use crate::error::{OrFail as _, ServerError};
use crate::handler::WEBHOOK_PATH;
use crate::tls::sha256_hex;
use crate::{pki, server};

/// The example device list the demo serves.
pub(crate) const DEMO_DEVICES: &str = include_str!("../../demo/devices.json");

/// `demo`: starts a working server on 127.0.0.1 with a throwaway certificate, the example
/// device list and a generated webhook ID and secret, and prints how to try it.
pub(crate) async fn demo(port: u16, exe: &Path) -> Result<(), ServerError> {
    let pki = pki::generate_demo_pki()?;
    let files = DemoFiles::write(&std::env::temp_dir(), &pki).or_fail(ServerError::Other)?;
    let DemoFiles {
        dir,
        ca: ca_path,
        cert: cert_path,
        key: key_path,
        devices: devices_path,
    } = &files;
    let webhook_id = random_uuid()?;
    let secret = WebhookSecret::generate()
        .context("generating a webhook secret")
        .or_fail(ServerError::Other)?;
    let secret_b64 = secret.to_base64();
    let vars: HashMap<String, String> = [
        ("PROVIDER", "file".to_owned()),
        ("FILE_PATH", devices_path.display().to_string()),
        ("FILE_TYPE", "json".to_owned()),
        ("TLS_CERT_PATH", cert_path.display().to_string()),
        ("TLS_KEY_PATH", key_path.display().to_string()),
        ("WEBHOOK_IDS", webhook_id.clone()),
        ("WEBHOOK_SECRETS", secret_b64.clone()),
        ("BIND_ADDRESS", "127.0.0.1".to_owned()),
        ("PORT", port.to_string()),
        ("LOGGING_LEVEL", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_vars(&vars)?;
    let url = format!("https://127.0.0.1:{port}{WEBHOOK_PATH}");
    let exe = exe.display();
    let simulate = format!(
        "{exe} simulate --url {url} --ca-cert {} --webhook-id {webhook_id} --secret '{secret_b64}'",
        ca_path.display()
    );
    // The demo is an interactive command: its instructions go to the terminal; a closed
    // stdout is not a reason to stop serving.
    {
        let _ = writeln!(
            std::io::stdout().lock(),
            "step-posture-connector demo\n\
             \n\
             webhook URL:      {url}\n\
             webhook ID:       {webhook_id}\n\
             webhook secret:   {secret_b64}\n\
             device list:      {devices}\n\
             CA certificate:   {ca}\n\
             server cert SHA-256 fingerprint: {fingerprint}\n\
             \n\
             In another terminal, ask as step-ca would for a listed device (allowed, with enrichment):\n\
             \n  {simulate} --serial C02XL0GJJG5J\n\
             \n\
             and for a device that is not listed (denied with code deviceNotFound):\n\
             \n  {simulate} --serial C02UNKNOWN00\n\
             \n\
             To put a real step-ca (with remote management) in front of a real deployment, register\n\
             the webhook on an ACME provisioner that has device-attest-01; step-ca prints the ID and\n\
             secret to put in WEBHOOK_IDS and WEBHOOK_SECRETS:\n\
             \n  step ca provisioner webhook add acme-da posture \\\n      --url 'https://<this host>:9443{WEBHOOK_PATH}' --kind ENRICHING\n\
             \n\
             Press Ctrl-C to stop.\n",
            devices = devices_path.display(),
            ca = ca_path.display(),
            fingerprint = posture_http::colon_hex(&sha256_hex(&pki.cert_der)),
        );
    }
    let result = run_server(config, server::shutdown_signal()).await;
    let _ = std::fs::remove_dir_all(dir);
    result
}

/// Where `demo` put its certificate, key and device list.
#[derive(Debug)]
struct DemoFiles {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    devices: PathBuf,
}

impl DemoFiles {
    /// Writes the demo's files into a new directory under `parent`.
    ///
    /// `parent` is usually a shared temporary directory, where anyone can create names. So
    /// the directory gets a random name and is created new (mode 0700), never reused: a name
    /// someone created first, as a directory or a link, is not entered. Each file is created
    /// new too (`O_CREAT|O_EXCL`, mode 0600), which never follows a link.
    fn write(parent: &Path, pki: &pki::DemoPki) -> anyhow::Result<Self> {
        let dir = create_private_dir(parent, "step-posture-connector-demo-")?;
        let files = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            devices: dir.join("devices.json"),
            dir,
        };
        for (path, text) in [
            (&files.ca, pki.ca_pem.as_str()),
            (&files.cert, pki.cert_pem.as_str()),
            (&files.key, pki.key_pem.as_str()),
            (&files.devices, DEMO_DEVICES),
        ] {
            if let Err(err) = write_new_private_file(path, text) {
                let _ = std::fs::remove_dir_all(&files.dir);
                return Err(err);
            }
        }
        Ok(files)
    }
}

/// Creates a new directory `<parent>/<prefix><random>` with mode 0700 and returns its path.
fn create_private_dir(parent: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    // A clash with 64 random bits means someone is guessing; a few tries are plenty.
    for _ in 0..8 {
        let name: String = random_bytes::<8>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = parent.join(format!("{prefix}{name}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                // The umask can only have removed bits; put the owner's back, nothing more.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("setting the mode of {}", dir.display()))?;
                return Ok(dir);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!("creating {}", dir.display())));
            }
        }
    }
    bail!(
        "could not create a new directory in {}: every name tried exists",
        parent.display()
    )
}

/// Writes `text` to a file that must not exist yet (a link there is not followed), mode 0600.
fn write_new_private_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
