//! Prometheus / OpenMetrics text exposition of the scheduler's state (`--metrics-address`).
//!
//! Rendered on demand from the core's tables and the transport's counters, so an unscraped endpoint
//! costs nothing on the hot path beyond a few counter increments.
use crate::core::task::{transition, EventKind, TaskState};
use crate::core::Scheduler;
use crate::wire::Kind;
use std::fmt::Write;

/// Why connections were closed, as counted by the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    BadMagic,
    TooLarge,
    InvalidMessage,
    NotReading,
    IoError,
    PeerClosed,
    Replaced,
    /// A WebSocket protocol error (bad Upgrade, bad frame) or the peer's close frame.
    WebSocket,
}

impl CloseReason {
    pub const ALL: [CloseReason; 8] = [
        CloseReason::BadMagic,
        CloseReason::TooLarge,
        CloseReason::InvalidMessage,
        CloseReason::NotReading,
        CloseReason::IoError,
        CloseReason::PeerClosed,
        CloseReason::Replaced,
        CloseReason::WebSocket,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CloseReason::BadMagic => "bad_magic",
            CloseReason::TooLarge => "frame_too_large",
            CloseReason::InvalidMessage => "invalid_message",
            CloseReason::NotReading => "not_reading",
            CloseReason::IoError => "io_error",
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Replaced => "replaced",
            CloseReason::WebSocket => "websocket",
        }
    }
}

/// Upper bounds (µs) of the loop-latency histogram buckets.
pub const LOOP_BUCKETS_US: [u64; 9] = [10, 50, 100, 250, 500, 1000, 5000, 10000, 100000];
/// Upper bounds (µs) of the processing-time histogram buckets (finer: a message takes microseconds).
pub const PROCESSING_BUCKETS_US: [u64; 9] = [1, 2, 5, 10, 20, 50, 100, 1000, 10000];

/// A latency histogram in µs with fixed bucket bounds (cumulative sums are made at render time).
#[derive(Debug, Clone)]
pub struct Histogram<const N: usize> {
    bounds: [u64; N],
    /// counts[i]: observations in (bounds[i-1], bounds[i]]; counts[N]: above the last bound.
    counts: Vec<u64>,
    pub sum_us: u64,
    pub count: u64,
}

impl<const N: usize> Histogram<N> {
    pub fn new(bounds: [u64; N]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; N + 1],
            sum_us: 0,
            count: 0,
        }
    }

    pub fn observe(&mut self, us: u64) {
        let i = self.bounds.iter().position(|b| us <= *b).unwrap_or(N);
        self.counts[i] += 1;
        self.sum_us += us;
        self.count += 1;
    }

    fn render(&self, o: &mut String, name: &str, help: &str) {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c;
            let _ = writeln!(o, "{name}_bucket{{le=\"{}\"}} {cum}", *b as f64 / 1e6);
        }
        cum += self.counts[N];
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(o, "{name}_sum {}", self.sum_us as f64 / 1e6);
        let _ = writeln!(o, "{name}_count {}", self.count);
    }
}

#[derive(Debug, Clone)]
pub struct TransportStats {
    pub closes: [u64; CloseReason::ALL.len()],
    pub connections_accepted: u64,
    /// Monitor frames not queued to a monitor whose unsent output was over `--monitor-queue-bytes`.
    pub monitor_frames_dropped: u64,
    pub open_connections: u64,
    /// Event-loop turns by duration (socket calls included).
    pub loop_hist: Histogram<9>,
    /// Decoding, handling and routing the frames of one read, by duration: what the scheduler adds to
    /// a message's way through it, beyond the socket calls any router makes.
    pub processing_hist: Histogram<9>,
}

impl Default for TransportStats {
    fn default() -> Self {
        TransportStats {
            closes: [0; CloseReason::ALL.len()],
            connections_accepted: 0,
            monitor_frames_dropped: 0,
            open_connections: 0,
            loop_hist: Histogram::new(LOOP_BUCKETS_US),
            processing_hist: Histogram::new(PROCESSING_BUCKETS_US),
        }
    }
}

impl TransportStats {
    pub fn closed(&mut self, r: CloseReason) {
        self.closes[r as usize] += 1;
    }

    pub fn loop_took(&mut self, us: u64) {
        self.loop_hist.observe(us);
    }

    pub fn processing_took(&mut self, us: u64) {
        self.processing_hist.observe(us);
    }
}

pub fn render(s: &Scheduler, t: &TransportStats) -> String {
    let mut o = String::with_capacity(8192);
    let counts = s.state_counts();
    let _ = writeln!(
        o,
        "# HELP scaler_tasks Live tasks by state (gauge for non-terminal states)."
    );
    let _ = writeln!(o, "# TYPE scaler_tasks gauge");
    for st in TaskState::ALL.iter().filter(|x| !x.is_terminal()) {
        let _ = writeln!(
            o,
            "scaler_tasks{{state=\"{}\"}} {}",
            st.name(),
            counts[*st as usize]
        );
    }
    let _ = writeln!(
        o,
        "# HELP scaler_tasks_finished Tasks that reached a terminal state."
    );
    let _ = writeln!(o, "# TYPE scaler_tasks_finished counter");
    for st in TaskState::ALL.iter().filter(|x| x.is_terminal()) {
        let _ = writeln!(
            o,
            "scaler_tasks_finished_total{{state=\"{}\"}} {}",
            st.name(),
            counts[*st as usize]
        );
    }
    let _ = writeln!(
        o,
        "# HELP scaler_task_transitions_refused Task events the state machine refused (dropped with no effect), by state and event.\n# TYPE scaler_task_transitions_refused counter"
    );
    // Every cell a live machine can refuse, zeros included, so the series exist before the first one.
    for st in TaskState::ALL.iter().filter(|x| !x.is_terminal()) {
        for e in EventKind::ALL
            .iter()
            .filter(|e| transition(*st, **e).is_none())
        {
            let _ = writeln!(
                o,
                "scaler_task_transitions_refused_total{{state=\"{}\",event=\"{}\"}} {}",
                st.name(),
                e.name(),
                s.counters.refused[*st as usize][*e as usize]
            );
        }
    }
    let gauges: [(&str, &str, u64); 6] = [
        (
            "scaler_queued_tasks",
            "Tasks waiting in the scheduler for a worker.",
            s.tasks.queued() as u64,
        ),
        (
            "scaler_workers",
            "Connected workers.",
            s.workers.len() as u64,
        ),
        (
            "scaler_worker_slots_used",
            "Tasks held by workers.",
            s.workers
                .slab
                .iter()
                .map(|(_, w)| w.assigned() as u64)
                .sum(),
        ),
        (
            "scaler_clients",
            "Registered clients.",
            s.clients.registered_len() as u64,
        ),
        (
            "scaler_objects",
            "Objects tracked by the scheduler.",
            s.objects.len() as u64,
        ),
        (
            "scaler_graphs",
            "Graph tasks in progress.",
            s.graphs.graphs.len() as u64,
        ),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    let _ = writeln!(
        o,
        "# HELP scaler_messages Messages by direction and type.\n# TYPE scaler_messages counter"
    );
    for k in Kind::ALL {
        let (r, x) = (s.counters.received[k as usize], s.counters.sent[k as usize]);
        if r > 0 {
            let _ = writeln!(
                o,
                "scaler_messages_total{{direction=\"in\",type=\"{}\"}} {r}",
                k.name()
            );
        }
        if x > 0 {
            let _ = writeln!(
                o,
                "scaler_messages_total{{direction=\"out\",type=\"{}\"}} {x}",
                k.name()
            );
        }
    }
    let _ = writeln!(o, "# HELP scaler_connections_closed Connections closed, by reason (frame errors included).\n# TYPE scaler_connections_closed counter");
    for r in CloseReason::ALL {
        let _ = writeln!(
            o,
            "scaler_connections_closed_total{{reason=\"{}\"}} {}",
            r.name(),
            t.closes[r as usize]
        );
    }
    let _ = writeln!(o, "# HELP scaler_monitor_frames_dropped Monitor frames skipped for a monitor over --monitor-queue-bytes of unsent output.\n# TYPE scaler_monitor_frames_dropped counter\nscaler_monitor_frames_dropped_total {}", t.monitor_frames_dropped);
    let _ = writeln!(o, "# HELP scaler_connections_open Open connections.\n# TYPE scaler_connections_open gauge\nscaler_connections_open {}", t.open_connections);
    t.loop_hist.render(
        &mut o,
        "scaler_loop_seconds",
        "Time spent processing one event-loop turn.",
    );
    t.processing_hist.render(
        &mut o,
        "scaler_processing_seconds",
        "Time spent on one socket read and on decoding, handling and routing its frames (writes excluded).",
    );
    o.push_str("# EOF\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Config;
    use crate::wire::encode::StorageAddress;

    #[test]
    fn renders_every_family_and_histogram_is_cumulative() {
        let s = Scheduler::new(
            Config::new(StorageAddress {
                host: "h".into(),
                port: 1,
                scheme: "tcp".into(),
            }),
            std::time::Instant::now(),
        );
        let mut t = TransportStats::default();
        t.loop_took(5);
        t.loop_took(70);
        t.loop_took(1_000_000);
        t.processing_took(0);
        t.processing_took(3);
        t.closed(CloseReason::BadMagic);
        t.monitor_frames_dropped = 4;
        let text = render(&s, &t);
        for needle in [
            "scaler_tasks{state=\"running\"} 0",
            "scaler_tasks_finished_total{state=\"success\"} 0",
            "scaler_queued_tasks 0",
            "scaler_connections_closed_total{reason=\"bad_magic\"} 1",
            "scaler_monitor_frames_dropped_total 4",
            "scaler_task_transitions_refused_total{state=\"running\",event=\"HasCapacity\"} 0",
            "scaler_task_transitions_refused_total{state=\"canceling\",event=\"TaskResultReceived\"} 0",
            "scaler_loop_seconds_bucket{le=\"0.00001\"} 1",
            "scaler_loop_seconds_bucket{le=\"0.0001\"} 2",
            "scaler_loop_seconds_bucket{le=\"+Inf\"} 3",
            "scaler_loop_seconds_count 3",
            "scaler_processing_seconds_bucket{le=\"0.000001\"} 1",
            "scaler_processing_seconds_bucket{le=\"0.000002\"} 1",
            "scaler_processing_seconds_bucket{le=\"0.000005\"} 2",
            "scaler_processing_seconds_count 2",
            "# EOF",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
