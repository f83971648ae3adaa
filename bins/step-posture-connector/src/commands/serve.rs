//! `serve`: [`Server`], bound to its ports and run until shutdown.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use posture_core::DynPostureProvider;
use smallstep_webhook::Verifier;

use super::{app_for, issuer_tls_state, ready_with_tls, verifier_for};
use crate::config::Config;
use crate::error::{OrFail as _, ServerError};
use crate::handler::{App, JAMF_EVENTS_PATH, WEBHOOK_PATH};
use crate::jamf_events::JamfEvents;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::reload::{self, FileWatch, Reloader};
use crate::tls::TlsState;
use crate::{logging, providers, server};

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
pub(super) async fn run_server(
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
        let mut app = app_for(&config, provider.clone(), metrics.clone())?.with_readiness(
            Arc::new(move || tls_for_ready.load().certificate_is_current()),
        );
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
