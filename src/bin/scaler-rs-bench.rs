//! `scaler-rs-bench`: a load generator of native clients and workers speaking Scaler 2.9.0's protocol
//! (heartbeats, objects in the object storage server, Task / ObjectInstruction / TaskResult of the shape
//! real peers send) against any scheduler address: scaler-rs, the Python `scaler_scheduler`, or the bare
//! forwarder. Exits 0 only when every task got its result. Reports tasks/s, submit->result latency
//! percentiles and, with --scheduler-pid, the scheduler's CPU per task read from /proc.
use bytes::Bytes;
use scaler_rs::storage::header::{decode_response, ResponseType};
use scaler_rs::tools::peer::{Framing, Peer};
use scaler_rs::transport::Address;
use scaler_rs::wire::{
    self, encode as enc, Capability, ClientHeartbeat, InstructionType, Message, ObjectInstruction,
    ResultType, Task, TaskArg, WorkerHeartbeat,
};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: scaler-rs-bench --scheduler tcp://IP:PORT|ws://IP:PORT/PATH [--clients N] [--workers M] [--tasks T]
       [--window W] [--worker-sleep-us U] [--queue-size Q] [--timeout-seconds S] [--scheduler-pid PID] [--json]
       [--worker-manager-id ID] [--capability NAME]
  --tasks T            total tasks, split over the clients (default 100000)
  --window W           tasks in flight per client (default 1000; 1 measures unloaded latency)
  --worker-sleep-us U  each worker holds each task this long before answering (default 0)
  --queue-size Q       queue size the workers announce (default 1000)
  --scheduler-pid PID  read the scheduler's CPU time from /proc/PID/stat before and after
  --worker-manager-id ID  the workers name this manager, and a worker manager with this id heartbeats
                       (commands it receives are ignored); default: workers name \"bench\", no manager
  --capability NAME    every task requires capability NAME and the workers offer it (with the scheduler's
                       allocate=capability policy this keeps the tasks off other workers, as the soak needs)
  Every result is checked once per task: duplicates and missing results are counted and fail the run.
       scaler-rs-bench --measure-queued-rss N   (in-process: core memory per queued task)";

struct Args {
    scheduler: Address,
    clients: usize,
    workers: usize,
    tasks: u64,
    window: u64,
    sleep_us: u64,
    queue_size: u32,
    timeout: Duration,
    pid: Option<u32>,
    json: bool,
    manager: Option<String>,
    capabilities: Vec<Capability>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        scheduler: Address::parse("tcp://127.0.0.1:6378")?,
        clients: 1,
        workers: 4,
        tasks: 100_000,
        window: 1000,
        sleep_us: 0,
        queue_size: 1000,
        timeout: Duration::from_secs(300),
        pid: None,
        json: false,
        manager: None,
        capabilities: vec![],
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].as_str();
        let mut val = || -> Result<String, String> {
            i += 1;
            argv.get(i).cloned().ok_or(format!("{flag} needs a value"))
        };
        let num = |s: String| {
            s.parse::<u64>()
                .map_err(|_| format!("{flag}: bad number {s}"))
        };
        match flag {
            "--scheduler" => a.scheduler = Address::parse(&val()?)?,
            "--clients" => a.clients = num(val()?)? as usize,
            "--workers" => a.workers = num(val()?)? as usize,
            "--tasks" => a.tasks = num(val()?)?,
            "--window" => a.window = num(val()?)?.max(1),
            "--worker-sleep-us" => a.sleep_us = num(val()?)?,
            "--queue-size" => a.queue_size = num(val()?)? as u32,
            "--timeout-seconds" => a.timeout = Duration::from_secs(num(val()?)?),
            "--scheduler-pid" => a.pid = Some(num(val()?)? as u32),
            "--json" => a.json = true,
            "--worker-manager-id" => a.manager = Some(val()?),
            "--capability" => a.capabilities.push(Capability {
                name: val()?,
                value: -1,
            }),
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
        i += 1;
    }
    if a.clients == 0 || a.workers == 0 {
        return Err("need at least one client and one worker".into());
    }
    Ok(a)
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn hex_id(prefix: &str) -> Bytes {
    Bytes::from(format!("{prefix}{}", uuid::Uuid::new_v4().simple()))
}

/// Waits for the heartbeat echo and returns the advertised object storage address.
fn await_echo(p: &mut Peer) -> Result<Option<Address>, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(f) = p.recv().map_err(|e| e.to_string())? {
            let mut slice: &[u8] = &f;
            let reader = capnp::serialize::read_message_from_flat_slice(
                &mut slice,
                capnp::message::ReaderOptions::new(),
            )
            .map_err(|e| e.to_string())?;
            let root: scaler_rs::schema::message_capnp::message::Reader =
                reader.get_root().map_err(|e| e.to_string())?;
            use scaler_rs::schema::message_capnp::message::Which;
            let addr = match root.which().map_err(|e| format!("{e:?}"))? {
                Which::ClientHeartbeatEcho(e) => {
                    e.and_then(|e| e.get_object_storage_address()).ok()
                }
                Which::WorkerHeartbeatEcho(e) => {
                    e.and_then(|e| e.get_object_storage_address()).ok()
                }
                _ => continue,
            };
            return Ok(addr.and_then(|a| {
                let host = a.get_host().ok()?.to_str().ok()?.to_string();
                Address::parse(&format!(
                    "{}://{}:{}",
                    a.get_scheme().ok()?.to_str().ok()?,
                    host,
                    a.get_port()
                ))
                .ok()
            }));
        }
    }
    Err("no heartbeat echo within 30 s".into())
}

/// Stores the client's function and argument objects, as a real client does before submitting.
fn upload(storage: &Address, client: &Bytes, ids: &[Bytes]) -> Result<(), String> {
    let mut p = Peer::connect_to(storage, client).map_err(|e| format!("object storage: {e}"))?;
    let mut out = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let oid: [u8; 32] = id[..32].try_into().expect("32-byte ids");
        let (h, payload) =
            scaler_rs::storage::set_request(&oid, Bytes::from(vec![n as u8; 64]), n as u64);
        p.framing.frame_into(&h, &mut out);
        p.framing.frame_into(&payload, &mut out);
    }
    p.stream.write_all(&out).map_err(|e| e.to_string())?;
    for _ in ids {
        let f = p
            .recv()
            .map_err(|e| e.to_string())?
            .ok_or("object storage did not answer")?;
        let h = decode_response(&f).map_err(|e| e.to_string())?;
        if h.kind != ResponseType::SetOk {
            return Err(format!("unexpected storage answer {:?}", h.kind));
        }
    }
    Ok(())
}

struct Stats {
    latencies_ns: Mutex<Vec<u64>>,
    done: AtomicU64,
    duplicates: AtomicU64,
}

fn run_client(
    idx: usize,
    a: &Args,
    tasks: u64,
    stats: Arc<Stats>,
    start_gate: Arc<AtomicBool>,
) -> Result<(), String> {
    let id = hex_id("Client|bench|");
    let mut p = Peer::connect_to(&a.scheduler, &id).map_err(|e| format!("client connect: {e}"))?;
    p.send(&enc::client_heartbeat(&ClientHeartbeat {
        hostname: "bench".into(),
        ..Default::default()
    }))
    .map_err(|e| e.to_string())?;
    let storage = await_echo(&mut p)?.ok_or("echo without a storage address")?;
    let md5ish = |tag: u8| -> Bytes {
        let mut v = vec![0u8; 32];
        v[..16].copy_from_slice(&id[id.len() - 16..]);
        v[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        v[31] ^= tag;
        Bytes::from(v)
    };
    let (func, arg) = (md5ish(1), md5ish(2));
    p.send(&enc::object_instruction(&ObjectInstruction {
        kind: InstructionType::Create,
        object_user: id.clone(),
        ids: vec![func.clone(), arg.clone()].into(),
        types: vec![1, 1].into(),
        names: vec![Bytes::from_static(b"noop"), Bytes::from_static(b"arg")].into(),
        sizes: vec![64, 64].into(),
    }))
    .map_err(|e| e.to_string())?;
    upload(&storage, &id, &[func.clone(), arg.clone()])?;
    while !start_gate.load(Ordering::Acquire) {
        thread::sleep(Duration::from_millis(5));
    }
    let mut template = Task {
        task_id: Bytes::new(),
        source: id.clone(),
        metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        func_object_id: func,
        args: vec![TaskArg {
            is_task: false,
            data: arg,
        }]
        .into(),
        capabilities: a.capabilities.clone(),
    };
    let t0 = Instant::now();
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..tasks).map(|_| AtomicU64::new(0)).collect());
    let received = Arc::new(AtomicU64::new(0));
    let mut writer = p.try_clone().map_err(|e| e.to_string())?;
    let framing = p.framing;
    let reader_sent = sent_at.clone();
    let reader_received = received.clone();
    let reader_stats = stats.clone();
    let deadline = Instant::now() + a.timeout;
    let reader = thread::spawn(move || -> Result<(), String> {
        let mut lat = Vec::with_capacity(tasks as usize);
        // Exactly-once check: a second result for a task is counted, never taken as progress.
        let mut answered = vec![false; tasks as usize];
        p.stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .ok();
        while reader_received.load(Ordering::Relaxed) < tasks {
            if Instant::now() > deadline {
                return Err(format!(
                    "client {idx}: timed out with {}/{tasks} results",
                    reader_received.load(Ordering::Relaxed)
                ));
            }
            let Some(f) = p.recv().map_err(|e| e.to_string())? else {
                continue;
            };
            if let Ok(Message::TaskResult(r)) = wire::decode(&f) {
                let seq = u64::from_le_bytes(r.task_id[8..16].try_into().unwrap_or([0; 8]));
                if r.result_type != ResultType::Success || seq >= tasks {
                    return Err(format!(
                        "client {idx}: unexpected result {:?} for {seq}",
                        r.result_type
                    ));
                }
                if std::mem::replace(&mut answered[seq as usize], true) {
                    reader_stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let now = t0.elapsed().as_nanos() as u64;
                lat.push(now.saturating_sub(reader_sent[seq as usize].load(Ordering::Relaxed)));
                reader_received.fetch_add(1, Ordering::Relaxed);
                reader_stats.done.fetch_add(1, Ordering::Relaxed);
            }
        }
        reader_stats.latencies_ns.lock().unwrap().extend(lat);
        Ok(())
    });
    let mut next_heartbeat = Instant::now() + Duration::from_secs(2);
    let mut sent = 0u64;
    let mut buf = Vec::with_capacity(1 << 20);
    while sent < tasks {
        let inflight = sent - received.load(Ordering::Relaxed);
        if inflight >= a.window {
            if reader.is_finished() {
                break;
            }
            thread::yield_now();
            continue;
        }
        let n = (a.window - inflight).min(tasks - sent).min(512);
        buf.clear();
        for _ in 0..n {
            let mut tid = [0u8; 16];
            tid[..8].copy_from_slice(&(idx as u64).to_le_bytes());
            tid[8..].copy_from_slice(&sent.to_le_bytes());
            template.task_id = Bytes::copy_from_slice(&tid);
            sent_at[sent as usize].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            framing.frame_into(&enc::task(&template), &mut buf);
            sent += 1;
        }
        if Instant::now() >= next_heartbeat {
            next_heartbeat += Duration::from_secs(2);
            framing.frame_into(
                &enc::client_heartbeat(&ClientHeartbeat::default()),
                &mut buf,
            );
        }
        writer.write_all(&buf).map_err(|e| e.to_string())?;
    }
    reader.join().map_err(|_| "reader panicked".to_string())??;
    let _ = send_raw(&mut writer, framing, &enc::client_disconnect(false));
    Ok(())
}

fn send_raw(s: &mut TcpStream, framing: Framing, payload: &[u8]) -> std::io::Result<()> {
    let mut v = Vec::new();
    framing.frame_into(payload, &mut v);
    s.write_all(&v)
}

fn run_worker(a: &Args, stop: Arc<AtomicBool>) -> Result<(), String> {
    let id = hex_id("Worker|bench|");
    let mut p = Peer::connect_to(&a.scheduler, &id).map_err(|e| format!("worker connect: {e}"))?;
    let hb = enc::worker_heartbeat(&WorkerHeartbeat {
        queue_size: a.queue_size,
        worker_manager_id: Bytes::from(a.manager.clone().unwrap_or_else(|| "bench".into())),
        hostname: "bench".into(),
        capabilities: a.capabilities.clone(),
        ..Default::default()
    });
    p.send(&hb).map_err(|e| e.to_string())?;
    p.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ok();
    let mut next_heartbeat = Instant::now() + Duration::from_secs(2);
    let mut out = Vec::with_capacity(1 << 20);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let got = p.fill().map_err(|e| e.to_string())?;
        while let Some(f) = p.buffered() {
            if let Ok(Message::Task(t)) = wire::decode(&f) {
                if a.sleep_us > 0 {
                    thread::sleep(Duration::from_micros(a.sleep_us));
                }
                n += 1;
                // A real worker announces the result object, then reports the result.
                let mut rid = t.func_object_id.to_vec();
                rid[16..24].copy_from_slice(&n.to_le_bytes());
                rid[24..].copy_from_slice(&id[id.len() - 8..]);
                let rid = Bytes::from(rid);
                p.framing.frame_into(
                    &enc::object_instruction(&ObjectInstruction {
                        kind: InstructionType::Create,
                        object_user: t.source.clone(),
                        ids: vec![rid.clone()].into(),
                        types: vec![1].into(),
                        names: vec![Bytes::from_static(b"<res>")].into(),
                        sizes: vec![8].into(),
                    }),
                    &mut out,
                );
                p.framing.frame_into(
                    &enc::task_result(&t.task_id, ResultType::Success, &[0u8; 16], &[rid]),
                    &mut out,
                );
            }
        }
        if Instant::now() >= next_heartbeat {
            next_heartbeat += Duration::from_secs(2);
            p.framing.frame_into(&hb, &mut out);
        }
        if !out.is_empty() {
            p.stream.write_all(&out).map_err(|e| e.to_string())?;
            out.clear();
        }
        let _ = got;
    }
    let _ = p.send(&enc::worker_disconnect_notification());
    Ok(())
}

/// A worker manager that only heartbeats (what the monitors show of it), for `--worker-manager-id`.
fn run_manager(a: &Args, id: String, stop: Arc<AtomicBool>) -> Result<(), String> {
    let mut p = Peer::connect_to(&a.scheduler, &hex_id("WorkerManager|bench|"))
        .map_err(|e| format!("worker manager connect: {e}"))?;
    p.stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ok();
    let hb = enc::worker_manager_heartbeat(&wire::WorkerManagerHeartbeat {
        max_task_concurrency: a.workers as u32,
        capabilities: vec![],
        worker_manager_id: Bytes::from(id),
    });
    let mut next_heartbeat = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_heartbeat {
            next_heartbeat += Duration::from_secs(2);
            p.send(&hb).map_err(|e| e.to_string())?;
        }
        p.fill().map_err(|e| e.to_string())?;
        while p.buffered().is_some() {}
    }
    Ok(())
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// In-process: the scheduler core's memory per queued task (no sockets), from /proc/self/statm.
fn queued_rss(n: u64) {
    use scaler_rs::core::{Config, Scheduler};
    let now = Instant::now();
    let mut s = Scheduler::new(
        Config::new(enc::StorageAddress {
            host: "127.0.0.1".into(),
            port: 1,
            scheme: "tcp".into(),
        }),
        now,
    );
    let client = Bytes::from_static(b"Client|rss");
    let mut out = Vec::new();
    let hb = enc::client_heartbeat(&ClientHeartbeat::default());
    s.handle(now, &client, wire::decode(&hb).unwrap(), &hb, &mut out);
    let before = scaler_rs::transport::procstat::rss_bytes().unwrap_or(0);
    let mut task = Task {
        task_id: Bytes::new(),
        source: client.clone(),
        metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        func_object_id: Bytes::from(vec![1u8; 32]),
        args: vec![TaskArg {
            is_task: false,
            data: Bytes::from(vec![2u8; 32]),
        }]
        .into(),
        capabilities: vec![],
    };
    for i in 0..n {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&i.to_le_bytes());
        task.task_id = Bytes::copy_from_slice(&id);
        // The scheduler keeps the received frame; give it its own buffer, as a socket read would.
        let frame = Bytes::from(enc::task(&task).to_vec());
        s.handle(
            now,
            &client,
            wire::decode(&frame).unwrap(),
            &frame,
            &mut out,
        );
        out.clear();
    }
    let after = scaler_rs::transport::procstat::rss_bytes().unwrap_or(0);
    assert_eq!(s.tasks.queued() as u64, n);
    println!(
        "queued {n} tasks: RSS +{:.1} MiB = {:.0} bytes per queued task",
        (after - before) as f64 / (1 << 20) as f64,
        (after - before) as f64 / n as f64
    );
}

fn main() {
    if let Some(i) = std::env::args().position(|a| a == "--measure-queued-rss") {
        let n = std::env::args()
            .nth(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        queued_rss(n);
        return;
    }
    let a = match parse() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let manager = a.manager.clone().map(|id| {
        let (a, stop) = (a.clone(), stop.clone());
        thread::spawn(move || run_manager(&a, id, stop))
    });
    let workers: Vec<_> = (0..a.workers)
        .map(|_| {
            let (a, stop) = (a.clone(), stop.clone());
            thread::spawn(move || run_worker(&a, stop))
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let stats = Arc::new(Stats {
        latencies_ns: Mutex::new(Vec::new()),
        done: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
    });
    let gate = Arc::new(AtomicBool::new(false));
    let per = a.tasks / a.clients as u64;
    let clients: Vec<_> = (0..a.clients)
        .map(|i| {
            let n = if i == a.clients - 1 {
                a.tasks - per * (a.clients as u64 - 1)
            } else {
                per
            };
            let (a, stats, gate) = (a.clone(), stats.clone(), gate.clone());
            thread::spawn(move || run_client(i, &a, n, stats, gate))
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let cpu0 = a.pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    gate.store(true, Ordering::Release);
    let mut failed = Vec::new();
    for c in clients {
        match c.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(e),
            Err(_) => failed.push("client thread panicked".into()),
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = a.pid.and_then(cpu_ticks);
    stop.store(true, Ordering::Relaxed);
    for w in workers.into_iter().chain(manager) {
        if let Ok(Err(e)) = w.join() {
            failed.push(e);
        }
    }
    let done = stats.done.load(Ordering::Relaxed);
    let duplicates = stats.duplicates.load(Ordering::Relaxed);
    let mut lat = stats.latencies_ns.lock().unwrap().clone();
    lat.sort_unstable();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let cpu_us_per_task = match (cpu0, cpu1) {
        (Some(x), Some(y)) if done > 0 => Some((y - x) as f64 / hz * 1e6 / done as f64),
        _ => None,
    };
    let rate = done as f64 / wall;
    let (p50, p99, p999) = (pct(&lat, 0.5), pct(&lat, 0.99), pct(&lat, 0.999));
    if a.json {
        println!(
            "{{\"tasks\":{},\"completed\":{done},\"clients\":{},\"workers\":{},\"window\":{},\"seconds\":{wall:.3},\"tasks_per_second\":{rate:.0},\"latency_us\":{{\"p50\":{p50:.1},\"p99\":{p99:.1},\"p999\":{p999:.1}}},\"scheduler_cpu_us_per_task\":{},\"answered\":{done},\"duplicates\":{duplicates},\"missing\":{},\"errors\":{}}}",
            a.tasks,
            a.clients,
            a.workers,
            a.window,
            cpu_us_per_task.map_or("null".into(), |c| format!("{c:.2}")),
            a.tasks - done,
            failed.len()
        );
    } else {
        println!(
            "tasks      {done}/{} in {wall:.3} s with {} client(s), {} worker(s), window {}",
            a.tasks, a.clients, a.workers, a.window
        );
        println!("throughput {rate:.0} tasks/s");
        println!("latency    p50 {p50:.1} us   p99 {p99:.1} us   p99.9 {p999:.1} us   (submit -> result)");
        if let Some(c) = cpu_us_per_task {
            println!("scheduler  {c:.2} us CPU per task");
        }
        println!(
            "results    {done} answered once, {duplicates} duplicates, {} missing",
            a.tasks - done
        );
    }
    for e in &failed {
        eprintln!("error: {e}");
    }
    std::process::exit(if failed.is_empty() && done == a.tasks && duplicates == 0 {
        0
    } else {
        1
    });
}
