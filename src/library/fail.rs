//! How a handler's error becomes its request's [`Failure`].
//!
//! A handler's error type is one of two kinds, told apart at compile time
//! by the `#[handler]` macro's generated code, which names the concrete
//! type (method resolution through references, "autoref specialization"):
//!
//! 1. A library-declared error type ([`TypedError`]): the reply is
//!    `RET_ERR_TYPED` with the CBOR of the value ([`ViaTyped`], found first
//!    because its method takes `&Fail<E>` itself).
//! 2. Anything else that is `Display`: the reply is its text, `RET_ERR`,
//!    except that a [`crate::HostError`] passed through (`?` on a host
//!    call) keeps its kind's code ([`ViaDisplay`], one autoref further).
//!
//! [`ErrorOf`] makes the same choice for the description: the error type's
//! [`ErrorRef`] or `None`.

use std::fmt::Display;
use std::marker::PhantomData;

use crate::library::describe::{ErrorRef, TypedError};
use crate::request::Failure;

/// A handler's error, borrowed for the dispatch: `(&Fail(&e)).failure()`.
pub struct Fail<'a, E>(pub &'a E);

/// Step 1: a library-declared error type.
pub trait ViaTyped {
    /// The failure a request with this error gets.
    fn failure(&self) -> Failure;
}

impl<E: TypedError> ViaTyped for Fail<'_, E> {
    fn failure(&self) -> Failure {
        Failure::typed(self.0, E::NAME)
    }
}

/// Step 2: any `Display` error.
pub trait ViaDisplay {
    /// The failure a request with this error gets.
    fn failure(&self) -> Failure;
}

impl<E: Display + 'static> ViaDisplay for &Fail<'_, E> {
    fn failure(&self) -> Failure {
        Failure::of(self.0)
    }
}

/// A handler's error type, for the description: `(&ErrorOf::<E>::new()).error_type()`.
pub struct ErrorOf<E>(PhantomData<fn() -> E>);

impl<E> ErrorOf<E> {
    /// The probe for `E`.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<E> Default for ErrorOf<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// Step 1, for the description.
pub trait TypedErrorOf {
    /// The error type's description entry.
    fn error_type(&self) -> Option<ErrorRef>;
}

impl<E: TypedError> TypedErrorOf for ErrorOf<E> {
    fn error_type(&self) -> Option<ErrorRef> {
        Some(ErrorRef::of::<E>())
    }
}

/// Step 2, for the description: text errors name no type.
pub trait PlainErrorOf {
    /// `None`.
    fn error_type(&self) -> Option<ErrorRef>;
}

impl<E> PlainErrorOf for &ErrorOf<E> {
    fn error_type(&self) -> Option<ErrorRef> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_errors_are_text() {
        assert_eq!((&Fail(&"no")).failure(), Failure::error("no"));
        assert_eq!(
            (&ErrorOf::<String>::new()).error_type().map(|e| e.name),
            None
        );
    }
}
