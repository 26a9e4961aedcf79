//! The host's side of an isolated context (config `isolation`).
//!
//! * [`link`]: one helper process and its connection: finding, spawning,
//!   the handshake, the reader thread, death, reaping;
//! * [`proxy`]: the loop thread's side: forwarded requests, the helper's
//!   host calls run as local ones, death and restart.
//!
//! The protocol both sides speak is `crate::isolation`.

pub(crate) mod link;
pub(crate) mod proxy;
