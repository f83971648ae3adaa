//! The subcommands: `serve` (the default), `demo`, `simulate`, `challenge issue`,
//! `check-config` and `lookup`.
//!
//! Public are those an embedder calls with variables of its own, [`serve`],
//! [`check_config`] and [`lookup`], and [`Server`], the server they start; the others are
//! reached through [`crate::cli::main`].

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::Uri;
use posture_core::{Decision, DeviceMode, DynPostureProvider, LookupRequest};
use smallstep_webhook::{RequestBody, ResponseBody, Signer, Verifier, WebhookSecret};

use crate::client::{Connection, client_config};
use crate::config::{Config, ProviderChoice};
use crate::error::{OrFail as _, ServerError};
use crate::handler::{App, JAMF_EVENTS_PATH, SCEP_CHALLENGE_PATH, SCEP_NOTIFY_PATH, WEBHOOK_PATH};
use crate::jamf_events::JamfEvents;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::reload::{self, FileWatch, Reloader};
use crate::scep::ScepGate;
use crate::throttle::AuthThrottle;
use crate::tls::{TlsState, build_server_config, sha256_hex};
use crate::{logging, pki, providers, server};

/// Builds the configured provider. No network or file access happens before
/// [`DynPostureProvider::check_ready_boxed`], except that the file provider loads its file.
fn build_provider(choice: &ProviderChoice) -> anyhow::Result<Arc<dyn DynPostureProvider>> {
    Ok(providers::build(choice)?.provider)
}

/// The TLS state of the `SCEP_ISSUER_ADDR` listener: the server certificate, and no client
/// certificate asked for (an MDM in the cloud has none).
pub(crate) fn issuer_tls_state(
    settings: &crate::config::TlsSettings,
) -> Result<TlsState, crate::tls::TlsError> {
    let mut settings = settings.clone();
    settings.mtls = None;
    build_server_config(&settings)
}

/// Builds the HMAC verifier from the configured webhooks.
fn build_verifier(config: &Config) -> anyhow::Result<Verifier> {
    verifier_for(
        &config.webhooks,
        config.max_request_age,
        config.max_clock_skew,
    )
}

/// Builds the HMAC verifier for `webhooks`, accepting timestamps up to `max_age` old and
/// `max_future` ahead.
fn verifier_for(
    webhooks: &[crate::config::WebhookEntry],
    max_age: Duration,
    max_future: Duration,
) -> anyhow::Result<Verifier> {
    let mut builder = Verifier::builder().max_age(max_age).max_future(max_future);
    for entry in webhooks {
        builder = builder.webhook_secret(entry.id.clone(), entry.secret.clone());
        if let Some(authorization) = &entry.authorization {
            builder = builder.authorization(entry.id.clone(), authorization.clone());
        }
    }
    builder.build().context("webhook configuration")
}

/// Asks the provider whether it is ready, within the configured timeout, with an error
/// that names the provider.
async fn ensure_ready(provider: &dyn DynPostureProvider, timeout: Duration) -> anyhow::Result<()> {
    match tokio::time::timeout(timeout, provider.check_ready_boxed()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(anyhow::Error::new(err))
            .with_context(|| format!("provider {} is not ready", provider.name())),
        Err(_) => bail!(
            "provider {} did not become ready within TIMEOUT ({} s)",
            provider.name(),
            timeout.as_secs()
        ),
    }
}

/// Checks that `provider` is ready and loads the server's TLS configuration: the first
/// steps of both [`Server::bind`] and [`check_config`], with the same errors.
async fn ready_with_tls(
    provider: &dyn DynPostureProvider,
    config: &Config,
) -> Result<TlsState, ServerError> {
    ensure_ready(provider, config.timeout)
        .await
        .or_fail(ServerError::Provider)?;
    build_server_config(&config.tls)
        .context("TLS configuration")
        .or_fail(ServerError::Tls)
}

/// `serve`: validates the configuration, checks the provider, then serves until SIGTERM
/// or SIGINT. Logging goes to stderr as `LOGGING_LEVEL` and `LOG_FORMAT` say.
///
/// `vars` are the variables to read, usually [`gather_environment`]'s; `providers` are the
/// providers `PROVIDER` may name. To serve a configuration built some other way, or to stop
/// on a signal of your own, use [`Server`].
///
/// [`gather_environment`]: crate::config::gather_environment
pub async fn serve(
    vars: &HashMap<String, String>,
    providers: &Providers,
) -> Result<(), ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    run_server(config, server::shutdown_signal()).await
}

/// Runs a server for a validated configuration until `shutdown` completes.
async fn run_server(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    logging::init(config.logging_level, config.log_format);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    Server::bind(config)
        .await?
        .reload_webhooks_from(Path::new("."))
        .run(shutdown)
        .await;
    Ok(())
}

/// A server that has checked its provider, loaded its certificate and bound its port, and
/// is ready to [`run`](Server::run).
///
/// Use it instead of [`serve`] to build the configuration yourself, to learn the port
/// before serving (`PORT=0` picks a free one), to stop on a signal of your own, or to
/// answer lookups with a provider of your own ([`Server::bind_with_provider`]):
///
/// ```
/// use std::collections::HashMap;
/// use step_posture_connector::commands::Server;
/// use step_posture_connector::config::Config;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let pki = step_posture_connector::pki::generate_demo_pki()?;
/// std::fs::write(dir.path().join("cert.pem"), &pki.cert_pem)?;
/// std::fs::write(dir.path().join("key.pem"), &pki.key_pem)?;
/// std::fs::write(dir.path().join("devices.json"), r#"{"devices":[{"identifier":"C02XL0GJJG5J"}]}"#)?;
/// let path = |name: &str| dir.path().join(name).display().to_string();
/// let secret = smallstep_webhook::WebhookSecret::generate()?.to_base64();
/// let vars: HashMap<String, String> = [
///     ("PROVIDER", "file".to_owned()),
///     ("FILE_PATH", path("devices.json")),
///     ("FILE_TYPE", "json".to_owned()),
///     ("TLS_CERT_PATH", path("cert.pem")),
///     ("TLS_KEY_PATH", path("key.pem")),
///     ("WEBHOOK_IDS", "d09736a5-780b-476e-abdb-e2e4c0439cf9".to_owned()),
///     ("WEBHOOK_SECRETS", secret),
///     ("BIND_ADDRESS", "127.0.0.1".to_owned()),
///     ("PORT", "0".to_owned()),
/// ]
/// .into_iter()
/// .map(|(name, value)| (name.to_owned(), value))
/// .collect();
///
/// let server = Server::bind(Config::from_vars(&vars)?).await?;
/// let port = server.local_addr()?.port();
/// assert_ne!(port, 0);
/// // Serves until the future completes (here at once), then drains requests in flight.
/// server.run(async {}).await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    /// `SCEP_ISSUER_ADDR`: the challenge-issuing routes' own listener and its TLS state
    /// (the server certificate, never asking for a client certificate).
    issuer: Option<(tokio::net::TcpListener, Arc<ArcSwap<TlsState>>)>,
    tls: Arc<ArcSwap<TlsState>>,
    app: Arc<App>,
    metrics: Arc<Metrics>,
    reloader: Reloader,
    watch: FileWatch,
    hangup: Option<tokio::signal::unix::Signal>,
    reload_interval: Duration,
    limits: crate::config::Limits,
    drain: Duration,
    /// `MAX_REQUEST_AGE` and `MAX_CLOCK_SKEW`, for verifiers built on a reload.
    request_window: (Duration, Duration),
    /// Whether client certificates are pinned to step-ca's names, which mTLS-only webhooks
    /// need.
    mtls_pinned: bool,
}

impl Server {
    /// Builds the provider and checks it is ready, loads TLS, and binds the listening
    /// sockets (the webhook's and, with `METRICS_ADDR`, the metrics'). `PORT=0` picks a
    /// free port; see [`Server::local_addr`].
    pub async fn bind(config: Config) -> Result<Self, ServerError> {
        // Stamp the files before loading them, so a change made meanwhile is reloaded.
        let watch = FileWatch::for_config(&config);
        let parts = providers::build(&config.provider).or_fail(ServerError::Provider)?;
        Self::bind_parts(config, parts, watch).await
    }

    /// As [`Server::bind`], with `provider` answering lookups instead of the one
    /// `config.provider` describes (which is not built). For embedding a provider of your
    /// own, and for tests of provider faults. TLS files are still watched and reloaded.
    pub async fn bind_with_provider(
        config: Config,
        provider: Arc<dyn DynPostureProvider>,
    ) -> Result<Self, ServerError> {
        let watch = FileWatch::for_config(&config);
        Self::bind_parts(config, providers::ProviderParts::custom(provider), watch).await
    }

    async fn bind_parts(
        config: Config,
        parts: providers::ProviderParts,
        watch: FileWatch,
    ) -> Result<Self, ServerError> {
        let provider = parts.provider.clone();
        let tls_state = ready_with_tls(provider.as_ref(), &config).await?;
        if !tls_state.certificate_is_current() {
            tracing::warn!(path = %config.tls.cert_path.display(), "the server certificate has expired");
        }
        let tls = Arc::new(ArcSwap::from_pointee(tls_state));
        let mut metrics = Metrics::new(
            config.webhooks.iter().map(|w| w.id.as_str()),
            provider.name(),
        )
        .with_tls(tls.clone());
        metrics = metrics.with_provider_counters(parts.counters.clone());
        if let Some(list) = &parts.reloadable {
            metrics = metrics.with_devices(list.clone());
        }
        let metrics = Arc::new(metrics);
        let tls_for_ready = tls.clone();
        let verifier = build_verifier(&config).or_fail(ServerError::Other)?;
        let mut app = App::new(verifier, provider.clone())
            .with_timeout(config.timeout)
            .with_max_body_bytes(config.limits.max_body_bytes)
            .with_metrics(metrics.clone())
            .with_readiness(Arc::new(move || {
                tls_for_ready.load().certificate_is_current()
            }));
        if let Some(scep) = &config.scep {
            let gate = ScepGate::new(scep)
                .context("the Intune SCEP validation client")
                .or_fail(ServerError::Other)?;
            app = app.with_scep(Arc::new(gate));
        }
        if let Some(secret) = &config.jamf_webhook_secret {
            // The configuration allows the secret only with a syncing Jamf provider; a
            // custom provider (bind_with_provider) has no refresher, and no route.
            match parts.refreshers.iter().find(|(name, _)| name == "jamf") {
                Some((_, refresher)) => {
                    app = app.with_jamf_events(Arc::new(JamfEvents::new(
                        secret.expose(),
                        refresher.clone(),
                    )));
                    tracing::info!(
                        path = JAMF_EVENTS_PATH,
                        "serving Jamf Pro change notifications"
                    );
                }
                None => tracing::warn!(
                    "JAMF_WEBHOOK_SECRET is set but the Jamf provider doesn't sync; {} is not \
                     served",
                    JAMF_EVENTS_PATH
                ),
            }
        }
        if let Some(throttle) = config.auth_throttle {
            app = app.with_auth_throttle(AuthThrottle::new(throttle.limit, throttle.window));
        }
        let reloader = Reloader::new(
            config.tls.clone(),
            tls.clone(),
            parts.reloadable,
            metrics.clone(),
        );
        let listener = server::bind(config.listen).await?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                server::bind(addr)
                    .await
                    .context("METRICS_ADDR: cannot serve metrics")
                    .or_fail(ServerError::Network)?,
            ),
            None => None,
        };
        let issuer = match config.scep.as_ref().and_then(|scep| scep.issuer_addr) {
            Some(addr) => {
                let state = issuer_tls_state(&config.tls)
                    .context("SCEP_ISSUER_ADDR: TLS")
                    .or_fail(ServerError::Tls)?;
                let listener = server::bind(addr)
                    .await
                    .context("SCEP_ISSUER_ADDR: cannot serve the challenge-issuing routes")
                    .or_fail(ServerError::Network)?;
                tracing::info!(
                    address = %listener.local_addr().unwrap_or(addr),
                    "serving the SCEP challenge-issuing routes on their own listener"
                );
                Some((listener, Arc::new(ArcSwap::from_pointee(state))))
            }
            None => None,
        };
        let reloader = match &issuer {
            Some((_, tls)) => reloader.with_issuer_tls(tls.clone()),
            None => reloader,
        };
        // Before announcing the server: a SIGHUP from now on reloads instead of ending it.
        let hangup = reload::listen_for_sighup();
        let address = listener.local_addr().unwrap_or(config.listen);
        tracing::info!(
            %address,
            provider = provider.name(),
            webhooks = config.webhooks.len(),
            mtls = config.tls.mtls.is_some(),
            version = env!("CARGO_PKG_VERSION"),
            "listening on https://{address}{WEBHOOK_PATH}"
        );
        if let Some(metrics_address) = metrics_listener.as_ref().and_then(|l| l.local_addr().ok()) {
            tracing::info!(%metrics_address, "serving metrics on http://{metrics_address}/metrics");
        }
        Ok(Self {
            listener,
            metrics_listener,
            issuer,
            tls,
            app: Arc::new(app),
            metrics,
            reloader,
            watch,
            hangup,
            reload_interval: config.reload_interval,
            limits: config.limits,
            drain: config.timeout + Duration::from_secs(1),
            request_window: (config.max_request_age, config.max_clock_skew),
            mtls_pinned: config
                .tls
                .mtls
                .as_ref()
                .is_some_and(|mtls| !mtls.allowed_names.is_empty()),
        })
    }

    /// Also reloads the webhook IDs and secrets on SIGHUP and when `dir/.env` or a
    /// `WEBHOOK_*_FILE` file changes, from `dir/.env` and the process environment (which
    /// wins, as at start-up), so a secret is rotated without a restart. `serve` does this
    /// with the working directory.
    #[must_use]
    pub fn reload_webhooks_from(mut self, dir: &Path) -> Self {
        let dir = dir.to_owned();
        self.watch
            .add(crate::metrics::ReloadTarget::Webhooks, dir.join(".env"));
        let (max_age, max_future) = self.request_window;
        let mtls_pinned = self.mtls_pinned;
        let build = move || -> Result<(Verifier, usize), String> {
            let vars = crate::config::gather_environment(&dir).map_err(|err| err.to_string())?;
            let entries = Config::webhooks_from_vars(&vars).map_err(|err| err.to_string())?;
            if !mtls_pinned && entries.iter().any(|entry| entry.secret.is_empty()) {
                return Err(
                    "WEBHOOK_MTLS_ONLY_IDS needs ENABLE_MTLS=1 and MTLS_ALLOWED_NAMES, \
                            which are read at start-up"
                        .to_owned(),
                );
            }
            let count = entries.len();
            verifier_for(&entries, max_age, max_future)
                .map(|verifier| (verifier, count))
                .map_err(|err| format!("{err:#}"))
        };
        self.reloader = self.reloader.with_webhooks(reload::WebhookSource {
            verifier: self.app.verifier().clone(),
            build: Arc::new(build),
        });
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the challenge-issuing listener, when `SCEP_ISSUER_ADDR` is set.
    pub fn issuer_addr(&self) -> Option<std::net::SocketAddr> {
        self.issuer
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// The address of the metrics listener, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// The live TLS state; storing a new one affects new connections.
    pub fn tls(&self) -> Arc<ArcSwap<TlsState>> {
        self.tls.clone()
    }

    /// The reloader SIGHUP and file changes use; call it to reload on demand.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish. Reloads on
    /// SIGHUP and on file changes meanwhile, and serves metrics if configured.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        // Dropping the sender tells the reloader and the metrics listener to stop.
        let (stop, stopped) = tokio::sync::watch::channel(());
        let stop_signal = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.changed().await;
            }
        };
        let reload = tokio::spawn(self.reloader.run(
            self.watch,
            self.reload_interval,
            self.hangup,
            stop_signal(),
        ));
        let issuer = self.issuer.map(|(listener, tls)| {
            tokio::spawn(server::serve(
                listener,
                tls,
                Arc::new(self.app.issuer_only()),
                self.limits,
                stop_signal(),
                self.drain,
            ))
        });
        let refusals = tokio::spawn({
            let app = self.app.clone();
            let stop = stop_signal();
            async move { app.refusals().run(stop).await }
        });
        let app = self.app.clone();
        let metrics = self.metrics_listener.map(|listener| {
            tokio::spawn(crate::metrics::serve(
                listener,
                self.metrics,
                self.app.clone(),
                self.limits,
                stop_signal(),
            ))
        });
        server::serve(
            self.listener,
            self.tls,
            self.app,
            self.limits,
            async move {
                shutdown.await;
                drop(stop);
            },
            self.drain,
        )
        .await;
        let _ = reload.await;
        let _ = refusals.await;
        // Requests finished while draining are counted too: no refused request goes
        // unlogged and uncounted.
        app.refusals().flush(std::time::Instant::now(), true);
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        if let Some(issuer) = issuer {
            let _ = issuer.await;
        }
    }
}

/// What `simulate` sends.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) struct SimulateOptions {
    /// The webhook URL, e.g. `https://127.0.0.1:9443/webhook/device-attest?mode=computer`.
    pub(crate) url: String,
    /// The webhook ID step-ca would send.
    pub(crate) webhook_id: String,
    /// The webhook secret, base64 as step-ca prints it.
    pub(crate) secret: String,
    /// The permanent identifier (serial number) to attest.
    pub(crate) serial: String,
    /// The certificate's common name, when it should differ from the serial (to test the
    /// mismatch rule).
    pub(crate) common_name: Option<String>,
    /// Send an AUTHORIZING body instead of an ENRICHING one.
    pub(crate) authorizing: bool,
    /// CA bundle to trust instead of the Mozilla roots.
    pub(crate) ca_cert: Option<PathBuf>,
    /// Client certificate and key for mTLS.
    pub(crate) client_identity: Option<(PathBuf, PathBuf)>,
    /// Play a SCEP provisioner instead of ACME: a SCEPCHALLENGE with this challenge, or a
    /// NOTIFYING body.
    pub(crate) scep: Option<ScepSimulation>,
}

/// What `simulate` sends as a SCEP provisioner.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) enum ScepSimulation {
    /// A SCEPCHALLENGE body: a fresh CSR whose subject carries the serial (serialNumber
    /// attribute) and the common name, with this challenge password.
    Challenge(String),
    /// A NOTIFYING body for a certificate issued to such a CSR.
    NotifySuccess,
    /// A NOTIFYING body for a failed issuance.
    NotifyFailure,
}

impl SimulateOptions {
    /// Options with the required fields; the rest default to an enriching call with no CA
    /// override and no client certificate.
    pub(crate) fn new(
        url: impl Into<String>,
        webhook_id: impl Into<String>,
        secret: impl Into<String>,
        serial: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            webhook_id: webhook_id.into(),
            secret: secret.into(),
            serial: serial.into(),
            common_name: None,
            authorizing: false,
            ca_cert: None,
            client_identity: None,
            scep: None,
        }
    }
}

/// The answer `simulate` got.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) struct SimulateResult {
    /// HTTP status.
    pub(crate) status: http::StatusCode,
    /// The parsed response, when the body was a webhook response.
    pub(crate) response: Option<ResponseBody>,
    /// The raw body.
    pub(crate) body: Bytes,
}

impl SimulateResult {
    /// Whether the webhook allowed the certificate.
    pub(crate) fn allowed(&self) -> bool {
        self.status == http::StatusCode::OK && self.response.as_ref().is_some_and(|r| r.allow)
    }

    /// A human summary, as `simulate` prints it.
    pub(crate) fn summary(&self) -> String {
        match &self.response {
            Some(response) if self.status == http::StatusCode::OK && response.allow => {
                let data = response
                    .data
                    .as_ref()
                    .map(|d| pretty(d.get()))
                    .unwrap_or_else(|| "(no data)".to_owned());
                format!("ALLOW (HTTP 200)\ndata: {data}")
            }
            Some(response) if self.status == http::StatusCode::OK => match &response.error {
                Some(error) => format!(
                    "DENY (HTTP 200)\ncode: {}\nmessage: {}",
                    error.code, error.message
                ),
                None => "DENY (HTTP 200, no reason given)".to_owned(),
            },
            _ => format!(
                "REFUSED (HTTP {}): {}",
                self.status.as_u16(),
                String::from_utf8_lossy(&self.body)
            ),
        }
    }
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_owned())
}

/// `simulate`: builds the body step-ca would build for a device-attest order (with a real
/// CSR whose CN is the serial), signs it like step-ca, sends it and returns the answer.
pub(crate) async fn simulate(options: &SimulateOptions) -> anyhow::Result<SimulateResult> {
    // Shown in errors without any password it may carry.
    let shown = posture_http::redact_userinfo(&options.url);
    let url: Uri = options
        .url
        .parse()
        .with_context(|| format!("--url {shown:?} is not a URL"))?;
    if url
        .authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
    {
        bail!("--url {shown:?} must not contain a user name or password: the webhook takes none");
    }
    let secret = WebhookSecret::from_base64(&options.secret)
        .context("--secret is not a valid webhook secret (the base64 text step-ca printed)")?;
    let common_name = options.common_name.as_deref().unwrap_or(&options.serial);
    let now = time::OffsetDateTime::now_utc();
    let body = if let Some(scep) = &options.scep {
        scep_body(scep, &options.serial, common_name, now)?
    } else if options.authorizing {
        let mut body = RequestBody::device_attest_authorizing(&options.serial, now);
        if options.common_name.is_some()
            && let Some(template) = body
                .x509_certificate
                .as_mut()
                .and_then(|cert| cert.template.as_mut())
        {
            template.subject = smallstep_webhook::Name::with_common_name(common_name);
        }
        body
    } else {
        let (key, params) = device_csr_params(common_name)?;
        let csr = params.serialize_request(&key).context("building the CSR")?;
        RequestBody::device_attest_enriching(&options.serial, csr.der(), now)
            .context("building the request body")?
    };
    let signed = Signer::new(options.webhook_id.clone(), secret)
        .context("--webhook-id cannot be sent in a header")?
        .sign_body(&body);
    let tls = client_config(
        options.ca_cert.as_deref(),
        options
            .client_identity
            .as_ref()
            .map(|(cert, key)| (cert.as_path(), key.as_path())),
    )?;
    let mut connection = Connection::open(&url, tls).await?;
    let (status, body) = connection
        .post(&url, &signed.headers, Bytes::from(signed.body))
        .await?;
    let response = serde_json::from_slice::<ResponseBody>(&body).ok();
    Ok(SimulateResult {
        status,
        response,
        body,
    })
}

/// A fresh device key, and certificate-request parameters whose subject is only
/// `common_name` (rcgen's default subject has a CN of its own).
fn device_csr_params(
    common_name: &str,
) -> anyhow::Result<(rcgen::KeyPair, rcgen::CertificateParams)> {
    let key = rcgen::KeyPair::generate().context("generating a device key")?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    Ok((key, params))
}

/// A SCEP body as step-ca would send it for a device with serial `serial`.
fn scep_body(
    scep: &ScepSimulation,
    serial: &str,
    common_name: &str,
    now: time::OffsetDateTime,
) -> anyhow::Result<RequestBody> {
    let (key, mut params) = device_csr_params(common_name)?;
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]),
        rcgen::DnValue::PrintableString(
            serial
                .try_into()
                .context("the serial is not a PrintableString")?,
        ),
    );
    let transaction_id = format!("simulate-{}", now.unix_timestamp_nanos());
    Ok(match scep {
        ScepSimulation::Challenge(challenge) => {
            let csr = params
                .serialize_request_with_attributes(&key, vec![challenge_password(challenge)])
                .context("building the CSR")?;
            RequestBody::scep_challenge(csr.der(), challenge.as_str(), transaction_id, "scep", now)
                .context("building the request body")?
        }
        ScepSimulation::NotifySuccess => {
            let csr = params.serialize_request(&key).context("building the CSR")?;
            let issuer_key = rcgen::KeyPair::generate()?;
            let mut issuer = rcgen::CertificateParams::new(Vec::<String>::new())?;
            issuer.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let issuer = rcgen::CertifiedIssuer::self_signed(issuer, issuer_key)?;
            let certificate = params.signed_by(&key, &issuer)?;
            RequestBody::scep_notify_success(csr.der(), certificate.der(), transaction_id, now)
                .context("building the request body")?
        }
        ScepSimulation::NotifyFailure => {
            let csr = params.serialize_request(&key).context("building the CSR")?;
            RequestBody::scep_notify_failure(csr.der(), transaction_id, "simulated failure", now)
                .context("building the request body")?
        }
    })
}

/// The PKCS #9 challengePassword attribute (1.2.840.113549.1.9.7) with `challenge` as a
/// PrintableString when it fits one, else a UTF8String.
fn challenge_password(challenge: &str) -> rcgen::Attribute {
    let tag = if crate::scep::challenge::is_printable_string(challenge) {
        0x13
    } else {
        0x0c
    };
    let mut value = vec![tag];
    let bytes = challenge.as_bytes();
    if bytes.len() < 128 {
        value.push(u8::try_from(bytes.len()).unwrap_or(0));
    } else {
        value.push(0x81);
        value.push(u8::try_from(bytes.len().min(255)).unwrap_or(255));
    }
    value.extend_from_slice(&bytes[..bytes.len().min(255)]);
    rcgen::Attribute {
        oid: &[1, 2, 840, 113_549, 1, 9, 7],
        values: value,
    }
}

/// `challenge issue`: a signed SCEP challenge from the configured `SCEP_CHALLENGE_KEY`,
/// bound to `identifier` when given, valid for `ttl` (at most `SCEP_CHALLENGE_TTL`).
pub(crate) fn issue_challenge(
    vars: &HashMap<String, String>,
    providers: &Providers,
    identifier: Option<&str>,
    ttl: Option<Duration>,
) -> Result<String, ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    challenge_from(&config, identifier, ttl).or_fail(ServerError::Other)
}

fn challenge_from(
    config: &Config,
    identifier: Option<&str>,
    ttl: Option<Duration>,
) -> anyhow::Result<String> {
    let gate = config
        .scep
        .as_ref()
        .map(ScepGate::new)
        .context("SCEP_CHALLENGE is not set: configure the SCEP gate with signed challenges")?
        .context("the Intune SCEP validation client")?;
    let signed = gate
        .signed()
        .context("SCEP_CHALLENGE does not list signed, so there is no SCEP_CHALLENGE_KEY")?;
    let challenge = match ttl {
        Some(ttl) => signed.issue_for(identifier, ttl),
        None => signed.issue(identifier),
    };
    challenge.context("issuing the challenge")
}

/// `check-config`: validates the configuration, loads the TLS files, bootstraps the
/// provider, and returns a summary with secrets redacted, as the command prints it.
///
/// ```
/// use std::collections::HashMap;
/// use step_posture_connector::ServerError;
/// use step_posture_connector::commands::check_config;
/// use step_posture_connector::providers::Providers;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let vars: HashMap<String, String> = [("PROVIDER".to_owned(), "nosuch".to_owned())].into();
/// let err = check_config(&vars, &Providers::builtin()).await.unwrap_err();
/// assert!(matches!(err, ServerError::Config(_)));
/// assert!(err.to_string().contains("PROVIDER"));
/// # });
/// ```
pub async fn check_config(
    vars: &HashMap<String, String>,
    providers: &Providers,
) -> Result<String, ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    // The same steps, in the same order and with the same errors, as `Server::bind`.
    let provider = build_provider(&config.provider).or_fail(ServerError::Provider)?;
    let tls = ready_with_tls(provider.as_ref(), &config).await?;
    build_verifier(&config).or_fail(ServerError::Other)?;
    let mut report = provider.report();
    if let Some(intune) = config.scep.as_ref().and_then(|s| s.intune.as_deref()) {
        let line = check_intune_scep(intune, config.timeout).await;
        report.push(line.or_fail(ServerError::Network)?);
    }
    Ok(summary(&config, &tls, &report))
}

fn summary(config: &Config, tls: &TlsState, report: &[String]) -> String {
    let mut lines = vec!["configuration OK".to_owned()];
    let choice = &config.provider;
    if let [only] = choice.members.as_slice() {
        lines.push(format!("provider: {} (ready)", only.name));
    } else {
        lines.push(format!(
            "providers: {} with POLICY={} (ready)",
            choice.names().join(","),
            choice.policy
        ));
    }
    for member in &choice.members {
        lines.extend(wrap_settings(&member.declared));
        lines.extend(
            member
                .setup
                .summary()
                .into_iter()
                .map(|line| format!("  {line}")),
        );
    }
    for line in report {
        lines.push(format!("  {line}"));
    }
    lines.push(format!("listen: {}", config.listen));
    lines.push(format!(
        "TLS certificate: {} (SHA-256 {}){}",
        config.tls.cert_path.display(),
        tls.fingerprint,
        if tls.certificate_is_current() {
            ""
        } else {
            " EXPIRED"
        }
    ));
    match &config.tls.mtls {
        None => lines.push("mTLS: off".to_owned()),
        Some(mtls) => lines.push(format!(
            "mTLS: on, CA {}, allowed names {:?}, serverAuth EKU {}",
            mtls.ca_path.display(),
            mtls.allowed_names,
            if mtls.require_server_auth {
                "required"
            } else {
                "not required"
            }
        )),
    }
    for entry in &config.webhooks {
        let authorization = match &entry.authorization {
            Some(auth) if auth.is_bearer() => ", bearer token required",
            Some(_) => ", basic credentials required",
            None => "",
        };
        lines.push(format!(
            "webhook: {} (secret set, not shown{authorization})",
            entry.id
        ));
    }
    lines.push(scep_summary(config.scep.as_ref()));
    if config.jamf_webhook_secret.is_some() {
        lines.push(format!(
            "Jamf change notifications: POST {JAMF_EVENTS_PATH} on the webhook port \
             (JAMF_WEBHOOK_SECRET as Basic password or bearer token)"
        ));
    }
    lines.push(format!("TIMEOUT: {} s", config.timeout.as_secs()));
    lines.push(match config.metrics_addr {
        Some(addr) => format!("metrics: http://{addr}/metrics (also /livez and /readyz)"),
        None => "metrics: off (set METRICS_ADDR to serve them)".to_owned(),
    });
    lines.push(match config.auth_throttle {
        Some(throttle) => format!(
            "failed authentications: {} per client address per {} s, then answered 429",
            throttle.limit,
            throttle.window.as_secs()
        ),
        None => "failed authentications: not throttled (AUTH_FAILURE_LIMIT=0)".to_owned(),
    });
    lines.push(if config.reload_interval.is_zero() {
        "reload: on SIGHUP only (RELOAD_INTERVAL=0)".to_owned()
    } else {
        format!(
            "reload: on SIGHUP and when the files change (checked every {} s)",
            config.reload_interval.as_secs()
        )
    });
    lines.push(format!(
        "  a changed file is loaded once unchanged for RELOAD_SETTLE={} s (SIGHUP waits up to {} s)",
        config.reload_settle.as_secs(),
        (config.reload_settle * reload::SIGHUP_SETTLE_FACTOR).as_secs()
    ));
    for warning in config.warnings() {
        lines.push(format!("warning: {warning}"));
    }
    lines.join("\n")
}

/// Obtains both tokens (Graph and the Intune API) and resolves the service URL, as the
/// first SCEPCHALLENGE would.
async fn check_intune_scep(
    config: &posture_intune::scep::IntuneScepConfig,
    timeout: Duration,
) -> anyhow::Result<String> {
    let client = posture_intune::scep::IntuneScepClient::new(config)
        .context("the Intune SCEP validation client")?;
    // Two tokens and a discovery: three calls in a row.
    let url = tokio::time::timeout(timeout * 3, client.check_ready())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "Intune SCEP validation: no answer within {} s",
                (timeout * 3).as_secs()
            )
        })?
        .context("Intune SCEP validation (SCEP_CHALLENGE=intune)")?;
    Ok(format!(
        "SCEP intune: tokens for Microsoft Graph and {} obtained; ScepRequestValidationFEService at {url}{}",
        config.scope(),
        if config.service_url().is_some() {
            " (INTUNE_SCEP_SERVICE_URL)"
        } else {
            " (discovered)"
        }
    ))
}

fn scep_summary(scep: Option<&crate::config::ScepSettings>) -> String {
    let Some(scep) = scep else {
        return format!(
            "SCEP: off (set SCEP_CHALLENGE to serve {SCEP_CHALLENGE_PATH} and {SCEP_NOTIFY_PATH})"
        );
    };
    let join = |items: Vec<&str>| items.join(",");
    let mut line = format!(
        "SCEP: SCEP_CHALLENGE={} SCEP_IDENTIFIER={} SCEP_POSTURE={}",
        join(scep.methods.iter().map(|m| m.as_str()).collect()),
        join(scep.identifiers.iter().map(|i| i.as_str()).collect()),
        u8::from(scep.posture)
    );
    if scep.static_challenge.is_some() {
        line.push_str(" static challenge set (not shown)");
    }
    if !scep.challenge_keys.is_empty() {
        line.push_str(&format!(
            " SCEP_CHALLENGE_TTL={} s, {} signing key(s) (not shown)",
            scep.challenge_ttl.as_secs(),
            scep.challenge_keys.len()
        ));
    }
    if let Some(intune) = scep.intune.as_deref() {
        line.push_str(&format!(
            " INTUNE_SCEP_SCOPE={} INTUNE_SCEP_SERVICE_URL={}",
            intune.scope(),
            intune
                .service_url()
                .map_or("(discovered through Microsoft Graph)", |u| u.as_str())
        ));
    }
    match &scep.issuer_credentials {
        Some(credentials) => line.push_str(&format!(
            "; issuing routes {} and {} for user {:?}",
            crate::scep::issuer::JAMF_PATH,
            crate::scep::issuer::NDES_PATH,
            credentials.username
        )),
        None => line.push_str("; issuing routes off (SCEP_ISSUER_BASIC_AUTH unset)"),
    }
    line
}

/// `NAME=value` entries on indented lines of about 100 characters.
fn wrap_settings(entries: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for entry in entries {
        match lines.last_mut() {
            Some(line) if line.len() + entry.len() < 100 => {
                line.push(' ');
                line.push_str(entry);
            }
            _ => lines.push(format!("  {entry}")),
        }
    }
    lines
}

/// `lookup`: asks the configured provider about one identifier, exactly as a webhook
/// request would, and returns the decision. A provider that fails or does not answer
/// within `TIMEOUT` is a [`ServerError::Provider`].
pub async fn lookup(
    vars: &HashMap<String, String>,
    providers: &Providers,
    identifier: &str,
    mode: DeviceMode,
) -> Result<Decision, ServerError> {
    let config = Config::from_vars_with(vars, providers)?;
    let provider = build_provider(&config.provider).or_fail(ServerError::Provider)?;
    ensure_ready(provider.as_ref(), config.timeout)
        .await
        .or_fail(ServerError::Provider)?;
    let request = LookupRequest::new(identifier).with_mode(mode);
    let decision = tokio::time::timeout(config.timeout, provider.lookup_boxed(&request))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within TIMEOUT ({} s)", config.timeout.as_secs()))
        .and_then(|answer| {
            answer.map_err(|err| {
                anyhow::Error::new(err).context(format!("provider {} failed", provider.name()))
            })
        })
        .or_fail(ServerError::Provider)?;
    Ok(decision)
}

/// The example device list the demo serves.
pub(crate) const DEMO_DEVICES: &str = include_str!("../demo/devices.json");

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

/// `N` bytes from the system's secure random generator.
fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut bytes = [0_u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(bytes)
}

/// A random version-4 UUID, as step-ca generates for webhook IDs.
// Public but hidden: the load harness (bins/step-posture-load) makes its webhook IDs with it.
#[doc(hidden)]
pub fn random_uuid() -> Result<String, ServerError> {
    Ok(posture_http::guid_v4(
        random_bytes::<16>().or_fail(ServerError::Other)?,
    ))
}
