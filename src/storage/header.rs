//! Object storage headers: `ObjectRequestHeader` / `ObjectResponseHeader`, 80-byte single-segment Cap'n
//! Proto messages (docs/design.md, "Object storage"), and the small payloads of duplicate and infoGetTotal.
//!
//! Decoders read from the frame in place (the `unaligned` capnp feature) and never panic: every frame
//! comes from a peer we do not trust.
use crate::schema::object_storage_capnp::{
    object_i_d, object_request_header as req, object_response_header as resp,
};
use bytes::Bytes;
use capnp::message::{Builder, HeapAllocator, ReaderOptions};

/// A Scaler ObjectID: 32 bytes, on the wire as four big-endian u64 (`struct "!QQQQ"`).
pub type ObjectId = [u8; 32];

/// `ObjectRequestType`, with the schema's ordinals as discriminants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum RequestType {
    Set = 0,
    Get = 1,
    Delete = 2,
    Duplicate = 3,
    InfoGetTotal = 4,
}

/// `ObjectResponseType`, with the schema's ordinals as discriminants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ResponseType {
    SetOk = 0,
    GetOk = 1,
    DelOk = 2,
    DelNotExists = 3,
    DuplicateOk = 4,
    InfoGetTotalOk = 5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub object_id: ObjectId,
    /// Set/duplicate: size of the payload frame that follows. Get: the most bytes wanted (clients send
    /// `u64::MAX`). Otherwise unused.
    pub payload_length: u64,
    pub request_id: u64,
    pub kind: RequestType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    pub object_id: ObjectId,
    /// Size of the payload frame that follows; no frame follows when 0.
    pub payload_length: u64,
    /// The request's `request_id`.
    pub response_id: u64,
    pub kind: ResponseType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Not a readable Cap'n Proto message: truncated, bad segment table, out-of-bounds pointer, ...
    Capnp(capnp::ErrorKind),
    /// The type field holds a value the 2.9.0 schema does not define.
    UnknownType(u16),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Capnp(e) => write!(f, "invalid object storage header: {e}"),
            HeaderError::UnknownType(t) => write!(f, "unknown object storage header type {t}"),
        }
    }
}

impl std::error::Error for HeaderError {}

impl From<capnp::Error> for HeaderError {
    fn from(e: capnp::Error) -> Self {
        HeaderError::Capnp(e.kind)
    }
}

fn options() -> ReaderOptions {
    let mut o = ReaderOptions::new();
    // A header is 10 words: a little slack, but no amplification from a crafted message.
    o.traversal_limit_in_words(Some(64));
    o
}

fn builder() -> Builder<HeapAllocator> {
    // One 16-word first segment holds the 9-word message, so it is always single-segment.
    Builder::new(HeapAllocator::new().first_segment_words(16))
}

fn finish(b: &Builder<HeapAllocator>) -> Bytes {
    Bytes::from(capnp::serialize::write_message_to_words(b))
}

fn set_id(mut b: object_i_d::Builder<'_>, id: &ObjectId) {
    let w = |i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&id[i * 8..i * 8 + 8]);
        u64::from_be_bytes(x)
    };
    b.set_field0(w(0));
    b.set_field1(w(1));
    b.set_field2(w(2));
    b.set_field3(w(3));
}

fn get_id(r: object_i_d::Reader<'_>) -> ObjectId {
    let words = [
        r.get_field0(),
        r.get_field1(),
        r.get_field2(),
        r.get_field3(),
    ];
    let mut id = [0u8; 32];
    for (chunk, w) in id.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    id
}

pub fn encode_request(h: &RequestHeader) -> Bytes {
    use req::ObjectRequestType as T;
    let mut m = builder();
    {
        let mut r: req::Builder = m.init_root();
        set_id(r.reborrow().init_object_i_d(), &h.object_id);
        r.set_payload_length(h.payload_length);
        r.set_request_i_d(h.request_id);
        r.set_request_type(match h.kind {
            RequestType::Set => T::SetObject,
            RequestType::Get => T::GetObject,
            RequestType::Delete => T::DeleteObject,
            RequestType::Duplicate => T::DuplicateObjectID,
            RequestType::InfoGetTotal => T::InfoGetTotal,
        });
    }
    finish(&m)
}

pub fn decode_request(frame: &[u8]) -> Result<RequestHeader, HeaderError> {
    use req::ObjectRequestType as T;
    let mut s = frame;
    let m = capnp::serialize::read_message_from_flat_slice(&mut s, options())?;
    let r: req::Reader = m.get_root()?;
    let kind = match r
        .get_request_type()
        .map_err(|e| HeaderError::UnknownType(e.0))?
    {
        T::SetObject => RequestType::Set,
        T::GetObject => RequestType::Get,
        T::DeleteObject => RequestType::Delete,
        T::DuplicateObjectID => RequestType::Duplicate,
        T::InfoGetTotal => RequestType::InfoGetTotal,
    };
    Ok(RequestHeader {
        object_id: get_id(r.get_object_i_d()?),
        payload_length: r.get_payload_length(),
        request_id: r.get_request_i_d(),
        kind,
    })
}

pub fn encode_response(h: &ResponseHeader) -> Bytes {
    use resp::ObjectResponseType as T;
    let mut m = builder();
    {
        let mut r: resp::Builder = m.init_root();
        set_id(r.reborrow().init_object_i_d(), &h.object_id);
        r.set_payload_length(h.payload_length);
        r.set_response_i_d(h.response_id);
        r.set_response_type(match h.kind {
            ResponseType::SetOk => T::SetOK,
            ResponseType::GetOk => T::GetOK,
            ResponseType::DelOk => T::DelOK,
            ResponseType::DelNotExists => T::DelNotExists,
            ResponseType::DuplicateOk => T::DuplicateOK,
            ResponseType::InfoGetTotalOk => T::InfoGetTotalOK,
        });
    }
    finish(&m)
}

pub fn decode_response(frame: &[u8]) -> Result<ResponseHeader, HeaderError> {
    use resp::ObjectResponseType as T;
    let mut s = frame;
    let m = capnp::serialize::read_message_from_flat_slice(&mut s, options())?;
    let r: resp::Reader = m.get_root()?;
    let kind = match r
        .get_response_type()
        .map_err(|e| HeaderError::UnknownType(e.0))?
    {
        T::SetOK => ResponseType::SetOk,
        T::GetOK => ResponseType::GetOk,
        T::DelOK => ResponseType::DelOk,
        T::DelNotExists => ResponseType::DelNotExists,
        T::DuplicateOK => ResponseType::DuplicateOk,
        T::InfoGetTotalOK => ResponseType::InfoGetTotalOk,
    };
    Ok(ResponseHeader {
        object_id: get_id(r.get_object_i_d()?),
        payload_length: r.get_payload_length(),
        response_id: r.get_response_i_d(),
        kind,
    })
}

/// The payload of duplicateObjectID (48 bytes): a message whose root is the *original* ObjectID.
pub fn encode_object_id(id: &ObjectId) -> Bytes {
    let mut m = builder();
    set_id(m.init_root(), id);
    finish(&m)
}

pub fn decode_object_id(frame: &[u8]) -> Result<ObjectId, HeaderError> {
    let mut s = frame;
    let m = capnp::serialize::read_message_from_flat_slice(&mut s, options())?;
    Ok(get_id(m.get_root()?))
}

/// The infoGetTotalOK payload: six little-endian u64 (48 bytes).
pub fn encode_info(v: &[u64; 6]) -> Bytes {
    let mut b = Vec::with_capacity(48);
    for x in v {
        b.extend_from_slice(&x.to_le_bytes());
    }
    Bytes::from(b)
}

/// Reads as many whole fields as the payload carries; the rest are 0, so an older server's shorter
/// answer (2.6.0 sent three) stays readable.
pub fn decode_info(payload: &[u8]) -> [u64; 6] {
    let mut v = [0u64; 6];
    for (x, c) in v.iter_mut().zip(payload.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        *x = u64::from_le_bytes(w);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        let mut x = [0u8; 32];
        for (i, b) in x.iter_mut().enumerate() {
            *b = n.wrapping_add(i as u8);
        }
        x
    }

    /// Single segment: the segment table says "1 segment" (count - 1 = 0) of 9 words.
    fn assert_single_segment_80(f: &[u8]) {
        assert_eq!(f.len(), 80);
        assert_eq!(&f[..8], &[0, 0, 0, 0, 9, 0, 0, 0]);
    }

    #[test]
    fn headers_are_80_byte_single_segment_and_round_trip() {
        for kind in [
            RequestType::Set,
            RequestType::Get,
            RequestType::Delete,
            RequestType::Duplicate,
            RequestType::InfoGetTotal,
        ] {
            let h = RequestHeader {
                object_id: id(7),
                payload_length: u64::MAX,
                request_id: 42,
                kind,
            };
            let f = encode_request(&h);
            assert_single_segment_80(&f);
            // The type is the u16 at data offset 16: 8 (table) + 8 (root pointer) + 16.
            assert_eq!(u16::from_le_bytes([f[32], f[33]]), kind as u16);
            assert_eq!(decode_request(&f).unwrap(), h);
        }
        for kind in [
            ResponseType::SetOk,
            ResponseType::GetOk,
            ResponseType::DelOk,
            ResponseType::DelNotExists,
            ResponseType::DuplicateOk,
            ResponseType::InfoGetTotalOk,
        ] {
            let r = ResponseHeader {
                object_id: id(9),
                payload_length: 3,
                response_id: 42,
                kind,
            };
            let f = encode_response(&r);
            assert_single_segment_80(&f);
            assert_eq!(u16::from_le_bytes([f[32], f[33]]), kind as u16);
            assert_eq!(decode_response(&f).unwrap(), r);
        }
    }

    #[test]
    fn object_id_is_four_big_endian_words() {
        let f = encode_request(&RequestHeader {
            object_id: id(0),
            payload_length: 0,
            request_id: 0,
            kind: RequestType::Delete,
        });
        // 8 (segment table) + 8 (root pointer) + 24 (data) + 8 (pointer) = 48: the ObjectID's first word.
        let mut w = [0u8; 8];
        w.copy_from_slice(&id(0)[..8]);
        assert_eq!(&f[48..56], &u64::from_be_bytes(w).to_le_bytes());
        let p = encode_object_id(&id(1));
        assert_eq!(p.len(), 48);
        assert_eq!(decode_object_id(&p).unwrap(), id(1));
    }

    #[test]
    fn info_payload_accepts_short_readers() {
        let v = [1, 2, 3, 4, 5, 6];
        let p = encode_info(&v);
        assert_eq!(p.len(), 48);
        assert_eq!(decode_info(&p), v);
        assert_eq!(decode_info(&p[..24]), [1, 2, 3, 0, 0, 0]);
        assert_eq!(
            decode_info(&p[..20]),
            [1, 2, 0, 0, 0, 0],
            "a partial field is ignored"
        );
        assert_eq!(decode_info(&[]), [0; 6]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_request(b"").is_err());
        assert!(decode_request(&[0xff; 80]).is_err());
        assert!(decode_response(&[0u8; 7]).is_err());
        assert!(decode_object_id(&[1u8; 5]).is_err());
        let good = encode_request(&RequestHeader {
            object_id: id(3),
            payload_length: 1,
            request_id: 1,
            kind: RequestType::Set,
        });
        for n in 0..good.len() {
            assert!(decode_request(&good[..n]).is_err(), "truncated to {n}");
        }
        // A huge segment count must be refused before anything is allocated for it.
        let mut huge = vec![0xff, 0xff, 0xff, 0xfe];
        huge.resize(80, 0);
        assert!(decode_request(&huge).is_err());
        // An out-of-schema type value.
        let mut bad = good.to_vec();
        bad[32] = 9;
        assert_eq!(decode_request(&bad), Err(HeaderError::UnknownType(9)));
    }
}
