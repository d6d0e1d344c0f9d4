use super::*;

fn id(n: u8) -> ObjectId {
    let mut x = [0u8; 32];
    for (i, b) in x.iter_mut().enumerate() {
        *b = n.wrapping_add(i as u8);
    }
    x
}

/// Single segment: the segment table says "1 segment" (count - 1 = 0) of 9 words.
fn assert_single_segment_80(f: &[u8]) {
    assert_eq!(f.len(), 80);
    assert_eq!(&f[..8], &[0, 0, 0, 0, 9, 0, 0, 0]);
}

#[test]
fn headers_are_80_byte_single_segment_and_round_trip() {
    for kind in [
        RequestType::Set,
        RequestType::Get,
        RequestType::Delete,
        RequestType::Duplicate,
        RequestType::InfoGetTotal,
    ] {
        let h = RequestHeader {
            object_id: id(7),
            payload_length: u64::MAX,
            request_id: 42,
            kind,
        };
        let f = encode_request(&h);
        assert_single_segment_80(&f);
        // The type is the u16 at data offset 16: 8 (table) + 8 (root pointer) + 16.
        assert_eq!(u16::from_le_bytes([f[32], f[33]]), kind as u16);
        assert_eq!(decode_request(&f).unwrap(), h);
    }
    for kind in [
        ResponseType::SetOk,
        ResponseType::GetOk,
        ResponseType::DelOk,
        ResponseType::DelNotExists,
        ResponseType::DuplicateOk,
        ResponseType::InfoGetTotalOk,
    ] {
        let r = ResponseHeader {
            object_id: id(9),
            payload_length: 3,
            response_id: 42,
            kind,
        };
        let f = encode_response(&r);
        assert_single_segment_80(&f);
        assert_eq!(u16::from_le_bytes([f[32], f[33]]), kind as u16);
        assert_eq!(decode_response(&f).unwrap(), r);
    }
}

#[test]
fn object_id_is_four_big_endian_words() {
    let f = encode_request(&RequestHeader {
        object_id: id(0),
        payload_length: 0,
        request_id: 0,
        kind: RequestType::Delete,
    });
    // 8 (segment table) + 8 (root pointer) + 24 (data) + 8 (pointer) = 48: the ObjectID's first word.
    let mut w = [0u8; 8];
    w.copy_from_slice(&id(0)[..8]);
    assert_eq!(&f[48..56], &u64::from_be_bytes(w).to_le_bytes());
    let p = encode_object_id(&id(1));
    assert_eq!(p.len(), 48);
    assert_eq!(decode_object_id(&p).unwrap(), id(1));
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What pycapnp (the C++ capnp library under the 2.9.0 client) writes, from `to_bytes()` of
/// `ObjectRequestHeader(objectID=to_capnp_object_id(ObjectID(bytes(range(32)))), payloadLength=2**64-1,
/// requestID=0x0102030405060708, requestType=getObject)`, the response header
/// `(..., payloadLength=5, responseID=9, responseType=delNotExists)` and the bare ObjectID.
#[test]
fn the_2_9_0_clients_bytes_are_the_fixed_layout() {
    let oid: ObjectId = std::array::from_fn(|i| i as u8);
    let request = unhex(concat!(
        "00000000090000000000000003000100ffffffffffffffff0807060504030201",
        "0100000000000000000000000400000007060504030201000f0e0d0c0b0a0908",
        "17161514131211101f1e1d1c1b1a1918"
    ));
    let h = RequestHeader {
        object_id: oid,
        payload_length: u64::MAX,
        request_id: 0x0102030405060708,
        kind: RequestType::Get,
    };
    assert!(read_fixed(&request).is_some());
    assert_eq!(decode_request(&request), Ok(h));
    assert_eq!(&encode_request(&h)[..], &request[..]);
    let response = unhex(concat!(
        "0000000009000000000000000300010005000000000000000900000000000000",
        "0300000000000000000000000400000007060504030201000f0e0d0c0b0a0908",
        "17161514131211101f1e1d1c1b1a1918"
    ));
    let r = ResponseHeader {
        object_id: oid,
        payload_length: 5,
        response_id: 9,
        kind: ResponseType::DelNotExists,
    };
    assert_eq!(decode_response(&response), Ok(r));
    assert_eq!(&encode_response(&r)[..], &response[..]);
    let id_message = unhex(concat!(
        "0000000005000000000000000400000007060504030201000f0e0d0c0b0a0908",
        "17161514131211101f1e1d1c1b1a1918"
    ));
    assert_eq!(decode_object_id(&id_message), Ok(oid));
    assert_eq!(&encode_object_id(&oid)[..], &id_message[..]);
}

/// A request header built by the `capnp` crate's builder with `first_segment_words` words in its
/// first segment: 16 gives the fixed layout, 1 forces every object into its own segment.
fn capnp_request(h: &RequestHeader, first_segment_words: u32) -> Vec<u8> {
    use crate::schema::object_storage_capnp::object_request_header::ObjectRequestType as T;
    use capnp::message::{Builder, HeapAllocator};
    let mut m = Builder::new(HeapAllocator::new().first_segment_words(first_segment_words));
    {
        let mut r: req::Builder = m.init_root();
        let mut id = r.reborrow().init_object_i_d();
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&h.object_id[i * 8..i * 8 + 8]);
            u64::from_be_bytes(x)
        };
        id.set_field0(w(0));
        id.set_field1(w(1));
        id.set_field2(w(2));
        id.set_field3(w(3));
        r.set_payload_length(h.payload_length);
        r.set_request_i_d(h.request_id);
        r.set_request_type(T::try_from(h.kind as u16).unwrap());
    }
    capnp::serialize::write_message_to_words(&m)
}

#[test]
fn fixed_layout_is_what_the_capnp_builder_writes_and_other_layouts_still_decode() {
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..200 {
        let h = RequestHeader {
            object_id: std::array::from_fn(|_| rnd() as u8),
            payload_length: rnd(),
            request_id: rnd(),
            kind: RequestType::from_wire((i % 5) as u16).unwrap(),
        };
        assert_eq!(&encode_request(&h)[..], &capnp_request(&h, 16)[..]);
        let spread = capnp_request(&h, 1);
        assert!(spread.len() > HEADER_LEN && read_fixed(&spread).is_none());
        assert_eq!(decode_request(&spread), Ok(h), "multi-segment encoding");
    }
}

/// Seeded byte flips, truncations and extensions of valid headers: wherever the fixed-layout reader
/// accepts a frame, the generic reader accepts it too and reads the same fields.
#[test]
fn fixed_reader_agrees_with_the_generic_reader_on_mutated_frames() {
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut fixed, mut generic_only) = (0, 0);
    for _ in 0..20_000 {
        let mut f = encode_request(&RequestHeader {
            object_id: std::array::from_fn(|_| rnd() as u8),
            payload_length: rnd() % 1000,
            request_id: rnd(),
            kind: RequestType::from_wire((rnd() % 5) as u16).unwrap(),
        })
        .to_vec();
        match rnd() % 4 {
            0 => f.truncate((rnd() % 80) as usize),
            1 => f.extend(std::iter::repeat_n(0u8, 8 * (1 + (rnd() % 3) as usize))),
            _ => {
                for _ in 0..1 + rnd() % 3 {
                    let at = (rnd() % 80) as usize;
                    // Low values keep most flips valid Cap'n Proto, so both readers have work.
                    f[at] = (rnd() % 12) as u8;
                }
            }
        }
        let generic = read_request_capnp(&f).ok();
        match read_fixed(&f) {
            Some(fields) => {
                fixed += 1;
                assert_eq!(generic, Some(fields), "frame {f:02x?}");
            }
            None => generic_only += usize::from(generic.is_some()),
        }
        assert_eq!(
            decode_request(&f).ok(),
            generic
                .and_then(|g| RequestType::from_wire(g.3).ok().map(|_| g))
                .map(|(object_id, payload_length, request_id, k)| RequestHeader {
                    object_id,
                    payload_length,
                    request_id,
                    kind: RequestType::from_wire(k).unwrap(),
                })
        );
    }
    // Both paths were exercised.
    assert!(
        fixed > 5_000 && generic_only > 100,
        "{fixed} {generic_only}"
    );
}

#[test]
fn info_payload_accepts_short_readers() {
    let v = [1, 2, 3, 4, 5, 6];
    let p = encode_info(&v);
    assert_eq!(p.len(), 48);
    assert_eq!(decode_info(&p), v);
    assert_eq!(decode_info(&p[..24]), [1, 2, 3, 0, 0, 0]);
    assert_eq!(
        decode_info(&p[..20]),
        [1, 2, 0, 0, 0, 0],
        "a partial field is ignored"
    );
    assert_eq!(decode_info(&[]), [0; 6]);
}

#[test]
fn garbage_is_an_error() {
    assert!(decode_request(b"").is_err());
    assert!(decode_request(&[0xff; 80]).is_err());
    assert!(decode_response(&[0u8; 7]).is_err());
    assert!(decode_object_id(&[1u8; 5]).is_err());
    let good = encode_request(&RequestHeader {
        object_id: id(3),
        payload_length: 1,
        request_id: 1,
        kind: RequestType::Set,
    });
    for n in 0..good.len() {
        assert!(decode_request(&good[..n]).is_err(), "truncated to {n}");
    }
    // A huge segment count must be refused before anything is allocated for it.
    let mut huge = vec![0xff, 0xff, 0xff, 0xfe];
    huge.resize(80, 0);
    assert!(decode_request(&huge).is_err());
    // An out-of-schema type value.
    let mut bad = good.to_vec();
    bad[32] = 9;
    assert_eq!(decode_request(&bad), Err(HeaderError::UnknownType(9)));
}
