//! Helpers of the hostile-input tests: raw YMQ streams that misbehave, and a well-behaved client and
//! worker that prove the scheduler still serves.
#![allow(dead_code)]
use bytes::Bytes;
use scaler_rs::tools::peer::Peer;
use scaler_rs::transport::Address;
use scaler_rs::wire::frame::MAGIC;
use scaler_rs::wire::{
    decode, encode as enc, ClientHeartbeat, Message, ResultType, Task, WorkerHeartbeat,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Handshake as `identity` on a raw stream (for tests that then misbehave).
pub fn raw(addr: SocketAddr, identity: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&(identity.len() as u64).to_le_bytes());
    hello.extend_from_slice(identity);
    s.write_all(&hello).unwrap();
    s
}

pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// Whether the scheduler closes `s` within a few seconds (reading and discarding what it sends).
pub fn closed_by_server(s: TcpStream) -> bool {
    closed_within(s, Duration::from_secs(5))
}

/// Whether the scheduler closes `s` within `wait` (reading and discarding what it sends).
pub fn closed_within(mut s: TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A well-behaved client and worker complete one task through the scheduler (tcp://).
pub fn healthy(addr: SocketAddr, tag: &str) -> bool {
    let at = Address::parse(&format!("tcp://{addr}")).expect("a tcp address");
    healthy_at(&at, tag)
}

/// A well-behaved client and worker complete one task through the scheduler at `addr` (tcp:// or
/// ws://).
pub fn healthy_at(addr: &Address, tag: &str) -> bool {
    let w_id = b(&format!("Worker|healthy|{tag}"));
    let c_id = b(&format!("Client|healthy{tag}"));
    let (Ok(mut w), Ok(mut c)) = (Peer::connect_to(addr, &w_id), Peer::connect_to(addr, &c_id))
    else {
        return false;
    };
    w.send(&enc::worker_heartbeat(&WorkerHeartbeat {
        queue_size: 10,
        ..Default::default()
    }))
    .unwrap();
    c.send(&enc::client_heartbeat(&ClientHeartbeat::default()))
        .unwrap();
    let task = Task {
        task_id: b(&format!("task-{tag}")),
        source: c_id.clone(),
        metadata: Bytes::new(),
        func_object_id: Bytes::from(vec![1; 32]),
        args: vec![].into(),
        capabilities: vec![],
    };
    std::thread::sleep(Duration::from_millis(50));
    c.send(&enc::task(&task)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(f)) = w.recv() {
            if let Ok(Message::Task(t)) = decode(&f) {
                w.send(&enc::task_result(
                    &t.task_id,
                    ResultType::Success,
                    b"",
                    &[Bytes::from(vec![2; 32])],
                ))
                .unwrap();
                break;
            }
        }
    }
    while Instant::now() < deadline {
        if let Ok(Some(f)) = c.recv() {
            if matches!(decode(&f), Ok(Message::TaskResult(r)) if r.task_id == task.task_id) {
                let _ = w.send(&enc::worker_disconnect_notification());
                return true;
            }
        }
    }
    false
}

pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4
}

/// Virtual memory of process `pid` (VmSize of /proc/PID/status), in KiB.
pub fn vm_size_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
