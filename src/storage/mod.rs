//! The object storage server (OSS) of Scaler's protocol (SCHEDULER_SPEC.md §6): functions, arguments
//! and results live here, not in the scheduler. By default it runs embedded in the scheduler's event
//! loop (bind port + 1); its logic is sans-IO like the core, so the same code could serve standalone.
pub mod header;
pub mod server;

pub use server::{
    delete_request, duplicate_request, get_request, info_request, set_request, ObjectStorage,
    StorageError, StorageLimits,
};
