//! Blocking YMQ peer for tools and tests (load generator, hostile-peer tests): connect, handshake,
//! send frames, and read frames with a timeout. Not used by the scheduler itself.
use crate::wire::frame::{self, Decoded, MAGIC};
use bytes::{Buf, Bytes, BytesMut};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Peer {
    pub stream: TcpStream,
    rbuf: BytesMut,
    /// The other side's identity, from its handshake.
    pub remote: Bytes,
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
        };
        let mut magic = [0u8; 4];
        if p.stream.read_exact(&mut magic).is_ok() {
            p.remote = p.recv().ok().flatten().unwrap_or_default();
        }
        p
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
        frame::encode_into(payload, &mut v);
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
