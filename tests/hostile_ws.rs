//! The bad-input matrix over ws:// (the "WebSocket" section of docs/bad-input-matrix.md is this
//! test's output): for each hostile WebSocket input, only that connection is closed with a logged
//! reason (or, where the input is legal, it is served), the process keeps serving, and a well-behaved
//! client and worker over ws:// still complete a task.
mod common;
mod hostile;
use bytes::Bytes;
use hostile::{closed_by_server, healthy_at};
use scaler_rs::transport::Address;
use scaler_rs::wire::frame::MAGIC;
use scaler_rs::wire::ws::frame::{masked_frame, OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT};
use scaler_rs::wire::{decode, encode as enc, ClientHeartbeat, Message};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const MAX_FRAME: u64 = 1 << 20;
const MASK: [u8; 4] = [1, 2, 3, 4];
const UPGRADE: &str = "GET /ymq HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn ymq(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

fn msg(payload: &[u8]) -> Vec<u8> {
    masked_frame(OP_BINARY, &[payload], MASK)
}

/// Reads until the `101` head has arrived; returns what came after it.
fn read_upgrade_answer(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the upgrade");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    got.split_off(end)
}

/// A raw WebSocket connection past the Upgrade and the YMQ handshake as `identity`.
fn ws_raw(addr: SocketAddr, identity: &[u8]) -> TcpStream {
    ws_raw_with_rest(addr, identity).0
}

/// Also returns the server's bytes that came with its `101`.
fn ws_raw_with_rest(addr: SocketAddr, identity: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(UPGRADE.as_bytes()).unwrap();
    let rest = read_upgrade_answer(&mut s);
    let mut hello = msg(&MAGIC);
    hello.extend(msg(&ymq(identity)));
    s.write_all(&hello).unwrap();
    (s, rest)
}

struct Row {
    input: &'static str,
    expected: &'static str,
    observed: String,
    ok: bool,
}

#[test]
fn websocket_bad_input_matrix() {
    let mut s =
        common::Scheduler::start_at("ws", "/ymq", &["--max-frame-bytes", &MAX_FRAME.to_string()]);
    let addr = s.addr();
    let ws_addr = Address::parse(&format!("ws://127.0.0.1:{}/ymq", s.port)).unwrap();
    let mut rows: Vec<Row> = Vec::new();
    let mut case = |s: &mut common::Scheduler,
                    input: &'static str,
                    expected: &'static str,
                    expect_close: bool,
                    reason: &str,
                    run: &dyn Fn() -> TcpStream| {
        let log_before = s.log_text().len();
        let closed = closed_by_server(run());
        std::thread::sleep(Duration::from_millis(100));
        let logged = reason.is_empty() || s.log_text()[log_before..].contains(reason);
        let alive = s.alive();
        let serving = healthy_at(&ws_addr, &rows.len().to_string());
        let observed = format!(
            "{}{}; process {}; other peers' task {}",
            if closed { "closed" } else { "kept open" },
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
        rows.push(Row {
            input,
            expected,
            observed,
            ok: alive && serving && logged && closed == expect_close,
        });
    };
    let raw = |bytes: Vec<u8>| {
        move || {
            let mut t = TcpStream::connect(addr).unwrap();
            t.write_all(&bytes).unwrap();
            t
        }
    };

    case(
        &mut s,
        "plain YMQ on a ws:// port",
        "closed, logged",
        true,
        "not a websocket upgrade request",
        &raw(b"YMQ\x02\x08\0\0\0\0\0\0\0Client|x\r\n\r\n".to_vec()),
    );
    case(
        &mut s,
        "POST instead of GET",
        "closed, logged",
        true,
        "not a websocket upgrade request",
        &raw(UPGRADE.replace("GET", "POST").into_bytes()),
    );
    case(
        &mut s,
        "Sec-WebSocket-Version: 8",
        "closed, logged",
        true,
        "bad Sec-WebSocket-Version",
        &raw(UPGRADE.replace("Version: 13", "Version: 8").into_bytes()),
    );
    case(
        &mut s,
        "no Sec-WebSocket-Key",
        "closed, logged",
        true,
        "without sec-websocket-key",
        &raw(UPGRADE
            .replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
            .into_bytes()),
    );
    case(
        &mut s,
        "Upgrade head of 70 KiB without an end",
        "closed, logged",
        true,
        "without an end",
        &raw(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(70 * 1024)).into_bytes()),
    );
    case(
        &mut s,
        "text frame",
        "closed, logged",
        true,
        "text frame",
        &|| {
            let mut t = ws_raw(addr, b"Client|text");
            t.write_all(&masked_frame(OP_TEXT, &[b"hello"], MASK))
                .unwrap();
            t
        },
    );
    case(
        &mut s,
        "unmasked frame from a client",
        "closed, logged",
        true,
        "unmasked websocket frame",
        &|| {
            let mut t = ws_raw(addr, b"Client|unmasked");
            t.write_all(&[0x82, 0x02, 0, 0]).unwrap();
            t
        },
    );
    case(
        &mut s,
        "RSV1 set (no extension negotiated)",
        "closed, logged",
        true,
        "reserved bits",
        &|| {
            let mut t = ws_raw(addr, b"Client|rsv");
            let mut f = msg(b"x");
            f[0] |= 0x40;
            t.write_all(&f).unwrap();
            t
        },
    );
    case(
        &mut s,
        "message declaring 2^40 bytes",
        "closed before buffering, logged",
        true,
        "exceeds the limit of",
        &|| {
            let mut t = ws_raw(addr, b"Client|huge");
            let mut h = vec![0x82, 0xFF];
            h.extend_from_slice(&(1u64 << 40).to_be_bytes());
            h.extend_from_slice(&MASK);
            t.write_all(&h).unwrap();
            t
        },
    );
    case(
        &mut s,
        "ping of 126 bytes (control frames hold 125)",
        "closed, logged",
        true,
        "control frame",
        &|| {
            let mut t = ws_raw(addr, b"Client|bigping");
            t.write_all(&masked_frame(OP_PING, &[&[0u8; 126]], MASK))
                .unwrap();
            t
        },
    );
    case(
        &mut s,
        "continuation without a message",
        "closed, logged",
        true,
        "continuation frame outside",
        &|| {
            let mut t = ws_raw(addr, b"Client|stray");
            let mut f = msg(b"x");
            f[0] = 0x80;
            t.write_all(&f).unwrap();
            t
        },
    );
    case(
        &mut s,
        "ping",
        "answered with a pong carrying its payload, kept open",
        false,
        "",
        &|| {
            let mut t = ws_raw(addr, b"Client|ping");
            let pending = read_until_pong(&mut t);
            assert!(pending, "pong with the ping's payload");
            t
        },
    );
    case(
        &mut s,
        "heartbeat in two fragments with a ping between",
        "served (echo received), kept open",
        false,
        "",
        &|| {
            let (mut t, rest) = ws_raw_with_rest(addr, b"Client|frag");
            let hb = ymq(&enc::client_heartbeat(&ClientHeartbeat::default()));
            let (a, z) = hb.split_at(5);
            let mut first = masked_frame(OP_BINARY, &[a], MASK);
            first[0] &= 0x7F; // FIN clear
            let mut last = masked_frame(OP_BINARY, &[z], MASK);
            last[0] = 0x80; // continuation, FIN
            let mut wire = first;
            wire.extend(masked_frame(OP_PING, &[b"p"], MASK));
            wire.extend(last);
            t.write_all(&wire).unwrap();
            assert!(got_echo(&mut t, rest), "heartbeat echo after the fragments");
            t
        },
    );
    case(
        &mut s,
        "close frame in the middle of a YMQ frame",
        "closed, logged",
        true,
        "websocket close",
        &|| {
            let mut t = ws_raw(addr, b"Client|closemid");
            let hb = ymq(&enc::client_heartbeat(&ClientHeartbeat::default()));
            let mut wire = msg(&hb[..6]);
            wire.extend(masked_frame(OP_CLOSE, &[&1000u16.to_be_bytes()], MASK));
            t.write_all(&wire).unwrap();
            t
        },
    );

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
    assert!(rows.iter().all(|r| r.ok), "every row as expected");
    assert_eq!(s.terminate(), Some(0));
}

/// Sends a ping with a payload; true once the server's unmasked pong with that payload arrives.
fn read_until_pong(t: &mut TcpStream) -> bool {
    t.write_all(&masked_frame(OP_PING, &[b"are you there"], MASK))
        .unwrap();
    let want: Vec<u8> = [&[0x8A, 13][..], b"are you there"].concat();
    read_for(t, |got| got.windows(want.len()).any(|w| w == want))
}

/// True once the server sent a ClientHeartbeatEcho (after its magic and identity).
fn got_echo(t: &mut TcpStream, rest: Vec<u8>) -> bool {
    read_from(t, rest, |wire| {
        let mut d = scaler_rs::wire::ws::Decoder::new(false, u64::MAX);
        let mut buf = wire.to_vec();
        let Ok(n) = d.decode_in_place(&mut buf, &mut Vec::new()) else {
            return false;
        };
        let mut ymq_bytes = &buf[MAGIC.len().min(n)..n];
        while ymq_bytes.len() >= 8 {
            let len = u64::from_le_bytes(ymq_bytes[..8].try_into().unwrap()) as usize;
            if ymq_bytes.len() < 8 + len {
                break;
            }
            let echo = scaler_rs::wire::Kind::ClientHeartbeatEcho;
            if decode(&Bytes::copy_from_slice(&ymq_bytes[8..8 + len]))
                == Ok(Message::NotForScheduler(echo))
            {
                return true;
            }
            ymq_bytes = &ymq_bytes[8 + len..];
        }
        false
    })
}

fn read_for(t: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> bool {
    read_from(t, Vec::new(), done)
}

fn read_from(t: &mut TcpStream, mut got: Vec<u8>, done: impl Fn(&[u8]) -> bool) -> bool {
    t.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = t.read(&mut buf) {
            if n == 0 {
                return false;
            }
            got.extend_from_slice(&buf[..n]);
            if done(&got) {
                return true;
            }
        }
    }
    false
}
