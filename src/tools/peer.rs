//! Blocking YMQ peer for tools and tests (load generator, hostile-peer tests): connect, handshake,
//! send frames, and read frames with a timeout, over tcp:// or ws:// (a client WebSocket: masked
//! binary messages, one per YMQ frame, as 2.9.0 sends). Not used by the scheduler itself.
use crate::transport::Address;
use crate::wire::frame::{self, Decoded, MAGIC};
use crate::wire::ws::Session;
use bytes::{Buf, Bytes, BytesMut};
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How frames are put on the wire; `Copy` so writer threads can frame their own batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Plain YMQ: u64 length + payload.
    Ymq,
    /// Each YMQ frame as one masked binary WebSocket message.
    WsClient,
}

thread_local! {
    static MASK_RNG: Cell<u64> = Cell::new(uuid::Uuid::new_v4().as_u64_pair().0 | 1);
}

fn next_mask() -> [u8; 4] {
    MASK_RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        (x as u32).to_le_bytes()
    })
}

impl Framing {
    /// Appends one frame carrying `payload` to `out`.
    pub fn frame_into(self, payload: &[u8], out: &mut Vec<u8>) {
        match self {
            Framing::Ymq => frame::encode_into(payload, out),
            Framing::WsClient => {
                let hdr = (payload.len() as u64).to_le_bytes();
                out.extend(crate::wire::ws::frame::masked_frame(
                    crate::wire::ws::frame::OP_BINARY,
                    &[&hdr, payload],
                    next_mask(),
                ));
            }
        }
    }
}

pub struct Peer {
    pub stream: TcpStream,
    rbuf: BytesMut,
    /// The other side's identity, from its handshake.
    pub remote: Bytes,
    pub framing: Framing,
    /// The WebSocket receive side (ws:// only).
    ws: Option<Session>,
}

impl Peer {
    /// Connects and completes the YMQ handshake as `identity`.
    pub fn connect(addr: SocketAddr, identity: &[u8]) -> io::Result<Peer> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut hello = MAGIC.to_vec();
        frame::encode_into(identity, &mut hello);
        (&stream).write_all(&hello)?;
        let mut p = Peer {
            stream,
            rbuf: BytesMut::with_capacity(1 << 16),
            remote: Bytes::new(),
            framing: Framing::Ymq,
            ws: None,
        };
        p.stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut magic = [0u8; 4];
        p.stream.read_exact(&mut magic)?;
        if magic != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad magic from server",
            ));
        }
        p.remote = p
            .recv()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no identity"))?;
        Ok(p)
    }

    /// Wraps a stream whose handshake the caller performed; the server's magic and identity are
    /// read from the stream like any frame would be.
    pub fn from_stream(stream: TcpStream) -> Peer {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut p = Peer {
            stream,
            rbuf: BytesMut::with_capacity(1 << 16),
            remote: Bytes::new(),
            framing: Framing::Ymq,
            ws: None,
        };
        let mut magic = [0u8; 4];
        if p.stream.read_exact(&mut magic).is_ok() {
            p.remote = p.recv().ok().flatten().unwrap_or_default();
        }
        p
    }

    /// Connects to a `tcp://` or `ws://` address (`wss://`/`tls://` are not supported here) and
    /// completes the Upgrade (ws) and the YMQ handshake as `identity`.
    pub fn connect_to(addr: &Address, identity: &[u8]) -> io::Result<Peer> {
        if addr.is_secure() {
            return Err(io::Error::other(format!(
                "{addr}: Peer speaks tcp:// and ws:// only"
            )));
        }
        let Some(path) = addr.path.as_deref() else {
            return Peer::connect(addr.socket_addr(), identity);
        };
        let stream = TcpStream::connect(addr.socket_addr())?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let seed = uuid::Uuid::new_v4().as_u64_pair().0;
        let mut ws = Session::client(&addr.host, addr.port, path, u64::MAX, seed);
        while let Some(b) = ws.take_output() {
            (&stream).write_all(&b)?;
        }
        let mut p = Peer {
            stream,
            rbuf: BytesMut::with_capacity(1 << 16),
            remote: Bytes::new(),
            framing: Framing::WsClient,
            ws: Some(ws),
        };
        let mut hello = Vec::new();
        hello.extend(crate::wire::ws::frame::masked_frame(
            crate::wire::ws::frame::OP_BINARY,
            &[&MAGIC],
            next_mask(),
        ));
        p.framing.frame_into(identity, &mut hello);
        // The Upgrade answer must come first (RFC 6455 §4.1: no data before it).
        while !p.ws.as_ref().is_some_and(Session::is_open) {
            if !p.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no websocket upgrade answer",
                ));
            }
        }
        p.stream.write_all(&hello)?;
        while p.rbuf.len() < MAGIC.len() {
            if !p.fill()? {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no magic"));
            }
        }
        if p.rbuf[..4] != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad magic from server",
            ));
        }
        p.rbuf.advance(4);
        p.remote = p
            .recv()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no identity"))?;
        Ok(p)
    }

    pub fn try_clone(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Appends one frame to `out` (to be written with `write_all` in a batch).
    pub fn frame_into(payload: &[u8], out: &mut Vec<u8>) {
        frame::encode_into(payload, out);
    }

    pub fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut v = Vec::with_capacity(payload.len() + 8);
        self.framing.frame_into(payload, &mut v);
        self.stream.write_all(&v)
    }

    /// A frame already buffered, without reading the socket.
    pub fn buffered(&mut self) -> Option<Bytes> {
        match frame::decode(&self.rbuf, u64::MAX) {
            Ok(Decoded::Frame { consumed }) => {
                let mut f = self.rbuf.split_to(consumed);
                f.advance(frame::HEADER_LEN);
                Some(f.freeze())
            }
            _ => None,
        }
    }

    /// Next frame; `Ok(None)` when the read timeout passes first. EOF is an error.
    pub fn recv(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(f) = self.buffered() {
                return Ok(Some(f));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Reads what the socket has; `Ok(false)` on timeout.
    pub fn fill(&mut self) -> io::Result<bool> {
        self.rbuf.reserve(1 << 16);
        let spare = self.rbuf.spare_capacity_mut();
        // SAFETY: read() only writes; we extend len by exactly what it reports.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr() as *mut u8, spare.len()) };
        match self.stream.read(buf) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed")),
            Ok(n) => {
                // Over ws:// the bytes are turned into the YMQ stream in place (pings and the server's
                // close are not answered: this peer is a test and load tool).
                let n = match self.ws.as_mut() {
                    Some(ws) => {
                        let k = ws
                            .receive(&mut buf[..n])
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        if ws.peer_close().is_some() && k == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "websocket closed",
                            ));
                        }
                        k
                    }
                    None => n,
                };
                unsafe { self.rbuf.set_len(self.rbuf.len() + n) };
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }
}
