//! Scaler addresses (`tcp://HOST:PORT`; the port follows the last colon, IPv6 is written without brackets).
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Address {
    pub fn parse(s: &str) -> Result<Address, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s}: expected scheme://host:port"))?;
        match scheme {
            "tcp" | "tls" => {}
            "ipc" | "ws" | "wss" => {
                return Err(format!(
                    "{s}: the {scheme}:// transport is not supported yet (tcp:// and tls:// only)"
                ))
            }
            "inproc" => {
                return Err(format!(
                    "{s}: inproc:// is ZMQ-only and not supported by YMQ"
                ))
            }
            _ => return Err(format!("{s}: unknown scheme {scheme}")),
        }
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
        })
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
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
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
    }
}
