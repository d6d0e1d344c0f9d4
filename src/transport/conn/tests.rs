use super::*;
use std::time::{Duration, Instant};

/// A connection in the Ready phase, and the peer's end of its socket.
fn pair() -> (Conn, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    let mut c = Conn::new(
        mio::net::TcpStream::from_std(ours),
        Role::Main,
        &Bytes::from_static(b"scheduler"),
    );
    let mut hello = MAGIC.to_vec();
    frame::encode_into(b"peer", &mut hello);
    (&peer).write_all(&hello).unwrap();
    let mut got = Received::default();
    read_until(&mut c, u64::MAX, &mut got, |g| g.identity.is_some()).unwrap();
    assert!(c.is_ready());
    (c, peer)
}

fn read_until(
    c: &mut Conn,
    max: u64,
    got: &mut Received,
    done: impl Fn(&Received) -> bool,
) -> Result<(), String> {
    read_for(c, max, got, done, Duration::from_secs(5))
}

/// Reads until `done`, an error, or `wait` passes ("timed out").
fn read_for(
    c: &mut Conn,
    max: u64,
    got: &mut Received,
    done: impl Fn(&Received) -> bool,
    wait: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    while !done(got) {
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
        c.read(max, 1000, got).map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Waits until the kernel has `n` bytes queued for `c` (so that one read can see them all).
fn wait_queued(c: &Conn, n: usize) {
    let t = Instant::now();
    let mut buf = vec![0u8; n];
    while c.stream.peek(&mut buf).unwrap_or(0) < n && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_short_read_ends_the_read_and_a_closing_peer_is_read_to_its_eof() {
    let (mut c, peer) = pair();
    let mut one = Vec::new();
    frame::encode_into(b"task", &mut one);
    (&peer).write_all(&one).unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    wait_queued(&c, one.len());
    let mut got = Received::default();
    // Without the closing hint the short read ends the call: the frame, and the EOF left for the
    // readiness event that reported it.
    assert!(matches!(c.read(u64::MAX, 1000, &mut got), Ok(false)));
    assert_eq!(got.frames.len(), 1);
    let (mut c, peer) = pair();
    (&peer).write_all(&one).unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    wait_queued(&c, one.len());
    let mut got = Received::default();
    c.peer_closing = true;
    assert!(matches!(
        c.read(u64::MAX, 1000, &mut got),
        Err(ConnError::Eof)
    ));
    assert_eq!(got.frames.len(), 1, "the frame before the EOF is kept");
}

#[test]
fn one_read_call_takes_a_bounded_number_of_bytes() {
    let (mut c, peer) = pair();
    c.read_bytes_per_turn = 16 * 1024;
    let size = 1 << 20;
    let mut data = (size as u64).to_le_bytes().to_vec();
    data.extend_from_slice(&vec![7u8; size]);
    let total = data.len();
    let writer = std::thread::spawn(move || (&peer).write_all(&data).map(|_| peer));
    // More than the bound is waiting, so only the bound (not the socket running dry) can end the
    // call; closing, so that no short read ends it either.
    wait_queued(&c, 32 * 1024);
    c.peer_closing = true;
    let mut got = Received::default();
    assert!(
        matches!(c.read(u64::MAX, 1000, &mut got), Ok(true)),
        "more to read"
    );
    assert!(got.frames.is_empty());
    assert!(
        c.rbuf.len() <= c.read_bytes_per_turn,
        "{} of {total} bytes taken at once",
        c.rbuf.len()
    );
    read_until(&mut c, u64::MAX, &mut got, |g| !g.frames.is_empty()).unwrap();
    assert_eq!(got.frames[0].len(), size);
    let _peer = writer.join().unwrap().unwrap();
}

/// The same bound once a frame is read into a mapping of its own, whose spare room is the rest of the
/// frame: one call copies (and faults in) at most the bound, while the socket holds more.
#[test]
fn a_large_frame_is_read_a_bounded_number_of_bytes_at_a_time() {
    let (mut c, peer) = pair();
    let size = LARGE_FROM + (4 << 20);
    let mut data = (size as u64).to_le_bytes().to_vec();
    data.extend_from_slice(&vec![5u8; size]);
    let writer = std::thread::spawn(move || (&peer).write_all(&data).map(|_| peer));
    let mut got = Received::default();
    let t = Instant::now();
    while c.large.is_none() && t.elapsed() < Duration::from_secs(10) {
        c.read(u64::MAX, 1000, &mut got).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(c.large.is_some(), "the frame moved to its own mapping");
    c.read_bytes_per_turn = 16 * 1024;
    c.peer_closing = true;
    wait_queued(&c, 32 * 1024);
    let before = c.large.as_ref().map_or(0, |l| l.as_ref().len());
    assert!(matches!(c.read(u64::MAX, 1000, &mut got), Ok(true)));
    let after = c.large.as_ref().map_or(0, |l| l.as_ref().len());
    assert!(
        after > before && after - before <= 16 * 1024,
        "{} bytes in one call",
        after - before
    );
    c.read_bytes_per_turn = READ_BYTES_PER_TURN;
    read_until(&mut c, u64::MAX, &mut got, |g| !g.frames.is_empty()).unwrap();
    assert_eq!(got.frames[0].len(), size);
    let _peer = writer.join().unwrap().unwrap();
}

#[test]
fn buffer_follows_the_bytes_that_arrived_not_the_declared_length() {
    for max in [1u64 << 30, u64::MAX] {
        let (mut c, peer) = pair();
        let mut got = Received::default();
        let mut data = (1u64 << 29).to_le_bytes().to_vec();
        data.extend_from_slice(&[1; 100]);
        (&peer).write_all(&data).unwrap();
        let idle = read_for(&mut c, max, &mut got, |_| false, Duration::from_millis(100));
        assert_eq!(idle, Err("timed out".into()));
        assert!(got.frames.is_empty());
        assert!(
            c.receive_capacity() <= INITIAL_RBUF + GROW_STEP,
            "capacity {} after 108 bytes of a 512 MiB frame",
            c.receive_capacity()
        );
        // 1 MiB more: the buffer grows with it, at most doubling past what is held.
        (&peer).write_all(&vec![2u8; 1 << 20]).unwrap();
        let t = Instant::now();
        while c.rbuf.len() < (1 << 20) + 108 && t.elapsed() < Duration::from_secs(5) {
            c.read(max, 1000, &mut got).unwrap();
        }
        assert_eq!(c.rbuf.len(), (1 << 20) + 108);
        assert!(c.receive_capacity() <= 2 * c.rbuf.len() + 2 * GROW_STEP);
    }
}

#[test]
fn buffer_never_grows_past_one_frame_under_the_limit() {
    let (mut c, peer) = pair();
    let mut got = Received::default();
    let max = 200_000u64;
    let mut data = max.to_le_bytes().to_vec();
    data.extend_from_slice(&vec![3u8; max as usize - 1]);
    (&peer).write_all(&data).unwrap();
    let t = Instant::now();
    while c.rbuf.len() < data.len() && t.elapsed() < Duration::from_secs(5) {
        c.read(max, 1000, &mut got).unwrap();
    }
    assert!(c.receive_capacity() <= frame::max_buffered(max) + GROW_STEP + MIN_READ);
    (&peer).write_all(&[3u8]).unwrap();
    read_until(&mut c, max, &mut got, |g| !g.frames.is_empty()).unwrap();
    assert_eq!(got.frames[0].len(), max as usize);
}

#[test]
fn wrapping_and_oversized_lengths_are_errors_before_any_buffering() {
    for (len, max) in [
        (u64::MAX, u64::MAX),
        (u64::MAX - 3, u64::MAX),
        (1 << 45, 1 << 30),
    ] {
        let (mut c, peer) = pair();
        let mut got = Received::default();
        (&peer).write_all(&len.to_le_bytes()).unwrap();
        let err = read_until(&mut c, max, &mut got, |_| false).unwrap_err();
        assert!(err.contains("exceeds the limit"), "{len}: {err}");
        assert!(c.receive_capacity() <= INITIAL_RBUF + GROW_STEP);
    }
}

/// A server-side ws:// connection (Upgrade not yet requested), and the peer's end of its socket.
fn ws_pair(max_message: u64) -> (Conn, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    let id = Bytes::from_static(b"scheduler");
    let c = Conn::new(mio::net::TcpStream::from_std(ours), Role::Main, &id).with_ws(
        WsLayer::server(max_message),
        None,
        &id,
    );
    (c, peer)
}

/// Sends the Upgrade request and reads until the connection has queued its answer.
fn upgrade(c: &mut Conn, peer: &std::net::TcpStream, got: &mut Received) {
    let (request, _) = crate::wire::ws::handshake::request("127.0.0.1", 1, "/", [7; 16]);
    (&*peer).write_all(&request).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.wqueue.is_empty() {
        assert!(Instant::now() < deadline, "no 101 answer");
        let _ = c.read(u64::MAX, 64, got);
    }
}

#[test]
fn bytes_held_until_the_websocket_upgrade_are_counted_once() {
    let (mut c, peer) = ws_pair(1 << 20);
    // The magic and identity wait in the layer's hold until the Upgrade; they count as queued.
    let held = c.queued_bytes();
    assert!(held > 0);
    let mut got = Received::default();
    upgrade(&mut c, &peer, &mut got);
    let in_queue: usize = c.wqueue.iter().map(|b| b.len()).sum();
    assert_eq!(c.queued_bytes(), in_queue, "released bytes counted twice");
    while c.flush().unwrap() != Flushed::All {}
    assert_eq!(c.queued_bytes(), 0);
}

#[test]
fn a_large_frame_grown_in_place_arrives_intact_between_small_ones() {
    let (mut c, peer) = pair();
    let mut got = Received::default();
    let large: Vec<u8> = (0..(3usize << 20) + 12345)
        .map(|i| (i * 7 + i / 4099) as u8)
        .collect();
    let mut data = Vec::new();
    for payload in [&b"first"[..], &large, &b"last"[..]] {
        data.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        data.extend_from_slice(payload);
    }
    let writer = std::thread::spawn(move || (&peer).write_all(&data).map(|_| peer));
    // The first frame stays referenced while the large one grows: the buffer it was cut from is
    // shared, so the first growth must copy rather than take the allocation over.
    read_until(&mut c, 1 << 30, &mut got, |g| !g.frames.is_empty()).unwrap();
    let first = got.frames.remove(0);
    read_until(&mut c, 1 << 30, &mut got, |g| g.frames.len() >= 2).unwrap();
    assert_eq!(&first[..], b"first");
    assert!(got.frames[0][..] == large[..], "large frame corrupted");
    assert_eq!(&got.frames[1][..], b"last");
    assert!(c.receive_capacity() <= 2 * large.len() + 2 * GROW_STEP);
    let _peer = writer.join().unwrap().unwrap();
}

#[test]
fn frames_past_large_from_move_to_their_own_mapping_and_arrive_intact() {
    let (mut c, peer) = pair();
    let mut got = Received::default();
    let pattern =
        |n: usize, k: usize| -> Vec<u8> { (0..n).map(|i| (i * k + i / 4099) as u8).collect() };
    let big = pattern(LARGE_FROM + (3 << 20) + 777, 7);
    let just = pattern(LARGE_FROM + 5, 13);
    let mut data = Vec::new();
    for payload in [&b"first"[..], &big, &b"mid"[..], &just, &b"last"[..]] {
        data.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        data.extend_from_slice(payload);
    }
    // The stream goes out in three pieces, each ending inside a large frame past LARGE_FROM (or at
    // the end), so that both frames are partial when their first LARGE_FROM bytes are in, whatever
    // the kernel's read sizes.
    let cut1 = 13 + 8 + LARGE_FROM + (1 << 20);
    let cut2 = 13 + 8 + big.len() + 11 + 8 + LARGE_FROM + 2;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let writer = std::thread::spawn(move || {
        for piece in rx {
            (&peer).write_all(&piece)?;
        }
        Ok::<_, io::Error>(peer)
    });
    let read_while =
        |c: &mut Conn, got: &mut Received, until: &dyn Fn(&Conn, &Received) -> bool| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !until(c, got) {
                assert!(Instant::now() < deadline, "timed out");
                c.read(1 << 30, 1000, got).unwrap();
                // Memory follows what arrived: a mapping only once LARGE_FROM bytes of the frame are in.
                if let Some(l) = &c.large {
                    assert!(l.as_ref().len() >= LARGE_FROM);
                    assert!(c.rbuf.is_empty(), "bytes left behind in the small buffer");
                }
            }
        };
    tx.send(data[..cut1].to_vec()).unwrap();
    read_while(&mut c, &mut got, &|c, _| c.large.is_some());
    tx.send(data[cut1..cut2].to_vec()).unwrap();
    read_while(&mut c, &mut got, &|c, g| {
        g.frames.len() == 3 && c.large.is_some()
    });
    tx.send(data[cut2..].to_vec()).unwrap();
    drop(tx);
    read_while(&mut c, &mut got, &|_, g| g.frames.len() == 5);
    assert_eq!(&got.frames[0][..], b"first");
    assert!(got.frames[1][..] == big[..], "first large frame corrupted");
    assert_eq!(&got.frames[2][..], b"mid");
    assert!(
        got.frames[3][..] == just[..],
        "second large frame corrupted"
    );
    assert_eq!(&got.frames[4][..], b"last");
    // Both large payloads start on a huge-page boundary, i.e. in mappings of their own; a payload cut
    // from the receive buffer sits a frame header past its allocation's start.
    for f in [&got.frames[1], &got.frames[3]] {
        assert_eq!(f.as_ptr() as usize % (2 << 20), 0);
    }
    assert!(c.large.is_none());
    assert!(c.receive_capacity() <= INITIAL_RBUF + GROW_STEP);
    let _peer = writer.join().unwrap().unwrap();
}

#[test]
fn a_declared_large_frame_gets_no_mapping_until_its_bytes_arrive() {
    let (mut c, peer) = pair();
    let mut got = Received::default();
    let mut data = (1u64 << 30).to_le_bytes().to_vec();
    data.extend_from_slice(&vec![5u8; LARGE_FROM - 1]);
    let sent = data.len();
    let writer = std::thread::spawn(move || (&peer).write_all(&data).map(|_| peer));
    let t = Instant::now();
    while c.rbuf.len() < sent && t.elapsed() < Duration::from_secs(5) {
        c.read(1 << 30, 1000, &mut got).unwrap();
    }
    assert_eq!(c.rbuf.len(), sent);
    let peer = writer.join().unwrap().unwrap();
    assert!(c.large.is_none(), "mapped on a declared length");
    (&peer).write_all(&[5u8; 2]).unwrap();
    read_for(
        &mut c,
        1 << 30,
        &mut got,
        |_| false,
        Duration::from_millis(200),
    )
    .unwrap_err();
    assert!(c
        .large
        .as_ref()
        .is_some_and(|l| l.as_ref().len() == LARGE_FROM + 1));
}

#[test]
fn a_large_frame_over_websocket_moves_to_its_mapping_unmasked_and_intact() {
    use crate::wire::ws::frame::{masked_frame, OP_BINARY};
    let (mut c, peer) = ws_pair(1 << 30);
    let mut got = Received::default();
    upgrade(&mut c, &peer, &mut got);
    let deadline = Instant::now() + Duration::from_secs(20);
    // One YMQ frame per binary message, as 2.9.0 sends: the magic, the identity, then the frames.
    let mask = [0x5a, 0x17, 0xc3, 0x81];
    let big: Vec<u8> = (0..LARGE_FROM + (2 << 20) + 3)
        .map(|i| (i * 11 + i / 4099) as u8)
        .collect();
    let mut data = masked_frame(OP_BINARY, &[&MAGIC], mask);
    for payload in [&b"peer"[..], b"small", &big, b"after"] {
        data.extend(masked_frame(
            OP_BINARY,
            &[&(payload.len() as u64).to_le_bytes(), payload],
            mask,
        ));
    }
    // The first piece ends inside the large frame, 1 MiB past LARGE_FROM of it.
    let cut = data.len() - (1 << 20) - 64;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let writer = std::thread::spawn(move || {
        for piece in rx {
            (&peer).write_all(&piece)?;
        }
        Ok::<_, io::Error>(peer)
    });
    tx.send(data[..cut].to_vec()).unwrap();
    while c.large.is_none() {
        assert!(Instant::now() < deadline, "never switched to a mapping");
        c.read(1 << 30, 1000, &mut got).unwrap();
    }
    tx.send(data[cut..].to_vec()).unwrap();
    drop(tx);
    while got.frames.len() < 3 {
        assert!(Instant::now() < deadline, "timed out");
        c.read(1 << 30, 1000, &mut got).unwrap();
    }
    assert_eq!(got.identity.as_deref(), Some(&b"peer"[..]));
    assert_eq!(&got.frames[0][..], b"small");
    assert!(got.frames[1][..] == big[..], "large frame corrupted");
    assert_eq!(got.frames[1].as_ptr() as usize % (2 << 20), 0);
    assert_eq!(&got.frames[2][..], b"after");
    let _peer = writer.join().unwrap().unwrap();
}

/// A peer that reads as fast as we write gets one turn's budget per flush, not the whole queue.
#[test]
fn one_flush_writes_at_most_the_turn_budget() {
    const BUDGET: usize = 4096;
    const PAYLOAD: usize = 200 * 1024;
    let (mut c, peer) = pair();
    c.write_bytes_per_turn = BUDGET;
    c.queue_frame(Bytes::from(vec![9u8; PAYLOAD]));
    let queued = c.queued_bytes();
    // A loopback socket takes far more than 4 KiB, so only the budget stops the first flush.
    assert_eq!(c.flush().unwrap(), Flushed::Budget);
    assert_eq!(queued - c.queued_bytes(), BUDGET);
    let reader = std::thread::spawn(move || {
        let mut sink = vec![0u8; 1 << 16];
        let mut total = 0;
        let mut p = peer;
        while total < queued {
            match p.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    });
    let mut flushes = 1;
    loop {
        match c.flush().unwrap() {
            Flushed::All => break,
            Flushed::Budget => flushes += 1,
            Flushed::Blocked => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    assert!(
        flushes >= queued / BUDGET,
        "{flushes} flushes of {queued} bytes"
    );
    assert_eq!(reader.join().unwrap(), queued);
}
