//! What the unit tests of several modules share.

use std::future::Future;
use std::time::Duration;

use posture_core::ProviderError;

/// Runs `n` tasks at once, each the future `task` makes, and gives back their outputs in the
/// order they finished; a task that panics fails the test. Each call of `task` takes its own
/// clones of what the tasks share.
pub(crate) async fn concurrently<T, F>(n: usize, task: impl Fn() -> F) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(task());
    }
    tasks.join_all().await
}

/// Asserts that `err` is transient, says `message` and asks for a retry after `retry_after`:
/// what each caller sharing one failed call must get a copy of.
#[track_caller]
pub(crate) fn assert_transient(err: &ProviderError, message: &str, retry_after: Duration) {
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.message(), message);
    assert_eq!(err.retry_after(), Some(retry_after));
}
