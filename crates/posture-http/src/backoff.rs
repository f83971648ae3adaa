use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::StatusCode;
use http::header::HeaderMap;
use posture_core::ProviderError;
use tokio::time::Instant;

use crate::classify::retry_after;

/// The longest `Retry-After` a [`Backoff`] honours unless told otherwise. A backend may ask
/// for an hour (the most [`retry_after`](crate::retry_after) reads), but one such answer
/// must not lock a provider out for that long after the backend has recovered.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Honours a backend's `Retry-After`: once a 429 or 503 asks us to wait, calls are refused
/// locally, as transient errors, until the delay has passed; then a single request goes
/// through as a probe, and the others keep failing fast until its answer arrives.
///
/// Without it every webhook request during a rate-limit window would still hit the backend,
/// prolonging the limit; with it the backend sees nothing until it said it would be ready,
/// and then one request rather than every lookup that queued meanwhile. The delay honoured
/// is at most the cap given to [`new`](Self::new) ([`DEFAULT_MAX_RETRY_AFTER`]), so a
/// `Retry-After: 3600` can't keep a recovered backend unused for an hour.
///
/// [`check`](Self::check) hands out a [`BackoffPass`] for each request sent; the pass takes the
/// answer ([`BackoffPass::observe`]). A probe's pass dropped without an answer (the request
/// failed, or its caller gave up) lets the next caller probe instead.
///
/// ```
/// use std::time::Duration;
/// use posture_http::{Backoff, StatusCode};
/// use posture_http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
///
/// let backoff = Backoff::new(Duration::from_secs(60));
/// let pass = backoff.check("Jamf Pro")?;
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
/// pass.observe(StatusCode::TOO_MANY_REQUESTS, &headers);
/// let err = backoff.check("Jamf Pro").unwrap_err();
/// assert!(err.is_transient());
/// // An hour asked for, a minute honoured.
/// assert!(err.retry_after().is_some_and(|d| d <= Duration::from_secs(60)));
/// # Ok::<(), posture_core::ProviderError>(())
/// ```
#[derive(Debug)]
pub struct Backoff {
    max_delay: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    gate: Gate,
    /// Numbers the probes, so a late answer can't settle a newer probe's turn.
    probes: u64,
}

#[derive(Clone, Copy, Debug, Default)]
enum Gate {
    /// Requests go.
    #[default]
    Open,
    /// Nothing goes until then; the first caller after it probes.
    Closed { until: Instant },
    /// One request, numbered so, is finding out whether the backend is ready again.
    Probing { probe: u64 },
}

impl Default for Backoff {
    /// A backoff honouring `Retry-After` up to [`DEFAULT_MAX_RETRY_AFTER`].
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RETRY_AFTER)
    }
}

impl Backoff {
    /// A backoff honouring `Retry-After` up to `max_delay`.
    pub fn new(max_delay: Duration) -> Self {
        Self {
            max_delay,
            state: Mutex::new(State::default()),
        }
    }

    /// The longest `Retry-After` honoured.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// A pass for one request to `service` (named in the error), or a transient error while
    /// a delay runs or another request is probing. When the delay has just passed, the pass
    /// makes this request the probe.
    pub fn check(&self, service: &str) -> Result<BackoffPass<'_>, ProviderError> {
        let mut state = self.lock();
        let probe = match state.gate {
            Gate::Open => None,
            Gate::Closed { until } if Instant::now() >= until => {
                state.probes += 1;
                let probe = state.probes;
                state.gate = Gate::Probing { probe };
                tracing::debug!(service, "the wait is over; one request probes");
                Some(probe)
            }
            Gate::Closed { until } => return Err(waiting(service, until)),
            Gate::Probing { .. } => return Err(probing(service)),
        };
        Ok(BackoffPass {
            backoff: self,
            probe,
            answered: false,
        })
    }

    /// Refuses as [`check`](Self::check) does, but without becoming the probe when the delay
    /// has passed: for a caller about to wait (for a rate-limit slot, say) before it sends,
    /// and that takes its pass afterwards.
    pub fn peek(&self, service: &str) -> Result<(), ProviderError> {
        match self.lock().gate {
            Gate::Closed { until } if Instant::now() < until => Err(waiting(service, until)),
            Gate::Probing { .. } => Err(probing(service)),
            Gate::Open | Gate::Closed { .. } => Ok(()),
        }
    }

    /// Takes an answer to a request sent within another request's pass (a login the request
    /// needed first, say): a 429 or 503 with `Retry-After` starts a delay, at most the cap.
    /// Unlike [`BackoffPass::observe`] it opens nothing.
    pub fn note(&self, status: StatusCode, headers: &HeaderMap) {
        let asks_to_wait =
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        if asks_to_wait && let Some(delay) = retry_after(headers) {
            let honoured = delay.min(self.max_delay);
            if honoured < delay {
                tracing::debug!(
                    asked_secs = delay.as_secs(),
                    honoured_secs = honoured.as_secs(),
                    "Retry-After longer than the cap; waiting only the cap"
                );
            }
            self.hold_off(honoured);
        }
    }

    /// Refuses calls for `delay` from now (or longer, if an earlier delay ends later), then
    /// lets one probe through. `delay` is taken as given, not capped: for a wait the caller
    /// knows to be real, such as an hourly quota used up.
    pub fn hold_off(&self, delay: Duration) {
        let Some(until) = Instant::now().checked_add(delay) else {
            return;
        };
        let mut state = self.lock();
        match state.gate {
            Gate::Closed { until: existing } if existing >= until => {}
            _ => state.gate = Gate::Closed { until },
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole, so a panic elsewhere can't leave it torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn waiting(service: &str, until: Instant) -> ProviderError {
    let left = until.saturating_duration_since(Instant::now());
    ProviderError::transient(format!(
        "{service} asked us to wait (Retry-After); not calling it for another {} s",
        left.as_secs_f64().ceil()
    ))
    .with_retry_after(left)
}

/// No `Retry-After` on it: how long the probe takes is not known.
fn probing(service: &str) -> ProviderError {
    ProviderError::transient(format!(
        "{service} asked us to wait (Retry-After); the wait is over and one request is \
         checking whether it is ready again: not calling it until that one is answered"
    ))
}

/// Leave for one request, from [`Backoff::check`]; give it the answer with
/// [`observe`](Self::observe) or [`answered`](Self::answered).
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "a pass takes the request's answer, or lets another request probe when dropped"]
pub struct BackoffPass<'a> {
    backoff: &'a Backoff,
    probe: Option<u64>,
    answered: bool,
}

impl BackoffPass<'_> {
    /// Whether this request is the one probe sent when a delay ended.
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// Takes the answer: a 429 or 503 with `Retry-After` starts a delay (at most the
    /// backoff's cap); any other answer to the probe opens the way for every request.
    pub fn observe(self, status: StatusCode, headers: &HeaderMap) {
        self.backoff.note(status, headers);
        self.answered();
    }

    /// Takes an answer that starts no delay of this backoff's (or whose delay the caller has
    /// given to [`Backoff::hold_off`] already): the probe's opens the way.
    pub fn answered(mut self) {
        self.answered = true;
        self.settle();
    }

    /// Ends a probe's turn: opened when it was answered, handed to the next caller when it
    /// wasn't. A delay that began meanwhile stands either way.
    fn settle(&self) {
        let Some(probe) = self.probe else {
            return;
        };
        let mut state = self.backoff.lock();
        if let Gate::Probing { probe: current } = state.gate
            && current == probe
        {
            state.gate = if self.answered {
                Gate::Open
            } else {
                Gate::Closed {
                    until: Instant::now(),
                }
            };
        }
    }
}

impl Drop for BackoffPass<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.settle();
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderValue, RETRY_AFTER};

    use super::*;

    fn retry_after(seconds: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static(seconds));
        headers
    }

    #[test]
    fn only_rate_limits_and_unavailability_with_a_delay_hold_off() {
        let backoff = Backoff::default();
        let headers = retry_after("60");
        backoff
            .check("x")
            .unwrap()
            .observe(StatusCode::INTERNAL_SERVER_ERROR, &headers);
        backoff
            .check("x")
            .unwrap()
            .observe(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
        assert!(backoff.check("x").is_ok());
        backoff
            .check("x")
            .unwrap()
            .observe(StatusCode::SERVICE_UNAVAILABLE, &headers);
        assert!(backoff.check("x").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_delay_does_not_cut_a_longer_one() {
        let backoff = Backoff::default();
        backoff.hold_off(Duration::from_secs(60));
        backoff.hold_off(Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(backoff.check("x").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_delay_honoured_is_capped() {
        let backoff = Backoff::new(Duration::from_secs(60));
        backoff
            .check("x")
            .unwrap()
            .observe(StatusCode::TOO_MANY_REQUESTS, &retry_after("3600"));
        let err = backoff.check("x").unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(60)), "{err}");
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(backoff.check("x").is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(backoff.check("x").is_ok_and(|pass| pass.is_probe()));
    }

    #[tokio::test(start_paused = true)]
    async fn when_the_delay_ends_one_probe_goes_and_its_answer_opens_the_way() {
        let backoff = Backoff::default();
        backoff.hold_off(Duration::from_secs(20));
        assert!(backoff.check("x").is_err());
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(backoff.peek("x").is_ok(), "peeking takes no turn");
        let probe = backoff.check("x").unwrap();
        assert!(probe.is_probe());
        for _ in 0..10 {
            let err = backoff.check("x").unwrap_err();
            assert!(err.message().contains("one request is checking"), "{err}");
            assert!(backoff.peek("x").is_err());
        }
        probe.observe(StatusCode::OK, &HeaderMap::new());
        let pass = backoff.check("x").unwrap();
        assert!(!pass.is_probe());
        assert!(backoff.check("x").is_ok());
    }

    #[test]
    fn a_probe_asked_to_wait_again_closes_the_gate_again() {
        let backoff = Backoff::default();
        backoff.hold_off(Duration::ZERO);
        let probe = backoff.check("x").unwrap();
        assert!(probe.is_probe());
        probe.observe(StatusCode::SERVICE_UNAVAILABLE, &retry_after("30"));
        let err = backoff.check("x").unwrap_err();
        assert!(
            err.retry_after()
                .is_some_and(|left| left > Duration::from_secs(25))
        );
    }

    #[test]
    fn a_probe_dropped_unanswered_hands_its_turn_to_the_next_caller() {
        let backoff = Backoff::default();
        backoff.hold_off(Duration::ZERO);
        let probe = backoff.check("x").unwrap();
        assert!(backoff.check("x").is_err());
        drop(probe);
        let next = backoff.check("x").unwrap();
        assert!(next.is_probe());
        assert!(backoff.check("x").is_err());
    }

    #[test]
    fn a_late_answer_from_before_the_delay_does_not_open_it() {
        let backoff = Backoff::default();
        let early = backoff.check("x").unwrap();
        backoff
            .check("x")
            .unwrap()
            .observe(StatusCode::TOO_MANY_REQUESTS, &retry_after("30"));
        early.observe(StatusCode::OK, &HeaderMap::new());
        assert!(backoff.check("x").is_err());
    }
}
