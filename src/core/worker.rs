//! Worker registry: who is connected, what each holds, and how full each is.
//!
//! Workers live in a slab; a task refers to its holder by slab key. A worker's held tasks are kept in
//! assignment order (the balancer moves the most recently assigned ones, and a dead worker's tasks are
//! re-dispatched in assignment order).
//!
//! Even-load choice needs "the least-loaded worker, ties to the one whose load changed longest ago" on
//! every dispatch and an update on every assignment and release. A count-bucketed queue does both in
//! O(1): bucket `c` is a FIFO (an intrusive doubly-linked list through the workers) of the workers
//! holding `c` tasks, and a worker moves to the back of its new bucket whenever its count changes, which
//! is exactly the order of the (count, last change) pairs a sorted set would keep.
use super::worker_tasks::WorkerTasks;
use crate::hash::{IdBuild, IdMap};
use crate::wire::{Capability, WorkerHeartbeat};
use bytes::Bytes;
use slab::Slab;
use std::cell::Cell;
use std::collections::BTreeSet;
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
    /// Task ids by assignment sequence number, in assignment order.
    pub tasks: WorkerTasks,
    /// Insertion order of the worker itself (stable tie-break and balance top-up order).
    pub order: u64,
    /// When the connection was lost (EOF) without a disconnect notification.
    pub lost_since: Option<Instant>,
    /// Links in the FIFO of the load bucket `tasks.len()` (NIL at the ends).
    prev: WorkerKey,
    next: WorkerKey,
}

const NIL: WorkerKey = usize::MAX;

/// Head and tail of one load bucket's FIFO.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    head: WorkerKey,
    tail: WorkerKey,
}

const EMPTY: Bucket = Bucket {
    head: NIL,
    tail: NIL,
};

impl Worker {
    pub fn assigned(&self) -> u32 {
        self.tasks.len() as u32
    }

    pub fn free(&self) -> u32 {
        self.queue_size.saturating_sub(self.assigned())
    }
}

#[derive(Debug)]
pub struct Workers {
    pub slab: Slab<Worker>,
    pub by_id: IdMap<Bytes, WorkerKey>,
    next_seq: u64,
    /// `buckets[c]`: the workers holding `c` tasks, longest unchanged first.
    buckets: Vec<Bucket>,
    /// No bucket below this one has a worker.
    min: usize,
    /// The worker found last by id: a read brings a run of one worker's reports, so most lookups
    /// compare the id with that worker's instead of hashing it. Checked against the slot's id on use,
    /// so a removed or replaced worker cannot be answered for.
    last: Cell<Option<WorkerKey>>,
}

impl Workers {
    pub fn new(keys: IdBuild) -> Workers {
        Workers {
            slab: Slab::new(),
            by_id: IdMap::with_hasher(keys),
            next_seq: 0,
            buckets: Vec::new(),
            min: 0,
            last: Cell::new(None),
        }
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn get(&self, id: &[u8]) -> Option<WorkerKey> {
        if let Some(k) = self.last.get() {
            if self.slab.get(k).is_some_and(|w| w.id == id) {
                return Some(k);
            }
        }
        let k = self.by_id.get(id).copied()?;
        self.last.set(Some(k));
        Some(k)
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
            tasks: WorkerTasks::default(),
            order,
            lost_since: None,
            prev: NIL,
            next: NIL,
        };
        let key = self.slab.insert(w);
        self.by_id.insert(id, key);
        self.link(key);
        key
    }

    /// Removes a worker and returns the tasks it held, in assignment order.
    pub fn remove(&mut self, key: WorkerKey) -> (Worker, Vec<Bytes>) {
        self.unlink(key, self.slab[key].tasks.len());
        let w = self.slab.remove(key);
        self.by_id.remove(&w.id);
        self.settle_min();
        let tasks = w.tasks.values().cloned().collect();
        (w, tasks)
    }

    /// Appends `key` to the bucket of its current task count.
    fn link(&mut self, key: WorkerKey) {
        let c = self.slab[key].tasks.len();
        if c >= self.buckets.len() {
            self.buckets.resize(c + 1, EMPTY);
        }
        let tail = self.buckets[c].tail;
        let w = &mut self.slab[key];
        w.prev = tail;
        w.next = NIL;
        match tail {
            NIL => self.buckets[c].head = key,
            t => self.slab[t].next = key,
        }
        self.buckets[c].tail = key;
        self.min = self.min.min(c);
    }

    /// Takes `key` out of bucket `c`, the one of the task count it was linked under.
    fn unlink(&mut self, key: WorkerKey, c: usize) {
        let (prev, next) = (self.slab[key].prev, self.slab[key].next);
        match prev {
            NIL => self.buckets[c].head = next,
            p => self.slab[p].next = next,
        }
        match next {
            NIL => self.buckets[c].tail = prev,
            n => self.slab[n].prev = prev,
        }
    }

    /// Moves `key`, whose task count just changed from `before`, to the back of its new bucket.
    fn recount(&mut self, key: WorkerKey, before: usize) {
        self.unlink(key, before);
        self.link(key);
        self.settle_min();
    }

    /// Moves `min` up past emptied buckets. After an assignment it stops at the bucket just entered, so
    /// this is O(1) on the hot path; only removing a worker can skip several.
    fn settle_min(&mut self) {
        while self.min < self.buckets.len() && self.buckets[self.min].head == NIL {
            self.min += 1;
        }
    }

    /// Records `task` on `key`; returns the assignment sequence number to release it later.
    pub fn assign(&mut self, key: WorkerKey, task: Bytes) -> u64 {
        let seq = self.seq();
        let w = &self.slab[key];
        debug_assert!(
            w.assigned() < w.queue_size,
            "a worker never holds more than its queue size"
        );
        let before = w.tasks.len();
        self.slab[key].tasks.insert(seq, task);
        self.recount(key, before);
        seq
    }

    pub fn release(&mut self, key: WorkerKey, seq: u64) {
        let Some(w) = self.slab.get_mut(key) else {
            return;
        };
        let before = w.tasks.len();
        if w.tasks.remove(seq).is_none() {
            debug_assert!(false, "released a task the worker did not hold");
            return;
        }
        self.recount(key, before);
    }

    /// Workers in load order: fewest tasks first, then longest unchanged.
    fn by_load(&self) -> impl Iterator<Item = WorkerKey> + '_ {
        self.buckets[self.min.min(self.buckets.len())..]
            .iter()
            .flat_map(move |b| {
                std::iter::successors((b.head != NIL).then_some(b.head), move |&k| {
                    let n = self.slab[k].next;
                    (n != NIL).then_some(n)
                })
            })
    }

    /// Even-load choice: the least-loaded worker (ties: the one that waited longest), if it has room.
    pub fn least_loaded(&self) -> Option<WorkerKey> {
        let key = self.by_load().next()?;
        (self.slab[key].free() > 0).then_some(key)
    }

    /// Capability choice: the least-loaded worker with room that has every required capability name.
    pub fn least_loaded_capable(&self, required: &BTreeSet<String>) -> Option<WorkerKey> {
        // The load queue is ordered by count, so the first eligible one is the least loaded.
        self.by_load().find(|&k| {
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
        let mut seen = 0;
        for (c, b) in self.buckets.iter().enumerate() {
            assert!(c >= self.min || b.head == NIL, "a worker below min");
            let mut prev = NIL;
            let mut k = b.head;
            while k != NIL {
                let w = &self.slab[k];
                assert_eq!(w.tasks.len(), c, "worker in the wrong load bucket");
                assert_eq!(w.prev, prev);
                seen += 1;
                prev = k;
                k = w.next;
            }
            assert_eq!(b.tail, prev);
        }
        assert_eq!(seen, self.slab.len(), "every worker in exactly one bucket");
        for (k, w) in self.slab.iter() {
            assert!(w.assigned() <= w.queue_size);
            assert_eq!(self.by_id[&w.id], k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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

    /// Workers "a" and "b", two slots each.
    fn two_workers(now: Instant) -> (Workers, WorkerKey, WorkerKey) {
        let mut ws = Workers::new(IdBuild::with_keys(1, 2));
        let a = ws.add(Bytes::from_static(b"a"), hb(2, &[]), now);
        let b = ws.add(Bytes::from_static(b"b"), hb(2, &[]), now);
        (ws, a, b)
    }

    #[test]
    fn even_load_round_robins_and_respects_queue_size() {
        let (mut ws, a, b) = two_workers(Instant::now());
        let mut order = vec![];
        while let Some(k) = ws.least_loaded() {
            ws.assign(k, Bytes::from_static(b"t"));
            order.push(k);
        }
        assert_eq!(order, vec![a, b, a, b]);
        ws.check_invariants();
    }

    #[test]
    fn lookup_by_id_never_answers_for_a_removed_or_replaced_worker() {
        let now = Instant::now();
        let (mut ws, a, b) = two_workers(now);
        assert_eq!(
            (ws.get(b"a"), ws.get(b"a"), ws.get(b"b")),
            (Some(a), Some(a), Some(b))
        );
        ws.remove(b);
        assert_eq!(ws.get(b"b"), None, "b was the last found");
        // c takes b's slot: the remembered slot now holds another id.
        let c = ws.add(Bytes::from_static(b"c"), hb(2, &[]), now);
        assert_eq!(c, b);
        assert_eq!(
            (ws.get(b"b"), ws.get(b"c"), ws.get(b"a")),
            (None, Some(c), Some(a))
        );
        ws.remove(a);
        assert_eq!((ws.get(b"a"), ws.get(b"c")), (None, Some(c)));
        ws.check_invariants();
    }

    #[test]
    fn capability_choice_needs_every_name() {
        let now = Instant::now();
        let mut ws = Workers::new(IdBuild::with_keys(1, 2));
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
        let mut ws = Workers::new(IdBuild::with_keys(1, 2));
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

    /// The bucket queue picks exactly what a sorted set of (count, time of last change) picks, through
    /// random adds, removals, assignments and releases with mixed queue sizes and capabilities.
    #[test]
    fn load_order_matches_a_sorted_set_model() {
        let now = Instant::now();
        let mut ws = Workers::new(IdBuild::with_keys(1, 2));
        let mut model: BTreeMap<WorkerKey, (usize, u64)> = BTreeMap::new();
        let mut held: Vec<(WorkerKey, u64)> = Vec::new();
        let (mut clock, mut x) = (0u64, 7u64);
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let gpu: BTreeSet<String> = ["gpu".to_string()].into();
        for step in 0..20_000 {
            clock += 1;
            match rnd(10) {
                0 if ws.len() < 40 => {
                    let caps: &[&str] = if rnd(2) == 0 { &["gpu"] } else { &[] };
                    let k = ws.add(
                        Bytes::from(format!("w{step}")),
                        hb(1 + rnd(6) as u32, caps),
                        now,
                    );
                    model.insert(k, (0, clock));
                }
                1 if !ws.is_empty() && rnd(4) == 0 => {
                    let k = *model.keys().nth(rnd(model.len() as u64) as usize).unwrap();
                    ws.remove(k);
                    model.remove(&k);
                    held.retain(|(w, _)| *w != k);
                }
                2..=5 if !held.is_empty() => {
                    let (k, seq) = held.swap_remove(rnd(held.len() as u64) as usize);
                    ws.release(k, seq);
                    let m = model.get_mut(&k).unwrap();
                    *m = (m.0 - 1, clock);
                }
                _ => {
                    let want_gpu = rnd(3) == 0;
                    let first = model
                        .iter()
                        .map(|(k, m)| (*m, *k))
                        .min()
                        .map(|(_, k)| k)
                        .filter(|k| ws.slab[*k].free() > 0);
                    let mut sorted: Vec<_> = model.iter().map(|(k, m)| (*m, *k)).collect();
                    sorted.sort();
                    let capable = sorted.iter().map(|(_, k)| *k).find(|k| {
                        ws.slab[*k].free() > 0 && gpu.is_subset(&ws.slab[*k].capability_names)
                    });
                    assert_eq!(ws.least_loaded(), first);
                    assert_eq!(ws.least_loaded_capable(&gpu), capable);
                    let pick = if want_gpu { capable } else { first };
                    if let Some(k) = pick {
                        let seq = ws.assign(k, Bytes::from_static(b"t"));
                        held.push((k, seq));
                        let m = model.get_mut(&k).unwrap();
                        *m = (m.0 + 1, clock);
                    }
                }
            }
            ws.check_invariants();
        }
    }
}
