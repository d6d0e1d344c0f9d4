//! The object storage server's logic, sans-IO: request frames from a peer in, reply frames out.
//!
//! Payloads are kept as the received `Bytes`, and a get answers with (a slice of) that very buffer, so
//! object bytes are never copied. A get (or a duplicate) of an object that does not exist yet is parked
//! until the object is set: that is how processors wait for arguments a client is still uploading.
//! Parked requests outlive their requester's connection (as in 2.9.0); their late answers go out
//! addressed to the gone peer and the shell drops them.
use super::contents::{ContentKey, Contents};
use super::header::{self, ObjectId, RequestHeader, RequestType, ResponseHeader, ResponseType};
use crate::hash::IdMap;
use bytes::Bytes;
use log::debug;
use std::collections::VecDeque;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct StorageLimits {
    /// Set/duplicate requests announcing more than this are dropped unanswered (2.9.0: 6 TiB).
    pub max_payload: u64,
}

impl Default for StorageLimits {
    fn default() -> Self {
        StorageLimits {
            max_payload: 6 << 40,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageError {
    /// A request header frame that is not a valid header.
    BadHeader(header::HeaderError),
    /// A duplicateObjectID payload that is not a valid ObjectID message.
    BadDuplicatePayload(header::HeaderError),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::BadHeader(e) => write!(f, "{e}"),
            StorageError::BadDuplicatePayload(e) => write!(f, "bad duplicate payload: {e}"),
        }
    }
}

impl std::error::Error for StorageError {}

/// The infoGetTotal counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageInfo {
    pub object_ids: u64,
    /// Distinct contents (ids minus what deduplication shares).
    pub unique_objects: u64,
    /// Bytes held, each distinct content counted once.
    pub total_bytes: u64,
    /// Parked gets and duplicates.
    pub pending_requests: u64,
    /// Distinct ids those requests wait for.
    pub pending_ids: u64,
    pub oldest_pending_secs: u64,
}

impl StorageInfo {
    /// The wire order of the infoGetTotalOK payload.
    pub fn to_array(&self) -> [u64; 6] {
        [
            self.object_ids,
            self.unique_objects,
            self.total_bytes,
            self.pending_requests,
            self.pending_ids,
            self.oldest_pending_secs,
        ]
    }

    pub fn from_array(v: [u64; 6]) -> Self {
        StorageInfo {
            object_ids: v[0],
            unique_objects: v[1],
            total_bytes: v[2],
            pending_requests: v[3],
            pending_ids: v[4],
            oldest_pending_secs: v[5],
        }
    }
}

#[derive(Debug)]
struct Parked {
    peer: Bytes,
    request_id: u64,
    since: Instant,
    what: Waiting,
}

#[derive(Debug)]
enum Waiting {
    Get {
        max_len: u64,
    },
    /// `new_id` becomes a copy of the id this request is parked on.
    Duplicate {
        new_id: ObjectId,
    },
}

/// (peer identity, frame) pairs to send, in order.
pub type Replies = Vec<(Bytes, Bytes)>;

#[derive(Debug, Default)]
pub struct ObjectStorage {
    limits: StorageLimits,
    objects: IdMap<ObjectId, ContentKey>,
    contents: Contents,
    /// Requests for ids that do not exist yet, in arrival order per id.
    parked: IdMap<ObjectId, Vec<Parked>>,
    parked_count: usize,
    /// A set/duplicate header waiting for its payload frame, per peer.
    partial: IdMap<Bytes, RequestHeader>,
}

impl ObjectStorage {
    pub fn new(limits: StorageLimits) -> Self {
        ObjectStorage {
            limits,
            ..Default::default()
        }
    }

    /// Handles one frame from `peer`, appending the frames to send to `out`. `Ok(Some(id))`: the frame
    /// deleted `id`. `Err` means the peer broke the protocol and its connection must be closed.
    pub fn on_frame(
        &mut self,
        now: Instant,
        peer: &Bytes,
        frame: Bytes,
        out: &mut Replies,
    ) -> Result<Option<ObjectId>, StorageError> {
        // Most frames are headers with no set or duplicate half-done anywhere: skip hashing the
        // peer's identity for them.
        let partial = if self.partial.is_empty() {
            None
        } else {
            self.partial.remove(peer)
        };
        if let Some(h) = partial {
            if frame.len() as u64 == h.payload_length {
                return self.complete(now, peer, h, frame, out).map(|()| None);
            }
            // As 2.9.0: the announced payload did not come, so this frame starts a new request.
            debug!(
                "object storage: {:?} announced {} payload bytes, got a {}-byte frame; discarded",
                h.kind,
                h.payload_length,
                frame.len()
            );
        }
        let h = header::decode_request(&frame).map_err(StorageError::BadHeader)?;
        Ok(self.on_header(now, peer, h, out))
    }

    /// A request already decoded (the scheduler's own, to its embedded server): the header, then
    /// the payload frame if there is one, exactly as if both had come as frames.
    pub fn on_request(
        &mut self,
        now: Instant,
        peer: &Bytes,
        h: RequestHeader,
        payload: Option<Bytes>,
        out: &mut Replies,
    ) -> Result<(), StorageError> {
        // No assertion that `peer` has nothing half-done: a storage peer may present the scheduler's
        // identity and leave a header waiting. A set or duplicate header here replaces that entry, as
        // a new header from the peer itself would.
        self.on_header(now, peer, h, out);
        match payload {
            Some(p) => self.on_frame(now, peer, p, out).map(|_| ()),
            None => Ok(()),
        }
    }

    /// `Some(id)` when the request deleted `id`.
    fn on_header(
        &mut self,
        now: Instant,
        peer: &Bytes,
        h: RequestHeader,
        out: &mut Replies,
    ) -> Option<ObjectId> {
        match h.kind {
            RequestType::Set | RequestType::Duplicate
                if h.payload_length > self.limits.max_payload =>
            {
                debug!(
                    "object storage: dropped a {:?} of {} bytes",
                    h.kind, h.payload_length
                );
            }
            RequestType::Set | RequestType::Duplicate => {
                self.partial.insert(peer.clone(), h);
            }
            RequestType::Get => match self.objects.get(&h.object_id) {
                Some(&c) => {
                    let bytes = self.contents.bytes(c);
                    reply_get(
                        peer,
                        &h.object_id,
                        h.request_id,
                        h.payload_length,
                        bytes,
                        out,
                    );
                }
                None => self.park(
                    h.object_id,
                    Parked {
                        peer: peer.clone(),
                        request_id: h.request_id,
                        since: now,
                        what: Waiting::Get {
                            max_len: h.payload_length,
                        },
                    },
                ),
            },
            RequestType::Delete => {
                // Requests parked on the id stay parked: a later set answers them.
                let deleted = self.objects.remove(&h.object_id);
                let kind = match deleted {
                    Some(c) => {
                        self.contents.release(c);
                        ResponseType::DelOk
                    }
                    None => ResponseType::DelNotExists,
                };
                reply(peer, &h.object_id, h.request_id, kind, out);
                return deleted.map(|_| h.object_id);
            }
            RequestType::InfoGetTotal => {
                let payload = header::encode_info(&self.info(now).to_array());
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
        None
    }

    /// Forgets the half-received request of a peer that went away. Its parked requests stay.
    pub fn on_disconnect(&mut self, peer: &Bytes) {
        self.partial.remove(peer);
    }

    pub fn info(&self, now: Instant) -> StorageInfo {
        // Lists are in arrival order, so only their heads can be the oldest.
        let oldest = self
            .parked
            .values()
            .filter_map(|v| v.first())
            .map(|p| p.since)
            .min();
        StorageInfo {
            object_ids: self.objects.len() as u64,
            unique_objects: self.contents.len() as u64,
            total_bytes: self.contents.total_bytes(),
            pending_requests: self.parked_count as u64,
            pending_ids: self.parked.len() as u64,
            oldest_pending_secs: oldest.map_or(0, |t| now.saturating_duration_since(t).as_secs()),
        }
    }

    /// A set/duplicate header's payload arrived.
    fn complete(
        &mut self,
        now: Instant,
        peer: &Bytes,
        h: RequestHeader,
        payload: Bytes,
        out: &mut Replies,
    ) -> Result<(), StorageError> {
        let id = h.object_id;
        match h.kind {
            RequestType::Set => {
                let c = self.contents.intern(payload);
                self.link(id, c);
                reply(peer, &id, h.request_id, ResponseType::SetOk, out);
                self.serve_parked(id, out);
            }
            RequestType::Duplicate => {
                let original = header::decode_object_id(&payload)
                    .map_err(StorageError::BadDuplicatePayload)?;
                match self.objects.get(&original).copied() {
                    Some(c) => {
                        self.contents.retain(c);
                        self.link(id, c);
                        reply(peer, &id, h.request_id, ResponseType::DuplicateOk, out);
                        self.serve_parked(id, out);
                    }
                    None => self.park(
                        original,
                        Parked {
                            peer: peer.clone(),
                            request_id: h.request_id,
                            since: now,
                            what: Waiting::Duplicate { new_id: id },
                        },
                    ),
                }
            }
            // Only set and duplicate headers are kept in `partial`.
            RequestType::Get | RequestType::Delete | RequestType::InfoGetTotal => {}
        }
        Ok(())
    }

    fn park(&mut self, id: ObjectId, p: Parked) {
        self.parked.entry(id).or_default().push(p);
        self.parked_count += 1;
    }

    /// Answers everything parked on `id`, which now exists, and then on the ids those parked
    /// duplicates create. A work queue rather than recursion: a peer can park an arbitrarily long
    /// chain of duplicates, which must not overflow the stack.
    fn serve_parked(&mut self, id: ObjectId, out: &mut Replies) {
        if !self.parked.contains_key(&id) {
            return;
        }
        let mut ready = VecDeque::from([id]);
        while let Some(id) = ready.pop_front() {
            let Some(waiting) = self.parked.remove(&id) else {
                continue;
            };
            self.parked_count -= waiting.len();
            for p in waiting {
                // Nothing in this loop removes an id, so `id` still exists.
                let Some(&c) = self.objects.get(&id) else {
                    self.park(id, p);
                    continue;
                };
                match p.what {
                    Waiting::Get { max_len } => {
                        let bytes = self.contents.bytes(c);
                        reply_get(&p.peer, &id, p.request_id, max_len, bytes, out);
                    }
                    Waiting::Duplicate { new_id } => {
                        self.contents.retain(c);
                        self.link(new_id, c);
                        reply(
                            &p.peer,
                            &new_id,
                            p.request_id,
                            ResponseType::DuplicateOk,
                            out,
                        );
                        ready.push_back(new_id);
                    }
                }
            }
        }
    }

    /// Points `id` at `c` (whose reference the caller took), releasing what `id` pointed at before.
    fn link(&mut self, id: ObjectId, c: ContentKey) {
        if let Some(old) = self.objects.insert(id, c) {
            self.contents.release(old);
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

/// getOK with at most `max_len` bytes; no payload frame at all when that is 0.
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

#[cfg(test)]
mod tests;
