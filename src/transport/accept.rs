//! Taking connections in: accepting on a listener, and admitting (or refusing at the connection limit)
//! each YMQ connection into the loop's slab with its TLS and WebSocket layers.
use super::conn::{Conn, Role};
use super::server::Server;
use super::token::SocketToken;
use log::{debug, error, warn};
use mio::Interest;
use std::io;
use std::time::Duration;

impl Server {
    pub(super) fn accept(&mut self, index: usize) {
        let Some(listener) = self.listeners.get(index) else {
            debug_assert!(false, "no listener {index}");
            return;
        };
        let (role, secure, websocket) = (listener.role, listener.secure, listener.websocket);
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            match listener.accept() {
                Ok((stream, _)) if role == Role::Metrics => self.http.accept(&self.poll, stream),
                Ok((stream, peer)) => self.admit(stream, peer, role, secure, websocket),
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

    /// Takes an accepted YMQ connection into the slab, or refuses it at the connection limit.
    fn admit(
        &mut self,
        mut stream: mio::net::TcpStream,
        peer: std::net::SocketAddr,
        role: Role,
        secure: bool,
        websocket: bool,
    ) {
        if self.conns.len() >= self.limits.max_connections {
            warn!(
                "refusing connection from {peer}: {} connections open (limit)",
                self.conns.len()
            );
            return;
        }
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(30)));
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            SocketToken::Conn(key).token(),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            error!("register: {e}");
            return;
        }
        let conn = Conn::new(stream, role, &self.identity);
        let conn = match (secure, &self.tls) {
            (true, Some(cfg)) => match rustls::ServerConnection::new(cfg.clone()) {
                Ok(t) => conn.with_tls(t.into()),
                Err(e) => {
                    error!("tls session for {peer}: {e}");
                    return;
                }
            },
            _ => conn,
        };
        let conn = if websocket {
            let layer = super::ws::WsLayer::server(self.limits.frame_limit(role));
            conn.with_ws(layer, None, &self.identity)
        } else {
            conn
        };
        entry.insert(conn);
        debug_assert!(self.conns.len() <= self.limits.max_connections);
        self.stats.connections_accepted += 1;
        self.dirty.push(key);
        debug!("accepted {peer} as conn {key} ({role:?})");
    }
}
