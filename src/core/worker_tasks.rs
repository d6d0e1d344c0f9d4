//! The tasks one worker holds, in assignment order.
//!
//! Assignment sequence numbers only grow, so appending keeps the deque sorted: a release finds its
//! entry by binary search and leaves a hole that is dropped once it reaches either end, or in one
//! compaction when holes outnumber the live entries. Results mostly come back in assignment order, so
//! the common release is a pop at the front. This replaced a `BTreeMap<u64, Bytes>`, whose node
//! walks cost ~500 instructions per assignment and per release.
use bytes::Bytes;
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct WorkerTasks {
    /// (assignment sequence, task id); `None` is a released entry not yet dropped.
    entries: VecDeque<(u64, Option<Bytes>)>,
    live: usize,
}

impl WorkerTasks {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Records `task` under `seq`, which must be greater than every sequence recorded before.
    pub fn insert(&mut self, seq: u64, task: Bytes) {
        debug_assert!(
            self.entries.back().is_none_or(|(s, _)| *s < seq),
            "assignment sequences only grow"
        );
        self.entries.push_back((seq, Some(task)));
        self.live += 1;
    }

    fn find(&self, seq: u64) -> Option<usize> {
        // Results mostly come back in assignment order: the front first, before a binary search.
        let i = match self.entries.front() {
            Some((s, _)) if *s == seq => 0,
            _ => self.entries.partition_point(|(s, _)| *s < seq),
        };
        (self
            .entries
            .get(i)
            .is_some_and(|(s, t)| *s == seq && t.is_some()))
        .then_some(i)
    }

    pub fn contains_key(&self, seq: u64) -> bool {
        self.find(seq).is_some()
    }

    pub fn remove(&mut self, seq: u64) -> Option<Bytes> {
        let i = self.find(seq)?;
        let task = self.entries[i].1.take();
        self.live -= 1;
        while self.entries.front().is_some_and(|(_, t)| t.is_none()) {
            self.entries.pop_front();
        }
        while self.entries.back().is_some_and(|(_, t)| t.is_none()) {
            self.entries.pop_back();
        }
        if self.entries.len() > 2 * self.live + 16 {
            self.entries.retain(|(_, t)| t.is_some());
        }
        debug_assert!(self.entries.len() >= self.live);
        task
    }

    /// Task ids in assignment order (reversible: the balancer takes the most recent).
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Bytes> {
        self.entries.iter().filter_map(|(_, t)| t.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Same answers as the BTreeMap it replaced, under random assignment and release orders.
    #[test]
    fn behaves_as_an_ordered_map() {
        let mut held = WorkerTasks::default();
        let mut model: BTreeMap<u64, Bytes> = BTreeMap::new();
        let (mut seq, mut x) = (0u64, 99u64);
        for step in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 3 != 0 || model.is_empty() {
                seq += 1 + x % 3;
                let t = Bytes::from(format!("t{step}"));
                held.insert(seq, t.clone());
                model.insert(seq, t);
            } else {
                // Mostly the oldest (results in order), sometimes any, sometimes one never held.
                let keys: Vec<u64> = model.keys().copied().collect();
                let pick = match x % 7 {
                    0 => keys[(x as usize / 7) % keys.len()],
                    1 => seq + 1,
                    _ => keys[0],
                };
                assert_eq!(held.contains_key(pick), model.contains_key(&pick));
                assert_eq!(held.remove(pick), model.remove(&pick));
            }
            assert_eq!(held.len(), model.len());
            if step % 97 == 0 {
                assert!(held.values().eq(model.values()));
                assert!(held.values().rev().eq(model.values().rev()));
            }
            assert!(held.entries.len() <= 2 * held.live + 16);
        }
    }
}
