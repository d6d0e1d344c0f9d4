//! One YMQ connection: handshake state, receive buffer, and a queue of outgoing frames.
//!
//! Reads go into a `BytesMut`; every complete frame is split off and frozen, so a payload handed to
//! the layers above is the very memory the kernel wrote into. Writes are queued as `Bytes` (length
//! prefix and payload separately) and flushed with vectored writes.
use super::ws::{self, WsEnd, WsLayer};
use crate::wire::frame::{self, Decoded, FrameError, MAGIC};
use bytes::{Buf, Bytes, BytesMut};
pub use large_frame::{
    set_max_reserved as set_large_frame_reserve, MAX_RESERVED as LARGE_FRAME_RESERVE_DEFAULT,
};
use large_frame::{LargeFrame, LARGE_FROM};
use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// A fresh connection's receive buffer, and the least room a read is offered.
const INITIAL_RBUF: usize = 16 * 1024;
const MIN_READ: usize = 4096;
/// Below this, the buffer grows by a fixed step (small frames do not need doubling).
const GROW_STEP: usize = 64 * 1024;
/// Bytes read from one connection per `read` call before the others get a go: a peer streaming a
/// large object would otherwise hold the loop for as long as it keeps the socket non-empty.
const READ_BYTES_PER_TURN: usize = 1 << 20;
/// An identity is a short string; a longer identity frame is refused before it is buffered.
const MAX_IDENTITY: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A client, worker or worker manager on the main address.
    Main,
    /// A subscriber on the monitor address (only ever written to).
    Monitor,
    /// A peer of the embedded object storage server.
    Storage,
    /// Our own connection to an external object storage server.
    StorageClient,
    /// The metrics listener (its connections are plain HTTP, see `transport::http`).
    Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Magic,
    Identity,
    Ready,
}

#[derive(Debug)]
pub enum ConnError {
    Frame(FrameError),
    Io(io::Error),
    /// The peer closed its side (EOF).
    Eof,
    /// The peer is not reading and its queue passed the limit.
    SendQueueFull(usize),
    /// A WebSocket protocol error, or the peer's close frame.
    WebSocket(WsEnd),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Frame(e) => write!(f, "{e}"),
            ConnError::Io(e) => write!(f, "i/o error: {e}"),
            ConnError::Eof => write!(f, "peer closed the connection"),
            ConnError::SendQueueFull(n) => write!(f, "peer is not reading ({n} bytes queued)"),
            ConnError::WebSocket(e) => write!(f, "{e}"),
        }
    }
}

/// What a read produced.
#[derive(Debug, Default)]
pub struct Received {
    /// Set when the identity frame completed the handshake during this read.
    pub identity: Option<Bytes>,
    pub frames: Vec<Bytes>,
}

pub struct Conn {
    pub stream: mio::net::TcpStream,
    pub role: Role,
    pub identity: Option<Bytes>,
    phase: Phase,
    rbuf: BytesMut,
    wqueue: VecDeque<Chunk>,
    /// Bytes already written of the front buffer.
    woff: usize,
    queued_bytes: usize,
    /// Set for connections we initiated, until the socket reports connected.
    pub connecting: bool,
    /// TLS session of a `tls://` connection (plaintext YMQ runs inside it).
    pub tls: Option<Box<rustls::Connection>>,
    /// Set once readiness reported the peer's side closed (or an error): from then on every read goes
    /// on until the socket reports EOF or `WouldBlock`, since no further edge would announce the EOF.
    pub peer_closing: bool,
    /// `READ_BYTES_PER_TURN`, a field so that tests can make it small.
    read_bytes_per_turn: usize,
    /// `WRITE_BYTES_PER_TURN`, likewise.
    write_bytes_per_turn: usize,
    /// WebSocket layer of a `ws://`/`wss://` connection (YMQ runs inside binary messages).
    ws: Option<Box<WsLayer>>,
    /// The large frame being received, when there is one; `rbuf` is empty meanwhile.
    large: Option<LargeFrame>,
}

impl Conn {
    /// A new connection; our magic and identity are queued at once, as YMQ peers do.
    pub fn new(stream: mio::net::TcpStream, role: Role, own_identity: &Bytes) -> Conn {
        let mut c = Conn {
            stream,
            role,
            identity: None,
            phase: Phase::Magic,
            rbuf: BytesMut::with_capacity(INITIAL_RBUF),
            wqueue: VecDeque::new(),
            woff: 0,
            queued_bytes: 0,
            connecting: false,
            tls: None,
            peer_closing: false,
            read_bytes_per_turn: READ_BYTES_PER_TURN,
            write_bytes_per_turn: WRITE_BYTES_PER_TURN,
            ws: None,
            large: None,
        };
        c.push(Chunk::Shared(Bytes::from_static(&MAGIC)));
        c.queue_frame(own_identity.clone());
        c
    }

    /// Runs this connection inside TLS (must be called before any byte is exchanged).
    pub fn with_tls(mut self, tls: rustls::Connection) -> Conn {
        let mut tls = Box::new(tls);
        // Bounds plaintext buffered inside rustls; the rest waits in our queue, which is what the
        // not-reading limit counts.
        tls.set_buffer_limit(Some(1 << 20));
        self.tls = Some(tls);
        self
    }

    /// Runs YMQ inside WebSocket messages (before any byte is exchanged; above TLS for wss://). The
    /// magic and identity `new` queued are framed again; a client's Upgrade request goes first.
    pub fn with_ws(mut self, layer: WsLayer, request: Option<Bytes>, own_identity: &Bytes) -> Conn {
        self.wqueue.clear();
        self.woff = 0;
        self.queued_bytes = 0;
        self.ws = Some(Box::new(layer));
        if let Some(r) = request {
            self.push_now(Chunk::Shared(r));
        }
        let ws = self.ws.as_mut().expect("just set");
        let magic = ws.magic();
        self.push(Chunk::Shared(magic));
        self.queue_frame(own_identity.clone());
        self
    }

    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    fn push(&mut self, c: Chunk) {
        if c.is_empty() {
            return;
        }
        match self.ws.as_mut() {
            Some(ws) if !ws.is_open() => {
                // Only the magic and identity wait for the Upgrade: the copy is once per connection.
                self.queued_bytes += c.len();
                let held = match c {
                    Chunk::Shared(b) => b,
                    inline => Bytes::copy_from_slice(&inline),
                };
                let given_back = ws.hold(held);
                debug_assert!(given_back.is_none(), "held while not open");
            }
            _ => self.push_now(c),
        }
    }

    /// Queues past the WebSocket hold: Upgrade answers and control frames.
    fn push_now(&mut self, c: Chunk) {
        self.queued_bytes += c.len();
        self.wqueue.push_back(c);
    }

    /// Queues bytes the WebSocket layer held until the Upgrade was done; `push` counted them when
    /// it handed them to the hold, so counting them again would inflate the not-reading figure.
    fn push_released(&mut self, b: Bytes) {
        self.wqueue.push_back(Chunk::Shared(b));
    }

    // Inline, with plain YMQ first: this runs twice per task (the task to its worker, the result to
    // its client), and a plain connection needs only the length prefix and two queue entries.
    #[inline]
    pub fn queue_frame(&mut self, payload: Bytes) {
        if self.ws.is_some() {
            return self.queue_ws_frame(payload);
        }
        self.push_now(Chunk::inline(&[&frame::header(payload.len())]));
        if !payload.is_empty() {
            self.push_now(Chunk::Shared(payload));
        }
    }

    fn queue_ws_frame(&mut self, payload: Bytes) {
        let header = match self.ws.as_deref_mut() {
            Some(ws) if ws.is_client() => {
                let m = ws.client_message(&payload);
                self.push(Chunk::Shared(m));
                return;
            }
            _ => WsLayer::server_header(payload.len()),
        };
        self.push(header);
        self.push(Chunk::Shared(payload));
    }

    pub fn has_pending_writes(&self) -> bool {
        !self.wqueue.is_empty() || self.wants_write()
    }

    /// Writes as much as the socket takes, up to this turn's byte budget.
    pub fn flush(&mut self) -> Result<Flushed, ConnError> {
        if self.tls.is_some() {
            return self.flush_tls();
        }
        let mut budget = self.write_bytes_per_turn;
        while !self.wqueue.is_empty() {
            if budget == 0 {
                return Ok(Flushed::Budget);
            }
            // `queued_bytes` bounds what the queue holds (it also counts a WebSocket hold).
            let wrote = if self.queued_bytes <= budget {
                write_queue(&mut self.stream, &self.wqueue, self.woff)
            } else {
                write_queue_upto(&mut self.stream, &self.wqueue, self.woff, budget)
            };
            match wrote {
                Ok(0) => return Err(ConnError::Eof),
                Ok(mut written) => {
                    budget -= written.min(budget);
                    debug_assert!(written <= self.queued_bytes, "wrote more than was queued");
                    self.queued_bytes -= written;
                    while written > 0 {
                        let front = self
                            .wqueue
                            .front()
                            .expect("written bytes come from the queue")
                            .len()
                            - self.woff;
                        if written >= front {
                            written -= front;
                            self.wqueue.pop_front();
                            self.woff = 0;
                        } else {
                            self.woff += written;
                            written = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        debug_assert_eq!(
            self.queued_bytes,
            self.ws.as_ref().map_or(0, |w| w.held_bytes()),
            "queue empty but bytes counted beyond the WebSocket hold"
        );
        Ok(Flushed::All)
    }

    /// Reads everything available and decodes whole frames. Stops early (leaving data in the kernel)
    /// once `budget` frames were decoded, so one busy peer cannot starve the others.
    pub fn read(
        &mut self,
        max_frame: u64,
        budget: usize,
        got: &mut Received,
    ) -> Result<bool, ConnError> {
        let mut eof = false;
        let mut read_bytes = 0;
        loop {
            if self.large.is_none() {
                self.decode(max_frame, got)?;
                self.start_large_frame();
            }
            if got.frames.len() >= budget || read_bytes >= self.read_bytes_per_turn {
                return Ok(true);
            }
            let buf = match self.large.as_mut() {
                // Never past the frame's end: what follows it stays in the kernel for the next read.
                Some(large) => large.spare(),
                None => {
                    self.make_room(max_frame);
                    let spare = self.rbuf.spare_capacity_mut();
                    // SAFETY: `read` only writes into the buffer; we advance `len` by exactly what it
                    // reports.
                    unsafe {
                        std::slice::from_raw_parts_mut(spare.as_mut_ptr() as *mut u8, spare.len())
                    }
                }
            };
            // Nor past the turn's budget: the kernel's copy (and a large frame's page faults) for
            // one call are time every other peer waits.
            let room = buf.len().min(self.read_bytes_per_turn - read_bytes);
            // SAFETY: detaches `buf` from `self` so `read_some` can take `&mut self`; it touches
            // neither `rbuf`'s spare capacity nor `large`, and both outlive the call.
            let buf = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr(), room) };
            match self.read_some(buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    match self.large.as_mut() {
                        Some(large) => {
                            large.advance(n);
                            if large.is_complete() {
                                let frame = self.large.take().expect("checked above");
                                got.frames.push(frame.into_bytes());
                            }
                        }
                        None => unsafe { self.rbuf.set_len(self.rbuf.len() + n) },
                    }
                    read_bytes += n;
                    if self.drained_by_short_read(n, room) {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(match ws::as_ws_end(&e) {
                        Some(end) => ConnError::WebSocket(end.clone()),
                        None => ConnError::Io(e),
                    })
                }
            }
        }
        self.decode(max_frame, got)?;
        if eof {
            return Err(ConnError::Eof);
        }
        Ok(false)
    }

    /// Whether a read of `n` bytes into `room` left the socket empty, so that reading again would only
    /// return `WouldBlock` (half of all reads under real peers, which send one message per wake-up).
    /// A TCP read returns less than asked only when the receive queue ran dry, and data arriving after
    /// that raises a new edge-triggered readiness event. Not for TLS or WebSocket (a short read of
    /// what the layer hands up says nothing about the socket) nor once the peer is closing (its EOF
    /// raises no further event).
    fn drained_by_short_read(&self, n: usize, room: usize) -> bool {
        n < room && self.tls.is_none() && self.ws.is_none() && !self.peer_closing
    }

    /// Reads YMQ bytes: what `read_raw` gives, through the WebSocket layer for ws:// and wss://.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ws.is_none() {
            return self.read_raw(buf);
        }
        loop {
            if let Some(end) = self.ws.as_ref().and_then(|w| w.end()) {
                return Err(ws::io_error(end));
            }
            let n = self.read_raw(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut fx = ws::Effects::default();
            let r = self
                .ws
                .as_mut()
                .expect("checked above")
                .receive(&mut buf[..n], &mut fx);
            for b in fx.send {
                self.push_now(Chunk::Shared(b));
            }
            for b in fx.release {
                self.push_released(b);
            }
            match r {
                Ok(0) => continue,
                Ok(k) => return Ok(k),
                Err(e) => return Err(ws::io_error(e)),
            }
        }
    }

    /// Reads plaintext: straight from the socket, or through TLS records.
    fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return self.stream.read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if tls.read_tls(&mut self.stream)? == 0 {
                return Ok(0);
            }
            tls.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("tls: {e}")))?;
        }
    }

    /// Whether TLS has records (handshake or data) waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
            || (self.ws.is_some() && !self.wqueue.is_empty())
    }

    /// Flush for TLS connections: plaintext moves from the queue into rustls (bounded by its buffer
    /// limit), records move from rustls to the socket.
    fn flush_tls(&mut self) -> Result<Flushed, ConnError> {
        let tls = self.tls.as_mut().expect("tls connection");
        let mut budget = self.write_bytes_per_turn;
        loop {
            while let Some(front) = self.wqueue.front() {
                let n = tls
                    .writer()
                    .write(&front[self.woff..])
                    .map_err(ConnError::Io)?;
                if n == 0 {
                    break;
                }
                debug_assert!(n <= self.queued_bytes, "wrote more than was queued");
                self.queued_bytes -= n;
                self.woff += n;
                if self.woff == front.len() {
                    self.wqueue.pop_front();
                    self.woff = 0;
                }
            }
            if !tls.wants_write() {
                return Ok(if self.wqueue.is_empty() {
                    Flushed::All
                } else {
                    Flushed::Blocked
                });
            }
            if budget == 0 {
                return Ok(Flushed::Budget);
            }
            match tls.write_tls(&mut self.stream) {
                Ok(0) => return Err(ConnError::Eof),
                Ok(n) => budget -= n.min(budget),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
    }

    /// Receive-buffer capacity, for tests and accounting.
    pub fn receive_capacity(&self) -> usize {
        self.rbuf.capacity()
    }

    /// Ensures room for the next read. The buffer grows with the bytes that arrived, doubling (as
    /// sozu's channel does), never by the length a frame header declares: a peer that announces 1 GiB
    /// and sends 10 bytes costs 16 KiB, not 1 GiB of address space. Growth stops at one whole frame
    /// under the limit (plus one read), which is all a buffer ever needs: `decode` consumes every
    /// complete frame, so what stays behind is at most one partial frame. In practice it stops near
    /// `LARGE_FROM`: a frame that is still partial past that leaves for a mapping of its own.
    fn make_room(&mut self, max_frame: u64) {
        let len = self.rbuf.len();
        if self.rbuf.capacity() - len >= MIN_READ {
            return;
        }
        if len < GROW_STEP {
            // The common case (small frames): `reserve` reclaims the buffer in place once the frames
            // split off it are dropped, so steady traffic allocates nothing.
            self.rbuf.reserve(GROW_STEP);
            return;
        }
        let cap = frame::max_buffered(self.frame_limit(max_frame));
        let grow = len.min(cap.saturating_sub(len)).max(MIN_READ);
        // A large partial frame: exactly twice its size (capped; `BytesMut::reserve` may round a large
        // request up past the cap), grown in place. As a `Vec`, `reserve_exact` is a `realloc`, which
        // for a block this size moves page mappings (mremap) rather than copying: copying a 512 MiB
        // partial frame into a fresh block took 1.7 s on this VM, in one loop turn, almost all of it
        // faulting in the new pages. The conversions copy nothing when this buffer is the only owner
        // of its allocation and starts at its beginning, which holds from the second growth of a
        // frame on; the first moves at most the `GROW_STEP`-sized start of the frame. (`Bytes` is the
        // way back: a unique `Bytes` becomes a `BytesMut` over the same allocation.)
        let mut v: Vec<u8> = std::mem::take(&mut self.rbuf).into();
        v.reserve_exact(grow);
        self.rbuf = BytesMut::from(Bytes::from(v));
    }

    /// Moves a large partial frame out of the receive buffer into a mapping of its own (see
    /// `large_frame`) once `LARGE_FROM` bytes of it have arrived. `decode` has just run, so the
    /// buffer holds at most one partial frame, from its start.
    #[inline]
    fn start_large_frame(&mut self) {
        if self.rbuf.len() >= frame::HEADER_LEN + LARGE_FROM && self.phase == Phase::Ready {
            self.move_to_large_frame();
        }
    }

    #[cold]
    fn move_to_large_frame(&mut self) {
        if self.rbuf.len() > frame::HEADER_LEN + 4 * LARGE_FROM {
            // It grew here while the reservation cap was full; moving it now would copy all of it
            // in one loop turn, so it finishes where it is.
            return;
        }
        let declared =
            u64::from_le_bytes(self.rbuf[..frame::HEADER_LEN].try_into().expect("8 bytes"));
        let Ok(len) = usize::try_from(declared) else {
            return;
        };
        let prefix = &self.rbuf[frame::HEADER_LEN..];
        debug_assert!(prefix.len() < len, "decode left a whole frame behind");
        if let Some(large) = LargeFrame::start(len, prefix) {
            self.large = Some(large);
            // The large buffer goes (once the frames split off it do); small frames start afresh.
            self.rbuf = BytesMut::with_capacity(INITIAL_RBUF);
        }
    }

    /// The limit the next frame is decoded under.
    fn frame_limit(&self, max_frame: u64) -> u64 {
        match self.phase {
            Phase::Magic => 0,
            Phase::Identity => MAX_IDENTITY,
            Phase::Ready => max_frame,
        }
    }

    fn decode(&mut self, max_frame: u64, got: &mut Received) -> Result<(), ConnError> {
        loop {
            match self.phase {
                Phase::Magic => {
                    if !frame::check_magic(&self.rbuf).map_err(ConnError::Frame)? {
                        return Ok(());
                    }
                    self.rbuf.advance(MAGIC.len());
                    self.phase = Phase::Identity;
                }
                Phase::Identity | Phase::Ready => {
                    let limit = self.frame_limit(max_frame);
                    match frame::decode(&self.rbuf, limit).map_err(ConnError::Frame)? {
                        // The rest arrives through `make_room`, which never trusts `need`.
                        Decoded::Incomplete { .. } => {
                            debug_assert!(self.rbuf.len() < frame::max_buffered(limit));
                            return Ok(());
                        }
                        Decoded::Frame { consumed } => {
                            // The header is skipped on the frozen `Bytes`, whose advance is a pointer
                            // move (a `BytesMut`'s also keeps its buffer-kind bookkeeping).
                            let mut payload = self.rbuf.split_to(consumed).freeze();
                            payload.advance(frame::HEADER_LEN);
                            if self.phase == Phase::Identity {
                                self.identity = Some(payload.clone());
                                got.identity = Some(payload);
                                self.phase = Phase::Ready;
                            } else {
                                got.frames.push(payload);
                            }
                        }
                    }
                }
            }
        }
    }
}

mod large_frame;
mod writev;
pub(in crate::transport) use writev::Chunk;
pub use writev::Flushed;
use writev::{write_queue, write_queue_upto, WRITE_BYTES_PER_TURN};
#[cfg(test)]
mod tests;
