use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use posture_core::ProviderError;
use tokio::time::Instant;

/// Remembers when something last succeeded, so a check that costs an upstream request (a
/// readiness probe every few seconds, against an API with an hourly quota) is made at most
/// once per window.
///
/// ```
/// use std::time::Duration;
/// use posture_http::RecentSuccess;
/// let ready = RecentSuccess::new(Duration::from_secs(60));
/// assert!(!ready.is_fresh());
/// ready.record();
/// assert!(ready.is_fresh());
/// ready.forget();
/// assert!(!ready.is_fresh());
/// ```
#[derive(Debug)]
pub struct RecentSuccess {
    window: Duration,
    last: Mutex<Option<Instant>>,
}

impl RecentSuccess {
    /// Successes count for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            last: Mutex::new(None),
        }
    }

    /// Whether the last success is less than the window old.
    pub fn is_fresh(&self) -> bool {
        self.lock().is_some_and(|at| at.elapsed() < self.window)
    }

    /// Records a success now.
    pub fn record(&self) {
        *self.lock() = Some(Instant::now());
    }

    /// Forgets the last success (after a failure).
    pub fn forget(&self) {
        *self.lock() = None;
    }

    /// Succeeds at once while the last success is fresh; otherwise runs `probe` and
    /// records or forgets its outcome.
    pub async fn check<F>(&self, probe: F) -> Result<(), ProviderError>
    where
        F: Future<Output = Result<(), ProviderError>>,
    {
        if self.is_fresh() {
            return Ok(());
        }
        let result = probe.await;
        match &result {
            Ok(()) => self.record(),
            Err(_) => self.forget(),
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // The value is replaced whole, so a panic elsewhere can't leave it torn.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
