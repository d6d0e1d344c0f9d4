//! YMQ framing: a pure decoder and encoder over byte slices.
//!
//! Stream layout (docs/design.md, "Wire: YMQ framing and messages"): each side first writes the 4-byte magic `YMQ\x02`, then a frame
//! holding its identity, then any number of frames. A frame is a little-endian u64 length followed by that
//! many payload bytes; zero-length frames are legal and distinct messages.
//!
//! The decoder never allocates and never trusts a length before comparing it to the configured maximum, so
//! a hostile peer cannot make us reserve memory it has not sent (the sozu `try_read_delimited_message` model).

/// The YMQ protocol magic of Scaler 2.9.0 (2.6.0 used `YMQ\x01`, which is incompatible).
pub const MAGIC: [u8; 4] = *b"YMQ\x02";
/// Bytes of the length prefix in front of every frame.
pub const HEADER_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The first four bytes of the stream were not `YMQ\x02`.
    BadMagic([u8; 4]),
    /// A frame announced more bytes than the configured limit.
    TooLarge { len: u64, max: u64 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadMagic(m) => write!(f, "bad YMQ magic {m:02x?}"),
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Outcome of looking at the front of a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Not enough bytes yet; `need` is the total buffer length that would make progress.
    Incomplete { need: usize },
    /// A whole frame: its payload is `buf[HEADER_LEN..consumed]`.
    Frame { consumed: usize },
}

/// Checks the stream magic. `Ok(false)` means fewer than 4 bytes have arrived.
pub fn check_magic(buf: &[u8]) -> Result<bool, FrameError> {
    if buf.len() < MAGIC.len() {
        // A prefix that already disagrees is rejected early: no reason to wait for the rest.
        return if MAGIC.starts_with(buf) {
            Ok(false)
        } else {
            Err(FrameError::BadMagic(pad4(buf)))
        };
    }
    if buf[..4] == MAGIC {
        Ok(true)
    } else {
        Err(FrameError::BadMagic(pad4(buf)))
    }
}

fn pad4(buf: &[u8]) -> [u8; 4] {
    let mut m = [0u8; 4];
    let n = buf.len().min(4);
    m[..n].copy_from_slice(&buf[..n]);
    m
}

/// Decodes the frame at the front of `buf`, refusing any frame longer than `max_frame`.
///
/// Total for every input and every limit up to `u64::MAX`: the length is compared to the limit
/// before it is used, and the arithmetic on it is checked, so a declared length near 2^64 is an
/// error, never an overflow. `Incomplete { need }` is what the buffer would have to hold; it is a
/// peer's claim, so a caller must not reserve it (grow with the bytes that arrive instead).
pub fn decode(buf: &[u8], max_frame: u64) -> Result<Decoded, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(Decoded::Incomplete { need: HEADER_LEN });
    }
    let len = u64::from_le_bytes(buf[..HEADER_LEN].try_into().expect("8 bytes"));
    let too_large = FrameError::TooLarge {
        len,
        max: max_frame,
    };
    if len > max_frame {
        return Err(too_large);
    }
    // A frame this process could not address is too large whatever the limit says.
    let Some(total) = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(HEADER_LEN))
    else {
        return Err(too_large);
    };
    if buf.len() < total {
        Ok(Decoded::Incomplete { need: total })
    } else {
        Ok(Decoded::Frame { consumed: total })
    }
}

/// The most a receive buffer needs to hold to make progress under `max_frame`: one whole frame.
/// Saturates where `max_frame` exceeds the address space (nothing can be buffered up to it anyway).
pub fn max_buffered(max_frame: u64) -> usize {
    usize::try_from(max_frame)
        .unwrap_or(usize::MAX)
        .saturating_add(HEADER_LEN)
}

/// The length prefix for a payload of `len` bytes.
pub fn header(len: usize) -> [u8; HEADER_LEN] {
    (len as u64).to_le_bytes()
}

/// Appends one whole frame (prefix + payload) to `out`.
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&header(payload.len()));
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_accepts_exact_and_waits_on_prefix() {
        assert_eq!(check_magic(b"YMQ\x02rest"), Ok(true));
        assert_eq!(check_magic(b"YM"), Ok(false));
        assert_eq!(check_magic(b""), Ok(false));
    }

    #[test]
    fn magic_rejects_old_version_and_garbage_early() {
        assert_eq!(
            check_magic(b"YMQ\x01"),
            Err(FrameError::BadMagic(*b"YMQ\x01"))
        );
        assert!(check_magic(b"GE").is_err());
        assert!(check_magic(b"GET / HTTP/1.1").is_err());
    }

    #[test]
    fn decode_whole_partial_and_zero_length() {
        let mut buf = Vec::new();
        encode_into(b"hello", &mut buf);
        encode_into(b"", &mut buf);
        assert_eq!(decode(&buf, 100), Ok(Decoded::Frame { consumed: 13 }));
        assert_eq!(&buf[HEADER_LEN..13], b"hello");
        assert_eq!(decode(&buf[13..], 100), Ok(Decoded::Frame { consumed: 8 }));
        assert_eq!(
            decode(&buf[..12], 100),
            Ok(Decoded::Incomplete { need: 13 })
        );
        assert_eq!(decode(&buf[..3], 100), Ok(Decoded::Incomplete { need: 8 }));
    }

    #[test]
    fn decode_rejects_oversize_before_buffering() {
        let buf = u64::MAX.to_le_bytes();
        assert_eq!(
            decode(&buf, 1 << 20),
            Err(FrameError::TooLarge {
                len: u64::MAX,
                max: 1 << 20
            })
        );
        let buf = 11u64.to_le_bytes();
        assert!(decode(&buf, 10).is_err());
        assert_eq!(decode(&buf, 11), Ok(Decoded::Incomplete { need: 19 }));
    }

    #[test]
    fn decode_at_unlimited_max_never_overflows() {
        // Lengths whose `HEADER_LEN + len` wraps a u64/usize: errors, not panics or tiny totals.
        for len in [u64::MAX, u64::MAX - 1, u64::MAX - 7] {
            let mut buf = len.to_le_bytes().to_vec();
            buf.extend_from_slice(b"abc");
            assert_eq!(
                decode(&buf, u64::MAX),
                Err(FrameError::TooLarge { len, max: u64::MAX }),
                "len {len}"
            );
        }
        let buf = (u64::MAX - 8).to_le_bytes();
        assert_eq!(
            decode(&buf, u64::MAX),
            Ok(Decoded::Incomplete { need: usize::MAX })
        );
        // Huge but addressable: incomplete, with the claimed total (which callers must not reserve).
        let buf = (1u64 << 45).to_le_bytes();
        assert_eq!(
            decode(&buf, u64::MAX),
            Ok(Decoded::Incomplete {
                need: (1 << 45) + 8
            })
        );
        assert_eq!(max_buffered(u64::MAX), usize::MAX);
        assert_eq!(max_buffered(10), 18);
    }

    #[test]
    fn decode_matches_the_real_scheduler_handshake_bytes() {
        // Captured from a real 2.9.0 scheduler.
        let id = b"30965|scheduler|a79165ad-04a9-404d-9352-4f70b555b57b";
        let mut wire = MAGIC.to_vec();
        encode_into(id, &mut wire);
        assert_eq!(&wire[4..12], &[0x34, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(check_magic(&wire), Ok(true));
        assert_eq!(
            decode(&wire[4..], 1 << 10),
            Ok(Decoded::Frame {
                consumed: 8 + id.len()
            })
        );
    }
}
