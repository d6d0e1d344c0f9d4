//! The orchestrator's periodic routines (timeouts, deletion flush, balancing, status) and what it
//! publishes to monitors.
use super::{lossy, Scheduler};
use crate::core::balance;
use crate::core::monitor_status;
use crate::core::status::{task_state, CLEANUP_PERIOD, STORAGE_INFO_TIMEOUT};
use crate::core::task::{Event, TaskState};
use crate::core::task_table::TaskEntry;
use crate::core::{Allocate, Output, StorageOp};
use crate::schema::{common_capnp, message_capnp};
use crate::wire::encode::{build, set_capabilities};
use crate::wire::Capability;
use bytes::Bytes;
use log::info;
use std::time::Instant;

impl Scheduler {
    /// The earliest instant at which `tick` has work to do.
    pub fn next_deadline(&self) -> Instant {
        let t = &self.timers;
        let mut d = t.next_cleanup.min(t.next_status);
        if self.config.load_balance.is_some() {
            d = d.min(t.next_balance);
        }
        d
    }

    /// Runs every periodic routine that is due at `now`.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        if now >= self.timers.next_cleanup {
            self.timers.next_cleanup = now + CLEANUP_PERIOD;
            self.client_timeouts(now, out);
            self.worker_timeouts(now, out);
            self.manager_timeouts(now);
            self.flush_object_deletes(out);
        }
        if let Some(period) = self.config.load_balance {
            if now >= self.timers.next_balance {
                self.timers.next_balance = now + period;
                self.balance_tick(out);
            }
        }
        if now >= self.timers.next_status {
            self.timers.next_status = now + self.config.status_interval;
            self.status_tick(now, out);
        }
    }

    pub(super) fn worker_timeouts(&mut self, now: Instant, out: &mut Vec<Output>) {
        let timeout = self.config.worker_timeout;
        let grace = self.config.worker_lost_grace;
        let dead: Vec<(usize, &'static str)> = self
            .workers
            .slab
            .iter()
            .filter_map(|(k, w)| {
                if now.saturating_duration_since(w.last_seen) > timeout {
                    Some((k, "heartbeat timeout"))
                } else if w
                    .lost_since
                    .is_some_and(|t| now.saturating_duration_since(t) > grace)
                {
                    Some((k, "connection lost"))
                } else {
                    None
                }
            })
            .collect();
        for (k, reason) in dead {
            self.remove_worker(k, reason, out);
        }
    }

    pub(super) fn balance_tick(&mut self, out: &mut Vec<Output>) {
        let advice = match self.config.allocate {
            Allocate::EvenLoad => balance::even_load(&self.workers),
            Allocate::Capability => {
                let tasks = &self.tasks;
                balance::capability(&self.workers, &|id| {
                    tasks
                        .get(id)
                        .map(|e| e.required.clone())
                        .unwrap_or_default()
                })
            }
        };
        let advice: Vec<(Bytes, Vec<Bytes>)> = advice
            .into_iter()
            .map(|(k, v)| (self.workers.slab[k].id.clone(), v))
            .collect();
        if advice == self.balance.previous {
            self.balance.repeats += 1;
        } else {
            self.balance.repeats = 0;
            self.balance.previous = advice.clone();
        }
        if self.balance.repeats != self.config.load_balance_trigger_times || advice.is_empty() {
            return;
        }
        let summary: Vec<String> = advice
            .iter()
            .map(|(w, t)| format!("WorkerID({}): {}", lossy(w), t.len()))
            .collect();
        info!("balancing task: {{{}}}", summary.join(", "));
        for (w, ids) in &advice {
            if self.monitors > 0 {
                let frame = build(|m| {
                    let mut b = m.init_state_balance_advice();
                    b.set_worker_id(w);
                    let mut l = b.init_task_ids(ids.len() as u32);
                    for (i, id) in ids.iter().enumerate() {
                        l.set(i as u32, id);
                    }
                });
                out.push(Output::Monitor(frame));
            }
            for id in ids {
                self.apply(id, Event::BalanceCancelRequested, out);
            }
        }
    }

    pub(super) fn status_tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        let stats = &mut self.stats;
        match stats.storage_info_sent {
            Some(t) if now.saturating_duration_since(t) > STORAGE_INFO_TIMEOUT => {
                stats.storage = [0; 6];
                stats.storage_info_sent = None;
            }
            _ => {}
        }
        if stats.storage_info_sent.is_none() {
            stats.storage_info_sent = Some(now);
            out.push(Output::Storage(StorageOp::Info));
        }
        if self.monitors == 0 {
            return;
        }
        out.push(Output::Monitor(self.state_scheduler(now)));
        out.push(Output::Monitor(monitor_status::state_object(
            &self.objects,
            &self.tasks,
            self.config.object_report_limit,
        )));
    }

    /// The StateScheduler monitor message as of `now`.
    pub fn state_scheduler(&self, now: Instant) -> Bytes {
        monitor_status::state_scheduler(
            &monitor_status::Sources {
                workers: &self.workers,
                clients: &self.clients,
                objects: &self.objects,
                managers: &self.managers,
                tasks: &self.tasks,
                counters: &self.counters,
                stats: &self.stats,
                worker_limit: self.config.monitor_worker_limit,
            },
            now,
        )
    }

    /// The object storage server answered infoGetTotal.
    pub fn on_storage_info(&mut self, info: [u64; 6]) {
        self.stats.storage = info;
        self.stats.storage_info_sent = None;
    }

    pub fn set_process_stats(&mut self, cpu_permille: u16, rss: u64, rss_free: u64) {
        self.stats.cpu = cpu_permille;
        self.stats.rss = rss;
        self.stats.rss_free = rss_free;
    }

    pub(crate) fn publish_task(
        &mut self,
        id: &Bytes,
        state: TaskState,
        event: &str,
        worker: Option<Bytes>,
        out: &mut Vec<Output>,
    ) {
        if self.monitors == 0 {
            return;
        }
        let Some(e) = self.tasks.get(id) else {
            return;
        };
        let frame = self.state_task(id, e, state, event, worker.as_deref().unwrap_or(b""), b"");
        out.push(Output::Monitor(frame));
    }

    /// A terminal state's StateTask, from the entry the table has just given up.
    pub(crate) fn publish_task_with_metadata(
        &mut self,
        id: &Bytes,
        e: &TaskEntry,
        state: TaskState,
        event: &str,
        metadata: &[u8],
        out: &mut Vec<Output>,
    ) {
        if self.monitors == 0 {
            return;
        }
        let frame = self.state_task(id, e, state, event, b"", metadata);
        out.push(Output::Monitor(frame));
    }

    pub(super) fn state_task(
        &self,
        id: &Bytes,
        e: &TaskEntry,
        state: TaskState,
        event: &str,
        worker: &[u8],
        metadata: &[u8],
    ) -> Bytes {
        let Some(t) = e.task() else {
            return Bytes::new();
        };
        let name = self.objects.name(&t.func_object_id);
        let bytes: u64 = self.objects.size(&t.func_object_id)
            + t.args
                .iter()
                .filter(|a| !a.is_task)
                .map(|a| self.objects.size(&a.data))
                .sum::<u64>();
        build(|m| {
            let mut b = m.init_state_task();
            b.set_task_id(id);
            b.set_function_name(&name);
            b.set_state(task_state(state));
            b.set_worker(worker);
            set_capabilities(
                b.reborrow().init_capabilities(t.capabilities.len() as u32),
                &t.capabilities,
            );
            b.set_metadata(metadata);
            b.set_object_bytes(bytes);
            b.set_client(&t.source);
            b.set_event(event);
        })
    }

    pub(crate) fn publish_worker(
        &mut self,
        id: &Bytes,
        connected: bool,
        caps: &[Capability],
        out: &mut Vec<Output>,
    ) {
        if self.monitors == 0 {
            return;
        }
        out.push(Output::Monitor(build(|m| {
            let mut b = m.init_state_worker();
            b.set_worker_id(id);
            b.set_state(if connected {
                common_capnp::WorkerState::Connected
            } else {
                common_capnp::WorkerState::Disconnected
            });
            set_capabilities(b.init_capabilities(caps.len() as u32), caps);
        })));
    }

    pub(crate) fn publish_graph_node(
        &mut self,
        umbrella: &Bytes,
        node: &Bytes,
        target: bool,
        parents: &[Bytes],
        out: &mut Vec<Output>,
    ) {
        if self.monitors == 0 {
            return;
        }
        out.push(Output::Monitor(build(|m| {
            let mut b = m.init_state_graph_task();
            b.set_graph_task_id(umbrella);
            b.set_task_id(node);
            b.set_node_task_type(if target {
                message_capnp::state_graph_task::NodeTaskType::Target
            } else {
                message_capnp::state_graph_task::NodeTaskType::Normal
            });
            let mut l = b.init_parent_task_ids(parents.len() as u32);
            for (i, p) in parents.iter().enumerate() {
                l.set(i as u32, p);
            }
        })));
    }

    /// Counts used by the monitor and the metrics: current non-terminal machines, cumulative
    /// terminal totals.
    pub fn state_counts(&self) -> [u64; TaskState::COUNT] {
        self.counters.state_counts(self.tasks.counts())
    }
}
