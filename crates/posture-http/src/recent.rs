use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use posture_core::ProviderError;
use tokio::time::Instant;

use crate::cache::copy_error;

/// How long [`RecentSuccess`] reuses a failed check unless told otherwise: short, so a
/// backend that recovers is noticed soon, but long enough that probes can't hammer one that
/// is failing.
pub const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(10);

/// One readiness request under `timeout`, its failures worded for the operator: no answer in
/// time, or a transient failure, says that `service` at `setting` (`"FLEET_URL
/// (https://fleet.example.com)"`) is not reachable, keeping the `Retry-After`; a permanent
/// failure (a refused token) is returned as it is, since its message already names the
/// setting to fix.
///
/// ```
/// use std::time::Duration;
/// use posture_core::ProviderError;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = posture_http::probe_within(
///     "Fleet",
///     "FLEET_URL (https://fleet.example.com)",
///     Duration::from_secs(4),
///     async { Err::<(), _>(ProviderError::transient("Fleet answered 502 Bad Gateway")) },
/// )
/// .await
/// .unwrap_err();
/// assert_eq!(
///     err.message(),
///     "Fleet at FLEET_URL (https://fleet.example.com) is not reachable: Fleet answered 502 Bad Gateway"
/// );
/// # }
/// ```
pub async fn probe_within<F>(
    service: &str,
    setting: &str,
    timeout: Duration,
    probe: F,
) -> Result<(), ProviderError>
where
    F: Future<Output = Result<(), ProviderError>>,
{
    match tokio::time::timeout(timeout, probe).await {
        Err(_) => Err(ProviderError::transient(format!(
            "{service} at {setting} did not answer within {} s (TIMEOUT)",
            timeout.as_secs_f32()
        ))),
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) if err.is_transient() => {
            let message = format!("{service} at {setting} is not reachable: {err}");
            Err(match err.retry_after() {
                Some(delay) => ProviderError::transient(message).with_retry_after(delay),
                None => ProviderError::transient(message),
            }
            .with_source(err))
        }
        Ok(Err(err)) => Err(err),
    }
}

/// The readiness memo: makes a check that costs an upstream request (a readiness probe every
/// few seconds, against an API with an hourly quota) at most once per window, however many
/// callers ask and however often.
///
/// - A success is reused for the window given to [`new`](Self::new); a failure, as a copy,
///   for the shorter [failure window](Self::with_failure_window) ([`DEFAULT_FAILURE_WINDOW`]).
/// - One check is in flight at a time: callers that arrive while it runs wait for it and
///   share its outcome, the error too (same kind, message and `Retry-After`; the source chain
///   displays the original's), instead of each calling the backend.
/// - A check cut short (its caller gave up, at a timeout or a dropped connection) counts as
///   a transient failure for the failure window, so giving up early can't start one backend
///   call after another either.
///
/// `/readyz` needs no authentication, so this is what keeps anyone who can reach it from
/// spending the backend's quota.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use posture_core::ProviderError;
/// use posture_http::RecentSuccess;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let ready = RecentSuccess::new(Duration::from_secs(60));
/// let calls = AtomicUsize::new(0);
/// let probe = || async {
///     calls.fetch_add(1, Ordering::Relaxed);
///     Err::<(), _>(ProviderError::transient("Kandji answered 500 Internal Server Error"))
/// };
/// for _ in 0..100 {
///     let err = ready.check(probe()).await.unwrap_err();
///     assert_eq!(err.message(), "Kandji answered 500 Internal Server Error");
/// }
/// // The failure is reused for the failure window: one backend call for the hundred.
/// assert_eq!(calls.load(Ordering::Relaxed), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct RecentSuccess {
    window: Duration,
    failure_window: Duration,
    memo: Mutex<Memo>,
    /// Held by the one caller whose check is in flight; the others queue here.
    flight: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Memo {
    last: Option<Checked>,
    /// Checks finished or cut short: a caller that sees it change while it queued shares
    /// the outcome instead of checking again.
    finished: u64,
}

#[derive(Debug)]
struct Checked {
    at: Instant,
    outcome: Result<(), Arc<ProviderError>>,
}

impl Checked {
    fn result(&self) -> Result<(), ProviderError> {
        match &self.outcome {
            Ok(()) => Ok(()),
            Err(err) => Err(copy_error(err)),
        }
    }
}

impl RecentSuccess {
    /// Successes count for `window`, failures for [`DEFAULT_FAILURE_WINDOW`].
    ///
    /// A zero `window` reuses no success, yet still shares a check in flight and remembers
    /// failures: for a check that is free while it passes (a cached token) but costs a
    /// request when it fails.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            failure_window: DEFAULT_FAILURE_WINDOW,
            memo: Mutex::new(Memo::default()),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets how long a failure is reused.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ready = posture_http::RecentSuccess::new(Duration::from_secs(60))
    ///     .with_failure_window(Duration::from_secs(5));
    /// assert_eq!(ready.failure_window(), Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn with_failure_window(mut self, window: Duration) -> Self {
        self.failure_window = window;
        self
    }

    /// How long a success is reused.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// How long a failure is reused.
    pub fn failure_window(&self) -> Duration {
        self.failure_window
    }

    /// Whether the last outcome is a success less than the window old.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ready = posture_http::RecentSuccess::new(Duration::from_secs(60));
    /// assert!(!ready.is_fresh());
    /// ready.record();
    /// assert!(ready.is_fresh());
    /// ready.forget();
    /// assert!(!ready.is_fresh());
    /// ```
    pub fn is_fresh(&self) -> bool {
        matches!(self.fresh(&self.lock()), Some(Ok(())))
    }

    /// Records a success now.
    pub fn record(&self) {
        self.store(Ok(()));
    }

    /// Forgets the last outcome, success or failure, so the next check calls the backend.
    pub fn forget(&self) {
        self.lock().last = None;
    }

    /// Returns the last outcome while it is fresh; otherwise runs `probe`, or, when another
    /// caller's probe is already running, waits for that one and returns a copy of its
    /// outcome. `probe` is dropped unpolled unless this caller runs it.
    pub async fn check<F>(&self, probe: F) -> Result<(), ProviderError>
    where
        F: Future<Output = Result<(), ProviderError>>,
    {
        let seen = {
            let memo = self.lock();
            if let Some(result) = self.fresh(&memo) {
                return result;
            }
            memo.finished
        };
        let _flight = self.flight.lock().await;
        {
            let memo = self.lock();
            // A check that ended while this caller queued is the one it was waiting for.
            if memo.finished != seen
                && let Some(last) = &memo.last
            {
                return last.result();
            }
            if let Some(result) = self.fresh(&memo) {
                return result;
            }
        }
        let pending = Pending {
            ready: self,
            done: false,
        };
        let result = probe.await;
        pending.finish(result)
    }

    fn fresh(&self, memo: &Memo) -> Option<Result<(), ProviderError>> {
        let last = memo.last.as_ref()?;
        let window = match last.outcome {
            Ok(()) => self.window,
            Err(_) => self.failure_window,
        };
        (last.at.elapsed() < window).then(|| last.result())
    }

    fn store(&self, outcome: Result<(), Arc<ProviderError>>) {
        let mut memo = self.lock();
        memo.last = Some(Checked {
            at: Instant::now(),
            outcome,
        });
        memo.finished += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Memo> {
        // Every update leaves the memo whole, so a panic elsewhere can't leave it torn.
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The check in flight: records its outcome, or, when dropped before it has one (the caller
/// gave up), a failure, so that the callers queued behind it share that instead of each
/// starting a backend call of their own.
struct Pending<'a> {
    ready: &'a RecentSuccess,
    done: bool,
}

impl Pending<'_> {
    fn finish(mut self, result: Result<(), ProviderError>) -> Result<(), ProviderError> {
        self.done = true;
        let outcome = result.map_err(Arc::new);
        let copy = match &outcome {
            Ok(()) => Ok(()),
            Err(err) => Err(copy_error(err)),
        };
        self.ready.store(outcome);
        copy
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.ready.store(Err(Arc::new(ProviderError::transient(format!(
                "the last readiness check was cut short before the backend answered (its caller \
                 gave up, as at TIMEOUT); not checking again for {} s",
                self.ready.failure_window.as_secs_f64()
            )))));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::testing::assert_transient;

    const WINDOW: Duration = Duration::from_secs(60);
    const FAILURE_WINDOW: Duration = Duration::from_secs(10);

    /// A backend that answers after a second, with `fail` deciding how, counting its calls.
    #[derive(Default)]
    struct Backend {
        calls: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Backend {
        async fn probe(&self) -> Result<(), ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            if self.fail.load(Ordering::SeqCst) {
                let source = std::io::Error::other("connection reset");
                Err(ProviderError::transient("Kandji answered 500")
                    .with_retry_after(Duration::from_secs(7))
                    .with_source(source))
            } else {
                Ok(())
            }
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    fn setup(fail: bool) -> (Arc<RecentSuccess>, Arc<Backend>) {
        let backend = Backend::default();
        backend.fail.store(fail, Ordering::SeqCst);
        (
            Arc::new(RecentSuccess::new(WINDOW).with_failure_window(FAILURE_WINDOW)),
            Arc::new(backend),
        )
    }

    /// `n` callers at once, each in its own task.
    async fn concurrently(
        n: usize,
        ready: &Arc<RecentSuccess>,
        backend: &Arc<Backend>,
    ) -> Vec<Result<(), ProviderError>> {
        crate::testing::concurrently(n, || {
            let (ready, backend) = (ready.clone(), backend.clone());
            async move { ready.check(backend.probe()).await }
        })
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_probe_and_its_success() {
        let (ready, backend) = setup(false);
        let outcomes = concurrently(200, &ready, &backend).await;
        assert!(outcomes.iter().all(Result::is_ok));
        assert_eq!(backend.calls(), 1);
        // And the success is reused for the window.
        tokio::time::advance(WINDOW - Duration::from_secs(2)).await;
        assert!(ready.check(backend.probe()).await.is_ok());
        assert_eq!(backend.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_probe_and_copies_of_its_error() {
        let (ready, backend) = setup(true);
        let outcomes = concurrently(200, &ready, &backend).await;
        assert_eq!(backend.calls(), 1);
        for outcome in outcomes {
            let err = outcome.unwrap_err();
            assert_transient(&err, "Kandji answered 500", Duration::from_secs(7));
            assert_eq!(
                std::error::Error::source(&err).unwrap().to_string(),
                "connection reset"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_remembered_for_its_window_then_one_new_probe_goes() {
        let (ready, backend) = setup(true);
        assert!(ready.check(backend.probe()).await.is_err());
        // Probes keep coming, sequentially and in bursts, all through the failure window.
        for _ in 0..9 {
            tokio::time::advance(Duration::from_millis(900)).await;
            let outcomes = concurrently(20, &ready, &backend).await;
            assert!(outcomes.iter().all(Result::is_err));
        }
        assert_eq!(backend.calls(), 1, "the failure was not remembered");

        // The backend recovers; the window ends; one probe notices, for everyone.
        backend.fail.store(false, Ordering::SeqCst);
        tokio::time::advance(FAILURE_WINDOW).await;
        let outcomes = concurrently(50, &ready, &backend).await;
        assert!(outcomes.iter().all(Result::is_ok));
        assert_eq!(backend.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_backend_is_called_once_per_failure_window_whatever_the_rate() {
        let (ready, backend) = setup(true);
        // Thirty seconds of callers, 50 every 100 ms.
        for _ in 0..300 {
            let outcomes = concurrently(50, &ready, &backend).await;
            assert!(outcomes.iter().all(Result::is_err));
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // Probes at 0 s, 11 s and 22 s: each takes a second, and its failure then counts
        // for ten.
        assert_eq!(backend.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_cut_short_is_a_failure_for_the_window() {
        let (ready, backend) = setup(false);
        let cut_short =
            tokio::time::timeout(Duration::from_millis(500), ready.check(backend.probe())).await;
        assert!(cut_short.is_err());
        let err = ready.check(backend.probe()).await.unwrap_err();
        assert!(err.is_transient());
        assert!(err.message().contains("cut short"), "{err}");
        assert_eq!(backend.calls(), 1);
        tokio::time::advance(FAILURE_WINDOW).await;
        assert!(ready.check(backend.probe()).await.is_ok());
        assert_eq!(backend.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_window_reuses_no_success_but_remembers_failures() {
        let ready = RecentSuccess::new(Duration::ZERO);
        let backend = Backend::default();
        ready.check(backend.probe()).await.unwrap();
        ready.check(backend.probe()).await.unwrap();
        assert_eq!(backend.calls(), 2);
        backend.fail.store(true, Ordering::SeqCst);
        assert!(ready.check(backend.probe()).await.is_err());
        assert!(ready.check(backend.probe()).await.is_err());
        assert_eq!(backend.calls(), 3);
    }
}
