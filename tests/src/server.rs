//! The real server, started in-process on 127.0.0.1 with a configuration built from
//! environment-style variables, and a client that speaks to it like step-ca.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use posture_core::DynPostureProvider;
use rustls::ClientConfig;
use smallstep_webhook::{RequestBody, Signer, WebhookSecret};
use step_posture_connector::client::{Connection, client_config};
use step_posture_connector::commands::Server;
use step_posture_connector::config::Config;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::pki::{Identity, Pki};

/// The ENRICHING webhook (step-ca vector 01's ID and secret).
pub const ENRICHING_ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
/// Its secret.
pub const ENRICHING_SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";
/// The AUTHORIZING webhook (step-ca vector 02's ID and secret).
pub const AUTHORIZING_ID: &str = "eeff6319-8883-419b-8d9b-0fe227dbe6b4";
/// Its secret.
pub const AUTHORIZING_SECRET: &str =
    "Raje4mOlzC1LOxFk5v/rb8uwlZXPF41B+MFgjOB+Sp3jo9uq73XgQnqFbbFLVKhM0WiLaUDS+vtWQK5ucGev0Q==";

/// The device list every test server starts with, in JSON.
pub const DEVICES_JSON: &str = r#"{"devices":[
 {"identifier":"C02XL0GJJG5J","data":{"user":{"email_address":"alice@example.com","department":"Engineering"},"groups":["Compliant Macs"]}},
 {"identifier":"F4KQ2J9XN7","data":{"user":{"email_address":"bob@example.com"}}},
 {"identifier":"13804722"}
]}"#;

/// The same devices in CSV.
pub const DEVICES_CSV: &str = "Identifier,email_address,department\n\
C02XL0GJJG5J,alice@example.com,Engineering\n\
F4KQ2J9XN7,bob@example.com,Sales\n\
13804722,ops@example.com,\"Operations, Keys\"\n";

/// A running server. Dropping it stops it.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    issuer_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    dir: TempDir,
}

/// Changes a validated configuration before the server starts, e.g. to set limits shorter
/// than the variables allow (they count whole seconds).
pub type Tweak<'a> = &'a dyn Fn(&mut Config);

/// How to start a [`TestServer`] beyond its variables.
#[derive(Default)]
pub struct Options<'a> {
    /// The device file's name (its extension picks the format) and contents; the defaults
    /// are `devices.json` and [`DEVICES_JSON`].
    pub devices: Option<(&'a str, &'a str)>,
    /// Applied to the configuration after validation.
    pub tweak: Option<Tweak<'a>>,
    /// A provider to use instead of the configured one.
    pub provider: Option<Arc<dyn DynPostureProvider>>,
    /// Reload the webhooks from this directory's `.env` (and the `WEBHOOK_*_FILE` files),
    /// as `serve` does from the working directory.
    pub reload_webhooks_from: Option<&'a std::path::Path>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("devices", &self.devices)
            .field("tweak", &self.tweak.is_some())
            .field("provider", &self.provider.as_ref().map(|p| p.name()))
            .field("reload_webhooks_from", &self.reload_webhooks_from)
            .finish()
    }
}

impl TestServer {
    /// Starts a file-provider server with [`DEVICES_JSON`], both webhooks, and `extra`
    /// variables (which override the defaults).
    pub async fn start(pki: &Pki, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_with_devices(pki, "devices.json", DEVICES_JSON, extra).await
    }

    /// Starts a file-provider server with the given device file.
    pub async fn start_with_devices(
        pki: &Pki,
        file_name: &str,
        devices: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_with(
            pki,
            extra,
            Options {
                devices: Some((file_name, devices)),
                ..Options::default()
            },
        )
        .await
    }

    /// Starts a server with `extra` variables and `options`.
    pub async fn start_with(
        pki: &Pki,
        extra: &[(&str, &str)],
        options: Options<'_>,
    ) -> anyhow::Result<Self> {
        let (file_name, devices) = options.devices.unwrap_or(("devices.json", DEVICES_JSON));
        let dir = tempfile::tempdir()?;
        let devices_path = dir.path().join(file_name);
        std::fs::write(&devices_path, devices)?;
        let file_type = if file_name.ends_with(".csv") {
            "csv"
        } else {
            "json"
        };
        let mut vars: HashMap<String, String> = [
            ("PROVIDER", "file".to_owned()),
            ("FILE_PATH", devices_path.display().to_string()),
            ("FILE_TYPE", file_type.to_owned()),
            ("TLS_CERT_PATH", pki.server.cert.display().to_string()),
            ("TLS_KEY_PATH", pki.server.key.display().to_string()),
            ("WEBHOOK_IDS", format!("{ENRICHING_ID},{AUTHORIZING_ID}")),
            (
                "WEBHOOK_SECRETS",
                format!("{ENRICHING_SECRET},{AUTHORIZING_SECRET}"),
            ),
            ("BIND_ADDRESS", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (key, value) in extra {
            vars.insert((*key).to_owned(), (*value).to_owned());
        }
        let mut config = Config::from_vars(&vars)?;
        if let Some(tweak) = options.tweak {
            tweak(&mut config);
        }
        let mut server = match options.provider {
            Some(provider) => Server::bind_with_provider(config, provider).await?,
            None => Server::bind(config).await?,
        };
        if let Some(dir) = options.reload_webhooks_from {
            server = server.reload_webhooks_from(dir);
        }
        let addr = server.local_addr()?;
        let metrics_addr = server.metrics_addr();
        let issuer_addr = server.issuer_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            metrics_addr,
            issuer_addr,
            shutdown: Some(tx),
            task: Some(task),
            dir,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the challenge-issuing listener, when `SCEP_ISSUER_ADDR` is set.
    pub fn issuer_addr(&self) -> Option<SocketAddr> {
        self.issuer_addr
    }

    /// The address of the plain-HTTP metrics and health listener, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The server's temporary directory, which holds its device file.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `https://127.0.0.1:<port><path_and_query>`.
    pub fn url(&self, path_and_query: &str) -> Uri {
        format!("https://{}{path_and_query}", self.addr)
            .parse()
            .unwrap_or_else(|_| Uri::from_static("https://127.0.0.1/"))
    }

    /// The webhook URL.
    pub fn webhook_url(&self) -> Uri {
        self.url("/webhook/device-attest")
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client that trusts the test root and optionally presents a client certificate.
#[derive(Clone, Debug)]
pub struct Client {
    tls: Arc<ClientConfig>,
}

impl Client {
    /// A client without a client certificate.
    pub fn new(pki: &Pki) -> anyhow::Result<Self> {
        Ok(Self {
            tls: client_config(Some(&pki.ca), None)?,
        })
    }

    /// A client presenting `identity`.
    pub fn with_identity(pki: &Pki, identity: &Identity) -> anyhow::Result<Self> {
        Ok(Self {
            tls: client_config(Some(&pki.ca), Some((&identity.cert, &identity.key)))?,
        })
    }

    /// Sends one request on a fresh connection.
    pub async fn send(
        &self,
        method: Method,
        url: &Uri,
        headers: &HeaderMap,
        body: impl Into<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut connection = Connection::open(url, self.tls.clone()).await?;
        Ok(connection.send(method, url, headers, body.into()).await?)
    }

    /// POSTs on a fresh connection.
    pub async fn post(
        &self,
        url: &Uri,
        headers: &HeaderMap,
        body: impl Into<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.send(Method::POST, url, headers, body).await
    }
}

/// An ENRICHING device-attest body for `serial`, with a real CSR whose CN is
/// `common_name` (or the serial), timestamped now.
pub fn enriching_body(serial: &str, common_name: Option<&str>) -> anyhow::Result<RequestBody> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    // rcgen's default subject has a CN of its own; devices send only theirs, or none.
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = common_name.or(Some(serial)).filter(|cn| !cn.is_empty()) {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    let csr = params.serialize_request(&key)?;
    Ok(RequestBody::device_attest_enriching(
        serial,
        csr.der(),
        time::OffsetDateTime::now_utc(),
    )?)
}

/// A signer for the ENRICHING webhook.
pub fn enriching_signer() -> anyhow::Result<Signer> {
    Ok(Signer::new(
        ENRICHING_ID,
        WebhookSecret::from_base64(ENRICHING_SECRET)?,
    )?)
}

/// A signer for the AUTHORIZING webhook.
pub fn authorizing_signer() -> anyhow::Result<Signer> {
    Ok(Signer::new(
        AUTHORIZING_ID,
        WebhookSecret::from_base64(AUTHORIZING_SECRET)?,
    )?)
}

/// Parses a response body as JSON.
pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
}
