//! Deterministic simulation of the sans-IO core: virtual clients and workers, virtual time, kills and
//! disconnects. No sockets and no wall clock: every run with the same seed is identical (asserted on
//! the byte trace of every output). The core's invariants (`Scheduler::check_invariants`) are asserted
//! after every step the driver takes, in release as well as debug builds.
use bytes::Bytes;
use scaler_rs::core::{Allocate, Config, Output, Scheduler, StorageOp};
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::*;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn config() -> Config {
    let mut c = Config::new(StorageAddress {
        host: "127.0.0.1".into(),
        port: 1,
        scheme: "tcp".into(),
    });
    c.worker_timeout = Duration::from_secs(10);
    c.client_timeout = Duration::from_secs(10);
    c
}

struct Sim {
    s: Scheduler,
    now: Instant,
    /// Messages delivered to each peer, in order.
    inbox: HashMap<Bytes, VecDeque<Message>>,
    storage: Vec<StorageOp>,
    shutdown: bool,
    /// Every output in order, as bytes, when tracing.
    trace: Option<Vec<u8>>,
}

impl Sim {
    fn new(c: Config) -> Sim {
        let now = Instant::now();
        Sim {
            s: Scheduler::new(c, now),
            now,
            inbox: HashMap::new(),
            storage: Vec::new(),
            shutdown: false,
            trace: None,
        }
    }

    fn record(&mut self, o: &Output) {
        let Some(t) = self.trace.as_mut() else {
            return;
        };
        match o {
            Output::Send { to, frame } => {
                t.extend_from_slice(b"S");
                t.extend_from_slice(&(to.len() as u64).to_le_bytes());
                t.extend_from_slice(to);
                t.extend_from_slice(&(frame.len() as u64).to_le_bytes());
                t.extend_from_slice(frame);
            }
            Output::Monitor(f) => {
                t.extend_from_slice(b"M");
                t.extend_from_slice(&(f.len() as u64).to_le_bytes());
                t.extend_from_slice(f);
            }
            other => t.extend_from_slice(format!("{other:?}\n").as_bytes()),
        }
    }

    /// After every step: the core's own cross-table invariants, whatever the build profile.
    fn checked(&mut self, out: Vec<Output>) {
        self.s.check_invariants();
        self.route(out);
    }

    fn route(&mut self, out: Vec<Output>) {
        for o in out {
            self.record(&o);
            match o {
                Output::Send { to, frame } => {
                    let m = decode(&frame).expect("the scheduler only sends valid messages");
                    self.inbox.entry(to).or_default().push_back(m);
                }
                Output::Monitor(f) => {
                    decode(&f).expect("valid monitor message");
                }
                Output::Storage(op) => self.storage.push(op),
                Output::Close { peer, reason } => panic!("closed {peer:?}: {reason}"),
                Output::Shutdown => self.shutdown = true,
            }
        }
    }

    fn send(&mut self, from: &Bytes, frame: Bytes) {
        let msg = decode(&frame).unwrap();
        let mut out = Vec::new();
        self.s.handle(self.now, from, msg, &frame, &mut out);
        self.checked(out);
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self.s.next_deadline();
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            let mut out = Vec::new();
            self.s.tick(self.now, &mut out);
            self.checked(out);
        }
        self.now = end;
    }

    fn connection_lost(&mut self, peer: &Bytes) {
        self.s.peer_closed(self.now, peer);
        self.s.check_invariants();
    }

    fn take(&mut self, peer: &Bytes) -> Vec<Message> {
        self.inbox.remove(peer).map(Vec::from).unwrap_or_default()
    }

    /// A client heartbeat; the echo is consumed, anything else stays in the inbox.
    fn client(&mut self, id: &Bytes) {
        self.send(id, enc::client_heartbeat(&ClientHeartbeat::default()));
        if let Some(q) = self.inbox.get_mut(id) {
            q.retain(|m| *m != Message::NotForScheduler(Kind::ClientHeartbeatEcho));
        }
    }

    fn worker(&mut self, id: &Bytes, queue: u32) {
        self.send(
            id,
            enc::worker_heartbeat(&WorkerHeartbeat {
                queue_size: queue,
                worker_manager_id: b("wm"),
                ..Default::default()
            }),
        );
    }

    fn submit(&mut self, client: &Bytes, task: &str) {
        self.send(client, enc::task(&task_msg(client, task)));
    }
}

fn task_msg(client: &Bytes, id: &str) -> Task {
    Task {
        task_id: b(id),
        source: client.clone(),
        metadata: Bytes::new(),
        func_object_id: Bytes::from(vec![1; 32]),
        args: vec![].into(),
        capabilities: vec![],
    }
}

fn result(id: &[u8], ok: bool) -> Bytes {
    let obj = Bytes::from([id, &[0u8; 32][id.len().min(32)..]].concat());
    enc::task_result(
        id,
        if ok {
            ResultType::Success
        } else {
            ResultType::Failed
        },
        b"",
        &[obj],
    )
}

fn tasks_in(msgs: &[Message]) -> Vec<Bytes> {
    msgs.iter()
        .filter_map(|m| {
            if let Message::Task(t) = m {
                Some(t.task_id.clone())
            } else {
                None
            }
        })
        .collect()
}

fn results_in(msgs: &[Message]) -> Vec<(Bytes, ResultType)> {
    msgs.iter()
        .filter_map(|m| {
            if let Message::TaskResult(r) = m {
                Some((r.task_id.clone(), r.result_type))
            } else {
                None
            }
        })
        .collect()
}

fn confirms_in(msgs: &[Message]) -> Vec<(Bytes, CancelConfirmType)> {
    msgs.iter()
        .filter_map(|m| {
            if let Message::TaskCancelConfirm { task_id, kind } = m {
                Some((task_id.clone(), *kind))
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn heartbeats_are_echoed_with_the_storage_address() {
    let mut sim = Sim::new(config());
    let c = b("Client|1");
    sim.send(&c, enc::client_heartbeat(&ClientHeartbeat::default()));
    assert_eq!(
        sim.take(&c),
        vec![Message::NotForScheduler(Kind::ClientHeartbeatEcho)]
    );
    let w = b("Worker|a");
    sim.worker(&w, 10);
    assert_eq!(
        sim.take(&w),
        vec![Message::NotForScheduler(Kind::WorkerHeartbeatEcho)]
    );
}

#[test]
fn submit_dispatch_result_round_trip() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 10);
    sim.take(&w);
    sim.submit(&c, "t1");
    assert_eq!(tasks_in(&sim.take(&w)), vec![b("t1")]);
    sim.send(&w, result(b"t1", true));
    assert_eq!(
        results_in(&sim.take(&c)),
        vec![(b("t1"), ResultType::Success)]
    );
    assert!(sim.s.tasks.is_empty());
    // A second result for the same task is refused: the client hears about it once.
    sim.send(&w, result(b"t1", true));
    assert!(sim.take(&c).is_empty());
}

/// 2.9.0's InformationController.on_request is a `pass` ("TODO: implement commands"): an information
/// request gets no answer, changes nothing, and does not cost the sender its connection.
#[test]
fn information_requests_are_answered_as_2_9_0_does_with_nothing() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 10);
    sim.take(&c);
    sim.take(&w);
    sim.submit(&c, "t1");
    sim.take(&w);
    let tasks_before = sim.s.tasks.len();
    sim.send(&c, enc::information_request(b"status"));
    assert!(sim.take(&c).is_empty());
    assert!(sim.take(&w).is_empty());
    assert_eq!(sim.s.tasks.len(), tasks_before);
    // The client is still served afterwards.
    sim.send(&w, result(b"t1", true));
    assert_eq!(
        results_in(&sim.take(&c)),
        vec![(b("t1"), ResultType::Success)]
    );
}

#[test]
fn tasks_queue_beyond_worker_capacity_and_refill_one_per_result() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 2);
    sim.take(&w);
    for i in 0..10 {
        sim.submit(&c, &format!("t{i}"));
    }
    assert_eq!(tasks_in(&sim.take(&w)), vec![b("t0"), b("t1")]);
    assert_eq!(sim.s.tasks.queued(), 8);
    sim.send(&w, result(b"t0", true));
    assert_eq!(
        tasks_in(&sim.take(&w)),
        vec![b("t2")],
        "one freed slot, one dispatch, FIFO order"
    );
}

#[test]
fn tasks_wait_for_a_worker_then_dispatch() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.submit(&c, "t1");
    sim.worker(&w, 10);
    assert_eq!(tasks_in(&sim.take(&w)), vec![b("t1")]);
}

#[test]
fn cancel_queued_running_and_unknown() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 1);
    sim.take(&w);
    sim.submit(&c, "run");
    sim.submit(&c, "queued");
    sim.take(&w);
    sim.send(&c, enc::task_cancel(b"queued", true));
    assert_eq!(
        confirms_in(&sim.take(&c)),
        vec![(b("queued"), CancelConfirmType::Canceled)]
    );
    sim.send(&c, enc::task_cancel(b"run", true));
    assert_eq!(
        sim.take(&w),
        vec![Message::TaskCancel {
            task_id: b("run"),
            force: true
        }]
    );
    assert!(
        sim.take(&c).is_empty(),
        "no confirm until the worker answers"
    );
    sim.send(
        &w,
        enc::task_cancel_confirm(b"run", CancelConfirmType::Canceled),
    );
    assert_eq!(
        confirms_in(&sim.take(&c)),
        vec![(b("run"), CancelConfirmType::Canceled)]
    );
    sim.send(&c, enc::task_cancel(b"nope", true));
    assert_eq!(
        confirms_in(&sim.take(&c)),
        vec![(b("nope"), CancelConfirmType::CancelNotFound)]
    );
    assert!(sim.s.tasks.is_empty());
}

#[test]
fn result_racing_a_cancel_ends_as_cancel_not_found() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 4);
    sim.submit(&c, "t");
    sim.send(&c, enc::task_cancel(b"t", true));
    sim.send(&w, result(b"t", true));
    assert!(
        results_in(&sim.take(&c)).is_empty(),
        "the result is refused while canceling"
    );
    sim.send(
        &w,
        enc::task_cancel_confirm(b"t", CancelConfirmType::CancelNotFound),
    );
    assert_eq!(
        confirms_in(&sim.take(&c)),
        vec![(b("t"), CancelConfirmType::CancelNotFound)]
    );
}

#[test]
fn worker_disconnect_redispatches_in_order_and_ignores_its_late_results() {
    let mut sim = Sim::new(config());
    let (c, w1, w2) = (b("Client|1"), b("Worker|a"), b("Worker|b"));
    sim.client(&c);
    sim.worker(&w1, 10);
    for i in 0..3 {
        sim.submit(&c, &format!("t{i}"));
    }
    sim.worker(&w2, 10);
    sim.take(&w2);
    sim.send(&w1, enc::worker_disconnect_notification());
    assert_eq!(tasks_in(&sim.take(&w2)), vec![b("t0"), b("t1"), b("t2")]);
    sim.send(&w1, result(b"t0", true));
    assert!(
        sim.take(&c).is_empty(),
        "a removed worker's result is not relayed"
    );
    sim.send(&w2, result(b"t0", true));
    assert_eq!(results_in(&sim.take(&c)).len(), 1);
}

#[test]
fn worker_heartbeat_timeout_and_lost_connection() {
    let mut sim = Sim::new(config());
    let (c, w1, w2) = (b("Client|1"), b("Worker|a"), b("Worker|b"));
    sim.client(&c);
    sim.worker(&w1, 10);
    sim.submit(&c, "t0");
    sim.worker(&w2, 10);
    sim.take(&w2);
    // w2 keeps heartbeating; w1 goes silent.
    for _ in 0..12 {
        sim.advance(Duration::from_secs(1));
        sim.worker(&w2, 10);
        sim.client(&c);
    }
    assert_eq!(tasks_in(&sim.take(&w2)), vec![b("t0")]);
    assert!(sim.s.workers.get(&w1).is_none());
    sim.take(&w1);
    // Connection loss: removed after the grace period, not after the full timeout.
    sim.connection_lost(&w2);
    sim.worker(&w1, 10);
    sim.advance(Duration::from_secs(5));
    assert!(sim.s.workers.get(&w2).is_none());
    assert_eq!(tasks_in(&sim.take(&w1)), vec![b("t0")]);
}

#[test]
fn client_disconnect_cancels_its_tasks_and_deletes_its_objects() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 10);
    sim.take(&w);
    let obj = ObjectInstruction {
        kind: InstructionType::Create,
        object_user: c.clone(),
        ids: vec![Bytes::from(vec![5; 32])].into(),
        types: vec![1].into(),
        names: vec![b("x")].into(),
        sizes: vec![3].into(),
    };
    sim.send(&c, enc::object_instruction(&obj));
    sim.submit(&c, "t");
    sim.take(&w);
    sim.send(&c, enc::client_disconnect(false));
    assert_eq!(
        sim.take(&w),
        vec![Message::TaskCancel {
            task_id: b("t"),
            force: true
        }]
    );
    sim.send(
        &w,
        enc::task_cancel_confirm(b"t", CancelConfirmType::Canceled),
    );
    assert!(
        sim.take(&c).is_empty(),
        "nothing is sent to a client that left"
    );
    sim.advance(Duration::from_secs(2));
    assert_eq!(
        sim.storage
            .iter()
            .filter(|o| matches!(o, StorageOp::Delete(_)))
            .count(),
        1
    );
    assert!(
        matches!(&sim.take(&w)[..], [Message::ObjectInstruction(o)] if o.kind == InstructionType::Delete)
    );
}

#[test]
fn client_timeout_removes_the_client() {
    let mut sim = Sim::new(config());
    let c = b("Client|1");
    sim.client(&c);
    sim.advance(Duration::from_secs(12));
    assert!(!sim.s.clients.is_registered(&c));
}

#[test]
fn shutdown_is_refused_when_protected_and_honoured_otherwise() {
    let mut cfg = config();
    cfg.protected = true;
    let mut sim = Sim::new(cfg);
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 10);
    sim.take(&w);
    sim.send(&c, enc::client_disconnect(true));
    assert_eq!(
        sim.take(&c),
        vec![Message::NotForScheduler(Kind::ClientShutdownResponse)]
    );
    assert!(!sim.shutdown);
    let mut sim = Sim::new(config());
    sim.client(&c);
    sim.worker(&w, 10);
    sim.take(&w);
    sim.send(&c, enc::client_disconnect(true));
    assert_eq!(
        sim.take(&w),
        vec![Message::ClientDisconnect { shutdown: true }]
    );
    assert!(sim.shutdown);
}

fn graph(c: &Bytes, nodes: &[(&str, &[&str])], targets: &[&str]) -> Bytes {
    let graph = nodes
        .iter()
        .map(|(id, deps)| {
            let mut t = task_msg(c, id);
            t.args = deps
                .iter()
                .map(|d| TaskArg {
                    is_task: true,
                    data: b(d),
                })
                .collect();
            t
        })
        .collect();
    enc::graph_task(&GraphTask {
        task_id: b("U"),
        source: c.clone(),
        targets: targets.iter().map(|t| b(t)).collect(),
        graph,
    })
}

#[test]
fn graph_runs_in_dependency_order_rewrites_args_and_collects_intermediates() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 10);
    sim.take(&w);
    sim.send(
        &c,
        graph(&c, &[("a", &[]), ("b", &["a"]), ("c", &["b"])], &["c"]),
    );
    assert_eq!(tasks_in(&sim.take(&w)), vec![b("a")]);
    sim.send(&w, result(b"a", true));
    let sent = sim.take(&w);
    let Message::Task(tb) = &sent[0] else {
        panic!("b must be dispatched")
    };
    assert!(
        !tb.args.get(0).unwrap().is_task,
        "graph arguments are rewritten to object ids"
    );
    assert_eq!(&tb.args.get(0).unwrap().data[..1], b"a");
    sim.send(&w, result(b"b", true));
    sim.send(&w, result(b"c", true));
    let got = results_in(&sim.take(&c));
    assert_eq!(
        got.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        vec![b("a"), b("b"), b("c"), b("U")]
    );
    assert!(sim.s.graphs.graphs.is_empty());
}

#[test]
fn graph_failure_propagates_to_every_remaining_node() {
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 10);
    sim.send(
        &c,
        graph(&c, &[("a", &[]), ("b", &["a"]), ("c", &["b"])], &["c"]),
    );
    sim.send(&w, result(b"a", false));
    let got = results_in(&sim.take(&c));
    assert_eq!(
        got,
        vec![
            (b("a"), ResultType::Failed),
            (b("b"), ResultType::Failed),
            (b("c"), ResultType::Failed),
            (b("U"), ResultType::Failed)
        ]
    );
    assert_eq!(
        sim.storage
            .iter()
            .filter(|o| matches!(o, StorageOp::Duplicate { .. }))
            .count(),
        2
    );
}

#[test]
fn graph_cancel_behind_a_running_node_completes() {
    // The 2.9.0 hang (SCHEDULER_SPEC.md §9): c waits behind running b; cancel must still finish.
    let mut sim = Sim::new(config());
    let (c, w) = (b("Client|1"), b("Worker|a"));
    sim.client(&c);
    sim.worker(&w, 10);
    sim.send(
        &c,
        graph(&c, &[("a", &[]), ("b", &["a"]), ("c", &["b"])], &["c"]),
    );
    sim.send(&w, result(b"a", true));
    sim.take(&w);
    sim.take(&c);
    sim.send(&c, enc::task_cancel(b"U", true));
    assert_eq!(
        sim.take(&w),
        vec![Message::TaskCancel {
            task_id: b("b"),
            force: true
        }]
    );
    sim.send(
        &w,
        enc::task_cancel_confirm(b"b", CancelConfirmType::Canceled),
    );
    let confirms = confirms_in(&sim.take(&c));
    assert!(confirms.contains(&(b("b"), CancelConfirmType::Canceled)));
    assert!(confirms.contains(&(b("c"), CancelConfirmType::Canceled)));
    assert_eq!(
        confirms.last().unwrap(),
        &(b("U"), CancelConfirmType::Canceled)
    );
    assert!(sim.s.graphs.graphs.is_empty() && sim.s.tasks.is_empty());
}

#[test]
fn balancing_moves_queued_tasks_after_stable_advice() {
    let mut sim = Sim::new(config());
    let (c, w1, w2) = (b("Client|1"), b("Worker|a"), b("Worker|b"));
    sim.client(&c);
    sim.worker(&w1, 100);
    for i in 0..8 {
        sim.submit(&c, &format!("t{i}"));
    }
    sim.worker(&w2, 100);
    sim.take(&w1);
    sim.take(&w2);
    for _ in 0..4 {
        sim.advance(Duration::from_secs(1));
        sim.worker(&w1, 100);
        sim.worker(&w2, 100);
        sim.client(&c);
    }
    let cancels: Vec<_> = sim
        .take(&w1)
        .into_iter()
        .filter(|m| matches!(m, Message::TaskCancel { force: false, .. }))
        .collect();
    assert_eq!(
        cancels.len(),
        3,
        "even_load moves the 3 youngest of 7 queued (flow F10)"
    );
    for m in cancels {
        let Message::TaskCancel { task_id, .. } = m else {
            unreachable!()
        };
        sim.send(
            &w1,
            enc::task_cancel_confirm(&task_id, CancelConfirmType::Canceled),
        );
    }
    assert_eq!(tasks_in(&sim.take(&w2)).len(), 3);
    assert!(
        sim.take(&c).is_empty(),
        "the client sees nothing of balancing"
    );
}

// ------------------------------------------------------------------ randomized simulation

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A virtual worker: holds tasks in arrival order, runs the first, answers cancels like a real one.
#[derive(Default)]
struct VWorker {
    queue: Vec<Bytes>,
    alive: bool,
}

impl VWorker {
    /// Takes the scheduler's messages for this worker: tasks join the local queue (the head is the
    /// one executing); cancels are answered as a real worker answers them.
    fn serve(&mut self, sim: &mut Sim, id: &Bytes) {
        for m in sim.take(id) {
            match m {
                Message::Task(t) => self.queue.push(t.task_id),
                Message::TaskCancel { task_id, force } => {
                    let kind = match self.queue.iter().position(|t| *t == task_id) {
                        None => CancelConfirmType::CancelNotFound,
                        Some(0) if !force => CancelConfirmType::CancelFailed,
                        Some(p) => {
                            self.queue.remove(p);
                            CancelConfirmType::Canceled
                        }
                    };
                    sim.send(id, enc::task_cancel_confirm(&task_id, kind));
                }
                _ => {}
            }
        }
    }
}

/// A random run checked for exactly-once answers; returns the trace of every output when `cfg` asks for
/// one (`traced`).
fn run_random(seed: u64, steps: usize, cfg: Config, traced: bool) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut sim = Sim::new(cfg);
    if traced {
        sim.trace = Some(Vec::new());
        // Monitor frames join the trace (StateTask per transition, StateScheduler per status tick).
        sim.s.monitors = 1;
    }
    let clients: Vec<Bytes> = (0..3).map(|i| b(&format!("Client|{i}"))).collect();
    let mut workers: BTreeMap<Bytes, VWorker> = BTreeMap::new();
    let mut next_worker = 0;
    let mut submitted: Vec<(Bytes, Bytes)> = Vec::new();
    let mut answers: HashMap<Bytes, u32> = HashMap::new();
    let mut cancelled: std::collections::HashSet<Bytes> = Default::default();
    for c in &clients {
        sim.client(c);
    }
    let collect = |sim: &mut Sim, answers: &mut HashMap<Bytes, u32>, clients: &[Bytes]| {
        for c in clients {
            for m in sim.take(c) {
                match m {
                    Message::TaskResult(r) => *answers.entry(r.task_id).or_default() += 1,
                    Message::TaskCancelConfirm { task_id, .. } => {
                        *answers.entry(task_id).or_default() += 1
                    }
                    _ => {}
                }
            }
        }
    };
    for step in 0..steps {
        match rng.below(10) {
            0 if workers.values().filter(|w| w.alive).count() < 4 => {
                let id = b(&format!("Worker|{next_worker}"));
                next_worker += 1;
                workers.insert(
                    id.clone(),
                    VWorker {
                        alive: true,
                        ..Default::default()
                    },
                );
                sim.worker(&id, 1 + rng.below(5) as u32);
            }
            1..=3 => {
                let c = clients[rng.below(clients.len() as u64) as usize].clone();
                let id = format!("t{step}");
                submitted.push((c.clone(), b(&id)));
                sim.submit(&c, &id);
            }
            4 if !submitted.is_empty() => {
                // Like a real client: cancel a task it is still waiting for, once.
                let (c, t) = submitted[rng.below(submitted.len() as u64) as usize].clone();
                if !answers.contains_key(&t) && cancelled.insert(t.clone()) {
                    sim.send(&c, enc::task_cancel(&t, true));
                }
            }
            5 => {
                // Kill a worker: either it says goodbye or its connection just drops.
                let alive: Vec<Bytes> = workers
                    .iter()
                    .filter(|(_, w)| w.alive)
                    .map(|(k, _)| k.clone())
                    .collect();
                if let Some(id) = alive.get(rng.below(alive.len().max(1) as u64) as usize) {
                    workers.get_mut(id).unwrap().alive = false;
                    if rng.below(2) == 0 {
                        sim.send(id, enc::worker_disconnect_notification());
                    } else {
                        sim.connection_lost(id);
                    }
                    sim.take(id);
                }
            }
            6 => sim.advance(Duration::from_millis(300 + rng.below(1000))),
            _ => {}
        }
        // Workers process their inboxes and sometimes finish their running task.
        let ids: Vec<Bytes> = workers.keys().cloned().collect();
        for id in ids {
            if !workers[&id].alive {
                continue;
            }
            let w = workers.get_mut(&id).unwrap();
            w.serve(&mut sim, &id);
            if !w.queue.is_empty() && rng.below(3) == 0 {
                let t = w.queue.remove(0);
                let ok = rng.below(4) != 0;
                sim.send(&id, result(&t, ok));
            }
            if rng.below(4) == 0 {
                sim.worker(&id, 1);
            }
        }
        for c in clients.clone() {
            sim.client(&c);
        }
        collect(&mut sim, &mut answers, &clients);
        for (t, n) in &answers {
            assert!(*n <= 1, "seed {seed}: task {t:?} answered {n} times");
        }
    }
    // Quiesce: one healthy worker drains everything that is left.
    let healer = b("Worker|healer");
    workers.insert(
        healer.clone(),
        VWorker {
            alive: true,
            ..Default::default()
        },
    );
    sim.worker(&healer, 1000);
    for _ in 0..2000 {
        for (id, w) in workers.iter_mut().filter(|(_, w)| w.alive) {
            w.serve(&mut sim, id);
            for t in std::mem::take(&mut w.queue) {
                sim.send(id, result(&t, true));
            }
            sim.worker(id, 1);
        }
        for c in clients.clone() {
            sim.client(&c);
        }
        sim.advance(Duration::from_millis(500));
        collect(&mut sim, &mut answers, &clients);
        if sim.s.tasks.is_empty() {
            break;
        }
    }
    let stuck: Vec<String> = sim
        .s
        .tasks
        .iter()
        .map(|(id, e)| {
            format!(
                "{id:?} {:?} holder={:?} out={}",
                e.state(),
                e.holder.map(|(k, _)| sim.s.workers.slab[k].id.clone()),
                e.cancels_outstanding
            )
        })
        .collect();
    assert!(
        sim.s.tasks.is_empty(),
        "seed {seed}: tasks never finished: {stuck:?}"
    );
    for (_, t) in &submitted {
        assert_eq!(
            answers.get(t).copied().unwrap_or(0),
            1,
            "seed {seed}: task {t:?} must get exactly one final answer"
        );
    }
    sim.trace.take().unwrap_or_default()
}

#[test]
fn random_runs_answer_every_task_exactly_once() {
    for seed in 1..=60u64 {
        run_random(seed * 0x9E37_79B9, 400, config(), false);
    }
}

/// The same seed (the core's and the peers') gives a byte-identical output trace; another core seed
/// still gives a valid run. A small waiting limit makes the core generate object ids (the failure
/// objects of refused tasks), so the seeded id generator is in the trace too.
#[test]
fn same_seed_same_trace_other_seed_still_valid() {
    let seeded = |core_seed: u64| {
        let mut c = config();
        c.seed = core_seed;
        c.max_tasks_waiting = 3;
        c
    };
    for peers in [7u64, 0x5EED] {
        let a = run_random(peers, 300, seeded(42), true);
        let b = run_random(peers, 300, seeded(42), true);
        assert!(
            a.len() > 10_000,
            "the trace records the run ({} bytes)",
            a.len()
        );
        assert!(
            a == b,
            "peer seed {peers}: same core seed, different traces"
        );
        let refused = a.windows(16).any(|w| w == b"Storage(Set { id".as_slice());
        assert!(refused, "the run generated failure objects");
        let other = run_random(peers, 300, seeded(43), true);
        assert!(!other.is_empty());
    }
}

/// Writes the traces of fixed seeds to `$SIM_TRACE_DIR`, one file each, so that a change meant to keep
/// behaviour (a refactoring of the core) can be shown to: run it on both commits and compare the files'
/// hashes. Covers the waiting limit (generated failure objects), no limit, and capability placement;
/// the peer seeds are odd because the driver's generator ignores the lowest bit.
#[test]
#[ignore = "writes files; run with SIM_TRACE_DIR set"]
fn dump_traces() {
    let dir = std::env::var("SIM_TRACE_DIR").expect("SIM_TRACE_DIR names the output directory");
    for peers in [7u64, 0x5EED, 1, 3, 5, 9, 11, 13, 15, 17] {
        for (name, core_seed, waiting, allocate) in [
            ("limit", 42, 3, Allocate::EvenLoad),
            ("nolimit", 43, -1, Allocate::EvenLoad),
            ("capability", 44, 5, Allocate::Capability),
        ] {
            let mut c = config();
            c.seed = core_seed;
            c.max_tasks_waiting = waiting;
            c.allocate = allocate;
            let trace = run_random(peers, 1000, c, true);
            std::fs::write(format!("{dir}/{name}-{peers:x}.trace"), trace).expect("write trace");
        }
    }
}

#[test]
fn max_tasks_waiting_refuses_with_a_failed_result() {
    let mut cfg = config();
    cfg.max_tasks_waiting = 2;
    let mut sim = Sim::new(cfg);
    let c = b("Client|1");
    sim.client(&c);
    for i in 0..3 {
        sim.submit(&c, &format!("t{i}"));
    }
    assert_eq!(
        results_in(&sim.take(&c)),
        vec![(b("t2"), ResultType::Failed)]
    );
    assert!(
        matches!(&sim.storage[..], [StorageOp::Set { .. }]),
        "the failure object is stored for the client"
    );
    assert_eq!(sim.s.tasks.queued(), 2);
}
