//! Status codes and outcome codes: the numbers that cross the C ABI.
//!
//! Two families, never mixed:
//!
//! * **Status codes** (`HC_*`) are what an entry point *returns*. `HC_OK` means
//!   the call was accepted; every other value is negative and means the call
//!   was refused and its callback, if it took one, will never run.
//! * **Outcome codes** (`RET_*`) travel *inside* a callback (`ret`) and into
//!   `host_complete`. `RET_OK` means the payload is CBOR, `RET_ERR` means it is
//!   UTF-8 error text.
//!
//! The values are part of the ABI contract: they are stable and are never
//! renumbered. New codes may only be appended. The C header generator reads
//! [`STATUS_CODES`] and [`OUTCOME_CODES`], so the header, the docs and the
//! runtime cannot disagree.

/// The call was accepted.
pub const HC_OK: i32 = 0;
/// A required pointer argument (`ctx`, `method`, `name`, `event`, a callback,
/// or a payload pointer with a non-zero length) was NULL.
pub const HC_ERR_NULL_ARG: i32 = -1;
/// An argument was present but unusable: an unknown host fn or event name, an
/// outcome code other than `RET_OK`/`RET_ERR`, an unknown listener id.
pub const HC_ERR_INVALID_ARG: i32 = -2;
/// The context pointer does not name a live context: it was destroyed, or it
/// never came from `<lib>_new`.
pub const HC_ERR_INVALID_CONTEXT: i32 = -3;
/// `host_complete` named a token that is not awaiting completion: unknown,
/// already completed, cancelled or timed out.
pub const HC_ERR_UNKNOWN_TOKEN: i32 = -4;
/// `call` named a method the library does not export.
pub const HC_ERR_UNKNOWN_METHOD: i32 = -5;
/// The context is shutting down and no longer accepts this call.
pub const HC_ERR_SHUTTING_DOWN: i32 = -6;
/// A configured bound was reached (for `call`: `max_pending_requests`).
pub const HC_ERR_OVERLOADED: i32 = -7;
/// The runtime caught a panic inside the entry point; nothing was done.
pub const HC_ERR_PANIC: i32 = -8;

/// Outcome: success; the payload is CBOR.
pub const RET_OK: i32 = 0;
/// Outcome: failure; the payload is UTF-8 error text.
pub const RET_ERR: i32 = 1;

/// One named code, as documented in the header and in `docs/abi.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The C macro name.
    pub name: &'static str,
    /// The value; stable forever.
    pub value: i32,
    /// One-line meaning.
    pub doc: &'static str,
}

/// Every status code, in numeric order from `HC_OK` downwards.
pub const STATUS_CODES: &[Code] = &[
    Code {
        name: "HC_OK",
        value: HC_OK,
        doc: "The call was accepted.",
    },
    Code {
        name: "HC_ERR_NULL_ARG",
        value: HC_ERR_NULL_ARG,
        doc: "A required pointer (ctx, method, name, event, callback, or a payload with len > 0) was NULL.",
    },
    Code {
        name: "HC_ERR_INVALID_ARG",
        value: HC_ERR_INVALID_ARG,
        doc: "An argument was unusable: unknown host fn or event name, bad outcome code, unknown listener id.",
    },
    Code {
        name: "HC_ERR_INVALID_CONTEXT",
        value: HC_ERR_INVALID_CONTEXT,
        doc: "The context was destroyed or never existed; no memory behind it was touched.",
    },
    Code {
        name: "HC_ERR_UNKNOWN_TOKEN",
        value: HC_ERR_UNKNOWN_TOKEN,
        doc: "The token is not awaiting completion: unknown, already completed, cancelled or timed out.",
    },
    Code {
        name: "HC_ERR_UNKNOWN_METHOD",
        value: HC_ERR_UNKNOWN_METHOD,
        doc: "The library exports no method of that name.",
    },
    Code {
        name: "HC_ERR_SHUTTING_DOWN",
        value: HC_ERR_SHUTTING_DOWN,
        doc: "The context is shutting down and accepts no new work.",
    },
    Code {
        name: "HC_ERR_OVERLOADED",
        value: HC_ERR_OVERLOADED,
        doc: "A configured bound was reached (max_pending_requests).",
    },
    Code {
        name: "HC_ERR_PANIC",
        value: HC_ERR_PANIC,
        doc: "A panic was caught inside the entry point; nothing was done.",
    },
];

/// Every outcome code.
pub const OUTCOME_CODES: &[Code] = &[
    Code {
        name: "RET_OK",
        value: RET_OK,
        doc: "Success: the payload is CBOR.",
    },
    Code {
        name: "RET_ERR",
        value: RET_ERR,
        doc: "Failure: the payload is UTF-8 error text.",
    },
];

/// The macro name of a status code, or `"HC_ERR_?"` for a value that is not one.
pub fn status_name(value: i32) -> &'static str {
    STATUS_CODES
        .iter()
        .find(|c| c.value == value)
        .map_or("HC_ERR_?", |c| c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_errors_negative() {
        for (i, a) in STATUS_CODES.iter().enumerate() {
            assert_eq!(a.value, -(i as i32), "{} is out of order", a.name);
            for b in &STATUS_CODES[i + 1..] {
                assert_ne!(a.value, b.value);
                assert_ne!(a.name, b.name);
            }
        }
        assert_eq!(status_name(HC_ERR_UNKNOWN_TOKEN), "HC_ERR_UNKNOWN_TOKEN");
        assert_eq!(status_name(42), "HC_ERR_?");
    }
}
