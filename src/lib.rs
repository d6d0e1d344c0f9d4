//! scaler-rs: a single-threaded, sans-IO-cored replacement for the Scaler 2.9.0 scheduler.
//!
//! Layers, outermost first:
//! * [`transport`]: the mio readiness loop; moves YMQ frames between sockets and the pure layers below.
//! * [`wire`]: pure codecs: YMQ framing and Cap'n Proto `Message` decoding/encoding.
//! * [`core`]: the scheduler logic, sans-IO: decoded messages + `now` in, frames to send out.
//! * [`storage`]: the object storage server logic (sans-IO), embedded in the same loop by default.
//! * [`hash`]: the keyed id hasher every layer's id-keyed maps use.
pub mod cli;
pub mod config_file;
pub mod core;
pub mod hash;
pub mod logging;
pub mod metrics;
pub mod schema;
pub mod storage;
pub mod tools;
pub mod transport;
pub mod wire;
