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
//!   message;
//! * splitting the whole input into frames at once (`protocol::split`, as
//!   the host's loop does with what it has read) finds the same messages as
//!   reading it frame by frame (`protocol::read`, as the helper does).

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
    let mut read = Vec::new();
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
        read.push(message);
    }
    assert_eq!(
        split_all::<M>(data),
        read,
        "splitting and reading find different frames"
    );
}

/// The messages of `data` as `protocol::split` finds them, until the first
/// frame that is malformed or not all there.
fn split_all<M: DeserializeOwned>(data: &[u8]) -> Vec<M> {
    let mut at = 0;
    let mut messages = Vec::new();
    while let Ok(Some(len)) = protocol::split(&data[at..]) {
        match protocol::decode(&data[at + 4..at + 4 + len]) {
            Ok(message) => messages.push(message),
            Err(_) => break,
        }
        at += 4 + len;
    }
    messages
}

fuzz_target!(|data: &[u8]| {
    read_all::<Up>(data);
    read_all::<Down>(data);
});
