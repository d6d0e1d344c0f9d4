//! The task table's copies of task frames, packed into shared 4 KiB chunks.
//!
//! A task keeps its frame (to send it to a worker, again after a worker dies, and to decode it for
//! monitors) in memory of its own rather than as a slice of the socket's receive buffer, which would
//! pin that whole buffer for as long as the task lives. A copy in an allocation of its own cost two
//! allocations: the copy, and the reference count `bytes` allocates when the copy is first shared (its
//! key and its send to a worker). Under the native load the copy with its two allocations was 11% of the scheduler's
//! instructions (callgrind: 8,049 per task with them, 7,165 without the copy at all).
//!
//! Here small frames are appended to a chunk and handed out as slices of it: a copy is a `memcpy` and a
//! reference count, and a chunk is allocated once per ~13 tasks of 300 bytes. The price is the bound on
//! what a long-lived task can pin: its chunk, at most `CHUNK` bytes (a single task frame per chunk still
//! alive, every other one finished). Typically the chunks hold the live tasks' bytes plus the one being
//! filled, as tasks mostly finish in arrival order. Frames over `OWN_ABOVE` get an allocation of their
//! own, so a large frame never shares (or pins) a chunk.
use bytes::{Bytes, BytesMut};

/// Chunk size: one page, so the worst case of a long-lived task is one page pinned.
const CHUNK: usize = 4096;
/// Frames larger than this are copied to an allocation of their own.
const OWN_ABOVE: usize = 1024;

#[derive(Debug, Default)]
pub struct FrameArena {
    /// The unused tail of the current chunk (empty: none yet, or used up).
    chunk: BytesMut,
}

impl FrameArena {
    /// An owned copy of `frame` that shares no buffer with it.
    pub fn copy(&mut self, frame: &[u8]) -> Bytes {
        if frame.len() > OWN_ABOVE {
            return Bytes::copy_from_slice(frame);
        }
        if self.chunk.capacity() < frame.len() {
            // The tail of the old chunk is given up; the chunk itself lives while its frames do.
            self.chunk = BytesMut::with_capacity(CHUNK);
        }
        debug_assert!(self.chunk.is_empty());
        self.chunk.extend_from_slice(frame);
        let copy = self.chunk.split().freeze();
        debug_assert!(self.chunk.is_empty());
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize, fill: u8) -> Vec<u8> {
        vec![fill; n]
    }

    #[test]
    fn copies_read_back_and_small_ones_share_a_chunk() {
        let mut a = FrameArena::default();
        let f1 = frame(300, 1);
        let f2 = frame(300, 2);
        let c1 = a.copy(&f1);
        let c2 = a.copy(&f2);
        assert_eq!((&c1[..], &c2[..]), (&f1[..], &f2[..]));
        assert_ne!(c1.as_ptr(), f1.as_ptr(), "a copy, not the caller's memory");
        // Packed one after the other in the same chunk.
        assert_eq!(c2.as_ptr(), c1.as_ptr().wrapping_add(300));
    }

    #[test]
    fn a_full_chunk_is_followed_by_a_new_one_and_its_copies_survive() {
        let mut a = FrameArena::default();
        let mut copies = Vec::new();
        for i in 0..40u8 {
            copies.push((a.copy(&frame(1000, i)), i));
        }
        // 4 frames of 1000 bytes fit a 4096-byte chunk: 10 chunks.
        let chunks = copies
            .windows(2)
            .filter(|w| w[1].0.as_ptr() != w[0].0.as_ptr().wrapping_add(1000))
            .count()
            + 1;
        assert_eq!(chunks, 10);
        for (c, i) in &copies {
            assert!(c.iter().all(|b| b == i), "copy {i} intact");
        }
    }

    #[test]
    fn large_frames_get_their_own_allocation() {
        let mut a = FrameArena::default();
        let small = a.copy(&frame(100, 1));
        let large = a.copy(&frame(OWN_ABOVE + 1, 2));
        let next = a.copy(&frame(100, 3));
        assert_eq!(large.len(), OWN_ABOVE + 1);
        assert!(large.iter().all(|&b| b == 2));
        // The large copy did not use the chunk: the next small one follows the first.
        assert_eq!(next.as_ptr(), small.as_ptr().wrapping_add(100));
    }

    #[test]
    fn an_empty_frame_copies_to_an_empty_slice() {
        let mut a = FrameArena::default();
        assert!(a.copy(&[]).is_empty());
        assert_eq!(&a.copy(b"x")[..], b"x");
    }
}
