//! Clients: who is registered (by heartbeat, with its last one) and how many live tasks each has; the
//! orchestrator's `scheduler::clients` acts on disconnect, shutdown and timeout (docs/design.md,
//! "Clients, objects, graphs, balancing, scaling").
use crate::hash::{IdBuild, IdMap};
use crate::wire::ClientHeartbeat;
use bytes::Bytes;

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ClientInfo {
    pub connected_at: Instant,
    pub last_seen: Instant,
    pub heartbeat: ClientHeartbeat,
}

/// A client's live tasks, with the one copy of its id that they all name (so that every result to
/// the client carries the same `Bytes`, which the transport's route cache recognises by address).
#[derive(Debug)]
pub struct LiveTasks {
    pub id: Bytes,
    pub count: u32,
}

#[derive(Debug)]
pub struct Clients {
    pub registered: IdMap<Bytes, ClientInfo>,
    /// Number of live tasks (graph umbrellas included) per client id, registered or not. Whether a
    /// task's answers still go to its client is the task's own `detached` flag, set when the client
    /// is removed.
    pub tasks: IdMap<Bytes, LiveTasks>,
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

    /// Records a heartbeat; returns whether it registered a new client.
    pub fn heartbeat(&mut self, id: &Bytes, h: ClientHeartbeat, now: Instant) -> bool {
        match self.registered.get_mut(id) {
            Some(c) => {
                c.last_seen = now;
                c.heartbeat = h;
                false
            }
            None => {
                self.registered.insert(
                    id.clone(),
                    ClientInfo {
                        connected_at: now,
                        last_seen: now,
                        heartbeat: h,
                    },
                );
                true
            }
        }
    }

    /// Registered clients silent for longer than `limit`.
    pub fn timed_out(&self, now: Instant, limit: Duration) -> Vec<Bytes> {
        self.registered
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_seen) > limit)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn touch(&mut self, id: &[u8], now: Instant) {
        if let Some(c) = self.registered.get_mut(id) {
            c.last_seen = now;
        }
    }

    /// Counts one more live task for `client`; returns the id its tasks keep (copied on the first,
    /// so that no table keeps a slice of a task's frame).
    pub fn add_task(&mut self, client: &[u8]) -> Bytes {
        match self.tasks.get_mut(client) {
            Some(t) => {
                t.count += 1;
                t.id.clone()
            }
            None => {
                let id = Bytes::copy_from_slice(client);
                let live = LiveTasks {
                    id: id.clone(),
                    count: 1,
                };
                self.tasks.insert(id.clone(), live);
                id
            }
        }
    }

    pub fn remove_task(&mut self, client: &[u8]) {
        if let Some(t) = self.tasks.get_mut(client) {
            t.count -= 1;
            if t.count == 0 {
                self.tasks.remove(client);
            }
        }
    }

    pub fn num_tasks(&self, client: &[u8]) -> usize {
        self.tasks.get(client).map_or(0, |t| t.count as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_register_once_and_silence_times_out() {
        let mut c = Clients::new(IdBuild::with_keys(7, 8));
        let (t0, id) = (Instant::now(), Bytes::from_static(b"Client|1"));
        assert!(c.heartbeat(&id, ClientHeartbeat::default(), t0));
        assert!(!c.heartbeat(&id, ClientHeartbeat::default(), t0 + Duration::from_secs(5)));
        assert!(c.is_registered(b"Client|1"));
        let limit = Duration::from_secs(10);
        assert!(c.timed_out(t0 + Duration::from_secs(15), limit).is_empty());
        assert_eq!(
            c.timed_out(t0 + Duration::from_secs(16), limit),
            vec![id.clone()]
        );
        c.add_task(&id);
        c.add_task(&id);
        c.remove_task(&id);
        assert_eq!(c.num_tasks(b"Client|1"), 1);
        c.remove_task(&id);
        assert!(c.tasks.is_empty(), "a client without tasks leaves no entry");
    }
}
