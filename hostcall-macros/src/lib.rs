//! Procedural macros of `hostcall`. Use them through the `hostcall` crate,
//! which re-exports them; the generated code names `::hostcall`.
//!
//! Each macro writes a static *definition* next to the item it decorates
//! (`__HOSTCALL_HANDLER_<fn>`, `__HOSTCALL_HOST_FN_<fn>`, `Event::DEF`), and
//! `export!` gathers the definitions into the library and emits the C entry
//! points. The definitions are also what the library's self-description is
//! built from, so the Rust source stays the single source of truth.

mod error_type;
mod export;
mod handler;
mod host_fn;
mod record;
mod util;

use proc_macro::TokenStream;

/// Makes a function callable by the host as a method of the library.
///
/// ```text
/// /// Adds two numbers.
/// #[hostcall::handler]
/// pub fn add(a: i64, b: i64) -> Result<i64, String> { … }
///
/// #[hostcall::handler(name = "sign_in")]
/// pub async fn login(user_id: String) -> Result<Session, String> { … }
/// ```
///
/// The function may be `async` or not. Arguments are owned values of types
/// implementing `serde::Deserialize` and `hostcall::Describe`. The result is a
/// `T: Serialize + Describe`, or `Result<T, E>` with `E: Display` (the error
/// text becomes the `RET_ERR` reply). List it in `export!`'s `handlers`.
#[proc_macro_attribute]
pub fn handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares functions the host implements, for handlers to await.
///
/// ```text
/// hostcall::host_fn! {
///     /// Looks a profile up in the host's store.
///     pub fn fetch_profile(user_id: String) -> Profile;
///     /// Shows a message to the user.
///     pub fn notify(message: String);
/// }
/// ```
///
/// Each becomes a function returning `hostcall::HostCall<T>`, a future of
/// `Result<T, hostcall::HostError>`. List them in `export!`'s `host_fns`.
#[proc_macro]
pub fn host_fn(input: TokenStream) -> TokenStream {
    host_fn::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Exports the library to C under a symbol prefix.
///
/// ```text
/// hostcall::export! {
///     prefix = "demo",
///     handlers = [version, add, login],
///     host_fns = [fetch_profile, notify],
///     events = [Progress],
/// }
/// ```
///
/// Emits `demo_<name>` for every entry point of the ABI list
/// (`hostcall_abi::ENTRY_POINTS`: `demo_new`, `demo_call`, …), one
/// `demo_native_<method>` per handler with a native form, and
/// `__HOSTCALL_ENTRY_POINTS`, the same symbols as a typed table. Use it once
/// per library, in the crate built as the `cdylib`.
#[proc_macro]
pub fn export(input: TokenStream) -> TokenStream {
    export::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a struct with named fields a record: a CBOR map keyed by field name
/// that the generators turn into a struct, data class or record per language.
///
/// Derive `serde::Serialize` and `serde::Deserialize` beside it. Of serde's
/// attributes only a field's `rename` (and `default`) may be used, since the
/// others change the wire shape in ways the bindings could not follow.
#[proc_macro_derive(Record, attributes(hostcall))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    record::expand_record(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a record type an event, named by `#[hostcall(event = "name")]` (by
/// default the type name in snake_case). Emit it with `hostcall::emit(&value)`
/// and list the type in `export!`'s `events`.
#[proc_macro_derive(Event, attributes(hostcall))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    record::expand_event(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes an enum a library-declared error type: handlers may return
/// `Result<T, ThisType>` and host fns may be declared `-> Result<T, ThisType>`;
/// the generators turn it into each language's error type (Go error structs,
/// a Kotlin sealed exception, …).
///
/// Variants may be unit (`Banned`), tuple (`Io(String)`) or struct
/// (`Locked { until_unix_s: u64 }`). Derive `serde::Serialize` and
/// `serde::Deserialize` beside it, with no serde attributes: the wire form is
/// serde's externally tagged enum (see `hostcall::describe::ErrorTypeDesc`).
#[proc_macro_derive(Error, attributes(hostcall))]
pub fn derive_error(input: TokenStream) -> TokenStream {
    error_type::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
