//! Inventory sync: a provider pulls its MDM's whole inventory in pages, decides every device
//! once, and answers lookups from the result, so that a fleet asking for certificates all at
//! once costs the MDM a few pages rather than one request a device.
//!
//! A provider that can list its devices implements [`SyncSource`], or gives its two halves
//! to [`sync_with`] as functions: how to pull every record (`pull`, page by page, through
//! the same client, rate limit and `Retry-After` handling as its live lookups) and how to
//! decide a device from its records (`decide`, the function its live lookup uses, so both
//! give the same answer). [`spawn`] then runs [`sync_now`] (or [`sync_with`]) at start
//! and on the interval; each run builds a new [`posture_index::Index`] of encoded decisions
//! and swaps it in whole, so a failed or partial sync leaves the previous index untouched,
//! and two indexes exist only while the new one is swapped in.
//!
//! Lookups ask [`Inventory::lookup`] first. A device the index doesn't list (enrolled since
//! the last sync), and every device while the index is older than the maximum age, falls
//! back to the provider's live lookup, so a new enrolment is never denied for staleness.
//!
//! Between syncs, a provider told that one device changed (a change notification from the
//! MDM) reads that device again and stores the fresher decision with [`Inventory::refresh`]
//! (or, for a device the MDM no longer lists, [`Inventory::unlist`]). These few entries sit
//! in a bounded overlay ([`MAX_REFRESHED`]) that lookups consult before the index; the next
//! sync to swap an index in drops the entries recorded before it started, since it read
//! those devices afterwards, and keeps the ones recorded while it pulled.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use posture_core::{Decision, DenyCode, ProviderError};
//! use posture_http::sync::{self, FromIndex, Inventory, Pull, SyncSettings, SyncSource};
//!
//! /// A source whose one page lists two devices.
//! struct Listed(Inventory);
//!
//! impl SyncSource for Listed {
//!     type Record = bool; // managed?
//!
//!     fn inventory(&self) -> &Inventory {
//!         &self.0
//!     }
//!
//!     async fn pull(&self, pull: &mut Pull<bool>) -> Result<(), ProviderError> {
//!         let page = pull
//!             .page("GET /devices", || async { Ok(vec![("A1", true), ("B2", false)]) })
//!             .await?;
//!         for (serial, managed) in page {
//!             pull.add(serial, managed);
//!         }
//!         Ok(())
//!     }
//!
//!     fn decide(&self, serial: &str, records: Vec<bool>) -> Decision {
//!         if records.contains(&true) {
//!             Decision::allow()
//!         } else {
//!             Decision::deny(DenyCode::NOT_MANAGED, format!("{serial} is not managed"))
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ProviderError> {
//! let settings = SyncSettings::new("EXAMPLE_SYNC_INTERVAL", "EXAMPLE_SYNC_MAX_AGE")
//!     .every(Duration::from_secs(3600));
//! let source = Listed(Inventory::new("Example", settings));
//! let report = sync::sync_now(&source).await?;
//! assert_eq!((report.devices, report.calls), (2, 1));
//! assert!(matches!(source.0.lookup("A1"), FromIndex::Decided(d) if d.is_allowed()));
//! assert!(matches!(source.0.lookup("C3"), FromIndex::NotListed)); // look it up live
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use posture_core::{
    BuildError, BuiltProvider, CounterSample, Decision, DenyCode, DynPostureProvider, Enrichment,
    ProviderCounters, ProviderError,
};
use posture_index::{Builder, Index, Layout};
use posture_settings::{ConfigProblem, Reader, Setting};
use tokio::time::Instant;

/// The longest `<PROVIDER>_SYNC_INTERVAL`: a week.
pub const MAX_INTERVAL_SECS: u64 = 7 * 86_400;

/// The shortest `<PROVIDER>_SYNC_INTERVAL` other than 0 (off): five minutes. A whole
/// inventory every few seconds would spend an hourly quota on pages no decision needed.
pub const MIN_INTERVAL_SECS: u64 = 300;

/// The longest `<PROVIDER>_SYNC_MAX_AGE`: 30 days.
pub const MAX_AGE_SECS: u64 = 30 * 86_400;

/// How often one page is tried: a transient error is retried twice, after its
/// `Retry-After` (at most [`MAX_PAGE_WAIT`]) or a doubling pause from a second.
pub const PAGE_ATTEMPTS: u32 = 3;

/// The longest wait before a page is tried again.
pub const MAX_PAGE_WAIT: Duration = Duration::from_secs(60);

/// The longest wait before a failed sync is tried again (sooner than the interval, so a
/// short outage at sync time doesn't leave the index a whole interval older).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The most devices refreshed between two syncs ([`Inventory::refresh`]); past it a refresh
/// is refused (logged and counted), and the device keeps its synced decision until the next
/// sync, which empties the overlay.
pub const MAX_REFRESHED: usize = 10_000;

/// The declaration of a provider's `<PROVIDER>_SYNC_INTERVAL` variable.
///
/// ```
/// use posture_settings::Setting;
/// const KANDJI_SYNC_INTERVAL: Setting = posture_http::sync::interval_setting("KANDJI_SYNC_INTERVAL");
/// assert_eq!(KANDJI_SYNC_INTERVAL.name, "KANDJI_SYNC_INTERVAL");
/// ```
pub const fn interval_setting(name: &'static str) -> Setting {
    Setting::seconds(
        name,
        0,
        0,
        MAX_INTERVAL_SECS,
        "pull the whole inventory this often and answer from it (0: look each device up)",
    )
    .expecting("0 (off) or a whole number of seconds from 300 to 604800")
}

/// The declaration of a provider's `<PROVIDER>_SYNC_MAX_AGE` variable.
pub const fn max_age_setting(name: &'static str) -> Setting {
    Setting::seconds(
        name,
        0,
        0,
        MAX_AGE_SECS,
        "the oldest synced inventory answered from (0: 3 × the interval)",
    )
    .expecting("0 (3 × the interval) or whole seconds, at least the interval, up to 2592000")
}

/// When a provider syncs its inventory, and how old an index it answers from.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct SyncSettings {
    interval: Duration,
    max_age: Option<Duration>,
    interval_name: &'static str,
    max_age_name: &'static str,
}

impl SyncSettings {
    /// Sync off, with the names of the provider's two variables (for messages).
    pub const fn new(interval_name: &'static str, max_age_name: &'static str) -> Self {
        Self {
            interval: Duration::ZERO,
            max_age: None,
            interval_name,
            max_age_name,
        }
    }

    /// Reads both variables as declared by [`interval_setting`] and [`max_age_setting`],
    /// with their cross-checks: an interval other than 0 is at least
    /// [`MIN_INTERVAL_SECS`], and a maximum age other than 0 at least the interval.
    pub fn read(reader: &mut Reader<'_>, interval: &Setting, max_age: &Setting) -> Self {
        let mut settings = Self::new(interval.name, max_age.name);
        let every = reader.seconds(interval).unwrap_or_default();
        let oldest = reader.seconds(max_age).unwrap_or_default();
        if let Err(problem) = settings.clone().every(every).checked() {
            reader.problem(problem);
            return settings;
        }
        settings = settings.every(every);
        if !oldest.is_zero() {
            settings = settings.max_age(oldest);
        }
        if let Err(problem) = settings.clone().checked() {
            reader.problem(problem);
            return Self::new(interval.name, max_age.name);
        }
        settings
    }

    /// Sync every `interval` (zero: off).
    #[must_use]
    pub const fn every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Answer from an index at most `max_age` old (the default is 3 × the interval).
    #[must_use]
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Checks the values against the variables' rules, for settings built in code.
    pub fn checked(self) -> Result<Self, ConfigProblem> {
        let secs = self.interval.as_secs();
        if secs != 0 && !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&secs) {
            return Err(ConfigProblem::invalid(
                self.interval_name,
                &secs.to_string(),
                format!(
                    "0 (off) or a whole number of seconds from {MIN_INTERVAL_SECS} to \
                     {MAX_INTERVAL_SECS}"
                ),
            ));
        }
        if let Some(max_age) = self.max_age {
            let age = max_age.as_secs();
            if self.is_on() && !(secs..=MAX_AGE_SECS).contains(&age) {
                return Err(ConfigProblem::invalid(
                    self.max_age_name,
                    &age.to_string(),
                    format!(
                        "0 (3 × the interval) or at least {}={secs} and at most {MAX_AGE_SECS} \
                         seconds: an index is only replaced every interval",
                        self.interval_name
                    ),
                ));
            }
        }
        Ok(self)
    }

    /// These values under a provider's two variables, checked as [`Self::read`] checks
    /// them: for a `with_sync` setter given settings built in code, so that its errors and
    /// messages name the provider's variables.
    ///
    /// ```
    /// use std::time::Duration;
    /// use posture_http::sync::{SyncSettings, interval_setting, max_age_setting};
    /// const INTERVAL: posture_settings::Setting = interval_setting("ACME_SYNC_INTERVAL");
    /// const MAX_AGE: posture_settings::Setting = max_age_setting("ACME_SYNC_MAX_AGE");
    /// let hourly = SyncSettings::new("", "").every(Duration::from_secs(3600));
    /// let named = hourly.checked_as(&INTERVAL, &MAX_AGE).unwrap();
    /// assert!(named.summary().contains("every 3600 s"));
    /// let err = SyncSettings::new("", "").every(Duration::from_secs(5)).checked_as(&INTERVAL, &MAX_AGE);
    /// assert!(err.unwrap_err().to_string().starts_with("ACME_SYNC_INTERVAL=\"5\""));
    /// ```
    pub fn checked_as(self, interval: &Setting, max_age: &Setting) -> Result<Self, ConfigProblem> {
        Self {
            interval_name: interval.name,
            max_age_name: max_age.name,
            ..self
        }
        .checked()
    }

    /// Whether the provider syncs.
    pub const fn is_on(&self) -> bool {
        !self.interval.is_zero()
    }

    /// How often it syncs (zero: never).
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// The oldest index it answers from: as set, or 3 × the interval.
    pub fn oldest(&self) -> Duration {
        self.max_age.unwrap_or(self.interval.saturating_mul(3))
    }

    /// The `check-config` line: off, or the interval and the maximum age.
    pub fn summary(&self) -> String {
        if self.is_on() {
            format!(
                "inventory sync: every {} s, answering from an index at most {} s old; devices \
                 not in it are looked up live",
                self.interval.as_secs(),
                self.oldest().as_secs()
            )
        } else {
            format!(
                "inventory sync: off ({}=0), every device is looked up live",
                self.interval_name
            )
        }
    }
}

/// What the synced index says about a device.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FromIndex {
    /// The index holds the device: this is the decision a live lookup would give.
    Decided(Decision),
    /// A fresh index doesn't hold the device: look it up live (it may have enrolled since).
    NotListed,
    /// No index younger than the maximum age: look it up live.
    Stale,
    /// Sync is off.
    Off,
}

/// How ready the synced index is, for a provider's readiness check.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Readiness {
    /// An index younger than the maximum age answers: the provider is ready without asking
    /// the MDM.
    Fresh,
    /// Sync is off, or the first sync is still within the maximum age of start-up: the
    /// provider's live readiness check decides.
    Live,
}

/// One finished sync.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Devices in the new index.
    pub devices: usize,
    /// Requests sent to the MDM, retries included.
    pub calls: u64,
    /// How long the sync took.
    pub duration: Duration,
    /// Heap bytes of the new index.
    pub index_bytes: usize,
}

/// A swapped-in index and how it was made.
struct Snapshot {
    index: Index,
    finished: Instant,
    finished_at: SystemTime,
    report: SyncReport,
}

/// One device read again since the last sync: its decision (`None`: the MDM no longer lists
/// it, so it is looked up live), and when it was recorded, in [`Overlay::next`] order.
#[derive(Debug)]
struct Refreshed {
    decision: Option<Decision>,
    seq: u64,
}

/// The devices refreshed since the last sync, consulted before the index.
#[derive(Debug, Default)]
struct Overlay {
    entries: HashMap<String, Refreshed>,
    /// The sequence number of the next entry.
    next: u64,
}

/// A provider's synced inventory: the current index, its age and the sync counters.
pub struct Inventory {
    service: &'static str,
    settings: SyncSettings,
    current: ArcSwapOption<Snapshot>,
    created: Instant,
    /// One sync at a time: a second one waits for the first, then runs itself.
    running: tokio::sync::Mutex<()>,
    syncs_ok: AtomicU64,
    syncs_failed: AtomicU64,
    answered: AtomicU64,
    not_listed: AtomicU64,
    stale: AtomicU64,
    last_failure: Mutex<Option<String>>,
    /// Devices refreshed since the last sync ([`Inventory::refresh`]).
    overlay: Mutex<Overlay>,
    /// How many entries the overlay holds, read without its lock by every lookup.
    overlay_len: AtomicUsize,
    refreshed: AtomicU64,
    refused: AtomicU64,
}

impl Inventory {
    /// An empty inventory of `service` (the MDM's name, for messages).
    pub fn new(service: &'static str, settings: SyncSettings) -> Self {
        Self {
            service,
            settings,
            current: ArcSwapOption::empty(),
            created: Instant::now(),
            running: tokio::sync::Mutex::new(()),
            syncs_ok: AtomicU64::new(0),
            syncs_failed: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            not_listed: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            last_failure: Mutex::new(None),
            overlay: Mutex::new(Overlay::default()),
            overlay_len: AtomicUsize::new(0),
            refreshed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// What the index says about the device with exactly this key.
    pub fn lookup(&self, key: &str) -> FromIndex {
        self.lookup_first([key])
    }

    /// What the index says about the device under the first of `keys` it holds, counted as
    /// one lookup: for a provider that indexes one device under several keys (one per
    /// platform, say) and whose live lookup tries them in this order.
    pub fn lookup_first<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> FromIndex {
        if !self.settings.is_on() {
            return FromIndex::Off;
        }
        let guard = self.current.load();
        let Some(snapshot) = guard.as_deref().filter(|s| self.is_fresh(s)) else {
            self.stale.fetch_add(1, Ordering::Relaxed);
            return FromIndex::Stale;
        };
        let overlay = (self.overlay_len.load(Ordering::Acquire) > 0).then(|| lock(&self.overlay));
        let decision = keys.into_iter().find_map(|key| {
            match overlay.as_ref().and_then(|o| o.entries.get(key)) {
                // Read again since the sync: fresher than the index.
                Some(refreshed) => refreshed.decision.clone(),
                None => snapshot
                    .index
                    .find(key)
                    .and_then(|device| snapshot.index.data(device))
                    .and_then(decode),
            }
        });
        drop(overlay);
        match decision {
            Some(decision) => {
                self.answered.fetch_add(1, Ordering::Relaxed);
                FromIndex::Decided(decision)
            }
            None => {
                self.not_listed.fetch_add(1, Ordering::Relaxed);
                FromIndex::NotListed
            }
        }
    }

    /// Stores `decision` for the device `key` (normalised as [`Pull::add`] keys are), read
    /// from the MDM just now, so that lookups answer it instead of the index's until the
    /// next sync that starts after this call. False, with a warning, when sync is off or
    /// [`MAX_REFRESHED`] other devices are already refreshed since the last sync.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use posture_core::{Decision, DenyCode};
    /// use posture_http::sync::{FromIndex, Inventory, SyncSettings};
    /// let hourly = SyncSettings::new("X_SYNC_INTERVAL", "X_SYNC_MAX_AGE").every(Duration::from_secs(3600));
    /// let inventory = Inventory::new("Example", hourly);
    /// let denied = Decision::deny(DenyCode::NOT_COMPLIANT, "left the group");
    /// assert!(inventory.refresh("A1", denied));
    /// // Answered once an index is in (none yet here, so the lookup goes live).
    /// assert_eq!(inventory.lookup("A1"), FromIndex::Stale);
    /// ```
    pub fn refresh(&self, key: &str, decision: Decision) -> bool {
        self.record(key, Some(decision))
    }

    /// Records that the MDM no longer lists the device `key`, so lookups of it go live
    /// ([`FromIndex::NotListed`]) rather than to the index, until the next sync that starts
    /// after this call. False as for [`Self::refresh`].
    pub fn unlist(&self, key: &str) -> bool {
        self.record(key, None)
    }

    fn record(&self, key: &str, decision: Option<Decision>) -> bool {
        if !self.settings.is_on() {
            return false;
        }
        let mut overlay = lock(&self.overlay);
        if overlay.entries.len() >= MAX_REFRESHED && !overlay.entries.contains_key(key) {
            drop(overlay);
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                service = self.service,
                limit = MAX_REFRESHED,
                "{MAX_REFRESHED} devices were already refreshed since the last inventory sync; \
                 this one keeps its synced decision until the next sync"
            );
            return false;
        }
        let seq = overlay.next;
        overlay.next += 1;
        overlay
            .entries
            .insert(key.to_owned(), Refreshed { decision, seq });
        self.overlay_len
            .store(overlay.entries.len(), Ordering::Release);
        drop(overlay);
        self.refreshed.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// How many devices are refreshed since the last sync.
    pub fn refreshed_devices(&self) -> usize {
        self.overlay_len.load(Ordering::Acquire)
    }

    /// Whether the provider may report ready from the index alone; an error once sync is
    /// on and no sync has succeeded within the maximum age (of the last success, or of
    /// start-up), naming the variable and the last failure.
    pub fn readiness(&self) -> Result<Readiness, ProviderError> {
        if !self.settings.is_on() {
            return Ok(Readiness::Live);
        }
        let guard = self.current.load();
        if guard.as_deref().is_some_and(|s| self.is_fresh(s)) {
            return Ok(Readiness::Fresh);
        }
        let since = guard
            .as_deref()
            .map_or(self.created, |snapshot| snapshot.finished);
        if since.elapsed() <= self.settings.oldest() {
            return Ok(Readiness::Live);
        }
        let failure = lock(&self.last_failure)
            .clone()
            .map_or_else(String::new, |failure| {
                format!("; the last attempt failed: {failure}")
            });
        Err(ProviderError::transient(format!(
            "no successful {} inventory sync in the last {} s ({}={}, {}={}){failure}",
            self.service,
            since.elapsed().as_secs(),
            self.settings.interval_name,
            self.settings.interval.as_secs(),
            self.settings.max_age_name,
            self.settings.oldest().as_secs(),
        )))
    }

    /// The `check-config` and `doctor` lines while sync is on: the settings, the index and
    /// the last failure. None while it is off ([`SyncSettings::summary`] says so).
    pub fn report(&self) -> Vec<String> {
        if !self.settings.is_on() {
            return Vec::new();
        }
        let mut lines = vec![self.settings.summary()];
        match self.current.load().as_deref() {
            Some(snapshot) => lines.push(format!(
                "inventory index: {} devices ({} KiB), synced {} s ago in {} ms with {} requests",
                snapshot.report.devices,
                snapshot.report.index_bytes / 1024,
                snapshot.finished.elapsed().as_secs(),
                snapshot.report.duration.as_millis(),
                snapshot.report.calls
            )),
            None => lines.push("inventory index: none yet".to_owned()),
        }
        if let Some(failure) = lock(&self.last_failure).as_deref() {
            lines.push(format!(
                "inventory sync: the last attempt failed: {failure}"
            ));
        }
        lines
    }

    /// When the current index was swapped in, by the wall clock.
    pub fn synced_at(&self) -> Option<SystemTime> {
        self.current.load().as_deref().map(|s| s.finished_at)
    }

    /// The counters and gauges for metrics (none while sync is off).
    pub fn samples(&self) -> Vec<CounterSample> {
        if !self.settings.is_on() {
            return Vec::new();
        }
        let lookups = (
            "provider_inventory_lookups",
            "Lookups asked of the synced inventory, by outcome: answered from the index, not \
             listed or stale (both then looked up live).",
        );
        let syncs = (
            "provider_inventory_syncs",
            "Inventory syncs, by result; a failed one leaves the previous index in place.",
        );
        let refreshes = (
            "provider_inventory_refreshes",
            "Devices read again between syncs (a change notification), by result: stored, or \
             refused past the overlay's bound.",
        );
        let counters = [
            (syncs, "result", "ok", &self.syncs_ok),
            (syncs, "result", "failed", &self.syncs_failed),
            (lookups, "outcome", "answered", &self.answered),
            (lookups, "outcome", "not_listed", &self.not_listed),
            (lookups, "outcome", "stale", &self.stale),
            (refreshes, "result", "stored", &self.refreshed),
            (refreshes, "result", "refused", &self.refused),
        ];
        let mut samples: Vec<CounterSample> = counters
            .into_iter()
            .map(|(metric, label, value, count)| {
                CounterSample::new(metric, count.load(Ordering::Relaxed)).label(label, value)
            })
            .collect();
        samples.push(CounterSample::gauge(
            (
                "provider_inventory_refreshed_devices",
                "Devices read again since the last inventory sync, answered before the index.",
            ),
            to_u64(self.refreshed_devices()),
        ));
        if let Some(snapshot) = self.current.load().as_deref() {
            let report = snapshot.report;
            samples.extend([
                CounterSample::gauge(
                    (
                        "provider_inventory_devices",
                        "Devices in the synced inventory index.",
                    ),
                    to_u64(report.devices),
                ),
                CounterSample::gauge(
                    (
                        "provider_inventory_index_bytes",
                        "Heap bytes of the synced inventory index.",
                    ),
                    to_u64(report.index_bytes),
                ),
                CounterSample::gauge(
                    (
                        "provider_inventory_age_seconds",
                        "Seconds since the synced inventory index was swapped in.",
                    ),
                    snapshot.finished.elapsed().as_secs(),
                ),
                CounterSample::gauge(
                    (
                        "provider_inventory_last_sync_milliseconds",
                        "How long the last successful inventory sync took.",
                    ),
                    u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
                ),
                CounterSample::gauge(
                    (
                        "provider_inventory_last_sync_requests",
                        "Requests the last successful inventory sync sent, retries included.",
                    ),
                    report.calls,
                ),
            ]);
        }
        samples
    }

    /// The sequence number the next refresh gets: a sync started now drops the entries below
    /// it when it swaps its index in.
    fn overlay_mark(&self) -> u64 {
        lock(&self.overlay).next
    }

    /// Swaps `snapshot` in and drops the refreshes recorded before `mark` (when the sync
    /// started), under the overlay's lock, so no lookup sees the new index with them.
    fn swap_in(&self, snapshot: Snapshot, mark: u64) {
        let mut overlay = lock(&self.overlay);
        self.current.store(Some(Arc::new(snapshot)));
        overlay.entries.retain(|_, refreshed| refreshed.seq >= mark);
        self.overlay_len
            .store(overlay.entries.len(), Ordering::Release);
    }

    fn is_fresh(&self, snapshot: &Snapshot) -> bool {
        snapshot.finished.elapsed() <= self.settings.oldest()
    }

    fn failed(&self, err: &ProviderError) {
        self.syncs_failed.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_failure) = Some(err.to_string());
        tracing::warn!(
            service = self.service,
            error = %err,
            "inventory sync failed; the previous index stays in place"
        );
    }
}

impl fmt::Debug for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inventory")
            .field("service", &self.service)
            .field("settings", &self.settings)
            .field(
                "devices",
                &self.current.load().as_deref().map(|s| s.report.devices),
            )
            .finish_non_exhaustive()
    }
}

/// The records a sync has pulled so far, grouped by device key, and the requests it sent.
#[derive(Debug)]
pub struct Pull<R> {
    records: HashMap<String, Vec<R>>,
    calls: u64,
}

impl<R> Pull<R> {
    fn new() -> Self {
        Self {
            records: HashMap::new(),
            calls: 0,
        }
    }

    /// Adds one record of the device `key` (normalised as the live lookup normalises it). A
    /// device may have several records, as in the MDM; `decide` gets them all.
    pub fn add(&mut self, key: impl Into<String>, record: R) {
        self.records.entry(key.into()).or_default().push(record);
    }

    /// Devices pulled so far.
    pub fn devices(&self) -> usize {
        self.records.len()
    }

    /// Requests sent so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Sends one page request with `send`, counting it, and tries again on a transient
    /// error up to [`PAGE_ATTEMPTS`] times, after the error's `Retry-After` (at most
    /// [`MAX_PAGE_WAIT`]) or a pause doubling from a second. A permanent error, or the last
    /// transient one, ends the sync.
    pub async fn page<T, F, Fut>(&mut self, what: &str, mut send: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut pause = Duration::from_secs(1);
        let mut attempt = 1;
        loop {
            self.calls += 1;
            match send().await {
                Ok(page) => return Ok(page),
                Err(err) if err.is_transient() && attempt < PAGE_ATTEMPTS => {
                    let wait = err.retry_after().unwrap_or(pause).min(MAX_PAGE_WAIT);
                    tracing::debug!(page = what, error = %err, wait_ms = wait.as_millis(), "retrying a sync page");
                    tokio::time::sleep(wait).await;
                    pause = pause.saturating_mul(2);
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// A provider whose MDM can list every device in pages.
///
/// A provider whose record type is private can't name it as the `Record` of a public
/// type's impl; it implements the trait on a private adapter that also holds what one sync
/// gathers for `decide` (such as `struct Synced<'a> { provider: &'a MyProvider, groups: … }`),
/// or, with nothing to gather, calls [`sync_with`] with its own methods instead. Either way
/// it offers `sync_inventory(&self)`, which [`spawn`] then runs.
pub trait SyncSource: Send + Sync {
    /// What one page item becomes: the fields `decide` needs.
    type Record: Send;

    /// The provider's synced inventory.
    fn inventory(&self) -> &Inventory;

    /// Pulls every device into `pull`, page by page, within the MDM's limits. An error
    /// (after [`Pull::page`]'s retries) abandons this sync; the previous index stays.
    fn pull(
        &self,
        pull: &mut Pull<Self::Record>,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// The decision for device `key` from all its records: the same function the live
    /// lookup uses on the records it finds.
    fn decide(&self, key: &str, records: Vec<Self::Record>) -> Decision;
}

/// Runs one sync of `source` now (after any sync in progress) and swaps its index in.
pub async fn sync_now<S: SyncSource>(source: &S) -> Result<SyncReport, ProviderError> {
    let pull = async |pull: &mut Pull<S::Record>| source.pull(pull).await;
    sync_with(source.inventory(), pull, |key, records| {
        source.decide(key, records)
    })
    .await
}

/// Runs one sync into `inventory` now (after any sync in progress) and swaps its index in:
/// [`sync_now`] with the two halves of a [`SyncSource`] given as functions, so that a
/// provider whose record type is private needs no adapter type. `pull` fills the [`Pull`]
/// as [`SyncSource::pull`] does; `decide` then decides each device from its records, as
/// [`SyncSource::decide`] does.
///
/// ```
/// use std::time::Duration;
/// use posture_core::{Decision, DenyCode, ProviderError};
/// use posture_http::sync::{self, FromIndex, Inventory, Pull, SyncReport, SyncSettings};
///
/// /// What the MDM lists of one device (private: no public trait names it).
/// struct Record {
///     managed: bool,
/// }
///
/// pub struct MyProvider {
///     inventory: Inventory,
/// }
///
/// impl MyProvider {
///     pub async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
///         let pull = async |pull: &mut Pull<Record>| self.pull_inventory(pull).await;
///         sync::sync_with(&self.inventory, pull, |serial, records| self.decide(serial, &records))
///             .await
///     }
///
///     async fn pull_inventory(&self, pull: &mut Pull<Record>) -> Result<(), ProviderError> {
///         let page = pull
///             .page("GET /devices", || async { Ok([("A1", true), ("B2", false)]) })
///             .await?;
///         for (serial, managed) in page {
///             pull.add(serial, Record { managed });
///         }
///         Ok(())
///     }
///
///     fn decide(&self, serial: &str, records: &[Record]) -> Decision {
///         if records.iter().any(|record| record.managed) {
///             Decision::allow()
///         } else {
///             Decision::deny(DenyCode::NOT_MANAGED, format!("{serial} is not managed"))
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ProviderError> {
/// let settings = SyncSettings::new("MY_SYNC_INTERVAL", "MY_SYNC_MAX_AGE")
///     .every(Duration::from_secs(3600));
/// let provider = MyProvider { inventory: Inventory::new("My MDM", settings) };
/// let report = provider.sync_inventory().await?;
/// assert_eq!((report.devices, report.calls), (2, 1));
/// assert!(matches!(provider.inventory.lookup("B2"), FromIndex::Decided(d) if !d.is_allowed()));
/// # Ok(())
/// # }
/// ```
pub async fn sync_with<R, P, D>(
    inventory: &Inventory,
    pull_all: P,
    decide: D,
) -> Result<SyncReport, ProviderError>
where
    P: AsyncFnOnce(&mut Pull<R>) -> Result<(), ProviderError>,
    D: FnMut(&str, Vec<R>) -> Decision,
{
    let _one_at_a_time = inventory.running.lock().await;
    let started = Instant::now();
    let mark = inventory.overlay_mark();
    let mut pull = Pull::new();
    let pulled = pull_all(&mut pull).await;
    let built = pulled.and_then(|()| build_index(inventory.service, pull.records, decide));
    let index = match built {
        Ok(index) => index,
        Err(err) => {
            inventory.failed(&err);
            return Err(err);
        }
    };
    let report = SyncReport {
        devices: index.len(),
        calls: pull.calls,
        duration: started.elapsed(),
        index_bytes: index.heap_bytes(),
    };
    inventory.swap_in(
        Snapshot {
            index,
            finished: Instant::now(),
            finished_at: SystemTime::now(),
            report,
        },
        mark,
    );
    inventory.syncs_ok.fetch_add(1, Ordering::Relaxed);
    *lock(&inventory.last_failure) = None;
    tracing::info!(
        service = inventory.service,
        devices = report.devices,
        requests = report.calls,
        duration_ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        index_kib = report.index_bytes / 1024,
        "inventory synced"
    );
    Ok(report)
}

/// Starts syncing in the background: `sync` (one run of [`sync_now`] for `provider`) now,
/// then every `settings` interval (after a failure, within [`MAX_RETRY_DELAY`]). The task
/// holds only a weak reference to the provider and ends once it is dropped. `None` when
/// sync is off or no Tokio runtime is running.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use posture_core::{Decision, ProviderError};
/// use posture_http::sync::{self, FromIndex, Inventory, Pull, SyncReport, SyncSettings};
///
/// /// A provider whose MDM lists one managed device.
/// struct MyProvider {
///     inventory: Inventory,
/// }
///
/// impl MyProvider {
///     async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
///         let pull = async |pull: &mut Pull<()>| {
///             let page = pull.page("GET /devices", || async { Ok(["C02XL0GJJG5J"]) }).await?;
///             for serial in page {
///                 pull.add(serial, ());
///             }
///             Ok(())
///         };
///         sync::sync_with(&self.inventory, pull, |_serial, _records| Decision::allow()).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let settings = SyncSettings::new("MY_SYNC_INTERVAL", "MY_SYNC_MAX_AGE")
///     .every(Duration::from_secs(3600));
/// let provider = Arc::new(MyProvider {
///     inventory: Inventory::new("My MDM", settings.clone()),
/// });
/// let task = sync::spawn(&provider, &settings, |provider| async move {
///     provider.sync_inventory().await
/// })
/// .expect("sync is on and a runtime runs");
/// while !matches!(provider.inventory.lookup("C02XL0GJJG5J"), FromIndex::Decided(_)) {
///     tokio::task::yield_now().await; // the first sync runs at once
/// }
/// drop(provider); // the task ends with the provider
/// # task.abort();
/// # }
/// ```
pub fn spawn<P, F, Fut>(
    provider: &Arc<P>,
    settings: &SyncSettings,
    sync: F,
) -> Option<tokio::task::JoinHandle<()>>
where
    P: Send + Sync + 'static,
    F: Fn(Arc<P>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<SyncReport, ProviderError>> + Send,
{
    if !settings.is_on() {
        return None;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("inventory sync is set but no Tokio runtime runs; not syncing");
        return None;
    };
    let interval = settings.interval();
    let provider = Arc::downgrade(provider);
    Some(runtime.spawn(async move {
        loop {
            let Some(strong) = provider.upgrade() else {
                return;
            };
            let next = match sync(strong).await {
                Ok(_) => interval,
                Err(_) => interval.min(MAX_RETRY_DELAY),
            };
            tokio::time::sleep(next).await;
        }
    }))
}

/// What a server gets from a provider answering from a synced inventory, for its
/// [`ProviderSetup::build`](posture_core::ProviderSetup::build): its lookups and its counters,
/// with `sync` started by [`spawn`] when `settings` turn sync on. The sync task is detached; it
/// holds a weak reference and ends with the provider. A provider that could not be set up
/// (`Err` from its constructor) is a [`BuildError`] naming the `service`.
///
/// ```
/// use std::time::Duration;
/// use posture_core::{
///     CounterSample, Decision, LookupRequest, PostureProvider, ProviderCounters, ProviderError,
/// };
/// use posture_http::sync::{self, FromIndex, Inventory, Pull, SyncSettings, SyncSource};
///
/// /// A provider whose MDM lists one managed device.
/// #[derive(Debug)]
/// struct MyProvider(Inventory);
///
/// impl PostureProvider for MyProvider {
///     fn name(&self) -> &str { "my-mdm" }
///     async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
///         match self.0.lookup(request.identifier()) {
///             FromIndex::Decided(decision) => Ok(decision),
///             _ => Err(ProviderError::transient("not synced yet")),
///         }
///     }
/// }
///
/// impl ProviderCounters for MyProvider {
///     fn samples(&self) -> Vec<CounterSample> { self.0.samples() }
/// }
///
/// impl SyncSource for MyProvider {
///     type Record = ();
///     fn inventory(&self) -> &Inventory { &self.0 }
///     async fn pull(&self, pull: &mut Pull<()>) -> Result<(), ProviderError> {
///         let page = pull.page("GET /devices", || async { Ok(["C02XL0GJJG5J"]) }).await?;
///         page.into_iter().for_each(|serial| pull.add(serial, ()));
///         Ok(())
///     }
///     fn decide(&self, _serial: &str, _records: Vec<()>) -> Decision { Decision::allow() }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let settings = SyncSettings::new("MY_SYNC_INTERVAL", "MY_SYNC_MAX_AGE")
///     .every(Duration::from_secs(3600));
/// let provider = Ok::<_, ProviderError>(MyProvider(Inventory::new("My MDM", settings.clone())));
/// let built = sync::built("My MDM", provider, &settings, |provider| async move {
///     sync::sync_now(&*provider).await
/// })?;
/// let request = LookupRequest::new("C02XL0GJJG5J");
/// while !built.provider().lookup_boxed(&request).await.is_ok_and(|d| d.is_allowed()) {
///     tokio::task::yield_now().await; // the first sync runs at once
/// }
/// assert!(built.counters().is_some());
///
/// let refused = sync::built("My MDM", Err::<MyProvider, _>("no token"), &settings, |provider| async move {
///     sync::sync_now(&*provider).await
/// });
/// assert_eq!(refused.unwrap_err().to_string(), "cannot set up the My MDM provider");
/// # Ok(())
/// # }
/// ```
pub fn built<P, E, F, Fut>(
    service: &str,
    provider: Result<P, E>,
    settings: &SyncSettings,
    sync: F,
) -> Result<BuiltProvider, BuildError>
where
    P: DynPostureProvider + ProviderCounters + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: Fn(Arc<P>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<SyncReport, ProviderError>> + Send,
{
    let provider =
        Arc::new(provider.map_err(|err| {
            BuildError::new(format!("cannot set up the {service} provider"), err)
        })?);
    drop(spawn(&provider, settings, sync));
    Ok(BuiltProvider::new(provider.clone()).with_counters(provider))
}

fn build_index<R>(
    service: &str,
    records: HashMap<String, Vec<R>>,
    mut decide: impl FnMut(&str, Vec<R>) -> Decision,
) -> Result<Index, ProviderError> {
    let mut builder = Builder::with_data_capacity(0, Layout::Objects);
    let mut encoded = Vec::new();
    for (key, records) in records {
        let decision = decide(&key, records);
        encoded.clear();
        if !encode(&decision, &mut encoded) {
            continue;
        }
        builder.push(&key, &encoded).map_err(|full| {
            ProviderError::permanent(format!("the {service} inventory is too large: {full}"))
        })?;
    }
    builder.finish().map_err(|duplicate| {
        ProviderError::permanent(format!(
            "the {service} inventory names {:?} twice",
            duplicate.identifier
        ))
    })
}

const ALLOW: u8 = b'A';
const DENY: u8 = b'D';

/// `A` and the enrichment JSON, or `D`, the code, a newline and the message. A decision of
/// a kind this module doesn't know is not stored, so its device is looked up live.
fn encode(decision: &Decision, out: &mut Vec<u8>) -> bool {
    match decision {
        Decision::Allow { enrichment } => {
            out.push(ALLOW);
            if let Some(enrichment) = enrichment {
                out.extend_from_slice(enrichment.as_bytes());
            }
            true
        }
        Decision::Deny { code, message } => {
            out.push(DENY);
            out.extend_from_slice(code.as_str().as_bytes());
            out.push(b'\n');
            out.extend_from_slice(message.as_bytes());
            true
        }
        _ => false,
    }
}

fn decode(bytes: Bytes) -> Option<Decision> {
    match bytes.first() {
        Some(&ALLOW) if bytes.len() == 1 => Some(Decision::allow()),
        Some(&ALLOW) => Some(Decision::allow_with(Enrichment::from_checked_json(
            bytes.slice(1..),
        ))),
        Some(&DENY) => {
            let text = std::str::from_utf8(bytes.get(1..)?).ok()?;
            let (code, message) = text.split_once('\n')?;
            Some(Decision::deny(DenyCode::new(code).ok()?, message))
        }
        _ => None,
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
