//! Monitor fan-out: every monitor frame goes to every monitor connection past its handshake.
//!
//! Monitors are publish-only peers: one that does not keep up misses frames (as a ZMQ PUB socket drops
//! at its high-water mark) rather than growing our memory or being closed. Its queue stays within the
//! limit plus one frame.
use super::conn::{Conn, Role};
use bytes::Bytes;
use slab::Slab;

#[derive(Debug, Default)]
pub struct Monitors {
    /// Connection keys of the subscribed monitors, in subscription order.
    keys: Vec<usize>,
}

impl Monitors {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A monitor connection completed its handshake.
    pub fn subscribe(&mut self, key: usize) {
        debug_assert!(!self.keys.contains(&key), "monitor {key} subscribed twice");
        self.keys.push(key);
    }

    /// A subscribed monitor connection closed.
    pub fn unsubscribe(&mut self, key: usize) {
        let before = self.keys.len();
        self.keys.retain(|k| *k != key);
        debug_assert_eq!(
            before,
            self.keys.len() + 1,
            "monitor {key} was not subscribed"
        );
    }

    /// Queues `frame` on every monitor under `high_water` unsent bytes; marks them in `dirty`.
    /// Returns how many monitors skipped it.
    pub fn publish(
        &self,
        frame: &Bytes,
        conns: &mut Slab<Conn>,
        high_water: usize,
        dirty: &mut Vec<usize>,
    ) -> u64 {
        let mut skipped = 0;
        for &k in &self.keys {
            let c = &mut conns[k];
            debug_assert!(c.role == Role::Monitor && c.is_ready());
            if c.queued_bytes() > high_water {
                skipped += 1;
                continue;
            }
            c.queue_frame(frame.clone());
            dirty.push(k);
        }
        skipped
    }
}
