//! A hostile external object storage server (`--object-storage-address`): every connection the
//! scheduler makes to it gets the next bad input. Each must close the link with a logged reason and be
//! followed by a reconnect (backoff), while the scheduler stays up and keeps serving a client and a
//! worker. Rows of docs/bad-input-matrix.md ("storage link") name this test.
mod common;
mod hostile;
use hostile::{closed_within, healthy, vm_size_kib};
use scaler_rs::wire::frame::MAGIC;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

/// What the fake server does on one connection, after its half of the handshake.
#[derive(Clone, Copy, Debug)]
enum Bad {
    /// A frame header announcing this many bytes, and then a few bytes of it.
    Length(u64),
    /// A whole frame that is not a Cap'n Proto reply header.
    GarbageCapnp,
    /// The wrong magic instead of YMQ's.
    WrongMagic,
    /// A 100-byte frame sent one byte every 20 ms: slow, must cost no more than it sent.
    Trickle,
}

/// Accepts connections forever; the i-th gets `plan[i]` (past the plan: a well-behaved, silent
/// server). Reports (index, whether the scheduler closed it within 10 s) per connection.
fn fake_server(plan: Vec<Bad>) -> (u16, mpsc::Receiver<(usize, bool)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (i, s) in l.incoming().enumerate() {
            let Ok(s) = s else { continue };
            let tx = tx.clone();
            let bad = plan.get(i).copied();
            std::thread::spawn(move || {
                let closed = serve(s, bad);
                let _ = tx.send((i, closed));
            });
        }
    });
    (port, rx)
}

/// Whether the scheduler closed the connection.
fn serve(mut s: TcpStream, bad: Option<Bad>) -> bool {
    let mut hello = MAGIC.to_vec();
    if matches!(bad, Some(Bad::WrongMagic)) {
        hello = b"HTTP".to_vec();
    }
    let id = b"fake-object-storage";
    hello.extend_from_slice(&(id.len() as u64).to_le_bytes());
    hello.extend_from_slice(id);
    let _ = s.write_all(&hello);
    match bad {
        Some(Bad::Length(n)) => {
            let mut h = n.to_le_bytes().to_vec();
            h.extend_from_slice(&[0x11; 100]);
            let _ = s.write_all(&h);
        }
        Some(Bad::GarbageCapnp) => {
            let junk = [0x5au8; 64];
            let mut f = (junk.len() as u64).to_le_bytes().to_vec();
            f.extend_from_slice(&junk);
            let _ = s.write_all(&f);
        }
        Some(Bad::Trickle) => {
            let _ = s.write_all(&100u64.to_le_bytes());
            for _ in 0..100 {
                if s.write_all(&[0x22]).is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(Bad::WrongMagic) | None => {}
    }
    // Read (and discard) what the scheduler sends until it closes, or 10 s pass.
    closed_within(s, Duration::from_secs(10))
}

#[test]
fn hostile_object_storage_server_is_dropped_and_reconnected() {
    let plan = vec![
        Bad::Length(u64::MAX),
        Bad::Length(1 << 45),
        Bad::GarbageCapnp,
        Bad::WrongMagic,
        Bad::Length(u64::MAX - 7),
    ];
    let reasons = [
        "frame of 18446744073709551615 bytes exceeds the limit of 1048576",
        "frame of 35184372088832 bytes exceeds the limit of 1048576",
        "closing the object storage link: unreadable reply",
        "bad YMQ magic",
        "frame of 18446744073709551608 bytes exceeds the limit of 1048576",
    ];
    let (oss, rx) = fake_server(plan.clone());
    let mut s = common::Scheduler::start(&[
        "--object-storage-address",
        &format!("tcp://127.0.0.1:{oss}"),
    ]);
    let addr = s.addr();
    for (i, bad) in plan.iter().enumerate() {
        let (n, closed) = rx
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no connection {i} ({bad:?}): the link was not retried"));
        assert_eq!(n, i);
        assert!(closed, "{bad:?}: the scheduler kept the link open");
        assert!(s.alive(), "{bad:?}: the scheduler died");
        let log = s.log_text();
        assert!(
            log.contains(reasons[i]),
            "{bad:?}: no \"{}\" in the log",
            reasons[i]
        );
        assert!(
            healthy(addr, &format!("storage{i}")),
            "{bad:?}: peers not served"
        );
    }
    // The connection after the plan is a quiet, well-behaved server: the link stays up (no report
    // within its 10 s watch) and peers are served through it.
    assert!(
        healthy(addr, "after"),
        "peers not served after the hostile server"
    );
    assert!(
        rx.recv_timeout(Duration::from_secs(2)).is_err(),
        "a well-behaved server was dropped"
    );
    assert!(s.log_text().contains("connected to object storage server"));
    assert_eq!(s.terminate(), Some(0));
}

#[test]
fn slow_trickle_from_the_object_storage_server_costs_only_what_it_sent() {
    let (oss, rx) = fake_server(vec![Bad::Trickle]);
    let mut s = common::Scheduler::start(&[
        "--object-storage-address",
        &format!("tcp://127.0.0.1:{oss}"),
    ]);
    let addr = s.addr();
    let pid = s.child.id();
    let before = vm_size_kib(pid);
    // While the 100-byte frame trickles in (2 s), the loop is not blocked on it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        healthy(addr, "trickle"),
        "peers not served during a trickle"
    );
    let (n, closed) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(n, 0);
    // Slow is not an error; the frame, once complete, is garbage, which closes the link.
    assert!(
        closed,
        "the trickled frame is not a reply header: the link closes"
    );
    assert!(s.log_text().contains("unreadable reply"));
    let after = vm_size_kib(pid);
    assert!(
        after < before + 64 * 1024,
        "VmSize {before} KiB -> {after} KiB"
    );
    assert!(s.alive());
    assert_eq!(s.terminate(), Some(0));
}
