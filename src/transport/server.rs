//! The mio readiness loop: every socket in one slab, frames in, core and storage called, frames out.
//!
//! This is the only place that owns sockets or reads the clock. What to do with a frame for an
//! identity is the binder's decision (`binder`; docs/design.md, "The binder's rules"); this file
//! carries it out.
use super::addr::Address;
use super::binder::{Binder, Delivery, Namespace};
use super::conn::{Conn, ConnError, Flushed, Received, Role};
use super::http::HttpConns;
use super::limits::Limits;
use super::listeners::Listeners;
use super::monitors::Monitors;
use super::object_storage::{ObjectStorageSide, Route};
use super::procstat::ProcSampler;
use super::shutdown;
use super::storage_link::StorageLink;
use super::token::SocketToken;
use crate::core::{Output, Scheduler};
use crate::metrics::{CloseReason, TransportStats};
use crate::storage::ObjectStorage;
use crate::wire::frame::FrameError;
use crate::wire::Decoded;
use bytes::Bytes;
use log::{debug, info, warn};
use mio::{Events, Poll};
use slab::Slab;
use std::io;
use std::time::{Duration, Instant};

pub enum StorageMode {
    /// Serve the object storage protocol ourselves on this address.
    Embedded(Address),
    /// Connect to an external object storage server.
    External(Address),
}

pub struct Server {
    pub(super) poll: Poll,
    pub(super) listeners: Listeners,
    pub(super) tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    pub(super) conns: Slab<Conn>,
    binder: Binder,
    monitors: Monitors,
    core: Scheduler,
    storage: ObjectStorageSide,
    pub(super) identity: Bytes,
    pub(super) limits: Limits,
    out: Vec<Output>,
    pub(super) dirty: Vec<usize>,
    reread: Vec<usize>,
    shutdown: bool,
    sampler: ProcSampler,
    next_housekeeping: Instant,
    /// `None` where no timerfd could be had: the loop then waits with a timeout.
    timer: Option<super::wake_timer::WakeTimer>,
    /// Reused between reads so that decoding frames allocates nothing per read.
    received: Received,
    pub(super) http: HttpConns,
    pub(super) stats: TransportStats,
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
        let timer = super::wake_timer::WakeTimer::new(&poll, SocketToken::Timer.token()).ok();
        super::conn::set_large_frame_reserve(limits.large_frame_reserve);
        let (storage_addr, storage) = match storage {
            StorageMode::Embedded(addr) => (
                Some(addr),
                ObjectStorageSide::embedded(ObjectStorage::default()),
            ),
            StorageMode::External(addr) => {
                (None, ObjectStorageSide::external(StorageLink::new(addr)))
            }
        };
        let mut server = Server {
            poll,
            listeners: Listeners::default(),
            tls,
            conns: Slab::new(),
            binder: Binder::new(limits.binder()),
            monitors: Monitors::default(),
            core,
            storage,
            identity,
            limits,
            out: Vec::new(),
            dirty: Vec::new(),
            reread: Vec::new(),
            shutdown: false,
            sampler: ProcSampler::default(),
            next_housekeeping: Instant::now(),
            timer,
            received: Received::default(),
            http: HttpConns::default(),
            stats: TransportStats::default(),
        };
        server.listen(bind, Role::Main)?;
        if let Some(addr) = storage_addr {
            server.listen(&addr, Role::Storage)?;
        }
        server.listen(monitor, Role::Monitor)?;
        Ok(server)
    }

    /// Serves Prometheus/OpenMetrics text on `addr` (plain HTTP, any path).
    pub fn listen_metrics(&mut self, addr: &Address) -> io::Result<()> {
        self.listen(addr, Role::Metrics)
    }

    fn listen(&mut self, addr: &Address, role: Role) -> io::Result<()> {
        self.listeners
            .listen(&self.poll, addr, role, self.tls.is_some())
    }

    pub fn local_port(&self, role: Role) -> Option<u16> {
        self.listeners.local_port(role)
    }

    /// Runs until SIGINT/SIGTERM or an accepted client shutdown request.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        // One clock reading per socket read and two per turn: each is a vDSO call, and a real peer's
        // message costs a turn of its own, so reading the clock at every step was ~7% of the
        // instructions a task costs with real peers. `now` is the last reading, at most one read's
        // processing old.
        let mut now = Instant::now();
        while !self.shutdown && !shutdown::requested() {
            let mut wake = self.core.next_deadline().min(self.next_housekeeping);
            if let Some(t) = self.storage.link().and_then(|l| l.next_attempt()) {
                wake = wake.min(t);
            }
            let timeout = if !self.reread.is_empty() || !self.dirty.is_empty() {
                Some(Duration::ZERO)
            } else if self.timer.as_mut().is_some_and(|t| t.arm(wake).is_ok()) {
                None
            } else {
                Some(
                    wake.saturating_duration_since(now)
                        .min(Duration::from_millis(250)),
                )
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let turn = Instant::now();
            now = turn;
            // Connections left unread by the last turn's budgets; those that reach it again in this
            // turn wait for the next, so that one bulk sender gets one bounded read per turn.
            let again = std::mem::take(&mut self.reread);
            for ev in events.iter() {
                match SocketToken::from_token(ev.token()) {
                    Some(SocketToken::Listener(i)) => self.accept(i),
                    Some(SocketToken::Http(k)) => self.serve_http(k),
                    Some(SocketToken::Conn(k)) if self.conns.contains(k) => {
                        if ev.is_writable() {
                            self.conns[k].connecting = false;
                            self.dirty.push(k);
                        }
                        if ev.is_read_closed() || ev.is_error() {
                            self.conns[k].peer_closing = true;
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            now = self.read(k, now);
                        }
                    }
                    // A connection closed earlier in this turn.
                    Some(SocketToken::Conn(_)) => {}
                    Some(SocketToken::Timer) => {
                        if let Some(t) = self.timer.as_mut() {
                            t.fired();
                        }
                    }
                    None => debug_assert!(false, "unknown token {:?}", ev.token()),
                }
            }
            for key in again {
                if self.conns.contains(key) && !self.reread.contains(&key) {
                    now = self.read(key, now);
                }
            }
            self.timers(now);
            self.flush();
            self.check();
            if !events.is_empty() {
                now = Instant::now();
                self.stats.loop_took((now - turn).as_micros() as u64);
            }
        }
        shutdown::drain_before_exit(self);
        Ok(())
    }

    /// Accounting invariants between the loop's tables (debug builds only).
    fn check(&self) {
        if cfg!(debug_assertions) {
            let count = |role| self.conns.iter().filter(|(_, c)| c.role == role).count();
            debug_assert!(self.binder.bound(Namespace::Main) <= count(Role::Main));
            debug_assert!(self.binder.bound(Namespace::Storage) <= count(Role::Storage));
            debug_assert!(self.monitors.len() <= count(Role::Monitor));
            debug_assert_eq!(self.core.monitors, self.monitors.len());
            debug_assert!(
                count(Role::StorageClient) <= 1,
                "more than one storage link"
            );
            debug_assert!(self.binder.parked_bytes() <= self.limits.max_parked_total_bytes);
        }
    }

    fn timers(&mut self, now: Instant) {
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + Duration::from_secs(1);
            // Only monitors read these figures, and sampling costs ~20 system calls (3 /proc files)
            // a second: with real peers that was 0.2 of the ~8.3 calls per task. The first sample
            // after a monitor connects reports 0 CPU, as psutil's first `cpu_percent` does in 2.9.0.
            if !self.monitors.is_empty() {
                let (cpu, rss, free) = self.sampler.sample(now);
                self.core.set_process_stats(cpu, rss, free);
            } else {
                self.sampler.reset();
            }
            for id in self.binder.expire(now) {
                warn!(
                    "dropping messages parked for {} which never connected",
                    String::from_utf8_lossy(&id)
                );
            }
        }
        if now >= self.core.next_deadline() {
            let mut out = std::mem::take(&mut self.out);
            self.core.tick(now, &mut out);
            self.route(now, &mut out);
            self.out = out;
        }
        if let Some(link) = self.storage.link_mut() {
            if link.next_attempt().is_some_and(|t| now >= t) {
                match link.connect(&self.poll, &mut self.conns, &self.identity) {
                    Ok(Some(key)) => debug!("connecting to object storage server (conn {key})"),
                    Ok(None) => {}
                    Err(e) => warn!("object storage server connect failed: {e}"),
                }
            }
        }
    }

    /// Reads and handles what `key` sent; `now` is a clock reading from just before. Returns the
    /// clock at the end, which the caller passes on as the next `now`.
    fn read(&mut self, key: usize, now: Instant) -> Instant {
        let max = self.limits.frame_limit(self.conns[key].role);
        let mut got = std::mem::take(&mut self.received);
        let res = self.conns[key].read(max, self.limits.read_budget, &mut got);
        if let Some(id) = got.identity.take() {
            self.handshake(key, id, now);
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
        let end = Instant::now();
        self.stats.processing_took((end - now).as_micros() as u64);
        if self.conns.get(key).is_some_and(|c| c.wants_write()) {
            self.dirty.push(key);
        }
        match res {
            Ok(true) => self.reread.push(key),
            Ok(false) => {}
            Err(e) => self.close(key, e),
        }
        end
    }

    fn handshake(&mut self, key: usize, id: Bytes, now: Instant) {
        let role = self.conns[key].role;
        debug!("conn {key} is {} ({role:?})", String::from_utf8_lossy(&id));
        let ns = match role {
            Role::Main => Namespace::Main,
            Role::Storage => Namespace::Storage,
            Role::Monitor => {
                self.monitors.subscribe(key);
                self.core.monitors = self.monitors.len();
                return;
            }
            Role::StorageClient => {
                if let Some(link) = self.storage.link_mut() {
                    link.handshake_done(&mut self.conns[key]);
                    self.dirty.push(key);
                }
                return;
            }
            Role::Metrics => {
                debug_assert!(false, "metrics connections are HTTP, not YMQ");
                return;
            }
        };
        let bound = self.binder.bind(ns, id.clone(), key);
        if let Some(old) = bound.replaced {
            if self.conns.contains(old) {
                info!(
                    "{} reconnected: replacing its previous connection",
                    String::from_utf8_lossy(&id)
                );
                self.stats.closed(CloseReason::Replaced);
                // Its identity now belongs to `key`: closing it must not unbind the new connection.
                self.conns[old].identity = None;
                self.close_quietly(old);
            }
        }
        if ns == Namespace::Main {
            if !bound.parked.is_empty() {
                for f in bound.parked {
                    self.conns[key].queue_frame(f);
                }
                self.dirty.push(key);
            }
            self.core.peer_reconnected(now, &id);
        }
    }

    fn on_frame(&mut self, now: Instant, key: usize, frame: Bytes, out: &mut Vec<Output>) {
        let conn = &self.conns[key];
        // Borrowed for the main socket's frames (the core reads `self.conns` not at all): no
        // reference-count round trip per message.
        let Some(id) = conn.identity.as_ref() else {
            return;
        };
        match conn.role {
            Role::Main => match crate::wire::decode_in_place(&frame) {
                Ok(Decoded::Hot(msg)) => self.core.handle_hot(now, id, msg, &frame, out),
                Ok(Decoded::Owned(msg)) => self.core.handle(now, id, msg, &frame, out),
                Err(e) => out.push(Output::Close {
                    peer: id.clone(),
                    reason: e.to_string(),
                }),
            },
            // Subscribers have nothing to say; anything they send is discarded unread.
            Role::Monitor | Role::Metrics => {}
            Role::Storage => {
                let id = id.clone();
                let route = Route {
                    own_identity: &self.identity,
                    conns: &mut self.conns,
                    binder: &self.binder,
                    dirty: &mut self.dirty,
                    core: &mut self.core,
                };
                if let Err(e) = self.storage.on_peer_frame(now, (key, &id), frame, route) {
                    warn!(
                        "closing object storage peer {}: {e}",
                        String::from_utf8_lossy(&id)
                    );
                    self.stats.closed(CloseReason::InvalidMessage);
                    self.close_quietly(key);
                }
            }
            Role::StorageClient => match self.storage.on_link_frame(&frame) {
                Ok(Some(info)) => self.core.on_storage_info(info),
                Ok(None) => {}
                Err(e) => {
                    // Nothing after a frame that is not a reply can be trusted to be in step: drop the
                    // link and reconnect with backoff, as after a restart of the server.
                    warn!("closing the object storage link: unreadable reply: {e}");
                    self.stats.closed(CloseReason::InvalidMessage);
                    self.close_quietly(key);
                }
            },
        }
    }

    fn route(&mut self, now: Instant, out: &mut Vec<Output>) {
        for o in out.drain(..) {
            match o {
                Output::Send { to, frame } => match self.binder.send(now, &to, frame) {
                    Delivery::Now(k, frame) => {
                        self.conns[k].queue_frame(frame);
                        self.dirty.push(k);
                    }
                    Delivery::DroppedGone => debug!(
                        "dropping message for {}, which disconnected",
                        String::from_utf8_lossy(&to)
                    ),
                    Delivery::Parked | Delivery::DroppedFull => {}
                },
                Output::Monitor(frame) => {
                    self.stats.monitor_frames_dropped += self.monitors.publish(
                        &frame,
                        &mut self.conns,
                        self.limits.monitor_queue_bytes,
                        &mut self.dirty,
                    );
                }
                Output::Storage(op) => {
                    let route = Route {
                        own_identity: &self.identity,
                        conns: &mut self.conns,
                        binder: &self.binder,
                        dirty: &mut self.dirty,
                        core: &mut self.core,
                    };
                    self.storage.request(now, op, route);
                }
                Output::Close { peer, reason } => {
                    if let Some(k) = self.binder.lookup(Namespace::Main, &peer) {
                        warn!("closing {}: {reason}", String::from_utf8_lossy(&peer));
                        self.stats.closed(CloseReason::InvalidMessage);
                        self.close_quietly(k);
                    }
                }
                Output::Shutdown => self.shutdown = true,
            }
        }
    }

    /// Writes what the dirty connections have queued. Those that spent their turn's write budget stay
    /// dirty for the next turn, which then polls without waiting.
    pub(super) fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let mut unfinished = 0;
        for i in 0..dirty.len() {
            let key = dirty[i];
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            if c.connecting {
                continue;
            }
            match c.flush() {
                Ok(_)
                    if c.role != Role::Monitor
                        && c.queued_bytes() > self.limits.max_queued_bytes =>
                {
                    let n = c.queued_bytes();
                    self.close(key, ConnError::SendQueueFull(n));
                }
                Ok(Flushed::Budget) => {
                    dirty[unfinished] = key;
                    unfinished += 1;
                }
                Ok(Flushed::All | Flushed::Blocked) => {}
                Err(e) => self.close(key, e),
            }
        }
        dirty.truncate(unfinished);
        dirty.append(&mut self.dirty);
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
                ConnError::WebSocket(_) => CloseReason::WebSocket,
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
        let clean = matches!(err, Some(ConnError::Eof));
        match c.role {
            Role::Main => {
                let Some(id) = c.identity.take() else { return };
                if self.binder.unbind(now, Namespace::Main, &id, key, clean) {
                    self.core.peer_closed(now, &id);
                }
            }
            Role::Storage => {
                let Some(id) = c.identity.take() else { return };
                if self.binder.unbind(now, Namespace::Storage, &id, key, clean) {
                    self.storage.peer_left(&id);
                }
            }
            Role::Monitor => {
                if c.is_ready() {
                    self.monitors.unsubscribe(key);
                    self.core.monitors = self.monitors.len();
                }
            }
            Role::StorageClient => self.storage.link_closed(now),
            Role::Metrics => {}
        }
    }

    fn serve_http(&mut self, key: usize) {
        self.stats.open_connections = self.conns.len() as u64;
        let (core, stats) = (&self.core, &self.stats);
        self.http
            .serve(&self.poll, key, || crate::metrics::render(core, stats));
    }
}
