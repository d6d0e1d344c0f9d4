//! The storage-link path: a byte stream from an external object storage server, as the scheduler reads
//! it. Magic, the identity frame (limit 4096), then frames under the link's limit, each fed to the reply
//! codec; also at a limit of u64::MAX. Must never panic or overflow; a frame that is not a reply where
//! one is due is a typed error (which closes the link), after which the codec is reset, as a reconnect
//! does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scaler_rs::storage::ClientCodec;
use scaler_rs::transport::Limits;
use scaler_rs::wire::frame::{check_magic, decode, Decoded, HEADER_LEN, MAGIC};

fn read_stream(data: &[u8], max: u64) {
    // Half the inputs skip the magic so the frames are reached without the fuzzer finding it first.
    let mut rest = data;
    if rest.first().is_some_and(|b| b & 1 == 1) {
        rest = &rest[1..];
    } else {
        match check_magic(rest) {
            Ok(true) => rest = &rest[MAGIC.len()..],
            _ => return,
        }
    }
    let mut codec = ClientCodec::default();
    let mut limit = 4096;
    let mut identity = true;
    loop {
        match decode(rest, limit) {
            Ok(Decoded::Frame { consumed }) => {
                let payload = &rest[HEADER_LEN..consumed];
                rest = &rest[consumed..];
                if identity {
                    identity = false;
                    limit = max;
                    continue;
                }
                if codec.on_frame(payload).is_err() {
                    codec.reset();
                }
            }
            Ok(Decoded::Incomplete { .. }) | Err(_) => return,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    read_stream(data, Limits::default().max_storage_link_frame);
    read_stream(data, u64::MAX);
});
