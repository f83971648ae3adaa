//! Hot reload of the TLS certificate, key and client CA, of the file provider's device
//! list, and of the webhook IDs and secrets: on SIGHUP, and when the files change.
//!
//! Webhook secrets are re-read from `.env` and the `WEBHOOK_*_FILE` files (variables set in
//! the process environment win, as at start-up, and can't change): rotating a secret is
//! adding the new webhook to the CA and to the files, then removing the old one from both.
//! A new set is all-or-nothing, and a request in flight finishes with the set it started
//! with.
//!
//! A reload builds the new state aside and swaps it in whole, or keeps the current state
//! whole, logs why and counts the failure. Never half-applied: the TLS configuration is
//! one value (certificate, key and client verifier together) in an [`ArcSwap`] read once
//! per new connection, so connections in flight finish on the state they started with;
//! the device list is swapped the same way by [`ReloadableList::reload`].
//!
//! Changes are found by polling each file's [`FileVersion`] (size, modification time and
//! identity) every `RELOAD_INTERVAL`. A changed file is reloaded only once it has stayed
//! the same for `RELOAD_SETTLE` (and for at least one more poll), and the device file must
//! also stay the same while it is read: a file that a writer rewrites in place, pausing on
//! the way, is not loaded half written. SIGHUP waits for the files to settle too, for at
//! most ten times `RELOAD_SETTLE`. A failed reload is not retried until a
//! file changes again, so a broken file is reported once, not at every poll; meanwhile
//! `step_posture_devices_stale_seconds` says how long the device file on disk has differed
//! from the list served. Files behind symbolic links, such as Kubernetes Secret and
//! ConfigMap volumes, are followed.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use posture_core::{FileVersion, ReloadFailure, ReloadableList};
use smallstep_webhook::Verifier;

use crate::config::{Config, TlsSettings};
use crate::metrics::{Metrics, ReloadTarget};
use crate::tls::{TlsError, TlsState, build_server_config};

/// SIGHUP waits at most this many `RELOAD_SETTLE` intervals for changing files to settle;
/// a file still changing then is left to the polling.
pub(crate) const SIGHUP_SETTLE_FACTOR: u32 = 10;

/// Why a reload was refused. The previous state stays in place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The certificate, key or client CA could not be loaded or do not fit together.
    #[error("cannot load the TLS files: {0}")]
    Tls(#[from] TlsError),
    /// The device file could not be loaded.
    #[error("cannot load the device file: {0}")]
    Devices(#[from] ReloadFailure),
    /// The device file would leave fewer than half the devices ([`ReloadFailure::Shrunk`]).
    #[error("{0}; set RELOAD_ALLOW_SHRINK=1 to accept such a change")]
    Shrunk(ReloadFailure),
    /// A file was still changing when SIGHUP stopped waiting for it to settle.
    #[error(
        "{} was still changing after {} s: not reloaded yet (it is once it stays unchanged for RELOAD_SETTLE)",
        path.display(),
        waited.as_secs_f64()
    )]
    Unsettled {
        /// The file.
        path: PathBuf,
        /// How long SIGHUP waited.
        waited: Duration,
    },
    /// The webhook settings could not be read, or do not build a verifier.
    #[error("cannot load the webhook settings: {0}")]
    Webhooks(String),
    /// The blocking task that loads the files did not finish.
    #[error("the reload task failed: {0}")]
    Task(String),
}

impl ReloadError {
    /// Whether the file changed while it was read: not a failure, the reload is retried
    /// once the file settles.
    fn is_deferred(&self) -> bool {
        matches!(self, Self::Devices(ReloadFailure::Changed(_)))
    }
}

/// What one reload of everything came to.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The TLS reload.
    pub tls: Result<(), ReloadError>,
    /// The device list's reload and its device count, or `None` for providers without a
    /// file.
    pub devices: Option<Result<usize, ReloadError>>,
    /// The webhooks' reload and how many there are now, or `None` when they are not
    /// reloaded.
    pub webhooks: Option<Result<usize, ReloadError>>,
}

impl ReloadReport {
    /// Whether everything reloaded.
    pub fn is_ok(&self) -> bool {
        self.tls.is_ok()
            && self.devices.as_ref().is_none_or(Result::is_ok)
            && self.webhooks.as_ref().is_none_or(Result::is_ok)
    }
}

/// Where a reload gets the webhooks from, and where it puts them.
#[derive(Clone)]
pub(crate) struct WebhookSource {
    /// The verifier requests load, swapped whole.
    pub(crate) verifier: Arc<ArcSwap<Verifier>>,
    /// Builds a verifier from the current settings, or says why it can't.
    pub(crate) build: Arc<dyn Fn() -> Result<(Verifier, usize), String> + Send + Sync>,
}

impl std::fmt::Debug for WebhookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSource").finish_non_exhaustive()
    }
}

/// Reloads the server's files into its live state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Reloader {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tls_settings: TlsSettings,
    tls: Arc<ArcSwap<TlsState>>,
    devices: Option<Arc<dyn ReloadableList>>,
    metrics: Arc<Metrics>,
    /// Serialises TLS reloads, so two racing reloads can't store out of order.
    tls_lock: tokio::sync::Mutex<()>,
    /// Set while the device file on disk differs from the list served.
    stale: Mutex<Option<Stale>>,
    /// The webhooks, when they are reloaded too.
    webhooks: OnceLock<WebhookSource>,
    /// The `SCEP_ISSUER_ADDR` listener's TLS state (the same certificate, no client
    /// certificates), rebuilt with the main one.
    issuer_tls: OnceLock<Arc<ArcSwap<TlsState>>>,
}

/// Since when the device file has differed from the list served.
#[derive(Clone, Copy, Debug)]
struct Stale {
    since: Instant,
    /// The same moment by the wall clock, for the log.
    at: SystemTime,
    /// The version served when the difference was first seen: a reload since then starts
    /// the clock again.
    served: Option<FileVersion>,
}

impl Reloader {
    /// A reloader that rebuilds `tls` from `tls_settings` and reloads `devices`, counting
    /// into `metrics`.
    pub(crate) fn new(
        tls_settings: TlsSettings,
        tls: Arc<ArcSwap<TlsState>>,
        devices: Option<Arc<dyn ReloadableList>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                tls_settings,
                tls,
                devices,
                metrics,
                tls_lock: tokio::sync::Mutex::new(()),
                stale: Mutex::new(None),
                webhooks: OnceLock::new(),
                issuer_tls: OnceLock::new(),
            }),
        }
    }

    /// Also reloads the webhooks from `source` (on SIGHUP, and when
    /// [`FileWatch::for_config`]'s webhook files change). Set once.
    #[must_use]
    pub(crate) fn with_webhooks(self, source: WebhookSource) -> Self {
        if self.inner.webhooks.set(source).is_err() {
            tracing::warn!("the webhook source was set twice; keeping the first");
        }
        self
    }

    /// Also rebuilds `tls`, the challenge-issuing listener's state, whenever the TLS files
    /// reload. Set once.
    #[must_use]
    pub(crate) fn with_issuer_tls(self, tls: Arc<ArcSwap<TlsState>>) -> Self {
        if self.inner.issuer_tls.set(tls).is_err() {
            tracing::warn!("the issuer TLS state was set twice; keeping the first");
        }
        self
    }

    /// Builds the webhooks from the current settings and, if they build, swaps them in.
    /// `None` when webhooks are not reloaded.
    pub async fn reload_webhooks(&self) -> Option<Result<usize, ReloadError>> {
        let source = self.inner.webhooks.get()?.clone();
        let build = source.build.clone();
        let result = match tokio::task::spawn_blocking(move || build()).await {
            Ok(Ok((verifier, count))) => {
                source.verifier.store(Arc::new(verifier));
                tracing::info!(webhooks = count, "webhooks reloaded; new requests use them");
                Ok(count)
            }
            Ok(Err(err)) => Err(ReloadError::Webhooks(err)),
            Err(err) => Err(ReloadError::Task(err.to_string())),
        };
        self.count(ReloadTarget::Webhooks, &result);
        Some(result)
    }

    /// Rebuilds the TLS configuration from the certificate, key and client-CA files and,
    /// if it builds, serves it to new connections.
    pub async fn reload_tls(&self) -> Result<(), ReloadError> {
        let _serial = self.inner.tls_lock.lock().await;
        let settings = self.inner.tls_settings.clone();
        let result = match tokio::task::spawn_blocking(move || build_server_config(&settings)).await
        {
            Ok(Ok(state)) => {
                let expired = !state.certificate_is_current();
                tracing::info!(
                    fingerprint = %state.fingerprint,
                    path = %self.inner.tls_settings.cert_path.display(),
                    "TLS certificate reloaded; new connections use it"
                );
                if expired {
                    tracing::warn!(
                        path = %self.inner.tls_settings.cert_path.display(),
                        "the reloaded server certificate has expired"
                    );
                }
                self.inner.tls.store(Arc::new(state));
                if let Some(issuer) = self.inner.issuer_tls.get() {
                    match crate::commands::issuer_tls_state(&self.inner.tls_settings) {
                        Ok(state) => issuer.store(Arc::new(state)),
                        Err(err) => tracing::error!(
                            error = %err,
                            "the challenge-issuing listener keeps its previous certificate"
                        ),
                    }
                }
                Ok(())
            }
            Ok(Err(err)) => Err(ReloadError::Tls(err)),
            Err(err) => Err(ReloadError::Task(err.to_string())),
        };
        self.count(ReloadTarget::Tls, &result);
        result
    }

    /// Reloads the device list at once, or returns `None` when the provider has no file.
    /// The file must not change while it is read; unlike SIGHUP, this does not wait for it
    /// to settle first.
    pub async fn reload_devices(&self) -> Option<Result<usize, ReloadError>> {
        self.reload_devices_at(None).await
    }

    /// Reloads the device list if the file is at `version` (any version for `None`).
    async fn reload_devices_at(
        &self,
        version: Option<FileVersion>,
    ) -> Option<Result<usize, ReloadError>> {
        let file = self.inner.devices.clone()?;
        let path = file.path().map(Path::to_owned);
        let result = match tokio::task::spawn_blocking(move || file.reload(version)).await {
            Ok(Ok(devices)) => {
                tracing::info!(devices, "device list reloaded");
                Ok(devices)
            }
            Ok(Err(err @ ReloadFailure::Shrunk(_))) => Err(ReloadError::Shrunk(err)),
            Ok(Err(err)) => Err(ReloadError::Devices(err)),
            Err(err) => Err(ReloadError::Task(err.to_string())),
        };
        self.count(ReloadTarget::Devices, &result);
        if let Some(path) = path {
            self.note_device_file(FileVersion::of(path).ok());
        }
        Some(result)
    }

    /// Reloads the TLS files and the device list at once. SIGHUP does the same once the
    /// files have settled.
    pub async fn reload_all(&self) -> ReloadReport {
        ReloadReport {
            tls: self.reload_tls().await,
            devices: self.reload_devices().await,
            webhooks: self.reload_webhooks().await,
        }
    }

    fn count<T>(&self, target: ReloadTarget, result: &Result<T, ReloadError>) {
        match result {
            Err(err) if err.is_deferred() => {
                tracing::warn!(
                    %target,
                    error = %err,
                    "the file changed while it was read; not loaded, retried once it stops changing"
                );
            }
            Err(err) => {
                self.inner.metrics.record_reload(target, false);
                tracing::error!(%target, error = %err, "reload failed; keeping the previous state");
            }
            Ok(_) => self.inner.metrics.record_reload(target, true),
        }
    }

    /// Compares the device file on disk (`None`: missing or unreadable) with the list
    /// served, and starts or stops the clock of `step_posture_devices_stale_seconds`.
    fn note_device_file(&self, on_disk: Option<FileVersion>) {
        let Some(file) = &self.inner.devices else {
            return;
        };
        let served = file.version();
        let mut stale = self
            .inner
            .stale
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if on_disk.is_some() && on_disk == served {
            *stale = None;
        } else if stale.is_none_or(|stale| stale.served != served) {
            *stale = Some(Stale {
                since: Instant::now(),
                at: SystemTime::now(),
                served,
            });
        }
        self.inner
            .metrics
            .set_devices_stale_since(stale.map(|stale| stale.since));
    }

    /// Since when the device file on disk has differed from the list served, if it does.
    fn stale_since(&self) -> Option<Stale> {
        *self
            .inner
            .stale
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reloads on `hangup` (see [`listen_for_sighup`]) and, unless `interval` is zero, when
    /// `watch` sees a file change, until `shutdown` completes.
    pub(crate) async fn run(
        self,
        mut watch: FileWatch,
        interval: Duration,
        mut hangup: Option<tokio::signal::unix::Signal>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut ticker = (!interval.is_zero()).then(|| {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        });
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                received = next_signal(&mut hangup) => {
                    if received.is_none() {
                        hangup = None;
                        continue;
                    }
                    tracing::info!(
                        "SIGHUP received: reloading the TLS files and the device list once they stop changing"
                    );
                    // Waiting for a file to settle must not hold up a shutdown.
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = self.on_hangup(&mut watch) => {}
                    }
                }
                () = next_tick(&mut ticker) => {
                    for target in watch.poll() {
                        tracing::info!(%target, "file change detected: reloading");
                        match target {
                            ReloadTarget::Tls => {
                                let _ = self.reload_tls().await;
                            }
                            ReloadTarget::Webhooks => {
                                let _ = self.reload_webhooks().await;
                            }
                            _ => {
                                let _ = self.reload_devices_at(watch.version_of(target)).await;
                            }
                        }
                        watch.mark_applied(target);
                    }
                    self.note_device_file(watch.version_of(ReloadTarget::Devices));
                }
            }
        }
    }

    /// SIGHUP: reloads everything once the files have settled (waiting a bounded time),
    /// then logs a summary of what is served, as `check-config` would.
    async fn on_hangup(&self, watch: &mut FileWatch) {
        let waited = watch.settle.saturating_mul(SIGHUP_SETTLE_FACTOR);
        let deadline = Instant::now() + waited;
        let tls = self
            .when_settled(
                watch,
                ReloadTarget::Tls,
                (deadline, waited),
                async |_| self.reload_tls().await,
                std::convert::identity,
            )
            .await;
        let devices = match self.inner.devices {
            None => None,
            Some(_) => loop {
                let result = self
                    .when_settled(
                        watch,
                        ReloadTarget::Devices,
                        (deadline, waited),
                        async |watch| {
                            let version = watch.version_of(ReloadTarget::Devices);
                            self.reload_devices_at(version).await
                        },
                        Some,
                    )
                    .await;
                match result {
                    Some(Err(err)) if err.is_deferred() && Instant::now() < deadline => {}
                    result => break result,
                }
            },
        };
        self.note_device_file(watch.version_of(ReloadTarget::Devices));
        let webhooks = if self.inner.webhooks.get().is_none() {
            None
        } else {
            self.when_settled(
                watch,
                ReloadTarget::Webhooks,
                (deadline, waited),
                async |_| self.reload_webhooks().await,
                Some,
            )
            .await
        };
        let report = ReloadReport {
            tls,
            devices,
            webhooks,
        };
        let summary = self.summary(&report).join("\n");
        if report.is_ok() {
            tracing::info!("{summary}");
        } else {
            tracing::error!("{summary}");
        }
    }

    /// Waits (until `deadline`, having allowed `waited`) for `target`'s files to settle, then
    /// reloads it with `reload` and marks it applied. Files that do not settle are the
    /// target's failed reload: counted, and returned through `failed`.
    async fn when_settled<T, R>(
        &self,
        watch: &mut FileWatch,
        target: ReloadTarget,
        (deadline, waited): (Instant, Duration),
        reload: impl AsyncFnOnce(&FileWatch) -> R,
        failed: fn(Result<T, ReloadError>) -> R,
    ) -> R {
        match settled(watch, target, deadline, waited).await {
            Ok(()) => {
                let result = reload(watch).await;
                watch.mark_applied(target);
                result
            }
            Err(err) => {
                let result = Err(err);
                self.count(target, &result);
                failed(result)
            }
        }
    }

    /// What a SIGHUP reload came to and what is served now, one line per item: each
    /// error, the certificate, and the device list with when it was loaded and, when the
    /// file on disk differs from it, since when.
    fn summary(&self, report: &ReloadReport) -> Vec<String> {
        let mut lines = vec![if report.is_ok() {
            "reload on SIGHUP: OK".to_owned()
        } else {
            "reload on SIGHUP: FAILED; what failed keeps its previous state".to_owned()
        }];
        let cert = self.inner.tls_settings.cert_path.display();
        let fingerprint = self.inner.tls.load().fingerprint.clone();
        match &report.tls {
            Ok(()) => lines.push(format!("  TLS: reloaded {cert} (SHA-256 {fingerprint})")),
            Err(err) => {
                lines.push(format!("  TLS: not reloaded: {err}"));
                lines.push(format!("  TLS still served: SHA-256 {fingerprint}"));
            }
        }
        match &report.webhooks {
            Some(Ok(count)) => lines.push(format!("  webhooks: reloaded, {count} webhooks")),
            Some(Err(err)) => lines.push(format!(
                "  webhooks: not reloaded, the previous set is still served: {err}"
            )),
            None => {}
        }
        let (Some(file), Some(result)) = (&self.inner.devices, &report.devices) else {
            return lines;
        };
        lines.push(format!("  device file: {}", file.describe()));
        match result {
            Ok(devices) => lines.push(format!("  devices: reloaded, {devices} devices")),
            Err(err) => lines.push(format!("  devices: not reloaded: {err}")),
        }
        let loaded_at = file.loaded_at();
        lines.push(format!(
            "  still serving: {} devices, loaded {} ({} s ago)",
            file.len(),
            timestamp(loaded_at),
            seconds_since(loaded_at)
        ));
        if let Some(stale) = self.stale_since() {
            lines.push(format!(
                "  out of date: the file on disk has differed from the list served since {} ({} s; step_posture_devices_stale_seconds)",
                timestamp(stale.at),
                seconds_since(stale.at)
            ));
        }
        lines
    }
}

/// Waits until every file of `target` has stayed unchanged for the settle interval, or
/// until `deadline`.
async fn settled(
    watch: &mut FileWatch,
    target: ReloadTarget,
    deadline: Instant,
    waited: Duration,
) -> Result<(), ReloadError> {
    // Looking often enough to restart the wait soon after each write.
    let step = (watch.settle / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    loop {
        let now = Instant::now();
        watch.observe(now);
        match watch.unsettled(target, now) {
            None => return Ok(()),
            Some(path) if now >= deadline => {
                return Err(ReloadError::Unsettled {
                    path: path.to_owned(),
                    waited,
                });
            }
            Some(_) => tokio::time::sleep(step.min(deadline - now)).await,
        }
    }
}

/// `at` in RFC 3339, to the second.
fn timestamp(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "(unknown time)".to_owned())
}

fn seconds_since(at: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(at)
        .unwrap_or_default()
        .as_secs()
}

/// Starts listening for SIGHUP. Call it before announcing that the server is up: from then
/// on a SIGHUP is queued for [`Reloader::run`] instead of ending the process.
pub(crate) fn listen_for_sighup() -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGHUP; reload by file changes only");
            None
        }
    }
}

async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[derive(Debug)]
struct Watched {
    target: ReloadTarget,
    path: PathBuf,
    /// The version last loaded (or last tried).
    applied: Option<FileVersion>,
    /// The version the last look saw.
    seen: Option<FileVersion>,
    /// When a look first saw `seen`.
    seen_since: Instant,
}

/// Watches files by polling their [`FileVersion`]s. No threads, no sockets:
/// [`FileWatch::poll`] says which targets changed and have settled.
#[derive(Debug)]
pub(crate) struct FileWatch {
    files: Vec<Watched>,
    settle: Duration,
}

impl FileWatch {
    /// Watches `files`, taking their current versions as loaded. Create it before loading
    /// the files, so that a change made while they load is seen. A change is due at the
    /// first poll that finds it unchanged since the one before; see [`Self::with_settle`].
    pub(crate) fn new(files: impl IntoIterator<Item = (ReloadTarget, PathBuf)>) -> Self {
        let now = Instant::now();
        Self {
            files: files
                .into_iter()
                .map(|(target, path)| {
                    let version = FileVersion::of(&path).ok();
                    Watched {
                        target,
                        path,
                        applied: version,
                        seen: version,
                        seen_since: now,
                    }
                })
                .collect(),
            settle: Duration::ZERO,
        }
    }

    /// Makes a changed file due only once it has also stayed unchanged for `settle`
    /// (`RELOAD_SETTLE`), so that a writer pausing mid-file for less than that is waited
    /// for. SIGHUP waits for it too.
    #[must_use]
    pub(crate) fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The files a server with `config` reloads: the certificate, the key, the client CA
    /// (with mTLS) and the device file (with the file provider); settling for
    /// `RELOAD_SETTLE`.
    pub(crate) fn for_config(config: &Config) -> Self {
        let mut files = vec![
            (ReloadTarget::Tls, config.tls.cert_path.clone()),
            (ReloadTarget::Tls, config.tls.key_path.clone()),
        ];
        if let Some(mtls) = &config.tls.mtls {
            files.push((ReloadTarget::Tls, mtls.ca_path.clone()));
        }
        files.extend(
            config
                .provider
                .watched_files()
                .into_iter()
                .map(|path| (ReloadTarget::Devices, path)),
        );
        files.extend(
            config
                .webhook_files
                .iter()
                .map(|path| (ReloadTarget::Webhooks, path.clone())),
        );
        Self::new(files).with_settle(config.reload_settle)
    }

    /// Also watches `path` for `target`, taking its current version as loaded.
    pub(crate) fn add(&mut self, target: ReloadTarget, path: PathBuf) {
        let version = FileVersion::of(&path).ok();
        self.files.push(Watched {
            target,
            path,
            applied: version,
            seen: version,
            seen_since: Instant::now(),
        });
    }

    /// Looks at every file once and returns the targets to reload: those with a file that
    /// differs from the version last loaded, provided none of the target's files changed
    /// since the previous poll and all have stayed unchanged for the settle interval (a
    /// certificate replaced a moment before its key waits for the key).
    pub(crate) fn poll(&mut self) -> Vec<ReloadTarget> {
        let now = Instant::now();
        let changed = self.observe(now);
        let mut due = Vec::new();
        for file in &self.files {
            if file.seen != file.applied && !due.contains(&file.target) {
                due.push(file.target);
            }
        }
        due.retain(|target| !changed.contains(target) && self.unsettled(*target, now).is_none());
        due
    }

    /// Records that `target` was just reloaded (or tried) from the versions last seen.
    pub(crate) fn mark_applied(&mut self, target: ReloadTarget) {
        for file in self.files.iter_mut().filter(|file| file.target == target) {
            file.applied = file.seen;
        }
    }

    /// Looks at every file once; returns the targets with a file that changed since the
    /// last look.
    fn observe(&mut self, now: Instant) -> Vec<ReloadTarget> {
        let mut changed = Vec::new();
        for file in &mut self.files {
            let version = FileVersion::of(&file.path).ok();
            if version != file.seen {
                file.seen = version;
                file.seen_since = now;
                if !changed.contains(&file.target) {
                    changed.push(file.target);
                }
            }
        }
        changed
    }

    /// A file of `target` that, as of `now`, has not stayed unchanged for the settle
    /// interval.
    fn unsettled(&self, target: ReloadTarget, now: Instant) -> Option<&Path> {
        self.files
            .iter()
            .find(|file| {
                file.target == target
                    && now.saturating_duration_since(file.seen_since) < self.settle
            })
            .map(|file| file.path.as_path())
    }

    /// The version of `target`'s (first) file that the last look saw.
    fn version_of(&self, target: ReloadTarget) -> Option<FileVersion> {
        self.files
            .iter()
            .find(|file| file.target == target)
            .and_then(|file| file.seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    /// The second of two polls: the first sees a change, the second finds it settled.
    fn poll_twice(watch: &mut FileWatch) -> Vec<ReloadTarget> {
        watch.poll();
        watch.poll()
    }

    /// `name` in `dir`, holding `text`, and a watch on it for the device list.
    fn devices_file(dir: &std::path::Path, name: &str, text: &str) -> (PathBuf, FileWatch) {
        let devices = dir.join(name);
        write(&devices, text);
        let watch = FileWatch::new([(ReloadTarget::Devices, devices.clone())]);
        (devices, watch)
    }

    /// `cert.pem` and `key.pem` in `dir`, and a watch on both for TLS.
    fn tls_files(dir: &std::path::Path) -> (PathBuf, PathBuf, FileWatch) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        write(&cert, "cert-1");
        write(&key, "key-1");
        let watch = FileWatch::new([
            (ReloadTarget::Tls, cert.clone()),
            (ReloadTarget::Tls, key.clone()),
        ]);
        (cert, key, watch)
    }

    #[test]
    fn a_change_is_due_once_it_has_settled_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let (devices, mut watch) = devices_file(dir.path(), "devices.json", "one");
        assert!(watch.poll().is_empty(), "nothing changed");

        write(&devices, "two, longer");
        assert!(
            watch.poll().is_empty(),
            "changed since the last poll: not settled yet"
        );
        assert_eq!(watch.poll(), vec![ReloadTarget::Devices]);
        watch.mark_applied(ReloadTarget::Devices);
        assert!(watch.poll().is_empty(), "applied: not due again");
    }

    #[test]
    fn a_failed_reload_is_not_retried_until_the_file_changes_again() {
        let dir = tempfile::tempdir().unwrap();
        let (devices, mut watch) = devices_file(dir.path(), "devices.json", "good");
        write(&devices, "broken!");
        assert_eq!(poll_twice(&mut watch), vec![ReloadTarget::Devices]);
        watch.mark_applied(ReloadTarget::Devices); // the reload failed, but was tried
        assert!(watch.poll().is_empty());
        assert!(watch.poll().is_empty());
        write(&devices, "fixed again");
        assert_eq!(poll_twice(&mut watch), vec![ReloadTarget::Devices]);
    }

    #[test]
    fn a_replaced_file_a_removed_file_and_a_symlink_swap_are_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, mut watch) = tls_files(dir.path());
        // Replaced by rename, same size: a new inode.
        let staged = dir.path().join("cert.pem.new");
        write(&staged, "cert-2");
        std::fs::rename(&staged, &cert).unwrap();
        assert_eq!(poll_twice(&mut watch), vec![ReloadTarget::Tls]);
        watch.mark_applied(ReloadTarget::Tls);

        std::fs::remove_file(&key).unwrap();
        watch.poll();
        assert_eq!(
            watch.poll(),
            vec![ReloadTarget::Tls],
            "a missing file is tried (and fails)"
        );
        watch.mark_applied(ReloadTarget::Tls);

        // Kubernetes style: the watched path is a link whose target is swapped.
        let data1 = dir.path().join("data1");
        let data2 = dir.path().join("data2");
        write(&data1, "ca-1");
        write(&data2, "ca-2");
        let link = dir.path().join("ca.pem");
        std::os::unix::fs::symlink(&data1, &link).unwrap();
        let mut watch = FileWatch::new([(ReloadTarget::Tls, link.clone())]);
        let tmp_link = dir.path().join("ca.pem.tmp");
        std::os::unix::fs::symlink(&data2, &tmp_link).unwrap();
        std::fs::rename(&tmp_link, &link).unwrap();
        assert_eq!(poll_twice(&mut watch), vec![ReloadTarget::Tls]);
    }

    #[test]
    fn a_target_waits_while_any_of_its_files_is_still_changing() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, mut watch) = tls_files(dir.path());
        write(&cert, "cert-2 new");
        watch.poll();
        write(&key, "key-2 new");
        assert!(
            watch.poll().is_empty(),
            "the key changed since the last poll"
        );
        assert_eq!(watch.poll(), vec![ReloadTarget::Tls]);
    }

    #[test]
    fn a_change_is_due_only_once_unchanged_for_the_settle_interval() {
        let dir = tempfile::tempdir().unwrap();
        let settle = Duration::from_millis(500);
        let (devices, watch) = devices_file(dir.path(), "devices.csv", "Identifier\nA1\n");
        let mut watch = watch.with_settle(settle);
        // A writer rewriting the file in place, pausing between writes for less than the
        // settle interval but longer than many polls.
        let started = Instant::now();
        write(&devices, "Identifier\nA1\nA2");
        for _ in 0..2 {
            for _ in 0..5 {
                assert!(watch.poll().is_empty(), "due mid-write");
                std::thread::sleep(Duration::from_millis(30));
            }
            write(&devices, "Identifier\nA1\nA2\nA3\n");
        }
        let last_write = Instant::now();
        while watch.poll().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(5), "never due");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            last_write.elapsed() >= settle,
            "due {:?} after the last write",
            last_write.elapsed()
        );
    }

    #[test]
    fn with_no_settle_interval_a_change_is_due_at_the_next_poll() {
        let dir = tempfile::tempdir().unwrap();
        let (devices, mut watch) = devices_file(dir.path(), "devices.csv", "one");
        write(&devices, "two, longer");
        let now = Instant::now();
        assert_eq!(watch.observe(now), vec![ReloadTarget::Devices]);
        assert_eq!(watch.unsettled(ReloadTarget::Devices, now), None);
        assert_eq!(
            watch.version_of(ReloadTarget::Devices),
            FileVersion::of(&devices).ok()
        );
        assert_eq!(watch.poll(), vec![ReloadTarget::Devices]);
    }
}
