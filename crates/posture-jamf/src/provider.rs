use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use posture_core::{Decision, DenyCode, DeviceMode, LookupRequest, PostureProvider, ProviderError};
use posture_http::sync::{FromIndex, Inventory, Readiness};
use posture_http::{
    Answer, CacheClass, CacheConfig, CacheStats, Front, LookupCache, RecentSuccess, Serial,
    StatusCode, TokenStats, checked_serial, decode_json, find_cause, status_error,
};
use tokio::time::Instant;

use crate::client::{JamfClient, SERVICE};
use crate::config::{DEPARTMENT_CACHE_TTL, JamfConfig};
use crate::error::JamfError;
use crate::model::{
    ClassicComputerEnvelope, ClassicMobileEnvelope, Department, Device, pro_results,
};
use crate::routes::{Endpoint, Kind, RouteMemo, advice};

mod sync;

/// How many inventory records one Jamf Pro API search may return. One serial should match one
/// record; a few more allow for duplicates left by re-enrolment.
const PAGE_SIZE: &str = "10";

/// How long, in `auto` mode, a 403 on the computer inventory is remembered, so lookups go
/// straight to mobile devices instead of spending one of Jamf's few connections on a refusal
/// each time.
const FORBIDDEN_MEMORY: Duration = Duration::from_secs(60);

/// A Classic `match` pattern no device carries: the answer tells whether the route exists.
const ROUTE_PROBE: &str = "step-posture-connector-route-probe";

/// The API role lacks the privilege that reads one device family. Carried as the source of
/// the lookup's [`ProviderError`], so `auto` mode can recognise it.
#[derive(Debug, thiserror::Error)]
#[error("the Jamf Pro API role lacks the {privilege} privilege")]
struct MissingPrivilege {
    privilege: &'static str,
}

/// A device's decision, or the enrichment still to finish for an allowed one.
enum Judged {
    /// The decision.
    Final(Decision),
    /// Allowed with this device's enrichment, once its department name is known (see
    /// [`department_to_fetch`]).
    Enrich(Box<Device>),
}

/// What one endpoint said.
enum Reply<T> {
    /// The route exists and answered.
    Answered(T),
    /// The route does not exist on this Jamf Pro (a 404 for the route, not for a device).
    NoRoute,
}

/// Counters for metrics: one snapshot of a [`JamfProvider`]'s activity since it was built.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct JamfStats {
    /// Token requests (`POST /api/oauth/token`), failures, and invalidations after a 401.
    pub token: TokenStats,
    /// The decision cache: hits, misses (each one a Jamf lookup), coalesced waiters, errors.
    pub decisions: CacheStats,
    /// The department-name cache (Jamf Pro API only).
    pub departments: CacheStats,
    /// Authenticated GETs sent to Jamf (inventory and departments), retries included.
    pub jamf_requests: u64,
    /// GETs retried with a renewed token after Jamf answered 401.
    pub retries_after_401: u64,
    /// Requests that waited for a free connection slot (`JAMF_MAX_CONNECTIONS`).
    pub connection_waits: u64,
}

/// A [`PostureProvider`] backed by Jamf Pro.
///
/// It looks devices up by serial number through the Jamf Pro API or the Classic API
/// ([`JamfApi`](crate::JamfApi)), denies devices that are unknown, unmanaged or outside the
/// configured compliance group, and returns the Go version's enrichment data when asked. See
/// the crate documentation for the whole behaviour.
///
/// ```no_run
/// use posture_core::{DeviceMode, LookupRequest, PostureProvider};
/// use posture_jamf::{JamfConfig, JamfProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = JamfConfig::from_env(|name| std::env::var(name).ok())?;
/// let jamf = JamfProvider::new(config)?; // no I/O
/// jamf.check_ready().await?; // a token and one read per device family
/// let request = LookupRequest::new("C02XL0GJJG5J").with_mode(DeviceMode::Computer);
/// let decision = jamf.lookup(&request).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct JamfProvider {
    config: JamfConfig,
    client: JamfClient,
    /// The synced inventory (`JAMF_SYNC_INTERVAL`) lookups ask first, the decision cache
    /// (by device family and serial) and the readiness memo: a success is trusted for a
    /// minute before the next check calls Jamf again, since probes come every few seconds
    /// and each check costs a request per device family.
    front: Front<(Kind, Serial)>,
    departments: LookupCache<String, String>,
    routes: RouteMemo,
    /// When the computer inventory last answered 403, and what it said (`auto` mode).
    computers_forbidden: Mutex<Option<(Instant, String)>>,
    /// The token part of readiness. A cached token costs nothing, so no success is reused;
    /// a failure is, so that probes while Jamf fails can't each send a token request.
    token_ready: RecentSuccess,
    /// What the last readiness check found, for [`PostureProvider::report`].
    findings: Mutex<Vec<String>>,
    /// The device families the last successful sync left out, and why, for the report.
    unsynced: Mutex<Vec<String>>,
}

impl JamfProvider {
    /// Builds the provider and its HTTP client. Does no I/O: the first lookup or
    /// [`check_ready`](PostureProvider::check_ready) fetches the token.
    pub fn new(config: JamfConfig) -> Result<Self, JamfError> {
        config.check_bounds()?;
        let http = posture_http::provider_client!(config.common(), crate::client::SERVICE)?;
        let client = JamfClient::new(
            http,
            config.base_url().clone(),
            config.client_id().to_owned(),
            config.client_secret().clone(),
            config.token_renewal_margin(),
            config.max_connections(),
            config.max_retry_after(),
        );
        let front = Front::with_settings(SERVICE, config.common(), config.sync().clone());
        let departments = LookupCache::new(
            CacheConfig::new(DEPARTMENT_CACHE_TTL, config.negative_cache_ttl())
                .with_max_entries(1_000),
        );
        Ok(Self {
            routes: RouteMemo::new(config.api()),
            config,
            client,
            front,
            departments,
            computers_forbidden: Mutex::new(None),
            token_ready: RecentSuccess::new(Duration::ZERO),
            findings: Mutex::new(Vec::new()),
            unsynced: Mutex::new(Vec::new()),
        })
    }

    /// The settings.
    pub fn config(&self) -> &JamfConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> JamfStats {
        JamfStats {
            token: self.client.session().token_stats(),
            decisions: self.front.stats(),
            departments: self.departments.stats(),
            jamf_requests: self.client.requests.load(Ordering::Relaxed),
            retries_after_401: self.client.session().retries_after_401(),
            connection_waits: self.client.connection_waits.load(Ordering::Relaxed),
        }
    }

    /// The synced inventory (empty while `JAMF_SYNC_INTERVAL` is 0).
    pub fn inventory(&self) -> &Inventory {
        self.front.inventory()
    }

    /// The decision the synced inventory holds for `serial` in `mode`, if any. In `auto` mode
    /// a computer the index lists is the answer; a serial no computer has goes on to mobile
    /// devices, as a live lookup does after "no computer".
    fn indexed_decision(&self, mode: DeviceMode, serial: &Serial) -> Option<Decision> {
        let inventory = self.front.inventory();
        let listed = |kind| match inventory.lookup(&sync::key(kind, serial)) {
            FromIndex::Decided(decision) => Some(decision),
            _ => None,
        };
        match mode {
            DeviceMode::Computer => listed(Kind::Computer),
            DeviceMode::MobileDevice => listed(Kind::MobileDevice),
            DeviceMode::Auto => match inventory.lookup(&sync::key(Kind::Computer, serial)) {
                FromIndex::Decided(decision) => Some(decision),
                FromIndex::NotListed => listed(Kind::MobileDevice),
                _ => None,
            },
            _ => None,
        }
    }

    /// Forgets every cached decision and department name (not the token, nor the endpoints
    /// found).
    pub fn clear_cache(&self) {
        self.front.clear();
        self.departments.clear();
    }

    async fn decide(&self, mode: DeviceMode, serial: &Serial) -> Result<Decision, ProviderError> {
        match mode {
            DeviceMode::Computer => self.decide_kind(Kind::Computer, serial).await,
            DeviceMode::MobileDevice => self.decide_kind(Kind::MobileDevice, serial).await,
            DeviceMode::Auto => self.decide_auto(serial).await,
            other => Ok(Decision::deny(
                DenyCode::INVALID_MODE,
                format!(
                    "mode {other} is not supported by the Jamf provider: use computer, mobiledevice or auto"
                ),
            )),
        }
    }

    /// Computers first, then mobile devices. A computer found but denied is the answer. When
    /// the API role may not read computers, mobile devices are still tried, and the missing
    /// privilege is the answer only if no mobile device has the serial either.
    async fn decide_auto(&self, serial: &Serial) -> Result<Decision, ProviderError> {
        let computer_failure = match self.recently_forbidden_computers() {
            Some(message) => Some(ProviderError::permanent(message)),
            None => match self.decide_kind(Kind::Computer, serial).await {
                Ok(decision) if decision.deny_code() != Some(&DenyCode::DEVICE_NOT_FOUND) => {
                    return Ok(decision);
                }
                Ok(_) => None,
                Err(err) if lacks_privilege(&err) => {
                    tracing::warn!(
                        "{err}; auto mode goes on to mobile devices, and skips computers for {} s",
                        FORBIDDEN_MEMORY.as_secs()
                    );
                    *lock(&self.computers_forbidden) = Some((Instant::now(), err.to_string()));
                    Some(err)
                }
                Err(err) => return Err(err),
            },
        };
        let mobile = self.decide_kind(Kind::MobileDevice, serial).await?;
        if mobile.deny_code() != Some(&DenyCode::DEVICE_NOT_FOUND) {
            return Ok(mobile);
        }
        match computer_failure {
            // Not a mobile device, and computers couldn't be read: "not found" would be a
            // guess.
            Some(err) => Err(err),
            None => Ok(Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("no computer or mobile device with serial number {serial} in Jamf Pro"),
            )),
        }
    }

    fn recently_forbidden_computers(&self) -> Option<String> {
        let mut memory = lock(&self.computers_forbidden);
        match &*memory {
            Some((at, message)) if at.elapsed() < FORBIDDEN_MEMORY => Some(message.clone()),
            Some(_) => {
                *memory = None;
                None
            }
            None => None,
        }
    }

    /// One kind's decision, from the cache or from Jamf (one call for concurrent askers).
    async fn decide_kind(&self, kind: Kind, serial: &Serial) -> Result<Decision, ProviderError> {
        self.front
            .decide((kind, serial.clone()), || self.fetch_decision(kind, serial))
            .await
    }

    async fn fetch_decision(&self, kind: Kind, serial: &Serial) -> Result<Decision, ProviderError> {
        let device = self.find(kind, serial).await?;
        match self.judge(kind, serial, device) {
            Judged::Final(decision) => Ok(decision),
            Judged::Enrich(mut device) => {
                if let Some(id) = department_to_fetch(&device) {
                    device.user.department = self.department_name(&id).await?;
                }
                Ok(Decision::allow_with(device.enrichment()))
            }
        }
    }

    /// The decision for the device Jamf holds under `serial` (`None`: none), short of the
    /// department name an enriched allow may still need. Live lookups and inventory syncs
    /// both decide here, so they decide alike.
    fn judge(&self, kind: Kind, serial: &Serial, device: Option<Device>) -> Judged {
        let Some(device) = device else {
            tracing::debug!(%serial, kind = kind.noun(), "not found in Jamf Pro");
            return Judged::Final(Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("no {} with serial number {serial} in Jamf Pro", kind.noun()),
            ));
        };
        match device.managed {
            Some(true) => {}
            Some(false) => {
                tracing::debug!(%serial, kind = kind.noun(), "found but not managed");
                return Judged::Final(Decision::deny(
                    DenyCode::NOT_MANAGED,
                    format!("{} {serial} is in Jamf Pro but not managed", kind.noun()),
                ));
            }
            None => {
                // Jamf always reports the flag with the general section, so its absence is a
                // partial record: never a reason to allow.
                tracing::debug!(%serial, kind = kind.noun(), "no management state in the answer");
                return Judged::Final(Decision::deny(
                    DenyCode::NOT_MANAGED,
                    format!(
                        "Jamf Pro did not report whether {} {serial} is managed",
                        kind.noun()
                    ),
                ));
            }
        }
        let (group, enrich) = self.wants(kind);
        if let Some(group) = group
            && !device.in_group(group)
        {
            tracing::debug!(%serial, kind = kind.noun(), group, "not in the compliance group");
            // The Go version's wording, kept for anyone matching on it.
            return Judged::Final(Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{serial} is not a member of supplied compliance group \"{group}\""),
            ));
        }
        tracing::debug!(%serial, kind = kind.noun(), enrich, "allowed");
        if enrich {
            Judged::Enrich(Box::new(device))
        } else {
            Judged::Final(Decision::allow())
        }
    }

    /// The sections a Jamf Pro API inventory read asks for: only what [`judge`](Self::judge)
    /// and the enrichment read.
    fn sections(&self, kind: Kind) -> Vec<(&'static str, &'static str)> {
        let (group, enrich) = self.wants(kind);
        let groups_section = match kind {
            Kind::Computer => "GROUP_MEMBERSHIPS",
            Kind::MobileDevice => "GROUPS",
        };
        let mut query = vec![("section", "GENERAL"), ("section", "HARDWARE")];
        if enrich {
            query.push(("section", "USER_AND_LOCATION"));
        }
        if enrich || group.is_some() {
            query.push(("section", groups_section));
        }
        query
    }

    /// The compliance group and the enrichment switch for `kind`.
    fn wants(&self, kind: Kind) -> (Option<&str>, bool) {
        match kind {
            Kind::Computer => (self.config.computer_group(), self.config.computer_enrich()),
            Kind::MobileDevice => (self.config.device_group(), self.config.device_enrich()),
        }
    }

    /// Looks `serial` up at the remembered endpoint for `kind`, or at each candidate in turn
    /// until one exists. A missing route is a transient error (503), never a missing device.
    async fn find(&self, kind: Kind, serial: &Serial) -> Result<Option<Device>, ProviderError> {
        let remembered = self.routes.chosen(kind);
        for endpoint in self.routes.order(kind) {
            match self.find_at(endpoint, kind, serial).await? {
                Reply::Answered(device) => {
                    self.remember(kind, endpoint);
                    return Ok(device);
                }
                Reply::NoRoute => {
                    if remembered == Some(endpoint) {
                        tracing::warn!(
                            "Jamf Pro no longer serves {} for {}; looking for another endpoint",
                            endpoint.route(),
                            kind.plural()
                        );
                        self.routes.forget(kind, endpoint);
                    }
                }
            }
        }
        Err(self.no_route(kind))
    }

    fn remember(&self, kind: Kind, endpoint: Endpoint) {
        if self.routes.choose(kind, endpoint) {
            tracing::info!(
                "Jamf Pro {} are read with {}",
                kind.plural(),
                endpoint.describe()
            );
        }
    }

    fn no_route(&self, kind: Kind) -> ProviderError {
        let tried: Vec<String> = self
            .routes
            .candidates(kind)
            .iter()
            .map(|e| e.route())
            .collect();
        let err = ProviderError::transient(format!(
            "Jamf Pro at JAMF_BASE_URL ({}) answered 404 for every {} endpoint ({}), so it \
             can't say whether a device exists; {}",
            self.config.base_url(),
            kind.noun(),
            tried.join(", "),
            advice(self.config.api(), kind)
        ));
        tracing::error!("{err}");
        err
    }

    async fn find_at(
        &self,
        endpoint: Endpoint,
        kind: Kind,
        serial: &Serial,
    ) -> Result<Reply<Option<Device>>, ProviderError> {
        if endpoint.is_classic() {
            self.classic_lookup(endpoint, kind, serial).await
        } else {
            self.pro_lookup(endpoint, kind, serial).await
        }
    }

    /// `GET /JSSResource/{collection}/serialnumber/{serial}/subset/…`. Classic answers 404
    /// both for an unknown serial and for a route it no longer has, so a 404 is confirmed
    /// with [`classic_route_exists`](Self::classic_route_exists) before it means "not found".
    async fn classic_lookup(
        &self,
        endpoint: Endpoint,
        kind: Kind,
        serial: &Serial,
    ) -> Result<Reply<Option<Device>>, ProviderError> {
        let collection = endpoint.path();
        let subset = endpoint.classic_subset();
        let mut segments = collection.to_vec();
        segments.extend(["serialnumber", serial.as_str(), "subset", subset]);
        let url = self.client.base().join(&segments);
        let request = format!(
            "GET {}/serialnumber/{serial}/subset/{subset}",
            endpoint.route()
        );
        let answer = self.client.get(url, &[], &request).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Ok(match self.classic_route_exists(endpoint, kind).await? {
                    true => Reply::Answered(None),
                    false => Reply::NoRoute,
                });
            }
            StatusCode::FORBIDDEN => return Err(forbidden(kind, &request)),
            _ => return Err(answer_error(&answer, &request)),
        }
        let device: Device = match kind {
            Kind::Computer => {
                decode_json::<ClassicComputerEnvelope>(SERVICE, &request, &answer.body)?.into()
            }
            Kind::MobileDevice => {
                decode_json::<ClassicMobileEnvelope>(SERVICE, &request, &answer.body)?.into()
            }
        };
        if !device.serial_number.is_empty()
            && !device.serial_number.eq_ignore_ascii_case(serial.as_str())
        {
            tracing::debug!(%serial, answered = %device.serial_number, "Jamf answered another serial; treating as not found");
            return Ok(Reply::Answered(None));
        }
        Ok(Reply::Answered(Some(device)))
    }

    /// Whether the Classic collection still exists: its `match` route (same family, same
    /// privilege) answers 200 with a list, empty for a pattern no device has, and 404 once
    /// Jamf has removed the family.
    async fn classic_route_exists(
        &self,
        endpoint: Endpoint,
        kind: Kind,
    ) -> Result<bool, ProviderError> {
        let mut segments = endpoint.path().to_vec();
        segments.extend(["match", ROUTE_PROBE]);
        let url = self.client.base().join(&segments);
        let request = format!("GET {}/match/{ROUTE_PROBE}", endpoint.route());
        let answer = self.client.get(url, &[], &request).await?;
        match answer.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::FORBIDDEN => Err(forbidden(kind, &request)),
            _ => Err(answer_error(&answer, &request)),
        }
    }

    /// The Jamf Pro API inventory search, with only the sections needed. The serial is
    /// checked again in the answer, in case a filter was ignored. Not found is an empty
    /// result; 404 means the route is missing.
    async fn pro_lookup(
        &self,
        endpoint: Endpoint,
        kind: Kind,
        serial: &Serial,
    ) -> Result<Reply<Option<Device>>, ProviderError> {
        let filter_field = match kind {
            Kind::Computer => "hardware.serialNumber",
            Kind::MobileDevice => "serialNumber",
        };
        // The serial is ASCII letters and digits only (checked), so it can't escape the quotes.
        let filter = format!("{filter_field}==\"{serial}\"");
        let mut query = self.sections(kind);
        query.extend([
            ("page", "0"),
            ("page-size", PAGE_SIZE),
            ("filter", filter.as_str()),
        ]);
        let url = self.client.base().join(endpoint.path());
        let request = format!("GET {} (serial {serial})", endpoint.route());
        let answer = self.client.get(url, &query, &request).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(Reply::NoRoute),
            StatusCode::FORBIDDEN => return Err(forbidden(kind, &request)),
            _ => return Err(answer_error(&answer, &request)),
        }
        let (_, devices) = pro_results(kind, &request, &answer.body)?;
        let devices: Vec<Device> = devices
            .into_iter()
            .filter(|d| d.serial_number.eq_ignore_ascii_case(serial.as_str()))
            .collect();
        Ok(Reply::Answered(pick(devices)))
    }

    /// A department's name from its ID (`GET /api/v1/departments/{id}`), cached for an hour.
    /// An unknown department, or one the API client may not read, gives an empty name rather
    /// than failing the lookup.
    async fn department_name(&self, id: &str) -> Result<String, ProviderError> {
        self.departments
            .get_or_fetch(id.to_owned(), async {
                let url = self.client.base().join(&["api", "v1", "departments", id]);
                let request = format!("GET /api/v1/departments/{id}");
                let answer = self.client.get(url, &[], &request).await?;
                match answer.status {
                    StatusCode::OK => {
                        let department: Department = decode_json(SERVICE, &request, &answer.body)?;
                        Ok((department.name, CacheClass::Positive))
                    }
                    StatusCode::NOT_FOUND => Ok((String::new(), CacheClass::Negative)),
                    StatusCode::FORBIDDEN => {
                        tracing::warn!(
                            "Jamf Pro denied {request}: give the API role the Read Departments \
                             privilege to get department names; sending an empty department"
                        );
                        Ok((String::new(), CacheClass::Negative))
                    }
                    _ => Err(answer_error(&answer, &request)),
                }
            })
            .await
    }

    /// One cheap authorised read of `kind`'s inventory at the endpoint it will use (found
    /// here if not yet known): proves the route exists and the privilege is granted.
    async fn probe(&self, kind: Kind) -> Result<Endpoint, ProviderError> {
        for endpoint in self.routes.order(kind) {
            let exists = if endpoint.is_classic() {
                self.classic_route_exists(endpoint, kind).await?
            } else {
                let url = self.client.base().join(endpoint.path());
                let request = format!("GET {} (readiness, one record)", endpoint.route());
                let query = [("section", "GENERAL"), ("page", "0"), ("page-size", "1")];
                let answer = self.client.get(url, &query, &request).await?;
                match answer.status {
                    StatusCode::OK => true,
                    StatusCode::NOT_FOUND => false,
                    StatusCode::FORBIDDEN => {
                        // The route exists; remember it so lookups don't probe again.
                        self.remember(kind, endpoint);
                        return Err(forbidden(kind, &request));
                    }
                    _ => return Err(answer_error(&answer, &request)),
                }
            };
            if exists {
                self.remember(kind, endpoint);
                return Ok(endpoint);
            }
            self.routes.forget(kind, endpoint);
        }
        Err(self.no_route(kind))
    }

    /// Which families must be readable for the server to be ready: those with a group or
    /// enrichment configured, and the one `JAMF_DEFAULT_MODE` names. With `auto`, either one
    /// is enough unless settings name it.
    fn required(&self, kind: Kind) -> Option<&'static str> {
        let (group, enrich) = self.wants(kind);
        let (group_var, enrich_var, mode) = match kind {
            Kind::Computer => (
                "JAMF_COMPUTER_GROUP",
                "JAMF_COMPUTER_ENRICH",
                DeviceMode::Computer,
            ),
            Kind::MobileDevice => (
                "JAMF_DEVICE_GROUP",
                "JAMF_DEVICE_ENRICH",
                DeviceMode::MobileDevice,
            ),
        };
        if group.is_some() {
            Some(group_var)
        } else if enrich {
            Some(enrich_var)
        } else if self.config.default_mode() == mode {
            Some("JAMF_DEFAULT_MODE")
        } else {
            None
        }
    }

    /// Fetches a token (or finds one cached), then, at most once a minute while
    /// they pass, reads each device family once. The token is checked every time: it costs
    /// nothing while cached, and it is what fails first when Jamf or the credentials do.
    /// Either failure is reused for [`RecentSuccess`]'s failure window, and concurrent
    /// checks share one call, so unauthenticated probes can't multiply Jamf requests.
    async fn readiness(&self) -> Result<(), ProviderError> {
        self.token_ready
            .check(async { self.client.token().await.map(drop) })
            .await?;
        self.front.ready().check(self.probe_families()).await
    }

    /// Reads each device family once, recording what it found for the report.
    async fn probe_families(&self) -> Result<(), ProviderError> {
        let mut findings = Vec::new();
        let mut readable = 0;
        let mut first_failure = None;
        for kind in Kind::ALL {
            match self.probe(kind).await {
                Ok(endpoint) => {
                    readable += 1;
                    findings.push(format!("{}: {}", kind.plural(), endpoint.describe()));
                }
                Err(err) => {
                    if let Some(variable) = self.required(kind) {
                        let err = ProviderError::new(
                            err.kind(),
                            format!("{err} ({} are needed because of {variable})", kind.plural()),
                        );
                        *lock(&self.findings) = findings;
                        return Err(err);
                    }
                    findings.push(format!(
                        "warning: {}: {err}; {} lookups will fail",
                        kind.plural(),
                        kind.noun()
                    ));
                    first_failure.get_or_insert(err);
                }
            }
        }
        findings.push(format!(
            "at most {} requests in flight to Jamf Pro (JAMF_MAX_CONNECTIONS)",
            self.config.max_connections()
        ));
        *lock(&self.findings) = findings;
        match first_failure {
            Some(err) if readable == 0 => Err(err),
            _ => Ok(()),
        }
    }
}

impl PostureProvider for JamfProvider {
    fn name(&self) -> &str {
        "jamf"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let serial = match checked_serial(request, "Jamf", "Jamf") {
            Ok(serial) => serial,
            Err(deny) => return Ok(deny),
        };
        let mode = match request.mode() {
            DeviceMode::Unspecified => self.config.default_mode(),
            mode => mode,
        };
        if let Some(decision) = self.indexed_decision(mode, &serial) {
            return Ok(decision);
        }
        let timeout = self.config.timeout();
        tokio::time::timeout(timeout, self.decide(mode, &serial))
            .await
            .map_err(|_| posture_http::timed_out("Jamf Pro", timeout))?
    }

    /// Fetches a token (or finds a valid one cached), then makes one cheap read of each
    /// device family at the endpoint lookups will use, finding it if need be. Bad
    /// credentials, an unreachable `JAMF_BASE_URL`, a URL that isn't Jamf Pro, a missing
    /// endpoint and a missing privilege each give an error naming what to fix. A family
    /// nothing requires (see the crate documentation) only warns in
    /// [`report`](PostureProvider::report). The inventory reads are trusted for a minute
    /// once they pass; the token is checked every time. A failure is reused for 10 s, and
    /// concurrent checks wait for the one in flight, so no probe rate makes more than one
    /// Jamf call at a time, nor more than one per 10 s while Jamf fails.
    ///
    /// With inventory sync on, a synced inventory younger than `JAMF_SYNC_MAX_AGE` is ready
    /// without a request, unless the sync left a family out (its lookups still go to Jamf,
    /// so the checks above still apply); none past that age is not ready.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        if self.front.inventory().readiness()? == Readiness::Fresh
            && lock(&self.unsynced).is_empty()
        {
            return Ok(());
        }
        let timeout = self.config.timeout();
        match tokio::time::timeout(timeout, self.readiness()).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::transient(format!(
                "Jamf Pro at JAMF_BASE_URL ({}) did not answer the readiness checks within {} s \
                 (TIMEOUT)",
                self.config.base_url(),
                timeout.as_secs_f32()
            ))),
        }
    }

    /// The endpoint and API version each device family uses, any family the API role can't
    /// read, and the connection cap, as the last readiness check found them; with inventory
    /// sync on, the index and the families it leaves out.
    fn report(&self) -> Vec<String> {
        let mut lines = self.front.report(lock(&self.findings).clone());
        lines.extend(lock(&self.unsynced).iter().cloned());
        lines
    }
}

impl fmt::Debug for JamfProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        posture_http::debug_provider(f, "JamfProvider", &self.config, &self.stats())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Values are replaced whole, so a panic elsewhere can't leave them torn.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn answer_error(answer: &Answer, request: &str) -> ProviderError {
    status_error(SERVICE, request, answer.status, &answer.headers)
}

/// A 403 on an inventory read: the API role lacks the family's privilege.
fn forbidden(kind: Kind, request: &str) -> ProviderError {
    let privilege = kind.privilege();
    ProviderError::permanent(format!(
        "Jamf Pro denied {request} (403 Forbidden): give the API role the {privilege} privilege"
    ))
    .with_source(MissingPrivilege { privilege })
}

/// Whether `err` (or a copy the lookup cache shared) is a missing privilege.
fn lacks_privilege(err: &ProviderError) -> bool {
    find_cause::<MissingPrivilege>(err).is_some()
}

/// The record to decide from among those Jamf holds for one serial, in Jamf's order:
/// duplicates come from re-enrolment, so the managed record wins, else the first.
fn pick(devices: Vec<Device>) -> Option<Device> {
    let managed = devices.iter().position(|d| d.managed == Some(true));
    devices.into_iter().nth(managed.unwrap_or(0))
}

/// The department whose name an enriched allow still needs: Jamf Pro API computers carry
/// only its ID.
fn department_to_fetch(device: &Device) -> Option<String> {
    (device.user.department.is_empty() && is_department_id(&device.user.department_id))
        .then(|| device.user.department_id.clone())
}

/// Jamf uses `-1` (and sometimes an empty string) for "no department".
fn is_department_id(id: &str) -> bool {
    !id.is_empty() && id != "-1" && id != "0" && id.bytes().all(|b| b.is_ascii_digit())
}
