//! The task state machine of Scaler 2.9.0 (SCHEDULER_SPEC.md §4) as one table keyed on (state, event).
//!
//! The table only names *what* happens; `Scheduler::apply` performs the action. Keeping the table as data
//! makes the reachable transitions reviewable at a glance and testable exhaustively.

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
    pub const ALL: [TaskState; 9] = [
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

    /// Row of the transition table; terminal states have no row (their machines are deleted).
    fn row(self) -> Option<usize> {
        (!self.is_terminal()).then_some(self as usize)
    }
}

/// Events, named as the Python event classes (published verbatim in `StateTask.event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    HasCapacity,
    TaskCancelRequested,
    BalanceCancelRequested,
    TaskResultReceived,
    CancelConfirmCanceled,
    CancelConfirmFailed,
    CancelConfirmNotFound,
    WorkerDisconnected,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Event::HasCapacity,
        Event::TaskCancelRequested,
        Event::BalanceCancelRequested,
        Event::TaskResultReceived,
        Event::CancelConfirmCanceled,
        Event::CancelConfirmFailed,
        Event::CancelConfirmNotFound,
        Event::WorkerDisconnected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::HasCapacity => "HasCapacity",
            Event::TaskCancelRequested => "TaskCancelRequested",
            Event::BalanceCancelRequested => "BalanceCancelRequested",
            Event::TaskResultReceived => "TaskResultReceived",
            Event::CancelConfirmCanceled => "CancelConfirmCanceled",
            Event::CancelConfirmFailed => "CancelConfirmFailed",
            Event::CancelConfirmNotFound => "CancelConfirmNotFound",
            Event::WorkerDisconnected => "WorkerDisconnected",
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
    /// Release the slot and relay the worker's confirm to the client.
    ReleaseAndConfirm,
    /// The cancel failed (the task is executing): it keeps running where it is, unless another cancel
    /// of this task is still outstanding.
    CancelFailed,
    /// Release the slot (if any) and place the task again: a worker, else the tail of the queue.
    Redispatch,
    /// The holder died while a client cancel was pending: the task is gone, confirm `canceled`.
    ConfirmCanceledOnDeath,
}

/// Where an accepted transition leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    To(TaskState),
    /// Decided by the result type (success / failed / failedWorkerDied).
    ByResult,
    /// Decided by the worker's confirm (canceled / canceledNotFound).
    ByConfirm,
    /// `running` if a worker took it, else `inactive` (queued).
    ByPlacement,
    /// `canceling` while another cancel is outstanding, else `running`.
    ByOutstandingCancels,
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

/// Rows: inactive, running, canceling, balanceCanceling. Columns: `Event::ALL` order. `None` = refused
/// (the event is dropped with no effect at all).
#[rustfmt::skip]
const TABLE: [[Option<Transition>; 8]; 4] = [
    // HasCapacity, TaskCancelRequested, BalanceCancelRequested, TaskResultReceived, CancelConfirmCanceled, CancelConfirmFailed, CancelConfirmNotFound, WorkerDisconnected
    /* inactive */ [t(A::Dispatch, T::To(S::Running)), t(A::CancelQueued, T::To(S::Canceled)), None, None, None, None, None, None],
    /* running */ [None, t(A::ForwardCancel, T::To(S::Canceling)), t(A::BalanceCancel, T::To(S::BalanceCanceling)), t(A::DeliverResult, T::ByResult), None, None, None, t(A::Redispatch, T::ByPlacement)],
    /* canceling */ [None, None, None, None, t(A::ReleaseAndConfirm, T::ByConfirm), t(A::CancelFailed, T::ByOutstandingCancels), t(A::ReleaseAndConfirm, T::ByConfirm), t(A::ConfirmCanceledOnDeath, T::To(S::Canceled))],
    /* balanceCanceling */ [None, t(A::ForwardCancelDuringBalance, T::To(S::Canceling)), None, t(A::DeliverResult, T::ByResult), t(A::Redispatch, T::ByPlacement), t(A::CancelFailed, T::To(S::Running)), t(A::Redispatch, T::ByPlacement), t(A::Redispatch, T::ByPlacement)],
];

/// Looks up the transition for `event` in `state`; `None` means the event is refused.
pub fn transition(state: TaskState, event: Event) -> Option<Transition> {
    let col = Event::ALL
        .iter()
        .position(|e| *e == event)
        .expect("every event has a column");
    TABLE[state.row()?][col]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_accept_nothing() {
        for s in TaskState::ALL.iter().filter(|s| s.is_terminal()) {
            for e in Event::ALL {
                assert_eq!(transition(*s, e), None, "{s:?} {e:?}");
            }
        }
    }

    #[test]
    fn results_are_refused_while_canceling_and_accepted_while_balancing() {
        assert_eq!(transition(S::Canceling, Event::TaskResultReceived), None);
        assert_eq!(
            transition(S::BalanceCanceling, Event::TaskResultReceived)
                .unwrap()
                .action,
            A::DeliverResult
        );
        assert_eq!(transition(S::Inactive, Event::TaskResultReceived), None);
    }

    #[test]
    fn worker_death_never_fails_a_task() {
        for s in [S::Running, S::BalanceCanceling] {
            assert_eq!(
                transition(s, Event::WorkerDisconnected).unwrap().target,
                T::ByPlacement
            );
        }
        assert_eq!(
            transition(S::Canceling, Event::WorkerDisconnected)
                .unwrap()
                .target,
            T::To(S::Canceled)
        );
        assert_eq!(transition(S::Inactive, Event::WorkerDisconnected), None);
    }

    #[test]
    fn only_queued_tasks_take_capacity() {
        for s in TaskState::ALL {
            assert_eq!(
                transition(s, Event::HasCapacity).is_some(),
                s == S::Inactive
            );
        }
    }

    #[test]
    fn every_accepted_transition_leads_somewhere_valid() {
        let mut accepted = 0;
        for s in TaskState::ALL {
            for e in Event::ALL {
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
}
