//! Object storage headers: `ObjectRequestHeader` / `ObjectResponseHeader`, 80-byte single-segment Cap'n
//! Proto messages (docs/design.md, "Object storage"), and the small payloads of duplicate and infoGetTotal.
//!
//! Headers in the layout every builder writes are read and written directly; any other valid encoding
//! goes through the generic `capnp` reader (in place, the `unaligned` feature). Neither panics: every
//! frame comes from a peer we do not trust.
use crate::schema::object_storage_capnp::{
    object_i_d, object_request_header as req, object_response_header as resp,
};
use bytes::Bytes;
use capnp::message::ReaderOptions;

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

/// The layout every Cap'n Proto builder gives a header (ours, C++'s in the 2.9.0 storage server,
/// pycapnp's in the 2.9.0 client; checked in the tests): one segment of 9 words, the root struct
/// (3 data words, 1 pointer) right after the root pointer, the ObjectID (4 data words) right after it.
/// Reading and writing that layout directly costs a few dozen instructions where the generic `capnp`
/// code costs ~1,500 per header, and an embedded storage server handles several headers per task.
/// Any other valid encoding (far pointers, padding, a newer schema's bigger struct) still decodes,
/// through the generic reader.
const HEADER_LEN: usize = 80;
/// Segment table (1 segment of 9 words) and root pointer (struct, offset 0, 3 data words, 1 pointer).
const HEADER_PREFIX: [u8; 16] = [0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0];
/// The objectID pointer: struct, offset 0, 4 data words, no pointers.
const ID_POINTER: [u8; 8] = [0, 0, 0, 0, 4, 0, 0, 0];
const ID_AT: usize = 48;
/// The duplicateObjectID payload: a message whose root is an ObjectID (1 segment of 5 words).
const ID_MESSAGE_PREFIX: [u8; 16] = [0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0];

/// The four fields every header has, in the wire's units: (id, payloadLength, request/responseID, type).
type Fields = (ObjectId, u64, u64, u16);

fn u64_at(f: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&f[at..at + 8]);
    u64::from_le_bytes(w)
}

/// ObjectID field i is the big-endian u64 of the id's bytes 8i..8i+8, stored little-endian: either way
/// (id to wire, wire to id) each 8-byte word is reversed.
fn swap_words(out: &mut [u8], src: &[u8]) {
    for (dst, src) in out.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        dst.copy_from_slice(src);
        dst.reverse();
    }
}

fn write_id(out: &mut [u8], id: &ObjectId) {
    swap_words(out, id);
}

fn read_id(words: &[u8]) -> ObjectId {
    let mut id = [0u8; 32];
    swap_words(&mut id, words);
    id
}

fn write_fixed((id, payload_length, request_id, kind): Fields) -> Bytes {
    let mut f = [0u8; HEADER_LEN];
    f[..16].copy_from_slice(&HEADER_PREFIX);
    f[16..24].copy_from_slice(&payload_length.to_le_bytes());
    f[24..32].copy_from_slice(&request_id.to_le_bytes());
    f[32..34].copy_from_slice(&kind.to_le_bytes());
    f[40..48].copy_from_slice(&ID_POINTER);
    write_id(&mut f[ID_AT..], &id);
    Bytes::copy_from_slice(&f)
}

/// `None` when the frame is not in the fixed layout (the caller then reads it the generic way).
fn read_fixed(f: &[u8]) -> Option<Fields> {
    if f.len() != HEADER_LEN || f[..16] != HEADER_PREFIX || f[40..48] != ID_POINTER {
        return None;
    }
    Some((
        read_id(&f[ID_AT..]),
        u64_at(f, 16),
        u64_at(f, 24),
        u16::from_le_bytes([f[32], f[33]]),
    ))
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

/// The generic reading of a header, for frames not in the fixed layout.
fn read_request_capnp(frame: &[u8]) -> Result<Fields, HeaderError> {
    let mut s = frame;
    let m = capnp::serialize::read_message_from_flat_slice(&mut s, options())?;
    let r: req::Reader = m.get_root()?;
    let kind = match r.get_request_type() {
        Ok(t) => t as u16,
        Err(e) => e.0,
    };
    Ok((
        get_id(r.get_object_i_d()?),
        r.get_payload_length(),
        r.get_request_i_d(),
        kind,
    ))
}

fn read_response_capnp(frame: &[u8]) -> Result<Fields, HeaderError> {
    let mut s = frame;
    let m = capnp::serialize::read_message_from_flat_slice(&mut s, options())?;
    let r: resp::Reader = m.get_root()?;
    let kind = match r.get_response_type() {
        Ok(t) => t as u16,
        Err(e) => e.0,
    };
    Ok((
        get_id(r.get_object_i_d()?),
        r.get_payload_length(),
        r.get_response_i_d(),
        kind,
    ))
}

impl RequestType {
    fn from_wire(t: u16) -> Result<Self, HeaderError> {
        Ok(match t {
            0 => RequestType::Set,
            1 => RequestType::Get,
            2 => RequestType::Delete,
            3 => RequestType::Duplicate,
            4 => RequestType::InfoGetTotal,
            _ => return Err(HeaderError::UnknownType(t)),
        })
    }
}

impl ResponseType {
    fn from_wire(t: u16) -> Result<Self, HeaderError> {
        Ok(match t {
            0 => ResponseType::SetOk,
            1 => ResponseType::GetOk,
            2 => ResponseType::DelOk,
            3 => ResponseType::DelNotExists,
            4 => ResponseType::DuplicateOk,
            5 => ResponseType::InfoGetTotalOk,
            _ => return Err(HeaderError::UnknownType(t)),
        })
    }
}

pub fn encode_request(h: &RequestHeader) -> Bytes {
    write_fixed((h.object_id, h.payload_length, h.request_id, h.kind as u16))
}

pub fn decode_request(frame: &[u8]) -> Result<RequestHeader, HeaderError> {
    let (object_id, payload_length, request_id, kind) = match read_fixed(frame) {
        Some(f) => f,
        None => read_request_capnp(frame)?,
    };
    Ok(RequestHeader {
        object_id,
        payload_length,
        request_id,
        kind: RequestType::from_wire(kind)?,
    })
}

pub fn encode_response(h: &ResponseHeader) -> Bytes {
    write_fixed((h.object_id, h.payload_length, h.response_id, h.kind as u16))
}

pub fn decode_response(frame: &[u8]) -> Result<ResponseHeader, HeaderError> {
    let (object_id, payload_length, response_id, kind) = match read_fixed(frame) {
        Some(f) => f,
        None => read_response_capnp(frame)?,
    };
    Ok(ResponseHeader {
        object_id,
        payload_length,
        response_id,
        kind: ResponseType::from_wire(kind)?,
    })
}

/// The payload of duplicateObjectID (48 bytes): a message whose root is the *original* ObjectID.
pub fn encode_object_id(id: &ObjectId) -> Bytes {
    let mut f = [0u8; 48];
    f[..16].copy_from_slice(&ID_MESSAGE_PREFIX);
    write_id(&mut f[16..], id);
    Bytes::copy_from_slice(&f)
}

pub fn decode_object_id(frame: &[u8]) -> Result<ObjectId, HeaderError> {
    if frame.len() == 48 && frame[..16] == ID_MESSAGE_PREFIX {
        return Ok(read_id(&frame[16..]));
    }
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
mod tests;
