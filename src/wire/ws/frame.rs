//! RFC 6455 §5 framing: a streaming decoder that turns received bytes into the YMQ byte stream *in
//! place*, and header builders for the messages we send.
//!
//! 2.9.0 treats a WebSocket as a byte stream (its receivers append every data payload to one buffer
//! and then parse YMQ frames), and sends the magic, then each YMQ frame (8-byte length + payload), as
//! one binary message. So the decoder needs no message buffer: it strips the frame headers out of the
//! buffer the socket just filled, unmasks the payload bytes while moving them down over those headers
//! (one pass; masking forces one write per byte anyway), and hands the compacted YMQ bytes on. A frame
//! split across reads keeps at most 14 header bytes and 125 control bytes here, so memory follows the
//! bytes that arrived, never a length the peer declared.

/// Opcodes (RFC 6455 §5.2).
pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;
/// Control frames carry at most this many payload bytes (RFC 6455 §5.5).
pub const MAX_CONTROL: usize = 125;
/// The longest frame header: 2 bytes, a 64-bit length, a mask key.
pub const MAX_HEADER: usize = 14;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrameError {
    /// RSV1-3 set: we negotiate no extension.
    Reserved(u8),
    /// Opcodes 3-7 and 0xB-0xF.
    UnknownOpcode(u8),
    /// YMQ is binary; 2.9.0 never sends text.
    Text,
    /// A client frame without a mask (RFC 6455 §5.1: the server must close).
    Unmasked,
    /// A server frame with a mask (RFC 6455 §5.1: the client must close).
    Masked,
    /// A control frame with FIN clear or over 125 bytes.
    BadControl { opcode: u8, len: u64 },
    /// A continuation frame outside a fragmented message.
    StrayContinuation,
    /// A new data message before the fragmented one ended.
    UnfinishedMessage,
    /// A message (all its fragments) longer than the limit.
    TooLarge { len: u64, max: u64 },
    /// A close frame whose payload is one byte (a code needs two).
    BadClose,
}

impl std::fmt::Display for WsFrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsFrameError::Reserved(b) => write!(f, "websocket frame with reserved bits {b:#04x}"),
            WsFrameError::UnknownOpcode(o) => {
                write!(f, "websocket frame with unknown opcode {o:#x}")
            }
            WsFrameError::Text => write!(f, "websocket text frame (YMQ is binary)"),
            WsFrameError::Unmasked => write!(f, "unmasked websocket frame from a client"),
            WsFrameError::Masked => write!(f, "masked websocket frame from a server"),
            WsFrameError::BadControl { opcode, len } => {
                write!(
                    f,
                    "websocket control frame {opcode:#x} fragmented or of {len} bytes"
                )
            }
            WsFrameError::StrayContinuation => {
                write!(f, "websocket continuation frame outside a message")
            }
            WsFrameError::UnfinishedMessage => {
                write!(f, "websocket data frame inside an unfinished message")
            }
            WsFrameError::TooLarge { len, max } => {
                write!(
                    f,
                    "websocket message of {len} bytes exceeds the limit of {max}"
                )
            }
            WsFrameError::BadClose => write!(f, "websocket close frame of 1 byte"),
        }
    }
}

impl std::error::Error for WsFrameError {}

/// A control frame the decoder completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Ping(Vec<u8>),
    Pong,
    /// The peer's close: its status code (if any) and reason.
    Close(Option<u16>, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    /// Inside a data frame's payload.
    Data {
        left: u64,
    },
    /// Inside a control frame's payload (collected in `ctrl`).
    Control {
        opcode: u8,
        left: u64,
    },
    /// After the peer's close: nothing more is read.
    Closed,
}

pub struct Decoder {
    /// Frames from clients must be masked, frames from servers must not.
    expect_masked: bool,
    max_message: u64,
    state: State,
    hdr: [u8; MAX_HEADER],
    hdr_len: usize,
    mask: [u8; 4],
    /// Index into `mask` of the next payload byte.
    mask_pos: usize,
    /// Inside a data message whose FIN has not come.
    in_message: bool,
    message_len: u64,
    ctrl: Vec<u8>,
}

impl Decoder {
    /// `expect_masked`: true on the server side. `max_message`: the longest data message accepted
    /// (one YMQ frame with its 8-byte length travels as one message).
    pub fn new(expect_masked: bool, max_message: u64) -> Decoder {
        Decoder {
            expect_masked,
            max_message,
            state: State::Header,
            hdr: [0; MAX_HEADER],
            hdr_len: 0,
            mask: [0; 4],
            mask_pos: 0,
            in_message: false,
            message_len: 0,
            ctrl: Vec::new(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether a data message is partly received (a close now cuts it).
    pub fn mid_message(&self) -> bool {
        self.in_message || matches!(self.state, State::Data { .. })
    }

    /// Decodes `buf` (bytes just received) in place. Returns `n`: `buf[..n]` are the data payload
    /// bytes, unmasked and in order. Completed control frames are appended to `controls`; after a
    /// close, the remaining bytes are ignored.
    pub fn decode_in_place(
        &mut self,
        buf: &mut [u8],
        controls: &mut Vec<Control>,
    ) -> Result<usize, WsFrameError> {
        let (mut r, mut w) = (0, 0);
        while r < buf.len() {
            debug_assert!(w <= r);
            match self.state {
                State::Closed => break,
                State::Header => {
                    let need = self.header_need();
                    let take = (need - self.hdr_len).min(buf.len() - r);
                    self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&buf[r..r + take]);
                    self.hdr_len += take;
                    r += take;
                    if self.hdr_len == self.header_need() {
                        self.start_frame(controls)?;
                    }
                }
                State::Data { left } => {
                    let k = left.min((buf.len() - r) as u64) as usize;
                    self.unmask_move(buf, r, w, k);
                    r += k;
                    w += k;
                    self.state = if left == k as u64 {
                        State::Header
                    } else {
                        State::Data {
                            left: left - k as u64,
                        }
                    };
                }
                State::Control { opcode, left } => {
                    let k = left.min((buf.len() - r) as u64) as usize;
                    for &b in &buf[r..r + k] {
                        self.ctrl.push(b ^ self.mask[self.mask_pos]);
                        self.mask_pos = (self.mask_pos + 1) & 3;
                    }
                    r += k;
                    if left == k as u64 {
                        self.end_control(opcode, controls)?;
                    } else {
                        self.state = State::Control {
                            opcode,
                            left: left - k as u64,
                        };
                    }
                }
            }
        }
        Ok(w)
    }

    /// Header bytes needed, given what has arrived of it.
    fn header_need(&self) -> usize {
        if self.hdr_len < 2 {
            return 2;
        }
        let ext = match self.hdr[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if self.hdr[1] & 0x80 != 0 { 4 } else { 0 }
    }

    fn start_frame(&mut self, controls: &mut Vec<Control>) -> Result<(), WsFrameError> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        if b0 & 0x70 != 0 {
            return Err(WsFrameError::Reserved(b0 & 0x70));
        }
        let masked = b1 & 0x80 != 0;
        if masked != self.expect_masked {
            return Err(if masked {
                WsFrameError::Masked
            } else {
                WsFrameError::Unmasked
            });
        }
        let (len, at) = match b1 & 0x7F {
            126 => (u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])), 4),
            127 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&self.hdr[2..10]);
                (u64::from_be_bytes(l), 10)
            }
            n => (u64::from(n), 2),
        };
        if masked {
            self.mask.copy_from_slice(&self.hdr[at..at + 4]);
        } else {
            self.mask = [0; 4];
        }
        self.mask_pos = 0;
        self.hdr_len = 0;
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin || len > MAX_CONTROL as u64 {
                    return Err(WsFrameError::BadControl { opcode, len });
                }
                self.ctrl.clear();
                self.state = State::Control { opcode, left: len };
                if len == 0 {
                    // Complete already; the buffer may hold no further byte to finish it later.
                    return self.end_control(opcode, controls);
                }
                Ok(())
            }
            OP_TEXT => Err(WsFrameError::Text),
            OP_BINARY | OP_CONTINUATION => {
                match (opcode, self.in_message) {
                    (OP_CONTINUATION, false) => return Err(WsFrameError::StrayContinuation),
                    (OP_BINARY, true) => return Err(WsFrameError::UnfinishedMessage),
                    (OP_BINARY, false) => self.message_len = 0,
                    _ => {}
                }
                self.message_len = self.message_len.saturating_add(len);
                if self.message_len > self.max_message {
                    return Err(WsFrameError::TooLarge {
                        len: self.message_len,
                        max: self.max_message,
                    });
                }
                self.in_message = !fin;
                self.state = if len == 0 {
                    State::Header
                } else {
                    State::Data { left: len }
                };
                Ok(())
            }
            _ => Err(WsFrameError::UnknownOpcode(opcode)),
        }
    }

    fn end_control(&mut self, opcode: u8, controls: &mut Vec<Control>) -> Result<(), WsFrameError> {
        self.state = State::Header;
        let payload = std::mem::take(&mut self.ctrl);
        controls.push(match opcode {
            OP_PING => Control::Ping(payload),
            OP_PONG => Control::Pong,
            _ => {
                self.state = State::Closed;
                match payload.len() {
                    0 => Control::Close(None, String::new()),
                    1 => return Err(WsFrameError::BadClose),
                    _ => Control::Close(
                        Some(u16::from_be_bytes([payload[0], payload[1]])),
                        String::from_utf8_lossy(&payload[2..]).into_owned(),
                    ),
                }
            }
        });
        Ok(())
    }

    /// Moves `k` payload bytes from `buf[src..]` down to `buf[dst..]`, unmasking them (`dst <= src`).
    fn unmask_move(&mut self, buf: &mut [u8], src: usize, dst: usize, k: usize) {
        if self.mask == [0; 4] {
            buf.copy_within(src..src + k, dst);
            return;
        }
        let m: [u8; 4] = std::array::from_fn(|j| self.mask[(self.mask_pos + j) & 3]);
        let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
        let mut i = 0;
        // Reading each 8-byte chunk before writing its destination is safe for `dst <= src`: a write
        // only reaches bytes at or below the chunk just read.
        while i + 8 <= k {
            let mut c = [0u8; 8];
            c.copy_from_slice(&buf[src + i..src + i + 8]);
            let v = u64::from_ne_bytes(c) ^ word;
            buf[dst + i..dst + i + 8].copy_from_slice(&v.to_ne_bytes());
            i += 8;
        }
        while i < k {
            buf[dst + i] = buf[src + i] ^ m[i & 3];
            i += 1;
        }
        self.mask_pos = (self.mask_pos + k) & 3;
    }
}

/// The header of a frame of `len` payload bytes: FIN set, `mask` as given (clients) or none (servers).
pub fn header(opcode: u8, len: usize, mask: Option<[u8; 4]>) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x80 | opcode;
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        h[1] = mbit | len as u8;
        2
    } else if len <= 0xFFFF {
        h[1] = mbit | 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = mbit | 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(m) = mask {
        h[n..n + 4].copy_from_slice(&m);
        n += 4;
    }
    (h, n)
}

/// A whole frame from a client: header with `mask`, then `parts` concatenated and masked (a copy:
/// the mask changes every byte).
pub fn masked_frame(opcode: u8, parts: &[&[u8]], mask: [u8; 4]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let (h, n) = header(opcode, len, Some(mask));
    let mut out = Vec::with_capacity(n + len);
    out.extend_from_slice(&h[..n]);
    for p in parts {
        out.extend_from_slice(p);
    }
    for (i, b) in out[n..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
    out
}
