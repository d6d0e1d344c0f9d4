//! The HTTP/1.1 Upgrade of RFC 6455 §4, as 2.9.0's YMQ sends and checks it
//! (src/cpp/scaler/ymq/internal/websocket_stream.cpp): no subprotocol, no extension, any path (the
//! server does not look at it), `Sec-WebSocket-Version: 13`.
use super::sha1::{base64_decoded_len, base64_encode, sha1};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// 2.9.0's own cap on the Upgrade request/response head (`maxUpgradeHeaderSize`).
pub const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// No `\r\n\r\n` within [`MAX_HEAD`] bytes.
    TooLarge(usize),
    NotUtf8,
    /// The request line is not `GET <path> HTTP/1.1` (e.g. a YMQ or TLS peer on a ws:// port).
    BadRequestLine(String),
    MissingHeader(&'static str),
    BadHeader(&'static str, String),
    /// The status line of the server's answer is not `HTTP/1.1 101 ...`.
    BadStatus(String),
    /// `Sec-WebSocket-Accept` does not match our key.
    BadAccept,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::TooLarge(n) => {
                write!(f, "websocket upgrade head over {n} bytes without an end")
            }
            HandshakeError::NotUtf8 => write!(f, "websocket upgrade head is not text"),
            HandshakeError::BadRequestLine(l) => {
                write!(f, "not a websocket upgrade request: {l:?}")
            }
            HandshakeError::MissingHeader(h) => write!(f, "websocket upgrade without {h}"),
            HandshakeError::BadHeader(h, v) => write!(f, "websocket upgrade with bad {h}: {v:?}"),
            HandshakeError::BadStatus(l) => write!(f, "websocket upgrade refused: {l:?}"),
            HandshakeError::BadAccept => {
                write!(f, "websocket upgrade with a wrong Sec-WebSocket-Accept")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// `base64(SHA-1(key + GUID))`.
pub fn accept_for(key: &str) -> String {
    base64_encode(&sha1(format!("{key}{GUID}").as_bytes()))
}

/// Where the head ends (the index after `\r\n\r\n`), searching only from `from` (bytes before it were
/// searched already, minus the 3 that may start a terminator).
pub fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    buf.get(start..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| start + p + 4)
}

type Head<'a> = (&'a str, Vec<(String, &'a str)>);

/// First line and `(lowercase name, value)` headers of a head (without its final `\r\n\r\n`).
fn split_head(head: &[u8]) -> Result<Head<'_>, HandshakeError> {
    let text = std::str::from_utf8(head).map_err(|_| HandshakeError::NotUtf8)?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim()))
        .collect();
    Ok((first, headers))
}

fn header<'a>(h: &[(String, &'a str)], name: &'static str) -> Result<&'a str, HandshakeError> {
    h.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .ok_or(HandshakeError::MissingHeader(name))
}

fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The parts of a client's Upgrade request the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    pub key: String,
}

/// Checks a complete request head (everything before `\r\n\r\n`) as RFC 6455 §4.2.1 asks.
pub fn parse_request(head: &[u8]) -> Result<Request, HandshakeError> {
    let (line, h) = split_head(head)?;
    let bad_line = || HandshakeError::BadRequestLine(line.chars().take(80).collect());
    let mut parts = line.split(' ');
    let (Some("GET"), Some(path), Some("HTTP/1.1"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_line());
    };
    let upgrade = header(&h, "upgrade")?;
    if !has_token(upgrade, "websocket") {
        return Err(HandshakeError::BadHeader("Upgrade", upgrade.into()));
    }
    let connection = header(&h, "connection")?;
    if !has_token(connection, "upgrade") {
        return Err(HandshakeError::BadHeader("Connection", connection.into()));
    }
    let version = header(&h, "sec-websocket-version")?;
    if version != "13" {
        return Err(HandshakeError::BadHeader(
            "Sec-WebSocket-Version",
            version.into(),
        ));
    }
    let key = header(&h, "sec-websocket-key")?;
    if base64_decoded_len(key) != Some(16) {
        return Err(HandshakeError::BadHeader("Sec-WebSocket-Key", key.into()));
    }
    Ok(Request {
        path: path.to_string(),
        key: key.to_string(),
    })
}

/// The server's `101 Switching Protocols`, byte for byte what 2.9.0 sends.
pub fn response(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_for(key)
    )
    .into_bytes()
}

/// A client's Upgrade request; `key` is base64 of 16 bytes (the caller provides their randomness).
pub fn request(host: &str, port: u16, path: &str, key_bytes: [u8; 16]) -> (Vec<u8>, String) {
    let key = base64_encode(&key_bytes);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    (req.into_bytes(), key)
}

/// Checks the server's answer head (before `\r\n\r\n`) against the key we sent (RFC 6455 §4.1).
pub fn parse_response(head: &[u8], key: &str) -> Result<(), HandshakeError> {
    let (line, h) = split_head(head)?;
    let mut parts = line.split(' ');
    if !(parts.next() == Some("HTTP/1.1") && parts.next() == Some("101")) {
        return Err(HandshakeError::BadStatus(line.chars().take(80).collect()));
    }
    let upgrade = header(&h, "upgrade")?;
    if !has_token(upgrade, "websocket") {
        return Err(HandshakeError::BadHeader("Upgrade", upgrade.into()));
    }
    let connection = header(&h, "connection")?;
    if !has_token(connection, "upgrade") {
        return Err(HandshakeError::BadHeader("Connection", connection.into()));
    }
    if header(&h, "sec-websocket-accept")? != accept_for(key) {
        return Err(HandshakeError::BadAccept);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &[u8] =
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn rfc6455_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let end = head_end(RFC_REQUEST, 0).unwrap();
        assert_eq!(end, RFC_REQUEST.len());
        let r = parse_request(&RFC_REQUEST[..end - 4]).unwrap();
        assert_eq!(r.path, "/chat");
        let resp = response(&r.key);
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn head_end_across_reads() {
        let buf = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
        for from in 0..buf.len() {
            assert_eq!(head_end(buf, from.min(22)), Some(24), "from {from}");
        }
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r", 0), None);
        assert_eq!(head_end(b"", 5), None);
    }

    #[test]
    fn client_request_round_trips_through_our_server_checks() {
        let (req, key) = request("::1", 1234, "/ymq", [7; 16]);
        let text = std::str::from_utf8(&req).unwrap();
        assert!(text.contains("Host: [::1]:1234\r\n"));
        let end = head_end(&req, 0).unwrap();
        let r = parse_request(&req[..end - 4]).unwrap();
        assert_eq!((r.path.as_str(), r.key.as_str()), ("/ymq", key.as_str()));
        let resp = response(&r.key);
        parse_response(&resp[..resp.len() - 4], &key).unwrap();
        assert_eq!(
            parse_response(&resp[..resp.len() - 4], "AAAAAAAAAAAAAAAAAAAAAA=="),
            Err(HandshakeError::BadAccept)
        );
    }

    #[test]
    fn bad_upgrades_are_typed() {
        let base = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13";
        assert!(
            parse_request(base.as_bytes()).is_ok(),
            "token list in Connection"
        );
        let cases: [(&str, &str); 7] = [
            ("GET / HTTP/1.1", "POST / HTTP/1.1"),
            ("GET / HTTP/1.1", "GET / HTTP/1.0"),
            ("Upgrade: websocket", "Upgrade: h2c"),
            ("Connection: keep-alive, Upgrade", "Connection: close"),
            ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
            ("dGhlIHNhbXBsZSBub25jZQ==", "short"),
            ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
        ];
        for (from, to) in cases {
            let bad = base.replace(from, to);
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_request(b"YMQ\x02\x05\0\0\0\0\0\0\0hello"),
            Err(HandshakeError::BadRequestLine(
                "YMQ\u{2}\u{5}\0\0\0\0\0\0\0hello".into()
            ))
        );
        assert_eq!(parse_request(b"\xff\xfe"), Err(HandshakeError::NotUtf8));
        assert!(matches!(
            parse_response(b"HTTP/1.1 400 Bad Request", "x"),
            Err(HandshakeError::BadStatus(_))
        ));
    }
}
