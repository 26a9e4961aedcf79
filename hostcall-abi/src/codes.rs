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
//! renumbered. New codes may only be appended. Each is declared once below;
//! the constants and the tables [`STATUS_CODES`] and [`OUTCOME_CODES`] come
//! from that one declaration; the header and the Go and Kotlin constants are
//! rendered from the tables, and a test checks the tables of `docs/abi.md`
//! against them.

/// One named code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The C macro name.
    pub name: &'static str,
    /// The value; stable forever.
    pub value: i32,
    /// One-line meaning.
    pub doc: &'static str,
    /// A few lowercase words for error texts (`overloaded`, `closed`),
    /// which bindings build their messages on.
    pub phrase: &'static str,
}

impl Code {
    /// The name without its family prefix: `HC_ERR_NULL_ARG` → `NULL_ARG`,
    /// `HC_OK` → `OK`, `RET_ERR` → `ERR`; bindings build their names on it.
    pub fn short_name(&self) -> &'static str {
        ["HC_ERR_", "HC_", "RET_"]
            .iter()
            .find_map(|family| self.name.strip_prefix(family))
            .unwrap_or(self.name)
    }
}

/// Declares each code as a constant and lists it in `$table`.
macro_rules! codes {
    ($(#[$table_doc:meta])* $table:ident: $($name:ident = $value:literal, $phrase:literal => $doc:literal;)*) => {
        $(#[doc = $doc] pub const $name: i32 = $value;)*

        $(#[$table_doc])*
        pub const $table: &[Code] = &[$(Code { name: stringify!($name), value: $value, doc: $doc, phrase: $phrase }),*];
    };
}

codes! {
    /// Every status code, in numeric order from `HC_OK` downwards.
    STATUS_CODES:
    HC_OK = 0, "ok" => "The call was accepted.";
    HC_ERR_NULL_ARG = -1, "null argument" => "A required pointer (ctx, method, name, event, callback, or a payload with len > 0) was NULL.";
    HC_ERR_INVALID_ARG = -2, "invalid argument" => "An argument was unusable: unknown host fn or event name, bad outcome code, unknown listener id.";
    HC_ERR_INVALID_CONTEXT = -3, "closed" => "The context was destroyed or never existed; no memory behind it was touched.";
    HC_ERR_UNKNOWN_TOKEN = -4, "unknown host call" => "The token is not awaiting completion: unknown, already completed, cancelled or timed out.";
    HC_ERR_UNKNOWN_METHOD = -5, "unknown method" => "The library exports no method of that name.";
    HC_ERR_SHUTTING_DOWN = -6, "shutting down" => "The context is shutting down and accepts no new work.";
    HC_ERR_OVERLOADED = -7, "overloaded" => "A configured bound was reached (max_pending_requests).";
    HC_ERR_PANIC = -8, "library panicked" => "A panic was caught inside the entry point; nothing was done.";
}

codes! {
    /// Every outcome code. `RET_OK` is the only success; the runtime's own
    /// failures have a code each, their payload UTF-8 text that still says
    /// what happened.
    OUTCOME_CODES:
    RET_OK = 0, "ok" => "Success: the payload is CBOR.";
    RET_ERR = 1, "failed" => "Failure: the payload is the library's UTF-8 error text.";
    RET_SHUTTING_DOWN = 2, "shutting down" => "The context is shutting down: the request or host call was ended by teardown.";
    RET_OVERLOADED = 3, "overloaded" => "A configured bound was reached (max_in_flight host calls already outstanding).";
    RET_TIMED_OUT = 4, "host call timed out" => "A host call timed out (host_call_timeout_ms) and was cancelled.";
    RET_CANCELLED = 5, "cancelled" => "The request was cancelled before it finished.";
    RET_NOT_REGISTERED = 6, "host fn not registered" => "A host fn the request needed is not registered.";
    RET_INVALID_ARG = 7, "invalid argument" => "Arguments, or a host's reply, that do not decode as the declared types.";
    RET_PANIC = 8, "handler panicked" => "The handler panicked; the context goes on.";
    RET_ERR_TYPED = 9, "failed with a typed error" => "Failure with a typed error: the payload is the CBOR of a value of the function's declared error type (see its header).";
    RET_PROCESS_DIED = 10, "library process died" => "The helper process serving the library (config isolation) died before the request finished: the text says how (`library process died: signal 11 (SIGSEGV)`).";
}

/// Whether an outcome code is a failure: anything but `RET_OK`.
pub const fn is_error(ret: i32) -> bool {
    ret != RET_OK
}

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

    #[test]
    fn outcome_codes_count_up_from_ok() {
        for (i, code) in OUTCOME_CODES.iter().enumerate() {
            assert_eq!(code.value, i as i32, "{} is out of order", code.name);
            assert_eq!(is_error(code.value), code.value != RET_OK);
        }
    }

    #[test]
    fn short_names_drop_the_family() {
        assert_eq!(STATUS_CODES[0].short_name(), "OK");
        assert_eq!(STATUS_CODES[1].short_name(), "NULL_ARG");
        assert_eq!(OUTCOME_CODES[1].short_name(), "ERR");
    }
}
