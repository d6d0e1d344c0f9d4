//! The scheduler's object storage, as the event loop sees it: the embedded server (its peers' frames
//! in, replies routed back by identity) or the link to an external one, and the scheduler's own
//! requests to either, which go through one client codec.
use super::binder::{Binder, Namespace};
use super::conn::Conn;
use super::storage_link::StorageLink;
use crate::core::{Scheduler, StorageOp};
use crate::storage::header::HeaderError;
use crate::storage::server::Replies;
use crate::storage::{ClientCodec, ObjectStorage, StorageError};
use bytes::Bytes;
use log::error;
use slab::Slab;
use std::time::Instant;

enum Backend {
    Embedded(ObjectStorage),
    External(StorageLink),
}

pub struct ObjectStorageSide {
    backend: Backend,
    codec: ClientCodec,
    /// The embedded server's replies to one frame; kept to reuse its allocation.
    replies: Replies,
}

/// What delivering replies needs from the loop: the scheduler's own identity (replies to it go to the
/// core), and the connections of the embedded server's peers.
pub struct Route<'a> {
    pub own_identity: &'a Bytes,
    pub conns: &'a mut Slab<Conn>,
    pub binder: &'a Binder,
    pub dirty: &'a mut Vec<usize>,
    pub core: &'a mut Scheduler,
}

impl ObjectStorageSide {
    pub fn embedded(storage: ObjectStorage) -> Self {
        ObjectStorageSide {
            backend: Backend::Embedded(storage),
            codec: ClientCodec::default(),
            replies: Replies::new(),
        }
    }

    pub fn external(link: StorageLink) -> Self {
        ObjectStorageSide {
            backend: Backend::External(link),
            codec: ClientCodec::default(),
            replies: Replies::new(),
        }
    }

    pub fn link(&self) -> Option<&StorageLink> {
        match &self.backend {
            Backend::External(l) => Some(l),
            Backend::Embedded(_) => None,
        }
    }

    pub fn link_mut(&mut self) -> Option<&mut StorageLink> {
        match &mut self.backend {
            Backend::External(l) => Some(l),
            Backend::Embedded(_) => None,
        }
    }

    /// A request frame from the embedded server's peer on connection `key`. Replies are routed even
    /// when the frame is refused (earlier frames of the same read may have completed requests); on an
    /// error the caller closes the peer. An object the frame deleted is forgotten by the scheduler too.
    pub fn on_peer_frame(
        &mut self,
        now: Instant,
        (key, peer): (usize, &Bytes),
        frame: Bytes,
        route: Route<'_>,
    ) -> Result<(), StorageError> {
        let Backend::Embedded(storage) = &mut self.backend else {
            debug_assert!(false, "a storage peer without an embedded server");
            return Ok(());
        };
        let res = storage.on_frame(now, peer, frame, &mut self.replies);
        if let Ok(Some(id)) = &res {
            route.core.on_deleted_in_storage(id);
        }
        deliver(&mut self.codec, &mut self.replies, Some((key, peer)), route);
        res.map(|_| ())
    }

    /// A peer of the embedded server disconnected: its parked requests stay (as in 2.9.0), its
    /// partial request goes.
    pub fn peer_left(&mut self, peer: &Bytes) {
        if let Backend::Embedded(s) = &mut self.backend {
            s.on_disconnect(peer);
        }
    }

    /// One of the scheduler's own requests.
    pub fn request(&mut self, now: Instant, op: StorageOp, route: Route<'_>) {
        let req = self.codec.request(op);
        match &mut self.backend {
            Backend::Embedded(storage) => {
                let own = route.own_identity;
                let (header, payload) = (req.header, req.payload);
                // Our own requests are well-formed; an error here would be a bug in the builders.
                if let Err(e) = storage.on_request(now, own, header, payload, &mut self.replies) {
                    error!("embedded object storage refused the scheduler's own request: {e}");
                }
                deliver(&mut self.codec, &mut self.replies, None, route);
            }
            Backend::External(link) => {
                if let Some(k) = link.send(route.conns, req.into_frames()) {
                    route.dirty.push(k);
                }
            }
        }
    }

    /// A frame from the external server; `Some` counters when an infoGetTotal answer completes.
    pub fn on_link_frame(&mut self, frame: &[u8]) -> Result<Option<[u64; 6]>, HeaderError> {
        self.codec.on_frame(frame)
    }

    /// The link to the external server closed: a reconnect is scheduled with backoff.
    pub fn link_closed(&mut self, now: Instant) {
        if let Backend::External(link) = &mut self.backend {
            link.closed(now);
        }
        self.codec.reset();
    }
}

/// Sends the embedded server's replies. Most answer the frame's sender, `requester` (its connection
/// and identity): those go to its connection without a lookup by identity. The server's replies hold
/// clones of the identity it was given, so comparing pointers recognises them.
fn deliver(
    codec: &mut ClientCodec,
    replies: &mut Replies,
    requester: Option<(usize, &Bytes)>,
    route: Route<'_>,
) {
    for (peer, frame) in replies.drain(..) {
        if let Some((k, id)) = requester.filter(|(_, id)| same_bytes(id, &peer)) {
            debug_assert_eq!(route.binder.lookup(Namespace::Storage, id), Some(k));
            route.conns[k].queue_frame(frame);
            route.dirty.push(k);
        } else if peer == *route.own_identity {
            match codec.on_frame(&frame) {
                Ok(Some(info)) => route.core.on_storage_info(info),
                Ok(None) => {}
                Err(e) => error!("unreadable reply from the embedded object storage: {e}"),
            }
        } else if let Some(k) = route.binder.lookup(Namespace::Storage, &peer) {
            route.conns[k].queue_frame(frame);
            route.dirty.push(k);
        }
    }
}

/// The same bytes in memory (a clone of one `Bytes`); equal contents elsewhere do not count.
fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}
