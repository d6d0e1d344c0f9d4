//! The YMQ frame decoder must reject malformed framing with a typed error and never panic, never report
//! a frame longer than the buffer, and never accept a frame above the limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scaler_rs::wire::frame::{check_magic, decode, Decoded, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let _ = check_magic(data);
    let max = 1 << 16;
    let mut off = 0;
    while off < data.len() {
        match decode(&data[off..], max) {
            Ok(Decoded::Frame { consumed }) => {
                assert!(consumed >= HEADER_LEN && off + consumed <= data.len());
                assert!((consumed - HEADER_LEN) as u64 <= max);
                off += consumed;
            }
            Ok(Decoded::Incomplete { need }) => {
                assert!(need > data.len() - off);
                break;
            }
            Err(_) => break,
        }
    }
});
