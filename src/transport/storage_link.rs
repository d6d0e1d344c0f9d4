//! The scheduler's own side of the object storage protocol: a reconnecting connector to an external
//! server, the requests the scheduler issues (delete, duplicate, infoGetTotal) and parsing of replies.
use super::addr::Address;
use super::conn::{Conn, Role};
use crate::core::StorageOp;
use crate::storage::header::{self, ResponseType};
use bytes::Bytes;
use log::{info, warn};
use mio::{Interest, Poll, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Requests queued while the link is down; beyond this, the oldest are dropped (deletes are best effort).
const MAX_QUEUED: usize = 1 << 20;

pub struct StorageLink {
    addr: Address,
    key: Option<usize>,
    ready: bool,
    failures: u32,
    next: Option<Instant>,
    queue: VecDeque<Bytes>,
}

impl StorageLink {
    pub fn new(addr: Address) -> Self {
        StorageLink {
            addr,
            key: None,
            ready: false,
            failures: 0,
            next: Some(Instant::now()),
            queue: VecDeque::new(),
        }
    }

    pub fn next_attempt(&self) -> Option<Instant> {
        if self.key.is_none() {
            self.next
        } else {
            None
        }
    }

    pub fn connect(
        &mut self,
        poll: &Poll,
        conns: &mut Slab<Conn>,
        identity: &Bytes,
    ) -> std::io::Result<Option<usize>> {
        self.next = None;
        let mut stream = match mio::net::TcpStream::connect(self.addr.socket_addr()) {
            Ok(s) => s,
            Err(e) => {
                self.closed(Instant::now());
                return Err(e);
            }
        };
        let _ = stream.set_nodelay(true);
        let entry = conns.vacant_entry();
        let key = entry.key();
        poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut conn = Conn::new(stream, Role::StorageClient, identity);
        if self.addr.scheme == "tls" {
            let tls = rustls::ClientConnection::new(
                super::tls::client_config(),
                super::tls::server_name(&self.addr.host),
            )
            .map_err(|e| std::io::Error::other(format!("tls: {e}")))?;
            conn = conn.with_tls(tls.into());
        }
        conn.connecting = true;
        entry.insert(conn);
        self.key = Some(key);
        Ok(Some(key))
    }

    pub fn handshake_done(&mut self, conn: &mut Conn) {
        if self.failures > 0 || !self.ready {
            info!("connected to object storage server {}", self.addr);
        }
        self.ready = true;
        self.failures = 0;
        for f in self.queue.drain(..) {
            conn.queue_frame(f);
        }
    }

    /// Sends (or queues) request frames; returns the connection to flush.
    pub fn send(&mut self, conns: &mut Slab<Conn>, frames: Vec<Bytes>) -> Option<usize> {
        match (self.ready, self.key) {
            (true, Some(k)) if conns.contains(k) => {
                for f in frames {
                    conns[k].queue_frame(f);
                }
                Some(k)
            }
            _ => {
                self.queue.extend(frames);
                while self.queue.len() > MAX_QUEUED {
                    self.queue.pop_front();
                }
                None
            }
        }
    }

    pub fn closed(&mut self, now: Instant) {
        self.key = None;
        self.ready = false;
        self.failures = self.failures.saturating_add(1);
        // Same backoff as a YMQ connector (100 ms << n), capped, and never giving up: the scheduler
        // outlives storage restarts.
        let delay =
            Duration::from_millis(100u64 << self.failures.min(6)).min(Duration::from_secs(5));
        if self.failures == 1 || self.failures.is_multiple_of(10) {
            warn!(
                "object storage server {} unreachable (attempt {}), retrying in {delay:?}",
                self.addr, self.failures
            );
        }
        self.next = Some(now + delay);
    }
}

/// Builds the scheduler's requests and reads the replies (only infoGetTotal carries data we use).
#[derive(Debug, Default)]
pub struct StorageReplies {
    next_id: u64,
    /// The header of a reply whose payload frame comes next.
    awaiting_payload: Option<header::ResponseHeader>,
}

impl StorageReplies {
    pub fn request(&mut self, op: StorageOp) -> Vec<Bytes> {
        self.next_id += 1;
        let id = self.next_id;
        match op {
            StorageOp::Delete(obj) => vec![crate::storage::delete_request(&object_id(&obj), id)],
            StorageOp::Duplicate { new, original } => {
                let (h, p) =
                    crate::storage::duplicate_request(&object_id(&new), &object_id(&original), id);
                vec![h, p]
            }
            StorageOp::Info => vec![crate::storage::info_request(id)],
            StorageOp::Set { id: obj, payload } => {
                let (h, p) = crate::storage::set_request(&object_id(&obj), payload, id);
                vec![h, p]
            }
        }
    }

    pub fn reset(&mut self) {
        self.awaiting_payload = None;
    }

    /// Feeds one frame from the storage server; returns the counters when an infoGetTotal answer completes.
    pub fn on_frame(&mut self, frame: &Bytes) -> Option<[u64; 6]> {
        if let Some(h) = self.awaiting_payload.take() {
            if h.kind == ResponseType::InfoGetTotalOk {
                return Some(header::decode_info(frame));
            }
            return None;
        }
        match header::decode_response(frame) {
            Ok(h) => {
                if h.payload_length > 0 {
                    self.awaiting_payload = Some(h);
                } else if h.kind == ResponseType::InfoGetTotalOk {
                    return Some([0; 6]);
                }
                None
            }
            Err(e) => {
                warn!("unreadable reply from object storage server: {e}");
                None
            }
        }
    }
}

/// A Scaler ObjectID is 32 bytes; anything else (a hostile or broken peer) is zero-padded/truncated.
fn object_id(b: &[u8]) -> header::ObjectId {
    let mut id = [0u8; 32];
    let n = b.len().min(32);
    id[..n].copy_from_slice(&b[..n]);
    id
}
