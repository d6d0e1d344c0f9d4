//! The mio readiness loop: every socket in one slab, frames in, core and storage called, frames out.
//!
//! This is the only place that owns sockets or reads the clock. It implements the YMQ binder semantics
//! the peers rely on (SCHEDULER_SPEC.md §1.3): route by identity, a new handshake with a live identity
//! replaces the old connection, sends to an identity that is reconnecting are parked and flushed on its
//! handshake, sends to an identity that left cleanly within the last 60 s are dropped.
use super::addr::Address;
use super::conn::{Conn, ConnError, Received, Role};
use super::http::HttpConn;
use super::procstat::ProcSampler;
use super::storage_link::{StorageLink, StorageReplies};
use crate::core::{Output, Scheduler, StorageOp};
use crate::hash::IdMap;
use crate::metrics::{CloseReason, TransportStats};
use crate::storage::ObjectStorage;
use crate::wire::frame::FrameError;
use bytes::Bytes;
use log::{debug, error, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM; the loop exits cleanly at its next turn.
pub static STOP: AtomicBool = AtomicBool::new(false);

const LISTENER_BASE: usize = usize::MAX - 8;
/// Tokens of metrics (HTTP) connections start here; YMQ connections use their slab key.
const HTTP_BASE: usize = 1 << 40;
const GONE_TTL: Duration = Duration::from_secs(60);

/// Resource limits; every one is a command-line flag (see `--help`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest payload accepted from a scheduler peer.
    pub max_frame: u64,
    /// Largest payload accepted by the embedded object storage server.
    pub max_storage_frame: u64,
    /// A peer whose unsent output exceeds this is not reading: it is closed (monitors excepted).
    pub max_queued_bytes: usize,
    /// A monitor whose unsent output exceeds this skips monitor frames until it catches up (the high-water
    /// mark of a publisher): monitors are never closed for being slow.
    pub monitor_queue_bytes: usize,
    /// Frames parked for one identity that is not connected.
    pub max_parked_bytes: usize,
    /// Frames parked for all identities together (a client can name any `source` in its tasks).
    pub max_parked_total_bytes: usize,
    pub max_connections: usize,
    /// Frames decoded from one connection per loop turn before others get a go.
    pub read_budget: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 1 << 30,
            max_storage_frame: 4 << 30,
            max_queued_bytes: 1 << 30,
            monitor_queue_bytes: 16 << 20,
            max_parked_bytes: 64 << 20,
            max_parked_total_bytes: 256 << 20,
            max_connections: 16384,
            read_budget: 256,
        }
    }
}

pub enum StorageMode {
    /// Serve the object storage protocol ourselves on this address.
    Embedded(Address),
    /// Connect to an external object storage server.
    External(Address),
}

pub struct Server {
    poll: Poll,
    /// (listener, role, whether its connections run TLS).
    listeners: Vec<(TcpListener, Role, bool)>,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    conns: Slab<Conn>,
    main_ids: IdMap<Bytes, usize>,
    /// Keys of the monitor connections past their handshake, which every monitor frame goes to.
    monitor_keys: Vec<usize>,
    storage_ids: IdMap<Bytes, usize>,
    parked: IdMap<Bytes, (VecDeque<Bytes>, usize, Instant)>,
    parked_total: usize,
    gone: IdMap<Bytes, Instant>,
    core: Scheduler,
    storage: Option<ObjectStorage>,
    link: Option<StorageLink>,
    replies: StorageReplies,
    identity: Bytes,
    limits: Limits,
    out: Vec<Output>,
    dirty: Vec<usize>,
    reread: Vec<usize>,
    shutdown: bool,
    sampler: ProcSampler,
    next_housekeeping: Instant,
    /// Reused between reads so that decoding frames allocates nothing per read.
    received: Received,
    http: Slab<HttpConn>,
    stats: TransportStats,
}

impl Server {
    /// Binds the main and monitor addresses (and the embedded storage one), or fails.
    pub fn bind(
        bind: &Address,
        monitor: &Address,
        storage: StorageMode,
        core: Scheduler,
        identity: Bytes,
        limits: Limits,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut server = Server {
            poll,
            listeners: Vec::new(),
            tls,
            conns: Slab::new(),
            main_ids: IdMap::default(),
            monitor_keys: Vec::new(),
            storage_ids: IdMap::default(),
            parked: IdMap::default(),
            parked_total: 0,
            gone: IdMap::default(),
            core,
            storage: None,
            link: None,
            replies: StorageReplies::default(),
            identity,
            limits,
            out: Vec::new(),
            dirty: Vec::new(),
            reread: Vec::new(),
            shutdown: false,
            sampler: ProcSampler::default(),
            next_housekeeping: Instant::now(),
            received: Received::default(),
            http: Slab::new(),
            stats: TransportStats::default(),
        };
        server.listen(bind, Role::Main)?;
        match storage {
            StorageMode::Embedded(addr) => {
                server.listen(&addr, Role::Storage)?;
                server.storage = Some(ObjectStorage::default());
            }
            StorageMode::External(addr) => server.link = Some(StorageLink::new(addr)),
        }
        server.listen(monitor, Role::Monitor)?;
        Ok(server)
    }

    /// Serves Prometheus/OpenMetrics text on `addr` (plain HTTP, any path).
    pub fn listen_metrics(&mut self, addr: &Address) -> io::Result<()> {
        self.listen(addr, Role::Metrics)
    }

    fn listen(&mut self, addr: &Address, role: Role) -> io::Result<()> {
        let secure = addr.scheme == "tls";
        if secure && self.tls.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} needs --tls-cert and --tls-key"),
            ));
        }
        let sa = addr.socket_addr();
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(sa),
            socket2::Type::STREAM,
            None,
        )?;
        sock.set_reuse_address(true)?;
        sock.set_nonblocking(true)?;
        sock.bind(&sa.into())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
        sock.listen(1024)?;
        let mut l = TcpListener::from_std(sock.into());
        let token = Token(LISTENER_BASE + self.listeners.len());
        self.poll
            .registry()
            .register(&mut l, token, Interest::READABLE)?;
        info!("listening on {addr} ({role:?})");
        self.listeners.push((l, role, secure));
        Ok(())
    }

    pub fn local_port(&self, role: Role) -> Option<u16> {
        self.listeners
            .iter()
            .find(|(_, r, _)| *r == role)
            .and_then(|(l, _, _)| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// Runs until SIGINT/SIGTERM or an accepted client shutdown request.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.shutdown && !STOP.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut wake = self.core.next_deadline().min(self.next_housekeeping);
            if let Some(t) = self.link.as_ref().and_then(|l| l.next_attempt()) {
                wake = wake.min(t);
            }
            let timeout = if self.reread.is_empty() {
                wake.saturating_duration_since(now)
                    .min(Duration::from_millis(250))
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let turn = Instant::now();
            for ev in events.iter() {
                let t = ev.token().0;
                if t >= LISTENER_BASE {
                    self.accept(t - LISTENER_BASE);
                    continue;
                }
                if t >= HTTP_BASE {
                    self.serve_http(t - HTTP_BASE);
                    continue;
                }
                if !self.conns.contains(t) {
                    continue;
                }
                if ev.is_writable() {
                    if self.conns[t].connecting {
                        self.conns[t].connecting = false;
                    }
                    self.dirty.push(t);
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.read(t);
                }
            }
            for key in std::mem::take(&mut self.reread) {
                if self.conns.contains(key) {
                    self.read(key);
                }
            }
            self.timers();
            self.flush();
            if !events.is_empty() {
                self.stats.loop_took(turn.elapsed().as_micros() as u64);
            }
        }
        self.drain_before_exit();
        Ok(())
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + Duration::from_secs(1);
            let (cpu, rss, free) = self.sampler.sample(now);
            self.core.set_process_stats(cpu, rss, free);
            self.gone
                .retain(|_, t| now.saturating_duration_since(*t) < GONE_TTL);
            let total = &mut self.parked_total;
            self.parked.retain(|id, (_, bytes, t)| {
                let keep = now.saturating_duration_since(*t) < GONE_TTL;
                if !keep {
                    *total -= *bytes;
                    warn!(
                        "dropping messages parked for {} which never connected",
                        String::from_utf8_lossy(id)
                    );
                }
                keep
            });
        }
        if now >= self.core.next_deadline() {
            let mut out = std::mem::take(&mut self.out);
            self.core.tick(now, &mut out);
            self.route(now, &mut out);
            self.out = out;
        }
        if let Some(link) = self.link.as_mut() {
            if link.next_attempt().is_some_and(|t| now >= t) {
                match link.connect(&self.poll, &mut self.conns, &self.identity) {
                    Ok(Some(key)) => debug!("connecting to object storage server (conn {key})"),
                    Ok(None) => {}
                    Err(e) => warn!("object storage server connect failed: {e}"),
                }
            }
        }
    }

    fn accept(&mut self, index: usize) {
        loop {
            let (listener, role, secure) = &self.listeners[index];
            let (role, secure) = (*role, *secure);
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    if role == Role::Metrics {
                        let entry = self.http.vacant_entry();
                        if self
                            .poll
                            .registry()
                            .register(
                                &mut stream,
                                Token(HTTP_BASE + entry.key()),
                                Interest::READABLE | Interest::WRITABLE,
                            )
                            .is_ok()
                        {
                            entry.insert(HttpConn::new(stream));
                        }
                        continue;
                    }
                    if self.conns.len() >= self.limits.max_connections {
                        warn!(
                            "refusing connection from {peer}: {} connections open (limit)",
                            self.conns.len()
                        );
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(
                        &socket2::TcpKeepalive::new().with_time(Duration::from_secs(30)),
                    );
                    let entry = self.conns.vacant_entry();
                    let key = entry.key();
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        Token(key),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        error!("register: {e}");
                        continue;
                    }
                    let conn = Conn::new(stream, role, &self.identity);
                    let conn = match (secure, &self.tls) {
                        (true, Some(cfg)) => match rustls::ServerConnection::new(cfg.clone()) {
                            Ok(t) => conn.with_tls(t.into()),
                            Err(e) => {
                                error!("tls session for {peer}: {e}");
                                continue;
                            }
                        },
                        _ => conn,
                    };
                    entry.insert(conn);
                    self.stats.connections_accepted += 1;
                    self.dirty.push(key);
                    debug!("accepted {peer} as conn {key} ({role:?})");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: keep serving the connections we have.
                    error!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn read(&mut self, key: usize) {
        let max = match self.conns[key].role {
            Role::Storage => self.limits.max_storage_frame,
            Role::StorageClient => u64::MAX,
            Role::Main | Role::Monitor | Role::Metrics => self.limits.max_frame,
        };
        let mut got = std::mem::take(&mut self.received);
        let res = self.conns[key].read(max, self.limits.read_budget, &mut got);
        let now = Instant::now();
        if let Some(id) = got.identity.take() {
            self.handshake(now, key, id);
        }
        let mut out = std::mem::take(&mut self.out);
        for frame in got.frames.drain(..) {
            if !self.conns.contains(key) {
                continue;
            }
            self.on_frame(now, key, frame, &mut out);
        }
        self.received = got;
        self.route(now, &mut out);
        self.out = out;
        self.stats.processing_took(now.elapsed().as_micros() as u64);
        if self.conns.get(key).is_some_and(|c| c.wants_write()) {
            self.dirty.push(key);
        }
        match res {
            Ok(true) => self.reread.push(key),
            Ok(false) => {}
            Err(e) => self.close(key, e),
        }
    }

    fn handshake(&mut self, now: Instant, key: usize, id: Bytes) {
        let role = self.conns[key].role;
        debug!("conn {key} is {} ({role:?})", String::from_utf8_lossy(&id));
        match role {
            Role::Main | Role::Storage => {
                let map = if role == Role::Main {
                    &mut self.main_ids
                } else {
                    &mut self.storage_ids
                };
                if let Some(old) = map.insert(id.clone(), key) {
                    if old != key && self.conns.contains(old) {
                        info!(
                            "{} reconnected: replacing its previous connection",
                            String::from_utf8_lossy(&id)
                        );
                        self.stats.closed(CloseReason::Replaced);
                        self.conns[old].identity = None;
                        self.close_quietly(old);
                    }
                }
                if role == Role::Main {
                    self.gone.remove(&id);
                    if let Some((frames, bytes, _)) = self.parked.remove(&id) {
                        self.parked_total -= bytes;
                        for f in frames {
                            self.conns[key].queue_frame(f);
                        }
                        self.dirty.push(key);
                    }
                    self.core.peer_reconnected(now, &id);
                }
            }
            Role::Monitor => {
                self.monitor_keys.push(key);
                self.core.monitors = self.monitor_keys.len();
            }
            Role::StorageClient => {
                if let Some(link) = self.link.as_mut() {
                    link.handshake_done(&mut self.conns[key]);
                    self.dirty.push(key);
                }
            }
            Role::Metrics => unreachable!("metrics connections are HTTP, not YMQ"),
        }
    }

    fn on_frame(&mut self, now: Instant, key: usize, frame: Bytes, out: &mut Vec<Output>) {
        let conn = &self.conns[key];
        let Some(id) = conn.identity.clone() else {
            return;
        };
        match conn.role {
            Role::Main => match crate::wire::decode(&frame) {
                Ok(msg) => self.core.handle(now, &id, msg, &frame, out),
                Err(e) => out.push(Output::Close {
                    peer: id,
                    reason: e.to_string(),
                }),
            },
            // Subscribers have nothing to say; anything they send is discarded unread.
            Role::Monitor | Role::Metrics => {}
            Role::Storage => {
                let storage = self
                    .storage
                    .as_mut()
                    .expect("storage role implies embedded storage");
                let mut replies = Vec::new();
                if let Err(e) = storage.on_frame(now, &id, frame, &mut replies) {
                    warn!(
                        "closing object storage peer {}: {e}",
                        String::from_utf8_lossy(&id)
                    );
                    self.stats.closed(CloseReason::InvalidMessage);
                    self.close_quietly(key);
                }
                self.storage_replies(replies);
            }
            Role::StorageClient => {
                if let Some(info) = self.replies.on_frame(&frame) {
                    self.core.on_storage_info(info);
                }
            }
        }
    }

    fn storage_replies(&mut self, replies: Vec<(Bytes, Bytes)>) {
        for (peer, frame) in replies {
            if peer == self.identity {
                if let Some(info) = self.replies.on_frame(&frame) {
                    self.core.on_storage_info(info);
                }
            } else if let Some(&k) = self.storage_ids.get(&peer) {
                self.conns[k].queue_frame(frame);
                self.dirty.push(k);
            }
        }
    }

    fn route(&mut self, now: Instant, out: &mut Vec<Output>) {
        for o in out.drain(..) {
            match o {
                Output::Send { to, frame } => self.send_main(now, to, frame),
                Output::Monitor(frame) => {
                    // Monitors are publish-only peers: one that does not keep up misses frames (as a ZMQ
                    // PUB socket drops at its high-water mark) rather than growing our memory or being
                    // closed. Its queue stays within the limit plus one frame.
                    for &k in &self.monitor_keys {
                        let c = &mut self.conns[k];
                        if c.queued_bytes() > self.limits.monitor_queue_bytes {
                            self.stats.monitor_frames_dropped += 1;
                            continue;
                        }
                        c.queue_frame(frame.clone());
                        self.dirty.push(k);
                    }
                }
                Output::Storage(op) => self.storage_op(now, op),
                Output::Close { peer, reason } => {
                    if let Some(&k) = self.main_ids.get(&peer) {
                        warn!("closing {}: {reason}", String::from_utf8_lossy(&peer));
                        self.stats.closed(CloseReason::InvalidMessage);
                        self.close_quietly(k);
                    }
                }
                Output::Shutdown => self.shutdown = true,
            }
        }
    }

    fn send_main(&mut self, now: Instant, to: Bytes, frame: Bytes) {
        if let Some(&k) = self.main_ids.get(&to) {
            self.conns[k].queue_frame(frame);
            self.dirty.push(k);
            return;
        }
        if self.gone.contains_key(&to) {
            debug!(
                "dropping message for {}, which disconnected",
                String::from_utf8_lossy(&to)
            );
            return;
        }
        let entry = self
            .parked
            .entry(to)
            .or_insert_with(|| (VecDeque::new(), 0, now));
        if entry.1 + frame.len() > self.limits.max_parked_bytes
            || self.parked_total + frame.len() > self.limits.max_parked_total_bytes
        {
            return;
        }
        entry.1 += frame.len();
        self.parked_total += frame.len();
        entry.0.push_back(frame);
    }

    fn storage_op(&mut self, now: Instant, op: StorageOp) {
        let frames = self.replies.request(op);
        if let Some(storage) = self.storage.as_mut() {
            let mut replies = Vec::new();
            for f in frames {
                // Our own requests are well-formed; an error here would be a bug in the request builders.
                if let Err(e) = storage.on_frame(now, &self.identity, f, &mut replies) {
                    error!("embedded object storage refused the scheduler's own request: {e}");
                }
            }
            self.storage_replies(replies);
        } else if let Some(link) = self.link.as_mut() {
            if let Some(k) = link.send(&mut self.conns, frames) {
                self.dirty.push(k);
            }
        }
    }

    fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for key in dirty.drain(..) {
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            if c.connecting {
                continue;
            }
            match c.flush() {
                Ok(_) => {
                    if c.role != Role::Monitor && c.queued_bytes() > self.limits.max_queued_bytes {
                        let n = c.queued_bytes();
                        self.close(key, ConnError::SendQueueFull(n));
                    }
                }
                Err(e) => self.close(key, e),
            }
        }
        self.dirty = dirty;
    }

    fn close_quietly(&mut self, key: usize) {
        self.close_inner(key, None);
    }

    fn close(&mut self, key: usize, err: ConnError) {
        self.close_inner(key, Some(err));
    }

    fn close_inner(&mut self, key: usize, err: Option<ConnError>) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut c.stream);
        let now = Instant::now();
        if let Some(e) = &err {
            self.stats.closed(match e {
                ConnError::Frame(FrameError::BadMagic(_)) => CloseReason::BadMagic,
                ConnError::Frame(FrameError::TooLarge { .. }) => CloseReason::TooLarge,
                ConnError::Eof => CloseReason::PeerClosed,
                ConnError::SendQueueFull(_) => CloseReason::NotReading,
                ConnError::Io(_) => CloseReason::IoError,
            });
        }
        let who = c
            .identity
            .as_ref()
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .unwrap_or_else(|| format!("conn {key}"));
        match &err {
            Some(ConnError::Eof) => debug!("{who} ({:?}) closed the connection", c.role),
            Some(e) => warn!("closing {who} ({:?}): {e}", c.role),
            None => {}
        }
        match c.role {
            Role::Main | Role::Storage => {
                let Some(id) = c.identity.take() else { return };
                let map = if c.role == Role::Main {
                    &mut self.main_ids
                } else {
                    &mut self.storage_ids
                };
                if map.get(&id) == Some(&key) {
                    map.remove(&id);
                    if c.role == Role::Main {
                        if matches!(err, Some(ConnError::Eof)) {
                            self.gone.insert(id.clone(), now);
                        }
                        self.core.peer_closed(now, &id);
                    } else if let Some(s) = self.storage.as_mut() {
                        s.on_disconnect(&id);
                    }
                }
            }
            Role::Monitor => {
                if c.is_ready() {
                    self.monitor_keys.retain(|k| *k != key);
                    self.core.monitors = self.monitor_keys.len();
                }
            }
            Role::StorageClient => {
                if let Some(link) = self.link.as_mut() {
                    link.closed(now);
                }
                self.replies.reset();
            }
            Role::Metrics => {}
        }
    }

    fn serve_http(&mut self, key: usize) {
        let Some(h) = self.http.get_mut(key) else {
            return;
        };
        self.stats.open_connections = self.conns.len() as u64;
        let (core, stats) = (&self.core, &self.stats);
        let done = h.progress(|| crate::metrics::render(core, stats));
        if done {
            let mut h = self.http.remove(key);
            let _ = self.poll.registry().deregister(&mut h.stream);
        }
    }

    /// Best effort: give queued frames (shutdown responses, worker shutdowns) up to a second to leave.
    fn drain_before_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut events = Events::with_capacity(256);
        loop {
            self.dirty = self
                .conns
                .iter()
                .filter(|(_, c)| c.has_pending_writes())
                .map(|(k, _)| k)
                .collect();
            if self.dirty.is_empty() || Instant::now() >= deadline {
                break;
            }
            self.flush();
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(20)));
        }
        info!("scheduler stopped");
    }
}
