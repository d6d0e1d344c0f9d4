//! Stopping: the flag the signal handlers set, and the last flush before the process exits.
use super::server::Server;
use log::info;
use mio::Events;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM; the loop exits cleanly at its next turn.
pub static STOP: AtomicBool = AtomicBool::new(false);

pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Best effort: give queued frames (shutdown responses, worker shutdowns) up to a second to leave.
pub(super) fn drain_before_exit(server: &mut Server) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut events = Events::with_capacity(256);
    loop {
        server.dirty = server
            .conns
            .iter()
            .filter(|(_, c)| c.has_pending_writes())
            .map(|(k, _)| k)
            .collect();
        if server.dirty.is_empty() || Instant::now() >= deadline {
            break;
        }
        server.flush();
        let _ = server
            .poll
            .poll(&mut events, Some(Duration::from_millis(20)));
    }
    info!("scheduler stopped");
}
