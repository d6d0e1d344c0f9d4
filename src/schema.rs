//! Generated Cap'n Proto bindings of Scaler's 2.9.0 protocol (wire-identical ids and ordinals).
#![allow(clippy::all, unused, missing_docs)]

pub mod common_capnp {
    include!(concat!(env!("OUT_DIR"), "/common_capnp.rs"));
}
pub mod status_capnp {
    include!(concat!(env!("OUT_DIR"), "/status_capnp.rs"));
}
pub mod message_capnp {
    include!(concat!(env!("OUT_DIR"), "/message_capnp.rs"));
}
pub mod object_storage_capnp {
    include!(concat!(env!("OUT_DIR"), "/object_storage_capnp.rs"));
}
