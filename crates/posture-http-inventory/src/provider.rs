use std::fmt;

use posture_core::{
    Decision, DenyCode, DeviceMode, Enrichment, LookupRequest, PostureProvider, ProviderError,
};
use posture_http::{
    Answer, Backoff, CacheStats, Front, Serial, StatusCode, decode_json, send_json,
};
use serde_json::{Map, Value};

use crate::config::HttpInventoryConfig;
use crate::error::HttpInventoryError;
use crate::template::{shown, text};

pub(crate) const SERVICE: &str = "the inventory";

/// The largest answer read.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The serial the readiness check asks about: well-formed, and no device's.
const PROBE_SERIAL: &str = "READINESSPROBE";

/// Counters for metrics: one snapshot of an [`HttpInventoryProvider`]'s activity.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct HttpInventoryStats {
    /// The decision cache: hits, misses (each one a request), coalesced waiters, errors.
    pub decisions: CacheStats,
    /// Requests sent to the inventory (lookups and readiness checks).
    pub requests: u64,
}

/// A [`PostureProvider`] for any inventory with a REST API that answers JSON, configured
/// without code: `HTTP_URL`, `HTTP_HEADERS`, `HTTP_RECORD`, `HTTP_MATCH`, `HTTP_REQUIRE`,
/// `HTTP_ENRICH`. See the crate documentation for the whole behaviour.
///
/// ```no_run
/// use posture_core::{LookupRequest, PostureProvider};
/// use posture_http_inventory::{HttpInventoryConfig, HttpInventoryProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = HttpInventoryConfig::from_env(|name| std::env::var(name).ok())?;
/// let inventory = HttpInventoryProvider::new(config)?; // no I/O
/// inventory.check_ready().await?;
/// let decision = inventory.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct HttpInventoryProvider {
    config: HttpInventoryConfig,
    http: posture_http::HttpClient,
    /// The decision cache (by serial and mode), the readiness memo and the request counter;
    /// no synced inventory.
    front: Front<(Serial, DeviceMode)>,
    backoff: Backoff,
}

impl HttpInventoryProvider {
    /// Builds the provider and its HTTP client. Does no I/O.
    pub fn new(config: HttpInventoryConfig) -> Result<Self, HttpInventoryError> {
        let lookup = config.lookup();
        let http = posture_http::provider_client!(lookup, SERVICE)?;
        Ok(Self {
            front: Front::live(SERVICE, lookup),
            backoff: lookup.backoff(),
            http,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &HttpInventoryConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> HttpInventoryStats {
        HttpInventoryStats {
            decisions: self.front.stats(),
            requests: self.front.requests(),
        }
    }

    /// Forgets every cached decision.
    pub fn clear_cache(&self) {
        self.front.clear();
    }

    /// `GET` the template for this serial and mode, with the configured headers, honouring
    /// the inventory's `Retry-After`.
    async fn get(&self, serial: &str, mode: DeviceMode) -> Result<(Answer, String), ProviderError> {
        let url = self
            .config
            .url()
            .expand(serial, mode.as_str())
            .map_err(|why| ProviderError::permanent(format!("HTTP_URL gives no URL: {why}")))?;
        // The path only: a query may carry a key someone put in the URL after all.
        let request = format!("GET {}", url.path());
        let pass = self.backoff.check(SERVICE)?;
        self.front.count_request();
        let mut builder = self.http.get(url);
        for (name, value) in self.config.headers() {
            builder = builder.header(name, value);
        }
        let answer = send_json(builder, SERVICE, &request, MAX_BODY).await?;
        pass.observe(answer.status, &answer.headers);
        Ok((answer, request))
    }

    fn answer_error(&self, answer: &Answer, request: &str) -> ProviderError {
        match answer.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ProviderError::permanent(format!(
                "the inventory at HTTP_URL ({}) refused {request} ({}): check the credentials \
                 in HTTP_HEADERS and their permissions",
                self.config.url(),
                answer.status
            )),
            _ => answer.error(SERVICE, request),
        }
    }

    async fn fetch_decision(
        &self,
        serial: &Serial,
        mode: DeviceMode,
    ) -> Result<Decision, ProviderError> {
        let (answer, request) = self.get(serial.as_str(), mode).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(not_found(serial, "it answered 404 Not Found".to_owned()));
        }
        if answer.status != StatusCode::OK {
            return Err(self.answer_error(&answer, &request));
        }
        let body: Value = decode_json(SERVICE, &request, &answer.body)?;
        Ok(decide(&self.config, serial, &body))
    }

    async fn probe(&self) -> Result<(), ProviderError> {
        let setting = format!("HTTP_URL ({})", self.config.url());
        posture_http::probe_within(SERVICE, &setting, self.config.lookup().timeout(), async {
            let (answer, request) = self.get(PROBE_SERIAL, DeviceMode::Auto).await?;
            match answer.status {
                StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
                _ => Err(self.answer_error(&answer, &request)),
            }
        })
        .await
    }
}

/// The decision for `serial` from the inventory's answer `body`, by `config`'s rules: the
/// record at `HTTP_RECORD`, the exact re-check at `HTTP_MATCH`, every `HTTP_REQUIRE`
/// condition, and the `HTTP_ENRICH` object.
pub(crate) fn decide(config: &HttpInventoryConfig, serial: &Serial, body: &Value) -> Decision {
    let record = match body.pointer(config.record()) {
        Some(record) if !record.is_null() => record,
        _ => return not_found(serial, why_no_record(config, body)),
    };
    let match_pointer = config.match_pointer();
    match record.pointer(match_pointer).and_then(text) {
        Some(found) if found.eq_ignore_ascii_case(serial.as_str()) => {}
        found => {
            return not_found(
                serial,
                format!(
                    "the record it answered has {match_pointer} (HTTP_MATCH) = {}, not {serial}",
                    found.map_or_else(
                        || shown(record.pointer(match_pointer)),
                        |f| format!("{f:?}")
                    )
                ),
            );
        }
    }
    if let Some(failed) = config.require().iter().find(|c| !c.holds(record)) {
        return Decision::deny(
            DenyCode::NOT_COMPLIANT,
            format!(
                "{serial} fails the HTTP_REQUIRE condition {failed} (the inventory has {})",
                shown(record.pointer(failed.pointer()))
            ),
        );
    }
    tracing::debug!(%serial, "allowed");
    match enrichment(config, record) {
        Some(data) => Decision::allow_with(data),
        None => Decision::allow(),
    }
}

/// Why the answer holds no record: the `HTTP_RECORD` pointer found nothing, with
/// Snipe-IT's (and Laravel APIs') `{"status":"error","messages":…}` quoted when present.
fn why_no_record(config: &HttpInventoryConfig, body: &Value) -> String {
    let record = match config.record() {
        "" => "the answer".to_owned(),
        pointer => format!("{pointer} (HTTP_RECORD)"),
    };
    let status_error = body.get("status").and_then(Value::as_str) == Some("error");
    match body.get("messages").or_else(|| body.get("message")) {
        Some(messages) if status_error => {
            format!("{record} is missing; it answered {}", shown(Some(messages)))
        }
        _ => format!("{record} is missing from its answer"),
    }
}

/// The `HTTP_ENRICH` object; absent and `null` fields are left out. `None` when
/// `HTTP_ENRICH` names no field.
fn enrichment(config: &HttpInventoryConfig, record: &Value) -> Option<Enrichment> {
    let pairs = config.enrich();
    if pairs.is_empty() {
        return None;
    }
    let map: Map<String, Value> = pairs
        .iter()
        .filter_map(|(name, pointer)| {
            record
                .pointer(pointer)
                .filter(|v| !v.is_null())
                .map(|v| (name.clone(), v.clone()))
        })
        .collect();
    Some(Enrichment::from_map(&map))
}

fn not_found(serial: &Serial, why: String) -> Decision {
    tracing::debug!(%serial, %why, "not found in the inventory");
    Decision::deny(
        DenyCode::DEVICE_NOT_FOUND,
        format!("no device with serial number {serial} in the inventory: {why}"),
    )
}

impl PostureProvider for HttpInventoryProvider {
    fn name(&self) -> &str {
        "http"
    }

    async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
        let serial = match self.front.serial(request, "inventory") {
            Ok(serial) => serial,
            Err(deny) => return Ok(deny),
        };
        // Without {mode} in the URL, every mode asks the same question.
        let mode = if self.config.url().uses_mode() {
            request.mode()
        } else {
            DeviceMode::Unspecified
        };
        self.front
            .decide((serial.clone(), mode), || {
                self.fetch_decision(&serial, mode)
            })
            .await
    }

    /// Asks about a serial no device has (`READINESSPROBE`): any 200 or 404 proves the URL
    /// and the credentials; 401, 403, 5xx and the rest fail, naming the setting. A success
    /// counts for a minute, a failure for 10 s.
    async fn check_ready(&self) -> Result<(), ProviderError> {
        self.front.check_ready(self.probe()).await
    }

    fn report(&self) -> Vec<String> {
        vec![format!(
            "lookup: GET {} with header(s) {}",
            self.config.url(),
            match self.config.header_names() {
                names if names.is_empty() => "(none)".to_owned(),
                names => names.join(", "),
            }
        )]
    }
}

impl fmt::Debug for HttpInventoryProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        posture_http::debug_provider(f, "HttpInventoryProvider", &self.config, &self.stats())
    }
}

impl posture_core::ProviderCounters for HttpInventoryProvider {
    fn samples(&self) -> Vec<posture_core::CounterSample> {
        self.front.samples()
    }
}
