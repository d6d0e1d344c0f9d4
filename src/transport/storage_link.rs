//! The scheduler's connection to an external object storage server: connects, reconnects with backoff
//! after any close (a restart, or a server that sent garbage), and queues requests while it is down.
//! What the requests and replies contain is `storage::client`'s business.
use super::addr::Address;
use super::conn::{Conn, Role};
use super::token::SocketToken;
use crate::storage::client::RequestFrames;
use bytes::Bytes;
use log::{info, warn};
use mio::{Interest, Poll};
use slab::Slab;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Requests queued while the link is down; beyond this, the oldest are dropped (deletes are best effort),
/// each whole: a header dropped without its payload frame would make the server read the payload as
/// the next header.
const MAX_QUEUED: usize = 1 << 20;

pub struct StorageLink {
    addr: Address,
    key: Option<usize>,
    ready: bool,
    failures: u32,
    next: Option<Instant>,
    queue: VecDeque<RequestFrames>,
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
        let res = self.open(poll, conns, identity);
        if res.is_err() {
            // Whatever failed, try again later: the link must never stay down for good.
            self.closed(Instant::now());
        }
        res
    }

    fn open(
        &mut self,
        poll: &Poll,
        conns: &mut Slab<Conn>,
        identity: &Bytes,
    ) -> std::io::Result<Option<usize>> {
        let mut stream = mio::net::TcpStream::connect(self.addr.socket_addr())?;
        let _ = stream.set_nodelay(true);
        let mut conn_tls = None;
        if self.addr.is_secure() {
            let tls = rustls::ClientConnection::new(
                super::tls::client_config(),
                super::tls::server_name(&self.addr.host),
            )
            .map_err(|e| std::io::Error::other(format!("tls: {e}")))?;
            conn_tls = Some(tls);
        }
        let entry = conns.vacant_entry();
        let key = entry.key();
        poll.registry().register(
            &mut stream,
            SocketToken::Conn(key).token(),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut conn = Conn::new(stream, Role::StorageClient, identity);
        if let Some(tls) = conn_tls {
            conn = conn.with_tls(tls.into());
        }
        if let Some(path) = self.addr.path.as_deref() {
            let (layer, request) =
                super::ws::WsLayer::client(&self.addr.host, self.addr.port, path, u64::MAX);
            conn = conn.with_ws(layer, Some(request), identity);
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
        for r in self.queue.drain(..) {
            queue_request(conn, r);
        }
    }

    /// Sends (or queues) request frames; returns the connection to flush.
    pub fn send(&mut self, conns: &mut Slab<Conn>, frames: RequestFrames) -> Option<usize> {
        match (self.ready, self.key) {
            (true, Some(k)) if conns.contains(k) => {
                queue_request(&mut conns[k], frames);
                Some(k)
            }
            _ => {
                self.queue.push_back(frames);
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

fn queue_request(conn: &mut Conn, (header, payload): RequestFrames) {
    conn.queue_frame(header);
    if let Some(p) = payload {
        conn.queue_frame(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While the server is away the queue keeps the newest MAX_QUEUED requests, each with its payload
    /// frame: dropping a header alone would make the server read the payload as the next header.
    #[test]
    fn a_full_queue_drops_whole_requests() {
        let mut link = StorageLink::new(Address::parse("tcp://127.0.0.1:1").unwrap());
        let mut conns = Slab::new();
        let set = |i: u32| (Bytes::from(i.to_le_bytes().to_vec()), Some(Bytes::new()));
        for i in 0..MAX_QUEUED as u32 + 3 {
            let frames = if i % 2 == 0 {
                set(i)
            } else {
                (Bytes::from(i.to_le_bytes().to_vec()), None)
            };
            assert_eq!(link.send(&mut conns, frames), None, "not connected");
        }
        assert_eq!(link.queue.len(), MAX_QUEUED);
        let front = link.queue.front().unwrap();
        assert_eq!(
            (&front.0[..], &front.1),
            (&3u32.to_le_bytes()[..], &None),
            "the 3 oldest went"
        );
        assert!(link
            .queue
            .iter()
            .all(|(h, p)| p.is_some() == (h[0] % 2 == 0)));
    }
}
