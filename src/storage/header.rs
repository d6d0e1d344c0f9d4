//! Object storage headers: `ObjectRequestHeader` / `ObjectResponseHeader`, 80-byte single-segment Cap'n
//! Proto messages (SCHEDULER_SPEC.md §6.1), and the small payloads of duplicate and infoGetTotal.
use crate::schema::object_storage_capnp::{
    object_i_d, object_request_header as req, object_response_header as resp,
};
use bytes::Bytes;
use capnp::message::{Builder, HeapAllocator, ReaderOptions};

/// A Scaler ObjectID: 32 bytes, on the wire as four big-endian u64 (`struct "!QQQQ"`).
pub type ObjectId = [u8; 32];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Set,
    Get,
    Delete,
    Duplicate,
    InfoGetTotal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    SetOk,
    GetOk,
    DelOk,
    DelNotExists,
    DuplicateOk,
    InfoGetTotalOk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub object_id: ObjectId,
    pub payload_length: u64,
    pub request_id: u64,
    pub kind: RequestType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    pub object_id: ObjectId,
    pub payload_length: u64,
    pub response_id: u64,
    pub kind: ResponseType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    Capnp(String),
    UnknownType(u16),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Capnp(e) => write!(f, "invalid header: {e}"),
            HeaderError::UnknownType(t) => write!(f, "unknown header type {t}"),
        }
    }
}

impl std::error::Error for HeaderError {}

impl From<capnp::Error> for HeaderError {
    fn from(e: capnp::Error) -> Self {
        HeaderError::Capnp(e.to_string())
    }
}

fn options() -> ReaderOptions {
    let mut o = ReaderOptions::new();
    // A header is 10 words; a little slack, nothing more.
    o.traversal_limit_in_words(Some(64));
    o
}

fn builder() -> Builder<HeapAllocator> {
    Builder::new(HeapAllocator::new().first_segment_words(16))
}

fn finish(b: &Builder<HeapAllocator>) -> Bytes {
    Bytes::from(capnp::serialize::write_message_to_words(b))
}

fn set_id(mut b: object_i_d::Builder<'_>, id: &ObjectId) {
    let f = |i: usize| u64::from_be_bytes(id[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    b.set_field0(f(0));
    b.set_field1(f(1));
    b.set_field2(f(2));
    b.set_field3(f(3));
}

fn get_id(r: object_i_d::Reader<'_>) -> ObjectId {
    let mut id = [0u8; 32];
    for (i, v) in [
        r.get_field0(),
        r.get_field1(),
        r.get_field2(),
        r.get_field3(),
    ]
    .into_iter()
    .enumerate()
    {
        id[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    id
}

pub fn encode_request(h: &RequestHeader) -> Bytes {
    let mut m = builder();
    {
        let mut r: req::Builder = m.init_root();
        set_id(r.reborrow().init_object_i_d(), &h.object_id);
        r.set_payload_length(h.payload_length);
        r.set_request_i_d(h.request_id);
        r.set_request_type(match h.kind {
            RequestType::Set => req::ObjectRequestType::SetObject,
            RequestType::Get => req::ObjectRequestType::GetObject,
            RequestType::Delete => req::ObjectRequestType::DeleteObject,
            RequestType::Duplicate => req::ObjectRequestType::DuplicateObjectID,
            RequestType::InfoGetTotal => req::ObjectRequestType::InfoGetTotal,
        });
    }
    finish(&m)
}

pub fn decode_request(frame: &[u8]) -> Result<RequestHeader, HeaderError> {
    let mut s = frame;
    let m = capnp::serialize::read_message_from_flat_slice(&mut s, options())?;
    let r: req::Reader = m.get_root()?;
    let kind = match r
        .get_request_type()
        .map_err(|e| HeaderError::UnknownType(e.0))?
    {
        req::ObjectRequestType::SetObject => RequestType::Set,
        req::ObjectRequestType::GetObject => RequestType::Get,
        req::ObjectRequestType::DeleteObject => RequestType::Delete,
        req::ObjectRequestType::DuplicateObjectID => RequestType::Duplicate,
        req::ObjectRequestType::InfoGetTotal => RequestType::InfoGetTotal,
    };
    Ok(RequestHeader {
        object_id: get_id(r.get_object_i_d()?),
        payload_length: r.get_payload_length(),
        request_id: r.get_request_i_d(),
        kind,
    })
}

pub fn encode_response(h: &ResponseHeader) -> Bytes {
    let mut m = builder();
    {
        let mut r: resp::Builder = m.init_root();
        set_id(r.reborrow().init_object_i_d(), &h.object_id);
        r.set_payload_length(h.payload_length);
        r.set_response_i_d(h.response_id);
        r.set_response_type(match h.kind {
            ResponseType::SetOk => resp::ObjectResponseType::SetOK,
            ResponseType::GetOk => resp::ObjectResponseType::GetOK,
            ResponseType::DelOk => resp::ObjectResponseType::DelOK,
            ResponseType::DelNotExists => resp::ObjectResponseType::DelNotExists,
            ResponseType::DuplicateOk => resp::ObjectResponseType::DuplicateOK,
            ResponseType::InfoGetTotalOk => resp::ObjectResponseType::InfoGetTotalOK,
        });
    }
    finish(&m)
}

pub fn decode_response(frame: &[u8]) -> Result<ResponseHeader, HeaderError> {
    let mut s = frame;
    let m = capnp::serialize::read_message_from_flat_slice(&mut s, options())?;
    let r: resp::Reader = m.get_root()?;
    let kind = match r
        .get_response_type()
        .map_err(|e| HeaderError::UnknownType(e.0))?
    {
        resp::ObjectResponseType::SetOK => ResponseType::SetOk,
        resp::ObjectResponseType::GetOK => ResponseType::GetOk,
        resp::ObjectResponseType::DelOK => ResponseType::DelOk,
        resp::ObjectResponseType::DelNotExists => ResponseType::DelNotExists,
        resp::ObjectResponseType::DuplicateOK => ResponseType::DuplicateOk,
        resp::ObjectResponseType::InfoGetTotalOK => ResponseType::InfoGetTotalOk,
    };
    Ok(ResponseHeader {
        object_id: get_id(r.get_object_i_d()?),
        payload_length: r.get_payload_length(),
        response_id: r.get_response_i_d(),
        kind,
    })
}

/// The payload of duplicateObjectID: a message whose root is the *original* ObjectID.
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

/// infoGetTotal payload: up to six little-endian u64; missing fields read as 0.
pub fn encode_info(v: &[u64; 6]) -> Bytes {
    Bytes::from(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
}

pub fn decode_info(payload: &[u8]) -> [u64; 6] {
    let mut v = [0u64; 6];
    for (i, c) in payload.chunks_exact(8).take(6).enumerate() {
        v[i] = u64::from_le_bytes(c.try_into().expect("8 bytes"));
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

    #[test]
    fn headers_are_80_bytes_and_round_trip() {
        let h = RequestHeader {
            object_id: id(7),
            payload_length: u64::MAX,
            request_id: 42,
            kind: RequestType::Get,
        };
        let f = encode_request(&h);
        assert_eq!(f.len(), 80);
        assert_eq!(decode_request(&f).unwrap(), h);
        let r = ResponseHeader {
            object_id: id(9),
            payload_length: 3,
            response_id: 42,
            kind: ResponseType::InfoGetTotalOk,
        };
        let f = encode_response(&r);
        assert_eq!(f.len(), 80);
        assert_eq!(decode_response(&f).unwrap(), r);
    }

    #[test]
    fn object_id_is_four_big_endian_words() {
        let f = encode_request(&RequestHeader {
            object_id: id(0),
            payload_length: 0,
            request_id: 0,
            kind: RequestType::Delete,
        });
        // 8 (segment table) + 8 (root pointer) + 24 (data) + 8 (pointer) = 48: the ObjectID struct's first word.
        assert_eq!(
            &f[48..56],
            &u64::from_be_bytes(id(0)[..8].try_into().unwrap()).to_le_bytes()
        );
        assert_eq!(encode_object_id(&id(1)).len(), 48);
        assert_eq!(decode_object_id(&encode_object_id(&id(1))).unwrap(), id(1));
    }

    #[test]
    fn info_payload_accepts_short_readers() {
        let v = [1, 2, 3, 4, 5, 6];
        assert_eq!(decode_info(&encode_info(&v)), v);
        assert_eq!(decode_info(&encode_info(&v)[..24]), [1, 2, 3, 0, 0, 0]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_request(b"").is_err());
        assert!(decode_request(&[0xff; 80]).is_err());
        assert!(decode_response(&[0u8; 7]).is_err());
    }
}
