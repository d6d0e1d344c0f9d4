//! The YMQ frame decoder must reject malformed framing with a typed error and never panic, never report
//! a frame longer than the buffer, never accept a frame above the limit, and never overflow: it runs
//! at each production limit (the identity's 4096, the storage link's 1 MiB, the main port's 1 GiB, the
//! embedded storage's 4 GiB) and at u64::MAX, the limit the storage link once had.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scaler_rs::transport::Limits;
use scaler_rs::wire::frame::{check_magic, decode, max_buffered, Decoded, HEADER_LEN};

fn walk(data: &[u8], max: u64) {
    let mut off = 0;
    while off < data.len() {
        match decode(&data[off..], max) {
            Ok(Decoded::Frame { consumed }) => {
                assert!(consumed >= HEADER_LEN && off + consumed <= data.len());
                assert!((consumed - HEADER_LEN) as u64 <= max);
                assert!(consumed <= max_buffered(max));
                off += consumed;
            }
            Ok(Decoded::Incomplete { need }) => {
                assert!(need > data.len() - off);
                assert!(need <= max_buffered(max));
                break;
            }
            Err(_) => break,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = check_magic(data);
    let l = Limits::default();
    for max in [
        0,
        4096,
        l.max_storage_link_frame,
        l.max_frame,
        l.max_storage_frame,
        u64::MAX - 8,
        u64::MAX,
    ] {
        walk(data, max);
    }
});
