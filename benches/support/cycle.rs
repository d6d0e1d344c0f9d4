//! The core cycle the criterion benches and `examples/core_cycles.rs` (callgrind instruction counts)
//! both drive: a scheduler core with workers whose slots are all filled, fed one submit and one result
//! per cycle. Shared so the two measure exactly the same thing.
use bytes::Bytes;
use scaler_rs::core::{Config, Output, Scheduler};
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::{decode, ClientHeartbeat, ResultType, Task, WorkerHeartbeat};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub fn task(id: &[u8], client: &Bytes) -> Task {
    Task {
        task_id: Bytes::copy_from_slice(id),
        source: client.clone(),
        metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        func_object_id: Bytes::from(vec![1u8; 32]),
        args: vec![scaler_rs::wire::TaskArg {
            is_task: false,
            data: Bytes::from(vec![2u8; 32]),
        }]
        .into(),
        capabilities: vec![],
    }
}

pub struct Setup {
    pub s: Scheduler,
    client: Bytes,
    now: Instant,
}

/// `n_workers` workers of `slots` slots each, every slot filled (so each cycle frees one slot and
/// refills it from the scheduler queue), plus `queued` tasks waiting.
pub fn setup(n_workers: usize, slots: u32, queued: usize) -> Setup {
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
pub fn cycle(
    st: &mut Setup,
    i: u64,
    out: &mut Vec<Output>,
    held: &mut VecDeque<(Bytes, Bytes)>,
) -> Duration {
    let id = Bytes::from(format!("bench{i:011}"));
    let f = as_received(enc::task(&task(&id, &st.client)));
    let t0 = Instant::now();
    scheduler_step(&mut st.s, st.now, &st.client, &f, out);
    let mut spent = t0.elapsed();
    collect_dispatched(out, held);
    if let Some((w, t)) = held.pop_front() {
        let r = as_received(enc::task_result(
            &t,
            ResultType::Success,
            b"",
            &[Bytes::from(vec![3u8; 32])],
        ));
        let t0 = Instant::now();
        scheduler_step(&mut st.s, st.now, &w, &r, out);
        spent += t0.elapsed();
        collect_dispatched(out, held);
    }
    spent
}

/// The frame as the transport hands it over: a shared slice of a receive buffer (a `Bytes` made from a
/// `Vec` would allocate on its first clone, inside the measured section, which real frames never do).
fn as_received(frame: Bytes) -> Bytes {
    let mut buf = bytes::BytesMut::with_capacity(frame.len() + 8);
    buf.extend_from_slice(&frame);
    buf.split().freeze()
}

/// The scheduler's own work for one input: decode and handle. Not inlined, so callgrind can count
/// exactly this (`--toggle-collect='*scheduler_step*'`).
#[inline(never)]
pub fn scheduler_step(
    s: &mut Scheduler,
    now: Instant,
    from: &Bytes,
    frame: &Bytes,
    out: &mut Vec<Output>,
) {
    s.handle(now, from, decode(frame).unwrap(), frame, out);
}

/// Notes every task the scheduler dispatched: the workers will answer them in this order.
fn collect_dispatched(out: &mut Vec<Output>, held: &mut VecDeque<(Bytes, Bytes)>) {
    for o in out.drain(..) {
        if let Output::Send { to, frame } = o {
            if let Ok(scaler_rs::wire::Message::Task(t)) = decode(&frame) {
                held.push_back((to, t.task_id));
            }
        }
    }
}

/// (worker, task) for every task a worker holds: the results the driver will send back, oldest first.
pub fn held_tasks(st: &Setup) -> VecDeque<(Bytes, Bytes)> {
    st.s.tasks
        .iter()
        .filter_map(|(id, e)| {
            e.holder
                .map(|(k, _)| (st.s.workers.slab[k].id.clone(), id.clone()))
        })
        .collect()
}
