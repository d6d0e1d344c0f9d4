//! The orchestrator's worker-manager path: heartbeats, echo and scaling commands.
use super::{lossy, Scheduler};
use crate::core::scaling::{Demand, ManagerInfo, Requests, TaskGroups};
use crate::core::Output;
use crate::wire::{encode as enc, Kind, WorkerManagerHeartbeat};
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
        let tasks = &self.tasks;
        // Built only for the policies that read it: it visits every live task.
        let groups = |with_plain: bool| {
            let mut groups: TaskGroups = BTreeMap::new();
            for e in tasks
                .values()
                .filter(|e| with_plain || !e.required.is_empty())
            {
                groups
                    .entry(e.required.iter().cloned().collect())
                    .or_insert_with(|| (0, e.task().map(|t| t.capabilities).unwrap_or_default()))
                    .0 += 1;
            }
            groups
        };
        let demand = Demand {
            live_tasks: tasks.len() as u64,
            live_workers: self.workers.len() as u64,
            groups: &groups,
        };
        self.managers.requests(id, &self.config.scaling, &demand)
    }

    pub(crate) fn manager_timeouts(&mut self, now: Instant) {
        for id in self
            .managers
            .expire(now, self.config.worker_manager_timeout)
        {
            info!("worker manager {} timed out", lossy(&id));
        }
    }
}
