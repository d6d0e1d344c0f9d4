//! The two periodic monitor messages, StateScheduler and StateObject, as `scaler_top` and the GUI read them.
//!
//! Both are bounded: StateObject lists the `--object-report-limit` largest objects, StateScheduler the
//! first `--monitor-worker-limit` workers plus one row summing the rest. Scaler 2.9.0 lists every
//! worker with its processors (~430 bytes for a worker with two) every second to every monitor.
//!
//! Both read the sub-state they report on (`Sources`), not the orchestrator.
use super::client::Clients;
use super::object::Objects;
use super::scaling::Managers;
use super::status::{Counters, ProcessStats};
use super::task_table::TaskTable;
use super::worker::{Worker, WorkerKey, Workers};
use crate::schema::status_capnp::worker_status;
use crate::wire::encode::build;
use bytes::Bytes;
use std::time::Instant;

/// What StateScheduler reports on, borrowed from the scheduler for one build.
pub struct Sources<'a> {
    pub workers: &'a Workers,
    pub clients: &'a Clients,
    pub objects: &'a Objects,
    pub managers: &'a Managers,
    pub tasks: &'a TaskTable,
    pub counters: &'a Counters,
    pub stats: &'a ProcessStats,
    /// `--monitor-worker-limit`.
    pub worker_limit: usize,
}

fn secs_u16(d: std::time::Duration) -> u16 {
    d.as_secs().min(u16::MAX as u64) as u16
}

pub fn state_scheduler(s: &Sources<'_>, now: Instant) -> Bytes {
    build(|m| {
        let mut b = m.init_state_scheduler();
        {
            let (recv, sent) = s.counters.binder_counts();
            let mut binder = b.reborrow().init_binder();
            let mut r = binder.reborrow().init_received(recv.len() as u32);
            for (i, (name, n)) in recv.iter().enumerate() {
                let mut p = r.reborrow().get(i as u32);
                p.set_client(*name);
                p.set_number(*n as u32);
            }
            let mut t = binder.init_sent(sent.len() as u32);
            for (i, (name, n)) in sent.iter().enumerate() {
                let mut p = t.reborrow().get(i as u32);
                p.set_client(*name);
                p.set_number(*n as u32);
            }
        }
        {
            let mut r = b.reborrow().init_scheduler();
            r.set_cpu(s.stats.cpu);
            r.set_rss(s.stats.rss);
        }
        b.set_rss_free(s.stats.rss_free);
        {
            let clients: Vec<_> = s.clients.registered().collect();
            let mut l = b
                .reborrow()
                .init_client_manager()
                .init_clients(clients.len() as u32);
            for (i, (id, c)) in clients.iter().enumerate() {
                let mut e = l.reborrow().get(i as u32);
                e.set_client_id(id);
                e.set_num_task(s.clients.num_tasks(id) as u32);
                e.set_latency_microseconds(c.heartbeat.latency_us);
                e.set_last_seen_seconds(secs_u16(now.saturating_duration_since(c.last_seen)));
                e.set_connected_seconds(
                    now.saturating_duration_since(c.connected_at)
                        .as_secs()
                        .min(u32::MAX as u64) as u32,
                );
                e.set_hostname(c.heartbeat.hostname.as_str());
                let mut r = e.init_resource();
                r.set_cpu(c.heartbeat.resource.cpu);
                r.set_rss(c.heartbeat.resource.rss);
            }
        }
        {
            let mut om = b.reborrow().init_object_manager();
            om.set_number_of_objects(s.objects.len() as u32);
            let st = s.stats.storage;
            let mut o = om.init_storage();
            o.set_object_count(st[0]);
            o.set_unique_count(st[1]);
            o.set_total_bytes(st[2]);
            o.set_pending_requests(st[3]);
            o.set_pending_objects(st[4]);
            o.set_oldest_pending_seconds(st[5]);
        }
        {
            let counts = s.counters.state_counts(s.tasks.counts());
            let mut l = b
                .reborrow()
                .init_task_manager()
                .init_state_to_count(counts.len() as u32);
            for (i, c) in counts.iter().enumerate() {
                let mut p = l.reborrow().get(i as u32);
                p.set_state(i as u8);
                p.set_count((*c).min(u32::MAX as u64) as u32);
            }
        }
        let rows = WorkerRows::new(s.workers, s.worker_limit);
        {
            let extra = usize::from(!rows.omitted.is_empty());
            let mut l = b
                .reborrow()
                .init_worker_manager()
                .init_workers((rows.listed.len() + extra) as u32);
            for (i, k) in rows.listed.iter().enumerate() {
                worker_status(l.reborrow().get(i as u32), &s.workers.slab[*k], now);
            }
            if extra == 1 {
                Aggregate::of(s.workers, &rows.omitted, now)
                    .write(l.get(rows.listed.len() as u32), rows.omitted.len());
            }
        }
        {
            let mut sm = b.init_scaling_manager();
            let managers: Vec<_> = s.managers.by_id.iter().collect();
            {
                // A worker's manager is fixed when it joins; `workers_of` groups workers the same way.
                let mut named: std::collections::BTreeMap<&[u8], Vec<&Bytes>> = Default::default();
                for k in &rows.listed {
                    let w = &s.workers.slab[*k];
                    named.entry(&w.manager_id[..]).or_default().push(&w.id);
                }
                let mut l = sm.reborrow().init_managed_workers(managers.len() as u32);
                for (i, (id, _)) in managers.iter().enumerate() {
                    let mut p = l.reborrow().get(i as u32);
                    p.set_worker_manager_i_d(id);
                    // The GUI counts a manager's workers (and the fleet) by the length of this list, so
                    // it keeps one entry per worker; only the workers listed above are named, the others
                    // are null entries (8 bytes each, where a name costs ~70).
                    let total = s.managers.worker_count(id);
                    let mut wl = p.init_worker_i_ds(total);
                    let ws = named.get(&id[..]).map_or(&[][..], |v| &v[..]);
                    for (j, w) in ws.iter().take(total as usize).enumerate() {
                        wl.set(j as u32, w);
                    }
                }
            }
            let mut l = sm.init_worker_manager_details(managers.len() as u32);
            for (i, (id, m)) in managers.iter().enumerate() {
                let mut d = l.reborrow().get(i as u32);
                d.set_worker_manager_i_d(id);
                d.set_identity(String::from_utf8_lossy(&m.identity).as_ref());
                d.set_last_seen_seconds(secs_u16(now.saturating_duration_since(m.last_seen)));
                d.set_max_task_concurrency(m.heartbeat.max_task_concurrency);
                let mut names: Vec<&str> = m
                    .heartbeat
                    .capabilities
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                names.sort();
                d.set_capabilities(names.join(" ").as_str());
                d.set_pending_workers(m.desired.saturating_sub(s.managers.worker_count(id)));
            }
        }
    })
}

/// Which workers StateScheduler lists one by one (`--monitor-worker-limit`) and which it sums.
///
/// The listed ones are the first to join, not the busiest: the set then only changes when a listed
/// worker leaves (the next one in join order moves up), so `scaler_top` and the GUI do not flicker.
/// A "busiest N" set would reshuffle every second, and the GUI treats a worker that drops out of
/// StateScheduler as gone (it clears its task bars and per-processor peaks), so churn is visible.
struct WorkerRows {
    listed: Vec<WorkerKey>,
    omitted: Vec<WorkerKey>,
}

impl WorkerRows {
    fn new(workers: &Workers, limit: usize) -> WorkerRows {
        let mut listed = workers.ids_in_order();
        let omitted = if limit > 0 && listed.len() > limit {
            listed.split_off(limit)
        } else {
            Vec::new()
        };
        WorkerRows { listed, omitted }
    }
}

fn worker_status(mut e: worker_status::Builder<'_>, w: &Worker, now: Instant) {
    let h = &w.heartbeat;
    e.set_worker_id(&w.id);
    {
        let mut a = e.reborrow().init_agent();
        a.set_cpu(h.agent.cpu);
        a.set_rss(h.agent.rss);
    }
    e.set_rss_free(h.rss_free);
    e.set_mem_limit(h.mem_limit);
    e.set_free(w.free());
    e.set_sent(w.assigned());
    e.set_queued(h.queued_tasks);
    e.set_suspended(h.processors.iter().filter(|p| p.suspended).count().min(255) as u8);
    e.set_lag_microseconds(h.latency_us as u64);
    e.set_last_seen_seconds(secs_u16(now.saturating_duration_since(w.last_seen)));
    let itl = match h.processors.iter().find(|p| !p.suspended) {
        Some(p) => format!(
            "{}{}{}",
            p.initialized as u8, p.has_task as u8, h.task_lock as u8
        ),
        None => format!("00{}", h.task_lock as u8),
    };
    e.set_itl(itl.as_str());
    e.set_hostname(h.hostname.as_str());
    e.set_net_sent_bytes(h.net_sent_bytes);
    e.set_net_recv_bytes(h.net_recv_bytes);
    crate::wire::encode::set_processors(
        e.init_processor_statuses(h.processors.len() as u32),
        &h.processors,
    );
}

/// The figures of the workers StateScheduler does not list, for its one `+K more workers` row.
#[derive(Debug, Default, PartialEq, Eq)]
struct Aggregate {
    agent_cpu: u64,
    agent_rss: u64,
    /// Over every processor of every omitted worker.
    processor_cpu: u64,
    processor_rss: u64,
    free: u64,
    sent: u64,
    queued: u64,
    suspended: u64,
    /// The largest, not a sum.
    lag_us: u64,
    last_seen_seconds: u64,
    /// Host-wide readings (a worker reports its machine's free memory, memory limit and network
    /// counters): taken once per hostname, the largest as the GUI's machine view does, then summed
    /// over the hosts, so ten workers on one host do not count its free memory ten times.
    rss_free: u64,
    mem_limit: u64,
    net_sent: u64,
    net_recv: u64,
}

impl Aggregate {
    fn of(workers: &Workers, keys: &[WorkerKey], now: Instant) -> Aggregate {
        let mut a = Aggregate::default();
        let mut hosts: std::collections::BTreeMap<&str, [u64; 4]> = Default::default();
        for k in keys {
            let w = &workers.slab[*k];
            let h = &w.heartbeat;
            a.agent_cpu += h.agent.cpu as u64;
            a.agent_rss += h.agent.rss;
            for p in &h.processors {
                a.processor_cpu += p.resource.cpu as u64;
                a.processor_rss += p.resource.rss;
                a.suspended += p.suspended as u64;
            }
            a.free += w.free() as u64;
            a.sent += w.assigned() as u64;
            a.queued += h.queued_tasks as u64;
            a.lag_us = a.lag_us.max(h.latency_us as u64);
            a.last_seen_seconds = a
                .last_seen_seconds
                .max(now.saturating_duration_since(w.last_seen).as_secs());
            let host = hosts.entry(h.hostname.as_str()).or_default();
            for (slot, v) in
                host.iter_mut()
                    .zip([h.rss_free, h.mem_limit, h.net_sent_bytes, h.net_recv_bytes])
            {
                *slot = (*slot).max(v);
            }
        }
        for [free, limit, sent, recv] in hosts.into_values() {
            a.rss_free += free;
            a.mem_limit += limit;
            a.net_sent += sent;
            a.net_recv += recv;
        }
        a
    }

    /// The row: workerId `+K more workers`, no itl or hostname, and one synthetic processor (pid 0,
    /// idle) carrying the omitted processors' summed CPU and RSS, since that is where `scaler_top`
    /// and the GUI read a worker's CPU and RSS from. Sums beyond a field's width saturate (CPU is
    /// UInt16 permille: 6553.5% at most).
    fn write(&self, mut e: worker_status::Builder<'_>, omitted: usize) {
        let u16_ = |v: u64| v.min(u16::MAX as u64) as u16;
        let u32_ = |v: u64| v.min(u32::MAX as u64) as u32;
        e.set_worker_id(format!("+{omitted} more workers").as_bytes());
        {
            let mut r = e.reborrow().init_agent();
            r.set_cpu(u16_(self.agent_cpu));
            r.set_rss(self.agent_rss);
        }
        e.set_rss_free(self.rss_free);
        e.set_mem_limit(self.mem_limit);
        e.set_free(u32_(self.free));
        e.set_sent(u32_(self.sent));
        e.set_queued(u32_(self.queued));
        e.set_suspended(self.suspended.min(u8::MAX as u64) as u8);
        e.set_lag_microseconds(self.lag_us);
        e.set_last_seen_seconds(u16_(self.last_seen_seconds));
        e.set_itl("");
        e.set_hostname("");
        e.set_net_sent_bytes(self.net_sent);
        e.set_net_recv_bytes(self.net_recv);
        let mut p = e.init_processor_statuses(1).get(0);
        let mut r = p.reborrow().init_resource();
        r.set_cpu(u16_(self.processor_cpu));
        r.set_rss(self.processor_rss);
        p.set_current_task_id(&[]);
    }
}

/// StateObject: the `report_limit` largest objects, with the live tasks that use each.
pub fn state_object(objects: &Objects, tasks: &TaskTable, report_limit: usize) -> Bytes {
    let largest = objects.largest(report_limit);
    // taskCount: live tasks naming the object as function or argument.
    // Counting decodes every live task, so it is skipped (counts read 0) above this many tasks.
    const COUNT_LIMIT: usize = 100_000;
    let mut uses: std::collections::HashMap<Bytes, u32> = std::collections::HashMap::new();
    if !largest.is_empty() && tasks.len() <= COUNT_LIMIT {
        for t in tasks.values().filter_map(|e| e.task()) {
            *uses.entry(t.func_object_id).or_default() += 1;
            for a in t.args.iter().filter(|a| !a.is_task) {
                *uses.entry(a.data).or_default() += 1;
            }
        }
    }
    build(|m| {
        let mut b = m.init_state_object();
        b.set_total_objects(objects.len() as u32);
        let mut l = b.init_objects(largest.len() as u32);
        for (i, (id, o)) in largest.iter().enumerate() {
            let mut e = l.reborrow().get(i as u32);
            e.set_object_id(&id[..]);
            e.set_name(&o.name(id));
            e.set_object_type(if o.kind == 0 {
                crate::schema::common_capnp::object_metadata::ObjectContentType::Serializer
            } else {
                crate::schema::common_capnp::object_metadata::ObjectContentType::Object
            });
            e.set_size(o.size);
            e.set_creator(objects.creator(o));
            e.set_task_count(uses.get(id.as_ref()).copied().unwrap_or(0));
        }
    })
}
