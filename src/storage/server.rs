//! The object storage server's logic, sans-IO: request frames from a peer in, reply frames out.
//!
//! Contents are deduplicated (equal payloads are stored once, refcounted) and kept as the received
//! `Bytes`, so a get answers with the very buffer a set delivered. A get (or a duplicate) of an object
//! that does not exist yet is parked until the object is set: that is how processors wait for arguments
//! a client is still uploading.
use super::header::{self, ObjectId, RequestHeader, RequestType, ResponseHeader, ResponseType};
use crate::core::hash::IdMap;
use bytes::Bytes;
use std::hash::BuildHasher;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct StorageLimits {
    /// Set/duplicate requests announcing more than this are dropped unanswered (as 2.9.0: 6 TiB).
    pub max_payload: u64,
}

impl Default for StorageLimits {
    fn default() -> Self {
        StorageLimits {
            max_payload: 6 << 40,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    BadHeader(header::HeaderError),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::BadHeader(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StorageError {}

#[derive(Debug)]
struct Content {
    bytes: Bytes,
    refs: usize,
}

#[derive(Debug)]
enum Parked {
    Get {
        peer: Bytes,
        request_id: u64,
        max_len: u64,
        since: Instant,
    },
    Duplicate {
        peer: Bytes,
        request_id: u64,
        new_id: ObjectId,
        since: Instant,
    },
}

impl Parked {
    fn since(&self) -> Instant {
        match self {
            Parked::Get { since, .. } | Parked::Duplicate { since, .. } => *since,
        }
    }
}

pub type Replies = Vec<(Bytes, Bytes)>;

#[derive(Debug, Default)]
pub struct ObjectStorage {
    limits: StorageLimits,
    objects: IdMap<ObjectId, u64>,
    contents: IdMap<u64, Content>,
    /// Content hash -> content keys with that hash (collisions are compared byte for byte).
    by_hash: IdMap<u64, Vec<u64>>,
    next_content: u64,
    total_bytes: u64,
    parked: IdMap<ObjectId, Vec<Parked>>,
    parked_count: usize,
    /// A set/duplicate header waiting for its payload frame, per peer.
    partial: IdMap<Bytes, RequestHeader>,
    /// Keyed content hash used for deduplication.
    hasher: crate::core::hash::IdBuild,
}

impl ObjectStorage {
    pub fn new(limits: StorageLimits) -> Self {
        ObjectStorage {
            limits,
            ..Default::default()
        }
    }

    /// Handles one frame from `peer`. `Err` means the peer broke the protocol and must be disconnected.
    pub fn on_frame(
        &mut self,
        now: Instant,
        peer: &Bytes,
        frame: Bytes,
        out: &mut Replies,
    ) -> Result<(), StorageError> {
        if let Some(h) = self.partial.remove(peer) {
            if frame.len() as u64 == h.payload_length {
                match h.kind {
                    RequestType::Set => self.set(now, peer, h.object_id, h.request_id, frame, out),
                    RequestType::Duplicate => {
                        let original =
                            header::decode_object_id(&frame).map_err(StorageError::BadHeader)?;
                        self.duplicate(now, peer, h.object_id, original, h.request_id, out);
                    }
                    _ => unreachable!("only set and duplicate wait for a payload"),
                }
                return Ok(());
            }
            // Size mismatch: the partial request is discarded and this frame is read as a new header.
        }
        let h = header::decode_request(&frame).map_err(StorageError::BadHeader)?;
        match h.kind {
            RequestType::Set | RequestType::Duplicate => {
                if h.payload_length <= self.limits.max_payload {
                    self.partial.insert(peer.clone(), h);
                }
            }
            RequestType::Get => match self.objects.get(&h.object_id) {
                Some(&c) => {
                    let bytes = self.contents[&c].bytes.clone();
                    reply_get(
                        peer,
                        &h.object_id,
                        h.request_id,
                        h.payload_length,
                        &bytes,
                        out,
                    );
                }
                None => self.park(
                    h.object_id,
                    Parked::Get {
                        peer: peer.clone(),
                        request_id: h.request_id,
                        max_len: h.payload_length,
                        since: now,
                    },
                ),
            },
            RequestType::Delete => {
                let kind = if self.unlink(&h.object_id) {
                    ResponseType::DelOk
                } else {
                    ResponseType::DelNotExists
                };
                reply(peer, &h.object_id, h.request_id, kind, out);
            }
            RequestType::InfoGetTotal => {
                let info = self.info(now);
                let payload = header::encode_info(&info);
                out.push((
                    peer.clone(),
                    header::encode_response(&ResponseHeader {
                        object_id: h.object_id,
                        payload_length: payload.len() as u64,
                        response_id: h.request_id,
                        kind: ResponseType::InfoGetTotalOk,
                    }),
                ));
                out.push((peer.clone(), payload));
            }
        }
        Ok(())
    }

    /// Forgets the half-received request of a peer that went away (its parked gets stay parked).
    pub fn on_disconnect(&mut self, peer: &Bytes) {
        self.partial.remove(peer);
    }

    /// #ids, #unique contents, content bytes, #parked requests, #ids waited on, age of the oldest wait (s).
    pub fn info(&self, now: Instant) -> [u64; 6] {
        let oldest = self
            .parked
            .values()
            .flatten()
            .map(|p| p.since())
            .min()
            .map_or(0, |t| now.saturating_duration_since(t).as_secs());
        [
            self.objects.len() as u64,
            self.contents.len() as u64,
            self.total_bytes,
            self.parked_count as u64,
            self.parked.len() as u64,
            oldest,
        ]
    }

    fn park(&mut self, id: ObjectId, p: Parked) {
        self.parked.entry(id).or_default().push(p);
        self.parked_count += 1;
    }

    fn set(
        &mut self,
        now: Instant,
        peer: &Bytes,
        id: ObjectId,
        request_id: u64,
        payload: Bytes,
        out: &mut Replies,
    ) {
        let c = self.intern(payload);
        self.link(id, c);
        reply(peer, &id, request_id, ResponseType::SetOk, out);
        self.serve_parked(now, id, out);
    }

    fn duplicate(
        &mut self,
        now: Instant,
        peer: &Bytes,
        new_id: ObjectId,
        original: ObjectId,
        request_id: u64,
        out: &mut Replies,
    ) {
        match self.objects.get(&original).copied() {
            Some(c) => {
                self.contents
                    .get_mut(&c)
                    .expect("linked content exists")
                    .refs += 1;
                self.link(new_id, c);
                reply(peer, &new_id, request_id, ResponseType::DuplicateOk, out);
                self.serve_parked(now, new_id, out);
            }
            None => self.park(
                original,
                Parked::Duplicate {
                    peer: peer.clone(),
                    request_id,
                    new_id,
                    since: now,
                },
            ),
        }
    }

    fn serve_parked(&mut self, now: Instant, id: ObjectId, out: &mut Replies) {
        let Some(waiting) = self.parked.remove(&id) else {
            return;
        };
        self.parked_count -= waiting.len();
        for p in waiting {
            match p {
                Parked::Get {
                    peer,
                    request_id,
                    max_len,
                    ..
                } => {
                    let Some(&c) = self.objects.get(&id) else {
                        continue;
                    };
                    let bytes = self.contents[&c].bytes.clone();
                    reply_get(&peer, &id, request_id, max_len, &bytes, out);
                }
                Parked::Duplicate {
                    peer,
                    request_id,
                    new_id,
                    ..
                } => self.duplicate(now, &peer, new_id, id, request_id, out),
            }
        }
    }

    /// Stores a payload once per distinct content; returns its content key with one reference taken.
    fn intern(&mut self, payload: Bytes) -> u64 {
        let hash = self.hasher.hash_one(&payload[..]);
        let keys = self.by_hash.entry(hash).or_default();
        for &k in keys.iter() {
            let c = self.contents.get_mut(&k).expect("indexed content exists");
            if c.bytes == payload {
                c.refs += 1;
                return k;
            }
        }
        self.next_content += 1;
        let k = self.next_content;
        keys.push(k);
        self.total_bytes += payload.len() as u64;
        self.contents.insert(
            k,
            Content {
                bytes: payload,
                refs: 1,
            },
        );
        k
    }

    /// Points `id` at content `c` (whose reference the caller holds), releasing what `id` pointed to.
    fn link(&mut self, id: ObjectId, c: u64) {
        if let Some(old) = self.objects.insert(id, c) {
            self.release(old);
        }
    }

    fn unlink(&mut self, id: &ObjectId) -> bool {
        match self.objects.remove(id) {
            Some(c) => {
                self.release(c);
                true
            }
            None => false,
        }
    }

    fn release(&mut self, c: u64) {
        let content = self
            .contents
            .get_mut(&c)
            .expect("referenced content exists");
        content.refs -= 1;
        if content.refs == 0 {
            let content = self.contents.remove(&c).expect("present");
            self.total_bytes -= content.bytes.len() as u64;
            let hash = self.hasher.hash_one(&content.bytes[..]);
            if let Some(keys) = self.by_hash.get_mut(&hash) {
                keys.retain(|k| *k != c);
                if keys.is_empty() {
                    self.by_hash.remove(&hash);
                }
            }
        }
    }
}

fn reply(peer: &Bytes, id: &ObjectId, request_id: u64, kind: ResponseType, out: &mut Replies) {
    out.push((
        peer.clone(),
        header::encode_response(&ResponseHeader {
            object_id: *id,
            payload_length: 0,
            response_id: request_id,
            kind,
        }),
    ));
}

fn reply_get(
    peer: &Bytes,
    id: &ObjectId,
    request_id: u64,
    max_len: u64,
    bytes: &Bytes,
    out: &mut Replies,
) {
    let n = (bytes.len() as u64).min(max_len) as usize;
    out.push((
        peer.clone(),
        header::encode_response(&ResponseHeader {
            object_id: *id,
            payload_length: n as u64,
            response_id: request_id,
            kind: ResponseType::GetOk,
        }),
    ));
    if n > 0 {
        out.push((peer.clone(), bytes.slice(..n)));
    }
}

/// Request frames the scheduler (or a test peer) sends.
pub fn set_request(id: &ObjectId, payload: Bytes, request_id: u64) -> (Bytes, Bytes) {
    (
        header::encode_request(&RequestHeader {
            object_id: *id,
            payload_length: payload.len() as u64,
            request_id,
            kind: RequestType::Set,
        }),
        payload,
    )
}

pub fn get_request(id: &ObjectId, request_id: u64) -> Bytes {
    header::encode_request(&RequestHeader {
        object_id: *id,
        payload_length: u64::MAX,
        request_id,
        kind: RequestType::Get,
    })
}

pub fn delete_request(id: &ObjectId, request_id: u64) -> Bytes {
    header::encode_request(&RequestHeader {
        object_id: *id,
        payload_length: 0,
        request_id,
        kind: RequestType::Delete,
    })
}

pub fn duplicate_request(
    new_id: &ObjectId,
    original: &ObjectId,
    request_id: u64,
) -> (Bytes, Bytes) {
    let payload = header::encode_object_id(original);
    (
        header::encode_request(&RequestHeader {
            object_id: *new_id,
            payload_length: payload.len() as u64,
            request_id,
            kind: RequestType::Duplicate,
        }),
        payload,
    )
}

pub fn info_request(request_id: u64) -> Bytes {
    header::encode_request(&RequestHeader {
        object_id: [0; 32],
        payload_length: 0,
        request_id,
        kind: RequestType::InfoGetTotal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        [n; 32]
    }

    fn peer(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// Sends frames and returns the decoded reply headers with their payload (if any).
    fn send(
        s: &mut ObjectStorage,
        p: &Bytes,
        frames: &[Bytes],
    ) -> Vec<(Bytes, ResponseHeader, Option<Bytes>)> {
        let now = Instant::now();
        let mut out = Vec::new();
        for f in frames {
            s.on_frame(now, p, f.clone(), &mut out).unwrap();
        }
        let mut res = Vec::new();
        let mut it = out.into_iter();
        while let Some((to, f)) = it.next() {
            let h = header::decode_response(&f).unwrap();
            let payload = if h.payload_length > 0 {
                Some(it.next().unwrap().1)
            } else {
                None
            };
            res.push((to, h, payload));
        }
        res
    }

    fn set(
        s: &mut ObjectStorage,
        p: &Bytes,
        i: ObjectId,
        data: &'static [u8],
    ) -> Vec<(Bytes, ResponseHeader, Option<Bytes>)> {
        let (h, b) = set_request(&i, Bytes::from_static(data), 1);
        send(s, p, &[h, b])
    }

    #[test]
    fn set_then_get_returns_the_same_buffer() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        let r = set(&mut s, &c, id(1), b"hello");
        assert_eq!(r[0].1.kind, ResponseType::SetOk);
        let r = send(&mut s, &c, &[get_request(&id(1), 7)]);
        assert_eq!(
            (r[0].1.kind, r[0].1.response_id, r[0].1.payload_length),
            (ResponseType::GetOk, 7, 5)
        );
        assert_eq!(r[0].2.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn get_is_parked_until_set_even_if_the_getter_left() {
        let mut s = ObjectStorage::default();
        let (p, c) = (peer("processor"), peer("client"));
        assert!(send(&mut s, &p, &[get_request(&id(2), 3)]).is_empty());
        s.on_disconnect(&p);
        assert_eq!(s.info(Instant::now())[3], 1);
        let r = set(&mut s, &c, id(2), b"arg");
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].0, p, "the parked get is answered to its requester");
        assert_eq!(r[1].2.as_deref(), Some(&b"arg"[..]));
        assert_eq!(s.info(Instant::now())[3], 0);
    }

    #[test]
    fn delete_reports_existence_and_keeps_parked_gets() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        set(&mut s, &c, id(1), b"x");
        assert_eq!(
            send(&mut s, &c, &[delete_request(&id(1), 1)])[0].1.kind,
            ResponseType::DelOk
        );
        assert_eq!(
            send(&mut s, &c, &[delete_request(&id(1), 1)])[0].1.kind,
            ResponseType::DelNotExists
        );
        send(&mut s, &c, &[get_request(&id(3), 1)]);
        send(&mut s, &c, &[delete_request(&id(3), 1)]);
        assert_eq!(
            set(&mut s, &c, id(3), b"late").len(),
            2,
            "the parked get survives the delete"
        );
    }

    #[test]
    fn duplicate_of_present_and_absent_originals() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        set(&mut s, &c, id(1), b"data");
        let (h, p) = duplicate_request(&id(2), &id(1), 5);
        let r = send(&mut s, &c, &[h, p]);
        assert_eq!(
            (r[0].1.kind, r[0].1.object_id),
            (ResponseType::DuplicateOk, id(2))
        );
        assert_eq!(
            s.info(Instant::now())[..3],
            [2, 1, 4],
            "two ids share one content"
        );
        let (h, p) = duplicate_request(&id(4), &id(3), 6);
        assert!(
            send(&mut s, &c, &[h, p]).is_empty(),
            "waits for the original"
        );
        send(&mut s, &c, &[get_request(&id(4), 9)]);
        let r = set(&mut s, &c, id(3), b"orig");
        let kinds: Vec<_> = r.iter().map(|x| x.1.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ResponseType::SetOk,
                ResponseType::DuplicateOk,
                ResponseType::GetOk
            ]
        );
    }

    #[test]
    fn dedup_refcounts_and_bytes() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        set(&mut s, &c, id(1), b"same");
        set(&mut s, &c, id(2), b"same");
        set(&mut s, &c, id(3), b"other");
        assert_eq!(s.info(Instant::now())[..3], [3, 2, 9]);
        send(
            &mut s,
            &c,
            &[delete_request(&id(1), 1), delete_request(&id(2), 1)],
        );
        assert_eq!(s.info(Instant::now())[..3], [1, 1, 5]);
        set(&mut s, &c, id(3), b"replaced");
        assert_eq!(
            s.info(Instant::now())[..3],
            [1, 1, 8],
            "overwrite releases the old content"
        );
    }

    #[test]
    fn zero_length_object_has_no_payload_frame() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        set(&mut s, &c, id(1), b"");
        let r = send(&mut s, &c, &[get_request(&id(1), 1)]);
        assert_eq!(
            (r.len(), r[0].1.payload_length, r[0].2.is_none()),
            (1, 0, true)
        );
    }

    #[test]
    fn size_mismatch_discards_and_reparses() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        let (h, _) = set_request(&id(1), Bytes::from_static(b"12345"), 1);
        // The announced payload never comes; a get header arrives instead and is served as a request.
        send(&mut s, &c, &[h]);
        set(&mut s, &c, id(2), b"x");
        assert_eq!(s.info(Instant::now())[0], 1, "only id 2 exists");
    }

    #[test]
    fn max_len_truncates_get_answers() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        set(&mut s, &c, id(1), b"abcdef");
        let f = header::encode_request(&RequestHeader {
            object_id: id(1),
            payload_length: 2,
            request_id: 1,
            kind: RequestType::Get,
        });
        let r = send(&mut s, &c, &[f]);
        assert_eq!(r[0].2.as_deref(), Some(&b"ab"[..]));
    }

    #[test]
    fn garbage_headers_close_the_peer_and_never_panic() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        let mut out = Vec::new();
        assert!(s
            .on_frame(
                Instant::now(),
                &c,
                Bytes::from_static(b"garbage!"),
                &mut out
            )
            .is_err());
        let mut x: u32 = 12345;
        for len in [0usize, 8, 16, 80, 200] {
            for _ in 0..300 {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                        (x >> 24) as u8
                    })
                    .collect();
                let _ = s.on_frame(Instant::now(), &c, Bytes::from(v), &mut out);
            }
        }
    }

    #[test]
    fn info_request_answers_six_counters() {
        let mut s = ObjectStorage::default();
        let c = peer("c");
        set(&mut s, &c, id(1), b"abc");
        let r = send(&mut s, &c, &[info_request(4)]);
        assert_eq!(r[0].1.kind, ResponseType::InfoGetTotalOk);
        assert_eq!(
            header::decode_info(r[0].2.as_ref().unwrap()),
            [1, 1, 3, 0, 0, 0]
        );
    }
}
