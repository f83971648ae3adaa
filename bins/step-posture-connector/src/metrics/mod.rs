//! Prometheus metrics, served on a separate plain-HTTP listener (`METRICS_ADDR`).
//!
//! Every series a request touches is created up front or keyed by a small label set built
//! from `&'static str`s, the deny code and a shared pointer to the webhook ID, so recording
//! into an existing series takes a read lock and a few atomic operations, and allocates
//! only for a provider's custom (owned) deny code. Counters that providers keep themselves
//! (tokens, caches, requests: [`ProviderCounters`]) are read when Prometheus scrapes,
//! through a [`Collector`](prometheus_client::collector::Collector), the same way for every provider.
//!
//! This file holds the registry and the recording helpers; `collectors` the series read at
//! scrape time, and `listener` the plain-HTTP listener, which reuses the webhook port's
//! admission and connection handling.
//!
//! | series | labels |
//! |---|---|
//! | `step_posture_decisions_total` | `outcome` (allow, deny, unauthorized, error), `code`, `webhook_id`, `mode` |
//! | `step_posture_request_duration_seconds` | histogram of webhook requests, end to end |
//! | `step_posture_provider_lookup_duration_seconds` | `provider`, `result` (allow, deny, error, cancelled) |
//! | `step_posture_provider_cache_hits_total`, `…_cache_misses_total` | `provider`, `cache` |
//! | `step_posture_provider_token_requests_total`, `…_token_failures_total` | `provider` |
//! | `step_posture_provider_requests_total` | `provider`: requests sent to the MDM |
//! | `step_posture_provider_connection_waits_total` | `provider`: requests that waited for a connection slot (Jamf) |
//! | `step_posture_provider_hourly_quota_left` | gauge by `provider`: requests left in the MDM's hourly quota, as its last answer said (Kandji) |
//! | `step_posture_tls_handshake_failures_total` | `reason` (error, timeout) |
//! | `step_posture_reloads_total` | `target` (tls, devices, webhooks), `result` (success, failure) |
//! | `step_posture_tls_certificate_expiry_timestamp_seconds` | when the served certificate expires |
//! | `step_posture_devices` | devices in the file provider's current list |
//! | `step_posture_scep_challenges_total` | `result`: the method that passed (`static`, `signed`, `intune`) or `refused` |
//! | `step_posture_scep_intune_call_duration_seconds` | histogram by `action`: each Intune SCEP call, token and discovery included |
//! | `step_posture_scep_intune_calls_total` | `action` (`validateRequest`, `successNotification`, `failureNotification`), `result` (`success`, `rejected`, `transient`, `error`) |
//! | `step_posture_scep_notifications_total` | `result`: `success`, `failure`, `repeated` |
//! | `step_posture_scep_challenge_requests_total` | `result`: `issued`, `unauthorized`, `refused` |
//! | `step_posture_devices_stale_seconds` | how long the device file on disk has differed from the list served (a reload failed, was refused, or waits for the file to settle); 0 when current |
//! | `step_posture_build_info` | `version` |

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use posture_core::{DenyCode, DeviceMode};
use posture_core::{ProviderCounters, ReloadableList};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry, Unit};

use crate::tls::TlsState;

mod collectors;
mod listener;

use collectors::{DevicesCollector, ProviderCollector, TlsCollector};
pub(crate) use listener::serve;

/// How a webhook request ended, as the `outcome` label spells it.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub(crate) enum Outcome {
    /// The certificate is allowed.
    Allow,
    /// The certificate is denied (HTTP 200 with a reason).
    Deny,
    /// The request failed authentication (HTTP 401).
    Unauthorized,
    /// No decision: body too large, unreadable, provider unavailable or too slow.
    Error,
}

impl Outcome {
    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Unauthorized => "unauthorized",
            Self::Error => "error",
        }
    }
}

/// What a provider lookup came to, as the `result` label spells it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) enum LookupResult {
    /// The provider allowed the device.
    Allow,
    /// The provider denied the device.
    Deny,
    /// The provider failed.
    Error,
    /// The request ended first (`TIMEOUT`, or the client went away).
    Cancelled,
}

/// Which state a reload replaced.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) enum ReloadTarget {
    /// The TLS certificate, key and client CA.
    Tls,
    /// The file provider's device list.
    Devices,
    /// The webhook IDs, secrets and `Authorization` credentials.
    Webhooks,
}

impl ReloadTarget {
    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Devices => "devices",
            Self::Webhooks => "webhooks",
        }
    }
}

impl fmt::Display for ReloadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a TLS handshake failed.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) enum HandshakeFailure {
    /// The client or the server refused (bad certificate, protocol error, reset).
    Error,
    /// The client did not finish within `TLS_HANDSHAKE_TIMEOUT`.
    Timeout,
}

/// A deny code as a label value; no code is the empty value (no label).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
struct CodeLabel(Option<DenyCode>);

impl EncodeLabelValue for CodeLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.0.as_ref().map_or("", DenyCode::as_str), encoder)
    }
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: &'static str,
    code: CodeLabel,
    webhook_id: Option<Arc<str>>,
    mode: &'static str,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct ProviderLabels {
    provider: Arc<str>,
    result: &'static str,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct ReloadLabels {
    target: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct IntuneActionLabels {
    action: &'static str,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// One histogram per lookup result, created up front.
#[derive(Clone, Debug)]
struct LookupHistograms {
    allow: Histogram,
    deny: Histogram,
    error: Histogram,
    cancelled: Histogram,
}

/// The server's metrics. Cheap to record into from any thread; see the module
/// documentation for the series.
pub(crate) struct Metrics {
    registry: Registry,
    webhook_ids: Vec<Arc<str>>,
    decisions: Family<DecisionLabels, Counter>,
    request_duration: Histogram,
    lookups: LookupHistograms,
    handshake_error: Counter,
    handshake_timeout: Counter,
    reload_tls_success: Counter,
    reload_tls_failure: Counter,
    reload_devices_success: Counter,
    reload_devices_failure: Counter,
    reload_webhooks_success: Counter,
    reload_webhooks_failure: Counter,
    scep_challenges: Family<ResultLabels, Counter>,
    scep_notifications: Family<ResultLabels, Counter>,
    scep_issued: Family<ResultLabels, Counter>,
    scep_intune_calls: Family<ActionLabels, Counter>,
    scep_intune_duration: Latencies<IntuneActionLabels>,
    /// Since when the device file has differed from the list served; shared with the
    /// collector that exports it.
    devices_stale_since: Arc<Mutex<Option<Instant>>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("webhook_ids", &self.webhook_ids)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(std::iter::empty::<&str>(), "none")
    }
}

/// Request and lookup latency buckets: 0.5 ms to about 8 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0005, 2.0, 15)
}

/// A fresh `M` registered as `name`: the handle returned and the registered series share
/// their values, so recording into the handle is what a scrape reads.
fn registered<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// `metric` registered as `name`, in seconds (the series name ends `_seconds`); returned
/// to be recorded into.
fn registered_seconds<M: Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register_with_unit(name, help, Unit::Seconds, metric.clone());
    metric
}

/// A family of latency histograms, one per label set.
type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

/// A [`Latencies`] family whose histograms have the [`latency_buckets`].
fn latencies<L: Clone + Eq + std::hash::Hash>() -> Latencies<L> {
    Family::new_with_constructor(|| Histogram::new(latency_buckets()))
}

impl Metrics {
    /// Metrics for a server with these webhook IDs (the only values the `webhook_id` label
    /// takes; requests claiming another ID are counted without it) and this provider.
    pub(crate) fn new<I, S>(webhook_ids: I, provider: &str) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut registry = Registry::with_prefix("step_posture");
        let decisions: Family<DecisionLabels, Counter> = registered(
            &mut registry,
            "decisions",
            "Webhook requests by outcome, deny code, webhook ID and device mode",
        );
        let request_duration = registered_seconds(
            &mut registry,
            "request_duration",
            "Time to answer a webhook request, from its first byte to the answer",
            Histogram::new(latency_buckets()),
        );
        let lookup_family: Latencies<ProviderLabels> = registered_seconds(
            &mut registry,
            "provider_lookup_duration",
            "Time the provider took to decide, by provider and result",
            latencies(),
        );
        let provider: Arc<str> = Arc::from(provider);
        let lookup = |result: &'static str| {
            lookup_family.get_or_create_owned(&ProviderLabels {
                provider: provider.clone(),
                result,
            })
        };
        let lookups = LookupHistograms {
            allow: lookup("allow"),
            deny: lookup("deny"),
            error: lookup("error"),
            cancelled: lookup("cancelled"),
        };
        let handshakes: Family<ReasonLabels, Counter> = registered(
            &mut registry,
            "tls_handshake_failures",
            "TLS handshakes on the webhook port that failed or timed out",
        );
        let reloads: Family<ReloadLabels, Counter> = registered(
            &mut registry,
            "reloads",
            "Reloads of the TLS files and of the device list, by result",
        );
        let reload = |target: ReloadTarget, result: &'static str| {
            reloads.get_or_create_owned(&ReloadLabels {
                target: target.as_str(),
                result,
            })
        };
        let scep_challenges = registered(
            &mut registry,
            "scep_challenges",
            "SCEP challenges checked, by the method that passed (static, signed, intune) or refused",
        );
        let scep_notifications = registered(
            &mut registry,
            "scep_notifications",
            "SCEP notifications received, by result (success, failure, repeated)",
        );
        let scep_issued = registered(
            &mut registry,
            "scep_challenge_requests",
            "Requests to the challenge-issuing routes, by outcome (issued, unauthorized, refused)",
        );
        let scep_intune_duration = registered_seconds(
            &mut registry,
            "scep_intune_call_duration",
            "Time each Intune SCEP validation call took, token and discovery included, by action",
            latencies(),
        );
        let scep_intune_calls = registered(
            &mut registry,
            "scep_intune_calls",
            "Calls to Intune's SCEP validation service, by action and result (success, rejected, transient, error)",
        );
        registry.register(
            "build",
            "The running version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Self {
            webhook_ids: webhook_ids
                .into_iter()
                .map(|id| Arc::from(id.as_ref()))
                .collect(),
            decisions,
            request_duration,
            lookups,
            handshake_error: handshakes.get_or_create_owned(&ReasonLabels { reason: "error" }),
            handshake_timeout: handshakes.get_or_create_owned(&ReasonLabels { reason: "timeout" }),
            reload_tls_success: reload(ReloadTarget::Tls, "success"),
            reload_tls_failure: reload(ReloadTarget::Tls, "failure"),
            reload_devices_success: reload(ReloadTarget::Devices, "success"),
            reload_devices_failure: reload(ReloadTarget::Devices, "failure"),
            reload_webhooks_success: reload(ReloadTarget::Webhooks, "success"),
            reload_webhooks_failure: reload(ReloadTarget::Webhooks, "failure"),
            scep_challenges,
            scep_notifications,
            scep_issued,
            scep_intune_calls,
            scep_intune_duration,
            devices_stale_since: Arc::default(),
            registry,
        }
    }

    /// Counts a SCEP challenge check: the method that passed, or `refused`.
    pub(crate) fn record_scep_challenge(&self, result: &'static str) {
        self.scep_challenges
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts a SCEP notification; a repeated delivery counts as `repeated` only.
    pub(crate) fn record_scep_notification(&self, success: bool, repeated: bool) {
        let result = match (repeated, success) {
            (true, _) => "repeated",
            (false, true) => "success",
            (false, false) => "failure",
        };
        self.scep_notifications
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Counts a call to Intune's SCEP validation service by action and result, and times it.
    pub(crate) fn record_scep_intune(
        &self,
        action: &'static str,
        result: &'static str,
        took: Duration,
    ) {
        self.scep_intune_calls
            .get_or_create(&ActionLabels { action, result })
            .inc();
        self.scep_intune_duration
            .get_or_create(&IntuneActionLabels { action })
            .observe(took.as_secs_f64());
    }

    /// Counts a request to the challenge-issuing routes by outcome.
    pub(crate) fn record_scep_issue(&self, outcome: &'static str) {
        self.scep_issued
            .get_or_create(&ResultLabels { result: outcome })
            .inc();
    }

    /// Also exports the providers' own counters (tokens, caches, requests), read at scrape
    /// time, each series labelled with its provider's name.
    #[must_use]
    pub(crate) fn with_provider_counters(
        mut self,
        sources: Vec<(String, Arc<dyn ProviderCounters>)>,
    ) -> Self {
        if !sources.is_empty() {
            self.registry
                .register_collector(Box::new(ProviderCollector { sources }));
        }
        self
    }

    /// Also exports when the served certificate expires, read at scrape time.
    #[must_use]
    pub(crate) fn with_tls(mut self, tls: Arc<ArcSwap<TlsState>>) -> Self {
        self.registry
            .register_collector(Box::new(TlsCollector { tls }));
        self
    }

    /// Also exports how many devices the file provider's current list holds.
    #[must_use]
    pub(crate) fn with_devices(mut self, file: Arc<dyn ReloadableList>) -> Self {
        let stale_since = self.devices_stale_since.clone();
        self.registry
            .register_collector(Box::new(DevicesCollector { file, stale_since }));
        self
    }

    /// Records since when the device file on disk has differed from the list served
    /// (`None`: it has not), for `step_posture_devices_stale_seconds`.
    pub(crate) fn set_devices_stale_since(&self, since: Option<Instant>) {
        *self
            .devices_stale_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = since;
    }

    /// Counts one webhook request and observes its duration.
    pub(crate) fn record_decision(
        &self,
        outcome: Outcome,
        code: Option<&DenyCode>,
        webhook_id: &str,
        mode: DeviceMode,
        elapsed: Duration,
    ) {
        let labels = DecisionLabels {
            outcome: outcome.as_str(),
            code: CodeLabel(code.cloned()),
            webhook_id: self
                .webhook_ids
                .iter()
                .find(|id| ***id == *webhook_id)
                .cloned(),
            mode: mode_label(mode),
        };
        self.decisions.get_or_create(&labels).inc();
        self.request_duration.observe(elapsed.as_secs_f64());
    }

    /// Observes one provider lookup.
    pub(crate) fn record_lookup(&self, result: LookupResult, elapsed: Duration) {
        let histogram = match result {
            LookupResult::Allow => &self.lookups.allow,
            LookupResult::Deny => &self.lookups.deny,
            LookupResult::Error => &self.lookups.error,
            LookupResult::Cancelled => &self.lookups.cancelled,
        };
        histogram.observe(elapsed.as_secs_f64());
    }

    /// Counts a failed TLS handshake.
    pub(crate) fn record_handshake_failure(&self, failure: HandshakeFailure) {
        match failure {
            HandshakeFailure::Error => self.handshake_error.inc(),
            HandshakeFailure::Timeout => self.handshake_timeout.inc(),
        };
    }

    /// Counts a reload.
    pub(crate) fn record_reload(&self, target: ReloadTarget, success: bool) {
        let counter = match (target, success) {
            (ReloadTarget::Tls, true) => &self.reload_tls_success,
            (ReloadTarget::Tls, false) => &self.reload_tls_failure,
            (ReloadTarget::Devices, true) => &self.reload_devices_success,
            (ReloadTarget::Devices, false) => &self.reload_devices_failure,
            (ReloadTarget::Webhooks, true) => &self.reload_webhooks_success,
            (ReloadTarget::Webhooks, false) => &self.reload_webhooks_failure,
        };
        counter.inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub(crate) fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn mode_label(mode: DeviceMode) -> &'static str {
    match mode {
        DeviceMode::Computer => "computer",
        DeviceMode::MobileDevice => "mobiledevice",
        DeviceMode::Auto => "auto",
        _ => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters as a provider outside this crate would report them.
    #[derive(Debug)]
    struct Reported(Vec<posture_core::CounterSample>);

    impl ProviderCounters for Reported {
        fn samples(&self) -> Vec<posture_core::CounterSample> {
            self.0.clone()
        }
    }

    #[test]
    fn every_providers_counters_share_one_family_per_name() {
        use posture_core::CounterSample;
        let jamf = Reported(vec![
            CounterSample::new(CounterSample::REQUESTS, 3),
            CounterSample::new(CounterSample::CACHE_HITS, 2).label("cache", "decisions"),
        ]);
        let static_list = Reported(vec![
            CounterSample::new(CounterSample::REQUESTS, 7),
            CounterSample::gauge(("provider_quota_left", "Requests left."), 40),
        ]);
        let sources: Vec<(String, Arc<dyn ProviderCounters>)> = vec![
            ("jamf".to_owned(), Arc::new(jamf)),
            ("static".to_owned(), Arc::new(static_list)),
        ];
        let metrics =
            Metrics::new(std::iter::empty::<&str>(), "combined").with_provider_counters(sources);
        let text = metrics.encode().unwrap();
        assert_eq!(
            series(&text, "step_posture_provider_requests_total"),
            [
                "step_posture_provider_requests_total{provider=\"jamf\"} 3",
                "step_posture_provider_requests_total{provider=\"static\"} 7",
            ]
        );
        assert_eq!(
            text.matches("# TYPE step_posture_provider_requests counter")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("# TYPE step_posture_provider_quota_left gauge"),
            "{text}"
        );
        assert_eq!(
            series(&text, "step_posture_provider_quota_left"),
            ["step_posture_provider_quota_left{provider=\"static\"} 40"]
        );
        assert_eq!(
            series(&text, "step_posture_provider_cache_hits_total"),
            ["step_posture_provider_cache_hits_total{provider=\"jamf\",cache=\"decisions\"} 2"]
        );
    }

    fn series<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|line| line.starts_with(prefix))
            .collect()
    }

    #[test]
    fn decisions_are_counted_by_their_labels_and_unknown_ids_are_not_labels() {
        let metrics = Metrics::new(["d09736a5-780b-476e-abdb-e2e4c0439cf9"], "file");
        let id = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
        let ms = Duration::from_millis(1);
        metrics.record_decision(Outcome::Allow, None, id, DeviceMode::Computer, ms);
        metrics.record_decision(Outcome::Allow, None, id, DeviceMode::Computer, ms);
        metrics.record_decision(
            Outcome::Deny,
            Some(&DenyCode::DEVICE_NOT_FOUND),
            id,
            DeviceMode::Unspecified,
            ms,
        );
        metrics.record_decision(
            Outcome::Unauthorized,
            None,
            "attacker-chosen",
            DeviceMode::Unspecified,
            ms,
        );
        let text = metrics.encode().unwrap();
        let decisions = series(&text, "step_posture_decisions_total");
        assert!(decisions.contains(&format!(
            "step_posture_decisions_total{{outcome=\"allow\",code=\"\",webhook_id=\"{id}\",mode=\"computer\"}} 2"
        ).as_str()), "{text}");
        assert!(decisions.contains(&format!(
            "step_posture_decisions_total{{outcome=\"deny\",code=\"deviceNotFound\",webhook_id=\"{id}\",mode=\"unspecified\"}} 1"
        ).as_str()), "{text}");
        assert!(decisions.contains(
            &"step_posture_decisions_total{outcome=\"unauthorized\",code=\"\",webhook_id=\"\",mode=\"unspecified\"} 1"
        ), "{text}");
        assert!(!text.contains("attacker-chosen"));
        assert!(
            text.contains("step_posture_request_duration_seconds_count 4"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "step_posture_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn handshake_failures_and_reloads_are_counted() {
        let metrics = Metrics::default();
        metrics.record_handshake_failure(HandshakeFailure::Timeout);
        metrics.record_reload(ReloadTarget::Devices, false);
        metrics.record_reload(ReloadTarget::Tls, true);
        metrics.record_reload(ReloadTarget::Tls, true);
        let text = metrics.encode().unwrap();
        for line in [
            "step_posture_tls_handshake_failures_total{reason=\"timeout\"} 1",
            "step_posture_tls_handshake_failures_total{reason=\"error\"} 0",
            "step_posture_reloads_total{target=\"devices\",result=\"failure\"} 1",
            "step_posture_reloads_total{target=\"devices\",result=\"success\"} 0",
            "step_posture_reloads_total{target=\"tls\",result=\"success\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
