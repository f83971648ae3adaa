//! Connection admission for one listener: how many connections it serves at once, how many
//! of them one client address may hold, and which connection gives up its slot when all are
//! taken. The webhook listener ([`crate::server`]) and the metrics and health listener
//! ([`crate::metrics`]) share it, each with its own [`Admission`].
//!
//! * **Per address.** A connection from an address that already holds `per_address`
//!   connections is closed right after the accept, before its TLS handshake, so one client
//!   cannot take every slot. IPv4 addresses count one by one (an IPv4-mapped IPv6 address
//!   as its IPv4 address); IPv6 addresses by their /64, since one host is usually given a
//!   whole /64.
//! * **Idle connections yield.** When every slot is taken, the connection that has been
//!   idle longest (answered at least once, nothing in flight, no new request begun) is
//!   closed gracefully, and the new one takes its slot at once.
//! * **Otherwise, wait.** When every slot is taken and none is idle, the listener stops
//!   accepting: clients wait in the listen backlog until a slot frees or a connection
//!   becomes idle. A connection that has not sent its first request is never closed for a
//!   newcomer; its own deadline (`HEADER_READ_TIMEOUT` from the accept, see
//!   [`crate::activity`]) bounds it.
//!
//! A yielding connection no longer counts against either limit, so at most `max`
//! connections are served, plus those closing: each within a second, or, if a request
//! slipped in as it was chosen, once that request is answered (`TIMEOUT` bounds it).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::activity::Activity;

/// The part of a client address that the per-address limit counts.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
enum AddressKey {
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Prefix(u64),
}

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => Self::V6Prefix((v6.to_bits() >> 64) as u64),
            },
        }
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Refusal {
    /// Its address already holds its share of the slots: close it.
    AddressFull,
    /// Every slot is taken and none is idle: wait for [`Admission::room`].
    Full,
}

/// One listener's admission rules and the connections it has admitted.
#[derive(Debug)]
pub(crate) struct Admission {
    max: usize,
    /// 0: no per-address limit.
    per_address: usize,
    epoch: Instant,
    /// Told when a slot frees or a connection becomes idle.
    changed: Arc<Notify>,
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    /// Connections holding a slot: admitted, not yielding.
    open: usize,
    /// Connections holding a slot, by address.
    by_address: HashMap<AddressKey, usize>,
    connections: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    address: AddressKey,
    activity: Arc<Activity>,
    yielding: bool,
}

impl Registry {
    /// Gives up the slot of a connection from `address` (it yields or closes).
    fn release(&mut self, address: AddressKey) {
        self.open = self.open.saturating_sub(1);
        if let Some(count) = self.by_address.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.by_address.remove(&address);
            }
        }
    }

    /// The connection idle longest, if any is idle.
    fn longest_idle(&mut self) -> Option<&mut Entry> {
        self.connections
            .values_mut()
            .filter(|entry| !entry.yielding)
            .filter_map(|entry| entry.activity.idle_since().map(|since| (since, entry)))
            .min_by_key(|(since, _)| *since)
            .map(|(_, entry)| entry)
    }
}

/// A connection's place in its listener; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Arc<Admission>,
    id: u64,
    activity: Arc<Activity>,
}

impl Slot {
    /// What the connection is doing, for its watchdog.
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut registry = self.admission.lock();
        if let Some(entry) = registry.connections.remove(&self.id)
            && !entry.yielding
        {
            registry.release(entry.address);
        }
        drop(registry);
        self.admission.changed.notify_one();
    }
}

impl Admission {
    /// At most `max` connections at once, at most `per_address` of them (0: any number)
    /// from one address.
    pub(crate) fn new(max: usize, per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            per_address,
            epoch: Instant::now(),
            changed: Arc::new(Notify::new()),
            registry: Mutex::new(Registry::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every update leaves the registry consistent, so a panic elsewhere cannot have
        // left it half-changed.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `peer`, asking the longest-idle connection to yield when
    /// every slot is taken.
    pub(crate) fn try_admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let address = AddressKey::from(peer);
        let mut registry = self.lock();
        if self.per_address > 0
            && registry.by_address.get(&address).copied().unwrap_or(0) >= self.per_address
        {
            return Err(Refusal::AddressFull);
        }
        if registry.open >= self.max {
            let victim = registry.longest_idle().ok_or(Refusal::Full)?;
            victim.yielding = true;
            victim.activity.request_yield();
            let victim = victim.address;
            registry.release(victim);
        }
        let id = registry.next_id;
        registry.next_id += 1;
        registry.open += 1;
        *registry.by_address.entry(address).or_insert(0) += 1;
        let activity = Arc::new(Activity::new(self.epoch, self.changed.clone()));
        registry.connections.insert(
            id,
            Entry {
                address,
                activity: activity.clone(),
                yielding: false,
            },
        );
        Ok(Slot {
            admission: self.clone(),
            id,
            activity,
        })
    }

    /// Whether a connection could be admitted now, address limits aside.
    fn has_room(&self) -> bool {
        let mut registry = self.lock();
        registry.open < self.max || registry.longest_idle().is_some()
    }

    /// Resolves when a slot is free or a connection is idle.
    pub(crate) async fn room(&self) {
        loop {
            // Created before the check: a change in between leaves a permit, not a lost
            // wake-up.
            let changed = self.changed.notified();
            if self.has_room() {
                return;
            }
            changed.await;
        }
    }

    /// Connections holding a slot (yielding ones excluded).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open
    }
}

/// Accepts connections on `listener` until `shutdown` completes, and hands each one it
/// admits to `serve` with its slot. `name` names the listener in logs.
pub(crate) async fn accept_loop<F>(
    listener: &TcpListener,
    admission: &Arc<Admission>,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
    name: &'static str,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, Slot),
{
    loop {
        // Accept only with room, so that past the limit clients wait in the backlog.
        tokio::select! {
            () = admission.room() => {}
            () = &mut shutdown => return,
        }
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Usually EMFILE or a connection reset before accept; pausing avoids a
                    // hot loop while the condition lasts.
                    tracing::warn!(listener = name, error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        // The idle connection seen above may have become busy since: then wait again, with
        // this one connection in hand.
        let slot = loop {
            match admission.try_admit(peer.ip()) {
                Ok(slot) => break Some(slot),
                Err(Refusal::AddressFull) => break None,
                Err(Refusal::Full) => tokio::select! {
                    () = admission.room() => {}
                    () = &mut shutdown => return,
                },
            }
        };
        match slot {
            Some(slot) => serve(tcp, peer, slot),
            None => {
                tracing::debug!(listener = name, %peer, "connections per address at the limit, closing");
                drop(tcp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Makes `slot`'s connection idle: one request answered.
    fn answered(slot: &Slot) {
        slot.activity().request_started();
        slot.activity().request_finished();
    }

    #[tokio::test]
    async fn one_address_gets_its_share_and_no_more() {
        let admission = Admission::new(8, 2);
        let a = admission.try_admit(ip("192.0.2.1")).unwrap();
        let _b = admission.try_admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            admission.try_admit(ip("192.0.2.1")).unwrap_err(),
            Refusal::AddressFull
        );
        // Another address is admitted, and a freed slot is the address's again.
        let _c = admission.try_admit(ip("192.0.2.2")).unwrap();
        drop(a);
        let _d = admission.try_admit(ip("192.0.2.1")).unwrap();
        assert_eq!(admission.open(), 3);
    }

    #[tokio::test]
    async fn zero_means_no_per_address_limit() {
        let admission = Admission::new(4, 0);
        let slots: Vec<_> = (0..4)
            .map(|_| admission.try_admit(ip("192.0.2.1")).unwrap())
            .collect();
        assert_eq!(
            admission.try_admit(ip("192.0.2.1")).unwrap_err(),
            Refusal::Full
        );
        drop(slots);
    }

    #[tokio::test]
    async fn ipv6_addresses_count_by_their_64_bit_prefix_and_mapped_ipv4_as_ipv4() {
        let admission = Admission::new(8, 1);
        let _a = admission.try_admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            admission.try_admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Refusal::AddressFull
        );
        let _b = admission.try_admit(ip("2001:db8:1:3::1")).unwrap();
        let _c = admission.try_admit(ip("192.0.2.7")).unwrap();
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(
            admission.try_admit(mapped).unwrap_err(),
            Refusal::AddressFull
        );
        assert_eq!(
            AddressKey::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            AddressKey::V6Prefix(0)
        );
    }

    #[tokio::test]
    async fn when_full_the_longest_idle_connection_yields() {
        let admission = Admission::new(3, 0);
        let first = admission.try_admit(ip("192.0.2.1")).unwrap();
        let second = admission.try_admit(ip("192.0.2.2")).unwrap();
        let _silent = admission.try_admit(ip("192.0.2.3")).unwrap();
        // Full, and nothing idle: a connection that has not asked yet never yields.
        assert_eq!(
            admission.try_admit(ip("192.0.2.4")).unwrap_err(),
            Refusal::Full
        );
        assert!(!admission.has_room());
        answered(&second);
        tokio::time::sleep(Duration::from_millis(5)).await;
        answered(&first);
        assert!(admission.has_room());
        let _new = admission.try_admit(ip("192.0.2.4")).unwrap();
        assert!(second.activity().idle_since().is_none(), "asked to yield");
        assert!(
            first.activity().idle_since().is_some(),
            "idle for less long"
        );
        // The yielding connection no longer holds a slot or its address's share.
        assert_eq!(admission.open(), 3);
        // The next newcomer takes the other idle one's slot; then none is left.
        let _newer = admission.try_admit(ip("192.0.2.2")).unwrap();
        assert!(first.activity().idle_since().is_none());
        assert_eq!(
            admission.try_admit(ip("192.0.2.5")).unwrap_err(),
            Refusal::Full
        );
        // When a yielding connection finally closes, it frees nothing twice.
        drop(second);
        drop(first);
        assert_eq!(admission.open(), 3);
    }

    /// A task waiting for room, checked not to have found it yet.
    async fn waiting_for_room(admission: &Arc<Admission>) -> tokio::task::JoinHandle<()> {
        let waiting = tokio::spawn({
            let admission = admission.clone();
            async move { admission.room().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        waiting
    }

    #[tokio::test]
    async fn room_wakes_when_a_slot_frees_or_a_connection_becomes_idle() {
        let admission = Admission::new(1, 0);
        let only = admission.try_admit(ip("192.0.2.1")).unwrap();
        let waiting = waiting_for_room(&admission).await;
        answered(&only);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("not woken by an idle connection")
            .unwrap();
        let newcomer = admission.try_admit(ip("192.0.2.2")).unwrap();
        let waiting = waiting_for_room(&admission).await;
        drop(only);
        drop(newcomer);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("not woken by a freed slot")
            .unwrap();
    }
}
