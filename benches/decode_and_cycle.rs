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
#[path = "support/cycle.rs"]
mod cycle;
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cycle::{cycle, held_tasks, setup, task};
use scaler_rs::wire::encode as enc;
use scaler_rs::wire::{decode, frame};
use std::time::Duration;

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

/// Measures `cycle` on a scheduler prepared by `setup(workers, slots, queued)`.
fn bench_cycle(b: &mut criterion::Bencher<'_>, workers: usize, slots: u32, queued: usize) {
    let mut st = setup(workers, slots, queued);
    let mut held = held_tasks(&st);
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
