//! Worker managers: registration, heartbeat echo and scaling commands (SCHEDULER_SPEC.md §3.12, §5.4).
use crate::hash::{IdBuild, IdMap};
use crate::wire::{Capability, WorkerManagerHeartbeat};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

#[derive(Debug)]
pub struct ManagerInfo {
    /// YMQ identity of the manager's connection.
    pub identity: Bytes,
    pub last_seen: Instant,
    pub heartbeat: WorkerManagerHeartbeat,
    /// Sum of the task concurrency last requested from it that matches its capabilities.
    pub desired: u32,
}

#[derive(Debug)]
pub struct Managers {
    pub by_id: BTreeMap<Bytes, ManagerInfo>,
    /// Live workers per manager id (from the workers' heartbeats).
    pub workers_of: IdMap<Bytes, BTreeSet<Bytes>>,
}

impl Managers {
    pub fn new(keys: IdBuild) -> Managers {
        Managers {
            by_id: BTreeMap::new(),
            workers_of: IdMap::with_hasher(keys),
        }
    }

    pub fn worker_added(&mut self, manager: &Bytes, worker: &Bytes) {
        self.workers_of
            .entry(manager.clone())
            .or_default()
            .insert(worker.clone());
    }

    pub fn worker_removed(&mut self, manager: &Bytes, worker: &Bytes) {
        if let Some(s) = self.workers_of.get_mut(manager) {
            s.remove(worker);
            if s.is_empty() {
                self.workers_of.remove(manager);
            }
        }
    }

    pub fn worker_count(&self, manager: &[u8]) -> u32 {
        self.workers_of.get(manager).map_or(0, |s| s.len() as u32)
    }
}

pub type Requests = Vec<(u32, Vec<Capability>)>;

/// The `vanilla` policy: one more worker while tasks pile up (>10 per worker), fewer when idle.
pub fn vanilla(live_tasks: u64, live_workers: u64, cur: u32, max: u32) -> u32 {
    let desired: u64 = if live_workers == 0 {
        cur as u64 + (live_tasks > 0) as u64
    } else {
        let r = live_tasks as f64 / live_workers as f64;
        if r > 10.0 {
            cur as u64 + 1
        } else if r < 1.0 {
            if live_tasks == 0 {
                0
            } else {
                live_tasks.div_ceil(10).max(1)
            }
        } else {
            cur as u64
        }
    };
    desired.min(max as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::vanilla;

    #[test]
    fn vanilla_matches_2_9_0() {
        assert_eq!(vanilla(0, 0, 0, 4), 0, "no tasks, no workers: nothing");
        assert_eq!(vanilla(3, 0, 0, 4), 1, "tasks but no worker: start one");
        assert_eq!(vanilla(30, 2, 2, 4), 3, "more than 10 per worker: one more");
        assert_eq!(vanilla(30, 2, 4, 4), 4, "clamped to the manager's max");
        assert_eq!(vanilla(0, 2, 2, 4), 0, "idle: scale to zero");
        assert_eq!(
            vanilla(1, 2, 2, 4),
            1,
            "fewer tasks than workers: ceil(T/10)"
        );
        assert_eq!(vanilla(10, 2, 2, 4), 2, "in between: keep");
    }
}
