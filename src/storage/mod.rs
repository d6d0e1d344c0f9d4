//! The object storage server (OSS) of Scaler's protocol (docs/design.md, "Object storage").
//!
//! Functions, arguments and results never pass through the scheduler: peers store them here and
//! exchange only ids. Running the OSS embedded in the scheduler's event loop saves deploying a second
//! process; keeping its logic sans-IO (frames and `now` in, frames out) lets the same code serve
//! standalone and be tested without sockets. The client side (`client`) is shared with the
//! scheduler's connector to an external OSS, so both sides use one encoding of ids and headers.
pub mod client;
pub mod contents;
pub mod header;
pub mod server;

pub use client::{
    delete_request, duplicate_request, get_request, info_request, set_request, ClientCodec, Request,
};
pub use header::ObjectId;
pub use server::{ObjectStorage, StorageError, StorageInfo, StorageLimits};
