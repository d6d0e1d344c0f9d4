//! Criterion benchmarks. Each answers one named question (the core groups time only the scheduler's
//! decode + handle of each input, not the harness making frames and reading outputs):
//! * `frame_decode`: how many ns does the pure YMQ frame decoder spend per frame?
//! * `message_decode/task`: how many ns to decode one Task payload (zero-copy)?
//! * `core_task_cycle/workers/{1,100,10000}`: ns of core CPU per task for submit -> dispatch -> result ->
//!   forward, as the number of workers grows with 10,000 tasks held in all (slots per worker =
//!   10,000 / workers), so only the worker count changes (should stay flat).
//! * `core_task_cycle_10_slots/workers/{1,100,10000}`: the same with 10 slots per worker, so the tasks
//!   held grow with the workers (10 -> 100,000): what a real 10k-worker cluster costs, working set
//!   included.
//! * `core_task_cycle_queued/{1,1000,100000,1000000}`: the same cycle with N tasks already waiting in the queue
//!   (should stay flat: queue operations are O(1)).
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scaler_rs::core::{Config, Output, Scheduler};
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::{decode, frame, ClientHeartbeat, ResultType, Task, WorkerHeartbeat};
use std::time::{Duration, Instant};

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

/// Tasks held by all workers together in the `core_task_cycle/workers` group.
const HELD: usize = 10_000;

struct Setup {
    s: Scheduler,
    client: Bytes,
    now: Instant,
}

/// `n_workers` workers of `slots` slots each, every slot filled (so each cycle frees one slot and
/// refills it from the scheduler queue), plus `queued` tasks waiting.
fn setup(n_workers: usize, slots: u32, queued: usize) -> Setup {
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
            queue_size: slots,
            ..Default::default()
        });
        s.handle(now, &id, decode(&hb).unwrap(), &hb, &mut out);
    }
    // Fill every worker slot and then the scheduler queue with `queued` waiting tasks.
    let fill = n_workers * slots as usize + queued;
    for i in 0..fill {
        let f = enc::task(&task(format!("fill{i:012}").as_bytes(), &client));
        s.handle(now, &client, decode(&f).unwrap(), &f, &mut out);
    }
    Setup { s, client, now }
}

/// One full cycle: the client submits a new task, and a worker returns a result for the task it has
/// held longest (freeing a slot, forwarding the result, dispatching the head of the queue). Returns the
/// time spent in the scheduler (decoding the two inputs and handling them); making the peers' frames
/// and reading the scheduler's outputs is the harness's work and is not counted.
fn cycle(
    st: &mut Setup,
    i: u64,
    out: &mut Vec<Output>,
    held: &mut std::collections::VecDeque<(Bytes, Bytes)>,
) -> Duration {
    let id = Bytes::from(format!("bench{i:011}"));
    let f = enc::task(&task(&id, &st.client));
    let t0 = Instant::now();
    st.s.handle(st.now, &st.client, decode(&f).unwrap(), &f, out);
    let mut spent = t0.elapsed();
    collect_dispatched(out, held);
    if let Some((w, t)) = held.pop_front() {
        let r = enc::task_result(&t, ResultType::Success, b"", &[Bytes::from(vec![3u8; 32])]);
        let t0 = Instant::now();
        st.s.handle(st.now, &w, decode(&r).unwrap(), &r, out);
        spent += t0.elapsed();
        collect_dispatched(out, held);
    }
    spent
}

/// Notes every task the scheduler dispatched: the workers will answer them in this order.
fn collect_dispatched(out: &mut Vec<Output>, held: &mut std::collections::VecDeque<(Bytes, Bytes)>) {
    for o in out.drain(..) {
        if let Output::Send { to, frame } = o {
            if let Ok(scaler_rs::wire::Message::Task(t)) = decode(&frame) {
                held.push_back((to, t.task_id));
            }
        }
    }
}

/// Measures `cycle` on a scheduler prepared by `setup(workers, slots, queued)`.
fn bench_cycle(b: &mut criterion::Bencher<'_>, workers: usize, slots: u32, queued: usize) {
    let mut st = setup(workers, slots, queued);
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
    b.iter_custom(|iters| {
        let mut spent = Duration::ZERO;
        for _ in 0..iters {
            i += 1;
            spent += cycle(&mut st, i, &mut out, &mut held);
        }
        spent
    })
}

fn bench_core(c: &mut Criterion) {
    let mut g = c.benchmark_group("core_task_cycle");
    g.sample_size(20);
    for n in [1usize, 100, 10_000] {
        g.bench_with_input(BenchmarkId::new("workers", n), &n, |b, &n| {
            bench_cycle(b, n, (HELD / n) as u32, 0)
        });
    }
    g.finish();
    let mut g = c.benchmark_group("core_task_cycle_10_slots");
    g.sample_size(20);
    for n in [1usize, 100, 10_000] {
        g.bench_with_input(BenchmarkId::new("workers", n), &n, |b, &n| {
            bench_cycle(b, n, 10, 0)
        });
    }
    g.finish();
    let mut g = c.benchmark_group("core_task_cycle_queued");
    g.sample_size(20);
    for q in [1usize, 1000, 100_000, 1_000_000] {
        g.bench_with_input(BenchmarkId::new("queued", q), &q, |b, &q| {
            bench_cycle(b, 1, 10, q)
        });
    }
    g.finish();
}

criterion_group!(benches, bench_frames, bench_core);
criterion_main!(benches);
