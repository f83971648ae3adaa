//! What one connection is doing, as its watchdog ([`crate::connection`]) and admission
//! ([`crate::admission`]) see it. Lock-free: the connection's reads and requests update it,
//! its watchdog waits on it, and admission reads it to choose which idle connection yields
//! its slot when the listener is full.
//!
//! Times are milliseconds since the listener's epoch, shared by all its connections, so
//! admission can tell which connection has been idle longest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// No time recorded.
const NONE: u64 = u64::MAX;

/// Why a connection's watchdog ended it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Expiry {
    /// No request had reached the handler within `HEADER_READ_TIMEOUT` of the accept.
    FirstRequest,
    /// A later HTTP/1.1 request's headers took longer than `HEADER_READ_TIMEOUT` from
    /// their first byte.
    HeaderRead,
    /// No request for `IDLE_TIMEOUT`.
    Idle,
    /// Admission asked the connection to give its slot to a new one.
    Yield,
}

/// One connection's state. See the module docs.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    /// When the connection was admitted (just after its accept).
    admitted: u64,
    /// Whether a byte read while no request is in flight starts the header-read timer:
    /// HTTP/1.1 only, since HTTP/2 exchanges control frames between requests.
    times_headers: AtomicBool,
    in_flight: AtomicUsize,
    /// When the last request in flight was answered; `NONE` until the first one is.
    quiet_since: AtomicU64,
    /// Whether any request has reached the handler.
    served: AtomicBool,
    /// When the first byte of a request not yet handed to the handler arrived; `NONE` if none.
    head_started: AtomicU64,
    /// Set once admission chose this connection to yield its slot.
    yielding: AtomicBool,
    /// Wakes the watchdog.
    changed: Notify,
    /// Wakes the listener's accept loop: this connection became idle, so it could yield.
    became_idle: Arc<Notify>,
}

impl Activity {
    /// A connection admitted now. `epoch` is the listener's; `became_idle` is told each time
    /// the connection becomes idle.
    pub(crate) fn new(epoch: Instant, became_idle: Arc<Notify>) -> Self {
        Self {
            epoch,
            admitted: millis_since(epoch),
            times_headers: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(NONE),
            served: AtomicBool::new(false),
            head_started: AtomicU64::new(NONE),
            yielding: AtomicBool::new(false),
            changed: Notify::new(),
            became_idle,
        }
    }

    /// The connection speaks HTTP/2: bytes between requests are control frames, not the
    /// start of a request head.
    pub(crate) fn set_http2(&self) {
        self.times_headers.store(false, Ordering::Release);
    }

    fn now(&self) -> u64 {
        millis_since(self.epoch)
    }

    /// Bytes arrived from the client.
    pub(crate) fn bytes_read(&self) {
        if self.times_headers.load(Ordering::Acquire)
            && self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started
                .compare_exchange(NONE, self.now(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// A request reached the handler.
    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        self.head_started.store(NONE, Ordering::Release);
        self.changed.notify_one();
    }

    /// A request was answered (or cancelled).
    pub(crate) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.quiet_since.store(self.now(), Ordering::Release);
            self.became_idle.notify_one();
        }
        self.changed.notify_one();
    }

    /// Requests the handler has not answered yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// When the connection became idle, if it is idle now: it has been answered at least
    /// once, no request is in flight, no new one has begun, and it is not already yielding.
    /// A connection waiting for its first request is never idle: the first-request deadline
    /// bounds it instead.
    pub(crate) fn idle_since(&self) -> Option<u64> {
        if self.yielding.load(Ordering::Acquire)
            || !self.served.load(Ordering::Acquire)
            || self.in_flight.load(Ordering::Acquire) > 0
            || self.head_started.load(Ordering::Acquire) != NONE
        {
            return None;
        }
        match self.quiet_since.load(Ordering::Acquire) {
            NONE => None,
            since => Some(since),
        }
    }

    /// Asks the connection to close gracefully and give up its slot.
    pub(crate) fn request_yield(&self) {
        self.yielding.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Resolves when the connection must end: see [`Expiry`]. Neither timer runs while a
    /// request is in flight (the handler's `TIMEOUT` bounds it).
    pub(crate) async fn expired(&self, header_read: Duration, idle: Duration) -> Expiry {
        let header_ms = duration_ms(header_read);
        let idle_ms = duration_ms(idle);
        loop {
            if self.yielding.load(Ordering::Acquire) {
                return Expiry::Yield;
            }
            let deadline = if self.in_flight.load(Ordering::Acquire) > 0 {
                None
            } else if !self.served.load(Ordering::Acquire) {
                // From the accept, whether the client is still in the TLS handshake, silent,
                // or sending its first head (HTTP/1.1 or HTTP/2) slowly.
                Some((
                    self.admitted.saturating_add(header_ms),
                    Expiry::FirstRequest,
                ))
            } else {
                match self.head_started.load(Ordering::Acquire) {
                    NONE => Some((
                        self.quiet_since
                            .load(Ordering::Acquire)
                            .saturating_add(idle_ms),
                        Expiry::Idle,
                    )),
                    started => Some((started.saturating_add(header_ms), Expiry::HeaderRead)),
                }
            };
            match deadline {
                Some((at, expiry)) if at <= self.now() => return expiry,
                Some((at, _)) => {
                    let at = self.epoch + Duration::from_millis(at);
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

impl crate::linger::OnRead for Arc<Activity> {
    fn bytes_read(&self) {
        Activity::bytes_read(self);
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_READ: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(120);

    fn activity() -> Activity {
        Activity::new(Instant::now(), Arc::new(Notify::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_request_is_due_within_the_header_read_timeout_of_the_admission() {
        let activity = activity();
        let started = Instant::now();
        assert_eq!(
            activity.expired(HEADER_READ, IDLE).await,
            Expiry::FirstRequest
        );
        assert_eq!(started.elapsed(), HEADER_READ);
        // Bytes of a first head do not move the deadline.
        let activity = self::activity();
        tokio::time::advance(Duration::from_secs(9)).await;
        activity.bytes_read();
        let started = Instant::now();
        assert_eq!(
            activity.expired(HEADER_READ, IDLE).await,
            Expiry::FirstRequest
        );
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_has_the_same_first_request_deadline() {
        let activity = activity();
        activity.set_http2();
        activity.bytes_read();
        assert_eq!(
            activity.expired(HEADER_READ, IDLE).await,
            Expiry::FirstRequest
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_first_request_the_idle_and_header_read_timers_take_over() {
        let activity = activity();
        activity.request_started();
        assert_eq!(activity.idle_since(), None, "busy");
        activity.request_finished();
        let started = Instant::now();
        assert!(activity.idle_since().is_some());
        assert_eq!(activity.expired(HEADER_READ, IDLE).await, Expiry::Idle);
        assert_eq!(started.elapsed(), IDLE);
        activity.bytes_read();
        assert_eq!(activity.idle_since(), None, "a new head has begun");
        assert_eq!(
            activity.expired(HEADER_READ, IDLE).await,
            Expiry::HeaderRead
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_asked_to_yield_expires_at_once_and_is_no_longer_idle() {
        let notify = Arc::new(Notify::new());
        let activity = Activity::new(Instant::now(), notify.clone());
        assert_eq!(
            activity.idle_since(),
            None,
            "not idle before its first request"
        );
        activity.request_started();
        activity.request_finished();
        // The accept loop was told the connection became idle.
        tokio::time::timeout(Duration::from_millis(1), notify.notified())
            .await
            .unwrap();
        activity.request_yield();
        assert_eq!(activity.idle_since(), None);
        assert_eq!(activity.expired(HEADER_READ, IDLE).await, Expiry::Yield);
    }
}
