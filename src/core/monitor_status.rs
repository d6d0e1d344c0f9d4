//! The two periodic monitor messages, StateScheduler and StateObject, as `scaler_top` and the GUI read them.
use super::scheduler::Scheduler;
use crate::wire::encode::build;
use bytes::Bytes;
use std::time::Instant;

fn secs_u16(d: std::time::Duration) -> u16 {
    d.as_secs().min(u16::MAX as u64) as u16
}

pub fn state_scheduler(s: &Scheduler, now: Instant) -> Bytes {
    build(|m| {
        let mut b = m.init_state_scheduler();
        {
            let (recv, sent) = s.binder_counts();
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
            let clients: Vec<_> = s.clients.registered.iter().collect();
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
            let counts = s.state_counts();
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
        {
            let keys = s.workers.ids_in_order();
            let mut l = b
                .reborrow()
                .init_worker_manager()
                .init_workers(keys.len() as u32);
            for (i, k) in keys.iter().enumerate() {
                let w = &s.workers.slab[*k];
                let h = &w.heartbeat;
                let mut e = l.reborrow().get(i as u32);
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
        }
        {
            let mut sm = b.init_scaling_manager();
            let managers: Vec<_> = s.managers.by_id.iter().collect();
            {
                let mut l = sm.reborrow().init_managed_workers(managers.len() as u32);
                for (i, (id, _)) in managers.iter().enumerate() {
                    let mut p = l.reborrow().get(i as u32);
                    p.set_worker_manager_i_d(id);
                    let ws: Vec<&Bytes> = s
                        .managers
                        .workers_of
                        .get(*id)
                        .map(|s| s.iter().collect())
                        .unwrap_or_default();
                    let mut wl = p.init_worker_i_ds(ws.len() as u32);
                    for (j, w) in ws.iter().enumerate() {
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

pub fn state_object(s: &Scheduler) -> Bytes {
    let largest = s.objects.largest(s.config.object_report_limit);
    // taskCount: live tasks naming the object as function or argument.
    // Counting decodes every live task, so it is skipped (counts read 0) above this many tasks.
    const COUNT_LIMIT: usize = 100_000;
    let mut uses: std::collections::HashMap<Bytes, u32> = std::collections::HashMap::new();
    if !largest.is_empty() && s.tasks.len() <= COUNT_LIMIT {
        for t in s.tasks.values().filter_map(|e| e.task()) {
            *uses.entry(t.func_object_id).or_default() += 1;
            for a in t.args.into_iter().filter(|a| !a.is_task) {
                *uses.entry(a.data).or_default() += 1;
            }
        }
    }
    build(|m| {
        let mut b = m.init_state_object();
        b.set_total_objects(s.objects.len() as u32);
        let mut l = b.init_objects(largest.len() as u32);
        for (i, (id, o)) in largest.iter().enumerate() {
            let mut e = l.reborrow().get(i as u32);
            e.set_object_id(&id[..]);
            e.set_name(&o.name);
            e.set_object_type(if o.kind == 0 {
                crate::schema::common_capnp::object_metadata::ObjectContentType::Serializer
            } else {
                crate::schema::common_capnp::object_metadata::ObjectContentType::Object
            });
            e.set_size(o.size);
            e.set_creator(&o.creator);
            e.set_task_count(uses.get(id.as_ref()).copied().unwrap_or(0));
        }
    })
}
