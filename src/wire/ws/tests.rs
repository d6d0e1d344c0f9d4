use super::frame::*;
use super::handshake::MAX_HEAD;
use super::*;

/// Feeds `wire` to `d` in chunks of `chunk` bytes; returns the YMQ bytes and the controls.
fn feed(
    d: &mut Decoder,
    wire: &[u8],
    chunk: usize,
) -> Result<(Vec<u8>, Vec<Control>), WsFrameError> {
    let (mut out, mut controls) = (Vec::new(), Vec::new());
    for c in wire.chunks(chunk.max(1)) {
        let mut buf = c.to_vec();
        let n = d.decode_in_place(&mut buf, &mut controls)?;
        out.extend_from_slice(&buf[..n]);
    }
    Ok((out, controls))
}

fn server() -> Decoder {
    Decoder::new(true, 1 << 20)
}

fn client() -> Decoder {
    Decoder::new(false, 1 << 20)
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[test]
fn rfc6455_section_5_7_examples() {
    // A single-frame masked message "Hello" (the RFC's is text; ours carries binary).
    let masked = [
        0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    for chunk in 1..=masked.len() {
        assert_eq!(feed(&mut server(), &masked, chunk).unwrap().0, b"Hello");
    }
    // The RFC's text frames are refused.
    let text = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(feed(&mut server(), &text, 64), Err(WsFrameError::Text));
    assert_eq!(
        feed(
            &mut client(),
            &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'],
            64
        ),
        Err(WsFrameError::Text)
    );
    // A fragmented unmasked message: "Hel" then "lo".
    let frag = [0x02, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    for chunk in 1..=frag.len() {
        assert_eq!(feed(&mut client(), &frag, chunk).unwrap().0, b"Hello");
    }
    // An unmasked ping and a masked pong, both with "Hello".
    let (data, c) = feed(
        &mut client(),
        &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        3,
    )
    .unwrap();
    assert!(data.is_empty());
    assert_eq!(c, vec![Control::Ping(b"Hello".to_vec())]);
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        feed(&mut server(), &pong, 2).unwrap().1,
        vec![Control::Pong]
    );
    // 256 bytes and 64 KiB in one unmasked frame: the 16- and 64-bit length forms.
    let mut f256 = vec![0x82, 0x7E, 0x01, 0x00];
    f256.extend(std::iter::repeat_n(7u8, 256));
    assert_eq!(feed(&mut client(), &f256, 100).unwrap().0, vec![7u8; 256]);
    let mut f64k = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    f64k.extend(std::iter::repeat_n(9u8, 65536));
    assert_eq!(
        feed(&mut client(), &f64k, 4096).unwrap().0,
        vec![9u8; 65536]
    );
}

#[test]
fn length_forms_round_trip_masked_and_not() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let (h, n) = header(OP_BINARY, len, None);
        let expect_n = match len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        assert_eq!(n, expect_n, "header of {len}");
        let mut plain = h[..n].to_vec();
        plain.extend_from_slice(&payload);
        let masked = masked_frame(OP_BINARY, &[&payload[..len / 2], &payload[len / 2..]], MASK);
        assert_eq!(masked.len(), n + 4 + len);
        for chunk in [1, 3, 7, 8, 9, 1000, usize::MAX] {
            if chunk == 1 && len > 1000 {
                continue;
            }
            let c = chunk.min(plain.len() + 4);
            assert_eq!(
                feed(&mut client(), &plain, c).unwrap().0,
                payload,
                "{len}/{chunk}"
            );
            assert_eq!(
                feed(&mut server(), &masked, c).unwrap().0,
                payload,
                "{len}/{chunk} masked"
            );
        }
    }
}

#[test]
fn back_to_back_messages_in_one_buffer_compact_in_order() {
    let mut wire = Vec::new();
    let mut expect = Vec::new();
    for i in 0..50u8 {
        let p: Vec<u8> = vec![i; i as usize * 7];
        wire.extend(masked_frame(OP_BINARY, &[&p], [i, 1, 2, 3]));
        expect.extend(p);
    }
    let mut buf = wire.clone();
    let n = server().decode_in_place(&mut buf, &mut Vec::new()).unwrap();
    assert_eq!(&buf[..n], &expect[..]);
}

#[test]
fn controls_between_fragments_and_close_mid_message() {
    let mut wire = vec![0x02, 0x02, b'a', b'b'];
    wire.extend([0x89, 0x01, b'p']); // ping between fragments
    wire.extend([0x8A, 0x00]); // empty pong
    wire.extend([0x00, 0x01, b'c']); // continuation, FIN clear
    let mut d = client();
    let (data, c) = feed(&mut d, &wire, 1).unwrap();
    assert_eq!(data, b"abc");
    assert_eq!(c, vec![Control::Ping(b"p".to_vec()), Control::Pong]);
    assert!(d.mid_message());
    // A close with code 1001 and a reason while the message is open; bytes after it are ignored.
    let mut close = vec![0x88, 0x06, 0x03, 0xE9];
    close.extend(b"bye!");
    close.extend([0x80, 0x01, b'z']);
    let (data, c) = feed(&mut d, &close, 3).unwrap();
    assert!(data.is_empty());
    assert_eq!(c, vec![Control::Close(Some(1001), "bye!".into())]);
    assert!(d.is_closed() && d.mid_message());
    // An empty close ends a buffer exactly at its header.
    let mut d = client();
    assert_eq!(
        feed(&mut d, &[0x88, 0x00], 2).unwrap().1,
        vec![Control::Close(None, String::new())]
    );
}

#[test]
fn protocol_errors_are_typed() {
    let cases: Vec<(Decoder, Vec<u8>, WsFrameError)> = vec![
        (server(), vec![0x82, 0x01, b'x'], WsFrameError::Unmasked),
        (
            client(),
            masked_frame(OP_BINARY, &[b"x"], MASK),
            WsFrameError::Masked,
        ),
        (client(), vec![0xC2, 0x00], WsFrameError::Reserved(0x40)),
        (client(), vec![0x83, 0x00], WsFrameError::UnknownOpcode(3)),
        (client(), vec![0x8B, 0x00], WsFrameError::UnknownOpcode(0xB)),
        (
            client(),
            vec![0x09, 0x00],
            WsFrameError::BadControl { opcode: 9, len: 0 },
        ),
        (
            client(),
            vec![0x89, 0x7E, 0x00, 0x7E],
            WsFrameError::BadControl {
                opcode: 9,
                len: 126,
            },
        ),
        (client(), vec![0x80, 0x00], WsFrameError::StrayContinuation),
        (
            client(),
            vec![0x02, 0x00, 0x82, 0x00],
            WsFrameError::UnfinishedMessage,
        ),
        (client(), vec![0x88, 0x01, 0x03], WsFrameError::BadClose),
    ];
    for (mut d, wire, err) in cases {
        assert_eq!(feed(&mut d, &wire, 64).map(|_| ()), Err(err), "{wire:02x?}");
    }
}

#[test]
fn oversized_messages_are_refused_at_the_header() {
    // The declared length alone is refused: no payload byte is needed (nor buffered).
    let mut d = Decoder::new(false, 1000);
    let huge = [0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    assert_eq!(
        feed(&mut d, &huge, 64),
        Err(WsFrameError::TooLarge {
            len: 0x7FFF_FFFF_FFFF_FFFF,
            max: 1000
        })
    );
    // Fragments count together.
    let mut d = Decoder::new(false, 1000);
    let mut wire = vec![0x02, 0x7E, 0x01, 0xF4];
    wire.extend([0u8; 500]);
    wire.extend([0x80, 0x7E, 0x01, 0xF5]);
    assert_eq!(
        feed(&mut d, &wire, 64).map(|_| ()),
        Err(WsFrameError::TooLarge {
            len: 1001,
            max: 1000
        })
    );
    // Exactly the limit is fine.
    let mut d = Decoder::new(false, 1000);
    let mut wire = vec![0x82, 0x7E, 0x03, 0xE8];
    wire.extend([5u8; 1000]);
    assert_eq!(feed(&mut d, &wire, 64).unwrap().0.len(), 1000);
}

/// Runs the Upgrade between a client and a server session; returns both, open.
fn open_pair() -> (Session, Session) {
    let mut c = Session::client("127.0.0.1", 9, "/ymq", 1 << 20, 42);
    let mut s = Session::server(1 << 20);
    let mut req = c.take_output().unwrap().to_vec();
    assert!(!c.is_open() && c.take_output().is_none());
    // The request arrives in two reads.
    let tail = req.split_off(10);
    assert_eq!(s.receive(&mut req.clone()).unwrap(), 0);
    assert_eq!(s.receive(&mut tail.clone()).unwrap(), 0);
    assert!(s.is_open());
    assert_eq!(s.path.as_deref(), Some("/ymq"));
    let mut resp = s.take_output().unwrap().to_vec();
    assert!(resp.starts_with(b"HTTP/1.1 101 "));
    assert_eq!(c.receive(&mut resp).unwrap(), 0);
    assert!(c.is_open());
    (c, s)
}

#[test]
fn sessions_upgrade_and_carry_ymq_bytes_both_ways() {
    let (mut c, mut s) = open_pair();
    let mut m = c.client_message(&[b"YMQ\x02"]).to_vec();
    m.extend_from_slice(&c.client_message(&[&5u64.to_le_bytes(), b"hello"]));
    let n = s.receive(&mut m).unwrap();
    assert_eq!(&m[..n], b"YMQ\x02\x05\0\0\0\0\0\0\0hello");
    let (h, hn) = Session::server_message_header(3);
    let mut back = h[..hn].to_vec();
    back.extend(b"abc");
    let n = c.receive(&mut back).unwrap();
    assert_eq!(&back[..n], b"abc");
    // A ping from the client gets a pong carrying its payload, unmasked from the server.
    let mut ping = frame::masked_frame(OP_PING, &[b"hi"], MASK);
    assert_eq!(s.receive(&mut ping).unwrap(), 0);
    assert_eq!(&s.take_output().unwrap()[..], &[0x8A, 0x02, b'h', b'i']);
    // The server's close: the client echoes a masked close and reports it.
    let mut close = vec![0x88, 0x02, 0x03, 0xE8];
    assert_eq!(c.receive(&mut close).unwrap(), 0);
    assert_eq!(c.peer_close(), Some(&(Some(1000), String::new())));
    let echo = c.take_output().unwrap();
    assert_eq!((echo[0], echo[1]), (0x88, 0x82));
}

#[test]
fn frames_in_the_same_read_as_the_upgrade_request_are_decoded() {
    let mut c = Session::client("127.0.0.1", 9, "/", 1 << 20, 7);
    let mut s = Session::server(1 << 20);
    let mut wire = c.take_output().unwrap().to_vec();
    wire.extend(c.client_message(&[b"YMQ\x02"]));
    assert_eq!(
        s.receive(&mut wire).map(|n| wire[..n].to_vec()).unwrap(),
        b"YMQ\x02"
    );
}

#[test]
fn bad_upgrades_fail_the_session() {
    let mut s = Session::server(1 << 20);
    let mut ymq = b"YMQ\x02\x05\0\0\0\0\0\0\0hello\r\n\r\n".to_vec();
    assert!(matches!(
        s.receive(&mut ymq),
        Err(WsError::Handshake(HandshakeError::BadRequestLine(_)))
    ));
    let mut s = Session::server(1 << 20);
    let mut junk = vec![b'a'; MAX_HEAD + 1];
    assert_eq!(
        s.receive(&mut junk),
        Err(WsError::Handshake(HandshakeError::TooLarge(MAX_HEAD)))
    );
    // A client whose server answers 200 (not a WebSocket server).
    let mut c = Session::client("127.0.0.1", 9, "/", 1 << 20, 7);
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    assert!(matches!(
        c.receive(&mut resp),
        Err(WsError::Handshake(HandshakeError::BadStatus(_)))
    ));
}
