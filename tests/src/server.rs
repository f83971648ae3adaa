//! The real server, started in-process on 127.0.0.1 with a configuration built from
//! environment-style variables, and a client that speaks to it like step-ca.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use posture_core::DynPostureProvider;
use rustls::ClientConfig;
use smallstep_webhook::{RequestBody, Signer, WebhookSecret};
use step_posture_connector::client::{Connection, client_config};
use step_posture_connector::commands::Server;
use step_posture_connector::config::Config;
use step_posture_connector::reload::Reloader;
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

/// The variables every test server starts from: the file provider reading `devices` (a
/// `.csv` name is read as CSV, any other as JSON), TLS from `cert` and `key`, both webhooks,
/// and a free port on 127.0.0.1.
///
/// ```
/// let vars = step_posture_tests::server::default_vars(
///     "/tmp/devices.csv".as_ref(),
///     "cert.pem".as_ref(),
///     "key.pem".as_ref(),
/// );
/// assert_eq!(vars["FILE_TYPE"], "csv");
/// assert_eq!(vars["PORT"], "0");
/// ```
pub fn default_vars(devices: &Path, cert: &Path, key: &Path) -> HashMap<String, String> {
    let file_type = match devices.extension() {
        Some(ext) if ext == "csv" => "csv",
        _ => "json",
    };
    [
        ("PROVIDER", "file".to_owned()),
        ("FILE_PATH", devices.display().to_string()),
        ("FILE_TYPE", file_type.to_owned()),
        ("TLS_CERT_PATH", cert.display().to_string()),
        ("TLS_KEY_PATH", key.display().to_string()),
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
    .collect()
}

/// Sets `extra` over `vars`, replacing what they had.
///
/// ```
/// let mut vars = std::collections::HashMap::from([("PORT".to_owned(), "0".to_owned())]);
/// step_posture_tests::server::set_vars(&mut vars, &[("PORT", "8443"), ("TIMEOUT", "1")]);
/// assert_eq!((vars["PORT"].as_str(), vars["TIMEOUT"].as_str()), ("8443", "1"));
/// ```
pub fn set_vars(vars: &mut HashMap<String, String>, extra: &[(&str, &str)]) {
    for (key, value) in extra {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
}

/// `owned` variables (as the fakes' `env_vars` give them) followed by `extra`, borrowed, as
/// [`TestServer::start`] takes them; a later entry wins.
///
/// ```
/// let owned = vec![("JAMF_URL".to_owned(), "https://127.0.0.1:1".to_owned())];
/// let vars = step_posture_tests::server::with_vars(&owned, &[("PROVIDER", "jamf")]);
/// assert_eq!(vars, [("JAMF_URL", "https://127.0.0.1:1"), ("PROVIDER", "jamf")]);
/// ```
pub fn with_vars<'a>(
    owned: &'a [(String, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

/// A running server. Dropping it stops it.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    issuer_addr: Option<SocketAddr>,
    reloader: Reloader,
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
    pub reload_webhooks_from: Option<&'a Path>,
}

impl<'a> Options<'a> {
    /// Only `tweak`, applied to the configuration after validation.
    ///
    /// ```
    /// let options = step_posture_tests::server::Options::tweak(&|config| {
    ///     config.timeout = std::time::Duration::from_millis(500);
    /// });
    /// assert!(options.tweak.is_some() && options.devices.is_none());
    /// ```
    pub fn tweak(tweak: Tweak<'a>) -> Self {
        Self {
            tweak: Some(tweak),
            ..Self::default()
        }
    }
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
        let mut vars = default_vars(&devices_path, &pki.server.cert, &pki.server.key);
        set_vars(&mut vars, extra);
        let mut config = Config::from_vars(&vars)?;
        if let Some(tweak) = options.tweak {
            tweak(&mut config);
        }
        Self::run(config, dir, options.provider, options.reload_webhooks_from).await
    }

    /// Binds a server for `config` (with `provider` instead of the configured one, if
    /// given, and reloading its webhooks from `reload_webhooks_from`, if given) and runs it
    /// in the background; `dir` is kept for as long as the server runs.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use std::collections::HashMap;
    /// use step_posture_tests::pki::Pki;
    /// use step_posture_tests::server::{DEVICES_JSON, TestServer, default_vars};
    ///
    /// let pki = Pki::generate()?;
    /// let dir = tempfile::tempdir()?;
    /// let devices = dir.path().join("devices.json");
    /// std::fs::write(&devices, DEVICES_JSON)?;
    /// let vars: HashMap<String, String> = default_vars(&devices, &pki.server.cert, &pki.server.key);
    /// let config = step_posture_connector::config::Config::from_vars(&vars)?;
    /// let server = TestServer::run(config, dir, None, None).await?;
    /// assert_ne!(server.addr().port(), 0);
    /// server.stop_cleanly().await?;
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn run(
        config: Config,
        dir: TempDir,
        provider: Option<Arc<dyn DynPostureProvider>>,
        reload_webhooks_from: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut server = match provider {
            Some(provider) => Server::bind_with_provider(config, provider).await?,
            None => Server::bind(config).await?,
        };
        if let Some(dir) = reload_webhooks_from {
            server = server.reload_webhooks_from(dir);
        }
        let addr = server.local_addr()?;
        let metrics_addr = server.metrics_addr();
        let issuer_addr = server.issuer_addr();
        let reloader = server.reloader();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            metrics_addr,
            issuer_addr,
            reloader,
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

    /// Reloads the server's files on demand, as SIGHUP does.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use step_posture_tests::pki::Pki;
    /// use step_posture_tests::server::TestServer;
    ///
    /// let pki = Pki::generate()?;
    /// let server = TestServer::start(&pki, &[]).await?;
    /// let reloaded = server.reloader().reload_devices().await;
    /// assert!(matches!(reloaded, Some(Ok(3))), "{reloaded:?}");
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) {
        let _ = self.stop_cleanly().await;
    }

    /// Stops the server and waits for it to finish; an error if its task panicked.
    pub async fn stop_cleanly(mut self) -> Result<(), tokio::task::JoinError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await,
            None => Ok(()),
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

    /// POSTs on a fresh connection; the status and the answer read as JSON ([`json`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// use step_posture_tests::pki::Pki;
    /// use step_posture_tests::server::{Client, TestServer, signed_enriching};
    ///
    /// let pki = Pki::generate()?;
    /// let server = TestServer::start(&pki, &[]).await?;
    /// let (headers, body) = signed_enriching("C02XL0GJJG5J")?;
    /// let (status, answer) = Client::new(&pki)?.post_json(&server.webhook_url(), &headers, body).await?;
    /// assert_eq!((status.as_u16(), &answer["allow"]), (200, &true.into()));
    /// # Ok::<_, anyhow::Error>(()) })?;
    /// # Ok::<_, anyhow::Error>(())
    /// ```
    pub async fn post_json(
        &self,
        url: &Uri,
        headers: &HeaderMap,
        body: impl Into<Bytes>,
    ) -> anyhow::Result<(StatusCode, serde_json::Value)> {
        let (status, body) = self.post(url, headers, body).await?;
        Ok((status, json(&body)))
    }
}

/// An ENRICHING device-attest request for `serial` as step-ca sends it ([`enriching_body`]
/// signed by [`enriching_signer`]): its headers and body.
///
/// ```
/// let (headers, body) = step_posture_tests::server::signed_enriching("C02XL0GJJG5J")?;
/// assert!(headers.contains_key(smallstep_webhook::SIGNATURE_HEADER));
/// assert!(String::from_utf8_lossy(&body).contains("C02XL0GJJG5J"));
/// # Ok::<_, anyhow::Error>(())
/// ```
pub fn signed_enriching(serial: &str) -> anyhow::Result<(HeaderMap, Vec<u8>)> {
    let signed = enriching_signer()?.sign_body(&enriching_body(serial, None)?);
    Ok((signed.headers, signed.body))
}

/// An ENRICHING device-attest body for `serial`, with a real CSR whose CN is
/// `common_name` (or the serial), timestamped now.
pub fn enriching_body(serial: &str, common_name: Option<&str>) -> anyhow::Result<RequestBody> {
    let csr = device_csr(common_name.unwrap_or(serial))?;
    Ok(RequestBody::device_attest_enriching(
        serial,
        &csr,
        time::OffsetDateTime::now_utc(),
    )?)
}

/// A device's CSR (DER) for a fresh key, with `common_name` as its whole subject (none if
/// it is empty).
///
/// ```
/// let csr = step_posture_tests::server::device_csr("C02XL0GJJG5J")?;
/// assert!(csr.windows(12).any(|w| w == b"C02XL0GJJG5J"));
/// # Ok::<_, anyhow::Error>(())
/// ```
pub fn device_csr(common_name: &str) -> anyhow::Result<Vec<u8>> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    // rcgen's default subject has a CN of its own; devices send only theirs, or none.
    params.distinguished_name = rcgen::DistinguishedName::new();
    if !common_name.is_empty() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
    }
    Ok(params.serialize_request(&key)?.der().to_vec())
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
