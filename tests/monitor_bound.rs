//! The monitor feed stays bounded: a monitor that does not read misses frames past
//! `--monitor-queue-bytes` instead of growing the scheduler's memory or being closed; and what
//! StateScheduler costs to build with thousands of workers.
mod common;
use bytes::Bytes;
use scaler_rs::core::monitor_status::state_scheduler;
use scaler_rs::core::{Config, Scheduler};
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
                suspended: i % 13 == 0 && p == 1,
                resource: Resource {
                    cpu: (i % 1000) as u16,
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
            args: vec![],
            capabilities: vec![],
        };
        let frame = Bytes::from(enc::task(&task).to_vec());
        feed(&mut s, now, &client, frame);
    }
    (s, now)
}

/// Prints StateScheduler's size and build time for 10k workers:
/// `cargo test --release --test monitor_bound -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_state_scheduler_10k_workers() {
    let (s, now) = fleet(config(), 10_000, 3_000);
    let runs = 20;
    let started = Instant::now();
    let mut len = 0;
    for _ in 0..runs {
        len = state_scheduler(&s, now).len();
    }
    let per = started.elapsed() / runs;
    println!("StateScheduler, 10000 workers: {len} bytes, built in {per:?} (mean of {runs})");
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
