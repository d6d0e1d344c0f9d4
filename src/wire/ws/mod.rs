//! WebSocket (RFC 6455) for `ws://` and `wss://` addresses, sans-IO: the HTTP/1.1 Upgrade
//! ([`handshake`]), the frame codec ([`frame`]) and one endpoint's state ([`session`]).
//!
//! What 2.9.0 does over a WebSocket (its src/cpp/scaler/ymq/internal/websocket_stream.cpp,
//! scaler/io/ymq/_ymq_wasm.py and tests/io/ymq/test_websocket_interop.py): after the Upgrade (no
//! subprotocol, the server ignores the path) the ordinary YMQ stream runs inside binary messages:
//! the 4-byte magic as one message, then every frame (u64 length + payload, the identity first) as one
//! message each. Receivers treat the payloads as one byte stream, so we do too; we reject text frames
//! (YMQ is binary), answer pings, and drop the connection after the peer's close.
//!
//! Our own codec rather than `tungstenite`: tungstenite owns its read buffer and hands out each
//! message as a fresh `Vec` (one more copy of every frame after our own receive buffer, plus its write
//! buffer on the way out), while the design here decodes in place in the connection's receive buffer
//! (the unmasking pass is the only touch of each byte) and sends a server message as a 2-10 byte
//! header in front of the untouched YMQ frame. The codec is small, pure and fuzzed
//! (fuzz/fuzz_targets/ws_decode.rs). SHA-1/base64 for the accept key are ~80 lines with RFC test
//! vectors ([`sha1`]) instead of two more crates.
pub mod frame;
pub mod handshake;
pub mod session;
pub mod sha1;

pub use frame::{Control, Decoder, WsFrameError};
pub use handshake::HandshakeError;
pub use session::{Session, WsError};

#[cfg(test)]
mod tests;
