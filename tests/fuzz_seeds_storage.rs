//! Writes the seed corpus of `fuzz/corpus/storage_link`: byte streams an object storage server sends
//! the scheduler. Run with `cargo test --test fuzz_seeds_storage -- --ignored` after a protocol change.
use scaler_rs::storage::header::{encode_info, encode_response, ResponseHeader, ResponseType};
use scaler_rs::wire::frame::{encode_into, MAGIC};

fn stream(frames: &[&[u8]]) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    encode_into(b"object-storage-server", &mut v);
    for f in frames {
        encode_into(f, &mut v);
    }
    v
}

fn reply(kind: ResponseType, payload_length: u64) -> Vec<u8> {
    encode_response(&ResponseHeader {
        object_id: [7; 32],
        payload_length,
        response_id: 1,
        kind,
    })
    .to_vec()
}

#[test]
#[ignore]
fn write_storage_link_seeds() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/storage_link");
    std::fs::create_dir_all(dir).unwrap();
    let info = encode_info(&[1, 2, 3, 4, 5, 6]);
    let mut huge = stream(&[]);
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut big = stream(&[]);
    big.extend_from_slice(&(1u64 << 45).to_le_bytes());
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "info_reply",
            stream(&[&reply(ResponseType::InfoGetTotalOk, 48), &info]),
        ),
        (
            "replies",
            stream(&[
                &reply(ResponseType::SetOk, 0),
                &reply(ResponseType::DelOk, 0),
                &reply(ResponseType::DelNotExists, 0),
                &reply(ResponseType::DuplicateOk, 0),
                &reply(ResponseType::GetOk, 3),
                b"abc",
            ]),
        ),
        ("garbage_capnp", stream(&[&[0x5a; 64]])),
        ("length_u64_max", huge),
        ("length_2_pow_45", big),
    ];
    for (name, bytes) in seeds {
        std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
    }
}
