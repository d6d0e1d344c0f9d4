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
    assert!(c.rbuf.len() < total, "{} bytes taken at once", c.rbuf.len());
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

#[test]
fn bytes_held_until_the_websocket_upgrade_are_counted_once() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept().unwrap();
    ours.set_nonblocking(true).unwrap();
    let id = Bytes::from_static(b"scheduler");
    let mut c = Conn::new(mio::net::TcpStream::from_std(ours), Role::Main, &id).with_ws(
        WsLayer::server(1 << 20),
        None,
        &id,
    );
    // The magic and identity wait in the layer's hold until the Upgrade; they count as queued.
    let held = c.queued_bytes();
    assert!(held > 0);
    let (request, _) = crate::wire::ws::handshake::request("127.0.0.1", 1, "/", [7; 16]);
    (&peer).write_all(&request).unwrap();
    let mut got = Received::default();
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.wqueue.is_empty() {
        assert!(Instant::now() < deadline, "no 101 answer");
        let _ = c.read(u64::MAX, 64, &mut got);
    }
    let in_queue: usize = c.wqueue.iter().map(|b| b.len()).sum();
    assert_eq!(c.queued_bytes(), in_queue, "released bytes counted twice");
    while !c.flush().unwrap() {}
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
