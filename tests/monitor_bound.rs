//! StateScheduler with thousands of workers: what it costs to build and how large it is.
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
