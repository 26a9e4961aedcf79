//! Why a request ended without a value: an outcome code and its payload.
//! (How a handler's own error type becomes one is `library::fail`.)

use std::any::Any;
use std::borrow::Cow;
use std::ffi::c_int;
use std::fmt::Display;

use serde::Serialize;

use crate::abi::status::{RET_ERR, RET_ERR_TYPED};
use crate::error::HostError;

/// Why a request ended without a value: the outcome code its callback
/// gets, and the payload that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `RET_ERR` for the library's own error text, `RET_ERR_TYPED` for a
    /// library-declared error value; the runtime's own failures have a code
    /// each (`RET_SHUTTING_DOWN`, `RET_PANIC`, …).
    pub outcome: c_int,
    /// The CBOR of the error value for `RET_ERR_TYPED`; UTF-8 text saying
    /// what happened for every other code (never empty when sent).
    pub payload: Vec<u8>,
}

impl Failure {
    /// A failure with `outcome` and a text payload.
    pub fn new(outcome: c_int, text: impl Into<String>) -> Self {
        Self {
            outcome,
            payload: text.into().into_bytes(),
        }
    }

    /// The library's own error text (`RET_ERR`).
    pub fn error(text: impl Into<String>) -> Self {
        Self::new(RET_ERR, text)
    }

    /// A value of the library-declared error type `type_name`
    /// (`RET_ERR_TYPED`), or, if it cannot be encoded (a hand-written
    /// `Serialize` failed), the text saying so.
    pub fn typed(error: &impl Serialize, type_name: &str) -> Self {
        match crate::wire::to_cbor(error) {
            Ok(payload) => Self {
                outcome: RET_ERR_TYPED,
                payload,
            },
            Err(problem) => Self::error(format!(
                "the {type_name} error could not be encoded: {problem}"
            )),
        }
    }

    /// A handler's `Display` error: a [`HostError`] it passed through keeps
    /// its kind; anything else is the library's own error text.
    pub fn of<E: Display + 'static>(error: &E) -> Self {
        let outcome = (error as &dyn Any)
            .downcast_ref::<HostError>()
            .map_or(RET_ERR, HostError::outcome);
        Self::new(outcome, error.to_string())
    }

    /// The payload as text (a typed error's CBOR is shown by its length).
    pub fn text(&self) -> Cow<'_, str> {
        if self.outcome == RET_ERR_TYPED {
            Cow::Owned(format!("{} bytes of CBOR", self.payload.len()))
        } else {
            String::from_utf8_lossy(&self.payload)
        }
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = hostcall_abi::OUTCOME_CODES
            .iter()
            .find(|c| c.value == self.outcome)
            .map_or("RET_?", |c| c.name);
        write!(f, "{name}: {}", self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_keep_their_kind_and_typed_payloads_are_cbor() {
        assert_eq!(Failure::of(&"no"), Failure::error("no"));
        let timed_out = HostError::TimedOut {
            name: "f",
            after: std::time::Duration::from_millis(5),
        };
        let failure = Failure::of(&timed_out);
        assert_eq!(failure.outcome, crate::abi::status::RET_TIMED_OUT);
        assert!(failure.text().contains("timed out"), "{failure}");
        let typed = Failure::typed(&"NotFound", "E");
        assert_eq!(typed.outcome, RET_ERR_TYPED);
        assert_eq!(typed.payload, b"\x68NotFound");
        assert_eq!(typed.text(), "9 bytes of CBOR");
    }
}
