//! The I/O shell: a single-threaded mio loop that owns every socket and moves YMQ frames between the
//! network and the sans-IO layers (`core`, `storage`, and the `binder` here). No scheduling decision
//! is made here.
mod accept;
pub mod addr;
pub mod binder;
pub mod conn;
pub mod http;
pub mod limits;
pub mod listeners;
pub mod monitors;
pub mod object_storage;
pub mod procstat;
pub mod server;
pub mod shutdown;
pub mod storage_link;
pub mod tls;
pub mod token;
pub mod wake_timer;
pub mod ws;

pub use addr::Address;
pub use limits::Limits;
pub use server::{Server, StorageMode};
pub use shutdown::STOP;
