//! The task state machine of Scaler 2.9.0 (docs/design.md, "The task state machine") as one table
//! indexed by (state, event kind).
//!
//! The table only names *what* happens; `Scheduler::apply` performs the action and checks that the state
//! it lands in is one the table allows. Keeping the table as data makes the reachable transitions
//! reviewable at a glance, testable exhaustively, and printable: `tests/data/task_fsm.golden` is this
//! table as text, compared with 2.9.0's actions by `tests/task_fsm.rs`.
use super::worker::WorkerKey;
use crate::wire::view::TaskResultView;
use bytes::Bytes;

/// `TaskState` of the 2.9.0 schema (values 0..8; 9 and 10 were removed after 2.6.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TaskState {
    Inactive = 0,
    Running = 1,
    Canceling = 2,
    BalanceCanceling = 3,
    Success = 4,
    Failed = 5,
    FailedWorkerDied = 6,
    Canceled = 7,
    CanceledNotFound = 8,
}

impl TaskState {
    pub const COUNT: usize = 9;
    pub const ALL: [TaskState; TaskState::COUNT] = [
        TaskState::Inactive,
        TaskState::Running,
        TaskState::Canceling,
        TaskState::BalanceCanceling,
        TaskState::Success,
        TaskState::Failed,
        TaskState::FailedWorkerDied,
        TaskState::Canceled,
        TaskState::CanceledNotFound,
    ];

    pub fn is_terminal(self) -> bool {
        self as u8 >= TaskState::Success as u8
    }

    /// The schema's name of the state (`TaskState.name` in Python).
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Inactive => "inactive",
            TaskState::Running => "running",
            TaskState::Canceling => "canceling",
            TaskState::BalanceCanceling => "balanceCanceling",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::FailedWorkerDied => "failedWorkerDied",
            TaskState::Canceled => "canceled",
            TaskState::CanceledNotFound => "canceledNotFound",
        }
    }
}

/// An event for one task's machine, with the data its action needs.
#[derive(Clone)]
pub enum Event<'a> {
    /// A worker has a free slot for the queued task.
    HasCapacity(WorkerKey),
    /// The client's cancel; the frame is forwarded to the holder as received.
    TaskCancelRequested(Bytes),
    /// The balancer takes the task back from its holder.
    BalanceCancelRequested,
    /// The holder's result, decoded, and its frame, relayed to the client as received.
    TaskResultReceived(TaskResultView<'a>, Bytes),
    CancelConfirmCanceled,
    CancelConfirmFailed,
    CancelConfirmNotFound,
    /// The holder is gone (its slot already forgotten).
    WorkerDisconnected,
}

impl Event<'_> {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::HasCapacity(_) => EventKind::HasCapacity,
            Event::TaskCancelRequested(_) => EventKind::TaskCancelRequested,
            Event::BalanceCancelRequested => EventKind::BalanceCancelRequested,
            Event::TaskResultReceived(..) => EventKind::TaskResultReceived,
            Event::CancelConfirmCanceled => EventKind::CancelConfirmCanceled,
            Event::CancelConfirmFailed => EventKind::CancelConfirmFailed,
            Event::CancelConfirmNotFound => EventKind::CancelConfirmNotFound,
            Event::WorkerDisconnected => EventKind::WorkerDisconnected,
        }
    }
}

/// The column of an event in the table; named as the Python event classes (published verbatim in
/// `StateTask.event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    HasCapacity = 0,
    TaskCancelRequested = 1,
    BalanceCancelRequested = 2,
    TaskResultReceived = 3,
    CancelConfirmCanceled = 4,
    CancelConfirmFailed = 5,
    CancelConfirmNotFound = 6,
    WorkerDisconnected = 7,
}

impl EventKind {
    pub const COUNT: usize = 8;
    pub const ALL: [EventKind; EventKind::COUNT] = [
        EventKind::HasCapacity,
        EventKind::TaskCancelRequested,
        EventKind::BalanceCancelRequested,
        EventKind::TaskResultReceived,
        EventKind::CancelConfirmCanceled,
        EventKind::CancelConfirmFailed,
        EventKind::CancelConfirmNotFound,
        EventKind::WorkerDisconnected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::HasCapacity => "HasCapacity",
            EventKind::TaskCancelRequested => "TaskCancelRequested",
            EventKind::BalanceCancelRequested => "BalanceCancelRequested",
            EventKind::TaskResultReceived => "TaskResultReceived",
            EventKind::CancelConfirmCanceled => "CancelConfirmCanceled",
            EventKind::CancelConfirmFailed => "CancelConfirmFailed",
            EventKind::CancelConfirmNotFound => "CancelConfirmNotFound",
            EventKind::WorkerDisconnected => "WorkerDisconnected",
        }
    }
}

/// What the scheduler does when a transition is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the task to the worker that has capacity.
    Dispatch,
    /// Take the task out of the unassigned queue and confirm `canceled` to its client.
    CancelQueued,
    /// Forward the client's cancel to the worker holding the task.
    ForwardCancel,
    /// Ask the holder to give the task back (`TaskCancel{force=false}`).
    BalanceCancel,
    /// The client cancels while a balance cancel is in flight: forward its cancel as well.
    ForwardCancelDuringBalance,
    /// Release the slot, relay the result to the client, notify the graph, dispatch queued tasks.
    DeliverResult,
    /// Release the slot and relay the worker's `canceled` confirm to the client.
    ReleaseAndConfirmCanceled,
    /// Release the slot and relay the worker's `cancelNotFound` confirm to the client.
    ReleaseAndConfirmNotFound,
    /// The cancel failed (the task is executing): it keeps running where it is, unless another cancel
    /// of this task is still outstanding.
    CancelFailed,
    /// Release the slot (if any) and place the task again: a worker, else the tail of the queue.
    Redispatch,
    /// The holder died while a client cancel was pending: the task is gone, confirm `canceled`.
    ConfirmCanceledOnDeath,
}

impl Action {
    /// The event whose data the action reads, if it reads any: the table may pair the action only with
    /// that event (checked for every cell by a unit test).
    pub fn reads(self) -> Option<EventKind> {
        match self {
            Action::Dispatch => Some(EventKind::HasCapacity),
            Action::DeliverResult => Some(EventKind::TaskResultReceived),
            _ => None,
        }
    }
}

/// Where an accepted transition may lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    To(TaskState),
    /// Decided by the result type (success / failed / failedWorkerDied).
    ByResult,
    /// `running` if a worker took it, else `inactive` (queued).
    ByPlacement,
    /// `canceling` while another cancel is outstanding, else `running`.
    ByOutstandingCancels,
}

impl Target {
    /// Every state this target allows, in `TaskState` order.
    pub fn states(self) -> &'static [TaskState] {
        use TaskState as S;
        match self {
            Target::To(S::Inactive) => &[S::Inactive],
            Target::To(S::Running) => &[S::Running],
            Target::To(S::Canceling) => &[S::Canceling],
            Target::To(S::BalanceCanceling) => &[S::BalanceCanceling],
            Target::To(S::Success) => &[S::Success],
            Target::To(S::Failed) => &[S::Failed],
            Target::To(S::FailedWorkerDied) => &[S::FailedWorkerDied],
            Target::To(S::Canceled) => &[S::Canceled],
            Target::To(S::CanceledNotFound) => &[S::CanceledNotFound],
            Target::ByResult => &[S::Success, S::Failed, S::FailedWorkerDied],
            Target::ByPlacement => &[S::Inactive, S::Running],
            Target::ByOutstandingCancels => &[S::Running, S::Canceling],
        }
    }

    pub fn admits(self, s: TaskState) -> bool {
        self.states().contains(&s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub action: Action,
    pub target: Target,
}

const fn t(action: Action, target: Target) -> Option<Transition> {
    Some(Transition { action, target })
}

use Action as A;
use Target as T;
use TaskState as S;

/// Rows: `TaskState` order (terminal states refuse everything: their machines are deleted). Columns:
/// `EventKind` order. `None` = refused (the event is counted and dropped with no other effect).
#[rustfmt::skip]
const TABLE: [[Option<Transition>; EventKind::COUNT]; TaskState::COUNT] = [
    // HasCapacity, TaskCancelRequested, BalanceCancelRequested, TaskResultReceived, CancelConfirmCanceled, CancelConfirmFailed, CancelConfirmNotFound, WorkerDisconnected
    /* inactive */ [t(A::Dispatch, T::To(S::Running)), t(A::CancelQueued, T::To(S::Canceled)), None, None, None, None, None, None],
    /* running */ [None, t(A::ForwardCancel, T::To(S::Canceling)), t(A::BalanceCancel, T::To(S::BalanceCanceling)), t(A::DeliverResult, T::ByResult), None, None, None, t(A::Redispatch, T::ByPlacement)],
    /* canceling */ [None, None, None, None, t(A::ReleaseAndConfirmCanceled, T::To(S::Canceled)), t(A::CancelFailed, T::ByOutstandingCancels), t(A::ReleaseAndConfirmNotFound, T::To(S::CanceledNotFound)), t(A::ConfirmCanceledOnDeath, T::To(S::Canceled))],
    /* balanceCanceling */ [None, t(A::ForwardCancelDuringBalance, T::To(S::Canceling)), None, t(A::DeliverResult, T::ByResult), t(A::Redispatch, T::ByPlacement), t(A::CancelFailed, T::To(S::Running)), t(A::Redispatch, T::ByPlacement), t(A::Redispatch, T::ByPlacement)],
    /* success */ [None; EventKind::COUNT],
    /* failed */ [None; EventKind::COUNT],
    /* failedWorkerDied */ [None; EventKind::COUNT],
    /* canceled */ [None; EventKind::COUNT],
    /* canceledNotFound */ [None; EventKind::COUNT],
];

/// Looks up the transition for `event` in `state`; `None` means the event is refused.
#[inline]
pub fn transition(state: TaskState, event: EventKind) -> Option<Transition> {
    TABLE[state as usize][event as usize]
}

/// Cells where scaler-rs deliberately differs from 2.9.0's `VanillaTaskController` actions, and why.
/// `targets` = the set of states the cell can lead to differs (checked both ways against
/// `tests/data/task_fsm_2_9_0.txt`: every differing cell is listed here, and only those);
/// `action` = same targets, different side effects (2.9.0's side effects are not printed, so these are
/// reviewed by reading).
pub const DIFFERS_FROM_2_9_0: &[(TaskState, EventKind, Difference, &str)] = &[
    (
        S::Running,
        EventKind::TaskCancelRequested,
        Difference::Targets,
        "a running task always has a holder here (a worker's removal re-places its tasks in the same \
         step), so 2.9.0's `canceledNotFound` branch for a task no worker holds cannot occur",
    ),
    (
        S::Running,
        EventKind::BalanceCancelRequested,
        Difference::Targets,
        "balance advice is computed from the worker table and acted on in the same step, so 2.9.0's \
         refusal of advice for a task no worker holds any more cannot occur",
    ),
    (
        S::Canceling,
        EventKind::CancelConfirmFailed,
        Difference::Targets,
        "a client cancel that arrived during a balance cancel was forwarded too, so two confirms are \
         outstanding; the first `cancelFailed` keeps `canceling` until the second one answers",
    ),
    (
        S::BalanceCanceling,
        EventKind::TaskCancelRequested,
        Difference::Action,
        "2.9.0 sends nothing and lets the balance cancel's confirm complete the client cancel; a \
         balance cancel is not forced, so scaler-rs forwards the client's (forced) cancel as well, \
         and a task that is executing is still canceled",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    Targets,
    Action,
}

/// One line per (state, event) cell: `state event action -> targets`, or `refused`, with the reason of
/// any deliberate difference from 2.9.0. `tests/data/task_fsm.golden` is this text.
pub fn listing() -> String {
    let mut o = String::new();
    o.push_str(
        "# scaler-rs task state machine: every (state, event) cell of src/core/task.rs TABLE.\n",
    );
    o.push_str("# Regenerate: UPDATE_GOLDEN=1 cargo test --test task_fsm\n");
    o.push_str("# state event action -> targets | refused; `differs(...)` marks a deliberate difference from 2.9.0\n");
    for s in TaskState::ALL {
        for e in EventKind::ALL {
            let cell = match transition(s, e) {
                Some(tr) => {
                    let targets: Vec<&str> = tr.target.states().iter().map(|s| s.name()).collect();
                    format!("{:?} -> {}", tr.action, targets.join(","))
                }
                None => "refused".to_string(),
            };
            o.push_str(&format!("{} {} {cell}\n", s.name(), e.name()));
            for (_, _, kind, why) in DIFFERS_FROM_2_9_0
                .iter()
                .filter(|(ds, de, _, _)| *ds == s && *de == e)
            {
                let kind = match kind {
                    Difference::Targets => "targets",
                    Difference::Action => "action",
                };
                o.push_str(&format!("    differs({kind}): {why}\n"));
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_accept_nothing() {
        for s in TaskState::ALL.iter().filter(|s| s.is_terminal()) {
            for e in EventKind::ALL {
                assert_eq!(transition(*s, e), None, "{s:?} {e:?}");
            }
        }
    }

    #[test]
    fn results_are_refused_while_canceling_and_accepted_while_balancing() {
        assert_eq!(
            transition(S::Canceling, EventKind::TaskResultReceived),
            None
        );
        assert_eq!(
            transition(S::BalanceCanceling, EventKind::TaskResultReceived)
                .unwrap()
                .action,
            A::DeliverResult
        );
        assert_eq!(transition(S::Inactive, EventKind::TaskResultReceived), None);
    }

    #[test]
    fn worker_death_never_fails_a_task() {
        for s in [S::Running, S::BalanceCanceling] {
            assert_eq!(
                transition(s, EventKind::WorkerDisconnected).unwrap().target,
                T::ByPlacement
            );
        }
        assert_eq!(
            transition(S::Canceling, EventKind::WorkerDisconnected)
                .unwrap()
                .target,
            T::To(S::Canceled)
        );
        assert_eq!(transition(S::Inactive, EventKind::WorkerDisconnected), None);
    }

    #[test]
    fn only_queued_tasks_take_capacity() {
        for s in TaskState::ALL {
            assert_eq!(
                transition(s, EventKind::HasCapacity).is_some(),
                s == S::Inactive
            );
        }
    }

    #[test]
    fn every_accepted_transition_leads_somewhere_valid() {
        let mut accepted = 0;
        for s in TaskState::ALL {
            for e in EventKind::ALL {
                if let Some(tr) = transition(s, e) {
                    accepted += 1;
                    if let T::To(to) = tr.target {
                        assert_ne!(
                            to,
                            S::Inactive,
                            "only placement can send a task back to the queue"
                        );
                    }
                }
            }
        }
        assert_eq!(accepted, 16);
    }

    #[test]
    fn actions_that_read_event_data_sit_only_in_that_event_column() {
        for s in TaskState::ALL {
            for e in EventKind::ALL {
                if let Some(tr) = transition(s, e) {
                    if let Some(reads) = tr.action.reads() {
                        assert_eq!(reads, e, "{s:?} {e:?}: {:?}", tr.action);
                    }
                }
            }
        }
    }

    #[test]
    fn event_kinds_index_their_own_column() {
        for (i, e) in EventKind::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
        for (i, s) in TaskState::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
