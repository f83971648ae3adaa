use std::sync::Mutex;
use std::time::{Duration, Instant};

use posture_core::ProviderError;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::classify::retry_after;

/// Honours a backend's `Retry-After`: once a 429 or 503 asks us to wait, calls are refused
/// locally, as transient errors, until the delay has passed.
///
/// Without it every webhook request during a rate-limit window would still hit the backend,
/// prolonging the limit; with it the backend sees nothing until it said it would be ready.
///
/// ```
/// use std::time::Duration;
/// use posture_http::{Backoff, StatusCode};
/// use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
///
/// let backoff = Backoff::default();
/// assert!(backoff.check("Jamf Pro").is_ok());
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
/// backoff.observe(StatusCode::TOO_MANY_REQUESTS, &headers);
/// let err = backoff.check("Jamf Pro").unwrap_err();
/// assert!(err.is_transient());
/// assert!(err.retry_after().is_some_and(|d| d <= Duration::from_secs(30)));
/// ```
#[derive(Debug, Default)]
pub struct Backoff {
    until: Mutex<Option<Instant>>,
}

impl Backoff {
    /// Refuses with a transient error while a `Retry-After` delay is running.
    pub fn check(&self, service: &str) -> Result<(), ProviderError> {
        let until = *self
            .until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match until.and_then(|until| until.checked_duration_since(Instant::now())) {
            Some(left) if !left.is_zero() => Err(ProviderError::transient(format!(
                "{service} asked us to wait (Retry-After); not calling it for another {} s",
                left.as_secs_f64().ceil()
            ))
            .with_retry_after(left)),
            _ => Ok(()),
        }
    }

    /// Records the delay of a 429 or 503 answer that carries `Retry-After`.
    pub fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
            return;
        }
        if let Some(delay) = retry_after(headers) {
            self.hold_off(delay);
        }
    }

    /// Refuses calls for `delay` from now (or longer, if an earlier delay ends later).
    pub fn hold_off(&self, delay: Duration) {
        let Some(until) = Instant::now().checked_add(delay) else {
            return;
        };
        let mut current = self
            .until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.is_none_or(|existing| existing < until) {
            *current = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::*;

    #[test]
    fn only_rate_limits_and_unavailability_with_a_delay_hold_off() {
        let backoff = Backoff::default();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("60"));
        backoff.observe(StatusCode::INTERNAL_SERVER_ERROR, &headers);
        backoff.observe(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
        assert!(backoff.check("x").is_ok());
        backoff.observe(StatusCode::SERVICE_UNAVAILABLE, &headers);
        assert!(backoff.check("x").is_err());
    }

    #[test]
    fn a_shorter_delay_does_not_cut_a_longer_one() {
        let backoff = Backoff::default();
        backoff.hold_off(Duration::from_secs(60));
        backoff.hold_off(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(backoff.check("x").is_err());
    }

    #[test]
    fn the_gate_opens_when_the_delay_has_passed() {
        let backoff = Backoff::default();
        backoff.hold_off(Duration::from_millis(20));
        assert!(backoff.check("x").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(backoff.check("x").is_ok());
    }
}
