//! Cap'n Proto decoding of arbitrary payloads never panics; whatever the fast hot-path reader accepts, the
//! generic `capnp` decoder reads to the same value; whatever decodes re-encodes and decodes to the same
//! value for the members the scheduler accepts.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use scaler_rs::wire::{decode, decode::decode_generic, encode as enc, fast, Message};

/// Re-encodes the members that have an encoder; `None` for the rest.
fn reencode(m: &Message) -> Option<Bytes> {
    Some(match m {
        Message::Task(t) => enc::task(t),
        Message::GraphTask(g) => enc::graph_task(g),
        Message::ObjectInstruction(o) => enc::object_instruction(o),
        Message::ClientHeartbeat(h) => enc::client_heartbeat(h),
        Message::WorkerHeartbeat(h) => enc::worker_heartbeat(h),
        Message::WorkerManagerHeartbeat(h) => enc::worker_manager_heartbeat(h),
        _ => return None,
    })
}

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    if let Some(m) = fast::decode(&frame) {
        assert_eq!(Ok(m), decode_generic(&frame));
    }
    let Ok(msg) = decode(&frame) else { return };
    let Some(again) = reencode(&msg) else { return };
    let back = decode(&again).expect("re-encoded message decodes");
    // Text fields go through lossy UTF-8; compare after one normalisation round.
    let third = decode(&reencode(&back).expect("same member")).unwrap();
    assert_eq!(back, third);
});
