//! Hot reload of the TLS certificate, key and client CA, and of the file provider's device
//! list: on SIGHUP, and when the files change.
//!
//! A reload builds the new state aside and swaps it in whole, or keeps the current state
//! whole, logs why and counts the failure. Never half-applied: the TLS configuration is
//! one value (certificate, key and client verifier together) in an [`ArcSwap`] read once
//! per new connection, so connections in flight finish on the state they started with;
//! the device list is swapped the same way by [`FileProvider::reload`].
//!
//! Changes are found by polling each file's metadata (modification time, size, inode) every
//! `RELOAD_INTERVAL`. A change is applied once the file has stayed the same for one more
//! poll, so a file caught half-written is not loaded; and a failed reload is not retried
//! until a file changes again, so a broken file is reported once, not at every poll. Files
//! behind symbolic links, such as Kubernetes Secret and ConfigMap volumes, are followed.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use posture_file::FileProvider;
use tokio::sync::Mutex;

use crate::config::{Config, ProviderSettings, TlsSettings};
use crate::metrics::{Metrics, ReloadTarget};
use crate::tls::{TlsError, TlsState, build_server_config};

/// Why a reload was refused. The previous state stays in place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The certificate, key or client CA could not be loaded or do not fit together.
    #[error("cannot load the TLS files: {0}")]
    Tls(#[from] TlsError),
    /// The device file could not be loaded.
    #[error("cannot load the device file: {0}")]
    Devices(#[from] posture_file::LoadError),
    /// The blocking task that loads the files did not finish.
    #[error("the reload task failed: {0}")]
    Task(String),
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
}

impl ReloadReport {
    /// Whether everything reloaded.
    pub fn is_ok(&self) -> bool {
        self.tls.is_ok() && self.devices.as_ref().is_none_or(Result::is_ok)
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
    devices: Option<Arc<FileProvider>>,
    metrics: Arc<Metrics>,
    /// Serialises TLS reloads, so two racing reloads can't store out of order.
    tls_lock: Mutex<()>,
}

impl Reloader {
    /// A reloader that rebuilds `tls` from `tls_settings` and reloads `devices`, counting
    /// into `metrics`.
    pub fn new(
        tls_settings: TlsSettings,
        tls: Arc<ArcSwap<TlsState>>,
        devices: Option<Arc<FileProvider>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                tls_settings,
                tls,
                devices,
                metrics,
                tls_lock: Mutex::new(()),
            }),
        }
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
                Ok(())
            }
            Ok(Err(err)) => Err(ReloadError::Tls(err)),
            Err(err) => Err(ReloadError::Task(err.to_string())),
        };
        self.count(ReloadTarget::Tls, &result);
        result
    }

    /// Reloads the device list, or returns `None` when the provider has no file.
    pub async fn reload_devices(&self) -> Option<Result<usize, ReloadError>> {
        let file = self.inner.devices.clone()?;
        let result = match tokio::task::spawn_blocking(move || file.reload()).await {
            Ok(Ok(devices)) => {
                tracing::info!(devices, "device list reloaded");
                Ok(devices)
            }
            Ok(Err(err)) => Err(ReloadError::Devices(err)),
            Err(err) => Err(ReloadError::Task(err.to_string())),
        };
        self.count(ReloadTarget::Devices, &result);
        Some(result)
    }

    /// Reloads the TLS files and the device list, as SIGHUP does.
    pub async fn reload_all(&self) -> ReloadReport {
        ReloadReport {
            tls: self.reload_tls().await,
            devices: self.reload_devices().await,
        }
    }

    async fn reload(&self, target: ReloadTarget) {
        match target {
            ReloadTarget::Tls => {
                let _ = self.reload_tls().await;
            }
            _ => {
                let _ = self.reload_devices().await;
            }
        }
    }

    fn count<T>(&self, target: ReloadTarget, result: &Result<T, ReloadError>) {
        self.inner.metrics.record_reload(target, result.is_ok());
        if let Err(err) = result {
            tracing::error!(%target, error = %err, "reload failed; keeping the previous state");
        }
    }

    /// Reloads on `hangup` (see [`listen_for_sighup`]) and, unless `interval` is zero, when
    /// `watch` sees a file change, until `shutdown` completes.
    pub async fn run(
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
                    tracing::info!("SIGHUP received: reloading the TLS files and the device list");
                    watch.refresh();
                    self.reload_all().await;
                    watch.mark_applied(ReloadTarget::Tls);
                    watch.mark_applied(ReloadTarget::Devices);
                }
                () = next_tick(&mut ticker) => {
                    for target in watch.poll() {
                        tracing::info!(%target, "file change detected: reloading");
                        self.reload(target).await;
                        watch.mark_applied(target);
                    }
                }
            }
        }
    }
}

/// Starts listening for SIGHUP. Call it before announcing that the server is up: from then
/// on a SIGHUP is queued for [`Reloader::run`] instead of ending the process.
pub fn listen_for_sighup() -> Option<tokio::signal::unix::Signal> {
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

/// What identifies one version of a file: a replaced or rewritten file differs in at least
/// one of these.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    // `metadata` follows symbolic links, so a Kubernetes volume's `..data` swap is seen.
    let metadata = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode: metadata.ino(),
        device: metadata.dev(),
    })
}

#[derive(Debug)]
struct Watched {
    target: ReloadTarget,
    path: PathBuf,
    /// The version last loaded (or last tried).
    applied: Option<Stamp>,
    /// The version the last poll saw.
    seen: Option<Stamp>,
}

/// Watches files by polling their metadata. No threads, no sockets: [`FileWatch::poll`]
/// says which targets changed.
#[derive(Debug)]
pub struct FileWatch {
    files: Vec<Watched>,
}

impl FileWatch {
    /// Watches `files`, taking their current versions as loaded. Create it before loading
    /// the files, so that a change made while they load is seen.
    pub fn new(files: impl IntoIterator<Item = (ReloadTarget, PathBuf)>) -> Self {
        Self {
            files: files
                .into_iter()
                .map(|(target, path)| {
                    let now = stamp(&path);
                    Watched {
                        target,
                        path,
                        applied: now,
                        seen: now,
                    }
                })
                .collect(),
        }
    }

    /// The files a server with `config` reloads: the certificate, the key, the client CA
    /// (with mTLS) and the device file (with the file provider).
    pub fn for_config(config: &Config) -> Self {
        let mut files = vec![
            (ReloadTarget::Tls, config.tls.cert_path.clone()),
            (ReloadTarget::Tls, config.tls.key_path.clone()),
        ];
        if let Some(mtls) = &config.tls.mtls {
            files.push((ReloadTarget::Tls, mtls.ca_path.clone()));
        }
        if let ProviderSettings::File { path, .. } = &config.provider {
            files.push((ReloadTarget::Devices, path.clone()));
        }
        Self::new(files)
    }

    /// Looks at every file once and returns the targets to reload: those with a file that
    /// differs from the version last loaded, provided none of the target's files changed
    /// since the previous poll (a certificate replaced a moment before its key waits for
    /// the key).
    pub fn poll(&mut self) -> Vec<ReloadTarget> {
        let mut due = Vec::new();
        let mut unsettled = Vec::new();
        for file in &mut self.files {
            let now = stamp(&file.path);
            if now != file.seen {
                unsettled.push(file.target);
            } else if now != file.applied && !due.contains(&file.target) {
                due.push(file.target);
            }
            file.seen = now;
        }
        due.retain(|target| !unsettled.contains(target));
        due
    }

    /// Re-reads every file's version without judging it (before a SIGHUP reload).
    pub fn refresh(&mut self) {
        for file in &mut self.files {
            file.seen = stamp(&file.path);
        }
    }

    /// Records that `target` was just reloaded (or tried) from the versions last seen.
    pub fn mark_applied(&mut self, target: ReloadTarget) {
        for file in self.files.iter_mut().filter(|file| file.target == target) {
            file.applied = file.seen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_change_is_due_once_it_has_settled_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("devices.json");
        write(&devices, "one");
        let mut watch = FileWatch::new([(ReloadTarget::Devices, devices.clone())]);
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
        let devices = dir.path().join("devices.json");
        write(&devices, "good");
        let mut watch = FileWatch::new([(ReloadTarget::Devices, devices.clone())]);
        write(&devices, "broken!");
        watch.poll();
        assert_eq!(watch.poll(), vec![ReloadTarget::Devices]);
        watch.mark_applied(ReloadTarget::Devices); // the reload failed, but was tried
        assert!(watch.poll().is_empty());
        assert!(watch.poll().is_empty());
        write(&devices, "fixed again");
        watch.poll();
        assert_eq!(watch.poll(), vec![ReloadTarget::Devices]);
    }

    #[test]
    fn a_replaced_file_a_removed_file_and_a_symlink_swap_are_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        write(&cert, "cert-1");
        write(&key, "key-1");
        let mut watch = FileWatch::new([
            (ReloadTarget::Tls, cert.clone()),
            (ReloadTarget::Tls, key.clone()),
        ]);
        // Replaced by rename, same size: a new inode.
        let staged = dir.path().join("cert.pem.new");
        write(&staged, "cert-2");
        std::fs::rename(&staged, &cert).unwrap();
        watch.poll();
        assert_eq!(watch.poll(), vec![ReloadTarget::Tls]);
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
        watch.poll();
        assert_eq!(watch.poll(), vec![ReloadTarget::Tls]);
    }

    #[test]
    fn a_target_waits_while_any_of_its_files_is_still_changing() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        write(&cert, "cert-1");
        write(&key, "key-1");
        let mut watch = FileWatch::new([
            (ReloadTarget::Tls, cert.clone()),
            (ReloadTarget::Tls, key.clone()),
        ]);
        write(&cert, "cert-2 new");
        watch.poll();
        write(&key, "key-2 new");
        assert!(
            watch.poll().is_empty(),
            "the key changed since the last poll"
        );
        assert_eq!(watch.poll(), vec![ReloadTarget::Tls]);
    }
}
