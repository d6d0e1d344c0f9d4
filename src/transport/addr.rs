//! Scaler addresses: `tcp://HOST:PORT`, `tls://HOST:PORT`, `ws://HOST:PORT[/PATH]` and
//! `wss://HOST:PORT[/PATH]`. The port follows the last colon of the part before the path; IPv6 is
//! written without brackets (brackets are tolerated). As in 2.9.0 (`AddressConfig`, ymq `Address`), a
//! WebSocket address always has a path, `/` when none is written, and prints with it.
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The Upgrade request path of `ws://`/`wss://` (starts with `/`); `None` for other schemes.
    pub path: Option<String>,
}

impl Address {
    pub fn parse(s: &str) -> Result<Address, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s}: expected scheme://host:port"))?;
        let (rest, path) = match scheme {
            "tcp" | "tls" => (rest, None),
            "ws" | "wss" => match rest.find('/') {
                Some(i) => (&rest[..i], Some(rest[i..].to_string())),
                None => (rest, Some("/".to_string())),
            },
            "ipc" => {
                return Err(format!(
                    "{s}: the ipc:// transport is not supported yet (tcp://, tls://, ws://, wss://)"
                ))
            }
            "inproc" => {
                return Err(format!(
                    "{s}: inproc:// is ZMQ-only and not supported by YMQ"
                ))
            }
            _ => return Err(format!("{s}: unknown scheme {scheme}")),
        };
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{s}: missing port"))?;
        let port: u16 = port.parse().map_err(|_| format!("{s}: bad port {port}"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        host.parse::<IpAddr>()
            .map_err(|_| format!("{s}: host must be a literal IP address (YMQ does no DNS)"))?;
        Ok(Address {
            scheme: scheme.to_string(),
            host,
            port,
            path,
        })
    }

    /// `ws://` or `wss://`: the YMQ stream runs inside WebSocket binary messages.
    pub fn is_websocket(&self) -> bool {
        self.path.is_some()
    }

    /// `tls://` or `wss://`: the stream runs inside TLS.
    pub fn is_secure(&self) -> bool {
        self.scheme == "tls" || self.scheme == "wss"
    }

    /// The same address with the WebSocket path `/`: where 2.9.0 peers reach an object storage server
    /// known only by host, port and scheme (the heartbeat echo carries nothing more).
    pub fn at_root(&self) -> Address {
        Address {
            path: self.path.as_ref().map(|_| "/".to_string()),
            ..self.clone()
        }
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host.parse().expect("validated in parse"), self.port)
    }

    pub fn with_port(&self, port: u16) -> Address {
        Address {
            port,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)?;
        f.write_str(self.path.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_v6_and_rejects_names() {
        let a = Address::parse("tcp://127.0.0.1:6378").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 6378));
        let b = Address::parse("tcp://::1:1211").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 1211));
        assert!(Address::parse("tcp://localhost:1").is_err());
        assert!(Address::parse("tcp://127.0.0.1").is_err());
        assert!(Address::parse("zmq://1.2.3.4:5").is_err());
        assert_eq!(a.with_port(6380).to_string(), "tcp://127.0.0.1:6380");
        assert!(!a.is_websocket() && !a.is_secure());
        assert!(Address::parse("ipc:///tmp/x").is_err());
        assert!(Address::parse("inproc://x").is_err());
    }

    #[test]
    fn websocket_addresses_keep_their_path() {
        let a = Address::parse("ws://127.0.0.1:8765").unwrap();
        assert_eq!((a.port, a.path.as_deref()), (8765, Some("/")));
        assert_eq!(a.to_string(), "ws://127.0.0.1:8765/");
        assert!(a.is_websocket() && !a.is_secure());
        let b = Address::parse("wss://::1:443/ymq/x?y=1").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.path.as_deref()),
            ("::1", 443, Some("/ymq/x?y=1"))
        );
        assert!(b.is_websocket() && b.is_secure());
        assert_eq!(b.to_string(), "wss://::1:443/ymq/x?y=1");
        // The default monitor address keeps the path (2.9.0's scheduler: port + 2, same path) and the
        // embedded storage is reached at "/".
        assert_eq!(b.with_port(445).to_string(), "wss://::1:445/ymq/x?y=1");
        assert_eq!(b.with_port(444).at_root().to_string(), "wss://::1:444/");
        assert_eq!(Address::parse("ws://[::1]:80/").unwrap().host, "::1");
        assert!(Address::parse("ws://127.0.0.1/ymq").is_err());
        assert!(Address::parse("ws://localhost:80/").is_err());
        assert!(Address::parse("ws://127.0.0.1:99999/").is_err());
        let t = Address::parse("tls://127.0.0.1:1").unwrap();
        assert!(t.is_secure() && !t.is_websocket() && t.at_root() == t);
    }
}
