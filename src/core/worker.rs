//! Worker registry: who is connected, what each holds, and how full each is.
//!
//! Workers live in a slab; a task refers to its holder by slab key. A worker's held tasks are kept in
//! assignment order (the balancer moves the most recently assigned ones, and a dead worker's tasks are
//! re-dispatched in assignment order).
use super::hash::IdMap;
use crate::wire::{Capability, WorkerHeartbeat};
use bytes::Bytes;
use slab::Slab;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

pub type WorkerKey = usize;

#[derive(Debug)]
pub struct Worker {
    pub id: Bytes,
    /// From the first heartbeat, never updated (as in 2.9.0).
    pub queue_size: u32,
    pub capabilities: Vec<Capability>,
    pub capability_names: BTreeSet<String>,
    pub manager_id: Bytes,
    pub last_seen: Instant,
    pub heartbeat: WorkerHeartbeat,
    /// assignment sequence number -> task id.
    pub tasks: BTreeMap<u64, Bytes>,
    /// Insertion order of the worker itself (stable tie-break and balance top-up order).
    pub order: u64,
    /// When the connection was lost (EOF) without a disconnect notification.
    pub lost_since: Option<Instant>,
}

impl Worker {
    pub fn assigned(&self) -> u32 {
        self.tasks.len() as u32
    }

    pub fn free(&self) -> u32 {
        self.queue_size.saturating_sub(self.assigned())
    }
}

#[derive(Debug, Default)]
pub struct Workers {
    pub slab: Slab<Worker>,
    pub by_id: IdMap<Bytes, WorkerKey>,
    next_seq: u64,
    /// Min-queue for even-load allocation: (assigned count, tie-break counter, key).
    load: BTreeSet<(u32, u64, WorkerKey)>,
    load_key: IdMap<WorkerKey, (u32, u64)>,
}

impl Workers {
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn get(&self, id: &[u8]) -> Option<WorkerKey> {
        self.by_id.get(id).copied()
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn add(&mut self, id: Bytes, hb: WorkerHeartbeat, now: Instant) -> WorkerKey {
        let order = self.seq();
        let w = Worker {
            id: id.clone(),
            queue_size: hb.queue_size,
            capabilities: hb.capabilities.clone(),
            capability_names: hb.capabilities.iter().map(|c| c.name.clone()).collect(),
            manager_id: hb.worker_manager_id.clone(),
            last_seen: now,
            heartbeat: hb,
            tasks: BTreeMap::new(),
            order,
            lost_since: None,
        };
        let key = self.slab.insert(w);
        self.by_id.insert(id, key);
        self.reload(key, 0);
        key
    }

    /// Removes a worker and returns the tasks it held, in assignment order.
    pub fn remove(&mut self, key: WorkerKey) -> (Worker, Vec<Bytes>) {
        let w = self.slab.remove(key);
        self.by_id.remove(&w.id);
        if let Some(k) = self.load_key.remove(&key) {
            self.load.remove(&(k.0, k.1, key));
        }
        let tasks = w.tasks.values().cloned().collect();
        (w, tasks)
    }

    fn reload(&mut self, key: WorkerKey, count: u32) {
        if let Some(k) = self.load_key.remove(&key) {
            self.load.remove(&(k.0, k.1, key));
        }
        let c = self.seq();
        self.load.insert((count, c, key));
        self.load_key.insert(key, (count, c));
    }

    /// Records `task` on `key`; returns the assignment sequence number to release it later.
    pub fn assign(&mut self, key: WorkerKey, task: Bytes) -> u64 {
        let seq = self.seq();
        let w = &mut self.slab[key];
        debug_assert!(
            w.assigned() < w.queue_size,
            "a worker never holds more than its queue size"
        );
        w.tasks.insert(seq, task);
        let n = w.assigned();
        self.reload(key, n);
        seq
    }

    pub fn release(&mut self, key: WorkerKey, seq: u64) {
        if let Some(w) = self.slab.get_mut(key) {
            let removed = w.tasks.remove(&seq).is_some();
            debug_assert!(removed, "released a task the worker did not hold");
            let n = w.assigned();
            self.reload(key, n);
        }
    }

    /// Even-load choice: the least-loaded worker (ties: the one that waited longest), if it has room.
    pub fn least_loaded(&self) -> Option<WorkerKey> {
        let &(count, _, key) = self.load.iter().next()?;
        (count < self.slab[key].queue_size).then_some(key)
    }

    /// Capability choice: the least-loaded worker with room that has every required capability name.
    pub fn least_loaded_capable(&self, required: &BTreeSet<String>) -> Option<WorkerKey> {
        // The load queue is ordered by count, so the first eligible one is the least loaded.
        self.load.iter().map(|&(_, _, k)| k).find(|&k| {
            let w = &self.slab[k];
            w.free() > 0 && required.is_subset(&w.capability_names)
        })
    }

    pub fn ids_in_order(&self) -> Vec<WorkerKey> {
        let mut keys: Vec<WorkerKey> = self.slab.iter().map(|(k, _)| k).collect();
        keys.sort_by_key(|k| self.slab[*k].order);
        keys
    }

    pub fn check_invariants(&self) {
        assert_eq!(self.load.len(), self.slab.len());
        for (k, w) in self.slab.iter() {
            assert!(w.assigned() <= w.queue_size);
            assert_eq!(self.load_key[&k].0, w.assigned());
            assert_eq!(self.by_id[&w.id], k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(q: u32, caps: &[&str]) -> WorkerHeartbeat {
        WorkerHeartbeat {
            queue_size: q,
            capabilities: caps
                .iter()
                .map(|c| Capability {
                    name: c.to_string(),
                    value: -1,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn even_load_round_robins_and_respects_queue_size() {
        let now = Instant::now();
        let mut ws = Workers::default();
        let a = ws.add(Bytes::from_static(b"a"), hb(2, &[]), now);
        let b = ws.add(Bytes::from_static(b"b"), hb(2, &[]), now);
        let mut order = vec![];
        while let Some(k) = ws.least_loaded() {
            ws.assign(k, Bytes::from_static(b"t"));
            order.push(k);
        }
        assert_eq!(order, vec![a, b, a, b]);
        ws.check_invariants();
    }

    #[test]
    fn capability_choice_needs_every_name() {
        let now = Instant::now();
        let mut ws = Workers::default();
        ws.add(Bytes::from_static(b"plain"), hb(10, &[]), now);
        let g = ws.add(Bytes::from_static(b"gpu"), hb(10, &["gpu", "linux"]), now);
        let need: BTreeSet<String> = ["gpu".to_string()].into();
        assert_eq!(ws.least_loaded_capable(&need), Some(g));
        let need: BTreeSet<String> = ["fpga".to_string()].into();
        assert_eq!(ws.least_loaded_capable(&need), None);
    }

    #[test]
    fn remove_returns_tasks_in_assignment_order() {
        let now = Instant::now();
        let mut ws = Workers::default();
        let a = ws.add(Bytes::from_static(b"a"), hb(10, &[]), now);
        for t in [b"1", b"2", b"3"] {
            ws.assign(a, Bytes::copy_from_slice(t));
        }
        let (_, tasks) = ws.remove(a);
        assert_eq!(
            tasks,
            vec![
                Bytes::from_static(b"1"),
                Bytes::from_static(b"2"),
                Bytes::from_static(b"3")
            ]
        );
        assert!(ws.least_loaded().is_none());
        ws.check_invariants();
    }
}
