//! A fast keyed hasher for the scheduler's id-keyed maps.
//!
//! Profiling showed SipHash as the largest single cost per task (12% of scheduler CPU). Keys are peer
//! chosen (task, client and object ids), so an unkeyed hash (Fx) would let a client craft colliding
//! ids; this one folds 8-byte words with a 128-bit multiply and per-map random keys, so collisions
//! cannot be precomputed. It is not a cryptographic PRF: it trades SipHash's proven flooding resistance
//! for speed, which is the right trade for ids that are random uuids in every real peer.
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;

#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[derive(Clone, Copy, Debug)]
pub struct IdBuild {
    k0: u64,
    k1: u64,
}

impl IdBuild {
    /// Keys chosen by the caller: the core takes them from its seed (`core::seed`).
    pub fn with_keys(k0: u64, k1: u64) -> IdBuild {
        IdBuild { k0, k1 }
    }
}

/// Keys from the OS, for the shell's maps (storage, transport). The core never uses this: its maps are
/// keyed from `core::Config::seed` so that a run can be replayed.
impl Default for IdBuild {
    fn default() -> Self {
        let r = uuid::Uuid::new_v4().as_u128();
        IdBuild {
            k0: r as u64,
            k1: (r >> 64) as u64,
        }
    }
}

impl BuildHasher for IdBuild {
    type Hasher = IdHasher;
    #[inline]
    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            h: self.k0,
            k1: self.k1,
        }
    }
}

/// The 1-7 bytes after the last whole word, zero-padded into a little-endian u64. Copying them into an
/// 8-byte buffer compiled to a `memcpy` call per hash of an identity whose length is not a multiple of
/// 8 (client and worker ids: three such hashes per task, plus one per message routed).
#[inline]
fn tail(rest: &[u8]) -> u64 {
    debug_assert!(rest.len() < 8);
    let (n, mut i, mut w) = (rest.len(), 0, 0u64);
    if n >= 4 {
        w = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        i = 4;
    }
    if n - i >= 2 {
        w |= (u16::from_le_bytes([rest[i], rest[i + 1]]) as u64) << (8 * i);
        i += 2;
    }
    if n > i {
        w |= (rest[i] as u64) << (8 * i);
    }
    w
}

pub struct IdHasher {
    h: u64,
    k1: u64,
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.h = mum(self.h ^ w, P0);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.h = mum(self.h ^ tail(rest) ^ ((rest.len() as u64) << 56), P0);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.h = mum(self.h ^ n, P0);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        mum(self.h ^ self.k1, P1)
    }
}

pub type IdMap<K, V> = HashMap<K, V, IdBuild>;
pub type IdSet<K> = HashSet<K, IdBuild>;

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: &IdBuild, v: &[u8]) -> u64 {
        b.hash_one(v)
    }

    #[test]
    fn the_tail_is_the_zero_padded_word() {
        let bytes: Vec<u8> = (1..=7u8).map(|i| i.wrapping_mul(0x9d) | 0x80).collect();
        for n in 0..8 {
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(tail(&bytes[..n]), u64::from_le_bytes(buf), "{n} bytes");
        }
    }

    #[test]
    fn distinguishes_lengths_and_contents_and_is_keyed() {
        let b = IdBuild::default();
        assert_ne!(h(&b, b"abc"), h(&b, b"abc\0"));
        assert_ne!(h(&b, b"abcdefgh1"), h(&b, b"abcdefgh2"));
        assert_eq!(h(&b, b"same"), h(&b, b"same"));
        assert_ne!(
            h(&b, b"same"),
            h(&IdBuild::default(), b"same"),
            "keys differ per map"
        );
        let mut m: IdMap<Vec<u8>, u32> = IdMap::default();
        for i in 0..10_000u32 {
            m.insert(i.to_le_bytes().to_vec(), i);
        }
        assert_eq!(m[&7u32.to_le_bytes().to_vec()], 7);
    }
}
