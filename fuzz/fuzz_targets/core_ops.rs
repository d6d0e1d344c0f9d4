//! The sans-IO core driven by arbitrary sequences of messages, disconnects and time steps. After every
//! step the scheduler's own invariants are asserted (worker slots = held tasks, queue accounting, no
//! live task in a terminal state), and no plain task is ever answered with two results.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use scaler_rs::core::{Config, Output, Scheduler};
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn id(prefix: &str, n: u8) -> Bytes {
    Bytes::from(format!("{prefix}{n}"))
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut cfg = Config::new(StorageAddress {
        host: "127.0.0.1".into(),
        port: 1,
        scheme: "tcp".into(),
    });
    cfg.worker_timeout = Duration::from_secs(5);
    cfg.client_timeout = Duration::from_secs(5);
    let mut s = Scheduler::new(cfg, now);
    let mut results: HashMap<Bytes, u32> = HashMap::new();
    let mut next_task = 0u8;
    let mut it = data.chunks(3);
    while let Some(op) = it.next() {
        let (a, b, c) = (op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0));
        let worker = id("Worker|", b % 4);
        let client = id("Client|", b % 2);
        let task = id("t", c % next_task.max(1));
        let msg: Option<(Bytes, Bytes)> = match a % 14 {
            0 => Some((
                worker,
                enc::worker_heartbeat(&WorkerHeartbeat {
                    queue_size: 1 + (c % 4) as u32,
                    ..Default::default()
                }),
            )),
            1 => Some((client, enc::client_heartbeat(&ClientHeartbeat::default()))),
            2 => {
                next_task = next_task.wrapping_add(1);
                let t = Task {
                    task_id: id("t", next_task.wrapping_sub(1)),
                    source: client.clone(),
                    metadata: Bytes::new(),
                    func_object_id: Bytes::from(vec![1; 32]),
                    args: vec![].into(),
                    capabilities: vec![],
                };
                Some((client, enc::task(&t)))
            }
            3 => Some((client, enc::task_cancel(&task, c % 2 == 0))),
            4 => Some((
                worker,
                enc::task_result(
                    &task,
                    if c % 3 == 0 {
                        ResultType::Failed
                    } else {
                        ResultType::Success
                    },
                    b"",
                    &[Bytes::from(vec![c; 32])],
                ),
            )),
            5 => {
                let kind = [
                    CancelConfirmType::Canceled,
                    CancelConfirmType::CancelFailed,
                    CancelConfirmType::CancelNotFound,
                ][(c % 3) as usize];
                Some((worker, enc::task_cancel_confirm(&task, kind)))
            }
            6 => Some((worker, enc::worker_disconnect_notification())),
            7 => {
                s.peer_closed(now, &worker);
                None
            }
            8 => {
                now += Duration::from_millis(100 * c as u64);
                let mut out = Vec::new();
                while s.next_deadline() <= now {
                    s.tick(now, &mut out);
                }
                s.check_invariants();
                None
            }
            9 => {
                let n = 1 + c % 4;
                let graph = (0..n)
                    .map(|i| Task {
                        task_id: id(&format!("g{b}-"), i),
                        source: client.clone(),
                        metadata: Bytes::new(),
                        func_object_id: Bytes::from(vec![1; 32]),
                        args: (0..i)
                            .filter(|j| (c >> j) & 1 == 1)
                            .map(|j| TaskArg {
                                is_task: true,
                                data: id(&format!("g{b}-"), j),
                            })
                            .collect(),
                        capabilities: vec![],
                    })
                    .collect();
                Some((
                    client.clone(),
                    enc::graph_task(&GraphTask {
                        task_id: id("U", b),
                        source: client,
                        targets: vec![id(&format!("g{b}-"), n - 1)],
                        graph,
                    }),
                ))
            }
            10 => Some((client, enc::client_disconnect(c % 5 == 0))),
            11 => Some((
                client.clone(),
                enc::object_instruction(&ObjectInstruction {
                    kind: if c % 2 == 0 {
                        InstructionType::Create
                    } else {
                        InstructionType::Delete
                    },
                    object_user: client,
                    ids: vec![Bytes::from(vec![c; 32])].into(),
                    types: vec![1].into(),
                    names: vec![].into(),
                    sizes: vec![].into(),
                }),
            )),
            12 => Some((
                id("WM|", b % 2),
                enc::worker_manager_heartbeat(&WorkerManagerHeartbeat {
                    max_task_concurrency: c as u32,
                    capabilities: vec![],
                    worker_manager_id: id("wm", b % 2),
                }),
            )),
            _ => Some((worker, Bytes::copy_from_slice(op))),
        };
        if let Some((from, frame)) = msg {
            if let Ok(m) = decode(&frame) {
                let mut out = Vec::new();
                s.handle(now, &from, m, &frame, &mut out);
                for o in out {
                    if let Output::Send { to, frame } = o {
                        let m = decode(&frame).expect("the scheduler sends valid messages");
                        if let Message::TaskResult(r) = m {
                            if to.starts_with(b"Client|") && r.task_id.starts_with(b"t") {
                                let n = results.entry(r.task_id).or_default();
                                *n += 1;
                                assert!(*n <= 1, "a task was answered twice");
                            }
                        }
                    }
                }
                s.check_invariants();
            }
        }
    }
});
