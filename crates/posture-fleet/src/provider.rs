use std::fmt;
use std::sync::{Mutex, PoisonError};

use posture_core::{Decision, DenyCode, ProviderError};
use posture_http::sync::{Inventory, Pull, SyncReport};
use posture_http::{
    Answer, Backoff, CacheStats, Front, Serial, StatusCode, Url, decode_json, send_bearer,
};

use crate::config::FleetConfig;
use crate::error::FleetError;
use crate::model::{self, Host};
use crate::sync::LeftOut;

pub(crate) const SERVICE: &str = "Fleet";

/// The largest answer read: a host without its software is a few tens of KiB.
pub(crate) const MAX_BODY: usize = 4 * 1024 * 1024;

/// Counters for metrics: one snapshot of a [`FleetProvider`]'s activity since it was built.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FleetStats {
    /// The decision cache: hits, misses (each one a Fleet request), coalesced waiters,
    /// errors.
    pub decisions: CacheStats,
    /// Requests sent to Fleet (lookups and readiness checks).
    pub fleet_requests: u64,
}

/// A [`PostureProvider`](posture_core::PostureProvider) backed by Fleet.
///
/// It looks hosts up by serial number with `GET /api/v1/fleet/hosts/identifier/{serial}`,
/// re-checks the host's `hardware_serial`, allows hosts that are enrolled (and connected to
/// this Fleet) and pass the configured team, label and policy checks, and returns enrichment
/// data. See the crate documentation for the whole behaviour.
///
/// ```no_run
/// use posture_core::{LookupRequest, PostureProvider};
/// use posture_fleet::{FleetConfig, FleetProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = FleetConfig::from_env(|name| std::env::var(name).ok())?;
/// let fleet = FleetProvider::new(config)?; // no I/O
/// fleet.check_ready().await?; // GET /api/v1/fleet/me: fails fast on a bad URL or token
/// let decision = fleet.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
/// assert!(decision.is_allowed() || decision.deny_code().is_some());
/// # Ok(())
/// # }
/// ```
pub struct FleetProvider {
    config: FleetConfig,
    http: posture_http::HttpClient,
    /// The serial check, the synced inventory (`FLEET_SYNC_INTERVAL`) lookups ask first,
    /// the decision cache, the readiness memo and the request counter.
    front: Front,
    backoff: Backoff,
    /// The hosts the last successful sync listed but left out of the index.
    left_out: Mutex<Option<LeftOut>>,
}

impl FleetProvider {
    /// Builds the provider and its HTTP client. Does no I/O.
    pub fn new(config: FleetConfig) -> Result<Self, FleetError> {
        let lookup = config.lookup();
        let http = posture_http::provider_client!(lookup, SERVICE)?;
        Ok(Self {
            front: Front::with_settings(SERVICE, lookup, config.sync().clone()),
            backoff: lookup.backoff(),
            http,
            left_out: Mutex::new(None),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// A snapshot of the counters, for metrics.
    pub fn stats(&self) -> FleetStats {
        FleetStats {
            decisions: self.front.stats(),
            fleet_requests: self.front.requests(),
        }
    }

    /// Forgets every cached decision.
    pub fn clear_cache(&self) {
        self.front.clear();
    }

    /// The synced inventory (empty while `FLEET_SYNC_INTERVAL` is 0).
    pub fn inventory(&self) -> &Inventory {
        self.front.inventory()
    }

    /// Syncs the whole inventory now (after any sync in progress) and answers from it; the
    /// server runs this on `FLEET_SYNC_INTERVAL`. A failed sync keeps the previous
    /// inventory. See the crate documentation for the hosts it leaves to live lookups.
    pub async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
        let pull = async |pull: &mut Pull<Host>| self.pull_inventory(pull).await;
        self.front
            .sync_with(pull, |serial, hosts| self.decide_listed(&serial, &hosts))
            .await
    }

    /// What the last successful sync left out of the index, by reason.
    pub(crate) fn left_out(&self) -> Option<LeftOut> {
        self.left_out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_left_out(&self, left_out: LeftOut) {
        *self.left_out.lock().unwrap_or_else(PoisonError::into_inner) = Some(left_out);
    }

    /// One authenticated GET of at most `limit` bytes, honouring Fleet's `Retry-After`
    /// (nothing is sent while it runs; when it ends, one request goes first): every lookup,
    /// readiness check and sync page goes through it.
    pub(crate) async fn get(
        &self,
        url: Url,
        request: &str,
        limit: usize,
    ) -> Result<Answer, ProviderError> {
        let pass = self.backoff.check(SERVICE)?;
        self.front.count_request();
        let answer = send_bearer(
            self.http.get(url),
            self.config.api_token().expose(),
            SERVICE,
            request,
            limit,
        )
        .await?;
        pass.observe(answer.status, &answer.headers);
        Ok(answer)
    }

    pub(crate) fn answer_error(&self, answer: &Answer, request: &str) -> ProviderError {
        match answer.status {
            StatusCode::UNAUTHORIZED => ProviderError::permanent(format!(
                "Fleet at FLEET_URL ({}) refused FLEET_API_TOKEN for {request} (401 \
                 Unauthorized): the token is wrong, or its API-only user was deleted",
                self.config.url()
            )),
            StatusCode::FORBIDDEN => ProviderError::permanent(format!(
                "Fleet denied {request} (403 Forbidden): give the API-only user at least the \
                 observer role on the hosts' teams (or globally)"
            )),
            _ => answer.error(SERVICE, request),
        }
    }

    /// Fleet's 404 is JSON (`{"message":"Resource Not Found","errors":[…]}`); any other 404
    /// means `FLEET_URL` is not a Fleet server, which must not pass for "not found".
    fn not_found(
        &self,
        serial: &Serial,
        answer: &Answer,
        request: &str,
    ) -> Result<Decision, ProviderError> {
        let fleet_error = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .is_some_and(|v| v.get("message").is_some_and(serde_json::Value::is_string));
        if fleet_error {
            tracing::debug!(%serial, "not found in Fleet");
            Ok(Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!("no host with serial number {serial} in Fleet"),
            ))
        } else {
            Err(ProviderError::permanent(format!(
                "FLEET_URL ({}) does not look like a Fleet server: {request} answered 404 \
                 without Fleet's JSON error",
                self.config.url()
            )))
        }
    }

    /// The decision for a host whose serial is `serial`: the live lookup's and the sync's.
    pub(crate) fn decide(&self, serial: &Serial, host: &Host) -> Decision {
        if !host.is_enrolled() {
            let status = if host.enrollment_status.is_empty() {
                "none".to_owned()
            } else {
                format!("{:?}", host.enrollment_status)
            };
            return Decision::deny(
                DenyCode::NOT_MANAGED,
                format!(
                    "{serial} is in Fleet but not enrolled in MDM (enrollment status {status})"
                ),
            );
        }
        if self.config.require_connected() && host.connected_to_fleet != Some(true) {
            return Decision::deny(
                DenyCode::NOT_MANAGED,
                format!(
                    "{serial} is enrolled in MDM but not connected to this Fleet \
                     (mdm.connected_to_fleet is not true)"
                ),
            );
        }
        if let Some(reason) = self.compliance_failure(serial, host) {
            return Decision::deny(DenyCode::NOT_COMPLIANT, reason);
        }
        tracing::debug!(%serial, host = %host.id, "allowed");
        posture_http::allow(self.config.enrich(), || host.enrichment())
    }

    /// Why the host fails `FLEET_TEAMS`, `FLEET_LABELS` or `FLEET_POLICIES`, if it does.
    fn compliance_failure(&self, serial: &Serial, host: &Host) -> Option<String> {
        let teams = self.config.teams();
        if !teams.is_empty() {
            let in_team = host
                .team
                .as_ref()
                .is_some_and(|(id, name)| teams.iter().any(|t| t == id || t == name));
            if !in_team {
                let team = match &host.team {
                    Some((id, name)) => format!("team {name:?} ({id})"),
                    None => "no team".to_owned(),
                };
                return Some(format!(
                    "{serial} is in {team}, not one of FLEET_TEAMS ({})",
                    teams.join(", ")
                ));
            }
        }
        let missing: Vec<&str> = self
            .config
            .labels()
            .iter()
            .filter(|wanted| {
                !host
                    .labels
                    .iter()
                    .any(|(id, name)| id == *wanted || name == *wanted)
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "{serial} does not carry the label(s) {} (FLEET_LABELS)",
                missing.join(", ")
            ));
        }
        self.policy_failure(serial, host)
    }

    fn policy_failure(&self, serial: &Serial, host: &Host) -> Option<String> {
        let show = |(id, name, response): &(String, String, String)| {
            let state = if response.is_empty() {
                "not yet run"
            } else {
                response.as_str()
            };
            format!("{name:?} ({id}): {state}")
        };
        if self.config.requires_every_policy() {
            let failing: Vec<String> = host
                .policies
                .iter()
                .filter(|(_, _, response)| response != "pass")
                .map(show)
                .collect();
            if !failing.is_empty() {
                return Some(format!(
                    "{serial} does not pass every policy (FLEET_POLICIES=*): {}",
                    failing.join("; ")
                ));
            }
            if host.policies.is_empty() && host.failing_policies() > 0 {
                return Some(format!(
                    "{serial} fails {} policies (FLEET_POLICIES=*)",
                    host.failing_policies()
                ));
            }
            return None;
        }
        let mut failures = Vec::new();
        for wanted in self.config.policies() {
            match host
                .policies
                .iter()
                .find(|(id, name, _)| id == wanted || name == wanted)
            {
                Some(policy) if policy.2 == "pass" => {}
                Some(policy) => failures.push(show(policy)),
                None => failures.push(format!("{wanted:?}: not a policy of this host")),
            }
        }
        (!failures.is_empty()).then(|| {
            format!(
                "{serial} does not pass the required policies (FLEET_POLICIES): {}",
                failures.join("; ")
            )
        })
    }
}

posture_http::front_provider! {
    impl PostureProvider for FleetProvider {
        name: "fleet",
        calls: SERVICE,
        /// `GET /api/v1/fleet/me`: a wrong URL or a refused token fails fast, naming the
        /// setting. A success counts for a minute, a failure for 10 s, and concurrent
        /// checks share the one in flight.
        ///
        /// With inventory sync on, a synced inventory younger than `FLEET_SYNC_MAX_AGE` is
        /// ready without a request; none past that age is not ready.
        check_ready;
    }
}

impl FleetProvider {
    async fn fetch_decision(&self, serial: &Serial) -> Result<Decision, ProviderError> {
        let mut url =
            self.config
                .url()
                .join(&["api", "v1", "fleet", "hosts", "identifier", serial.as_str()]);
        url.query_pairs_mut()
            .append_pair("exclude_software", "true");
        let request = format!("GET /api/v1/fleet/hosts/identifier/{serial}");
        let answer = self.get(url, &request, MAX_BODY).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return self.not_found(serial, &answer, &request);
        }
        if answer.status != StatusCode::OK {
            return Err(self.answer_error(&answer, &request));
        }
        let body: serde_json::Value = decode_json(SERVICE, &request, &answer.body)?;
        let Some(host) = model::host(&body) else {
            return Err(ProviderError::permanent(format!(
                "Fleet answered {request} with a body that is not the expected JSON (no \
                 \"host\" object)"
            )));
        };
        // The identifier route also matches hostnames, UUIDs and osquery ids, first match
        // wins: a host whose hostname is this serial is another device.
        if !host.hardware_serial.eq_ignore_ascii_case(serial.as_str()) {
            tracing::debug!(%serial, host = %host.id, "Fleet matched another host");
            return Ok(Decision::deny(
                DenyCode::DEVICE_NOT_FOUND,
                format!(
                    "no host with serial number {serial} in Fleet (the identifier matched host \
                     {} by name or UUID; its serial is {:?})",
                    host.id, host.hardware_serial
                ),
            ));
        }
        Ok(self.decide(serial, &host))
    }

    async fn probe(&self) -> Result<(), ProviderError> {
        let request = "GET /api/v1/fleet/me";
        let setting = format!("FLEET_URL ({})", self.config.url());
        posture_http::probe_within(SERVICE, &setting, self.config.lookup().timeout(), async {
            let url = self.config.url().join(&["api", "v1", "fleet", "me"]);
            let answer = self.get(url, request, MAX_BODY).await?;
            match answer.status {
                StatusCode::OK => Ok(()),
                StatusCode::NOT_FOUND => Err(ProviderError::permanent(format!(
                    "FLEET_URL ({}) does not look like a Fleet server: {request} answered 404",
                    self.config.url()
                ))),
                _ => Err(self.answer_error(&answer, request)),
            }
        })
        .await
    }

    fn report_lines(&self) -> Vec<String> {
        let lines = vec![format!(
            "hosts: GET {} (Fleet REST API v1)",
            self.config
                .url()
                .join(&["api", "v1", "fleet", "hosts", "identifier", "{serial}"])
        )];
        let mut lines = self.front.report(lines);
        if self.inventory().settings().is_on()
            && let Some(left_out) = self.left_out()
        {
            lines.push(left_out.to_string());
        }
        lines
    }
}

impl fmt::Debug for FleetProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        posture_http::debug_provider(f, "FleetProvider", &self.config, &self.stats())
    }
}

impl posture_core::ProviderCounters for FleetProvider {
    fn samples(&self) -> Vec<posture_core::CounterSample> {
        let mut samples = self.front.samples();
        if let Some(left_out) = self.left_out() {
            samples.push(posture_core::CounterSample::gauge(
                (
                    "provider_inventory_left_out",
                    "Hosts the last inventory sync listed but left out of the index (no valid \
                     serial, a key missing from the list, or a serial shared): looked up live.",
                ),
                left_out.total(),
            ));
        }
        samples
    }
}
