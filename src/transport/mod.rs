//! The I/O shell: a single-threaded mio loop that owns every socket and moves YMQ frames between the
//! network and the sans-IO layers (`core`, `storage`). No scheduling decision is made here.
pub mod addr;
pub mod conn;
pub mod http;
pub mod procstat;
pub mod server;
pub mod storage_link;
pub mod tls;

pub use addr::Address;
pub use server::{Limits, Server, StorageMode, STOP};
