//! The scheduler, sans-IO: decoded messages and `now` go in, frames to send come out.
//!
//! Nothing in this module owns a socket or reads a clock (the quinn-proto model): the shell in
//! `transport` calls [`Scheduler::handle`] per received message, [`Scheduler::tick`] when
//! [`Scheduler::next_deadline`] passes, and sends whatever [`Output`]s were produced. That makes the
//! whole scheduler testable in deterministic simulation with virtual time (see `tests/simulation.rs`).
pub mod balance;
pub mod client;
pub mod config;
pub mod frame_arena;
pub mod graph;
pub mod monitor_status;
pub mod object;
pub mod object_name;
pub mod policy;
pub mod scaling;
pub mod scheduler;
pub mod seed;
pub mod status;
pub mod task;
pub mod task_table;
pub mod worker;
pub mod worker_tasks;

pub use config::{Allocate, Config, Scaling};
pub use scheduler::Scheduler;

use bytes::Bytes;

/// A request for the object storage server, issued by the scheduler itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageOp {
    /// Inline: the scheduler deletes one object per task (its clients' arguments and results), and a
    /// Scaler ObjectID is always 32 bytes (`object::key`).
    Delete(object::ObjectKey),
    /// Store `payload` under `id` (a failure the scheduler reports on a client's behalf).
    Set { id: Bytes, payload: Bytes },
    /// Make `new` an alias of `original`'s content (graph abort copies a failed result).
    Duplicate { new: Bytes, original: Bytes },
    /// Ask for the six infoGetTotal counters (answered through `Scheduler::on_storage_info`).
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// One payload for the peer with this identity on the main socket.
    Send {
        to: Bytes,
        frame: Bytes,
    },
    /// One payload for every monitor subscriber.
    Monitor(Bytes),
    Storage(StorageOp),
    /// Close this peer's connection (it broke the protocol).
    Close {
        peer: Bytes,
        reason: String,
    },
    /// A client asked for shutdown and it was accepted: exit 0 after flushing.
    Shutdown,
}
