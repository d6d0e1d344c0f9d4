use super::*;
use crate::storage::client::{
    delete_request, duplicate_request, get_request, info_request, set_request,
};
use std::time::Duration;

fn id(n: u8) -> ObjectId {
    [n; 32]
}

fn peer(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

type Answer = (Bytes, ResponseHeader, Option<Bytes>);

/// Pairs each reply header with its payload frame, which must follow exactly when payloadLength > 0.
fn decode(out: Replies) -> Vec<Answer> {
    let mut res = Vec::new();
    let mut it = out.into_iter();
    while let Some((to, f)) = it.next() {
        let h = header::decode_response(&f).expect("a response header");
        let payload = if h.payload_length > 0 {
            let (to2, p) = it.next().expect("the payload frame");
            assert_eq!(to2, to);
            assert_eq!(p.len() as u64, h.payload_length);
            Some(p)
        } else {
            None
        };
        res.push((to, h, payload));
    }
    res
}

fn send_at(s: &mut ObjectStorage, now: Instant, p: &Bytes, frames: &[Bytes]) -> Vec<Answer> {
    let mut out = Vec::new();
    for f in frames {
        s.on_frame(now, p, f.clone(), &mut out).unwrap();
    }
    decode(out)
}

fn send(s: &mut ObjectStorage, p: &Bytes, frames: &[Bytes]) -> Vec<Answer> {
    send_at(s, Instant::now(), p, frames)
}

fn set(s: &mut ObjectStorage, p: &Bytes, i: ObjectId, data: &'static [u8]) -> Vec<Answer> {
    let (h, b) = set_request(&i, Bytes::from_static(data), 1);
    send(s, p, &[h, b])
}

fn kinds(r: &[Answer]) -> Vec<ResponseType> {
    r.iter().map(|x| x.1.kind).collect()
}

fn counts(s: &ObjectStorage) -> [u64; 6] {
    s.info(Instant::now()).to_array()
}

#[test]
fn set_then_get_returns_the_same_buffer() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    let data = Bytes::from(b"hello".to_vec());
    let (h, b) = set_request(&id(1), data.clone(), 3);
    let r = send(&mut s, &c, &[h, b]);
    assert_eq!(
        (
            r[0].1.kind,
            r[0].1.response_id,
            r[0].1.object_id,
            r[0].1.payload_length
        ),
        (ResponseType::SetOk, 3, id(1), 0)
    );
    let r = send(&mut s, &c, &[get_request(&id(1), 7)]);
    assert_eq!(
        (r[0].1.kind, r[0].1.response_id, r[0].1.payload_length),
        (ResponseType::GetOk, 7, 5)
    );
    let p = r[0].2.as_ref().unwrap();
    assert_eq!(&p[..], b"hello");
    assert_eq!(p.as_ptr(), data.as_ptr(), "zero-copy");
}

#[test]
fn get_is_parked_until_set_even_if_the_getter_left() {
    let mut s = ObjectStorage::default();
    let (p, c) = (peer("processor"), peer("client"));
    assert!(send(&mut s, &p, &[get_request(&id(2), 3)]).is_empty());
    s.on_disconnect(&p);
    assert_eq!(counts(&s)[3..5], [1, 1]);
    let r = set(&mut s, &c, id(2), b"arg");
    assert_eq!(kinds(&r), [ResponseType::SetOk, ResponseType::GetOk]);
    assert_eq!(r[0].0, c);
    assert_eq!(r[1].0, p, "the parked get is answered to its requester");
    assert_eq!((r[1].1.response_id, r[1].1.object_id), (3, id(2)));
    assert_eq!(r[1].2.as_deref(), Some(&b"arg"[..]));
    assert_eq!(counts(&s)[3..], [0, 0, 0]);
}

#[test]
fn delete_reports_existence_and_keeps_parked_gets() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    set(&mut s, &c, id(1), b"x");
    let r = send(
        &mut s,
        &c,
        &[delete_request(&id(1), 1), delete_request(&id(1), 2)],
    );
    assert_eq!(kinds(&r), [ResponseType::DelOk, ResponseType::DelNotExists]);
    assert_eq!(counts(&s)[..3], [0, 0, 0]);
    send(&mut s, &c, &[get_request(&id(3), 1)]);
    let r = send(&mut s, &c, &[delete_request(&id(3), 1)]);
    assert_eq!(kinds(&r), [ResponseType::DelNotExists]);
    assert_eq!(counts(&s)[3], 1, "the parked get survives the delete");
    let r = set(&mut s, &c, id(3), b"late");
    assert_eq!(kinds(&r), [ResponseType::SetOk, ResponseType::GetOk]);
}

#[test]
fn duplicate_of_a_present_original() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    set(&mut s, &c, id(1), b"data");
    set(&mut s, &c, id(2), b"old content of 2");
    let (h, p) = duplicate_request(&id(2), &id(1), 5);
    let r = send(&mut s, &c, &[h, p]);
    assert_eq!(
        (r[0].1.kind, r[0].1.object_id, r[0].1.response_id),
        (ResponseType::DuplicateOk, id(2), 5)
    );
    assert_eq!(
        counts(&s)[..3],
        [2, 1, 4],
        "the override released id 2's old content"
    );
    let r = send(&mut s, &c, &[get_request(&id(2), 1)]);
    assert_eq!(r[0].2.as_deref(), Some(&b"data"[..]));
    // The copy outlives the original.
    send(&mut s, &c, &[delete_request(&id(1), 1)]);
    assert_eq!(counts(&s)[..3], [1, 1, 4]);
}

#[test]
fn duplicate_of_an_absent_original_waits_for_it() {
    let mut s = ObjectStorage::default();
    let (c, w) = (peer("c"), peer("w"));
    let (h, p) = duplicate_request(&id(4), &id(3), 6);
    assert!(
        send(&mut s, &c, &[h, p]).is_empty(),
        "waits for the original"
    );
    assert!(send(&mut s, &w, &[get_request(&id(4), 9)]).is_empty());
    assert_eq!(counts(&s)[3..5], [2, 2]);
    let r = set(&mut s, &c, id(3), b"orig");
    assert_eq!(
        kinds(&r),
        [
            ResponseType::SetOk,
            ResponseType::DuplicateOk,
            ResponseType::GetOk
        ]
    );
    assert_eq!(
        (&r[1].0, r[1].1.object_id, r[1].1.response_id),
        (&c, id(4), 6)
    );
    assert_eq!((&r[2].0, r[2].1.object_id), (&w, id(4)));
    assert_eq!(r[2].2.as_deref(), Some(&b"orig"[..]));
    assert_eq!(counts(&s), [2, 1, 4, 0, 0, 0]);
}

#[test]
fn a_long_duplicate_chain_is_served_without_recursion() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    let n: u32 = 100_000;
    let oid = |i: u32| {
        let mut x = [0u8; 32];
        x[..4].copy_from_slice(&i.to_be_bytes());
        x
    };
    let now = Instant::now();
    let mut out = Vec::new();
    for i in 1..=n {
        let (h, p) = duplicate_request(&oid(i), &oid(i - 1), u64::from(i));
        s.on_frame(now, &c, h, &mut out).unwrap();
        s.on_frame(now, &c, p, &mut out).unwrap();
    }
    assert!(out.is_empty());
    let (h, p) = set_request(&oid(0), Bytes::from_static(b"v"), 0);
    s.on_frame(now, &c, h, &mut out).unwrap();
    s.on_frame(now, &c, p, &mut out).unwrap();
    assert_eq!(out.len(), n as usize + 1);
    assert_eq!(counts(&s), [u64::from(n) + 1, 1, 1, 0, 0, 0]);
}

#[test]
fn dedup_refcounts_and_bytes() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    set(&mut s, &c, id(1), b"same");
    set(&mut s, &c, id(2), b"same");
    set(&mut s, &c, id(3), b"other");
    assert_eq!(counts(&s)[..3], [3, 2, 9]);
    send(&mut s, &c, &[delete_request(&id(1), 1)]);
    assert_eq!(
        counts(&s)[..3],
        [2, 2, 9],
        "id 2 still holds the shared content"
    );
    send(&mut s, &c, &[delete_request(&id(2), 1)]);
    assert_eq!(counts(&s)[..3], [1, 1, 5]);
    set(&mut s, &c, id(3), b"replaced");
    assert_eq!(
        counts(&s)[..3],
        [1, 1, 8],
        "overwrite releases the old content"
    );
    set(&mut s, &c, id(3), b"replaced");
    assert_eq!(
        counts(&s)[..3],
        [1, 1, 8],
        "setting the same bytes again changes nothing"
    );
}

#[test]
fn zero_length_object_has_no_payload_frame() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    let (h, b) = set_request(&id(1), Bytes::new(), 1);
    assert!(
        send(&mut s, &c, &[h]).is_empty(),
        "waits for the empty payload frame"
    );
    assert_eq!(kinds(&send(&mut s, &c, &[b])), [ResponseType::SetOk]);
    let mut out = Vec::new();
    s.on_frame(Instant::now(), &c, get_request(&id(1), 1), &mut out)
        .unwrap();
    assert_eq!(out.len(), 1, "only the header");
    let h = header::decode_response(&out[0].1).unwrap();
    assert_eq!((h.kind, h.payload_length), (ResponseType::GetOk, 0));
    assert_eq!(counts(&s)[..3], [1, 1, 0]);
}

#[test]
fn size_mismatch_discards_and_reparses() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    set(&mut s, &c, id(1), b"present");
    let (h, _) = set_request(&id(9), Bytes::from_static(b"12345"), 1);
    // The announced payload never comes; a get header (80 bytes != 5) arrives instead and is served.
    let r = send(&mut s, &c, &[h, get_request(&id(1), 2)]);
    assert_eq!(kinds(&r), [ResponseType::GetOk]);
    assert_eq!(counts(&s)[0], 1, "id 9 was never set");
    // A mismatched frame that is no header closes the peer.
    let (h, _) = set_request(&id(9), Bytes::from_static(b"12345"), 1);
    let mut out = Vec::new();
    s.on_frame(Instant::now(), &c, h, &mut out).unwrap();
    assert!(s
        .on_frame(Instant::now(), &c, Bytes::from_static(b"1234"), &mut out)
        .is_err());
}

#[test]
fn partial_requests_are_per_peer() {
    let mut s = ObjectStorage::default();
    let (a, b) = (peer("a"), peer("b"));
    let (ha, pa) = set_request(&id(1), Bytes::from_static(b"from a"), 1);
    let (hb, pb) = set_request(&id(2), Bytes::from_static(b"from b!"), 2);
    let mut out = Vec::new();
    let now = Instant::now();
    for (p, f) in [(&a, ha), (&b, hb), (&b, pb), (&a, pa)] {
        s.on_frame(now, p, f, &mut out).unwrap();
    }
    let r = decode(out);
    assert_eq!((&r[0].0, r[0].1.object_id), (&b, id(2)));
    assert_eq!((&r[1].0, r[1].1.object_id), (&a, id(1)));
    assert_eq!(counts(&s)[..3], [2, 2, 13]);
}

#[test]
fn disconnect_forgets_the_partial_request() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    let (h, p) = set_request(&id(1), Bytes::from_static(b"xyz"), 1);
    send(&mut s, &c, &[h]);
    s.on_disconnect(&c);
    // A reconnected peer's frame is a new request, not the old payload.
    assert!(s.on_frame(Instant::now(), &c, p, &mut Vec::new()).is_err());
    assert_eq!(counts(&s)[0], 0);
}

#[test]
fn oversized_payloads_are_dropped_unanswered() {
    let mut s = ObjectStorage::new(StorageLimits { max_payload: 4 });
    let c = peer("c");
    let (h, _) = set_request(&id(1), Bytes::from_static(b"12345"), 1);
    assert!(send(&mut s, &c, &[h]).is_empty());
    // Not waiting for a payload: the next frame is read as a header.
    assert_eq!(
        kinds(&send(&mut s, &c, &[info_request(1)])),
        [ResponseType::InfoGetTotalOk]
    );
    assert_eq!(
        kinds(&set(&mut s, &c, id(1), b"1234")),
        [ResponseType::SetOk]
    );
    // A get's payloadLength is a maximum, not a payload: u64::MAX is fine.
    assert_eq!(
        kinds(&send(&mut s, &c, &[get_request(&id(1), 1)])),
        [ResponseType::GetOk]
    );
    assert_eq!(StorageLimits::default().max_payload, 6 * 1024u64.pow(4));
}

#[test]
fn max_len_truncates_get_answers() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    set(&mut s, &c, id(1), b"abcdef");
    let get = |max: u64| {
        header::encode_request(&RequestHeader {
            object_id: id(1),
            payload_length: max,
            request_id: 1,
            kind: RequestType::Get,
        })
    };
    let r = send(&mut s, &c, &[get(2), get(6), get(100), get(0)]);
    let sizes: Vec<_> = r.iter().map(|x| x.1.payload_length).collect();
    assert_eq!(sizes, [2, 6, 6, 0]);
    assert_eq!(r[0].2.as_deref(), Some(&b"ab"[..]));
    assert!(r[3].2.is_none());
    // Truncation also applies to parked gets.
    send(
        &mut s,
        &c,
        &[header::encode_request(&RequestHeader {
            object_id: id(2),
            payload_length: 3,
            request_id: 1,
            kind: RequestType::Get,
        })],
    );
    let r = set(&mut s, &c, id(2), b"123456");
    assert_eq!(r[1].2.as_deref(), Some(&b"123"[..]));
}

#[test]
fn garbage_closes_the_peer() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    let mut out = Vec::new();
    let r = s.on_frame(
        Instant::now(),
        &c,
        Bytes::from_static(b"garbage!"),
        &mut out,
    );
    assert!(matches!(r, Err(StorageError::BadHeader(_))));
    let (h, _) = duplicate_request(&id(2), &id(1), 1);
    s.on_frame(Instant::now(), &c, h, &mut out).unwrap();
    let r = s.on_frame(Instant::now(), &c, Bytes::from(vec![0xffu8; 48]), &mut out);
    assert!(matches!(r, Err(StorageError::BadDuplicatePayload(_))));
    assert!(out.is_empty());
    assert_eq!(counts(&s), [0; 6]);
}

#[test]
fn random_frames_never_panic() {
    let mut s = ObjectStorage::default();
    let peers = [peer("a"), peer("b")];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    let now = Instant::now();
    for i in 0..20_000 {
        let p = &peers[(rnd() % 2) as usize];
        let frame = match rnd() % 4 {
            // Valid headers with random fields keep the state machine moving.
            0 => header::encode_request(&RequestHeader {
                object_id: id((rnd() % 4) as u8),
                payload_length: [0, 1, 3, 5, 48, u64::MAX][(rnd() % 6) as usize],
                request_id: i,
                kind: [
                    RequestType::Set,
                    RequestType::Get,
                    RequestType::Delete,
                    RequestType::Duplicate,
                    RequestType::InfoGetTotal,
                ][(rnd() % 5) as usize],
            }),
            // A valid header with some bytes flipped.
            1 => {
                let mut f = get_request(&id(1), i).to_vec();
                for _ in 0..1 + rnd() % 3 {
                    let k = (rnd() % 80) as usize;
                    f[k] = rnd() as u8;
                }
                Bytes::from(f)
            }
            2 => header::encode_object_id(&id((rnd() % 4) as u8)),
            _ => Bytes::from((0..rnd() % 100).map(|_| rnd() as u8).collect::<Vec<u8>>()),
        };
        let _ = s.on_frame(now, p, frame, &mut out);
        if rnd() % 50 == 0 {
            s.on_disconnect(p);
        }
    }
    // Whatever happened, the counters stay consistent with the maps.
    let info = s.info(now);
    assert_eq!(
        info.pending_requests as usize,
        s.parked.values().map(Vec::len).sum::<usize>()
    );
    assert!(info.unique_objects <= info.object_ids);
    decode(out);
}

#[test]
fn info_counts_objects_and_waits() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    let t0 = Instant::now();
    set(&mut s, &c, id(1), b"abc");
    set(&mut s, &c, id(2), b"abc");
    send_at(
        &mut s,
        t0,
        &c,
        &[get_request(&id(7), 1), get_request(&id(7), 2)],
    );
    send_at(
        &mut s,
        t0 + Duration::from_secs(3),
        &c,
        &[get_request(&id(8), 3)],
    );
    let r = send_at(&mut s, t0 + Duration::from_secs(5), &c, &[info_request(4)]);
    assert_eq!(
        (r[0].1.kind, r[0].1.response_id, r[0].1.payload_length),
        (ResponseType::InfoGetTotalOk, 4, 48)
    );
    let v = header::decode_info(r[0].2.as_ref().unwrap());
    assert_eq!(v, [2, 1, 3, 3, 2, 5]);
    assert_eq!(
        StorageInfo::from_array(v),
        s.info(t0 + Duration::from_secs(5))
    );
}

/// The scheduler's own requests enter decoded (`on_request`); they must do exactly what the same
/// requests do as frames, parked answers to other peers included.
#[test]
fn decoded_requests_match_the_same_requests_as_frames() {
    use crate::core::StorageOp;
    use crate::storage::client::ClientCodec;
    let ops = || {
        vec![
            StorageOp::Delete([1; 32]),
            StorageOp::Set {
                id: Bytes::from(vec![2; 32]),
                payload: Bytes::from_static(b"two"),
            },
            StorageOp::Duplicate {
                new: Bytes::from(vec![3; 32]),
                original: Bytes::from(vec![4; 32]),
            },
            StorageOp::Set {
                id: Bytes::from(vec![4; 32]),
                payload: Bytes::from_static(b"four"),
            },
            StorageOp::Delete([2; 32]),
            StorageOp::Info,
        ]
    };
    let now = Instant::now();
    let (own, other) = (peer("scheduler"), peer("client"));
    let mut by_frames = ObjectStorage::default();
    let mut decoded = ObjectStorage::default();
    // Another peer waits for object 3, which the duplicate creates.
    for s in [&mut by_frames, &mut decoded] {
        assert!(send(s, &other, &[get_request(&id(3), 9)]).is_empty());
    }
    let (mut c1, mut c2) = (ClientCodec::default(), ClientCodec::default());
    let mut answered_other = Vec::new();
    for (a, b) in ops().into_iter().zip(ops()) {
        let mut out_frames = Vec::new();
        let (h, p) = c1.request(a).into_frames();
        by_frames.on_frame(now, &own, h, &mut out_frames).unwrap();
        if let Some(p) = p {
            by_frames.on_frame(now, &own, p, &mut out_frames).unwrap();
        }
        let mut out_decoded = Vec::new();
        let r = c2.request(b);
        decoded
            .on_request(now, &own, r.header, r.payload, &mut out_decoded)
            .unwrap();
        let answers = decode(out_decoded);
        assert_eq!(decode(out_frames), answers);
        assert_eq!(counts(&by_frames), counts(&decoded));
        answered_other.extend(answers.into_iter().filter(|a| a.0 == other));
    }
    assert_eq!(counts(&decoded)[0], 2, "objects 3 and 4 remain");
    let [(_, h, payload)] = &answered_other[..] else {
        panic!("one answer to the waiting peer: {answered_other:?}");
    };
    assert_eq!((h.kind, h.response_id), (ResponseType::GetOk, 9));
    assert_eq!(payload.as_deref(), Some(&b"four"[..]));
}

/// The loop tells the scheduler which object a peer's frame deleted; only a delete that found the
/// object says so, and no other request does.
#[test]
fn a_frame_reports_the_object_it_deleted() {
    let mut s = ObjectStorage::default();
    let c = peer("c");
    let now = Instant::now();
    let mut out = Vec::new();
    let (h, p) = set_request(&id(1), Bytes::from_static(b"x"), 1);
    assert_eq!(s.on_frame(now, &c, h, &mut out).unwrap(), None);
    assert_eq!(s.on_frame(now, &c, p, &mut out).unwrap(), None);
    let get = get_request(&id(1), 2);
    assert_eq!(s.on_frame(now, &c, get, &mut out).unwrap(), None);
    let del = delete_request(&id(1), 3);
    assert_eq!(s.on_frame(now, &c, del, &mut out).unwrap(), Some(id(1)));
    let again = delete_request(&id(1), 4);
    assert_eq!(s.on_frame(now, &c, again, &mut out).unwrap(), None);
}
