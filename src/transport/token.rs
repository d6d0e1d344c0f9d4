//! Typed poll tokens: what a readiness event is about, instead of integer ranges compared by hand.
//!
//! The kind lives in the low bits of the mio token and the index of its owner's slab or list in the
//! rest (sozu's ListenToken/SessionToken). Decoding is total: every token we registered maps back to
//! the variant it came from, and nothing else is produced.
use mio::Token;

/// The owner of a registered socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketToken {
    /// A listening socket: index into the server's listener list.
    Listener(usize),
    /// A YMQ connection (peer, monitor, storage peer or our storage link): its key in the connection slab.
    Conn(usize),
    /// A metrics (HTTP) connection: its key in the HTTP slab.
    Http(usize),
    /// The loop's timer (`wake_timer`); there is one, so its index is 0.
    Timer,
}

const KIND_BITS: u32 = 2;
const KIND_MASK: usize = (1 << KIND_BITS) - 1;
const LISTENER: usize = 0;
const CONN: usize = 1;
const HTTP: usize = 2;
const TIMER: usize = 3;

impl SocketToken {
    pub fn token(self) -> Token {
        let (kind, index) = match self {
            SocketToken::Listener(i) => (LISTENER, i),
            SocketToken::Conn(i) => (CONN, i),
            SocketToken::Http(i) => (HTTP, i),
            SocketToken::Timer => (TIMER, 0),
        };
        // Slab keys are dense from 0; they would need 2^62 live entries to lose a bit here.
        debug_assert!(
            index <= usize::MAX >> KIND_BITS,
            "slab index {index} too large"
        );
        Token((index << KIND_BITS) | kind)
    }

    pub fn from_token(t: Token) -> Option<SocketToken> {
        let index = t.0 >> KIND_BITS;
        match t.0 & KIND_MASK {
            LISTENER => Some(SocketToken::Listener(index)),
            CONN => Some(SocketToken::Conn(index)),
            HTTP => Some(SocketToken::Http(index)),
            TIMER if index == 0 => Some(SocketToken::Timer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_kinds_never_collide() {
        for i in [0usize, 1, 2, 3, 4, 1000, 1 << 40, usize::MAX >> KIND_BITS] {
            for t in [
                SocketToken::Listener(i),
                SocketToken::Conn(i),
                SocketToken::Http(i),
            ] {
                assert_eq!(SocketToken::from_token(t.token()), Some(t));
            }
            assert_ne!(SocketToken::Conn(i).token(), SocketToken::Http(i).token());
            assert_ne!(
                SocketToken::Conn(i).token(),
                SocketToken::Listener(i).token()
            );
        }
        assert_eq!(
            SocketToken::from_token(SocketToken::Timer.token()),
            Some(SocketToken::Timer)
        );
        // The timer kind with any other index was never registered.
        assert_eq!(SocketToken::from_token(Token((1 << KIND_BITS) | 3)), None);
    }
}
