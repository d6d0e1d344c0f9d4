//! An object's name as its record keeps it, without an allocation for the names that come once per
//! task.
//!
//! A 2.9.0 worker names every result `<res ObjectID(owner_hash=<hex>, object_tag=<hex>)>`, built from
//! the result's own id (`worker/agent/processor/processor.py`): 104 bytes that say nothing the key
//! does not. Kept as bytes, that was an allocation per task and ~120 bytes per record, and 2.9.0
//! clients leave one record per result for as long as they stay connected when the storage server is
//! external (its deletions are not seen here). Such a name is kept as a flag and rebuilt on the rare
//! reads (monitors' StateObject, a graph's copy of a failed result). Short names (the serializer's,
//! a function's short name, our load generator's) are kept inline; anything else goes to the heap.
use super::object::ObjectKey;
use std::borrow::Cow;

/// Bytes of a name kept inline (the enum stays 16 bytes: a tag, a length, 14 bytes).
const INLINE: usize = 14;

const PREFIX: &[u8] = b"<res ObjectID(owner_hash=";
const MIDDLE: &[u8] = b", object_tag=";
const SUFFIX: &[u8] = b")>";
/// Each half of a key (16 bytes) in lower-case hex.
const HALF_HEX: usize = 32;
const RESULT_NAME_LEN: usize = PREFIX.len() + HALF_HEX + MIDDLE.len() + HALF_HEX + SUFFIX.len();
const HEX: &[u8; 16] = b"0123456789abcdef";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    /// The 2.9.0 result name of the record's own key.
    ResultOf,
    /// Boxed twice so that the variant is one pointer wide (a `Box<[u8]>` would make the record 72 bytes).
    Long(Box<Box<[u8]>>),
}

impl Name {
    /// How the record of object `key` keeps `name`.
    pub fn new(name: &[u8], key: &ObjectKey) -> Name {
        if name.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..name.len()].copy_from_slice(name);
            return Name::Inline {
                len: name.len() as u8,
                bytes,
            };
        }
        if is_result_name(name, key) {
            return Name::ResultOf;
        }
        Name::Long(Box::new(name.into()))
    }

    /// The name as it was given, for the record of `key`.
    pub fn bytes(&self, key: &ObjectKey) -> Cow<'_, [u8]> {
        match self {
            Name::Inline { len, bytes } => Cow::Borrowed(&bytes[..*len as usize]),
            Name::ResultOf => Cow::Owned(result_name(key)),
            Name::Long(b) => Cow::Borrowed(b),
        }
    }
}

/// The name a 2.9.0 worker gives the result stored under `key`.
pub fn result_name(key: &ObjectKey) -> Vec<u8> {
    let mut v = Vec::with_capacity(RESULT_NAME_LEN);
    v.extend_from_slice(PREFIX);
    push_hex(&mut v, &key[..16]);
    v.extend_from_slice(MIDDLE);
    push_hex(&mut v, &key[16..]);
    v.extend_from_slice(SUFFIX);
    debug_assert_eq!(v.len(), RESULT_NAME_LEN);
    v
}

fn push_hex(v: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        v.push(HEX[usize::from(b >> 4)]);
        v.push(HEX[usize::from(b & 15)]);
    }
}

/// Whether `name` is exactly `result_name(key)`, compared in place.
fn is_result_name(name: &[u8], key: &ObjectKey) -> bool {
    if name.len() != RESULT_NAME_LEN {
        return false;
    }
    let (prefix, rest) = name.split_at(PREFIX.len());
    let (owner, rest) = rest.split_at(HALF_HEX);
    let (middle, rest) = rest.split_at(MIDDLE.len());
    let (tag, suffix) = rest.split_at(HALF_HEX);
    prefix == PREFIX
        && middle == MIDDLE
        && suffix == SUFFIX
        && is_hex_of(owner, &key[..16])
        && is_hex_of(tag, &key[16..])
}

fn is_hex_of(text: &[u8], bytes: &[u8]) -> bool {
    text.chunks_exact(2)
        .zip(bytes)
        .all(|(t, b)| t[0] == HEX[usize::from(b >> 4)] && t[1] == HEX[usize::from(b & 15)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::seed::Seeds;

    fn random_key(rng: &mut Seeds) -> ObjectKey {
        let mut k = [0u8; 32];
        for c in k.chunks_mut(8) {
            c.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        k
    }

    /// What `f"<res {repr(ObjectID(key))}>"` gives in 2.9.0 (`ObjectID.__repr__`, `bytes.hex()`).
    fn python_result_name(k: &ObjectKey) -> Vec<u8> {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!(
            "<res ObjectID(owner_hash={}, object_tag={})>",
            hex(&k[..16]),
            hex(&k[16..])
        )
        .into_bytes()
    }

    #[test]
    fn the_rebuilt_name_is_what_2_9_0_prints() {
        // `f"<res {repr(ObjectID(bytes(range(32))))}>"` run with the 2.9.0 wheel.
        let k: ObjectKey = std::array::from_fn(|i| i as u8);
        let python = b"<res ObjectID(owner_hash=000102030405060708090a0b0c0d0e0f, object_tag=101112131415161718191a1b1c1d1e1f)>";
        assert_eq!(result_name(&k), python.to_vec());
        assert_eq!(Name::new(python, &k), Name::ResultOf);
    }

    #[test]
    fn the_record_stays_64_bytes_wide() {
        assert_eq!(std::mem::size_of::<Name>(), 16);
    }

    #[test]
    fn a_result_name_of_the_records_own_key_is_a_flag_and_reads_back_the_same() {
        let mut rng = Seeds::new(7);
        for _ in 0..1000 {
            let k = random_key(&mut rng);
            let given = python_result_name(&k);
            let n = Name::new(&given, &k);
            assert_eq!(n, Name::ResultOf);
            assert_eq!(n.bytes(&k), &given[..]);
        }
    }

    #[test]
    fn every_other_name_reads_back_exactly() {
        let mut rng = Seeds::new(8);
        let k = random_key(&mut rng);
        let other = random_key(&mut rng);
        let own = python_result_name(&k);
        let mut names: Vec<Vec<u8>> = vec![
            vec![],
            b"<res>".to_vec(),
            vec![b'x'; INLINE],
            vec![b'y'; INLINE + 1],
            python_result_name(&other),
            own.to_ascii_uppercase(),
            own[..own.len() - 1].to_vec(),
            [&own[..], b" "].concat(),
        ];
        // Every single-byte change of the right name (a near miss at each position).
        for i in 0..own.len() {
            let mut v = own.clone();
            v[i] ^= 1;
            names.push(v);
        }
        for name in names {
            let n = Name::new(&name, &k);
            assert_ne!(n, Name::ResultOf, "{:?}", String::from_utf8_lossy(&name));
            assert_eq!(n.bytes(&k), &name[..]);
            assert_eq!(
                matches!(n, Name::Inline { .. }),
                name.len() <= INLINE,
                "{name:?}"
            );
        }
    }
}
