//! Scheduler behaviour settings (what `scaler_scheduler`'s flags control), independent of any socket.
use crate::wire::encode::StorageAddress;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocate {
    EvenLoad,
    Capability,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scaling {
    No,
    Vanilla,
    Capability,
    /// waterfall_v1 rules: (priority, worker manager id, optional max task concurrency).
    Waterfall(Vec<(i64, String, Option<u32>)>),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Advertised to clients and workers in heartbeat echoes.
    pub storage_address: StorageAddress,
    pub protected: bool,
    pub client_timeout: Duration,
    pub worker_timeout: Duration,
    /// Worker managers are forgotten after this long without a heartbeat (fixed 10 s in 2.9.0).
    pub worker_manager_timeout: Duration,
    /// A worker whose connection closed without a disconnect notification is removed after this long
    /// unless it reconnects (a YMQ connector that aborts on its own side closes and reconnects).
    pub worker_lost_grace: Duration,
    /// `None` disables balancing.
    pub load_balance: Option<Duration>,
    pub load_balance_trigger_times: u32,
    pub status_interval: Duration,
    pub object_report_limit: usize,
    /// StateScheduler lists at most this many workers one by one (the first to join) and sums the
    /// rest in one aggregate row; 0 lists every worker, as Scaler 2.9.0 does.
    pub monitor_worker_limit: usize,
    /// -1 = unlimited; otherwise tasks beyond this many queued in the scheduler are refused.
    pub max_tasks_waiting: i64,
    pub allocate: Allocate,
    pub scaling: Scaling,
    /// Every random choice of the core (map hashing keys, generated object ids) derives from this, so a
    /// run can be replayed exactly. The binary sets it from the OS at start-up.
    pub seed: u64,
}

impl Config {
    pub fn new(storage_address: StorageAddress) -> Self {
        Config {
            storage_address,
            protected: false,
            client_timeout: Duration::from_secs(60),
            worker_timeout: Duration::from_secs(60),
            worker_manager_timeout: Duration::from_secs(10),
            worker_lost_grace: Duration::from_secs(3),
            load_balance: Some(Duration::from_secs(1)),
            load_balance_trigger_times: 2,
            status_interval: Duration::from_secs(1),
            object_report_limit: 500,
            monitor_worker_limit: 1000,
            max_tasks_waiting: -1,
            allocate: Allocate::EvenLoad,
            scaling: Scaling::Vanilla,
            seed: 0,
        }
    }
}
