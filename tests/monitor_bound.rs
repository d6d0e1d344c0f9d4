//! The monitor feed stays bounded: StateScheduler with thousands of workers is bounded by
//! `--monitor-worker-limit`, with one aggregate row whose sums are those of the workers it stands for
//! (and what it costs to build); a monitor that does not read misses frames past
//! `--monitor-queue-bytes` instead of growing the scheduler's memory or being closed.
mod common;
use bytes::Bytes;
use scaler_rs::core::{Config, Scheduler};
use scaler_rs::schema::message_capnp::message;
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::*;
use std::time::Instant;

fn config() -> Config {
    Config::new(StorageAddress {
        host: "127.0.0.1".into(),
        port: 1,
        scheme: "tcp".into(),
    })
}

fn feed(s: &mut Scheduler, now: Instant, from: &Bytes, frame: Bytes) {
    let mut out = Vec::new();
    s.handle(now, from, decode(&frame).unwrap(), &frame, &mut out);
}

/// `n` workers (ids in join order `Worker|host-H|I|...`), spread over two registered worker managers
/// and ten workers per host, each with two processors and varied figures; then `tasks` tasks so that
/// some workers hold some.
fn fleet(c: Config, n: usize, tasks: usize) -> (Scheduler, Instant) {
    let now = Instant::now();
    let mut s = Scheduler::new(c, now);
    for m in ["wm-a", "wm-b"] {
        let id = Bytes::from(format!("WorkerManager|{m}"));
        feed(
            &mut s,
            now,
            &id,
            enc::worker_manager_heartbeat(&WorkerManagerHeartbeat {
                max_task_concurrency: 100_000,
                capabilities: vec![],
                worker_manager_id: Bytes::from(m),
            }),
        );
    }
    for i in 0..n {
        let id = Bytes::from(format!(
            "Worker|host-{}|{i}|0123456789abcdef0123456789abcdef",
            i / 10
        ));
        let processors = (0..2)
            .map(|p| ProcessorStatus {
                pid: (i * 2 + p) as u32,
                initialized: true,
                has_task: p == 0,
                suspended: i % 50 == 0 && p == 1,
                resource: Resource {
                    cpu: (i % 3) as u16,
                    rss: 50_000_000 + i as u64,
                },
                current_task_id: if p == 0 {
                    Bytes::from(vec![i as u8; 32])
                } else {
                    Bytes::new()
                },
                task_age_seconds: i as u32 % 60,
            })
            .collect();
        let hb = WorkerHeartbeat {
            agent: Resource {
                cpu: (i % 7) as u16,
                rss: 20_000_000 + i as u64,
            },
            rss_free: 8_000_000_000 + (i / 10) as u64,
            queue_size: 1 + (i % 5) as u32,
            queued_tasks: (i % 3) as u32,
            latency_us: (i % 997) as u32,
            task_lock: false,
            processors,
            capabilities: vec![],
            worker_manager_id: Bytes::from(if i % 2 == 0 { "wm-a" } else { "wm-b" }),
            mem_limit: 16_000_000_000 + (i / 10) as u64,
            hostname: format!("host-{}", i / 10),
            net_sent_bytes: 1_000_000 * (i / 10) as u64,
            net_recv_bytes: 2_000_000 * (i / 10) as u64,
        };
        feed(&mut s, now, &id, enc::worker_heartbeat(&hb));
    }
    let client = Bytes::from_static(b"Client|monitor-bound");
    feed(
        &mut s,
        now,
        &client,
        enc::client_heartbeat(&ClientHeartbeat::default()),
    );
    for t in 0..tasks {
        let mut task_id = [0u8; 16];
        task_id[..8].copy_from_slice(&(t as u64).to_le_bytes());
        let task = Task {
            task_id: Bytes::copy_from_slice(&task_id),
            source: client.clone(),
            metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
            func_object_id: Bytes::from(vec![1u8; 32]),
            args: vec![].into(),
            capabilities: vec![],
        };
        let frame = Bytes::from(enc::task(&task).to_vec());
        feed(&mut s, now, &client, frame);
    }
    (s, now)
}

/// One WorkerStatus row as `scaler_top` and the GUI read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Row {
    id: String,
    agent_cpu: u64,
    agent_rss: u64,
    processor_cpu: u64,
    processor_rss: u64,
    processors: usize,
    free: u64,
    sent: u64,
    queued: u64,
    suspended: u64,
    lag_us: u64,
    last_seen: u64,
    rss_free: u64,
    mem_limit: u64,
    net_sent: u64,
    net_recv: u64,
    hostname: String,
}

struct Status {
    rows: Vec<Row>,
    /// (manager id, worker ids as sent: empty for the unnamed entries).
    managed: Vec<(String, Vec<String>)>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn read(frame: &[u8]) -> Status {
    let mut slice = frame;
    let r = capnp::serialize::read_message_from_flat_slice(&mut slice, Default::default()).unwrap();
    let m: message::Reader = r.get_root().unwrap();
    let message::Which::StateScheduler(Ok(st)) = m.which().unwrap() else {
        panic!("not a StateScheduler")
    };
    let mut rows = Vec::new();
    for w in st.get_worker_manager().unwrap().get_workers().unwrap() {
        let a = w.get_agent().unwrap();
        let ps = w.get_processor_statuses().unwrap();
        rows.push(Row {
            id: text(w.get_worker_id().unwrap()),
            agent_cpu: a.get_cpu() as u64,
            agent_rss: a.get_rss(),
            processor_cpu: ps
                .iter()
                .map(|p| p.get_resource().unwrap().get_cpu() as u64)
                .sum(),
            processor_rss: ps.iter().map(|p| p.get_resource().unwrap().get_rss()).sum(),
            processors: ps.len() as usize,
            free: w.get_free() as u64,
            sent: w.get_sent() as u64,
            queued: w.get_queued() as u64,
            suspended: w.get_suspended() as u64,
            lag_us: w.get_lag_microseconds(),
            last_seen: w.get_last_seen_seconds() as u64,
            rss_free: w.get_rss_free(),
            mem_limit: w.get_mem_limit(),
            net_sent: w.get_net_sent_bytes(),
            net_recv: w.get_net_recv_bytes(),
            hostname: w.get_hostname().unwrap().to_str().unwrap().to_string(),
        });
    }
    let managed = st
        .get_scaling_manager()
        .unwrap()
        .get_managed_workers()
        .unwrap()
        .iter()
        .map(|p| {
            (
                text(p.get_worker_manager_i_d().unwrap()),
                p.get_worker_i_ds()
                    .unwrap()
                    .iter()
                    .map(|w| text(w.unwrap()))
                    .collect(),
            )
        })
        .collect();
    Status { rows, managed }
}

/// The aggregate row the omitted `rows` should produce: per-worker figures summed, lag and last seen
/// the largest, host-wide figures once per hostname (the largest) and summed over hosts.
fn expected_aggregate(rows: &[&Row]) -> Row {
    let mut a = Row {
        id: format!("+{} more workers", rows.len()),
        processors: 1,
        ..Row::default()
    };
    let mut hosts: std::collections::HashMap<&str, [u64; 4]> = Default::default();
    for r in rows {
        a.agent_cpu += r.agent_cpu;
        a.agent_rss += r.agent_rss;
        a.processor_cpu += r.processor_cpu;
        a.processor_rss += r.processor_rss;
        a.free += r.free;
        a.sent += r.sent;
        a.queued += r.queued;
        a.suspended += r.suspended;
        a.lag_us = a.lag_us.max(r.lag_us);
        a.last_seen = a.last_seen.max(r.last_seen);
        let h = hosts.entry(&r.hostname).or_default();
        for (slot, v) in h
            .iter_mut()
            .zip([r.rss_free, r.mem_limit, r.net_sent, r.net_recv])
        {
            *slot = (*slot).max(v);
        }
    }
    for [f, m, s, r] in hosts.into_values() {
        a.rss_free += f;
        a.mem_limit += m;
        a.net_sent += s;
        a.net_recv += r;
    }
    // The row's CPU fields are UInt16 and suspended UInt8: sums beyond saturate.
    a.agent_cpu = a.agent_cpu.min(u16::MAX as u64);
    a.processor_cpu = a.processor_cpu.min(u16::MAX as u64);
    a.suspended = a.suspended.min(u8::MAX as u64);
    a
}

/// Per-row bytes of the test fleet (two processors, a 32-byte task id, a 50-byte worker id): ~430.
const ROW_BYTES: usize = 512;

#[test]
fn ten_thousand_workers_are_listed_up_to_the_limit_plus_one_aggregate_row() {
    const N: usize = 10_000;
    const LIMIT: usize = 1000;
    let (mut s, now) = fleet(config(), N, 3_000);
    s.config.monitor_worker_limit = 0;
    let full_frame = s.state_scheduler(now);
    let full = read(&full_frame);
    assert_eq!(full.rows.len(), N, "limit 0 lists every worker");
    assert!(
        full.rows.iter().any(|r| r.sent > 0),
        "some workers hold tasks"
    );

    s.config.monitor_worker_limit = LIMIT;
    let frame = s.state_scheduler(now);
    let bounded = read(&frame);
    // Bounded by the limit: LIMIT rows and the aggregate, plus 8 bytes per worker for the unnamed
    // managedWorkers entries that keep the GUI's per-manager counts right.
    let bound = ROW_BYTES * (LIMIT + 1) + 8 * N + 8192;
    assert!(
        frame.len() <= bound,
        "{} bytes > bound {bound} (unbounded: {})",
        frame.len(),
        full_frame.len()
    );
    assert_eq!(bounded.rows.len(), LIMIT + 1);
    // The first LIMIT workers to join, exactly as they appear unbounded.
    assert_eq!(&bounded.rows[..LIMIT], &full.rows[..LIMIT]);
    let omitted: Vec<&Row> = full.rows[LIMIT..].iter().collect();
    let agg = &bounded.rows[LIMIT];
    assert_eq!(agg.id, "+9000 more workers");
    assert_eq!(agg, &expected_aggregate(&omitted));
    // The test fleet's sums stay within the fields (nothing saturated, so the sums are exact).
    assert!(agg.sent > 0 && agg.queued > 0 && agg.processor_cpu > 0);
    assert!(agg.suspended > 0 && agg.suspended < 255 && agg.processor_cpu < 65535);

    // Managers: as many entries as workers (the GUI's counts), names only for the listed workers.
    assert_eq!(bounded.managed.len(), 2);
    let listed: std::collections::HashSet<&str> = bounded.rows[..LIMIT]
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    for ((m, ids), (fm, full_ids)) in bounded.managed.iter().zip(&full.managed) {
        assert_eq!(m, fm);
        assert_eq!(ids.len(), N / 2, "{m} keeps its worker count");
        assert_eq!(ids.len(), full_ids.len());
        let named: Vec<&String> = ids.iter().filter(|w| !w.is_empty()).collect();
        assert_eq!(named.len(), LIMIT / 2);
        assert!(named.iter().all(|w| listed.contains(w.as_str())));
    }

    // Twice the workers: 8 bytes more per worker, nothing else.
    let (mut s2, now2) = fleet(config(), 2 * N, 3_000);
    s2.config.monitor_worker_limit = LIMIT;
    let frame2 = s2.state_scheduler(now2);
    assert!(
        frame2.len() - frame.len() <= 8 * N + 64,
        "{} -> {} bytes",
        frame.len(),
        frame2.len()
    );
}

#[test]
fn the_listed_set_is_stable_and_small_fleets_are_unchanged() {
    let (mut s, now) = fleet(config(), 30, 0);
    s.config.monitor_worker_limit = 0;
    let all = s.state_scheduler(now);
    s.config.monitor_worker_limit = 30;
    assert_eq!(
        s.state_scheduler(now),
        all,
        "at the limit: every worker, no aggregate"
    );
    s.config.monitor_worker_limit = 10;
    let before = read(&s.state_scheduler(now));
    assert_eq!(before.rows[10].id, "+20 more workers");
    // The first worker leaves: the eleventh to join moves up, the other nine stay.
    let first = Bytes::from(before.rows[0].id.clone());
    feed(&mut s, now, &first, enc::worker_disconnect_notification());
    let after = read(&s.state_scheduler(now));
    let ids = |st: &Status| st.rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let mut expected = ids(&before)[1..10].to_vec();
    expected.push(read(&all).rows[10].id.clone());
    expected.push("+19 more workers".into());
    assert_eq!(ids(&after), expected);
}

/// Prints StateScheduler's size and build time for 10k workers, unbounded and with the default limit:
/// `cargo test --release --test monitor_bound -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_state_scheduler_10k_workers() {
    let (mut s, now) = fleet(config(), 10_000, 3_000);
    for limit in [0, 1000] {
        s.config.monitor_worker_limit = limit;
        let runs = 20;
        let started = Instant::now();
        let mut len = 0;
        for _ in 0..runs {
            len = s.state_scheduler(now).len();
        }
        let per = started.elapsed() / runs;
        println!(
            "StateScheduler, 10000 workers, --monitor-worker-limit {limit}: {len} bytes, built in {per:?} (mean of {runs})"
        );
    }
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    t.read_to_string(&mut text).unwrap();
    text
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn a_monitor_that_never_reads_misses_frames_and_stays_connected() {
    use std::io::{Read, Write};
    let metrics_port = common::free_ports();
    let mut s = common::Scheduler::start(&[
        "--monitor-queue-bytes",
        "65536",
        // Were monitors still closed as not reading, this would close the deaf one below.
        "--max-queued-bytes",
        "262144",
        "--metrics-address",
        &format!("tcp://127.0.0.1:{metrics_port}"),
    ]);
    // A monitor with a tiny receive buffer that handshakes and then never reads.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let monitor_addr: std::net::SocketAddr = ([127, 0, 0, 1], s.port + 2).into();
    sock.connect(&monitor_addr.into()).unwrap();
    let mut deaf: std::net::TcpStream = sock.into();
    let mut hello = scaler_rs::wire::frame::MAGIC.to_vec();
    hello.extend_from_slice(&12u64.to_le_bytes());
    hello.extend_from_slice(b"Monitor|deaf");
    deaf.write_all(&hello).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));

    // Every task makes several StateTask frames: tens of MB for the monitor, far past its limit.
    let bench = std::process::Command::new(env!("CARGO_BIN_EXE_scaler-rs-bench"))
        .args([
            "--scheduler",
            &format!("tcp://127.0.0.1:{}", s.port),
            "--tasks",
            "60000",
            "--workers",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let text = scrape(metrics_port);
    let dropped = metric(&text, "scaler_monitor_frames_dropped_total");
    assert!(dropped > 0.0, "{text}");
    assert_eq!(
        metric(
            &text,
            "scaler_connections_closed_total{reason=\"not_reading\"}"
        ),
        0.0
    );
    assert!(s.alive());
    // Still connected: it reads the frames that were queued (a closed connection would end in EOF).
    deaf.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    while got < 64 * 1024 {
        match deaf.read(&mut buf) {
            Ok(0) => panic!("the scheduler closed the slow monitor"),
            Ok(n) => got += n,
            Err(e) => panic!("monitor read: {e}"),
        }
    }
    println!("dropped {dropped} monitor frames; the monitor then read {got} bytes");
    assert_eq!(s.terminate(), Some(0));
}

/// The scheduler samples its own CPU and memory only while a monitor listens (the samples cost ~20
/// system calls a second, and nothing else reads them); a monitor must still see real figures, the CPU
/// figure included (it is 0 in the first sample after a monitor connects, then the load since).
#[test]
fn a_monitor_sees_the_schedulers_own_cpu_and_memory() {
    let s = common::Scheduler::start(&[]);
    let monitor_addr: std::net::SocketAddr = ([127, 0, 0, 1], s.port + 2).into();
    let mut m = scaler_rs::tools::peer::Peer::connect(monitor_addr, b"Monitor|rss").unwrap();
    // Load while the monitor listens, so that the scheduler has CPU time to report.
    let mut bench = std::process::Command::new(env!("CARGO_BIN_EXE_scaler-rs-bench"))
        .args(["--scheduler", &format!("tcp://127.0.0.1:{}", s.port)])
        .args(["--tasks", "1000000", "--workers", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (mut statuses, mut cpu, mut rss, mut free) = (0, 0, 0, 0);
    while std::time::Instant::now() < deadline && (cpu == 0 || rss == 0 || free == 0) {
        let Some(frame) = m.recv().unwrap() else {
            continue;
        };
        let mut slice = &frame[..];
        let r =
            capnp::serialize::read_message_from_flat_slice(&mut slice, Default::default()).unwrap();
        let msg: message::Reader = r.get_root().unwrap();
        if let message::Which::StateScheduler(Ok(st)) = msg.which().unwrap() {
            statuses += 1;
            let own = st.get_scheduler().unwrap();
            (cpu, rss, free) = (own.get_cpu(), own.get_rss(), st.get_rss_free());
        }
    }
    let _ = bench.kill();
    let _ = bench.wait();
    assert!(
        cpu > 0 && rss > 1_000_000 && free > 0,
        "{statuses} StateScheduler frames, the last with cpu {cpu}, rss {rss}, rss_free {free}"
    );
    println!(
        "{statuses} StateScheduler frames until cpu {cpu} permille, rss {rss}, rss_free {free}"
    );
}
