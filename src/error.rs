//! How an awaited host call can fail.

use std::fmt;
use std::time::Duration;

/// The error of a host call (`fetch_profile(id).await`).
///
/// Every host call ends exactly once: with the value, or with one of these.
/// `Display` gives the text a handler usually forwards; for [`HostError::Host`]
/// it is exactly the host's message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The host answered `RET_ERR` with this message.
    Host(String),
    /// No host function is registered under this name.
    NotRegistered {
        /// The host fn's name.
        name: &'static str,
    },
    /// The call was not completed within its timeout; it was cancelled.
    TimedOut {
        /// The host fn's name.
        name: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// `max_in_flight` host calls were already outstanding.
    Overloaded {
        /// The host fn's name.
        name: &'static str,
        /// The configured bound.
        limit: u32,
    },
    /// The context is being destroyed.
    ShuttingDown,
    /// The host answered `RET_OK` with bytes that are not the expected type.
    BadReply {
        /// The host fn's name.
        name: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The arguments could not be encoded (a custom `Serialize` failed).
    BadArguments {
        /// The host fn's name.
        name: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Called outside a hostcall handler, so there is no context to call.
    NoContext {
        /// The host fn's name.
        name: &'static str,
    },
    /// The host fn is declared but not listed in this library's `export!`.
    NotExported {
        /// The host fn's name.
        name: &'static str,
    },
}

impl HostError {
    /// The outcome code a request that ends with this error gets (a handler
    /// that passes a host call's error through keeps its kind).
    pub fn outcome(&self) -> std::ffi::c_int {
        use crate::abi::status::*;
        match self {
            HostError::Host(_) | HostError::NoContext { .. } | HostError::NotExported { .. } => {
                RET_ERR
            }
            HostError::NotRegistered { .. } => RET_NOT_REGISTERED,
            HostError::TimedOut { .. } => RET_TIMED_OUT,
            HostError::Overloaded { .. } => RET_OVERLOADED,
            HostError::ShuttingDown => RET_SHUTTING_DOWN,
            HostError::BadReply { .. } | HostError::BadArguments { .. } => RET_INVALID_ARG,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Host(message) => f.write_str(message),
            HostError::NotRegistered { name } => write!(f, "host fn '{name}' not registered"),
            HostError::TimedOut { name, after } => {
                write!(
                    f,
                    "host fn '{name}' timed out after {} ms",
                    after.as_millis()
                )
            }
            HostError::Overloaded { name, limit } => write!(
                f,
                "host fn '{name}' overloaded: {limit} host calls already in flight (max_in_flight)"
            ),
            HostError::ShuttingDown => f.write_str("context shutting down"),
            HostError::BadReply { name, reason } => {
                write!(f, "host fn '{name}' sent a malformed reply: {reason}")
            }
            HostError::BadArguments { name, reason } => {
                write!(
                    f,
                    "host fn '{name}': arguments could not be encoded: {reason}"
                )
            }
            HostError::NoContext { name } => write!(
                f,
                "host fn '{name}' called outside a hostcall handler (no context on this thread)"
            ),
            HostError::NotExported { name } => write!(
                f,
                "host fn '{name}' is not listed in this library's export! host_fns"
            ),
        }
    }
}

impl std::error::Error for HostError {}
