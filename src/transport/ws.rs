//! The WebSocket layer of a `ws://`/`wss://` connection: the narrow interface between `Conn` and the
//! sans-IO codec in `wire::ws` (like `tls` is for rustls).
//!
//! * Reading: the connection reads raw bytes (from the socket, or out of TLS for wss) into the spare
//!   room of its receive buffer and [`WsLayer::receive`] turns them into YMQ bytes in place, so
//!   the YMQ frame decoder and its zero-copy payload split see exactly what they see over tcp://.
//! * Writing: each YMQ frame goes out as one binary message, as 2.9.0 sends. On the server side that is
//!   a 2-10 byte WebSocket header written in front of the 8-byte YMQ length in one inline buffer of
//!   the send queue ([`WsLayer::server_header`]), the payload untouched; on the client side (our link to
//!   an external object storage server) a masked copy ([`WsLayer::client_message`]).
//! * Until the Upgrade is done, what the connection queues (its magic and identity) is held here and
//!   released in order right after the `101` (server) or once the `101` arrived (client, RFC 6455 §4.1:
//!   no data before the answer). Control answers (pongs, the close echo) are whole frames queued
//!   between whole messages.
use crate::wire::frame;
use crate::wire::ws::{Session, WsError};
use bytes::Bytes;
use std::io;

pub struct WsLayer {
    session: Session,
    /// Queued by the connection before the Upgrade completed.
    held: Vec<Bytes>,
}

/// What the connection must do after a read went through the layer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Frames to queue now, before anything queued later (Upgrade answer, pongs, close echo).
    pub send: Vec<Bytes>,
    /// Set once, when the Upgrade completed: these go after `send`, in order.
    pub release: Vec<Bytes>,
}

/// The peer's close frame, or an error of the WebSocket protocol; both end the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEnd {
    Protocol(WsError),
    Closed {
        code: Option<u16>,
        reason: String,
        mid_message: bool,
    },
}

impl std::fmt::Display for WsEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsEnd::Protocol(e) => write!(f, "{e}"),
            WsEnd::Closed {
                code,
                reason,
                mid_message,
            } => {
                write!(f, "websocket close from the peer")?;
                if let Some(c) = code {
                    write!(
                        f,
                        " (code {c}{}{reason})",
                        if reason.is_empty() { "" } else { ": " }
                    )?;
                }
                if *mid_message {
                    write!(f, " in the middle of a message")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for WsEnd {}

impl WsLayer {
    /// The accepting side; `max_frame` is the connection's YMQ frame limit.
    pub fn server(max_frame: u64) -> WsLayer {
        WsLayer {
            session: Session::server(max_message(max_frame)),
            held: Vec::new(),
        }
    }

    /// The connecting side towards `host:port` with Upgrade path `path`. Returns the layer and the
    /// Upgrade request, which the connection must queue first.
    pub fn client(host: &str, port: u16, path: &str, max_frame: u64) -> (WsLayer, Bytes) {
        let seed = uuid::Uuid::new_v4().as_u64_pair().0;
        let mut session = Session::client(host, port, path, max_message(max_frame), seed);
        let request = session
            .take_output()
            .expect("a client starts with its request");
        (
            WsLayer {
                session,
                held: Vec::new(),
            },
            request,
        )
    }

    pub fn is_open(&self) -> bool {
        self.session.is_open()
    }

    /// Bytes waiting in the hold (counted in the connection's queued bytes, not in its write queue).
    pub fn held_bytes(&self) -> usize {
        self.held.iter().map(Bytes::len).sum()
    }

    /// Holds `b` if the Upgrade is not done; otherwise gives it back to be queued.
    pub fn hold(&mut self, b: Bytes) -> Option<Bytes> {
        if self.session.is_open() {
            Some(b)
        } else {
            self.held.push(b);
            None
        }
    }

    /// Turns `buf[..n]`, bytes just read, into YMQ bytes in place; returns how many. `Err` ends the
    /// connection (a protocol error, or the peer's close once every YMQ byte before it was returned).
    pub fn receive(&mut self, buf: &mut [u8], fx: &mut Effects) -> Result<usize, WsEnd> {
        if let Some(end) = self.ended() {
            return Err(end);
        }
        let was_open = self.session.is_open();
        let k = self.session.receive(buf).map_err(WsEnd::Protocol)?;
        while let Some(b) = self.session.take_output() {
            fx.send.push(b);
        }
        if !was_open && self.session.is_open() {
            fx.release = std::mem::take(&mut self.held);
        }
        if k == 0 {
            if let Some(end) = self.ended() {
                return Err(end);
            }
        }
        Ok(k)
    }

    /// The peer's close, once it came: the connection ends after the YMQ bytes before it.
    pub fn end(&self) -> Option<WsEnd> {
        self.ended()
    }

    fn ended(&self) -> Option<WsEnd> {
        self.session
            .peer_close()
            .map(|(code, reason)| WsEnd::Closed {
                code: *code,
                reason: reason.clone(),
                mid_message: self.session.mid_message(),
            })
    }

    /// The magic as one message.
    pub fn magic(&mut self) -> Bytes {
        self.message(&frame::MAGIC, &[])
    }

    /// One whole message of `head` then `payload` (copies: for the client side, the handshake and
    /// other rare frames).
    pub fn message(&mut self, head: &[u8], payload: &[u8]) -> Bytes {
        if self.session.is_client() {
            self.session.client_message(&[head, payload])
        } else {
            let (h, n) = Session::server_message_header(head.len() + payload.len());
            let mut v = Vec::with_capacity(n + head.len() + payload.len());
            v.extend_from_slice(&h[..n]);
            v.extend_from_slice(head);
            v.extend_from_slice(payload);
            Bytes::from(v)
        }
    }

    pub fn is_client(&self) -> bool {
        self.session.is_client()
    }

    /// Server side: the WebSocket header and the YMQ length of a frame of `payload_len` bytes, as one
    /// send-queue buffer; the payload follows unchanged as the rest of the message.
    pub(super) fn server_header(payload_len: usize) -> super::conn::Chunk {
        let (h, n) = Session::server_message_header(frame::HEADER_LEN + payload_len);
        super::conn::Chunk::inline(&[&h[..n], &frame::header(payload_len)])
    }

    /// Client side: one masked message holding the YMQ length and `payload` (a copy).
    pub fn client_message(&mut self, payload: &[u8]) -> Bytes {
        let hdr = frame::header(payload.len());
        self.session.client_message(&[&hdr, payload])
    }
}

/// One YMQ frame (length + payload) travels as one message.
fn max_message(max_frame: u64) -> u64 {
    max_frame.saturating_add(frame::HEADER_LEN as u64)
}

/// An `io::Error` carrying a [`WsEnd`], for read paths that speak `io::Result`.
pub fn io_error(e: WsEnd) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The [`WsEnd`] inside an error made by [`io_error`], if it is one.
pub fn as_ws_end(e: &io::Error) -> Option<&WsEnd> {
    e.get_ref().and_then(|i| i.downcast_ref::<WsEnd>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (WsLayer, WsLayer) {
        let (mut c, req) = WsLayer::client("127.0.0.1", 1, "/x", 1 << 20);
        let mut s = WsLayer::server(1 << 20);
        // Both queue their magic before the Upgrade is done: it is held.
        let cm = c.magic();
        assert!(c.hold(cm).is_none());
        let sm = s.magic();
        assert!(s.hold(sm).is_none());
        let mut fx = Effects::default();
        let mut r = req.to_vec();
        assert_eq!(s.receive(&mut r, &mut fx), Ok(0));
        assert!(s.is_open());
        assert_eq!(fx.send.len(), 1, "the 101");
        assert_eq!(fx.release.len(), 1, "the held magic");
        let mut wire: Vec<u8> = fx.send.concat();
        wire.extend(fx.release.concat());
        let mut cfx = Effects::default();
        let n = c.receive(&mut wire, &mut cfx).unwrap();
        assert_eq!(&wire[..n], &frame::MAGIC);
        assert!(c.is_open() && cfx.send.is_empty() && cfx.release.len() == 1);
        let mut m = cfx.release.concat();
        assert_eq!(s.receive(&mut m, &mut Effects::default()), Ok(4));
        (c, s)
    }

    #[test]
    fn frames_both_ways_after_the_upgrade() {
        let (mut c, mut s) = pair();
        let mut wire = WsLayer::server_header(5).to_vec();
        wire.extend(b"hello");
        let k = c.receive(&mut wire, &mut Effects::default()).unwrap();
        assert_eq!(&wire[..k], b"\x05\0\0\0\0\0\0\0hello");
        let mut up = c.client_message(b"abc").to_vec();
        let k = s.receive(&mut up, &mut Effects::default()).unwrap();
        assert_eq!(&up[..k], b"\x03\0\0\0\0\0\0\0abc");
        let b = Bytes::from_static(b"x");
        assert_eq!(s.hold(b.clone()), Some(b), "nothing is held once open");
    }

    #[test]
    fn the_peers_close_ends_after_the_bytes_before_it() {
        let (_, mut s) = pair();
        let mut wire = crate::wire::ws::frame::masked_frame(2, &[b"\x05\0\0"], [9; 4]);
        wire.extend(crate::wire::ws::frame::masked_frame(
            8,
            &[&1001u16.to_be_bytes()],
            [9; 4],
        ));
        let mut fx = Effects::default();
        assert_eq!(s.receive(&mut wire, &mut fx), Ok(3));
        assert_eq!(fx.send.len(), 1, "close echo");
        let end = s.receive(&mut [], &mut fx).unwrap_err();
        assert_eq!(end.to_string(), "websocket close from the peer (code 1001)");
        let e = io_error(end.clone());
        assert_eq!(as_ws_end(&e), Some(&end));
    }

    #[test]
    fn frame_limit_is_the_message_limit_minus_the_ymq_length() {
        let mut s = WsLayer::server(100);
        let mut fx = Effects::default();
        let (mut cl, req) = WsLayer::client("127.0.0.1", 1, "/", 100);
        let mut r = req.to_vec();
        s.receive(&mut r, &mut fx).unwrap();
        let mut ok = cl.client_message(&[0u8; 100]).to_vec();
        assert_eq!(s.receive(&mut ok, &mut fx), Ok(108));
        let mut big = cl.client_message(&[0u8; 101]).to_vec();
        assert!(matches!(
            s.receive(&mut big, &mut fx),
            Err(WsEnd::Protocol(_))
        ));
    }
}
