//! The orchestrator: the one `impl Scheduler`, over sub-state that owns its data and logic and never
//! refers back to it (`Workers`, `Clients`, `Objects`, `Graphs`, `Managers`, the task table).
//!
//! Every handler applies one event atomically. The impl is split by path, one file each: `tasks`
//! (submission, placement and the state machine's actions), `clients`, `graphs`, `managers`,
//! `objects`, and `periodic` (timers and monitor publishing).
mod clients;
mod graphs;
mod managers;
mod objects;
mod periodic;
mod tasks;

use super::client::Clients;
use super::graph::Graphs;
use super::object::Objects;
use super::scaling::Managers;
use super::status::Counters;
use super::task::Event;
use super::task_table::TaskTable;
use super::worker::Workers;
use super::{Config, Output};
use crate::wire::view::HotMessage;
use crate::wire::{CancelConfirmType, Kind, Message};
use bytes::Bytes;
use log::debug;
use std::time::Instant;

pub use crate::core::status::task_state;
pub use crate::core::status::Counts;

pub struct Scheduler {
    pub config: Config,
    pub tasks: TaskTable,
    pub workers: Workers,
    pub clients: Clients,
    pub objects: Objects,
    pub graphs: Graphs,
    pub managers: Managers,
    pub counters: Counters,
    /// Number of monitor subscribers; per-task monitor messages are only built when someone listens.
    pub monitors: usize,
    /// Generated object ids (the map keys were drawn from the same stream at start).
    pub(crate) seeds: super::seed::Seeds,
    pub(crate) balance: super::status::BalanceState,
    pub(crate) timers: super::status::Timers,
    pub(crate) stats: super::status::ProcessStats,
    /// Where the task table's frame copies are made.
    pub(crate) frames: super::frame_arena::FrameArena,
}

impl Scheduler {
    pub fn new(config: Config, now: Instant) -> Self {
        let mut seeds = super::seed::Seeds::new(config.seed);
        Scheduler {
            tasks: TaskTable::new(seeds.id_build()),
            workers: Workers::new(seeds.id_build()),
            clients: Clients::new(seeds.id_build()),
            objects: Objects::new(seeds.id_build()),
            graphs: Graphs::new(seeds.id_build()),
            managers: Managers::new(seeds.id_build()),
            config,
            counters: Counters::default(),
            monitors: 0,
            seeds,
            balance: Default::default(),
            timers: super::status::Timers::new(now),
            stats: Default::default(),
            frames: Default::default(),
        }
    }

    /// Queues a payload for a peer on the main socket, counting it by message kind.
    #[inline]
    pub(crate) fn send(&mut self, out: &mut Vec<Output>, to: &Bytes, kind: Kind, frame: Bytes) {
        self.send_to(out, to.clone(), kind, frame);
    }

    /// `send` for a caller that already holds its own copy of the id (one reference count less).
    #[inline]
    pub(crate) fn send_to(&mut self, out: &mut Vec<Output>, to: Bytes, kind: Kind, frame: Bytes) {
        self.counters.sent[kind as usize] += 1;
        out.push(Output::Send { to, frame });
    }

    /// What every message from a peer does before its own handler: it is counted, and a client's
    /// message (any, not only heartbeats) shows it alive.
    #[inline]
    fn received(&mut self, now: Instant, from: &[u8], kind: Kind) {
        self.counters.received[kind as usize] += 1;
        if from.starts_with(b"Client|") {
            self.clients.touch(from, now);
        }
    }

    /// Handles one message received from `from` on the main socket.
    pub fn handle(
        &mut self,
        now: Instant,
        from: &Bytes,
        msg: Message,
        raw: &Bytes,
        out: &mut Vec<Output>,
    ) {
        self.received(now, from, msg.kind());
        match msg {
            Message::Task(task) => self.on_task(task.view(), raw, out),
            Message::TaskCancel { task_id, .. } => self.on_task_cancel(from, task_id, raw, out),
            Message::TaskCancelConfirm { task_id, kind } => {
                let event = match kind {
                    CancelConfirmType::Canceled => Event::CancelConfirmCanceled,
                    CancelConfirmType::CancelFailed => Event::CancelConfirmFailed,
                    CancelConfirmType::CancelNotFound => Event::CancelConfirmNotFound,
                };
                self.on_worker_report(from, &task_id, event, out)
            }
            Message::TaskResult(r) => self.on_task_result(from, r.view(), raw, out),
            Message::TaskLog { task_id } => match self.tasks.get(&task_id) {
                Some(e) => {
                    let client = e.source.clone();
                    self.send(out, &client, Kind::TaskLog, raw.clone());
                }
                None => debug!("task log for unknown task {}", hex(&task_id)),
            },
            Message::GraphTask(g) => self.on_graph_task(g, out),
            Message::ObjectInstruction(o) => self.on_object_instruction(from, o.view()),
            Message::ClientHeartbeat(h) => self.on_client_heartbeat(now, from, h, out),
            Message::WorkerHeartbeat(h) => self.on_worker_heartbeat(now, from, h, out),
            Message::ClientDisconnect { shutdown } => {
                self.on_client_disconnect(from, shutdown, out)
            }
            Message::InformationRequest => debug!(
                "information request from {} ignored (as 2.9.0)",
                lossy(from)
            ),
            Message::WorkerManagerHeartbeat(h) => {
                self.on_worker_manager_heartbeat(now, from, h, out)
            }
            Message::WorkerDisconnectNotification => {
                if let Some(k) = self.workers.get(from) {
                    self.remove_worker(k, "disconnect notification", out);
                }
            }
            Message::NotForScheduler(kind) => out.push(Output::Close {
                peer: from.clone(),
                reason: format!("sent {}, which only the scheduler sends", kind.name()),
            }),
        }
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    /// `handle` for a member read in place (`wire::decode_in_place`): the path of every task's three
    /// messages, with no owned copy of their fields.
    pub fn handle_hot(
        &mut self,
        now: Instant,
        from: &Bytes,
        msg: HotMessage<'_>,
        raw: &Bytes,
        out: &mut Vec<Output>,
    ) {
        self.received(now, from, msg.kind());
        match msg {
            HotMessage::Task(task) => self.on_task(task, raw, out),
            HotMessage::TaskResult(r) => self.on_task_result(from, r, raw, out),
            HotMessage::ObjectInstruction(o) => self.on_object_instruction(from, o),
        }
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    /// Asserts the cross-table invariants; run after every event in debug builds, tests and fuzzing.
    pub fn check_invariants(&self) {
        // Cheap enough for tests and debug builds up to a few thousand tasks; skip beyond.
        if self.tasks.len() > 5000 {
            return;
        }
        self.tasks.check_invariants();
        self.workers.check_invariants();
        self.clients.check_invariants();
        if self.objects.len() <= 5000 {
            self.objects.check_invariants();
        }
        let held: usize = self.workers.slab.iter().map(|(_, w)| w.tasks.len()).sum();
        let holders = self.tasks.values().filter(|e| e.holder.is_some()).count();
        assert_eq!(
            held, holders,
            "every worker slot belongs to exactly one live task"
        );
    }
}

/// `pickle.dumps(module.name(message), protocol=2)`, which `pickle.loads` on the client turns back into
/// the exception: PROTO 2, GLOBAL, BINUNICODE, TUPLE1, REDUCE, STOP.
pub fn pickled_exception(module: &str, name: &str, message: &str) -> Bytes {
    let mut p = vec![0x80, 2, b'c'];
    p.extend_from_slice(module.as_bytes());
    p.push(b'\n');
    p.extend_from_slice(name.as_bytes());
    p.push(b'\n');
    p.push(b'X');
    p.extend_from_slice(&(message.len() as u32).to_le_bytes());
    p.extend_from_slice(message.as_bytes());
    p.extend_from_slice(&[0x85, b'R', b'.']);
    Bytes::from(p)
}

/// `part`, a zero-copy field of `old`, as the same bytes of `new` (a copy of `old`); a field that is
/// not inside `old` (a re-encoded graph node's) is copied on its own.
pub(crate) fn rebase(old: &Bytes, new: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(old.as_ptr() as usize);
    if !part.is_empty() && start <= old.len() && start + part.len() <= old.len() {
        new.slice(start..start + part.len())
    } else {
        Bytes::copy_from_slice(part)
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}
