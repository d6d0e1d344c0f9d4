//! Object bookkeeping (SCHEDULER_SPEC.md §3.9): who created each object, who still holds it ("blocks"),
//! and which ids are due for deletion on the workers and in the object storage server.
use super::hash::{IdMap, IdSet};
use bytes::Bytes;

#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub creator: Bytes,
    /// 0 = serializer, 1 = object.
    pub kind: u16,
    pub name: Bytes,
    pub size: u64,
    /// Clients still holding the object; it is deleted when the last one lets go.
    pub blocks: Vec<Bytes>,
}

#[derive(Debug, Default)]
pub struct Objects {
    pub by_id: IdMap<Bytes, ObjectInfo>,
    by_client: IdMap<Bytes, IdSet<Bytes>>,
    /// Ids deleted since the last flush; sent in one batch to workers and storage.
    pending_delete: Vec<Bytes>,
}

impl Objects {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn create(&mut self, id: Bytes, creator: Bytes, kind: u16, name: Bytes, size: u64) {
        if let Some(old) = self.by_id.remove(&id) {
            for b in old.blocks {
                self.unlink(&b, &id);
            }
        }
        self.by_client
            .entry(creator.clone())
            .or_default()
            .insert(id.clone());
        self.by_id.insert(
            id,
            ObjectInfo {
                creator: creator.clone(),
                kind,
                name,
                size,
                blocks: vec![creator],
            },
        );
    }

    fn unlink(&mut self, client: &Bytes, id: &Bytes) {
        if let Some(set) = self.by_client.get_mut(client) {
            set.remove(id);
            if set.is_empty() {
                self.by_client.remove(client);
            }
        }
    }

    /// `client` lets go of `id`; the object is deleted when nobody holds it any more.
    pub fn release(&mut self, client: &Bytes, id: &Bytes) {
        let Some(info) = self.by_id.get_mut(id) else {
            return;
        };
        info.blocks.retain(|b| b != client);
        let empty = info.blocks.is_empty();
        self.unlink(client, id);
        if empty {
            self.by_id.remove(id);
            self.pending_delete.push(id.clone());
        }
    }

    /// Drops every hold of `client` (disconnect or timeout).
    pub fn release_client(&mut self, client: &Bytes) {
        let Some(ids) = self.by_client.get(client).cloned() else {
            return;
        };
        for id in ids {
            self.release(client, &id);
        }
    }

    pub fn name(&self, id: &[u8]) -> Bytes {
        self.by_id
            .get(id)
            .map(|o| o.name.clone())
            .unwrap_or_else(|| Bytes::from_static(b"<Unknown>"))
    }

    pub fn size(&self, id: &[u8]) -> u64 {
        self.by_id.get(id).map(|o| o.size).unwrap_or(0)
    }

    pub fn take_pending_deletes(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.pending_delete)
    }

    pub fn has_pending_deletes(&self) -> bool {
        !self.pending_delete.is_empty()
    }

    /// The `limit` largest objects (for StateObject).
    pub fn largest(&self, limit: usize) -> Vec<(&Bytes, &ObjectInfo)> {
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

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn release_by_last_holder_deletes() {
        let mut o = Objects::default();
        o.create(b("x"), b("c1"), 1, b("n"), 10);
        o.release(&b("c2"), &b("x"));
        assert_eq!(o.len(), 1);
        o.release(&b("c1"), &b("x"));
        assert_eq!(o.len(), 0);
        assert_eq!(o.take_pending_deletes(), vec![b("x")]);
        assert!(!o.has_pending_deletes());
    }

    #[test]
    fn client_removal_deletes_all_its_objects() {
        let mut o = Objects::default();
        o.create(b("x"), b("c1"), 1, b("n"), 10);
        o.create(b("y"), b("c1"), 0, b("s"), 5);
        o.create(b("z"), b("c2"), 1, b("n"), 1);
        o.release_client(&b("c1"));
        let mut d = o.take_pending_deletes();
        d.sort();
        assert_eq!(d, vec![b("x"), b("y")]);
        assert_eq!(o.len(), 1);
        assert_eq!(o.name(b"nope"), b("<Unknown>"));
        assert_eq!(o.largest(10)[0].0, &b("z"));
    }
}
