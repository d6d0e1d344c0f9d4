//! The client side of the object storage protocol, sans-IO: the request frames a peer sends and the
//! scheduler's reading of the replies it gets. Shared by the scheduler's link to an external server
//! and its requests to the embedded one, so both use one encoding of ids and headers.
use super::header::{self, HeaderError, ObjectId, RequestHeader, RequestType, ResponseType};
use crate::core::StorageOp;
use bytes::Bytes;

/// setObject: header and payload frames (the payload frame is sent even when empty).
pub fn set_request(id: &ObjectId, payload: Bytes, request_id: u64) -> (Bytes, Bytes) {
    let h = header::encode_request(&RequestHeader {
        object_id: *id,
        payload_length: payload.len() as u64,
        request_id,
        kind: RequestType::Set,
    });
    (h, payload)
}

/// getObject of the whole object (`maxLen` = `u64::MAX`, as every Scaler client sends).
pub fn get_request(id: &ObjectId, request_id: u64) -> Bytes {
    header::encode_request(&RequestHeader {
        object_id: *id,
        payload_length: u64::MAX,
        request_id,
        kind: RequestType::Get,
    })
}

pub fn delete_request(id: &ObjectId, request_id: u64) -> Bytes {
    header::encode_request(&RequestHeader {
        object_id: *id,
        payload_length: 0,
        request_id,
        kind: RequestType::Delete,
    })
}

/// duplicateObjectID: `new_id` becomes a copy of `original`. Header and 48-byte payload frames.
pub fn duplicate_request(
    new_id: &ObjectId,
    original: &ObjectId,
    request_id: u64,
) -> (Bytes, Bytes) {
    let payload = header::encode_object_id(original);
    let h = header::encode_request(&RequestHeader {
        object_id: *new_id,
        payload_length: payload.len() as u64,
        request_id,
        kind: RequestType::Duplicate,
    });
    (h, payload)
}

pub fn info_request(request_id: u64) -> Bytes {
    header::encode_request(&RequestHeader {
        object_id: [0; 32],
        payload_length: 0,
        request_id,
        kind: RequestType::InfoGetTotal,
    })
}

/// A request's header frame and its payload frame, if any.
pub type RequestFrames = (Bytes, Option<Bytes>);

/// One of the scheduler's requests: its header, and the payload frame that set and duplicate carry.
/// Kept decoded, so that the embedded server takes it as it is and only an external server's link
/// pays for the encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub header: RequestHeader,
    pub payload: Option<Bytes>,
}

impl Request {
    /// The frames on the wire: the header, then the payload frame if there is one.
    pub fn into_frames(self) -> RequestFrames {
        (header::encode_request(&self.header), self.payload)
    }
}

/// Builds the scheduler's requests and reads the replies (only infoGetTotal carries data it uses).
#[derive(Debug, Default)]
pub struct ClientCodec {
    next_id: u64,
    /// The header of a reply whose payload frame comes next.
    awaiting_payload: Option<header::ResponseHeader>,
}

impl ClientCodec {
    /// The scheduler's next request, numbered.
    pub fn request(&mut self, op: StorageOp) -> Request {
        self.next_id += 1;
        let request_id = self.next_id;
        let header = |id: &[u8], payload_length: u64, kind| RequestHeader {
            object_id: object_id(id),
            payload_length,
            request_id,
            kind,
        };
        match op {
            StorageOp::Delete(obj) => Request {
                header: header(&obj, 0, RequestType::Delete),
                payload: None,
            },
            StorageOp::Duplicate { new, original } => {
                let payload = header::encode_object_id(&object_id(&original));
                Request {
                    header: header(&new, payload.len() as u64, RequestType::Duplicate),
                    payload: Some(payload),
                }
            }
            StorageOp::Info => Request {
                header: header(&[], 0, RequestType::InfoGetTotal),
                payload: None,
            },
            StorageOp::Set { id, payload } => Request {
                header: header(&id, payload.len() as u64, RequestType::Set),
                payload: Some(payload),
            },
        }
    }

    /// Forgets a half-read reply (the connection it came on is gone).
    pub fn reset(&mut self) {
        self.awaiting_payload = None;
    }

    /// Feeds one frame from the storage server; returns the counters when an infoGetTotal answer
    /// completes. A frame that is not a reply header where one is due is an error: the server does not
    /// speak the protocol, and nothing after it can be trusted to be in step.
    pub fn on_frame(&mut self, frame: &[u8]) -> Result<Option<[u64; 6]>, HeaderError> {
        if let Some(h) = self.awaiting_payload.take() {
            if h.kind == ResponseType::InfoGetTotalOk {
                return Ok(Some(header::decode_info(frame)));
            }
            return Ok(None);
        }
        let h = header::decode_response(frame)?;
        if h.payload_length > 0 {
            self.awaiting_payload = Some(h);
        } else if h.kind == ResponseType::InfoGetTotalOk {
            return Ok(Some([0; 6]));
        }
        Ok(None)
    }
}

/// A Scaler ObjectID is 32 bytes; anything else (a hostile or broken peer) is zero-padded/truncated.
fn object_id(b: &[u8]) -> ObjectId {
    let mut id = [0u8; 32];
    let n = b.len().min(32);
    id[..n].copy_from_slice(&b[..n]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::header::{encode_info, encode_response, ResponseHeader};

    fn reply(kind: ResponseType, payload_length: u64) -> Bytes {
        encode_response(&ResponseHeader {
            object_id: [3; 32],
            payload_length,
            response_id: 1,
            kind,
        })
    }

    #[test]
    fn info_reply_yields_the_counters_from_its_payload_frame() {
        let mut c = ClientCodec::default();
        assert_eq!(
            c.on_frame(&reply(ResponseType::InfoGetTotalOk, 48)),
            Ok(None)
        );
        let v = [1, 2, 3, 4, 5, 6];
        assert_eq!(c.on_frame(&encode_info(&v)), Ok(Some(v)));
        assert_eq!(
            c.on_frame(&reply(ResponseType::InfoGetTotalOk, 0)),
            Ok(Some([0; 6]))
        );
    }

    #[test]
    fn other_replies_and_their_payloads_are_consumed_silently() {
        let mut c = ClientCodec::default();
        assert_eq!(c.on_frame(&reply(ResponseType::DelOk, 0)), Ok(None));
        assert_eq!(c.on_frame(&reply(ResponseType::GetOk, 5)), Ok(None));
        // The payload frame may be anything, even bytes that look like garbage.
        assert_eq!(c.on_frame(b"\xff\xff\xff"), Ok(None));
        assert_eq!(c.on_frame(&reply(ResponseType::SetOk, 0)), Ok(None));
    }

    #[test]
    fn garbage_where_a_header_is_due_is_an_error_and_reset_resynchronises() {
        let mut c = ClientCodec::default();
        assert!(c.on_frame(b"not capnp").is_err());
        assert!(c.on_frame(&[0xff; 64]).is_err());
        assert!(c.on_frame(&[]).is_err());
        c.on_frame(&reply(ResponseType::GetOk, 5)).unwrap();
        c.reset();
        assert!(c.on_frame(b"payload that is now read as a header").is_err());
    }

    #[test]
    fn requests_carry_increasing_ids_and_their_payload_frames() {
        let mut c = ClientCodec::default();
        assert_eq!(c.request(StorageOp::Info).into_frames().1, None);
        let del = c.request(StorageOp::Delete([7; 32]));
        assert_eq!(del.payload, None);
        assert_eq!(del.header.object_id, [7; 32]);
        let dup = c.request(StorageOp::Duplicate {
            new: Bytes::from(vec![1; 32]),
            original: Bytes::from(vec![2; 32]),
        });
        let (h, p) = dup.clone().into_frames();
        let h = header::decode_request(&h).unwrap();
        assert_eq!(h, dup.header);
        assert_eq!(h.request_id, 3);
        assert_eq!(h.kind, RequestType::Duplicate);
        assert_eq!(h.object_id, [1; 32]);
        let p = p.unwrap();
        assert_eq!(h.payload_length, p.len() as u64);
        assert_eq!(header::decode_object_id(&p).unwrap(), [2; 32]);
        let set = c.request(StorageOp::Set {
            id: Bytes::from(vec![4; 32]),
            payload: Bytes::from_static(b"abc"),
        });
        assert_eq!(set.header.payload_length, 3);
        assert_eq!(set.header.kind, RequestType::Set);
        assert_eq!(set.into_frames().1.as_deref(), Some(&b"abc"[..]));
    }
}
