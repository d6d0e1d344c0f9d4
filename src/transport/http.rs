//! The smallest HTTP/1.x server that Prometheus needs: read one request head, answer with the metrics
//! text, close. Any method and path get the metrics; a request head over 8 KiB is dropped.
use super::token::SocketToken;
use mio::net::TcpStream;
use mio::{Interest, Poll};
use slab::Slab;
use std::io::{self, Read, Write};

const MAX_REQUEST: usize = 8192;

pub struct HttpConn {
    pub stream: TcpStream,
    request: Vec<u8>,
    response: Vec<u8>,
    written: usize,
}

impl HttpConn {
    pub fn new(stream: TcpStream) -> Self {
        HttpConn {
            stream,
            request: Vec::new(),
            response: Vec::new(),
            written: 0,
        }
    }

    /// Advances the exchange; `true` when the connection is finished (answered, failed or abusive).
    pub fn progress(&mut self, body: impl FnOnce() -> String) -> bool {
        if self.response.is_empty() {
            let mut buf = [0u8; 4096];
            loop {
                match self.stream.read(&mut buf) {
                    Ok(0) => return true,
                    Ok(n) => {
                        self.request.extend_from_slice(&buf[..n]);
                        if self.request.len() > MAX_REQUEST {
                            return true;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return true,
                }
            }
            if !self.request.windows(4).any(|w| w == b"\r\n\r\n") {
                return false;
            }
            let body = body();
            self.response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes();
        }
        while self.written < self.response.len() {
            match self.stream.write(&self.response[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
        true
    }
}

/// The open metrics connections, in their own slab (their tokens are `SocketToken::Http`).
#[derive(Default)]
pub struct HttpConns {
    conns: Slab<HttpConn>,
}

impl HttpConns {
    pub fn accept(&mut self, poll: &Poll, mut stream: TcpStream) {
        let entry = self.conns.vacant_entry();
        let token = SocketToken::Http(entry.key()).token();
        if poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_ok()
        {
            entry.insert(HttpConn::new(stream));
        }
    }

    /// Advances connection `key` (answering with `body()`), closing it when done.
    pub fn serve(&mut self, poll: &Poll, key: usize, body: impl FnOnce() -> String) {
        let Some(h) = self.conns.get_mut(key) else {
            return;
        };
        if h.progress(body) {
            let mut h = self.conns.remove(key);
            let _ = poll.registry().deregister(&mut h.stream);
        }
    }
}
