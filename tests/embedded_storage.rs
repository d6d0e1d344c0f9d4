//! The embedded object storage server over loopback: replies reach the peer that asked, also when
//! the answer was parked and another peer's request completes it, and also when the asker reconnected
//! under the same identity in between (2.9.0 answers parked requests by identity).
mod common;
use common::Scheduler;
use scaler_rs::storage::header::{decode_response, ResponseType};
use scaler_rs::storage::{delete_request, get_request, set_request};
use scaler_rs::tools::peer::Peer;
use std::time::Duration;

fn storage_peer(s: &Scheduler, identity: &[u8]) -> Peer {
    let p = Peer::connect(([127, 0, 0, 1], s.port + 1).into(), identity).unwrap();
    p.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    p
}

/// The next reply header's (type, request id), and its payload frame if it announces one.
fn reply(p: &mut Peer) -> (ResponseType, u64, Option<Vec<u8>>) {
    let h = decode_response(&p.recv().unwrap().expect("a reply")).unwrap();
    let payload = (h.payload_length > 0).then(|| p.recv().unwrap().unwrap().to_vec());
    (h.kind, h.response_id, payload)
}

fn set(p: &mut Peer, id: &[u8; 32], payload: &'static [u8], request_id: u64) {
    let (h, body) = set_request(id, bytes::Bytes::from_static(payload), request_id);
    p.send(&h).unwrap();
    p.send(&body).unwrap();
}

#[test]
fn replies_reach_the_asker_including_parked_answers_and_reconnected_askers() {
    let s = Scheduler::start(&[]);
    let (x, y, z) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let mut a = storage_peer(&s, b"peer-a");
    let mut b = storage_peer(&s, b"peer-b");

    // A's get of a missing object waits; B's set answers B and completes A's get.
    a.send(&get_request(&x, 11)).unwrap();
    set(&mut b, &x, b"hello", 21);
    assert_eq!(reply(&mut b), (ResponseType::SetOk, 21, None));
    assert_eq!(
        reply(&mut a),
        (ResponseType::GetOk, 11, Some(b"hello".to_vec()))
    );

    // Direct answers go to whoever asked, interleaved.
    b.send(&get_request(&x, 22)).unwrap();
    a.send(&delete_request(&y, 12)).unwrap();
    assert_eq!(reply(&mut a), (ResponseType::DelNotExists, 12, None));
    assert_eq!(
        reply(&mut b),
        (ResponseType::GetOk, 22, Some(b"hello".to_vec()))
    );

    // A parks a get, leaves, comes back under the same identity: the answer finds the new connection.
    a.send(&get_request(&z, 13)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(a);
    std::thread::sleep(Duration::from_millis(200));
    let mut a2 = storage_peer(&s, b"peer-a");
    set(&mut b, &z, b"late", 23);
    assert_eq!(reply(&mut b), (ResponseType::SetOk, 23, None));
    assert_eq!(
        reply(&mut a2),
        (ResponseType::GetOk, 13, Some(b"late".to_vec()))
    );
    let mut s = s;
    assert!(s.alive());
    assert_eq!(s.terminate(), Some(0));
}

fn scaler_objects(metrics_port: u16) -> u64 {
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    t.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    t.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("scaler_objects ")?.parse().ok())
        .unwrap_or_else(|| panic!("no scaler_objects in\n{text}"))
}

/// A 2.9.0 client deletes each result in the object storage server after fetching it and never tells
/// the scheduler; with the embedded server the scheduler sees the deletion and drops its record, so a
/// long-lived client's results do not pile up in the scheduler.
#[test]
fn an_object_deleted_in_embedded_storage_leaves_the_scheduler_too() {
    use scaler_rs::wire::{encode as enc, ClientHeartbeat, InstructionType, ObjectInstruction};
    let metrics_port = common::free_ports();
    let s = Scheduler::start(&[
        "--metrics-address",
        &format!("tcp://127.0.0.1:{metrics_port}"),
    ]);
    let client_id = bytes::Bytes::from_static(b"Client|objects-test");
    let mut client = Peer::connect(s.addr(), &client_id).unwrap();
    client
        .send(&enc::client_heartbeat(&ClientHeartbeat::default()))
        .unwrap();
    let (kept, deleted) = ([5u8; 32], [6u8; 32]);
    client
        .send(&enc::object_instruction(&ObjectInstruction {
            kind: InstructionType::Create,
            object_user: client_id.clone(),
            ids: vec![
                bytes::Bytes::copy_from_slice(&kept),
                bytes::Bytes::copy_from_slice(&deleted),
            ]
            .into(),
            types: vec![1, 1].into(),
            names: vec![
                bytes::Bytes::from_static(b"a"),
                bytes::Bytes::from_static(b"b"),
            ]
            .into(),
            sizes: vec![1, 1].into(),
        }))
        .unwrap();
    let mut st = storage_peer(&s, b"storage-user");
    set(&mut st, &kept, b"k", 1);
    set(&mut st, &deleted, b"d", 2);
    assert_eq!(reply(&mut st).0, ResponseType::SetOk);
    assert_eq!(reply(&mut st).0, ResponseType::SetOk);
    assert_eq!(scaler_objects(metrics_port), 2);

    st.send(&delete_request(&deleted, 3)).unwrap();
    assert_eq!(reply(&mut st), (ResponseType::DelOk, 3, None));
    // A delete of an id the storage server does not have changes nothing.
    st.send(&delete_request(&[7u8; 32], 4)).unwrap();
    assert_eq!(reply(&mut st), (ResponseType::DelNotExists, 4, None));
    assert_eq!(scaler_objects(metrics_port), 1);
    let mut s = s;
    assert!(s.alive());
    assert_eq!(s.terminate(), Some(0));
}

/// A reply larger than one turn's write budget (1 MiB) keeps going turn after turn with nothing else
/// happening: no readiness edge announces the room left, so the loop must come back on its own.
#[test]
fn a_reply_larger_than_a_turns_write_budget_arrives_whole_on_an_idle_scheduler() {
    let s = Scheduler::start(&[]);
    let id = [8u8; 32];
    let payload: Vec<u8> = (0..(16usize << 20) + 5).map(|i| (i % 251) as u8).collect();
    let mut p = storage_peer(&s, b"big-reader");
    let (h, body) = set_request(&id, bytes::Bytes::from(payload.clone()), 1);
    p.send(&h).unwrap();
    p.send(&body).unwrap();
    assert_eq!(reply(&mut p), (ResponseType::SetOk, 1, None));
    let asked = std::time::Instant::now();
    p.send(&get_request(&id, 2)).unwrap();
    let (kind, request, got) = reply(&mut p);
    // Liveness, not speed: a loop that waited for its next timer between budgets took 8 s here (16
    // budgets, one per housekeeping wake-up); loopback moves 16 MiB in milliseconds.
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "16 MiB took {:?}",
        asked.elapsed()
    );
    assert_eq!((kind, request), (ResponseType::GetOk, 2));
    assert!(
        got.as_deref() == Some(&payload[..]),
        "the object arrived whole"
    );
    let mut s = s;
    assert!(s.alive());
    assert_eq!(s.terminate(), Some(0));
}
