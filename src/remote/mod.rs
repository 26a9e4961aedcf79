//! The host's side of an isolated context (config `isolation`).
//!
//! * [`link`]: one helper and its connection: finding and spawning it, or
//!   connecting to it at an address; the handshake; the reader task on the
//!   loop; death, reaping;
//! * [`proxy`]: the loop thread's side: forwarded requests, the helper's
//!   host calls run as local ones, death and restart or reconnection.
//!
//! The protocol both sides speak is `crate::isolation`.

pub(crate) mod link;
pub(crate) mod proxy;
