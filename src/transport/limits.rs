//! Resource limits of the I/O shell; every one is a command-line flag (see `--help` and the README's
//! limits table) except the parking limits, which are fixed.
use super::binder::BinderLimits;
use super::conn::Role;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest payload accepted from a scheduler peer (main and monitor addresses).
    pub max_frame: u64,
    /// Largest payload accepted by the embedded object storage server.
    pub max_storage_frame: u64,
    /// Largest payload accepted from an external object storage server. The scheduler only ever
    /// receives reply headers and the 48-byte infoGetTotal payload on that link, so this is small.
    pub max_storage_link_frame: u64,
    /// A peer whose unsent output exceeds this is not reading: it is closed (monitors excepted).
    pub max_queued_bytes: usize,
    /// A monitor whose unsent output exceeds this skips monitor frames until it catches up (the high-water
    /// mark of a publisher): monitors are never closed for being slow.
    pub monitor_queue_bytes: usize,
    /// Frames parked for one identity that is not connected.
    pub max_parked_bytes: usize,
    /// Frames parked for all identities together (a client can name any `source` in its tasks).
    pub max_parked_total_bytes: usize,
    pub max_connections: usize,
    /// Frames decoded from one connection per loop turn before others get a go.
    pub read_budget: usize,
    /// Address space the own mappings of large frames may reserve at once (`conn::large_frame`);
    /// 0 keeps every frame in its connection's growing buffer.
    pub large_frame_reserve: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let parking = BinderLimits::default();
        Limits {
            max_frame: 1 << 30,
            max_storage_frame: 4 << 30,
            max_storage_link_frame: 1 << 20,
            max_queued_bytes: 1 << 30,
            monitor_queue_bytes: 16 << 20,
            max_parked_bytes: parking.max_parked_bytes,
            max_parked_total_bytes: parking.max_parked_total_bytes,
            max_connections: 16384,
            read_budget: 256,
            large_frame_reserve: super::conn::LARGE_FRAME_RESERVE_DEFAULT,
        }
    }
}

impl Limits {
    /// The largest frame a connection of `role` may send us: every role has one.
    pub fn frame_limit(&self, role: Role) -> u64 {
        match role {
            Role::Storage => self.max_storage_frame,
            Role::StorageClient => self.max_storage_link_frame,
            Role::Main | Role::Monitor | Role::Metrics => self.max_frame,
        }
    }

    pub fn binder(&self) -> BinderLimits {
        BinderLimits {
            max_parked_bytes: self.max_parked_bytes,
            max_parked_total_bytes: self.max_parked_total_bytes,
            ..BinderLimits::default()
        }
    }
}
