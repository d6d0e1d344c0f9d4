//! State of the periodic routines: their timers, the balancer's stability count, and the figures the
//! shell measures. The routines themselves are `scheduler::periodic` (docs/design.md, "Clients,
//! objects, graphs, balancing, scaling").
use super::task::{EventKind, TaskState};
use crate::schema::common_capnp;
use crate::wire::Kind;
use bytes::Bytes;
use std::time::{Duration, Instant};

pub const CLEANUP_PERIOD: Duration = Duration::from_secs(1);
pub const STORAGE_INFO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Timers {
    pub started: Instant,
    pub next_cleanup: Instant,
    pub next_balance: Instant,
    pub next_status: Instant,
}

impl Timers {
    pub fn new(now: Instant) -> Self {
        Timers {
            started: now,
            next_cleanup: now + CLEANUP_PERIOD,
            next_balance: now + CLEANUP_PERIOD,
            next_status: now,
        }
    }
}

#[derive(Debug, Default)]
pub struct BalanceState {
    pub previous: Vec<(Bytes, Vec<Bytes>)>,
    pub repeats: u32,
}

/// Figures the shell measures about the process and the object storage server.
#[derive(Debug, Default, Clone)]
pub struct ProcessStats {
    /// Process CPU in permille of one core since the last sample.
    pub cpu: u16,
    pub rss: u64,
    pub rss_free: u64,
    /// The six infoGetTotal counters of the object storage server.
    pub storage: [u64; 6],
    pub storage_info_sent: Option<Instant>,
}

/// (message class name, count) pairs.
pub type Counts = Vec<(&'static str, u64)>;

/// Counters that only grow (published as the terminal-state totals and binder counters).
#[derive(Debug, Default)]
pub struct Counters {
    pub terminal: [u64; TaskState::COUNT],
    /// Events the task table refused, by (state, event kind).
    pub refused: [[u64; EventKind::COUNT]; TaskState::COUNT],
    pub received: [u64; Kind::COUNT],
    pub sent: [u64; Kind::COUNT],
}

impl Counters {
    /// Tasks by state as the monitors show them: `live` (the non-terminal machines now, from the task
    /// table) plus the cumulative terminal totals.
    pub fn state_counts(&self, live: [u64; TaskState::COUNT]) -> [u64; TaskState::COUNT] {
        let mut c = self.terminal;
        for (c, live) in c.iter_mut().zip(live) {
            *c += live;
        }
        c
    }

    /// Messages received and sent, by class, for the classes seen at least once.
    pub fn binder_counts(&self) -> (Counts, Counts) {
        let pick = |a: &[u64; Kind::COUNT]| {
            Kind::ALL
                .iter()
                .filter(|k| a[**k as usize] > 0)
                .map(|k| (k.name(), a[*k as usize]))
                .collect()
        };
        (pick(&self.received), pick(&self.sent))
    }
}

pub fn task_state(s: TaskState) -> common_capnp::TaskState {
    use common_capnp::TaskState as C;
    match s {
        TaskState::Inactive => C::Inactive,
        TaskState::Running => C::Running,
        TaskState::Canceling => C::Canceling,
        TaskState::BalanceCanceling => C::BalanceCanceling,
        TaskState::Success => C::Success,
        TaskState::Failed => C::Failed,
        TaskState::FailedWorkerDied => C::FailedWorkerDied,
        TaskState::Canceled => C::Canceled,
        TaskState::CanceledNotFound => C::CanceledNotFound,
    }
}
