//! The listening sockets: bound once at start, each with the role its connections take.
use super::addr::Address;
use super::conn::Role;
use super::token::SocketToken;
use log::info;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Poll};
use std::io;
use std::net::SocketAddr;

pub struct Listener {
    socket: TcpListener,
    pub role: Role,
    /// Whether its connections run TLS (a `tls://` or `wss://` address).
    pub secure: bool,
    /// Whether its connections run WebSocket (a `ws://` or `wss://` address).
    pub websocket: bool,
}

#[derive(Default)]
pub struct Listeners {
    list: Vec<Listener>,
}

impl Listeners {
    /// Binds `addr` and registers it with `poll`. A `tls://`/`wss://` address needs `have_tls`.
    pub fn listen(
        &mut self,
        poll: &Poll,
        addr: &Address,
        role: Role,
        have_tls: bool,
    ) -> io::Result<()> {
        let (secure, websocket) = (addr.is_secure(), addr.is_websocket());
        if role == Role::Metrics && (secure || websocket) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr}: the metrics address serves plain HTTP (tcp://)"),
            ));
        }
        if secure && !have_tls {
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
        let mut socket = TcpListener::from_std(sock.into());
        let token = SocketToken::Listener(self.list.len()).token();
        poll.registry()
            .register(&mut socket, token, Interest::READABLE)?;
        info!("listening on {addr} ({role:?})");
        self.list.push(Listener {
            socket,
            role,
            secure,
            websocket,
        });
        Ok(())
    }

    pub fn get(&self, index: usize) -> Option<&Listener> {
        self.list.get(index)
    }

    pub fn local_port(&self, role: Role) -> Option<u16> {
        self.list
            .iter()
            .find(|l| l.role == role)
            .and_then(|l| l.socket.local_addr().ok())
            .map(|a| a.port())
    }
}

impl Listener {
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.socket.accept()
    }
}
