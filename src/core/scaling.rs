//! Worker managers (registered by heartbeat, with their workers) and the scaling policies, which decide
//! each manager's command from a `Demand` the orchestrator describes (docs/design.md, "Clients,
//! objects, graphs, balancing, scaling").
use super::Scaling;
use crate::hash::{IdBuild, IdMap};
use crate::wire::{Capability, WorkerManagerHeartbeat};
use bytes::Bytes;
use log::warn;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

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

    /// Forgets managers silent for longer than `limit`; returns their ids.
    pub fn expire(&mut self, now: Instant, limit: Duration) -> Vec<Bytes> {
        let mut gone = Vec::new();
        self.by_id.retain(|id, m| {
            let alive = now.saturating_duration_since(m.last_seen) <= limit;
            if !alive {
                gone.push(id.clone());
            }
            alive
        });
        gone
    }

    /// The desired-concurrency requests for manager `id` under the configured policy; `None` = no command.
    pub fn requests(&self, id: &Bytes, scaling: &Scaling, demand: &Demand<'_>) -> Option<Requests> {
        let m = &self.by_id[id];
        let max = m.heartbeat.max_task_concurrency;
        let live = demand.live_tasks;
        let cur = self.worker_count(id);
        match scaling {
            Scaling::No => None,
            Scaling::Vanilla => Some(vec![(
                vanilla(live, demand.live_workers, cur, max),
                Vec::new(),
            )]),
            Scaling::Capability => {
                let groups = (demand.groups)(true);
                Some(
                    groups
                        .into_values()
                        .map(|(n, caps)| ((n.div_ceil(5).max(1)).min(max as u64) as u32, caps))
                        .collect(),
                )
            }
            Scaling::Waterfall(rules) => self.waterfall(id, rules, demand),
        }
    }

    /// waterfall_v1: managers in ascending priority each absorb demand up to their capacity.
    fn waterfall(
        &self,
        id: &Bytes,
        rules: &[(i64, String, Option<u32>)],
        demand: &Demand<'_>,
    ) -> Option<Requests> {
        let mut ordered: Vec<(&Bytes, u32)> = Vec::new();
        let mut sorted = rules.to_vec();
        sorted.sort_by_key(|r| r.0);
        for (_, mid, cap) in &sorted {
            if let Some((k, m)) = self.by_id.get_key_value(mid.as_bytes()) {
                let hb = m.heartbeat.max_task_concurrency;
                ordered.push((k, cap.map_or(hb, |c| c.min(hb))));
            }
        }
        let Some(pos) = ordered.iter().position(|(k, _)| *k == id) else {
            warn!(
                "worker manager {} has no waterfall rule: no scaling command",
                String::from_utf8_lossy(id)
            );
            return None;
        };
        let spill = |target: u64, eligible: &dyn Fn(&Bytes) -> bool| -> u32 {
            let mut remaining = target;
            for (i, (k, cap)) in ordered.iter().enumerate() {
                if !eligible(k) {
                    continue;
                }
                let take = remaining.min(*cap as u64);
                if i == pos {
                    return take as u32;
                }
                remaining -= take;
            }
            0
        };
        let live = demand.live_tasks;
        let generic = if live == 0 {
            let lower_has_workers = ordered[pos + 1..]
                .iter()
                .any(|(k, _)| self.worker_count(k) > 0);
            if lower_has_workers {
                self.worker_count(id)
            } else {
                0
            }
        } else {
            spill(live.div_ceil(10).max(1), &|_| true)
        };
        let mut requests = vec![(generic, Vec::new())];
        for (names, (n, caps)) in (demand.groups)(false) {
            let eligible = |k: &Bytes| {
                let own: BTreeSet<&str> = self.by_id[k]
                    .heartbeat
                    .capabilities
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                names.iter().all(|n| own.contains(n.as_str()))
            };
            let v = spill(n.div_ceil(10).max(1), &eligible);
            if v > 0 {
                requests.push((v, caps));
            }
        }
        Some(requests)
    }
}

pub type Requests = Vec<(u32, Vec<Capability>)>;

/// Live tasks grouped by the capability names they require: (count, the first one's capabilities).
pub type TaskGroups = BTreeMap<Vec<String>, (u64, Vec<Capability>)>;

/// What the scaling policies read about the scheduler's load.
pub struct Demand<'a> {
    pub live_tasks: u64,
    pub live_workers: u64,
    /// The live tasks by required capabilities (`true`: tasks requiring none included). Called only
    /// by the policies that need it, as it visits every task.
    pub groups: &'a dyn Fn(bool) -> TaskGroups,
}

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
    use super::*;
    use crate::hash::IdBuild;

    fn managers(caps: &[(&str, u32)]) -> Managers {
        let mut m = Managers::new(IdBuild::with_keys(5, 6));
        let now = Instant::now();
        for (id, max) in caps {
            m.by_id.insert(
                Bytes::copy_from_slice(id.as_bytes()),
                ManagerInfo {
                    identity: Bytes::copy_from_slice(id.as_bytes()),
                    last_seen: now,
                    heartbeat: WorkerManagerHeartbeat {
                        max_task_concurrency: *max,
                        ..Default::default()
                    },
                    desired: 0,
                },
            );
        }
        m
    }

    #[test]
    fn waterfall_fills_managers_in_priority_order_and_no_policy_sends_nothing() {
        let m = managers(&[("wm_a", 2), ("wm_b", 8)]);
        let rules = Scaling::Waterfall(vec![(1, "wm_a".into(), None), (2, "wm_b".into(), Some(4))]);
        let none = |_: bool| TaskGroups::new();
        let demand = Demand {
            live_tasks: 25,
            live_workers: 0,
            groups: &none,
        };
        // ceil(25 / 10) = 3 workers wanted: wm_a takes its 2, wm_b the remaining 1.
        let a = m.requests(&Bytes::from_static(b"wm_a"), &rules, &demand);
        let b = m.requests(&Bytes::from_static(b"wm_b"), &rules, &demand);
        assert_eq!(a, Some(vec![(2, vec![])]));
        assert_eq!(b, Some(vec![(1, vec![])]));
        assert_eq!(
            m.requests(&Bytes::from_static(b"wm_a"), &Scaling::No, &demand),
            None
        );
        let mut m = m;
        let later = Instant::now() + Duration::from_secs(11);
        let mut gone = m.expire(later, Duration::from_secs(10));
        gone.sort();
        assert_eq!(
            gone,
            vec![Bytes::from_static(b"wm_a"), Bytes::from_static(b"wm_b")]
        );
    }

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
