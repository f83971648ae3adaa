//! Throttling of failed authentications per client address (`AUTH_FAILURE_LIMIT`,
//! `AUTH_FAILURE_WINDOW`).
//!
//! Each client address has a token bucket of `limit` failures that refills at `limit` per
//! `window`. A request whose signature or credentials were checked and found wrong takes a
//! token; once the bucket is empty the address is *throttled*: its further failures are
//! answered `429` with `Retry-After`, and only after a short hold.
//!
//! Nothing here ever refuses a request before it is verified, so a correctly signed request
//! passes at once whatever its address's state, and a success neither takes nor gives back a
//! token. What the throttle bounds is how fast one address learns that its guesses are wrong:
//! a client that waits for each answer (as a dictionary attack does) gets one a second per
//! connection instead of thousands. The real defence against guessing is the secret's length
//! (at least 32 random bytes, see [`crate::config::MIN_SECRET_BYTES`]); docs/security.md
//! explains the choice.
//!
//! Addresses are grouped as an attacker would find it costly to spread them: IPv4 by address,
//! IPv6 by /64 (one host usually owns a whole /64). The table holds at most
//! [`MAX_TRACKED_ADDRESSES`]; addresses beyond that share one bucket, so spraying from many
//! addresses throttles the spray rather than escaping it (legitimate requests, being
//! verified first, are never affected).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most client addresses (or IPv6 /64s) tracked at once: about 64 bytes each.
pub(crate) const MAX_TRACKED_ADDRESSES: usize = 4096;

/// How long a throttled failure is held before it is answered (at most half of `TIMEOUT`).
pub(crate) const THROTTLED_HOLD: Duration = Duration::from_secs(1);

/// How often a full table may be searched for addresses that need no entry any more.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What the throttle makes of one failed authentication.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub(crate) enum FailureVerdict {
    /// Within the address's allowance: answer `401` as usual.
    Counted,
    /// The address is throttled: answer `429` after [`AuthThrottle::hold`].
    Throttled {
        /// When the address may fail again without being throttled.
        retry_after: Duration,
    },
}

/// Failed authentications per client address, as token buckets in a bounded table.
#[derive(Debug)]
pub(crate) struct AuthThrottle {
    limit: f64,
    /// Tokens regained per second.
    rate: f64,
    hold: Duration,
    table: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<Key, Bucket>,
    /// Shared by addresses that find the table full, and by requests without an address.
    shared: Bucket,
    next_sweep: Option<Instant>,
}

/// A client address as the throttle groups it.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
enum Key {
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl Key {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// The tokens after refilling until `now`, capped at `limit`.
    fn refilled(&self, now: Instant, rate: f64, limit: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * rate).min(limit)
    }
}

impl AuthThrottle {
    /// A throttle allowing `limit` failures per `window` to each address (at least one of
    /// each is used, whatever is passed).
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        let limit = f64::from(limit.max(1));
        let window = window.max(Duration::from_millis(1));
        Self {
            limit,
            rate: limit / window.as_secs_f64(),
            hold: THROTTLED_HOLD,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                shared: Bucket {
                    tokens: limit,
                    updated: Instant::now(),
                },
                next_sweep: None,
            }),
        }
    }

    /// Holds throttled failures for `hold` instead of [`THROTTLED_HOLD`] (the handler holds
    /// them at most half of `TIMEOUT`).
    #[cfg(test)]
    #[must_use]
    pub(crate) fn with_hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// How long a throttled failure is held before it is answered.
    pub(crate) fn hold(&self) -> Duration {
        self.hold
    }

    /// How many addresses have an entry (at most [`MAX_TRACKED_ADDRESSES`]).
    #[cfg(test)]
    pub(crate) fn tracked_addresses(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Counts one failed authentication from `client` (`None` when the address is not
    /// known) at `now`.
    pub(crate) fn record_failure(&self, client: Option<IpAddr>, now: Instant) -> FailureVerdict {
        let mut table = self.lock();
        let Table {
            buckets,
            shared,
            next_sweep,
        } = &mut *table;
        let bucket = match client.map(Key::of) {
            None => shared,
            Some(key) => {
                let known = buckets.contains_key(&key);
                if !known
                    && buckets.len() >= MAX_TRACKED_ADDRESSES
                    && next_sweep.is_none_or(|due| now >= due)
                {
                    // An address whose bucket is full again needs no entry.
                    let (rate, limit) = (self.rate, self.limit);
                    buckets.retain(|_, bucket| bucket.refilled(now, rate, limit) < limit);
                    *next_sweep = Some(now + SWEEP_EVERY);
                }
                if known || buckets.len() < MAX_TRACKED_ADDRESSES {
                    buckets.entry(key).or_insert(Bucket {
                        tokens: self.limit,
                        updated: now,
                    })
                } else {
                    shared
                }
            }
        };
        let tokens = bucket.refilled(now, self.rate, self.limit);
        bucket.updated = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            FailureVerdict::Counted
        } else {
            bucket.tokens = tokens;
            FailureVerdict::Throttled {
                retry_after: Duration::from_secs_f64((1.0 - tokens) / self.rate),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table holds counters only; one left half-updated by a panic is still usable.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(last: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + last)))
    }

    fn throttled(verdict: FailureVerdict) -> bool {
        matches!(verdict, FailureVerdict::Throttled { .. })
    }

    #[test]
    fn each_address_has_its_own_allowance_and_tokens_come_back() {
        use super::{AuthThrottle, FailureVerdict};
        use std::net::{IpAddr, Ipv4Addr};
        use std::time::{Duration, Instant};

        let throttle = AuthThrottle::new(2, Duration::from_secs(60));
        let attacker = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        let now = Instant::now();
        assert_eq!(
            throttle.record_failure(attacker, now),
            FailureVerdict::Counted
        );
        assert_eq!(
            throttle.record_failure(attacker, now),
            FailureVerdict::Counted
        );
        assert!(matches!(
            throttle.record_failure(attacker, now),
            FailureVerdict::Throttled { .. }
        ));
        // Another address has its own allowance.
        let other = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8)));
        assert_eq!(throttle.record_failure(other, now), FailureVerdict::Counted);
        // A token comes back every window / limit.
        let later = now + Duration::from_secs(30);
        assert_eq!(
            throttle.record_failure(attacker, later),
            FailureVerdict::Counted
        );
    }

    #[test]
    fn an_address_is_throttled_after_its_limit_and_regains_a_token_per_window_over_limit() {
        let throttle = AuthThrottle::new(10, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(throttle.record_failure(v4(1), now), FailureVerdict::Counted);
        }
        let FailureVerdict::Throttled { retry_after } = throttle.record_failure(v4(1), now) else {
            panic!("the eleventh failure is throttled");
        };
        assert!(
            (retry_after.as_secs_f64() - 6.0).abs() < 0.01,
            "{retry_after:?}"
        );
        assert!(throttled(
            throttle.record_failure(v4(1), now + Duration::from_secs(5))
        ));
        let later = now + Duration::from_secs(7);
        assert_eq!(
            throttle.record_failure(v4(1), later),
            FailureVerdict::Counted
        );
        assert!(throttled(throttle.record_failure(v4(1), later)));
        // Other addresses are not affected.
        assert_eq!(throttle.record_failure(v4(2), now), FailureVerdict::Counted);
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_slash_64_and_mapped_ipv4_is_ipv4() {
        let throttle = AuthThrottle::new(2, Duration::from_secs(60));
        let now = Instant::now();
        let host = |low: u16| Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, low)));
        assert_eq!(
            throttle.record_failure(host(1), now),
            FailureVerdict::Counted
        );
        assert_eq!(
            throttle.record_failure(host(2), now),
            FailureVerdict::Counted
        );
        assert!(throttled(throttle.record_failure(host(3), now)));
        let next_prefix = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1)));
        assert_eq!(
            throttle.record_failure(next_prefix, now),
            FailureVerdict::Counted
        );

        let mapped = Some(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 9).to_ipv6_mapped()));
        assert_eq!(
            throttle.record_failure(mapped, now),
            FailureVerdict::Counted
        );
        assert_eq!(throttle.record_failure(v4(9), now), FailureVerdict::Counted);
        assert!(throttled(throttle.record_failure(mapped, now)));
    }

    #[test]
    fn the_table_is_bounded_and_addresses_beyond_it_share_one_bucket() {
        let throttle = AuthThrottle::new(3, Duration::from_secs(60));
        let now = Instant::now();
        let spray = u32::try_from(MAX_TRACKED_ADDRESSES).unwrap() + 1000;
        for i in 0..spray {
            let _ = throttle.record_failure(v4(i), now);
        }
        assert_eq!(throttle.tracked_addresses(), MAX_TRACKED_ADDRESSES);
        // The untracked ones spent the shared bucket: a new address is throttled too.
        assert!(throttled(throttle.record_failure(v4(spray + 1), now)));
        // Tracked addresses keep their own state.
        assert_eq!(throttle.record_failure(v4(0), now), FailureVerdict::Counted);
        // Once their buckets are full again, entries make room for new addresses.
        let later = now + Duration::from_secs(61);
        assert_eq!(
            throttle.record_failure(v4(spray + 2), later),
            FailureVerdict::Counted
        );
        assert_eq!(throttle.tracked_addresses(), 1);
    }

    #[test]
    fn requests_without_an_address_share_one_bucket() {
        let throttle = AuthThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(throttle.record_failure(None, now), FailureVerdict::Counted);
        assert!(throttled(throttle.record_failure(None, now)));
        assert_eq!(throttle.tracked_addresses(), 0);
    }
}
