//! Cap'n Proto decoding of one YMQ payload into a [`Message`], zero-copy.
//!
//! The payload is read in place (`read_message_from_flat_slice`, any number of segments, unaligned) and
//! every byte field becomes a `Bytes::slice_ref` of the received frame. Decoding is bounded: the traversal
//! limit is proportional to the frame size, so a pointer "bomb" cannot make us read more than a few times
//! the bytes the peer actually sent.
use super::types::*;
use crate::schema::{common_capnp, message_capnp, status_capnp};
use bytes::Bytes;
use capnp::message::ReaderOptions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a valid Cap'n Proto message (framing, pointers, limits).
    Capnp(String),
    /// The union discriminant is not one of the 27 members of 2.9.0.
    UnknownMember(u16),
    /// An enum field carries a value outside the schema.
    UnknownEnum(&'static str, u16),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Capnp(e) => write!(f, "invalid capnp message: {e}"),
            DecodeError::UnknownMember(d) => write!(f, "unknown Message union member {d}"),
            DecodeError::UnknownEnum(what, v) => write!(f, "unknown {what} value {v}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<capnp::Error> for DecodeError {
    fn from(e: capnp::Error) -> Self {
        DecodeError::Capnp(e.to_string())
    }
}

type R<T> = Result<T, DecodeError>;

/// Reader options for a payload of `len` bytes: the traversal budget is 8x the words received (plus a
/// floor for tiny messages), which legitimate messages never approach but pointer amplification hits.
pub fn reader_options(len: usize) -> ReaderOptions {
    let mut o = ReaderOptions::new();
    o.traversal_limit_in_words(Some(len / 8 * 8 + 4096));
    o.nesting_limit(64);
    o
}

/// Decodes one scheduler-protocol payload: the hot members through [`super::fast`], everything else
/// (and whatever the fast reader declines) through the `capnp` crate.
pub fn decode(frame: &Bytes) -> R<Message> {
    match super::fast::decode(frame) {
        Some(m) => Ok(m),
        None => decode_generic(frame),
    }
}

/// A payload as the scheduler handles it: a hot member read in place, or any member owned.
pub enum Decoded<'a> {
    Hot(super::view::HotMessage<'a>),
    Owned(Message),
}

/// `decode` without building owned hot members: what the fast reader accepts stays a view of `frame`.
pub fn decode_in_place(frame: &Bytes) -> R<Decoded<'_>> {
    match super::fast::decode_view(frame) {
        Some(m) => Ok(Decoded::Hot(m)),
        None => decode_generic(frame).map(Decoded::Owned),
    }
}

/// Decodes one payload with the `capnp` crate only (the reference the fast reader is checked against).
pub fn decode_generic(frame: &Bytes) -> R<Message> {
    let mut slice: &[u8] = frame;
    let reader =
        capnp::serialize::read_message_from_flat_slice(&mut slice, reader_options(frame.len()))?;
    let root: message_capnp::message::Reader = reader.get_root()?;
    let sub = |s: &[u8]| -> Bytes {
        if s.is_empty() {
            Bytes::new()
        } else {
            frame.slice_ref(s)
        }
    };
    use message_capnp::message::Which as W;
    let which = root.which().map_err(|e| DecodeError::UnknownMember(e.0))?;
    Ok(match which {
        W::Task(t) => Message::Task(task(t?, &sub)?),
        W::TaskCancel(c) => {
            let c = c?;
            Message::TaskCancel {
                task_id: sub(c.get_task_id()?),
                force: c.get_flags()?.get_force(),
            }
        }
        W::TaskCancelConfirm(c) => {
            let c = c?;
            let kind = match c
                .get_cancel_confirm_type()
                .map_err(|e| DecodeError::UnknownEnum("TaskCancelConfirmType", e.0))?
            {
                common_capnp::TaskCancelConfirmType::Canceled => CancelConfirmType::Canceled,
                common_capnp::TaskCancelConfirmType::CancelFailed => {
                    CancelConfirmType::CancelFailed
                }
                common_capnp::TaskCancelConfirmType::CancelNotFound => {
                    CancelConfirmType::CancelNotFound
                }
            };
            Message::TaskCancelConfirm {
                task_id: sub(c.get_task_id()?),
                kind,
            }
        }
        W::TaskResult(r) => {
            let r = r?;
            let result_type = match r
                .get_result_type()
                .map_err(|e| DecodeError::UnknownEnum("TaskResultType", e.0))?
            {
                common_capnp::TaskResultType::Success => ResultType::Success,
                common_capnp::TaskResultType::Failed => ResultType::Failed,
                common_capnp::TaskResultType::FailedWorkerDied => ResultType::FailedWorkerDied,
            };
            let results = r
                .get_results()?
                .iter()
                .map(|d| d.map(&sub))
                .collect::<Result<Vec<_>, _>>()?
                .into();
            Message::TaskResult(TaskResult {
                task_id: sub(r.get_task_id()?),
                result_type,
                metadata: sub(r.get_metadata()?),
                results,
            })
        }
        W::TaskLog(l) => Message::TaskLog {
            task_id: sub(l?.get_task_id()?),
        },
        W::GraphTask(g) => {
            let g = g?;
            Message::GraphTask(GraphTask {
                task_id: sub(g.get_task_id()?),
                source: sub(g.get_source()?),
                targets: g
                    .get_targets()?
                    .iter()
                    .map(|d| d.map(&sub))
                    .collect::<Result<_, _>>()?,
                graph: g
                    .get_graph()?
                    .iter()
                    .map(|t| task(t, &sub))
                    .collect::<R<_>>()?,
            })
        }
        W::ObjectInstruction(o) => {
            let o = o?;
            let kind = match o
                .get_instruction_type()
                .map_err(|e| DecodeError::UnknownEnum("ObjectInstructionType", e.0))?
            {
                message_capnp::object_instruction::ObjectInstructionType::Create => {
                    InstructionType::Create
                }
                message_capnp::object_instruction::ObjectInstructionType::Delete => {
                    InstructionType::Delete
                }
                message_capnp::object_instruction::ObjectInstructionType::Clear => {
                    InstructionType::Clear
                }
            };
            let mut ins = ObjectInstruction {
                kind,
                object_user: sub(o.get_object_user()?),
                ids: DataList::default(),
                types: ScalarList::default(),
                names: DataList::default(),
                sizes: ScalarList::default(),
            };
            if o.has_object_metadata() {
                let m = o.get_object_metadata()?;
                ins.ids = m
                    .get_object_ids()?
                    .iter()
                    .map(|d| d.map(&sub))
                    .collect::<Result<Vec<_>, _>>()?
                    .into();
                ins.types = m
                    .get_object_types()?
                    .iter()
                    .map(|t| t.map(|t| t as u16).unwrap_or_else(|e| e.0))
                    .collect::<Vec<_>>()
                    .into();
                ins.names = m
                    .get_object_names()?
                    .iter()
                    .map(|d| d.map(&sub))
                    .collect::<Result<Vec<_>, _>>()?
                    .into();
                ins.sizes = m.get_object_sizes()?.iter().collect::<Vec<_>>().into();
            }
            Message::ObjectInstruction(ins)
        }
        W::ClientHeartbeat(h) => {
            let h = h?;
            Message::ClientHeartbeat(ClientHeartbeat {
                resource: resource(h.get_resource()?),
                latency_us: h.get_latency_microseconds(),
                hostname: text(h.get_hostname()?),
            })
        }
        W::WorkerHeartbeat(h) => {
            let h = h?;
            let processors = h
                .get_processors()?
                .iter()
                .map(|p| -> R<ProcessorStatus> {
                    Ok(ProcessorStatus {
                        pid: p.get_pid(),
                        initialized: p.get_initialized(),
                        has_task: p.get_has_task(),
                        suspended: p.get_suspended(),
                        resource: resource(p.get_resource()?),
                        current_task_id: sub(p.get_current_task_id()?),
                        task_age_seconds: p.get_task_age_seconds(),
                    })
                })
                .collect::<R<_>>()?;
            Message::WorkerHeartbeat(WorkerHeartbeat {
                agent: resource(h.get_agent()?),
                rss_free: h.get_rss_free(),
                queue_size: h.get_queue_size(),
                queued_tasks: h.get_queued_tasks(),
                latency_us: h.get_latency_microseconds(),
                task_lock: h.get_task_lock(),
                processors,
                capabilities: capabilities(h.get_capabilities()?)?,
                worker_manager_id: sub(h.get_worker_manager_i_d()?),
                mem_limit: h.get_mem_limit(),
                hostname: text(h.get_hostname()?),
                net_sent_bytes: h.get_net_sent_bytes(),
                net_recv_bytes: h.get_net_recv_bytes(),
            })
        }
        W::ClientDisconnect(d) => {
            let t = d?
                .get_disconnect_type()
                .map_err(|e| DecodeError::UnknownEnum("DisconnectType", e.0))?;
            Message::ClientDisconnect {
                shutdown: t == message_capnp::client_disconnect::DisconnectType::Shutdown,
            }
        }
        W::InformationRequest(r) => {
            r?;
            Message::InformationRequest
        }
        W::WorkerManagerHeartbeat(h) => {
            let h = h?;
            Message::WorkerManagerHeartbeat(WorkerManagerHeartbeat {
                max_task_concurrency: h.get_max_task_concurrency(),
                capabilities: capabilities(h.get_capabilities()?)?,
                worker_manager_id: sub(h.get_worker_manager_i_d()?),
            })
        }
        W::WorkerDisconnectNotification(n) => {
            n?;
            Message::WorkerDisconnectNotification
        }
        W::ClientHeartbeatEcho(x) => not_for_us(x, Kind::ClientHeartbeatEcho)?,
        W::WorkerHeartbeatEcho(x) => not_for_us(x, Kind::WorkerHeartbeatEcho)?,
        W::StateClient(x) => not_for_us(x, Kind::StateClient)?,
        W::StateObject(x) => not_for_us(x, Kind::StateObject)?,
        W::StateBalanceAdvice(x) => not_for_us(x, Kind::StateBalanceAdvice)?,
        W::StateScheduler(x) => not_for_us(x, Kind::StateScheduler)?,
        W::StateWorker(x) => not_for_us(x, Kind::StateWorker)?,
        W::StateTask(x) => not_for_us(x, Kind::StateTask)?,
        W::StateGraphTask(x) => not_for_us(x, Kind::StateGraphTask)?,
        W::ClientShutdownResponse(x) => not_for_us(x, Kind::ClientShutdownResponse)?,
        W::ProcessorInitialized(x) => not_for_us(x, Kind::ProcessorInitialized)?,
        W::InformationResponse(x) => not_for_us(x, Kind::InformationResponse)?,
        W::WorkerManagerHeartbeatEcho(x) => not_for_us(x, Kind::WorkerManagerHeartbeatEcho)?,
        W::WorkerManagerCommand(x) => not_for_us(x, Kind::WorkerManagerCommand)?,
    })
}

fn not_for_us<T>(x: capnp::Result<T>, kind: Kind) -> R<Message> {
    x?;
    Ok(Message::NotForScheduler(kind))
}

fn text(t: capnp::text::Reader<'_>) -> String {
    String::from_utf8_lossy(t.as_bytes()).into_owned()
}

fn resource(r: status_capnp::resource::Reader<'_>) -> Resource {
    Resource {
        cpu: r.get_cpu(),
        rss: r.get_rss(),
    }
}

fn capabilities(
    list: capnp::struct_list::Reader<'_, common_capnp::task_capability::Owned>,
) -> R<Vec<Capability>> {
    list.iter()
        .map(|c| {
            Ok(Capability {
                name: text(c.get_name()?),
                value: c.get_value(),
            })
        })
        .collect()
}

fn task(t: message_capnp::task::Reader<'_>, sub: &impl Fn(&[u8]) -> Bytes) -> R<Task> {
    let args = t
        .get_function_args()?
        .iter()
        .map(|a| -> R<TaskArg> {
            let is_task = match a
                .get_type()
                .map_err(|e| DecodeError::UnknownEnum("ArgumentType", e.0))?
            {
                message_capnp::task::argument::ArgumentType::Task => true,
                message_capnp::task::argument::ArgumentType::ObjectID => false,
            };
            Ok(TaskArg {
                is_task,
                data: sub(a.get_data()?),
            })
        })
        .collect::<R<_>>()?;
    Ok(Task {
        task_id: sub(t.get_task_id()?),
        source: sub(t.get_source()?),
        metadata: sub(t.get_metadata()?),
        func_object_id: sub(t.get_func_object_id()?),
        args,
        capabilities: capabilities(t.get_capabilities()?)?,
    })
}
