//! The conformance suite every device-posture provider runs.
//!
//! A provider's tests build it against a fake backend on loopback, describe it as a
//! [`Subject`], and [`run`] the suite (or, for the usual subject, call [`assert_conforms`], or
//! [`assert_conforms_enrolled`] to have the fake enrol the devices too):
//!
//! | check | what must hold |
//! |---|---|
//! | `unknown device is not found` | a well-formed serial the backend doesn't know is denied with `deviceNotFound` |
//! | `known devices are allowed` | every identifier the test says is allowed, is |
//! | `a non-serial identifier makes no upstream call` | UDIDs, empty, too short or long, and filter-injection attempts are denied with `invalidIdentifier`, and the backend sees no request |
//! | `concurrent lookups are safe` | 64 lookups at once, of known and unknown devices, each give the answer they give alone |
//! | `a transient upstream error is transient` | a 503, and a 429 with `Retry-After`, give transient errors (the latter carrying the delay); until the delay has passed no request reaches the backend |
//! | `garbage from upstream is an error` | an answer that isn't the expected JSON gives a permanent error, not a panic and not a decision |
//! | `recovers when the upstream does` | once the backend is healthy again, answers are right again |
//!
//! Every lookup runs in its own task under a 10 s deadline, so a panic or a hang is reported
//! as a failure of the check, not as a crashed test. Checks that need a backend (the
//! upstream ones) are skipped for a provider without one, such as the file provider.
//!
//! ```
//! use std::sync::Arc;
//! use posture_core::{Decision, DenyCode, LookupRequest, PostureProvider, ProviderError};
//! use posture_conformance::{Subject, run};
//!
//! #[derive(Debug)]
//! struct OneDevice;
//! impl PostureProvider for OneDevice {
//!     fn name(&self) -> &str { "one" }
//!     async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
//!         Ok(if request.identifier() == "C02XL0GJJG5J" {
//!             Decision::allow()
//!         } else {
//!             Decision::deny(DenyCode::DEVICE_NOT_FOUND, "unknown")
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let subject = Subject::new(Arc::new(OneDevice))
//!     .with_allowed(["C02XL0GJJG5J"])
//!     .without_identifier_checks();
//! run(&subject).await.assert_passed();
//! # }
//! ```

pub mod backoff;
mod settings;
pub mod support;
pub mod sync;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use posture_core::{
    Decision, DenyCode, DeviceMode, DynPostureProvider, LookupRequest, ProviderError,
};

/// The fake backend behind a provider under test.
pub trait Upstream: Send + Sync {
    /// How many requests the backend has received so far, of any kind (tokens included).
    fn requests(&self) -> u64;

    /// Makes every lookup from now on fail this way, until [`heal`](Self::heal).
    fn inject(&self, fault: Fault);

    /// Stops injecting faults.
    fn heal(&self);

    /// Adds a device that a provider with default rules allows: an enrolled, managed device
    /// of the family a lookup with no mode asks for.
    fn enrol(&self, serial: &str);

    /// Delays every answer from now on by `latency`.
    fn set_latency(&self, latency: Duration);
}

/// A failure for the backend to inject.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `503 Service Unavailable`.
    Unavailable,
    /// Answer `429 Too Many Requests` with `Retry-After: <seconds>`.
    RateLimited {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// Answer `200 OK` with a body that is not the expected JSON.
    Garbage,
}

/// A provider under test and what the test knows about its backend.
#[derive(Clone)]
pub struct Subject {
    provider: Arc<dyn DynPostureProvider>,
    allowed: Vec<String>,
    mode: DeviceMode,
    upstream: Option<Arc<dyn Upstream>>,
    checks_identifiers: bool,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("provider", &self.provider.name())
            .field("allowed", &self.allowed)
            .field("mode", &self.mode)
            .field("upstream", &self.upstream.is_some())
            .field("checks_identifiers", &self.checks_identifiers)
            .finish()
    }
}

impl Subject {
    /// A provider with no known devices, no backend, that refuses non-serial identifiers.
    ///
    /// Build the provider with its caches on or off: the suite uses a fresh serial for every
    /// check whose answer a cache could hide.
    pub fn new(provider: Arc<dyn DynPostureProvider>) -> Self {
        Self {
            provider,
            allowed: Vec::new(),
            mode: DeviceMode::Unspecified,
            upstream: None,
            checks_identifiers: true,
        }
    }

    /// Identifiers the provider must allow.
    #[must_use]
    pub fn with_allowed<I, S>(mut self, identifiers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed = identifiers.into_iter().map(Into::into).collect();
        self
    }

    /// The `mode` every request carries.
    #[must_use]
    pub fn with_mode(mut self, mode: DeviceMode) -> Self {
        self.mode = mode;
        self
    }

    /// The fake backend, which enables the upstream checks.
    #[must_use]
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// For providers that look any identifier up as it is (the file provider): skips the
    /// `invalidIdentifier` check.
    #[must_use]
    pub fn without_identifier_checks(mut self) -> Self {
        self.checks_identifiers = false;
        self
    }
}

/// What a run found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Report {
    /// The checks that passed.
    pub passed: Vec<&'static str>,
    /// The checks that were skipped, because the subject has no backend.
    pub skipped: Vec<&'static str>,
    /// One line per failure: the check and what went wrong.
    pub failures: Vec<String>,
}

impl Report {
    /// Panics, listing every failure, unless every check passed.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(
            self.failures.is_empty(),
            "conformance failures:\n  {}\n(passed: {:?})",
            self.failures.join("\n  "),
            self.passed
        );
    }
}

/// Identifiers that are not serial numbers, and why each must be refused.
pub const NOT_SERIALS: [&str; 8] = [
    "00008103-001A2B3C4D5E001E",
    "270aae10800b6e61a2ee2bbc285eb967050b5984",
    "000DF0BF-00FF-D00B-FA00-000F0DA0FE00",
    "",
    "C02XL0G",
    "C02XL0GJJG5JABCDEF",
    "C02XL0GJ'G5J",
    "serialNumber eq 'x' or 1 eq 1",
];

/// The `Retry-After` the rate-limit check sends: short, since the suite waits it out.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long any single lookup may take before the check fails.
const DEADLINE: Duration = Duration::from_secs(10);

type Outcome = Result<Result<Decision, ProviderError>, String>;

struct Run<'a> {
    subject: &'a Subject,
    next_serial: AtomicU64,
    report: Report,
}

/// Runs every check against `subject`.
pub async fn run(subject: &Subject) -> Report {
    let mut run = Run {
        subject,
        next_serial: AtomicU64::new(1),
        report: Report::default(),
    };
    run.unknown_device().await;
    run.known_devices().await;
    run.not_serials().await;
    run.concurrency().await;
    if subject.upstream.is_some() {
        run.transient().await;
        run.garbage().await;
        run.recovery().await;
    } else {
        run.report.skipped.extend([
            "a transient upstream error is transient",
            "garbage from upstream is an error",
            "recovers when the upstream does",
        ]);
    }
    run.report
}

impl Run<'_> {
    /// A well-formed serial no test fixture uses.
    fn fresh_serial(&self) -> String {
        let n = self.next_serial.fetch_add(1, Ordering::Relaxed);
        format!("ZQ{n:010}")
    }

    async fn lookup(&self, identifier: &str) -> Outcome {
        lookup(self.subject, identifier.to_owned()).await
    }

    fn record(&mut self, check: &'static str, failures: Vec<String>) {
        if failures.is_empty() {
            self.report.passed.push(check);
        } else {
            self.report
                .failures
                .extend(failures.into_iter().map(|f| format!("{check}: {f}")));
        }
    }

    async fn unknown_device(&mut self) {
        const CHECK: &str = "unknown device is not found";
        let serial = self.fresh_serial();
        let outcome = self.lookup(&serial).await;
        let failures = expect_not_found(&serial, &outcome).into_iter().collect();
        self.record(CHECK, failures);
    }

    async fn known_devices(&mut self) {
        const CHECK: &str = "known devices are allowed";
        let mut failures = Vec::new();
        for identifier in &self.subject.allowed {
            let outcome = self.lookup(identifier).await;
            if let Some(failure) = expect_allowed(identifier, &outcome) {
                failures.push(failure);
            }
        }
        self.record(CHECK, failures);
    }

    async fn not_serials(&mut self) {
        const CHECK: &str = "a non-serial identifier makes no upstream call";
        if !self.subject.checks_identifiers {
            self.report.skipped.push(CHECK);
            return;
        }
        let before = self.subject.upstream.as_ref().map(|u| u.requests());
        let mut failures = Vec::new();
        for identifier in NOT_SERIALS {
            match self.lookup(identifier).await {
                Ok(Ok(decision)) if decision.deny_code() == Some(&DenyCode::INVALID_IDENTIFIER) => {
                    if decision.deny_message().is_none_or(str::is_empty) {
                        failures.push(format!("{identifier:?}: the deny gives no reason"));
                    }
                }
                other => failures.push(format!(
                    "{identifier:?}: expected a deny with invalidIdentifier, got {}",
                    show(&other)
                )),
            }
        }
        if let (Some(before), Some(upstream)) = (before, &self.subject.upstream) {
            let after = upstream.requests();
            if after != before {
                failures.push(format!(
                    "the backend received {} requests for identifiers that are not serials",
                    after - before
                ));
            }
        }
        self.record(CHECK, failures);
    }

    async fn concurrency(&mut self) {
        const CHECK: &str = "concurrent lookups are safe";
        let unknown: Vec<String> = (0..8).map(|_| self.fresh_serial()).collect();
        let mut cases: Vec<(String, bool)> = unknown.into_iter().map(|s| (s, false)).collect();
        cases.extend(self.subject.allowed.iter().map(|s| (s.clone(), true)));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64 {
            let (identifier, allowed) = cases[i % cases.len()].clone();
            let subject = self.subject.clone();
            tasks.spawn(async move {
                let outcome = lookup(&subject, identifier.clone()).await;
                if allowed {
                    expect_allowed(&identifier, &outcome)
                } else {
                    expect_not_found(&identifier, &outcome)
                }
            });
        }
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(None) => {}
                Ok(Some(failure)) => failures.push(failure),
                Err(err) => failures.push(format!("a lookup task failed: {err}")),
            }
        }
        failures.dedup();
        self.record(CHECK, failures);
    }

    async fn transient(&mut self) {
        const CHECK: &str = "a transient upstream error is transient";
        let Some(upstream) = self.subject.upstream.clone() else {
            return;
        };
        let mut failures = Vec::new();
        upstream.inject(Fault::Unavailable);
        let serial = self.fresh_serial();
        match self.lookup(&serial).await {
            Ok(Err(err)) if err.is_transient() => {}
            other => failures.push(format!(
                "503: expected a transient error, got {}",
                show(&other)
            )),
        }
        upstream.inject(Fault::RateLimited {
            retry_after_secs: RETRY_AFTER.as_secs(),
        });
        let serial = self.fresh_serial();
        let limited_at = Instant::now();
        match self.lookup(&serial).await {
            Ok(Err(err)) if err.is_transient() => {
                if err.retry_after() != Some(RETRY_AFTER) {
                    failures.push(format!(
                        "429 with Retry-After: {}: the error carries {:?}",
                        RETRY_AFTER.as_secs(),
                        err.retry_after()
                    ));
                }
            }
            other => failures.push(format!(
                "429: expected a transient error, got {}",
                show(&other)
            )),
        }
        // The backend asked for quiet: until the delay passes, a lookup must not reach it,
        // even once it has recovered, and must say how long is left.
        upstream.heal();
        let before = upstream.requests();
        let serial = self.fresh_serial();
        let outcome = self.lookup(&serial).await;
        let still_waiting = limited_at.elapsed() < RETRY_AFTER;
        if still_waiting {
            match &outcome {
                Ok(Err(err))
                    if err.is_transient()
                        && err.retry_after().is_some_and(|left| left <= RETRY_AFTER) => {}
                other => failures.push(format!(
                    "within Retry-After: expected a transient error with the time left, got {}",
                    show(other)
                )),
            }
            let calls = upstream.requests() - before;
            if calls != 0 {
                failures.push(format!(
                    "within Retry-After: {calls} request(s) reached the backend"
                ));
            }
        }
        if let Some(left) = RETRY_AFTER.checked_sub(limited_at.elapsed()) {
            tokio::time::sleep(left + Duration::from_millis(50)).await;
        }
        self.record(CHECK, failures);
    }

    async fn garbage(&mut self) {
        const CHECK: &str = "garbage from upstream is an error";
        let Some(upstream) = self.subject.upstream.clone() else {
            return;
        };
        upstream.inject(Fault::Garbage);
        let serial = self.fresh_serial();
        let outcome = self.lookup(&serial).await;
        upstream.heal();
        let failures = match outcome {
            Ok(Err(err)) if !err.is_transient() => Vec::new(),
            other => vec![format!("expected a permanent error, got {}", show(&other))],
        };
        self.record(CHECK, failures);
    }

    async fn recovery(&mut self) {
        const CHECK: &str = "recovers when the upstream does";
        let serial = self.fresh_serial();
        let mut failures: Vec<String> = expect_not_found(&serial, &self.lookup(&serial).await)
            .into_iter()
            .collect();
        for identifier in &self.subject.allowed {
            if let Some(failure) = expect_allowed(identifier, &self.lookup(identifier).await) {
                failures.push(failure);
            }
        }
        self.record(CHECK, failures);
    }
}

/// Runs every check against `provider`, backed by the fake `upstream`, which lists the
/// devices `allowed`; panics, listing every failure, unless every check passed.
///
/// The [`Subject`] of most MDM providers (requests with no mode, identifier checks on) in
/// one call; build the [`Subject`] for anything else.
pub async fn assert_conforms<P, U, I, S>(provider: P, upstream: U, allowed: I)
where
    P: DynPostureProvider + 'static,
    U: Upstream + 'static,
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let subject = Subject::new(Arc::new(provider))
        .with_allowed(allowed)
        .with_upstream(Arc::new(upstream));
    run(&subject).await.assert_passed();
}

/// [`assert_conforms`], with each of `allowed` first enrolled in `upstream` as a default
/// device ([`Upstream::enrol`]): for the MDMs whose every device a provider with default
/// rules allows, so that the test names each device once.
pub async fn assert_conforms_enrolled<P, U>(provider: P, upstream: U, allowed: &[&str])
where
    P: DynPostureProvider + 'static,
    U: Upstream + 'static,
{
    for serial in allowed {
        upstream.enrol(serial);
    }
    assert_conforms(provider, upstream, allowed.iter().copied()).await;
}

/// One lookup in its own task, under [`DEADLINE`]: a panic or a hang becomes an `Err`.
async fn lookup(subject: &Subject, identifier: String) -> Outcome {
    let provider = subject.provider.clone();
    let request = LookupRequest::new(identifier).with_mode(subject.mode);
    let task = tokio::spawn(async move { provider.lookup_boxed(&request).await });
    match tokio::time::timeout(DEADLINE, task).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(err)) if err.is_panic() => Err("the lookup panicked".to_owned()),
        Ok(Err(err)) => Err(format!("the lookup task failed: {err}")),
        Err(_) => Err(format!("no answer within {} s", DEADLINE.as_secs())),
    }
}

fn expect_allowed(identifier: &str, outcome: &Outcome) -> Option<String> {
    match outcome {
        Ok(Ok(decision)) if decision.is_allowed() => None,
        other => Some(format!(
            "{identifier:?}: expected allowed, got {}",
            show(other)
        )),
    }
}

fn expect_not_found(identifier: &str, outcome: &Outcome) -> Option<String> {
    match outcome {
        Ok(Ok(decision)) if decision.deny_code() == Some(&DenyCode::DEVICE_NOT_FOUND) => None,
        other => Some(format!(
            "{identifier:?}: expected a deny with deviceNotFound, got {}",
            show(other)
        )),
    }
}

fn show(outcome: &Outcome) -> String {
    match outcome {
        Ok(Ok(Decision::Allow { .. })) => "allowed".to_owned(),
        Ok(Ok(Decision::Deny { code, message })) => format!("deny {code}: {message}"),
        Ok(Ok(other)) => format!("{other:?}"),
        Ok(Err(err)) => format!(
            "{} error: {err}",
            if err.is_transient() {
                "transient"
            } else {
                "permanent"
            }
        ),
        Err(failure) => failure.clone(),
    }
}

#[cfg(test)]
mod tests {
    use posture_core::PostureProvider;

    use super::*;

    /// A provider that gets everything wrong, to prove the suite can fail.
    #[derive(Debug)]
    struct Broken;

    impl PostureProvider for Broken {
        fn name(&self) -> &str {
            "broken"
        }

        async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
            match request.identifier() {
                "C02XL0GJJG5J" => Err(ProviderError::permanent("down")),
                "" => panic!("empty identifier"),
                _ => Ok(Decision::allow()),
            }
        }
    }

    #[tokio::test]
    async fn a_broken_provider_fails_every_check_it_can() {
        let subject = Subject::new(Arc::new(Broken)).with_allowed(["C02XL0GJJG5J"]);
        let report = run(&subject).await;
        assert!(report.passed.is_empty(), "{report:?}");
        let text = report.failures.join("\n");
        assert!(text.contains("unknown device is not found"), "{text}");
        assert!(text.contains("known devices are allowed"), "{text}");
        assert!(
            text.contains("\"\": expected a deny with invalidIdentifier, got the lookup panicked"),
            "{text}"
        );
        assert!(text.contains("concurrent lookups are safe"), "{text}");
        assert_eq!(report.skipped.len(), 3);
    }
}
