//! Differential tests: whatever the fast reader accepts, the `capnp` crate decodes to the same value.
use super::decode as fast;
use crate::wire::decode::decode_generic as generic;
use crate::wire::encode as enc;
use crate::wire::*;
use bytes::Bytes;

/// splitmix64: deterministic, dependency-free randomness for the generators.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }

    fn bytes(&mut self, max: u64) -> Bytes {
        let n = self.below(max + 1);
        Bytes::from((0..n).map(|_| self.next() as u8).collect::<Vec<u8>>())
    }
}

fn random_task(r: &mut Rng) -> Task {
    Task {
        task_id: r.bytes(40),
        source: r.bytes(40),
        metadata: r.bytes(12),
        func_object_id: r.bytes(32),
        args: (0..r.below(5))
            .map(|_| TaskArg {
                is_task: r.below(2) == 0,
                data: r.bytes(40),
            })
            .collect(),
        capabilities: (0..r.below(3))
            .map(|i| Capability {
                name: ["gpu", "linux", "", "ünïcode"][(i + r.below(4)) % 4].to_string(),
                value: r.next() as i64,
            })
            .collect(),
    }
}

fn random_message(r: &mut Rng) -> Bytes {
    match r.below(3) {
        0 => enc::task(&random_task(r)),
        1 => {
            let results: Vec<Bytes> = (0..r.below(4)).map(|_| r.bytes(40)).collect();
            let kind = [
                ResultType::Success,
                ResultType::Failed,
                ResultType::FailedWorkerDied,
            ][r.below(3)];
            enc::task_result(&r.bytes(32), kind, &r.bytes(16), &results)
        }
        _ => {
            let n = r.below(4);
            enc::object_instruction(&ObjectInstruction {
                kind: [
                    InstructionType::Create,
                    InstructionType::Delete,
                    InstructionType::Clear,
                ][r.below(3)],
                object_user: r.bytes(30),
                ids: (0..n).map(|_| r.bytes(32)).collect(),
                types: (0..r.below(n as u64 + 1))
                    .map(|_| r.below(3) as u16)
                    .collect(),
                names: (0..n).map(|_| r.bytes(12)).collect(),
                sizes: (0..r.below(n as u64 + 1)).map(|_| r.next()).collect(),
            })
        }
    }
}

#[test]
fn accepts_every_hot_message_our_encoder_writes() {
    let mut r = Rng(1);
    for _ in 0..5000 {
        let frame = random_message(&mut r);
        let f = fast(&frame).expect("a single-segment hot message is read by the fast path");
        assert_eq!(Ok(f), generic(&frame));
    }
}

#[test]
fn mutated_messages_are_accepted_only_as_the_generic_decoder_reads_them() {
    let mut r = Rng(2);
    let (mut accepted, mut declined) = (0, 0);
    for _ in 0..200_000 {
        let mut v = random_message(&mut r).to_vec();
        for _ in 0..1 + r.below(3) {
            let i = r.below(v.len() as u64);
            match r.below(3) {
                0 => v[i] ^= 1 << r.below(8),
                1 => v[i] = r.next() as u8,
                // a whole random word: pointers with other kinds, sizes and offsets
                _ => {
                    let w = i / 8 * 8;
                    v[w..w + 8].copy_from_slice(&r.next().to_le_bytes());
                }
            }
        }
        if r.below(10) == 0 {
            v.truncate(r.below(v.len() as u64 + 1));
        }
        let frame = Bytes::from(v);
        match fast(&frame) {
            Some(m) => {
                accepted += 1;
                assert_eq!(Ok(m), generic(&frame), "frame {:?}", &frame[..]);
            }
            None => declined += 1,
        }
    }
    // Both outcomes must occur in numbers, or the test proves nothing.
    assert!(
        accepted > 20_000 && declined > 20_000,
        "{accepted} / {declined}"
    );
}

#[test]
fn declines_what_it_does_not_read() {
    let mut r = Rng(3);
    let task = random_task(&mut r);
    // Other union members.
    for frame in [
        enc::client_heartbeat(&ClientHeartbeat::default()),
        enc::worker_heartbeat(&WorkerHeartbeat::default()),
        enc::graph_task(&GraphTask {
            task_id: Bytes::from_static(b"g"),
            source: Bytes::from_static(b"c"),
            targets: vec![],
            graph: vec![task.clone()],
        }),
    ] {
        assert!(fast(&frame).is_none());
        assert!(generic(&frame).is_ok());
    }
    // Trailing bytes and several segments go to the generic decoder, which still reads them.
    let mut v = enc::task(&task).to_vec();
    v.extend_from_slice(&[0; 8]);
    let frame = Bytes::from(v);
    assert!(fast(&frame).is_none());
    assert_eq!(generic(&frame), Ok(Message::Task(task.clone())));
    let mut mb = capnp::message::Builder::new(
        capnp::message::HeapAllocator::new()
            .first_segment_words(1)
            .allocation_strategy(capnp::message::AllocationStrategy::FixedSize),
    );
    enc::fill_task(
        mb.init_root::<crate::schema::message_capnp::message::Builder>()
            .init_task(),
        &task,
    );
    let frame = enc::finish(&mb);
    assert!(fast(&frame).is_none());
    assert_eq!(generic(&frame), Ok(Message::Task(task)));
}

/// Word helpers for hand-made payloads.
fn struct_ptr(offset: i32, data: u16, ptrs: u16) -> u64 {
    ((offset as u32 as u64) << 2) & 0xffff_ffff | (data as u64) << 32 | (ptrs as u64) << 48
}

fn list_ptr(offset: i32, size: u64, count: u64) -> u64 {
    (((offset as u32 as u64) << 2) & 0xffff_ffff) | 1 | size << 32 | count << 35
}

fn payload(words: &[u64]) -> Bytes {
    let mut v = Vec::with_capacity(8 + words.len() * 8);
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&(words.len() as u32).to_le_bytes());
    for w in words {
        v.extend_from_slice(&w.to_le_bytes());
    }
    Bytes::from(v)
}

#[test]
fn pointer_amplification_is_declined_and_refused() {
    // TaskResult whose 1000 results all point at the same 1000-word blob: 1M words "read" from 2k sent.
    let (n, blob) = (1000usize, 1000usize);
    let mut w = vec![
        struct_ptr(0, 1, 1), // root Message at word 1
        3,                   // discriminant: taskResult
        struct_ptr(0, 1, 3), // TaskResult at word 3
        0,                   // resultType success
        0,
        0,
        list_ptr(0, 6, n as u64), // results at word 7
    ];
    let blob_at = 7 + n;
    for k in 0..n {
        let at = 7 + k;
        w.push(list_ptr((blob_at - at - 1) as i32, 2, (blob * 8) as u64));
    }
    w.extend(std::iter::repeat_n(0x4141_4141_4141_4141, blob));
    let frame = payload(&w);
    assert!(fast(&frame).is_none());
    assert!(generic(&frame).is_err());
    // The same shape with distinct small blobs is legitimate and read by both.
    let mut w = w[..7].to_vec();
    w[6] = list_ptr(0, 6, 2);
    w.push(list_ptr(1, 2, 3)); // word 7 -> word 9
    w.push(list_ptr(1, 2, 8)); // word 8 -> word 10
    w.push(0x0063_6261);
    w.push(0x4847_4645_4443_4241);
    let frame = payload(&w);
    let m = fast(&frame).expect("accepted");
    assert_eq!(Ok(m.clone()), generic(&frame));
    let Message::TaskResult(r) = m else {
        panic!("{m:?}")
    };
    assert!(r.results.iter().eq([&b"abc"[..], &b"ABCDEFGH"[..]]));
}

#[test]
fn decoded_fields_are_slices_of_the_frame() {
    let mut r = Rng(4);
    let mut t = random_task(&mut r);
    t.task_id = Bytes::from_static(b"0123456789abcdef");
    let frame = enc::task(&t);
    let Some(Message::Task(d)) = fast(&frame) else {
        panic!()
    };
    let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    assert!(range.contains(&(d.task_id.as_ptr() as usize)));
}

/// Every input the fuzzer kept for `message_decode` (committed under fuzz/corpus): the same contract.
#[test]
fn fuzz_corpus_agrees_with_the_generic_decoder() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/message_decode");
    let (mut files, mut accepted) = (0, 0);
    for entry in std::fs::read_dir(dir).expect("corpus directory") {
        let frame = Bytes::from(std::fs::read(entry.unwrap().path()).unwrap());
        files += 1;
        if let Some(m) = fast(&frame) {
            accepted += 1;
            assert_eq!(Ok(m), generic(&frame), "frame {:?}", &frame[..]);
        }
    }
    assert!(
        files > 100 && accepted > 10,
        "{files} files, {accepted} accepted"
    );
    eprintln!("{files} corpus inputs, {accepted} read by the fast path");
}

/// The scheduler's path (`decode_in_place`): every hot member the fast reader accepts arrives as a
/// view whose fields are the frame's own bytes (no copy, no reference count) and that reads as the
/// generic decoder's value; every other member arrives owned.
#[test]
fn in_place_views_are_the_frame_and_read_as_the_generic_decoder() {
    use crate::wire::view::HotMessage;
    let mut r = Rng(11);
    let (mut hot, mut owned) = (0, 0);
    for i in 0..300 {
        let frame = if i % 4 == 0 {
            enc::task_cancel(&r.bytes(32), i % 8 == 0)
        } else {
            random_message(&mut r)
        };
        let inside = |b: &[u8]| b.is_empty() || frame.as_ptr_range().contains(&b.as_ptr());
        match crate::wire::decode_in_place(&frame) {
            Ok(Decoded::Hot(v)) => {
                hot += 1;
                match &v {
                    HotMessage::Task(t) => {
                        assert!(inside(t.task_id) && inside(t.source) && inside(t.metadata));
                        assert!(inside(t.func_object_id));
                    }
                    HotMessage::TaskResult(t) => {
                        assert!(inside(t.task_id) && inside(t.metadata));
                        assert!(t.results.iter().all(inside));
                    }
                    HotMessage::ObjectInstruction(o) => {
                        assert!(inside(o.object_user));
                        assert!(o.ids.iter().all(inside) && o.names.iter().all(inside));
                    }
                }
                assert_eq!(Ok(v.to_message(&frame)), generic(&frame));
            }
            Ok(Decoded::Owned(m)) => {
                owned += 1;
                assert!(fast(&frame).is_none(), "{m:?} was declined");
                assert_eq!(Ok(m), generic(&frame));
            }
            Err(e) => assert_eq!(Err(e), generic(&frame)),
        }
    }
    assert!(hot > 50 && owned > 10, "{hot} hot, {owned} owned");
}
