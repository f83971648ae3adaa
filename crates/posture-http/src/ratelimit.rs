use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A client-side rate limit: at most `permits` requests in any `window`, so that an API's
/// own limit (Kandji's 50 requests a second, Addigy's 1000 in 10 s) is never what stops us.
///
/// Every request takes a slot. While fewer than `permits` slots were handed out in the last
/// `window`, the slot is now; otherwise it is the moment the oldest of the last `permits`
/// slots leaves the window. Slots go out in call order, and a caller waits for its slot
/// with one timer sleep, never by polling.
///
/// [`acquire_before`](Self::acquire_before) refuses at once a slot later than the caller's
/// deadline, and reserves nothing: a lookup that could only be sent after its timeout fails
/// now instead of waiting to fail, and leaves the slot to a caller that can use it.
///
/// A caller dropped while it waits (its lookup timed out) leaves its slot unused. That only
/// lowers the rate, so the limit always holds.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use posture_http::RateLimiter;
/// use tokio::time::Instant;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let two = NonZeroU32::new(2).unwrap();
/// let limiter = RateLimiter::new(two, Duration::from_millis(100));
/// limiter.acquire().await; // at once
/// limiter.acquire().await; // at once
/// // A third slot is 100 ms away: past a 10 ms deadline, so refused without waiting.
/// let refused = limiter.acquire_before(Instant::now() + Duration::from_millis(10)).await;
/// assert!(refused.unwrap_err().available_in() > Duration::from_millis(10));
/// limiter.acquire().await; // waits until the first slot leaves the window
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    permits: NonZeroU32,
    window: Duration,
    /// The last `permits` slots handed out, oldest first; the newest may lie in the future.
    slots: Mutex<VecDeque<Instant>>,
}

/// [`RateLimiter::acquire_before`] found no slot before the deadline.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("no request slot before the deadline: the next one is in {} ms", .available_in.as_millis())]
#[non_exhaustive]
pub struct NoSlot {
    available_in: Duration,
}

impl NoSlot {
    /// How long from the refusal until the next slot: a `Retry-After` for the caller's
    /// caller.
    pub fn available_in(&self) -> Duration {
        self.available_in
    }
}

impl RateLimiter {
    /// At most `permits` slots in any `window`.
    pub fn new(permits: NonZeroU32, window: Duration) -> Self {
        Self {
            permits,
            window,
            slots: Mutex::new(VecDeque::with_capacity(permits.get() as usize)),
        }
    }

    /// How many slots a window holds.
    pub fn permits(&self) -> u32 {
        self.permits.get()
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Waits for a slot, however long that takes.
    pub async fn acquire(&self) {
        // Without a deadline nothing is refused.
        if let Ok(slot) = self.reserve(None) {
            wait_for(slot).await;
        }
    }

    /// Waits for a slot that comes before `deadline`; when the next one comes later, fails
    /// at once and takes none.
    pub async fn acquire_before(&self, deadline: Instant) -> Result<(), NoSlot> {
        let slot = self.reserve(Some(deadline))?;
        wait_for(slot).await;
        Ok(())
    }

    /// Hands out the next slot, unless it lies past `deadline`.
    fn reserve(&self, deadline: Option<Instant>) -> Result<Instant, NoSlot> {
        let now = Instant::now();
        let mut slots = self.lock();
        let slot = if slots.len() < self.permits.get() as usize {
            now
        } else {
            // Only the last `permits` slots are kept, so the front is the one that must
            // leave the window first.
            slots
                .front()
                .and_then(|oldest| oldest.checked_add(self.window))
                .map_or(now, |free| free.max(now))
        };
        if deadline.is_some_and(|deadline| slot > deadline) {
            return Err(NoSlot {
                available_in: slot - now,
            });
        }
        slots.push_back(slot);
        while slots.len() > self.permits.get() as usize {
            slots.pop_front();
        }
        Ok(slot)
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Instant>> {
        // Each update leaves a sorted list of slots, so a panic elsewhere can't tear it.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sleeps until `slot`; a slot that is now goes at once, without a trip through the timer.
async fn wait_for(slot: Instant) {
    if slot > Instant::now() {
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::concurrently;

    fn limiter(permits: u32, window: Duration) -> Arc<RateLimiter> {
        Arc::new(RateLimiter::new(NonZeroU32::new(permits).unwrap(), window))
    }

    const SECOND: Duration = Duration::from_secs(1);

    /// Takes a slot, which must come `at` after `start` (on the paused clock, exactly).
    async fn acquire_at(limiter: &RateLimiter, start: Instant, at: Duration) {
        limiter.acquire().await;
        assert_eq!(start.elapsed(), at);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_permits_go_at_once_and_the_next_when_the_first_leaves_the_window() {
        let limiter = limiter(3, SECOND);
        let start = Instant::now();
        for _ in 0..3 {
            acquire_at(&limiter, start, Duration::ZERO).await;
        }
        acquire_at(&limiter, start, SECOND).await;
        // The second and third slots were taken at 0: they leave the window at 1 s too.
        acquire_at(&limiter, start, SECOND).await;
        acquire_at(&limiter, start, SECOND).await;
        acquire_at(&limiter, start, 2 * SECOND).await;
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_never_exceed_the_limit_in_any_window() {
        let limiter = limiter(4, SECOND);
        let start = Instant::now();
        let mut times = concurrently(23, || {
            let limiter = limiter.clone();
            async move {
                limiter.acquire().await;
                start.elapsed()
            }
        })
        .await;
        times.sort();
        assert_eq!(times.len(), 23);
        for pair in times.windows(5) {
            assert!(
                pair[4] - pair[0] >= SECOND,
                "5 slots within a second: {pair:?}"
            );
        }
        // And no slower than the limit allows: 23 slots of 4 a second end at 5 s.
        assert_eq!(times[22], 5 * SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_past_the_deadline_is_refused_at_once_and_not_taken() {
        let limiter = limiter(1, SECOND);
        let start = Instant::now();
        limiter.acquire().await;
        let refused = limiter
            .acquire_before(start + Duration::from_millis(500))
            .await
            .unwrap_err();
        assert_eq!(refused.available_in(), SECOND);
        assert_eq!(start.elapsed(), Duration::ZERO, "refused without waiting");
        assert_eq!(
            refused.to_string(),
            "no request slot before the deadline: the next one is in 1000 ms"
        );
        // The refusal reserved nothing: the next caller gets the slot at 1 s, not at 2 s.
        limiter.acquire_before(start + 2 * SECOND).await.unwrap();
        assert_eq!(start.elapsed(), SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_dropped_while_waiting_never_lets_more_through() {
        let limiter = limiter(2, SECOND);
        let start = Instant::now();
        acquire_at(&limiter, start, Duration::ZERO).await;
        acquire_at(&limiter, start, Duration::ZERO).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(300), limiter.acquire()).await;
        assert!(gave_up.is_err());
        // Its slot (1 s) stays counted: the next two come at 1 s and 2 s.
        acquire_at(&limiter, start, SECOND).await;
        acquire_at(&limiter, start, 2 * SECOND).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_limiter_hands_out_slots_at_once_again() {
        let limiter = limiter(2, SECOND);
        for _ in 0..5 {
            limiter.acquire().await;
        }
        tokio::time::sleep(10 * SECOND).await;
        let start = Instant::now();
        acquire_at(&limiter, start, Duration::ZERO).await;
        acquire_at(&limiter, start, Duration::ZERO).await;
        assert_eq!((limiter.permits(), limiter.window()), (2, SECOND));
    }
}
