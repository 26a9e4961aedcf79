//! The frame decoder of the helper protocol (`hostcall::isolation::protocol`),
//! which both sides of an isolated context run on what the other sends.
//!
//! The input is a byte stream read frame by frame, as a host reads its
//! helper (`Up`) and, from the start again, as the helper reads its host
//! (`Down`), until the first error:
//!
//! * reading never panics, and allocates at most what the input holds plus
//!   one frame header (a length may claim 256 MiB in four bytes);
//! * every message decoded re-encodes to a frame that decodes to the same
//!   message.

#![no_main]

use hostcall::isolation::protocol::{self, Down, Up};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn read_all<M>(data: &[u8])
where
    M: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut rest = data;
    let mut body = Vec::new();
    while let Ok(message) = protocol::read::<M>(&mut rest, &mut body) {
        assert!(
            body.len() <= data.len(),
            "a frame body longer than the input"
        );
        let mut frame = Vec::new();
        protocol::encode(&message, &mut frame);
        let again: M =
            protocol::read(&mut &frame[..], &mut Vec::new()).expect("a frame we encoded decodes");
        assert_eq!(
            again, message,
            "a decoded message does not survive re-encoding"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    read_all::<Up>(data);
    read_all::<Down>(data);
});
