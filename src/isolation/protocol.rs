//! The helper protocol: the messages a host's context and `hostcall-helper`
//! exchange, and the frames that carry them.
//!
//! # Frames
//!
//! A frame is a 4-byte little-endian length `n` (1 ..= [`MAX_FRAME`]) and
//! `n` bytes of CBOR: one [`Down`] (host to helper) or one [`Up`] (helper
//! to host). A length of 0 or above the limit, bytes that are not one
//! message, or trailing bytes after it are a protocol error: the side that
//! reads them ends the session (docs/isolation.md).
//!
//! # Session
//!
//! 1. **Handshake**: the host sends [`Down::Hello`] first; the helper
//!    answers [`Up::Welcome`] when the protocol version and the loaded
//!    library's interface hash are the host's, and [`Up::Refused`] (then
//!    exits) otherwise. Nothing else is sent before it.
//! 2. **Work**: the host sends calls, cancels, registrations and
//!    completions; the helper sends replies, host calls, host-call cancels
//!    and events. Each side sends its frames in the order it made them;
//!    nothing else is ordered between the two directions.
//! 3. **End**: the host shuts the socket down; the helper destroys its
//!    context (which answers what was pending), sends what that produced,
//!    and exits. If the helper dies instead, the host reads end-of-file and
//!    answers everything pending itself (`RET_PROCESS_DIED`).

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::wire::Bytes;

/// The version both sides must speak; bumped on any change to a message.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame either side accepts (a request's arguments or a reply
/// travel whole in one frame).
pub const MAX_FRAME: usize = 256 << 20;

/// A message from the host's context to the helper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Down {
    /// Step 1: who the host is and what it expects the helper to serve.
    Hello {
        /// [`PROTOCOL_VERSION`] of the host.
        version: u32,
        /// The library's prefix (its symbols are `<prefix>_<name>`).
        prefix: String,
        /// The interface hash of the host's copy of the library.
        interface_hash: u64,
        /// The config map the helper creates its context with.
        config: Bytes,
        /// The library's host fn names, by index (the host's description;
        /// the interface hash vouches that the helper's is the same).
        host_fns: Vec<String>,
        /// The library's event names, by index.
        events: Vec<String>,
    },
    /// Calls `method` with CBOR `args`; request `id` (the host's numbering)
    /// gets one [`Up::Reply`].
    Call {
        /// The host's id of the request.
        id: u64,
        /// The method's name.
        method: String,
        /// The CBOR argument array.
        args: Bytes,
        /// Whether the host may withdraw it ([`Down::Cancel`]). Today's
        /// host always may (it withdraws every request it drops
        /// unanswered), and today's helper makes every call cancellable.
        cancellable: bool,
    },
    /// Withdraws request `id`; its reply is discarded by the host.
    Cancel {
        /// The host's id of the request.
        id: u64,
    },
    /// The host has registered host fn `index` (with a cancel notifier, or
    /// not): the helper registers its forwarder.
    Register {
        /// The host fn's index in the description.
        index: u32,
        /// Whether the host wants to hear of cancellations.
        cancellable: bool,
    },
    /// The answer to the helper's host call `token`.
    Complete {
        /// The helper's token.
        token: u64,
        /// `RET_OK`, `RET_ERR` or `RET_ERR_TYPED`.
        ret: i32,
        /// CBOR or UTF-8 text, as for `host_complete`.
        payload: Bytes,
    },
}

/// A message from the helper to the host's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Up {
    /// Step 1: the helper serves the library the host expects.
    Welcome {
        /// [`PROTOCOL_VERSION`] of the helper.
        version: u32,
        /// The interface hash of the library the helper loaded.
        interface_hash: u64,
    },
    /// Step 1: the helper cannot serve; why. It exits after sending this.
    Refused {
        /// What went wrong, for `<lib>_last_error`.
        reason: String,
    },
    /// The one reply of request `id`.
    Reply {
        /// The host's id of the request.
        id: u64,
        /// The outcome code.
        ret: i32,
        /// CBOR, or UTF-8 text for a failure.
        payload: Bytes,
    },
    /// The library calls host fn `index`; answer with [`Down::Complete`].
    HostCall {
        /// The helper's token.
        token: u64,
        /// The host fn's index in the description.
        index: u32,
        /// The CBOR argument array.
        args: Bytes,
        /// The host's id of the request it serves (0: none, or not
        /// cancellable).
        origin: u64,
    },
    /// The library abandoned host call `token`.
    HostCancel {
        /// The helper's token.
        token: u64,
    },
    /// The library emitted event `index`.
    Event {
        /// The event's index in the description.
        index: u32,
        /// Its CBOR payload.
        payload: Bytes,
    },
}

/// Appends `message` to `out` as one frame.
pub fn encode<M: Serialize>(message: &M, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    ciborium::into_writer(message, &mut *out).expect("writing to a Vec cannot fail");
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The stream ended (cleanly, between frames, or inside one).
    Closed,
    /// A length of 0 or above [`MAX_FRAME`].
    BadLength(u32),
    /// The body is not one message.
    BadMessage(String),
    /// Nothing arrived within the stream's read timeout.
    TimedOut,
    /// Reading failed.
    Io(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => f.write_str("the connection closed"),
            FrameError::BadLength(n) => {
                write!(f, "malformed frame: length {n} (must be 1 ..= {MAX_FRAME})")
            }
            FrameError::BadMessage(why) => write!(f, "malformed frame: {why}"),
            FrameError::TimedOut => f.write_str("nothing arrived in time"),
            FrameError::Io(why) => write!(f, "reading failed: {why}"),
        }
    }
}

/// Decodes one frame's body.
pub fn decode<M: serde::de::DeserializeOwned>(body: &[u8]) -> Result<M, FrameError> {
    let mut rest = body;
    let message =
        ciborium::from_reader(&mut rest).map_err(|e| FrameError::BadMessage(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::BadMessage(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(message)
}

/// The first frame of `bytes`: the length of its body (which follows its
/// 4-byte length) when all of it is there, `None` while it is not.
pub fn split(bytes: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(len) = bytes.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_le_bytes(*len);
    if len == 0 || len as usize > MAX_FRAME {
        return Err(FrameError::BadLength(len));
    }
    Ok((bytes.len() - 4 >= len as usize).then_some(len as usize))
}

/// Reads one frame from `reader` and decodes it (`body` is the buffer it
/// reads into, kept between frames).
pub fn read<M: serde::de::DeserializeOwned>(
    reader: &mut impl std::io::Read,
    body: &mut Vec<u8>,
) -> Result<M, FrameError> {
    let mut len = [0u8; 4];
    read_exact(reader, &mut len)?;
    let len = u32::from_le_bytes(len);
    if len == 0 || len as usize > MAX_FRAME {
        return Err(FrameError::BadLength(len));
    }
    body.clear();
    // Grown as the bytes arrive, so a frame that declares more than it
    // brings costs only what it brought.
    let got = std::io::Read::take(&mut *reader, u64::from(len))
        .read_to_end(body)
        .map_err(io_error)?;
    if got < len as usize {
        return Err(FrameError::Closed);
    }
    decode(body)
}

fn read_exact(reader: &mut impl std::io::Read, buf: &mut [u8]) -> Result<(), FrameError> {
    reader.read_exact(buf).map_err(io_error)
}

/// What a failed read means for the frames.
pub fn io_error(error: std::io::Error) -> FrameError {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset => FrameError::Closed,
        ErrorKind::WouldBlock | ErrorKind::TimedOut => FrameError::TimedOut,
        _ => FrameError::Io(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<M>(message: M)
    where
        M: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let mut out = Vec::new();
        encode(&message, &mut out);
        encode(&message, &mut out);
        let mut reader = &out[..];
        let mut body = Vec::new();
        assert_eq!(read::<M>(&mut reader, &mut body).unwrap(), message);
        assert_eq!(read::<M>(&mut reader, &mut body).unwrap(), message);
        assert_eq!(read::<M>(&mut reader, &mut body), Err(FrameError::Closed));
    }

    #[test]
    fn messages_survive_their_frames() {
        round_trip(Down::Call {
            id: 7,
            method: "login".into(),
            args: Bytes(vec![0x81, 0x61, b'a']),
            cancellable: true,
        });
        round_trip(Down::Complete {
            token: u64::MAX,
            ret: 9,
            payload: Bytes(vec![]),
        });
        round_trip(Up::HostCall {
            token: 1 << 40,
            index: 2,
            args: Bytes(vec![1; 1000]),
            origin: 3,
        });
        round_trip(Up::Refused {
            reason: "nope".into(),
        });
    }

    #[test]
    fn split_finds_whole_frames_only() {
        let mut bytes = Vec::new();
        encode(&Down::Cancel { id: 9 }, &mut bytes);
        let len = bytes.len() - 4;
        for cut in 0..bytes.len() {
            assert_eq!(split(&bytes[..cut]), Ok(None), "{cut} bytes");
        }
        assert_eq!(split(&bytes), Ok(Some(len)));
        bytes.extend_from_slice(&[1, 2]);
        assert_eq!(split(&bytes), Ok(Some(len)));
        assert_eq!(
            decode::<Down>(&bytes[4..4 + len]),
            Ok(Down::Cancel { id: 9 })
        );
        assert_eq!(split(&[0, 0, 0, 0]), Err(FrameError::BadLength(0)));
        assert_eq!(
            split(&u32::MAX.to_le_bytes()),
            Err(FrameError::BadLength(u32::MAX))
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        let mut body = Vec::new();
        let zero = [0u8, 0, 0, 0];
        assert_eq!(
            read::<Up>(&mut &zero[..], &mut body),
            Err(FrameError::BadLength(0))
        );
        let huge = u32::MAX.to_le_bytes();
        assert_eq!(
            read::<Up>(&mut &huge[..], &mut body),
            Err(FrameError::BadLength(u32::MAX))
        );
        let cut = [5u8, 0, 0, 0, 0xa1];
        assert_eq!(
            read::<Up>(&mut &cut[..], &mut body),
            Err(FrameError::Closed)
        );
        let junk = [1u8, 0, 0, 0, 0xff];
        assert!(matches!(
            read::<Up>(&mut &junk[..], &mut body),
            Err(FrameError::BadMessage(_))
        ));
        let mut trailing = Vec::new();
        encode(&Down::Cancel { id: 1 }, &mut trailing);
        trailing.push(0);
        trailing[0] += 1;
        assert!(matches!(
            read::<Down>(&mut &trailing[..], &mut body),
            Err(FrameError::BadMessage(why)) if why.contains("after the message")
        ));
    }
}
