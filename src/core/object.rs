//! Object bookkeeping (docs/design.md, "Clients, objects, graphs, balancing, scaling"): who created each object and which ids are due for
//! deletion on the workers and in the object storage server.
//!
//! In 2.9.0 an object's only "block" is its creator, so the creator letting go (a delete instruction,
//! a graph's intermediate-result collection, or the client leaving) deletes it. Scaler ObjectIDs are 32
//! bytes (the storage protocol carries exactly four u64), so they are kept inline: no allocation, no
//! reference into a receive buffer, and a cheap hash per object.
//!
//! Each object's creator is an index into a table of creators (one entry per client that has live
//! objects), not the client's id: a `Bytes` per object cost 32 bytes of the entry and an atomic
//! reference count per creation. An entry is 64 bytes (was 96), which matters because a 2.9.0 client
//! deletes its results in the object storage server directly, so the scheduler keeps one entry per
//! task result until the client leaves.
use super::object_name::Name;
use crate::hash::{IdBuild, IdMap};
use bytes::Bytes;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use log::warn;
use slab::Slab;
use std::borrow::Cow;
use std::hash::BuildHasher;

pub type ObjectKey = [u8; 32];

/// The inline key of a Scaler ObjectID; `None` for any other length (not a valid Scaler id).
pub fn key(id: &[u8]) -> Option<ObjectKey> {
    id.try_into().ok()
}

#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// Index of the creator in `Objects::creators`.
    creator: u32,
    /// 0 = serializer, 1 = object.
    pub kind: u16,
    pub size: u64,
    name: Name,
}

impl ObjectInfo {
    /// The name the creator gave; `key` is the object's (a 2.9.0 result's name is rebuilt from it).
    pub fn name(&self, key: &ObjectKey) -> Cow<'_, [u8]> {
        self.name.bytes(key)
    }
}

#[derive(Debug)]
struct Stored {
    key: ObjectKey,
    info: ObjectInfo,
}

/// An index slot: where the object is in `Objects::stored`, and 32 bits of its key's hash. The table's
/// hash is rebuilt from those bits when it grows, so growing moves 8-byte slots and never reads the
/// objects themselves.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: u32,
    hash: u32,
}

/// The table hash of a slot: the low bits place it, the top 7 bits are hashbrown's tag.
fn spread(h: u32) -> u64 {
    (u64::from(h) << 32) | u64::from(h)
}

/// Whether a slot is key `k`'s (whose hash is `h`): the stored hash bits first, so that the object in
/// the slab is read only for a likely match.
fn holds<'a>(stored: &'a Slab<Stored>, h: u32, k: &'a ObjectKey) -> impl Fn(&Slot) -> bool + 'a {
    move |s| s.hash == h && stored[s.at as usize].key == *k
}

#[derive(Debug)]
struct Creator {
    id: Bytes,
    /// Live objects naming this creator; the entry goes when it reaches 0.
    objects: usize,
}

/// The objects live in a slab, filled in creation order, and are found through a hash index of 8-byte
/// slots. A map holding 64-byte entries at random places cost two cache misses per creation once it
/// outgrew the cache (a 2.9.0 client's results accumulate, one per task, see the module comment): at a
/// million objects the index is 16 MiB and the objects are written one after another.
#[derive(Debug)]
pub struct Objects {
    keys: IdBuild,
    stored: Slab<Stored>,
    index: HashTable<Slot>,
    creators: Slab<Creator>,
    creator_index: IdMap<Bytes, u32>,
    /// The creator of the last object created: a client creates its objects in runs, so most
    /// creations compare ids instead of hashing one.
    last_creator: Option<u32>,
    /// Ids deleted since the last flush; sent in one batch to workers and storage.
    pending_delete: Vec<ObjectKey>,
}

impl Objects {
    pub fn new(keys: IdBuild) -> Objects {
        Objects {
            keys,
            stored: Slab::new(),
            index: HashTable::new(),
            creators: Slab::new(),
            creator_index: IdMap::with_hasher(keys),
            last_creator: None,
            pending_delete: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.stored.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stored.is_empty()
    }

    fn hash(&self, k: &ObjectKey) -> u32 {
        self.keys.hash_one(k) as u32
    }

    /// Where `k` is in `stored`.
    fn find(&self, k: &ObjectKey) -> Option<usize> {
        let h = self.hash(k);
        self.index
            .find(spread(h), holds(&self.stored, h, k))
            .map(|s| s.at as usize)
    }

    pub fn get(&self, id: &[u8]) -> Option<&ObjectInfo> {
        let at = self.find(&key(id)?)?;
        Some(&self.stored[at].info)
    }

    /// The id of the client that created `o`.
    pub fn creator(&self, o: &ObjectInfo) -> &Bytes {
        &self.creators[o.creator as usize].id
    }

    /// The creator table's index for `client`, made if it has none; counts one more object for it.
    fn hold(&mut self, client: &[u8]) -> u32 {
        let at = match self.last_creator {
            Some(i) if self.creators[i as usize].id == client => i,
            _ => match self.creator_index.get(client) {
                Some(&i) => i,
                None => {
                    let id = Bytes::copy_from_slice(client);
                    let i = self.creators.insert(Creator {
                        id: id.clone(),
                        objects: 0,
                    }) as u32;
                    self.creator_index.insert(id, i);
                    i
                }
            },
        };
        self.last_creator = Some(at);
        self.creators[at as usize].objects += 1;
        at
    }

    /// One object of creator `i` is gone; the creator's entry goes with its last object.
    fn unhold(&mut self, i: u32) {
        let c = &mut self.creators[i as usize];
        debug_assert!(c.objects > 0, "creator counts every object naming it");
        c.objects -= 1;
        if c.objects == 0 {
            self.forget_creator(i);
        }
    }

    fn forget_creator(&mut self, i: u32) {
        let c = self.creators.remove(i as usize);
        self.creator_index.remove(&c.id);
        if self.last_creator == Some(i) {
            self.last_creator = None;
        }
    }

    /// Records (or replaces) an object created by `creator`.
    pub fn create(&mut self, id: &[u8], creator: &[u8], kind: u16, name: &[u8], size: u64) {
        let Some(k) = key(id) else {
            warn!(
                "object id of {} bytes ignored (Scaler ObjectIDs are 32 bytes)",
                id.len()
            );
            return;
        };
        let creator = self.hold(creator);
        let info = ObjectInfo {
            creator,
            kind,
            size,
            name: Name::new(name, &k),
        };
        let h = self.hash(&k);
        let stored = &mut self.stored;
        let slot = self
            .index
            .entry(spread(h), holds(stored, h, &k), |s| spread(s.hash));
        match slot {
            Entry::Occupied(o) => {
                let at = o.get().at as usize;
                let old = std::mem::replace(&mut stored[at].info, info);
                self.unhold(old.creator);
            }
            Entry::Vacant(v) => {
                let at = stored.insert(Stored { key: k, info });
                // A slab index past u32 would be 2^32 objects of 64 bytes: memory ends long before.
                debug_assert!(u32::try_from(at).is_ok());
                v.insert(Slot {
                    at: at as u32,
                    hash: h,
                });
            }
        }
    }

    /// `client` lets go of `id`; as the creator is the only holder, that deletes it.
    pub fn release(&mut self, client: &[u8], id: &[u8]) {
        let Some(k) = key(id) else { return };
        let Some(&creator) = self.creator_index.get(client) else {
            return;
        };
        if self.remove(&k, Some(creator)) {
            self.pending_delete.push(k);
        }
    }

    /// Drops the record of `k`, which no longer exists anywhere (deleted in the object storage server
    /// by a peer): nothing is due for deletion.
    pub fn forget(&mut self, k: &ObjectKey) {
        self.remove(k, None);
    }

    /// Removes `k`, only if `creator` made it when one is given; whether it did.
    fn remove(&mut self, k: &ObjectKey, creator: Option<u32>) -> bool {
        let h = self.hash(k);
        let stored = &self.stored;
        let Ok(slot) = self.index.find_entry(spread(h), holds(stored, h, k)) else {
            return false;
        };
        let at = slot.get().at as usize;
        let made_by = stored[at].info.creator;
        if creator.is_some_and(|c| c != made_by) {
            return false;
        }
        slot.remove();
        self.stored.remove(at);
        self.unhold(made_by);
        true
    }

    /// Drops every object `client` created (disconnect or timeout). A scan: clients leave rarely, and
    /// an index per client would cost every object creation a second insert.
    pub fn release_client(&mut self, client: &[u8]) {
        let Some(&i) = self.creator_index.get(client) else {
            return;
        };
        if self.creators.len() == 1 {
            // Every object is this client's (the usual single-client deployment): no sorting out.
            self.pending_delete
                .extend(self.stored.iter().map(|(_, o)| o.key));
            self.stored.clear();
            self.index.clear();
            self.forget_creator(i);
            return;
        }
        // The objects in slab order (sequential), then the index by a flag per slab slot rather than
        // by reading each slot's object at a random place.
        let mut gone = vec![false; self.stored.capacity()];
        for (at, o) in self.stored.iter() {
            if o.info.creator == i {
                gone[at] = true;
                self.pending_delete.push(o.key);
            }
        }
        self.index.retain(|s| !gone[s.at as usize]);
        self.stored.retain(|at, _| !gone[at]);
        self.forget_creator(i);
    }

    /// The record of `id` with its name (which may be rebuilt from the id, `core::object_name`).
    pub fn named(&self, id: &[u8]) -> Option<(&ObjectInfo, Cow<'_, [u8]>)> {
        let k = key(id)?;
        let o = &self.stored[self.find(&k)?].info;
        Some((o, o.name(&k)))
    }

    pub fn name(&self, id: &[u8]) -> Bytes {
        match self.named(id) {
            Some((_, name)) => Bytes::copy_from_slice(&name),
            None => Bytes::from_static(b"<Unknown>"),
        }
    }

    pub fn size(&self, id: &[u8]) -> u64 {
        self.get(id).map_or(0, |o| o.size)
    }

    pub fn take_pending_deletes(&mut self) -> Vec<ObjectKey> {
        std::mem::take(&mut self.pending_delete)
    }

    pub fn has_pending_deletes(&self) -> bool {
        !self.pending_delete.is_empty()
    }

    /// The `limit` largest objects (for StateObject).
    pub fn largest(&self, limit: usize) -> Vec<(&ObjectKey, &ObjectInfo)> {
        let mut v: Vec<_> = self.stored.iter().map(|(_, o)| (&o.key, &o.info)).collect();
        if v.len() > limit {
            v.select_nth_unstable_by(limit, |a, b| b.1.size.cmp(&a.1.size));
            v.truncate(limit);
        }
        v.sort_by_key(|x| std::cmp::Reverse(x.1.size));
        v
    }

    /// Every object is indexed once, under its key's hash; every creator entry is indexed under its
    /// id and counts exactly the objects naming it.
    pub fn check_invariants(&self) {
        assert_eq!(
            self.index.len(),
            self.stored.len(),
            "one index slot per object"
        );
        for s in self.index.iter() {
            let o = &self.stored[s.at as usize];
            assert_eq!(s.hash, self.hash(&o.key), "slot hash of {:?}", o.key);
            assert_eq!(self.find(&o.key), Some(s.at as usize), "one slot per key");
        }
        let mut counts = vec![0usize; self.creators.capacity()];
        for (_, Stored { info: o, .. }) in self.stored.iter() {
            assert!(
                self.creators.contains(o.creator as usize),
                "object names a live creator"
            );
            counts[o.creator as usize] += 1;
        }
        assert_eq!(self.creators.len(), self.creator_index.len());
        for (i, c) in self.creators.iter() {
            assert_eq!(self.creator_index.get(&c.id), Some(&(i as u32)));
            assert_eq!(c.objects, counts[i], "creator count of {:?}", c.id);
            assert!(c.objects > 0, "a creator without objects is forgotten");
        }
        if let Some(i) = self.last_creator {
            assert!(self.creators.contains(i as usize));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn release_by_the_creator_deletes_others_do_nothing() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        o.create(&id(1), b"c1", 1, b"n", 10);
        o.release(b"c2", &id(1));
        assert_eq!(o.len(), 1);
        o.release(b"c1", &id(1));
        assert_eq!(o.len(), 0);
        assert_eq!(o.take_pending_deletes(), vec![id(1)]);
        assert!(!o.has_pending_deletes());
    }

    #[test]
    fn client_removal_deletes_all_its_objects() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        o.create(&id(1), b"c1", 1, b"n", 10);
        o.create(&id(2), b"c1", 0, b"s", 5);
        o.create(&id(3), b"c2", 1, b"n", 1);
        o.release_client(b"c1");
        let mut d = o.take_pending_deletes();
        d.sort();
        assert_eq!(d, vec![id(1), id(2)]);
        assert_eq!(o.len(), 1);
        assert_eq!(o.name(b"nope"), b("<Unknown>"));
        assert_eq!(o.largest(10)[0].0, &id(3));
    }

    #[test]
    fn creators_are_counted_and_forgotten_with_their_last_object() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        o.create(&id(1), b"c1", 1, b"n", 10);
        o.create(&id(2), b"c1", 1, b"n", 10);
        o.check_invariants();
        // Re-created by another client: the object changes hands, c1 keeps one.
        o.create(&id(1), b"c2", 1, b"m", 3);
        o.check_invariants();
        assert_eq!(o.creator(o.get(&id(1)).unwrap()), &b"c2"[..]);
        assert_eq!(o.creators.len(), 2);
        o.release(b"c1", &id(2));
        o.check_invariants();
        assert_eq!(o.creators.len(), 1, "c1 has no objects left");
        // c3 may take c1's old slot; c1 (cached as the last creator before) owns nothing of c3's.
        o.create(&id(3), b"c3", 1, b"n", 1);
        o.check_invariants();
        o.release(b"c1", &id(3));
        o.release_client(b"c1");
        assert_eq!(o.len(), 2);
        assert_eq!(o.creator(o.get(&id(3)).unwrap()), &b"c3"[..]);
        o.release_client(b"c2");
        o.check_invariants();
        assert_eq!((o.len(), o.creators.len()), (1, 1));
        o.release(b"c3", &id(3));
        o.check_invariants();
        assert!(o.is_empty() && o.creators.is_empty() && o.last_creator.is_none());
    }

    #[test]
    fn an_object_deleted_in_storage_is_forgotten_with_nothing_left_to_delete() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        o.create(&id(1), b"c1", 1, b"r", 8);
        o.create(&id(2), b"c1", 1, b"r", 8);
        o.forget(&id(1));
        o.forget(&id(9));
        o.check_invariants();
        assert_eq!(o.len(), 1);
        assert!(!o.has_pending_deletes());
        o.forget(&id(2));
        o.check_invariants();
        assert!(
            o.creators.is_empty(),
            "the creator goes with its last object"
        );
        o.release_client(b"c1");
        assert!(
            !o.has_pending_deletes(),
            "nothing of c1's is left to delete"
        );
    }

    #[test]
    fn the_only_creator_leaving_takes_every_object_and_the_table_stays_usable() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        for n in 1..=40 {
            o.create(&id(n), b"c1", 1, b"r", 1);
        }
        o.release_client(b"c1");
        o.check_invariants();
        let mut d = o.take_pending_deletes();
        d.sort();
        assert_eq!(d, (1..=40).map(id).collect::<Vec<_>>());
        assert!(o.is_empty() && o.creators.is_empty());
        o.create(&id(7), b"c2", 1, b"r", 1);
        o.check_invariants();
        assert_eq!(o.creator(o.get(&id(7)).unwrap()), &b"c2"[..]);
    }

    #[test]
    fn an_object_is_64_bytes_in_the_slab() {
        assert_eq!(std::mem::size_of::<Stored>(), 64);
        assert_eq!(std::mem::size_of::<Slot>(), 8);
    }

    /// Thousands of objects through index growth, re-creation, release and client removal, against a
    /// plain map of what must be there.
    #[test]
    fn the_index_finds_every_object_through_growth_and_removal() {
        use std::collections::HashMap;
        let mut o = Objects::new(IdBuild::with_keys(3, 4));
        let mut model: HashMap<ObjectKey, (&str, u64)> = HashMap::new();
        let key_of = |n: u32| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&n.to_le_bytes());
            k[31] = 7;
            k
        };
        let clients = ["c0", "c1", "c2"];
        for n in 0..6000u32 {
            let c = clients[(n % 3) as usize];
            o.create(&key_of(n), c.as_bytes(), 1, b"r", u64::from(n));
            model.insert(key_of(n), (c, u64::from(n)));
        }
        // Re-created by another client: replaced in place, not added.
        for n in (0..6000u32).step_by(7) {
            o.create(&key_of(n), b"c1", 1, b"r", 1);
            model.insert(key_of(n), ("c1", 1));
        }
        for n in (0..6000u32).step_by(5) {
            let (owner, _) = model[&key_of(n)];
            o.release(owner.as_bytes(), &key_of(n));
            model.remove(&key_of(n));
        }
        o.check_invariants();
        o.release_client(b"c2");
        model.retain(|_, (c, _)| *c != "c2");
        // Slots freed above are reused by new objects.
        for n in 6000..7000u32 {
            o.create(&key_of(n), b"c0", 0, b"s", 2);
            model.insert(key_of(n), ("c0", 2));
        }
        o.check_invariants();
        assert_eq!(o.len(), model.len());
        for n in 0..7000u32 {
            let k = key_of(n);
            match (o.get(&k), model.get(&k)) {
                (Some(info), Some((c, size))) => {
                    assert_eq!(o.creator(info), c.as_bytes());
                    assert_eq!(info.size, *size);
                }
                (None, None) => {}
                (got, want) => panic!("object {n}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn ids_that_are_not_32_bytes_are_refused() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        o.create(b"short", b"c1", 1, b"n", 1);
        assert!(o.is_empty());
    }
}
