//! Events: fire-and-forget notifications from the library to the host.
//!
//! A payload type becomes an event with `#[derive(hostcall::Event)]` and
//! `#[hostcall(event = "progress")]`; `export!` lists it under `events`. A
//! handler calls [`emit`]; every listener the host added for that name is
//! invoked, one at a time, on the loop thread, with the payload as CBOR.

use serde::Serialize;

use crate::context::event_loop::LoopState;
use crate::library::EventDef;
use crate::library::describe::Describe;

/// A type that is emitted as a named event.
pub trait Event: Serialize + Describe {
    /// The event's definition (its name, doc and payload type).
    const DEF: &'static EventDef;
}

/// Why [`emit`] could not deliver an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    /// Called outside a hostcall handler: there is no context on this thread.
    NoContext,
    /// The event type is not listed in this library's `export!` events.
    NotExported(&'static str),
    /// The payload could not be encoded (a custom `Serialize` failed).
    Encode(String),
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::NoContext => f.write_str("event emitted outside a hostcall handler"),
            EmitError::NotExported(name) => {
                write!(
                    f,
                    "event '{name}' is not listed in this library's export! events"
                )
            }
            EmitError::Encode(reason) => write!(f, "event payload could not be encoded: {reason}"),
        }
    }
}

impl std::error::Error for EmitError {}

/// Emits `event` to the current context's listeners; returns how many were
/// invoked. Runs the listeners before returning, on this (the loop) thread;
/// once the context is being destroyed it invokes no one and returns 0.
pub fn emit<E: Event>(event: &E) -> Result<usize, EmitError> {
    let state = LoopState::current().ok_or(EmitError::NoContext)?;
    let shared = &state.shared;
    if shared.is_closing() {
        // The context is being destroyed: listeners hear nothing more.
        return Ok(0);
    }
    let index = shared
        .library
        .event_index(E::DEF.name)
        .ok_or(EmitError::NotExported(E::DEF.name))?;
    if !shared.listeners.any(index) {
        return Ok(0);
    }
    let payload = crate::wire::to_cbor(event).map_err(EmitError::Encode)?;
    let _span = tracing::trace_span!("event", name = E::DEF.name).entered();
    let heard = shared.listeners.emit(index, &payload);
    crate::wire::buffers::give(payload);
    Ok(heard)
}
