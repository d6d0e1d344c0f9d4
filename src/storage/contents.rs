//! Deduplicated object contents.
//!
//! Clients store the same bytes under many ids (one serializer, one function, repeated arguments), and
//! duplicateObjectID makes two ids share content on purpose, so contents are stored once and
//! refcounted by the ids that point at them. A hash of the bytes is only a lookup key: equal hashes
//! are compared byte for byte before content is shared, so a collision never serves wrong bytes.
use crate::hash::{IdBuild, IdMap};
use bytes::Bytes;
use slab::Slab;
use std::hash::BuildHasher;

/// A handle to one stored content; valid while the caller holds one of its references.
pub type ContentKey = usize;

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
        let hash = self.hasher.hash_one(&bytes[..]);
        let keys = self.by_hash.entry(hash).or_default();
        for &k in keys.iter() {
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
    use std::hash::{BuildHasherDefault, Hasher};

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

    #[test]
    fn stored_bytes_are_the_received_buffer() {
        let mut c: Contents = Contents::default();
        let buf = Bytes::from(vec![5u8; 1000]);
        let k = c.intern(buf.clone());
        assert_eq!(c.bytes(k).as_ptr(), buf.as_ptr(), "no copy");
    }
}
