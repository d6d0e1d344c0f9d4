//! The orchestrator's task path: submission, placement, cancels, worker reports, and the actions of
//! the task state machine (`core::task`), each checked against the table.
use super::{hex, lossy, pickled_exception, rebase, Scheduler};
use crate::core::task::{transition, Action, Event, EventKind, Target, TaskState};
use crate::core::task_table::TaskEntry;
use crate::core::worker::WorkerKey;
use crate::core::{Allocate, Output, StorageOp};
use crate::wire::view::{TaskResultView, TaskView};
use crate::wire::{encode as enc, CancelConfirmType, Kind, ResultType};
use bytes::Bytes;
use log::{debug, error, info, warn};
use std::time::Instant;

impl Scheduler {
    pub(super) fn on_task(&mut self, task: TaskView<'_>, frame: &Bytes, out: &mut Vec<Output>) {
        if self.tasks.contains(task.task_id) {
            error!("task {} submitted twice: dropped", hex(task.task_id));
            return;
        }
        let limit = self.config.max_tasks_waiting;
        let queued = self.tasks.queued();
        if limit >= 0 && queued as i64 >= limit && self.pick_worker_for(&task).is_none() {
            let msg = format!("scheduler queue is full: {queued} tasks are waiting (--max-number-of-tasks-waiting {limit})");
            warn!("task {} refused: {msg}", hex(task.task_id));
            self.fail_task(&task, &msg, out);
            return;
        }
        self.submit(&task, frame, out);
    }

    /// A worker's result: its task's id is kept as a slice of the frame (as the table's key it is
    /// compared, not stored), the frame is relayed to the client as received.
    pub(super) fn on_task_result(
        &mut self,
        from: &Bytes,
        r: TaskResultView<'_>,
        raw: &Bytes,
        out: &mut Vec<Output>,
    ) {
        let id = rebase(raw, raw, r.task_id);
        self.on_worker_report(from, &id, Event::TaskResultReceived(r, raw.clone()), out)
    }

    /// Creates the machine of a new task (client-submitted or a graph node) and places it; `frame` is
    /// the task as received (or encoded), which the table keeps a copy of (`core::frame_arena`).
    pub(crate) fn submit(&mut self, task: &TaskView<'_>, frame: &Bytes, out: &mut Vec<Output>) {
        let own = self.frames.copy(frame);
        let id = rebase(frame, &own, task.task_id);
        let source = self.clients.add_task(task.source);
        let required = task.capabilities.iter().map(|c| c.name.clone()).collect();
        let entry = TaskEntry::new(source, own, required);
        // The worker is picked before the entry goes in, and the machine starts from the state the
        // entry was made in: a new task costs the table one insert and one update, not four lookups.
        let worker = match self.config.allocate {
            Allocate::EvenLoad => self.workers.least_loaded(),
            Allocate::Capability => self.workers.least_loaded_capable(&entry.required),
        };
        let from = entry.state();
        self.tasks.insert(id.clone(), entry);
        match worker {
            Some(w) => self.apply_from(&id, from, Event::HasCapacity(w), out),
            None => {
                self.tasks.enqueue(&id);
                self.publish_task(&id, TaskState::Inactive, "", None, out);
            }
        }
    }

    pub(super) fn pick_worker_for(&self, task: &TaskView<'_>) -> Option<WorkerKey> {
        match self.config.allocate {
            Allocate::EvenLoad => self.workers.least_loaded(),
            Allocate::Capability => {
                let required = task.capabilities.iter().map(|c| c.name.clone()).collect();
                self.workers.least_loaded_capable(&required)
            }
        }
    }

    /// Answers a task the scheduler will not run with a failed result carrying a pickled `SchedulerError`
    /// (what 2.9.0 sends on its own fault path), stored under a fresh object owned by the client.
    pub(super) fn fail_task(&mut self, task: &TaskView<'_>, message: &str, out: &mut Vec<Output>) {
        let id = crate::core::graph::fresh_object_id_for(task.source, self.seeds.bytes16());
        let payload = pickled_exception("scaler.utility.exceptions", "SchedulerError", message);
        let size = payload.len() as u64;
        out.push(Output::Storage(StorageOp::Set {
            id: id.clone(),
            payload,
        }));
        self.objects
            .create(&id, task.source, 1, b"<SchedulerError>", size);
        let frame = enc::task_result(task.task_id, ResultType::Failed, b"", &[id]);
        let client = self.clients.interned(task.source);
        self.send(out, &client, Kind::TaskResult, frame);
        self.counters.terminal[TaskState::Failed as usize] += 1;
    }

    #[inline]
    pub(super) fn pick_worker(&self, id: &Bytes) -> Option<WorkerKey> {
        match self.config.allocate {
            Allocate::EvenLoad => self.workers.least_loaded(),
            Allocate::Capability => self
                .workers
                .least_loaded_capable(&self.tasks.get(id)?.required),
        }
    }

    /// Dispatches queued tasks while the task at the head of the queue can be placed.
    pub(crate) fn dispatch_queued(&mut self, out: &mut Vec<Output>) {
        while let Some(id) = self.tasks.next_queued() {
            let Some(w) = self.pick_worker(&id) else {
                break;
            };
            self.tasks.pop_queued();
            self.apply(&id, Event::HasCapacity(w), out);
        }
    }

    pub(super) fn on_task_cancel(
        &mut self,
        from: &Bytes,
        id: Bytes,
        raw: &Bytes,
        out: &mut Vec<Output>,
    ) {
        if let Some(umbrella) = self.graphs.graph_of(&id) {
            self.cancel_graph(&umbrella, out);
            return;
        }
        if !self.tasks.contains(&id) {
            let frame = enc::task_cancel_confirm(&id, CancelConfirmType::CancelNotFound);
            self.send(out, from, Kind::TaskCancelConfirm, frame);
            return;
        }
        self.apply(&id, Event::TaskCancelRequested(raw.clone()), out);
    }

    pub(super) fn on_worker_report(
        &mut self,
        from: &Bytes,
        id: &Bytes,
        event: Event<'_>,
        out: &mut Vec<Output>,
    ) {
        let name = event.kind().name();
        let sender = self.workers.get(from);
        let Some(entry) = self.tasks.get(id) else {
            debug!("{} for unknown task {} from {}", name, hex(id), lossy(from));
            return;
        };
        if let (Some((holder, _)), Some(s)) = (entry.holder, sender) {
            if holder != s {
                warn!(
                    "{} for task {} from {} which does not hold it: dropped",
                    name,
                    hex(id),
                    lossy(from)
                );
                return;
            }
        }
        if entry.holder.is_some() && sender.is_none() {
            warn!(
                "{} for task {} from unknown worker {}: dropped",
                name,
                hex(id),
                lossy(from)
            );
            return;
        }
        let state = entry.state();
        self.apply_from(id, state, event, out);
    }

    /// Runs one event through the transition table and performs its action; the state the action
    /// lands in must be one the table allows.
    pub(crate) fn apply(&mut self, id: &Bytes, event: Event<'_>, out: &mut Vec<Output>) {
        let Some(entry) = self.tasks.get(id) else {
            return;
        };
        let from = entry.state();
        self.apply_from(id, from, event, out);
    }

    /// `apply` for a caller that has just read the live task's state `from` (it saves the lookup on
    /// the paths every task takes).
    fn apply_from(&mut self, id: &Bytes, from: TaskState, event: Event<'_>, out: &mut Vec<Output>) {
        debug_assert_eq!(self.tasks.get(id).map(|e| e.state()), Some(from));
        let kind = event.kind();
        let Some(tr) = transition(from, kind) else {
            self.counters.refused[from as usize][kind as usize] += 1;
            debug!("task {}: {} refused in {:?}", hex(id), kind.name(), from);
            return;
        };
        // Set when the action placed the task: its state was written with the placement.
        let mut placed = None;
        let to = match (tr.action, event) {
            (Action::Dispatch, Event::HasCapacity(w)) => {
                placed = Some(self.place_on(id, w, TaskState::Running, out));
                TaskState::Running
            }
            (Action::CancelQueued, _) => {
                self.tasks.dequeue(id);
                self.release(id);
                self.confirm(id, CancelConfirmType::Canceled, out);
                TaskState::Canceled
            }
            (Action::ForwardCancel | Action::ForwardCancelDuringBalance, event) => {
                let frame = match event {
                    Event::TaskCancelRequested(f) => f,
                    _ => enc::task_cancel(id, true),
                };
                self.send_to_holder(id, Kind::TaskCancel, frame, out);
                TaskState::Canceling
            }
            (Action::BalanceCancel, _) => {
                self.send_to_holder(id, Kind::TaskCancel, enc::task_cancel(id, false), out);
                TaskState::BalanceCanceling
            }
            (Action::DeliverResult, Event::TaskResultReceived(r, raw)) => {
                let to = match r.result_type {
                    ResultType::Success => TaskState::Success,
                    ResultType::Failed => TaskState::Failed,
                    ResultType::FailedWorkerDied => TaskState::FailedWorkerDied,
                };
                debug_assert!(tr.target.admits(to), "{from:?} {kind:?} -> {to:?}");
                // The machine ends here, so the entry leaves the table now: one lookup frees the
                // worker's slot, says where the result goes and finishes the task.
                let Some(mut e) = self.tasks.remove(id) else {
                    return;
                };
                if let Some((w, seq)) = e.holder.take() {
                    self.workers.release(w, seq);
                }
                if !e.detached {
                    self.send(out, &e.source, Kind::TaskResult, raw);
                } else {
                    warn!(
                        "result of task {} for gone client {}: dropped",
                        hex(id),
                        lossy(&e.source)
                    );
                }
                self.finish_removed(id, e, to, kind, r.metadata, out);
                self.graph_node_result(id, &r, out);
                self.dispatch_queued(out);
                return;
            }
            (Action::ReleaseAndConfirmCanceled, _) => {
                self.release(id);
                self.confirm(id, CancelConfirmType::Canceled, out);
                TaskState::Canceled
            }
            (Action::ReleaseAndConfirmNotFound, _) => {
                self.release(id);
                self.confirm(id, CancelConfirmType::CancelNotFound, out);
                TaskState::CanceledNotFound
            }
            (Action::CancelFailed, _) => {
                let e = self.tasks.get_mut(id).expect("checked above");
                e.cancels_outstanding = e.cancels_outstanding.saturating_sub(1);
                match tr.target {
                    Target::ByOutstandingCancels if e.cancels_outstanding > 0 => {
                        TaskState::Canceling
                    }
                    _ => TaskState::Running,
                }
            }
            (Action::Redispatch, _) => {
                self.release(id);
                if let Some(e) = self.tasks.get_mut(id) {
                    e.cancels_outstanding = 0;
                }
                match self.pick_worker(id) {
                    Some(w) => {
                        placed = Some(self.place_on(id, w, TaskState::Running, out));
                        TaskState::Running
                    }
                    None => {
                        self.tasks.enqueue(id);
                        TaskState::Inactive
                    }
                }
            }
            (Action::ConfirmCanceledOnDeath, _) => {
                self.release(id);
                self.confirm(id, CancelConfirmType::Canceled, out);
                TaskState::Canceled
            }
            // The actions above that read event data are paired in the table only with the event
            // that carries it (unit-tested for every cell), so this arm is never taken; it comes
            // before any side effect, so even a wrong table would only drop the event.
            (action @ (Action::Dispatch | Action::DeliverResult), _) => {
                debug_assert!(false, "{action:?} paired with {kind:?} in the table");
                error!(
                    "task {}: {action:?} without its event data: dropped",
                    hex(id)
                );
                return;
            }
        };
        debug_assert!(
            tr.target.admits(to),
            "{from:?} --{kind:?}--> {to:?} is not in the table"
        );
        if to.is_terminal() {
            self.finish(id, to, kind, b"", out);
            if let Some(umbrella) = self.graphs.graph_of(id) {
                self.graph_node_canceled(&umbrella, id, out);
            }
            self.dispatch_queued(out);
        } else {
            let holder = match placed {
                Some(h) => Some(h),
                None => self.tasks.set_state(id, to).holder,
            };
            if self.monitors > 0 {
                let worker = holder.map(|(w, _)| self.workers.slab[w].id.clone());
                self.publish_task(id, to, kind.name(), worker, out);
            }
        }
    }

    /// Gives the task worker `w`'s next slot, in state `to` (what the transition table said), and
    /// sends it there; returns the slot.
    fn place_on(
        &mut self,
        id: &Bytes,
        w: WorkerKey,
        to: TaskState,
        out: &mut Vec<Output>,
    ) -> (WorkerKey, u64) {
        let seq = self.workers.assign(w, id.clone());
        let frame = self.tasks.place(id, (w, seq), to).frame.clone();
        let worker = self.workers.slab[w].id.clone();
        self.send_to(out, worker, Kind::Task, frame);
        (w, seq)
    }

    pub(super) fn send_to_holder(
        &mut self,
        id: &Bytes,
        kind: Kind,
        frame: Bytes,
        out: &mut Vec<Output>,
    ) {
        let e = self.tasks.get_mut(id).expect("live task");
        e.cancels_outstanding = e.cancels_outstanding.saturating_add(1);
        if let Some((w, _)) = e.holder {
            let to = self.workers.slab[w].id.clone();
            self.send_to(out, to, kind, frame);
        }
    }

    /// Frees the worker slot the task holds, if any.
    #[inline]
    pub(super) fn release(&mut self, id: &Bytes) {
        if let Some(e) = self.tasks.get_mut(id) {
            if let Some((w, seq)) = e.holder.take() {
                self.workers.release(w, seq);
            }
        }
    }

    pub(super) fn confirm(&mut self, id: &Bytes, kind: CancelConfirmType, out: &mut Vec<Output>) {
        let e = self.tasks.get(id).expect("live task");
        let client = e.source.clone();
        if !e.detached {
            self.send(
                out,
                &client,
                Kind::TaskCancelConfirm,
                enc::task_cancel_confirm(id, kind),
            );
        }
    }

    /// Deletes a machine that reached a terminal state.
    pub(super) fn finish(
        &mut self,
        id: &Bytes,
        to: TaskState,
        event: EventKind,
        metadata: &[u8],
        out: &mut Vec<Output>,
    ) {
        if let Some(e) = self.tasks.remove(id) {
            self.finish_removed(id, e, to, event, metadata, out);
        }
    }

    /// `finish` for an entry its caller has already taken out of the table.
    fn finish_removed(
        &mut self,
        id: &Bytes,
        e: TaskEntry,
        to: TaskState,
        event: EventKind,
        metadata: &[u8],
        out: &mut Vec<Output>,
    ) {
        debug_assert!(to.is_terminal());
        debug_assert!(
            e.holder.is_none(),
            "a finished task must not hold a worker slot"
        );
        self.publish_task_with_metadata(id, &e, to, event.name(), metadata, out);
        self.counters.terminal[to as usize] += 1;
        if !e.detached {
            self.clients.remove_task(&e.source);
        }
    }

    pub(super) fn on_worker_heartbeat(
        &mut self,
        now: Instant,
        from: &Bytes,
        h: crate::wire::WorkerHeartbeat,
        out: &mut Vec<Output>,
    ) {
        let echo = enc::worker_heartbeat_echo(&self.config.storage_address);
        match self.workers.get(from) {
            Some(k) => {
                let w = &mut self.workers.slab[k];
                w.last_seen = now;
                w.lost_since = None;
                w.heartbeat = h;
            }
            None => {
                info!("worker {} connected", lossy(from));
                let caps = h.capabilities.clone();
                let manager = h.worker_manager_id.clone();
                self.workers.add(from.clone(), h, now);
                self.managers.worker_added(&manager, from);
                self.publish_worker(from, true, &caps, out);
                self.send(out, from, Kind::WorkerHeartbeatEcho, echo);
                self.dispatch_queued(out);
                return;
            }
        }
        self.send(out, from, Kind::WorkerHeartbeatEcho, echo);
    }

    /// Removes a worker; its tasks are placed again (or confirmed canceled if a cancel was pending).
    pub fn remove_worker(&mut self, key: WorkerKey, reason: &str, out: &mut Vec<Output>) {
        let (w, tasks) = self.workers.remove(key);
        info!(
            "worker {} disconnected ({reason}), re-dispatching {} task(s)",
            lossy(&w.id),
            tasks.len()
        );
        self.managers.worker_removed(&w.manager_id, &w.id);
        self.publish_worker(&w.id, false, &[], out);
        for id in tasks {
            // The slot died with the worker: forget it before the machine decides where the task goes.
            if let Some(e) = self.tasks.get_mut(&id) {
                e.holder = None;
            }
            self.apply(&id, Event::WorkerDisconnected, out);
        }
    }

    /// The shell saw the connection of `peer` close without a goodbye.
    pub fn peer_closed(&mut self, now: Instant, peer: &Bytes) {
        if let Some(k) = self.workers.get(peer) {
            self.workers.slab[k].lost_since.get_or_insert(now);
        }
    }

    /// A connection with `peer`'s identity completed its handshake again.
    pub fn peer_reconnected(&mut self, _now: Instant, peer: &Bytes) {
        if let Some(k) = self.workers.get(peer) {
            self.workers.slab[k].lost_since = None;
        }
    }
}
