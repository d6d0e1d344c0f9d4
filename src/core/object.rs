//! Object bookkeeping (docs/design.md, "Clients, objects, graphs, balancing, scaling"): who created each object and which ids are due for
//! deletion on the workers and in the object storage server.
//!
//! In 2.9.0 an object's only "block" is its creator, so the creator letting go (a delete instruction,
//! a graph's intermediate-result collection, or the client leaving) deletes it. Scaler ObjectIDs are 32
//! bytes (the storage protocol carries exactly four u64), so they are kept inline as map keys: no
//! allocation, no reference into a receive buffer, and a cheap hash per object.
//!
//! Each object's creator is an index into a table of creators (one entry per client that has live
//! objects), not the client's id: a `Bytes` per object cost 32 bytes of the entry and an atomic
//! reference count per creation. An entry is 64 bytes (was 96), which matters because a 2.9.0 client
//! deletes its results in the object storage server directly, so the scheduler keeps one entry per
//! task result until the client leaves.
use crate::hash::{IdBuild, IdMap};
use bytes::Bytes;
use log::warn;
use slab::Slab;

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
    pub name: Box<[u8]>,
}

#[derive(Debug)]
struct Creator {
    id: Bytes,
    /// Live objects naming this creator; the entry goes when it reaches 0.
    objects: usize,
}

#[derive(Debug)]
pub struct Objects {
    by_id: IdMap<ObjectKey, ObjectInfo>,
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
            by_id: IdMap::with_hasher(keys),
            creators: Slab::new(),
            creator_index: IdMap::with_hasher(keys),
            last_creator: None,
            pending_delete: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, id: &[u8]) -> Option<&ObjectInfo> {
        self.by_id.get(&key(id)?)
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
            name: name.into(),
        };
        if let Some(old) = self.by_id.insert(k, info) {
            self.unhold(old.creator);
        }
    }

    /// `client` lets go of `id`; as the creator is the only holder, that deletes it.
    pub fn release(&mut self, client: &[u8], id: &[u8]) {
        let Some(k) = key(id) else { return };
        let Some(o) = self.by_id.get(&k) else { return };
        if self.creators[o.creator as usize].id == client {
            let c = o.creator;
            self.by_id.remove(&k);
            self.unhold(c);
            self.pending_delete.push(k);
        }
    }

    /// Drops every object `client` created (disconnect or timeout). A scan: clients leave rarely, and
    /// an index per client would cost every object creation a second insert.
    pub fn release_client(&mut self, client: &[u8]) {
        let Some(&i) = self.creator_index.get(client) else {
            return;
        };
        let pending = &mut self.pending_delete;
        self.by_id.retain(|k, o| {
            let keep = o.creator != i;
            if !keep {
                pending.push(*k);
            }
            keep
        });
        self.forget_creator(i);
    }

    pub fn name(&self, id: &[u8]) -> Bytes {
        match self.get(id) {
            Some(o) => Bytes::copy_from_slice(&o.name),
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
        let mut v: Vec<_> = self.by_id.iter().collect();
        if v.len() > limit {
            v.select_nth_unstable_by(limit, |a, b| b.1.size.cmp(&a.1.size));
            v.truncate(limit);
        }
        v.sort_by_key(|x| std::cmp::Reverse(x.1.size));
        v
    }

    /// Every creator entry is indexed under its id and counts exactly the objects naming it.
    pub fn check_invariants(&self) {
        let mut counts = vec![0usize; self.creators.capacity()];
        for o in self.by_id.values() {
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
    fn ids_that_are_not_32_bytes_are_refused() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        o.create(b"short", b"c1", 1, b"n", 1);
        assert!(o.is_empty());
    }
}
