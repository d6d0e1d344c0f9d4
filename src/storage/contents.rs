//! Deduplicated object contents.
//!
//! Clients store the same bytes under many ids (one serializer, one function, repeated arguments), and
//! duplicateObjectID makes two ids share content on purpose, so contents are stored once and
//! refcounted by the ids that point at them. A hash of the bytes is only a lookup key: equal hashes
//! are compared byte for byte before content is shared, so a collision never serves wrong bytes.
use crate::hash::{IdBuild, IdMap};
use bytes::Bytes;
use slab::Slab;
use std::hash::{BuildHasher, Hasher};

/// A handle to one stored content; valid while the caller holds one of its references.
pub type ContentKey = usize;

/// Contents up to this size are looked up by a hash of all their bytes; larger ones by a hash of a
/// sample of them (length, both ends, evenly spaced windows). Hashing every byte of a 1 GiB object
/// took 1.85 s of the event loop on the development VM (perf, BENCHMARKS.md), during which no other
/// peer was served; the sample costs the same whatever the size.
const FULL_HASH_LIMIT: usize = 64 * 1024;
/// Bytes hashed at each end of a large content.
const SAMPLE_END: usize = 16 * 1024;
/// Windows of `SAMPLE_WINDOW` bytes hashed between the ends of a large content.
const SAMPLE_WINDOWS: usize = 256;
const SAMPLE_WINDOW: usize = 64;
/// A sampled key is easy to share on purpose (same bytes at the sampled places), so a new large content
/// is compared byte for byte with at most this many stored ones of its key before it is stored unshared:
/// the comparison work one upload can cause stays within this many times its own size.
const MAX_LARGE_CANDIDATES: usize = 2;

#[derive(Debug)]
struct Content {
    bytes: Bytes,
    /// Kept so that releasing the last reference does not rehash a possibly huge payload.
    hash: u64,
    refs: usize,
}

#[derive(Debug, Default)]
pub struct Contents<S = IdBuild> {
    slots: Slab<Content>,
    /// Content hash -> contents with that hash (almost always one).
    by_hash: IdMap<u64, Vec<ContentKey>>,
    total_bytes: u64,
    /// Keyed, so peers cannot precompute colliding payloads to slow down lookups.
    hasher: S,
}

impl<S: BuildHasher> Contents<S> {
    #[cfg(test)]
    pub fn with_hasher(hasher: S) -> Self {
        Contents {
            slots: Slab::new(),
            by_hash: IdMap::default(),
            total_bytes: 0,
            hasher,
        }
    }

    /// Returns the content equal to `bytes` (stored as given, no copy, if new) with one reference taken.
    pub fn intern(&mut self, bytes: Bytes) -> ContentKey {
        let hash = self.lookup_key(&bytes);
        let candidates = if bytes.len() > FULL_HASH_LIMIT {
            MAX_LARGE_CANDIDATES
        } else {
            usize::MAX
        };
        let keys = self.by_hash.entry(hash).or_default();
        for &k in keys.iter().take(candidates) {
            let c = &mut self.slots[k];
            if c.bytes == bytes {
                c.refs += 1;
                return k;
            }
        }
        self.total_bytes += bytes.len() as u64;
        let k = self.slots.insert(Content {
            bytes,
            hash,
            refs: 1,
        });
        keys.push(k);
        k
    }

    /// The hash contents are looked up by: of every byte for small contents, of a fixed-size sample for
    /// large ones (equal contents always get equal keys; equality is then checked byte for byte).
    fn lookup_key(&self, bytes: &[u8]) -> u64 {
        if bytes.len() <= FULL_HASH_LIMIT {
            return self.hasher.hash_one(bytes);
        }
        let mut h = self.hasher.build_hasher();
        h.write_usize(bytes.len());
        h.write(&bytes[..SAMPLE_END]);
        h.write(&bytes[bytes.len() - SAMPLE_END..]);
        let middle = &bytes[SAMPLE_END..bytes.len() - SAMPLE_END];
        let stride = middle.len() / SAMPLE_WINDOWS;
        debug_assert!(
            stride >= SAMPLE_WINDOW,
            "large contents leave room for every window"
        );
        for i in 0..SAMPLE_WINDOWS {
            h.write(&middle[i * stride..i * stride + SAMPLE_WINDOW]);
        }
        h.finish()
    }

    /// Takes one more reference on `k`.
    pub fn retain(&mut self, k: ContentKey) {
        self.slots[k].refs += 1;
    }

    /// Drops one reference on `k`, freeing the content with its last one.
    pub fn release(&mut self, k: ContentKey) {
        let c = &mut self.slots[k];
        c.refs -= 1;
        if c.refs > 0 {
            return;
        }
        let c = self.slots.remove(k);
        self.total_bytes -= c.bytes.len() as u64;
        if let Some(keys) = self.by_hash.get_mut(&c.hash) {
            keys.retain(|&x| x != k);
            if keys.is_empty() {
                self.by_hash.remove(&c.hash);
            }
        }
    }

    pub fn bytes(&self, k: ContentKey) -> &Bytes {
        &self.slots[k].bytes
    }

    /// Number of distinct contents.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes held, each distinct content counted once.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasherDefault;

    /// Every input collides: exercises the byte-for-byte comparison.
    #[derive(Default)]
    struct Collide;
    impl Hasher for Collide {
        fn write(&mut self, _: &[u8]) {}
        fn finish(&self) -> u64 {
            7
        }
    }

    #[test]
    fn equal_bytes_share_and_refcount() {
        let mut c: Contents = Contents::default();
        let a = c.intern(Bytes::from_static(b"same"));
        let b = c.intern(Bytes::from(b"same".to_vec()));
        assert_eq!(a, b);
        assert_eq!((c.len(), c.total_bytes()), (1, 4));
        c.release(a);
        assert_eq!(c.len(), 1, "one reference left");
        c.release(b);
        assert_eq!((c.len(), c.total_bytes()), (0, 0));
        assert!(c.by_hash.is_empty());
    }

    #[test]
    fn hash_collisions_keep_contents_apart() {
        let mut c = Contents::with_hasher(BuildHasherDefault::<Collide>::default());
        let a = c.intern(Bytes::from_static(b"aaa"));
        let b = c.intern(Bytes::from_static(b"bbbb"));
        assert_ne!(a, b);
        assert_eq!(&c.bytes(a)[..], b"aaa");
        assert_eq!(&c.bytes(b)[..], b"bbbb");
        assert_eq!(c.intern(Bytes::from_static(b"bbbb")), b);
        c.release(a);
        assert_eq!(&c.bytes(b)[..], b"bbbb");
        assert_eq!((c.len(), c.total_bytes()), (1, 4));
        assert_eq!(c.by_hash[&7], vec![b]);
    }

    fn large(fill: u8) -> Vec<u8> {
        vec![fill; FULL_HASH_LIMIT + 1 + SAMPLE_WINDOWS * SAMPLE_WINDOW]
    }

    #[test]
    fn equal_large_contents_share() {
        let mut c: Contents = Contents::default();
        let a = c.intern(Bytes::from(large(1)));
        let b = c.intern(Bytes::from(large(1)));
        assert_eq!(a, b);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn large_contents_differing_outside_the_sample_stay_apart() {
        let mut c: Contents = Contents::default();
        let a = large(1);
        let mut b = large(1);
        // Past the first end sample and before the first window's end: not sampled.
        b[SAMPLE_END + SAMPLE_WINDOW + 1] = 2;
        assert_eq!(c.lookup_key(&a), c.lookup_key(&b), "same sampled key");
        let ka = c.intern(Bytes::from(a.clone()));
        let kb = c.intern(Bytes::from(b.clone()));
        assert_ne!(ka, kb);
        assert_eq!(&c.bytes(ka)[..], &a[..]);
        assert_eq!(&c.bytes(kb)[..], &b[..]);
        assert_eq!(
            c.intern(Bytes::from(b)),
            kb,
            "found again among the candidates"
        );
    }

    #[test]
    fn large_contents_compare_with_a_bounded_number_of_candidates() {
        let mut c = Contents::with_hasher(BuildHasherDefault::<Collide>::default());
        let keys: Vec<_> = (0..MAX_LARGE_CANDIDATES as u8 + 2)
            .map(|i| c.intern(Bytes::from(large(i))))
            .collect();
        assert_eq!(c.len(), keys.len(), "all distinct");
        // The first candidates are compared, so an equal one is shared...
        assert_eq!(c.intern(Bytes::from(large(0))), keys[0]);
        // ...but one behind the bound is stored again rather than searched for.
        let last = *keys.last().expect("keys");
        assert_ne!(c.intern(Bytes::from(large(keys.len() as u8 - 1))), last);
        assert_eq!(c.len(), keys.len() + 1);
        // Small contents are always searched in full.
        let small: Vec<_> = (0..8u8)
            .map(|i| c.intern(Bytes::from(vec![i; 10])))
            .collect();
        assert_eq!(c.intern(Bytes::from(vec![7u8; 10])), small[7]);
    }

    #[test]
    fn stored_bytes_are_the_received_buffer() {
        let mut c: Contents = Contents::default();
        let buf = Bytes::from(vec![5u8; 1000]);
        let k = c.intern(buf.clone());
        assert_eq!(c.bytes(k).as_ptr(), buf.as_ptr(), "no copy");
    }
}
