//! The receive buffer of one large frame: a private anonymous mapping as long as the frame, reserved
//! but backed only where bytes arrive, and advised into transparent huge pages.
//!
//! Why not the connection's growing buffer: a 1 GiB object arrived into a buffer that doubled by
//! `realloc`, faulting its 4 KiB pages in as `recv` wrote them. On this VM (C probe, a 1 GiB buffer
//! doubling from 8 MiB, filled 4 MiB at a time) that was 614-748 ms of faults and copies and a 76 ms
//! `free`; advising the growing buffer into huge pages made the writes 234-326 ms but every `realloc`
//! then had to split the huge pages it moved (719-742 ms, up to 391 ms in one step). A mapping of the
//! frame's own length never moves, so its huge pages stay whole: 512 MiB copied in 83-118 ms instead of
//! 329-342 ms, and unmapped in 1.5-1.9 ms instead of 33-36 ms.
//!
//! Memory still follows the bytes that arrived, not the length the peer declared: the connection
//! switches to a mapping only once `LARGE_FROM` bytes of the frame have arrived, `MAP_NORESERVE`
//! reserves address space without committing memory, and a page is backed when written, so what is
//! resident is the bytes that arrived plus at most one 2 MiB page. The address space is the declared
//! length (bounded by the role's frame limit), and all mappings together stay under
//! `MAX_RESERVED`: past it, or where the kernel refuses the mapping (strict overcommit, `ulimit -v`),
//! a frame keeps growing in the connection's buffer as before.
use bytes::Bytes;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A frame switches to its own mapping once this much of it has arrived.
pub const LARGE_FROM: usize = 8 << 20;
/// Address space all large-frame mappings may reserve at once, by default: 16 objects at the embedded
/// storage's 4 GiB frame limit, while peers that each sent 8 MiB of a declared maximum cannot reserve
/// 1 GiB apiece without bound (`--large-frame-reserve-bytes`).
pub const MAX_RESERVED: usize = 64 << 30;
const HUGE_PAGE: usize = 2 << 20;

/// Address space reserved by the live mappings, and the cap on it (atomics only because a frame's
/// `Bytes` may be dropped on any thread, and the cap is set once at startup; the scheduler has one
/// thread).
static RESERVED: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(MAX_RESERVED);

/// Sets the cap on the address space of all mappings together (0: no mappings).
pub fn set_max_reserved(bytes: usize) {
    CAP.store(bytes, Ordering::Relaxed);
}

/// Whether `want` more bytes of mappings fit beside `reserved` under `cap`.
fn fits(reserved: usize, want: usize, cap: usize) -> bool {
    reserved.checked_add(want).is_some_and(|total| total <= cap)
}

pub struct LargeFrame {
    /// The mapping as `mmap` returned it (for `munmap`).
    map: NonNull<u8>,
    map_len: usize,
    /// Offset of the frame in the mapping: the first huge-page boundary.
    start: usize,
    len: usize,
    filled: usize,
}

// SAFETY: the mapping is private to this value (nothing else holds a pointer into it), so it may be
// moved to and dropped on another thread like a `Vec<u8>`.
unsafe impl Send for LargeFrame {}

impl LargeFrame {
    /// A buffer for a frame of `len` bytes whose first bytes are `prefix`, or `None` if the address
    /// space cannot be had (the caller keeps its own buffer then).
    pub fn start(len: usize, prefix: &[u8]) -> Option<LargeFrame> {
        debug_assert!(prefix.len() <= len);
        let map_len = len.checked_add(HUGE_PAGE)?;
        if !fits(
            RESERVED.load(Ordering::Relaxed),
            map_len,
            CAP.load(Ordering::Relaxed),
        ) {
            return None;
        }
        let ptr = map(map_len)?;
        RESERVED.fetch_add(map_len, Ordering::Relaxed);
        let start = (ptr.as_ptr() as usize).next_multiple_of(HUGE_PAGE) - ptr.as_ptr() as usize;
        // SAFETY: start < HUGE_PAGE and map_len = len + HUGE_PAGE, so the offset stays inside the
        // mapping just made.
        advise_huge(unsafe { ptr.as_ptr().add(start) }, len);
        let mut f = LargeFrame {
            map: ptr,
            map_len,
            start,
            len,
            filled: 0,
        };
        f.spare()[..prefix.len()].copy_from_slice(prefix);
        f.filled = prefix.len();
        Some(f)
    }

    /// The part of the frame still to arrive.
    pub fn spare(&mut self) -> &mut [u8] {
        // SAFETY: `[start, start + len)` lies inside the mapping (map_len = len + HUGE_PAGE and start <
        // HUGE_PAGE), which lives as long as `self`; `&mut self` makes this the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.map.as_ptr().add(self.start + self.filled),
                self.len - self.filled,
            )
        }
    }

    /// Records that `n` more bytes were written into `spare()`.
    pub fn advance(&mut self, n: usize) {
        assert!(n <= self.len - self.filled, "advanced past the frame");
        self.filled += n;
    }

    pub fn is_complete(&self) -> bool {
        self.filled == self.len
    }

    /// The whole frame, handed out without a copy; the mapping goes when the last `Bytes` does.
    pub fn into_bytes(self) -> Bytes {
        debug_assert!(self.is_complete());
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for LargeFrame {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: as in `spare`; only the filled part is exposed.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.start), self.filled) }
    }
}

impl Drop for LargeFrame {
    fn drop(&mut self) {
        unmap(self.map, self.map_len);
        RESERVED.fetch_sub(self.map_len, Ordering::Relaxed);
    }
}

fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping aliases nothing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(p as *mut u8)
}

fn unmap(p: NonNull<u8>, len: usize) {
    // SAFETY: `p`/`len` are exactly a mapping `map` returned, unmapped once, by its only owner.
    let r = unsafe { libc::munmap(p.as_ptr() as *mut libc::c_void, len) };
    debug_assert_eq!(r, 0, "munmap of our own mapping failed");
}

/// A hint: where THP is compiled out or off the kernel keeps 4 KiB pages, which is only slower.
#[cfg(target_os = "linux")]
fn advise_huge(p: *mut u8, len: usize) {
    // SAFETY: the range is inside our own mapping; MADV_HUGEPAGE changes how it is backed, never what
    // it holds.
    unsafe { libc::madvise(p as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: *mut u8, _: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VmFlags of the mapping that holds `addr`, from /proc/self/smaps.
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_once(' ').map_or(line, |(r, _)| r);
            if let Some((a, b)) = range.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = a <= addr && addr < b;
                    continue;
                }
            }
            if let Some(flags) = line.strip_prefix("VmFlags:").filter(|_| inside) {
                return Some(flags.to_string());
            }
        }
        None
    }

    #[test]
    fn fills_in_pieces_and_hands_out_exactly_the_frame() {
        let len = 3 * HUGE_PAGE + 5;
        let mut f = LargeFrame::start(len, b"head").expect("mapping");
        assert_eq!(f.spare().len(), len - 4);
        let mut next = 0u8;
        while !f.is_complete() {
            let n = f.spare().len().min(1 << 20);
            for b in &mut f.spare()[..n] {
                *b = next;
                next = next.wrapping_add(1);
            }
            f.advance(n);
        }
        let b = f.into_bytes();
        assert_eq!(b.len(), len);
        assert_eq!(&b[..4], b"head");
        assert!(b[4..].iter().enumerate().all(|(i, x)| *x == i as u8));
        // A slice keeps the mapping alive after the frame's own handle is gone.
        let tail = b.slice(len - 5..);
        drop(b);
        assert_eq!(tail.len(), 5);
    }

    #[test]
    fn is_aligned_and_advised_into_huge_pages() {
        let f = LargeFrame::start(LARGE_FROM, &[1; 10]).expect("mapping");
        let at = f.as_ref().as_ptr() as usize;
        assert_eq!(at % HUGE_PAGE, 0);
        // Where the kernel has THP at all (the sysfs knob exists), the advice shows as "hg".
        if std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            let flags = vm_flags(at).expect("the frame's mapping in smaps");
            assert!(
                flags.split_whitespace().any(|f| f == "hg"),
                "VmFlags:{flags}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "advanced past the frame")]
    fn cannot_advance_past_the_frame() {
        let mut f = LargeFrame::start(16, &[]).expect("mapping");
        f.advance(17);
    }

    #[test]
    fn reservations_stop_at_the_cap() {
        assert!(fits(0, MAX_RESERVED, MAX_RESERVED));
        assert!(fits(MAX_RESERVED - 10, 10, MAX_RESERVED));
        assert!(!fits(MAX_RESERVED - 10, 11, MAX_RESERVED));
        assert!(!fits(usize::MAX, 1, usize::MAX));
        // `--large-frame-reserve-bytes 0`: nothing fits.
        assert!(!fits(0, 1, 0));
        // Past the cap nothing is mapped (whatever other tests hold right now, this is past it).
        assert!(LargeFrame::start(MAX_RESERVED, &[]).is_none());
    }

    #[test]
    fn an_impossible_length_is_refused_not_mapped() {
        assert!(LargeFrame::start(usize::MAX, &[]).is_none());
        assert!(LargeFrame::start(1 << 62, &[]).is_none());
    }
}
