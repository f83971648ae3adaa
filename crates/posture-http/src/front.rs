//! What every HTTP provider puts in front of its MDM: the serial check, the synced inventory
//! lookups ask first, the decision cache, the readiness memo and the request counter.
//!
//! A provider keeps its URLs, models and rules; [`Front`] keeps the glue each of them
//! would otherwise write again, so that they all answer alike: an identifier that is no
//! serial is denied before any call, a fresh index answers without one, concurrent lookups
//! of one device share one call, and a fresh index makes the provider ready without a
//! probe.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use posture_core::{CounterSample, Decision, DenyCode, Enrichment, LookupRequest, ProviderError};

use crate::sync::{FromIndex, Inventory, Pull, Readiness, SyncReport, SyncSettings, sync_with};
use crate::{CacheConfig, CacheStats, CommonSettings, LookupCache, RecentSuccess, Serial};

/// How long a successful readiness check counts, so frequent probes cost few MDM calls.
const READY_WINDOW: Duration = Duration::from_secs(60);

/// `request`'s identifier as a [`Serial`], or the `invalidIdentifier` deny an identifier that
/// is not one gets, before any call to the MDM. `service` names the MDM in the deny
/// (`"Jamf"`); `calls` names what was not called, in the debug log (`"Graph"`).
///
/// ```
/// use posture_core::{DenyCode, LookupRequest};
///
/// let serial = posture_http::checked_serial(&LookupRequest::new("c02xl0gjjg5j"), "Acme", "Acme");
/// assert_eq!(serial.unwrap().as_str(), "C02XL0GJJG5J");
/// let deny = posture_http::checked_serial(&LookupRequest::new("x"), "Acme", "Acme").unwrap_err();
/// assert_eq!(deny.deny_code(), Some(&DenyCode::INVALID_IDENTIFIER));
/// ```
pub fn checked_serial(
    request: &LookupRequest,
    service: &str,
    calls: &str,
) -> Result<Serial, Decision> {
    Serial::check(request.identifier(), service).map_err(|reason| {
        tracing::debug!(%reason, "identifier refused before any {calls} call");
        Decision::deny(DenyCode::INVALID_IDENTIFIER, reason)
    })
}

/// The lookup glue of one HTTP provider, its decisions keyed by `K` (a [`Serial`], or a
/// serial with what else selects the answer, such as a device family).
///
/// ```
/// use std::time::Duration;
/// use posture_core::{Decision, LookupRequest, ProviderError};
/// use posture_http::sync::SyncSettings;
/// use posture_http::{CacheConfig, Front};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ProviderError> {
/// let cache = CacheConfig::new(Duration::from_secs(60), Duration::from_secs(10));
/// let sync = SyncSettings::new("ACME_SYNC_INTERVAL", "ACME_SYNC_MAX_AGE");
/// let front: &Front = &Front::new("Acme", Duration::from_secs(4), cache, sync);
/// let request = LookupRequest::new("C02XL0GJJG5J");
/// let fetch = |serial: posture_http::Serial| async move {
///     front.count_request();
///     Ok(Decision::deny(posture_core::DenyCode::DEVICE_NOT_FOUND, format!("no {serial}")))
/// };
/// let decision = front.lookup(&request, "Acme", fetch).await?;
/// assert_eq!(decision.deny_message(), Some("no C02XL0GJJG5J"));
/// // The deny is cached: no second call.
/// front.lookup(&request, "Acme", fetch).await?;
/// assert_eq!((front.requests(), front.stats().hits), (1, 1));
/// front.check_ready(async { Ok(()) }).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Front<K = Serial> {
    service: &'static str,
    timeout: Duration,
    decisions: LookupCache<K, Decision>,
    inventory: Inventory,
    ready: RecentSuccess,
    requests: AtomicU64,
}

impl<K> Front<K>
where
    K: Hash + Eq + Send + Sync + 'static,
{
    /// The glue of `service` (the MDM's name, for messages and serial checks): lookups
    /// fetched under `timeout`, decisions cached as `cache` says, the inventory synced as
    /// `sync` says. Does no I/O.
    pub fn new(
        service: &'static str,
        timeout: Duration,
        cache: CacheConfig,
        sync: SyncSettings,
    ) -> Self {
        Self {
            service,
            timeout,
            decisions: LookupCache::new(cache),
            inventory: Inventory::new(service, sync),
            ready: RecentSuccess::new(READY_WINDOW),
            requests: AtomicU64::new(0),
        }
    }

    /// The glue of `service` with the timeout and the decision cache of its common
    /// settings, the inventory synced as `sync` says.
    pub fn with_settings(
        service: &'static str,
        common: &CommonSettings,
        sync: SyncSettings,
    ) -> Self {
        Self::new(service, common.timeout(), common.cache_config(), sync)
    }

    /// The glue of a provider that never syncs: every lookup is live, readiness is the
    /// probe's, and the report gains no inventory lines.
    pub fn live(service: &'static str, common: &CommonSettings) -> Self {
        Self::with_settings(service, common, SyncSettings::new("", ""))
    }

    /// The synced inventory (empty while sync is off).
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The readiness memo: a success counts for a minute, a failure for 10 s.
    pub fn ready(&self) -> &RecentSuccess {
        &self.ready
    }

    /// The decision cache's counters.
    pub fn stats(&self) -> CacheStats {
        self.decisions.stats()
    }

    /// Forgets every cached decision.
    pub fn clear(&self) {
        self.decisions.clear();
    }

    /// Forgets the cached decision for `key`, so the next lookup asks the MDM.
    pub async fn invalidate(&self, key: &K) {
        self.decisions.invalidate(key).await;
    }

    /// The counters every provider with a front exports on `/metrics`: the decision cache's
    /// hits and misses, the requests sent, and the synced inventory's samples (none while
    /// sync is off). A provider adds its own to these.
    pub fn samples(&self) -> Vec<CounterSample> {
        let mut samples = crate::decision_counters(&self.stats(), self.requests());
        samples.extend(self.inventory.samples());
        samples
    }

    /// Counts one request sent to the MDM.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The requests counted so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `request`'s identifier as a serial of this MDM, or the deny ([`checked_serial`]).
    pub fn serial(&self, request: &LookupRequest, calls: &str) -> Result<Serial, Decision> {
        checked_serial(request, self.service, calls)
    }

    /// The decision for `key`: the cached one, or the one `fetch` makes, once for all
    /// concurrent callers and within the timeout ([`LookupCache::decide`]).
    pub async fn decide<F, Fut>(&self, key: K, fetch: F) -> Result<Decision, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Decision, ProviderError>>,
    {
        self.decisions
            .decide(key, self.service, self.timeout, fetch)
            .await
    }

    /// Ready without a call while the synced index is fresh; otherwise `probe`'s outcome,
    /// reused as [`RecentSuccess`] says, so no probe rate multiplies MDM calls. Sync on and
    /// no index within its maximum age is not ready.
    pub async fn check_ready<F>(&self, probe: F) -> Result<(), ProviderError>
    where
        F: Future<Output = Result<(), ProviderError>>,
    {
        if self.inventory.readiness()? == Readiness::Fresh {
            return Ok(());
        }
        self.ready.check(probe).await
    }

    /// The provider's own report `lines`, then the inventory's.
    pub fn report(&self, mut lines: Vec<String>) -> Vec<String> {
        lines.extend(self.inventory.report());
        lines
    }

    /// The decision a sync makes for the serial `key` from the records `decide` reads: an
    /// index key that is no serial of this MDM is denied as a lookup of it would be.
    pub fn decide_synced(&self, key: &str, decide: impl FnOnce(Serial) -> Decision) -> Decision {
        match Serial::check(key, self.service) {
            Ok(serial) => decide(serial),
            Err(reason) => Decision::deny(DenyCode::INVALID_IDENTIFIER, reason),
        }
    }

    /// Syncs this front's inventory now, keyed by serial ([`sync_with`]): `pull` adds every
    /// record under its serial, and `decide` decides each serial from its records, as
    /// [`decide_synced`](Self::decide_synced) checks it. This is all of a provider's
    /// `sync_inventory`, with no adapter type for its private record type.
    ///
    /// ```
    /// use std::time::Duration;
    /// use posture_core::{Decision, DenyCode, ProviderError};
    /// use posture_http::sync::{FromIndex, Pull, SyncSettings};
    /// use posture_http::{CacheConfig, Front};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ProviderError> {
    /// let cache = CacheConfig::new(Duration::from_secs(60), Duration::from_secs(10));
    /// let sync = SyncSettings::new("ACME_SYNC_INTERVAL", "ACME_SYNC_MAX_AGE")
    ///     .every(Duration::from_secs(3600));
    /// let front: Front = Front::new("Acme", Duration::from_secs(4), cache, sync);
    /// let pull = async |pull: &mut Pull<bool>| {
    ///     let page = pull.page("GET /devices", || async { Ok([("C02XL0GJJG5J", false)]) }).await?;
    ///     page.into_iter().for_each(|(serial, managed)| pull.add(serial, managed));
    ///     Ok(())
    /// };
    /// let decide = |serial, managed: Vec<bool>| {
    ///     if managed.contains(&true) {
    ///         Decision::allow()
    ///     } else {
    ///         Decision::deny(DenyCode::NOT_MANAGED, format!("{serial} is not managed"))
    ///     }
    /// };
    /// let report = front.sync_with(pull, decide).await?;
    /// assert_eq!(report.devices, 1);
    /// let FromIndex::Decided(decision) = front.inventory().lookup("C02XL0GJJG5J") else {
    ///     panic!("the sync listed it");
    /// };
    /// assert_eq!(decision.deny_message(), Some("C02XL0GJJG5J is not managed"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn sync_with<R>(
        &self,
        pull: impl AsyncFnOnce(&mut Pull<R>) -> Result<(), ProviderError>,
        mut decide: impl FnMut(Serial, Vec<R>) -> Decision,
    ) -> Result<SyncReport, ProviderError> {
        let decide = |key: &str, records| self.decide_synced(key, |serial| decide(serial, records));
        sync_with(&self.inventory, pull, decide).await
    }
}

impl Front<Serial> {
    /// A lookup keyed by serial alone: the serial check, then the synced index, then the
    /// cache or `fetch` (see [`decide`](Self::decide)). `calls` names what an invalid
    /// identifier spares, in the debug log.
    pub async fn lookup<F, Fut>(
        &self,
        request: &LookupRequest,
        calls: &str,
        fetch: F,
    ) -> Result<Decision, ProviderError>
    where
        F: FnOnce(Serial) -> Fut,
        Fut: Future<Output = Result<Decision, ProviderError>>,
    {
        let serial = match self.serial(request, calls) {
            Ok(serial) => serial,
            Err(deny) => return Ok(deny),
        };
        if let FromIndex::Decided(decision) = self.inventory.lookup(serial.as_str()) {
            return Ok(decision);
        }
        self.decide(serial.clone(), || fetch(serial)).await
    }
}

/// The allow for a device that passed every rule: with its enrichment data when `enrich`
/// (`*_ENRICH`) is on, which is only then built.
///
/// ```
/// use std::cell::Cell;
/// use posture_core::Enrichment;
///
/// let built = Cell::new(0);
/// let enrichment = || {
///     built.set(built.get() + 1);
///     Enrichment::from_map(&serde_json::Map::new())
/// };
/// assert!(posture_http::allow(false, enrichment).is_allowed());
/// assert_eq!(built.get(), 0);
/// assert!(posture_http::allow(true, enrichment).is_allowed());
/// assert_eq!(built.get(), 1);
/// ```
pub fn allow(enrich: bool, enrichment: impl FnOnce() -> Enrichment) -> Decision {
    if enrich {
        Decision::allow_with(enrichment())
    } else {
        Decision::allow()
    }
}

/// A provider's `Debug` text: its settings and a snapshot of its counters, nothing else (no
/// client, token or cached answer).
///
/// ```
/// use std::fmt;
///
/// struct Acme;
///
/// impl fmt::Debug for Acme {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         posture_http::debug_provider(f, "AcmeProvider", &"settings", &3)
///     }
/// }
///
/// assert_eq!(format!("{Acme:?}"), r#"AcmeProvider { config: "settings", stats: 3, .. }"#);
/// ```
pub fn debug_provider(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    config: &dyn fmt::Debug,
    stats: &dyn fmt::Debug,
) -> fmt::Result {
    f.debug_struct(name)
        .field("config", config)
        .field("stats", stats)
        .finish_non_exhaustive()
}
