//! Object bookkeeping (docs/design.md, "Clients, objects, graphs, balancing, scaling"): who created each object and which ids are due for
//! deletion on the workers and in the object storage server.
//!
//! In 2.9.0 an object's only "block" is its creator, so the creator letting go (a delete instruction,
//! a graph's intermediate-result collection, or the client leaving) deletes it. Scaler ObjectIDs are 32
//! bytes (the storage protocol carries exactly four u64), so they are kept inline as map keys: no
//! allocation, no reference into a receive buffer, and a cheap hash per object.
use crate::hash::{IdBuild, IdMap};
use bytes::Bytes;
use log::warn;

pub type ObjectKey = [u8; 32];

/// The inline key of a Scaler ObjectID; `None` for any other length (not a valid Scaler id).
pub fn key(id: &[u8]) -> Option<ObjectKey> {
    id.try_into().ok()
}

#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub creator: Bytes,
    /// 0 = serializer, 1 = object.
    pub kind: u16,
    pub name: Box<[u8]>,
    pub size: u64,
}

#[derive(Debug)]
pub struct Objects {
    by_id: IdMap<ObjectKey, ObjectInfo>,
    /// Ids deleted since the last flush; sent in one batch to workers and storage.
    pending_delete: Vec<ObjectKey>,
}

impl Objects {
    pub fn new(keys: IdBuild) -> Objects {
        Objects {
            by_id: IdMap::with_hasher(keys),
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

    /// Records (or replaces) an object. `creator` should be a long-lived id (not a slice of a frame).
    pub fn create(&mut self, id: &[u8], creator: Bytes, kind: u16, name: &[u8], size: u64) {
        let Some(k) = key(id) else {
            warn!(
                "object id of {} bytes ignored (Scaler ObjectIDs are 32 bytes)",
                id.len()
            );
            return;
        };
        self.by_id.insert(
            k,
            ObjectInfo {
                creator,
                kind,
                name: name.into(),
                size,
            },
        );
    }

    /// `client` lets go of `id`; as the creator is the only holder, that deletes it.
    pub fn release(&mut self, client: &[u8], id: &[u8]) {
        let Some(k) = key(id) else { return };
        if self.by_id.get(&k).is_some_and(|o| o.creator == client) {
            self.by_id.remove(&k);
            self.pending_delete.push(k);
        }
    }

    /// Drops every object `client` created (disconnect or timeout). A scan: clients leave rarely, and
    /// an index per client would cost every object creation a second insert.
    pub fn release_client(&mut self, client: &[u8]) {
        let pending = &mut self.pending_delete;
        self.by_id.retain(|k, o| {
            let keep = o.creator != client;
            if !keep {
                pending.push(*k);
            }
            keep
        });
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
        o.create(&id(1), b("c1"), 1, b"n", 10);
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
        o.create(&id(1), b("c1"), 1, b"n", 10);
        o.create(&id(2), b("c1"), 0, b"s", 5);
        o.create(&id(3), b("c2"), 1, b"n", 1);
        o.release_client(b"c1");
        let mut d = o.take_pending_deletes();
        d.sort();
        assert_eq!(d, vec![id(1), id(2)]);
        assert_eq!(o.len(), 1);
        assert_eq!(o.name(b"nope"), b("<Unknown>"));
        assert_eq!(o.largest(10)[0].0, &id(3));
    }

    #[test]
    fn ids_that_are_not_32_bytes_are_refused() {
        let mut o = Objects::new(IdBuild::with_keys(1, 2));
        o.create(b"short", b("c1"), 1, b"n", 1);
        assert!(o.is_empty());
    }
}
