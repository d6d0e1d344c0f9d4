//! Cap'n Proto encoding of the `Message` members, one function per member, each returning a ready payload.
use super::types::*;
use crate::schema::{common_capnp, message_capnp};
use bytes::Bytes;
use capnp::message::{Builder, HeapAllocator};

pub type MessageBuilder = Builder<HeapAllocator>;

/// Serializes a finished builder (standard framing, unpacked).
pub fn finish(b: &MessageBuilder) -> Bytes {
    Bytes::from(capnp::serialize::write_message_to_words(b))
}

/// Builds one `Message`, letting `f` fill the union member.
pub fn build(f: impl FnOnce(message_capnp::message::Builder<'_>)) -> Bytes {
    let mut b = Builder::new(HeapAllocator::new().first_segment_words(64));
    f(b.init_root());
    finish(&b)
}

/// The object storage address carried by heartbeat echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageAddress {
    pub host: String,
    pub port: u16,
    pub scheme: String,
}

pub fn set_capabilities(
    mut list: capnp::struct_list::Builder<'_, common_capnp::task_capability::Owned>,
    caps: &[Capability],
) {
    for (i, c) in caps.iter().enumerate() {
        let mut e = list.reborrow().get(i as u32);
        e.set_name(c.name.as_str());
        e.set_value(c.value);
    }
}

fn set_data_list<'a>(
    mut list: capnp::data_list::Builder<'_>,
    items: impl Iterator<Item = &'a [u8]>,
) {
    for (i, d) in items.enumerate() {
        list.set(i as u32, d);
    }
}

/// Fills a `ProcessorStatus` list (worker heartbeats, and the monitor's per-worker status).
pub fn set_processors(
    mut list: capnp::struct_list::Builder<'_, crate::schema::status_capnp::processor_status::Owned>,
    processors: &[ProcessorStatus],
) {
    for (i, p) in processors.iter().enumerate() {
        let mut e = list.reborrow().get(i as u32);
        e.set_pid(p.pid);
        e.set_initialized(p.initialized);
        e.set_has_task(p.has_task);
        e.set_suspended(p.suspended);
        e.set_current_task_id(&p.current_task_id);
        e.set_task_age_seconds(p.task_age_seconds);
        let mut r = e.init_resource();
        r.set_cpu(p.resource.cpu);
        r.set_rss(p.resource.rss);
    }
}

pub fn fill_task(mut b: message_capnp::task::Builder<'_>, t: &Task) {
    b.set_task_id(&t.task_id);
    b.set_source(&t.source);
    b.set_metadata(&t.metadata);
    b.set_func_object_id(&t.func_object_id);
    let mut args = b.reborrow().init_function_args(t.args.len() as u32);
    for (i, a) in t.args.iter().enumerate() {
        let mut e = args.reborrow().get(i as u32);
        e.set_type(if a.is_task {
            message_capnp::task::argument::ArgumentType::Task
        } else {
            message_capnp::task::argument::ArgumentType::ObjectID
        });
        e.set_data(&a.data);
    }
    set_capabilities(
        b.init_capabilities(t.capabilities.len() as u32),
        &t.capabilities,
    );
}

pub fn task(t: &Task) -> Bytes {
    build(|m| fill_task(m.init_task(), t))
}

pub fn task_cancel(task_id: &[u8], force: bool) -> Bytes {
    build(|m| {
        let mut c = m.init_task_cancel();
        c.set_task_id(task_id);
        c.init_flags().set_force(force);
    })
}

pub fn task_cancel_confirm(task_id: &[u8], kind: CancelConfirmType) -> Bytes {
    build(|m| {
        let mut c = m.init_task_cancel_confirm();
        c.set_task_id(task_id);
        c.set_cancel_confirm_type(match kind {
            CancelConfirmType::Canceled => common_capnp::TaskCancelConfirmType::Canceled,
            CancelConfirmType::CancelFailed => common_capnp::TaskCancelConfirmType::CancelFailed,
            CancelConfirmType::CancelNotFound => {
                common_capnp::TaskCancelConfirmType::CancelNotFound
            }
        });
    })
}

pub fn task_result(
    task_id: &[u8],
    result_type: ResultType,
    metadata: &[u8],
    results: &[Bytes],
) -> Bytes {
    build(|m| {
        let mut r = m.init_task_result();
        r.set_task_id(task_id);
        r.set_result_type(match result_type {
            ResultType::Success => common_capnp::TaskResultType::Success,
            ResultType::Failed => common_capnp::TaskResultType::Failed,
            ResultType::FailedWorkerDied => common_capnp::TaskResultType::FailedWorkerDied,
        });
        r.set_metadata(metadata);
        set_data_list(
            r.init_results(results.len() as u32),
            results.iter().map(|b| &b[..]),
        );
    })
}

pub fn task_log(task_id: &[u8], stderr: bool, content: &str) -> Bytes {
    build(|m| {
        let mut l = m.init_task_log();
        l.set_task_id(task_id);
        l.set_log_type(if stderr {
            message_capnp::task_log::LogType::Stderr
        } else {
            message_capnp::task_log::LogType::Stdout
        });
        l.set_content(content);
    })
}

pub fn graph_task(g: &GraphTask) -> Bytes {
    build(|m| {
        let mut b = m.init_graph_task();
        b.set_task_id(&g.task_id);
        b.set_source(&g.source);
        set_data_list(
            b.reborrow().init_targets(g.targets.len() as u32),
            g.targets.iter().map(|b| &b[..]),
        );
        let mut list = b.init_graph(g.graph.len() as u32);
        for (i, t) in g.graph.iter().enumerate() {
            fill_task(list.reborrow().get(i as u32), t);
        }
    })
}

pub fn object_instruction(o: &ObjectInstruction) -> Bytes {
    build(|m| {
        let mut b = m.init_object_instruction();
        b.set_instruction_type(match o.kind {
            InstructionType::Create => {
                message_capnp::object_instruction::ObjectInstructionType::Create
            }
            InstructionType::Delete => {
                message_capnp::object_instruction::ObjectInstructionType::Delete
            }
            InstructionType::Clear => {
                message_capnp::object_instruction::ObjectInstructionType::Clear
            }
        });
        b.set_object_user(&o.object_user);
        let mut md = b.init_object_metadata();
        set_data_list(
            md.reborrow().init_object_ids(o.ids.len() as u32),
            o.ids.iter(),
        );
        let mut types = md.reborrow().init_object_types(o.types.len() as u32);
        for (i, t) in o.types.iter().enumerate() {
            types.set(
                i as u32,
                if t == 0 {
                    common_capnp::object_metadata::ObjectContentType::Serializer
                } else {
                    common_capnp::object_metadata::ObjectContentType::Object
                },
            );
        }
        set_data_list(
            md.reborrow().init_object_names(o.names.len() as u32),
            o.names.iter(),
        );
        let mut sizes = md.init_object_sizes(o.sizes.len() as u32);
        for (i, s) in o.sizes.iter().enumerate() {
            sizes.set(i as u32, s);
        }
    })
}

/// The delete instruction the scheduler broadcasts to workers (objectUser is empty, as in 2.9.0).
/// Built from the inline keys directly: a flush after a client leaves holds one id per task it ran.
pub fn object_delete(ids: &[[u8; 32]]) -> Bytes {
    build(|m| {
        let mut b = m.init_object_instruction();
        b.set_instruction_type(message_capnp::object_instruction::ObjectInstructionType::Delete);
        b.set_object_user(&[]);
        let mut md = b.init_object_metadata();
        set_data_list(
            md.reborrow().init_object_ids(ids.len() as u32),
            ids.iter().map(|k| &k[..]),
        );
        md.reborrow().init_object_types(0);
        md.reborrow().init_object_names(0);
        md.init_object_sizes(0);
    })
}

pub fn client_heartbeat(h: &ClientHeartbeat) -> Bytes {
    build(|m| {
        let mut b = m.init_client_heartbeat();
        b.set_latency_microseconds(h.latency_us);
        b.set_hostname(h.hostname.as_str());
        let mut r = b.init_resource();
        r.set_cpu(h.resource.cpu);
        r.set_rss(h.resource.rss);
    })
}

pub fn client_heartbeat_echo(addr: &StorageAddress) -> Bytes {
    build(|m| {
        let mut a = m.init_client_heartbeat_echo().init_object_storage_address();
        a.set_host(addr.host.as_str());
        a.set_port(addr.port);
        a.set_scheme(addr.scheme.as_str());
    })
}

pub fn worker_heartbeat(h: &WorkerHeartbeat) -> Bytes {
    build(|m| {
        let mut b = m.init_worker_heartbeat();
        {
            let mut r = b.reborrow().init_agent();
            r.set_cpu(h.agent.cpu);
            r.set_rss(h.agent.rss);
        }
        b.set_rss_free(h.rss_free);
        b.set_queue_size(h.queue_size);
        b.set_queued_tasks(h.queued_tasks);
        b.set_latency_microseconds(h.latency_us);
        b.set_task_lock(h.task_lock);
        set_processors(
            b.reborrow().init_processors(h.processors.len() as u32),
            &h.processors,
        );
        set_capabilities(
            b.reborrow().init_capabilities(h.capabilities.len() as u32),
            &h.capabilities,
        );
        b.set_worker_manager_i_d(&h.worker_manager_id);
        b.set_mem_limit(h.mem_limit);
        b.set_hostname(h.hostname.as_str());
        b.set_net_sent_bytes(h.net_sent_bytes);
        b.set_net_recv_bytes(h.net_recv_bytes);
    })
}

pub fn worker_heartbeat_echo(addr: &StorageAddress) -> Bytes {
    build(|m| {
        let mut a = m.init_worker_heartbeat_echo().init_object_storage_address();
        a.set_host(addr.host.as_str());
        a.set_port(addr.port);
        a.set_scheme(addr.scheme.as_str());
    })
}

pub fn client_disconnect(shutdown: bool) -> Bytes {
    build(|m| {
        m.init_client_disconnect().set_disconnect_type(if shutdown {
            message_capnp::client_disconnect::DisconnectType::Shutdown
        } else {
            message_capnp::client_disconnect::DisconnectType::Disconnect
        })
    })
}

pub fn client_shutdown_response(accepted: bool) -> Bytes {
    build(|m| m.init_client_shutdown_response().set_accepted(accepted))
}

pub fn information_request(request: &[u8]) -> Bytes {
    build(|m| m.init_information_request().set_request(request))
}

pub fn worker_manager_heartbeat(h: &WorkerManagerHeartbeat) -> Bytes {
    build(|m| {
        let mut b = m.init_worker_manager_heartbeat();
        b.set_max_task_concurrency(h.max_task_concurrency);
        set_capabilities(
            b.reborrow().init_capabilities(h.capabilities.len() as u32),
            &h.capabilities,
        );
        b.set_worker_manager_i_d(&h.worker_manager_id);
    })
}

pub fn worker_manager_heartbeat_echo() -> Bytes {
    build(|m| {
        m.init_worker_manager_heartbeat_echo();
    })
}

/// One `setDesiredTaskConcurrencyRequests` command: (taskConcurrency, capabilities) per request.
pub fn worker_manager_command(requests: &[(u32, Vec<Capability>)]) -> Bytes {
    build(|m| {
        let mut list = m
            .init_worker_manager_command()
            .init_set_desired_task_concurrency_requests(requests.len() as u32);
        for (i, (n, caps)) in requests.iter().enumerate() {
            let mut e = list.reborrow().get(i as u32);
            e.set_task_concurrency(*n);
            set_capabilities(e.init_capabilities(caps.len() as u32), caps);
        }
    })
}

pub fn worker_disconnect_notification() -> Bytes {
    build(|m| {
        m.init_worker_disconnect_notification();
    })
}
