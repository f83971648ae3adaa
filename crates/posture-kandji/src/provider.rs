use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use posture_core::{Decision, DenyCode, ProviderError};
use posture_http::header::HeaderMap;
use posture_http::sync::{Inventory, Pull, SyncReport};
use posture_http::{
    Answer, Backoff, CacheStats, Front, MAX_RETRY_AFTER, NoSlot, RateLimiter, Serial, StatusCode,
    Url, decode_json, send_bearer,
};
use tokio::time::Instant;

use crate::config::{ApiHost, KandjiConfig};
use crate::error::KandjiError;
use crate::model::{self, Device};

pub(crate) const SERVICE: &str = "Kandji";

/// The most devices one list request returns (Kandji's maximum).
const LIMIT: usize = 300;

/// How many pages of [`LIMIT`] devices one lookup reads at most. The serial filter is a
/// contains-match, so the exact serial may sit behind hundreds of longer ones; past this
/// many (1500 devices), the lookup gives up rather than spend the hourly quota.
const MAX_PAGES: usize = 5;

/// The largest answer read: 300 devices of about 1.5 KiB.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The order pages are read in: one Kandji documents, and total (`device_id` breaks ties
/// between records of one serial), so a page boundary falls at the same place every time
/// rather than wherever the database's unspecified order puts it.
const ORDERING: &str = "serial_number,device_id";

/// The window of the client-side limit: a second, plus a margin for the trip to Kandji.
/// Kandji's gateway (Kong) counts requests as they arrive, in fixed one-second windows;
/// were our slots exactly a second apart, a slow request of one burst and a fast one of the
/// next could land in the same window.
const RATE_WINDOW: Duration = Duration::from_millis(1100);

/// Kong's hourly quota headers, sent with every answer.
const REMAINING_HOUR: &str = "x-ratelimit-remaining-hour";
const LIMIT_HOUR: &str = "x-ratelimit-limit-hour";
/// Seconds until the most nearly used-up window resets: the hour, once its quota is gone.
const RESET: &str = "ratelimit-reset";

/// No hourly quota header seen yet.
const UNKNOWN: u64 = u64::MAX;

/// Counters for metrics: one snapshot of a [`KandjiProvider`]'s activity since it was built.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct KandjiStats {
    /// The decision cache: hits, misses (each one a Kandji request), coalesced waiters,
    /// errors.
    pub decisions: CacheStats,
    /// Requests sent to Kandji (lookups and readiness checks). Kandji allows 10 000 an hour
    /// and 50 a second.
    pub kandji_requests: u64,
    /// What is left of the tenant's hourly quota, from the last answer's
    /// `X-RateLimit-Remaining-Hour`; `None` before any answer carried it.
    pub hourly_quota_left: Option<u64>,
}

/// A [`PostureProvider`](posture_core::PostureProvider) backed by Kandji.
///
/// It looks devices up by serial number with `GET /api/v1/devices`, allows those that are
/// enrolled and pass the configured checks (MDM enabled, agent installed, blueprint), and
/// returns enrichment data about the device, its blueprint and its user. See the crate
/// documentation for the whole behaviour.
///
/// ```no_run
/// use posture_core::{LookupRequest, PostureProvider};
/// use posture_kandji::{KandjiConfig, KandjiProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = KandjiConfig::from_env(|name| std::env::var(name).ok())?;
/// let kandji = KandjiProvider::new(config)?; // no I/O
/// kandji.check_ready().await?; // one request: fails fast on a bad URL or token
/// let decision = kandji.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct KandjiProvider {
    config: KandjiConfig,
    http: posture_http::HttpClient,
    /// The serial check, the synced inventory (`KANDJI_SYNC_INTERVAL`) lookups ask first,
    /// the decision cache and the readiness memo (a success counts for a minute: probes
    /// every few seconds must not eat the hourly quota).
    front: Front,
    /// Kandji's `Retry-After`, honoured up to `KANDJI_MAX_RETRY_AFTER`.
    backoff: Backoff,
    /// The hourly quota, used up: no request until it resets (Kong's own count, so its
    /// reset time is honoured in full), then one request to see.
    quota: Backoff,
    /// `KANDJI_MAX_REQUESTS_PER_SECOND`.
    limiter: RateLimiter,
    quota_left: AtomicU64,
    quota_limit: AtomicU64,
}

impl KandjiProvider {
    /// Builds the provider and its HTTP client. Does no I/O.
    pub fn new(config: KandjiConfig) -> Result<Self, KandjiError> {
        config.check_bounds()?;
        let http = posture_http::provider_client!(config.common(), SERVICE)?;
        let front = Front::with_settings(SERVICE, config.common(), config.sync().clone());
        let limiter = RateLimiter::new(config.max_requests_per_second_nonzero(), RATE_WINDOW);
        let backoff = config.common().backoff();
        Ok(Self {
            config,
            http,
            front,
            backoff,
            quota: Backoff::default(),
            limiter,
            quota_left: AtomicU64::new(UNKNOWN),
            quota_limit: AtomicU64::new(UNKNOWN),
        })
    }

    /// The settings.
    pub fn config(&self) -> &KandjiConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> KandjiStats {
        KandjiStats {
            decisions: self.front.stats(),
            kandji_requests: self.front.requests(),
            hourly_quota_left: known(&self.quota_left),
        }
    }

    /// The synced inventory (empty while `KANDJI_SYNC_INTERVAL` is 0).
    pub fn inventory(&self) -> &Inventory {
        self.front.inventory()
    }

    /// Forgets every cached decision.
    pub fn clear_cache(&self) {
        self.front.clear();
    }

    /// `GET /api/v1/devices` with `query`, authenticated with the API token, sent in a slot
    /// of the client-side rate limit that comes before `deadline`. While Kandji's
    /// `Retry-After` runs, or its hourly quota is used up, nothing is sent and the answer is
    /// a transient error: the quota is shared by every replica and integration. When either
    /// wait ends, one request goes first and the others wait for its answer.
    async fn list(
        &self,
        query: &[(&str, &str)],
        request: &str,
        deadline: Instant,
    ) -> Result<Vec<Device>, ProviderError> {
        // Fail fast rather than wait for a slot, but take no probe's turn before having one.
        self.backoff.peek(SERVICE)?;
        self.quota.peek(SERVICE).map_err(quota_used_up)?;
        self.limiter
            .acquire_before(deadline)
            .await
            .map_err(|no_slot| self.no_slot(no_slot))?;
        // Another request may have used up the quota while this one waited for its slot.
        let retry_pass = self.backoff.check(SERVICE)?;
        let quota_pass = self.quota.check(SERVICE).map_err(quota_used_up)?;
        let url = self.config.api_url().join(&["api", "v1", "devices"]);
        self.front.count_request();
        let builder = self.http.get(url.clone()).query(query);
        let answer = send_bearer(
            builder,
            self.config.api_token().expose(),
            SERVICE,
            request,
            MAX_BODY,
        )
        .await?;
        self.observe_quota(&answer.headers);
        quota_pass.answered();
        retry_pass.observe(answer.status, &answer.headers);
        if answer.status != StatusCode::OK {
            return Err(self.answer_error(&answer, &url, request));
        }
        let body: serde_json::Value = decode_json(SERVICE, request, &answer.body)?;
        match model::devices(&body) {
            Some(Ok(devices)) => Ok(devices),
            Some(Err(err)) => Err(ProviderError::permanent(format!(
                "Kandji answered {request} with a body that is not the expected JSON ({err})"
            ))),
            None => Err(ProviderError::permanent(format!(
                "Kandji answered {request} with a body that is not the expected JSON \
                 (neither a list of devices nor a device)"
            ))),
        }
    }

    fn no_slot(&self, no_slot: NoSlot) -> ProviderError {
        ProviderError::transient(format!(
            "Kandji was not called: at KANDJI_MAX_REQUESTS_PER_SECOND={} the next request slot \
             is {} ms away, past TIMEOUT ({} s)",
            self.limiter.permits(),
            no_slot.available_in().as_millis(),
            self.config.timeout().as_secs_f32()
        ))
        .with_retry_after(no_slot.available_in())
    }

    /// Reads Kong's hourly quota headers. An answer saying none is left stops every request
    /// until the quota resets (`RateLimit-Reset`; without it, the next full hour, where Kong
    /// starts its windows), instead of spending requests on 429s.
    fn observe_quota(&self, headers: &HeaderMap) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let Some(left) = number(REMAINING_HOUR) else {
            return;
        };
        self.quota_left.store(left, Ordering::Relaxed);
        if let Some(limit) = number(LIMIT_HOUR) {
            self.quota_limit.store(limit, Ordering::Relaxed);
        }
        if left > 0 {
            return;
        }
        let reset = number(RESET)
            .map_or_else(until_the_next_hour, Duration::from_secs)
            .min(MAX_RETRY_AFTER);
        self.quota.hold_off(reset);
        tracing::warn!(
            reset_secs = reset.as_secs(),
            "Kandji's hourly request quota is used up (X-RateLimit-Remaining-Hour: 0); \
             no request until it resets"
        );
    }

    fn answer_error(&self, answer: &Answer, url: &Url, request: &str) -> ProviderError {
        match answer.status {
            StatusCode::UNAUTHORIZED => ProviderError::permanent(format!(
                "Kandji at KANDJI_API_URL ({}) refused KANDJI_API_TOKEN for {request} \
                 (401 Unauthorized): the token is wrong, revoked or expired",
                self.config.api_url()
            )),
            StatusCode::FORBIDDEN => ProviderError::permanent(format!(
                "Kandji denied {request} (403 Forbidden): give the API token the \
                 Devices > Device list permission"
            )),
            StatusCode::NOT_FOUND => ProviderError::permanent(format!(
                "KANDJI_API_URL ({}) does not look like a Kandji API: {request} answered 404 \
                 Not Found; use the tenant's API URL, such as https://example.api.iru.com",
                self.config.api_url()
            )),
            status if status.is_redirection() => self.redirected(answer, url, request),
            _ => answer.error(SERVICE, request),
        }
    }

    /// A redirect to another host, such as kandji.io to iru.com, names the host to configure.
    /// It is never followed: the API token must not go anywhere `KANDJI_API_URL` doesn't name.
    fn redirected(&self, answer: &Answer, url: &Url, request: &str) -> ProviderError {
        let here = posture_http::origin(url);
        match posture_http::redirect_target(url, &answer.headers)
            .and_then(|target| posture_http::origin(&target))
        {
            Some(there) if Some(&there) != here.as_ref() => ProviderError::permanent(format!(
                "KANDJI_API_URL ({}) redirects to {there}; set KANDJI_API_URL to it (Kandji \
                 answered {} to {request}; redirects are not followed, so that the API token \
                 never goes to a host it wasn't configured for)",
                self.config.api_url(),
                answer.status
            )),
            Some(_) => ProviderError::permanent(format!(
                "KANDJI_API_URL ({}) answered {} to {request}, redirecting to another path on \
                 the same host; redirects are not followed: KANDJI_API_URL is the tenant's API \
                 URL without a path, such as https://example.api.iru.com",
                self.config.api_url(),
                answer.status
            )),
            None => answer.error(SERVICE, request),
        }
    }

    /// The decision from every record Kandji holds for `serial`: the current one decides,
    /// none is not found. Live lookups and the inventory sync both end here.
    fn decide_records(&self, serial: &Serial, records: Vec<Device>) -> Decision {
        match model::current(records) {
            Some(device) => self.decide(serial, &device),
            None => {
                tracing::debug!(%serial, "not found in Kandji");
                Decision::deny(
                    DenyCode::DEVICE_NOT_FOUND,
                    format!("no device with serial number {serial} in Kandji"),
                )
            }
        }
    }

    /// Every record whose serial is exactly `serial`, read page by page with `offset`, in
    /// a stable [`ORDERING`].
    ///
    /// `serial_number` is a contains-match, so a full page may hold only longer serials, and
    /// a record of ours (a live one after a removed one) may be on a later page: pages are
    /// read until one is short, which means the list ended. A list that hasn't ended after
    /// [`MAX_PAGES`] is a permanent error, never "not found" or a guess from part of it.
    async fn exact_matches(
        &self,
        serial: &Serial,
        deadline: Instant,
    ) -> Result<Vec<Device>, ProviderError> {
        let limit = LIMIT.to_string();
        let mut matching = Vec::new();
        for page in 0..MAX_PAGES {
            let offset = (page * LIMIT).to_string();
            let mut query = vec![
                ("serial_number", serial.as_str()),
                ("ordering", ORDERING),
                ("limit", limit.as_str()),
            ];
            if page > 0 {
                query.push(("offset", offset.as_str()));
            }
            let request = if page == 0 {
                format!("GET /api/v1/devices (serial {serial})")
            } else {
                format!("GET /api/v1/devices (serial {serial}, offset {offset})")
            };
            let devices = self.list(&query, &request, deadline).await?;
            let returned = devices.len();
            matching.extend(
                devices
                    .into_iter()
                    .filter(|d| d.serial_number.trim().eq_ignore_ascii_case(serial.as_str())),
            );
            if returned < LIMIT {
                return Ok(matching);
            }
        }
        Err(ProviderError::permanent(format!(
            "Kandji has more than {} devices whose serial number contains {serial}; \
             the lookup stops after {MAX_PAGES} pages of {LIMIT}, so it can't tell which \
             records are {serial}'s",
            MAX_PAGES * LIMIT
        )))
    }

    fn decide(&self, serial: &Serial, device: &Device) -> Decision {
        if device.is_removed == Some(true) {
            return Decision::deny(
                DenyCode::NOT_MANAGED,
                format!("{serial} was removed from Kandji"),
            );
        }
        if self.config.require_mdm() && device.mdm_enabled != Some(true) {
            return Decision::deny(
                DenyCode::NOT_MANAGED,
                format!("{serial} is in Kandji but its MDM is not enabled"),
            );
        }
        if self.config.require_agent() && device.is_mac() && device.agent_installed != Some(true) {
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{serial} does not have the Kandji agent installed"),
            );
        }
        if self.config.deny_missing() && device.is_missing != Some(false) {
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{serial} is flagged as missing in Kandji: it has not checked in recently"),
            );
        }
        let blueprints = self.config.blueprints();
        if !blueprints.is_empty()
            && !blueprints
                .iter()
                .any(|b| b.matches(&device.blueprint_id, &device.blueprint_name))
        {
            let allowed: Vec<String> = blueprints.iter().map(ToString::to_string).collect();
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!(
                    "{serial} is in blueprint {:?} ({}), not one of {}",
                    device.blueprint_name,
                    device.blueprint_id,
                    allowed.join(", ")
                ),
            );
        }
        tracing::debug!(%serial, blueprint = %device.blueprint_name, "allowed");
        posture_http::allow(self.config.enrich(), || device.enrichment())
    }
}

posture_http::front_provider! {
    impl PostureProvider for KandjiProvider {
        name: "kandji",
        calls: SERVICE,
        /// Lists one device (`limit=1`): a wrong URL, a refused token and a missing
        /// permission each fail fast with an error naming the setting. A success counts for
        /// a minute and a failure for 10 s, and concurrent checks share the one in flight,
        /// so readiness probes at any rate cost at most 60 requests an hour while Kandji
        /// answers, and 360 while it fails.
        ///
        /// With inventory sync on, a synced inventory younger than `KANDJI_SYNC_MAX_AGE` is
        /// ready without a request; none past that age is not ready.
        check_ready;
    }
}

impl KandjiProvider {
    async fn fetch_decision(&self, serial: &Serial) -> Result<Decision, ProviderError> {
        // The cache runs this under the same TIMEOUT; waiting for a rate-limit slot past it
        // would be waiting to fail.
        let deadline = Instant::now() + self.config.timeout();
        let matching = self.exact_matches(serial, deadline).await?;
        Ok(self.decide_records(serial, matching))
    }

    async fn probe(&self) -> Result<(), ProviderError> {
        let timeout = self.config.timeout();
        let setting = format!("KANDJI_API_URL ({})", self.config.api_url());
        let list = self.list(
            &[("limit", "1")],
            "GET /api/v1/devices?limit=1",
            Instant::now() + timeout,
        );
        posture_http::probe_within(SERVICE, &setting, timeout, async { list.await.map(drop) }).await
    }

    /// The endpoint and the request rate, the host's family (with what to set instead of a
    /// kandji.io host), and the hourly quota left, when an answer has said.
    fn report_lines(&self) -> Vec<String> {
        let api_url = self.config.api_url();
        let mut lines = vec![format!(
            "devices: GET {} (Kandji/Iru API v1), at most {} requests a second",
            api_url.join(&["api", "v1", "devices"]),
            self.config.max_requests_per_second()
        )];
        let host = api_url.host();
        lines.push(match (self.config.api_host(), self.config.move_advice()) {
            (_, Some(advice)) => format!(
                "host: {host} is a kandji.io host, which Iru will stop supporting: {advice}"
            ),
            (ApiHost::Iru, None) => format!("host: {host} is an Iru host (iru.com)"),
            (_, None) => format!(
                "host: {host} is neither an Iru (iru.com) nor a Kandji (kandji.io) host: a \
                 proxy or a test server"
            ),
        });
        if let (Some(left), Some(limit)) = (known(&self.quota_left), known(&self.quota_limit)) {
            lines.push(format!(
                "hourly quota: {left} of {limit} requests left (X-RateLimit-Remaining-Hour)"
            ));
        }
        self.front.report(lines)
    }
}

/// The quota gate's refusal, reworded: how long until the quota resets, or, once it should
/// have, that one request is finding out (the only refusal without a `Retry-After`).
fn quota_used_up(err: ProviderError) -> ProviderError {
    const USED_UP: &str =
        "Kandji's hourly request quota is used up (X-RateLimit-Remaining-Hour: 0)";
    match err.retry_after() {
        Some(left) => ProviderError::transient(format!(
            "{USED_UP}; not calling it for another {} s, until the quota resets",
            left.as_secs_f64().ceil()
        ))
        .with_retry_after(left),
        None => ProviderError::transient(format!(
            "{USED_UP}; it should have reset, and one request is checking: not calling Kandji \
             until that one is answered"
        )),
    }
}

fn known(value: &AtomicU64) -> Option<u64> {
    Some(value.load(Ordering::Relaxed)).filter(|&v| v != UNKNOWN)
}

/// Kong's hour windows start on the hour (UTC), so one used up resets at the next.
fn until_the_next_hour() -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Duration::from_secs(3600 - now % 3600)
}

impl KandjiProvider {
    /// Syncs the whole inventory now (after any sync in progress) and answers from it; the
    /// server runs this on `KANDJI_SYNC_INTERVAL`. A failed sync keeps the previous
    /// inventory.
    pub async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
        let pull = async |pull: &mut Pull<Device>| self.pull_inventory(pull).await;
        self.front
            .sync_with(pull, |serial, records| {
                self.decide_records(&serial, records)
            })
            .await
    }

    /// The whole inventory, read as lookups read it: pages of [`LIMIT`] in [`ORDERING`],
    /// each through the rate limit, `Retry-After` and quota gates, until a short page.
    async fn pull_inventory(&self, pull: &mut Pull<Device>) -> Result<(), ProviderError> {
        let limit = LIMIT.to_string();
        for page in 0.. {
            let offset = (page * LIMIT).to_string();
            let query = [
                ("ordering", ORDERING),
                ("limit", limit.as_str()),
                ("offset", offset.as_str()),
            ];
            let request = format!("GET /api/v1/devices (inventory sync, offset {offset})");
            let devices = pull
                .page(&request, || {
                    self.list(&query, &request, Instant::now() + self.config.timeout())
                })
                .await?;
            let returned = devices.len();
            for device in devices {
                // A record no lookup could name (no valid serial) is left out.
                if let Ok(serial) = Serial::check(&device.serial_number, SERVICE) {
                    pull.add(serial.as_str(), device);
                }
            }
            if returned < LIMIT {
                break;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for KandjiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        posture_http::debug_provider(f, "KandjiProvider", &self.config, &self.stats())
    }
}

impl posture_core::ProviderCounters for KandjiProvider {
    fn samples(&self) -> Vec<posture_core::CounterSample> {
        let mut samples = self.front.samples();
        if let Some(left) = known(&self.quota_left) {
            samples.push(posture_core::CounterSample::gauge(
                (
                    "provider_hourly_quota_left",
                    "Requests left in the MDM's hourly quota, as its last answer said.",
                ),
                left,
            ));
        }
        samples
    }
}
