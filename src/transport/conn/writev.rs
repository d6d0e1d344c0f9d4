//! A connection's send queue: its buffers, and the one system call that sends them.
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Deref;

/// Room for the longest prefix written inline: a WebSocket server header (up to 10 bytes) and the YMQ
/// length (8).
const INLINE: usize = 23;

/// One buffer of the send queue: a payload shared with the core, or a frame's prefix kept inline.
///
/// Why inline: every frame sent has an 8-byte length prefix; cut from a shared arena it cost a
/// reference-count increment and decrement per frame, and the arena an allocation per 512 frames.
pub(in crate::transport) enum Chunk {
    Shared(Bytes),
    Inline { len: u8, bytes: [u8; INLINE] },
}

impl Chunk {
    /// A prefix of at most `INLINE` bytes.
    pub(in crate::transport) fn inline(parts: &[&[u8]]) -> Chunk {
        let mut bytes = [0; INLINE];
        let mut len = 0;
        for p in parts {
            bytes[len..len + p.len()].copy_from_slice(p);
            len += p.len();
        }
        Chunk::Inline {
            len: len as u8,
            bytes,
        }
    }
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Inline { len, bytes } => &bytes[..*len as usize],
        }
    }
}

/// Bytes written to one connection per loop turn. A peer that reads as fast as we write (a worker
/// downloading a 1 GiB object from the embedded storage) kept each flush going until the socket
/// refused: 17-45 ms per flush, during which no other peer was served. What is left is written in the
/// next turn.
pub(super) const WRITE_BYTES_PER_TURN: usize = 1 << 20;

/// What a flush left queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Nothing.
    All,
    /// The socket takes no more for now; its writable edge will come when it does.
    Blocked,
    /// This turn's byte budget is spent with bytes still queued. No edge will announce more room (the
    /// socket did not refuse), so the loop flushes the connection again in its next turn.
    Budget,
}

/// Buffers per `writev`: Linux's IOV_MAX. Under load a worker's queue holds hundreds of small frames
/// (a header and a payload each); 64 per call made `writev` 74% of the scheduler's system calls.
pub(super) const MAX_IOVECS: usize = 1024;
/// Up to this many buffers go through an array on the stack; more (a loaded turn) through a `Vec`, so
/// that the usual short queue of a real peer's turn does not fill 16 KiB of stack per write.
const STACK_IOVECS: usize = 16;

/// One `writev` of the front of `queue` (its first buffer from byte `woff`).
pub(super) fn write_queue<'a, W: Write>(
    stream: &mut W,
    queue: &'a VecDeque<Chunk>,
    woff: usize,
) -> io::Result<usize> {
    let n = queue.len().min(MAX_IOVECS);
    let slice = |(i, b): (usize, &'a Chunk)| IoSlice::new(if i == 0 { &b[woff..] } else { b });
    if n <= STACK_IOVECS {
        let mut slices = [IoSlice::new(&[]); STACK_IOVECS];
        for (s, b) in slices.iter_mut().zip(queue.iter().enumerate()) {
            *s = slice(b);
        }
        stream.write_vectored(&slices[..n])
    } else {
        let slices: Vec<IoSlice<'_>> = queue.iter().take(n).enumerate().map(slice).collect();
        stream.write_vectored(&slices)
    }
}

/// `write_queue` of at most `max` bytes, for a queue holding more than that (a large frame, or a
/// backlog past the turn's budget); the usual short queue goes through `write_queue` unmeasured.
pub(super) fn write_queue_upto<W: Write>(
    stream: &mut W,
    queue: &VecDeque<Chunk>,
    woff: usize,
    max: usize,
) -> io::Result<usize> {
    let mut left = max;
    let slices: Vec<IoSlice<'_>> = queue
        .iter()
        .take(MAX_IOVECS)
        .enumerate()
        .map_while(|(i, b)| {
            let b: &[u8] = if i == 0 { &b[woff..] } else { b };
            if left == 0 {
                return None;
            }
            let take = b.len().min(left);
            left -= take;
            Some(IoSlice::new(&b[..take]))
        })
        .collect();
    stream.write_vectored(&slices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_from_the_offset_and_at_most_iov_max_buffers() {
        let q: VecDeque<Chunk> = [
            Chunk::Shared(Bytes::from_static(b"abc")),
            Chunk::inline(&[b"d", b"e"]),
            Chunk::Shared(Bytes::from_static(b"f")),
        ]
        .into();
        let mut out = Vec::new();
        assert_eq!(write_queue(&mut out, &q, 1).unwrap(), 5);
        assert_eq!(out, b"bcdef");

        // A loaded queue: one call takes IOV_MAX buffers (a `Vec` writer writes all it is given).
        let q: VecDeque<Chunk> = (0..MAX_IOVECS + 500)
            .map(|i| Chunk::inline(&[&[i as u8; 3]]))
            .collect();
        let mut out = Vec::new();
        assert_eq!(write_queue(&mut out, &q, 0).unwrap(), 3 * MAX_IOVECS);
        assert_eq!(out[3 * 17..3 * 18], [17; 3]);
        // Just past the stack array: the same bytes through the `Vec` of slices.
        let q: VecDeque<Chunk> = (0..STACK_IOVECS + 1)
            .map(|i| Chunk::Shared(Bytes::from(vec![i as u8; 2])))
            .collect();
        let mut out = Vec::new();
        assert_eq!(write_queue(&mut out, &q, 1).unwrap(), 2 * STACK_IOVECS + 1);
        assert_eq!(out[..3], [0, 1, 1]);
    }

    #[test]
    fn one_call_writes_at_most_max_bytes_cutting_a_buffer() {
        let q: VecDeque<Chunk> = [
            Chunk::Shared(Bytes::from_static(b"abc")),
            Chunk::inline(&[b"de"]),
            Chunk::Shared(Bytes::from_static(b"f")),
        ]
        .into();
        let mut out = Vec::new();
        assert_eq!(write_queue_upto(&mut out, &q, 1, 3).unwrap(), 3);
        assert_eq!(out, b"bcd");
        let many: VecDeque<Chunk> = (0..STACK_IOVECS * 2)
            .map(|_| Chunk::Shared(Bytes::from_static(b"xy")))
            .collect();
        let mut out = Vec::new();
        assert_eq!(write_queue_upto(&mut out, &many, 0, 5).unwrap(), 5);
    }
}
