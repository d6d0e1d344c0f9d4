//! Clients: who is registered (by heartbeat, with its last one) and how many live tasks each has; the
//! orchestrator's `scheduler::clients` acts on disconnect, shutdown and timeout (docs/design.md,
//! "Clients, objects, graphs, balancing, scaling").
use crate::hash::{IdBuild, IdMap};
use crate::wire::ClientHeartbeat;
use bytes::Bytes;
use slab::Slab;
use std::cell::Cell;

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ClientInfo {
    pub connected_at: Instant,
    pub last_seen: Instant,
    pub heartbeat: ClientHeartbeat,
}

/// One client id the scheduler knows: registered by heartbeat, or named by live tasks, or both.
#[derive(Debug)]
struct Client {
    /// The one copy of the id that every task and result of the client names (the transport's route
    /// cache recognises it by address).
    id: Bytes,
    registered: Option<ClientInfo>,
    /// Live tasks (graph umbrellas included), registered or not. Whether a task's answers still go to
    /// its client is the task's own `detached` flag, set when the client is removed.
    tasks: u32,
}

/// The clients in a slab found through an id index, with the last one looked up remembered: a
/// client's messages come in runs (its tasks, their results, the workers' objects for them), so most
/// lookups compare the id with one record's instead of hashing it (each task looked a client up four
/// times: a touch, a task counted, its result's object checked, the task uncounted).
#[derive(Debug)]
pub struct Clients {
    slab: Slab<Client>,
    index: IdMap<Bytes, usize>,
    /// The slab key of the client looked up last (cleared when its record goes).
    last: Cell<Option<usize>>,
    registered: usize,
}

impl Clients {
    pub fn new(keys: IdBuild) -> Clients {
        Clients {
            slab: Slab::new(),
            index: IdMap::with_hasher(keys),
            last: Cell::new(None),
            registered: 0,
        }
    }

    fn find(&self, id: &[u8]) -> Option<usize> {
        if let Some(k) = self.last.get() {
            if self.slab.get(k).is_some_and(|c| c.id == id) {
                return Some(k);
            }
        }
        let k = *self.index.get(id)?;
        self.last.set(Some(k));
        Some(k)
    }

    /// The record of `id`, made (with a copy of the id: no table keeps a slice of a frame) if absent.
    fn find_or_add(&mut self, id: &[u8]) -> usize {
        if let Some(k) = self.find(id) {
            return k;
        }
        let id = Bytes::copy_from_slice(id);
        let k = self.slab.insert(Client {
            id: id.clone(),
            registered: None,
            tasks: 0,
        });
        self.index.insert(id, k);
        self.last.set(Some(k));
        k
    }

    /// Drops record `k` if nothing keeps it (not registered, no live task).
    fn drop_if_unused(&mut self, k: usize) {
        let c = &self.slab[k];
        if c.registered.is_none() && c.tasks == 0 {
            let c = self.slab.remove(k);
            self.index.remove(&c.id);
            if self.last.get() == Some(k) {
                self.last.set(None);
            }
        }
    }

    pub fn is_registered(&self, id: &[u8]) -> bool {
        self.find(id)
            .is_some_and(|k| self.slab[k].registered.is_some())
    }

    /// Registered clients (for the monitors and the timeout check), in slab order: deterministic for a
    /// run, though a new client may take the place of one that left.
    pub fn registered(&self) -> impl Iterator<Item = (&Bytes, &ClientInfo)> {
        self.slab
            .iter()
            .filter_map(|(_, c)| Some((&c.id, c.registered.as_ref()?)))
    }

    pub fn registered_len(&self) -> usize {
        self.registered
    }

    /// The registered client's own copy of `id` (long-lived), or a private copy if it is unknown, so
    /// that tables never keep a slice of a receive buffer alive.
    pub fn interned(&self, id: &[u8]) -> Bytes {
        match self.find(id) {
            Some(k) if self.slab[k].registered.is_some() => self.slab[k].id.clone(),
            _ => Bytes::copy_from_slice(id),
        }
    }

    /// Records a heartbeat; returns whether it registered a new client.
    pub fn heartbeat(&mut self, id: &Bytes, h: ClientHeartbeat, now: Instant) -> bool {
        let k = self.find_or_add(id);
        let c = &mut self.slab[k];
        match &mut c.registered {
            Some(info) => {
                info.last_seen = now;
                info.heartbeat = h;
                false
            }
            None => {
                c.registered = Some(ClientInfo {
                    connected_at: now,
                    last_seen: now,
                    heartbeat: h,
                });
                self.registered += 1;
                true
            }
        }
    }

    /// Registered clients silent for longer than `limit`.
    pub fn timed_out(&self, now: Instant, limit: Duration) -> Vec<Bytes> {
        self.registered()
            .filter(|(_, c)| now.saturating_duration_since(c.last_seen) > limit)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn touch(&mut self, id: &[u8], now: Instant) {
        if let Some(k) = self.find(id) {
            if let Some(info) = &mut self.slab[k].registered {
                info.last_seen = now;
            }
        }
    }

    /// Forgets `id` altogether: its registration and its count of live tasks.
    pub fn remove(&mut self, id: &[u8]) {
        let Some(k) = self.find(id) else { return };
        let c = &mut self.slab[k];
        if c.registered.take().is_some() {
            self.registered -= 1;
        }
        c.tasks = 0;
        self.drop_if_unused(k);
    }

    /// Counts one more live task for `client`; returns the id its tasks keep.
    pub fn add_task(&mut self, client: &[u8]) -> Bytes {
        let k = self.find_or_add(client);
        let c = &mut self.slab[k];
        c.tasks += 1;
        c.id.clone()
    }

    pub fn remove_task(&mut self, client: &[u8]) {
        if let Some(k) = self.find(client) {
            let c = &mut self.slab[k];
            c.tasks = c.tasks.saturating_sub(1);
            self.drop_if_unused(k);
        }
    }

    pub fn num_tasks(&self, client: &[u8]) -> usize {
        self.find(client).map_or(0, |k| self.slab[k].tasks as usize)
    }

    /// Every record is indexed under its id, is registered or has tasks, and the counter of
    /// registered clients matches.
    pub fn check_invariants(&self) {
        assert_eq!(self.index.len(), self.slab.len());
        for (k, c) in self.slab.iter() {
            assert_eq!(
                self.index.get(&c.id),
                Some(&k),
                "record indexed under its id"
            );
            assert!(
                c.registered.is_some() || c.tasks > 0,
                "an unused record is dropped"
            );
        }
        assert_eq!(self.registered().count(), self.registered);
        if let Some(k) = self.last.get() {
            assert!(self.slab.contains(k), "the cached record is live");
        }
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
        assert_eq!(c.num_tasks(b"Client|1"), 0);
        c.check_invariants();
    }

    /// Random registrations, touches, task counts and removals over a few ids, against a plain model:
    /// the last-client cache must never answer for another client, also when a slab slot is reused.
    #[test]
    fn the_cache_agrees_with_a_model_through_reuse_and_removal() {
        use std::collections::HashMap;
        let mut seeds = crate::core::seed::Seeds::new(11);
        let mut c = Clients::new(IdBuild::with_keys(1, 2));
        // id -> (registered last_seen, live tasks)
        let mut model: HashMap<Vec<u8>, (Option<Instant>, u32)> = HashMap::new();
        let t0 = Instant::now();
        let ids: Vec<Bytes> = (0..4).map(|i| Bytes::from(format!("Client|{i}"))).collect();
        for step in 0..5000u64 {
            let id = &ids[(seeds.next_u64() % 4) as usize];
            let now = t0 + Duration::from_millis(step);
            let m = model.entry(id.to_vec()).or_default();
            match seeds.next_u64() % 6 {
                0 => {
                    let new = c.heartbeat(id, ClientHeartbeat::default(), now);
                    assert_eq!(new, m.0.is_none());
                    m.0 = Some(now);
                }
                1 => {
                    c.touch(id, now);
                    if m.0.is_some() {
                        m.0 = Some(now);
                    }
                }
                2 => {
                    assert_eq!(&c.add_task(id)[..], &id[..]);
                    m.1 += 1;
                }
                3 => {
                    c.remove_task(id);
                    m.1 = m.1.saturating_sub(1);
                }
                4 => {
                    c.remove(id);
                    *m = (None, 0);
                }
                _ => {}
            }
            c.check_invariants();
            for other in &ids {
                let (seen, tasks) = model.get(&other.to_vec()).copied().unwrap_or_default();
                assert_eq!(c.is_registered(other), seen.is_some(), "{other:?}");
                assert_eq!(c.num_tasks(other), tasks as usize, "{other:?}");
            }
            let mut got: Vec<_> = c
                .registered()
                .map(|(id, i)| (id.to_vec(), i.last_seen))
                .collect();
            got.sort();
            let mut want: Vec<_> = model
                .iter()
                .filter_map(|(id, (seen, _))| Some((id.clone(), (*seen)?)))
                .collect();
            want.sort();
            assert_eq!(got, want);
        }
    }
}
