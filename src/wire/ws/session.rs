//! One WebSocket endpoint, sans-IO: the Upgrade, then frames. Bytes read from the socket go in through
//! [`Session::receive`] and come out, in the same buffer, as the YMQ byte stream; what the session must
//! send on its own (the Upgrade request or `101`, pongs, the close echo) comes out of
//! [`Session::take_output`]. No socket, no clock; the client's randomness (key, masks) is seeded by the
//! caller.
use super::frame::{self, Control, Decoder, WsFrameError, OP_BINARY, OP_CLOSE, OP_PONG};
use super::handshake::{self, HandshakeError, MAX_HEAD};
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    Handshake(HandshakeError),
    Frame(WsFrameError),
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsError::Handshake(e) => write!(f, "{e}"),
            WsError::Frame(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WsError {}

enum Phase {
    /// Collecting the Upgrade request (server) or its answer (client).
    Upgrading {
        head: Vec<u8>,
    },
    Open,
}

pub struct Session {
    /// The key we sent, on the client side.
    client_key: Option<String>,
    phase: Phase,
    decoder: Decoder,
    controls: Vec<Control>,
    out: Vec<Bytes>,
    /// xorshift64 state for client mask keys (RFC 6455 §5.3 asks for unpredictable masks to protect
    /// intermediaries, not the endpoints; a seeded generator is enough for that).
    rng: u64,
    peer_close: Option<(Option<u16>, String)>,
    /// The peer's Upgrade path (server side), for logs.
    pub path: Option<String>,
}

impl Session {
    /// The accepting side. `max_message`: the longest data message (a YMQ frame plus its 8-byte length).
    pub fn server(max_message: u64) -> Session {
        Session {
            client_key: None,
            phase: Phase::Upgrading { head: Vec::new() },
            decoder: Decoder::new(true, max_message),
            controls: Vec::new(),
            out: Vec::new(),
            rng: 0,
            peer_close: None,
            path: None,
        }
    }

    /// The connecting side; its Upgrade request is already in the output. `seed` feeds the key and the
    /// mask keys.
    pub fn client(host: &str, port: u16, path: &str, max_message: u64, seed: u64) -> Session {
        let mut s = Session {
            client_key: None,
            phase: Phase::Upgrading { head: Vec::new() },
            decoder: Decoder::new(false, max_message),
            controls: Vec::new(),
            out: Vec::new(),
            rng: seed | 1,
            peer_close: None,
            path: Some(path.to_string()),
        };
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&s.next_random().to_le_bytes());
        key[8..].copy_from_slice(&s.next_random().to_le_bytes());
        let (req, key) = handshake::request(host, port, path, key);
        s.client_key = Some(key);
        s.out.push(Bytes::from(req));
        s
    }

    pub fn is_client(&self) -> bool {
        self.client_key.is_some()
    }

    /// Whether the Upgrade is done, so data messages may be sent.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    /// The peer's close frame (code, reason), once it came.
    pub fn peer_close(&self) -> Option<&(Option<u16>, String)> {
        self.peer_close.as_ref()
    }

    /// Whether a data message was partly received.
    pub fn mid_message(&self) -> bool {
        self.decoder.mid_message()
    }

    /// Turns `buf` (bytes just read) into YMQ bytes in place: returns `n`, the YMQ bytes being
    /// `buf[..n]`. After an error the connection must be closed.
    pub fn receive(&mut self, buf: &mut [u8]) -> Result<usize, WsError> {
        let start = match &mut self.phase {
            Phase::Open => 0,
            Phase::Upgrading { head } => {
                let searched = head.len();
                head.extend_from_slice(buf);
                let Some(end) = handshake::head_end(head, searched) else {
                    if head.len() > MAX_HEAD {
                        return Err(WsError::Handshake(HandshakeError::TooLarge(MAX_HEAD)));
                    }
                    return Ok(0);
                };
                if end > MAX_HEAD {
                    return Err(WsError::Handshake(HandshakeError::TooLarge(MAX_HEAD)));
                }
                let head_bytes = &head[..end - 4];
                match &self.client_key {
                    Some(key) => {
                        handshake::parse_response(head_bytes, key).map_err(WsError::Handshake)?
                    }
                    None => {
                        let req =
                            handshake::parse_request(head_bytes).map_err(WsError::Handshake)?;
                        self.out.push(Bytes::from(handshake::response(&req.key)));
                        self.path = Some(req.path);
                    }
                }
                // Everything after the head came in this very read: it is the tail of `buf`.
                let leftover = head.len() - end;
                debug_assert!(leftover <= buf.len());
                self.phase = Phase::Open;
                buf.len() - leftover
            }
        };
        let n = buf.len() - start;
        buf.copy_within(start.., 0);
        let got = self
            .decoder
            .decode_in_place(&mut buf[..n], &mut self.controls)
            .map_err(WsError::Frame)?;
        for c in std::mem::take(&mut self.controls) {
            match c {
                Control::Ping(p) => {
                    let pong = self.control_frame(OP_PONG, &p);
                    self.out.push(pong);
                }
                Control::Pong => {}
                Control::Close(code, reason) => {
                    // Echo the close (RFC 6455 §5.5.1); the caller drops the connection after it.
                    let body = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                    let echo = self.control_frame(OP_CLOSE, &body);
                    self.out.push(echo);
                    self.peer_close = Some((code, reason));
                }
            }
        }
        Ok(got)
    }

    /// Bytes the session must send now, in order (Upgrade, pongs, close echo), between whole messages.
    pub fn take_output(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// The header a server puts in front of a binary message of `len` bytes (no mask, so the payload
    /// is sent as is).
    pub fn server_message_header(len: usize) -> ([u8; frame::MAX_HEADER], usize) {
        frame::header(OP_BINARY, len, None)
    }

    /// A whole masked binary message of `parts`, for the client side.
    pub fn client_message(&mut self, parts: &[&[u8]]) -> Bytes {
        let mask = self.next_mask();
        Bytes::from(frame::masked_frame(OP_BINARY, parts, mask))
    }

    fn control_frame(&mut self, opcode: u8, payload: &[u8]) -> Bytes {
        if self.is_client() {
            let mask = self.next_mask();
            Bytes::from(frame::masked_frame(opcode, &[payload], mask))
        } else {
            let (h, n) = frame::header(opcode, payload.len(), None);
            let mut v = h[..n].to_vec();
            v.extend_from_slice(payload);
            Bytes::from(v)
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn next_mask(&mut self) -> [u8; 4] {
        (self.next_random() as u32).to_le_bytes()
    }
}
