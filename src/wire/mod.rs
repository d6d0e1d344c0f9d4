//! Pure codecs between bytes and messages: YMQ framing ([`frame`]) and the Cap'n Proto `Message` union
//! ([`decode`], [`encode`], owned views in [`types`]). Nothing here touches a socket or a clock.
pub mod decode;
pub mod encode;
pub mod fast;
pub mod frame;
pub mod list;
pub mod types;
pub mod view;
pub mod ws;

pub use decode::{decode, decode_in_place, DecodeError, Decoded};
pub use types::*;

#[cfg(test)]
mod tests;
