//! State of the periodic routines: their timers, the balancer's stability count, and the figures the
//! shell measures. The routines themselves are `scheduler::periodic` (docs/design.md, "Clients,
//! objects, graphs, balancing, scaling").
use super::task::TaskState;
use crate::schema::common_capnp;
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
