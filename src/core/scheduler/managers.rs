//! The orchestrator's worker-manager path: heartbeats, echo and scaling commands.
use super::{lossy, Scheduler};
use crate::core::scaling::{vanilla, ManagerInfo, Requests};
use crate::core::{Output, Scaling};
use crate::wire::{encode as enc, Capability, Kind, WorkerManagerHeartbeat};
use bytes::Bytes;
use log::{info, warn};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

impl Scheduler {
    pub(crate) fn on_worker_manager_heartbeat(
        &mut self,
        now: Instant,
        from: &Bytes,
        h: WorkerManagerHeartbeat,
        out: &mut Vec<Output>,
    ) {
        let id = h.worker_manager_id.clone();
        match self.managers.by_id.get_mut(&id) {
            Some(m) if m.identity != *from => {
                warn!(
                    "worker manager id {} already registered by {}: heartbeat from {} dropped",
                    lossy(&id),
                    lossy(&m.identity),
                    lossy(from)
                );
                return;
            }
            Some(m) => {
                m.last_seen = now;
                m.heartbeat = h;
            }
            None => {
                info!("worker manager {} connected as {}", lossy(&id), lossy(from));
                self.managers.by_id.insert(
                    id.clone(),
                    ManagerInfo {
                        identity: from.clone(),
                        last_seen: now,
                        heartbeat: h,
                        desired: 0,
                    },
                );
            }
        }
        self.send(
            out,
            from,
            Kind::WorkerManagerHeartbeatEcho,
            enc::worker_manager_heartbeat_echo(),
        );
        let Some(requests) = self.scaling_requests(&id) else {
            return;
        };
        let own: BTreeSet<String> = self.managers.by_id[&id]
            .heartbeat
            .capabilities
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let desired = requests
            .iter()
            .filter(|(_, caps)| caps.iter().all(|c| own.contains(&c.name)))
            .map(|(n, _)| *n)
            .sum();
        self.managers
            .by_id
            .get_mut(&id)
            .expect("registered above")
            .desired = desired;
        self.send(
            out,
            from,
            Kind::WorkerManagerCommand,
            enc::worker_manager_command(&requests),
        );
    }

    /// The desired-concurrency requests for manager `id` under the configured policy; `None` = no command.
    pub(super) fn scaling_requests(&self, id: &Bytes) -> Option<Requests> {
        let m = &self.managers.by_id[id];
        let max = m.heartbeat.max_task_concurrency;
        let live = self.tasks.len() as u64;
        let cur = self.managers.worker_count(id);
        match &self.config.scaling {
            Scaling::No => None,
            Scaling::Vanilla => Some(vec![(
                vanilla(live, self.workers.len() as u64, cur, max),
                Vec::new(),
            )]),
            Scaling::Capability => {
                let mut groups: BTreeMap<Vec<String>, (u64, Vec<Capability>)> = BTreeMap::new();
                for e in self.tasks.values() {
                    let key: Vec<String> = e.required.iter().cloned().collect();
                    groups
                        .entry(key)
                        .or_insert_with(|| {
                            (0, e.task().map(|t| t.capabilities).unwrap_or_default())
                        })
                        .0 += 1;
                }
                Some(
                    groups
                        .into_values()
                        .map(|(n, caps)| ((n.div_ceil(5).max(1)).min(max as u64) as u32, caps))
                        .collect(),
                )
            }
            Scaling::Waterfall(rules) => self.waterfall(id, rules),
        }
    }

    /// waterfall_v1: managers in ascending priority each absorb demand up to their capacity.
    pub(super) fn waterfall(
        &self,
        id: &Bytes,
        rules: &[(i64, String, Option<u32>)],
    ) -> Option<Requests> {
        let mut ordered: Vec<(&Bytes, u32)> = Vec::new();
        let mut sorted = rules.to_vec();
        sorted.sort_by_key(|r| r.0);
        for (_, mid, cap) in &sorted {
            if let Some((k, m)) = self.managers.by_id.get_key_value(mid.as_bytes()) {
                let hb = m.heartbeat.max_task_concurrency;
                ordered.push((k, cap.map_or(hb, |c| c.min(hb))));
            }
        }
        let Some(pos) = ordered.iter().position(|(k, _)| *k == id) else {
            warn!(
                "worker manager {} has no waterfall rule: no scaling command",
                lossy(id)
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
        let live = self.tasks.len() as u64;
        let generic = if live == 0 {
            let lower_has_workers = ordered[pos + 1..]
                .iter()
                .any(|(k, _)| self.managers.worker_count(k) > 0);
            if lower_has_workers {
                self.managers.worker_count(id)
            } else {
                0
            }
        } else {
            spill(live.div_ceil(10).max(1), &|_| true)
        };
        let mut requests = vec![(generic, Vec::new())];
        let mut groups: BTreeMap<Vec<String>, (u64, Vec<Capability>)> = BTreeMap::new();
        for e in self.tasks.values().filter(|e| !e.required.is_empty()) {
            groups
                .entry(e.required.iter().cloned().collect())
                .or_insert_with(|| (0, e.task().map(|t| t.capabilities).unwrap_or_default()))
                .0 += 1;
        }
        for (names, (n, caps)) in groups {
            let eligible = |k: &Bytes| {
                let own: BTreeSet<&str> = self.managers.by_id[k]
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

    pub(crate) fn manager_timeouts(&mut self, now: Instant) {
        let limit = self.config.worker_manager_timeout;
        self.managers.by_id.retain(|id, m| {
            let alive = now.saturating_duration_since(m.last_seen) <= limit;
            if !alive {
                info!("worker manager {} timed out", lossy(id));
            }
            alive
        });
    }
}
