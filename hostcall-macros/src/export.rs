//! `hostcall::export!`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Path, Token, bracketed};

use crate::util::{error, handler_static, host_fn_static};

#[derive(Default)]
struct Export {
    prefix: Option<LitStr>,
    version: Option<LitStr>,
    handlers: Vec<Path>,
    host_fns: Vec<Path>,
    events: Vec<Path>,
}

fn paths(input: ParseStream<'_>) -> syn::Result<Vec<Path>> {
    let content;
    bracketed!(content in input);
    Ok(Punctuated::<Path, Token![,]>::parse_terminated(&content)?
        .into_iter()
        .collect())
}

impl Parse for Export {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut export = Export::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "prefix" => export.prefix = Some(input.parse()?),
                "version" => export.version = Some(input.parse()?),
                "handlers" => export.handlers = paths(input)?,
                "host_fns" => export.host_fns = paths(input)?,
                "events" => export.events = paths(input)?,
                _ => {
                    return Err(syn::Error::new_spanned(
                        key,
                        "expected one of: prefix, version, handlers, host_fns, events",
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(export)
    }
}

/// `module::function` → `module::__HOSTCALL_…_function`.
fn def_path(path: &Path, name: fn(&Ident) -> Ident) -> Path {
    let mut path = path.clone();
    let last = path.segments.last_mut().expect("paths have a segment");
    last.ident = name(&last.ident);
    path
}

fn valid_prefix(prefix: &str) -> bool {
    let mut chars = prefix.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let export: Export = syn::parse2(input)?;
    let prefix_lit = export
        .prefix
        .ok_or_else(|| error("export! needs `prefix = \"name\"`, the C symbol prefix"))?;
    let prefix = prefix_lit.value();
    if !valid_prefix(&prefix) {
        return Err(syn::Error::new_spanned(
            prefix_lit,
            "the prefix must be a C identifier (letters, digits, `_`; not starting with a digit)",
        ));
    }
    let version = match export.version {
        Some(v) => quote! { #v },
        None => quote! { ::std::env!("CARGO_PKG_VERSION") },
    };
    let handlers: Vec<Path> = export
        .handlers
        .iter()
        .map(|p| def_path(p, handler_static))
        .collect();
    let natives = export.handlers.iter().zip(&handlers).map(|(handler, def)| {
        let function = &handler.segments.last().expect("paths have a segment").ident;
        let native_macro = def_path(handler, |f| format_ident!("__hostcall_native_{}", f));
        let rust_name = format_ident!("{}_native_{}", prefix, function);
        quote! { #native_macro!(#prefix, #rust_name, __HOSTCALL_LIBRARY, #handler, #def); }
    });
    let host_fns = export.host_fns.iter().map(|p| def_path(p, host_fn_static));
    let events = &export.events;
    let symbol = |suffix: &str| format_ident!("{}_{}", prefix, suffix);
    let (new, destroy, call) = (symbol("new"), symbol("destroy"), symbol("call"));
    let (register, register_cancellable) = (
        symbol("register_host_fn"),
        symbol("register_host_fn_cancellable"),
    );
    let (complete, add_listener, remove_listener) = (
        symbol("host_complete"),
        symbol("add_event_listener"),
        symbol("remove_event_listener"),
    );
    let (last_error, description, hash) = (
        symbol("last_error"),
        symbol("hostcall_description"),
        symbol("interface_hash"),
    );

    Ok(quote! {
        /// This library's definition and runtime tables, handed to every
        /// entry point below.
        #[doc(hidden)]
        pub static __HOSTCALL_LIBRARY: ::hostcall::Library =
            ::hostcall::Library::new(&::hostcall::__private::LibraryDef {
                prefix: #prefix,
                version: #version,
                handlers: &[#(&#handlers),*],
                host_fns: &[#(&#host_fns),*],
                events: &[#(<#events as ::hostcall::Event>::DEF),*],
            });

        #(#natives)*

        /// Creates a context from a CBOR config map (NULL/0 for defaults).
        /// Returns NULL on failure; `last_error` says why.
        ///
        /// # Safety
        /// `config` must be NULL or valid for reads of `config_len` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #new(
            config: *const ::std::ffi::c_char,
            config_len: usize,
        ) -> *mut ::std::ffi::c_void {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::new(&__HOSTCALL_LIBRARY, config, config_len) }
        }

        /// Destroys a context: every pending request gets one `context
        /// shutting down` reply, every pending host call is cancelled, the
        /// loop thread is joined (or, from the loop thread, finishes after
        /// the current callback) and memory is freed.
        ///
        /// # Safety
        /// Always safe: `ctx` is looked up, never dereferenced.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #destroy(ctx: *mut ::std::ffi::c_void) -> ::std::ffi::c_int {
            // SAFETY: forwarded; the callee never dereferences `ctx`.
            unsafe { ::hostcall::ffi::destroy(&__HOSTCALL_LIBRARY, ctx) }
        }

        /// Calls a method with a CBOR argument array; `cb` gets exactly one
        /// reply on the loop thread if and only if this returns `HC_OK`.
        ///
        /// # Safety
        /// `method` must be NULL or NUL-terminated; `req` NULL or valid for
        /// reads of `req_len` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #call(
            ctx: *mut ::std::ffi::c_void,
            method: *const ::std::ffi::c_char,
            req: *const ::std::ffi::c_char,
            req_len: usize,
            cb: ::std::option::Option<::hostcall::FFICallBack>,
            user_data: *mut ::std::ffi::c_void,
        ) -> ::std::ffi::c_int {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::call(&__HOSTCALL_LIBRARY, ctx, method, req, req_len, cb, user_data) }
        }

        /// Registers the host's implementation of a host fn.
        ///
        /// # Safety
        /// `name` must be NULL or NUL-terminated; `func` must be callable with
        /// `user_data` on the loop thread until the context is destroyed.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #register(
            ctx: *mut ::std::ffi::c_void,
            name: *const ::std::ffi::c_char,
            func: ::std::option::Option<::hostcall::FFIHostFn>,
            user_data: *mut ::std::ffi::c_void,
        ) -> ::std::ffi::c_int {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::register_host_fn(&__HOSTCALL_LIBRARY, ctx, name, func, None, user_data) }
        }

        /// Registers a host fn together with a cancel notifier, told when the
        /// library abandons a call (dropped, timed out, shutting down).
        ///
        /// # Safety
        /// As for the non-cancellable form; `cancel` may be NULL.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #register_cancellable(
            ctx: *mut ::std::ffi::c_void,
            name: *const ::std::ffi::c_char,
            func: ::std::option::Option<::hostcall::FFIHostFn>,
            cancel: ::std::option::Option<::hostcall::FFIHostCancelFn>,
            user_data: *mut ::std::ffi::c_void,
        ) -> ::std::ffi::c_int {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::register_host_fn(&__HOSTCALL_LIBRARY, ctx, name, func, cancel, user_data) }
        }

        /// Completes a host call by token, from any thread, once.
        ///
        /// # Safety
        /// `msg` must be NULL or valid for reads of `len` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #complete(
            ctx: *mut ::std::ffi::c_void,
            token: u64,
            ret: ::std::ffi::c_int,
            msg: *const ::std::ffi::c_char,
            len: usize,
        ) -> ::std::ffi::c_int {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::host_complete(&__HOSTCALL_LIBRARY, ctx, token, ret, msg, len) }
        }

        /// Adds an event listener; returns its id, or 0 on failure.
        ///
        /// # Safety
        /// `event` must be NULL or NUL-terminated; `cb` must be callable with
        /// `user_data` on the loop thread until removed or destroyed.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #add_listener(
            ctx: *mut ::std::ffi::c_void,
            event: *const ::std::ffi::c_char,
            cb: ::std::option::Option<::hostcall::FFICallBack>,
            user_data: *mut ::std::ffi::c_void,
        ) -> u64 {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::add_event_listener(&__HOSTCALL_LIBRARY, ctx, event, cb, user_data) }
        }

        /// Removes an event listener; once this returns it never runs again.
        ///
        /// # Safety
        /// Always safe: `ctx` is looked up, never dereferenced.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #remove_listener(
            ctx: *mut ::std::ffi::c_void,
            listener_id: u64,
        ) -> ::std::ffi::c_int {
            // SAFETY: forwarded; the callee never dereferences `ctx`.
            unsafe { ::hostcall::ffi::remove_event_listener(&__HOSTCALL_LIBRARY, ctx, listener_id) }
        }

        /// Copies this thread's last failure message into `buf` and returns
        /// its full length.
        ///
        /// # Safety
        /// `buf` must be NULL or valid for writes of `cap` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #last_error(buf: *mut ::std::ffi::c_char, cap: usize) -> usize {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::last_error(buf, cap) }
        }

        /// The library's self-description (CBOR), valid for the process's life.
        ///
        /// # Safety
        /// `len` must be NULL or valid for a write.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #description(len: *mut usize) -> *const u8 {
            // SAFETY: forwarded caller obligation.
            unsafe { ::hostcall::ffi::description(&__HOSTCALL_LIBRARY, len) }
        }

        /// The hash of the library's interface, checked by generated bindings.
        #[unsafe(no_mangle)]
        pub extern "C" fn #hash() -> u64 {
            ::hostcall::ffi::interface_hash(&__HOSTCALL_LIBRARY)
        }
    })
}
