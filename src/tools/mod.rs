//! Blocking helpers for the tools and tests (load generator, hostile-peer tests), never used by the
//! scheduler's event loop.
pub mod peer;
