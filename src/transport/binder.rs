//! The YMQ binder, sans-IO: which connection an identity is on, and what happens to a message for an
//! identity that is not connected. No sockets and no clock: connection keys and `now` come in,
//! decisions come out, so every rule below is unit-tested with virtual time.
//!
//! The rules the real peers rely on (docs/design.md, "The binder's rules"):
//! * Messages are routed by identity; an identity is bound to at most one connection per namespace.
//! * A handshake with an identity that is already bound replaces the old connection (a peer that
//!   reconnects before its old socket's EOF reaches us must not lose its new connection's messages).
//! * A message for an identity that has never connected, or is reconnecting, is parked and delivered
//!   on its handshake, within per-identity and total byte limits; parked messages are dropped after
//!   `gone_ttl` if the identity never (re)connects.
//! * A message for an identity whose connection ended cleanly (EOF) within the last `gone_ttl` is
//!   dropped: it left on purpose and will not come back to collect it.
use crate::hash::IdMap;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The identity spaces the scheduler serves; the same identity may exist in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// Clients, workers and worker managers on the main address.
    Main,
    /// Peers of the embedded object storage server.
    Storage,
}

#[derive(Debug, Clone)]
pub struct BinderLimits {
    /// Bytes parked for one identity that is not connected.
    pub max_parked_bytes: usize,
    /// Bytes parked for all identities together (a client can name any `source` in its tasks).
    pub max_parked_total_bytes: usize,
    /// How long parked messages wait, and how long a clean departure makes messages be dropped.
    pub gone_ttl: Duration,
}

impl Default for BinderLimits {
    fn default() -> Self {
        BinderLimits {
            max_parked_bytes: 64 << 20,
            max_parked_total_bytes: 256 << 20,
            gone_ttl: Duration::from_secs(60),
        }
    }
}

/// What became of a message sent to an identity on the main address.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The identity is bound: queue the frame on this connection.
    Now(usize, Bytes),
    /// Not connected: kept until its handshake.
    Parked,
    /// It left cleanly within the TTL: nobody will collect the message.
    DroppedGone,
    /// Parking it would pass the per-identity or total limit.
    DroppedFull,
}

/// The result of a handshake.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bound {
    /// The connection this identity was bound to before: the caller closes it.
    pub replaced: Option<usize>,
    /// Messages parked for this identity, oldest first: the caller queues them on the new connection.
    pub parked: VecDeque<Bytes>,
}

#[derive(Debug)]
struct Parked {
    frames: VecDeque<Bytes>,
    bytes: usize,
    since: Instant,
}

/// Slots of the route cache (`Binder::recent`).
const RECENT: usize = 8;

/// The route cache's slot for an identity: its address, multiplied and shifted to `RECENT` slots.
#[inline]
fn slot(id: &[u8]) -> usize {
    ((id.as_ptr() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 61) as usize % RECENT
}

#[derive(Debug, Default)]
pub struct Binder {
    main: IdMap<Bytes, usize>,
    /// Identities lately routed on the main address, by the address of their bytes. The scheduler
    /// names a worker or client by the one `Bytes` it keeps for it, so most sends find it here by
    /// comparing an address instead of hashing the id. An entry holds its `Bytes`, so its address
    /// cannot be reused for other bytes while it is cached; every bind and unbind empties the cache.
    recent: [Option<(Bytes, usize)>; RECENT],
    storage: IdMap<Bytes, usize>,
    parked: IdMap<Bytes, Parked>,
    parked_total: usize,
    gone: IdMap<Bytes, Instant>,
    limits: BinderLimits,
}

impl Binder {
    pub fn new(limits: BinderLimits) -> Self {
        Binder {
            limits,
            ..Binder::default()
        }
    }

    fn map(&mut self, ns: Namespace) -> &mut IdMap<Bytes, usize> {
        match ns {
            Namespace::Main => &mut self.main,
            Namespace::Storage => &mut self.storage,
        }
    }

    /// The connection `id` is bound to.
    pub fn lookup(&self, ns: Namespace, id: &[u8]) -> Option<usize> {
        match ns {
            Namespace::Main => self.main.get(id).copied(),
            Namespace::Storage => self.storage.get(id).copied(),
        }
    }

    /// Connections bound in `ns`.
    pub fn bound(&self, ns: Namespace) -> usize {
        match ns {
            Namespace::Main => self.main.len(),
            Namespace::Storage => self.storage.len(),
        }
    }

    /// Bytes parked for identities that are not connected.
    pub fn parked_bytes(&self) -> usize {
        self.parked_total
    }

    /// Connection `key` completed its handshake as `id`.
    pub fn bind(&mut self, ns: Namespace, id: Bytes, key: usize) -> Bound {
        let mut bound = Bound {
            replaced: self
                .map(ns)
                .insert(id.clone(), key)
                .filter(|&old| old != key),
            ..Bound::default()
        };
        if ns == Namespace::Main {
            self.recent = Default::default();
            self.gone.remove(&id);
            if let Some(p) = self.parked.remove(&id) {
                self.parked_total -= p.bytes;
                bound.parked = p.frames;
            }
        }
        self.check();
        bound
    }

    /// Connection `key`, which had shaken hands as `id`, ended (`clean`: by EOF). Returns whether it
    /// was still the identity's connection, that is whether the identity is now disconnected (a
    /// connection that was replaced does not unbind its successor).
    pub fn unbind(
        &mut self,
        now: Instant,
        ns: Namespace,
        id: &Bytes,
        key: usize,
        clean: bool,
    ) -> bool {
        let map = self.map(ns);
        if map.get(id) != Some(&key) {
            return false;
        }
        map.remove(id);
        if ns == Namespace::Main {
            self.recent = Default::default();
            if clean {
                self.gone.insert(id.clone(), now);
            }
        }
        self.check();
        true
    }

    /// Routes one message for `to` on the main address.
    // Inline: this is once per message sent, and the bound case is one lookup the caller should not
    // pay a call for (the unbound cases are rare and stay out of line).
    #[inline]
    pub fn send(&mut self, now: Instant, to: &Bytes, frame: Bytes) -> Delivery {
        let s = slot(to);
        if let Some((id, k)) = &self.recent[s] {
            if id.as_ptr() == to.as_ptr() && id.len() == to.len() {
                debug_assert_eq!(self.main.get(to), Some(k), "route cache out of date");
                return Delivery::Now(*k, frame);
            }
        }
        match self.main.get(to) {
            Some(&k) => {
                self.recent[s] = Some((to.clone(), k));
                Delivery::Now(k, frame)
            }
            None => self.send_unbound(now, to, frame),
        }
    }

    fn send_unbound(&mut self, now: Instant, to: &Bytes, frame: Bytes) -> Delivery {
        if self.gone.contains_key(to) {
            return Delivery::DroppedGone;
        }
        let held = self.parked.get(to).map_or(0, |p| p.bytes);
        if held + frame.len() > self.limits.max_parked_bytes
            || self.parked_total + frame.len() > self.limits.max_parked_total_bytes
        {
            return Delivery::DroppedFull;
        }
        let p = self.parked.entry(to.clone()).or_insert_with(|| Parked {
            frames: VecDeque::new(),
            bytes: 0,
            since: now,
        });
        p.bytes += frame.len();
        self.parked_total += frame.len();
        p.frames.push_back(frame);
        self.check();
        Delivery::Parked
    }

    /// Forgets departures older than the TTL and drops messages parked longer than it; returns the
    /// identities whose parked messages were dropped.
    pub fn expire(&mut self, now: Instant) -> Vec<Bytes> {
        let ttl = self.limits.gone_ttl;
        self.gone
            .retain(|_, t| now.saturating_duration_since(*t) < ttl);
        let mut dropped = Vec::new();
        let total = &mut self.parked_total;
        self.parked.retain(|id, p| {
            let keep = now.saturating_duration_since(p.since) < ttl;
            if !keep {
                *total -= p.bytes;
                dropped.push(id.clone());
            }
            keep
        });
        self.check();
        dropped
    }

    /// The accounting invariants (debug builds only: this walks every parked queue).
    fn check(&self) {
        if cfg!(debug_assertions) {
            let sum: usize = self.parked.values().map(|p| p.bytes).sum();
            debug_assert_eq!(sum, self.parked_total, "parked byte count drifted");
            debug_assert!(self.parked_total <= self.limits.max_parked_total_bytes);
            for (id, p) in &self.parked {
                debug_assert_eq!(p.frames.iter().map(Bytes::len).sum::<usize>(), p.bytes);
                debug_assert!(p.bytes <= self.limits.max_parked_bytes);
                debug_assert!(!self.main.contains_key(id), "parked for a bound identity");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn frame(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    fn limits(each: usize, total: usize) -> BinderLimits {
        BinderLimits {
            max_parked_bytes: each,
            max_parked_total_bytes: total,
            gone_ttl: Duration::from_secs(60),
        }
    }

    /// The route cache answers by address only while the binding it saw holds: a reconnect, a
    /// departure or an equal id in another allocation all route by the table.
    #[test]
    fn the_route_cache_follows_every_binding_change() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        let w = id("worker");
        b.bind(Namespace::Main, w.clone(), 1);
        for _ in 0..3 {
            assert_eq!(b.send(t0, &w, frame(1)), Delivery::Now(1, frame(1)));
        }
        assert!(b
            .recent
            .iter()
            .flatten()
            .any(|(i, k)| i.as_ptr() == w.as_ptr() && *k == 1));
        b.bind(Namespace::Main, id("worker"), 2);
        assert_eq!(b.send(t0, &w, frame(1)), Delivery::Now(2, frame(1)));
        let other = id("worker");
        assert_ne!(other.as_ptr(), w.as_ptr());
        assert_eq!(b.send(t0, &other, frame(1)), Delivery::Now(2, frame(1)));
        assert!(b.unbind(t0, Namespace::Main, &w, 2, true));
        assert_eq!(b.send(t0, &w, frame(1)), Delivery::DroppedGone);
        b.bind(Namespace::Main, w.clone(), 3);
        assert_eq!(b.send(t0, &w, frame(1)), Delivery::Now(3, frame(1)));
        // Unclean departure: parked, not sent to the dead connection.
        assert!(b.unbind(t0, Namespace::Main, &w, 3, false));
        assert_eq!(b.send(t0, &w, frame(1)), Delivery::Parked);
    }

    #[test]
    fn bound_identity_gets_its_messages_at_once() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        assert_eq!(b.bind(Namespace::Main, id("w"), 3), Bound::default());
        assert_eq!(b.send(t0, &id("w"), frame(5)), Delivery::Now(3, frame(5)));
        assert_eq!(b.lookup(Namespace::Main, b"w"), Some(3));
        assert_eq!(b.lookup(Namespace::Storage, b"w"), None);
    }

    #[test]
    fn messages_for_an_absent_identity_are_parked_and_flushed_in_order_on_handshake() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        assert_eq!(b.send(t0, &id("c"), frame(1)), Delivery::Parked);
        assert_eq!(b.send(t0, &id("c"), frame(2)), Delivery::Parked);
        assert_eq!(b.parked_bytes(), 3);
        let bound = b.bind(Namespace::Main, id("c"), 9);
        assert_eq!(bound.replaced, None);
        assert_eq!(Vec::from(bound.parked), vec![frame(1), frame(2)]);
        assert_eq!(b.parked_bytes(), 0);
        assert_eq!(b.send(t0, &id("c"), frame(3)), Delivery::Now(9, frame(3)));
    }

    #[test]
    fn parking_respects_the_per_identity_and_total_limits() {
        let t0 = Instant::now();
        let mut b = Binder::new(limits(10, 15));
        assert_eq!(b.send(t0, &id("a"), frame(10)), Delivery::Parked);
        assert_eq!(b.send(t0, &id("a"), frame(1)), Delivery::DroppedFull);
        assert_eq!(b.send(t0, &id("b"), frame(5)), Delivery::Parked);
        assert_eq!(b.send(t0, &id("c"), frame(1)), Delivery::DroppedFull);
        assert_eq!(b.parked_bytes(), 15);
        // A refused message leaves no trace: "c" has nothing parked.
        assert!(b.bind(Namespace::Main, id("c"), 1).parked.is_empty());
        assert_eq!(b.bind(Namespace::Main, id("a"), 2).parked.len(), 1);
        assert_eq!(b.parked_bytes(), 5);
        assert_eq!(b.send(t0, &id("d"), frame(10)), Delivery::Parked);
    }

    #[test]
    fn a_reconnecting_identity_replaces_its_old_connection() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        b.bind(Namespace::Main, id("w"), 1);
        let bound = b.bind(Namespace::Main, id("w"), 2);
        assert_eq!(bound.replaced, Some(1));
        // The old connection's late close does not unbind the new one.
        assert!(!b.unbind(t0, Namespace::Main, &id("w"), 1, true));
        assert_eq!(b.send(t0, &id("w"), frame(1)), Delivery::Now(2, frame(1)));
        // Binding the same connection again replaces nothing.
        assert_eq!(b.bind(Namespace::Main, id("w"), 2).replaced, None);
    }

    #[test]
    fn a_clean_departure_drops_messages_for_the_ttl_then_parks_again() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        b.bind(Namespace::Main, id("c"), 4);
        assert!(b.unbind(t0, Namespace::Main, &id("c"), 4, true));
        assert_eq!(b.send(t0, &id("c"), frame(1)), Delivery::DroppedGone);
        b.expire(t0 + Duration::from_secs(59));
        assert_eq!(
            b.send(t0 + Duration::from_secs(59), &id("c"), frame(1)),
            Delivery::DroppedGone
        );
        b.expire(t0 + Duration::from_secs(60));
        assert_eq!(
            b.send(t0 + Duration::from_secs(60), &id("c"), frame(1)),
            Delivery::Parked
        );
    }

    #[test]
    fn an_unclean_departure_parks_messages_for_the_reconnect() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        b.bind(Namespace::Main, id("w"), 4);
        assert!(b.unbind(t0, Namespace::Main, &id("w"), 4, false));
        assert_eq!(b.send(t0, &id("w"), frame(2)), Delivery::Parked);
        assert_eq!(b.bind(Namespace::Main, id("w"), 5).parked.len(), 1);
    }

    #[test]
    fn a_handshake_clears_a_recent_departure() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        b.bind(Namespace::Main, id("c"), 1);
        b.unbind(t0, Namespace::Main, &id("c"), 1, true);
        b.bind(Namespace::Main, id("c"), 2);
        b.unbind(t0, Namespace::Main, &id("c"), 2, false);
        assert_eq!(b.send(t0, &id("c"), frame(1)), Delivery::Parked);
    }

    #[test]
    fn parked_messages_expire_after_the_ttl_counted_from_the_first() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        b.send(t0, &id("x"), frame(3));
        b.send(t0 + Duration::from_secs(30), &id("x"), frame(4));
        b.send(t0 + Duration::from_secs(30), &id("y"), frame(1));
        assert!(b.expire(t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(b.parked_bytes(), 8);
        assert_eq!(b.expire(t0 + Duration::from_secs(60)), vec![id("x")]);
        assert_eq!(b.parked_bytes(), 1);
        assert_eq!(b.expire(t0 + Duration::from_secs(90)), vec![id("y")]);
        assert_eq!(b.parked_bytes(), 0);
    }

    #[test]
    fn storage_namespace_is_separate_and_never_parks_or_remembers_departures() {
        let t0 = Instant::now();
        let mut b = Binder::new(BinderLimits::default());
        b.bind(Namespace::Storage, id("c"), 7);
        assert_eq!(b.lookup(Namespace::Storage, b"c"), Some(7));
        assert_eq!(b.send(t0, &id("c"), frame(1)), Delivery::Parked);
        assert!(b.unbind(t0, Namespace::Storage, &id("c"), 7, true));
        assert_eq!(b.bound(Namespace::Storage), 0);
        // The main-address identity "c" never left: its parked message is delivered on handshake.
        assert_eq!(b.bind(Namespace::Main, id("c"), 8).parked.len(), 1);
    }
}
