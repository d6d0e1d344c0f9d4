//! The task table: one `TaskEntry` per live task, and the FIFO of tasks waiting for a worker.
//!
//! A task's machine lives here from submission until it reaches a terminal state, when the orchestrator
//! removes it. The table owns what "queued" means, so the counter the waiting limit and the monitors
//! read cannot drift from the entries:
//! * an entry is queued when it is `Inactive` and holds a FIFO slot (a non-zero `queue_seq`);
//! * `queued()` is the number of queued entries;
//! * a FIFO slot is live while its entry exists and still carries the slot's sequence number. Taking a
//!   task out of the middle of the queue (a cancel, a client leaving) only zeroes the entry's number;
//!   the slot goes stale and is dropped when it reaches the head, so no removal is O(queue length);
//! * no entry is in a terminal state.
//!
//! Which worker holds a task (`TaskEntry::holder`) is the orchestrator's to keep consistent with
//! `Workers`; the table only checks that running tasks have a holder and queued ones do not.
use super::task::TaskState;
use super::worker::WorkerKey;
use crate::hash::{IdBuild, IdMap};
use crate::wire::{Message, Task};
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};

/// One live task (its machine is deleted on reaching a terminal state).
#[derive(Debug)]
pub struct TaskEntry {
    state: TaskState,
    /// The client that submitted the task (`Task.source`, shared with the client table's entry).
    pub source: Bytes,
    /// The Task payload sent to workers, in memory of its own: a slice of the socket buffer would pin
    /// the whole buffer for as long as the task waits (`core::frame_arena` bounds what a copy pins).
    /// Everything else about the task is decoded from it on demand (monitor, scaling), which keeps a
    /// queued task small.
    pub frame: Bytes,
    /// (worker, assignment sequence) while a worker's slot is taken.
    pub holder: Option<(WorkerKey, u64)>,
    /// The sequence number of the entry's live FIFO slot; 0 when it has none.
    queue_seq: u64,
    pub required: BTreeSet<String>,
    /// Cancels sent to the holder and not yet answered.
    pub cancels_outstanding: u8,
    /// The client was removed: answers for this task are no longer sent to it.
    pub detached: bool,
}

impl TaskEntry {
    /// A newly submitted task: inactive, held by no worker, not yet queued.
    pub fn new(source: Bytes, frame: Bytes, required: BTreeSet<String>) -> TaskEntry {
        TaskEntry {
            state: TaskState::Inactive,
            source,
            frame,
            holder: None,
            queue_seq: 0,
            required,
            cancels_outstanding: 0,
            detached: false,
        }
    }

    #[inline]
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Whether the task waits in the FIFO.
    #[inline]
    pub fn is_queued(&self) -> bool {
        self.queue_seq != 0
    }

    /// The task as submitted (decoded again from its frame; only the monitor and scaling need it).
    pub fn task(&self) -> Option<Task> {
        match crate::wire::decode(&self.frame) {
            Ok(Message::Task(t)) => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct TaskTable {
    live: IdMap<Bytes, TaskEntry>,
    /// (task id, queue_seq) in arrival order; entries whose seq no longer matches are stale.
    unassigned: VecDeque<(Bytes, u64)>,
    queued: usize,
    /// The last FIFO sequence number handed out (numbering starts at 1: 0 means "not queued").
    seq: u64,
}

impl TaskTable {
    /// An empty table whose map hashes with `build` (seeded by the core: iteration order is part of
    /// a run's behaviour).
    pub fn new(build: IdBuild) -> TaskTable {
        TaskTable {
            live: IdMap::with_hasher(build),
            unassigned: VecDeque::new(),
            queued: 0,
            seq: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.live.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Tasks waiting for a worker.
    #[inline]
    pub fn queued(&self) -> usize {
        self.queued
    }

    // The accessors below are inline: they run several times per task, and the orchestrator that
    // calls them is compiled in other codegen units.
    #[inline]
    pub fn contains(&self, id: &[u8]) -> bool {
        self.live.contains_key(id)
    }

    #[inline]
    pub fn get(&self, id: &[u8]) -> Option<&TaskEntry> {
        self.live.get(id)
    }

    /// The entry's public fields; its state and queue place change only through the table.
    #[inline]
    pub fn get_mut(&mut self, id: &[u8]) -> Option<&mut TaskEntry> {
        self.live.get_mut(id)
    }

    /// Live tasks in the map's (seeded) order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &TaskEntry)> {
        self.live.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Bytes, &mut TaskEntry)> {
        self.live.iter_mut()
    }

    pub fn values(&self) -> impl Iterator<Item = &TaskEntry> {
        self.live.values()
    }

    /// Adds a new task (`TaskEntry::new`); the caller has checked that `id` is not live.
    #[inline]
    pub fn insert(&mut self, id: Bytes, entry: TaskEntry) {
        self.live.insert(id, entry);
    }

    /// Puts the task at the back of the FIFO.
    pub fn enqueue(&mut self, id: &Bytes) {
        self.seq += 1;
        if let Some(e) = self.live.get_mut(id) {
            e.queue_seq = self.seq;
            self.unassigned.push_back((id.clone(), self.seq));
            self.queued += 1;
        }
    }

    /// The task takes a worker slot (`holder`) and moves to the non-terminal state `to` the transition
    /// table gave: it leaves the queue if it was in it (its slot, if not already popped, goes stale).
    /// Returns the entry, so that placing a task is one lookup.
    #[inline]
    pub fn place(&mut self, id: &[u8], holder: (WorkerKey, u64), to: TaskState) -> &TaskEntry {
        debug_assert!(
            !to.is_terminal() && to != TaskState::Inactive,
            "a placed task runs"
        );
        let e = self.live.get_mut(id).expect("live task");
        e.holder = Some(holder);
        e.state = to;
        if e.queue_seq != 0 {
            e.queue_seq = 0;
            self.queued -= 1;
        }
        e
    }

    /// A queued task leaves the queue without being placed (canceled while waiting).
    pub fn dequeue(&mut self, id: &[u8]) {
        if let Some(e) = self.live.get_mut(id) {
            if e.holder.is_none() && e.state == TaskState::Inactive {
                e.queue_seq = 0;
                self.queued = self.queued.saturating_sub(1);
            }
        }
    }

    /// Moves a live task to the non-terminal state `to`; returns the entry.
    #[inline]
    pub fn set_state(&mut self, id: &[u8], to: TaskState) -> &TaskEntry {
        debug_assert!(!to.is_terminal(), "terminal machines are removed, not kept");
        let e = self.live.get_mut(id).expect("live task");
        e.state = to;
        e
    }

    /// Deletes the machine of a task that reached a terminal state.
    #[inline]
    pub fn remove(&mut self, id: &[u8]) -> Option<TaskEntry> {
        let e = self.live.remove(id)?;
        if e.state == TaskState::Inactive && e.queue_seq != 0 {
            self.queued = self.queued.saturating_sub(1);
        }
        Some(e)
    }

    /// The task at the head of the FIFO, after dropping the stale slots before it; it stays at the
    /// head until `pop_queued`.
    #[inline]
    pub fn next_queued(&mut self) -> Option<Bytes> {
        while let Some((id, seq)) = self.unassigned.front() {
            let live = self
                .live
                .get(id)
                .is_some_and(|e| e.queue_seq == *seq && e.state == TaskState::Inactive);
            if live {
                return Some(id.clone());
            }
            self.unassigned.pop_front();
        }
        None
    }

    /// Drops the head of the FIFO (the task `next_queued` returned is being placed).
    #[inline]
    pub fn pop_queued(&mut self) {
        self.unassigned.pop_front();
    }

    /// Live tasks by state (indexed by `TaskState as usize`; the terminal states read 0).
    pub fn counts(&self) -> [u64; TaskState::COUNT] {
        let mut c = [0; TaskState::COUNT];
        for e in self.live.values() {
            c[e.state as usize] += 1;
        }
        c
    }

    /// Asserts the invariants listed in the module documentation.
    pub fn check_invariants(&self) {
        // Cheap enough for tests and debug builds up to a few thousand tasks; skip beyond.
        if self.live.len() > 5000 {
            return;
        }
        let queued = self
            .live
            .values()
            .filter(|e| e.state == TaskState::Inactive && e.queue_seq != 0)
            .count();
        assert_eq!(
            queued, self.queued,
            "queued counter matches the live FIFO entries"
        );
        let slots = self
            .unassigned
            .iter()
            .filter(|(id, seq)| self.live.get(id).is_some_and(|e| e.queue_seq == *seq))
            .count();
        assert_eq!(slots, queued, "every queued task has one live FIFO slot");
        for e in self.live.values() {
            assert!(!e.state.is_terminal());
            match e.state {
                TaskState::Inactive => assert!(e.holder.is_none()),
                _ => assert!(e.holder.is_some(), "{:?} task without holder", e.state),
            }
        }
    }
}

#[cfg(test)]
mod tests;
