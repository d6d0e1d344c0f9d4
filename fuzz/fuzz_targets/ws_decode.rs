//! The WebSocket receive path of a `ws://` connection (wire::ws::Session: the Upgrade, then the
//! in-place frame decoder) at the production limit (one message = a 1 GiB YMQ frame + its 8-byte
//! length). Typed errors, never a panic; the YMQ bytes out never exceed the bytes in; and the result
//! does not depend on how the bytes were split into reads (one read vs. the fuzzer's chunking).
#![no_main]
use libfuzzer_sys::fuzz_target;
use scaler_rs::wire::ws::Session;

const MAX_MESSAGE: u64 = (1 << 30) + 8;
const UPGRADE: &[u8] = b"GET /ymq HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Feeds `wire` in reads of the given sizes (cycled); returns the YMQ bytes, the error if any, and
/// what the session queued to send.
fn run(server: bool, wire: &[u8], sizes: &[usize]) -> (Vec<u8>, Option<String>, usize) {
    let mut s = if server {
        Session::server(MAX_MESSAGE)
    } else {
        Session::client("127.0.0.1", 1, "/", MAX_MESSAGE, 1)
    };
    let (mut out, mut off, mut i, mut sent) = (Vec::new(), 0, 0, 0);
    while off < wire.len() {
        let n = sizes[i % sizes.len()].min(wire.len() - off);
        i += 1;
        let mut buf = wire[off..off + n].to_vec();
        off += n;
        match s.receive(&mut buf) {
            Ok(k) => {
                assert!(k <= n);
                out.extend_from_slice(&buf[..k]);
            }
            Err(e) => return (out, Some(e.to_string()), sent),
        }
        while let Some(b) = s.take_output() {
            sent += b.len();
        }
        if s.peer_close().is_some() {
            break;
        }
    }
    (out, None, sent)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (sizes_len, rest) = ((mode & 7) as usize, rest);
    if rest.len() < sizes_len {
        return;
    }
    let (size_bytes, frames) = rest.split_at(sizes_len);
    let mut sizes: Vec<usize> = size_bytes.iter().map(|&b| b as usize + 1).collect();
    if sizes.is_empty() {
        sizes.push(4096);
    }
    let server = mode & 0x10 == 0;
    let mut wire = Vec::new();
    if server && mode & 0x20 == 0 {
        wire.extend_from_slice(UPGRADE);
    }
    wire.extend_from_slice(frames);
    let whole = run(server, &wire, &[wire.len().max(1)]);
    let chunked = run(server, &wire, &sizes);
    assert!(whole.0.len() <= wire.len());
    // The same bytes and outcome whatever the reads were; on an error the chunked run may have handed
    // on bytes of earlier reads, the single read none.
    assert_eq!(whole.1.is_some(), chunked.1.is_some());
    if whole.1.is_none() {
        assert_eq!(whole.0, chunked.0);
        assert_eq!(whole.2, chunked.2);
    } else {
        assert_eq!(whole.1, chunked.1);
        assert!(whole.0.is_empty());
    }
});
