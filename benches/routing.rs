//! Criterion benchmarks. Each answers one named question:
//! * `frame_decode`: how many ns does the pure YMQ frame decoder spend per frame?
//! * `message_decode/task`: how many ns to decode one Task payload (zero-copy)?
//! * `core_task_cycle/{1,100,10000}_workers`: ns of core CPU per task for submit -> dispatch -> result ->
//!   forward, as the number of workers grows (should stay flat).
//! * `core_task_cycle_queued/{1,1000,100000,1000000}`: the same cycle with N tasks already waiting in the queue
//!   (should stay flat: queue operations are O(1)).
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scaler_rs::core::{Config, Output, Scheduler};
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::{decode, frame, ClientHeartbeat, ResultType, Task, WorkerHeartbeat};
use std::time::Instant;

fn frames(n: usize) -> Vec<u8> {
    let payload = enc::task(&task(
        b"0123456789abcdef",
        &Bytes::from_static(b"Client|bench"),
    ));
    let mut buf = Vec::new();
    for _ in 0..n {
        frame::encode_into(&payload, &mut buf);
    }
    buf
}

fn task(id: &[u8], client: &Bytes) -> Task {
    Task {
        task_id: Bytes::copy_from_slice(id),
        source: client.clone(),
        metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        func_object_id: Bytes::from(vec![1u8; 32]),
        args: vec![scaler_rs::wire::TaskArg {
            is_task: false,
            data: Bytes::from(vec![2u8; 32]),
        }],
        capabilities: vec![],
    }
}

fn bench_frames(c: &mut Criterion) {
    let buf = frames(1000);
    let mut g = c.benchmark_group("frame_decode");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000_frames", |b| {
        b.iter(|| {
            let mut off = 0;
            while off < buf.len() {
                match frame::decode(black_box(&buf[off..]), 1 << 30) {
                    Ok(frame::Decoded::Frame { consumed }) => off += consumed,
                    _ => unreachable!(),
                }
            }
        })
    });
    g.finish();
    let payload = enc::task(&task(
        b"0123456789abcdef",
        &Bytes::from_static(b"Client|bench"),
    ));
    c.bench_function("message_decode/task", |b| {
        b.iter(|| decode(black_box(&payload)).unwrap())
    });
}

/// Queue size of every benchmark worker: all slots are filled before measuring, so the cycle always
/// frees one slot and refills it from the scheduler queue.
const SLOTS: u32 = 10;

struct Setup {
    s: Scheduler,
    client: Bytes,
    now: Instant,
}

fn setup(n_workers: usize, queued: usize) -> Setup {
    let now = Instant::now();
    let mut cfg = Config::new(StorageAddress {
        host: "127.0.0.1".into(),
        port: 1,
        scheme: "tcp".into(),
    });
    cfg.load_balance = None;
    let mut s = Scheduler::new(cfg, now);
    let client = Bytes::from_static(b"Client|bench");
    let mut out = Vec::new();
    let hb = enc::client_heartbeat(&ClientHeartbeat::default());
    s.handle(now, &client, decode(&hb).unwrap(), &hb, &mut out);
    for i in 0..n_workers {
        let id = Bytes::from(format!("Worker|{i}"));
        let hb = enc::worker_heartbeat(&WorkerHeartbeat {
            queue_size: SLOTS,
            ..Default::default()
        });
        s.handle(now, &id, decode(&hb).unwrap(), &hb, &mut out);
    }
    // Fill every worker slot and then the scheduler queue with `queued` waiting tasks.
    let fill = n_workers * SLOTS as usize + queued;
    for i in 0..fill {
        let f = enc::task(&task(format!("fill{i:012}").as_bytes(), &client));
        s.handle(now, &client, decode(&f).unwrap(), &f, &mut out);
    }
    Setup { s, client, now }
}

/// One full cycle: a worker returns a result for a task it holds (freeing a slot, forwarding the result,
/// dispatching the head of the queue) and the client submits a new task.
fn cycle(
    st: &mut Setup,
    i: u64,
    out: &mut Vec<Output>,
    held: &mut std::collections::VecDeque<(Bytes, Bytes)>,
) {
    let id = Bytes::from(format!("bench{i:011}"));
    let f = enc::task(&task(&id, &st.client));
    st.s.handle(st.now, &st.client, decode(&f).unwrap(), &f, out);
    for o in out.drain(..) {
        if let Output::Send { to, frame } = o {
            if let Ok(scaler_rs::wire::Message::Task(t)) = decode(&frame) {
                held.push_back((to, t.task_id));
            }
        }
    }
    if let Some((w, t)) = held.pop_front() {
        let r = enc::task_result(&t, ResultType::Success, b"", &[Bytes::from(vec![3u8; 32])]);
        st.s.handle(st.now, &w, decode(&r).unwrap(), &r, out);
        for o in out.drain(..) {
            if let Output::Send { to, frame } = o {
                if let Ok(scaler_rs::wire::Message::Task(t)) = decode(&frame) {
                    held.push_back((to, t.task_id));
                }
            }
        }
    }
}

/// Measures `cycle` on a scheduler prepared by `setup(workers, queued)`.
fn bench_cycle(b: &mut criterion::Bencher<'_>, workers: usize, queued: usize) {
    let mut st = setup(workers, queued);
    // (worker, task) for every task a worker holds: the results the benchmark will send back.
    let mut held: std::collections::VecDeque<(Bytes, Bytes)> =
        st.s.tasks
            .iter()
            .filter_map(|(id, e)| {
                e.holder
                    .map(|(k, _)| (st.s.workers.slab[k].id.clone(), id.clone()))
            })
            .collect();
    let mut out = Vec::new();
    let mut i = 0u64;
    b.iter(|| {
        i += 1;
        cycle(&mut st, i, &mut out, &mut held);
    })
}

fn bench_core(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_task_cycle");
    g.sample_size(20);
    for n in [1usize, 100, 10_000] {
        g.bench_with_input(BenchmarkId::new("workers", n), &n, |b, &n| {
            bench_cycle(b, n, 0)
        });
    }
    g.finish();
    let mut g = c.benchmark_group("core_task_cycle_queued");
    g.sample_size(20);
    for q in [1usize, 1000, 100_000, 1_000_000] {
        g.bench_with_input(BenchmarkId::new("queued", q), &q, |b, &q| {
            bench_cycle(b, 1, q)
        });
    }
    g.finish();
}

criterion_group!(benches, bench_frames, bench_core);
criterion_main!(benches);
