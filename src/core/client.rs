//! Clients: who is registered (by heartbeat, with its last one) and how many live tasks each has; the
//! orchestrator's `scheduler::clients` acts on disconnect, shutdown and timeout (docs/design.md,
//! "Clients, objects, graphs, balancing, scaling").
use crate::hash::{IdBuild, IdMap};
use crate::wire::ClientHeartbeat;
use bytes::Bytes;

use std::time::Instant;

#[derive(Debug)]
pub struct ClientInfo {
    pub connected_at: Instant,
    pub last_seen: Instant,
    pub heartbeat: ClientHeartbeat,
}

#[derive(Debug)]
pub struct Clients {
    pub registered: IdMap<Bytes, ClientInfo>,
    /// Number of live tasks (graph umbrellas included) per client id, registered or not. Whether a
    /// task's answers still go to its client is the task's own `detached` flag, set when the client
    /// is removed.
    pub tasks: IdMap<Bytes, u32>,
}

impl Clients {
    pub fn new(keys: IdBuild) -> Clients {
        Clients {
            registered: IdMap::with_hasher(keys),
            tasks: IdMap::with_hasher(keys),
        }
    }

    pub fn is_registered(&self, id: &[u8]) -> bool {
        self.registered.contains_key(id)
    }

    /// The registered client's own copy of `id` (long-lived), or a private copy if it is unknown, so
    /// that tables never keep a slice of a receive buffer alive.
    pub fn interned(&self, id: &[u8]) -> Bytes {
        match self.registered.get_key_value(id) {
            Some((k, _)) => k.clone(),
            None => Bytes::copy_from_slice(id),
        }
    }

    pub fn touch(&mut self, id: &[u8], now: Instant) {
        if let Some(c) = self.registered.get_mut(id) {
            c.last_seen = now;
        }
    }

    pub fn add_task(&mut self, client: &Bytes) {
        *self.tasks.entry(client.clone()).or_default() += 1;
    }

    pub fn remove_task(&mut self, client: &Bytes) {
        if let Some(n) = self.tasks.get_mut(client) {
            *n -= 1;
            if *n == 0 {
                self.tasks.remove(client);
            }
        }
    }

    pub fn num_tasks(&self, client: &[u8]) -> usize {
        self.tasks.get(client).map_or(0, |n| *n as usize)
    }
}
