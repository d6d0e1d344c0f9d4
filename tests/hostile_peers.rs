//! The bad-input matrix over real sockets (docs/bad-input-matrix.md is this test's output).
//!
//! For each hostile input: the offending connection is closed with a logged reason (or, where the
//! input is legal, handled), the process keeps serving, and a well-behaved client and worker on other
//! connections still complete a task. Memory is checked to stay bounded at the end.
mod common;
mod hostile;
use hostile::{closed_by_server, frame, healthy, raw, rss_kib};
use scaler_rs::tools::peer::Peer;
use scaler_rs::wire::frame::MAGIC;
use scaler_rs::wire::{decode, encode as enc, ClientHeartbeat, Message};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const MAX_FRAME: u64 = 1 << 20;

struct Row {
    input: &'static str,
    expected: &'static str,
    observed: String,
    ok: bool,
}

#[test]
fn bad_input_matrix() {
    let mut s = common::Scheduler::start(&[
        "--max-frame-bytes",
        &MAX_FRAME.to_string(),
        "--max-queued-bytes",
        "1048576",
    ]);
    let addr = s.addr();
    let mut rows: Vec<Row> = Vec::new();
    let mut case = |s: &mut common::Scheduler,
                    input: &'static str,
                    expected: &'static str,
                    expect_close: bool,
                    reason: &str,
                    run: &dyn Fn() -> Option<TcpStream>| {
        let log_before = s.log_text().len();
        let stream = run();
        let closed = stream.map(closed_by_server);
        std::thread::sleep(Duration::from_millis(100));
        // Only what this case made the scheduler log counts.
        let logged = reason.is_empty() || s.log_text()[log_before..].contains(reason);
        let alive = s.alive();
        let serving = healthy(addr, &rows.len().to_string());
        let observed = format!(
            "{}{}; process {}; other peers' task {}",
            match closed {
                Some(true) => "closed",
                Some(false) => "kept open",
                None => "n/a",
            },
            if reason.is_empty() {
                String::new()
            } else if logged {
                format!(", logged \"{reason}\"")
            } else {
                ", NOT logged".into()
            },
            if alive { "alive" } else { "DEAD" },
            if serving { "completed" } else { "LOST" }
        );
        let ok = alive && serving && logged && closed.is_none_or(|c| c == expect_close);
        rows.push(Row {
            input,
            expected,
            observed,
            ok,
        });
    };

    case(
        &mut s,
        "wrong magic (HTTP request)",
        "closed, logged",
        true,
        "bad YMQ magic",
        &|| {
            let mut t = TcpStream::connect(addr).unwrap();
            t.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "magic of YMQ v1 (Scaler 2.6)",
        "closed, logged",
        true,
        "bad YMQ magic [59, 4d, 51, 01]",
        &|| {
            let mut t = TcpStream::connect(addr).unwrap();
            t.write_all(b"YMQ\x01").unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "magic, then no identity, then silence",
        "kept open (legal, idle)",
        false,
        "",
        &|| {
            let mut t = TcpStream::connect(addr).unwrap();
            t.write_all(&MAGIC).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "identity frame announcing 1 TiB",
        "closed, logged",
        true,
        "exceeds the limit of 4096",
        &|| {
            let mut t = TcpStream::connect(addr).unwrap();
            t.write_all(&MAGIC).unwrap();
            t.write_all(&(1u64 << 40).to_le_bytes()).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "zero-length frame after handshake",
        "closed, logged (not a capnp message)",
        true,
        "invalid capnp message",
        &|| {
            let mut t = raw(addr, b"Client|zero");
            t.write_all(&frame(b"")).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "frame of exactly the limit (1 MiB of zeros)",
        "closed, logged (not a valid message)",
        true,
        "invalid capnp",
        &|| {
            let mut t = raw(addr, b"Client|max");
            t.write_all(&frame(&vec![0u8; MAX_FRAME as usize])).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "length one above the limit",
        "closed before buffering, logged",
        true,
        "exceeds the limit of 1048576",
        &|| {
            let mut t = raw(addr, b"Client|over");
            t.write_all(&(MAX_FRAME + 1).to_le_bytes()).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "length u64::MAX",
        "closed before buffering, logged",
        true,
        "18446744073709551615 bytes exceeds",
        &|| {
            let mut t = raw(addr, b"Client|huge");
            t.write_all(&u64::MAX.to_le_bytes()).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "truncated frame, then the peer closes",
        "dropped with the connection",
        false,
        "",
        &|| {
            let mut t = raw(addr, b"Client|trunc");
            t.write_all(&100u64.to_le_bytes()).unwrap();
            t.write_all(&[7u8; 50]).unwrap();
            drop(t);
            None
        },
    );
    case(
        &mut s,
        "garbage Cap'n Proto",
        "closed, logged",
        true,
        "invalid capnp message",
        &|| {
            let mut t = raw(addr, b"Client|garbage");
            t.write_all(&frame(&[0x5a; 64])).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "traversal bomb: segment table of 2^31 segments",
        "closed, logged",
        true,
        "invalid capnp message",
        &|| {
            let mut t = raw(addr, b"Client|bomb1");
            let mut p = (u32::MAX / 2).to_le_bytes().to_vec();
            p.extend_from_slice(&[0xff; 60]);
            t.write_all(&frame(&p)).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "traversal bomb: list pointer claiming 2^29 elements",
        "closed, logged",
        true,
        "invalid capnp message",
        &|| {
            let mut t = raw(addr, b"Client|bomb2");
            let mut m = enc::task_cancel(b"t", true).to_vec();
            // Root struct (Message) ptr[0] -> TaskCancel; rewrite Message's pointer as a huge list pointer.
            let list_ptr: u64 = 1 | (5u64 << 32) | ((1u64 << 29) - 1) << 35;
            m[16 + 8..16 + 16].copy_from_slice(&list_ptr.to_le_bytes());
            t.write_all(&frame(&m)).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "unknown union member (99)",
        "closed, logged",
        true,
        "unknown Message union member 99",
        &|| {
            let mut t = raw(addr, b"Client|unknown");
            let mut m = enc::worker_disconnect_notification().to_vec();
            m[16] = 99;
            t.write_all(&frame(&m)).unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "message only the scheduler sends (ClientShutdownResponse)",
        "closed, logged",
        true,
        "which only the scheduler sends",
        &|| {
            let mut t = raw(addr, b"Client|wrongrole");
            t.write_all(&frame(&enc::client_shutdown_response(true)))
                .unwrap();
            Some(t)
        },
    );
    case(
        &mut s,
        "duplicate identity",
        "old connection replaced (closed), logged",
        true,
        "reconnected: replacing",
        &|| {
            let first = raw(addr, b"Client|dup");
            std::thread::sleep(Duration::from_millis(100));
            let second = raw(addr, b"Client|dup");
            std::thread::sleep(Duration::from_millis(100));
            std::mem::forget(second);
            Some(first)
        },
    );
    case(
        &mut s,
        "slow sender (a heartbeat one byte at a time)",
        "served (echo received)",
        false,
        "",
        &|| {
            let mut t = TcpStream::connect(addr).unwrap();
            let mut all = MAGIC.to_vec();
            all.extend_from_slice(&frame(b"Client|slow"));
            all.extend_from_slice(&frame(&enc::client_heartbeat(&ClientHeartbeat::default())));
            for byte in all {
                t.write_all(&[byte]).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            let mut p = peer_from(t);
            let echo = p.recv().ok().flatten().and_then(|f| decode(&f).ok());
            assert!(
                matches!(
                    echo,
                    Some(Message::NotForScheduler(
                        scaler_rs::wire::Kind::ClientHeartbeatEcho
                    ))
                ),
                "slow sender served"
            );
            Some(p.stream)
        },
    );
    case(
        &mut s,
        "peer that never reads (200k heartbeats, echoes pile up)",
        "closed when its queue passes --max-queued-bytes, logged",
        true,
        "peer is not reading",
        &|| {
            let mut t = raw(addr, b"Client|deaf");
            let one = frame(&enc::client_heartbeat(&ClientHeartbeat::default()));
            let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
            t.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            for _ in 0..200 {
                if t.write_all(&batch).is_err() {
                    break;
                }
            }
            Some(t)
        },
    );
    let before = rss_kib(s.child.id());
    case(
        &mut s,
        "2000 connections at once",
        "all served; memory bounded",
        false,
        "",
        &|| {
            let conns: Vec<TcpStream> = (0..2000)
                .map(|i| raw(addr, format!("Client|many{i}").as_bytes()))
                .collect();
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                healthy(addr, "during-many"),
                "serving with 2000 connections open"
            );
            drop(conns);
            None
        },
    );
    let after = rss_kib(s.child.id());

    println!("\n| input | expected | observed |\n|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {}{} |",
            r.input,
            r.expected,
            r.observed,
            if r.ok { "" } else { " **FAIL**" }
        );
    }
    println!("\nscheduler RSS: {before} KiB before the 2000 connections, {after} KiB after (limit checked: < 256 MiB)");
    assert!(after < 256 * 1024, "memory stays bounded");
    assert!(rows.iter().all(|r| r.ok), "every row as expected");
    assert_eq!(s.terminate(), Some(0));
}

fn peer_from(stream: TcpStream) -> Peer {
    Peer::from_stream(stream)
}
