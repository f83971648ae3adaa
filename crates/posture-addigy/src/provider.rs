use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use posture_core::{Decision, DenyCode, ProviderError};
use posture_http::header::AUTHORIZATION;
use posture_http::sync::{Inventory, Pull, SyncReport};
use posture_http::{
    Answer, Backoff, CacheStats, Front, NoSlot, RateLimiter, Serial, StatusCode, bearer_header,
    decode_json, secret_header, send_json,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::AddigyConfig;
use crate::error::AddigyError;
use crate::model::{self, Device};

pub(crate) const SERVICE: &str = "Addigy";

/// The header some clients send the API token in, instead of `Authorization: Bearer`.
const API_KEY_HEADER: &str = "x-api-key";

/// The largest answer read.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Devices per page: the `per_page` of Addigy's documented examples, and the most any source
/// shows; the inventory sync asks for it too.
const PER_PAGE: u64 = 100;

/// How many pages one lookup reads at most when the serial filter is not applied.
const MAX_PAGES: u64 = 5;

/// The client-side limit's window: a second, plus a margin for the trip to Addigy, so
/// `ADDIGY_MAX_REQUESTS_PER_SECOND` slots never land in one of Addigy's seconds twice.
const RATE_WINDOW: Duration = Duration::from_millis(1100);

/// Counters for metrics: one snapshot of an [`AddigyProvider`]'s activity since it was
/// built.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct AddigyStats {
    /// The decision cache.
    pub decisions: CacheStats,
    /// Requests sent to Addigy (lookups, readiness checks and auth fallbacks).
    pub requests: u64,
    /// Requests repeated with the other way of sending the token after a 401.
    pub auth_fallbacks: u64,
}

/// How the API token is sent.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum AuthStyle {
    /// `Authorization: Bearer <token>`, as Addigy's migration guide documents.
    Bearer,
    /// `x-api-key: <token>`, as Swagger-based clients send it.
    ApiKey,
}

impl AuthStyle {
    fn other(self) -> Self {
        match self {
            Self::Bearer => Self::ApiKey,
            Self::ApiKey => Self::Bearer,
        }
    }
}

impl fmt::Display for AuthStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bearer => "Authorization: Bearer",
            Self::ApiKey => "x-api-key",
        })
    }
}

/// A [`PostureProvider`](posture_core::PostureProvider) backed by Addigy's API v2.
///
/// See the crate documentation for the whole behaviour.
///
/// ```no_run
/// use posture_core::{LookupRequest, PostureProvider};
/// use posture_addigy::{AddigyConfig, AddigyProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = AddigyConfig::from_env(|name| std::env::var(name).ok())?;
/// let addigy = AddigyProvider::new(config)?; // no I/O
/// addigy.check_ready().await?; // one request: fails fast on a refused token
/// let decision = addigy.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct AddigyProvider {
    config: AddigyConfig,
    http: posture_http::HttpClient,
    /// The serial check, the synced inventory (`ADDIGY_SYNC_INTERVAL`) lookups ask first,
    /// the decision cache, the readiness memo and the request counter (lookups, readiness
    /// checks and auth fallbacks).
    front: Front,
    limiter: RateLimiter,
    backoff: Backoff,
    /// Whether `x-api-key` is the style that works (learnt from a 401 to the bearer form).
    api_key: AtomicBool,
    auth_fallbacks: AtomicU64,
}

impl AddigyProvider {
    /// Builds the provider and its HTTP client. Does no I/O.
    pub fn new(config: AddigyConfig) -> Result<Self, AddigyError> {
        let common = config.common();
        let http = posture_http::provider_client!(common, SERVICE)?;
        let front = Front::with_settings(SERVICE, common, config.sync().clone());
        Ok(Self {
            limiter: RateLimiter::new(config.max_requests_per_second_nonzero(), RATE_WINDOW),
            backoff: common.backoff(),
            http,
            front,
            api_key: AtomicBool::new(false),
            auth_fallbacks: AtomicU64::new(0),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AddigyConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> AddigyStats {
        AddigyStats {
            decisions: self.front.stats(),
            requests: self.front.requests(),
            auth_fallbacks: self.auth_fallbacks.load(Ordering::Relaxed),
        }
    }

    /// How the token is sent now: `Authorization: Bearer` until a 401 to it was followed by
    /// a success with `x-api-key`.
    pub fn auth_style(&self) -> AuthStyle {
        if self.api_key.load(Ordering::Relaxed) {
            AuthStyle::ApiKey
        } else {
            AuthStyle::Bearer
        }
    }

    /// The synced inventory (empty while `ADDIGY_SYNC_INTERVAL` is 0).
    pub fn inventory(&self) -> &Inventory {
        self.front.inventory()
    }

    /// Forgets every cached decision.
    pub fn clear_cache(&self) {
        self.front.clear();
    }

    /// `POST /api/v2/devices` with `body`, in a slot of the client-side rate limit before
    /// `deadline`. A 401 is answered once more with the other way of sending the token; the
    /// style that works is kept for later requests.
    async fn search(
        &self,
        body: &Value,
        request: &str,
        deadline: Instant,
    ) -> Result<model::Page, ProviderError> {
        let first = self.auth_style();
        let mut answer = self.send_once(body, request, deadline, first).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            let other = first.other();
            self.auth_fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%first, %other, "Addigy answered 401; trying the other token header once");
            answer = self.send_once(body, request, deadline, other).await?;
            if answer.status == StatusCode::UNAUTHORIZED {
                return Err(ProviderError::permanent(format!(
                    "Addigy at ADDIGY_API_URL ({}) refused ADDIGY_API_TOKEN for {request} \
                     (401 Unauthorized), sent as {first} and as {other}: the token is wrong, \
                     revoked, or not an API v2 token",
                    self.config.api_url()
                )));
            }
            if answer.status.is_success() {
                self.api_key
                    .store(other == AuthStyle::ApiKey, Ordering::Relaxed);
                tracing::info!(style = %other, "Addigy accepts the API token this way; keeping it");
            }
        }
        if answer.status != StatusCode::OK {
            return Err(self.answer_error(&answer, request));
        }
        let value: Value = decode_json(SERVICE, request, &answer.body)?;
        model::page(&value).map_err(|why| {
            ProviderError::permanent(format!(
                "Addigy answered {request} with a body that is not the expected device list \
                 ({why})"
            ))
        })
    }

    async fn send_once(
        &self,
        body: &Value,
        request: &str,
        deadline: Instant,
        style: AuthStyle,
    ) -> Result<Answer, ProviderError> {
        self.backoff.peek(SERVICE)?;
        self.limiter
            .acquire_before(deadline)
            .await
            .map_err(|no_slot| self.no_slot(no_slot))?;
        let pass = self.backoff.check(SERVICE)?;
        let token = self.config.api_token().expose();
        let builder = self.http.post(self.config.devices_url()).json(body);
        let builder = match style {
            AuthStyle::Bearer => builder.header(AUTHORIZATION, bearer_header(token, SERVICE)?),
            AuthStyle::ApiKey => builder.header(API_KEY_HEADER, secret_header(token, SERVICE)?),
        };
        self.front.count_request();
        let answer = send_json(builder, SERVICE, request, MAX_BODY).await?;
        if answer.status == StatusCode::TOO_MANY_REQUESTS
            && posture_http::retry_after(&answer.headers).is_none()
        {
            // Addigy blocks a key that keeps going over its limit for 24 hours: without a
            // Retry-After, wait the longest we honour rather than send more.
            self.backoff
                .hold_off(self.config.common().max_retry_after());
            pass.answered();
        } else {
            pass.observe(answer.status, &answer.headers);
        }
        Ok(answer)
    }

    fn no_slot(&self, no_slot: NoSlot) -> ProviderError {
        ProviderError::transient(format!(
            "Addigy was not called: at ADDIGY_MAX_REQUESTS_PER_SECOND={} the next request slot \
             is {} ms away, past TIMEOUT ({} s)",
            self.limiter.permits(),
            no_slot.available_in().as_millis(),
            self.config.common().timeout().as_secs_f32()
        ))
        .with_retry_after(no_slot.available_in())
    }

    fn answer_error(&self, answer: &Answer, request: &str) -> ProviderError {
        match answer.status {
            StatusCode::FORBIDDEN => ProviderError::permanent(format!(
                "Addigy denied {request} (403 Forbidden): give the API token the View Devices \
                 permission"
            )),
            StatusCode::NOT_FOUND => ProviderError::permanent(format!(
                "ADDIGY_API_URL ({}) does not look like Addigy's API: {request} answered 404 \
                 Not Found; use https://api.addigy.com",
                self.config.api_url()
            )),
            StatusCode::TOO_MANY_REQUESTS => {
                let err = answer.error(SERVICE, request);
                let wait = err
                    .retry_after()
                    .unwrap_or(self.config.common().max_retry_after())
                    .min(self.config.common().max_retry_after());
                ProviderError::transient(format!(
                    "{}; Addigy blocks a key that keeps exceeding 1,000 requests per 10 s for \
                     24 hours: lower ADDIGY_MAX_REQUESTS_PER_SECOND ({}) or check what else \
                     uses the key",
                    err.message(),
                    self.config.max_requests_per_second()
                ))
                .with_retry_after(wait)
            }
            _ => self
                .config
                .common()
                .cap_retry_after(answer.error(SERVICE, request)),
        }
    }

    /// Every record whose `serial_number` fact is exactly `serial`. The filter may not be
    /// applied (its element shape is not documented firmly), so every device returned is
    /// compared; while none matched and `metadata.page_count` says more pages follow, the
    /// next is read, at most [`MAX_PAGES`].
    async fn exact_matches(
        &self,
        serial: &Serial,
        deadline: Instant,
    ) -> Result<Vec<Device>, ProviderError> {
        let mut matching = Vec::new();
        for page in 1..=MAX_PAGES {
            let body = json!({
                "page": page,
                "per_page": PER_PAGE,
                "query": {"filters": [{
                    "audit_field": "serial_number",
                    "operation": "=",
                    "type": "string",
                    "value": serial.as_str(),
                }]},
            });
            let request = if page == 1 {
                format!("POST /api/v2/devices (serial {serial})")
            } else {
                format!("POST /api/v2/devices (serial {serial}, page {page})")
            };
            let answer = self.search(&body, &request, deadline).await?;
            let returned = answer.devices.len() as u64;
            matching.extend(answer.devices.into_iter().filter(|d| d.has_serial(serial)));
            let more = answer.page_count.is_some_and(|count| count > page) && returned > 0;
            if !matching.is_empty() || !more {
                return Ok(matching);
            }
            tracing::debug!(%serial, page, "Addigy did not apply the serial filter; next page");
        }
        Err(ProviderError::permanent(format!(
            "Addigy did not apply the serial-number filter and listed more than {MAX_PAGES} \
             pages of {PER_PAGE} devices without {serial}; the lookup stops there rather than \
             read the whole inventory"
        )))
    }

    /// The decision for `serial` from all its records, shared by live lookups and the
    /// inventory sync.
    pub(crate) fn decide_among(&self, serial: &Serial, matching: &[Device]) -> Decision {
        // Several records of one serial (a re-enrolment): one with MDM first.
        let device = matching
            .iter()
            .find(|d| d.has_mdm != Some(false))
            .or(matching.first());
        let Some(device) = device else {
            tracing::debug!(%serial, "not found in Addigy");
            return Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("no device with serial number {serial} in Addigy"),
            );
        };
        self.decide(serial, device)
    }

    fn decide(&self, serial: &Serial, device: &Device) -> Decision {
        if device.has_mdm == Some(false) {
            return Decision::deny(
                DenyCode::NOT_MANAGED,
                format!("{serial} is in Addigy but its has_mdm fact is false: no MDM profile"),
            );
        }
        let policies = self.config.policies();
        if !policies.is_empty() && !policies.iter().any(|p| device.in_policy(p)) {
            let mut is_in: Vec<&str> = device.policy_names.iter().map(String::as_str).collect();
            if is_in.is_empty() {
                is_in = device.policy_ids.iter().map(String::as_str).collect();
            }
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!(
                    "{serial} is in Addigy policy {}, not one of {}",
                    if is_in.is_empty() {
                        "(none)".to_owned()
                    } else {
                        is_in.join(", ")
                    },
                    policies.join(", ")
                ),
            );
        }
        if self.config.require_compliant() && device.is_compliant != Some(true) {
            let why = match device.is_compliant {
                Some(_) => "its is_compliant fact is false",
                None => "it has no is_compliant fact (ADDIGY_REQUIRE_COMPLIANT fails closed)",
            };
            return Decision::deny(
                DenyCode::NOT_COMPLIANT,
                format!("{serial} is not compliant in Addigy: {why}"),
            );
        }
        tracing::debug!(%serial, "allowed");
        posture_http::allow(self.config.enrich(), || device.enrichment())
    }
}

posture_http::front_provider! {
    impl PostureProvider for AddigyProvider {
        name: "addigy",
        calls: SERVICE,
        /// Searches for one device (`per_page` 1, no filter): a wrong URL, a refused token
        /// and a missing permission fail fast, naming the setting. A success counts for a
        /// minute, a failure for 10 s, and concurrent checks share one in flight.
        ///
        /// With inventory sync on, a synced inventory younger than `ADDIGY_SYNC_MAX_AGE` is
        /// ready without a request; none past that age is not ready.
        check_ready;
    }
}

impl AddigyProvider {
    async fn fetch_decision(&self, serial: &Serial) -> Result<Decision, ProviderError> {
        let deadline = Instant::now() + self.config.common().timeout();
        let matching = self.exact_matches(serial, deadline).await?;
        Ok(self.decide_among(serial, &matching))
    }

    async fn probe(&self) -> Result<(), ProviderError> {
        let timeout = self.config.common().timeout();
        let body = json!({"page": 1, "per_page": 1, "query": {"filters": []}});
        let setting = format!("ADDIGY_API_URL ({})", self.config.api_url());
        let search = self.search(
            &body,
            "POST /api/v2/devices (per_page 1)",
            Instant::now() + timeout,
        );
        posture_http::probe_within("Addigy", &setting, timeout, async {
            search.await.map(drop)
        })
        .await
    }

    fn report_lines(&self) -> Vec<String> {
        let lines = vec![format!(
            "devices: POST {} (Addigy API v2), token sent as {}, at most {} requests a second",
            self.config.devices_url(),
            self.auth_style(),
            self.config.max_requests_per_second()
        )];
        self.front.report(lines)
    }
}

impl AddigyProvider {
    /// Syncs the whole inventory now (after any sync in progress) and answers from it; the
    /// server runs this on `ADDIGY_SYNC_INTERVAL`. A failed sync keeps the previous
    /// inventory.
    pub async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
        let pull = async |pull: &mut Pull<Device>| self.pull_inventory(pull).await;
        self.front
            .sync_with(pull, |serial, records| self.decide_among(&serial, &records))
            .await
    }

    /// The whole inventory, read as lookups read it: unfiltered searches of [`PER_PAGE`]
    /// devices, pages 1 to `metadata.page_count`, each in a slot of the same client-side
    /// rate limit (`ADDIGY_MAX_REQUESTS_PER_SECOND`, shared with lookups, far below the
    /// 1,000 per 10 s that blocks the key for 24 hours) and behind the same `Retry-After`
    /// backoff.
    async fn pull_inventory(&self, pull: &mut Pull<Device>) -> Result<(), ProviderError> {
        let timeout = self.config.common().timeout();
        for page in 1_u64.. {
            let body = json!({"page": page, "per_page": PER_PAGE, "query": {"filters": []}});
            let request = format!("POST /api/v2/devices (inventory sync, page {page})");
            let answer = pull
                .page(&request, || {
                    self.search(&body, &request, Instant::now() + timeout)
                })
                .await?;
            let returned = answer.devices.len() as u64;
            for device in answer.devices {
                // A record no lookup could name (no valid serial) is left out.
                if let Ok(serial) = Serial::check(device.serial_number.trim(), SERVICE) {
                    pull.add(serial.as_str(), device);
                }
            }
            // Without a page count, a full page may have a successor.
            let more = match answer.page_count {
                Some(count) => count > page,
                None => returned >= PER_PAGE,
            };
            if !more || returned == 0 {
                break;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for AddigyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddigyProvider")
            .field("config", &self.config)
            .field("auth_style", &self.auth_style())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl posture_core::ProviderCounters for AddigyProvider {
    fn samples(&self) -> Vec<posture_core::CounterSample> {
        let mut samples = self.front.samples();
        samples.push(posture_core::CounterSample::new(
            (
                "provider_auth_fallbacks",
                "Requests repeated with the other way of sending the API token after a 401.",
            ),
            self.auth_fallbacks.load(Ordering::Relaxed),
        ));
        samples
    }
}
